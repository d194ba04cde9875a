"""Dry-run the paper-scale recipes (scripts/recipes/*.yaml) on local copies of their datasets' Hub layouts,
and estimate what each needs on GPUs from the measured steps and the FLOP counts.

    python scripts/dry_run_recipes.py [--steps 3] [--output_dir benchmarks/results]

Each recipe trains for `steps` optimizer steps on this machine with its own model, batch and data settings,
reading a copy of its dataset's layout (scripts/layout_copies.py: wmt14 with Multi30k's pairs,
cnn_dailymail with DialogSum's texts), so the command a GPU user runs has run. The JSON holds per recipe the
measured seconds per step and target tokens per step here, the training FLOPs per target token at the
task's typical lengths, and the estimate: total FLOPs over the recipe's budget divided by an assumed
sustained rate per GPU (ASSUMED_GPU_TFLOPS, a fraction of an H100's bf16 peak). An estimate, not a result.
"""

import argparse
import json
import socket
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from lineage.configs import option, parse_config
from lineage.files import write_json
from lineage.models import model_config
from lineage.speed.flops import forward_flops
from lineage.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "scripts" / "recipes").glob("*.yaml"))
# Typical lengths in subword tokens (source, target): WMT14 en-de sentences average about 30 pieces a side;
# CNN/DailyMail articles are cut to 400 and their summaries average about 60.
TYPICAL_LENGTHS = {"translation": (30, 30), "summarization": (400, 60)}
# Sustained training rate per GPU assumed for the estimate: 40% of an H100's dense bf16 peak (989 TFLOP/s).
ASSUMED_GPU_TFLOPS = 0.4 * 989
GPUS = 8


def local_task(recipe: TrainConfig, copies: Path) -> str:
    return str(copies / ("wmt14" if recipe.kind == "translation" else "cnn_dailymail"))


def total_target_tokens(recipe: TrainConfig, tokens_per_step_per_gpu: float) -> float:
    """The recipe's budget in target tokens: its own, or its steps times what a step holds on `GPUS` GPUs."""
    return recipe.budget_target_tokens or recipe.max_steps * tokens_per_step_per_gpu * GPUS


def dry_run(path: Path, copies: Path, out: Path, steps: int) -> dict:
    recipe = parse_config(TrainConfig, [str(path)])
    run = replace(recipe, task=local_task(recipe, copies), output_dir=str(out / path.stem), max_steps=steps,
                  budget_target_tokens=None, eval_every=steps, save_every=steps, eval_samples=4, overwrite=True)
    summary = train(run)
    resolved = recipe.resolved()
    source, target = TYPICAL_LENGTHS[recipe.kind]
    config = model_config(recipe.arch, resolved.size, vocab_size=recipe.vocab_size, pad_token_id=0, bos_token_id=1,
                          eos_token_id=2, decoder_start_token_id=1, **resolved.model_overrides())
    per_token = 3 * sum(forward_flops(config, source, target).values()) / target
    # A full batch at the task's lengths: the budget counts the longer side, padding included.
    tokens_per_step = resolved.batch_tokens / max(source, target) * target
    tokens = total_target_tokens(recipe, tokens_per_step)
    return {
        "recipe": path.name, "arch": recipe.arch, "size": resolved.size, "parameters": summary["parameters"],
        "dry_run": {"steps": summary["steps"], "seconds_per_step": summary["train_seconds"] / summary["steps"],
                    "target_tokens_per_step": summary["target_tokens"] / summary["steps"],
                    "device": summary["device"]},
        "typical_lengths": {"source": source, "target": target},
        "training_flops_per_target_token": per_token,
        "target_tokens_per_step_per_gpu": tokens_per_step,
        "budget_target_tokens": tokens,
        "estimate": {"gpus": GPUS, "assumed_tflops_per_gpu": ASSUMED_GPU_TFLOPS,
                     "gpu_hours": tokens * per_token / (ASSUMED_GPU_TFLOPS * 1e12) / 3600,
                     "hours_on_8_gpus": tokens * per_token / (GPUS * ASSUMED_GPU_TFLOPS * 1e12) / 3600},
    }


def main(argv: list[str] | None = None) -> int:
    import layout_copies

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    option(parser, "--steps", type=int, default=3, help="optimizer steps per recipe (default: %(default)s)")
    option(parser, "--output_dir", type=Path, default=ROOT / "benchmarks" / "results", help="where the JSON goes")
    args = parser.parse_args(argv)
    data_dir = ROOT.parent / "shared" / "data"
    with tempfile.TemporaryDirectory() as scratch:
        copies = Path(scratch) / "copies"
        layout_copies.wmt14_copy(data_dir, copies), layout_copies.cnn_dailymail_copy(data_dir, copies)
        results = [dry_run(path, copies, Path(scratch) / "runs", args.steps) for path in RECIPES]
    document = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "recipes": results,
                "method": __doc__.split("\n\n")[1].replace("\n", " ")}
    path = args.output_dir / f"{socket.gethostname()}-{document['date']}-recipes.json"
    write_json(path, document)
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
