"""Markdown tables of a comparison's results: the one comparison table (report and model cards), the
training settings table, and the words report and cards share (budget, learning bars). Free of plotting
imports, so model cards and publishing load it cheaply."""

from ..data.tasks import SCORES, score_name
from .results import Row, TaskEntry

MISSING = "—"  # a value the results do not have (a sparse or older file)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines: the header, its rule, one line per row of cells (made safe inside a cell)."""
    def line(cells):
        return "| " + " | ".join(str(cell).replace("\n", " ").replace("|", "\\|") for cell in cells) + " |"

    return [line(header), "|" + "---|" * len(header)] + [line(row) for row in rows]


def formatted(value, form: str, scale: float = 1, unit: str = "") -> str:
    """`value / scale` in format `form`, followed by `unit`; a dash where the results lack the value."""
    if value is None:
        return MISSING
    return format(value / scale if scale != 1 else value, form) + unit


def tokens_text(count: int) -> str:
    """250000 -> "250k", 1000000 -> "1M", 1500000 -> "1.5M"."""
    for scale, suffix in ((10**6, "M"), (10**3, "k")):
        if count >= scale:
            return f"{count / scale:.3g}{suffix}"
    return str(count)


def budget_text(budget: dict | None) -> str | None:
    """A results budget in words: "20 training minutes per model", "600,000 target tokens per model", and
    for a budget from the corpus what it follows from (`data_budget_text`); None when the results have none
    (a sparse file)."""
    if not budget:
        return None
    if budget["kind"] == "minutes":
        return f"{budget['value']:g} training minutes per model"
    text = f"{int(budget['value']):,} target tokens per model"
    return text + f", from the data: {data_budget_text(budget['from_data'])}" if "from_data" in budget else text


def data_budget_text(record: dict) -> str:
    """A budget from the corpus (lineage.comparison.budget.DataBudget) in words: "4.0 passes over its ~452,000
    training target tokens (14,732 pairs; the default is 4 passes, within 1,200,000-2,400,000 target tokens)"."""
    actual = record["target_tokens"] / max(record["corpus_target_tokens"], 1)
    return (f"{actual:.1f} passes over its ~{record['corpus_target_tokens']:,} training target tokens "
            f"({record['train_examples']:,} pairs; the default is {record['passes']:g} passes, within "
            f"{record['low']:,}-{record['high']:,} target tokens)")


# The scores a trained summarizer is checked against its baselines on (ROUGE-Lsum follows ROUGE-L).
BASELINE_CHECKS = ("rouge1", "rouge2", "rougeL")


# What a model must reach before its scores say something about the task rather than about frequent
# words: a translation that keeps some of the sentence, summaries that differ from dialogue to dialogue
# and share word pairs with the reference.
LEARNING_BARS = {"translation": {"bleu": 15.0}, "summarization": {"rouge2": 5.0, "distinct_outputs": 0.9}}


def unlearned(kind: str, test: dict, baselines: dict | None = None) -> list[str]:
    """The learning bars a model's test scores miss: ["ROUGE-2 3.1 < 5", "LEAD-3 scores more on every ROUGE"],
    empty when it has learned the task. A baseline that learns nothing and beats the model on every score
    it is checked on (`BASELINE_CHECKS`) means the model has learned less than extraction."""
    missed = []
    for metric, bar in LEARNING_BARS[kind].items():
        value = test.get(metric)
        if value is not None and value < bar:
            missed.append(f"distinct {percent(value)} < {percent(bar)}" if metric == "distinct_outputs"
                          else f"{score_name(metric)} {value:.1f} < {bar:g}")
    for name, baseline in (baselines or {}).items():
        if len(scores_below(test, baseline)) == len(BASELINE_CHECKS):
            missed.append(f"{name.upper()} scores more on every ROUGE")
    return missed


def learning_bars_text(kind: str, baselines: bool = False) -> str:
    """The bars of `kind` in words: "test ROUGE-2 at least 5 and distinct outputs at least 90%", and with
    `baselines`, that no baseline beats the model on every ROUGE score."""
    bars = [f"distinct outputs at least {percent(bar)}" if metric == "distinct_outputs"
            else f"{score_name(metric)} at least {bar:g}" for metric, bar in LEARNING_BARS[kind].items()]
    if baselines:
        bars.append("no baseline above it on every ROUGE score")
    return "test " + (" and ".join(bars) if len(bars) < 3 else ", ".join(bars[:-1]) + " and " + bars[-1])


