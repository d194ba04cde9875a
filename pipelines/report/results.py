"""The files that carry measurements between commands, as dataclasses.

- `Row`: one trained and tested model of a comparison (its `row.json`, and
  its entry in results.json), with its `Milestone`s. A study cell is a row too.
- `TaskEntry`: one task of a comparison: what the task is (`TaskSummary`),
  its rows, the rows that failed, the baselines that learn nothing, and the
  first test examples.
- `Results`: results.json, which `lineage compare` writes and the report,
  the model cards, publishing, the app and the Space read.
- `SpeedResults`: one JSON of the speed benchmark (benchmarks/speed.py),
  which the study reads.

Each has `load(path)` and `save(path)` (atomic, through pipelines/files.py)
and reads and writes the JSON shape the project has always written, so the
files committed under docs/ and benchmarks/results/ load as they are. Score
dicts (`Row.test`, `Row.training`) stay dicts: their keys are the task's
metric vocabulary (`tasks.SCORES`) and the training summary's fields. A key
that a type does not know is an error, so a file of another shape fails
when it is read, not later in whichever reader first misses a field.
"""

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..data.tasks import MAIN_METRIC
from ..files import write_json


def current_size(name: str) -> str:
    """A model size by today's name."""
    from ..models.sizes import FORMER_NAMES  # here, not at the top: the statistics load without torch

    return FORMER_NAMES.get(name, name)


def known_fields(cls, data: dict) -> dict:
    """`data` as keyword arguments of dataclass `cls`; raises ValueError for a key `cls` has no field for."""
    unknown = set(data) - {item.name for item in fields(cls)}
    if unknown:
        raise ValueError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    return dict(data)


class JsonFile:
    """`load` and `save` for a dataclass stored as one JSON object."""

    @classmethod
    def from_dict(cls, data: dict):
        return cls(**known_fields(cls, data))

    @classmethod
    def load(cls, path: str | Path):
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())


@dataclass(kw_only=True)
class Milestone(JsonFile):
    """A row's training run at one target-token milestone (lineage.training.loop.keep_milestones), tested like the row."""

    milestone: int  # the milestone's target tokens
    step: int
    target_tokens: int  # reached at that step (the milestone or a little more)
    train_seconds: float
    best_step: int | None = None
    best_metric: float | None = None  # validation main metric of the best model so far
    test: dict = field(default_factory=dict)  # the model at the milestone: test scores (tasks.SCORES keys)
    best_test: dict = field(default_factory=dict)  # the best model so far by validation: what a row of that budget tests


@dataclass(kw_only=True)
class Row(JsonFile):
    """One trained and tested model: row.json, and the entry of results.json's task "models"."""

    settings: dict | None = None  # what defines the row (comparison.rows.PlannedRow.settings); None in files of early versions
    arch: str
    label: str | None = None
    model_config: dict = field(default_factory=dict)
    embeddings: str = "random"
    parameters: int | None = None
    training: dict = field(default_factory=dict)  # the training summary and the settings it ran with
    test: dict = field(default_factory=dict)  # test scores (tasks.SCORES keys), by_source_length, speed, generation
    examples: list[str] = field(default_factory=list)  # outputs for the first test sources
    folder: str | None = None  # the Hub-ready model folder, relative to the run folder; None: not in this run
    milestones: list[Milestone] = field(default_factory=list)  # by target tokens, ascending
    evaluations: list[dict] = field(default_factory=list)  # the validation evaluations during training (log.jsonl)
    trained_in: str | None = None  # the comparison it was trained in, when this one reused it (--rows_from)

    @classmethod
    def from_dict(cls, data: dict) -> "Row":
        values = known_fields(cls, data)
        values["milestones"] = [Milestone.from_dict(m) for m in values.get("milestones", [])]
        return cls(**values)


@dataclass(kw_only=True)
class Baseline(JsonFile):
    """A summarizer that learns nothing (pipelines/evaluation/baselines.py), scored like the rows."""

    label: str
    test: dict
    examples: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class TaskSummary(JsonFile):
    """What a task entry's task is (comparison.running.task_summary)."""

    name: str
    kind: str
    dataset: str
    source_language: str | None = None
    target_language: str | None = None
    license: str | None = None
    metrics: list[str] = field(default_factory=list)  # its `evaluate` modules
    main_metric: str | None = None
    dataset_config: str | None = None
    multiref_config: str | None = None
    test_split: str | None = None  # "test (test2016 flickr, 1 reference)"

    def __post_init__(self):
        self.main_metric = self.main_metric or MAIN_METRIC[self.kind]


