"""8. What matters in the Transformer: the stock Transformer against its variants (models/transformer_variants.py),
each with one component removed or replaced, at equal target-token budgets with milestones, over seeds.

The claim tested (Domhan 2018; Chen et al. 2018, RNMT+): self-attention is not the whole Transformer; replacing
it with an RNN costs little, and the gains come from the feed-forward blocks, residual connections and multiple
heads. A component's cost is the stock Transformer's test score minus the variant's.
"""

from pathlib import Path

from ..data.tasks import score_name
from ..report.plots import save
from ..report.stats import confidence_text, difference, pooled_std, value_text
from ..report.tables import markdown_table, tokens_text, unlearned
from . import budgets
from .grid import Grid, component_cells

TITLE = "What matters in the Transformer"
QUESTION = ("Is self-attention the whole Transformer? Does replacing it with an RNN cost little, and do the gains "
            "come from the feed-forward blocks, residual connections and multiple heads (Domhan 2018; RNMT+)?")

STOCK = "stock"
# What each variant takes from the stock Transformer: the component the verdict ranks.
COMPONENTS = {
    "rnn-encoder": "encoder self-attention (an LSTM instead)",
    "rnn-decoder": "decoder self-attention (an LSTM instead)",
    "one-head": "multiple heads (one instead)",
    "no-ffn": "feed-forward blocks",
    "no-residual": "residual connections",
}
# The claim's two sides: replacements that should cost little, removals that should cost more.
RNN_REPLACEMENTS = ("rnn-encoder", "rnn-decoder")
MATTER_MORE = ("one-head", "no-ffn", "no-residual")


def numbers(grid: Grid) -> dict:
    tasks = {}
    for task_id, spec in grid.settings["components"]["tasks"].items():
        cells = component_cells(grid.settings, task_id, spec["variants"])
        by_variant = {variant or STOCK: [c for c in cells if c.variant == variant] for variant in ("", *spec["variants"])}
        kind = grid.tasks[task_id].kind
        tasks[grid.tasks[task_id].name] = {
            "metric": grid.metric(task_id), "metric_label": score_name(grid.metric(task_id)),
            "budget_target_tokens": spec["budget_target_tokens"], "budgets": grid.budgets(task_id, "components"),
            "variants": {name: grid.scores(c) for name, c in by_variant.items()},
            "by_budget": {name: grid.scores_by_budget(c) for name, c in by_variant.items()},
            "labels": {name: grid.entries[c[0]].label for name, c in by_variant.items()},
            "parameters": {name: grid.entries[c[0]].parameters for name, c in by_variant.items()},
            "unlearned": {name: {cell.seed: missed for cell in c if (missed := unlearned(kind, grid.entries[cell].test))}
                          for name, c in by_variant.items()},
        }
    return {"tasks": tasks}


def plot(numbers: dict, run_dir: Path) -> list[str]:
    curves = budgets.figure({task: (entry["budgets"], labelled(entry["by_budget"], entry), entry["metric_label"])
                             for task, entry in numbers["tasks"].items()},
                            "The stock Transformer and its variants against training budget")
    return [save(curves, run_dir, "study-components.png")] if curves else []


def labelled(by_variant: dict, entry: dict) -> dict:
    return {entry["labels"][name]: series for name, series in by_variant.items()}


def table(numbers: dict) -> list[str]:
    lines = []
    for task, entry in numbers["tasks"].items():
        stock, noise = entry["variants"][STOCK], noise_of(entry)
        rows = []
        for name, s in entry["variants"].items():
            cost = "" if name == STOCK else f"{stock['mean'] - s['mean']:+.2f}"
            rows.append([task, entry["labels"][name], f"{entry['parameters'][name]:,}", f"{s['mean']:.2f}",
                         f"{s['std']:.2f}", ", ".join(f"{v:.2f}" for v in s["values"]), cost,
                         "" if name == STOCK else confidence_text(difference(stock, s, noise))])
        lines += markdown_table(["task", "model", "parameters", f"test {entry['metric_label']}", "std", "per seed",
                                 "cost (stock - variant)", "how sure"], rows) + [""]
        if entry["budgets"]:
            lines += [f"{task}: test {entry['metric_label']} at each budget (mean ± std over seeds)", ""]
            lines += budgets.table(entry["budgets"], labelled(entry["by_budget"], entry), "model") + [""]
    return lines


