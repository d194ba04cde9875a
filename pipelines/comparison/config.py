"""What `lineage compare` runs: its settings (`CompareConfig`) and the rows they name.

A row is an architecture (`rnn`, `lstm`, `transformer`) or an architecture with a variant
(`lstm-pointer-generator`); `rows.py` plans each one once into a `PlannedRow`.
"""

import json
import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..configs import field_like
from ..data.tasks import TASK_SETTINGS, get_task
from ..errors import ConfigError
from ..models.architectures import ARCHS, GENERATIONS, RECURRENT
from ..models.transformer_variants import VARIANTS as TRANSFORMER_VARIANTS
from ..training.config import TrainConfig
from .presets import FORMER_NAMES, PRESET_ONLY, compare_preset

logger = logging.getLogger(__name__)

# Extra rows beside the architectures themselves: name suffix -> TrainConfig overrides.
VARIANTS = {
    "word2vec": dict(embeddings="word2vec"),
    "word2vec-frozen": dict(embeddings="word2vec-frozen"),
    "no-attention": dict(attention="none"),
    "pointer-generator": dict(copy_attention=True, coverage=True),
    # The stock Transformer with one change (models/transformer_variants.py): transformer-one-head, -no-ffn,
    # -no-residual, -rnn-encoder (LSTM for encoder self-attention), -rnn-decoder (for decoder self-attention).
    **{name: dict(transformer_variant=name) for name in TRANSFORMER_VARIANTS},
}
# The rows a task trains when nothing names its rows (--rows, --archs, --variants, the preset), by task kind,
# each with the reason it is there: the printed plan and the report show it. The figures are test scores of
# docs/budget-curves and docs/cpu-summarization, where the measurements behind them are.
DEFAULT_ROWS = {
    "translation": {
        "rnn": "the first generation, the yardstick for what gates add: with scaled attention and its source "
               "embeddings beside its states it trails the LSTM on Multi30k (validation loss 2.80 against 2.67 "
               "at 1.1M target tokens)",
        "lstm": "the second generation: it leads on Multi30k up to 1M target tokens (29.8 BLEU at 1M)",
        "transformer": "the third generation: it leads on Multi30k from 2M target tokens on (34.8 BLEU at 2M)",
    },
    "summarization": {
        "rnn": "the first generation, with scaled attention and its source embeddings beside its states: "
               "it beats LEAD-3 on DialogSum and SAMSum",
        "lstm": "the second generation: it passes the plain RNN on DialogSum from 600k summary tokens on",
        "lstm-pointer-generator": "copies names and facts from the source: the best summarizer at every budget "
                                  "on DialogSum (150k to 1.2M summary tokens) and on SAMSum",
        "transformer": "the third generation: the slowest to start on dialogues (it learned DialogSum at "
                       "1.2M summary tokens, not at 600k), so it shows what the budget buys",
    },
}
# Variants that only apply to the recurrent models, and those that only apply to the Transformer.
RECURRENT_ONLY = ("no-attention", "pointer-generator")
TRANSFORMER_ONLY = tuple(TRANSFORMER_VARIANTS)
# The settings that choose the rows, and the budget: a preset's per-task value yields to an explicit one.
ROW_FIELDS = ("archs", "variants", "rows")
BUDGET_FIELDS = ("budget_minutes", "budget_target_tokens")
# Row settings that say how a row is tested, not how it trains: a change tests the row's models again.
TEST_FIELDS = ("test_samples", "generation")
# The settings of the run as a whole, which --per_task cannot set for one task.
RUN_WIDE = ("name", "preset", "tasks", "runs_dir", "overwrite", "per_task", "seed_runs", "rows_from")
# The training settings a comparison passes to every row, declared as TrainConfig declares them; those a
# compare preset may set are unset (None) by default.
TRAINING_FIELDS = (
    *TASK_SETTINGS, "train_samples", "vocab_size",
    "batch_tokens", "budget_minutes", "budget_target_tokens", "milestones", "eval_every", "eval_samples", "seed",
)


def named_row(name: str) -> tuple[str, str, dict]:
    """A row named ARCH or ARCH-VARIANT ("lstm-pointer-generator"): (name, arch, TrainConfig overrides)."""
    arch, _, variant = name.partition("-")
    if arch not in ARCHS:
        raise ConfigError(f"row {name!r}: it must start with an architecture ({', '.join(ARCHS)})")
    if variant and variant not in VARIANTS:
        raise ConfigError(f"row {name!r}: unknown variant {variant!r}: choose from {', '.join(VARIANTS)}")
    if variant in RECURRENT_ONLY and arch not in RECURRENT:
        raise ConfigError(f"row {name!r}: {variant} applies to the recurrent models only")
    if variant in TRANSFORMER_ONLY and arch != "transformer":
        raise ConfigError(f"row {name!r}: {variant} is a variant of the Transformer only")
    return name, arch, VARIANTS.get(variant, {})


