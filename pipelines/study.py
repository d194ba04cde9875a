"""`lineage study`: answer the questions about RNN, LSTM, Transformer and word2vec with measurements.

The study is a grid of *cells*; a cell is one compare row (`compare.train_row`:
the shared tokenizer, data pipeline, training loop and evaluation) for one
task, architecture, variant, training-set size and seed. Every question reads
its numbers from the cells, the speed benchmark and probes of trained models:

    1 quality      architectures at equal budget, translation and summarization
    2 parallelism  training throughput, time per epoch and decoding latency vs length (benchmarks/speed.py)
    3 long_range   test metric by source-length bucket, recurrent models with and without attention
    4 data_size    test metric vs training-set size (learning curves)
    5 word2vec     random vs word2vec vs frozen word2vec embeddings, small and full data
    6 senses       word2vec's one vector vs the encoders' states for ambiguous words
    7 attention    cross-attention maps on one example

Budgets are counted in target tokens, so a cell's result does not depend on
how busy the machine was. Layout of `runs/<name>/`: the compare layout
(`<task>/<row>/` per cell, `models/`), plus `speed/` (the benchmark JSON),
`study.json`, `study.md` and the plots. A finished cell keeps its row.json
and is reused when the study runs again with the same settings (a cell whose
settings changed, say a preset's budget, is refused or with --overwrite
retrained: `compare.claim_rows`); an interrupted cell continues from its last
checkpoint; checkpoints of finished cells are deleted (the best model stays).
"""

import json
import logging
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from . import study_plots, verdicts
from .compare import VARIANTS, CompareConfig, claim_rows, environment, prepare_tokenizer, task_of, train_row
from .errors import ConfigError
from .files import write_json, write_text
from .presets import study_preset
from .report import METRIC_NAMES, markdown_table
from .training import launch_state, on_main_process

logger = logging.getLogger(__name__)

ARCHS = ("rnn", "lstm", "transformer")
RECURRENT = ("rnn", "lstm")
ROOT = Path(__file__).resolve().parents[1]
SPEED_SCRIPT = ROOT / "benchmarks" / "speed.py"


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
        batch_tokens=settings["batch_tokens"], seed=cell.seed,
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


def run_cell(config: StudyConfig, settings: dict, cell: Cell) -> dict:
    """Train and test one cell (reusing a finished one); returns its compare row entry."""
    entry = train_row(*cell_row(config, settings, cell))
    on_main_process(shutil.rmtree, cell_dir(config, settings, cell) / "checkpoints", ignore_errors=True)
    return entry


def speed_results(config: StudyConfig, settings: dict) -> Path:
    """The speed benchmark's JSON: the one given, one measured earlier for this study, or a new measurement."""
    if config.speed_results:
        return Path(config.speed_results)
    folder = config.run_dir / "speed"
    found = sorted(folder.glob("*.json"))
    if found:
        return found[-1]
    if not SPEED_SCRIPT.exists():
        raise FileNotFoundError(f"{SPEED_SCRIPT} is missing (an installed package has no benchmarks/): "
                                "run the study from a source checkout or pass --speed_results")
    command = [sys.executable, "-m", "benchmarks.speed", *settings["speed"], "--vocab-size", str(settings["vocab_size"]),
               "--output-dir", str(folder.resolve())]
    logger.info("measuring speed: %s", " ".join(command))
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return sorted(folder.glob("*.json"))[-1]


# ---------------------------------------------------------------- sections: numbers


