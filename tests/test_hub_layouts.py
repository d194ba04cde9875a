"""Hub datasets in their own layouts: the nested translation column read by language code, dotted columns,
dataset configurations, and the real Tatoeba corpus (../shared/data/tatoeba-deu-eng)."""

import json
import os
from pathlib import Path

import isolated
import pytest
from lineage.data.loading import DataError, load_splits, load_test_references
from lineage.data.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ["LINEAGE_DATA_DIR"])
copies = isolated.load_by_path("lineage_layout_copies", ROOT / "scripts" / "layout_copies.py")


@pytest.fixture(scope="module")
def wmt14(tmp_path_factory):
    return copies.wmt14_copy(DATA, tmp_path_factory.mktemp("hub"), rows=40)


@pytest.fixture(scope="module")
def cnn_dailymail(tmp_path_factory):
    return copies.cnn_dailymail_copy(DATA, tmp_path_factory.mktemp("hub"), rows=20)


def first_multi30k(split: str) -> dict:
    return json.loads((DATA / "multi30k" / f"{split}.jsonl").open(encoding="utf-8").readline())


def test_nested_translation_column_is_read_by_language_code(wmt14):
    task = get_task(str(wmt14), kind="translation", source_language="en", target_language="de", dataset_config="de-en")
    assert (task.name, task.source_column, task.target_column) == ("wmt14-en-de", "translation.en", "translation.de")
    splits = load_splits(task)
    assert {split: len(data) for split, data in splits.items()} == {"train": 40, "validation": 40, "test": 40}
    row, expected = splits["train"][0], first_multi30k("train")
    assert (row["translation.en"], row["translation.de"]) == (expected["en"], expected["de"])
    sources, references = load_test_references(task)
    assert (sources[0], references[0]) == (first_multi30k("test")["en"], [first_multi30k("test")["de"]])


def test_a_dotted_column_names_a_nested_field(wmt14):
    task = get_task(str(wmt14), kind="translation", source_column="translation.fr", target_column="translation.en",
                    dataset_config="fr-en", source_language="fr")
    assert load_splits(task, ("validation",))["validation"][0]["translation.fr"] == first_multi30k("validation")["fr"]


def test_a_dataset_with_configurations_needs_one(wmt14):
    with pytest.raises(DataError, match=r"has several configurations: choose one with --dataset_config \['de-en', 'fr-en'\]"):
        load_splits(get_task(str(wmt14), kind="translation"))
    with pytest.raises(DataError, match=r"has no configuration 'en-de': choose one with --dataset_config"):
        load_splits(get_task(str(wmt14), kind="translation", dataset_config="en-de"))


def test_a_language_the_pair_lacks_names_the_fields_there_are(wmt14):
    task = get_task(str(wmt14), kind="translation", source_language="it", target_language="en", dataset_config="de-en")
    with pytest.raises(DataError, match=r"no column 'translation.it' \(columns: translation.de, translation.en\); "
                                        r"choose them with --source_language/--target_language"):
        load_splits(task, ("validation",))


def test_the_cnn_dailymail_layout_with_its_configuration(cnn_dailymail):
    task = get_task(str(cnn_dailymail), kind="summarization", source_column="article", target_column="highlights",
                    dataset_config="3.0.0")
    assert (task.name, task.max_source_length, task.max_target_length) == ("cnn_dailymail-3.0.0", 512, 128)
    assert task.generation["max_new_tokens"] == 128
    train = load_splits(task, ("train",))["train"]
    assert len(train) == 20 and train[0]["highlights"] == json.loads(
        (DATA / "dialogsum" / "train.jsonl").open().readline())["summary"]


def test_a_folder_of_the_same_name_and_configuration_or_rewritten_loads_its_own_rows(tmp_path):
    """datasets caches a configuration named in a folder's README by its name alone; Lineage keys it by the files."""
    def rows(folder):
        task = get_task(str(folder), kind="summarization", source_column="article", target_column="highlights",
                        dataset_config="3.0.0")
        return len(load_splits(task, ("train",))["train"])

    first = copies.cnn_dailymail_copy(DATA, tmp_path / "first", rows=12)
    second = copies.cnn_dailymail_copy(DATA, tmp_path / "second", rows=7)
    assert (rows(first), rows(second)) == (12, 7)
    copies.cnn_dailymail_copy(DATA, tmp_path / "second", rows=9)
    assert rows(second) == 9


def test_summarization_needs_its_columns(cnn_dailymail):
    with pytest.raises(ValueError, match="a summarization dataset needs --source_column and --target_column"):
        get_task(str(cnn_dailymail), kind="summarization")


def test_tatoeba_in_the_hubs_translation_layout():
    """The real corpus: 164,813 training pairs, read by language code; the test split's 3,000 pairs."""
    task = get_task(str(DATA / "tatoeba-deu-eng"), kind="translation", source_language="de", target_language="en")
    assert task.name == "tatoeba-deu-eng-de-en"
    train = load_splits(task, ("train",))["train"]
    assert len(train) == 164_813
    record = json.loads((DATA / "tatoeba-deu-eng" / "train.jsonl").open(encoding="utf-8").readline())
    assert (train[0]["translation.de"], train[0]["translation.en"]) == (record["translation"]["de"],
                                                                          record["translation"]["en"])
    sources, references = load_test_references(task)
    assert len(sources) == len(references) == 3000


def test_flat_columns_named_as_languages_keep_working():
    """Multi30k-style flat columns, given as columns, on a custom folder: the pre-Hub-layout way stays."""
    task = get_task(str(DATA / "multi30k"), kind="translation", source_column="de", target_column="en")
    assert load_splits(task, ("validation",))["validation"][0]["de"] == first_multi30k("validation")["de"]


def test_compare_and_evaluate_on_the_nested_layout(wmt14, tmp_path):
    """The whole path from the Hub's translation layout: a comparison row, its card naming the pair, and
    `lineage evaluate` on the published folder with the same task flags."""
    import subprocess
    import sys

    from huggingface_hub import ModelCard
    from lineage.comparison import CompareConfig, compare

    task_flags = dict(kind="translation", source_language="en", target_language="de", dataset_config="de-en")
    results = compare(CompareConfig(preset="test", runs_dir=str(tmp_path), name="nested", tasks=str(wmt14), rows="lstm",
                                    train_samples=40, **task_flags))
    row = results.task("wmt14-en-de").models["lstm"]
    assert row.test["bleu"] >= 0 and row.training["steps"] > 0
    card = ModelCard.load(tmp_path / "nested" / row.folder / "README.md")
    assert card.data.language == ["en", "de"] and "wmt14 en-de" in card.text
    flags = [f"--{name}={value}" for name, value in task_flags.items()]
    done = subprocess.run([sys.executable, "-m", "lineage.cli", "evaluate", str(tmp_path / "nested" / row.folder),
                           "--task", str(wmt14), *flags, "--samples", "5"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "bleu" in json.loads(done.stdout[done.stdout.index("{"):])
