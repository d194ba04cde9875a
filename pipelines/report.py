"""The comparison report: Markdown tables and PNG plots, all from results.json and the run logs.

Plots per task:
    <task>-validation.png   validation metric vs training time and vs steps, every row on one axis
    <task>-by-length.png    test metric by source-length bucket
and one for the run:
    throughput.png          training target tokens/s per row and task
"""

import io
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from .files import read_json_lines, write_bytes, write_text  # noqa: E402

METRIC_NAMES = {"bleu": "BLEU", "chrf": "chrF", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L",
                "rougeLsum": "ROUGE-Lsum"}
TEST_COLUMNS = {"translation": ("bleu", "chrf"), "summarization": ("rouge1", "rouge2", "rougeL", "rougeLsum")}


def evaluations(run_dir: Path, task: str, row: str) -> list[dict]:
    """The validation evaluations a row logged during training."""
    log = run_dir / task / row / "log.jsonl"
    if not log.exists():
        return []
    return [e for e in read_json_lines(log) if e["event"] == "eval"]


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines: the header, its rule, one line per row of cells."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


# The scores a trained summarizer is checked against its baselines on (ROUGE-Lsum follows ROUGE-L).
BASELINE_CHECKS = ("rouge1", "rouge2", "rougeL")


# What a model must reach before its scores say something about the task rather than about frequent
# words: a translation that keeps some of the sentence, summaries that differ from dialogue to dialogue
# and share word pairs with the reference.
LEARNING_BARS = {"translation": {"bleu": 15.0}, "summarization": {"rouge2": 5.0, "distinct_outputs": 0.8}}


def unlearned(kind: str, test: dict) -> list[str]:
    """The learning bars a model's test scores miss: ["ROUGE-2 3.1 < 5"], empty when it has learned the task."""
    missed = []
    for metric, bar in LEARNING_BARS[kind].items():
        value = test.get(metric)
        if value is not None and value < bar:
            missed.append(f"distinct {percent(value)} < {percent(bar)}" if metric == "distinct_outputs"
                          else f"{METRIC_NAMES[metric]} {value:.1f} < {bar:g}")
    return missed


def comparison_table(entry: dict, mark: str | None = None) -> list[str]:
    """The task's Markdown table: one row per model, then the baselines that learn nothing
    (summarization). `mark` bolds one row (model cards)."""
    kind, main = entry["task"]["kind"], entry["task"]["main_metric"]
    metrics = TEST_COLUMNS[kind]
    baselines = entry.get("baselines", {})
    header = ["model", "parameters", "training time", "train tokens/s", "best val step", f"val {METRIC_NAMES[main]}",
              *(f"test {METRIC_NAMES[m]}" for m in metrics), "decode sentences/s"]
    if kind == "summarization":
        header += ["distinct outputs"] + (["vs. baselines"] if baselines else [])
    header.append("learned the task")
    rows = []
    for row, model in entry["models"].items():
        training, test = model["training"], model["test"]
        name = f"**{model['label']}**" if row == mark else model["label"]
        cells = [
            name, f"{model['parameters'] / 1e6:.1f}M", f"{training['train_seconds'] / 60:.1f} min",
            f"{training['target_tokens_per_second']:,.0f}", str(training["best_step"]), f"{training['best_metric']:.2f}",
            *(f"{test[m]:.2f}" for m in metrics), f"{test['sentences_per_second']:.1f}",
        ]
        if kind == "summarization":
            cells.append(percent(test.get("distinct_outputs")))
            if baselines:
                shortfalls = below_baselines(test, baselines)
                cells.append("below " + "; ".join(shortfalls) if shortfalls else "beats both")
        missed = unlearned(kind, test)
        cells.append("no: " + ", ".join(missed) if missed else "yes")
        rows.append(cells)
    for baseline in baselines.values():
        test = baseline["test"]
        rows.append([f"*{baseline['label']}, no training*", "—", "—", "—", "—", "—", *(f"{test[m]:.2f}" for m in metrics),
                     "—", percent(test.get("distinct_outputs")), "—", "—"])
    return markdown_table(header, rows)


def below_baselines(test: dict, baselines: dict) -> list[str]:
    """Where a trained row scores below a baseline: ["LEAD-3 on ROUGE-2", ...]."""
    shortfalls = []
    for name, baseline in baselines.items():
        metrics = [METRIC_NAMES[m] for m in BASELINE_CHECKS if test[m] < baseline["test"][m]]
        if metrics:
            shortfalls.append(f"{name.upper()} on {', '.join(metrics)}")
    return shortfalls


def percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f}%"


