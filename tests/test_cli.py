"""The `lineage` command line, run as a user would."""

import json
import os
import subprocess
import sys

import pytest

from pipelines.training import parse_train_config, train


def lineage(*args, cwd=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipelines.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ}, cwd=cwd)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    flags = ["--output_dir", str(run), "--preset", "tiny", "--arch", "lstm", "--train_samples", "200",
             "--vocab_size", "300", "--max_steps", "4", "--eval_samples", "4"]
    train(parse_train_config(flags))
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


def test_publish_offline_without_local_dir_is_a_clear_error(tiny_model):
    result = lineage("publish", str(tiny_model), "--repo-id", "someone/model")
    assert result.returncode != 0
    assert "cannot upload while offline" in result.stderr and "Traceback" not in result.stderr


def test_train_rejects_an_unknown_architecture(tmp_path):
    result = lineage("train", "--output_dir", str(tmp_path), "--arch", "gpt", "--max_steps", "1")
    assert result.returncode != 0 and "unknown architecture 'gpt'" in result.stderr
