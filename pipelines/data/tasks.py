"""Tasks: what a task is, in one place.

A `TaskSpec` says which dataset to load, which columns hold source and
target, which splits train/validate/test, how outputs are scored, how long
sequences may be, how to decode, and what its data is (licence, citation).
The named tasks below cover the shared data (Multi30k, DialogSum, SAMSum);
`custom_task` describes any other Hub dataset or local folder.

A task has one id, what `--task`/`--tasks` name ("multi30k", a Hub id or a
folder); its `name`, which names its folders and results ("multi30k-de-en"),
is derived from the id and the languages. Named tasks resolve to their Hub
dataset id, or to the local folder `$LINEAGE_DATA_DIR/<local_name>` when it
exists (same layout, works offline).
"""

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ConfigError

KINDS = ("translation", "summarization")
MULTI30K_LANGUAGES = ("en", "de", "fr", "cs")
# The translation direction a command takes when none is named: Multi30k's German to English, the default task.
DEFAULT_LANGUAGES = ("de", "en")


@dataclass(frozen=True)
class Score:
    """One score a task reports.

    Args:
        key: its key in test scores, length buckets and validation records ("bleu").
        name: how reports and cards name it ("BLEU").
        module: the `evaluate` module that computes it (pipelines/evaluation/metrics).
        output: the key of that module's result that holds it.
        signature: the module also returns a signature of its settings, reported as `<key>_signature`.
    """

    key: str
    name: str
    module: str
    output: str
    signature: bool = False


# Every task kind's scores in display order: the one metric vocabulary of the project. The
# ROUGE keys are those pipelines/evaluation/metrics/lineage_rouge.py computes (its ROUGE_TYPES): that
# module is loaded alone by path (evaluate.load), so it cannot import them from here.
SCORES = {
    "translation": (Score("bleu", "BLEU", "sacrebleu", "score", signature=True),
                    Score("chrf", "chrF", "chrf", "score", signature=True)),
    "summarization": tuple(Score(key, f"ROUGE-{key.removeprefix('rouge')}", "rouge", key)
                           for key in ("rouge1", "rouge2", "rougeL", "rougeLsum")),
}
# The score that selects the best checkpoint and orders the comparison.
MAIN_METRIC = {"translation": "bleu", "summarization": "rougeL"}
SCORE_NAMES = {score.key: score.name for scores in SCORES.values() for score in scores}


def score_name(key: str) -> str:
    """The display name of score `key` ("rougeL" -> "ROUGE-L"); an unknown key is shown as it is."""
    return SCORE_NAMES.get(key, key)


def metric_modules(kind: str) -> tuple[str, ...]:
    """The `evaluate` modules that score a task of `kind`, each once, in display order."""
    return tuple(dict.fromkeys(score.module for score in SCORES[kind]))