def noise_of(entry: dict) -> float | None:
    return pooled_std(list(entry["variants"].values()))


def costs_at(entry: dict, index: int) -> dict[str, dict]:
    """Each variant's cost at the budget `index` (stock minus variant: `stats.difference`), where both were measured."""
    stock, noise = entry["by_budget"][STOCK][index], noise_of(entry)
    return {name: difference(stock, series[index], noise) for name, series in entry["by_budget"].items()
            if name != STOCK and stock is not None and series[index] is not None}


def claim_at(costs: dict[str, dict]) -> tuple[bool | None, bool | None]:
    """The claim's two parts at one budget: (replacing self-attention with an LSTM costs little: neither
    replacement is clearly worse than the stock model, i.e. a cost above seed noise; the other components
    matter more: each costs more than every replacement). None where a part's variants were not trained."""
    replaced = [costs[name] for name in RNN_REPLACEMENTS if name in costs]
    others = [costs[name] for name in MATTER_MORE if name in costs]
    little = all(not (d["difference"] > 0 and d["confidence"] in ("high", "moderate")) for d in replaced) if replaced else None
    more = (min(d["difference"] for d in others) > max(d["difference"] for d in replaced)
            if replaced and others else None)
    return little, more


def verdict(numbers: dict) -> str:
    """The components ranked by their cost at the largest budget, the variants that did not learn, and at which
    budgets each part of the claim holds."""
    lines = []
    for task, entry in numbers["tasks"].items():
        metric, variants = entry["metric_label"], entry["variants"]
        stock, noise = variants[STOCK], noise_of(entry)
        ranked = sorted((name for name in variants if name != STOCK),
                        key=lambda name: stock["mean"] - variants[name]["mean"], reverse=True)
        lines.append(f"- {task}, {tokens_text(entry['budget_target_tokens'])} target tokens: the stock Transformer "
                     f"scores {value_text(stock)} test {metric}. What removing each component costs, largest first:")
        for name in ranked:
            d = difference(stock, variants[name], noise)
            lines.append(f"  - {COMPONENTS[name]}: {d['difference']:+.2f} {metric} ({value_text(variants[name])}; "
                         f"{confidence_text(d)})")
        for name, missed in entry["unlearned"].items():
            if missed:
                lines.append(f"  - {entry['labels'][name]} did not learn the task with seed(s) "
                             + "; ".join(f"{seed} ({', '.join(bars)})" for seed, bars in missed.items()) + ".")
        if entry["unlearned"][STOCK]:
            lines.append("  - The stock Transformer did not learn the task with every seed (above): these costs do not "
                         "test the claim yet.")
        lines += claim_lines(entry)
    return "\n".join(lines)


def claim_lines(entry: dict) -> list[str]:
    """At which budgets each part of the claim holds."""
    little, more = [], []
    for i, budget in enumerate(entry["budgets"]):
        holds = claim_at(costs_at(entry, i))
        little.append((budget, holds[0]))
        more.append((budget, holds[1]))

    def where(results) -> str:
        held = [tokens_text(b) for b, h in results if h]
        failed = [tokens_text(b) for b, h in results if h is False]
        if not held and not failed:
            return "not measured"
        if not held:
            return f"holds at no budget ({', '.join(failed)} target tokens)"
        return f"holds at {', '.join(held)} target tokens" + (f", not at {', '.join(failed)}" if failed else "")

    return [f"  - \"Replacing self-attention with an LSTM costs little\" (no replacement costs more than seed noise): "
            f"{where(little)}.",
            f"  - \"Feed-forward blocks, residual connections and heads matter more\" (each costs more than every "
            f"replacement): {where(more)}.",
            "  - The whole claim " + where([(b, a and m) if a is not None and m is not None else (b, None)
                                            for (b, a), (_, m) in zip(little, more)]) + "."]
