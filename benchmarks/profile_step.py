"""Where a training step's time goes: torch.profiler's operators by self CPU time, per model, beside the step's
fraction of the matmul ceiling.

    .venv/bin/python benchmarks/profile_step.py [--models transformer,lstm-luong-general] [--length 32] [--top 15]

Writes `benchmarks/results/<hostname>-<YYYY-MM-DD>-profile.json` and prints a markdown table per model.
Per model: random batches of one shape (lineage.speed.config.synthetic_batches), `warmup` untimed training steps
(lineage.speed.training.training_step), then the same `steps` steps timed without the profiler (tokens/s: the
profiler's own cost stays out of it) and once more under torch.profiler (CPU activities, no shapes or stacks).
`operators`: the top operators by self CPU time, in ms per step and as a share of the profiled steps' total self
time; `phases`: the step's labelled ranges (forward and loss, backward, gradient clipping, optimizer step and
zero_grad) in ms per step. `matrix_products_share`: the self time of the operators that run the model's matrix
products (MATRIX_PRODUCTS: GEMMs, the fused CPU attention kernel, oneDNN's LSTM layer, which also computes its
gates' element-wise work). `fraction_of_ceiling` = tokens/s x the analytic training FLOPs per target token
(lineage.speed.flops) / the ceiling; `matrix_products_fraction_of_ceiling` = the same FLOPs / the matrix-product
operators' self time / the ceiling: how fast the products themselves run. The ceiling is
lineage.speed.training.matmul_ceiling (a 2048 x 2048 float32 matmul with the same threads, the higher median of
before and after).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from lineage.configs import option
from lineage.speed.config import build, synthetic_batches
from lineage.speed.documents import benchmark_document, benchmark_path, save_benchmark
from lineage.speed.flops import training_flops_per_target_token
from lineage.speed.measure import environment
from lineage.speed.training import higher_ceiling, matmul_ceiling, timed_steps
from lineage.training.cpu import configure_cpu
from torch.profiler import ProfilerActivity, profile

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PHASES = ("forward_and_loss", "backward", "clip_grad_norm", "optimizer_step")
MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm",
                   "aten::_scaled_dot_product_flash_attention_for_cpu",
                   "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
                   "aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward")


def profile_model(name: str, size: str, length: int, batch_tokens: int, warmup: int, steps: int, top: int) -> dict:
    model = build(name, size, length).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-8)
    batches = synthetic_batches(model, length, batch_tokens, steps)
    timed_steps(model, batches[:1] * warmup, optimizer)
    seconds = timed_steps(model, batches, optimizer)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        timed_steps(model, batches, optimizer)
    events = profiler.key_averages()
    total_self = sum(event.self_cpu_time_total for event in events)
    operators = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)
    tokens = int((batches[0]["labels"] != -100).sum())
    return {
        "model": name, "size": size, "length": length, "target_tokens_per_step": tokens,
        "step_seconds": [round(value, 4) for value in seconds],
        "tokens_per_second": tokens / statistics.median(seconds),
        "training_flops_per_target_token": training_flops_per_target_token(model.config, length),
        "profiled_step_ms": total_self / 1e3 / steps,
        "operators": [{"name": event.key, "self_ms_per_step": event.self_cpu_time_total / 1e3 / steps,
                       "share": event.self_cpu_time_total / total_self, "calls_per_step": event.count / steps}
                      for event in operators[:top]],
        "phases": {event.key: event.cpu_time_total / 1e3 / steps for event in events if event.key in PHASES},
        "matrix_products_ms_per_step": sum(event.self_cpu_time_total for event in events
                                           if event.key in MATRIX_PRODUCTS) / 1e3 / steps,
        "matrix_products_share": sum(event.self_cpu_time_total for event in events
                                     if event.key in MATRIX_PRODUCTS) / total_self,
    }


def add_fractions(row: dict, ceiling_gflops: float) -> None:
    step_flops = row["training_flops_per_target_token"] * row["target_tokens_per_step"]
    row["achieved_gflops"] = row["tokens_per_second"] * row["training_flops_per_target_token"] / 1e9
    row["fraction_of_ceiling"] = row["achieved_gflops"] / ceiling_gflops
    row["matrix_products_fraction_of_ceiling"] = step_flops / (row["matrix_products_ms_per_step"] / 1e3) / 1e9 / ceiling_gflops


def table(row: dict) -> str:
    lines = [f"{row['model']} (length {row['length']}, {row['target_tokens_per_step']} target tokens per step): "
             f"{row['tokens_per_second']:.0f} tokens/s, {row['fraction_of_ceiling']:.0%} of the ceiling; matrix products "
             f"{row['matrix_products_share']:.0%} of the step, running at {row['matrix_products_fraction_of_ceiling']:.0%} "
             "of the ceiling",
             "phases (ms per step): " + ", ".join(f"{key} {value:.0f}" for key, value in row["phases"].items()),
             "", "| operator | self ms / step | share | calls / step |", "|---|---|---|---|"]
    lines += [f"| `{op['name']}` | {op['self_ms_per_step']:.1f} | {op['share']:.1%} | {op['calls_per_step']:.0f} |"
              for op in row["operators"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    option(parser, "--models", default="transformer,lstm-luong-general", help="benchmark models (lineage.speed.config.MODELS)")
    option(parser, "--length", type=int, default=32, help="source = target length")
    option(parser, "--size", default="small", help="model size (models/sizes.py)")
    option(parser, "--batch_tokens", type=int, default=2048, help="target tokens per batch")
    option(parser, "--warmup", type=int, default=2, help="untimed steps first")
    option(parser, "--steps", type=int, default=3, help="timed steps, then the same steps profiled")
    option(parser, "--top", type=int, default=15, help="operators listed per model")
    option(parser, "--output_dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    args = parser.parse_args(argv)
    configure_cpu()
    started = time.perf_counter()
    document = benchmark_document(__doc__.split("\n\n", 2)[2], args,
                                  {**environment(torch.device("cpu")), "threads": torch.get_num_threads()})
    ceiling_start = matmul_ceiling(torch.device("cpu"))
    rows = [profile_model(name, args.size, args.length, args.batch_tokens, args.warmup, args.steps, args.top)
            for name in args.models.split(",")]
    document["ceiling"] = higher_ceiling(ceiling_start, matmul_ceiling(torch.device("cpu")))
    for row in rows:
        add_fractions(row, document["ceiling"]["gflops_median"])
        print(table(row) + "\n", flush=True)
    document["models"] = rows
    document["total_seconds"] = time.perf_counter() - started
    path = benchmark_path(args.output_dir, document, "profile")
    save_benchmark(path, document)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
