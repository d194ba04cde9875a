"""Run the study: train every cell, measure speed, answer each question, write study.json and study.md."""

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from ..comparison.reuse import claim_rows
from ..comparison.running import limited, prepare_tokenizer
from ..data.loading import load_test_references
from ..environment import describe_machine
from ..files import write_json, write_text
from ..report.results import Row, SpeedResults
from ..training.distributed import launch_state, on_main_process
from ..training.locks import hold_folder, release_folder
from . import attention, components, data_size, long_range, parallelism, quality, senses, word2vec
from .grid import Cell, Grid, StudyConfig, cell_row, model_size, planned_cells, run_cell, settings_of

logger = logging.getLogger(__name__)

# The questions in the order study.md answers them; each module has TITLE, QUESTION, numbers (or measure),
# plot, table and verdict.
QUESTIONS = {"quality": quality, "parallelism": parallelism, "long_range": long_range, "data_size": data_size,
             "word2vec": word2vec, "senses": senses, "attention": attention, "components": components}


def speed_results(config: StudyConfig, settings: dict) -> Path:
    """The speed measurement's JSON: the one given, one measured earlier for this study, or a new measurement."""
    from ..speed.config import SpeedConfig
    from ..speed.measure import run, write_results

    if config.speed_results:
        return Path(config.speed_results)
    folder = config.run_dir / "speed"
    found = sorted(folder.glob("*.json"))
    if found:
        return found[-1]
    measurement = SpeedConfig(**settings["speed"], vocab_size=settings["vocab_size"])
    logger.info("measuring speed: %s", measurement)
    json_path, _ = write_results(run(measurement), folder.resolve())
    return json_path


def build_sections(grid: Grid) -> dict:
    """Every question's numbers, verdict and plots (written into the run folder), in study.md's order."""
    sections = {}
    for name, question in QUESTIONS.items():
        numbers, plots = answer(question, grid)
        sections[name] = {"title": question.TITLE, "question": question.QUESTION, "numbers": numbers,
                          "verdict": question.verdict(numbers), "plots": plots}
    return sections


def answer(question, grid: Grid) -> tuple[dict, list[str]]:
    """A question's numbers and its plots (written into the run folder). The questions that probe trained
    models (senses, attention) `measure` what their plots draw beside the numbers (projections, maps)."""
    if hasattr(question, "measure"):
        numbers, drawing = question.measure(grid)
        return numbers, question.plot(numbers, drawing, grid.config.run_dir)
    numbers = question.numbers(grid)
    return numbers, question.plot(numbers, grid.config.run_dir)


def study(config: StudyConfig) -> dict:
    """Run (or resume) the study; returns the document also written to study.json.

    Under `accelerate launch` every process trains each cell (DDP, see compare); the
    main process alone measures speed, probes the models and writes the study, and
    holds the run folder's lock (`training.locks`) while it runs.
    """
    settings = settings_of(config)
    cells = planned_cells(settings)
    rows = {cell: cell_row(config, settings, cell) for cell in cells}  # every setting checked first
    on_main_process(hold_folder, config.run_dir)
    try:
        return study_cells(config, settings, cells, rows)
    finally:
        if launch_state().is_main_process:
            release_folder(config.run_dir)


def study_cells(config: StudyConfig, settings: dict, cells: list[Cell], rows: dict) -> dict:
    """`study` once its run folder is locked: train and test every cell, then write the study."""
    on_main_process(claim_rows, list(rows.values()), config.overwrite)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    invocations = Invocations(run_dir)
    test_sets = {}
    for task_id in settings["tasks"]:
        first = next(row for cell, row in rows.items() if cell.task == task_id)
        on_main_process(prepare_tokenizer, first.config, first.task)
        test_sets[task_id] = limited(*load_test_references(first.task), first.config.test_samples)
    entries = {}
    for cell in tqdm(cells, desc="study cells", dynamic_ncols=True, disable=not launch_state().is_main_process):
        trained = not (rows[cell].folder / "row.json").exists()
        entries[cell] = run_cell(rows[cell], test_sets[cell.task])
        on_main_process(invocations.update, trained)
    return on_main_process(write_study, config, settings, cells, entries, invocations)


def write_study(config: StudyConfig, settings: dict, cells: list[Cell], entries: dict, invocations: "Invocations") -> dict:
    """Measure speed, build every section from the trained cells, write study.json and study.md."""
    run_dir = config.run_dir
    speed_path = speed_results(config, settings)
    sections = build_sections(Grid(config, settings, entries, SpeedResults.load(speed_path)))
    invocations.update()
    document = {
        "name": run_dir.name, "preset": config.preset, "settings": settings, "environment": describe_machine(),
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


def cell_summary(entry: Row) -> dict:
    return {"parameters": entry.parameters, "label": entry.label, "embeddings": entry.embeddings,
            "test": {k: v for k, v in entry.test.items() if k != "generation"}, "training": entry.training}


def study_markdown(document: dict) -> list[str]:
    """study.md: setup, then per section the question, plots, table and verdict, all from `document`."""
    settings = document["settings"]
    budgets = ", ".join(f"{task} {spec['budget_target_tokens']:,} target tokens" for task, spec in settings["tasks"].items())
    lines = [
        f"# Lineage study: {document['name']}", "",
        f"Preset `{document['preset']}`: `{model_size(settings)}`-size models, a {settings['vocab_size']:,}-piece "
        f"vocabulary per task, batches of {settings['batch_tokens']:,} tokens, a budget per model of {budgets}"
        f"{', early stopping after ' + str(settings['patience']) + ' evaluations without improvement' if settings['patience'] else ''}. "
        f"Quality cells: seeds {', '.join(map(str, settings['seeds']))}; sweeps (sizes, variants): seeds "
        f"{', '.join(map(str, settings['sweep_seeds']))}. "
        + ("These are reduced sizes and budgets for a CPU: the `gpu` preset runs the paper-scale version."
           if document["preset"] not in ("gpu", "full") else ""), "",
        f"Hardware: {document['environment']['hardware']}, device {document['environment']['device']}. "
        f"Wall time: {document['wall_seconds'] / 60:.1f} minutes over {len(document['invocations'])} invocation(s) "
        f"for {len(document['cells'])} cells (an invocation reuses the cells finished before it).", "",
    ]
    for number, (name, section) in enumerate(document["sections"].items(), 1):
        lines += [f"## {number}. {section['title']}", "", f"*{section['question']}*", ""]
        lines += [f"![{name}]({plot})" for plot in section["plots"]] + [""]
        lines += QUESTIONS[name].table(section["numbers"]) + [""]
        lines += ["**Verdict.**", "", section["verdict"].replace("\n", "\n\n"), ""]
    return lines
