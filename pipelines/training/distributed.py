"""The processes of `accelerate launch`: which one this is, work done by the main one, and the exit."""

import hashlib
import os
import sys
from datetime import timedelta

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, parse_flag_from_env

# How long a process waits for the others before failing (TrainConfig.ddp_timeout's default).
DDP_TIMEOUT = 1800


def launch_state(ddp_timeout: int = DDP_TIMEOUT) -> PartialState:
    """This process's place among the processes of `accelerate launch` (one process otherwise).

    For the entry points that run several trainings (compare, study): they need the
    ranks before the first `train()`. Unlike Accelerator, PartialState ignores
    ACCELERATE_USE_CPU; without it two CPU processes would each see themselves as the
    only, main, process.
    """
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"), timeout=timedelta(seconds=ddp_timeout))


def on_main_process(function, *args, **kwargs):
    """Run `function(*args, **kwargs)` on the main process only; every process returns its result.

    For work that writes shared files (tokenizers, test scores, reports). An error on the
    main process is raised there and, as a RuntimeError naming it, on every other process,
    so no process waits for a peer that has given up.
    """
    state = launch_state()
    if state.num_processes == 1:
        return function(*args, **kwargs)
    result, error = None, None
    if state.is_main_process:
        try:
            result = function(*args, **kwargs)
        except Exception as caught:  # handed to the other processes first, then raised
            error = caught
    result, message = broadcast_object_list([result, None if error is None else f"{type(error).__name__}: {error}"])
    if error is not None:
        raise error
    if message is not None:
        raise RuntimeError(f"the main process failed: {message}")
    return result


def end_distributed_process(code: int = 0) -> None:
    """The last call of an entry point: under torch.distributed, end the process at once, with exit status `code`.

    Tearing a gloo process group down (explicitly or at interpreter exit) can
    wait forever for a peer that has already exited: 1 in 4 of the 2-process
    CPU runs hung so after writing their results, and 1 in 44 still did with
    every rank entering the teardown together. Every file is written and
    closed by now, so the ranks meet once more and leave without teardown.
    Returns at once when not distributed.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def parameter_checksum(model) -> str:
    """A hash of every parameter's bytes."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
