"""The comparison report: Markdown tables and PNG plots, all from results.json.

Plots per task:
    <task>-budget-curves.png  test metric vs target tokens and vs training time, at the milestones (curves.py)
    <task>-validation.png   validation metric vs training time and vs steps, every row on one axis
    <task>-by-length.png    test metric by source-length bucket
and one for the run:
    throughput.png          training target tokens/s per row and task
"""

import re
from pathlib import Path

from ..data.tasks import SCORES, score_name
from ..files import write_text
from .advice import advice
from .curves import baseline_crossings, curves_figure, leaders, milestone_counts, milestone_table, seeds_note
from .plots import plt, save
from .results import Results, TaskEntry
from .tables import budget_text, comparison_table, learning_bars_text, settings_table, unlearned


def copying_note(entry: TaskEntry) -> str:
    """Which rows copy from the source (pointer-generator), for summarization reports."""
    copying = [m.label for m in entry.models.values() if m.model_config.get("copy_attention")]
    return ("Rows that copy from the source (pointer-generator): " + (", ".join(copying) if copying else "none")
            + ". The Transformer is a stock transformers config (PegasusConfig) and does not copy.")


def plot_validation(entry: TaskEntry, run_dir: Path, task: str) -> str | None:
    """The plot of the rows' validation evaluations; None when no row has them (results of early versions)."""
    main = entry.task.main_metric
    if not any(model.evaluations for model in entry.models.values()):
        return None
    figure, (by_time, by_step) = plt.subplots(1, 2, figsize=(11, 4))
    for model in entry.models.values():
        points = model.evaluations
        by_time.plot([p["train_seconds"] / 60 for p in points], [p[main] for p in points], marker="o", label=model.label)
        by_step.plot([p["step"] for p in points], [p[main] for p in points], marker="o", label=model.label)
    for axis, label in ((by_time, "training time (minutes)"), (by_step, "optimizer steps")):
        axis.set_xlabel(label)
        axis.set_ylabel(f"validation {score_name(main)} (greedy)")
        axis.grid(alpha=0.3)
    by_step.legend(fontsize=8)
    figure.suptitle(f"{task}: validation {score_name(main)} during training")
    return save(figure, run_dir, f"{task}-validation.png")


def plot_by_length(entry: TaskEntry, run_dir: Path, task: str) -> str:
    main = entry.task.main_metric
    figure, axis = plt.subplots(figsize=(6.5, 4))
    lines = [(model, dict(marker="o")) for model in entry.models.values()]
    lines += [(baseline, dict(linestyle="--", color="grey", marker=".")) for baseline in entry.baselines.values()]
    for scored, style in lines:
        buckets = scored.test["by_source_length"]
        labels = [f"{b['min_length']}-{b['max_length']}" for b in buckets]
        axis.plot(labels, [b[main] for b in buckets], label=scored.label, **style)
    axis.set_xlabel("source length (tokens)")
    axis.set_ylabel(f"test {score_name(main)}")
    axis.set_title(f"{task}: test {score_name(main)} by source length")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return save(figure, run_dir, f"{task}-by-length.png")


def plot_throughput(results: Results, run_dir: Path) -> str:
    tasks = list(results.tasks)
    rows = list(dict.fromkeys(row for t in tasks for row in results.tasks[t].models))
    figure, axis = plt.subplots(figsize=(6.5, 4))
    width = 0.8 / max(len(tasks), 1)
    for i, task in enumerate(tasks):
        models = results.tasks[task].models
        values = [models[r].training["target_tokens_per_second"] if r in models else 0 for r in rows]
        axis.bar([x + i * width for x in range(len(rows))], values, width, label=task)
    axis.set_xticks([x + width * (len(tasks) - 1) / 2 for x in range(len(rows))], rows, rotation=20)
    axis.set_ylabel("training target tokens / s")
    axis.set_title("Training throughput")
    axis.legend(fontsize=8)
    return save(figure, run_dir, "throughput.png")


def examples_section(entry: TaskEntry) -> list[str]:
    lines = []
    for i, source in enumerate(entry.test_sources):
        lines += [f"**Example {i + 1}.** Source: {one_line(source)}", "", f"- reference: {one_line(entry.test_references[i][0])}"]
        for model in [*entry.models.values(), *entry.baselines.values()]:
            if i < len(model.examples):
                lines.append(f"- {model.label}: {one_line(model.examples[i])}")
        lines.append("")
    return lines


def advice_section(entry: TaskEntry, budget: dict | None) -> list[str]:
    """One line per row that has not learned the task: what to try, from its own validation curve (advice.py)."""
    kind = entry.task.kind
    lines = [f"- {advice(f'**{model.label or name}**', model, kind, budget)}" for name, model in entry.models.items()
             if unlearned(kind, model.test, entry.baselines if kind == "summarization" else {})]
    return ["What to try for the rows that have not learned the task:", "", *lines, ""] if lines else []


def reasons_section(entry: TaskEntry) -> list[str]:
    """Why each row is there, where the rows are the defaults of the task's kind."""
    lines = [f"- **{entry.models[name].label if name in entry.models else name}**: {reason}"
             for name, reason in entry.row_reasons.items()]
    return [f"Rows: the defaults for {entry.task.kind}, each for a reason:", "", *lines, ""] if lines else []


def tokenizer_note(entry: TaskEntry) -> list[str]:
    """What the task's shared tokenizer learned from; nothing for results that did not record it."""
    sample = entry.tokenizer_sample
    if not sample:
        return []
    part = ("all of them" if sample["rows"] == sample["split_rows"]
            else f"a seeded sample of {sample['rows']:,}: the limit is {sample['limit']:,} sentences")
    return [f"Tokenizer: learned from {sample['sentences']:,} sentences, both sides of the training pairs "
            f"({sample['split_rows']:,} pairs, {part}).", ""]


