"""Real training batches for the benchmarks that need them: Multi30k de-en, tokenized and batched as training does."""

import torch


def multi30k_examples(vocab_size: int, samples: int | None = None) -> tuple:
    """The tokenizer trained on Multi30k de-en's training split (or its first `samples` pairs), and that split's
    source and target token ids as lists, as training tokenizes them (lineage.data.encoding.tokenize_split)."""
    from ..data.encoding import tokenize_split
    from ..data.loading import load_splits
    from ..data.tasks import get_task
    from ..data.tokenizer import train_tokenizer

    task = get_task("multi30k")
    train = load_splits(task, ("train",))["train"]
    train = train.select(range(min(samples or len(train), len(train))))
    tokenizer = train_tokenizer(list(train[task.source_column]) + list(train[task.target_column]), vocab_size)
    data = tokenize_split(train, tokenizer, task)
    return tokenizer, list(data["input_ids"]), list(data["labels"])


def collated(collate, sources: list, targets: list, batches: list, count: int) -> list[dict[str, torch.Tensor]]:
    """The first `count` batches of example indices as padded tensors (`collate`: a data.batching.Seq2SeqCollator)."""
    return [collate([{"input_ids": sources[i], "labels": targets[i]} for i in batch]) for batch in batches[:count]]
