"""What the speed measurement measures: its models, settings and methods, and the inputs it times.

Models: RNN and LSTM encoder-decoders with Luong ("general") attention and
without attention, the LSTM with Bahdanau attention (the per-step decoder
loop), the pointer-generator, minGRU and minLSTM with Luong attention (and
minGRU once more with its parallel scan off), and the Transformer; all built by
`lineage.models.build_model` for an 8000-piece vocabulary. Inputs are random
token ids, source length == target length, no padding.
"""

import sys
from dataclasses import asdict, dataclass, replace

import torch

VOCAB_SIZE = 8000
LENGTHS = (16, 32, 64, 128, 256)
# name -> (architecture, config overrides on top of the size)
MODELS = {
    "rnn-luong-general": ("rnn", {"attention": "luong-general"}),
    "rnn-none": ("rnn", {"attention": "none"}),
    # The summarization RNN's recipe (lineage.training.presets).
    "rnn-summarization": ("rnn", {"attention": "luong-general", "scaled_attention": True,
                                  "source_embedding_residual": True}),
    "lstm-luong-general": ("lstm", {"attention": "luong-general"}),
    "lstm-none": ("lstm", {"attention": "none"}),
    "lstm-bahdanau": ("lstm", {"attention": "bahdanau"}),
    "lstm-luong-general-copy": ("lstm", {"attention": "luong-general", "copy_attention": True}),
    "lstm-pointer-generator": ("lstm", {"attention": "luong-general", "copy_attention": True, "coverage": True}),
    "mingru-luong-general": ("mingru", {"attention": "luong-general"}),
    "minlstm-luong-general": ("minlstm", {"attention": "luong-general"}),
    "mingru-luong-general-loop": ("mingru", {"attention": "luong-general"}),
    "transformer": ("transformer", {}),
}
# Models that run their minimal cells step by step (scan.py's `parallel_scan = False`) -> the same model with
# its scan: the same weights, products and states, so the pair's ratio is what the parallel scan buys over
# the serial recurrence, with the cell held fixed.
SCAN_OFF = {"mingru-luong-general-loop": "mingru-luong-general"}
DEFAULT_CPU_BUDGET = 540.0  # seconds: `make bench` must end within 10 minutes on 2 cores
TRAINING_SHARE = 0.65  # of the time budget; decoding gets the rest
LABEL_SMOOTHING = 0.1  # TrainConfig's default
MAX_GRAD_NORM = 1.0  # TrainConfig's default

METHODS = {
    "training": (
        "One training step = forward + lineage.training.objective.loss_and_tokens (token cross-entropy, label smoothing 0.1) "
        "+ backward + gradient clipping (norm 1.0) + AdamW step + zero_grad, as in the training loop, in train mode "
        "(dropout on). Batches hold a fixed token budget: batch_size = batch_tokens // length, source length = "
        "target length = length, random ids, no padding. Warm-up steps are not timed; tokens_per_second = "
        "target tokens per step / median timed step. On CPU every (model, length) runs in a fresh process "
        "(multiprocessing forkserver), so its memory high-water mark is its own. Time budget (default CPU run): "
        "once 65% of time_budget is spent, remaining configurations are skipped (null, with the reason); one "
        "predicted to end past that point gets a single timed step (marked `reduced`). Contention check per "
        "row: cpu_share = the process's CPU time over the timed steps / (wall time x threads), near 1 when the "
        "threads had the cores to themselves, and the 1-minute load average when the steps began."
    ),
    "decoding": (
        "model.generate(input_ids, attention_mask, num_beams, do_sample=False, max_new_tokens=L, use_cache) with "
        "no end-of-sequence token (eos_token_id=None), under torch.inference_mode in eval mode, on random sources "
        "of L tokens, so every output has exactly L new tokens. sentences_per_second = batch_size / median "
        "seconds per generate call (one call, or up to `repeats` calls, 5 for the cache comparison, when one is "
        "short). One untimed warm-up call per model and setting. Combinations "
        "predicted (from the last measured lengths) to take longer than decode_max_seconds, and uncached runs "
        "beyond uncached_max_length, or predicted to end past time_budget, are not run: they appear with null "
        "values and a reason. cache_speedup = "
        "uncached seconds / cached seconds for greedy decoding of one sentence at cache_ratio_length."
    ),
    "memory_cpu": (
        "Peak resident set size of the fresh process that runs the training configuration "
        "(resource.getrusage(RUSAGE_SELF).ru_maxrss, a high-water mark): peak_rss_mb is the process's peak "
        "(Python, torch, the model, optimizer state, activations); training_delta_mb = that peak minus the "
        "high-water mark just before the first step (model and batch built), i.e. what training adds: gradients, "
        "AdamW state, activations and the allocator's slack."
    ),
    "memory_cuda": (
        "torch.cuda.max_memory_allocated after the steps (peak_mb), and that minus torch.cuda.memory_allocated "
        "just before the first step (training_delta_mb); the caching allocator's reserve is not included."
    ),
    "flops": (
        "Analytic, lineage/speed/flops.py (pipelines/speed/flops.py): matrix products only (multiply-add = 2 FLOPs), forward FLOPs of one "
        "(source, target) pair counted part by part from the model code; training = 3 x forward (backward = 2 x "
        "forward: input and weight gradients); per target token = pair total / target length, with source length = "
        "target length so the encoder's work per source token is attributed one-to-one to target tokens. "
        "Recurrent cells: gates x 2 x units x (input + units) per step, per direction and layer (gates: tanh RNN 1, "
        "GRU 3, LSTM 4); minGRU and minLSTM: gates x 2 x units x input (2 and 3 blocks: no recurrent matrix, their "
        "scan is elementwise and not counted). Transformer: Q/K/V/O and FFN projections per token, attention scores over the full "
        "matrices. flops_check compares the count with torch.utils.flop_counter.FlopCounterMode on one batch "
        "(oneDNN off and the math SDPA backend during the count, so every product is visible to the counter)."
    ),
    "ceiling": (
        "Practical compute ceiling: median GFLOP/s of an n x n @ n x n matmul (2 n^3 FLOPs) in the dtype the "
        "models train in (float32 on CPU; bfloat16 under autocast on CUDA), with the same thread count, measured "
        "before and after training; the higher median is the ceiling. "
        "fraction_of_ceiling = achieved training FLOP/s (tokens_per_second x training FLOPs per target token) / "
        "the ceiling, i.e. model-FLOPs utilisation against what this machine's matmul kernel reaches."
    ),
}


