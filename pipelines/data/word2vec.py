"""word2vec embeddings for the shared subword vocabulary, trained with gensim.

Why: question 5 of the comparison asks whether starting an RNN, LSTM or
Transformer from word2vec embeddings (frozen or not) still helps. The
vectors are trained on the *tokenizer's own pieces* of the training text
(`tokenizer.tokenize`), so every word2vec key is a vocabulary entry and the
matrix lines up with the token ids the models embed. `embedding_matrix` then
gives a (vocab_size, vector_size) tensor for `models.init_embeddings`;
`vector_size` must be the model's embedding size.

Determinism: with `workers=1` (the default) the vectors depend only on the
text, the tokenizer and the arguments (for one gensim and numpy version), and
are bit-identical between runs and processes. gensim 4 draws its initial vectors and its sampling from
`numpy.random.default_rng(seed)`, not from Python's salted `hash`, so
`PYTHONHASHSEED` does not matter for a fresh training. With `workers > 1`
threads update shared weights without locks (Hogwild), so the result varies
from run to run; use it for speed only. The matrix is seeded separately, so
it too is the same for the same vectors and seed.

At scale the pieces are streamed from the tokenized Arrow split (`TokenPieces`, restartable as gensim's
passes need) instead of tokenizing a text list in Python.

Files are gensim's own `KeyedVectors` format (a pickle): load only files you
trust.
"""

from __future__ import annotations

import glob
import io
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
import torch
from gensim.models import KeyedVectors, Word2Vec

from ..files import write_bytes
from .encoding import column_chunks

if TYPE_CHECKING:  # any object with `tokenize` (and, for the matrix, the id lookups) will do
    from transformers import PreTrainedTokenizerBase

ALGORITHMS = {"skipgram": 1, "cbow": 0}  # name -> gensim's `sg` flag
_SIDECAR_MARKERS = ("__numpys", "__scipys", "__ignoreds", "__recursive_saveloads")


class TokenPieces:
    """The pieces of tokenized rows, read from their Arrow columns chunk by chunk, each pass anew.

    Args:
        data: a tokenized split (`encoding.tokenize_split`: `input_ids` and `labels`).
        tokenizer: maps the ids back to pieces.
        rows: the rows to read (sorted), or None for all; sources first, then targets, as the
            tokenizer learned them. The final </s> of each sequence is left out (`tokenize` has none).
    """

    def __init__(self, data, tokenizer: PreTrainedTokenizerBase, rows: np.ndarray | None = None):
        self.data, self.rows = data, rows
        self.vocabulary = np.array(_tokens_by_id(tokenizer), dtype=object)

    def __iter__(self):
        for column in ("input_ids", "labels"):
            for chunk in column_chunks(self.data, column, self.rows):
                ids = chunk.combine_chunks()
                offsets = ids.offsets.to_numpy()
                pieces = self.vocabulary[ids.flatten().to_numpy(zero_copy_only=False)]
                first = offsets[0]
                yield from (pieces[a - first : b - first - 1].tolist() for a, b in zip(offsets[:-1], offsets[1:]))


def train_word2vec(
    tokenizer: PreTrainedTokenizerBase,
    texts: Iterable[str] | TokenPieces,
    vector_size: int,
    algorithm: str = "skipgram",
    window: int = 5,
    min_count: int = 1,
    epochs: int = 5,
    seed: int = 0,
    workers: int = 1,
) -> KeyedVectors:
    """Train word2vec on the tokenizer's pieces of `texts`.

    Args:
        tokenizer: the comparison's tokenizer; its pieces are the word2vec keys.
        texts: the training text (for translation: source and target sentences,
            as the joint tokenizer was trained), or its pieces already (`TokenPieces`).
        vector_size: length of each vector; must equal the model's embedding size.
        algorithm: "skipgram" (predict the context from a piece) or "cbow"
            (predict a piece from its context).
        window: how many pieces either side count as context.
        min_count: pieces seen fewer times than this get no vector.
        epochs: passes over the text.
        seed: seeds the initial vectors and the sampling.
        workers: training threads; only `workers=1` is reproducible (see above).
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown word2vec algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    sentences = texts if isinstance(texts, TokenPieces) else [tokenizer.tokenize(text) for text in texts]
    if not any(sentences):
        raise ValueError("word2vec needs training text, but `texts` is empty (or has no tokens)")
    model = Word2Vec(
        sentences=sentences,
        vector_size=vector_size,
        sg=ALGORITHMS[algorithm],
        window=window,
        min_count=min_count,
        epochs=epochs,
        seed=seed,
        workers=workers,
    )
    return model.wv


def save_word2vec(vectors: KeyedVectors, path: str | Path) -> Path:
    """Write `vectors` to the single file `path`, atomically.

    gensim's `save(filename)` puts large arrays in `.npy` files beside the
    main file, so a reader could meet a new main file with old arrays. Saving
    through a file handle keeps everything in one file, written atomically
    (`files.write_bytes`). `.npy` files left beside
    `path` by an earlier gensim-native save are removed: they belong to the
    file this one replaces.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A gensim-native save or load leaves the names of its `.npy` files on the
    # object; pickled along, they would send `load` looking for them.
    markers = {key: vectors.__dict__.pop(key) for key in _SIDECAR_MARKERS if key in vectors.__dict__}
    content = io.BytesIO()
    try:
        vectors.save(content)
    finally:
        vectors.__dict__.update(markers)
    write_bytes(path, content.getvalue())
    for stale in path.parent.glob(f"{glob.escape(path.name)}.*.npy"):
        stale.unlink(missing_ok=True)
    return path


