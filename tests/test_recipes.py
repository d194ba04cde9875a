"""The paper-scale recipes (scripts/recipes/): each is a valid training config, and runs on its data's layout."""

import os
from dataclasses import replace
from pathlib import Path

import isolated
import pytest
from lineage.configs import parse_config
from lineage.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "scripts" / "recipes").glob("*.yaml"))
copies = isolated.load_by_path("lineage_layout_copies", ROOT / "scripts" / "layout_copies.py")


def test_the_landmark_recipes_are_there():
    assert [path.name for path in RECIPES] == [
        "cnn_dailymail-pointer-generator.yaml", "cnn_dailymail-transformer.yaml", "wmt14-en-de-lstm-attention.yaml",
        "wmt14-en-de-transformer-base.yaml"]


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_each_recipe_is_a_valid_training_config(path):
    """Every setting is checked before any data is loaded; the task is the Hub dataset, its config and pair."""
    config = parse_config(TrainConfig, [str(path)]).resolved()
    task = config.task_spec()
    assert task.dataset in ("wmt/wmt14", "abisee/cnn_dailymail") and task.dataset_config in ("de-en", "3.0.0")
    assert config.preset == "gpu" and (config.max_steps or config.budget_target_tokens)
    if task.kind == "translation":
        assert (task.source_column, task.target_column) == ("translation.en", "translation.de")
    else:
        assert (task.max_source_length, task.max_target_length) == (400, 100)


def test_the_pointer_generator_recipe_trains_on_the_cnn_dailymail_layout(tmp_path):
    """The recipe's data settings (config 3.0.0, article/highlights, 400/100 tokens, copy and coverage) train, at
    the tiny size for two steps; scripts/dry_run_recipes.py runs every recipe at its own size."""
    folder = copies.cnn_dailymail_copy(Path(os.environ["LINEAGE_DATA_DIR"]), tmp_path, rows=40)
    recipe = parse_config(TrainConfig, [str(ROOT / "scripts" / "recipes" / "cnn_dailymail-pointer-generator.yaml")])
    result = train(replace(recipe, task=str(folder), output_dir=str(tmp_path / "run"), size="tiny", vocab_size=300,
                           batch_tokens=2000, max_steps=2, budget_target_tokens=None, eval_every=2, save_every=2,
                           eval_samples=2))
    assert result["steps"] == 2 and result["task"] == "cnn_dailymail-3.0.0"
    assert (tmp_path / "run" / "best" / "config.json").is_file()
