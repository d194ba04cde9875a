"""word2vec embeddings: the matrix lines up with the token ids, files round-trip,
training is reproducible, neighbours are sensible on real text, and the
matrix goes into a model (frozen or not).

Small on purpose: a 2000-piece tokenizer and 32-dimensional vectors on the
first 3000 Multi30k pairs (German and English), 5 epochs, about 2 seconds.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from lineage.data.tokenizer import train_tokenizer
from lineage.data.word2vec import coverage, embedding_matrix, load_word2vec, nearest, save_word2vec, train_word2vec

DATA_DIR = Path(os.environ.get("LINEAGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
MULTI30K = DATA_DIR / "multi30k"
PAIRS = 3000
SIZE = 32  # the "tiny" Transformer's d_model

pytestmark = pytest.mark.skipif(
    not MULTI30K.is_dir(), reason=f"Multi30k not found in {DATA_DIR} (set LINEAGE_DATA_DIR)"
)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with open(MULTI30K / "train.jsonl", encoding="utf-8") as lines:
        rows = [json.loads(line) for _, line in zip(range(PAIRS), lines)]
    return [row["de"] for row in rows] + [row["en"] for row in rows]


@pytest.fixture(scope="module")
def tokenizer(texts):
    return train_tokenizer(texts, 2000)


@pytest.fixture(scope="module")
def vectors(tokenizer, texts):
    return train_word2vec(tokenizer, texts, SIZE, epochs=5, seed=0)


@pytest.fixture(scope="module")
def matrix(vectors, tokenizer):
    return embedding_matrix(vectors, tokenizer, seed=0)


def unseen_ids(vectors, tokenizer) -> list[int]:
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return [i for i, token in enumerate(tokens) if token not in vectors]


def test_keys_are_the_tokenizers_pieces(vectors, tokenizer, texts):
    vocabulary = tokenizer.get_vocab()
    assert set(vectors.index_to_key) <= set(vocabulary)
    assert set(tokenizer.tokenize(texts[0])) <= set(vectors.index_to_key)  # min_count=1: every piece used
    assert vectors.vector_size == SIZE


def test_matrix_shape_and_dtype(matrix, tokenizer):
    assert matrix.shape == (len(tokenizer), SIZE)
    assert matrix.dtype == torch.float32


def test_row_of_a_frequent_token_is_its_word2vec_vector_exactly(matrix, vectors, tokenizer):
    for token in ["▁Mann", "▁man", "."]:
        assert torch.equal(matrix[tokenizer.convert_tokens_to_ids(token)], torch.tensor(vectors[token]))


def test_pad_row_is_zero(matrix, tokenizer):
    assert tokenizer.pad_token_id == 0
    assert torch.count_nonzero(matrix[tokenizer.pad_token_id]) == 0


def test_unseen_rows_are_random_with_the_trained_scale(matrix, vectors, tokenizer):
    unseen = unseen_ids(vectors, tokenizer)
    # the specials other than pad, plus BPE pieces only ever seen inside longer pieces
    assert {1, 2, 3} <= set(unseen) and len(unseen) > 20
    rows = matrix[[i for i in unseen if i != tokenizer.pad_token_id]]
    assert rows.std().item() == pytest.approx(float(np.std(vectors.vectors)), rel=0.2)
    assert abs(rows.mean().item()) < 0.2 * float(np.std(vectors.vectors))
    assert not torch.equal(rows[0], rows[1])


def test_matrix_is_reproducible_and_seed_changes_only_unseen_rows(matrix, vectors, tokenizer):
    assert torch.equal(embedding_matrix(vectors, tokenizer, seed=0), matrix)
    other = embedding_matrix(vectors, tokenizer, seed=1)
    changed = set(torch.nonzero((other != matrix).any(dim=1)).flatten().tolist())
    assert changed == set(unseen_ids(vectors, tokenizer)) - {tokenizer.pad_token_id}


def test_std_rescales_every_row_by_one_factor(matrix, vectors, tokenizer):
    scaled = embedding_matrix(vectors, tokenizer, seed=0, std=1.0)
    factor = 1.0 / float(np.std(vectors.vectors))
    assert torch.allclose(scaled, matrix * factor, rtol=1e-5, atol=1e-6)
    assert scaled[1:].std().item() == pytest.approx(1.0, rel=0.05)
    assert torch.count_nonzero(scaled[tokenizer.pad_token_id]) == 0


def test_coverage(vectors, tokenizer):
    share = coverage(vectors, tokenizer)
    special = len(tokenizer.all_special_tokens)
    assert share == pytest.approx(sum(t in vectors for t in tokenizer.get_vocab()) / (len(tokenizer) - special))
    assert 0.9 < share < 1.0  # BPE keeps intermediate pieces the segmentation never outputs


def test_save_load_round_trip(vectors, tmp_path):
    path = save_word2vec(vectors, tmp_path / "w2v" / "vectors.kv")
    assert sorted(p.name for p in path.parent.iterdir()) == ["vectors.kv"]  # one file, no temp left behind
    loaded = load_word2vec(path)
    assert loaded.index_to_key == vectors.index_to_key
    assert np.array_equal(loaded.vectors, vectors.vectors)


def test_save_replaces_an_earlier_gensim_native_save(vectors, tmp_path):
    path = tmp_path / "vectors.kv"
    vectors.save(str(path), separately=["vectors"])  # gensim's own layout: vectors in vectors.kv.vectors.npy
    assert (tmp_path / "vectors.kv.vectors.npy").exists()
    save_word2vec(vectors, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors.kv"]
    assert np.array_equal(load_word2vec(path).vectors, vectors.vectors)


def test_nearest_returns_k_sorted_neighbours_without_the_query(vectors):
    neighbours = nearest(vectors, "▁man", k=7)
    assert len(neighbours) == 7
    assert "▁man" not in [token for token, _ in neighbours]
    similarities = [similarity for _, similarity in neighbours]
    assert similarities == sorted(similarities, reverse=True)
    assert all(isinstance(s, float) and -1.0 <= s <= 1.0 for s in similarities)
    assert similarities[0] == pytest.approx(float(vectors.similarity("▁man", neighbours[0][0])), abs=1e-6)


def test_neighbours_are_plausible_on_real_text(vectors):
    """Deterministic at seed 0 with one worker; the margins are wide, so this
    is a sanity check of the training, not a snapshot."""
    assert "▁woman" in [token for token, _ in nearest(vectors, "▁man", k=5)]
    assert vectors.similarity("▁man", "▁woman") > vectors.similarity("▁man", "▁water") + 0.1
    related = {"▁Junge", "▁Frau", "▁Kind", "▁Person", "▁Herr", "▁Typ"}
    assert related & {token for token, _ in nearest(vectors, "▁Mann", k=10)}
    # German and English sentences are separate, so the languages keep apart.
    assert vectors.similarity("▁Mann", "▁Frau") > vectors.similarity("▁Mann", "▁man") + 0.2


def test_nearest_names_an_unknown_token(vectors):
    with pytest.raises(KeyError, match="▁Zeppelinhangar"):
        nearest(vectors, "▁Zeppelinhangar")
    with pytest.raises(ValueError, match="k must be"):
        nearest(vectors, "▁man", k=0)


def test_training_is_reproducible_for_a_seed(tokenizer, texts):
    again = train_word2vec(tokenizer, texts[:500], SIZE, epochs=1, seed=0)
    assert np.array_equal(again.vectors, train_word2vec(tokenizer, texts[:500], SIZE, epochs=1, seed=0).vectors)
    other = train_word2vec(tokenizer, texts[:500], SIZE, epochs=1, seed=1)
    assert again.index_to_key == other.index_to_key
    assert not np.array_equal(again.vectors, other.vectors)


def test_training_is_reproducible_across_processes_and_hash_seeds(tokenizer, texts, tmp_path):
    """The documented guarantee: workers=1 gives the same vectors in another
    process, whatever PYTHONHASHSEED (gensim 4 seeds numpy, not `hash`).
    The other process gets the pieces pre-split, so it need not import transformers."""
    pieces = [" ".join(tokenizer.tokenize(text)) for text in texts[:500]]
    (tmp_path / "pieces.json").write_text(json.dumps(pieces))
    script = textwrap.dedent(
        f"""
        import json
        from lineage.data.word2vec import save_word2vec, train_word2vec
        class Pieces:
            def tokenize(self, text):
                return text.split(" ")
        pieces = json.load(open({str(tmp_path / "pieces.json")!r}))
        save_word2vec(train_word2vec(Pieces(), pieces, {SIZE}, epochs=1, seed=0), {str(tmp_path / "other.kv")!r})
        """
    )
    here = os.environ.get("PYTHONHASHSEED")
    env = {**os.environ, "PYTHONHASHSEED": "1" if here != "1" else "2"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    mine = train_word2vec(tokenizer, texts[:500], SIZE, epochs=1, seed=0)
    theirs = load_word2vec(tmp_path / "other.kv")
    assert theirs.index_to_key == mine.index_to_key
    assert np.array_equal(theirs.vectors, mine.vectors)


def test_cbow_works(tokenizer, texts):
    cbow = train_word2vec(tokenizer, texts[:1000], SIZE, algorithm="cbow", epochs=2)
    assert cbow.vector_size == SIZE and len(cbow) > 500
    skipgram = train_word2vec(tokenizer, texts[:1000], SIZE, algorithm="skipgram", epochs=2)
    assert cbow.index_to_key == skipgram.index_to_key
    assert not np.array_equal(cbow.vectors, skipgram.vectors)
    assert embedding_matrix(cbow, tokenizer).shape == (len(tokenizer), SIZE)


def test_bad_algorithm_names_the_choices(tokenizer, texts):
    with pytest.raises(ValueError, match="glove.*skipgram, cbow"):
        train_word2vec(tokenizer, texts[:10], SIZE, algorithm="glove")


@pytest.mark.parametrize("empty", [[], iter([]), ["", "   "]], ids=["list", "iterator", "blank"])
def test_empty_text_is_a_clear_error(tokenizer, empty):
    with pytest.raises(ValueError, match="empty"):
        train_word2vec(tokenizer, empty, SIZE)


@pytest.mark.parametrize("freeze", [True, False])
def test_init_embeddings_copies_the_matrix_and_freeze_stops_its_gradient(tokenizer, matrix, freeze):
    from lineage import models

    torch.manual_seed(0)
    model = models.build_model("transformer", tokenizer, size="tiny")
    models.init_embeddings(model, matrix, freeze=freeze)
    embedding = model.get_input_embeddings()
    assert torch.equal(embedding.weight, matrix)
    # one embedding for encoder, decoder and the tied output layer
    assert torch.equal(model.get_encoder().embed_tokens.weight, matrix)
    assert torch.equal(model.get_decoder().embed_tokens.weight, matrix)
    assert torch.equal(model.get_output_embeddings().weight, matrix)

    batch = tokenizer(["Ein Mann schläft.", "Zwei Hunde spielen im Schnee."], padding=True, return_tensors="pt")
    labels = tokenizer(["A man sleeps.", "Two dogs play in the snow."], padding=True, return_tensors="pt")["input_ids"]
    labels[labels == tokenizer.pad_token_id] = -100
    model(**batch, labels=labels).loss.backward()
    assert embedding.weight.requires_grad is not freeze
    if freeze:
        assert embedding.weight.grad is None
    else:
        assert embedding.weight.grad is not None and embedding.weight.grad.abs().sum() > 0
    others = [p for n, p in model.named_parameters() if p is not embedding.weight and p.requires_grad]
    assert others and any(p.grad is not None and p.grad.abs().sum() > 0 for p in others)
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    assert torch.equal(embedding.weight, matrix) is freeze


def test_init_embeddings_rejects_a_matrix_of_the_wrong_size(tokenizer):
    from lineage import models

    model = models.build_model("transformer", tokenizer, size="tiny")
    wrong = embedding_matrix(train_word2vec(tokenizer, ["Ein Mann schläft."], SIZE * 2, epochs=1), tokenizer)
    with pytest.raises(ValueError, match="shape"):
        models.init_embeddings(model, wrong)
