"""6. Static vs contextual vectors: word2vec's one vector against the encoders' states for
ambiguous words (pipelines/evaluation/probes.py)."""

import statistics
from pathlib import Path

import numpy as np

from ..models.architectures import GENERATIONS, LABELS
from ..report.plots import plt, save
from ..report.tables import markdown_table
from .grid import Grid, role_of

TITLE = "Static vs contextual vectors"
QUESTION = "Do the encoders separate the senses of ambiguous words that word2vec merges into one vector?"


def measure(grid: Grid, min_per_sense: int = 3) -> tuple[dict, dict]:
    """Section 6's numbers, and the 2-D projections for its plot."""
    from transformers import AutoModelForSeq2SeqLM

    from ..data.loading import load_splits
    from ..data.tokenizer import load_tokenizer
    from ..data.word2vec import load_word2vec
    from ..evaluation import probes

    task_id = role_of(grid.settings, "translation")
    task = grid.tasks[task_id]
    splits = load_splits(task, ("test", "validation", "train"))
    sources = [s for split in splits.values() for s in split[task.source_column]]
    references = [t for split in splits.values() for t in split[task.target_column]]
    models = {arch: AutoModelForSeq2SeqLM.from_pretrained(grid.model_dir(grid.first(task_id, arch))) for arch in GENERATIONS}
    tokenizer = load_tokenizer(grid.model_dir(grid.first(task_id, "rnn")))
    vectors_path = grid.config.run_dir / task.name / f"word2vec-nall-s{grid.settings['sweep_seeds'][0]}.kv"
    vectors = load_word2vec(vectors_path)
    words, projections, occurrences = {}, {}, 0
    for word, senses in probes.SENSE_WORDS.items():
        found = [(source, sense) for source, sense in probes.sense_occurrences(sources, references, word, senses)
                 if len(tokenizer(source)["input_ids"]) <= task.max_source_length]  # the word is never truncated away
        counts = {sense: sum(1 for _, s in found if s == sense) for sense in senses}
        # A list, in probes.SENSE_WORDS' order: a set's order changes from process to process (string hashing).
        kept = [sense for sense, count in counts.items() if count >= min_per_sense]
        found = [(source, sense) for source, sense in found if sense in kept]
        if len(kept) < 2:
            continue
        labels = [sense for _, sense in found]
        entry = {"senses": {s: counts[s] for s in kept}, "majority": probes.majority_rate(labels), "models": {},
                 "word2vec_neighbours": probes.static_neighbours(vectors, tokenizer, word)}
        projections[word] = {"labels": labels, "points": {}}
        for arch, model in models.items():
            states = probes.contextual_vectors(model, tokenizer, [s for s, _ in found], word, task.max_source_length)
            entry["models"][arch] = {"accuracy": probes.nearest_neighbour_accuracy(states, labels),
                                     "separation": probes.separation(states, labels)}
            projections[word]["points"][arch] = probes.project_2d(states).tolist()
        words[word] = entry
        occurrences += len(found)
    return {"words": words, "archs": list(GENERATIONS), "occurrences": occurrences, "word2vec": vectors_path.name}, projections


def plot(numbers: dict, projections: dict, run_dir: Path, words: int = 3) -> list[str]:
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


def table(numbers: dict) -> list[str]:
    rows = [[word, ", ".join(f"{s} {c}" for s, c in entry["senses"].items()), f"{100 * entry['majority']:.0f}%"]
            + [f"{100 * entry['models'][a]['accuracy']:.0f}% ({entry['models'][a]['separation']:+.2f})" for a in numbers["archs"]]
            + [", ".join(n for n, _ in entry["word2vec_neighbours"][:5])]
            for word, entry in numbers["words"].items()]
    return markdown_table(["word", "senses (occurrences)", "word2vec (majority)"]
                 + [f"{LABELS[a]} 1-NN (separation)" for a in numbers["archs"]] + ["word2vec nearest pieces"], rows)


def verdict(numbers: dict) -> str:
    """Whether the encoders' states tell the senses of ambiguous words apart, against word2vec's single vector."""
    words = numbers["words"]
    if not words:
        return "No ambiguous word had enough occurrences of two or more senses in this data."
    majority = statistics.fmean(w["majority"] for w in words.values())
    accuracy = {arch: statistics.fmean(w["models"][arch]["accuracy"] for w in words.values()) for arch in numbers["archs"]}
    parts = ", ".join(f"{LABELS[a]} {100 * v:.0f}%" for a, v in accuracy.items())
    lines = [f"Over {len(words)} ambiguous words ({', '.join(words)}; {numbers['occurrences']} occurrences), "
             f"the sense of each occurrence is read off its nearest other occurrence (leave-one-out 1-NN, cosine): "
             f"{parts}. word2vec gives every occurrence the same vector, so it can do no better than always naming "
             f"the most frequent sense: {100 * majority:.0f}%."]
    separating = [a for a, v in accuracy.items() if v > majority + 0.05]
    if len(separating) == len(accuracy):
        lines.append("Every encoder separates senses that word2vec merges.")
    elif separating:
        lines.append(f"Only {', '.join(LABELS[a] for a in separating)} separate senses beyond the majority baseline.")
    else:
        lines.append("No encoder separates the senses beyond the majority baseline at this training budget.")
    lines.append("One trained model per architecture (seed 0); senses labelled from the English reference.")
    return "\n".join(lines)
