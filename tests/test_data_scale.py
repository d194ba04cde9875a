"""The data path at scale: training rows read from Arrow, tokenizing on every core, the tokenizer's bounded
sample, the tokenized cache reused by a fresh process, and the vectorised batch cut."""

import json
import subprocess
import sys
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
from lineage.data.batching import Seq2SeqCollator, TokenBatchSampler, TokenizedRows
from lineage.data.encoding import tokenize_split
from lineage.data.loading import load_splits
from lineage.data.tasks import get_task
from lineage.data.tokenizer import (learned_from, sample_rows, sample_texts, save_tokenizer, train_task_tokenizer,
                                    train_tokenizer)
from lineage.data.word2vec import TokenPieces
from lineage.training.preparation import training_batches

WORDS = "ein Mann Hund Frau läuft sitzt auf der Straße im Park mit einem roten Ball spielt zwei Kinder".split()


def write_corpus(folder, rows: int):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, count in (("train", rows), ("validation", 4)):
        lines = []
        for _ in range(count):
            de = " ".join(rng.choice(WORDS, size=rng.integers(2, 30)))
            lines.append(json.dumps({"de": de, "en": de.upper()}) + "\n")
        (folder / f"{split}.jsonl").write_text("".join(lines))
    return get_task(str(folder), kind="translation", source_column="de", target_column="en")


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    task = write_corpus(tmp_path / "corpus", 60)
    return task, load_splits(task, ("train",))["train"]


def reference_cut(lengths: np.ndarray, sorted_indices: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """TokenBatchSampler._cut as it was: one Python step per example."""
    longest = lengths[sorted_indices]
    batches, start, width = [], 0, 0
    for i, length in enumerate(longest):
        width = max(width, length)
        if (i - start + 1) * width > max_tokens and i > start:
            batches.append(sorted_indices[start:i])
            start, width = i, length
    batches.append(sorted_indices[start:])
    return batches


@pytest.mark.parametrize("budget", [1, 7, 100, 500, 4096])
@pytest.mark.parametrize("sort", [True, False])
def test_vectorised_cut_gives_the_per_example_algorithms_batches(budget, sort):
    rng = np.random.default_rng(budget)
    lengths = rng.integers(1, 120, size=2000)
    order = np.argsort(lengths, kind="stable") if sort else rng.permutation(len(lengths))
    sampler = TokenBatchSampler(lengths, lengths, budget)
    mine, expected = sampler._cut(order), reference_cut(lengths, order, budget)
    assert len(mine) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(mine, expected))


def test_training_rows_stay_in_arrow_and_batches_are_the_rows(corpus, toy_tokenizer, monkeypatch):
    task, train = corpus
    data = tokenize_split(train, toy_tokenizer, task)
    assert data.cache_files, "the tokenized split should be memory-mapped from the datasets cache"
    sources, targets = list(data["input_ids"]), list(data["labels"])  # the expectation, read before the guard

    def no_whole_column(self, key):
        assert not isinstance(key, str), f"the whole column {key!r} was read into Python"
        return original(self, key)

    original = datasets.Dataset.__getitem__
    monkeypatch.setattr(datasets.Dataset, "__getitem__", no_whole_column)
    config = SimpleNamespace(batch_tokens=200, seed=0, gradient_accumulation_steps=1)
    collate = Seq2SeqCollator(toy_tokenizer.pad_token_id, toy_tokenizer.bos_token_id)
    sampler, loader = training_batches(config, data, collate, SimpleNamespace(num_processes=1, process_index=0))
    assert isinstance(loader.dataset, TokenizedRows) and loader.dataset.data.cache_files
    assert sampler.source_lengths.tolist() == [len(s) for s in sources]
    order = sampler.all_batches(0)
    for indices, batch in zip(order, loader, strict=True):
        assert batch["labels"].shape[0] == len(indices)
        expected = collate([{"input_ids": sources[i], "labels": targets[i]} for i in indices])
        assert all(np.array_equal(batch[k], expected[k]) for k in expected)


