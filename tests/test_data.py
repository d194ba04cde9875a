"""Tasks and data: loading the shared tasks offline, bad input, batching."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from lineage.data.batching import Seq2SeqCollator, TokenBatchSampler, padding_fraction
from lineage.data.encoding import tokenize_split
from lineage.data.loading import DataError, load_splits, load_test_references
from lineage.data.tasks import get_task


def sizes(splits):
    return {name: len(split) for name, split in splits.items()}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("multi30k", {"train": 29000, "validation": 1014, "test": 1000}),
        ("dialogsum", {"train": 12460, "validation": 500, "test": 1500}),
        # SAMSum train has one empty dialogue (documented in its README): 14,732 rows, 14,731 kept.
        ("samsum", {"train": 14731, "validation": 818, "test": 819}),
    ],
)
def test_shared_tasks_load_offline_with_documented_sizes(name, expected):
    task = get_task(name)
    assert task.resolved_dataset().endswith(name), "LINEAGE_DATA_DIR should point at the shared data"
    assert sizes(load_splits(task)) == expected


def test_multi30k_default_is_german_to_english_and_pairs_are_selectable():
    task = get_task("multi30k")
    assert (task.source_column, task.target_column, task.kind) == ("de", "en", "translation")
    splits = load_splits(get_task("multi30k", "en", "fr"), ("validation",))
    row = splits["validation"][0]
    assert row["en"].startswith("A group of men") and row["fr"]
    with pytest.raises(ValueError, match="no language 'xx'"):
        get_task("multi30k", "xx", "en")


def test_dialogsum_test_has_three_references_per_dialogue():
    sources, references = load_test_references(get_task("dialogsum"))
    assert len(sources) == len(references) == 500
    assert all(len(refs) == 3 for refs in references)
    assert sources[0].startswith("#Person1#: Ms. Dawson")


def test_dialogsum_in_the_hub_layout_is_grouped_into_three_references(tmp_path, monkeypatch):
    """knkarthick/dialogsum on the Hub has no `multiref` config: its test split repeats each dialogue once
    per reference (1,500 rows, ids test_<i>_<k>). Loading the multiref config failed there, at test time."""
    shared = Path(os.environ["LINEAGE_DATA_DIR"]) / "dialogsum"
    hub = tmp_path / "dialogsum"
    hub.mkdir()
    (hub / "test.jsonl").write_bytes((shared / "test.jsonl").read_bytes())
    for split in ("train", "validation"):
        (hub / f"{split}.jsonl").write_text("".join((shared / f"{split}.jsonl").read_text().splitlines(True)[:20]))
    task = get_task("dialogsum")
    expected = load_test_references(task)  # the mirror's multiref config
    monkeypatch.setenv("LINEAGE_DATA_DIR", str(tmp_path))
    assert task.resolved_dataset() == str(hub)
    sources, references = load_test_references(task)
    assert len(sources) == 500 and {len(r) for r in references} == {3}
    assert (sources, references) == expected


def test_single_reference_test_set():
    sources, references = load_test_references(get_task("multi30k"))
    assert len(sources) == 1000 and references[0] == ["A man in an orange hat starring at something."]


def write_jsonl(folder, split, rows):
    folder.mkdir(exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def custom_folder(tmp_path):
    folder = tmp_path / "mydata"
    for split, n in (("train", 6), ("validation", 2), ("test", 2)):
        write_jsonl(folder, split, [{"text_in": f"source {i}", "text_out": f"target {i}"} for i in range(n)])
    return folder


def test_custom_local_folder_with_explicit_columns(custom_folder):
    task = get_task(str(custom_folder), kind="translation", source_column="text_in", target_column="text_out")
    splits = load_splits(task)
    assert sizes(splits) == {"train": 6, "validation": 2, "test": 2}
    assert splits["train"][3] == {"text_in": "source 3", "text_out": "target 3"}


def test_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="unknown task 'wmt99'.*multi30k.*--source_column"):
        get_task("wmt99")


def test_missing_column_is_named(custom_folder):
    task = get_task(str(custom_folder), kind="translation", source_column="text_in", target_column="english")
    with pytest.raises(DataError, match="no column 'english'.*text_in, text_out.*--target_column"):
        load_splits(task)


def test_empty_split_is_an_error(custom_folder):
    write_jsonl(custom_folder, "validation", [])
    task = get_task(str(custom_folder), kind="translation", source_column="text_in", target_column="text_out")
    with pytest.raises(DataError, match="has an empty split.*validation"):
        load_splits(task)


def test_bad_rows_are_counted_and_dropped(custom_folder, caplog):
    rows = [
        {"text_in": "good", "text_out": "fine"},
        {"text_in": None, "text_out": "x"},
        {"text_in": "", "text_out": "x"},
        {"text_in": "   ", "text_out": "x"},
        {"text_in": "y", "text_out": None},
        {"text_in": "also good", "text_out": "fine too"},
    ]
    write_jsonl(custom_folder, "train", rows)
    task = get_task(str(custom_folder), kind="translation", source_column="text_in", target_column="text_out")
    with caplog.at_level(logging.WARNING):
        train = load_splits(task, ("train",))["train"]
    assert list(train["text_in"]) == ["good", "also good"]
    assert "dropped 4 of 6 rows" in caplog.text


def test_split_with_only_bad_rows_is_an_error(custom_folder):
    write_jsonl(custom_folder, "train", [{"text_in": "", "text_out": "x"}, {"text_in": " ", "text_out": ""}])
    task = get_task(str(custom_folder), kind="translation", source_column="text_in", target_column="text_out")
    with pytest.raises(DataError, match="split 'train' .* has no usable rows \\(2 dropped\\)"):
        load_splits(task, ("train",))


def test_splits_with_conflicting_types_are_an_error(custom_folder):
    write_jsonl(custom_folder, "train", [{"text_in": 5, "text_out": None}])
    task = get_task(str(custom_folder), kind="translation", source_column="text_in", target_column="text_out")
    with pytest.raises(DataError, match="cannot read .*same columns and types"):
        load_splits(task)


def test_unreachable_hub_while_offline_says_how_to_fix(tmp_path):
    code = (
        "from lineage.data.tasks import get_task\n"
        "from lineage.data.loading import load_splits\n"
        "load_splits(get_task('dialogsum'))\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert "DataError: cannot reach dataset 'knkarthick/dialogsum' on the Hub (HF_HUB_OFFLINE is set)" in result.stderr
    assert "set LINEAGE_DATA_DIR to a folder that contains 'dialogsum/'" in result.stderr


# ---------------------------------------------------------------- tokenizing and batching


def test_tokenize_split_truncates_to_task_lengths(custom_folder, toy_tokenizer):
    rows = [{"text_in": " ".join(["word"] * 50), "text_out": "short"}] * 3
    write_jsonl(custom_folder, "train", rows)
    task = get_task(str(custom_folder), kind="translation", source_column="text_in", target_column="text_out")
    from dataclasses import replace

    task = replace(task, max_source_length=10)
    tokenized = tokenize_split(load_splits(task, ("train",))["train"], toy_tokenizer, task)
    assert tokenized.column_names == ["input_ids", "labels"]
    assert all(len(ids) == 10 and ids[-1] == toy_tokenizer.eos_token_id for ids in tokenized["input_ids"])


@pytest.fixture(scope="module")
def random_lengths():
    rng = np.random.default_rng(1)
    source = rng.integers(1, 60, size=3001)
    target = np.clip(source + rng.integers(-5, 6, size=3001), 1, None)
    return source, target


def test_batches_respect_budget_and_cover_every_example_once(random_lengths):
    source, target = random_lengths
    sampler = TokenBatchSampler(source, target, max_tokens=500, pool_size=1000)
    batches = list(sampler)
    for batch in batches:
        assert len(batch) * max(source[batch].max(), target[batch].max()) <= 500
    assert sorted(i for b in batches for i in b) == list(range(len(source)))


def test_single_example_over_budget_gets_its_own_batch():
    batches = list(TokenBatchSampler([3, 50, 4], [3, 50, 4], max_tokens=10, shuffle=False))
    assert [50] in [list(np.array([3, 50, 4])[b]) for b in batches]


def test_two_ranks_see_disjoint_batches_of_equal_count(random_lengths):
    source, target = random_lengths
    ranks = [list(TokenBatchSampler(source, target, 500, num_replicas=2, rank=r, seed=3)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) > 0
    seen = [set(i for b in batches for i in b) for batches in ranks]
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(len(source)))


def test_each_rank_knows_the_target_tokens_of_every_ranks_batch_at_its_position(random_lengths):
    source, target = random_lengths
    samplers = [TokenBatchSampler(source, target, 500, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    rounds = []
    for batches in zip(*samplers, strict=True):  # both ranks take their n-th batch
        own = [int(np.asarray(target)[batch].sum()) for batch in batches]
        assert samplers[0].round_target_tokens == samplers[1].round_target_tokens == sum(own)
        rounds.append(sum(own))
    assert sum(rounds) == sum(target)


def test_one_rank_with_accumulation_sees_the_same_global_batches_as_two_ranks(random_lengths):
    source, target = random_lengths
    single = TokenBatchSampler(source, target, 500, seed=5, batch_multiple=2).all_batches(0)
    double = TokenBatchSampler(source, target, 500, seed=5, num_replicas=2).all_batches(0)
    assert len(single) % 2 == 0
    assert all(np.array_equal(a, b) for a, b in zip(single, double, strict=True))


def test_epochs_reshuffle_deterministically(random_lengths):
    source, target = random_lengths
    a, b = TokenBatchSampler(source, target, 500), TokenBatchSampler(source, target, 500)
    epoch0, epoch1 = list(a), list(a)
    assert epoch0 == list(b) and epoch1 == list(b)
    assert epoch0 != epoch1


def test_sampler_resumes_mid_epoch(random_lengths):
    source, target = random_lengths
    sampler = TokenBatchSampler(source, target, 500)
    iterator = iter(sampler)
    taken = [next(iterator) for _ in range(7)]
    state = sampler.state_dict()
    resumed = TokenBatchSampler(source, target, 500)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert taken + rest == list(TokenBatchSampler(source, target, 500))
    assert resumed.state_dict() == {"epoch": 1, "taken": 0}


def test_too_few_examples_for_ranks_is_an_error():
    with pytest.raises(DataError, match="multiple of 4 batches"):
        TokenBatchSampler([5, 5], [5, 5], 100, num_replicas=4).all_batches(0)


def test_multi30k_train_padding_under_ten_percent(multi30k_tokenized):
    source = [len(ids) for ids in multi30k_tokenized["input_ids"]]
    target = [len(ids) for ids in multi30k_tokenized["labels"]]
    for budget in (2048, 4096, 8192):
        batches = TokenBatchSampler(source, target, budget).all_batches(0)
        assert padding_fraction(batches, source, target) < 0.10


def test_collator_pads_and_shifts_targets():
    collate = Seq2SeqCollator(pad_token_id=0, decoder_start_token_id=1)
    batch = collate([{"input_ids": [5, 6, 2], "labels": [7, 2]}, {"input_ids": [8, 2], "labels": [9, 10, 11, 2]}])
    assert batch["input_ids"].tolist() == [[5, 6, 2], [8, 2, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["decoder_input_ids"].tolist() == [[1, 7, 0, 0], [1, 9, 10, 11]]
    assert batch["labels"].tolist() == [[7, 2, -100, -100], [9, 10, 11, 2]]
    assert all(t.dtype == torch.long for t in batch.values())