@dataclass(kw_only=True)
class TaskEntry(JsonFile):
    """One task of a comparison."""

    task: TaskSummary
    models: dict[str, Row] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # row -> the one-line error it failed with
    baselines: dict[str, Baseline] = field(default_factory=dict)
    test_sources: list[str] = field(default_factory=list)  # the first test examples
    test_references: list[list[str]] = field(default_factory=list)
    test_count: int | None = None
    # Per model, {"kind": "minutes" | "target_tokens", "value": ...}, and "from_data" where the corpus set it
    # (lineage.comparison.budget.DataBudget); None: the run's.
    budget: dict | None = None
    row_reasons: dict[str, str] = field(default_factory=dict)  # row -> why it is there, for the default rows of a kind
    # What the shared tokenizer learned from (lineage.data.tokenizer.learned_from); None: not recorded.
    tokenizer_sample: dict | None = None
    other_seeds: dict[str, list[Row]] = field(default_factory=dict)  # row -> its runs with other seeds (--seed_runs)

    @classmethod
    def from_dict(cls, data: dict) -> "TaskEntry":
        values = known_fields(cls, data)
        values["task"] = TaskSummary.from_dict(values["task"])
        values["models"] = {key: Row.from_dict(row) for key, row in values.get("models", {}).items()}
        values["other_seeds"] = {key: [Row.from_dict(row) for row in rows]
                                 for key, rows in values.get("other_seeds", {}).items()}
        values["baselines"] = {key: Baseline.from_dict(row) for key, row in values.get("baselines", {}).items()}
        return cls(**values)


@dataclass(kw_only=True)
class Results(JsonFile):
    """results.json of a `lineage compare` run."""

    name: str | None = None
    preset: str | None = None
    config: dict = field(default_factory=dict)  # the resolved CompareConfig
    environment: dict = field(default_factory=dict)  # versions and hardware (lineage.environment.describe_machine)
    budget: dict | None = None  # one budget for every task: results files before per-task budgets
    tasks: dict[str, TaskEntry] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "Results":
        values = known_fields(cls, data)
        values["tasks"] = {name: TaskEntry.from_dict(entry) for name, entry in values.get("tasks", {}).items()}
        return cls(**values)

    def task(self, name: str) -> TaskEntry:
        """The entry of task `name`; a KeyError that names the tasks there are."""
        if name not in self.tasks:
            raise KeyError(f"results have no task {name!r}: they have {', '.join(self.tasks)}")
        return self.tasks[name]

    def budget_of(self, name: str) -> dict:
        """Task `name`'s training budget per model."""
        return self.task(name).budget or self.budget

    def rows(self, with_model: bool = False):
        """(task name, row key, row) for every row of every task; `with_model`: those whose model folder
        is in this run (not the rows reused from another comparison)."""
        return [(name, key, row) for name, entry in self.tasks.items() for key, row in entry.models.items()
                if row.folder or not with_model]


@dataclass(kw_only=True)
class SpeedResults(JsonFile):
    """One speed benchmark JSON (benchmarks/speed.py); `methods` says how each number is measured.

    On disk, per-model values are keyed "<size>/<model>" ("demo/lstm-luong-general"); the
    methods below read them by size and model, so no reader splits those keys itself.
    """

    benchmark: str = "lineage-speed"
    date: str
    started_at: str
    environment: dict
    settings: dict
    methods: dict
    models: dict  # "<size>/<model>" -> parameters, config, FLOPs per target token
    training: list[dict]  # one row per (size, length, model)
    ceiling: dict
    decoding: list[dict]  # one row per (size, model, beams, batch, cache, length)
    cache_speedup: dict
    summary: dict
    total_seconds: float
    part_seconds: dict
    result_path: str | None = None
    plot_path: str | None = None

    def sizes(self) -> list[str]:
        """The model sizes measured, by today's names (files of earlier versions say "demo" for "small")."""
        return list(dict.fromkeys(current_size(key.split("/", 1)[0]) for key in self.models))

    def training_tokens_per_second(self, size: str | None = None) -> dict[str, dict[str, float | None]]:
        """model -> {length (a string, as in the JSON): training target tokens/s}, of `size` (None: every size)."""
        found = {}
        for key, by_length in self.summary["training_tokens_per_second"].items():
            model_size, model = key.split("/", 1)
            if size is None or current_size(model_size) == size:
                found[model] = by_length
        return found

    def greedy_seconds(self, size: str | None = None) -> dict[str, dict[str, float]]:
        """model -> {length: seconds} of cached greedy decoding of one sentence, of `size` (None: every size)."""
        found = {}
        for row in self.decoding:
            if (row["num_beams"] == 1 and row["batch_size"] == 1 and row["use_cache"] and row["seconds"]
                    and (size is None or current_size(row["size"]) == size)):
                found.setdefault(row["model"], {})[str(row["length"])] = row["seconds"]
        return found
