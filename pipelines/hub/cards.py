"""Model cards: one README.md per trained model, rendered from a comparison's results.

`model_card(results, task_name, model_key)` turns one entry of the
`results.json` that `lineage compare` writes into a `huggingface_hub.ModelCard`:

- the YAML metadata comes from `ModelCardData` (languages, licence, dataset,
  metrics, pipeline tag, tags) and `EvalResult`s, so the Hub's `model-index`
  holds the measured test scores;
- the body is model_cards/template.md (Jinja; package data, read through
  `importlib.resources`, so an installed package finds it too),
  filled with values that are all taken from the results (nothing is typed
  by hand): architecture and sizes, usage, training data and procedure, test
  scores with their metric signatures, scores by source length, and the
  comparison with the other models of the same run and task.

`write_card(card, folder)` saves the card as the folder's README.md, atomically.
"""

import importlib.resources
import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..data.tasks import SCORES, TaskSpec, metric_modules, named_task_of, score_name
from ..files import write_text
from ..models.architectures import RECURRENT
from ..models.transformer_variants import TransformerVariantConfig
from ..report.results import Results, Row, TaskEntry, TaskSummary
from ..report.tables import budget_text, comparison_table
from .architecture_text import EMBEDDINGS, architecture_lines, attention_description, integer_text

TEMPLATE = importlib.resources.files("lineage.model_cards") / "template.md"
CARD_NAME = "README.md"

PIPELINE_TAGS = {"translation": "translation", "summarization": "summarization"}
OUTPUT_KEYS = {"translation": "translation_text", "summarization": "summary_text"}

# Licence ids the Hub knows (https://huggingface.co/docs/hub/repositories-licenses), the ones
# datasets commonly state; anything else becomes "other" with a name and a link.
HUB_LICENSES = {
    "apache-2.0", "mit", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl", "openrail", "osl-3.0", "postgresql",
    "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "unknown",
}

# The summarization input of the usage snippets for a task that names none of its own.
EXAMPLE_DIALOGUE = "Anna: Are we still meeting at noon?\nTom: Yes, at the cafe near the station."
EXAMPLE_SENTENCES = {
    "en": "A dog runs through the park.",
    "de": "Ein Hund rennt durch den Park.",
    "fr": "Un chien court dans le parc.",
    "cs": "Pes běží parkem.",
}
TRAINING_LABELS = {
    "size": "Model size preset",
    "steps": "Optimizer steps",
    "epochs": "Epochs",
    "train_seconds": "Training time",
    "target_tokens": "Target tokens seen",
    "target_tokens_per_second": "Training throughput (target tokens/s)",
    "best_step": "Best checkpoint (step, by validation score)",
    "best_metric": "Best validation score",  # named after the task's main metric
    "stop_reason": "Stopped by",
    "optimizer": "Optimizer",
    "learning_rate": "Peak learning rate",
    "schedule": "Learning-rate schedule",
    "warmup_steps": "Warmup steps",
    "batch_tokens": "Batch size (tokens, padding included)",
    "gradient_accumulation_steps": "Gradient accumulation steps",
    "label_smoothing": "Label smoothing",
    "dropout": "Dropout",
    "mixed_precision": "Mixed precision",
    "seed": "Seed",
    "num_processes": "Processes",
    "device": "Device",
}
EXAMPLES_SHOWN = 3
EXAMPLE_CHARACTERS = 400  # longer example texts are cut (with "…") in the card
ENVIRONMENT_LABELS = {
    "hardware": "Hardware",
    "device": "Device",
    "num_processes": "Processes",
    "python": "Python",
    "torch": "PyTorch",
    "transformers": "Transformers",
    "accelerate": "Accelerate",
    "datasets": "Datasets",
}


def model_card(results: Results, task_name: str, model_key: str, repo_id: str | None = None) -> ModelCard:
    """The model card of `results.tasks[task_name].models[model_key]`.

    Args:
        results: the comparison's results (what `lineage compare` writes to results.json).
        task_name: a key of `results["tasks"]`.
        model_key: a key of that task's `"models"`.
        repo_id: the Hub repo the model is published to; names the model in
            the metadata and the usage snippets. Without it the model is named
            `lineage-<task>-<model>` (and the snippets say to use that folder).
    """
    models = results.task(task_name).models
    if model_key not in models:
        raise KeyError(f"task {task_name!r} has no model {model_key!r}: it has {', '.join(models)}")
    context = _context(results, task_name, model_key, repo_id)
    with importlib.resources.as_file(TEMPLATE) as template_path:
        return ModelCard.from_template(_card_data(context), template_path=str(template_path), **context)


