"""The study's verdicts: short conclusions written from its numbers, never by hand.

Each `*_verdict` function takes one section's numbers (the dict that goes into
study.json) and returns Markdown text that quotes them, so different numbers
give a different verdict. Confidence comes from the seeds: a difference of
means is compared with its standard error (Welch: sqrt(s_a^2/n_a + s_b^2/n_b)).
Where a cell ran with one seed, the seed spread measured on the same task in
the quality section stands in for its standard deviation.

    high      the difference is at least 3 standard errors
    moderate  1.5 to 3 standard errors
    low       under 1.5 standard errors: within seed noise
"""

import math
import statistics

from .architectures import LABELS

HIGH, MODERATE = 3.0, 1.5


def summary(values: list[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), range and count of per-seed values."""
    if not values:
        raise ValueError("no values to summarise")
    return {
        "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values), "max": max(values), "n": len(values), "values": list(values),
    }


def pooled_std(summaries: list[dict]) -> float | None:
    """The seed noise of a task: root mean variance of the summaries with 2+ seeds (None if none has)."""
    variances = [s["std"] ** 2 for s in summaries if s["n"] > 1]
    return math.sqrt(statistics.fmean(variances)) if variances else None


def difference(a: dict, b: dict, noise: float | None = None) -> dict:
    """mean(a) - mean(b), in standard errors, with a confidence label (see the module docstring)."""
    delta = a["mean"] - b["mean"]
    spreads = [s["std"] if s["n"] > 1 else noise for s in (a, b)]
    if any(spread is None for spread in spreads):
        return {"difference": delta, "standard_errors": None, "confidence": "unknown (one seed, no spread measured)"}
    error = math.sqrt(spreads[0] ** 2 / a["n"] + spreads[1] ** 2 / b["n"])
    z = abs(delta) / error if error > 0 else math.inf
    label = "high" if z >= HIGH else "moderate" if z >= MODERATE else "low"
    return {"difference": delta, "standard_errors": z, "confidence": label}


def value_text(s: dict) -> str:
    """'16.2 ± 0.4 (3 seeds)' or '16.2 (1 seed)'."""
    if s["n"] > 1:
        return f"{s['mean']:.1f} ± {s['std']:.1f} ({s['n']} seeds)"
    return f"{s['mean']:.1f} (1 seed)"


def confidence_text(d: dict) -> str:
    if d["standard_errors"] is None:
        return d["confidence"]
    z = "∞" if math.isinf(d["standard_errors"]) else f"{d['standard_errors']:.1f}"
    return f"{d['confidence']} confidence: {z} standard errors"


def percent(x: float) -> str:
    return f"{100 * x:+.0f}%"


# ---------------------------------------------------------------- 1. quality at equal budget


def quality_verdict(numbers: dict) -> str:
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


# ---------------------------------------------------------------- 2. parallelism


def parallelism_verdict(numbers: dict) -> str:
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
    recurrent = [c for m, c in changes.items() if not m.startswith("transformer")]
    transformer = [c for m, c in changes.items() if m.startswith("transformer")]
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
    latency = numbers.get("decoding", {})
    growth = [f"{m} {v[long] / v[short]:.1f}x" for m, v in latency.items() if v.get(short) and v.get(long)]
    if growth:
        lines.append(f"Greedy decoding of one sentence, {short} -> {long} output tokens, takes longer by: "
                     f"{', '.join(growth)} ({int(long) // int(short)}x the tokens): every architecture decodes one "
                     "token at a time.")
    lines.append("One measurement per point (median of timed steps), no seeds.")
    return "\n".join(lines)


# ---------------------------------------------------------------- 3. long-range dependencies


def long_range_verdict(numbers: dict) -> str:
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
    seeds = sorted({row["n"] for row in numbers["rows"].values()})
    lines.append(f"Seeds per row: {', '.join(map(str, seeds))}; each bucket holds about "
                 f"{numbers['bucket_size']} test sentences, so a bucket's score is noisier than the corpus score.")
    return "\n".join(lines)


# ---------------------------------------------------------------- 4. data size


def data_size_verdict(numbers: dict) -> str:
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
    return "\n".join(lines)


# ---------------------------------------------------------------- 5. word2vec


def word2vec_verdict(numbers: dict) -> str:
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


# ---------------------------------------------------------------- 6. static vs contextual vectors


def senses_verdict(numbers: dict) -> str:
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


# ---------------------------------------------------------------- 7. attention maps


def attention_verdict(numbers: dict) -> str:
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
