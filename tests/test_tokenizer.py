"""The shared tokenizer: exact round trip, fixed special ids, determinism, and
the saved folder loading back through transformers.

One joint de+en tokenizer (8000 pieces) is trained on Multi30k train, once
per module, as the translation comparison does.
"""

import json
import os
import re
import unicodedata
from pathlib import Path

import pytest
from lineage.data.tokenizer import SPECIAL_TOKENS, load_tokenizer, train_tokenizer
from transformers import AutoTokenizer

DATA_DIR = Path(os.environ.get("LINEAGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
MULTI30K = DATA_DIR / "multi30k"
VOCAB_SIZE = 8000

pytestmark = pytest.mark.skipif(
    not MULTI30K.is_dir(), reason=f"Multi30k not found in {DATA_DIR} (set LINEAGE_DATA_DIR)"
)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def joint_text(rows: list[dict]) -> list[str]:
    """German then English sentences, the corpus order the tokenizer is trained on."""
    return [row["de"] for row in rows] + [row["en"] for row in rows]


def normalised(text: str) -> str:
    """The documented normalisation: NFKC, whitespace runs collapsed to one space, ends stripped."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


@pytest.fixture(scope="module")
def train_text() -> list[str]:
    return joint_text(read_jsonl(MULTI30K / "train.jsonl"))


@pytest.fixture(scope="module")
def trained(train_text, tmp_path_factory):
    """The tokenizer and its folder, saved straight after training: a call with
    padding or truncation leaves that setting in the backend tokenizer, and
    `save_pretrained` writes it into tokenizer.json."""
    tokenizer = train_tokenizer(train_text, VOCAB_SIZE)
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save_pretrained(folder)
    return tokenizer, folder


@pytest.fixture(scope="module")
def tokenizer(trained):
    return trained[0]


@pytest.fixture(scope="module")
def saved(trained) -> Path:
    return trained[1]


@pytest.mark.parametrize("language", ["de", "en"])
def test_decode_inverts_encode_on_the_validation_set(tokenizer, language):
    sentences = [row[language] for row in read_jsonl(MULTI30K / "validation.jsonl")]
    assert len(sentences) == 1014
    encoded = tokenizer(sentences)["input_ids"]
    decoded = tokenizer.batch_decode(encoded, skip_special_tokens=True)
    mismatches = [(s, d) for s, d in zip(sentences, decoded) if d != normalised(s)]
    assert not mismatches, f"{len(mismatches)} sentences do not round-trip, e.g. {mismatches[:3]}"


def test_normalisation_is_nfkc_and_strips_the_ends(tokenizer):
    text = "  ﬁne Ｍann  "  # a ligature and a full-width letter, padded with spaces
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "fine Mann"


def test_whitespace_runs_collapse_as_documented(tokenizer):
    ids = tokenizer("Ein  Mann \t schläft.\r\nJa.")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Ein Mann schläft. Ja."


def test_special_tokens_have_fixed_ids(tokenizer):
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == SPECIAL_TOKENS == ["<pad>", "<s>", "</s>", "<unk>"]
    ids = (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id)
    assert ids == (0, 1, 2, 3)


def test_every_encoding_ends_with_eos_and_nothing_else_is_special(tokenizer):
    for text in ["Ein Mann schläft.", "A dog runs", "x"]:
        ids = tokenizer(text)["input_ids"]
        assert ids[-1] == tokenizer.eos_token_id
        assert not set(ids[:-1]) & {0, 1, 2}
    long, short = tokenizer(["Ein Mann schläft auf einem Sofa.", "Hi"])["input_ids"]
    batch = tokenizer(["Ein Mann schläft auf einem Sofa.", "Hi"], padding=True)
    assert batch["input_ids"] == [long, short + [tokenizer.pad_token_id] * (len(long) - len(short))]
    assert set(batch) == {"input_ids", "attention_mask"}  # no token_type_ids: generate() rejects them


def test_vocabulary_size_is_respected(tokenizer, train_text):
    assert len(tokenizer) == VOCAB_SIZE
    assert len(tokenizer.get_vocab()) == VOCAB_SIZE
    assert sorted(tokenizer.get_vocab().values()) == list(range(VOCAB_SIZE))
    small = train_tokenizer(train_text[:200], 500)
    assert len(small) == 500
    tiny = train_tokenizer(["ein Mann", "ein Hund"] * 3, 500)  # too little text to fill the vocabulary
    assert len(tiny) <= 500


def test_training_is_deterministic(tokenizer, saved, train_text, tmp_path):
    again = train_tokenizer(train_text, VOCAB_SIZE)
    assert again.get_vocab() == tokenizer.get_vocab()
    again.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").read_bytes() == (saved / "tokenizer.json").read_bytes()


@pytest.mark.parametrize(
    "loader", [AutoTokenizer.from_pretrained, load_tokenizer], ids=["AutoTokenizer", "load_tokenizer"]
)
def test_saved_folder_loads_and_encodes_identically(tokenizer, saved, loader):
    loaded = loader(str(saved))
    rows = read_jsonl(MULTI30K / "validation.jsonl")[:200]
    sentences = joint_text(rows)
    assert loaded(sentences)["input_ids"] == tokenizer(sentences)["input_ids"]
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert (loaded.pad_token_id, loaded.bos_token_id, loaded.eos_token_id, loaded.unk_token_id) == (0, 1, 2, 3)
    assert loaded.batch_decode(loaded(sentences)["input_ids"], skip_special_tokens=True) == [
        normalised(s) for s in sentences
    ]


def test_padding_state_saved_by_an_earlier_call_does_not_leak_into_loading(tokenizer, tmp_path):
    tokenizer(["Ein Mann schläft auf einem Sofa.", "Hi"], padding=True, truncation=True, max_length=4)
    tokenizer.save_pretrained(tmp_path)  # tokenizer.json now records that padding and truncation
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))
    text = "Ein Mann schläft auf einem Sofa."
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert len(loaded(text)["input_ids"]) > 4
    assert loaded(["Ein Mann", "Hi"])["input_ids"] == tokenizer(["Ein Mann", "Hi"])["input_ids"]
