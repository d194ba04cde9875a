"""Verdicts are written from the numbers: changing the numbers changes the verdict (pipelines/study/)."""

import math
import subprocess
import sys

import pytest
from lineage.report import stats
from lineage.report.stats import summary
from lineage.study.runner import QUESTIONS


def quality(translation: dict, summarization: dict) -> dict:
    def task(metric, values):
        return {"metric": metric, "metric_label": metric, "noise": None,
                "archs": {arch: summary(v) for arch, v in values.items()}}

    return {"tasks": {"m30k": task("BLEU", translation), "dsum": task("ROUGE-L", summarization)},
            "translation": "m30k", "summarization": "dsum"}


def test_the_statistics_load_without_torch_or_accelerate():
    code = "import sys, lineage.report.stats; print(sorted({'torch', 'accelerate'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_summary_and_difference_confidence():
    a, b = summary([10.0, 11.0, 12.0]), summary([5.0, 5.5, 6.0])
    assert a["mean"] == 11.0 and a["std"] == 1.0 and a["n"] == 3
    d = stats.difference(a, b)
    assert d["difference"] == 5.5 and d["confidence"] == "high"
    close = stats.difference(summary([10.0, 12.0]), summary([10.5, 11.9]))
    assert close["confidence"] == "low"
    # One seed each: the task's noise stands in for the spread, and without it no confidence is claimed.
    single = stats.difference(summary([12.0]), summary([10.0]), noise=0.5)
    assert single["standard_errors"] == pytest.approx(2.0 / math.sqrt(0.5 ** 2 * 2)) and single["confidence"] == "moderate"
    assert stats.difference(summary([12.0]), summary([10.0]))["confidence"].startswith("unknown")
    assert stats.pooled_std([summary([1.0, 3.0]), summary([2.0])]) == pytest.approx(math.sqrt(2.0))


def test_quality_verdict_follows_the_numbers():
    transformer_wins = quality({"rnn": [10, 11, 12], "lstm": [20, 21, 22], "transformer": [30, 31, 32]},
                               {"rnn": [10, 11, 12], "lstm": [20, 21, 22], "transformer": [25, 26, 27]})
    text = QUESTIONS["quality"].verdict(transformer_wins)
    assert "The Transformer wins on both tasks" in text
    assert "Transformer 31.0 ± 1.0 (3 seeds) > LSTM 21.0 ± 1.0 (3 seeds)" in text
    assert "holds up better on summarization" in text and "does not hold up" not in text  # -32% vs -19%

    lstm_wins = quality({"rnn": [10, 11, 12], "lstm": [30, 31, 32], "transformer": [20, 21, 22]},
                        {"rnn": [10, 11, 12], "lstm": [20, 21, 22], "transformer": [25, 26, 27]})
    text = QUESTIONS["quality"].verdict(lstm_wins)
    assert "The Transformer wins only on dsum" in text
    assert "LSTM leads Transformer by 10.0" in text
    assert "does not hold up better on summarization" in text


def test_budget_verdicts_say_who_leads_and_where_the_curves_cross():
    """The order at each budget, and each crossing named with the budgets it lies between; a pair with a
    budget missing is compared across the gap."""
    budgets = [250_000, 500_000, 1_000_000, 2_000_000]
    series = {"RNN": [summary([12.0]), summary([15.0]), summary([18.0]), summary([20.0])],
              "LSTM": [summary([16.0]), summary([23.0]), summary([29.8]), summary([33.4])],
              "Transformer": [summary([10.0]), summary([22.0]), None, summary([34.8])]}
    lines = stats.budget_leaders(budgets, series, "BLEU")
    assert lines[0] == "- at 250k target tokens: LSTM 16.00 leads RNN 12.00 by 4.00 BLEU"
    assert lines[3] == ("- at 2M target tokens: Transformer 34.80 leads LSTM 33.40 by 1.40 BLEU; "
                        "the lead changes: LSTM led before")
    assert lines[4:] == [
        "- Transformer passes RNN between 250k and 500k target tokens (BLEU 10.00 against 12.00 at 250k, "
        "22.00 against 15.00 at 500k)",
        "- Transformer passes LSTM between 500k and 2M target tokens (BLEU 22.00 against 23.00 at 500k, "
        "34.80 against 33.40 at 2M)"]
    ordered = {"LSTM": series["LSTM"], "RNN": series["RNN"]}
    assert stats.curve_crossings(budgets, ordered, "BLEU") == [
        "- no two curves cross: the models keep one order at every budget both were measured at"]


