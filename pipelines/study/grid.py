"""The study's grid: its settings, its cells (one compare row each) and what the questions read of them."""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..comparison.config import VARIANTS, CompareConfig
from ..comparison.presets import compare_preset
from ..comparison.rows import PlannedRow, plan_row, task_of
from ..comparison.running import train_row
from ..errors import ConfigError
from ..models.architectures import GENERATIONS, RECURRENT
from ..report.results import Row, SpeedResults
from ..report.stats import pooled_std, summary
from ..training.config import milestone_tokens
from ..training.distributed import on_main_process
from ..training.presets import preset
from ..training.runs import MILESTONES, current_names
from .presets import FORMER_NAMES, study_preset

logger = logging.getLogger(__name__)

# The recurrent generations: the study trains them without attention too.
RECURRENT_GENERATIONS = tuple(arch for arch in GENERATIONS if arch in RECURRENT)


@dataclass
class StudyConfig:
    """What `lineage study` runs; the grid and budgets come from the study preset (presets.py)."""

    name: str | None = field(default=None, metadata={"help": "results go to <runs_dir>/<name> (default: study-<preset>)"})
    preset: str = field(default="cpu", metadata={"help": "test | cpu | gpu (pipelines/study/presets.py)"})
    seeds: str | None = field(default=None, metadata={"help": "comma-separated seeds of the quality cells (default: the preset's)"})
    speed_results: str | None = field(default=None, metadata={"help": "a speed measurement's JSON (benchmarks/speed.py) to use instead of measuring"})
    runs_dir: str = field(default="runs", metadata={"help": "parent folder of runs"})
    overwrite: bool = field(default=False, metadata={"help": "retrain cells made with other settings (deletes them)"})

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / (self.name or f"study-{self.preset}")


@dataclass(frozen=True)
class Cell:
    """One trained and tested model of the study."""

    task: str  # the task id, e.g. "multi30k"
    arch: str
    variant: str = ""  # "" or a comparison.config.VARIANTS key
    samples: int | None = None  # training pairs (None: the whole training split)
    seed: int = 0
    # A question with a budget of its own (its budget, milestones and evaluation interval per task:
    # `budget_spec`), e.g. "components"; "": the task's budget, shared by the other questions.
    question: str = ""

    @property
    def row(self) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        question = f"-{self.question}" if self.question else ""
        return f"{self.arch}{variant}-n{self.samples or 'all'}-s{self.seed}{question}"


def settings_of(config: StudyConfig) -> dict:
    """The study preset's settings, with the seeds of --seeds."""
    name = FORMER_NAMES.get(config.preset, config.preset)
    if name != config.preset:
        logger.warning("study preset %r is now called %r", config.preset, name)
    settings = dict(study_preset(name))
    if config.seeds:
        try:
            settings["seeds"] = tuple(int(s) for s in config.seeds.split(","))
        except ValueError:
            raise ConfigError(f"--seeds {config.seeds!r}: give comma-separated integers, e.g. 0,1,2") from None
    return settings


def role_of(settings: dict, role: str) -> str:
    """The task playing `role` ("translation" or "summarization")."""
    return next(task for task, spec in settings["tasks"].items() if spec["role"] == role)


def planned_cells(settings: dict) -> list[Cell]:
    """Every cell the study trains, each once, in the order they run."""
    seeds, sweep = settings["seeds"], settings["sweep_seeds"]
    translation = role_of(settings, "translation")
    cells = [Cell(task, arch, seed=seed) for task in settings["tasks"] for arch in GENERATIONS for seed in seeds]
    cells += [Cell(translation, arch, "no-attention", seed=seed) for arch in RECURRENT_GENERATIONS for seed in sweep]
    cells += [Cell(task, arch, samples=n, seed=seed) for task, spec in settings["tasks"].items()
              for n in spec["data_sizes"] for arch in GENERATIONS for seed in sweep]
    cells += [Cell(translation, arch, variant, samples=n, seed=seed) for n in settings["word2vec_sizes"]
              for variant in ("word2vec", "word2vec-frozen") for arch in GENERATIONS for seed in sweep]
    cells += [cell for task, spec in settings["components"]["tasks"].items()
              for cell in component_cells(settings, task, spec["variants"])]
    return list(dict.fromkeys(cells))


def component_cells(settings: dict, task_id: str, variants: tuple[str, ...]) -> list[Cell]:
    """The components question's cells of a task: the stock Transformer and `variants` of it (transformer
    variants of comparison.config.VARIANTS), each with every seed, at the question's own budget."""
    return [Cell(task_id, "transformer", variant, seed=seed, question="components")
            for variant in ("", *variants) for seed in settings["components"]["seeds"]]


def budget_spec(settings: dict, task_id: str, question: str = "") -> dict:
    """The budget (target tokens), milestones and evaluation interval of a task's cells: the task's own, or
    those `question` sets for it."""
    return settings[question]["tasks"][task_id] if question else settings["tasks"][task_id]