class Grid:
    """Finished cells and what the sections need to read them."""

    def __init__(self, config: StudyConfig, settings: dict, entries: dict[Cell, dict]):
        self.config, self.settings, self.entries = config, settings, entries
        self.tasks = {benchmark: task_of(compare_config(config, settings, Cell(benchmark, "rnn")), benchmark)
                      for benchmark in settings["tasks"]}

    def metric(self, benchmark: str) -> str:
        return self.tasks[benchmark].main_metric

    def scores(self, cells: list[Cell]) -> dict:
        return verdicts.summary([self.entries[c]["test"][self.metric(c.task)] for c in cells])

    def seeds(self, benchmark: str, arch: str, variant: str = "", samples: int | None = None, sweep: bool = False) -> list[Cell]:
        seeds = self.settings["sweep_seeds" if sweep else "seeds"]
        return [Cell(benchmark, arch, variant, samples, seed) for seed in seeds]

    def first(self, benchmark: str, arch: str) -> Cell:
        """The full-data cell of the first seed: the model that sections 3, 6 and 7 probe."""
        return self.seeds(benchmark, arch)[0]

    def noise(self, benchmark: str) -> float | None:
        return verdicts.pooled_std([self.scores(self.seeds(benchmark, arch)) for arch in ARCHS])

    def model_dir(self, cell: Cell) -> Path:
        return cell_dir(self.config, self.settings, cell) / "best"

    def train_size(self, benchmark: str) -> int:
        """Training pairs of the full-data cells (the training preset may cap them, as `tiny` does)."""
        from .data import load_splits

        available = len(load_splits(self.tasks[benchmark], ("train",))["train"])
        cap = compare_config(self.config, self.settings, Cell(benchmark, "rnn")).train_samples
        return min(cap or available, available)


def quality_numbers(grid: Grid) -> dict:
    tasks = {}
    for benchmark in grid.settings["tasks"]:
        metric = grid.metric(benchmark)
        archs = {arch: grid.scores(grid.seeds(benchmark, arch)) for arch in ARCHS}
        seconds = {arch: verdicts.summary([grid.entries[c]["training"]["train_seconds"] for c in grid.seeds(benchmark, arch)])["mean"]
                   for arch in ARCHS}
        tasks[grid.tasks[benchmark].name] = {
            "metric": metric, "metric_label": METRIC_NAMES[metric], "archs": archs, "noise": grid.noise(benchmark),
            "train_seconds": seconds,
            "budget_target_tokens": grid.settings["tasks"][benchmark]["budget_target_tokens"],
        }
    return {"tasks": tasks, "translation": grid.tasks[role_of(grid.settings, "translation")].name,
            "summarization": grid.tasks[role_of(grid.settings, "summarization")].name}


def parallelism_numbers(grid: Grid, speed: dict) -> dict:
    size = grid.settings["training"] if any(k.startswith(grid.settings["training"] + "/")
                                            for k in speed["summary"]["training_tokens_per_second"]) else None
    training = {}
    for key, by_length in speed["summary"]["training_tokens_per_second"].items():
        model_size, model = key.split("/", 1)
        if size is None or model_size == size:
            training[model] = by_length
    pairs = grid.train_size(role_of(grid.settings, "translation"))
    epoch_minutes = {model: {length: pairs * int(length) / tokens / 60 for length, tokens in by_length.items() if tokens}
                     for model, by_length in training.items()}
    decoding = {}
    for row in speed["decoding"]:
        if (row["num_beams"] == 1 and row["batch_size"] == 1 and row["use_cache"] and row["seconds"]
                and (size is None or row["size"] == size)):
            decoding.setdefault(row["model"], {})[str(row["length"])] = row["seconds"]
    lengths = sorted({int(length) for by_length in training.values() for length in by_length})
    return {
        "lengths": lengths, "training": training, "epoch_minutes": epoch_minutes, "epoch_pairs": pairs,
        "decoding": decoding, "device": f"{speed['environment'].get('device', 'cpu')}, "
                                        f"{speed['environment'].get('torch_threads', '?')} threads",
        "source": speed.get("result_path", ""),
    }


def long_range_numbers(grid: Grid) -> dict:
    benchmark = role_of(grid.settings, "translation")
    metric = grid.metric(benchmark)
    rows = {}
    candidates = [(arch, "", False) for arch in ARCHS] + [(arch, "no-attention", True) for arch in RECURRENT]
    for arch, variant, sweep in candidates:
        cells = grid.seeds(benchmark, arch, variant, sweep=sweep)
        buckets = [grid.entries[c]["test"]["by_source_length"] for c in cells]
        per_bucket = [verdicts.summary([b[i][metric] for b in buckets]) for i in range(len(buckets[0]))]
        attention = grid.entries[cells[0]]["model_config"].get("attention", "multi-head")
        label = grid.entries[cells[0]]["label"]
        rows[label] = {"arch": arch, "attention": attention != "none", "values": [s["mean"] for s in per_bucket],
                       "stds": [s["std"] for s in per_bucket], "n": len(cells)}
    first = grid.entries[grid.first(benchmark, "rnn")]["test"]["by_source_length"]
    return {"metric": metric, "metric_label": METRIC_NAMES[metric], "task": grid.tasks[benchmark].name,
            "buckets": [f"{b['min_length']}-{b['max_length']}" for b in first], "bucket_size": first[0]["count"],
            "rows": rows}


