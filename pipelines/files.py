"""Atomic file writes: a temporary file renamed into place, so a crash never
leaves a half-written result behind."""

import json
from pathlib import Path


def write_lines(path: str | Path, lines: list[str]) -> None:
    """Write one line per item, atomically (a temporary file renamed into place)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(line.replace("\n", " ") + "\n" for line in lines))
    temporary.replace(path)


def write_json(path: str | Path, data) -> None:
    """Write JSON atomically."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    temporary.replace(path)
