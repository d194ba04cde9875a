"""The comparison's defaults for a corpus Lineage has never seen: rows by task kind, a budget from the data,
advice for a row that has not learned."""

import json
import logging
from pathlib import Path

import pytest
from lineage.comparison import presets
from lineage.comparison.budget import SAMPLE_ROWS, corpus_target_tokens, data_budget
from lineage.comparison.config import DEFAULT_ROWS, CompareConfig
from lineage.comparison.running import compare
from lineage.data.tasks import get_task
from lineage.data.tokenizer import save_tokenizer, train_tokenizer
from lineage.report.advice import advice
from lineage.report.document import write_report
from lineage.report.results import Results, Row

PAIRS = [("ein mann fährt rad .", "a man rides a bike ."), ("zwei hunde spielen im schnee .", "two dogs play in the snow ."),
         ("eine frau liest ein buch .", "a woman reads a book ."), ("kinder laufen am strand .", "children run on the beach .")]


def corpus(folder, pairs: int):
    """A flat-column translation folder of `pairs` training pairs (and 8 for validation and test)."""
    folder.mkdir()
    for split, count in (("train", pairs), ("validation", 8), ("test", 8)):
        lines = [json.dumps({"src": PAIRS[i % 4][0], "tgt": PAIRS[i % 4][1]}) for i in range(count)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return dict(tasks=str(folder), kind="translation", source_column="src", target_column="tgt")


@pytest.fixture
def small_rule(monkeypatch):
    """A rule with bounds a corpus of tens of pairs reaches: 2 passes within 1,000-5,000 target tokens."""
    monkeypatch.setitem(presets.PRESETS["demo"], "data_budget", {"translation": dict(passes=2, low=1000, high=5000)})


def test_rows_follow_the_task_kind_and_named_rows_win(tmp_path):
    own = corpus(tmp_path / "mine", 4)
    summarization = CompareConfig(tasks="samsum").resolved("samsum")
    assert [r[0] for r in summarization.row_specs()] == list(DEFAULT_ROWS["summarization"])
    assert "lstm-pointer-generator" in summarization.row_reasons("summarization")
    translation = CompareConfig(**own).resolved(own["tasks"])
    assert [r[0] for r in translation.row_specs()] == ["rnn", "lstm", "transformer"]
    assert set(translation.row_reasons("translation")) == {"rnn", "lstm", "transformer"}
    named = CompareConfig(tasks="samsum", rows="lstm").resolved("samsum")
    assert [r[0] for r in named.row_specs()] == ["lstm"] and named.row_reasons("summarization") == {}
    assert [r[0] for r in CompareConfig(tasks="samsum", archs="rnn").resolved("samsum").row_specs()] == ["rnn"]
    # The demo's own tasks keep their rows and budgets.
    demo = CompareConfig(preset="demo")
    assert [r[0] for r in demo.resolved("dialogsum").row_specs()] == ["lstm-pointer-generator"]
    assert demo.resolved("multi30k").budget() == {"kind": "target_tokens", "value": 550_000}


def test_the_budget_follows_the_corpus_within_bounds_and_an_explicit_one_wins(tmp_path, small_rule):
    budgets = {}
    for pairs in (10, 100, 1000):
        own = corpus(tmp_path / f"c{pairs}", pairs)
        task = get_task(own["tasks"], kind="translation", source_column="src", target_column="tgt")
        save_tokenizer(train_tokenizer([p for pair in PAIRS for p in pair] * 3, 60, min_frequency=1), tmp_path / f"t{pairs}")
        budgets[pairs] = data_budget("demo", task, tmp_path / f"t{pairs}")
    # Ten times the pairs, ten times the target tokens; the budget is 2 passes (two significant digits) ...
    middle = budgets[100]
    assert budgets[1000].corpus_target_tokens == 10 * middle.corpus_target_tokens
    assert budgets[10].corpus_target_tokens == pytest.approx(middle.corpus_target_tokens / 10, rel=0.1)
    assert 1000 < middle.target_tokens == int(float(f"{2 * middle.corpus_target_tokens:.2g}")) < 5000
    assert (budgets[10].target_tokens, budgets[1000].target_tokens) == (1000, 5000)  # ... within the floor and ceiling
    assert budgets[10].small() and not middle.small() and not budgets[1000].small()
    own = corpus(tmp_path / "flags", 4)
    assert CompareConfig(**own).resolved(own["tasks"]).budget_from_data
    explicit = CompareConfig(**own, budget_target_tokens=777).resolved(own["tasks"])
    assert not explicit.budget_from_data and explicit.budget() == {"kind": "target_tokens", "value": 777}
    per_task = CompareConfig(**own, per_task=json.dumps({own["tasks"]: {"budget_minutes": 3}})).resolved(own["tasks"])
    assert per_task.budget() == {"kind": "minutes", "value": 3}
    assert not CompareConfig(preset="test", **own).resolved(own["tasks"]).budget_from_data  # a preset's own budget


def test_the_target_tokens_are_counted_on_a_bounded_sample(tmp_path, monkeypatch):
    own = corpus(tmp_path / "mine", 400)
    task = get_task(own["tasks"], kind="translation", source_column="src", target_column="tgt")
    save_tokenizer(train_tokenizer([p for pair in PAIRS for p in pair] * 3, 60, min_frequency=1), tmp_path / "tok")
    exact = corpus_target_tokens(task, tmp_path / "tok", None)
    assert exact[0] == 400 and exact[2] == min(400, SAMPLE_ROWS)
    monkeypatch.setattr("lineage.comparison.budget.SAMPLE_ROWS", 10)
    sampled = corpus_target_tokens(task, tmp_path / "tok", None)
    assert sampled[2] == 10 and abs(sampled[1] - exact[1]) <= 0.1 * exact[1]
    assert corpus_target_tokens(task, tmp_path / "tok", 40)[0] == 40  # --train_samples


def test_a_compare_on_own_data_prints_its_plan_and_records_its_budget(tmp_path, small_rule, capsys, caplog):
    own = corpus(tmp_path / "tiny-pairs", 10)
    config = CompareConfig(**own, rows="lstm", runs_dir=str(tmp_path / "runs"), name="own", vocab_size=60,
                           test_samples=4, eval_samples=4, eval_every=20)
    with caplog.at_level(logging.WARNING):
        results = compare(config)
    printed = capsys.readouterr().out
    entry = results.task("tiny-pairs-de-en")
    budget = entry.budget
    assert budget["from_data"]["train_examples"] == 10 and budget["value"] == 1000  # small: the floor
    assert "tiny-pairs-de-en (translation): 1,000 target tokens per model, from the data:" in printed
    assert "  lstm (about " in printed and "estimated" in printed
    assert any("a small corpus for translation (10 pairs" in r.message for r in caplog.records)
    run = json.loads((tmp_path / "runs" / "own" / "tiny-pairs-de-en" / "lstm" / "run.json").read_text())
    assert run["settings"]["budget_target_tokens"] == 1000
    assert "from the data: " in (tmp_path / "runs" / "own" / "report.md").read_text()
    assert compare(config).task("tiny-pairs-de-en").models["lstm"].training == entry.models["lstm"].training  # reused


def unlearned_row(losses: list[float], arch: str = "lstm", copy: bool = False) -> Row:
    evaluations = [{"step": 200 * (i + 1), "target_tokens": 100_000 * (i + 1), "train_seconds": 60.0 * (i + 1),
                    "val_loss": loss, "bleu": 9.0, "rougeL": 18.0} for i, loss in enumerate(losses)]
    return Row(arch=arch, label=arch, model_config={"copy_attention": copy}, evaluations=evaluations,
               test={"rouge1": 20.0, "rouge2": 3.0, "rougeL": 18.0, "distinct_outputs": 0.1})


def test_advice_follows_the_rows_own_validation_curve():
    budget = {"kind": "target_tokens", "value": 600_000}
    falling = advice("lstm", unlearned_row([4.2, 3.6, 3.4, 3.2, 3.0, 2.9]), "summarization", budget)
    assert falling == ("lstm: a larger budget: its validation loss was still falling at the end (3.20 -> 2.90 over "
                       "the last third), e.g. --budget_target_tokens 1200000; copy attention (`--rows "
                       "lstm-pointer-generator`), which copies names and facts from the source.")
    rising = advice("transformer", unlearned_row([4.0, 3.5, 3.3, 3.5, 3.7], "transformer"), "summarization", budget)
    assert "rose from its lowest, 3.30, to 3.70" in rising and "--rows lstm-pointer-generator" in rising
    flat = advice("lstm-pointer-generator", unlearned_row([4.0, 3.0, 3.0, 3.0], copy=True), "summarization", budget)
    assert "levelled off" in flat and "copy attention" not in flat
    assert "too few validation evaluations" in advice("rnn", unlearned_row([3.0]), "translation", budget)
    begun = unlearned_row([8.3, 8.2, 8.15], "transformer")
    begun.model_config["vocab_size"] = 4000  # ln 4000 = 8.29: a uniform guess
    assert "still near a uniform guess's (8.29), so it has barely begun" in advice("transformer", begun, "summarization", budget)


def test_the_report_says_what_to_try_for_each_row_that_has_not_learned(tmp_path):
    results = Results.load(Path(__file__).parents[1] / "docs" / "demo-cpu" / "results.json")
    entry = results.tasks["multi30k-de-en"]
    entry.models["rnn"].test["bleu"] = 9.0  # not learned
    entry.models["rnn"].evaluations = unlearned_row([4.0, 3.5, 3.2]).evaluations
    entry.row_reasons = dict(DEFAULT_ROWS["translation"])
    write_report(results, tmp_path)
    report = (tmp_path / "report.md").read_text()
    lines = [line for line in report.splitlines() if line.startswith("- **RNN")]
    assert any("a larger budget: its validation loss was still falling" in line for line in lines)
    assert report.count("its validation loss") == 1  # the rows that learned get no advice
    assert "Rows: the defaults for translation, each for a reason:" in report
