"""One writer per run folder: a second process that would train into a folder in use is refused at once,
naming the holder; the lock of a process that was killed is taken over; reading commands need no lock.

(A real training run holding its lock, one process and two under `accelerate launch`, is in
tests/test_stops.py: it is refused there while paused.)
"""

import contextlib
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lineage.configs import parse_config
from lineage.training.config import TrainConfig
from lineage.training.locks import FolderInUse
from lineage.training.loop import train

HOLD = """
import sys, time
from lineage.training.locks import hold_folder
for folder in sys.argv[1:]:
    hold_folder(folder)
print("held", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def held(*folders: Path):
    """Another process holding the locks of `folders` (as `lineage train`, `compare` or `study` would)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, *map(str, folders)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait()


def tiny(folder: Path) -> list[str]:
    values = dict(preset="test", train_samples=300, vocab_size=400, eval_samples=16, arch="rnn", max_steps=2,
                  eval_every=2, save_every=2, output_dir=folder)
    return [item for key, value in values.items() for item in (f"--{key}", str(value))]


def test_a_second_writer_is_refused_and_the_lock_of_a_killed_one_is_taken_over(tmp_path, caplog):
    """Before: both processes trained into the folder, writing the same checkpoints, best/ and log."""
    run = tmp_path / "run"
    with held(run) as holder:
        with pytest.raises(FolderInUse) as refused:
            train(parse_config(TrainConfig, tiny(run)))
        message = str(refused.value)
        assert message.startswith(f"{run} is in use by another process: pid {holder.pid} on host {socket.gethostname()} (")
        assert "\n" not in message
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # refused before anything was written
        holder.kill()  # kill -9: the holder never releases its lock
        holder.wait()
    with caplog.at_level(logging.WARNING, logger="lineage.training.locks"):
        assert train(parse_config(TrainConfig, tiny(run)))["steps"] == 2
    assert f"taking over the lock left by pid {holder.pid} on host {socket.gethostname()}" in caplog.text
    assert (run / ".lock").read_text() == ""  # released when the run ended


def test_compare_and_study_refuse_a_run_folder_in_use_and_reading_commands_need_no_lock(tiny_compare_run, tmp_path):
    """A second `compare` of the same name (a script run twice) is refused before it reuses, deletes or trains
    anything, and so is a second `study`. `report` and `evaluate` read a run folder in use (and passed before)."""
    from lineage import cli
    from lineage.comparison.config import CompareConfig
    from lineage.comparison.running import compare
    from lineage.study.grid import StudyConfig
    from lineage.study.runner import study

    runs = tmp_path / "runs"
    shutil.copytree(tiny_compare_run, runs / "test")
    with held(runs / "test", runs / "study-test") as holder:
        for command, config in ((compare, CompareConfig(preset="test", runs_dir=str(runs))),
                                (study, StudyConfig(preset="test", runs_dir=str(runs)))):
            with pytest.raises(FolderInUse, match=f"is in use by another process: pid {holder.pid} on host "):
                command(config)
        assert sorted(p.name for p in (runs / "study-test").iterdir()) == [".lock"]
        cli.main(["report", str(runs / "test")])
        cli.main(["evaluate", str(runs / "test" / "models" / "multi30k-de-en-rnn"), "--task", "multi30k",
                  "--samples", "2"])
    assert Path(runs / "test" / "report.md").exists()
