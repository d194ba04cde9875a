"""The JSON a benchmark script writes: its header, its file name, and a save after every measured row."""

import argparse
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from ..files import write_json


def benchmark_document(method: str, args: argparse.Namespace, machine: dict) -> dict:
    """A new result: today's date, the method (prose, whitespace folded), the machine with the load average at the
    start, and the script's settings as given."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "method": " ".join(method.split()),
        "environment": {**machine, "load_average_at_start": list(os.getloadavg())},
        "settings": {key: str(value) for key, value in vars(args).items()},
    }


def benchmark_path(output_dir: Path, document: dict, kind: str) -> Path:
    """`<output_dir>/<hostname>-<date>-<kind>.json`."""
    return Path(output_dir) / f"{socket.gethostname()}-{document['date']}-{kind}.json"


def save_benchmark(path: Path, document: dict) -> None:
    """Write `document` atomically with the load average now; scripts call it after every row, so that a run cut
    short keeps what it measured."""
    document["environment"]["load_average_at_end"] = list(os.getloadavg())
    write_json(path, document)
