"""A task's default budget from its corpus: passes over its training target tokens, bounded.

A task whose budget neither the flags nor the preset set (your own data, `budget_from_data`) trains each
row on `passes` times its training split's target tokens, kept within the preset's bounds for its kind
(`data_budget` in presets.py; the reasons in docs/presets.md). The target tokens are counted in the
task's shared tokenizer on a bounded, evenly spaced sample of training rows and scaled to the split,
so a corpus of millions of pairs costs no more to count than one of thousands.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..data.loading import load_splits
from ..data.tasks import TaskSpec
from ..data.tokenizer import load_tokenizer
from ..errors import ConfigError
from .presets import compare_preset

SAMPLE_ROWS = 2000  # training targets tokenized to estimate the split's mean target length
# A corpus is small for its kind when the budget's floor needs more than this many times the usual passes.
SMALL = 2


@dataclass
class DataBudget:
    """A budget that follows from the corpus, as results.json records it (`TaskEntry.budget["from_data"]`).

    Args:
        target_tokens: the budget per model.
        corpus_target_tokens: the training split's target tokens (estimated from `sampled` rows).
        train_examples: its pairs (at most --train_samples).
        sampled: the rows tokenized to estimate it.
        passes: the rule's passes over the corpus; low, high: its bounds in target tokens.
    """

    target_tokens: int
    corpus_target_tokens: int
    train_examples: int
    sampled: int
    passes: float
    low: int
    high: int

    def record(self) -> dict:
        return asdict(self)

    def small(self) -> bool:
        """Whether the corpus is small for its kind: the floor takes more than `SMALL` times the usual passes."""
        return self.low > SMALL * self.passes * self.corpus_target_tokens


def small_corpus_warning(task: TaskSpec, budget: DataBudget) -> str | None:
    """One line for a corpus too small for its kind, naming its size; None otherwise."""
    if not budget.small():
        return None
    actual = budget.target_tokens / max(budget.corpus_target_tokens, 1)
    return (f"{task.name}: a small corpus for {task.kind} ({budget.train_examples:,} pairs, ~"
            f"{budget.corpus_target_tokens:,} target tokens): the least default budget, {budget.low:,} target "
            f"tokens, is {actual:.0f} passes over it, so models may learn it by heart; more data helps most")


def rounded(count: float) -> int:
    """`count` to two significant digits (1,809,380 -> 1,800,000): a budget that reads well and that a
    re-count on other sampled rows of the same corpus gives again."""
    return int(float(f"{count:.2g}"))


def data_budget(preset: str, task: TaskSpec, tokenizer_dir, train_samples: int | None = None) -> DataBudget:
    """The budget of `task` under compare preset `preset` from its training split and the tokenizer in
    `tokenizer_dir`; raises ConfigError where the preset has no rule for budgets from the data."""
    rule = compare_preset(preset).get("data_budget", {}).get(task.kind)
    if rule is None:
        raise ConfigError(f"{task.name}: compare preset {preset!r} sets no budget for it: "
                          "give --budget_target_tokens or --budget_minutes")
    examples, tokens, sampled = corpus_target_tokens(task, tokenizer_dir, train_samples)
    budget = rounded(min(max(rule["passes"] * tokens, rule["low"]), rule["high"]))
    return DataBudget(target_tokens=budget, corpus_target_tokens=tokens, train_examples=examples,
                      sampled=sampled, **rule)


def corpus_target_tokens(task: TaskSpec, tokenizer_dir, train_samples: int | None) -> tuple[int, int, int]:
    """(training pairs, their target tokens, rows sampled): the mean target length, in tokens as training
    counts them (truncated, with </s>), of at most `SAMPLE_ROWS` evenly spaced rows, times the pairs."""
    split = load_splits(task, ("train",))["train"]
    examples = min(len(split), train_samples or len(split))
    rows = np.unique(np.linspace(0, len(split) - 1, min(len(split), SAMPLE_ROWS)).round().astype(int))
    targets = list(split.select(rows)[task.target_column])
    tokenizer = load_tokenizer(tokenizer_dir)
    lengths = [len(ids) for ids in tokenizer(targets, truncation=True, max_length=task.max_target_length)["input_ids"]]
    return examples, round(examples * float(np.mean(lengths))), len(rows)
