"""Stop signals: SIGTERM (a scheduler's preemption) or SIGINT (Ctrl-C) at any point of a run.

The first signal ends the run at the next step boundary with a checkpoint, one line that says how to
resume, and exit status 128 + the signal number; a second ends it at once. Either way the resumed run
ends with the weights of a run never stopped, bit for bit, for one process and for two under
`accelerate launch`. The signals are real, sent to real subprocesses; tests/paused.py holds a run at
the point under test until the signal has arrived, so every point is reached deterministically.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from launch import finish, kill_tree, two_cpu_processes
from lineage.configs import parse_config
from lineage.training.config import TrainConfig
from lineage.training.locks import FolderInUse
from lineage.training.loop import train
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "scripts" / "train.py"
PAUSED = ROOT / "tests" / "paused.py"
TINY = dict(preset="test", train_samples=300, vocab_size=400, eval_samples=16, log_every=4)
# 24 steps, evaluated and checkpointed every 8.
RUN = dict(arch="lstm", max_steps=24, eval_every=8, save_every=8, seed=4, dropout=0.2)
TWO = dict(ddp_timeout=120)


def flags(folder: Path, **overrides) -> list[str]:
    values = {**TINY, **RUN, "output_dir": str(folder), **overrides}
    return [item for key, value in values.items() for item in (f"--{key}", str(value))]


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(sorted((run / "checkpoints").glob("step-*"))[-1] / "model.safetensors"))


def evaluations(run: Path) -> list[tuple[int, float]]:
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [(e["step"], e["val_loss"]) for e in events if e["event"] == "eval"]


def assert_same_run(expected: Path, found: Path) -> None:
    """The same final weights bit for bit, the same evaluations, and nothing half-written left behind."""
    want, got = final_weights(expected), final_weights(found)
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(want[name], got[name]), name
    assert evaluations(found) == evaluations(expected)
    assert [p.name for p in found.rglob(".*") if ".tmp" in p.name] == []


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The run never stopped, one process."""
    run = tmp_path_factory.mktemp("straight") / "run"
    train(parse_config(TrainConfig, flags(run)))
    return run


@pytest.fixture(scope="module")
def straight_two(tmp_path_factory) -> Path:
    """The run never stopped, two processes."""
    run = tmp_path_factory.mktemp("straight-two") / "run"
    finish(start(run, None, two_cpu_processes(), **TWO))
    return run


def start(folder: Path, pause: tuple | None, launcher: list[str] | None = None, script: Path = TRAIN,
          script_flags: list[str] | None = None, **overrides) -> subprocess.Popen:
    """scripts/<script> in a subprocess (under `launcher`); `pause` = (PAUSE_AT, PAUSE_DIR, PAUSE_SIGNALS) runs it
    through tests/paused.py."""
    env = {"PYTHONUNBUFFERED": "1", **({"ACCELERATE_USE_CPU": "1"} if launcher else {})}
    wrapper = []
    if pause:
        at, markers, signals = pause
        markers.mkdir(parents=True)
        env.update(PAUSE_AT=at, PAUSE_DIR=str(markers), PAUSE_SIGNALS=str(signals))
        wrapper = [str(PAUSED)]
    command = [*(launcher or [sys.executable]), *wrapper, str(script),
               *(flags(folder, **overrides) if script_flags is None else script_flags)]
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(process: subprocess.Popen, *paths: Path, timeout: float = 300) -> None:
    """Until every path exists; fails (with the run's output) if the run ends first."""
    deadline = time.time() + timeout
    while not all(path.exists() for path in paths):
        if process.poll() is not None or time.time() > deadline:
            output = kill_tree(process) if process.poll() is None else process.communicate()[0]
            pytest.fail(f"the run never reached its pause; its output:\n{output[-4000:]}")
        time.sleep(0.01)


def ended(process: subprocess.Popen, timeout: float = 300) -> str:
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        pytest.fail(f"no exit after the signal; its last output:\n{kill_tree(process)[-4000:]}")


