"""`lineage compare`: train every row of every task under one budget, test it, report.

All rows of a task share one tokenizer, one data pipeline, one training loop
(`lineage.training`) and one evaluation, so differences come from the
architecture alone. The budget is fair by construction: the same training
wall-clock minutes or the same number of target tokens for every row.

Layout of `runs/<name>/`:
    <task>/tokenizer-<vocab>/   shared by the task's rows (one per vocabulary size)
    <task>/<row>/               the row's training run (see lineage.training) plus
        test_predictions.txt, row.json (training summary, test scores, the row's settings)
    models/<task>-<row>/        Hub-ready folder with its model card
    results.json, report.md, *.png

Each finished row is kept in its row.json, so a crash in one architecture
loses nothing else, and re-running the same command resumes: finished rows
are reused and an interrupted one continues from its last checkpoint
(`reuse.py` decides which rows may be reused, continued or retrained). A stop
signal or a failed write (a full disk) ends the whole comparison, not just its
row. While it runs, the main process holds the run folder's lock
(`training.locks`): a second comparison of the same name is refused.
"""

import json
import logging
import traceback
from dataclasses import asdict, replace
from pathlib import Path

from ..data.loading import load_splits, load_test_references
from ..data.tasks import TaskSpec
from ..data.tokenizer import learned_from, load_tokenizer, save_tokenizer, train_task_tokenizer
from ..environment import describe_machine
from ..files import WriteFailed, write_text
from ..models import save_model_folder
from ..report.results import Baseline, Milestone, Results, Row, TaskEntry, TaskSummary
from ..report.tables import budget_text
from ..training.distributed import launch_state, on_main_process
from ..training.locks import hold_folder, release_folder
from ..training.loop import train
from ..training.runs import MILESTONES
from .budget import DataBudget, data_budget, small_corpus_warning
from .config import CompareConfig
from .reuse import claim_rows, evaluations, import_rows, seed_rows, with_evaluations
from .rows import PlannedRow, plan_rows, row_label, task_of, tokenizer_folder

logger = logging.getLogger(__name__)

EXAMPLES = 5  # test examples shown with their outputs in reports and cards
MODEL_CONFIG_KEYS = (
    "model_type", "vocab_size", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "bidirectional",
    "attention", "scaled_attention", "source_embedding_residual", "input_feeding", "copy_attention", "coverage",
    "coverage_loss_weight", "cell", "d_model", "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim",
    "decoder_ffn_dim", "max_position", "max_position_embeddings", "tie_word_embeddings",
    "encoder_self_attention", "decoder_self_attention", "feed_forward", "residual",
)


def compare(config: CompareConfig) -> Results:
    """Run the comparison; returns the results also written to results.json.

    Under `accelerate launch` every process trains each row (DDP); the main process
    alone trains the tokenizers, tests the rows and writes the results.
    """
    general = config.resolved()
    by_task = {task_id: config.resolved(task_id) for task_id in general.tasks.split(",")}
    plan_rows(provisional(by_task))  # every setting checked before the run folder is made
    on_main_process(hold_folder, general.run_dir)
    try:
        return compare_rows(general, by_task)
    finally:
        if launch_state().is_main_process:
            release_folder(general.run_dir)


def provisional(by_task: dict[str, CompareConfig]) -> dict[str, CompareConfig]:
    """`by_task` with a stand-in budget (1 target token) where the budget follows from the corpus, which is
    counted only once the run folder is held: planning with it checks every other setting at once."""
    return {task_id: replace(config, budget_target_tokens=1) if config.budget_from_data else config
            for task_id, config in by_task.items()}


def with_data_budgets(by_task: dict[str, CompareConfig]) -> tuple[dict[str, CompareConfig], dict[str, DataBudget]]:
    """`by_task` with each budget that follows from the corpus counted (its tokenizer trained first), and
    those budgets by task; a corpus small for its kind is warned about in one line."""
    budgets, planned = {}, dict(by_task)
    for task_id, config in by_task.items():
        if not config.budget_from_data:
            continue
        task = task_of(config, task_id)
        folder = on_main_process(prepare_tokenizer, config, task)
        budgets[task_id] = on_main_process(data_budget, config.preset, task, folder, config.train_samples)
        if warning := small_corpus_warning(task, budgets[task_id]):
            logger.warning(warning)
        planned[task_id] = replace(config, budget_target_tokens=budgets[task_id].target_tokens)
    return planned, budgets


