"""Training speed in float32 against bfloat16 autocast on the CPU, per architecture and length, in one process.

    .venv/bin/python benchmarks/precision.py [--lengths 32,64,128,256] [--models ...] [--rounds 3]

Writes `benchmarks/results/<hostname>-<YYYY-MM-DD>-precision.json`. For each model and length the same model
and the same batches are timed in both precisions, alternating (fp32 then bf16, then bf16 then fp32, ...), so
that load from other processes falls on both alike: the ratio `bf16 / fp32` is the figure, the absolute
tokens/s mean little on a shared machine. bf16 is what `--mixed_precision bf16` runs: `torch.autocast("cpu",
bfloat16)` around the forward pass and loss (float32 master weights, gradients and AdamW state), the
backward pass outside it, as Accelerate does. The matmul rows time one n x n product in each dtype the same
way: the ceiling each precision could reach. The CPU's bf16 instructions (avx512_bf16, amx_bf16) are recorded:
without them torch emulates bf16 and it is slower.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from lineage.configs import option
from lineage.environment import cpu_supports_bf16, describe_machine
from lineage.speed.config import build, synthetic_batches
from lineage.speed.documents import benchmark_document, benchmark_path, save_benchmark
from lineage.speed.training import timed_steps
from lineage.training.cpu import configure_cpu

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MODELS = ("rnn-luong-general", "lstm-luong-general", "lstm-pointer-generator", "mingru-luong-general",
          "minlstm-luong-general", "transformer")
PRECISIONS = ("fp32", "bf16")


def compare_training(name: str, size: str, length: int, batch_tokens: int, steps: int, rounds: int) -> dict:
    """Median seconds per step of each precision over `rounds` alternating rounds of `steps` steps."""
    model = build(name, size, length)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-8)
    batches = synthetic_batches(model, length, batch_tokens, steps)
    for precision in PRECISIONS:  # warm-up: kernel selection and the allocator, both ways
        timed_steps(model, batches[:1], optimizer, bf16=precision == "bf16")
    seconds = {precision: [] for precision in PRECISIONS}
    for round_index in range(rounds):
        for precision in PRECISIONS[:: 1 if round_index % 2 == 0 else -1]:
            seconds[precision] += timed_steps(model, batches, optimizer, bf16=precision == "bf16")
    tokens = int((batches[0]["labels"] != -100).sum())
    speed = {precision: tokens / statistics.median(values) for precision, values in seconds.items()}
    return {"model": name, "size": size, "length": length, "target_tokens_per_step": tokens,
            "step_seconds": {precision: [round(value, 4) for value in values] for precision, values in seconds.items()},
            "tokens_per_second": speed, "bf16_over_fp32": speed["bf16"] / speed["fp32"]}


def compare_matmul(n: int = 1024, repeats: int = 7) -> dict:
    """GFLOP/s of an n x n @ n x n product in float32 and in bfloat16, alternating, medians."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    operands = {"fp32": (a, b), "bf16": (a.bfloat16(), b.bfloat16())}
    seconds = {precision: [] for precision in PRECISIONS}
    for first, second in operands.values():
        first @ second  # warm-up
    for _ in range(repeats):
        for precision, (first, second) in operands.items():
            start = time.perf_counter()
            first @ second
            seconds[precision].append(time.perf_counter() - start)
    gflops = {precision: 2 * n**3 / statistics.median(values) / 1e9 for precision, values in seconds.items()}
    return {"n": n, "gflops": gflops, "bf16_over_fp32": gflops["bf16"] / gflops["fp32"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    option(parser, "--models", default=",".join(MODELS), help="benchmark models (lineage.speed.config.MODELS)")
    option(parser, "--lengths", default="32,64,128,256", help="source = target lengths, comma-separated")
    option(parser, "--size", default="small", help="model size (models/sizes.py)")
    option(parser, "--batch_tokens", type=int, default=2048, help="target tokens per batch")
    option(parser, "--steps", type=int, default=2, help="timed steps per precision and round")
    option(parser, "--rounds", type=int, default=2, help="alternating rounds per model and length")
    option(parser, "--output_dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    args = parser.parse_args(argv)
    configure_cpu()
    machine = {**describe_machine("cpu"), "cpu_bf16_instructions": cpu_supports_bf16()}
    document = {**benchmark_document(__doc__.split("\n\n")[1], args, machine), "matmul": compare_matmul(), "training": []}
    path = benchmark_path(args.output_dir, document, "precision")
    for length in map(int, args.lengths.split(",")):
        for name in args.models.split(","):
            row = compare_training(name, args.size, length, args.batch_tokens, args.steps, args.rounds)
            document["training"].append(row)
            print(f"{name:24s} L={length:4d}  fp32 {row['tokens_per_second']['fp32']:7.0f}  "
                  f"bf16 {row['tokens_per_second']['bf16']:7.0f} tok/s  ratio {row['bf16_over_fp32']:.2f}", flush=True)
            save_benchmark(path, document)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