def reused_note(entry: TaskEntry) -> list[str]:
    """Which rows were trained in another run of the comparison (--rows_from), and where."""
    reused = [f"{model.label} ({model.trained_in})" for model in entry.models.values() if model.trained_in]
    if not reused:
        return []
    return ["Trained in another run of this comparison, with the same settings (`--rows_from`): "
            + ", ".join(reused) + ". Their training times are that run's; their model folders stay there.", ""]


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " …"


def write_report(results: Results, run_dir: Path) -> list[str]:
    """Write report.md and the plots; returns the plot file names."""
    environment = results.environment
    lines = [
        f"# Lineage comparison: {results.name}", "",
        f"Preset `{results.preset}`. Hardware: {environment['hardware']}, device {environment['device']}.", "",
    ]
    plots = []
    for task, entry in results.tasks.items():
        lines += task_section(entry, task, results.budget_of(task), run_dir, plots)
    if any(entry.models for entry in results.tasks.values()):
        plots.append(plot_throughput(results, run_dir))
        lines += ["## Training throughput", "", f"![throughput]({plots[-1]})", ""]
    lines += ["## Environment", ""] + [f"- {key}: {value}" for key, value in environment.items()]
    write_text(run_dir / "report.md", "\n".join(lines) + "\n")
    return plots


def task_section(entry: TaskEntry, task: str, budget: dict, run_dir: Path, plots: list[str]) -> list[str]:
    """One task's part of report.md; its plots are written and their names added to `plots`."""
    summary = entry.task
    lines = [f"## {task} ({summary.kind}, {summary.dataset})", "",
             f"Budget: {budget_text(budget)} (the same for every model of the task). Test: {entry.test_count} examples of the {summary.test_split} split. "
             f"Validation {score_name(summary.main_metric)}: greedy decoding on a validation sample during training.", ""]
    lines += tokenizer_note(entry)
    if entry.models:
        lines += comparison_table(entry) + [""]
        lines += [f"Learned the task: {learning_bars_text(summary.kind, bool(entry.baselines))}. Below that, a model's scores measure "
                  "frequent words" + (" or less than extraction" if entry.baselines else "") + " rather than what it learned.", ""]
        lines += advice_section(entry, budget) + reasons_section(entry) + reused_note(entry)
        if summary.kind == "summarization":
            lines += [copying_note(entry), "", "Distinct outputs: the share of test outputs that no other output "
                      "repeats. Baselines in italics learn nothing: a trained row below one of them (\"vs. "
                      "baselines\") has learned less than extraction on that score.", ""]
        first = next(iter(entry.models.values())).test
        settings = ", ".join(f"{k}={v}" for k, v in first["generation"].items())
        lines.append(f"Decoding: {settings}.")
        for score in SCORES[summary.kind]:
            if score.signature and f"{score.key}_signature" in first:
                lines.append(f"{score.key} signature: `{first[f'{score.key}_signature']}`")
        lines += ["", "Training:", ""] + settings_table(entry) + [""]
        if milestone_counts(entry):
            plots.append(save(curves_figure(entry, task), run_dir, f"{task}-budget-curves.png"))
            lines += ["### Quality against training budget", "",
                      f"Test {score_name(summary.main_metric)} of each model's best checkpoint so far, by "
                      "validation, at each milestone: the score a run with that target-token budget would "
                      "report. Its schedule does not depend on the budget, and the evaluations made only for "
                      "a milestone do not enter the choice of best model at later milestones.", ""]
            lines += milestone_table(entry) + [""] + ([seeds_note(entry), ""] if seeds_note(entry) else [])
            lines += leaders(entry) + [""]
            if crossings := baseline_crossings(entry):
                lines += [f"Against the baselines that learn nothing (test {score_name(summary.main_metric)}, "
                          "milestones in target tokens):", ""] + crossings + [""]
            lines += [f"![budget curves]({plots[-1]})", ""]
        if validation := plot_validation(entry, run_dir, task):
            plots.append(validation)
            lines += [f"![validation curves]({validation})", ""]
        if missing := [model.label for model in entry.models.values() if not model.evaluations]:
            lines += [f"Validation curves not recorded (results of an earlier Lineage version): {', '.join(missing)}.", ""]
        plots.append(plot_by_length(entry, run_dir, task))
        lines += [f"![by source length]({plots[-1]})", ""]
        lines += ["### Examples", ""] + examples_section(entry)
    for row, error in entry.errors.items():
        lines += [f"**{row} failed:** `{error}` (details in {task}/{row}/error.txt)", ""]
    return lines


# A README section generated from a results file: the opening marker names the file (relative to the
# README), so the section can be checked against it and refreshed by `lineage report --readme`.
README_SECTION = re.compile(r"(<!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end results -->)", re.DOTALL)


def results_tables(results: Results) -> str:
    """Every task's comparison table with a line saying what it is, as Markdown (README sections)."""
    lines = []
    for task, entry in results.tasks.items():
        if not entry.models:
            continue
        lines += [f"**{task}**: {budget_text(results.budget_of(task))}; tested on {entry.test_count} examples "
                  f"of the {entry.task.test_split} split.", ""] + comparison_table(entry) + [""]
    return "\n".join(lines)


def refresh_readme(readme: Path) -> list[str]:
    """Rewrite each results section of `readme` from the results file it names; returns those files."""
    text, files = readme.read_text(), []

    def section(match: re.Match) -> str:
        files.append(match["path"])
        results = Results.load(readme.parent / match["path"])
        return match.group(1) + results_tables(results) + match.group(4)

    write_text(readme, README_SECTION.sub(section, text))
    return files