@dataclass(frozen=True)
class TaskSpec:
    """One task.

    Args:
        name: short name used in run folders and reports ("multi30k-de-en"), derived from the task id.
        kind: "translation" or "summarization".
        dataset: Hub dataset id or local folder, before `LINEAGE_DATA_DIR` resolution.
        source_column: column holding the input text.
        target_column: column holding the reference output text.
        splits: maps "train", "validation", "test" to the dataset's split names.
        max_source_length: tokens kept of a source (longer ones are truncated).
        max_target_length: tokens kept of a target.
        generation: generate() defaults for this task (beams, length penalty, max_new_tokens, ...).
        source_language: language code of the source (model cards, metadata).
        target_language: language code of the target.
        dataset_config: dataset config name, if any.
        multiref_config: config holding the test split with several references per source.
        multiref_column: column of that config with the list of references.
        local_name: folder name under `LINEAGE_DATA_DIR` that mirrors `dataset`.
        license: the dataset's license as its source states it (model cards).
        license_name: a short id of that licence where the Hub has none (model cards' metadata).
        license_link: the page of the licence terms where the Hub has no id for them.
        test_description: what the test split is, for reports ("test2016 flickr").
        display_name: how cards name the dataset ("Multi30k").
        domain: what its text is ("short image captions").
        citation: BibTeX of the dataset's paper.
        example_source: a made-up input in the data's own format, for usage snippets (summarization).
    """

    name: str
    kind: str
    dataset: str
    source_column: str
    target_column: str
    splits: dict = field(default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"})
    max_source_length: int = 128
    max_target_length: int = 128
    generation: dict = field(default_factory=dict)
    source_language: str = "en"
    target_language: str = "en"
    dataset_config: str | None = None
    multiref_config: str | None = None
    multiref_column: str | None = None
    local_name: str | None = None
    license: str = "unknown"
    license_name: str | None = None
    license_link: str | None = None
    test_description: str = "the dataset's test split"
    display_name: str | None = None
    domain: str | None = None
    citation: str | None = None
    example_source: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"unknown task kind {self.kind!r}: choose one of {', '.join(KINDS)}")

    @property
    def scores(self) -> tuple[Score, ...]:
        """The scores this task reports, in display order."""
        return SCORES[self.kind]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric modules scoring this task (see lineage.evaluation.metrics)."""
        return metric_modules(self.kind)

    @property
    def main_metric(self) -> str:
        """The score that picks the best checkpoint and ranks architectures."""
        return MAIN_METRIC[self.kind]

    def resolved_dataset(self) -> str:
        """The local mirror `$LINEAGE_DATA_DIR/<local_name>` if present, else `dataset`."""
        data_dir = os.environ.get("LINEAGE_DATA_DIR")
        if data_dir and self.local_name and (Path(data_dir) / self.local_name).is_dir():
            return str(Path(data_dir) / self.local_name)
        return self.dataset


TRANSLATION_GENERATION = dict(num_beams=5, length_penalty=1.0, max_new_tokens=64)
# Summaries: beam 4 with trigram blocking (repeated phrases are the typical failure of small
# summarizers), no length reward: on DialogSum validation (scripts/generation_sweep.py,
# docs/cpu-summarization/generation-sweep-*.json) a length penalty of 2.0 made the LSTM's
# summaries about three times the references' length and lowered ROUGE-L; a minimum length
# gained little (figures in that JSON).
SUMMARIZATION_GENERATION = dict(num_beams=4, length_penalty=1.0, max_new_tokens=96, no_repeat_ngram_size=3)
# SAMSum's summaries are one or two sentences, and the models end theirs too early (LSTM and
# Transformer at about half a reference's length, the RNN shorter still). A minimum of 10
# tokens, chosen on validation by the mean ROUGE-L of the RNN, LSTM and Transformer
# (docs/cpu-summarization/generation-sweep-samsum.json), raised every model's ROUGE-1/2/L
# there; 15 and more lowered ROUGE-L.
SAMSUM_GENERATION = dict(SUMMARIZATION_GENERATION, min_new_tokens=10)


# The datasets' papers, cited by the model cards.
MULTI30K_CITATION = """@inproceedings{elliott-etal-2016-multi30k,
    title = "{M}ulti30{K}: Multilingual {E}nglish-{G}erman Image Descriptions",
    author = "Elliott, Desmond and Frank, Stella and Sima{'}an, Khalil and Specia, Lucia",
    booktitle = "Proceedings of the 5th Workshop on Vision and Language",
    year = "2016",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/W16-3210",
    doi = "10.18653/v1/W16-3210",
    pages = "70--74",
}"""
DIALOGSUM_CITATION = """@inproceedings{chen-etal-2021-dialogsum,
    title = "{D}ialog{S}um: {A} Real-Life Scenario Dialogue Summarization Dataset",
    author = "Chen, Yulong and Liu, Yang and Chen, Liang and Zhang, Yue",
    booktitle = "Findings of the Association for Computational Linguistics: ACL-IJCNLP 2021",
    year = "2021",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2021.findings-acl.449",
    doi = "10.18653/v1/2021.findings-acl.449",
    pages = "5062--5074",
}"""
SAMSUM_CITATION = """@inproceedings{gliwa-etal-2019-samsum,
    title = "{SAMS}um Corpus: A Human-annotated Dialogue Dataset for Abstractive Summarization",
    author = "Gliwa, Bogdan and Mochol, Iwona and Biesek, Maciej and Wawer, Aleksander",
    booktitle = "Proceedings of the 2nd Workshop on New Frontiers in Summarization",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/D19-5409",
    doi = "10.18653/v1/D19-5409",
    pages = "70--79",
}"""


def multi30k(source_language: str = DEFAULT_LANGUAGES[0], target_language: str = DEFAULT_LANGUAGES[1]) -> TaskSpec:
    """Multi30k Task 1 captions (test = test2016 flickr), any pair of en/de/fr/cs."""
    for language in (source_language, target_language):
        if language not in MULTI30K_LANGUAGES:
            raise ConfigError(f"Multi30k has no language {language!r}: choose from {', '.join(MULTI30K_LANGUAGES)}")
    if source_language == target_language:
        raise ConfigError("source and target language must differ")
    return TaskSpec(
        name=f"multi30k-{source_language}-{target_language}",
        kind="translation",
        dataset="bentrevett/multi30k",
        local_name="multi30k",
        source_column=source_language,
        target_column=target_language,
        max_source_length=64,
        max_target_length=64,
        generation=TRANSLATION_GENERATION,
        source_language=source_language,
        target_language=target_language,
        license="non-commercial research and educational use (Flickr30K terms)",
        license_name="flickr30k-noncommercial",
        license_link="https://github.com/multi30k/dataset",
        test_description="test2016 flickr, 1 reference",
        display_name="Multi30k",
        domain="short image captions",
        citation=MULTI30K_CITATION,
    )


def dialogsum() -> TaskSpec:
    """DialogSum dialogue summarization; the test split is scored against 3 references."""
    return TaskSpec(
        name="dialogsum",
        kind="summarization",
        dataset="knkarthick/dialogsum",
        local_name="dialogsum",
        source_column="dialogue",
        target_column="summary",
        max_source_length=512,
        max_target_length=96,
        generation=SUMMARIZATION_GENERATION,
        multiref_config="multiref",
        multiref_column="summaries",
        license="cc-by-nc-sa-4.0",
        test_description="500 dialogues, 3 references each",
        display_name="DialogSum",
        domain="everyday spoken dialogues",
        citation=DIALOGSUM_CITATION,
        example_source="#Person1#: Are we still meeting at noon?\n#Person2#: Yes, at the cafe near the station.",
    )


def samsum() -> TaskSpec:
    """SAMSum messenger-dialogue summarization."""
    return TaskSpec(
        name="samsum",
        kind="summarization",
        dataset="Samsung/samsum",
        local_name="samsum",
        source_column="dialogue",
        target_column="summary",
        max_source_length=512,
        max_target_length=96,
        generation=SAMSUM_GENERATION,
        license="cc-by-nc-nd-4.0",
        test_description="819 dialogues, 1 reference",
        display_name="SAMSum",
        domain="messenger chats",
        citation=SAMSUM_CITATION,
    )


NAMED_TASKS = {"multi30k": multi30k, "dialogsum": dialogsum, "samsum": samsum}


def named_task_of(dataset: str) -> TaskSpec | None:
    """The named task whose Hub dataset is `dataset` (its licence, citation and domain), if any."""
    return next((spec for spec in map(lambda make: make(), NAMED_TASKS.values()) if spec.dataset == dataset), None)


# The settings that say which task a task id names (flags of train, compare and evaluate): `get_task` takes them.
TASK_SETTINGS = ("kind", "source_language", "target_language", "source_column", "target_column", "dataset_config",
                 "max_source_length", "max_target_length")
# Lengths of a task named by a Hub id or folder, in tokens (the transformers examples' defaults for translation;
# summarization sources are longer).
CUSTOM_LENGTHS = {"translation": (128, 128), "summarization": (512, 128)}
LANGUAGE_PAIR = re.compile(r"[a-z]{2,3}-[a-z]{2,3}")


def custom_task(dataset: str, kind: str, source_language: str | None = None, target_language: str | None = None,
                source_column: str | None = None, target_column: str | None = None, dataset_config: str | None = None,
                max_source_length: int | None = None, max_target_length: int | None = None) -> TaskSpec:
    """Any Hub dataset id or local folder.

    Translation reads the Hub's layout by default: one nested column, `translation`, holding each pair by
    language code (`{"translation": {"de": ..., "en": ...}}`, as wmt14, iwslt2017, opus_books store it),
    so the columns default to `translation.<source_language>` and `translation.<target_language>`; a flat
    layout names its columns. Summarization names its columns. The name says where the task comes from
    ("wmt14-en-de", "cnn_dailymail-3.0.0", "tatoeba-deu-eng-de-en"), and decoding may run as long as a
    target may be.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown task kind {kind!r}: choose one of {', '.join(KINDS)}")
    translation = kind == "translation"
    if translation:
        source_language, target_language = source_language or DEFAULT_LANGUAGES[0], target_language or DEFAULT_LANGUAGES[1]
        if source_language == target_language:
            raise ConfigError("source and target language must differ")
        source_column = source_column or f"translation.{source_language}"
        target_column = target_column or f"translation.{target_language}"
    elif not (source_column and target_column):
        raise ConfigError(f"{dataset}: a summarization dataset needs --source_column and --target_column")
    source_length, target_length = CUSTOM_LENGTHS[kind]
    max_source_length, max_target_length = max_source_length or source_length, max_target_length or target_length
    generation = TRANSLATION_GENERATION if translation else SUMMARIZATION_GENERATION
    return TaskSpec(
        name=custom_name(dataset, dataset_config, f"{source_language}-{target_language}" if translation else None),
        kind=kind,
        dataset=dataset,
        dataset_config=dataset_config,
        source_column=source_column,
        target_column=target_column,
        source_language=source_language or "en",
        target_language=target_language or "en",
        max_source_length=max_source_length,
        max_target_length=max_target_length,
        generation=dict(generation, max_new_tokens=max_target_length),
    )


