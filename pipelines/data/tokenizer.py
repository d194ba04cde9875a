"""One subword tokenizer per task, trained with `tokenizers`.

BPE over Metaspace pre-tokenization (punctuation split off): spaces become the piece prefix "▁", so
`decode(encode(text)) == NFKC(text)` with runs of whitespace (newlines
included) collapsed to one space and the ends stripped, which is what detokenized BLEU needs. For
translation the vocabulary is joint: trained on source and target text
together, so both languages (and a tied embedding) share one id space.

Special tokens have fixed ids so every model of a comparison agrees on them.
"""

from pathlib import Path
from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from ..files import write_folder
from .tasks import TaskSpec

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]  # ids 0, 1, 2, 3


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer on `texts`.

    Args:
        texts: the training text (for translation: source and target sentences).
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


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: str | Path) -> Path:
    """Save `tokenizer` as the folder `folder`, atomically: a run that finds tokenizer.json
    reuses the folder, so it must never find one without its tokenizer_config.json."""
    return write_folder(folder, tokenizer.save_pretrained)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer folder written by `save_pretrained` (ours or any Hub one)."""
    return AutoTokenizer.from_pretrained(str(path))


def tokenizer_texts(task: TaskSpec, split) -> list[str]:
    """The text a task's tokenizer (and word2vec) learns from: both sides of the training split (joint vocabulary)."""
    return list(split[task.source_column]) + list(split[task.target_column])