def test_tokenizing_in_two_processes_equals_one_and_the_tokenizers_own_truncation(corpus, toy_tokenizer):
    from dataclasses import replace

    task, train = corpus
    task = replace(task, max_source_length=8)
    one = tokenize_split(train, toy_tokenizer, task, num_proc=1)
    two = tokenize_split(train, toy_tokenizer, task, num_proc=2)
    assert one["input_ids"] == two["input_ids"] and one["labels"] == two["labels"]
    expected = toy_tokenizer(list(train["de"]), truncation=True, max_length=8)["input_ids"]
    assert one["input_ids"] == expected
    assert any(len(ids) == 8 for ids in expected) and all(ids[-1] == toy_tokenizer.eos_token_id for ids in expected)
    assert str(one.features["input_ids"]) == str(datasets.List(datasets.Value("uint16")))


def test_tokenizer_sample_is_bounded_deterministic_and_recorded(corpus, tmp_path):
    task, train = corpus
    tokenizer, record = train_task_tokenizer(task, train, 200, show_progress=False, limit=40, seed=3)
    assert record == {"sentences": 40, "rows": 20, "split_rows": 60, "limit": 40, "seed": 3}
    again, _ = train_task_tokenizer(task, train, 200, show_progress=False, limit=40, seed=3)
    assert tokenizer.get_vocab() == again.get_vocab()
    rows = sample_rows(60, 40, 3)
    assert len(rows) == 20 and np.array_equal(rows, sample_rows(60, 40, 3)) and not np.array_equal(rows, sample_rows(60, 40, 4))
    texts = [text for chunk in sample_texts(task, train, rows) for text in chunk]
    assert texts == [train[int(i)]["de"] for i in rows] + [train[int(i)]["en"] for i in rows]
    save_tokenizer(tokenizer, tmp_path / "tok", record)
    assert learned_from(tmp_path / "tok") == record


def test_a_split_under_the_limit_is_learned_whole_as_before(corpus):
    task, train = corpus
    tokenizer, record = train_task_tokenizer(task, train, 200, show_progress=False)
    assert record["sentences"] == 120 and sample_rows(60) is None
    before = train_tokenizer(list(train["de"]) + list(train["en"]), 200)
    assert tokenizer.get_vocab() == before.get_vocab()


def test_word2vec_pieces_stream_from_arrow_as_the_tokenizer_splits_them(corpus, toy_tokenizer):
    task, train = corpus
    data = tokenize_split(train, toy_tokenizer, task)
    rows = np.array([1, 5, 7])
    pieces = TokenPieces(data, toy_tokenizer, rows)
    expected = [toy_tokenizer.tokenize(train[int(i)][side]) for side in ("de", "en") for i in rows]
    assert list(pieces) == expected and list(pieces) == expected  # restartable: gensim reads it once per pass


FRESH_PROCESS = """
import sys
from lineage.data import encoding
from lineage.data.loading import load_splits
from lineage.data.tasks import get_task
from lineage.data.tokenizer import load_tokenizer
task = get_task(sys.argv[1], kind="translation", source_column="de", target_column="en")
if sys.argv[3] == "forbid":
    def refuse(self, batch):
        raise SystemExit("tokenized again")
    encoding.Encoder.__call__ = refuse
data = encoding.tokenize_split(load_splits(task, ("train",))["train"], load_tokenizer(sys.argv[2]), task)
print(len(data), data.cache_files[0]["filename"])
"""


def test_a_fresh_process_reuses_the_tokenized_cache(corpus, toy_tokenizer, tmp_path):
    task, _ = corpus
    save_tokenizer(toy_tokenizer, tmp_path / "tok")

    def run(mode):
        result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, task.dataset, str(tmp_path / "tok"), mode],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    first = run("allow")
    assert run("forbid") == first