def custom_name(dataset: str, dataset_config: str | None, direction: str | None) -> str:
    """"wmt14-en-de": the dataset's last name part, its config unless that is a language pair (the direction
    names the pair), and a translation's direction."""
    parts = [Path(dataset).name if Path(dataset).exists() else dataset.rstrip("/").split("/")[-1]]
    if dataset_config and not (direction and LANGUAGE_PAIR.fullmatch(dataset_config)):
        parts.append(dataset_config)
    if direction:
        parts.append(direction)
    return "-".join(parts)


def get_task(name: str, source_language: str | None = None, target_language: str | None = None, kind: str | None = None,
             source_column: str | None = None, target_column: str | None = None, dataset_config: str | None = None,
             max_source_length: int | None = None, max_target_length: int | None = None) -> TaskSpec:
    """Resolve a task id to a `TaskSpec`: a named task ("multi30k", "dialogsum", "samsum"), or a Hub dataset id
    or local folder with its `kind` (and for summarization its columns: `custom_task`).

    For a named task, explicit columns, config and lengths override the built-in ones.
    """
    if name in NAMED_TASKS:
        if name == "multi30k":
            task = multi30k(source_language or DEFAULT_LANGUAGES[0], target_language or DEFAULT_LANGUAGES[1])
        else:
            task = NAMED_TASKS[name]()
        overrides = {key: value for key, value in (
            ("source_column", source_column), ("target_column", target_column), ("dataset_config", dataset_config),
            ("max_source_length", max_source_length), ("max_target_length", max_target_length)) if value}
        return replace(task, **overrides)
    if kind:
        return custom_task(name, kind, source_language, target_language, source_column, target_column, dataset_config,
                           max_source_length, max_target_length)
    raise ConfigError(
        f"unknown task {name!r}: use one of {', '.join(NAMED_TASKS)}, or pass a Hub dataset id / local "
        "folder with --kind (translation: --source_language and --target_language; summarization: "
        "--source_column and --target_column)"
    )