def parallelism(transformer_long: float) -> dict:
    return {"lengths": [16, 128], "device": "cpu, 2 threads",
            "training": {"rnn-luong-general": {"16": 5000.0, "128": 3000.0}, "lstm-none": {"16": 6000.0, "128": 5400.0},
                         "transformer": {"16": 4000.0, "128": transformer_long}},
            "decoding": {"transformer": {"16": 0.1, "128": 0.8}}}


def test_parallelism_verdict_follows_the_numbers():
    supported = QUESTIONS["parallelism"].verdict(parallelism(4100.0))
    assert supported.count("Supported here") == 1 and "transformer +2%" in supported
    assert "transformer 8.0x" in supported
    assert "Contradicted here" in QUESTIONS["parallelism"].verdict(parallelism(2000.0))
    assert "Mixed here" in QUESTIONS["parallelism"].verdict(parallelism(3000.0))


def long_range(no_attention_last: float) -> dict:
    row = lambda arch, attention, values: {"arch": arch, "attention": attention, "values": values, "stds": [0] * 3, "n": 3}  # noqa: E731
    return {"metric_label": "BLEU", "buckets": ["1-10", "10-20", "20-40"], "bucket_size": 200, "rows": {
        "LSTM + attention": row("lstm", True, [30.0, 28.0, 27.0]),
        "LSTM (no attention)": row("lstm", False, [25.0, 20.0, no_attention_last]),
        "Transformer": row("transformer", True, [30.0, 29.0, 28.0])}}


def test_long_range_verdict_follows_the_numbers():
    bottleneck = QUESTIONS["long_range"].verdict(long_range(10.0))
    assert "The fixed-vector bottleneck shows" in bottleneck and "50 percentage points more" in bottleneck
    assert "LSTM (no attention) 25.0 -> 10.0 (-60%)" in bottleneck
    assert "No clear bottleneck effect" in QUESTIONS["long_range"].verdict(long_range(22.0))


def data_size(small_transformer: float) -> dict:
    series = lambda *means: [summary([m]) for m in means]  # noqa: E731
    return {"tasks": {"m30k": {"metric_label": "BLEU", "sizes": [1000, 5000, 29000], "noise": 0.5, "archs": {
        "rnn": series(5.0, 10.0, 15.0), "lstm": series(8.0, 15.0, 20.0), "transformer": series(small_transformer, 12.0, 25.0)}}}}


def test_data_size_verdict_finds_crossings():
    crossing = QUESTIONS["data_size"].verdict(data_size(2.0))
    assert "between 5,000 and 29,000 pairs the lead passes from LSTM to Transformer" in crossing
    assert "the best recurrent model (LSTM) beats the Transformer by 6.0" in crossing
    other_crossing = QUESTIONS["data_size"].verdict(data_size(9.0))
    assert "between 1,000 and 5,000 pairs the lead passes from Transformer to LSTM" in other_crossing
    assert "trails the Transformer by 1.0" in other_crossing


def word2vec(gain_small: float, gain_full: float) -> dict:
    cells = lambda base, gain: {"random": summary([base]), "word2vec": summary([base + gain]),  # noqa: E731
                                "word2vec-frozen": summary([base])}
    return {"metric_label": "BLEU", "noise": 0.4, "sizes": ["1,000 pairs", "all"], "archs": {
        arch: {"1,000 pairs": cells(5.0, gain_small), "all": cells(20.0, gain_full)} for arch in ("rnn", "lstm")}}


def test_word2vec_verdict_follows_the_numbers():
    helps_small = QUESTIONS["word2vec"].verdict(word2vec(3.0, 0.1))
    assert "word2vec helped clearly in 2 and hurt clearly in 0" in helps_small
    assert "helps more with little data (+3.00 vs +0.10 BLEU)" in helps_small
    hurts = QUESTIONS["word2vec"].verdict(word2vec(-3.0, 0.1))
    assert "helped clearly in 0 and hurt clearly in 2" in hurts and "does not help more with little data" in hurts


