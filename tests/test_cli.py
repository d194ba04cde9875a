"""The `lineage` command line, run as a user would."""

import argparse
import json
import os
import subprocess
import sys

import pytest
from lineage.configs import parse_config
from lineage.training.config import TrainConfig
from lineage.training.loop import train


def lineage(*args, cwd=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "lineage.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ}, cwd=cwd)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    flags = ["--output_dir", str(run), "--preset", "test", "--arch", "lstm", "--train_samples", "200",
             "--vocab_size", "300", "--max_steps", "4", "--eval_samples", "4"]
    train(parse_config(TrainConfig, flags))
    return run / "best"


def test_no_command_prints_usage_and_fails():
    result = lineage()
    assert result.returncode == 2 and "lineage compare" in result.stdout


def test_evaluate_scores_a_model_folder(tiny_model, tmp_path):
    predictions, scores = tmp_path / "predictions.txt", tmp_path / "scores.json"
    result = lineage("evaluate", str(tiny_model), "--task", "multi30k", "--samples", "5", "--num-beams", "2",
                     "--predictions", str(predictions), "--output", str(scores))
    assert result.returncode == 0, result.stderr[-2000:]
    written = json.loads(scores.read_text())
    assert written["count"] == 5 and written["generation"]["num_beams"] == 2
    assert written["bleu_signature"].startswith("nrefs:1|") and 0 <= written["bleu"] <= 100
    assert len(predictions.read_text().splitlines()) == 5


@pytest.mark.parametrize("flag", ["--repo_id", "--repo-id"])
def test_publish_offline_without_local_dir_is_a_clear_error(tiny_model, flag):
    result = lineage("publish", str(tiny_model), flag, "someone/model")
    assert result.returncode != 0
    assert "cannot upload while offline" in result.stderr and "Traceback" not in result.stderr


def test_every_command_takes_its_flags_with_underscores_and_with_dashes():
    """train, compare and study parse dataclass fields (HfArgumentParser adds the dashed spelling);
    evaluate, publish and publish-space add it through `cli.option`."""
    from lineage.cli import option
    from lineage.comparison.config import CompareConfig
    from transformers import HfArgumentParser

    parser = argparse.ArgumentParser()
    option(parser, "--source_column")
    compare = HfArgumentParser(CompareConfig)
    for flag in ("--source_column", "--source-column"):
        assert parser.parse_args([flag, "text"]).source_column == "text"
        assert compare.parse_args_into_dataclasses([flag, "text"])[0].source_column == "text"


def one_line_error(result: subprocess.CompletedProcess, command: str) -> str:
    """The message of a user error: exit code 2, one stderr line `lineage <command>: ...`, no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"lineage {command}: ")
    return last


def test_train_rejects_an_unknown_architecture(tmp_path):
    result = lineage("train", "--output_dir", str(tmp_path), "--arch", "gpt", "--max_steps", "1")
    assert "unknown architecture 'gpt'" in one_line_error(result, "train")


def test_a_bad_frequency_fails_in_one_line_before_the_data_is_prepared(tmp_path):
    """It raised ZeroDivisionError after the data was prepared and the tokenizer trained."""
    run = tmp_path / "run"
    result = lineage("train", "--output_dir", str(run), "--preset", "test", "--max_steps", "5", "--save_every", "0")
    assert one_line_error(result, "train") == "lineage train: --save_every must be positive, got 0"
    assert not run.exists()


def test_evaluate_on_a_missing_folder_says_so(tmp_path):
    """It answered "Repo id must be in the form 'repo_name' or 'namespace/repo_name'"."""
    missing = tmp_path / "no" / "such" / "folder"
    result = lineage("evaluate", str(missing), "--task", "multi30k")
    assert one_line_error(result, "evaluate") == f"lineage evaluate: model folder {missing} does not exist"


def test_compare_and_study_check_their_settings_first(tmp_path):
    result = lineage("compare", "--preset", "test", "--runs_dir", str(tmp_path), "--eval_every", "0")
    assert "--eval_every must be positive, got 0" in one_line_error(result, "compare")
    result = lineage("compare", "--preset", "test", "--runs_dir", str(tmp_path), "--test_samples", "-1")
    assert "--test_samples must be at least 0" in one_line_error(result, "compare")
    result = lineage("study", "--preset", "test", "--runs_dir", str(tmp_path), "--seeds", "0,one")
    assert "--seeds '0,one'" in one_line_error(result, "study")
    assert not any(tmp_path.iterdir())


def test_an_unexpected_error_keeps_its_traceback(monkeypatch):
    from lineage import cli

    def broken(argv):
        raise RuntimeError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "train", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["train"])
