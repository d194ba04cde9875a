"""The speed measurement: training throughput, decoding speed, peak memory and FLOP utilisation.

`run(SpeedConfig(...))` returns one JSON document; `write_results` writes it
with a plot of training throughput against sequence length beside it. What
each number means and how it is measured is written into the JSON itself
(`methods`) and into benchmarks/README.md. `benchmarks/speed.py` is its
command line (`make bench`); `lineage study` runs it too.
"""

import math
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..environment import describe_machine
from ..report.results import SpeedResults
from ..training.cpu import configure_cpu
from .config import METHODS, TRAINING_SHARE, SpeedConfig, build, log, pick_device, precision
from .decoding import cache_speedups, run_decoding
from .flops import forward_flops, training_flops_per_target_token
from .plot import plot_throughput
from .training import flops_check, higher_ceiling, isolation_context, matmul_ceiling, model_info, run_training


def run(config: SpeedConfig) -> dict:
    """Run every part of the benchmark that `config` asks for; returns the result document."""
    started, seconds = time.perf_counter(), {}
    configure_cpu()
    device = pick_device(config.device)
    config = config.resolved(device)
    result = {
        "benchmark": "lineage-speed",
        "date": datetime.now().strftime("%Y-%m-%d"),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(device),
        "settings": config.settings(),
        "methods": dict(METHODS),
    }
    log(f"device {device.type}, {torch.get_num_threads()} threads, sizes {list(config.sizes)}, "
        f"load {os.getloadavg()[0]:.2f}")
    isolate = "training" in config.parts and device.type == "cpu"
    if isolate:
        isolation_context()  # imports in the background while the FLOP counts run
    result["models"] = describe_models(config)
    if isolate:  # the forkserver's imports must be over before anything is timed
        with isolation_context().Pool(1) as pool:
            pool.apply(os.getpid)
    ceiling_start = matmul_ceiling(device)
    log(f"matmul {ceiling_start['gflops_median']:.1f} GFLOP/s ({ceiling_start['dtype']})")
    seconds["flops_and_ceiling"] = time.perf_counter() - started
    mark, budget = time.perf_counter(), config.time_budget or math.inf
    names, sizes = list(config.models), list(config.sizes)
    result["training"] = (
        run_training(names, sizes, list(config.lengths), config, device, started + TRAINING_SHARE * budget)
        if "training" in config.parts else []
    )
    seconds["training"] = time.perf_counter() - mark
    result["ceiling"] = higher_ceiling(ceiling_start, matmul_ceiling(device))
    add_flops(result["training"], result["models"], result["ceiling"])
    mark = time.perf_counter()
    result["decoding"] = (run_decoding(names, sizes, list(config.decode_lengths), config, device, started + budget)
                          if "decoding" in config.parts else [])
    seconds["decoding"] = time.perf_counter() - mark
    result["cache_speedup"] = cache_speedups(result["decoding"], config.cache_ratio_length)
    result["summary"] = summary(result["training"], result["decoding"], result["cache_speedup"])
    result["environment"]["load_average_at_end"] = list(os.getloadavg())
    result["total_seconds"] = time.perf_counter() - started
    result["part_seconds"] = seconds
    return result


def environment(device: torch.device) -> dict:
    """The machine (lineage.environment), the host the result file is named after, and the precision timed."""
    return {**describe_machine(device.type), "hostname": socket.gethostname(), "precision": precision(device)}


def describe_models(config: SpeedConfig) -> dict:
    """Parameters, config and FLOPs per target token of every "<size>/<model>" (and the FLOP check)."""
    lengths, every_length = list(config.lengths), sorted(set(config.lengths + config.decode_lengths))
    models = {}
    for size in config.sizes:
        for name in config.models:
            model = build(name, size, max(every_length), config.vocab_size)
            info = model_info(model)
            info["flops_per_target_token"] = {
                str(length): training_flops_per_target_token(model.config, length) for length in every_length
            }
            info["forward_flops_by_part"] = {str(length): forward_flops(model.config, length, length) for length in lengths}
            if "flops_check" in config.parts:
                info["flops_check"] = flops_check(model)
            models[f"{size}/{name}"] = info
            del model
    return models


def add_flops(training: list[dict], models: dict, ceiling: dict) -> None:
    """Training FLOPs per target token, achieved GFLOP/s and fraction of the matmul ceiling, per row."""
    for row in training:
        if not row.get("tokens_per_second"):
            continue
        per_token = models[f"{row['size']}/{row['model']}"]["flops_per_target_token"][str(row["length"])]
        row["training_flops_per_target_token"] = per_token
        row["achieved_gflops"] = row["tokens_per_second"] * per_token / 1e9
        row["fraction_of_ceiling"] = row["achieved_gflops"] / ceiling["gflops_median"]


def summary(training: list[dict], decoding: list[dict], speedups: dict) -> dict:
    def key(row):
        return f"{row['size']}/{row['model']}"

    tokens, fraction = {}, {}
    for row in training:
        tokens.setdefault(key(row), {})[str(row["length"])] = row.get("tokens_per_second")
        fraction.setdefault(key(row), {})[str(row["length"])] = row.get("fraction_of_ceiling")
    decode = {}
    for row in decoding:
        search = "greedy" if row["num_beams"] == 1 else f"beam{row['num_beams']}"
        setting = f"{search}/batch{row['batch_size']}/{'cached' if row['use_cache'] else 'uncached'}"
        decode.setdefault(key(row), {}).setdefault(setting, {})[str(row["length"])] = row.get("sentences_per_second")
    growth = {}
    for name, values in tokens.items():
        measured = sorted((int(length), value) for length, value in values.items() if value)
        if len(measured) >= 2:
            (short, first), (long, last) = measured[0], measured[-1]
            growth[name] = {"from_length": short, "to_length": long, "tokens_per_second_ratio": last / first}
    return {
        "training_tokens_per_second": tokens,
        # Throughput at the longest length / at the shortest, at the same token budget: 1 = no cost growth.
        "training_throughput_longest_vs_shortest": growth,
        "training_fraction_of_ceiling": fraction,
        "decoding_sentences_per_second": decode,
        "cache_speedup": {name: value["ratio"] for name, value in speedups.items()},
    }


def result_paths(output_dir: Path, hostname: str, date: str, tag: str = "") -> tuple[Path, Path]:
    """`<hostname>-<date>[-<tag>].json` and its `-throughput.png` in `output_dir`."""
    stem = f"{hostname}-{date}" + (f"-{tag}" if tag else "")
    return output_dir / f"{stem}.json", output_dir / f"{stem}-throughput.png"


def write_results(result: dict, output_dir: Path, tag: str = "") -> tuple[Path, Path]:
    """The JSON (atomically, as a `lineage.report.results.SpeedResults`) and the throughput plot beside it,
    named by `result_paths` (`tag` tells apart several runs of one day and host)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, plot_path = result_paths(output_dir, result["environment"]["hostname"], result["date"], tag)
    result["result_path"], result["plot_path"] = str(json_path), str(plot_path)
    plot_throughput(result, plot_path)
    SpeedResults.from_dict(result).save(json_path)
    return json_path, plot_path