def compare_config(config: StudyConfig, settings: dict, cell: Cell) -> CompareConfig:
    spec, budget = settings["tasks"][cell.task], budget_spec(settings, cell.task, cell.question)
    return CompareConfig(
        name=config.run_dir.name, preset=settings["compare"], runs_dir=str(config.run_dir.parent), tasks=cell.task,
        budget_target_tokens=budget["budget_target_tokens"], train_samples=cell.samples,
        test_samples=spec["test_samples"], vocab_size=settings["vocab_size"], eval_samples=settings["eval_samples"],
        eval_every=budget["eval_every"], batch_tokens=settings["batch_tokens"], seed=cell.seed,
        milestones=budget.get("milestones", ""),
    ).resolved()


def cell_dir(config: StudyConfig, settings: dict, cell: Cell) -> Path:
    """The cell's compare row folder: <run>/<task>/<row>."""
    compare = compare_config(config, settings, cell)
    return compare.run_dir / task_of(compare, cell.task).name / cell.row


def cell_row(config: StudyConfig, settings: dict, cell: Cell) -> PlannedRow:
    """The compare row that trains `cell`."""
    overrides = dict(patience=settings["patience"], **VARIANTS.get(cell.variant, {}))
    if cell.variant.startswith("word2vec"):
        # One word2vec model per (data, seed), shared by the cell's architectures and both variants.
        folder = cell_dir(config, settings, cell).parent
        overrides["word2vec"] = str(folder / f"word2vec-n{cell.samples or 'all'}-s{cell.seed}.kv")
    return plan_row(compare_config(config, settings, cell), cell.task, cell.row, cell.arch, overrides)


def model_size(settings: dict) -> str:
    """The size of the study's models: that of the training preset its compare preset names (study.json files
    of earlier versions name the training preset itself, under its former name)."""
    training = compare_preset(settings["compare"])["training"] if "compare" in settings else settings["training"]
    return preset(current_names({"preset": training})["preset"], GENERATIONS[0])["size"]


def run_cell(row: PlannedRow, test_set: tuple[list, list]) -> Row:
    """Train and test one cell's row (reusing a finished one) on `test_set`; returns its compare row entry."""
    entry = train_row(row, test_set)
    on_main_process(drop_weights, row.folder)
    return entry


def drop_weights(folder: Path) -> None:
    """A tested cell's checkpoints and milestone models: its row.json holds their scores, `best/` stays."""
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)
    for kept in (folder / MILESTONES).glob("*/*"):
        if kept.is_dir():
            shutil.rmtree(kept)


class Grid:
    """Finished cells and what the sections need to read them."""

    def __init__(self, config: StudyConfig, settings: dict, entries: dict[Cell, Row], speed: SpeedResults):
        self.config, self.settings, self.entries, self.speed = config, settings, entries, speed
        self.tasks = {task_id: task_of(compare_config(config, settings, Cell(task_id, "rnn")), task_id)
                      for task_id in settings["tasks"]}

    def metric(self, task_id: str) -> str:
        return self.tasks[task_id].main_metric

    def scores(self, cells: list[Cell]) -> dict:
        return summary([self.entries[c].test[self.metric(c.task)] for c in cells])

    def budgets(self, task_id: str, question: str = "") -> list[int]:
        """The task's milestones (target tokens), or those `question` sets for it: the budgets its cells were
        also tested at."""
        return milestone_tokens(budget_spec(self.settings, task_id, question).get("milestones"))

    def scores_by_budget(self, cells: list[Cell]) -> list[dict | None]:
        """Per milestone of the cells' task (and question), the summary over the cells of their best model's
        test metric there (None where a cell lacks that milestone)."""
        metric, task = self.metric(cells[0].task), cells[0].task
        found = [{m.milestone: m.best_test.get(metric) for m in self.entries[c].milestones} for c in cells]
        return [summary([f[b] for f in found]) if all(f.get(b) is not None for f in found) else None
                for b in self.budgets(task, cells[0].question)]

    def seeds(self, task_id: str, arch: str, variant: str = "", samples: int | None = None, sweep: bool = False) -> list[Cell]:
        seeds = self.settings["sweep_seeds" if sweep else "seeds"]
        return [Cell(task_id, arch, variant, samples, seed) for seed in seeds]

    def first(self, task_id: str, arch: str) -> Cell:
        """The full-data cell of the first seed: the model that sections 3, 6 and 7 probe."""
        return self.seeds(task_id, arch)[0]

    def noise(self, task_id: str) -> float | None:
        return pooled_std([self.scores(self.seeds(task_id, arch)) for arch in GENERATIONS])

    def model_dir(self, cell: Cell) -> Path:
        return cell_dir(self.config, self.settings, cell) / "best"

    def train_size(self, task_id: str) -> int:
        """Training pairs of the full-data cells (the compare preset may cap them, as `test` does)."""
        from ..data.loading import load_splits

        available = len(load_splits(self.tasks[task_id], ("train",))["train"])
        cap = compare_config(self.config, self.settings, Cell(task_id, "rnn")).train_samples
        return min(cap or available, available)
