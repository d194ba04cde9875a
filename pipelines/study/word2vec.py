"""5. word2vec initialisation: random vs word2vec vs frozen word2vec embeddings, small and full data, at
the full budget and at each milestone."""

import statistics
from pathlib import Path

import numpy as np

from ..data.tasks import score_name
from ..models.architectures import GENERATIONS, LABELS
from ..report.plots import plt, save
from ..report.stats import difference
from ..report.tables import MISSING, markdown_table, tokens_text
from .grid import Grid, role_of

VARIANTS = ("word2vec", "word2vec-frozen")

TITLE = "word2vec initialisation"
QUESTION = "Does starting from static word2vec embeddings (trained or frozen) still help, and when?"


def numbers(grid: Grid) -> dict:
    task_id = role_of(grid.settings, "translation")
    full = grid.train_size(task_id)
    archs, by_budget = {}, {}
    for arch in GENERATIONS:
        archs[arch], by_budget[arch] = {}, {}
        for n in grid.settings["word2vec_sizes"]:
            label = size_label(n, full)
            random_cells = grid.seeds(task_id, arch) if n is None else grid.seeds(task_id, arch, samples=n, sweep=True)
            cells = {"random": random_cells} | {variant: grid.seeds(task_id, arch, variant, n, sweep=True)
                                                for variant in VARIANTS}
            archs[arch][label] = {variant: grid.scores(c) for variant, c in cells.items()}
            by_budget[arch][label] = {variant: grid.scores_by_budget(c) for variant, c in cells.items()}
    metric = grid.metric(task_id)
    return {"metric": metric, "metric_label": score_name(metric), "task": grid.tasks[task_id].name,
            "sizes": [size_label(n, full) for n in grid.settings["word2vec_sizes"]], "archs": archs,
            "noise": grid.noise(task_id), "budgets": grid.budgets(task_id), "by_budget": by_budget}


def size_label(samples: int | None, full: int) -> str:
    return f"all {full:,} pairs" if samples is None or samples >= full else f"{samples:,} pairs"


def plot(numbers: dict, run_dir: Path) -> list[str]:
    sizes, variants = numbers["sizes"], ("random", "word2vec", "word2vec-frozen")
    figure, axes = plt.subplots(1, len(sizes), figsize=(4.8 * len(sizes), 3.8), squeeze=False)
    for axis, size in zip(axes[0], sizes):
        archs = list(numbers["archs"])
        for j, variant in enumerate(variants):
            cells = [numbers["archs"][a][size][variant] for a in archs]
            axis.bar(np.arange(len(archs)) + (j - 1) * 0.27, [c["mean"] for c in cells], 0.27,
                     yerr=[c["std"] for c in cells], capsize=3, label=variant)
        axis.set_xticks(range(len(archs)), [LABELS[a] for a in archs])
        axis.set_ylabel(f"test {numbers['metric_label']}")
        axis.set_title(f"{numbers['task']}, {size}", fontsize=9)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("Embedding initialisation")
    return [save(figure, run_dir, "study-word2vec.png")]


def table(numbers: dict) -> list[str]:
    rows = [[LABELS[arch], size] + [f"{variants[v]['mean']:.2f}" for v in ("random", "word2vec", "word2vec-frozen")]
            for arch, by_size in numbers["archs"].items() for size, variants in by_size.items()]
    lines = markdown_table(["model", "training data", "random", "word2vec", "word2vec frozen"], rows)
    if numbers.get("budgets"):
        lines += ["", f"Change over random embeddings at each budget (test {numbers['metric_label']}, mean over "
                  "architectures):", ""]
        lines += markdown_table(["training data", "embeddings"] + [f"{tokens_text(b)} tokens" for b in numbers["budgets"]],
                                [[size, variant] + [MISSING if g is None else f"{g:+.2f}" for g in gains]
                                 for size in numbers["sizes"] for variant, gains in budget_gains(numbers, size).items()])
    return lines


def budget_gains(numbers: dict, size: str) -> dict[str, list[float | None]]:
    """Per variant, the mean over architectures of its test metric minus random embeddings' at each budget
    (None where a cell lacks that milestone)."""
    gains = {}
    for variant in VARIANTS:
        per_budget = []
        for i in range(len(numbers["budgets"])):
            pairs = [(by_size[size][variant][i], by_size[size]["random"][i]) for by_size in numbers["by_budget"].values()]
            per_budget.append(None if any(a is None or b is None for a, b in pairs)
                              else statistics.fmean(a["mean"] - b["mean"] for a, b in pairs))
        gains[variant] = per_budget
    return gains


def verdict(numbers: dict) -> str:
    """Gains of word2vec and frozen word2vec over random embeddings, per architecture and data size."""
    noise, metric = numbers.get("noise"), numbers["metric_label"]
    lines, gains = [], {}
    for arch, by_size in numbers["archs"].items():
        for size, rows in by_size.items():
            for variant in VARIANTS:
                if variant in rows:
                    d = difference(rows[variant], rows["random"], noise)
                    gains[(arch, size, variant)] = d
    helped = [k for k, d in gains.items() if d["difference"] > 0 and d["confidence"] in ("high", "moderate")]
    hurt = [k for k, d in gains.items() if d["difference"] < 0 and d["confidence"] in ("high", "moderate")]
    lines.append(f"Of {len(gains)} (architecture, data size, variant) settings, word2vec helped clearly in "
                 f"{len(helped)} and hurt clearly in {len(hurt)}; the rest are within seed noise"
                 + (f" (noise: seed std {noise:.2f} {metric} from the quality section)." if noise else "."))
    for size in numbers["sizes"]:
        mean_gain = {v: statistics.fmean([d["difference"] for (a, s, vv), d in gains.items() if s == size and vv == v])
                     for v in VARIANTS if any(s == size and vv == v for (_, s, vv) in gains)}
        if mean_gain:
            lines.append(f"- {size} data: mean change over random " + ", ".join(
                f"{v} {g:+.2f} {metric}" for v, g in mean_gain.items()) + ".")
    for size in numbers["sizes"] if numbers.get("budgets") else []:
        for variant, changes in budget_gains(numbers, size).items():
            points = [f"{g:+.2f} at {tokens_text(b)}" for b, g in zip(numbers["budgets"], changes) if g is not None]
            if points:
                lines.append(f"- {size} data, {variant} over random by training budget: " + ", ".join(points)
                             + f" target tokens ({metric}, mean over architectures).")
    sizes = numbers["sizes"]
    if len(sizes) >= 2:
        def gain(size):
            return statistics.fmean([d["difference"] for (a, s, v), d in gains.items() if s == size and v == "word2vec"])
        small, full = gain(sizes[0]), gain(sizes[-1])
        if small > full:
            lines.append(f"Static pretraining helps more with little data ({small:+.2f} vs {full:+.2f} {metric}).")
        else:
            lines.append(f"Static pretraining does not help more with little data ({small:+.2f} vs {full:+.2f} {metric}).")
    return "\n".join(lines)