@dataclass
class CompareConfig:
    """What `lineage compare` runs. Unset (None) values come from the compare preset."""

    name: str | None = field(default=None, metadata={"help": "run name: results go to <runs_dir>/<name> (default: the preset)"})
    preset: str = field(default="demo", metadata={"help": "test | demo | gpu (pipelines/comparison/presets.py)"})
    tasks: str | None = field(default=None, metadata={
        "help": "comma-separated tasks: named ones (multi30k, dialogsum, samsum), Hub dataset ids or local folders"})
    archs: str | None = field(default=None, metadata={"help": "comma-separated architectures (default: rnn,lstm,transformer)"})
    variants: str | None = field(default=None, metadata={
        "help": "extra rows: word2vec, word2vec-frozen, no-attention, pointer-generator; of the Transformer only: "
                f"{', '.join(TRANSFORMER_VARIANTS)}; NAME:ARCH+ARCH limits one to some architectures "
                "(pointer-generator:lstm)"})
    rows: str | None = field(default=None, metadata={
        "help": "the rows to train, instead of --archs and --variants: ARCH or ARCH-VARIANT, "
                "e.g. lstm-pointer-generator,transformer"})
    budget_minutes: float | None = field_like(TrainConfig, "budget_minutes", None)
    budget_target_tokens: int | None = field_like(TrainConfig, "budget_target_tokens", None)
    milestones: str | None = field_like(TrainConfig, "milestones", None)
    train_samples: int | None = field_like(TrainConfig, "train_samples", None)
    test_samples: int | None = field(default=None, metadata={"help": "score on the first N test examples (default: all)"})
    source_language: str = field_like(TrainConfig, "source_language")
    target_language: str = field_like(TrainConfig, "target_language")
    kind: str | None = field_like(TrainConfig, "kind")
    source_column: str | None = field_like(TrainConfig, "source_column")
    target_column: str | None = field_like(TrainConfig, "target_column")
    dataset_config: str | None = field_like(TrainConfig, "dataset_config")
    max_source_length: int | None = field_like(TrainConfig, "max_source_length")
    max_target_length: int | None = field_like(TrainConfig, "max_target_length")
    vocab_size: int | None = field_like(TrainConfig, "vocab_size", None)
    eval_samples: int | None = field_like(TrainConfig, "eval_samples", None)
    eval_every: int | None = field_like(TrainConfig, "eval_every", None)
    batch_tokens: int | None = field_like(TrainConfig, "batch_tokens", None)
    runs_dir: str = field(default="runs", metadata={"help": "parent folder of runs"})
    seed: int = field_like(TrainConfig, "seed")
    rows_from: str | None = field(default=None, metadata={
        "help": "comma-separated folders of other runs of this comparison (results.json: a run or docs/ folder): "
                "a planned row finished there with the same settings is reused instead of trained (rows trained "
                "on other machines, or in earlier sessions of a long comparison)"})
    seed_runs: str | None = field(default=None, metadata={
        "help": "comma-separated run folders of this comparison with other --seed values (any budget): their "
                "milestone scores add the seeds' mean, spread and band to the budget table and curves"})
    overwrite: bool = field(default=False, metadata={
        "help": "retrain rows made with other settings (deletes them); a row --rows_from holds only with other "
                "settings is trained here"})
    per_task: str | None = field(default=None, metadata={
        "help": "settings of single tasks, as JSON: '{\"samsum\": {\"budget_target_tokens\": 1800000}}'; "
                "for that task they win over every other value"})

    def resolved(self, task_id: str | None = None) -> "CompareConfig":
        """Unset values from the preset; with `task_id`, the preset's settings for that task come first.

        A preset may set some values per task (`per_task`: the demo's summarization rows and
        budget); a value given explicitly applies to every task, and explicit rows (--archs,
        --variants or --rows) replace the preset's rows for every task. --per_task values
        are explicit values of their task alone. A task whose rows nothing names trains the rows of
        its kind (`DEFAULT_ROWS`); one whose budget nothing sets has none here (`budget_from_data`).
        """
        if self.preset in FORMER_NAMES:
            logger.warning("compare preset %r is now called %r", self.preset, FORMER_NAMES[self.preset])
            return replace(self, preset=FORMER_NAMES[self.preset]).resolved(task_id)
        if task_id is not None and (own := self.task_settings().get(task_id)):
            cleared = [group for group in (ROW_FIELDS, BUDGET_FIELDS) if set(own) & set(group)]
            return replace(self, per_task=None, **{key: None for group in cleared for key in group} | own).resolved(task_id)
        defaults = {key: value for key, value in compare_preset(self.preset).items()
                    if key not in PRESET_ONLY}
        if task_id is not None:
            own = dict(compare_preset(self.preset).get("per_task", {}).get(task_id, {}))
            if any(getattr(self, key) is not None for key in ROW_FIELDS):
                own = {key: value for key, value in own.items() if key not in ROW_FIELDS}
            if self.budget_minutes is not None or self.budget_target_tokens is not None:
                own = {key: value for key, value in own.items() if key not in BUDGET_FIELDS}
            defaults.update(own)
        values = asdict(self)
        for key, value in defaults.items():
            if values.get(key) is None:
                values[key] = value
        # An explicit budget of one kind replaces the preset's budget of the other kind.
        if self.budget_target_tokens is not None and self.budget_minutes is None:
            values["budget_minutes"] = None
        if self.budget_minutes is not None and self.budget_target_tokens is None:
            values["budget_target_tokens"] = None
        values["name"] = values["name"] or self.preset
        if task_id is not None and all(values[key] is None for key in ROW_FIELDS):
            values["rows"] = ",".join(DEFAULT_ROWS[get_task(task_id, **{key: values[key] for key in TASK_SETTINGS}).kind])
        if values["rows"] is None:
            values["archs"], values["variants"] = values["archs"] or ",".join(GENERATIONS), values["variants"] or ""
        config = CompareConfig(**values)
        config.validate()
        return config

    def task_settings(self) -> dict[str, dict]:
        """--per_task as {task id: {setting: value}}; raises ConfigError for one that is not that."""
        if not self.per_task:
            return {}
        try:
            settings = json.loads(self.per_task)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--per_task is not JSON ({error})") from None
        allowed = {f.name for f in fields(CompareConfig)} - set(RUN_WIDE)
        if not isinstance(settings, dict) or not all(isinstance(own, dict) for own in settings.values()):
            raise ConfigError('--per_task: give {"TASK": {"SETTING": VALUE, ...}, ...}')
        for task_id, own in settings.items():
            if task_id not in (self.tasks or "").split(","):
                raise ConfigError(f"--per_task names {task_id!r}, which --tasks does not list")
            if unknown := sorted(set(own) - allowed):
                raise ConfigError(f"--per_task {task_id}: {', '.join(unknown)} cannot be set per task "
                                  f"(choose from {', '.join(sorted(allowed))})")
        return settings

    def validate(self) -> None:
        """The settings only compare has; `compare` checks each row's training settings (TrainConfig) too, up front."""
        self.task_settings()
        if self.test_samples is not None and self.test_samples < 0:
            raise ConfigError(f"--test_samples must be at least 0 (0: the whole test split), got {self.test_samples}")
        if not self.tasks:
            raise ConfigError("--tasks is empty: name at least one task")
        if self.rows is None:
            unknown = [arch for arch in self.archs.split(",") if arch not in ARCHS]
            if unknown or not self.archs:
                raise ConfigError(f"--archs {self.archs!r}: choose from {', '.join(ARCHS)}")
        elif not self.rows:
            raise ConfigError("--rows is empty: name at least one row, e.g. lstm or lstm-pointer-generator")
        self.row_specs()  # unknown variants and rows

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    def row_specs(self) -> list[tuple[str, str, dict]]:
        """(row name, arch, TrainConfig overrides) for every model to train (`rows.plan_rows` plans them)."""
        if self.rows is not None:
            return [named_row(name) for name in self.rows.split(",")]
        archs = [a for a in self.archs.split(",") if a]
        rows = [(arch, arch, {}) for arch in archs]
        for item in filter(None, self.variants.split(",")):
            variant, _, only = item.partition(":")
            if variant not in VARIANTS:
                raise ConfigError(f"unknown variant {variant!r}: choose from {', '.join(VARIANTS)}")
            for arch in (only.split("+") if only else archs):
                if arch not in archs:
                    raise ConfigError(f"variant {item!r} names architecture {arch!r}, which --archs does not list")
                if variant in RECURRENT_ONLY and arch not in RECURRENT:
                    continue  # the Transformer stays a stock config: attention is what it is made of, and it does not copy
                if variant in TRANSFORMER_ONLY and arch != "transformer":
                    continue
                rows.append((f"{arch}-{variant}", arch, VARIANTS[variant]))
        return rows

    def row_reasons(self, kind: str) -> dict[str, str]:
        """Why each row is there, where the rows are the defaults of their task's `kind` (`DEFAULT_ROWS`);
        empty where they were named."""
        defaults = DEFAULT_ROWS[kind]
        return dict(defaults) if self.rows == ",".join(defaults) else {}

    @property
    def budget_from_data(self) -> bool:
        """Whether nothing (flags, --per_task, the preset) sets this task's budget: it follows from the corpus
        (`budget.data_budget`)."""
        return not (self.budget_target_tokens or self.budget_minutes)

    def budget(self) -> dict:
        if self.budget_target_tokens:
            return {"kind": "target_tokens", "value": self.budget_target_tokens}
        return {"kind": "minutes", "value": self.budget_minutes}
