"""4. Training-set size: learning curves of the architectures at equal budget, and who leads at each
training budget for each training-set size."""

from pathlib import Path

from ..data.tasks import score_name
from ..models.architectures import GENERATIONS, LABELS
from ..report.plots import plt, save
from ..report.stats import budget_leaders, confidence_text, difference
from ..report.tables import markdown_table
from . import budgets
from .grid import Grid

TITLE = "Training-set size"
QUESTION = "Are recurrent models better with little data? Where do the learning curves cross?"


def numbers(grid: Grid) -> dict:
    tasks = {}
    for task_id, spec in grid.settings["tasks"].items():
        if not spec["data_sizes"]:
            continue
        full = grid.train_size(task_id)
        sizes = [n for n in spec["data_sizes"] if n < full]
        cells = {arch: [grid.seeds(task_id, arch, samples=n, sweep=True) for n in sizes] + [grid.seeds(task_id, arch)]
                 for arch in GENERATIONS}
        metric = grid.metric(task_id)
        tasks[grid.tasks[task_id].name] = {
            "metric": metric, "metric_label": score_name(metric), "sizes": sizes + [full],
            "archs": {arch: [grid.scores(c) for c in by_size] for arch, by_size in cells.items()},
            "noise": grid.noise(task_id), "budgets": grid.budgets(task_id),
            "by_budget": {arch: [grid.scores_by_budget(c) for c in by_size] for arch, by_size in cells.items()},
        }
    return {"tasks": tasks}


def plot(numbers: dict, run_dir: Path) -> list[str]:
    tasks = numbers["tasks"]
    if not tasks:
        return []
    figure, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.8), squeeze=False)
    for axis, (task, entry) in zip(axes[0], tasks.items()):
        for arch, series in entry["archs"].items():
            axis.errorbar(entry["sizes"], [s["mean"] for s in series], yerr=[s["std"] for s in series], marker="o",
                          capsize=3, label=LABELS[arch])
        axis.set_xscale("log")
        axis.set_xlabel("training pairs")
        axis.set_ylabel(f"test {entry['metric_label']}")
        axis.set_title(task)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Learning curves at equal budget per model")
    plots = [save(figure, run_dir, "study-data-size.png")]
    curves = budgets.figure({f"{task}, {size:,} pairs": (entry.get("budgets"), at_size(entry, i), entry["metric_label"])
                             for task, entry in tasks.items() for i, size in enumerate(entry["sizes"])},
                            "Quality against training budget, per training-set size")
    return plots + ([save(curves, run_dir, "study-data-size-budgets.png")] if curves else [])


def table(numbers: dict) -> list[str]:
    lines = []
    for task, entry in numbers["tasks"].items():
        rows = [[task, LABELS[arch]] + [f"{s['mean']:.2f}" + (f" ± {s['std']:.2f}" if s["n"] > 1 else "")
                                                 for s in series] for arch, series in entry["archs"].items()]
        lines += markdown_table(["task", "model"] + [f"{n:,} pairs" for n in entry["sizes"]], rows) + [""]
        for i, size in enumerate(entry["sizes"] if entry.get("budgets") else []):
            lines += [f"{task}, {size:,} training pairs: test {entry['metric_label']} at each budget", ""]
            lines += budgets.table(entry["budgets"], at_size(entry, i), "model") + [""]
    return lines


def at_size(entry: dict, i: int) -> dict:
    """The architectures' series by budget at the i-th training-set size."""
    return {LABELS[arch]: by_size[i] for arch, by_size in entry["by_budget"].items()}


def verdict(numbers: dict) -> str:
    """The best architecture at each training-set size, and where the curves cross."""
    lines = []
    for task, entry in numbers["tasks"].items():
        sizes, archs, metric = entry["sizes"], entry["archs"], entry["metric_label"]
        best = [max(archs, key=lambda a: archs[a][i]["mean"]) for i in range(len(sizes))]
        points = ", ".join(f"{size:,}: {LABELS[b]} {archs[b][i]['mean']:.1f}" for i, (size, b) in enumerate(zip(sizes, best)))
        lines.append(f"- {task} (best test {metric} per training-set size) {points}.")
        crossings = [(sizes[i], sizes[i + 1], best[i], best[i + 1]) for i in range(len(sizes) - 1) if best[i] != best[i + 1]]
        if crossings:
            lines.append("  The curves cross: " + "; ".join(
                f"between {a:,} and {b:,} pairs the lead passes from {LABELS[x]} to {LABELS[y]}" for a, b, x, y in crossings) + ".")
        else:
            lines.append(f"  No crossing: {LABELS[best[0]]} leads at every size.")
        if "transformer" in archs:
            recurrent = [a for a in archs if a != "transformer"]
            smallest = max(recurrent, key=lambda a: archs[a][0]["mean"])
            d = difference(archs[smallest][0], archs["transformer"][0], entry.get("noise"))
            verb = "beats" if d["difference"] > 0 else "trails"
            lines.append(f"  With the least data ({sizes[0]:,}) the best recurrent model ({LABELS[smallest]}) {verb} the "
                         f"Transformer by {abs(d['difference']):.1f} ({confidence_text(d)}).")
        for i, size in enumerate(sizes if entry.get("budgets") else []):
            lines.append(f"  {size:,} training pairs, by training budget:")
            lines += ["  " + line for line in budget_leaders(entry["budgets"], at_size(entry, i), metric, entry.get("noise"))]
    return "\n".join(lines)
