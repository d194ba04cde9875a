"""Shared fixtures. Tests run offline against the shared data folder."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Before any Hugging Face import reads them.
os.environ.setdefault("LINEAGE_DATA_DIR", str(ROOT.parent / "shared" / "data"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Tiny models run faster on one thread (no sync overhead); subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from lineage.data.encoding import tokenize_split  # noqa: E402
from lineage.data.loading import load_splits  # noqa: E402
from lineage.data.tasks import get_task  # noqa: E402
from lineage.data.tokenizer import train_tokenizer  # noqa: E402

TOY_SENTENCES = [
    "the cat sits on the mat .",
    "a dog runs in the park .",
    "two men play football .",
    "die katze sitzt auf der matte .",
    "ein hund läuft im park .",
    "zwei männer spielen fußball .",
    "word word word word",
    "source target",
]


@pytest.fixture(scope="session")
def toy_tokenizer():
    """A tiny word-level-ish tokenizer for unit tests."""
    return train_tokenizer(TOY_SENTENCES * 4, vocab_size=120, min_frequency=1)


@pytest.fixture(scope="session")
def multi30k_task():
    return get_task("multi30k")


@pytest.fixture(scope="session")
def multi30k_splits(multi30k_task):
    return load_splits(multi30k_task)


@pytest.fixture(scope="session")
def multi30k_tokenizer(multi30k_splits):
    """The joint de+en 8k tokenizer trained on Multi30k train."""
    train = multi30k_splits["train"]
    return train_tokenizer(list(train["de"]) + list(train["en"]), vocab_size=8000)


@pytest.fixture(scope="session")
def multi30k_tokenized(multi30k_splits, multi30k_tokenizer, multi30k_task):
    return tokenize_split(multi30k_splits["train"], multi30k_tokenizer, multi30k_task)


@pytest.fixture(scope="session")
def toy_folders(tmp_path_factory):
    """The three trained toy model folders (tests/compat/toy_models.py) and the outputs
    in-process generate gives; shared by the pipeline and transformers-4.57 tests."""
    import isolated

    toy = isolated.load_by_path("lineage_toy_models", ROOT / "tests" / "compat" / "toy_models.py")
    return toy.build_toy_folders(tmp_path_factory.mktemp("folders"))


@pytest.fixture(scope="session")
def tiny_compare_run(tmp_path_factory):
    """A `lineage compare --preset test` run folder (seconds), shared by the app and Space tests."""
    from lineage.comparison.config import CompareConfig
    from lineage.comparison.running import compare

    runs = tmp_path_factory.mktemp("runs")
    compare(CompareConfig(preset="test", runs_dir=str(runs)))
    return runs / "test"