def data_size_numbers(grid: Grid) -> dict:
    tasks = {}
    for benchmark, spec in grid.settings["tasks"].items():
        if not spec["data_sizes"]:
            continue
        full = grid.train_size(benchmark)
        sizes = [n for n in spec["data_sizes"] if n < full]
        archs = {arch: [grid.scores(grid.seeds(benchmark, arch, samples=n, sweep=True)) for n in sizes]
                 + [grid.scores(grid.seeds(benchmark, arch))] for arch in ARCHS}
        metric = grid.metric(benchmark)
        tasks[grid.tasks[benchmark].name] = {"metric": metric, "metric_label": METRIC_NAMES[metric],
                                             "sizes": sizes + [full], "archs": archs, "noise": grid.noise(benchmark)}
    return {"tasks": tasks}


def word2vec_numbers(grid: Grid) -> dict:
    benchmark = role_of(grid.settings, "translation")
    full = grid.train_size(benchmark)
    archs = {}
    for arch in ARCHS:
        archs[arch] = {}
        for n in grid.settings["word2vec_sizes"]:
            label = size_label(n, full)
            random_cells = grid.seeds(benchmark, arch) if n is None else grid.seeds(benchmark, arch, samples=n, sweep=True)
            archs[arch][label] = {"random": grid.scores(random_cells)} | {
                variant: grid.scores(grid.seeds(benchmark, arch, variant, n, sweep=True))
                for variant in ("word2vec", "word2vec-frozen")}
    metric = grid.metric(benchmark)
    return {"metric": metric, "metric_label": METRIC_NAMES[metric], "task": grid.tasks[benchmark].name,
            "sizes": [size_label(n, full) for n in grid.settings["word2vec_sizes"]], "archs": archs,
            "noise": grid.noise(benchmark)}


def size_label(samples: int | None, full: int) -> str:
    return f"all {full:,} pairs" if samples is None or samples >= full else f"{samples:,} pairs"


def senses_numbers(grid: Grid, min_per_sense: int = 3) -> tuple[dict, dict]:
    """Section 6's numbers, and the 2-D projections for its plot."""
    from transformers import AutoModelForSeq2SeqLM

    from . import probes
    from .data import load_splits
    from .embeddings import load_word2vec
    from .tokenizer import load_tokenizer

    benchmark = role_of(grid.settings, "translation")
    task = grid.tasks[benchmark]
    splits = load_splits(task, ("test", "validation", "train"))
    sources = [s for split in splits.values() for s in split[task.source_column]]
    references = [t for split in splits.values() for t in split[task.target_column]]
    models = {arch: AutoModelForSeq2SeqLM.from_pretrained(grid.model_dir(grid.first(benchmark, arch))) for arch in ARCHS}
    tokenizer = load_tokenizer(grid.model_dir(grid.first(benchmark, "rnn")))
    vectors_path = grid.config.run_dir / task.name / f"word2vec-nall-s{grid.settings['sweep_seeds'][0]}.kv"
    vectors = load_word2vec(vectors_path)
    words, projections, occurrences = {}, {}, 0
    for word, senses in probes.SENSE_WORDS.items():
        found = [(source, sense) for source, sense in probes.sense_occurrences(sources, references, word, senses)
                 if len(tokenizer(source)["input_ids"]) <= task.max_source_length]  # the word is never truncated away
        counts = {sense: sum(1 for _, s in found if s == sense) for sense in senses}
        kept = {sense for sense, count in counts.items() if count >= min_per_sense}
        found = [(source, sense) for source, sense in found if sense in kept]
        if len(kept) < 2:
            continue
        labels = [sense for _, sense in found]
        entry = {"senses": {s: counts[s] for s in kept}, "majority": probes.majority_rate(labels), "models": {},
                 "word2vec_neighbours": probes.static_neighbours(vectors, tokenizer, word)}
        projections[word] = {"labels": labels, "points": {}}
        for arch, model in models.items():
            states = probes.contextual_vectors(model, tokenizer, [s for s, _ in found], word, task.max_source_length)
            entry["models"][arch] = {"accuracy": probes.nearest_neighbour_accuracy(states, labels),
                                     "separation": probes.separation(states, labels)}
            projections[word]["points"][arch] = probes.project_2d(states).tolist()
        words[word] = entry
        occurrences += len(found)
    return {"words": words, "archs": list(ARCHS), "occurrences": occurrences, "word2vec": vectors_path.name}, projections


