"""Data-scale benchmark: raw JSON Lines to the first training step, per phase, at 0.5M to 4M pairs.

    .venv/bin/python benchmarks/data_scale.py                            # 0.5M,1M,2M,4M; one process and two ranks
    .venv/bin/python benchmarks/data_scale.py --sizes 0.5M --skip_ddp    # a quick check

Builds the synthetic corpus deterministically from Multi30k de-en (the 29,000 training pairs repeated, every
repetition after the first with two word swaps per side drawn from a generator seeded by the repetition, so
rows are rarely duplicates) as JSON Lines in `--cache_dir`, then runs `lineage train --arch lstm --max_steps N`
on it as a subprocess (one process, and two CPU DDP ranks under `accelerate launch`), twice: the first run with
an empty datasets cache (the tokenizer trained, the corpus tokenized), the cached run with the same cache and
the first run's tokenizer. For each run it records the phase lines the run logs (`lineage.data.phases`: wall
and CPU seconds of loading, tokenizer, tokenizing, lengths), the seconds from start to the line each rank logs
when it is ready to take its first step (`phase prepared`), the peak RSS of every process of the run (polled
every 0.2 s with psutil, and each rank's own ru_maxrss when ready), the run's CPU seconds, and its training
target tokens/s. Last, the same training on Multi30k itself (29k pairs), for the tokens/s at 4M against 29k.

Writes `benchmarks/results/<hostname>-<YYYY-MM-DD>-data-scale.json`. Timings on a loaded machine say so in
`--note`.
"""

import argparse
import json
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
from lineage.configs import option
from lineage.environment import describe_machine
from lineage.files import write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
PHASE = re.compile(r"phase (\w+): ([\d.]+) s wall, ([\d.]+) s CPU(?: \((.*)\))?")
PREPARED = re.compile(r"phase prepared: rank (\d+), peak RSS (\d+) MB")
VALIDATION = 200
BEFORE = {"pairs": 4_002_000, "to_first_step_seconds": 798, "peak_rss_mb": 7460,
          "source": "issue 30: the code before memory-mapped data, one process, /usr/bin/time -v"}


