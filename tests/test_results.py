"""The typed result files (pipelines/report/results.py): every committed file loads, and saves back unchanged."""

import json
from pathlib import Path

import pytest
from lineage.report.results import Results, Row, SpeedResults, current_size

ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILES = sorted(ROOT.glob("docs/**/results.json"))
SPEED_FILES = sorted(path for path in [*ROOT.glob("benchmarks/results/*.json"), *ROOT.glob("docs/**/*.json")]
                     if json.loads(path.read_text()).get("benchmark") == "lineage-speed")


def test_the_committed_files_are_found():
    assert len(RESULTS_FILES) >= 4 and len(SPEED_FILES) >= 4


@pytest.mark.parametrize("path", RESULTS_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_committed_results_file_loads_and_saves_back_the_same_json(path, tmp_path):
    results = Results.load(path)
    assert results.tasks and all(entry.models for entry in results.tasks.values())
    for entry in results.tasks.values():
        assert all(isinstance(row, Row) and row.test[entry.task.main_metric] >= 0 for row in entry.models.values())
    copy = results.save(tmp_path / "results.json")
    assert json.loads(copy.read_text()) == with_defaults(json.loads(path.read_text()))


def with_defaults(data: dict) -> dict:
    """A file of an earlier version as it saves back: the fields it predates get their defaults."""
    for entry in data["tasks"].values():
        entry.setdefault("baselines", {})
        entry.setdefault("budget", None)
        entry.setdefault("other_seeds", {})
        entry.setdefault("row_reasons", {})
        entry.setdefault("tokenizer_sample", None)
        for row in entry["models"].values():
            row.setdefault("settings", None)
            row.setdefault("milestones", [])
            row.setdefault("evaluations", [])
            row.setdefault("trained_in", None)
    return data


@pytest.mark.parametrize("path", SPEED_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_committed_speed_file_loads_and_reads_by_size_and_model(path, tmp_path):
    speed = SpeedResults.load(path)
    for size in speed.sizes():  # today's names: files of earlier versions say "demo" for "small"
        throughput = speed.training_tokens_per_second(size)
        measured = {key.split("/", 1)[1] for key in speed.models if current_size(key.split("/", 1)[0]) == size}
        assert throughput and set(throughput) == measured
    assert "demo" not in speed.sizes()
    assert json.loads(speed.save(tmp_path / "speed.json").read_text()) == json.loads(path.read_text())


def test_a_file_of_another_shape_fails_when_read(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"name": "x", "tasks": {}, "scores": {}}))
    with pytest.raises(ValueError, match="Results has no field scores"):
        Results.load(path)