def attention_numbers(grid: Grid) -> tuple[dict, dict]:
    """Section 7's numbers, and the maps for its plot."""
    from transformers import AutoModelForSeq2SeqLM

    from . import probes
    from .data import load_test_references
    from .tokenizer import load_tokenizer

    benchmark = role_of(grid.settings, "translation")
    task = grid.tasks[benchmark]
    sources, _ = load_test_references(task)
    tokenizer = load_tokenizer(grid.model_dir(grid.first(benchmark, "rnn")))
    # A typical sentence: the first with a length near the test set's median.
    lengths = [len(ids) for ids in tokenizer(sources[:200])["input_ids"]]
    median = sorted(lengths)[len(lengths) // 2]
    source = sources[min(range(len(lengths)), key=lambda i: abs(lengths[i] - median))]
    models, maps = {}, {}
    for arch in ARCHS:
        model = AutoModelForSeq2SeqLM.from_pretrained(grid.model_dir(grid.first(benchmark, arch)))
        found = probes.attention_map(model, tokenizer, source, task.max_source_length)
        label = grid.entries[grid.first(benchmark, arch)]["label"]
        models[label] = probes.attention_statistics(found["heads"])
        maps[label] = found
    first = next(iter(maps.values()))
    return {"source": source, "source_tokens": len(first["source_tokens"]),
            "output_tokens": len(first["output_tokens"]), "models": models}, maps


# ---------------------------------------------------------------- the study


SECTIONS = {
    "quality": ("Quality at equal budget", "Does the Transformer win on translation and summarization? Does the LSTM hold up better on summarization?"),
    "parallelism": ("Parallelism: cost vs sequence length", "RNNs are sequential in time, Transformers parallel: how does training and decoding cost grow with length?"),
    "long_range": ("Long-range dependencies", "How does quality change with source length, and do RNN/LSTM without attention suffer from the fixed-vector bottleneck?"),
    "data_size": ("Training-set size", "Are recurrent models better with little data? Where do the learning curves cross?"),
    "word2vec": ("word2vec initialisation", "Does starting from static word2vec embeddings (trained or frozen) still help, and when?"),
    "senses": ("Static vs contextual vectors", "Do the encoders separate the senses of ambiguous words that word2vec merges into one vector?"),
    "attention": ("Attention maps", "What do the LSTM's attention and the Transformer's cross-attention heads look at?"),
}


def build_sections(grid: Grid, speed: dict) -> dict:
    """Every section's numbers, verdict and plots (written into the run folder)."""
    run_dir = grid.config.run_dir
    numbers = {"quality": quality_numbers(grid), "parallelism": parallelism_numbers(grid, speed),
               "long_range": long_range_numbers(grid), "data_size": data_size_numbers(grid),
               "word2vec": word2vec_numbers(grid)}
    numbers["senses"], projections = senses_numbers(grid)
    numbers["attention"], maps = attention_numbers(grid)
    plots = {
        "quality": study_plots.quality(numbers["quality"], run_dir),
        "parallelism": study_plots.parallelism(numbers["parallelism"], run_dir),
        "long_range": study_plots.long_range(numbers["long_range"], run_dir),
        "data_size": study_plots.data_size(numbers["data_size"], run_dir),
        "word2vec": study_plots.word2vec(numbers["word2vec"], run_dir),
        "senses": study_plots.senses(numbers["senses"], projections, run_dir),
        "attention": study_plots.attention(maps, run_dir),
    }
    verdict_of = {"quality": verdicts.quality_verdict, "parallelism": verdicts.parallelism_verdict,
                  "long_range": verdicts.long_range_verdict, "data_size": verdicts.data_size_verdict,
                  "word2vec": verdicts.word2vec_verdict, "senses": verdicts.senses_verdict,
                  "attention": verdicts.attention_verdict}
    return {name: {"title": title, "question": question, "numbers": numbers[name],
                   "verdict": verdict_of[name](numbers[name]), "plots": plots[name]}
            for name, (title, question) in SECTIONS.items()}


def study(config: StudyConfig) -> dict:
    """Run (or resume) the study; returns the document also written to study.json.

    Under `accelerate launch` every process trains each cell (DDP, see compare); the
    main process alone measures speed, probes the models and writes the study.
    """
    settings = settings_of(config)
    cells = planned_cells(settings)
    on_main_process(claim_rows, [cell_row(config, settings, cell) for cell in cells], config.overwrite)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    invocations = Invocations(run_dir)
    for benchmark in settings["tasks"]:
        cell_config = compare_config(config, settings, Cell(benchmark, "rnn"))
        on_main_process(prepare_tokenizer, cell_config, benchmark)
    entries = {}
    for cell in tqdm(cells, desc="study cells", dynamic_ncols=True, disable=not launch_state().is_main_process):
        trained = not (cell_dir(config, settings, cell) / "row.json").exists()
        entries[cell] = run_cell(config, settings, cell)
        on_main_process(invocations.update, trained)
    return on_main_process(write_study, config, settings, cells, entries, invocations)


def write_study(config: StudyConfig, settings: dict, cells: list[Cell], entries: dict, invocations: "Invocations") -> dict:
    """Measure speed, build every section from the trained cells, write study.json and study.md."""
    run_dir = config.run_dir
    speed_path = speed_results(config, settings)
    speed = json.loads(speed_path.read_text())
    sections = build_sections(Grid(config, settings, entries), speed)
    invocations.update()
    document = {
        "name": run_dir.name, "preset": config.preset, "settings": settings, "environment": environment(),
        "speed_results": str(speed_path), "cells": {f"{c.task}/{c.row}": cell_summary(entries[c]) for c in cells},
        "sections": sections, "invocations": invocations.records,
        "wall_seconds": sum(i["seconds"] for i in invocations.records),
    }
    write_json(run_dir / "study.json", document)
    write_text(run_dir / "study.md", "\n".join(study_markdown(document)) + "\n")
    return document


class Invocations:
    """invocations.json: every run of this study, kept up to date after each cell, so the wall time of
    a study that was interrupted and resumed is the sum over its invocations."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "invocations.json"
        self.records = json.loads(self.path.read_text()) if self.path.exists() else []
        self.started = time.perf_counter()
        self.records.append({"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": 0.0,
                             "cells_trained": 0})

    def update(self, trained: bool = False) -> None:
        self.records[-1]["seconds"] = time.perf_counter() - self.started
        self.records[-1]["cells_trained"] += trained
        write_json(self.path, self.records)


def cell_summary(entry: dict) -> dict:
    keys = ("parameters", "label", "embeddings")
    return {**{k: entry[k] for k in keys}, "test": {k: v for k, v in entry["test"].items() if k != "generation"},
            "training": entry["training"]}


# ---------------------------------------------------------------- study.md


def study_markdown(document: dict) -> list[str]:
    """study.md: setup, then per section the question, plots, table and verdict, all from `document`."""
    settings = document["settings"]
    budgets = ", ".join(f"{task} {spec['budget_target_tokens']:,} target tokens" for task, spec in settings["tasks"].items())
    lines = [
        f"# Lineage study: {document['name']}", "",
        f"Preset `{document['preset']}`: `{settings['training']}`-size models, a {settings['vocab_size']:,}-piece "
        f"vocabulary per task, batches of {settings['batch_tokens']:,} tokens, a budget per model of {budgets}"
        f"{', early stopping after ' + str(settings['patience']) + ' evaluations without improvement' if settings['patience'] else ''}. "
        f"Quality cells: seeds {', '.join(map(str, settings['seeds']))}; sweeps (sizes, variants): seeds "
        f"{', '.join(map(str, settings['sweep_seeds']))}. "
        + ("These are reduced sizes and budgets for a CPU: the `full` preset runs the paper-scale version."
           if document["preset"] != "full" else ""), "",
        f"Hardware: {document['environment']['hardware']}, device {document['environment']['device']}. "
        f"Wall time: {document['wall_seconds'] / 60:.1f} minutes over {len(document['invocations'])} invocation(s) "
        f"for {len(document['cells'])} cells (an invocation reuses the cells finished before it).", "",
    ]
    for number, (name, section) in enumerate(document["sections"].items(), 1):
        lines += [f"## {number}. {section['title']}", "", f"*{section['question']}*", ""]
        lines += [f"![{name}]({plot})" for plot in section["plots"]] + [""]
        lines += TABLES[name](section["numbers"]) + [""]
        lines += ["**Verdict.**", "", section["verdict"].replace("\n", "\n\n"), ""]
    return lines


def quality_table(numbers: dict) -> list[str]:
    rows = [[task, verdicts.LABELS[arch], entry["metric_label"], f"{s['mean']:.2f}", f"{s['std']:.2f}", str(s["n"]),
             ", ".join(f"{v:.2f}" for v in s["values"]), f"{entry['train_seconds'][arch]:.0f}"]
            for task, entry in numbers["tasks"].items() for arch, s in entry["archs"].items()]
    return markdown_table(["task", "model", "test metric", "mean", "std", "seeds", "per seed", "training seconds"], rows)


def parallelism_table(numbers: dict) -> list[str]:
    lengths = [str(length) for length in numbers["lengths"]]
    rows = [[model] + [f"{by_length[l]:,.0f}" if by_length.get(l) else "-" for l in lengths]
            + [f"{numbers['epoch_minutes'][model].get(lengths[-1], 0):.1f}"]
            + [f"{1000 * numbers['decoding'].get(model, {}).get(l, 0):.0f}" if numbers["decoding"].get(model, {}).get(l) else "-"
               for l in lengths]
            for model, by_length in numbers["training"].items()]
    header = (["model"] + [f"train tok/s @{l}" for l in lengths] + [f"epoch min @{lengths[-1]}"]
              + [f"greedy ms @{l}" for l in lengths])
    return markdown_table(header, rows) + ["", f"Epoch: {numbers['epoch_pairs']:,} pairs at the given length. Source: "
                                      f"`{Path(numbers['source']).name}`."]


def long_range_table(numbers: dict) -> list[str]:
    rows = [[label] + [f"{v:.2f} ± {s:.2f}" for v, s in zip(row["values"], row["stds"])] + [str(row["n"])]
            for label, row in numbers["rows"].items()]
    return markdown_table(["model"] + [f"src {b}" for b in numbers["buckets"]] + ["seeds"], rows)


def data_size_table(numbers: dict) -> list[str]:
    lines = []
    for task, entry in numbers["tasks"].items():
        rows = [[task, verdicts.LABELS[arch]] + [f"{s['mean']:.2f}" + (f" ± {s['std']:.2f}" if s["n"] > 1 else "")
                                                 for s in series] for arch, series in entry["archs"].items()]
        lines += markdown_table(["task", "model"] + [f"{n:,} pairs" for n in entry["sizes"]], rows) + [""]
    return lines


def word2vec_table(numbers: dict) -> list[str]:
    rows = [[verdicts.LABELS[arch], size] + [f"{variants[v]['mean']:.2f}" for v in ("random", "word2vec", "word2vec-frozen")]
            for arch, by_size in numbers["archs"].items() for size, variants in by_size.items()]
    return markdown_table(["model", "training data", "random", "word2vec", "word2vec frozen"], rows)


def senses_table(numbers: dict) -> list[str]:
    rows = [[word, ", ".join(f"{s} {c}" for s, c in entry["senses"].items()), f"{100 * entry['majority']:.0f}%"]
            + [f"{100 * entry['models'][a]['accuracy']:.0f}% ({entry['models'][a]['separation']:+.2f})" for a in numbers["archs"]]
            + [", ".join(n for n, _ in entry["word2vec_neighbours"][:5])]
            for word, entry in numbers["words"].items()]
    return markdown_table(["word", "senses (occurrences)", "word2vec (majority)"]
                 + [f"{verdicts.LABELS[a]} 1-NN (separation)" for a in numbers["archs"]] + ["word2vec nearest pieces"], rows)


def attention_table(numbers: dict) -> list[str]:
    rows = [[label, str(m["heads"]), f"{m['sharpness']:.2f}", f"{100 * m['diagonal']:.0f}%"] for label, m in numbers["models"].items()]
    return [f"Source: {numbers['source']}", ""] + markdown_table(["model", "heads", "mean peak weight", "mass near diagonal"], rows)


TABLES = {"quality": quality_table, "parallelism": parallelism_table, "long_range": long_range_table,
          "data_size": data_size_table, "word2vec": word2vec_table, "senses": senses_table, "attention": attention_table}
