"""`lineage compare`: train every architecture on a task under one budget, test, report.

All rows of a task share one tokenizer, one data pipeline, one training loop
(`pipelines.training.train`) and one evaluation, so differences come from the
architecture alone. The budget is fair by construction: the same training
wall-clock minutes or the same number of target tokens for every row.

Layout of `runs/<name>/`:
    <task>/tokenizer-<vocab>/   shared by the task's rows (one per vocabulary size)
    <task>/<row>/               the row's training run (see training.py) plus
        test_predictions.txt, row.json (training summary, test scores, the row's settings)
    models/<task>-<row>/        Hub-ready folder with its model card
    results.json, report.md, *.png

Each finished row is kept in its row.json, so a crash in one architecture
loses nothing else, and re-running the same command resumes: finished rows
are reused and an interrupted one continues from its last checkpoint. Rows
finished by another run of the comparison (another machine, an earlier
session) are reused through --rows_from, which reads only that run's
results.json. A row
is reused only with the settings it was made with (`row_settings`): a
command that changes them (another vocabulary under the same --name) is refused
before anything trains, or with --overwrite retrains the changed rows. A larger
budget (or other milestones, evaluation frequencies) continues each row's run
from its last checkpoint instead, and tests it again; a change in how rows are
tested (the task's decoding settings, the number of test examples) tests the
finished models again without training.
"""

import json
import logging
import os
import platform
import shutil
import traceback
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .architectures import LABELS
from .configs import field_like
from .data import load_test_references
from .errors import ConfigError
from .files import read_json_lines, write_text
from .presets import compare_preset
from .results import Baseline, Milestone, Results, Row, TaskEntry, TaskSummary
from .runs import changes, defining, describe, read_record, run_settings, setting_defaults
from .tasks import TaskSpec, get_task
from .training import MILESTONES, TrainConfig, launch_state, on_main_process, train

logger = logging.getLogger(__name__)

# Extra rows beside the architectures themselves: name suffix -> TrainConfig overrides.
VARIANTS = {
    "word2vec": dict(embeddings="word2vec"),
    "word2vec-frozen": dict(embeddings="word2vec-frozen"),
    "no-attention": dict(attention="none"),
    "pointer-generator": dict(copy_attention=True, coverage=True),
}
# Variants that only apply to the recurrent models.
RECURRENT_ONLY = ("no-attention", "pointer-generator")
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
    "source_language", "target_language", "kind", "source_column", "target_column", "train_samples", "vocab_size",
    "batch_tokens", "budget_minutes", "budget_target_tokens", "milestones", "eval_every", "eval_samples", "seed",
)


def named_row(name: str) -> tuple[str, str, dict]:
    """A row named ARCH or ARCH-VARIANT ("lstm-pointer-generator"): (name, arch, TrainConfig overrides)."""
    arch, _, variant = name.partition("-")
    if arch not in LABELS:
        raise ConfigError(f"row {name!r}: it must start with an architecture ({', '.join(LABELS)})")
    if variant and variant not in VARIANTS:
        raise ConfigError(f"row {name!r}: unknown variant {variant!r}: choose from {', '.join(VARIANTS)}")
    if variant in RECURRENT_ONLY and arch == "transformer":
        raise ConfigError(f"row {name!r}: {variant} applies to the recurrent models only")
    return name, arch, VARIANTS.get(variant, {})




