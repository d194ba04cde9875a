"""Dry-run the paper-scale recipes (scripts/recipes/*.yaml) on local copies of their datasets' Hub layouts,
and estimate what each needs on GPUs from the FLOP counts.

    python scripts/dry_run_recipes.py [--steps 3] [--output_dir benchmarks/results]
    python scripts/dry_run_recipes.py --estimate_only    # the estimates alone, in seconds: nothing trains

Each recipe trains for `steps` optimizer steps on this machine (CPU, float32) with its own model, batch and data
settings, reading a copy of its dataset's layout (scripts/layout_copies.py: wmt14 with Multi30k's pairs,
cnn_dailymail with DialogSum's texts), so the command a GPU user runs has run; each in a fresh process, whose
peak resident memory is recorded. The JSON holds per recipe the measured seconds per step and target tokens
per step here, the training FLOPs per target token at the task's typical lengths (3 x the forward pass's
matrix products, lineage.speed.flops), the budget in target tokens (the recipe's own, or its steps x full
batches of the recipe's batch_tokens per GPU x 8 GPUs), and the estimate: total FLOPs divided by an assumed
sustained rate per GPU, at two model-FLOP utilisations of an H100's dense bf16 peak (989 TFLOP/s): 40%, what a
tuned Transformer reaches, and 10%, nearer what recurrent models whose time steps run in sequence reach; and
the training state's memory (float32 weights, gradients and AdamW's two moments: 16 bytes per parameter).
An estimate, not a result.
"""

import argparse
import json
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from lineage.configs import option, parse_config
from lineage.files import write_json
from lineage.models import build_model, model_config
from lineage.speed.config import Vocabulary
from lineage.speed.flops import forward_flops
from lineage.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "scripts" / "recipes").glob("*.yaml"))
# Typical lengths in subword tokens (source, target): WMT14 en-de sentences average about 30 pieces a side;
# CNN/DailyMail articles are cut to 400 and their summaries average about 60.
TYPICAL_LENGTHS = {"translation": (30, 30), "summarization": (400, 60)}
H100_BF16_TFLOPS = 989  # dense peak
UTILISATIONS = (0.4, 0.1)  # model-FLOP utilisations the estimate assumes (see the docstring)
GPUS = 8
STATE_BYTES_PER_PARAMETER = 16  # float32 weights and gradients, AdamW's two moments


def local_task(recipe: TrainConfig, copies: Path) -> str:
    return str(copies / ("wmt14" if recipe.kind == "translation" else "cnn_dailymail"))


def estimate(recipe: TrainConfig) -> dict:
    """What the recipe needs on `GPUS` GPUs, from its model's FLOPs per target token and its budget."""
    resolved = recipe.resolved()
    source, target = TYPICAL_LENGTHS[recipe.kind]
    config = model_config(recipe.arch, resolved.size, vocab_size=recipe.vocab_size, pad_token_id=0, bos_token_id=1,
                          eos_token_id=2, decoder_start_token_id=1, **resolved.model_overrides())
    per_token = 3 * sum(forward_flops(config, source, target).values()) / target
    # A full batch at the task's lengths: the budget counts the longer side, padding included.
    tokens_per_step = resolved.batch_tokens / max(source, target) * target
    tokens = recipe.budget_target_tokens or recipe.max_steps * tokens_per_step * GPUS
    hours = {f"{utilisation:.0%}": tokens * per_token / (GPUS * utilisation * H100_BF16_TFLOPS * 1e12) / 3600
             for utilisation in UTILISATIONS}
    return {
        "typical_lengths": {"source": source, "target": target},
        "training_flops_per_target_token": per_token,
        "target_tokens_per_step_per_gpu": tokens_per_step,
        "budget_target_tokens": tokens,
        "total_training_flops": tokens * per_token,
        "gpus": GPUS, "gpu": f"H100, {H100_BF16_TFLOPS} TFLOP/s dense bf16 peak",
        "hours_on_8_gpus_by_utilisation": hours,
        "gpu_hours_by_utilisation": {key: value * GPUS for key, value in hours.items()},
    }


def described(path: Path) -> dict:
    """The recipe's model (parameters, training state) and the estimate of what it needs; nothing trains."""
    recipe = parse_config(TrainConfig, [str(path)])
    resolved = recipe.resolved()
    model = build_model(recipe.arch, Vocabulary(recipe.vocab_size), resolved.size, **resolved.model_overrides())
    parameters = sum(parameter.numel() for parameter in model.parameters())
    return {"recipe": path.name, "arch": recipe.arch, "size": resolved.size, "parameters": parameters,
            "training_state_gb": parameters * STATE_BYTES_PER_PARAMETER / 2**30, "estimate": estimate(recipe)}


def dry_run(path: Path, copies: Path, out: Path, steps: int) -> dict:
    """Train the recipe at its own size for `steps` steps on its layout copy (call it in a fresh process)."""
    recipe = parse_config(TrainConfig, [str(path)])
    run = replace(recipe, task=local_task(recipe, copies), output_dir=str(out / path.stem), max_steps=steps,
                  budget_target_tokens=None, eval_every=steps, save_every=steps, eval_samples=4, overwrite=True)
    summary = train(run)
    return {"steps": summary["steps"], "seconds_per_step": summary["train_seconds"] / summary["steps"],
            "target_tokens_per_step": summary["target_tokens"] / summary["steps"],
            "device": summary["device"], "mixed_precision": summary["mixed_precision"],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def dry_run_fresh(path: Path, copies: Path, out: Path, steps: int) -> dict:
    """`dry_run` in a fresh process, so that its peak memory is its own."""
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(dry_run, (path, copies, out, steps))


def main(argv: list[str] | None = None) -> int:
    import layout_copies

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    option(parser, "--steps", type=int, default=3, help="optimizer steps per recipe (default: %(default)s)")
    option(parser, "--estimate_only", action="store_true", help="write the estimates without the dry runs")
    option(parser, "--output_dir", type=Path, default=ROOT / "benchmarks" / "results", help="where the JSON goes")
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("LINEAGE_DATA_DIR", ROOT.parent / "shared" / "data"))
    with tempfile.TemporaryDirectory() as scratch:
        copies = Path(scratch) / "copies"
        layout_copies.wmt14_copy(data_dir, copies), layout_copies.cnn_dailymail_copy(data_dir, copies)
        results = [described(path) for path in RECIPES]
        for result, path in zip(results, RECIPES):
            result["dry_run"] = None if args.estimate_only else dry_run_fresh(path, copies, Path(scratch) / "runs",
                                                                              args.steps)
    document = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "recipes": results,
                "method": __doc__.split("\n\n")[2].replace("\n", " "), "command": " ".join(sys.argv)}
    path = args.output_dir / f"{socket.gethostname()}-{document['date']}-recipes.json"
    write_json(path, document)
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