def copying_note(entry: dict) -> str:
    """Which rows copy from the source (pointer-generator), for summarization reports."""
    copying = [m["label"] for m in entry["models"].values() if m.get("model_config", {}).get("copy_attention")]
    return ("Rows that copy from the source (pointer-generator): " + (", ".join(copying) if copying else "none")
            + ". The Transformer is a stock transformers config (PegasusConfig) and does not copy.")


def settings_table(entry: dict) -> list[str]:
    """How each model was trained: the preset's settings can differ by architecture, so the report shows them."""
    header = ["model", "steps (full epochs)", "stopped by", "batch tokens", "learning rate", "schedule (warmup steps)",
              "dropout", "label smoothing"]
    rows = []
    for model in entry["models"].values():
        training = model["training"]
        rows.append([
            model["label"], f"{training['steps']:,} ({training['epochs']})", training["stop_reason"],
            f"{training['batch_tokens']:,}", f"{training['learning_rate']:g}",
            f"{training['schedule']} ({training['warmup_steps']})", f"{training['dropout']:g}",
            f"{training['label_smoothing']:g}",
        ])
    return markdown_table(header, rows)


def plot_validation(results: dict, run_dir: Path, task: str) -> str:
    entry = results["tasks"][task]
    main = entry["task"]["main_metric"]
    figure, (by_time, by_step) = plt.subplots(1, 2, figsize=(11, 4))
    for row, model in entry["models"].items():
        points = evaluations(run_dir, task, row)
        by_time.plot([p["train_seconds"] / 60 for p in points], [p[main] for p in points], marker="o", label=model["label"])
        by_step.plot([p["step"] for p in points], [p[main] for p in points], marker="o", label=model["label"])
    for axis, label in ((by_time, "training time (minutes)"), (by_step, "optimizer steps")):
        axis.set_xlabel(label)
        axis.set_ylabel(f"validation {METRIC_NAMES[main]} (greedy)")
        axis.grid(alpha=0.3)
    by_step.legend(fontsize=8)
    figure.suptitle(f"{task}: validation {METRIC_NAMES[main]} during training")
    return save(figure, run_dir, f"{task}-validation.png")


def plot_by_length(results: dict, run_dir: Path, task: str) -> str:
    entry = results["tasks"][task]
    main = entry["task"]["main_metric"]
    figure, axis = plt.subplots(figsize=(6.5, 4))
    for model in entry["models"].values():
        buckets = model["test"]["by_source_length"]
        labels = [f"{b['min_length']}-{b['max_length']}" for b in buckets]
        axis.plot(labels, [b[main] for b in buckets], marker="o", label=model["label"])
    for baseline in entry.get("baselines", {}).values():
        buckets = baseline["test"]["by_source_length"]
        labels = [f"{b['min_length']}-{b['max_length']}" for b in buckets]
        axis.plot(labels, [b[main] for b in buckets], linestyle="--", color="grey", marker=".", label=baseline["label"])
    axis.set_xlabel("source length (tokens)")
    axis.set_ylabel(f"test {METRIC_NAMES[main]}")
    axis.set_title(f"{task}: test {METRIC_NAMES[main]} by source length")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return save(figure, run_dir, f"{task}-by-length.png")


def plot_throughput(results: dict, run_dir: Path) -> str:
    tasks = list(results["tasks"])
    rows = list(dict.fromkeys(row for t in tasks for row in results["tasks"][t]["models"]))
    figure, axis = plt.subplots(figsize=(6.5, 4))
    width = 0.8 / max(len(tasks), 1)
    for i, task in enumerate(tasks):
        models = results["tasks"][task]["models"]
        values = [models[r]["training"]["target_tokens_per_second"] if r in models else 0 for r in rows]
        axis.bar([x + i * width for x in range(len(rows))], values, width, label=task)
    axis.set_xticks([x + width * (len(tasks) - 1) / 2 for x in range(len(rows))], rows, rotation=20)
    axis.set_ylabel("training target tokens / s")
    axis.set_title("Training throughput")
    axis.legend(fontsize=8)
    return save(figure, run_dir, "throughput.png")


def save(figure, run_dir: Path, name: str) -> str:
    """Write `figure` as the PNG `run_dir`/`name` (atomically) and close it; returns `name`."""
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    plt.close(figure)
    write_bytes(run_dir / name, image.getvalue())
    return name


