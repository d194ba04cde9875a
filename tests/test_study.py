"""`lineage study` end to end on the tiny preset: every section, plot and number; resumption."""

import json

import lineage.comparison.running
import pytest
from lineage.errors import ConfigError
from lineage.models.architectures import LABELS
from lineage.report.tables import tokens_text
from lineage.study.components import COMPONENTS
from lineage.study.grid import StudyConfig, cell_dir, planned_cells, settings_of
from lineage.study.presets import study_preset
from lineage.training.config import milestone_tokens
from lineage.study.runner import QUESTIONS, study

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    config = StudyConfig(preset="test", runs_dir=str(tmp_path_factory.mktemp("runs")))
    return config, study(config)


def test_tiny_study_writes_every_section_with_plots_tables_and_verdicts(tiny_study):
    config, document = tiny_study
    run = config.run_dir
    saved = json.loads((run / "study.json").read_text())
    assert list(saved["sections"]) == list(QUESTIONS)
    assert len(saved["cells"]) == len(planned_cells(settings_of(config)))
    markdown = (run / "study.md").read_text()
    for number, (name, section) in enumerate(saved["sections"].items(), 1):
        assert f"## {number}. {section['title']}" in markdown
        assert section["plots"], f"{name} has no plot"
        for plot in section["plots"]:
            assert (run / plot).read_bytes()[:8] == PNG and f"]({plot})" in markdown
        assert section["verdict"].replace("\n", "\n\n") in markdown  # one Markdown paragraph per verdict line
    assert saved["sections"]["senses"]["numbers"]["words"], "no ambiguous word found in Multi30k"
    assert len(saved["sections"]["attention"]["numbers"]["models"]) == 3


def test_study_numbers_come_from_the_cells_and_match_the_report(tiny_study):
    config, document = tiny_study
    run = config.run_dir
    saved = json.loads((run / "study.json").read_text())
    markdown = (run / "study.md").read_text()
    quality = saved["sections"]["quality"]
    seeds = settings_of(config)["seeds"]
    for task, entry in quality["numbers"]["tasks"].items():
        for arch, scores in entry["archs"].items():
            rows = [json.loads((run / task / f"{arch}-nall-s{seed}" / "row.json").read_text()) for seed in seeds]
            assert scores["values"] == [row["test"][entry["metric"]] for row in rows]
            assert f"| {task} | {LABELS[arch]} | {entry['metric_label']} | {scores['mean']:.2f} | {scores['std']:.2f} |" in markdown
        best = max(entry["archs"], key=lambda a: entry["archs"][a]["mean"])
        assert f"{LABELS[best]} {entry['archs'][best]['mean']:.1f}" in quality["verdict"]
    long_range = saved["sections"]["long_range"]["numbers"]
    assert {row["attention"] for row in long_range["rows"].values()} == {True, False}
    assert all(len(row["values"]) == len(long_range["buckets"]) for row in long_range["rows"].values())
    word2vec = saved["sections"]["word2vec"]["numbers"]
    for arch, by_size in word2vec["archs"].items():
        for size, variants in by_size.items():
            assert set(variants) == {"random", "word2vec", "word2vec-frozen"}
            assert f"| {LABELS[arch]} | {size} | {variants['random']['mean']:.2f} |" in markdown


def test_every_budget_section_comes_from_the_cells_milestones(tiny_study):
    """Each cell is also tested at its task's milestones; the sections' scores at each budget are those
    milestone scores, the last budget's are the cells' own test scores, and every verdict names the budgets."""
    config, _ = tiny_study
    run = config.run_dir
    sections = json.loads((run / "study.json").read_text())["sections"]
    quality, seeds = sections["quality"], settings_of(config)["seeds"]
    for task, entry in quality["numbers"]["tasks"].items():
        budgets = entry["budgets"]
        assert len(budgets) == 2 and budgets == sorted(budgets)
        for arch, series in entry["by_budget"].items():
            rows = [json.loads((run / task / f"{arch}-nall-s{seed}" / "row.json").read_text()) for seed in seeds]
            for budget, point in zip(budgets, series):
                assert point["values"] == [next(m["best_test"][entry["metric"]] for m in row["milestones"]
                                                if m["milestone"] == budget) for row in rows]
            assert series[-1]["values"] == entry["archs"][arch]["values"]
        assert f"{task} by training budget:" in quality["verdict"]
        assert f"at {tokens_text(budgets[0])} target tokens: " in quality["verdict"]
    assert "100 training pairs, by training budget:" in sections["data_size"]["verdict"]
    assert "100 pairs data, word2vec over random by training budget: " in sections["word2vec"]["verdict"]
    assert "RNN with and without attention, by training budget:" in sections["long_range"]["verdict"]
    assert "study-quality-budgets.png" in quality["plots"]
    # The study keeps each milestone's scores and record, not its weights.
    kept = run / "multi30k-de-en" / "lstm-nall-s0" / "milestones" / "1500"
    assert (kept / "milestone.json").exists() and not (kept / "model").exists() and not (kept / "best").exists()


