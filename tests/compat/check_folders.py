"""Run saved Lineage model folders the way a Hub user would, and record the outputs.

    python check_folders.py SPEC.json RESULT.json

Runs under transformers 5 (tests/test_pipeline.py, in a process that cannot
import the project) and under transformers 4.57 (tests/compat/, .venv-t4).
Imports only the standard library, torch and transformers. SPEC.json is
written by toy_models.build_toy_folders; the tests compare RESULT.json with
the outputs it expects.

For each folder it records:
- pipeline("translation"/"summarization", model=folder, trust_remote_code=True)
  over the inputs with batch_size and each call's generation kwargs, and over
  an over-long input (with the warnings logged for it);
- AutoModelForSeq2SeqLM / AutoTokenizer .from_pretrained(folder) + generate.
"""

import importlib.util
import json
import logging
import sys
import traceback

import torch
import transformers
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline

OUTPUT_KEYS = {"translation": "translation_text", "summarization": "summary_text"}
MAJOR = int(transformers.__version__.split(".")[0])


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def texts(outputs, key):
    """Pipeline outputs for a list of inputs -> one string per input (the first sequence)."""
    result = []
    for output in outputs:
        if isinstance(output, list):  # several sequences per input
            output = output[0]
        result.append(output[key])
    return result


def run_pipeline(spec, folder, task):
    record = {}
    pipe = pipeline(task, model=folder, trust_remote_code=True)
    record["pipeline_class"] = f"{type(pipe).__module__}.{type(pipe).__qualname__}"
    record["model_class"] = type(pipe.model).__name__
    record["tokenizer_class"] = type(pipe.tokenizer).__name__
    key = OUTPUT_KEYS[task]
    record["calls"] = {
        name: texts(pipe(spec["inputs"], batch_size=spec["batch_size"], **kwargs), key)
        for name, kwargs in spec["calls"].items()
    }
    # A single string gives a one-element list, as in the 4.x pipelines.
    single = pipe(spec["inputs"][0], **spec["calls"]["beam4"])
    record["single"] = single
    # Over-long input. transformers 4.x pipelines do not truncate unless asked
    # (truncation=True), and then only to the tokenizer's model_max_length.
    tokenizer_limit = pipe.tokenizer.model_max_length
    record["tokenizer_model_max_length"] = tokenizer_limit if tokenizer_limit < 10**9 else None
    long_kwargs = dict(spec["calls"]["beam4"])
    if MAJOR < 5:
        if record["tokenizer_model_max_length"] is None:
            record["long"] = None
            record["long_skipped"] = (
                "tokenizer_config.json has no model_max_length, so transformers 4.x pipelines cannot truncate"
            )
            return record
        long_kwargs["truncation"] = True
    recorder = Recorder()
    logging.getLogger("transformers").addHandler(recorder)
    try:
        record["long"] = texts(pipe([spec["long_input"]], batch_size=spec["batch_size"], **long_kwargs), key)[0]
    finally:
        logging.getLogger("transformers").removeHandler(recorder)
    record["long_warnings"] = recorder.messages
    return record


@torch.no_grad()
def run_auto_classes(spec, folder):
    record = {}
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
    # transformers 5's AutoTokenizer reads config.json through AutoConfig, so a folder with
    # custom model code needs trust_remote_code here too (without it, 5.x asks on a terminal).
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    record["model_class"] = type(model).__name__
    record["tokenizer_class"] = type(tokenizer).__name__
    model_set = model.generation_config.to_diff_dict()
    defaults = {k: v for k, v in spec["pipeline_defaults"].items() if k not in model_set}
    if "max_length" in model_set:
        defaults.pop("max_new_tokens", None)

    def generate(text, kwargs, truncate=False):
        limit = spec["max_input_length"] if truncate else None
        encoded = tokenizer(text, return_tensors="pt", truncation=truncate, max_length=limit)
        encoded = {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask")}
        output = model.generate(**encoded, **{**defaults, **kwargs})
        return tokenizer.decode(output[0].tolist(), skip_special_tokens=True)

    record["calls"] = {
        name: [generate(text, kwargs) for text in spec["inputs"]] for name, kwargs in spec["calls"].items()
    }
    record["long"] = generate(spec["long_input"], spec["calls"]["beam4"], truncate=True)
    return record


def guarded(function, *args):
    try:
        return function(*args)
    except Exception:
        return {"error": traceback.format_exc()}


def main(spec_path, result_path):
    with open(spec_path, encoding="utf-8") as file:
        spec = json.load(file)
    result = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "python": sys.executable,
        # The project must not be importable here: the folders must carry all their code.
        "project_importable": {
            name: importlib.util.find_spec(name) is not None for name in ("models", "pipelines", "lineage")
        },
        "sys_path": sys.path,
        "folders": {},
    }
    for arch, folder in spec["folders"].items():
        result["folders"][arch] = {
            "translation": guarded(run_pipeline, spec, folder, "translation"),
            "summarization": guarded(run_pipeline, spec, folder, "summarization"),
            "auto": guarded(run_auto_classes, spec, folder),
        }
    with open(result_path, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=2, ensure_ascii=False, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:3])
