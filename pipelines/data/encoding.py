"""Tokenized splits: a task's text as token ids, truncated to the task's limits."""

import logging

import datasets

from .tasks import TaskSpec

logger = logging.getLogger(__name__)


def tokenize_split(split: datasets.Dataset, tokenizer, task: TaskSpec) -> datasets.Dataset:
    """Add `input_ids` and `labels` (each ending in </s>), truncated to the task's max lengths.

    The result keeps only those two columns; truncations are counted and logged.
    """

    def encode(batch):
        sources = tokenizer(batch[task.source_column], truncation=True, max_length=task.max_source_length)
        targets = tokenizer(batch[task.target_column], truncation=True, max_length=task.max_target_length)
        return {"input_ids": sources["input_ids"], "labels": targets["input_ids"]}

    tokenized = split.map(encode, batched=True, remove_columns=split.column_names, desc="tokenizing")
    full = sum(len(ids) >= task.max_source_length for ids in tokenized["input_ids"])
    if full:
        logger.warning("%s: %d of %d sources reach max_source_length=%d (truncated)",
                       task.name, full, len(tokenized), task.max_source_length)
    return tokenized
