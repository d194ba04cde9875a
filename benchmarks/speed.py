"""Speed benchmark: training throughput, decoding speed, peak memory and FLOP utilisation.

    make bench                                    # small size on CPU (under 10 minutes on 2 cores)
    make bench ARGS="--sizes small,base"          # add the paper-scale size (GPU default)
    .venv/bin/python benchmarks/speed.py --help

Prints one JSON document and writes it to
`benchmarks/results/<hostname>-<YYYY-MM-DD>.json`, with a plot of training
throughput against sequence length beside it (`...-throughput.png`). The
measurement itself is `lineage.speed`; what each number means and how it is
measured is written into the JSON (`methods`) and into benchmarks/README.md.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from lineage.configs import option
from lineage.speed.config import DEFAULT_CPU_BUDGET, LENGTHS, MODELS, TRAINING_SHARE, VOCAB_SIZE, SpeedConfig, log
from lineage.speed.measure import run, write_results

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def names(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated names."""
    return tuple(item for item in text.split(",") if item)


def integers(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated integers."""
    return tuple(int(item) for item in names(text))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )

    def add(flag, **settings):
        option(p, flag, **settings)

    add("--sizes", type=names, default=None, help="comma-separated model sizes (default: small on CPU, small,base on CUDA)")
    add("--models", type=names, default=",".join(MODELS), help="comma-separated benchmark models (default: %(default)s)")
    add("--lengths", type=integers, default=",".join(map(str, LENGTHS)),
        help="source = target lengths of training (default: %(default)s)")
    add("--decode_lengths", type=integers, default=None, help="target lengths of decoding (default: --lengths)")
    add("--parts", type=names, default="flops_check,training,decoding",
        help="what to run; the ceiling always runs (default: %(default)s)")
    add("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    add("--vocab_size", type=int, default=VOCAB_SIZE, help="vocabulary of the models (default: %(default)s)")
    add("--batch_tokens", type=int, default=4096,
        help="target tokens per training batch, = source tokens (default: %(default)s)")
    add("--warmup_steps", type=int, default=None,
        help="untimed training steps per configuration (default: 1 on CPU, 3 on CUDA)")
    add("--steps", type=int, default=None,
        help="most timed training steps per configuration (default: 3 on CPU, 10 on CUDA)")
    add("--min_steps", type=int, default=2, help="fewest timed training steps per configuration (default: %(default)s)")
    add("--train_seconds", type=float, default=4.0,
        help="no more timed steps after this many seconds, once --min_steps are done (default: %(default)s)")
    add("--beams", type=int, default=5, help="beam size of the beam-search runs (default: %(default)s)")
    add("--decode_batch", type=int, default=32, help="sentences per batched generate() call (default: %(default)s)")
    add("--decode_max_seconds", type=float, default=3.0,
        help="skip decoding runs predicted to take longer than this per call (default: %(default)s)")
    add("--uncached_max_length", type=int, default=64,
        help="longest target decoded without the cache (default: %(default)s)")
    add("--cache_ratio_length", type=int, default=64,
        help="length of the cached/uncached comparison: greedy, one sentence, always run (default: %(default)s)")
    add("--decode_repeats", type=int, default=3, help="most generate() calls per measurement (default: %(default)s)")
    add("--decode_repeat_below", type=float, default=0.5,
        help="repeat a measurement while its calls average less than this many seconds (default: %(default)s)")
    add("--time_budget", type=float, default=None,
        help=f"seconds for the whole run: training may use {100 * TRAINING_SHARE:.0f}%%, then its remaining "
             "configurations are skipped; decoding runs that would end later are skipped "
             f"(default: {DEFAULT_CPU_BUDGET:g} for the default CPU run, so `make bench` ends within 10 minutes; "
             "no limit otherwise; 0: no limit)")
    add("--note", default="", help="free text kept in the JSON's settings, e.g. that the machine was loaded")
    add("--output_dir", type=Path, default=RESULTS_DIR, help="where results go (default: benchmarks/results)")
    add("--tag", default="", help="appended to the file names: <hostname>-<date>-<tag>.json (default: none)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    output_dir, tag = args.pop("output_dir"), args.pop("tag")
    if any(not (character.isalnum() or character in "-_.") for character in tag):
        raise SystemExit(f"--tag {tag!r}: letters, digits, '-', '_' and '.' only (it names files)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        result = run(SpeedConfig(**args))
    except ValueError as error:  # a setting: one line, no traceback
        raise SystemExit(str(error)) from None
    json_path, plot_path = write_results(result, output_dir, tag)
    print(json.dumps(result, indent=2))
    log(f"wrote {json_path} and {plot_path} in {result['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