def pair_count(text: str) -> int:
    """"0.5M" -> 500000, "29k" -> 29000, "1000" -> 1000."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def build_corpus(pairs: int, label: str, cache: Path, multi30k: Path) -> Path:
    """The folder `cache/multi30k-<label>`: train.jsonl of `pairs` de-en pairs (built once), and the first
    `VALIDATION` pairs of Multi30k's validation split."""
    folder = cache / f"multi30k-{label}"
    folder.mkdir(parents=True, exist_ok=True)
    validation = [json.loads(line) for line in (multi30k / "validation.jsonl").read_text().splitlines() if line.strip()]
    # A part only: the run's closing evaluation is not what is measured. Rewritten only when it differs (a new
    # modification time would make datasets convert the corpus again).
    text = "".join(json.dumps({"de": row["de"], "en": row["en"]}, ensure_ascii=False) + "\n" for row in validation[:VALIDATION])
    if not (folder / "validation.jsonl").exists() or (folder / "validation.jsonl").read_text() != text:
        (folder / "validation.jsonl").write_text(text)
    if (folder / "train.jsonl").exists():
        return folder
    base = [json.loads(line) for line in (multi30k / "train.jsonl").read_text().splitlines() if line.strip()]
    partial = folder / "train.jsonl.partial"
    with open(partial, "w") as out:
        for repetition in range(-(-pairs // len(base))):
            rng = random.Random(repetition)
            for row in base[: pairs - repetition * len(base)]:
                pair = {side: swapped(row[side], rng) if repetition else row[side] for side in ("de", "en")}
                out.write(json.dumps(pair, ensure_ascii=False) + "\n")
    os.replace(partial, folder / "train.jsonl")
    return folder


def swapped(text: str, rng: random.Random) -> str:
    """`text` with two pairs of its words swapped (positions from `rng`)."""
    words = text.split()
    for _ in range(2):
        a, b = rng.randrange(len(words)), rng.randrange(len(words))
        words[a], words[b] = words[b], words[a]
    return " ".join(words)


def launcher(ddp: bool) -> list[str]:
    """One process, or two gloo CPU ranks under `accelerate launch` (accelerate runs one for --cpu --num_processes 2)."""
    if not ddp:
        return [sys.executable]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_ip", "127.0.0.1", "--main_process_port", str(port)]


def run_training(flags: list[str], ddp: bool, cache: Path, log: Path) -> dict:
    """Run scripts/train.py with `flags`, datasets cache `cache`; what it logged, its memory and its speed."""
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "PYTHONUNBUFFERED": "1", "ACCELERATE_USE_CPU": "1"}
    lines, peaks, commands = [], {}, {}
    children_cpu = cpu_of_children()
    start = time.monotonic()
    process = subprocess.Popen([*launcher(ddp), str(ROOT / "scripts" / "train.py"), *flags], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic() - start, line) for line in process.stdout))
    reader.start()
    root = psutil.Process(process.pid)
    while process.poll() is None:
        for member in [root, *safe_children(root)]:
            try:
                rss = member.memory_info().rss
                commands.setdefault(member.pid, " ".join(member.cmdline()[1:3])[-80:])
            except psutil.Error:
                continue
            peaks[member.pid] = max(peaks.get(member.pid, 0), rss)
        time.sleep(0.2)
    reader.join()
    log.write_text("".join(line for _, line in lines))
    phases, ready, rss_ready = [], {}, {}
    for seen, line in lines:
        if match := PREPARED.search(line):
            ready[int(match[1])], rss_ready[int(match[1])] = round(seen, 1), int(match[2])
        elif match := PHASE.search(line):
            phases.append({"phase": match[1], "wall_seconds": float(match[2]), "cpu_seconds": float(match[3]),
                           "details": match[4] or ""})
    processes = sorted(({"pid": pid, "command": commands.get(pid, ""), "peak_rss_mb": round(peak / 2**20)}
                        for pid, peak in peaks.items()), key=lambda p: -p["peak_rss_mb"])
    return {
        "returncode": process.returncode,
        "seconds_to_ready": ready, "ready_rss_mb": rss_ready,
        "to_first_step_seconds": max(ready.values()) if ready else None,
        "total_seconds": round(time.monotonic() - start, 1),
        "cpu_seconds": round(cpu_of_children() - children_cpu, 1),
        "phases": phases,
        "peak_rss_mb": max((p["peak_rss_mb"] for p in processes), default=None),
        "processes": processes[:6],
        "log": str(log),
    }


def safe_children(process: psutil.Process) -> list:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tokens_per_second(out: Path) -> float | None:
    path = out / "train_result.json"
    return json.loads(path.read_text())["target_tokens_per_second"] if path.exists() else None


