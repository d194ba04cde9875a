"""Tokenized splits: a task's text as token ids, truncated to the task's limits, kept in Arrow.

The ids are written by `datasets.map` into its cache (Arrow files that every later run and every rank
memory-maps), as compact integer lists; nothing here reads the corpus into Python objects. The map's
fingerprint is made from the split's own fingerprint, the tokenizer's content and the limits, so a fresh
process with the same data and tokenizer finds the cache instead of tokenizing again.
"""

import hashlib
import logging
import os
from typing import Iterator

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer

from .phases import phase
from .tasks import TaskSpec

logger = logging.getLogger(__name__)

# A split this large is tokenized by one process per core; smaller ones are not worth starting processes
# for (each process still tokenizes its batches on every core through the tokenizers' own threads).
PROCESSES_FROM = 100_000
BATCH_ROWS = 2_000  # rows per map batch
FORMAT = "lineage-ids-2"  # changes whenever what the map writes changes, so older caches are not reused
CHUNK_ROWS = 10_000  # rows read from Arrow at a time (`column_chunks`)


def tokenize_split(split: datasets.Dataset, tokenizer, task: TaskSpec, num_proc: int | None = None) -> datasets.Dataset:
    """Add `input_ids` and `labels` (each ending in </s>), truncated to the task's max lengths.

    Args:
        split: rows with the task's source and target columns.
        tokenizer: a fast tokenizer (its `backend_tokenizer` does the work).
        task: names the columns and the max lengths.
        num_proc: tokenizing processes (default: one per core from `PROCESSES_FROM` rows, else one); the
            result is the same for any number.

    The result keeps only those two columns (unsigned 16-bit ids when the vocabulary fits, else 32-bit);
    truncated sources are counted and logged.
    """
    if num_proc is None:
        num_proc = cores() if len(split) >= PROCESSES_FROM else 1
    encode = Encoder(tokenizer, task)
    with phase("tokenizing") as details:
        details.update(rows=len(split), processes=num_proc)
        tokenized = split.with_format("arrow").map(
            encode, batched=True, batch_size=BATCH_ROWS, remove_columns=split.column_names, features=encode.features,
            new_fingerprint=encode.fingerprint(split), num_proc=num_proc if num_proc > 1 else None,
            desc=f"tokenizing {len(split):,} rows",
        ).with_format(None)
    full = count_at_least(tokenized.data.column("input_ids"), task.max_source_length)
    if full:
        logger.warning("%s: %d of %d sources reach max_source_length=%d (truncated)",
                       task.name, full, len(tokenized), task.max_source_length)
    return tokenized


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def lengths(column: pa.ChunkedArray) -> np.ndarray:
    """The length of every list of an Arrow list column, as one int64 array (no Python object per row)."""
    if column.num_chunks == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([pc.list_value_length(chunk).to_numpy(zero_copy_only=False) for chunk in column.chunks]
                          ).astype(np.int64)


def column_chunks(data: datasets.Dataset, column: str, rows: np.ndarray | None = None) -> Iterator[pa.ChunkedArray]:
    """Column `column` of `data` at `rows` (sorted indices; None: every row), `CHUNK_ROWS` rows at a time, read
    from Arrow: only one chunk is ever held in Python. Restartable: each call reads the data again."""
    count = len(data) if rows is None else len(rows)
    view = data.select_columns([column]).with_format("arrow")
    for start in range(0, count, CHUNK_ROWS):
        keys = slice(start, start + CHUNK_ROWS) if rows is None else rows[start : start + CHUNK_ROWS]
        yield view[keys].column(0)


def count_at_least(column: pa.ChunkedArray, length: int) -> int:
    """How many lists of an Arrow list column have at least `length` items."""
    return int(pc.sum(pc.greater_equal(pc.list_value_length(column), length)).as_py() or 0)


class Encoder:
    """The map function: a batch of rows (an Arrow table) to its token-id columns.

    Args:
        tokenizer: a fast tokenizer; its backend is copied, with truncation set, so the caller's is untouched.
        task: names the columns and the max lengths.

    The truncation is the tokenizer's own (`truncation=True, max_length=...` in transformers): the
    </s> the post-processor adds counts towards the limit and ends every sequence.
    """

    def __init__(self, tokenizer, task: TaskSpec):
        self.content = tokenizer.backend_tokenizer.to_str()
        self.columns = ((task.source_column, task.max_source_length), (task.target_column, task.max_target_length))
        id_type = pa.uint16() if len(tokenizer) <= np.iinfo(np.uint16).max + 1 else pa.int32()
        self.features = datasets.Features({
            name: datasets.List(datasets.Value(str(id_type))) for name in ("input_ids", "labels")
        })
        self.type = pa.list_(id_type)
        self.backends = None  # built in the process that encodes (a map may run in other processes)

    def fingerprint(self, split: datasets.Dataset) -> str:
        """The cache key: the split's fingerprint, the tokenizer's content, the columns, limits and format."""
        parts = [FORMAT, split._fingerprint, self.content, repr(self.columns), str(self.type)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.backends is None:
            self.backends = [self._backend(limit) for _, limit in self.columns]
        arrays = [self._encode(backend, batch.column(name)) for backend, (name, _) in zip(self.backends, self.columns)]
        return pa.table({"input_ids": arrays[0], "labels": arrays[1]})

    def _backend(self, max_length: int) -> Tokenizer:
        backend = Tokenizer.from_str(self.content)
        backend.no_padding()
        backend.enable_truncation(max_length=max_length)
        return backend

    def _encode(self, backend: Tokenizer, texts: pa.ChunkedArray) -> pa.Array:
        encodings = backend.encode_batch_fast(texts.to_pylist())  # on every core, in order
        return pa.array([encoding.ids for encoding in encodings], type=self.type)
