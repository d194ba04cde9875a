"""Evaluation: generate with `model.generate`, detokenize, score with `evaluate`.

Translation is scored with sacreBLEU (BLEU with its signature) and chrF;
summarization with ROUGE-1/2/L/Lsum (stemming), against every reference the
data has. Besides the corpus scores, an evaluation reports the main metric by
source-length bucket (long-range behaviour) and decoding speed.
"""

import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.tasks import TaskSpec
from ..files import write_lines
from .metrics import load_metric


def generate_texts(
    model,
    tokenizer,
    sources: list[str],
    max_source_length: int,
    batch_size: int = 32,
    show_progress: bool = False,
    **generate_kwargs,
) -> list[str]:
    """Decode `sources` with `model.generate`, in batches of similar length, in input order.

    Args:
        model: any seq2seq model of this project (unwrapped, not DDP).
        tokenizer: the task's tokenizer.
        sources: source texts.
        max_source_length: sources are truncated to this many tokens.
        batch_size: sentences per generate() call.
        show_progress: draw a tqdm bar.
        **generate_kwargs: num_beams, max_new_tokens, length_penalty, ... (the
            model's generation_config supplies the rest).
    """
    encoded = tokenizer(sources, truncation=True, max_length=max_source_length)["input_ids"]
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    texts = [""] * len(sources)
    was_training = model.training
    model.eval()
    starts = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="generating", disable=not show_progress, leave=False):
            batch = [encoded[i] for i in order[start : start + batch_size]]
            inputs = tokenizer.pad({"input_ids": batch}, return_tensors="pt").to(model.device)
            output = model.generate(**inputs, **generate_kwargs)
            for i, text in zip(order[start : start + batch_size], tokenizer.batch_decode(output, skip_special_tokens=True)):
                texts[i] = text.strip()
    model.train(was_training)
    return texts


def score(task: TaskSpec, predictions: list[str], references: list[list[str]]) -> dict:
    """Corpus scores, 0-100, keyed as `task.scores` says: {"bleu", "bleu_signature", "chrf", "chrf_signature"}
    or {"rouge1", "rouge2", "rougeL", "rougeLsum"}.

    `references[i]` lists every reference of prediction i.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    results = {module: load_metric(module).compute(predictions=predictions, references=references)
               for module in task.metrics}
    scores = {}
    for metric in task.scores:
        scores[metric.key] = results[metric.module][metric.output]
        if metric.signature:
            scores[f"{metric.key}_signature"] = results[metric.module]["signature"]
    return scores


def scores_by_length(
    task: TaskSpec,
    source_lengths: list[int],
    predictions: list[str],
    references: list[list[str]],
    buckets: int = 5,
) -> list[dict]:
    """The main metric per source-length bucket (quantile edges, so buckets hold similar counts).

    Returns [{"min_length", "max_length", "count", <main metric>: value}, ...],
    shortest first. Every architecture sharing the tokenizer gets the same edges.
    """
    lengths = np.asarray(source_lengths)
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, buckets + 1)).round().astype(int))
    rows = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        members = np.flatnonzero((lengths >= low) & ((lengths <= high) if last else (lengths < high)))
        if len(members) == 0:
            continue
        value = score(task, [predictions[j] for j in members], [references[j] for j in members])[task.main_metric]
        rows.append({"min_length": int(low), "max_length": int(high), "count": int(len(members)), task.main_metric: value})
    return rows


def distinct_share(outputs: list[str]) -> float:
    """Share of outputs that no other output repeats exactly: a model that has not learned
    the task writes the same few outputs for every input."""
    counts = Counter(outputs)
    return sum(1 for output in outputs if counts[output] == 1) / max(len(outputs), 1)


def score_outputs(task: TaskSpec, tokenizer, sources: list[str], outputs: list[str], references: list[list[str]]) -> dict:
    """What every scored set of outputs reports, a model's or a baseline's: the corpus scores, the main
    metric by source length (in `tokenizer`'s tokens), the share of distinct outputs and the count."""
    lengths = [len(ids) for ids in tokenizer(sources, truncation=True, max_length=task.max_source_length)["input_ids"]]
    return {
        **score(task, outputs, references),
        "by_source_length": scores_by_length(task, lengths, outputs, references),
        "distinct_outputs": distinct_share(outputs),
        "count": len(sources),
    }


def evaluate_model(
    model,
    tokenizer,
    task: TaskSpec,
    sources: list[str],
    references: list[list[str]],
    predictions_file: str | Path | None = None,
    batch_size: int = 32,
    show_progress: bool = True,
    **generate_kwargs,
) -> dict:
    """Generate for `sources`, score against `references`, time it, and break scores down by length.

    Generation settings default to the task's (beams, length penalty, max new
    tokens); `generate_kwargs` override them. Predictions go to
    `predictions_file` (one per line) when given.
    """
    settings = {**task.generation, **generate_kwargs}
    start = time.perf_counter()
    predictions = generate_texts(
        model, tokenizer, sources, task.max_source_length, batch_size, show_progress, **settings
    )
    seconds = time.perf_counter() - start
    result = {
        **score_outputs(task, tokenizer, sources, predictions, references),
        "sentences_per_second": len(sources) / seconds,
        "decode_seconds": seconds,
        "generation": settings,
    }
    if predictions_file is not None:
        write_lines(predictions_file, predictions)
    result["predictions"] = predictions
    return result