def compare_rows(general: CompareConfig, by_task: dict[str, CompareConfig]) -> Results:
    """`compare` once its run folder is locked: budget, reuse, train and test the rows, write the outputs."""
    by_task, data_budgets = with_data_budgets(by_task)
    rows = plan_rows(by_task)
    on_main_process(import_rows, general, rows)
    on_main_process(claim_rows, rows, general.overwrite)
    other_seeds = seed_rows(general, rows)
    general.run_dir.mkdir(parents=True, exist_ok=True)
    test_sets = {}
    for task_id, task_config in by_task.items():
        task = rows_of(rows, task_id)[0].task
        on_main_process(prepare_tokenizer, task_config, task)
        test_sets[task_id] = load_test_references(task)
    on_main_process(announce, rows, test_sets, data_budgets)
    results = Results(name=general.name, preset=general.preset, config=asdict(general), environment=describe_machine())
    for task_id, task_config in by_task.items():
        task, (sources, references) = rows_of(rows, task_id)[0].task, test_sets[task_id]
        test_set = limited(sources, references, task_config.test_samples)
        budget = task_budget(task_config, task_id, data_budgets)
        entry = TaskEntry(task=task_summary(task), budget=budget, test_sources=sources[:EXAMPLES],
                          test_references=references[:EXAMPLES], test_count=len(test_set[0]),
                          row_reasons=task_config.row_reasons(task.kind),
                          tokenizer_sample=learned_from(tokenizer_folder(task_config, task)))
        if task.kind == "summarization":
            entry.baselines = on_main_process(score_baselines, task, tokenizer_folder(task_config, task), *test_set)
        for row in rows_of(rows, task_id):
            try:
                entry.models[row.name] = train_row(row, test_set)
            except WriteFailed:  # a full disk fails every row after it too
                raise
            except Exception as error:  # one architecture failing must not lose the others
                logger.error("%s failed: %s", row.key, error)
                entry.errors[row.name] = "".join(traceback.format_exception_only(error)).strip()
                if launch_state().is_main_process:
                    row.folder.mkdir(parents=True, exist_ok=True)
                    write_text(row.folder / "error.txt", traceback.format_exc())
        entry.other_seeds = {name: found for (task_name, name), found in other_seeds.items() if task_name == task.name}
        results.tasks[task.name] = entry
        on_main_process(results.save, general.run_dir / "results.json")
    on_main_process(write_outputs, general.run_dir, results)
    return results


def rows_of(rows: list[PlannedRow], task_id: str) -> list[PlannedRow]:
    return [row for row in rows if row.task_id == task_id]


def limited(sources: list[str], references: list[list[str]], test_samples: int | None) -> tuple[list, list]:
    """The test examples a row is scored on: the first `test_samples` (0 or None: all)."""
    limit = test_samples or len(sources)
    return sources[:limit], references[:limit]


def train_row(row: PlannedRow, test_set: tuple[list[str], list[list[str]]]) -> Row:
    """Train one row (resuming if interrupted), test its best model on `test_set` (the first test examples:
    `limited`), and return its results entry."""
    finished = row.folder / "row.json"
    if finished.exists():
        logger.info("%s: finished earlier, reusing %s", row.key, finished)
        return with_evaluations(Row.load(finished), row.folder)
    training = train(row.training)
    return on_main_process(score_row, row, training, *test_set)


