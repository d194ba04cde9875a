"""The study's plots: one function per section, each drawing from that section's numbers.

Every function writes PNGs into the run folder and returns their file names.
"""

from pathlib import Path

import numpy as np

from .report import plt, save
from .architectures import LABELS


def quality(numbers: dict, run_dir: Path) -> list[str]:
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
    return [save(figure, run_dir, "study-quality.png")]


def parallelism(numbers: dict, run_dir: Path) -> list[str]:
    figure, (throughput, epoch, latency) = plt.subplots(1, 3, figsize=(14, 3.8))
    for model, by_length in numbers["training"].items():
        lengths = [int(l) for l, v in by_length.items() if v]
        throughput.plot(lengths, [by_length[str(l)] for l in lengths], marker="o", label=model)
        epoch.plot(lengths, [numbers["epoch_minutes"][model][str(l)] for l in lengths], marker="o", label=model)
    for model, by_length in numbers["decoding"].items():
        lengths = sorted(int(l) for l in by_length)
        latency.plot(lengths, [1000 * by_length[str(l)] for l in lengths], marker="o", label=model)
    for axis, label in ((throughput, "training target tokens / s"), (epoch, f"minutes per epoch ({numbers['epoch_pairs']:,} pairs)"),
                        (latency, "greedy decoding, one sentence (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("sequence length (tokens)" if axis is not latency else "output length (tokens)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    throughput.legend(fontsize=7)
    figure.suptitle(f"Cost vs sequence length ({numbers['device']})")
    return [save(figure, run_dir, "study-parallelism.png")]


def long_range(numbers: dict, run_dir: Path) -> list[str]:
    figure, axis = plt.subplots(figsize=(7, 4))
    for label, row in numbers["rows"].items():
        axis.errorbar(numbers["buckets"], row["values"], yerr=row["stds"], marker="o", capsize=3, label=label,
                      linestyle="-" if row["attention"] else "--")
    axis.set_xlabel("source length bucket (tokens)")
    axis.set_ylabel(f"test {numbers['metric_label']}")
    axis.set_title(f"{numbers['task']}: quality by source length (dashed: no attention)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    return [save(figure, run_dir, "study-long-range.png")]


def data_size(numbers: dict, run_dir: Path) -> list[str]:
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
    return [save(figure, run_dir, "study-data-size.png")]


def word2vec(numbers: dict, run_dir: Path) -> list[str]:
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


def senses(numbers: dict, projections: dict, run_dir: Path, words: int = 3) -> list[str]:
    shown = sorted(projections, key=lambda w: -len(projections[w]["labels"]))[:words]
    if not shown:
        return []
    archs = numbers["archs"]
    columns = len(archs) + 1
    figure, axes = plt.subplots(len(shown), columns, figsize=(3.4 * columns, 3.2 * len(shown)), squeeze=False)
    for row, word in zip(axes, shown):
        labels = np.asarray(projections[word]["labels"])
        entry = numbers["words"][word]
        # word2vec: every occurrence has the one vector of the word, whatever its sense.
        panels = [(f"'{word}' in word2vec: one vector (majority {100 * entry['majority']:.0f}%)", np.zeros((len(labels), 2)))]
        panels += [(f"'{word}' in the {LABELS[arch]} encoder (1-NN {100 * entry['models'][arch]['accuracy']:.0f}%)",
                    np.asarray(projections[word]["points"][arch])) for arch in archs]
        for axis, (title, points) in zip(row, panels):
            for i, sense in enumerate(dict.fromkeys(labels)):
                mine = labels == sense
                axis.scatter(points[mine, 0], points[mine, 1], s=14, color=f"C{i}", label=sense, alpha=0.8)
            axis.set_title(title, fontsize=8)
            axis.set_xticks([])
            axis.set_yticks([])
        row[0].legend(fontsize=7)
    figure.suptitle("Ambiguous words: word2vec's one vector vs the encoders' states (2-D PCA), coloured by sense")
    return [save(figure, run_dir, "study-senses.png")]


def attention(maps: dict, run_dir: Path) -> list[str]:
    panels = []
    for label, found in maps.items():
        heads = found["heads"]
        if len(heads) == 1:
            panels.append((label, heads[0], found))
        else:
            panels += [(f"{label}, head {h + 1}", heads[h], found) for h in range(len(heads))]
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4.4 * rows), squeeze=False)
    for axis, (title, weights, found) in zip(axes.flat, panels):
        axis.imshow(weights, cmap="viridis", aspect="auto", vmin=0)  # each panel scaled to its own peak
        axis.set_xticks(range(len(found["source_tokens"])), found["source_tokens"], rotation=90, fontsize=6)
        axis.set_yticks(range(len(found["output_tokens"])), found["output_tokens"], fontsize=6)
        axis.set_title(title, fontsize=8)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    figure.suptitle("Cross-attention (rows: output tokens, columns: source tokens; Transformer: last decoder layer)")
    return [save(figure, run_dir, "study-attention.png")]