@dataclass
class CompareConfig:
    """What `lineage compare` runs. Unset (None) values come from the compare preset."""

    name: str | None = field(default=None, metadata={"help": "run name: results go to <runs_dir>/<name> (default: the preset)"})
    preset: str = field(default="demo", metadata={"help": "tiny | demo | full (pipelines/presets.py)"})
    tasks: str | None = field(default=None, metadata={"help": "comma-separated benchmarks, e.g. multi30k,dialogsum"})
    archs: str | None = field(default=None, metadata={"help": "comma-separated architectures (default: rnn,lstm,transformer)"})
    variants: str | None = field(default=None, metadata={
        "help": "extra rows: word2vec, word2vec-frozen, no-attention, pointer-generator; "
                "NAME:ARCH+ARCH limits one to some architectures (pointer-generator:lstm)"})
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
    overwrite: bool = field(default=False, metadata={"help": "retrain rows made with other settings (deletes them)"})
    per_task: str | None = field(default=None, metadata={
        "help": "settings of single tasks, as JSON: '{\"samsum\": {\"budget_target_tokens\": 1800000}}'; "
                "for that task they win over every other value"})

    def resolved(self, benchmark: str | None = None) -> "CompareConfig":
        """Unset values from the preset; with `benchmark`, the preset's settings for that task come first.

        A preset may set some values per task (`per_task`: the demo's summarization rows and
        budget); a value given explicitly applies to every task, and explicit rows (--archs,
        --variants or --rows) replace the preset's rows for every task. --per_task values
        are explicit values of their task alone.
        """
        if benchmark is not None and (own := self.task_settings().get(benchmark)):
            cleared = [group for group in (ROW_FIELDS, BUDGET_FIELDS) if set(own) & set(group)]
            return replace(self, per_task=None, **{key: None for group in cleared for key in group} | own).resolved(benchmark)
        defaults = {key: value for key, value in compare_preset(self.preset).items() if key != "per_task"}
        if benchmark is not None:
            own = dict(compare_preset(self.preset).get("per_task", {}).get(benchmark, {}))
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
        if values["rows"] is None:
            values["archs"], values["variants"] = values["archs"] or ",".join(LABELS), values["variants"] or ""
        config = CompareConfig(**values)
        config.validate()
        return config

    def task_settings(self) -> dict[str, dict]:
        """--per_task as {benchmark: {setting: value}}; raises ConfigError for one that is not that."""
        if not self.per_task:
            return {}
        try:
            settings = json.loads(self.per_task)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--per_task is not JSON ({error})") from None
        allowed = {f.name for f in fields(CompareConfig)} - set(RUN_WIDE)
        if not isinstance(settings, dict) or not all(isinstance(own, dict) for own in settings.values()):
            raise ConfigError('--per_task: give {"TASK": {"SETTING": VALUE, ...}, ...}')
        for benchmark, own in settings.items():
            if benchmark not in (self.tasks or "").split(","):
                raise ConfigError(f"--per_task names {benchmark!r}, which --tasks does not list")
            if unknown := sorted(set(own) - allowed):
                raise ConfigError(f"--per_task {benchmark}: {', '.join(unknown)} cannot be set per task "
                                  f"(choose from {', '.join(sorted(allowed))})")
        return settings

    def validate(self) -> None:
        """The settings only compare has; `compare` checks each row's training settings (TrainConfig) too, up front."""
        self.task_settings()
        if self.test_samples is not None and self.test_samples < 0:
            raise ConfigError(f"--test_samples must be at least 0 (0: the whole test split), got {self.test_samples}")
        if not self.tasks:
            raise ConfigError("--tasks is empty: name at least one benchmark")
        if self.rows is None:
            unknown = [arch for arch in self.archs.split(",") if arch not in LABELS]
            if unknown or not self.archs:
                raise ConfigError(f"--archs {self.archs!r}: choose from {', '.join(LABELS)}")
        elif not self.rows:
            raise ConfigError("--rows is empty: name at least one row, e.g. lstm or lstm-pointer-generator")
        self.planned_rows()  # unknown variants and rows

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    def planned_rows(self) -> list[tuple[str, str, dict]]:
        """(row name, arch, TrainConfig overrides) for every model to train."""
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
                if variant in RECURRENT_ONLY and arch == "transformer":
                    continue  # the Transformer stays a stock config: attention is what it is made of, and it does not copy
                rows.append((f"{arch}-{variant}", arch, VARIANTS[variant]))
        return rows

    def budget(self) -> dict:
        if self.budget_target_tokens:
            return {"kind": "target_tokens", "value": self.budget_target_tokens}
        return {"kind": "minutes", "value": self.budget_minutes}