def comparison_table(entry: TaskEntry, mark: str | None = None, ranked: bool = False) -> list[str]:
    """The task's Markdown table: one row per model, then the baselines that learn nothing (summarization).

    Report and model cards both show it. `mark` names the row a card is about; `ranked` puts the
    best main metric first (rows without it last) instead of the run's order.
    """
    kind, main = entry.task.kind, entry.task.main_metric
    metrics = [score.key for score in SCORES[kind]]
    baselines = entry.baselines if kind == "summarization" else {}
    header = ["model", "parameters", "training time", "train tokens/s", "best val step", f"val {score_name(main)}",
              *(f"test {score_name(m)}" for m in metrics), "decode sentences/s"]
    if kind == "summarization":
        header += ["distinct outputs"] + (["vs. baselines"] if baselines else [])
    header.append("learned the task")
    models = list(entry.models.items())
    if ranked:
        models.sort(key=lambda item: (item[1].test.get(main) is None, -(item[1].test.get(main) or 0.0)))
    rows = [model_cells(key, model, metrics, kind, baselines, key == mark) for key, model in models]
    for baseline in baselines.values():
        rows.append([f"*{baseline.label}, no training*", *[MISSING] * 5,
                     *(formatted(baseline.test.get(m), ".2f") for m in metrics), MISSING,
                     percent(baseline.test.get("distinct_outputs")), MISSING, MISSING])
    return markdown_table(header, rows)


def model_cells(key: str, model: Row, metrics: list[str], kind: str, baselines: dict, marked: bool) -> list[str]:
    """One model's cells of the comparison table."""
    training, test = model.training, model.test
    label = model.label or key
    cells = [
        f"**{label}** (this model)" if marked else label, formatted(model.parameters, ".1f", 1e6, "M"),
        formatted(training.get("train_seconds"), ".1f", 60, " min"),
        formatted(training.get("target_tokens_per_second"), ",.0f"), formatted(training.get("best_step"), ""),
        formatted(training.get("best_metric"), ".2f"), *(formatted(test.get(m), ".2f") for m in metrics),
        formatted(test.get("sentences_per_second"), ".1f"),
    ]
    if kind == "summarization":
        cells.append(percent(test.get("distinct_outputs")))
        if baselines:
            shortfalls = below_baselines(test, baselines)
            cells.append("below " + "; ".join(shortfalls) if shortfalls else "beats both")
    missed = unlearned(kind, test, baselines)
    cells.append("no: " + ", ".join(missed) if missed else "yes")
    return cells


def below_baselines(test: dict, baselines: dict) -> list[str]:
    """Where a trained row scores below a baseline: ["LEAD-3 on ROUGE-2", ...]."""
    shortfalls = []
    for name, baseline in baselines.items():
        if metrics := scores_below(test, baseline):
            shortfalls.append(f"{name.upper()} on {', '.join(score_name(m) for m in metrics)}")
    return shortfalls


def scores_below(test: dict, baseline) -> list[str]:
    """The scores of `BASELINE_CHECKS` on which a trained row's test falls below `baseline`'s."""
    return [m for m in BASELINE_CHECKS if test[m] < baseline.test[m]]


def percent(share: float | None) -> str:
    return MISSING if share is None else f"{100 * share:.0f}%"


def settings_table(entry: TaskEntry) -> list[str]:
    """How each model was trained: the preset's settings can differ by architecture, so the report shows them."""
    header = ["model", "steps (full epochs)", "stopped by", "batch tokens", "learning rate", "schedule (warmup steps)",
              "dropout", "label smoothing"]
    rows = []
    for model in entry.models.values():
        training = model.training
        rows.append([
            model.label, f"{training['steps']:,} ({training['epochs']})", training["stop_reason"],
            f"{training['batch_tokens']:,}", f"{training['learning_rate']:g}",
            f"{training['schedule']} ({training['warmup_steps']})", f"{training['dropout']:g}",
            f"{training['label_smoothing']:g}",
        ])
    return markdown_table(header, rows)
