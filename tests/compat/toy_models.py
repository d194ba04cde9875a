"""Tiny trained model folders and their expected outputs, for the pipeline tests.

Used by tests/test_pipeline.py (transformers 5, in a process that cannot
import the project) and tests/test_compat_transformers4.py (transformers 4.57).
Runs in the project's own environment (transformers 5): it trains each
architecture for a few seconds to memorise a handful of sentence pairs, saves
it with `lineage.models.save_model_folder`, and computes what `model.generate` +
`decode` give in-process. `check_folders.py` then computes the same through
`pipeline(...)` in another process, and the tests compare the two.
"""

import contextlib
import json
from pathlib import Path

import torch

# Toy model name -> (architecture, config overrides): the pointer-generator's folder, and the
# summarization RNN's (scaled attention, source embedding residual), must load and run everywhere
# the plain ones do.
MODELS = {
    "rnn": ("rnn", {}),
    "rnn-summarization": ("rnn", dict(scaled_attention=True, source_embedding_residual=True)),
    "lstm": ("lstm", {}),
    "lstm-pointer-generator": ("lstm", dict(copy_attention=True, coverage=True)),
    "transformer": ("transformer", {}),
}
ARCHS = tuple(MODELS)

PAIRS = [
    ("the cat sleeps", "die katze schläft"),
    ("the old man reads a book in the kitchen", "der alte mann liest ein buch in der küche"),
    ("a bird sings", "ein vogel singt"),
    ("the children play in the garden", "die kinder spielen im garten"),
    ("we eat bread", "wir essen brot"),
    ("the dog runs fast to the house", "der hund läuft schnell zum haus"),
]
# Batches of 2 pair a short input with a long one, so padding is exercised.
INPUTS = [source for source, _ in PAIRS]
# Longer than MAX_INPUT_LENGTH tokens: the pipeline truncates it, with a warning.
# It bounds the Transformer's decoder positions too, so it exceeds the calls' max_new_tokens.
MAX_INPUT_LENGTH = 32
LONG_INPUT = " ".join(INPUTS * 4)
BATCH_SIZE = 2
# name -> generate() kwargs. "defaults" is a call with no kwargs: the pipeline
# default (num_beams=4, max_new_tokens=256, as the 4.x pipelines), since these
# models' generation configs set neither.
CALLS = {
    "beam4": dict(num_beams=4, max_new_tokens=24, length_penalty=0.8, no_repeat_ngram_size=3),
    "greedy": dict(num_beams=1, max_new_tokens=24),
    "defaults": {},
}
PIPELINE_DEFAULTS = dict(num_beams=4, max_new_tokens=256)
TRAIN_STEPS = {"rnn": 150, "lstm": 150, "transformer": 150}
LEARNING_RATE = 1e-2


@contextlib.contextmanager
def single_thread():
    """Tiny models run many times faster on one thread, above all on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_toy_tokenizer():
    from lineage.data.tokenizer import train_tokenizer

    return train_tokenizer([text for pair in PAIRS for text in pair] * 3, vocab_size=200)


def train_toy_model(name, tokenizer, steps=None, seed=0):
    """A tiny model `name` (see MODELS) that has memorised PAIRS (full-batch AdamW, no dropout)."""
    from lineage import models

    torch.manual_seed(seed)
    arch, extra = MODELS[name]
    overrides = dict(max_position=MAX_INPUT_LENGTH, **extra)
    if arch == "transformer":
        overrides["dropout"] = 0.0
    else:
        overrides.update(embedding_dropout=0.0, hidden_dropout=0.0)
    model = models.build_model(arch, tokenizer, size="tiny", **overrides)
    batch = tokenizer(
        [source for source, _ in PAIRS], text_target=[target for _, target in PAIRS], padding=True, return_tensors="pt"
    )
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    model.train()
    for _ in range(steps or TRAIN_STEPS[arch]):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return model, loss.item()


@torch.no_grad()
def reference_outputs(model, tokenizer):
    """What in-process `model.generate` + `decode` give, one input at a time (no padding)."""

    # The pipeline defaults apply where the model's generation config sets nothing.
    model_set = model.generation_config.to_diff_dict()
    defaults = {key: value for key, value in PIPELINE_DEFAULTS.items() if key not in model_set}
    if "max_length" in model_set:
        defaults.pop("max_new_tokens", None)

    def generate(text, kwargs, truncate=False):
        encoded = tokenizer(text, return_tensors="pt", truncation=truncate, max_length=MAX_INPUT_LENGTH if truncate else None)
        output = model.generate(**encoded, **{**defaults, **kwargs})
        return tokenizer.decode(output[0].tolist(), skip_special_tokens=True)

    return {
        "calls": {name: [generate(text, kwargs) for text in INPUTS] for name, kwargs in CALLS.items()},
        "long": generate(LONG_INPUT, CALLS["beam4"], truncate=True),
        "long_input_tokens": len(tokenizer(LONG_INPUT)["input_ids"]),
    }


def build_toy_folders(root):
    """Train, save and describe the three toy models under `root`.

    Returns the spec dict (also written to root/spec.json) that check_folders.py
    reads: folders, inputs, calls, and the expected outputs per architecture.
    """
    from lineage import models

    root = Path(root)
    tokenizer = train_toy_tokenizer()
    spec = {
        "spec_path": str(root / "spec.json"),
        "inputs": INPUTS,
        "long_input": LONG_INPUT,
        "max_input_length": MAX_INPUT_LENGTH,
        "batch_size": BATCH_SIZE,
        "calls": CALLS,
        "pipeline_defaults": PIPELINE_DEFAULTS,
        "targets": [target for _, target in PAIRS],
        "folders": {},
        "expected": {},
        "final_loss": {},
    }
    for arch in ARCHS:
        with single_thread():
            model, loss = train_toy_model(arch, tokenizer)
            spec["expected"][arch] = reference_outputs(model, tokenizer)
        # Folder names that cannot shadow a module ("models", "transformers").
        folder = models.save_model_folder(model, tokenizer, root / f"toy-{arch}")
        spec["folders"][arch] = str(folder)
        spec["final_loss"][arch] = loss
    Path(spec["spec_path"]).write_text(json.dumps(spec, indent=2, ensure_ascii=False))
    return spec