def measure_size(label: str, args, multi30k: Path) -> list[dict]:
    """The first and the cached run of one corpus size, in each mode."""
    started = time.monotonic()
    folder = build_corpus(pair_count(label), label, args.cache_dir, multi30k)
    print(f"[data-scale] {label}: corpus ready in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    rows = []
    for ddp in (False, True)[: 1 if args.skip_ddp else 2]:
        mode = "two ranks" if ddp else "one process"
        name = f"{label}-{'ddp' if ddp else 'single'}"
        cache = args.cache_dir / "hf" / name
        shutil.rmtree(cache, ignore_errors=True)
        tokenizer = args.cache_dir / "runs" / f"{name}-first" / "tokenizer"
        for run in ("first", "cached"):
            out = args.cache_dir / "runs" / f"{name}-{run}"
            shutil.rmtree(out, ignore_errors=True)
            flags = ["--task", str(folder), "--kind", "translation", "--source_column", "de", "--target_column", "en",
                     *common_flags(args, out), *(["--tokenizer", str(tokenizer)] if run == "cached" else [])]
            print(f"[data-scale] {label} {mode} {run} run", file=sys.stderr, flush=True)
            result = run_training(flags, ddp, cache, out.parent / f"{out.name}.log")
            rows.append({"size": label, "pairs": pair_count(label), "mode": mode, "run": run, **result,
                         "target_tokens_per_second": tokens_per_second(out)})
            print(f"[data-scale]   ready after {result['to_first_step_seconds']} s, peak RSS {result['peak_rss_mb']} MB",
                  file=sys.stderr, flush=True)
    return rows


def common_flags(args, out: Path) -> list[str]:
    return ["--arch", args.arch, "--max_steps", str(args.steps), "--eval_samples", "16",
            "--eval_every", str(10 * args.steps), "--output_dir", str(out)]


def table(result: dict) -> str:
    """The README's rows (benchmarks/README.md, data scale) from a result document."""
    def seconds(value):
        return "-" if value is None else f"{value // 60:.0f} min {value % 60:.0f} s" if value >= 60 else f"{value:.0f} s"

    ratio = (result.get("throughput") or {}).get("ratio")
    lines = []
    for run in result["runs"]:
        phases = {}
        for entry in run["phases"]:  # under two ranks, the slower rank's
            phases[entry["phase"]] = max(phases.get(entry["phase"], 0), entry["wall_seconds"])
        speed = f"{ratio:.2f}" if ratio and run["run"] == "cached" and run["mode"] == "one process" and \
            run["size"] == result["throughput"]["size"] else ""
        lines.append(f"| {run['size']} | {run['run']} | {run['mode']} | {seconds(run['to_first_step_seconds'])} | "
                     + " | ".join(seconds(phases.get(name)) for name in ("loading", "tokenizer", "tokenizing", "lengths"))
                     + f" | {run['peak_rss_mb']:,} MB | {speed} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])

    def add(flag, **settings):
        option(p, flag, **settings)

    add("--sizes", default="0.5M,1M,2M,4M", help="comma-separated corpus sizes in pairs (default: %(default)s)")
    add("--skip_ddp", action="store_true", help="only the one-process runs")
    add("--skip_baseline", action="store_true", help="no Multi30k run for the tokens/s comparison")
    add("--steps", type=int, default=20, help="training steps per run (default: %(default)s)")
    add("--arch", default="lstm", help="architecture trained (default: %(default)s)")
    add("--cache_dir", type=Path, default=Path.home() / ".cache" / "lineage-data-scale",
        help="corpora, datasets caches and run folders (default: %(default)s)")
    add("--data_dir", type=Path, default=Path(os.environ.get("LINEAGE_DATA_DIR", ROOT.parent / "shared" / "data")),
        help="the folder holding multi30k/ (default: $LINEAGE_DATA_DIR)")
    add("--note", default="", help="recorded with the results, e.g. that the machine was loaded")
    add("--output_dir", type=Path, default=RESULTS_DIR, help="where results go (default: benchmarks/results)")
    add("--table", type=Path, default=None, help="only print the README table rows of this result file")
    return p


def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return {}
    labels = [label for label in args.sizes.split(",") if label]
    started, load_start = time.monotonic(), os.getloadavg()
    runs = [row for label in labels for row in measure_size(label, args, args.data_dir / "multi30k")]
    throughput = None
    if not args.skip_baseline:
        out = args.cache_dir / "runs" / "multi30k"
        shutil.rmtree(out, ignore_errors=True)
        print("[data-scale] Multi30k (29k pairs) for tokens/s", file=sys.stderr, flush=True)
        baseline = run_training(["--task", "multi30k", *common_flags(args, out)], False,
                                args.cache_dir / "hf" / "multi30k", out.parent / f"{out.name}.log")
        largest = max(labels, key=pair_count)
        scaled = [r for r in runs if r["size"] == largest and r["mode"] == "one process" and r["run"] == "cached"]
        at_29k, at_scale = tokens_per_second(out), scaled[0]["target_tokens_per_second"] if scaled else None
        throughput = {"size": largest, "tokens_per_second_29k": at_29k, "tokens_per_second_at_size": at_scale,
                      "ratio": at_scale / at_29k if at_29k and at_scale else None,
                      "baseline_returncode": baseline["returncode"]}
    result = {
        "benchmark": "data-scale",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "note": args.note,
        "environment": {**describe_machine("cpu"), "hostname": socket.gethostname(),
                        "load_average_start": load_start, "load_average_end": os.getloadavg()},
        "settings": {"sizes": labels, "arch": args.arch, "steps": args.steps, "ddp": not args.skip_ddp},
        "method": __doc__.split("\n\n", 2)[2].strip(),
        "before": BEFORE,
        "runs": runs,
        "throughput": throughput,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    path = args.output_dir / f"{result['environment']['hostname']}-{result['date']}-data-scale.json"
    write_json(path, result)
    print(json.dumps({"written": str(path), "throughput": throughput}, indent=1))
    print(table(result))
    return result


if __name__ == "__main__":
    main()
