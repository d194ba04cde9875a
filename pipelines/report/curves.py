"""Quality against training budget: a comparison's milestone scores (`Row.milestones`) as a table, a
verdict per milestone and two plots, for report.md.

At a milestone of N target tokens a row's run keeps the models a run with a budget of N would end
with (lineage.training.loop.keep_milestones), so the curve's point at N is that run's score: the table and the
curves use the best model so far by validation, which is what a row of that budget is tested with.
Rows trained again with other seeds (`TaskEntry.other_seeds`, from --seed_runs) add their milestones:
each point is then the mean over the seeds that reached it, with the seeds' range as a band.
"""

import statistics

from ..data.tasks import score_name
from .plots import band_line, log_axis, plt
from .results import Row, TaskEntry
from .stats import budget_leaders, summary
from .tables import MISSING, tokens_text


def seed_runs(entry: TaskEntry, key: str) -> list[Row]:
    """Row `key` and its runs with other seeds."""
    return [entry.models[key]] + entry.other_seeds.get(key, [])


def milestone_counts(entry: TaskEntry) -> list[int]:
    """Every milestone any row of the task (any seed) was tested at, ascending."""
    return sorted({m.milestone for key in entry.models for run in seed_runs(entry, key) for m in run.milestones})


def series(entry: TaskEntry) -> dict[str, tuple[list[dict | None], list[float | None]]]:
    """Per model label: at each milestone, the summary over seeds of the test main metric (None: no seed
    reached it) and the mean training seconds it took."""
    main, found = entry.task.main_metric, {}
    for key, model in entry.models.items():
        tested = reached(entry, key)
        found[model.label] = ([summary([m.best_test[main] for m in ms]) if ms else None for ms in tested],
                              [statistics.fmean(m.train_seconds for m in ms) if ms else None for ms in tested])
    return found


def reached(entry: TaskEntry, key: str) -> list[list]:
    """Per milestone of the task (`milestone_counts`), the milestones of row `key`'s seed runs scored there."""
    main = entry.task.main_metric
    return [[m for run in seed_runs(entry, key) for m in run.milestones if m.milestone == count and main in m.best_test]
            for count in milestone_counts(entry)]


def seeds_note(entry: TaskEntry) -> str | None:
    """Which seeds the milestone scores come from, when more than one."""
    seeds = sorted({run.training.get("seed") for key in entry.models for run in seed_runs(entry, key)} - {None})
    if len(seeds) < 2:
        return None
    return (f"Seeds {', '.join(map(str, seeds))}: a cell gives the mean ± standard deviation over the seeds "
            "that reached that budget (one value: one seed); the curves draw their range as a band.")


def milestone_table(entry: TaskEntry) -> list[str]:
    """Test main metric at each milestone, one row per model (Markdown lines); for summarization with the
    share of distinct outputs (mean over seeds), which tells a model that writes one summary for every
    dialogue from one that has learned the task."""
    counts = milestone_counts(entry)
    lines = ["| model | " + " | ".join(tokens_text(c) for c in counts) + " |", "|---|" + "---|" * len(counts)]
    distinct = distinct_shares(entry) if entry.task.kind == "summarization" else {}
    for label, (scores, _) in series(entry).items():
        cells = [MISSING if s is None else f"{s['mean']:.2f}" + (f" ± {s['std']:.2f}" if s["n"] > 1 else "")
                 for s in scores]
        if label in distinct:
            cells = [cell if share is None else f"{cell} ({100 * share:.0f}% distinct)"
                     for cell, share in zip(cells, distinct[label])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def distinct_shares(entry: TaskEntry) -> dict[str, list[float | None]]:
    """Per model label, at each milestone, the mean over seeds of the best model's share of distinct test outputs."""
    found = {}
    for key, model in entry.models.items():
        shares = [[m.best_test["distinct_outputs"] for m in ms if "distinct_outputs" in m.best_test]
                  for ms in reached(entry, key)]
        found[model.label] = [statistics.fmean(values) if values else None for values in shares]
    return found


def leaders(entry: TaskEntry) -> list[str]:
    """Who leads at each milestone, and at which milestones the leader changes (Markdown bullets)."""
    found = {label: scores for label, (scores, _) in series(entry).items()}
    return budget_leaders(milestone_counts(entry), found, score_name(entry.task.main_metric))


def baseline_crossings(entry: TaskEntry) -> list[str]:
    """Per model, the milestone from which its test main metric (mean over seeds) stays above each
    baseline that learns nothing (Markdown bullets; none for a task without baselines)."""
    main, counts, lines = entry.task.main_metric, milestone_counts(entry), []
    for label, (scores, _) in series(entry).items():
        scored = [(count, s["mean"]) for count, s in zip(counts, scores) if s is not None]
        if not scored or not entry.baselines:  # a row without milestone scores says nothing here
            continue
        parts = []
        for baseline in entry.baselines.values():
            value, name = baseline.test[main], baseline.label.split(" (")[0]
            above = None
            for count, mean in reversed(scored):
                if mean <= value:
                    break
                above = count
            parts.append(f"above {name} ({value:.2f}) from {tokens_text(above)} on" if above
                         else f"below {name} ({value:.2f}) at {tokens_text(scored[-1][0])}")
        lines.append(f"- {label}: " + "; ".join(parts))
    return lines


def curves_figure(entry: TaskEntry, task: str):
    """Test main metric against target tokens and against training minutes (log x), one line per model
    (with the seeds' band), the baselines as dashed lines."""
    main, counts = entry.task.main_metric, milestone_counts(entry)
    figure, (by_tokens, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for label, (scores, seconds) in series(entry).items():
        band_line(by_tokens, counts, scores, label)
        band_line(by_time, [None if s is None else s / 60 for s in seconds], scores, label)
    for baseline in entry.baselines.values():
        for axis in (by_tokens, by_time):
            axis.axhline(baseline.test[main], linestyle="--", color="grey", linewidth=1)
        by_tokens.annotate(baseline.label.split(" (")[0], (0.01, baseline.test[main]), xycoords=("axes fraction", "data"),
                           fontsize=7, color="grey", va="bottom")
    log_axis(by_tokens, "training target tokens", counts)
    log_axis(by_time, "training time (minutes)")
    for axis in (by_tokens, by_time):
        axis.set_ylabel(f"test {score_name(main)}")
    by_tokens.legend(fontsize=8)
    figure.suptitle(f"{task}: test {score_name(main)} against training budget (best model so far by validation)")
    return figure
