"""The study's grid: its settings, its cells (one compare row each) and what the questions read of them."""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..architectures import ARCHS, RECURRENT
from ..compare import VARIANTS, CompareConfig, task_of, train_row
from ..errors import ConfigError
from ..presets import study_preset
from ..results import Row, SpeedResults
from ..training import MILESTONES, milestone_tokens, on_main_process
from .stats import pooled_std, summary


@dataclass
class StudyConfig:
    """What `lineage study` runs; the grid and budgets come from the study preset (pipelines/presets.py)."""

    name: str | None = field(default=None, metadata={"help": "results go to <runs_dir>/<name> (default: study-<preset>)"})
    preset: str = field(default="demo", metadata={"help": "tiny | demo | full"})
    seeds: str | None = field(default=None, metadata={"help": "comma-separated seeds of the quality cells (default: the preset's)"})
    speed_results: str | None = field(default=None, metadata={"help": "a benchmarks/speed.py JSON to use instead of measuring"})
    runs_dir: str = field(default="runs", metadata={"help": "parent folder of runs"})
    overwrite: bool = field(default=False, metadata={"help": "retrain cells made with other settings (deletes them)"})

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / (self.name or f"study-{self.preset}")


@dataclass(frozen=True)
class Cell:
    """One trained and tested model of the study."""

    task: str  # benchmark name, e.g. "multi30k"
    arch: str
    variant: str = ""  # "" or a compare.VARIANTS key
    samples: int | None = None  # training pairs (None: the whole training split)
    seed: int = 0

    @property
    def row(self) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.arch}{variant}-n{self.samples or 'all'}-s{self.seed}"


def settings_of(config: StudyConfig) -> dict:
    settings = dict(study_preset(config.preset))
    if config.seeds:
        try:
            settings["seeds"] = tuple(int(s) for s in config.seeds.split(","))
        except ValueError:
            raise ConfigError(f"--seeds {config.seeds!r}: give comma-separated integers, e.g. 0,1,2") from None
    return settings


def role_of(settings: dict, role: str) -> str:
    """The benchmark playing `role` ("translation" or "summarization")."""
    return next(task for task, spec in settings["tasks"].items() if spec["role"] == role)


def planned_cells(settings: dict) -> list[Cell]:
    """Every cell the study trains, each once, in the order they run."""
    seeds, sweep = settings["seeds"], settings["sweep_seeds"]
    translation = role_of(settings, "translation")
    cells = [Cell(task, arch, seed=seed) for task in settings["tasks"] for arch in ARCHS for seed in seeds]
    cells += [Cell(translation, arch, "no-attention", seed=seed) for arch in RECURRENT for seed in sweep]
    cells += [Cell(task, arch, samples=n, seed=seed) for task, spec in settings["tasks"].items()
              for n in spec["data_sizes"] for arch in ARCHS for seed in sweep]
    cells += [Cell(translation, arch, variant, samples=n, seed=seed) for n in settings["word2vec_sizes"]
              for variant in ("word2vec", "word2vec-frozen") for arch in ARCHS for seed in sweep]
    return list(dict.fromkeys(cells))


def compare_config(config: StudyConfig, settings: dict, cell: Cell) -> CompareConfig:
    spec = settings["tasks"][cell.task]
    return CompareConfig(
        name=config.run_dir.name, preset=settings["training"], runs_dir=str(config.run_dir.parent), tasks=cell.task,
        budget_target_tokens=spec["budget_target_tokens"], train_samples=cell.samples, test_samples=spec["test_samples"],
        vocab_size=settings["vocab_size"], eval_samples=settings["eval_samples"], eval_every=spec["eval_every"],
        batch_tokens=settings["batch_tokens"], seed=cell.seed, milestones=spec.get("milestones", ""),
    ).resolved()


def cell_dir(config: StudyConfig, settings: dict, cell: Cell) -> Path:
    """The cell's compare row folder: <run>/<task>/<row>."""
    compare = compare_config(config, settings, cell)
    return compare.run_dir / task_of(compare, cell.task).name / cell.row


def cell_row(config: StudyConfig, settings: dict, cell: Cell) -> tuple:
    """The compare row that trains `cell`: `compare.train_row`'s arguments."""
    overrides = dict(patience=settings["patience"], **VARIANTS.get(cell.variant, {}))
    if cell.variant.startswith("word2vec"):
        # One word2vec model per (data, seed), shared by the cell's architectures and both variants.
        folder = cell_dir(config, settings, cell).parent
        overrides["word2vec"] = str(folder / f"word2vec-n{cell.samples or 'all'}-s{cell.seed}.kv")
    return compare_config(config, settings, cell), cell.task, cell.row, cell.arch, overrides


def run_cell(config: StudyConfig, settings: dict, cell: Cell) -> Row:
    """Train and test one cell (reusing a finished one); returns its compare row entry."""
    entry = train_row(*cell_row(config, settings, cell))
    on_main_process(drop_weights, cell_dir(config, settings, cell))
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
        self.tasks = {benchmark: task_of(compare_config(config, settings, Cell(benchmark, "rnn")), benchmark)
                      for benchmark in settings["tasks"]}

    def metric(self, benchmark: str) -> str:
        return self.tasks[benchmark].main_metric

    def scores(self, cells: list[Cell]) -> dict:
        return summary([self.entries[c].test[self.metric(c.task)] for c in cells])

    def budgets(self, benchmark: str) -> list[int]:
        """The task's milestones (target tokens): the budgets its cells were also tested at."""
        return milestone_tokens(self.settings["tasks"][benchmark].get("milestones"))

    def scores_by_budget(self, cells: list[Cell]) -> list[dict | None]:
        """Per milestone of the cells' task, the summary over the cells of their best model's test metric
        there (None where a cell lacks that milestone)."""
        metric, task = self.metric(cells[0].task), cells[0].task
        found = [{m.milestone: m.best_test.get(metric) for m in self.entries[c].milestones} for c in cells]
        return [summary([f[b] for f in found]) if all(f.get(b) is not None for f in found) else None
                for b in self.budgets(task)]

    def seeds(self, benchmark: str, arch: str, variant: str = "", samples: int | None = None, sweep: bool = False) -> list[Cell]:
        seeds = self.settings["sweep_seeds" if sweep else "seeds"]
        return [Cell(benchmark, arch, variant, samples, seed) for seed in seeds]

    def first(self, benchmark: str, arch: str) -> Cell:
        """The full-data cell of the first seed: the model that sections 3, 6 and 7 probe."""
        return self.seeds(benchmark, arch)[0]

    def noise(self, benchmark: str) -> float | None:
        return pooled_std([self.scores(self.seeds(benchmark, arch)) for arch in ARCHS])

    def model_dir(self, cell: Cell) -> Path:
        return cell_dir(self.config, self.settings, cell) / "best"

    def train_size(self, benchmark: str) -> int:
        """Training pairs of the full-data cells (the training preset may cap them, as `tiny` does)."""
        from ..data import load_splits

        available = len(load_splits(self.tasks[benchmark], ("train",))["train"])
        cap = compare_config(self.config, self.settings, Cell(benchmark, "rnn")).train_samples
        return min(cap or available, available)
