"""Faults a run survives: a full disk at each of its writes, and a damaged checkpoint.

Each ends in one line that names what failed, leaves what was written before intact, and `--resume`
then ends with the weights of a run that never failed, bit for bit. The full disk is real: a small
tmpfs of the test's own (mounting needs root, as in CI), filled to its last byte just before the
write under test, so that the write itself fails with ENOSPC.
"""

import errno
import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from lineage.configs import parse_config
from lineage.files import WriteFailed
from lineage.training import loop, run_log
from lineage.training.checkpoints import CheckpointError
from lineage.training.config import TrainConfig
from lineage.training.loop import train
from safetensors.torch import load_file

TINY = dict(preset="test", train_samples=300, vocab_size=400, eval_samples=16, log_every=4)
# 24 steps, evaluated and checkpointed every 8; with this seed each evaluation finds a better model.
RUN = dict(arch="lstm", max_steps=24, eval_every=8, save_every=8, seed=4, dropout=0.2)


def flags(folder: Path, **overrides) -> list[str]:
    values = {**TINY, **RUN, "output_dir": str(folder), **overrides}
    return [item for key, value in values.items() for item in (f"--{key}", str(value))]


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / "model.safetensors"))


def assert_same_weights(expected: Path, found: Path) -> None:
    want, got = weights(expected), weights(found)
    assert want.keys() == got.keys() and all(torch.equal(want[name], got[name]) for name in want)


