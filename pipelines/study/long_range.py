"""3. Long-range dependencies: the test score by source-length bucket, recurrent models with
and without attention; and attention's gain at each training budget."""

import statistics
from pathlib import Path

from ..data.tasks import score_name
from ..models.architectures import GENERATIONS, LABELS, RECURRENT
from ..report.plots import plt, save
from ..report.stats import budget_leaders, percent, summary
from ..report.tables import markdown_table
from . import budgets
from .grid import RECURRENT_GENERATIONS, Grid, role_of

TITLE = "Long-range dependencies"
QUESTION = "How does quality change with source length, and do RNN/LSTM without attention suffer from the fixed-vector bottleneck?"


def numbers(grid: Grid) -> dict:
    task_id = role_of(grid.settings, "translation")
    metric = grid.metric(task_id)
    rows, by_budget = {}, {}
    candidates = [(arch, "", False) for arch in GENERATIONS] + [(arch, "no-attention", True) for arch in RECURRENT_GENERATIONS]
    for arch, variant, sweep in candidates:
        cells = grid.seeds(task_id, arch, variant, sweep=sweep)
        buckets = [grid.entries[c].test["by_source_length"] for c in cells]
        per_bucket = [summary([b[i][metric] for b in buckets]) for i in range(len(buckets[0]))]
        attention = grid.entries[cells[0]].model_config.get("attention", "multi-head")
        label = grid.entries[cells[0]].label
        rows[label] = {"arch": arch, "attention": attention != "none", "values": [s["mean"] for s in per_bucket],
                       "stds": [s["std"] for s in per_bucket], "n": len(cells)}
        if arch in RECURRENT:
            by_budget.setdefault(LABELS[arch], {})[label] = grid.scores_by_budget(cells)
    first = grid.entries[grid.first(task_id, "rnn")].test["by_source_length"]
    return {"metric": metric, "metric_label": score_name(metric), "task": grid.tasks[task_id].name,
            "buckets": [f"{b['min_length']}-{b['max_length']}" for b in first], "bucket_size": first[0]["count"],
            "rows": rows, "budgets": grid.budgets(task_id), "by_budget": by_budget, "noise": grid.noise(task_id)}


def plot(numbers: dict, run_dir: Path) -> list[str]:
    figure, axis = plt.subplots(figsize=(7, 4))
    for label, row in numbers["rows"].items():
        axis.errorbar(numbers["buckets"], row["values"], yerr=row["stds"], marker="o", capsize=3, label=label,
                      linestyle="-" if row["attention"] else "--")
    axis.set_xlabel("source length bucket (tokens)")
    axis.set_ylabel(f"test {numbers['metric_label']}")
    axis.set_title(f"{numbers['task']}: quality by source length (dashed: no attention)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    plots = [save(figure, run_dir, "study-long-range.png")]
    curves = budgets.figure({arch: (numbers.get("budgets"), series, numbers["metric_label"])
                             for arch, series in numbers.get("by_budget", {}).items()},
                            f"{numbers['task']}: with and without attention against training budget")
    return plots + ([save(curves, run_dir, "study-attention-budgets.png")] if curves else [])


def table(numbers: dict) -> list[str]:
    rows = [[label] + [f"{v:.2f} ± {s:.2f}" for v, s in zip(row["values"], row["stds"])] + [str(row["n"])]
            for label, row in numbers["rows"].items()]
    lines = markdown_table(["model"] + [f"src {b}" for b in numbers["buckets"]] + ["seeds"], rows)
    if numbers.get("budgets"):
        lines += ["", f"With and without attention: test {numbers['metric_label']} at each budget", ""]
        lines += budgets.table(numbers["budgets"], {label: series for by_arch in numbers["by_budget"].values()
                                                    for label, series in by_arch.items()}, "model")
    return lines


def verdict(numbers: dict) -> str:
    """The metric's change from the shortest to the longest source bucket, with and without attention."""
    metric, buckets = numbers["metric_label"], numbers["buckets"]
    drops = {}
    for label, row in numbers["rows"].items():
        first, last = row["values"][0], row["values"][-1]
        drops[label] = (last / first - 1) if first > 0 else 0.0
    parts = [f"{label} {numbers['rows'][label]['values'][0]:.1f} -> {numbers['rows'][label]['values'][-1]:.1f} "
             f"({percent(drop)})" for label, drop in drops.items()]
    lines = [f"Test {metric} from the shortest ({buckets[0]} tokens) to the longest ({buckets[-1]}) source bucket: "
             + "; ".join(parts) + "."]
    without = [drops[l] for l, r in numbers["rows"].items() if not r["attention"]]
    with_attention = [drops[l] for l, r in numbers["rows"].items() if r["attention"] and r["arch"] != "transformer"]
    if without and with_attention:
        gap = statistics.fmean(with_attention) - statistics.fmean(without)
        if gap > 0.10:
            lines.append(f"The fixed-vector bottleneck shows: without attention the recurrent models lose "
                         f"{100 * gap:.0f} percentage points more on long sources than with attention.")
        elif gap < -0.10:
            lines.append(f"No bottleneck visible: the no-attention models lose {-100 * gap:.0f} percentage points "
                         "less on long sources than the attention models.")
        else:
            lines.append("No clear bottleneck effect: with and without attention the recurrent models lose about "
                         f"the same share on long sources (within 10 percentage points; gap {100 * gap:+.0f}).")
    for arch, series in numbers.get("by_budget", {}).items() if numbers.get("budgets") else ():
        lines.append(f"{arch} with and without attention, by training budget:")
        lines += budget_leaders(numbers["budgets"], series, metric, numbers.get("noise"))
    seeds = sorted({row["n"] for row in numbers["rows"].values()})
    lines.append(f"Seeds per row: {', '.join(map(str, seeds))}; each bucket holds about "
                 f"{numbers['bucket_size']} test sentences, so a bucket's score is noisier than the corpus score.")
    return "\n".join(lines)
