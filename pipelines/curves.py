"""Quality against training budget: a comparison's milestone scores (`Row.milestones`) as a table, a
verdict per milestone and two plots, for report.md.

At a milestone of N target tokens a row's run keeps the models a run with a budget of N would end
with (training.keep_milestones), so the curve's point at N is that run's score: the table and the
curves use the best model so far by validation, which is what a row of that budget is tested with.
"""

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from .results import TaskEntry  # noqa: E402
from .tasks import score_name  # noqa: E402


def tokens_text(count: int) -> str:
    """250000 -> "250k", 1000000 -> "1M", 1500000 -> "1.5M"."""
    for scale, suffix in ((10**6, "M"), (10**3, "k")):
        if count >= scale:
            return f"{count / scale:.3g}{suffix}"
    return str(count)


def milestone_counts(entry: TaskEntry) -> list[int]:
    """Every milestone any row of the task was tested at, ascending."""
    return sorted({m.milestone for model in entry.models.values() for m in model.milestones})


def milestone_table(entry: TaskEntry) -> list[str]:
    """Test main metric at each milestone, one row per model (Markdown lines)."""
    main, counts = entry.task.main_metric, milestone_counts(entry)
    lines = ["| model | " + " | ".join(tokens_text(c) for c in counts) + " |", "|---|" + "---|" * len(counts)]
    for model in entry.models.values():
        scores = {m.milestone: m.best_test.get(main) for m in model.milestones}
        cells = [f"{scores[c]:.2f}" if scores.get(c) is not None else "—" for c in counts]
        lines.append(f"| {model.label} | " + " | ".join(cells) + " |")
    return lines


def leaders(entry: TaskEntry) -> list[str]:
    """Who leads at each milestone, and at which milestones the leader changes (Markdown bullets)."""
    main, lines, previous = entry.task.main_metric, [], None
    for count in milestone_counts(entry):
        scored = {model.label: m.best_test[main] for model in entry.models.values()
                  for m in model.milestones if m.milestone == count and main in m.best_test}
        if len(scored) < 2:
            continue
        order = sorted(scored, key=scored.get, reverse=True)
        lead = scored[order[0]] - scored[order[1]]
        change = "" if previous in (None, order[0]) else f" (the lead changes: {previous} led before)"
        lines.append(f"- at {tokens_text(count)} target tokens: {order[0]} leads by {lead:.2f} "
                     f"{score_name(main)} over {order[1]}{change}")
        previous = order[0]
    return lines


def curves_figure(entry: TaskEntry, task: str):
    """Test main metric against target tokens and against training minutes (log x), one line per model,
    the baselines as dashed lines."""
    main = entry.task.main_metric
    figure, (by_tokens, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for model in entry.models.values():
        points = [(m.target_tokens, m.train_seconds / 60, m.best_test[main]) for m in model.milestones
                  if main in m.best_test]
        if points:
            tokens, minutes, scores = zip(*points)
            by_tokens.plot(tokens, scores, marker="o", label=model.label)
            by_time.plot(minutes, scores, marker="o", label=model.label)
    for baseline in entry.baselines.values():
        for axis in (by_tokens, by_time):
            axis.axhline(baseline.test[main], linestyle="--", color="grey", linewidth=1)
        by_tokens.annotate(baseline.label.split(" (")[0], (0.01, baseline.test[main]), xycoords=("axes fraction", "data"),
                           fontsize=7, color="grey", va="bottom")
    for axis, label in ((by_tokens, "training target tokens"), (by_time, "training time (minutes)")):
        axis.set_xscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel(f"test {score_name(main)}")
        axis.grid(alpha=0.3, which="both")
    by_tokens.legend(fontsize=8)
    figure.suptitle(f"{task}: test {score_name(main)} against training budget (best model so far by validation)")
    return figure
