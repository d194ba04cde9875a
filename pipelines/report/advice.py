"""What to try when a row has not learned its task: one line per row, read from the row's own run.

Its validation loss over the last third of its budget tells a run that stopped too early (still falling:
a larger budget) from one that has learned what it can (flat: a smaller model, more data) or has begun to
learn its training set by heart (rising from its lowest: a smaller model); a summarizer that does not copy
is pointed to copy attention, which learned both of the project's summarization tasks soonest
(docs/budget-curves: the pointer-generator wrote 99% distinct DialogSum summaries at 150k summary tokens).
"""

import math

from .results import Row

# The share by which the validation loss must move over the last third of a run to count as falling or rising.
MOVED = 0.02
# A validation loss above this share of a uniform guess's (ln of the vocabulary size) has barely begun to fall:
# every row of the budget curves was below 0.55 of it by its first milestone (Multi30k 250k, DialogSum 150k).
BARELY = 0.75


def last_third(model: Row) -> tuple[float, float, float] | None:
    """(validation loss at the first of the run's own evaluations in the last third of its target tokens (at
    least the one before the last), at the end, at its lowest); None for a row with fewer than two."""
    points = [(e["target_tokens"], e["val_loss"]) for e in model.evaluations
              if "val_loss" in e and "target_tokens" in e and not e.get("milestone_only")]
    if len(points) < 2:
        return None
    end_tokens, end = points[-1]
    window = [loss for tokens, loss in points[:-1] if tokens >= 2 * end_tokens / 3] or [points[-2][1]]
    return window[0], end, min(loss for _, loss in points)


def larger_budget(budget: dict | None) -> str:
    """The flag for twice `budget` (a results budget), or words where there is none."""
    if not budget:
        return "a larger --budget_target_tokens"
    if budget["kind"] == "minutes":
        return f"--budget_minutes {2 * budget['value']:g}"
    return f"--budget_target_tokens {2 * int(budget['value'])}"


def advice(name: str, model: Row, kind: str, budget: dict | None) -> str:
    """What to try for row `name` (its key: "lstm"), which has not learned a task of `kind` under `budget`."""
    tips = []
    curve = last_third(model)
    vocabulary = model.model_config.get("vocab_size")
    uniform = math.log(vocabulary) if vocabulary else math.inf
    if curve is None:
        tips.append(f"a larger budget ({larger_budget(budget)}; too few validation evaluations to read a curve)")
    else:
        start, end, lowest = curve
        if end > BARELY * uniform:
            tips.append(f"a larger budget: its validation loss, {end:.2f}, is still near a uniform guess's "
                        f"({uniform:.2f}), so it has barely begun, e.g. {larger_budget(budget)}")
        elif end <= start * (1 - MOVED) and end <= lowest:
            tips.append(f"a larger budget: its validation loss was still falling at the end ({start:.2f} -> "
                        f"{end:.2f} over the last third), e.g. {larger_budget(budget)}")
        elif end >= lowest * (1 + MOVED):
            tips.append(f"a smaller model or more data: its validation loss rose from its lowest, {lowest:.2f}, "
                        f"to {end:.2f} (`lineage train --size tiny` trains a smaller one)")
        else:
            tips.append(f"a smaller model or more data: its validation loss has levelled off ({start:.2f} -> "
                        f"{end:.2f} over the last third), so more of the same budget gains little")
    if kind == "summarization" and not model.model_config.get("copy_attention"):
        row = "lstm-pointer-generator" if model.arch == "transformer" else f"{model.arch}-pointer-generator"
        tips.append(f"copy attention (`--rows {row}`), which copies names and facts from the source")
    return f"{name}: " + "; ".join(tips) + "."