def write_card(card: ModelCard, folder: str | Path) -> Path:
    """Save `card` as `folder`/README.md, atomically."""
    return write_text(Path(folder) / CARD_NAME, str(card))


def write_cards(run_folder: str | Path, results: Results, repo_ids: dict | None = None) -> list[Path]:
    """Write a card into every model folder of a comparison run.

    The rows' `folder` paths are relative to `run_folder`. `repo_ids`
    optionally maps (task_name, model_key) to the repo each model will be
    published to. Returns the README paths written.
    """
    written = []
    for task_name, model_key, entry in results.rows(with_model=True):
        repo_id = (repo_ids or {}).get((task_name, model_key))
        card = model_card(results, task_name, model_key, repo_id=repo_id)
        written.append(write_card(card, Path(run_folder) / entry.folder))
    return written


def default_model_name(task_name: str, model_key: str) -> str:
    """The model's name when no repo id is given: `lineage-<task>-<model>`, Hub-safe."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"lineage-{task_name}-{model_key}").strip("-.")
    return re.sub(r"-{2,}", "-", name)


def hub_license(license_text: str | None) -> str | None:
    """The Hub licence id for a licence as a dataset states it ("CC BY-NC-SA 4.0" -> "cc-by-nc-sa-4.0"),
    or None when the Hub has no id for it."""
    if not license_text:
        return "unknown"
    candidate = re.sub(r"[\s_]+", "-", license_text.strip().lower())
    candidate = re.sub(r"^(creative-commons-|license-)", "", candidate).removesuffix("-license")
    return candidate if candidate in HUB_LICENSES else None


# ---------------------------------------------------------------------------- metadata


def _card_data(context: dict) -> ModelCardData:
    license_fields = {"license": context["license_id"]}
    if context["license_id"] == "other":
        license_fields.update(license_name=context["license_name"], license_link=context["license_link"])
    return ModelCardData(
        model_name=context["model_name"],
        language=context["languages"],
        datasets=[context["dataset"]] if context["dataset_on_hub"] else None,
        metrics=context["metric_modules"],
        pipeline_tag=context["pipeline_tag"],
        library_name="transformers",
        tags=context["tags"],
        eval_results=[
            EvalResult(
                task_type=context["pipeline_tag"],
                task_name=context["kind"].capitalize(),
                dataset_type=context["dataset"],
                dataset_name=context["dataset_title"],
                dataset_config=context["dataset_config"],
                dataset_split=context["dataset_split"],
                metric_type=row["module"],
                metric_name=row["name"],
                metric_value=row["rounded"],
                metric_config=row["signature"],
            )
            for row in context["metric_rows"]
        ]
        or None,
        **license_fields,
    )


# ---------------------------------------------------------------------------- body


def _context(results: Results, task_name: str, model_key: str, repo_id: str | None) -> dict:
    """Every value the template shows, taken from the results."""
    task_entry = results.tasks[task_name]
    task, entry = task_entry.task, task_entry.models[model_key]
    if task.kind not in PIPELINE_TAGS:
        raise ValueError(f"task {task_name!r} has unknown kind {task.kind!r}")
    model_name = repo_id or default_model_name(task_name, model_key)
    return dict(
        model_name=model_name, repo_id=repo_id, model_ref=repo_id or model_name, task_name=task_name,
        model_key=model_key, run_name=results.name, preset=results.preset,
        budget_text=budget_text(results.budget_of(task_name)), sibling_count=len(task_entry.models),
        comparison_lines=comparison_table(task_entry, mark=model_key, ranked=True),
        **_task_context(task_entry), **_model_context(entry, model_key, task),
        **_test_context(entry.test, task), **_environment_context(results.environment),
        examples=_examples(task_entry, entry),
    )


def _task_context(task_entry: TaskEntry) -> dict:
    """What the card says about the task: kind, dataset, languages, licence, the usage example."""
    task = task_entry.task
    # A local folder is named by its last part only: no local paths in a published card.
    on_hub = _looks_like_hub_id(task.dataset)
    dataset = task.dataset if on_hub else Path(task.dataset).name
    dataset_url = f"https://huggingface.co/datasets/{dataset}" if on_hub else None
    known = named_task_of(dataset)
    license_text = task.license or "unknown"
    lowered = license_text.lower()
    license_words = re.split(r"[^a-z]+", lowered)
    return dict(
        kind=task.kind, pipeline_tag=PIPELINE_TAGS[task.kind], output_key=OUTPUT_KEYS[task.kind],
        dataset=dataset, dataset_on_hub=on_hub, dataset_url=dataset_url,
        dataset_title=_dataset_title(task, dataset, known),
        dataset_domain=(known and known.domain) or "the text of its training data",
        dataset_config=task.multiref_config or task.dataset_config,
        source_language=task.source_language, target_language=task.target_language, languages=_languages(task),
        metric_modules=list(task.metrics or metric_modules(task.kind)),
        main_metric_name=score_name(task.main_metric),
        example_literal=_python_string(_example(task_entry, known)),
        license_text=license_text, license_id=hub_license(license_text) or "other",
        license_name=(known and known.license_name) or _slug(license_text),
        license_link=(known and known.license_link) or dataset_url,
        noncommercial="nc" in license_words or "non-commercial" in lowered or "noncommercial" in lowered,
        noderivatives="nd" in license_words or "no-derivatives" in lowered or "noderivatives" in lowered,
        citation=known and known.citation,
    )


def _example(task_entry: TaskEntry, known: TaskSpec | None) -> str:
    """The usage snippets' input: a real test sentence if short, else a made-up one in the data's format."""
    task, sources = task_entry.task, task_entry.test_sources
    if task.kind == "translation" and sources and len(sources[0]) <= 200:
        return sources[0]
    if task.kind == "translation":
        return EXAMPLE_SENTENCES.get(task.source_language, EXAMPLE_SENTENCES["en"])
    return (known and known.example_source) or EXAMPLE_DIALOGUE


def _model_context(entry: Row, model_key: str, task: TaskSummary) -> dict:
    """What the card says about the model: architecture, sizes, embeddings, training."""
    arch, config, training = entry.arch, entry.model_config, entry.training
    recurrent = arch in RECURRENT
    attention_text, attention_tag = attention_description(arch, config)
    tags = ["lineage", arch, "seq2seq", task.kind, attention_tag]
    if recurrent and config.get("cell") and config["cell"] != arch:
        tags.append(config["cell"])
    if entry.embeddings.startswith("word2vec"):
        tags.append("word2vec")
    code_files = custom_code_files(arch, config)
    if code_files:
        tags.append("custom_code")
    return dict(
        label=entry.label or model_key, arch=arch, tags=tags, code_files=code_files,
        transformers_versions=transformers_versions(config),
        architecture_lines=architecture_lines(arch, config, attention_text),
        config_rows=[(_cell(key), _cell(_plain(value))) for key, value in config.items()],
        parameters=_maybe(integer_text, entry.parameters), parameters_short=_maybe(_short, entry.parameters),
        embeddings_text=EMBEDDINGS.get(entry.embeddings, entry.embeddings),
        training_rows=_training_rows(training, score_name(task.main_metric)),
        train_time=_maybe(lambda seconds: _duration(seconds, detailed=True), training.get("train_seconds")),
        tokens_per_second=_maybe(_rate, training.get("target_tokens_per_second")), seed=training.get("seed"),
    )


def transformers_versions(config: dict) -> str:
    """Which transformers releases load the model, as the card says it."""
    if config.get("model_type") == TransformerVariantConfig.model_type:
        return ("this variant needs transformers 5: its layers follow transformers 5's Pegasus code, and it does not "
                "load with transformers 4.x.")
    return "with transformers 4.x the built-in pipelines are used."


def custom_code_files(arch: str, config: dict) -> str:
    """The model's own code files that travel with it, as the card names them ("" for the stock Transformer)."""
    if arch in RECURRENT:
        return "`modeling_recurrent.py`, `configuration_recurrent.py`"
    if config.get("model_type") == TransformerVariantConfig.model_type:
        return "`transformer_variants.py`"
    return ""


