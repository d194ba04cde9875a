"""1. Quality at equal budget: the architectures' test scores over seeds, per task, at the full budget
and at each milestone."""

from pathlib import Path

from ..data.tasks import score_name
from ..models.architectures import GENERATIONS, LABELS
from ..report.plots import plt, save
from ..report.stats import budget_leaders, confidence_text, difference, percent, summary, value_text
from ..report.tables import markdown_table
from . import budgets
from .grid import Grid, role_of

TITLE = "Quality at equal budget"
QUESTION = "Does the Transformer win on translation and summarization? Does the LSTM hold up better on summarization?"


def numbers(grid: Grid) -> dict:
    tasks = {}
    for task_id in grid.settings["tasks"]:
        metric = grid.metric(task_id)
        archs = {arch: grid.scores(grid.seeds(task_id, arch)) for arch in GENERATIONS}
        seconds = {arch: summary([grid.entries[c].training["train_seconds"] for c in grid.seeds(task_id, arch)])["mean"]
                   for arch in GENERATIONS}
        tasks[grid.tasks[task_id].name] = {
            "metric": metric, "metric_label": score_name(metric), "archs": archs, "noise": grid.noise(task_id),
            "train_seconds": seconds,
            "budget_target_tokens": grid.settings["tasks"][task_id]["budget_target_tokens"],
            "budgets": grid.budgets(task_id),
            "by_budget": {arch: grid.scores_by_budget(grid.seeds(task_id, arch)) for arch in GENERATIONS},
        }
    return {"tasks": tasks, "translation": grid.tasks[role_of(grid.settings, "translation")].name,
            "summarization": grid.tasks[role_of(grid.settings, "summarization")].name}


def plot(numbers: dict, run_dir: Path) -> list[str]:
    tasks = numbers["tasks"]
    figure, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for axis, (task, entry) in zip(axes[0], tasks.items()):
        archs = list(entry["archs"])
        means = [entry["archs"][a]["mean"] for a in archs]
        axis.bar(range(len(archs)), means, yerr=[entry["archs"][a]["std"] for a in archs], capsize=5,
                 color=[f"C{i}" for i in range(len(archs))])
        for i, arch in enumerate(archs):  # every seed, so the spread is visible as points too
            values = entry["archs"][arch]["values"]
            axis.scatter([i] * len(values), values, color="black", s=10, zorder=3)
        axis.set_xticks(range(len(archs)), [LABELS[a] for a in archs])
        axis.set_ylabel(f"test {entry['metric_label']}")
        axis.set_title(f"{task}: {entry['budget_target_tokens']:,} target tokens each", fontsize=9)
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle("Quality at equal budget (mean ± std over seeds; dots: seeds)")
    plots = [save(figure, run_dir, "study-quality.png")]
    curves = budgets.figure({task: (entry.get("budgets"), labelled(entry.get("by_budget", {})), entry["metric_label"])
                             for task, entry in tasks.items()}, "Quality against training budget")
    return plots + ([save(curves, run_dir, "study-quality-budgets.png")] if curves else [])


def labelled(by_arch: dict) -> dict:
    return {LABELS[arch]: series for arch, series in by_arch.items()}


def table(numbers: dict) -> list[str]:
    rows = [[task, LABELS[arch], entry["metric_label"], f"{s['mean']:.2f}", f"{s['std']:.2f}", str(s["n"]),
             ", ".join(f"{v:.2f}" for v in s["values"]), f"{entry['train_seconds'][arch]:.0f}"]
            for task, entry in numbers["tasks"].items() for arch, s in entry["archs"].items()]
    lines = markdown_table(["task", "model", "test metric", "mean", "std", "seeds", "per seed", "training seconds"], rows)
    for task, entry in numbers["tasks"].items():
        if entry.get("budgets"):
            lines += ["", f"{task}: test {entry['metric_label']} at each budget (mean ± std over seeds)", ""]
            lines += budgets.table(entry["budgets"], labelled(entry["by_budget"]), "model")
    return lines


def verdict(numbers: dict) -> str:
    """Which architecture wins each task, by how much and how surely; and the LSTM-Transformer gap per task."""
    lines, winners, gaps = [], {}, {}
    for task, entry in numbers["tasks"].items():
        metric, archs = entry["metric_label"], entry["archs"]
        ranked = sorted(archs, key=lambda a: archs[a]["mean"], reverse=True)
        best, runner_up = ranked[0], ranked[1]
        d = difference(archs[best], archs[runner_up], entry.get("noise"))
        winners[task] = best
        ranking = " > ".join(f"{LABELS[a]} {value_text(archs[a])}" for a in ranked)
        lines.append(f"- {task}: {ranking} test {metric}. {LABELS[best]} leads {LABELS[runner_up]} by "
                     f"{d['difference']:.1f} ({confidence_text(d)}).")
        if entry.get("budgets"):
            lines.append(f"  {task} by training budget:")
            lines += ["  " + line for line in budget_leaders(entry["budgets"], labelled(entry["by_budget"]), metric,
                                                              entry.get("noise"))]
        if "lstm" in archs and "transformer" in archs and archs["transformer"]["mean"] > 0:
            gaps[task] = archs["lstm"]["mean"] / archs["transformer"]["mean"] - 1
    tasks = list(numbers["tasks"])
    won = [t for t in tasks if winners[t] == "transformer"]
    if len(won) == len(tasks):
        lines.append(f"The Transformer wins on {'both tasks' if len(tasks) == 2 else 'every task'} at this budget.")
    elif won:
        lines.append(f"The Transformer wins only on {', '.join(won)}.")
    else:
        lines.append("The Transformer wins on no task at this budget.")
    translation, summarization = numbers.get("translation"), numbers.get("summarization")
    if translation in gaps and summarization in gaps:
        better = gaps[summarization] > gaps[translation]
        lines.append(
            f"LSTM relative to Transformer: {percent(gaps[translation])} on translation, "
            f"{percent(gaps[summarization])} on summarization, so the LSTM "
            + ("holds up better on summarization." if better else "does not hold up better on summarization.")
        )
    return "\n".join(lines)