def load_word2vec(path: str | Path) -> KeyedVectors:
    """Load vectors written by `save_word2vec` (or by gensim's `KeyedVectors.save`)."""
    return KeyedVectors.load(str(path))


def embedding_matrix(
    vectors: KeyedVectors, tokenizer: PreTrainedTokenizerBase, seed: int = 0, std: float | None = None
) -> torch.Tensor:
    """A (len(tokenizer), vector_size) float32 matrix with rows in token-id order.

    Row i is the word2vec vector of token i where word2vec has it. Tokens it
    never saw (special tokens, BPE pieces that only occur inside longer ones,
    pieces under `min_count`) get normal rows with mean 0 and the trained
    vectors' std, so every row has the same scale. The padding row is zero.

    Args:
        vectors: trained with `train_word2vec` on this tokenizer.
        tokenizer: gives the id of every token and the padding id.
        seed: seeds the rows of unseen tokens.
        std: if given, every row is scaled by one factor so the matrix has this
            std instead of word2vec's (e.g. the model's own initial embedding
            std: 1.0 for nn.Embedding, 0.02 for the Transformer), so that "random vs
            word2vec" compares content, not scale. Cosine similarities are kept.
    """
    if len(vectors) == 0:
        raise ValueError("the word2vec vectors are empty")
    vocabulary = _tokens_by_id(tokenizer)
    generator = torch.Generator().manual_seed(seed)
    trained_std = float(np.std(vectors.vectors))
    matrix = torch.randn(len(vocabulary), vectors.vector_size, generator=generator) * trained_std
    seen = [(token_id, vectors.key_to_index[token]) for token_id, token in enumerate(vocabulary) if token in vectors]
    if seen:
        token_ids, rows = zip(*seen)
        matrix[list(token_ids)] = torch.tensor(vectors.vectors[list(rows)], dtype=torch.float32)
    if std is not None:
        matrix *= std / trained_std
    if tokenizer.pad_token_id is not None:
        matrix[tokenizer.pad_token_id] = 0.0
    return matrix


def coverage(vectors: KeyedVectors, tokenizer: PreTrainedTokenizerBase) -> float:
    """Share of the tokenizer's non-special tokens that have a word2vec vector (0..1).

    Below 1 even at `min_count=1`: BPE keeps intermediate pieces that the
    final segmentation never outputs on their own.
    """
    special = set(tokenizer.all_special_tokens)
    tokens = [token for token in _tokens_by_id(tokenizer) if token not in special]
    if not tokens:
        return 0.0
    return sum(token in vectors.key_to_index for token in tokens) / len(tokens)


def nearest(vectors: KeyedVectors, token: str, k: int = 10) -> list[tuple[str, float]]:
    """The `k` tokens most similar to `token` by cosine similarity, most similar
    first, `token` itself left out.

    Args:
        vectors: trained word2vec vectors.
        token: a tokenizer piece, e.g. "▁Mann" (note the "▁" word-start marker).
        k: how many neighbours to return.
    """
    if token not in vectors.key_to_index:
        raise KeyError(f"token {token!r} has no word2vec vector (not in the training text, or under min_count)")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return [(neighbour, float(similarity)) for neighbour, similarity in vectors.most_similar(token, topn=k)]


def _tokens_by_id(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    # len(tokenizer) counts added tokens too; ids are 0..len-1 for our tokenizers.
    return tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