def score_row(row: PlannedRow, training: dict, sources: list[str], references: list[list[str]]) -> Row:
    """Score a trained row's best model on the test examples, save its Hub-ready folder and row.json, return its entry."""
    from transformers import AutoModelForSeq2SeqLM

    from ..evaluation.generation import evaluate_model

    model = AutoModelForSeq2SeqLM.from_pretrained(row.folder / "best")
    tokenizer = load_tokenizer(row.folder / "best")
    logger.info("%s: testing the best model (step %s) on %d examples", row.key, training["best_step"], len(sources))
    test = evaluate_model(model, tokenizer, row.task, sources, references,
                          predictions_file=row.folder / "test_predictions.txt")
    predictions = test.pop("predictions")

    train_config = row.training
    model_config = {k: v for k, v in model.config.to_dict().items() if k in MODEL_CONFIG_KEYS}
    entry = Row(
        settings=row.settings(),
        arch=train_config.arch,
        label=row_label(train_config.arch, model_config, train_config.embeddings),
        model_config=model_config,
        embeddings=train_config.embeddings,
        parameters=training["parameters"],
        training={
            **{k: training[k] for k in ("steps", "epochs", "train_seconds", "target_tokens", "target_tokens_per_second",
                                        "best_step", "best_metric", "stop_reason", "num_processes", "device")},
            **{k: getattr(train_config, k) for k in ("learning_rate", "schedule", "warmup_steps", "batch_tokens",
                                                     "label_smoothing", "dropout", "seed", "size")},
        },
        test=test,
        examples=predictions[:EXAMPLES],
        folder=str(row.model_folder.relative_to(row.config.run_dir)),
        milestones=test_milestones(row, sources, references, tested={training["best_step"]: test}),
        evaluations=evaluations(row.folder),
    )
    save_model_folder(model, tokenizer, row.model_folder)
    entry.save(row.folder / "row.json")
    return entry


def test_milestones(row: PlannedRow, sources: list[str], references: list[list[str]],
                    tested: dict[int, dict]) -> list[Milestone]:
    """The models a row's run kept at its milestones, tested as the row's best model is: the model at the
    milestone, and the best one so far by validation.

    `tested` maps a training step to the test scores of its weights (the row's best model, at first);
    a kept folder holds the weights of one step, so each step is decoded once, however many milestones
    and folders hold it.
    """
    from transformers import AutoModelForSeq2SeqLM

    from ..evaluation.generation import evaluate_model

    def scores(folder: Path, step: int) -> dict:
        if step not in tested:
            model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(folder), load_tokenizer(folder)
            tested[step] = evaluate_model(model, tokenizer, row.task, sources, references, show_progress=False)
        return {key: value for key, value in tested[step].items()
                if key not in ("predictions", "by_source_length")}

    kept = sorted((row.folder / MILESTONES).glob("*/milestone.json"), key=lambda path: int(path.parent.name))
    milestones = []
    for record in kept:
        milestone = Milestone.from_dict(json.loads(record.read_text()))
        logger.info("%s: testing the models kept at %s target tokens", row.key, f"{milestone.milestone:,}")
        milestone.test = scores(record.parent / "model", milestone.step)
        milestone.best_test = scores(record.parent / "best", milestone.best_step)
        milestones.append(milestone)
    return milestones


def score_baselines(task: TaskSpec, tokenizer_dir: Path, sources: list[str], references: list[list[str]]) -> dict[str, Baseline]:
    """LEAD-3 and LONGEST-3 on the test examples, scored like the models (summarization tasks only)."""
    from ..evaluation.baselines import BASELINES, LABELS, extract
    from ..evaluation.generation import score_outputs

    tokenizer = load_tokenizer(tokenizer_dir)
    entries = {}
    for name in BASELINES:
        outputs = extract(name, sources)
        entries[name] = Baseline(label=LABELS[name], test=score_outputs(task, tokenizer, sources, outputs, references),
                                 examples=outputs[:EXAMPLES])
    return entries


def task_summary(task: TaskSpec) -> TaskSummary:
    return TaskSummary(
        name=task.name, kind=task.kind, dataset=task.dataset, source_language=task.source_language,
        target_language=task.target_language, license=task.license, metrics=list(task.metrics),
        main_metric=task.main_metric, dataset_config=task.dataset_config, multiref_config=task.multiref_config,
        test_split=f"{task.splits['test']} ({task.test_description})",
    )


def prepare_tokenizer(config: CompareConfig, task: TaskSpec) -> Path:
    """The task's shared tokenizer folder, trained on (a bounded sample of) its training split if not there yet."""
    folder = tokenizer_folder(config, task)
    if not (folder / "tokenizer.json").exists():
        logger.info("%s: training the shared tokenizer", task.name)
        train_split = load_splits(task, ("train",))["train"]
        tokenizer, sample = train_task_tokenizer(task, train_split, config.vocab_size)
        save_tokenizer(tokenizer, folder, sample)
    return folder