@dataclass(frozen=True)
class SpeedConfig:
    """What one benchmark run measures (`python benchmarks/speed.py --help` explains each field).

    None means the device's default: sizes small (CPU) or small and base (CUDA); 1 warm-up and 3
    timed steps on CPU, 3 and 10 on CUDA; the time budget DEFAULT_CPU_BUDGET for the default
    CPU run, no limit otherwise; decode_lengths = lengths. `note` is free text kept in the
    result's settings (e.g. that the machine was loaded, so only ratios within the run count).
    """

    sizes: tuple[str, ...] | None = None
    models: tuple[str, ...] = tuple(MODELS)
    lengths: tuple[int, ...] = LENGTHS
    decode_lengths: tuple[int, ...] | None = None
    parts: tuple[str, ...] = ("flops_check", "training", "decoding")
    device: str = "auto"
    vocab_size: int = VOCAB_SIZE
    batch_tokens: int = 4096
    warmup_steps: int | None = None
    steps: int | None = None
    min_steps: int = 2
    train_seconds: float = 4.0
    beams: int = 5
    decode_batch: int = 32
    decode_max_seconds: float = 3.0
    uncached_max_length: int = 64
    cache_ratio_length: int = 64
    decode_repeats: int = 3
    decode_repeat_below: float = 0.5
    time_budget: float | None = None
    note: str = ""

    def resolved(self, device: torch.device) -> "SpeedConfig":
        """Every None replaced by the default on `device`; raises ValueError for an unknown model."""
        unknown = [name for name in self.models if name not in MODELS]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
        cuda = device.type == "cuda"
        return replace(
            self,
            sizes=self.sizes or (("small", "base") if cuda else ("small",)),
            decode_lengths=self.decode_lengths or self.lengths,
            warmup_steps=(3 if cuda else 1) if self.warmup_steps is None else self.warmup_steps,
            steps=(10 if cuda else 3) if self.steps is None else self.steps,
            time_budget=(DEFAULT_CPU_BUDGET if not cuda and not self.sizes else 0.0)
            if self.time_budget is None else self.time_budget,
        )

    def settings(self) -> dict:
        """The result document's `settings`: the resolved fields and the constants of the training step."""
        return {**{key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
                   if key != "device"},
                "parts": sorted(self.parts), "training_share_of_budget": TRAINING_SHARE,
                "label_smoothing": LABEL_SMOOTHING, "max_grad_norm": MAX_GRAD_NORM}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Vocabulary:
    """What `lineage.models.build_model` reads from a tokenizer: its size and the special ids.

    Speed depends only on the vocabulary size; the ids are those every Lineage
    tokenizer has (lineage.data.tokenizer.SPECIAL_TOKENS: <pad> 0, <s> 1, </s> 2, <unk> 3).
    """

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2
    first_regular_id = 4

    def __init__(self, size: int = VOCAB_SIZE):
        self.size = size

    def __len__(self) -> int:
        return self.size


def build(name: str, size: str, max_length: int, vocab_size: int = VOCAB_SIZE, seed: int = 0):
    """Build benchmark model `name` (a key of MODELS) at `size`, random weights."""
    from ..models import build_model
    from ..models.recurrent.scan import MinimalRecurrence

    arch, overrides = MODELS[name]
    torch.manual_seed(seed)
    # max_position only bounds the accepted lengths (the sinusoidal table for the Transformer).
    model = build_model(arch, Vocabulary(vocab_size), size, max_position=max(512, max_length), **overrides)
    if name in SCAN_OFF:
        for module in model.modules():
            if isinstance(module, MinimalRecurrence):
                module.parallel_scan = False
    return model


def random_batch(batch_size: int, length: int, vocab_size: int, model, device, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    low = Vocabulary.first_regular_id
    input_ids = torch.randint(low, vocab_size, (batch_size, length), generator=generator)
    labels = torch.randint(low, vocab_size, (batch_size, length), generator=generator)
    batch = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "decoder_input_ids": model.prepare_decoder_input_ids_from_labels(labels=labels),
        "labels": labels,
    }
    return {key: value.to(device) for key, value in batch.items()}


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (what the training loop's "auto" precision picks); nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def precision(device: torch.device) -> str:
    return "bf16-autocast" if device.type == "cuda" else "fp32"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_batches(model, length: int, batch_tokens: int, count: int) -> list[dict]:
    """`count` random batches of `batch_tokens` // `length` pairs of `length` tokens (seeds 0, 1, ...)."""
    return [random_batch(max(1, batch_tokens // length), length, model.config.vocab_size, model, torch.device("cpu"), seed=i)
            for i in range(count)]