def test_components_section_ranks_the_variants_against_the_stock_transformer(tiny_study):
    """The components cells train at the question's own budget; the section's scores are theirs, its costs are
    the stock model's score minus each variant's, and its verdict ranks them and judges the claim per budget."""
    config, _ = tiny_study
    run = config.run_dir
    section = json.loads((run / "study.json").read_text())["sections"]["components"]
    spec = settings_of(config)["components"]
    assert section["plots"] == ["study-components.png"]
    for (task_id, own), (task, entry) in zip(spec["tasks"].items(), section["numbers"]["tasks"].items()):
        assert list(entry["variants"]) == ["stock", *own["variants"]]
        assert entry["budgets"] == milestone_tokens(own["milestones"])
        for variant, scores in entry["variants"].items():
            row = "transformer" + ("" if variant == "stock" else f"-{variant}")
            rows = [json.loads((run / task / f"{row}-nall-s{seed}-components" / "row.json").read_text())
                    for seed in spec["seeds"]]
            assert scores["values"] == [r["test"][entry["metric"]] for r in rows]
            assert all(r["training"]["target_tokens"] >= own["budget_target_tokens"] for r in rows)
            assert entry["labels"][variant] == rows[0]["label"]
        stock = entry["variants"]["stock"]["mean"]
        worst = max(own["variants"], key=lambda v: stock - entry["variants"][v]["mean"])
        assert f"{task}, {tokens_text(own['budget_target_tokens'])} target tokens: the stock Transformer" in section["verdict"]
        assert f"  - {COMPONENTS[worst]}: {stock - entry['variants'][worst]['mean']:+.2f}" in section["verdict"]
    assert "Transformer (LSTM in place of encoder self-attention)" in (run / "study.md").read_text()
    assert '"Replacing self-attention with an LSTM costs little"' in section["verdict"]


def test_cells_made_with_other_settings_are_not_reused(tiny_study, monkeypatch):
    """A changed preset budget reused every finished cell under the old budget. (A larger one now continues
    each cell's run, as compare does; a smaller one cannot be had from them.)"""
    config, _ = tiny_study
    monkeypatch.setitem(study_preset("test")["tasks"]["dialogsum"], "budget_target_tokens", 300)
    monkeypatch.setattr(lineage.comparison.running, "train", lambda c: pytest.fail("trained before refusing"))
    with pytest.raises(ConfigError, match=r"dialogsum/rnn-nall-s0, dialogsum/rnn-nall-s1, .* "
                                          r"\(budget_target_tokens: 600 -> 300\).*--overwrite true"):
        study(config)


def test_an_interrupted_study_resumes_with_its_finished_cells(tiny_study, monkeypatch):
    config, _ = tiny_study
    settings = settings_of(config)
    cells = planned_cells(settings)
    unfinished = cells[-2:]
    for cell in unfinished:
        (cell_dir(config, settings, cell) / "row.json").unlink()
    kept = {cell: (cell_dir(config, settings, cell) / "row.json").stat().st_mtime_ns for cell in cells[:-2]}
    trained = []
    real_train = lineage.comparison.running.train

    def crash_on_second(train_config):
        trained.append(train_config.output_dir)
        if len(trained) == 2:
            raise KeyboardInterrupt("simulated interruption")
        return real_train(train_config)

    monkeypatch.setattr(lineage.comparison.running, "train", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        study(config)
    assert trained[0].endswith(unfinished[0].row)

    trained.clear()
    monkeypatch.setattr(lineage.comparison.running, "train", lambda c: trained.append(c.output_dir) or real_train(c))
    document = study(config)
    assert [t.split("/")[-1] for t in trained] == [unfinished[1].row]  # only the cell that never finished
    assert all((cell_dir(config, settings, c) / "row.json").stat().st_mtime_ns == t for c, t in kept.items())
    # The invocations are all recorded, the interrupted one with the cell it finished.
    assert [i["cells_trained"] for i in document["invocations"]] == [len(cells), 1, 1]
    assert document["wall_seconds"] == pytest.approx(sum(i["seconds"] for i in document["invocations"]))


def test_the_committed_study_md_is_what_its_study_json_renders():
    """docs/study-demo/study.md once ran its verdict lines together (written through `files.write_lines`,
    which keeps one record per line): every verdict line is its own paragraph, as the runner writes it."""
    from pathlib import Path

    from lineage.study.runner import study_markdown

    folder = Path(__file__).resolve().parents[1] / "docs" / "study-demo"
    document = json.loads((folder / "study.json").read_text())
    markdown = (folder / "study.md").read_text()
    assert markdown == "\n".join(study_markdown(document)) + "\n"
    for section in document["sections"].values():
        assert all(f"\n{line}\n" in markdown for line in section["verdict"].splitlines())


def test_parallelism_verdict_keeps_the_scan_cells_apart_from_the_serial_recurrences():
    """minGRU / minLSTM are recurrent but train with a parallel scan: the verdict's serial-vs-Transformer
    judgement leaves them out, says how they grow beside the serial ones, and what the scan buys over the loop."""
    from lineage.study.parallelism import verdict

    training = {
        "rnn-luong-general": {"32": 1000, "1024": 500}, "lstm-luong-general": {"32": 1000, "1024": 400},
        "mingru-luong-general": {"32": 2000, "1024": 1800}, "minlstm-luong-general": {"32": 1800, "1024": 1800},
        "mingru-luong-general-loop": {"32": 1000, "1024": 300}, "transformer": {"32": 1500, "1024": 1200},
    }
    lines = verdict({"lengths": [32, 1024], "training": training, "decoding": {}, "device": "cpu, 2 threads"})
    assert "Supported here" in lines  # the Transformer (-20%) beats every serial recurrence (-50%, -60%, -70%)
    assert ("Recurrent but trained with a parallel scan: mingru-luong-general -10%, minlstm-luong-general +0%, "
            "against -70% to -50% for the serial recurrences.") in lines
    assert "mingru-luong-general with its scan / step by step (same weights and FLOPs): 2.00x at length 32, 6.00x at 1024." in lines