def _test_context(test: dict, task: TaskSummary) -> dict:
    """What the card says about the test: split, count, scores and their signatures, by length, decoding."""
    test_split = str(task.test_split or "test")
    test_count = test.get("count")
    if test_count is None and test.get("by_source_length"):
        test_count = sum(bucket.get("count", 0) for bucket in test["by_source_length"])
    metric_rows = [
        {"key": score.key, "name": score.name, "module": score.module, "value": _fixed(test[score.key]),
         "rounded": round(float(test[score.key]), 2), "signature": test.get(f"{score.key}_signature")}
        for score in SCORES[task.kind] if test.get(score.key) is not None
    ]
    length_header, length_rows = _by_length(test.get("by_source_length") or [], task.main_metric)
    generation = test.get("generation") or {}
    return dict(
        dataset_split=test_split.split()[0], test_split=test_split, test_count=_maybe(integer_text, test_count),
        metric_rows=metric_rows, signature_rows=[row for row in metric_rows if row["signature"]],
        generation_text=", ".join(f"`{key}={value!r}`" for key, value in generation.items()),
        generate_args="".join(f", {key}={value!r}" for key, value in generation.items()),
        sentences_per_second=_maybe(lambda rate: _fixed(rate, 1), test.get("sentences_per_second")),
        length_header=length_header, length_rows=length_rows,
    )


