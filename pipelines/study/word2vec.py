"""5. word2vec initialisation: random vs word2vec vs frozen word2vec embeddings, small and full data."""

import statistics
from pathlib import Path

import numpy as np

from ..architectures import ARCHS, LABELS
from ..report import plt, save
from ..tables import markdown_table
from ..tasks import score_name
from .grid import Grid, role_of
from .stats import difference

TITLE = "word2vec initialisation"
QUESTION = "Does starting from static word2vec embeddings (trained or frozen) still help, and when?"


def numbers(grid: Grid) -> dict:
    benchmark = role_of(grid.settings, "translation")
    full = grid.train_size(benchmark)
    archs = {}
    for arch in ARCHS:
        archs[arch] = {}
        for n in grid.settings["word2vec_sizes"]:
            label = size_label(n, full)
            random_cells = grid.seeds(benchmark, arch) if n is None else grid.seeds(benchmark, arch, samples=n, sweep=True)
            archs[arch][label] = {"random": grid.scores(random_cells)} | {
                variant: grid.scores(grid.seeds(benchmark, arch, variant, n, sweep=True))
                for variant in ("word2vec", "word2vec-frozen")}
    metric = grid.metric(benchmark)
    return {"metric": metric, "metric_label": score_name(metric), "task": grid.tasks[benchmark].name,
            "sizes": [size_label(n, full) for n in grid.settings["word2vec_sizes"]], "archs": archs,
            "noise": grid.noise(benchmark)}


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
    return markdown_table(["model", "training data", "random", "word2vec", "word2vec frozen"], rows)


def verdict(numbers: dict) -> str:
    """Gains of word2vec and frozen word2vec over random embeddings, per architecture and data size."""
    noise, metric = numbers.get("noise"), numbers["metric_label"]
    lines, gains = [], {}
    for arch, by_size in numbers["archs"].items():
        for size, rows in by_size.items():
            for variant in ("word2vec", "word2vec-frozen"):
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
                     for v in ("word2vec", "word2vec-frozen") if any(s == size and vv == v for (_, s, vv) in gains)}
        if mean_gain:
            lines.append(f"- {size} data: mean change over random " + ", ".join(
                f"{v} {g:+.2f} {metric}" for v, g in mean_gain.items()) + ".")
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