def environment() -> dict:
    """Versions and hardware, for reports and cards."""
    import accelerate
    import datasets
    import torch
    import transformers

    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "datasets": datasets.__version__,
        "device": device,
        "hardware": hardware_description(),
        "torch_threads": torch.get_num_threads(),
        "matmul_gflops": matmul_gflops(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def matmul_gflops(size: int = 512, seconds: float = 1.0) -> float:
    """This machine's fp32 matmul speed with this process's threads: a one-second probe, so a
    reader can relate absolute speeds between machines (the load average says how busy it was)."""
    import time

    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # first call: thread pool and kernel selection
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        a @ b
        calls += 1
    return round(2 * size**3 * calls / elapsed / 1e9, 1)


def hardware_description() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        model = names[0] if names else model
    return f"{os.cpu_count()}-core {platform.machine()} CPU ({model})"


def row_label(arch: str, model_config: dict, embeddings: str) -> str:
    """A readable name: "LSTM + luong-general attention", "RNN + scaled luong-general attention + embedding
    residual", "RNN (no attention), word2vec embeddings"."""
    label = LABELS[arch]
    if arch != "transformer":
        attention = model_config.get("attention", "none")
        scaled = "scaled " if model_config.get("scaled_attention") else ""
        label += " (no attention)" if attention == "none" else f" + {scaled}{attention} attention"
        if model_config.get("source_embedding_residual"):
            label += " + embedding residual"
        copying = [name for name in ("copy_attention", "coverage") if model_config.get(name)]
        if copying:
            label += " + " + " and ".join({"copy_attention": "copy", "coverage": "coverage"}[n] for n in copying)
    if embeddings != "random":
        label += f", {embeddings} embeddings"
    return label


def task_of(config: CompareConfig, benchmark: str) -> TaskSpec:
    return get_task(benchmark, config.source_language, config.target_language, config.kind,
                    config.source_column, config.target_column)


def row_config(config: CompareConfig, benchmark: str, row: str, arch: str, overrides: dict) -> TrainConfig:
    """The row's resolved training settings; raises ConfigError for an invalid one, before any data is loaded."""
    task_dir = config.run_dir / task_of(config, benchmark).name
    shared = {name: getattr(config, name) for name in TRAINING_FIELDS if getattr(config, name) is not None}
    return TrainConfig(
        output_dir=str(task_dir / row), task=benchmark, tokenizer=str(tokenizer_folder(config, benchmark)), arch=arch,
        preset=config.preset, resume=True, **shared, **overrides,
    ).resolved()


def row_settings(config: CompareConfig, task: TaskSpec, train_config: TrainConfig) -> dict:
    """What defines a row: its run's settings (runs.run_settings) and the test it is scored on (how many
    examples, decoded with which settings)."""
    generation = json.loads(json.dumps(task.generation))  # as it reads back from the file
    return {**run_settings(train_config), "test_samples": config.test_samples, "generation": generation}


def settings_of(row: Row) -> dict:
    """A finished row's settings; rows of versions that did not record their decoding settings among them
    have them in their test results."""
    if not row.settings:
        return {}
    return {"generation": row.test.get("generation"), **row.settings}


def recorded_row_settings(folder: Path, planned: dict) -> dict | None:
    """The settings a row folder was made with: row.json's once tested, else its run's run.json; None if new."""
    if (folder / "row.json").exists():
        return settings_of(Row.load(folder / "row.json"))
    record = read_record(folder)
    return None if record is None else {**record["settings"], **{name: planned[name] for name in TEST_FIELDS}}


def claim_rows(rows: list[tuple], overwrite: bool) -> None:
    """Refuse (or with `overwrite` delete, to retrain) the rows whose folders were made with other settings;
    continue the rows whose only change is one a run may resume with, such as a larger budget.

    `rows` holds `train_row`'s arguments for every planned row. Called before
    anything trains, so a changed setting never reuses an old row nor mixes old
    rows with new ones in a report. A row to continue loses its test results
    (row.json, its model folder), keeps its run, and `train_row` resumes that run
    from its last checkpoint and tests it again.
    """
    stale = {}
    for config, benchmark, row, arch, overrides in rows:
        train_config = row_config(config, benchmark, row, arch, overrides)
        folder, planned = Path(train_config.output_dir), row_settings(config, task_of(config, benchmark), train_config)
        recorded = recorded_row_settings(folder, planned)
        if recorded == {}:
            stale[folder] = "its row.json records no settings (written by an older Lineage version)"
        elif recorded is not None and (changed := changes(recorded, planned, setting_defaults(train_config))):
            if continues(changed, planned):
                logger.info("%s/%s: continuing its run (%s)", folder.parent.name, row, describe(changed))
                (folder / "row.json").unlink(missing_ok=True)
                shutil.rmtree(config.run_dir / "models" / f"{folder.parent.name}-{row}", ignore_errors=True)
                continue
            stale[folder] = describe(changed)
        if folder in stale and overwrite:
            logger.warning("%s/%s: made with other settings (%s): training it again", folder.parent.name, row,
                           stale[folder])
            shutil.rmtree(folder)
            shutil.rmtree(config.run_dir / "models" / f"{folder.parent.name}-{row}", ignore_errors=True)
    if stale and not overwrite:
        by_change = {}
        for folder, what in stale.items():
            by_change.setdefault(what, []).append(f"{folder.parent.name}/{folder.name}")
        raise ConfigError(
            "rows made with other settings: " + "; ".join(f"{', '.join(names)} ({what})" for what, names in by_change.items())
            + ". Use another --name, or --overwrite true to train them again (deletes them)"
        )


def continues(changed: dict, planned: dict) -> bool:
    """Whether a row with these setting changes is its old run continued (and tested again): only settings
    a run may resume with (runs.MAY_CHANGE, unless the schedule reads them) or how it is tested changed,
    and no budget shrank."""
    if set(changed) & (set(defining(planned)) - set(TEST_FIELDS)):
        return False
    budgets = [(old, new) for name, (old, new) in changed.items() if name in BUDGET_FIELDS]
    return all(old is not None and new is not None and new >= old for old, new in budgets)


def train_row(config: CompareConfig, benchmark: str, row: str, arch: str, overrides: dict) -> Row:
    """Train one row (resuming if interrupted), test its best model, and return its results entry."""
    task = task_of(config, benchmark)
    train_config = row_config(config, benchmark, row, arch, overrides)
    finished = Path(train_config.output_dir) / "row.json"
    if finished.exists():
        logger.info("%s/%s: finished earlier, reusing %s", task.name, row, finished)
        return with_evaluations(Row.load(finished), finished.parent)
    training = train(train_config)
    return on_main_process(score_row, config, task, row, train_config, training)


def score_row(config: CompareConfig, task: TaskSpec, row: str, train_config: TrainConfig, training: dict) -> Row:
    """Score a trained row's best model on the test split, save its Hub-ready folder and row.json, return its entry."""
    from transformers import AutoModelForSeq2SeqLM

    from models import save_model_folder
    from .evaluation import evaluate_model
    from .tokenizer import load_tokenizer

    row_dir = Path(train_config.output_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(row_dir / "best")
    tokenizer = load_tokenizer(row_dir / "best")
    sources, references = load_test_references(task)
    if config.test_samples:
        sources, references = sources[: config.test_samples], references[: config.test_samples]
    logger.info("%s/%s: testing the best model (step %s) on %d examples",
                task.name, row, training["best_step"], len(sources))
    test = evaluate_model(model, tokenizer, task, sources, references, predictions_file=row_dir / "test_predictions.txt")
    predictions = test.pop("predictions")

    model_config = {k: v for k, v in model.config.to_dict().items() if k in MODEL_CONFIG_KEYS}
    entry = Row(
        settings=row_settings(config, task, train_config),
        arch=train_config.arch,
        label=row_label(train_config.arch, model_config, train_config.embeddings),
        model_config=model_config,
        embeddings=train_config.embeddings,
        parameters=training["parameters"],
        training={
            **{k: training[k] for k in ("steps", "epochs", "train_seconds", "target_tokens", "target_tokens_per_second",
                                        "best_step", "best_metric", "stop_reason", "num_processes", "device")},
            **{k: getattr(train_config, k) for k in ("learning_rate", "schedule", "warmup_steps", "batch_tokens",
                                                     "label_smoothing", "dropout", "seed", "size")},
        },
        test=test,
        examples=predictions[:EXAMPLES],
        folder=f"models/{task.name}-{row}",
        milestones=test_milestones(row_dir, task, sources, references, tested={training["best_step"]: test}),
        evaluations=evaluations(row_dir),
    )
    save_model_folder(model, tokenizer, config.run_dir / entry.folder)
    entry.save(row_dir / "row.json")
    return entry


EXAMPLES = 5


def evaluations(row_dir: Path) -> list[dict]:
    """The validation evaluations a row's run logged during training."""
    log = row_dir / "log.jsonl"
    return [event for event in read_json_lines(log) if event["event"] == "eval"] if log.exists() else []


def with_evaluations(entry: Row, row_dir: Path) -> Row:
    """`entry` with its run's validation evaluations, which row.json files of earlier versions lack."""
    return entry if entry.evaluations else replace(entry, evaluations=evaluations(row_dir))


def other_runs(option: str, folders: str | None, hint: str) -> list[tuple[str, Results]]:
    """(folder, its results.json) for each comma-separated folder of --`option`; ConfigError, with `hint`,
    for one without results.json."""
    runs = []
    for folder in filter(None, (folders or "").split(",")):
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise ConfigError(f"--{option}: {path} not found: {hint}")
        runs.append((folder, Results.load(path)))
    return runs


def import_rows(config: CompareConfig, rows: list[tuple]) -> None:
    """Write row.json, for each planned row not begun here, from the first run of --rows_from that finished
    it with the planned settings (a reused row must be the row this run would train).

    Raises ConfigError, before anything trains, for a folder without results.json, or a planned row that
    the folders hold only with other settings. The reused row keeps its scores, milestones and
    validation curve; its model folder stays in the run that trained it (`trained_in`).
    """
    others = other_runs("rows_from", config.rows_from, "give the folder of a finished comparison")
    taken = []
    for row_args in rows:
        task_config, benchmark, row = row_args[:3]
        train_config = row_config(*row_args)
        task, row_dir = task_of(task_config, benchmark), Path(train_config.output_dir)
        name, planned = task.name, row_settings(task_config, task, train_config)
        found = [(folder, other.tasks[name].models[row]) for folder, other in others
                 if name in other.tasks and row in other.tasks[name].models]
        differ = [changes(settings_of(theirs), planned, setting_defaults(train_config)) for _, theirs in found]
        same = [entry for entry, changed in zip(found, differ) if not changed]
        if found and not same:
            raise ConfigError(f"--rows_from: {found[0][0]}'s {name}/{row} was made with other settings "
                              f"({describe(differ[0])})")
        if same and not row_dir.exists():  # a row finished or begun here (or taken earlier) stays this run's own
            taken.append((name, row, row_dir, *same[0]))
    for name, row, row_dir, folder, theirs in taken:
        logger.info("%s/%s: reusing the row finished in %s", name, row, folder)
        reused = with_evaluations(theirs, Path(folder) / name / row)
        row_dir.mkdir(parents=True)
        replace(reused, folder=None, trained_in=reused.trained_in or str(folder)).save(row_dir / "row.json")


def test_milestones(row_dir: Path, task: TaskSpec, sources: list[str], references: list[list[str]],
                    tested: dict[int, dict]) -> list[Milestone]:
    """The models a row's run kept at its milestones, tested as the row's best model is: the model at the
    milestone, and the best one so far by validation.

    `tested` maps a training step to the test scores of its weights (the row's best model, at first);
    a kept folder holds the weights of one step, so each step is decoded once, however many milestones
    and folders hold it.
    """
    from transformers import AutoModelForSeq2SeqLM

    from .evaluation import evaluate_model
    from .tokenizer import load_tokenizer

    def scores(folder: Path, step: int) -> dict:
        if step not in tested:
            model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(folder), load_tokenizer(folder)
            tested[step] = evaluate_model(model, tokenizer, task, sources, references, show_progress=False)
        return {key: value for key, value in tested[step].items()
                if key not in ("predictions", "by_source_length")}

    kept = sorted((row_dir / MILESTONES).glob("*/milestone.json"), key=lambda path: int(path.parent.name))
    milestones = []
    for record in kept:
        milestone = Milestone.from_dict(json.loads(record.read_text()))
        logger.info("%s/%s: testing the models kept at %s target tokens", task.name, row_dir.name, f"{milestone.milestone:,}")
        milestone.test = scores(record.parent / "model", milestone.step)
        milestone.best_test = scores(record.parent / "best", milestone.best_step)
        milestones.append(milestone)
    return milestones


def score_baselines(task: TaskSpec, tokenizer_dir: Path, sources: list[str], references: list[list[str]]) -> dict[str, Baseline]:
    """LEAD-3 and LONGEST-3 on the test examples, scored like the models (summarization tasks only)."""
    from .baselines import BASELINES, LABELS, extract
    from .evaluation import score_outputs
    from .tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    entries = {}
    for name in BASELINES:
        outputs = extract(name, sources)
        entries[name] = Baseline(label=LABELS[name], test=score_outputs(task, tokenizer, sources, outputs, references),
                                 examples=outputs[:EXAMPLES])
    return entries
MODEL_CONFIG_KEYS = (
    "model_type", "vocab_size", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "bidirectional",
    "attention", "scaled_attention", "source_embedding_residual", "input_feeding", "copy_attention", "coverage",
    "coverage_loss_weight", "cell", "d_model", "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim",
    "decoder_ffn_dim", "max_position", "max_position_embeddings", "tie_word_embeddings",
)


def task_summary(task: TaskSpec) -> TaskSummary:
    return TaskSummary(
        name=task.name, kind=task.kind, dataset=task.dataset, source_language=task.source_language,
        target_language=task.target_language, license=task.license, metrics=list(task.metrics),
        main_metric=task.main_metric, dataset_config=task.dataset_config, multiref_config=task.multiref_config,
        test_split=f"{task.splits['test']} ({task.test_description})",
    )


def tokenizer_folder(config: CompareConfig, benchmark: str) -> Path:
    """The task's shared tokenizer, one per vocabulary size: a changed --vocab_size never reuses another's."""
    return config.run_dir / task_of(config, benchmark).name / f"tokenizer-{config.vocab_size}"


def prepare_tokenizer(config: CompareConfig, benchmark: str) -> Path:
    """The task's shared tokenizer folder, trained on its whole training split if not there yet."""
    from .data import load_splits
    from .tokenizer import save_tokenizer, train_tokenizer

    task, folder = task_of(config, benchmark), tokenizer_folder(config, benchmark)
    if not (folder / "tokenizer.json").exists():
        logger.info("%s: training the shared tokenizer", task.name)
        train_split = load_splits(task, ("train",))["train"]
        texts = list(train_split[task.source_column]) + list(train_split[task.target_column])
        save_tokenizer(train_tokenizer(texts, config.vocab_size), folder)
    return folder


def compare(config: CompareConfig) -> Results:
    """Run the comparison; returns the results also written to results.json.

    Under `accelerate launch` every process trains each row (DDP); the main process
    alone trains the tokenizers, tests the rows and writes the results.
    """
    general = config.resolved()
    by_task = {benchmark: config.resolved(benchmark) for benchmark in general.tasks.split(",")}
    rows = [(task_config, benchmark, *row) for benchmark, task_config in by_task.items()
            for row in task_config.planned_rows()]
    on_main_process(import_rows, general, rows)
    on_main_process(claim_rows, rows, general.overwrite)
    other_seeds = seed_rows(general, rows)
    run_dir = general.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    for benchmark, config in by_task.items():
        on_main_process(prepare_tokenizer, config, benchmark)
    on_main_process(announce, rows)
    results = Results(name=general.name, preset=general.preset, config=asdict(general), environment=environment())
    for benchmark, config in by_task.items():
        task = task_of(config, benchmark)
        task_dir = run_dir / task.name
        sources, references = load_test_references(task)
        limit = config.test_samples or len(sources)
        entry = TaskEntry(task=task_summary(task), budget=config.budget(), test_sources=sources[:EXAMPLES],
                          test_references=references[:EXAMPLES], test_count=min(limit, len(sources)))
        if task.kind == "summarization":
            entry.baselines = on_main_process(
                score_baselines, task, tokenizer_folder(config, benchmark), sources[:limit], references[:limit]
            )
        for row, arch, overrides in config.planned_rows():
            try:
                entry.models[row] = train_row(config, benchmark, row, arch, overrides)
            except Exception as error:  # one architecture failing must not lose the others
                logger.error("%s/%s failed: %s", task.name, row, error)
                entry.errors[row] = "".join(traceback.format_exception_only(error)).strip()
                if launch_state().is_main_process:
                    (task_dir / row).mkdir(parents=True, exist_ok=True)
                    write_text(task_dir / row / "error.txt", traceback.format_exc())
        entry.other_seeds = {row: found for (name, row), found in other_seeds.items() if name == task.name}
        results.tasks[task.name] = entry
        on_main_process(results.save, run_dir / "results.json")
    on_main_process(write_outputs, run_dir, results)
    return results


def seed_rows(config: CompareConfig, rows: list[tuple]) -> dict[tuple[str, str], list[Row]]:
    """The planned rows' runs with other seeds in the comparisons of --seed_runs, by (task name, row).

    Raises ConfigError, before anything trains, for a run folder without results.json, or a row there
    that differs from the planned one in more than its seed (budgets, milestones and evaluation
    frequencies may differ: they do not change how a model trains).
    """
    found = {}
    for folder, other in other_runs("seed_runs", config.seed_runs, "run that comparison with another --seed first"):
        for row_args in rows:
            task_config, benchmark, row = row_args[:3]
            train_config = row_config(*row_args)
            task = task_of(task_config, benchmark)
            entry = other.tasks.get(task.name)
            theirs = entry.models.get(row) if entry else None
            if theirs is None:
                continue
            differ = changes(defining(settings_of(theirs)), defining(row_settings(task_config, task, train_config)),
                             setting_defaults(train_config))
            if "seed" not in differ:
                raise ConfigError(f"--seed_runs: {folder} trained {entry.task.name}/{row} with seed {train_config.seed}, "
                                  "as this run does: give runs of other seeds")
            del differ["seed"]
            if differ:
                raise ConfigError(f"--seed_runs: {folder}'s {entry.task.name}/{row} differs in more than its seed "
                                  f"({describe(differ)})")
            found.setdefault((entry.task.name, row), []).append(theirs)
    return found


def announce(rows: list[tuple]) -> float:
    """Print how many models the comparison trains and how long it will take (measured warm-up, estimate.py);
    returns the estimated seconds."""
    from .estimate import estimate_row
    from .tokenizer import load_tokenizer

    todo = [(row, train_config) for row in rows
            if not (Path((train_config := row_config(*row)).output_dir) / "row.json").exists()]
    seconds, to_test = 0.0, 0
    for (config, benchmark, row, arch, overrides), train_config in todo:
        sources, _ = load_test_references(task_of(config, benchmark))
        sources = sources[: config.test_samples or len(sources)]
        estimate = estimate_row(train_config, load_tokenizer(train_config.tokenizer), sources)
        left = budget_left(train_config)
        training, evaluations = left * estimate.training, left * estimate.evaluations
        to_test += left == 0
        logger.info("%s/%s: about %.1f min (training %.1f, evaluations %.1f, test %.1f)", benchmark, row,
                    (training + evaluations + estimate.test) / 60, training / 60, evaluations / 60, estimate.test / 60)
        seconds += training + evaluations + estimate.test
    to_train = len(todo) - to_test
    tested = f", {to_test} to test again" if to_test else ""
    reused = f"; {len(rows) - len(todo)} finished earlier, reused" if len(todo) < len(rows) else ""
    print(f"lineage compare: {to_train} model{'s' * (to_train != 1)} to train{tested}{reused}; estimated "
          f"{seconds / 60:.1f} min on this machine (from a warm-up of a few steps and decodes per model)", flush=True)
    return seconds


def budget_left(train_config: TrainConfig) -> float:
    """The share of a row's budget its run has still to train, from the progress of its last logged
    evaluation (a run evaluates when its budget ends): 1 for a new run, 0 for one that only needs testing."""
    logged = evaluations(Path(train_config.output_dir))
    if not logged or not (train_config.budget_target_tokens or train_config.budget_minutes):
        return 1.0
    if train_config.budget_target_tokens:
        done = logged[-1]["target_tokens"] / train_config.budget_target_tokens
    else:
        done = logged[-1]["train_seconds"] / (60 * train_config.budget_minutes)
    return max(0.0, 1.0 - done)


def write_outputs(run_dir: Path, results: Results) -> None:
    """The model cards, report.md with its plots, and the final results.json."""
    from .hub.cards import write_cards
    from .report import write_report

    write_cards(run_dir, results)
    write_report(results, run_dir)
    results.save(run_dir / "results.json")