def _environment_context(environment: dict) -> dict:
    return dict(
        environment_rows=[(label, _cell(_plain(environment[key]))) for key, label in ENVIRONMENT_LABELS.items()
                          if environment.get(key) is not None],
        hardware=environment.get("hardware") or environment.get("device"),
    )


def _languages(task: TaskSummary) -> list[str]:
    languages = [task.source_language, task.target_language]
    return list(dict.fromkeys(language for language in languages if language)) or ["en"]


def _dataset_title(task: TaskSummary, dataset: str, known: TaskSpec | None) -> str:
    title = (known and known.display_name) or dataset
    if task.kind == "translation" and task.source_language and task.target_language:
        title += f" {task.source_language}-{task.target_language}"
    return title


def _by_length(buckets: list[dict], main_metric: str) -> tuple[list[str], list[list[str]]]:
    if not buckets:
        return [], []
    scores = [key for key in buckets[0] if key not in ("min_length", "max_length", "count")]
    scores.sort(key=lambda key: key != main_metric)
    header = ["Source length (tokens)", "Examples"] + [score_name(key) for key in scores]
    rows = [
        [f"{bucket['min_length']}–{bucket['max_length']}", integer_text(bucket["count"])]
        + [_maybe(_fixed, bucket.get(key), "–") for key in scores]
        for bucket in buckets
    ]
    return header, rows


def _training_rows(training: dict, main_metric_name: str) -> list[tuple[str, str]]:
    rows = []
    for key, value in training.items():
        if value is None:
            continue
        label = TRAINING_LABELS.get(key, key)
        if key == "train_seconds":
            text = _duration(value, detailed=True)
        elif key == "target_tokens_per_second":
            text = _rate(value)
        elif key == "best_metric" and isinstance(value, (int, float)):
            text, label = _fixed(value), f"Best validation {main_metric_name}"
        else:
            text = _plain(value)
        rows.append((label, _cell(text)))
    return rows


def _examples(task_entry: TaskEntry, entry: Row) -> list[dict]:
    """The first test examples: source, (first) reference and this model's output."""
    sources, references, outputs = task_entry.test_sources, task_entry.test_references, entry.examples
    rows = []
    for i, (source, output) in enumerate(zip(sources[:EXAMPLES_SHOWN], outputs)):
        reference = references[i] if i < len(references) else None
        if isinstance(reference, list):
            reference = reference[0] if reference else None
        rows.append({"source": _excerpt(source), "reference": _excerpt(reference) if reference else "–",
                     "output": _excerpt(output)})
    return rows


def _excerpt(text: str) -> str:
    text = " ".join(str(text).split())
    if len(text) > EXAMPLE_CHARACTERS:
        text = text[:EXAMPLE_CHARACTERS].rsplit(" ", 1)[0] + " …"
    return _cell(text)


# ---------------------------------------------------------------------------- formatting


def _maybe(format_value, value, missing=None):
    """`format_value(value)`, or `missing` when the results do not have the value."""
    return missing if value is None else format_value(value)


def _rate(value) -> str:
    return integer_text(round(value))


def _fixed(value, decimals: int = 2) -> str:
    return f"{float(value):.{decimals}f}"


def _short(count) -> str:
    """12345678 -> "12.3M"; below a thousand the count itself."""
    count = int(count)
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= size:
            return f"{count / size:.1f}{suffix}"
    return str(count)


def _duration(seconds, detailed: bool = False) -> str:
    """290.1 -> "4.8 min" (detailed: "290.1 s (4.8 min)")."""
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    short = f"{seconds / 60:.1f} min" if seconds < 2 * 3600 else f"{seconds / 3600:.1f} h"
    return f"{seconds:,.1f} s ({short})" if detailed else short


def _plain(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(item) for item in value)
    return str(value)


def _cell(text) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\n", " ").replace("|", "\\|")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "other"


def _python_string(text: str) -> str:
    """A Python literal for `text` that reads well in a snippet (double quotes; escapes kept)."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def _looks_like_hub_id(dataset: str) -> bool:
    """A Hub dataset id ("name" or "owner/name"), not a local path."""
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", dataset)) and not Path(dataset).is_absolute()
