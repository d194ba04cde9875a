"""Checkpoints: what a run's `checkpoints/step-N/` folders hold, written atomically and read back exactly."""

import logging
import shutil
from pathlib import Path

from accelerate import Accelerator

from ..errors import LineageError
from ..files import replace_folder, staging_path
from .config import TrainConfig

logger = logging.getLogger(__name__)


class CheckpointError(LineageError, RuntimeError):
    """A checkpoint cannot be used; earlier checkpoints are left untouched."""


def checkpoints(root: Path) -> list[Path]:
    """Completed checkpoints, oldest first (a checkpoint exists only once fully written)."""
    return sorted(root.glob("step-*")) if root.is_dir() else []


def save_checkpoint(accelerator: Accelerator, root: Path, step: int, keep: int) -> None:
    """`save_state` into a temporary folder, renamed into place when complete; then prune."""
    final = root / f"step-{step:08d}"
    staging = staging_path(final, per_process=False)
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        replace_folder(staging, final)
        for old in checkpoints(root)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, path: Path) -> None:
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        accelerator.load_state(str(path))
    except Exception as error:  # safetensors, pickle and torch all raise their own types
        others = [p.name for p in checkpoints(path.parent) if p != path]
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(error).__name__}: {error}). It was left as is; "
            f"resume from an earlier one with --resume_from (available: {', '.join(others) or 'none'})"
        ) from error


def resume_point(config: TrainConfig, root: Path) -> Path | None:
    if config.resume_from:
        return Path(config.resume_from)
    if config.resume:
        found = checkpoints(root)
        if found:
            return found[-1]
        logger.info("no checkpoint in %s: starting from scratch", root)
    return None
