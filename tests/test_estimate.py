"""The compare's time estimate: measured on the row's own model and data, extrapolated to its budget."""

import pytest
from lineage.comparison.estimate import estimate_row
from lineage.data.tokenizer import load_tokenizer
from lineage.training.config import TrainConfig


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from lineage.data.loading import load_splits
    from lineage.data.tasks import get_task
    from lineage.data.tokenizer import save_tokenizer, train_tokenizer

    task = get_task("multi30k")
    train = load_splits(task, ("train",))["train"].select(range(2000))
    folder = tmp_path_factory.mktemp("tokenizer")
    save_tokenizer(train_tokenizer(list(train[task.source_column]) + list(train[task.target_column]), 400), folder)
    return load_tokenizer(folder)


def config(tmp_path, **budget) -> TrainConfig:
    return TrainConfig(output_dir=str(tmp_path / "row"), arch="lstm", preset="test", eval_samples=8, eval_every=20,
                       **budget).resolved()


def test_a_token_budget_is_divided_by_the_measured_speed_and_a_minute_budget_is_taken_as_it_is(tmp_path, tokenizer):
    sources = ["Ein Mann fährt Fahrrad."] * 10
    small = estimate_row(config(tmp_path, budget_target_tokens=5_000), tokenizer, sources)
    assert small.training > 0 and small.evaluations > 0 and small.test > 0
    assert small.total == pytest.approx(small.training + small.evaluations + small.test)
    minutes = estimate_row(config(tmp_path, budget_minutes=0.5), tokenizer, sources)
    assert minutes.training == 30.0
    # Ten times the budget: ten times the training (speeds measured in two warm-ups agree within a factor).
    large = estimate_row(config(tmp_path, budget_target_tokens=50_000), tokenizer, sources)
    assert 3 < large.training / small.training < 30
    assert large.evaluations > small.evaluations
