"""Data: load a task's splits and clean them.

Loading goes through `datasets` (caching, Hub ids and local folders alike);
`encoding.py` tokenizes the splits and `batching.py` turns them into batches.
"""

import logging
import os

import datasets

from ..errors import LineageError
from .tasks import TaskSpec

logger = logging.getLogger(__name__)


class DataError(LineageError, ValueError):
    """Bad or unreachable data; the message says what to do about it."""


def load_splits(task: TaskSpec, splits: tuple[str, ...] = ("train", "validation", "test")) -> datasets.DatasetDict:
    """Load and clean the task's splits ("train", "validation", "test" as named in `task.splits`).

    Rows whose source or target is not a non-empty string are dropped, with a
    warning that says how many. Raises `DataError` for an unreachable dataset,
    a missing split or column, or a split left empty.
    """
    raw = _load_dataset(task, task.dataset_config)
    cleaned = datasets.DatasetDict()
    for split in splits:
        name = task.splits[split]
        if name not in raw:
            raise DataError(f"{task.resolved_dataset()} has no split {name!r} (it has: {', '.join(raw)})")
        cleaned[split] = clean_split(raw[name], task, name)
    return cleaned


def load_test_references(task: TaskSpec) -> tuple[list[str], list[list[str]]]:
    """Test sources and, for each, the list of its references.

    A task with several references per source (DialogSum: 3 per dialogue)
    reads them from its multi-reference config where the dataset has one (the
    local mirror); the Hub's `knkarthick/dialogsum` has none and repeats each
    test dialogue once per reference instead, so there the rows of one source
    are grouped, in order of first appearance. Other tasks: one reference per
    source.
    """
    if task.multiref_config and task.multiref_config in _config_names(task):
        test = _load_dataset(task, task.multiref_config)["test"]
        _check_columns(test, (task.source_column, task.multiref_column), task)
        return list(test[task.source_column]), [list(refs) for refs in test[task.multiref_column]]
    test = load_splits(task, ("test",))["test"]
    if not task.multiref_config:
        return list(test[task.source_column]), [[target] for target in test[task.target_column]]
    grouped = {}
    for source, target in zip(test[task.source_column], test[task.target_column]):
        grouped.setdefault(source, []).append(target)
    return list(grouped), list(grouped.values())


def _config_names(task: TaskSpec) -> list[str]:
    try:
        return datasets.get_dataset_config_names(task.resolved_dataset())
    except ConnectionError as error:
        raise _unreachable(task) from error


def _unreachable(task: TaskSpec) -> DataError:
    hint = (
        f"set LINEAGE_DATA_DIR to a folder that contains '{task.local_name}/'"
        if task.local_name
        else "pass a local folder instead of a Hub id"
    )
    offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
    return DataError(f"cannot reach dataset {task.resolved_dataset()!r} on the Hub{offline}: {hint}")


def _load_dataset(task: TaskSpec, config: str | None) -> datasets.DatasetDict:
    source = task.resolved_dataset()
    try:
        return datasets.load_dataset(source, config)
    except ConnectionError as error:
        raise _unreachable(task) from error
    except FileNotFoundError as error:
        raise DataError(f"dataset {source!r} not found: not a local folder nor a Hub dataset id") from error
    except datasets.exceptions.DatasetGenerationError as error:
        raise DataError(
            f"cannot read {source!r}: {error.__cause__ or error} (every split must have the same columns and types)"
        ) from error
    except ValueError as error:
        if "corresponds to no data" not in str(error):
            raise
        raise DataError(f"{source!r} has an empty split: {error}") from error


def _check_columns(split: datasets.Dataset, columns: tuple[str, ...], task: TaskSpec) -> None:
    missing = [c for c in columns if c not in split.column_names]
    if missing:
        raise DataError(
            f"{task.resolved_dataset()} has no column {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(split.column_names)}); choose others with --source_column/--target_column"
        )


def clean_split(split: datasets.Dataset, task: TaskSpec, name: str) -> datasets.Dataset:
    """Drop rows whose source or target is None, not a string, or blank; fail on an empty result."""
    _check_columns(split, (task.source_column, task.target_column), task)
    if len(split) == 0:
        raise DataError(f"split {name!r} of {task.resolved_dataset()} is empty")
    columns = (task.source_column, task.target_column)

    def usable(row):
        return all(isinstance(row[c], str) and row[c].strip() for c in columns)

    kept = split.filter(usable, desc=f"checking {name}")
    dropped = len(split) - len(kept)
    if dropped:
        logger.warning(
            "%s/%s: dropped %d of %d rows whose %s or %s is missing, not text, or empty",
            task.name, name, dropped, len(split), *columns,
        )
    if len(kept) == 0:
        raise DataError(f"split {name!r} of {task.resolved_dataset()} has no usable rows ({dropped} dropped)")
    return kept