def last_checkpoint(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step-*"))[-1]


def evaluations(run: Path) -> list[tuple[int, float]]:
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [(e["step"], e["val_loss"]) for e in events if e["event"] == "eval" and not e.get("milestone_only")]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The run that never failed."""
    run = tmp_path_factory.mktemp("straight") / "run"
    train(parse_config(TrainConfig, flags(run)))
    return run


# ---------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MB tmpfs mounted for this test alone."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)], capture_output=True, text=True)
    if done.returncode:
        message = f"a full disk is simulated on a tmpfs of its own, which this machine cannot mount: {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run these tests (as root)")
        pytest.skip(message)
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def fill(disk: Path) -> None:
    """Take every free byte of `disk` with one file, so that the next write that needs a block fails."""
    descriptor = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(descriptor, bytes(1 << 20))
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(descriptor)


def intact_files(run: Path) -> dict[str, str]:
    """SHA-256 of every file of the run's checkpoints and best model."""
    return {str(path.relative_to(run)): hashlib.sha256(path.read_bytes()).hexdigest()
            for folder in (run / "checkpoints", run / "best") for path in sorted(folder.rglob("*")) if path.is_file()}


def fill_before(monkeypatch, module, name: str, disk: Path, run: Path, snapshot: dict, when=lambda *args: True):
    """Fill `disk` just before the first call of `module.name` for which `when(*args)` holds, and keep, in
    `snapshot`, the run's checkpoints and best model as they were then."""
    original = getattr(module, name)

    def wrapped(*args, **kwargs):
        if not (disk / "filler").exists() and when(*args):
            snapshot.update(intact_files(run))
            fill(disk)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def calls(count: int):
    """`when` for `fill_before`: the `count`-th call."""
    seen = []

    def when(*args):
        seen.append(args)
        return len(seen) == count
    return when


def needs_a_new_block(disk: Path, after_step: int):
    """`when` for run_log.append_line: the first line after `after_step` that does not fit in the log's last
    block (a full disk still takes a line that does)."""
    block = os.statvfs(disk).f_bsize

    def when(path, line):
        used = Path(path).stat().st_size % block if Path(path).exists() else 0
        return json.loads(line)["step"] > after_step and (used == 0 or used + len(line) + 1 > block)
    return when


def test_a_full_disk_at_each_write_stops_the_run_and_resume_ends_with_the_same_weights(straight, small_disk,
                                                                                     monkeypatch):
    """A full disk while writing best/, a checkpoint, the log and a milestone: each stops the run with one line
    naming the path and the free space, the checkpoints and best/ written before stay as they were, and
    once space is freed --resume continues to the weights of a run that never failed. Before: a traceback
    (torch's "unexpected pos" for a checkpoint, "SafetensorError ... os error 28" for best/), and the
    staging folder of the failed write left on the full disk."""
    run = small_disk / "run"
    points = [  # (what is filled before, the path the line names)
        ((loop, "save_model_folder", calls(2)), run / "best"),  # the evaluation at step 16 improves
        ((loop, "save_checkpoint", calls(1)), run / "checkpoints" / "step-00000016"),
        ((run_log, "append_line", needs_a_new_block(small_disk, 16)), run / "log.jsonl"),
        ((loop, "write_milestone", calls(1)), run / "milestones" / "9000"),
    ]
    # Logged every step, so that the log outgrows its first block; one milestone, at step 22.
    run_flags = flags(run, log_every=1, milestones="9k")
    for number, ((module, name, when), path) in enumerate(points):
        snapshot = {}
        with monkeypatch.context() as patch:
            fill_before(patch, module, name, small_disk, run, snapshot, when)
            with pytest.raises(WriteFailed) as failed:
                train(parse_config(TrainConfig, run_flags + (["--resume", "true"] if number else [])))
        message = str(failed.value)
        assert message.startswith(f"could not write {path}: ") and "\n" not in message
        assert "No space left on device" in message or "os error 28" in message or "unexpected pos" in message
        assert message.endswith(" free on its disk)") and snapshot
        assert {name: digest for name, digest in intact_files(run).items() if name in snapshot} == snapshot
        assert [p.name for p in run.rglob(".*") if ".tmp" in p.name] == [], "a failed write left its staging"
        (small_disk / "filler").unlink()

    train(parse_config(TrainConfig, run_flags + ["--resume", "true"]))
    assert_same_weights(last_checkpoint(straight), last_checkpoint(run))
    assert evaluations(run) == evaluations(straight)
    assert (run / "milestones" / "9000" / "milestone.json").exists()


def test_a_full_disk_while_writing_results_json_keeps_the_old_one(tiny_compare_run, small_disk, monkeypatch):
    """`compare` with a full disk when it writes results.json stops with one line; the old results.json stays,
    and the same command once space is freed writes it again with the same scores (the rows are reused)."""
    from lineage.comparison.config import CompareConfig
    from lineage.comparison.running import compare
    from lineage.report.results import Results

    runs = small_disk / "runs"
    shutil.copytree(tiny_compare_run, runs / "test")
    before = (runs / "test" / "results.json").read_bytes()
    snapshot = {}
    with monkeypatch.context() as patch:
        fill_before(patch, Results, "save", small_disk, runs / "test" / "multi30k-de-en" / "rnn", snapshot)
        with pytest.raises(WriteFailed, match=f"could not write {runs / 'test' / 'results.json'}: .*No space left"):
            compare(CompareConfig(preset="test", runs_dir=str(runs)))
    assert (runs / "test" / "results.json").read_bytes() == before
    (small_disk / "filler").unlink()
    compare(CompareConfig(preset="test", runs_dir=str(runs)))
    old, new = (json.loads(text)["tasks"] for text in (before, (runs / "test" / "results.json").read_text()))
    assert {row: entry["test"] for row, entry in new["multi30k-de-en"]["models"].items()} == {
        row: entry["test"] for row, entry in old["multi30k-de-en"]["models"].items()}


# ---------------------------------------------------------------------------- a damaged checkpoint


@pytest.fixture(scope="module")
def sixteen_steps(tmp_path_factory) -> Path:
    """The first 16 steps of the run: checkpoints at steps 8 and 16."""
    run = tmp_path_factory.mktemp("sixteen") / "run"
    train(parse_config(TrainConfig, flags(run, max_steps=16)))
    return run


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 2 // 3] ^= 0xFF  # one byte among the tensor data: safetensors itself would not notice
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name, damage, problem", [
    ("model.safetensors", truncate, "model.safetensors is truncated"),
    ("optimizer.bin", truncate, "optimizer.bin is truncated"),
    ("random_states_0.pkl", truncate, "random_states_0.pkl is truncated"),
    ("model.safetensors", garble, "model.safetensors is garbled"),
])
def test_a_damaged_latest_checkpoint_is_named_and_the_newest_intact_one_resumed(sixteen_steps, tmp_path, caplog, name,
                                                                               damage, problem):
    """--resume with a truncated or garbled newest checkpoint says so in one line, moves it aside and continues from
    the one before, to the same weights. Before: a truncated file ended in "checkpoint ... is unreadable"; a
    garbled byte among the weights loaded silently, and the run went on from wrong weights."""
    run = Path(shutil.copytree(sixteen_steps, tmp_path / "run"))
    damage(run / "checkpoints" / "step-00000016" / name)
    with caplog.at_level(logging.WARNING, logger="lineage.training.checkpoints"):
        train(parse_config(TrainConfig, flags(run, max_steps=16, resume="true")))
    [line] = [record.getMessage() for record in caplog.records if "is damaged" in record.getMessage()]
    assert line.startswith(f"{run / 'checkpoints' / 'step-00000016'} is damaged ({problem}")
    assert line.endswith("): moved to damaged-step-00000016; resuming from step-00000008")
    assert (run / "checkpoints" / "damaged-step-00000016").is_dir()
    assert_same_weights(last_checkpoint(sixteen_steps), last_checkpoint(run))


def test_no_intact_checkpoint_is_refused_naming_each(sixteen_steps, tmp_path):
    run = Path(shutil.copytree(sixteen_steps, tmp_path / "run"))
    truncate(run / "checkpoints" / "step-00000016" / "optimizer.bin")
    garble(run / "checkpoints" / "step-00000008" / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"no intact checkpoint in .*step-00000016: optimizer.bin is truncated "
                                              r".*; step-00000008: model.safetensors is garbled"):
        train(parse_config(TrainConfig, flags(run, resume="true")))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000008", "step-00000016"]


def test_a_damaged_checkpoint_of_an_older_version_is_unreadable_naming_the_others(sixteen_steps, tmp_path):
    """A checkpoint written before manifests existed is checked by loading it: the "unreadable" error."""
    run = Path(shutil.copytree(sixteen_steps, tmp_path / "run"))
    (run / "checkpoints" / "step-00000016" / "manifest.json").unlink()
    truncate(run / "checkpoints" / "step-00000016" / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"(?s)step-00000016: it is unreadable \(.*\)\. It was left as is; resume "
                                              r"from an earlier one with --resume_from \(available: step-00000008\)"):
        train(parse_config(TrainConfig, flags(run, resume="true")))
