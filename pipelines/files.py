"""Every file the project writes goes through here, so a crash never leaves a torn one behind.

A file is written to a temporary file beside its destination, flushed to disk
(fsync) and renamed into place: a reader, or a resumed run, finds the old
content or the new, never a mix. A folder (a tokenizer, a model, a
checkpoint) is written whole beside its destination and swapped in with
`models.replace_folder`; `models/` travels to the Hub alone and cannot import
this module, so it owns the swap and this module re-uses it.

The one exception is `append_line` (log.jsonl, appended at every log event):
a crash can tear the last line, and `read_json_lines` drops such a line.

A write that fails (a full disk, a quota, a read-only or vanished folder) raises
`WriteFailed`, one line naming the path and the free space left there (`writing`);
what the failed write had staged is removed, and the file or folder it would have
replaced is left as it was.
"""

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path

from .errors import LineageError

logger = logging.getLogger(__name__)


class WriteFailed(LineageError, OSError):
    """A file or folder could not be written; what it would have replaced is intact."""


@contextlib.contextmanager
def writing(path: str | Path, staging: str | Path | None = None):
    """Turn any failure of the write of `path` inside the block into WriteFailed, removing `staging`.

    Any exception, not only OSError: torch and safetensors report a full disk as their own errors
    (torch.save: "RuntimeError: [enforce fail at inline_container.cc] . unexpected pos").
    """
    try:
        yield
    except Exception as error:
        if staging is not None:
            _remove(Path(staging))
        cause = error.__cause__ if isinstance(error, WriteFailed) else error  # a file of the folder being written
        raise WriteFailed(f"could not write {path}: {_one_line(cause)} ({free_space(path)} free on its disk)") from cause


def free_space(path: str | Path) -> str:
    """The free space on the disk that holds `path` (or would hold it), readable: '1.5 MB'."""
    existing = Path(path).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    size = float(shutil.disk_usage(existing).free)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000:
            break
        size /= 1000
    else:
        unit = "TB"
    return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}" if not isinstance(error, OSError) else text


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically: temporary file, fsync, rename."""
    path = Path(path)
    temporary = staging_path(path)
    with writing(path):
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        _sync(path.parent)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8, exactly as given) atomically. For free text: Markdown, tracebacks."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data) -> Path:
    """Write `data` as indented JSON atomically."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_lines(path: str | Path, items: list[str]) -> Path:
    """Write one line per item, atomically, so the file reads back as `items` line for line.

    For records that must stay one per line (test_predictions.txt: line i is
    the prediction for source i). An item's own line breaks (whatever
    `str.splitlines` splits on) become spaces; free text that should keep
    them goes through `write_text`.
    """
    return write_text(path, "".join(" ".join(item.splitlines()) + "\n" for item in items))


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a log and flush it. Not atomic: a crash may tear it (see `read_json_lines`)."""
    with writing(path), open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()


def read_json_lines(path: str | Path) -> list[dict]:
    """The JSON objects of a JSON-lines file; a line that does not parse (torn by a crash) is dropped with a warning."""
    records, torn = [], 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            torn += 1
    if torn:
        logger.warning("%s: dropped %d torn line(s) that do not parse as JSON (left by an interrupted write)", path, torn)
    return records


def staging_path(destination: str | Path, per_process: bool = True) -> Path:
    """Where `destination` is written before it is renamed into place: beside it, hidden.

    Per process, unless the processes of one run write it together (a checkpoint, where every
    process saves its own part into the one folder): then every process must name the same one.
    """
    destination = Path(destination)
    return destination.with_name(f".{destination.name}.tmp" + (f"-{os.getpid()}" if per_process else ""))


def replace_folder(staging: str | Path, destination: str | Path) -> Path:
    """Flush the fully written folder `staging` to disk and swap it in as `destination` (see `models.replace_folder`)."""
    # Imported here: `models` loads torch and transformers, which most writers never need.
    from .models import replace_folder as swap

    for root, _, names in os.walk(staging):
        for name in names:
            _sync(Path(root) / name)
    swap(staging, destination)
    _sync(Path(destination).parent)
    return Path(destination)


def write_folder(destination: str | Path, fill) -> Path:
    """Write a folder atomically: `fill(folder)` writes into a fresh staging folder, which is then swapped in."""
    staging = staging_path(destination)
    shutil.rmtree(staging, ignore_errors=True)
    with writing(destination):
        try:
            staging.mkdir(parents=True)
            fill(staging)
            return replace_folder(staging, destination)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def clear_interrupted_writes(folder: str | Path) -> None:
    """Remove what an interrupted write left in `folder`, and restore a folder caught mid-swap.

    Staging files and folders (`.<name>.tmp...`) are incomplete: deleted.
    `models.replace_folder` renames the old `<name>` aside to `.<name>.old-<pid>`
    before renaming the new one in; killed in between, `<name>` is missing and
    the aside copy is the last complete one: renamed back.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for entry in folder.glob(".*"):
        name, _, kind = entry.name[1:].rpartition(".")
        if kind == "tmp" or kind.startswith("tmp-"):
            _remove(entry)
        elif kind.startswith("old-"):
            original = folder / name
            if original.exists():
                _remove(entry)
            else:
                logger.warning("%s: restoring %s, which an interrupted write had moved aside", original, entry.name)
                entry.rename(original)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes the renames inside it durable)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
