"""Which planned rows a comparison may reuse, continue or must refuse, before anything trains.

A row is reused only with the settings it was made with: a command that
changes them (another vocabulary under the same --name) is refused before
anything trains, or with --overwrite retrains the changed rows. A larger
budget (or other milestones, evaluation frequencies) continues each row's run
from its last checkpoint instead, and tests it again; a change in how rows are
tested (the task's decoding settings, the number of test examples) tests the
finished models again without training. Rows finished by another run of the
comparison (--rows_from) and the same rows trained with other seeds
(--seed_runs) are read from those runs' results.json.
"""

import logging
import shutil
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError
from ..files import read_json_lines
from ..report.results import Results, Row
from ..training.runs import changes, current_names, defining, describe, read_record, setting_defaults
from .config import BUDGET_FIELDS, TEST_FIELDS, CompareConfig
from .rows import PlannedRow

logger = logging.getLogger(__name__)


def settings_of(row: Row) -> dict:
    """A finished row's settings, under today's names; rows of versions that did not record their decoding
    settings among them have them in their test results."""
    if not row.settings:
        return {}
    return current_names({"generation": row.test.get("generation"), **row.settings})


def recorded_row_settings(row: PlannedRow) -> dict | None:
    """The settings a row folder was made with: row.json's once tested, else its run's run.json; None if new."""
    if (row.folder / "row.json").exists():
        return settings_of(Row.load(row.folder / "row.json"))
    record = read_record(row.folder)
    planned = row.settings()
    return None if record is None else {**record["settings"], **{name: planned[name] for name in TEST_FIELDS}}


def claim_rows(rows: list[PlannedRow], overwrite: bool) -> None:
    """Refuse (or with `overwrite` delete, to retrain) the rows whose folders were made with other settings;
    continue the rows whose only change is one a run may resume with, such as a larger budget.

    Called before anything trains, so a changed setting never reuses an old row
    nor mixes old rows with new ones in a report. A row to continue loses its
    test results (row.json, its model folder), keeps its run, and `train_row`
    resumes that run from its last checkpoint and tests it again.
    """
    stale = {}
    for row in rows:
        planned, recorded = row.settings(), recorded_row_settings(row)
        if recorded == {}:
            stale[row.key] = "its row.json records no settings (written by an older Lineage version)"
        elif recorded is not None and (changed := changes(recorded, planned, setting_defaults(row.training))):
            if continues(changed, planned):
                logger.info("%s: continuing its run (%s)", row.key, describe(changed))
                (row.folder / "row.json").unlink(missing_ok=True)
                shutil.rmtree(row.model_folder, ignore_errors=True)
                continue
            stale[row.key] = describe(changed)
        if row.key in stale and overwrite:
            logger.warning("%s: made with other settings (%s): training it again", row.key, stale[row.key])
            shutil.rmtree(row.folder)
            shutil.rmtree(row.model_folder, ignore_errors=True)
    if stale and not overwrite:
        by_change = {}
        for key, what in stale.items():
            by_change.setdefault(what, []).append(key)
        raise ConfigError(
            "rows made with other settings: " + "; ".join(f"{', '.join(keys)} ({what})" for what, keys in by_change.items())
            + ". Use another --name, or --overwrite true to train them again (deletes them)"
        )


def continues(changed: dict, planned: dict) -> bool:
    """Whether a row with these setting changes is its old run continued (and tested again): only settings
    a run may resume with (training.runs.MAY_CHANGE, unless the schedule reads them) or how it is tested
    changed, and no budget shrank."""
    if set(changed) & (set(defining(planned)) - set(TEST_FIELDS)):
        return False
    budgets = [(old, new) for name, (old, new) in changed.items() if name in BUDGET_FIELDS]
    return all(old is not None and new is not None and new >= old for old, new in budgets)


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


def import_rows(config: CompareConfig, rows: list[PlannedRow]) -> None:
    """Write row.json, for each planned row not begun here, from the first run of --rows_from that finished
    it with the planned settings (a reused row must be the row this run would train).

    Raises ConfigError, before anything trains, for a folder without results.json, or a planned row that
    the folders hold only with other settings, unless --overwrite, which trains that row here (as it
    retrains this run's own rows made with other settings). The reused row keeps its scores, milestones
    and validation curve; its model folder stays in the run that trained it (`trained_in`).
    """
    others = other_runs("rows_from", config.rows_from, "give the folder of a finished comparison")
    taken = []
    for row in rows:
        name, planned = row.task.name, row.settings()
        found = [(folder, other.tasks[name].models[row.name]) for folder, other in others
                 if name in other.tasks and row.name in other.tasks[name].models]
        differ = [changes(settings_of(theirs), planned, setting_defaults(row.training)) for _, theirs in found]
        same = [entry for entry, changed in zip(found, differ) if not changed]
        if found and not same:
            other = f"--rows_from: {found[0][0]}'s {row.key} was made with other settings ({describe(differ[0])})"
            if not config.overwrite:
                raise ConfigError(f"{other}; --overwrite trains it here instead")
            logger.warning("%s: training it here", other)
        if same and not row.folder.exists():  # a row finished or begun here (or taken earlier) stays this run's own
            taken.append((row, *same[0]))
    for row, folder, theirs in taken:
        logger.info("%s: reusing the row finished in %s", row.key, folder)
        reused = with_evaluations(theirs, Path(folder) / row.task.name / row.name)
        row.folder.mkdir(parents=True)
        replace(reused, folder=None, trained_in=reused.trained_in or str(folder)).save(row.folder / "row.json")


def seed_rows(config: CompareConfig, rows: list[PlannedRow]) -> dict[tuple[str, str], list[Row]]:
    """The planned rows' runs with other seeds in the comparisons of --seed_runs, by (task name, row).

    Raises ConfigError, before anything trains, for a run folder without results.json, or a row there
    that differs from the planned one in more than its seed (budgets, milestones and evaluation
    frequencies may differ: they do not change how a model trains).
    """
    found = {}
    for folder, other in other_runs("seed_runs", config.seed_runs, "run that comparison with another --seed first"):
        for row in rows:
            entry = other.tasks.get(row.task.name)
            theirs = entry.models.get(row.name) if entry else None
            if theirs is None:
                continue
            differ = changes(defining(settings_of(theirs)), defining(row.settings()), setting_defaults(row.training))
            if "seed" not in differ:
                raise ConfigError(f"--seed_runs: {folder} trained {row.key} with seed {row.training.seed}, "
                                  "as this run does: give runs of other seeds")
            del differ["seed"]
            if differ:
                raise ConfigError(f"--seed_runs: {folder}'s {row.key} differs in more than its seed "
                                  f"({describe(differ)})")
            found.setdefault((row.task.name, row.name), []).append(theirs)
    return found
