"""Choose a task's decoding settings on its validation split (never on test).

    python scripts/generation_sweep.py MODEL_DIR [MODEL_DIR ...] --task samsum --samples 300 \
        --min_new_tokens 0,10,15 --out sweep.json

Decodes the first `--samples` validation examples with every model and every
combination of the grid (the task's own settings, with the values given for
the swept ones) and prints (and writes) the task metrics of each. A task has
one set of decoding settings for all its models, so the settings are ranked
by the main metric averaged over the models, best first. The chosen settings
go into pipelines/data/tasks.py.
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lineage.models  # noqa: E402,F401  (registers the recurrent Auto classes)
from lineage.data.loading import load_splits  # noqa: E402
from lineage.data.tasks import get_task  # noqa: E402
from lineage.data.tokenizer import load_tokenizer  # noqa: E402
from lineage.evaluation.generation import generate_texts, score  # noqa: E402
from lineage.files import write_json  # noqa: E402
from transformers import AutoModelForSeq2SeqLM  # noqa: E402

# Swept settings and their default values (each can be replaced from the command line).
GRID = {"num_beams": (4,), "length_penalty": (1.0, 2.0), "min_new_tokens": (0, 15), "no_repeat_ngram_size": (3,)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--task", default="dialogsum")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--out")
    for name, values in GRID.items():
        kind = type(values[0])
        parser.add_argument(f"--{name}", type=lambda text, kind=kind: tuple(kind(v) for v in text.split(",")),
                            default=values, help=f"comma-separated values (default: {','.join(map(str, values))})")
    args = parser.parse_args()
    grid = {name: getattr(args, name) for name in GRID}
    task = get_task(args.task)
    validation = load_splits(task, ("validation",))["validation"]
    validation = validation.select(range(min(args.samples, len(validation))))
    sources, references = list(validation[task.source_column]), [[t] for t in validation[task.target_column]]
    loaded = [(path, AutoModelForSeq2SeqLM.from_pretrained(path), load_tokenizer(path)) for path in args.models]
    rows = []
    for values in itertools.product(*grid.values()):
        settings = {**task.generation, **dict(zip(grid, values))}
        scores = {}
        for path, model, tokenizer in loaded:
            outputs = generate_texts(model, tokenizer, sources, task.max_source_length, **settings)
            words = sum(len(o.split()) for o in outputs) / len(outputs)
            scores[path] = {"mean_words": words, **score(task, outputs, references)}
        mean = sum(s[task.main_metric] for s in scores.values()) / len(scores)
        rows.append({"settings": settings, f"mean_{task.main_metric}": mean, "models": scores})
        print(json.dumps(rows[-1]), flush=True)
    rows.sort(key=lambda row: -row[f"mean_{task.main_metric}"])
    if args.out:
        write_json(args.out, {"models": args.models, "task": task.name, "samples": len(sources), "results": rows})


if __name__ == "__main__":
    main()
