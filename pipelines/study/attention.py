"""7. Attention maps: the LSTM's attention and the Transformer's cross-attention heads on one example."""

from pathlib import Path

from ..models.architectures import GENERATIONS
from ..report.plots import plt, save
from ..report.tables import markdown_table
from .grid import Grid, role_of

TITLE = "Attention maps"
QUESTION = "What do the LSTM's attention and the Transformer's cross-attention heads look at?"


def measure(grid: Grid) -> tuple[dict, dict]:
    """Section 7's numbers, and the maps for its plot."""
    from transformers import AutoModelForSeq2SeqLM

    from ..data.loading import load_test_references
    from ..data.tokenizer import load_tokenizer
    from ..evaluation import probes

    task_id = role_of(grid.settings, "translation")
    task = grid.tasks[task_id]
    sources, _ = load_test_references(task)
    tokenizer = load_tokenizer(grid.model_dir(grid.first(task_id, "rnn")))
    # A typical sentence: the first with a length near the test set's median.
    lengths = [len(ids) for ids in tokenizer(sources[:200])["input_ids"]]
    median = sorted(lengths)[len(lengths) // 2]
    source = sources[min(range(len(lengths)), key=lambda i: abs(lengths[i] - median))]
    models, maps = {}, {}
    for arch in GENERATIONS:
        model = AutoModelForSeq2SeqLM.from_pretrained(grid.model_dir(grid.first(task_id, arch)))
        found = probes.attention_map(model, tokenizer, source, task.max_source_length)
        label = grid.entries[grid.first(task_id, arch)].label
        models[label] = probes.attention_statistics(found["heads"])
        maps[label] = found
    first = next(iter(maps.values()))
    return {"source": source, "source_tokens": len(first["source_tokens"]),
            "output_tokens": len(first["output_tokens"]), "models": models}, maps


def plot(numbers: dict, maps: dict, run_dir: Path) -> list[str]:
    """The maps `measure` found, one panel per model and head (`numbers` holds their statistics only)."""
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


def table(numbers: dict) -> list[str]:
    rows = [[label, str(m["heads"]), f"{m['sharpness']:.2f}", f"{100 * m['diagonal']:.0f}%"] for label, m in numbers["models"].items()]
    return [f"Source: {numbers['source']}", ""] + markdown_table(["model", "heads", "mean peak weight", "mass near diagonal"], rows)


def verdict(numbers: dict) -> str:
    """How peaked and how monotonic each model's attention is on the example."""
    models = numbers["models"]
    parts = [f"{label}: mean peak weight {m['sharpness']:.2f}, {100 * m['diagonal']:.0f}% of the mass near the diagonal"
             for label, m in models.items()]
    sharpest = max(models, key=lambda k: models[k]["sharpness"])
    most_diagonal = max(models, key=lambda k: models[k]["diagonal"])
    return (f"On the example ({numbers['source_tokens']} source, {numbers['output_tokens']} output tokens): "
            + "; ".join(parts) + f". Sharpest: {sharpest}; most monotonic (closest to a word-by-word alignment): "
            f"{most_diagonal}. 'Near the diagonal': within 20% of the sentence length of the proportional position; "
            "a uniform map would put about 36% there. One sentence, one model per architecture.")