def signalled_at(folder: Path, point: str, markers: Path, processes: int = 1, launcher=None, on_pause=None,
                 signum: int = signal.SIGTERM, **overrides) -> str:
    """Run until `point` (tests/paused.py), send `signum` to the run (the launcher, with several processes: it
    passes the signal on), and return the output of the run, which must end with status 128 + signum."""
    process = start(folder, (point, markers, 1), launcher, **overrides)
    wait_for(process, *(markers / f"paused-{rank}" for rank in range(processes)))
    if on_pause:
        on_pause(markers)
    process.send_signal(signum)
    output = ended(process)
    assert process.returncode == 128 + signum, output[-3000:]
    return output


def stop_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("lineage train: stopped")]
    return line


def expected_line(step: int, command: list[str], signal_name: str = "SIGTERM") -> str:
    return f"lineage train: stopped at step {step} by {signal_name}; resume with: {shlex.join(command)}"


def test_sigterm_mid_step_mid_evaluation_and_mid_checkpoint_resumes_to_the_same_weights(straight, tmp_path):
    """One process. Each stop leaves a checkpoint at the step it stopped at, and the line's command resumes
    it. A second SIGTERM, mid-checkpoint, exits at once: the half-written checkpoint is ignored and the
    resume starts from the last complete one. Before: a traceback, and the steps since the last
    checkpoint lost; two runs into one folder both wrote it."""
    run = tmp_path / "run"
    resume = [*flags(run), "--resume", "true"]
    command = ["python", str(TRAIN), *resume]

    def second_writer_is_refused(markers: Path) -> None:
        holder = (markers / "paused-0").read_text()
        with pytest.raises(FolderInUse, match=f"{run} is in use by another process: pid {holder} on host "):
            train(parse_config(TrainConfig, resume))

    output = signalled_at(run, "step:3", tmp_path / "step", on_pause=second_writer_is_refused)
    assert stop_line(output) == expected_line(3, command)
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000003"]
    assert stop_line(signalled_at(run, "eval:8", tmp_path / "eval", resume="true")) == expected_line(8, command)
    output = signalled_at(run, "checkpoint:16", tmp_path / "checkpoint", resume="true")
    assert stop_line(output) == expected_line(16, command)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000008", "step-00000016"]

    markers = tmp_path / "twice"
    process = start(run, ("checkpoint:24", markers, 2), resume="true")
    wait_for(process, markers / "paused-0")
    process.send_signal(signal.SIGTERM)
    wait_for(process, markers / "signalled-0")
    process.send_signal(signal.SIGTERM)
    output = ended(process)
    assert process.returncode == 128 + signal.SIGTERM and "a second SIGTERM: stopped at once" in output
    assert (run / "checkpoints" / ".step-00000024.tmp").is_dir()  # stopped mid-write
    assert not (run / "checkpoints" / "step-00000024").exists()

    output = finish(start(run, None, resume="true"))
    assert "taking over the lock left by pid" in output  # the process the second signal ended
    assert_same_run(straight, run)


def test_two_processes_stop_at_the_same_step_and_resume_to_the_same_weights(straight_two, tmp_path):
    """Two processes under `accelerate launch`: SIGTERM to the launcher reaches both ranks, which stop at the
    same step, the one after the signal (the ranks vote at each step boundary and read the vote at the next,
    so no step waits for it). Rank 0 holds the run folder's lock for both."""
    run = tmp_path / "run"
    launch = ["accelerate", "launch", "[launch options]", str(TRAIN)]
    resume = [*flags(run, **TWO), "--resume", "true"]

    def rank_zero_holds_the_lock(markers: Path) -> None:
        holder = (markers / "paused-0").read_text()
        with pytest.raises(FolderInUse, match=f"pid {holder} on host "):
            train(parse_config(TrainConfig, resume))

    def line(step: int) -> str:
        return expected_line(step, launch[3:] + resume).replace("resume with: ", f"resume with: {' '.join(launch[:3])} ")

    def two() -> dict:  # each launch on a fresh port
        return dict(processes=2, launcher=two_cpu_processes(), **TWO)

    output = signalled_at(run, "step:3", tmp_path / "step", on_pause=rank_zero_holds_the_lock, **two())
    assert stop_line(output) == line(4)
    assert stop_line(signalled_at(run, "eval:8", tmp_path / "eval", resume="true", **two())) == line(9)
    assert stop_line(signalled_at(run, "checkpoint:16", tmp_path / "checkpoint", resume="true", **two())) == line(17)
    finish(start(run, None, two_cpu_processes(), resume="true", **TWO))
    result = json.loads((run / "train_result.json").read_text())
    assert result["num_processes"] == 2 and len(set(result["rank_checksums"])) == 1
    assert_same_run(straight_two, run)


