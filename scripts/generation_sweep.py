"""Choose a task's decoding settings on its validation split (never on test).

    python scripts/generation_sweep.py MODEL_DIR --task dialogsum --samples 300 --out sweep.json

Decodes the first `--samples` validation examples with every combination of
the grid below and prints (and writes) the task metrics of each, best main
metric first. The chosen settings go into pipelines/tasks.py.
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import AutoModelForSeq2SeqLM  # noqa: E402

import models  # noqa: E402,F401  (registers the recurrent Auto classes)
from pipelines.data import load_splits  # noqa: E402
from pipelines.evaluation import generate_texts, score  # noqa: E402
from pipelines.files import write_json  # noqa: E402
from pipelines.tasks import get_task  # noqa: E402
from pipelines.tokenizer import load_tokenizer  # noqa: E402

GRID = {"num_beams": (4,), "length_penalty": (1.0, 2.0), "min_new_tokens": (0, 15), "no_repeat_ngram_size": (3,)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--task", default="dialogsum")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--out")
    args = parser.parse_args()
    task = get_task(args.task)
    validation = load_splits(task, ("validation",))["validation"]
    validation = validation.select(range(min(args.samples, len(validation))))
    sources, references = list(validation[task.source_column]), [[t] for t in validation[task.target_column]]
    model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(args.model), load_tokenizer(args.model)
    rows = []
    for values in itertools.product(*GRID.values()):
        settings = {**task.generation, **dict(zip(GRID, values))}
        outputs = generate_texts(model, tokenizer, sources, task.max_source_length, **settings)
        words = sum(len(o.split()) for o in outputs) / len(outputs)
        rows.append({"settings": settings, "mean_words": words, **score(task, outputs, references)})
        print(json.dumps(rows[-1]), flush=True)
    rows.sort(key=lambda row: -row[task.main_metric])
    if args.out:
        write_json(args.out, {"model": args.model, "task": task.name, "samples": len(sources), "results": rows})


if __name__ == "__main__":
    main()
