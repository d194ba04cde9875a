"""Data: load a task's splits and clean them.

Loading goes through `datasets` (caching, Hub ids and local folders alike);
`encoding.py` tokenizes the splits and `batching.py` turns them into batches.
"""

import json
import logging
import os
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import LineageError
from .tasks import TaskSpec

logger = logging.getLogger(__name__)

# A text this many bytes per token of its limit is not a long example but broken data (a whole file in one
# field): even very long words average under 20 bytes per token.
FAR_PAST_LIMIT = 200


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
        columns = with_columns(raw[name], (task.source_column, task.target_column), task)
        check_texts(columns, task, name)
        cleaned[split] = clean_split(columns, task, name)
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
        test = with_columns(_load_dataset(task, task.multiref_config)["test"], (task.source_column, task.multiref_column),
                            task)
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
        return datasets.load_dataset(source, config, data_files=local_data_files(source, config))
    except ConnectionError as error:
        raise _unreachable(task) from error
    except FileNotFoundError as error:
        raise DataError(f"dataset {source!r} not found: not a local folder nor a Hub dataset id") from error
    except datasets.exceptions.DatasetGenerationError as error:
        bad = first_unreadable_line(source, config)
        if bad:
            raise DataError(bad) from error
        raise DataError(
            f"cannot read {source!r}: {error.__cause__ or error} (every split must have the same columns and types)"
        ) from error
    except ValueError as error:
        message = str(error)
        if "corresponds to no data" in message:
            raise DataError(f"{source!r} has an empty split: {error}") from error
        if "Config name is missing" in message or "BuilderConfig" in message:
            choices = message[message.find("["):message.find("]") + 1]
            named = f"has no configuration {config!r}" if config else "has several configurations"
            raise DataError(f"{source!r} {named}: choose one with --dataset_config {choices}") from error
        raise


def local_data_files(source: str, config: str | None) -> dict[str, list[str]] | None:
    """A local folder's data files by split, as its configuration names them; None for a Hub id.

    Passed to `load_dataset` explicitly, they key its cache: a configuration that a folder's README names is
    otherwise cached by its name alone, so another folder of the same name and configuration, or the same
    files rewritten, would load the rows cached first."""
    if not os.path.isdir(source):
        return None
    files = datasets.load_dataset_builder(source, config).config.data_files
    return {split: list(paths) for split, paths in files.items()}


def with_columns(split: datasets.Dataset, columns: tuple[str, ...], task: TaskSpec) -> datasets.Dataset:
    """`split` with every column of `columns` at its top level: a dotted name ("translation.de") reads a field
    of a nested column, which Arrow flattens without copying the data. Raises DataError naming the columns
    there are (nested fields by their dotted names) when one is missing."""
    if any(column not in split.column_names for column in columns):
        split = split.flatten()
    missing = [column for column in columns if column not in split.column_names]
    if missing:
        hint = ("choose them with --source_language/--target_language (the Hub's translation layout) or "
                "--source_column/--target_column" if task.kind == "translation"
                else "choose others with --source_column/--target_column")
        raise DataError(f"{task.resolved_dataset()} has no column {', '.join(map(repr, missing))} "
                        f"(columns: {', '.join(split.column_names)}); {hint}")
    return split


def clean_split(split: datasets.Dataset, task: TaskSpec, name: str) -> datasets.Dataset:
    """Drop rows whose source or target is None, not a string, or blank; fail on an empty result.

    The test runs on the Arrow columns (no Python object per row); a split with nothing to drop is returned
    as it is."""
    split = with_columns(split, (task.source_column, task.target_column), task)
    if len(split) == 0:
        raise DataError(f"split {name!r} of {task.resolved_dataset()} is empty")
    columns = (task.source_column, task.target_column)
    usable = pc.and_(*(_is_text(split.data.column(column)) for column in columns))
    if split._indices is not None:  # a selection: the mask of its own rows
        usable = pc.take(usable, split._indices.column(0))
    kept = int(pc.sum(usable).as_py() or 0)
    dropped = len(split) - kept
    if dropped:
        logger.warning(
            "%s/%s: dropped %d of %d rows whose %s or %s is missing, not text, or empty",
            task.name, name, dropped, len(split), *columns,
        )
    if kept == 0:
        raise DataError(f"split {name!r} of {task.resolved_dataset()} has no usable rows ({dropped} dropped)")
    return split.select(np.flatnonzero(usable.to_numpy(zero_copy_only=False))) if dropped else split


def _is_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row: a string with something besides whitespace (False for null and for other types)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return pa.chunked_array([np.zeros(len(column), dtype=bool)], pa.bool_())
    return pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0), False)


def check_texts(split: datasets.Dataset, task: TaskSpec, name: str) -> None:
    """Raise DataError, naming the file and line (or the row), for the first source or target that is not valid
    UTF-8 or is far past the task's length limits (`FAR_PAST_LIMIT` bytes per token): broken data, which would
    otherwise fail, or take minutes to tokenize, only once training has begun. Reads the Arrow columns as
    arrays, without a Python object per row."""
    for column, limit in ((task.source_column, task.max_source_length), (task.target_column, task.max_target_length)):
        values, offset = split.data.column(column), 0
        for chunk in values.chunks:
            try:
                chunk.validate(full=True)
            except pa.ArrowInvalid:
                row = offset + next(i for i, value in enumerate(chunk.cast(pa.binary()).to_pylist())
                                    if value is not None and not _is_utf8(value))
                raise DataError(f"{_where(task, name, row)}: {column} is not valid UTF-8") from None
            offset += len(chunk)
        lengths = pc.binary_length(values)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > FAR_PAST_LIMIT * limit:
            row = pc.index(lengths, longest).as_py()
            raise DataError(f"{_where(task, name, row)}: {column} holds {longest:,} bytes, far past the task's limit "
                            f"of {limit} tokens: broken data? (a longer limit: --max_source_length/--max_target_length)")


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _where(task: TaskSpec, split_name: str, row: int) -> str:
    """"<file>:<line>" of row `row` of a local JSON Lines split (lines that hold a record counted), else
    "<dataset> split <name>, row <n>"."""
    for path in _data_files(task.resolved_dataset(), task.dataset_config).get(split_name, []):
        if not str(path).endswith(".jsonl"):
            break
        with open(path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    if row == 0:
                        return f"{path}:{number}"
                    row -= 1
    return f"{task.resolved_dataset()} split {split_name}, row {row + 1}"


def first_unreadable_line(source: str, config: str | None) -> str | None:
    """The first line of a local JSON Lines dataset that is not a JSON object in UTF-8, as "<file>:<line>: why";
    None when every line reads (or the data is not local JSON Lines). Runs only after a failed load."""
    for paths in _data_files(source, config).values():
        for path in paths:
            if not str(path).endswith(".jsonl"):
                continue
            with open(path, "rb") as lines:
                for number, line in enumerate(lines, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line.decode("utf-8").strip())
                    except UnicodeDecodeError as error:
                        return f"{path}:{number}: not UTF-8 ({error.reason} at byte {error.start})"
                    except json.JSONDecodeError as error:
                        return f"{path}:{number}: not valid JSON ({error.msg}, column {error.colno})"
                    if not isinstance(record, dict):
                        return f"{path}:{number}: a JSON {type(record).__name__}, not an object"
    return None


def _data_files(source: str, config: str | None) -> dict[str, list]:
    """A local dataset folder's data files by split name; empty for a Hub id."""
    if not Path(source).is_dir():
        return {}
    return {str(split): list(paths) for split, paths in datasets.load_dataset_builder(source, config).config.data_files.items()}
