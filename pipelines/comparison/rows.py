"""A comparison's rows, each planned once: `PlannedRow` holds what every later step reads of it.

A row is one model to train and test for one task. Planning resolves its task
and its training settings once (raising ConfigError for an invalid setting
before any data is loaded); reuse (`reuse.py`), the estimate, training and
testing (`running.py`) and the study's cells all take the planned row.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from ..data.tasks import TASK_SETTINGS, TaskSpec, get_task
from ..models.architectures import LABELS, RECURRENT
from ..models.transformer_variants import describe_variant
from ..training.config import TrainConfig
from ..training.runs import run_settings
from .config import TRAINING_FIELDS, CompareConfig
from .presets import compare_preset


@dataclass
class PlannedRow:
    """One row of a comparison.

    Args:
        config: the comparison's settings for the row's task (`CompareConfig.resolved(task_id)`).
        task_id: the task as --tasks names it ("multi30k", a Hub id or a folder).
        task: the task it names, resolved once (its `name` names folders and results: "multi30k-de-en").
        name: the row ("lstm", "lstm-pointer-generator", a study cell's "rnn-n1000-s0").
        arch: its architecture.
        overrides: TrainConfig settings of its variant (and of a study cell).
        training: its resolved training settings.
    """

    config: CompareConfig
    task_id: str
    task: TaskSpec
    name: str
    arch: str
    overrides: dict
    training: TrainConfig

    @property
    def folder(self) -> Path:
        """The row's training run: <run>/<task>/<row>."""
        return Path(self.training.output_dir)

    @property
    def model_folder(self) -> Path:
        """The row's Hub-ready model folder: <run>/models/<task>-<row>."""
        return self.config.run_dir / "models" / f"{self.task.name}-{self.name}"

    @property
    def key(self) -> str:
        """"<task>/<row>", as messages name it."""
        return f"{self.task.name}/{self.name}"

    def settings(self) -> dict:
        """What defines the row: its run's settings (training.runs.run_settings) and the test it is scored on
        (how many examples, decoded with which settings)."""
        generation = json.loads(json.dumps(self.task.generation))  # as it reads back from the file
        return {**run_settings(self.training), "test_samples": self.config.test_samples, "generation": generation}


def task_of(config: CompareConfig, task_id: str) -> TaskSpec:
    """The task `task_id` names, with the comparison's language and column settings."""
    return get_task(task_id, **{name: getattr(config, name) for name in TASK_SETTINGS})


def tokenizer_folder(config: CompareConfig, task: TaskSpec) -> Path:
    """The task's shared tokenizer, one per vocabulary size: a changed --vocab_size never reuses another's."""
    return config.run_dir / task.name / f"tokenizer-{config.vocab_size}"


def plan_row(config: CompareConfig, task_id: str, name: str, arch: str, overrides: dict) -> PlannedRow:
    """Plan one row; raises ConfigError for an invalid setting, before any data is loaded."""
    task = task_of(config, task_id)
    shared = {field: getattr(config, field) for field in TRAINING_FIELDS if getattr(config, field) is not None}
    training = TrainConfig(
        output_dir=str(config.run_dir / task.name / name), task=task_id, tokenizer=str(tokenizer_folder(config, task)),
        arch=arch, preset=compare_preset(config.preset)["training"], resume=True, **shared, **overrides,
    ).resolved()
    return PlannedRow(config=config, task_id=task_id, task=task, name=name, arch=arch, overrides=overrides,
                      training=training)


def plan_rows(by_task: dict[str, CompareConfig]) -> list[PlannedRow]:
    """Every row of every task, in the order they train."""
    return [plan_row(config, task_id, *spec) for task_id, config in by_task.items() for spec in config.row_specs()]


def row_label(arch: str, model_config: dict, embeddings: str) -> str:
    """A readable name: "LSTM + luong-general attention", "RNN + scaled luong-general attention + embedding
    residual", "RNN (no attention), word2vec embeddings", "Transformer (no feed-forward blocks)"."""
    label = LABELS[arch]
    if arch in RECURRENT:
        attention = model_config.get("attention", "none")
        scaled = "scaled " if model_config.get("scaled_attention") else ""
        label += " (no attention)" if attention == "none" else f" + {scaled}{attention} attention"
        if model_config.get("source_embedding_residual"):
            label += " + embedding residual"
        copying = [name for name in ("copy_attention", "coverage") if model_config.get(name)]
        if copying:
            label += " + " + " and ".join({"copy_attention": "copy", "coverage": "coverage"}[n] for n in copying)
    elif changes := describe_variant(model_config):
        label += f" ({', '.join(changes)})"
    if embeddings != "random":
        label += f", {embeddings} embeddings"
    return label
