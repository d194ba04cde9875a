"""One writer per run folder: the process that trains into a folder holds its lock until it ends.

`lineage train` locks its run folder (`runs.open_run_folder`), `compare` and `study` their run
folder. The lock is an exclusive `flock` on `<folder>/.lock`, a file that names its holder (pid,
host, command, since when). A second process is refused at once, with a message that names the
holder. The kernel drops a lock when the process holding it ends, however it ends: a lock left by a
killed process is free at once, and the next process takes it over and says whose it was (a holder
that released its lock leaves the file empty). Under `accelerate launch` the main process holds the
lock for all ranks. Reading commands (`report`, `evaluate`, `app`) never take it.
"""

import fcntl
import json
import logging
import os
import shlex
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LineageError

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
# Folder -> [file descriptor (None where the file system has no locks), holds this process made].
_held: dict[Path, list] = {}


class FolderInUse(LineageError, RuntimeError):
    """Another process trains into the folder."""


def hold_folder(folder: str | Path) -> None:
    """Lock `folder` for this process (again, if it holds it already), or raise FolderInUse naming the holder."""
    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder][1] += 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(descriptor)
        os.close(descriptor)
        raise FolderInUse(f"{folder} is in use by another process: {describe(holder)}. Wait for it to end (or stop "
                          "it), or choose another folder") from None
    except OSError as error:  # a file system without locks (some network file systems)
        os.close(descriptor)
        logger.warning("%s: cannot be locked (%s): make sure no other process writes into it", folder, error)
        _held[folder] = [None, 1]
        return
    left = _read_holder(descriptor)
    if left:
        logger.warning("%s: taking over the lock left by %s, which ended without releasing it", folder, describe(left))
    _write_holder(descriptor)
    _held[folder] = [descriptor, 1]


def release_folder(folder: str | Path) -> None:
    """Undo one `hold_folder` of this process; the last one empties the lock file and releases it."""
    folder = Path(folder).resolve()
    if folder not in _held:
        return
    _held[folder][1] -= 1
    if _held[folder][1]:
        return
    descriptor, _ = _held.pop(folder)
    if descriptor is not None:
        os.ftruncate(descriptor, 0)  # a released lock names no holder
        os.close(descriptor)  # closing the file releases the flock


def describe(holder: dict) -> str:
    """'pid 123 on host h (lineage train ..., since ...)' from a lock file's record."""
    if not holder:
        return "a process that did not say which"
    return f"pid {holder.get('pid')} on host {holder.get('host')} ({holder.get('command')}, since {holder.get('since')})"


def _read_holder(descriptor: int) -> dict:
    text = os.pread(descriptor, 65536, 0).decode("utf-8", errors="replace")
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:  # torn by a crash while it was written
        return {"pid": "?", "host": "?", "command": text[:80], "since": "?"}


def _write_holder(descriptor: int) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(sys.argv)[:300],
              "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(record).encode(), 0)
