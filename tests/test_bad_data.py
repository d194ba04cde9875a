"""Bad data in a user's folder fails before any training, in one line naming the file and line."""

import json
import subprocess
import sys

import pytest
from lineage.data.loading import DataError, load_splits
from lineage.data.tasks import get_task

GOOD = [{"src": f"source {i}", "tgt": f"target {i}"} for i in range(40)]


def write_folder(folder, train_lines: list[bytes]):
    folder.mkdir()
    for split in ("validation", "test"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GOOD[:4]))
    (folder / "train.jsonl").write_bytes(b"".join(line + b"\n" for line in train_lines))
    return folder


def lines(records):
    return [json.dumps(record).encode() for record in records]


def task_of(folder):
    return get_task(str(folder), kind="translation", source_column="src", target_column="tgt")


def test_a_malformed_json_line_is_named(tmp_path):
    folder = write_folder(tmp_path / "data", lines(GOOD[:20]) + [b'{"src": "broken'] + lines(GOOD[20:]))
    with pytest.raises(DataError, match=r"train\.jsonl:21: not valid JSON \(Unterminated string"):
        load_splits(task_of(folder))


def test_invalid_utf8_is_named(tmp_path):
    folder = write_folder(tmp_path / "data", lines(GOOD[:30]) + [b'{"src": "caf\xe9", "tgt": "x"}'] + lines(GOOD[30:]))
    with pytest.raises(DataError, match=r"train\.jsonl:31: src is not valid UTF-8"):
        load_splits(task_of(folder), ("train",))


def test_an_example_far_past_the_length_limit_is_named(tmp_path):
    huge = {"src": "word " * 600_000, "tgt": "x"}
    folder = write_folder(tmp_path / "data", lines(GOOD[:10]) + lines([huge]) + lines(GOOD[10:]))
    with pytest.raises(DataError, match=r"train\.jsonl:11: src holds 3,000,000 bytes, far past the task's limit of 128"):
        load_splits(task_of(folder), ("train",))


def test_long_examples_within_reason_are_kept(tmp_path):
    """A long text is truncated when tokenized, as always: only one far past the limit is refused."""
    folder = write_folder(tmp_path / "data", lines(GOOD + [{"src": "word " * 2000, "tgt": "x"}]))
    assert len(load_splits(task_of(folder), ("train",))["train"]) == 41


def test_the_command_fails_in_one_line_before_training(tmp_path):
    folder = write_folder(tmp_path / "data", lines(GOOD[:5]) + [b"[1, 2]"] + lines(GOOD[5:]))
    done = subprocess.run([sys.executable, "-m", "lineage.cli", "train", "--task", str(folder), "--kind", "translation",
                           "--source_column", "src", "--target_column", "tgt", "--preset", "test", "--max_steps", "2",
                           "--output_dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("train.jsonl:6: a JSON list, not an object")
    assert not (tmp_path / "run" / "checkpoints").exists()
