"""The study's statistics: seed summaries and how sure a difference is.

Every question's `verdict` (pipelines/study/<question>.py) quotes its numbers,
so different numbers give a different verdict. Confidence comes from the seeds: a difference of
means is compared with its standard error (Welch: sqrt(s_a^2/n_a + s_b^2/n_b)).
Where a cell ran with one seed, the seed spread measured on the same task in
the quality section stands in for its standard deviation.

    high      the difference is at least 3 standard errors
    moderate  1.5 to 3 standard errors
    low       under 1.5 standard errors: within seed noise
"""

import math
import statistics

from .tables import tokens_text

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


def budget_leaders(budgets: list[int], series: dict[str, list[dict | None]], metric: str,
                   noise: float | None = None) -> list[str]:
    """Who leads at each training budget, by how much and (where seeds give a spread) how surely, where
    the lead changes, and then where any two curves cross (`curve_crossings`): Markdown bullets.

    `series` maps a label to one `summary` (or None: not measured) per budget of `budgets` (target tokens).
    """
    lines, previous = [], None
    for i, budget in enumerate(budgets):
        scored = {label: points[i] for label, points in series.items() if points[i] is not None}
        if len(scored) < 2:
            continue
        first, second = sorted(scored, key=lambda label: scored[label]["mean"], reverse=True)[:2]
        d = difference(scored[first], scored[second], noise)
        sure = f", {confidence_text(d)}" if d["standard_errors"] is not None else ""
        change = "" if previous in (None, first) else f"; the lead changes: {previous} led before"
        lines.append(f"- at {tokens_text(budget)} target tokens: {first} {scored[first]['mean']:.2f} leads {second} "
                     f"{scored[second]['mean']:.2f} by {d['difference']:.2f} {metric}{sure}{change}")
        previous = first
    return (lines + curve_crossings(budgets, series, metric)) if lines else lines


def curve_crossings(budgets: list[int], series: dict[str, list[dict | None]], metric: str) -> list[str]:
    """Where two models' curves cross: for each pair, every pair of consecutive budgets that both were
    measured at between which the order of their means flips (Markdown bullets; one bullet saying so
    when no two curves cross). `series` is as for `budget_leaders`."""
    lines, labels = [], list(series)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            both = [(budget, series[a][k]["mean"], series[b][k]["mean"]) for k, budget in enumerate(budgets)
                    if series[a][k] is not None and series[b][k] is not None]
            for (before, a0, b0), (after, a1, b1) in zip(both, both[1:]):
                if (a0 - b0) * (a1 - b1) < 0:
                    # p passes q: p0, q0 before the crossing, p1, q1 after it.
                    p, q, p0, q0, p1, q1 = (a, b, a0, b0, a1, b1) if a1 > b1 else (b, a, b0, a0, b1, a1)
                    start, end = tokens_text(before), tokens_text(after)
                    lines.append(f"- {p} passes {q} between {start} and {end} target tokens ({metric} {p0:.2f} "
                                 f"against {q0:.2f} at {start}, {p1:.2f} against {q1:.2f} at {end})")
    return lines or ["- no two curves cross: the models keep one order at every budget both were measured at"]