def announce(rows: list[PlannedRow], test_sets: dict[str, tuple[list, list]], data_budgets: dict[str, DataBudget]) -> float:
    """Print the plan (each task's budget and rows, why they are there, and each row's estimated minutes from a
    measured warm-up: estimate.py) and how long it all will take; returns the estimated seconds."""
    from .estimate import estimate_row

    minutes, seconds, to_test = {}, 0.0, 0
    for row in rows:
        if (row.folder / "row.json").exists():
            continue
        sources, _ = limited(*test_sets[row.task_id], row.config.test_samples)
        estimate = estimate_row(row.training, load_tokenizer(row.training.tokenizer), sources)
        left = budget_left(row)
        training, evaluation = left * estimate.training, left * estimate.evaluations
        to_test += left == 0
        logger.info("%s: about %.1f min (training %.1f, evaluations %.1f, test %.1f)", row.key,
                    (training + evaluation + estimate.test) / 60, training / 60, evaluation / 60, estimate.test / 60)
        minutes[row.key] = (training + evaluation + estimate.test) / 60
        seconds += training + evaluation + estimate.test
    print("\n".join(plan_lines(rows, data_budgets, minutes)), flush=True)
    to_train = len(minutes) - to_test
    tested = f", {to_test} to test again" if to_test else ""
    reused = f"; {len(rows) - len(minutes)} finished earlier, reused" if len(minutes) < len(rows) else ""
    print(f"lineage compare: {to_train} model{'s' * (to_train != 1)} to train{tested}{reused}; estimated "
          f"{seconds / 60:.1f} min on this machine (from a warm-up of a few steps and decodes per model)", flush=True)
    return seconds


def task_budget(config: CompareConfig, task_id: str, data_budgets: dict[str, DataBudget]) -> dict:
    """The task's budget as results.json records it, with what a budget from the data follows from."""
    return config.budget() | ({"from_data": data_budgets[task_id].record()} if task_id in data_budgets else {})


def plan_lines(rows: list[PlannedRow], data_budgets: dict[str, DataBudget], minutes: dict[str, float]) -> list[str]:
    """The plan in words, per task: its budget (and what a budget from the data follows from), then one line
    per row with its estimated minutes (`minutes`, by row key; a row without is reused) and, for the
    default rows of its kind, why it is there."""
    lines = []
    for task_id in dict.fromkeys(row.task_id for row in rows):
        own = rows_of(rows, task_id)
        config, task = own[0].config, own[0].task
        budget = task_budget(config, task_id, data_budgets)
        reasons = config.row_reasons(task.kind)
        lines.append(f"{task.name} ({task.kind}): {budget_text(budget)}"
                     + (f"; the default rows for {task.kind}:" if reasons else ":"))
        for row in own:
            time = f"about {minutes[row.key]:.1f} min" if row.key in minutes else "finished earlier"
            lines.append(f"  {row.name} ({time})" + (f": {reasons[row.name]}" if row.name in reasons else ""))
    return lines


def budget_left(row: PlannedRow) -> float:
    """The share of a row's budget its run has still to train, from the progress of its last logged
    evaluation (a run evaluates when its budget ends): 1 for a new run, 0 for one that only needs testing."""
    train_config = row.training
    logged = evaluations(row.folder)
    if not logged or not (train_config.budget_target_tokens or train_config.budget_minutes):
        return 1.0
    if train_config.budget_target_tokens:
        done = logged[-1]["target_tokens"] / train_config.budget_target_tokens
    else:
        done = logged[-1]["train_seconds"] / (60 * train_config.budget_minutes)
    return max(0.0, 1.0 - done)


def write_outputs(run_dir: Path, results: Results) -> None:
    """The model cards, report.md with its plots, and the final results.json."""
    from ..hub.cards import write_cards
    from ..report.document import write_report

    write_cards(run_dir, results)
    write_report(results, run_dir)
    results.save(run_dir / "results.json")
