"""Checkpoints: what a run's `checkpoints/step-N/` folders hold, written atomically and read back exactly.

A checkpoint is `Accelerator.save_state` written into a staging folder, with `manifest.json` (the
size and SHA-256 of every file) added last, and renamed into place once complete. A resume checks
the manifest before it loads anything: a truncated or garbled file (a disk that failed, a copy cut
short) names itself, and `--resume` continues from the newest intact checkpoint instead, moving the
damaged newer ones aside (`damaged-step-N`) so that no later resume, nor the pruning of old
checkpoints, takes them for the newest. Checkpoints written before manifests existed are checked
by loading them.
"""

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

from accelerate import Accelerator

from ..errors import LineageError
from ..files import replace_folder, staging_path, write_json, writing
from .config import TrainConfig
from .distributed import on_main_process

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
NAME = re.compile(r"step-\d+")


class CheckpointError(LineageError, RuntimeError):
    """A checkpoint cannot be used; earlier checkpoints are left untouched."""


def checkpoints(root: Path) -> list[Path]:
    """Completed checkpoints, oldest first (a checkpoint exists only once fully written)."""
    return sorted(p for p in root.glob("step-*") if NAME.fullmatch(p.name)) if root.is_dir() else []


def save_checkpoint(accelerator: Accelerator, root: Path, step: int, keep: int) -> None:
    """`save_state` and a manifest into a staging folder, renamed into place when complete; then prune.

    A failed write (a full disk) removes the staging folder and raises WriteFailed; the checkpoints
    written before stay as they were.
    """
    final = root / f"step-{step:08d}"
    staging = staging_path(final, per_process=False)
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    with writing(final, staging):
        accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with writing(final, staging):
            write_json(staging / MANIFEST, manifest_of(staging))
            replace_folder(staging, final)
        for old in checkpoints(root)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def manifest_of(folder: Path) -> dict:
    """{relative path: {"bytes": size, "sha256": digest}} of every file in `folder`."""
    return {path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": file_digest(path)}
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != MANIFEST}


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def damage(checkpoint: Path) -> str | None:
    """What is wrong with a checkpoint's files against its manifest, or None when they match (or it has none)."""
    manifest_path = checkpoint / MANIFEST
    if not manifest_path.exists():
        return None  # written before manifests: loading it is the check
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError:
        return f"its {MANIFEST} is garbled"
    for name, expected in manifest.items():
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != expected["bytes"]:
            return f"{name} is truncated ({size:,} of {expected['bytes']:,} bytes)" if size < expected["bytes"] else (
                f"{name} has {size:,} bytes, {expected['bytes']:,} were written")
        if file_digest(path) != expected["sha256"]:
            return f"{name} is garbled (its SHA-256 differs from the one written with it)"
    return None


def load_checkpoint(accelerator: Accelerator, path: Path) -> None:
    """Load a checkpoint (`resume_point` has checked its files) into the run's accelerator."""
    try:
        accelerator.load_state(str(path))
    except Exception as error:  # safetensors, pickle and torch all raise their own types
        raise unusable(path, f"it is unreadable ({type(error).__name__}: {error})") from error


def unusable(path: Path, problem: str) -> CheckpointError:
    """The error for a checkpoint that cannot be resumed, naming the others of its run."""
    others = [p.name for p in checkpoints(path.parent) if p != path]
    return CheckpointError(f"checkpoint {path}: {problem}. It was left as is; resume from an earlier one with "
                           f"--resume_from (available: {', '.join(others) or 'none'})")


def resume_point(config: TrainConfig, root: Path) -> Path | None:
    """The checkpoint a run resumes from, its files checked: --resume_from's, or with --resume the newest intact one."""
    if config.resume_from:
        path = Path(config.resume_from)
        if not path.is_dir():
            raise CheckpointError(f"checkpoint {path} does not exist")
        problem = on_main_process(damage, path)
        if problem:
            raise unusable(path, problem)
        return path
    if config.resume:
        found = on_main_process(newest_intact, root)
        if found:
            return found
        logger.info("no checkpoint in %s: starting from scratch", root)
    return None


def newest_intact(root: Path) -> Path | None:
    """The newest checkpoint whose files match its manifest; each damaged newer one is named in one line and
    moved aside. CheckpointError, naming every damaged one, when checkpoints exist and none is intact."""
    damaged = []
    for checkpoint in reversed(checkpoints(root)):
        problem = damage(checkpoint)
        if problem is None:
            break
        damaged.append((checkpoint, problem))
    else:
        if damaged:
            raise CheckpointError(f"no intact checkpoint in {root}: " + "; ".join(
                f"{c.name}: {problem}" for c, problem in damaged) + ". They were left as they are; start over with "
                "--overwrite true")
        return None
    for newer, problem in damaged:
        aside = newer.with_name(f"damaged-{newer.name}")
        shutil.rmtree(aside, ignore_errors=True)
        newer.rename(aside)
        logger.warning("%s is damaged (%s): moved to %s; resuming from %s", newer, problem, aside.name, checkpoint.name)
    return checkpoint
