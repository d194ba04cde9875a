"""How long a comparison will take, from a short measured warm-up on this machine.

Before `lineage compare` trains anything it runs, for each row still to
train, a few training steps on real batches of the task and decodes a few
validation and test examples; the row's time is then its budget divided by
the measured speed, plus its evaluations and its tests (milestones included). The first step of
each kind is left out of the timing (thread pools, kernel selection). The
estimate is for this process's threads and the machine's load at the time.
"""

import time
from dataclasses import dataclass

import numpy as np

from ..data.batching import Seq2SeqCollator, TokenBatchSampler
from ..data.encoding import tokenize_split
from ..data.loading import load_splits
from ..evaluation.generation import generate_texts
from ..training.config import TrainConfig, milestone_tokens
from ..training.cpu import configure_cpu
from ..training.objective import loss_and_tokens, make_optimizer

WARMUP_STEPS = 3  # timed: all but the first
DECODED = 4  # validation (greedy) and test (beam) examples decoded


@dataclass
class RowEstimate:
    """Seconds one row will take, by part."""

    training: float
    evaluations: float
    test: float

    @property
    def total(self) -> float:
        return self.training + self.evaluations + self.test


def estimate_row(config: TrainConfig, tokenizer, test_sources: list[str]) -> RowEstimate:
    """Measure `config`'s model on its task for a few steps and decodes; extrapolate to its budget."""
    from ..models import build_model

    configure_cpu()
    task = config.task_spec()
    splits = load_splits(task, ("train", "validation"))
    data = tokenize_split(splits["train"].select(range(min(512, len(splits["train"])))), tokenizer, task)
    model = build_model(config.arch, tokenizer, config.size, **config.model_overrides())
    model.generation_config.update(**task.generation)
    optimizer = make_optimizer(config, model)
    collate = Seq2SeqCollator(tokenizer.pad_token_id, model.config.decoder_start_token_id)
    sources, targets = list(data["input_ids"]), list(data["labels"])
    sampler = TokenBatchSampler([len(s) for s in sources], [len(t) for t in targets], config.batch_tokens, seed=config.seed)
    batches = [collate([{"input_ids": sources[i], "labels": targets[i]} for i in indices])
               for indices in list(sampler)[:WARMUP_STEPS]]
    seconds, tokens = 0.0, 0
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        loss, count = loss_and_tokens(model, batch, config.label_smoothing, coverage=config.coverage)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:
            seconds, tokens = seconds + time.perf_counter() - start, tokens + int(count)
    tokens_per_second = tokens / max(seconds, 1e-9) if tokens else 1.0
    training = 60 * config.budget_minutes if config.budget_minutes else config.budget_target_tokens / tokens_per_second
    tokens_per_step = tokens / max(len(batches) - 1, 1)
    steps = training * tokens_per_second / max(tokens_per_step, 1)
    # An untrained model never stops by itself: decode the training targets' median length instead.
    length = int(np.median([len(t) for t in targets])) + 1
    validation = list(splits["validation"][task.source_column][:DECODED])
    greedy = seconds_per_example(model, tokenizer, task, validation, num_beams=1, max_new_tokens=length)
    milestones = len(milestone_tokens(config.milestones))
    evaluations = (steps // config.eval_every + 1 + milestones) * config.eval_samples * greedy
    # The best model is tested, and at each milestone at most two more: the model kept there and the best so far.
    tests = 1 + 2 * milestones
    test = tests * len(test_sources) * seconds_per_example(model, tokenizer, task, test_sources[:DECODED],
                                                           max_new_tokens=length)
    return RowEstimate(training, evaluations, test)


def seconds_per_example(model, tokenizer, task, sources: list[str], **generate_kwargs) -> float:
    """Decoding seconds per example with the task's settings and `generate_kwargs` (after a first, untimed call)."""
    settings = {**task.generation, **generate_kwargs}
    generate_texts(model, tokenizer, sources[:1], task.max_source_length, **settings)
    start = time.perf_counter()
    generate_texts(model, tokenizer, sources, task.max_source_length, **settings)  # itself under inference_mode
    return (time.perf_counter() - start) / max(len(sources), 1)