def test_senses_and_attention_verdicts_follow_the_numbers():
    def senses(accuracy):
        models = {arch: {"accuracy": accuracy, "separation": 0.1} for arch in ("rnn", "transformer")}
        return {"archs": ["rnn", "transformer"], "occurrences": 40, "words": {"Tor": {"majority": 0.6, "models": models}}}

    assert "Every encoder separates senses" in QUESTIONS["senses"].verdict(senses(0.9))
    assert "No encoder separates" in QUESTIONS["senses"].verdict(senses(0.6))
    maps = {"source_tokens": 9, "output_tokens": 8, "models": {
        "LSTM": {"sharpness": 0.7, "diagonal": 0.8, "heads": 1}, "Transformer": {"sharpness": 0.3, "diagonal": 0.5, "heads": 4}}}
    text = QUESTIONS["attention"].verdict(maps)
    assert "Sharpest: LSTM" in text and "LSTM: mean peak weight 0.70, 80%" in text
    maps["models"]["Transformer"]["sharpness"] = 0.9
    assert "Sharpest: Transformer" in QUESTIONS["attention"].verdict(maps)


def components(rnn_encoder_early: float) -> dict:
    """Stock 30/31 BLEU at 2M; the LSTM encoder costs `30 - rnn_encoder_early` at 250k and 0.2 at 2M; no residual
    connections: a model that never learned."""
    by_seeds = {"stock": ([15.0, 15.4], [30.0, 31.0]), "rnn-encoder": ([rnn_encoder_early, rnn_encoder_early + 0.4], [29.8, 30.8]),
                "no-ffn": ([13.0, 13.4], [27.0, 28.0]), "no-residual": ([2.0, 2.2], [3.0, 3.4])}
    labels = {"stock": "Transformer", "rnn-encoder": "Transformer (LSTM in place of encoder self-attention)",
              "no-ffn": "Transformer (no feed-forward blocks)", "no-residual": "Transformer (no residual connections)"}
    return {"tasks": {"m30k": {
        "metric": "bleu", "metric_label": "BLEU", "budget_target_tokens": 2_000_000, "budgets": [250_000, 2_000_000],
        "variants": {name: summary(last) for name, (_, last) in by_seeds.items()},
        "by_budget": {name: [summary(first), summary(last)] for name, (first, last) in by_seeds.items()},
        "labels": labels, "parameters": dict.fromkeys(labels, 1000),
        "unlearned": {name: ({0: ["BLEU 3.0 < 15"], 1: ["BLEU 3.4 < 15"]} if name == "no-residual" else {})
                      for name in labels},
    }}}


def test_components_verdict_ranks_the_costs_and_says_where_the_claim_holds():
    text = QUESTIONS["components"].verdict(components(rnn_encoder_early=15.0))
    ranking = [line.split(":")[0].strip(" -") for line in text.splitlines() if line.startswith("  - ") and "BLEU (" in line]
    assert ranking == ["residual connections", "feed-forward blocks", "encoder self-attention (an LSTM instead)"]
    assert "  - residual connections: +27.30 BLEU (3.2 ± 0.3 (2 seeds); high confidence" in text
    assert "Transformer (no residual connections) did not learn the task with seed(s) 0 (BLEU 3.0 < 15); 1" in text
    assert "costs little\" (no replacement costs more than seed noise): holds at 250k, 2M target tokens." in text
    assert "The whole claim holds at 250k, 2M target tokens." in text
    # The LSTM encoder far behind at 250k: the claim holds only at the larger budget.
    text = QUESTIONS["components"].verdict(components(rnn_encoder_early=9.0))
    assert "costs little\" (no replacement costs more than seed noise): holds at 2M target tokens, not at 250k." in text
    assert "matter more\" (each costs more than every replacement): holds at 2M target tokens, not at 250k." in text
    assert "did not learn the task with every seed" not in text
    unlearned_stock = components(rnn_encoder_early=9.0)
    unlearned_stock["tasks"]["m30k"]["unlearned"]["stock"] = {1: ["BLEU 9.0 < 15"]}
    assert "The stock Transformer did not learn the task with every seed" in QUESTIONS["components"].verdict(unlearned_stock)
    table = "\n".join(QUESTIONS["components"].table(components(rnn_encoder_early=9.0)))
    assert "| m30k | Transformer (no feed-forward blocks) | 1,000 | 27.50 | 0.71 | 27.00, 28.00 | +3.00 |" in table