def test_ctrl_c_stops_a_comparison_and_running_it_again_finishes_it(tiny_compare_run, tmp_path):
    """SIGINT (Ctrl-C) in `compare` stops the row in training, not just that row: the comparison ends with the
    line, and running the same command again continues the row and ends with the same models and scores as
    a comparison never stopped. Here the transformer row alone is left to train."""
    runs = tmp_path / "runs"
    shutil.copytree(tiny_compare_run, runs / "test")
    row = runs / "test" / "multi30k-de-en" / "transformer"
    shutil.rmtree(row)
    shutil.rmtree(runs / "test" / "models" / "multi30k-de-en-transformer")
    (runs / "test" / "results.json").unlink()
    compare_flags = ["--preset", "test", "--runs_dir", str(runs)]
    process = start(row, ("step:3", tmp_path / "markers", 1), script=ROOT / "scripts" / "compare.py",
                    script_flags=compare_flags)
    wait_for(process, tmp_path / "markers" / "paused-0")
    process.send_signal(signal.SIGINT)
    output = ended(process)
    assert process.returncode == 128 + signal.SIGINT, output[-3000:]
    assert f"lineage compare: stopped at step 3 of {row} by SIGINT; resume with: python " \
           f"{ROOT / 'scripts' / 'compare.py'} {shlex.join(compare_flags)}" in output.splitlines()
    assert (row / "checkpoints" / "step-00000003").is_dir() and not (runs / "test" / "results.json").exists()

    finish(start(row, None, script=ROOT / "scripts" / "compare.py", script_flags=compare_flags))
    expected = json.loads((tiny_compare_run / "results.json").read_text())["tasks"]["multi30k-de-en"]["models"]
    found = json.loads((runs / "test" / "results.json").read_text())["tasks"]["multi30k-de-en"]["models"]
    def scores(rows: dict) -> dict:  # all but the decoding speed
        return {name: ({k: v for k, v in row["test"].items() if k not in ("sentences_per_second", "decode_seconds")},
                       row["examples"]) for name, row in rows.items()}

    assert scores(found) == scores(expected)
    assert_same_run(tiny_compare_run / "multi30k-de-en" / "transformer", row)


def test_a_signal_between_two_runs_stops_before_the_next_one_begins(tmp_path, monkeypatch):
    """`compare` and `study` train one run after another: a signal that arrives between two (while a row is
    tested) stops the next one before it touches its folder."""
    from lineage import cli
    from lineage.training.stops import Stopped, stop_signals_caught

    run = tmp_path / "run"
    with stop_signals_caught():
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once: this is the main thread
        with pytest.raises(Stopped) as stopped:
            train(parse_config(TrainConfig, flags(run)))
    assert (stopped.value.step, stopped.value.exit_code) == (None, 128 + signal.SIGTERM) and not run.exists()
    monkeypatch.setattr(sys, "argv", ["/usr/bin/lineage", "compare", "--preset", "test"])
    assert cli.stop_message(stopped.value, "compare", ["--preset", "test"]) == (
        f"lineage compare: stopped before training {run} by SIGTERM; resume with: lineage compare --preset test")


@pytest.mark.parametrize("args, expected", [
    (["--arch", "rnn", "--output_dir", "runs/a"], "lineage train --arch rnn --output_dir runs/a --resume true"),
    (["--overwrite", "true", "--arch", "rnn", "--resume_from=runs/a/checkpoints/step-00000010"],
     "lineage train --arch rnn --resume true"),
    (["--resume", "--arch", "rnn", "--resume-from", "x y"], "lineage train --arch rnn --resume true"),
    (["run.yaml"], "lineage train run.yaml (with resume: true in run.yaml)"),
])
def test_the_resume_command_continues_the_run_instead_of_starting_it_over(monkeypatch, args, expected):
    from lineage import cli

    monkeypatch.setattr(sys, "argv", ["/usr/bin/lineage", "train", *args])
    assert cli.resume_command("train", args) == expected
