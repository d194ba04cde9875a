"""The paper-scale recipes (scripts/recipes/): each is a valid training config, and runs on its data's layout."""

import os
from dataclasses import replace
from pathlib import Path

import isolated
import pytest
from lineage.configs import parse_config
from lineage.models import model_config
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


def resolved_model(name: str) -> tuple[TrainConfig, object]:
    """A recipe's resolved training config and the config of the model it builds."""
    config = parse_config(TrainConfig, [str(ROOT / "scripts" / "recipes" / name)]).resolved()
    ids = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    return config, model_config(config.arch, config.size, vocab_size=config.vocab_size, **ids,
                                **config.model_overrides())


def test_the_recipes_hold_the_papers_settings():
    """Vaswani et al. 2017 (base), Luong et al. 2015 and See et al. 2017, where the recipes follow them (each
    recipe's comment lists where it does not)."""
    config, model = resolved_model("wmt14-en-de-transformer-base.yaml")
    assert (model.encoder_layers, model.decoder_layers, model.d_model, model.encoder_attention_heads,
            model.encoder_ffn_dim, model.dropout) == (6, 6, 512, 8, 2048, 0.1)
    assert (config.label_smoothing, config.warmup_steps, config.max_steps, config.schedule) == (
        0.1, 4000, 100_000, "inverse_sqrt")
    assert config.learning_rate == pytest.approx(512**-0.5 * 4000**-0.5, rel=0.02)
    assert 24_000 <= config.batch_tokens * 8 <= 30_000  # "about 25,000 target tokens" a step on 8 GPUs

    config, model = resolved_model("wmt14-en-de-lstm-attention.yaml")
    assert (model.cell, model.attention, model.input_feeding, model.hidden_dropout) == ("lstm", "luong-general", True, 0.2)

    config, model = resolved_model("cnn_dailymail-pointer-generator.yaml")
    assert (model.copy_attention, model.coverage, config.max_source_length, config.max_target_length) == (
        True, True, 400, 100)


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_each_recipe_trains_on_its_dataset_layout(tmp_path, path):
    """Each recipe's data and model settings (dataset config, nested or flat columns, lengths, attention, input
    feeding, copy and coverage, the schedule) train at the tiny size for two steps and evaluate; the size, vocabulary
    and batch are made tiny, nothing else. scripts/dry_run_recipes.py runs every recipe at its own size."""
    data = Path(os.environ["LINEAGE_DATA_DIR"])
    recipe = parse_config(TrainConfig, [str(path)])
    summarization = recipe.kind == "summarization"
    folder = (copies.cnn_dailymail_copy if summarization else copies.wmt14_copy)(data, tmp_path, rows=40)
    result = train(replace(recipe, task=str(folder), output_dir=str(tmp_path / "run"), size="tiny", vocab_size=300,
                           batch_tokens=2000 if summarization else 400, max_steps=2, budget_target_tokens=None,
                           eval_every=2, save_every=2, plateau_every=2, eval_samples=2))
    assert result["steps"] == 2 and result["task"] == ("cnn_dailymail-3.0.0" if summarization else "wmt14-en-de")
    assert (tmp_path / "run" / "best" / "config.json").is_file()