def examples_section(entry: dict) -> list[str]:
    lines = []
    for i, source in enumerate(entry["test_sources"]):
        lines += [f"**Example {i + 1}.** Source: {one_line(source)}", "", f"- reference: {one_line(entry['test_references'][i][0])}"]
        for model in [*entry["models"].values(), *entry.get("baselines", {}).values()]:
            if i < len(model["examples"]):
                lines.append(f"- {model['label']}: {one_line(model['examples'][i])}")
        lines.append("")
    return lines


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " …"


def task_budget(results: dict, entry: dict) -> dict:
    """A task's training budget per model; results files before per-task budgets hold one for the run."""
    return entry.get("budget") or results["budget"]


def budget_text(budget: dict) -> str:
    if budget["kind"] == "minutes":
        return f"{budget['value']} training minutes per model"
    return f"{budget['value']:,} target tokens per model"


def write_report(results: dict, run_dir: Path) -> list[str]:
    """Write report.md and the plots; returns the plot file names."""
    environment = results["environment"]
    lines = [
        f"# Lineage comparison: {results['name']}", "",
        f"Preset `{results['preset']}`. Hardware: {environment['hardware']}, device {environment['device']}.", "",
    ]
    plots = []
    for task, entry in results["tasks"].items():
        main = METRIC_NAMES[entry["task"]["main_metric"]]
        lines += [f"## {task} ({entry['task']['kind']}, {entry['task']['dataset']})", ""]
        lines += [f"Budget: {budget_text(task_budget(results, entry))} (the same for every model of the task). "
                  f"Test: {entry['test_count']} examples of the {entry['task']['test_split']} split. "
                  f"Validation {main}: greedy decoding on a validation sample during training.", ""]
        if entry["models"]:
            lines += comparison_table(entry) + [""]
            bars = " and ".join(f"distinct outputs at least {percent(bar)}" if metric == "distinct_outputs"
                                else f"{METRIC_NAMES[metric]} at least {bar:g}"
                                for metric, bar in LEARNING_BARS[entry["task"]["kind"]].items())
            lines += [f"Learned the task: test {bars}. Below that, a model's scores measure frequent words "
                      "rather than what it learned.", ""]
            if entry["task"]["kind"] == "summarization":
                lines += [copying_note(entry), "", "Distinct outputs: the share of test outputs that no other output "
                          "repeats. Baselines in italics learn nothing: a trained row below one of them (\"vs. "
                          "baselines\") has learned less than extraction on that score.", ""]
            first = next(iter(entry["models"].values()))["test"]
            settings = ", ".join(f"{k}={v}" for k, v in first["generation"].items())
            lines.append(f"Decoding: {settings}.")
            for key in ("bleu_signature", "chrf_signature"):
                if key in first:
                    lines.append(f"{key.split('_')[0]} signature: `{first[key]}`")
            lines += ["", "Training:", ""] + settings_table(entry) + [""]
            plots += [plot_validation(results, run_dir, task), plot_by_length(results, run_dir, task)]
            lines += [f"![validation curves]({plots[-2]})", "", f"![by source length]({plots[-1]})", ""]
            lines += ["### Examples", ""] + examples_section(entry)
        for row, error in entry["errors"].items():
            lines += [f"**{row} failed:** `{error}` (details in {task}/{row}/error.txt)", ""]
    if any(entry["models"] for entry in results["tasks"].values()):
        plots.append(plot_throughput(results, run_dir))
        lines += ["## Training throughput", "", f"![throughput]({plots[-1]})", ""]
    lines += ["## Environment", ""] + [f"- {key}: {value}" for key, value in environment.items()]
    write_text(run_dir / "report.md", "\n".join(lines) + "\n")
    return plots


# A README section generated from a results file: the opening marker names the file (relative to the
# README), so the section can be checked against it and refreshed by `lineage report --readme`.
README_SECTION = re.compile(r"(<!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end results -->)", re.DOTALL)


def results_tables(results: dict) -> str:
    """Every task's comparison table with a line saying what it is, as Markdown (README sections)."""
    lines = []
    for task, entry in results["tasks"].items():
        if not entry["models"]:
            continue
        lines += [f"**{task}**: {budget_text(task_budget(results, entry))}; tested on {entry['test_count']} examples "
                  f"of the {entry['task']['test_split']} split.", ""] + comparison_table(entry) + [""]
    return "\n".join(lines)


def refresh_readme(readme: Path) -> list[str]:
    """Rewrite each results section of `readme` from the results file it names; returns those files."""
    text, files = readme.read_text(), []

    def section(match: re.Match) -> str:
        files.append(match["path"])
        results = json.loads((readme.parent / match["path"]).read_text())
        return match.group(1) + results_tables(results) + match.group(4)

    write_text(readme, README_SECTION.sub(section, text))
    return files
