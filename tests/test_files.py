"""pipelines/files.py: atomic writes, one-line-per-item records, torn logs, interrupted folder swaps."""

import json
import logging
import os

import pytest
from lineage.files import (
    append_line,
    clear_interrupted_writes,
    read_json_lines,
    write_folder,
    write_json,
    write_lines,
    write_text,
)


def test_write_lines_keeps_one_item_per_line_whatever_the_item_holds(tmp_path):
    items = ["first", "two\nlines", "windows\r\nbreak", "unicode\u2028separator", "", "last"]
    path = write_lines(tmp_path / "predictions.txt", items)
    lines = path.read_text().splitlines()
    assert len(lines) == len(items)
    assert lines[1] == "two lines" and lines[4] == "" and lines[5] == "last"


def test_write_text_keeps_free_text_as_it_is(tmp_path):
    text = "# Title\n\nParagraph one.\n\nParagraph two.\n"
    assert write_text(tmp_path / "report.md", text).read_text() == text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = write_json(tmp_path / "results.json", {"old": 1})

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_a_torn_json_line_is_dropped_with_a_warning(tmp_path, caplog):
    log = tmp_path / "log.jsonl"
    append_line(log, json.dumps({"step": 1}))
    append_line(log, json.dumps({"step": 2}))
    with open(log, "a") as handle:
        handle.write('{"step": 3, "lo')  # a crash in the middle of a write
    with caplog.at_level(logging.WARNING):
        assert read_json_lines(log) == [{"step": 1}, {"step": 2}]
    assert "dropped 1 torn line" in caplog.text


def test_write_folder_replaces_the_whole_folder(tmp_path):
    destination = tmp_path / "tokenizer"
    write_folder(destination, lambda folder: (folder / "old.json").write_text("{}"))
    write_folder(destination, lambda folder: (folder / "new.json").write_text("{}"))
    assert [p.name for p in destination.iterdir()] == ["new.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer"]


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path):
    destination = tmp_path / "tokenizer"
    write_folder(destination, lambda folder: (folder / "old.json").write_text("{}"))

    def crash(folder):
        (folder / "half.json").write_text("{")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_folder(destination, crash)
    assert [p.name for p in destination.iterdir()] == ["old.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer"]


def test_clear_interrupted_writes_removes_staging_and_restores_a_folder_caught_mid_swap(tmp_path):
    (tmp_path / ".step-00000020.tmp").mkdir()  # a checkpoint being written
    (tmp_path / ".run.json.tmp-123").write_text("{")  # a file being written
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / ".tokenizer.old-123").mkdir()  # swapped: the new one is in place
    (tmp_path / ".best.old-123").mkdir()  # killed between the two renames: best/ is missing
    (tmp_path / ".best.old-123" / "model.safetensors").write_text("weights")
    (tmp_path / ".gitignore").write_text("*")  # not ours: left alone
    clear_interrupted_writes(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "best", "tokenizer"]
    assert (tmp_path / "best" / "model.safetensors").read_text() == "weights"

