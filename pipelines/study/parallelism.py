"""2. Parallelism: training throughput, time per epoch and decoding latency against length,
from the speed measurement (lineage.speed).

Three kinds of model answer it: the serial recurrences (RNN, LSTM: one step after another), the
recurrent minGRU and minLSTM, whose training computes every state with one parallel scan, and the
Transformer. Where the measurement also ran a minimal cell step by step (lineage.speed.config.SCAN_OFF),
the verdict gives what the scan buys over the loop for the very same model.
"""

from pathlib import Path

from ..report.plots import plt, save
from ..report.stats import percent
from ..report.tables import markdown_table
from ..speed.config import SCAN_OFF
from ..speed.flops import INPUT_ONLY
from .grid import Grid, model_size, role_of

TITLE = "Parallelism: cost vs sequence length"
QUESTION = "RNNs are sequential in time, Transformers parallel: how does training and decoding cost grow with length?"


def numbers(grid: Grid) -> dict:
    speed = grid.speed
    # The measured models at the study's training size if it measured that size, else every size it measured.
    size = model_size(grid.settings) if speed.training_tokens_per_second(model_size(grid.settings)) else None
    training = speed.training_tokens_per_second(size)
    pairs = grid.train_size(role_of(grid.settings, "translation"))
    epoch_minutes = {model: {length: pairs * int(length) / tokens / 60 for length, tokens in by_length.items() if tokens}
                     for model, by_length in training.items()}
    lengths = sorted({int(length) for by_length in training.values() for length in by_length})
    return {
        "lengths": lengths, "training": training, "epoch_minutes": epoch_minutes, "epoch_pairs": pairs,
        "decoding": speed.greedy_seconds(size), "device": f"{speed.environment.get('device', 'cpu')}, "
                                                           f"{speed.environment.get('torch_threads', '?')} threads",
        "source": speed.result_path or "",
    }


def plot(numbers: dict, run_dir: Path) -> list[str]:
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


def table(numbers: dict) -> list[str]:
    lengths = [str(length) for length in numbers["lengths"]]
    rows = [[model] + [f"{by_length[l]:,.0f}" if by_length.get(l) else "-" for l in lengths]
            + [f"{numbers['epoch_minutes'][model].get(lengths[-1], 0):.1f}"]
            + [f"{1000 * numbers['decoding'].get(model, {}).get(l, 0):.0f}" if numbers["decoding"].get(model, {}).get(l) else "-"
               for l in lengths]
            for model, by_length in numbers["training"].items()]
    header = (["model"] + [f"train tok/s @{l}" for l in lengths] + [f"epoch min @{lengths[-1]}"]
              + [f"greedy ms @{l}" for l in lengths])
    return markdown_table(header, rows) + ["", f"Epoch: {numbers['epoch_pairs']:,} pairs at the given length. Source: "
                                      f"`{Path(numbers['source']).name}`."]


def verdict(numbers: dict) -> str:
    """How training throughput and decoding latency grow with length, per model."""
    lengths = numbers["lengths"]
    short, long = str(lengths[0]), str(lengths[-1])
    changes = {}
    for model, by_length in numbers["training"].items():
        if by_length.get(short) and by_length.get(long):
            changes[model] = by_length[long] / by_length[short] - 1
    if not changes:
        return "No training throughput was measured at both the shortest and the longest length."
    parts = [f"{model} {percent(change)}" for model, change in sorted(changes.items(), key=lambda kv: kv[1])]
    lines = [f"Training tokens/s from length {short} to {long} on {numbers['device']}: {', '.join(parts)}."]
    kinds = {model: kind(model) for model in changes}
    recurrent = [c for m, c in changes.items() if kinds[m] == "serial"]
    transformer = [c for m, c in changes.items() if kinds[m] == "transformer"]
    if recurrent and transformer:
        worst, best = min(recurrent), max(recurrent)
        if transformer[0] > best + 0.05:
            lines.append("Supported here: with length, throughput falls more (or rises less) for every recurrent "
                         "model than for the Transformer.")
        elif transformer[0] < worst - 0.05:
            lines.append("Contradicted here: with length, throughput falls more (or rises less) for the Transformer "
                         "than for every recurrent model (its attention grows quadratically, and a few CPU cores "
                         "leave little parallel headroom to hide that).")
        else:
            lines.append(f"Mixed here: the Transformer's change ({percent(transformer[0])}) lies within the recurrent "
                         f"models' range ({percent(worst)} to {percent(best)}); on this device the sequential "
                         "recurrence is not what limits training speed.")
    lines += scan_lines(numbers["training"], changes, kinds, short, long)
    latency = numbers.get("decoding", {})
    growth = [f"{m} {v[long] / v[short]:.1f}x" for m, v in latency.items() if v.get(short) and v.get(long)]
    if growth:
        lines.append(f"Greedy decoding of one sentence, {short} -> {long} output tokens, takes longer by: "
                     f"{', '.join(growth)} ({int(long) // int(short)}x the tokens): every architecture decodes one "
                     "token at a time.")
    lines.append("One measurement per point (median of timed steps), no seeds.")
    return "\n".join(lines)


def kind(model: str) -> str:
    """"transformer", "scan" (minGRU / minLSTM with their parallel scan) or "serial" (a recurrence run step by
    step: RNN, LSTM, or a minimal cell with its scan off), from a speed model name ("mingru-luong-general")."""
    if model.startswith("transformer"):
        return "transformer"
    return "scan" if model.split("-", 1)[0] in INPUT_ONLY and model not in SCAN_OFF else "serial"


def scan_lines(training: dict, changes: dict, kinds: dict, short: str, long: str) -> list[str]:
    """The parallel-scan cells' change with length beside the serial recurrences', and the scan's gain over
    the loop for the same model at the shortest and the longest length."""
    scanned = {m: c for m, c in changes.items() if kinds[m] == "scan"}
    serial = [c for m, c in changes.items() if kinds[m] == "serial"]
    if not scanned:
        return []
    lines = [f"Recurrent but trained with a parallel scan: {', '.join(f'{m} {percent(c)}' for m, c in scanned.items())}"
             + (f", against {percent(min(serial))} to {percent(max(serial))} for the serial recurrences." if serial else ".")]
    for loop, twin in SCAN_OFF.items():
        pair = training.get(loop, {}), training.get(twin, {})
        if all(by_length.get(short) and by_length.get(long) for by_length in pair):
            lines.append(f"{twin} with its scan / step by step (same weights and FLOPs): "
                         f"{pair[1][short] / pair[0][short]:.2f}x at length {short}, "
                         f"{pair[1][long] / pair[0][long]:.2f}x at {long}.")
    return lines
