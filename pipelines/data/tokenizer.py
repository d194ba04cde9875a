"""One subword tokenizer per task, trained with `tokenizers`.

BPE over Metaspace pre-tokenization (punctuation split off): spaces become the piece prefix "▁", so
`decode(encode(text)) == NFKC(text)` with runs of whitespace (newlines
included) collapsed to one space and the ends stripped, which is what detokenized BLEU needs. For
translation the vocabulary is joint: trained on source and target text
together, so both languages (and a tied embedding) share one id space.

Special tokens have fixed ids so every model of a comparison agrees on them.

A large training split is sampled: the tokenizer learns from at most `SAMPLE_SENTENCES` sentences (like
sentencepiece's `input_sentence_size`), from a seeded sample of rows read from Arrow in chunks; a split
under that size is read whole, in the same order. The count is saved beside the tokenizer (`SAMPLE_FILE`).
"""

import json
from pathlib import Path
from typing import Iterable, Iterator

import datasets
import numpy as np
from tqdm.auto import tqdm

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from ..files import write_folder, write_json
from .encoding import column_chunks
from .phases import phase
from .tasks import TaskSpec

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]  # ids 0, 1, 2, 3
# Most sentences a tokenizer learns from: 500k translation pairs. A BPE vocabulary of 8k-32k pieces is
# settled long before (sentencepiece's own default sample is 1M sentences); more text costs minutes.
SAMPLE_SENTENCES = 1_000_000
SAMPLE_FILE = "lineage_sample.json"  # beside tokenizer.json: how many sentences it learned from


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer on `texts`.

    Args:
        texts: the training text (for translation: source and target sentences), as strings or as lists of
            strings (chunks).
        vocab_size: the size of the vocabulary, special tokens included.
        min_frequency: merges seen fewer times than this are not learned.

    The result is deterministic for a given corpus order and vocabulary size.
    Every encoded sequence ends with `</s>`; decoders start from `<s>`.
    """
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    )
    # Punctuation is split off words ("Fahrrad." -> "▁Fahrrad" "."): fewer rare pieces, and
    # the Metaspace decoder still joins them back without a space.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, tokenizer.token_to_id(EOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        # transformers 4.x fast tokenizers add token_type_ids, which generate() rejects.
        model_input_names=["input_ids", "attention_mask"],
    )


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: str | Path, sample: dict | None = None) -> Path:
    """Save `tokenizer` as the folder `folder`, atomically: a run that finds tokenizer.json
    reuses the folder, so it must never find one without its tokenizer_config.json.

    Args:
        tokenizer: what to save.
        folder: the folder (replaced whole).
        sample: what it learned from (`train_task_tokenizer`'s record), saved as `SAMPLE_FILE`.
    """

    def fill(staging: Path) -> None:
        tokenizer.save_pretrained(staging)
        if sample is not None:
            write_json(staging / SAMPLE_FILE, sample)

    return write_folder(folder, fill)


def learned_from(folder: str | Path) -> dict | None:
    """The record of what the tokenizer in `folder` learned from; None for one not trained by Lineage."""
    path = Path(folder) / SAMPLE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer folder written by `save_pretrained` (ours or any Hub one)."""
    return AutoTokenizer.from_pretrained(str(path))


def train_task_tokenizer(task: TaskSpec, split: datasets.Dataset, vocab_size: int, show_progress: bool = True,
                         limit: int = SAMPLE_SENTENCES, seed: int = 0) -> tuple[PreTrainedTokenizerFast, dict]:
    """A task's tokenizer, trained on both sides of (a sample of) its training split, and the record of its
    sample: {"sentences", "rows", "split_rows", "limit", "seed"}.

    Args:
        task: names the source and target columns.
        split: the training split.
        vocab_size: the size of the vocabulary, special tokens included.
        show_progress: show a progress bar over the sentences read.
        limit: most sentences to learn from (a translation pair gives two).
        seed: picks the sampled rows.
    """
    rows = sample_rows(len(split), limit, seed)
    count = len(split) if rows is None else len(rows)
    record = {"sentences": 2 * count, "rows": count, "split_rows": len(split), "limit": limit, "seed": seed}
    with phase("tokenizer") as details, tqdm(total=2 * count, unit="sentence", unit_scale=True,
                                             desc="training the tokenizer", disable=not show_progress) as progress:
        details.update(sentences=record["sentences"], split_rows=len(split))
        tokenizer = train_tokenizer(_counted(sample_texts(task, split, rows), progress), vocab_size)
    return tokenizer, record


def sample_rows(count: int, limit: int = SAMPLE_SENTENCES, seed: int = 0) -> np.ndarray | None:
    """The rows (sorted) whose two sides make at most `limit` sentences, drawn with `seed`; None: all `count`."""
    if 2 * count <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(count, size=limit // 2, replace=False))


def sample_texts(task: TaskSpec, split: datasets.Dataset, rows: np.ndarray | None) -> Iterator[list[str]]:
    """The source texts of `rows` (None: every row), then their target texts, in chunks read from Arrow.

    Restartable: each call reads the split again; only a chunk is ever held in Python.
    """
    for column in (task.source_column, task.target_column):
        for chunk in column_chunks(split, column, rows):
            yield chunk.to_pylist()


def _counted(chunks: Iterable[list[str]], progress: tqdm) -> Iterator[list[str]]:
    for chunk in chunks:
        progress.update(len(chunk))
        yield chunk
