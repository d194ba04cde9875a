"""Test helper: run a script of scripts/ that pauses at one point of training until a signal arrives.

    python tests/paused.py scripts/train.py FLAGS...      (or as the script of `accelerate launch`)

PAUSE_AT names the point, as KIND:STEP:
    step:N        inside optimizer step N (its batch is fetched, its forward pass not yet run)
    eval:N        inside the evaluation at step N (validation loss done, the metric's decoding not yet)
    checkpoint:N  inside the checkpoint write at step N (weights and optimizer written, the rest not yet)

At the point each process writes PAUSE_DIR/paused-<rank> and waits for the stop signal the test sends,
then goes on, so a signal lands there deterministically. With PAUSE_SIGNALS=2 it writes
PAUSE_DIR/signalled-<rank> after the first signal and waits on, for a second one. It gives up (exit 99)
after PAUSE_TIMEOUT seconds (120) so that a test that never signals cannot hang the suite.
Not a test module: pytest collects nothing here.
"""

import os
import runpy
import sys
import time
from pathlib import Path

import accelerate.accelerator
import lineage.training.loop as loop
from lineage.training import stops

KIND, STEP = os.environ["PAUSE_AT"].split(":")
STEP = int(STEP)
MARKERS = Path(os.environ["PAUSE_DIR"])
RANK = os.environ.get("RANK", "0")


def pause() -> None:
    """Say so, then wait for the stop signal (and with PAUSE_SIGNALS=2 for a second one, which exits)."""
    (MARKERS / f"paused-{RANK}").write_text(str(os.getpid()))
    deadline = time.time() + float(os.environ.get("PAUSE_TIMEOUT", "120"))
    while stops.received() is None:
        if time.time() > deadline:
            os._exit(99)
        time.sleep(0.01)
    if os.environ.get("PAUSE_SIGNALS") == "2":
        (MARKERS / f"signalled-{RANK}").write_text(str(os.getpid()))
        while time.time() < deadline:
            time.sleep(0.01)
        os._exit(99)


def pausing_step(forward_backward):
    def wrapped(run, batch):
        if KIND == "step" and run.state.step == STEP - 1 and not (MARKERS / f"paused-{RANK}").exists():
            pause()
        return forward_backward(run, batch)
    return wrapped


def pausing_evaluation(evaluate, validation_metric):
    at = {}

    def wrapped_evaluate(run, *args, **kwargs):
        at["step"] = run.state.step
        return evaluate(run, *args, **kwargs)

    def wrapped_metric(*args, **kwargs):
        if KIND == "eval" and at.get("step") == STEP:
            pause()
        return validation_metric(*args, **kwargs)
    return wrapped_evaluate, wrapped_metric


def pausing_checkpoint(save_custom_state):
    def wrapped(obj, path, index=0, **kwargs):
        if KIND == "checkpoint" and index == 0 and Path(path).name == f".step-{STEP:08d}.tmp":
            pause()
        return save_custom_state(obj, path, index, **kwargs)
    return wrapped


loop.forward_backward = pausing_step(loop.forward_backward)
loop.evaluate, loop.validation_metric = pausing_evaluation(loop.evaluate, loop.validation_metric)
accelerate.accelerator.save_custom_state = pausing_checkpoint(accelerate.accelerator.save_custom_state)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
