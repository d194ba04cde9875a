"""The choice of a run's best model: a checkpoint that repeats one output never wins over one that does not."""

import lineage.training.loop
from lineage.configs import parse_config
from lineage.training.config import TrainConfig
from lineage.training.loop import train
from lineage.training.selection import Candidate, better
from test_training import read_log, tiny_flags


def test_a_collapsed_candidate_never_beats_a_varied_one_and_the_metric_decides_otherwise():
    collapsed, varied = Candidate(metric=30.0, distinct=0.01), Candidate(metric=20.0, distinct=0.95)
    assert better(collapsed, None, references_distinct=1.0)  # the first evaluation is the best so far
    assert better(varied, collapsed, references_distinct=1.0) and not better(collapsed, varied, references_distinct=1.0)
    assert better(Candidate(25.0, 0.9), varied, 1.0) and not better(Candidate(19.0, 1.0), varied, 1.0)
    assert better(Candidate(31.0, 0.0), collapsed, 1.0)  # both collapsed: the metric
    # Targets that repeat themselves (a share of 0.1 distinct) do not hold a model to varied outputs.
    assert better(Candidate(30.0, 0.06), Candidate(20.0, 0.5), references_distinct=0.1)
    assert better(Candidate(20.0, None), Candidate(30.0, 0.01), 1.0)  # a checkpoint of an earlier version: varied


def test_a_run_whose_early_checkpoint_repeats_one_output_does_not_end_with_it(tmp_path, monkeypatch):
    """The first evaluation writes one output for every source and scores more on the greedy metric; the
    second writes varied outputs. The run's best model must be the second (greedy BLEU alone picked the first)."""
    scripted = iter([{"bleu": 30.0, "distinct_outputs": 0.0}, {"bleu": 20.0, "distinct_outputs": 1.0}])
    monkeypatch.setattr(lineage.training.loop, "validation_metric", lambda *args, **kwargs: next(scripted))
    result = train(parse_config(TrainConfig, tiny_flags(tmp_path, arch="lstm", max_steps=20, eval_every=10)))
    evaluations = read_log(tmp_path, "eval")
    assert [(e["step"], e["best"]) for e in evaluations] == [(10, True), (20, True)]
    assert (result["best_step"], result["best_metric"]) == (20, 20.0)
