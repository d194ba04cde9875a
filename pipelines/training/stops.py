"""Graceful stops: the first SIGINT or SIGTERM ends a run at an optimizer step boundary, with a checkpoint.

`lineage train`, `compare` and `study` call `catch_stop_signals` first. The first signal is only
recorded; the training loop asks at each step boundary whether to stop (`StopVote`), writes a
checkpoint at that step and raises `Stopped`, which the command line reports in one line and ends
with exit status 128 + the signal number. A step, an evaluation or a checkpoint write in progress
finishes first: the checkpoint then holds exactly what an uninterrupted run holds at that step, so
the resumed run ends with the same weights. A second signal ends the process at once; the last
complete checkpoint stays valid, since checkpoints are written beside their place and renamed in.

Under `accelerate launch` the launcher passes a SIGTERM (or a terminal's Ctrl-C) on to every rank,
and waits for them (torchrun: 30 s) before it kills them. The ranks stop at the same step: each
boundary starts an all-reduce (max) of every rank's signal, and the next boundary reads it, so the
vote runs behind the step instead of making the step wait, and the ranks stop one step after the
signal. It travels on a group of its own over gloo (CPU), whatever the training backend, so that
reading it never waits for the accelerator.
"""

import contextlib
import os
import signal
from pathlib import Path

import torch
import torch.distributed as dist

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: int | None = None  # the first stop signal this process got
_vote_group = None  # the gloo group the votes travel on, made once per process


class Stopped(BaseException):
    """A run stopped by a signal at a step boundary, with a checkpoint at that step.

    A BaseException, as KeyboardInterrupt is: the handlers that keep one failed compare row from
    losing the others (`except Exception`) must not swallow a stop.
    """

    def __init__(self, signum: int, step: int | None, folder: Path):
        self.signum, self.step, self.folder = signum, step, Path(folder)
        super().__init__(f"stopped {'before training' if step is None else f'at step {step}'} by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def stop_signals_caught():
    """Inside the block the first SIGINT / SIGTERM asks to stop at the next step boundary, a second one exits
    at once; the handlers from before come back after it."""
    global _received
    _received = None
    before = {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        _received = None


def received() -> int | None:
    """The stop signal this process got, if any (not yet agreed with the other ranks)."""
    return _received


def _on_signal(signum: int, frame) -> None:
    global _received
    if _received is None:
        _received = signum
        return
    # os.write, not print: the handler may interrupt a write to stderr (a progress bar), and Python's
    # buffered streams refuse to be re-entered.
    os.write(2, f"\nlineage: a second {signal.Signals(signum).name}: stopped at once; the last complete "
                "checkpoint is where a resumed run continues\n".encode())
    os._exit(128 + signum)


def vote_group():
    """The gloo group the stop votes travel on (every rank makes it at the same point: its first run)."""
    global _vote_group
    if _vote_group is None:
        _vote_group = dist.new_group(backend="gloo")
    return _vote_group


class StopVote:
    """Whether the ranks stop at this step boundary: the same answer on every rank.

    One process answers at once. Several start an all-reduce of their signals at each boundary and
    read, at the next one, the vote of the one before; `close` waits for the vote still under way,
    so every rank leaves a run with none outstanding.
    """

    def __init__(self, num_processes: int):
        self.group = vote_group() if num_processes > 1 else None
        self.flag, self.work = None, None

    def __enter__(self) -> "StopVote":
        return self

    def __exit__(self, kind, error, trace) -> None:
        # After another failure a peer may never vote again: waiting could hang.
        if kind is None or issubclass(kind, Stopped):
            self.close()

    def agreed(self) -> int | None:
        """At a step boundary: the signal every rank stops on here, or None to go on."""
        if self.group is None:
            return _received
        decided = self.close()
        self.flag = torch.tensor([_received or 0], dtype=torch.int64)
        self.work = dist.all_reduce(self.flag, op=dist.ReduceOp.MAX, group=self.group, async_op=True)
        return decided

    def close(self) -> int | None:
        """Wait for the vote under way; returns its outcome."""
        if self.work is None:
            return None
        self.work.wait()
        self.work = None
        return int(self.flag.item()) or None


def agreed_now() -> int | None:
    """The stop signal every rank agrees on right now (a blocking vote), for the points between runs.

    Before the ranks have met (the first run of `lineage train` under `accelerate launch`) no rank
    can know the others' answer: None, and the first step boundaries decide.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return _received
    if not (dist.is_available() and dist.is_initialized()):
        return None
    flag = torch.tensor([_received or 0], dtype=torch.int64)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=vote_group())
    return int(flag.item()) or None
