"""Probes of trained models for the study: word senses in encoder states, and attention maps.

Senses (study section 6): a German word with several English translations
("Tor": gate or goal) gets one word2vec vector whatever its context, while an
encoder gives each occurrence a state of its own. Occurrences are labelled
with a sense by the cue words of their English reference; a sense is told
apart when an occurrence's nearest other occurrence (cosine) has its sense.

Attention (section 7): the model decodes a sentence greedily, then one
teacher-forced forward pass over its own output returns the cross-attention
weights (batch, heads, output, source) of both model families.
"""

import re
from collections import Counter

import numpy as np
import torch

# German word -> sense -> English words in the reference that signal it. Chosen from
# Multi30k: each has at least two senses with several occurrences in its splits.
SENSE_WORDS = {
    "Tor": {"gate": ("gate", "gates", "door", "doorway"), "goal": ("goal", "goals")},
    "Platz": {"square": ("square", "plaza"), "seat": ("seat", "place", "spot"), "field": ("field", "court", "pitch")},
    "Decke": {"blanket": ("blanket", "blankets"), "ceiling": ("ceiling",)},
    "Schlange": {"queue": ("line", "queue"), "snake": ("snake",)},
    "Rock": {"skirt": ("skirt",), "rock music": ("rock",)},
    "Wagen": {"cart": ("cart", "wagon", "carriage"), "car": ("car",)},
    "Bogen": {"bow": ("bow",), "arch": ("arch",)},
    "Scheibe": {"disc": ("disc", "disk", "frisbee"), "window": ("window", "glass")},
}


def sense_occurrences(
    sources: list[str], references: list[str], word: str, senses: dict, per_sense: int = 30
) -> list[tuple[str, str]]:
    """(source, sense) pairs where `word` occurs in the source and the reference names exactly one sense.

    Args:
        sources, references: parallel sentences, searched in order.
        word: the (case-sensitive) source word, matched as a whole word.
        senses: sense -> cue words, as in `SENSE_WORDS`.
        per_sense: at most this many occurrences of each sense.
    """
    pattern = re.compile(rf"\b{re.escape(word)}\b")
    found, counts = [], Counter()
    for source, reference in zip(sources, references):
        if not pattern.search(source):
            continue
        reference_words = set(re.findall(r"[a-z]+", reference.lower()))
        named = [sense for sense, cues in senses.items() if reference_words.intersection(cues)]
        if len(named) == 1 and counts[named[0]] < per_sense:
            counts[named[0]] += 1
            found.append((source, named[0]))
    return found


def word_token_positions(offsets: list[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indices of the tokens whose character span overlaps [start, end)."""
    return [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]


@torch.inference_mode()
def contextual_vectors(model, tokenizer, sources: list[str], word: str, max_length: int, batch_size: int = 32) -> np.ndarray:
    """The encoder's last-layer state at `word` in each source (mean over its pieces): (len(sources), hidden)."""
    pattern = re.compile(rf"\b{re.escape(word)}\b")
    model.eval()
    vectors = []
    for start in range(0, len(sources), batch_size):
        batch = sources[start : start + batch_size]
        encoded = tokenizer(batch, truncation=True, max_length=max_length, padding=True,
                            return_offsets_mapping=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping").tolist()
        states = model.get_encoder()(input_ids=encoded["input_ids"].to(model.device),
                                     attention_mask=encoded["attention_mask"].to(model.device)).last_hidden_state
        for i, source in enumerate(batch):
            match = pattern.search(source)
            positions = word_token_positions(offsets[i], match.start(), match.end())
            if not positions:
                raise ValueError(f"{word!r} was truncated away in: {source}")
            vectors.append(states[i, positions].mean(0).float().cpu().numpy())
    return np.stack(vectors)


def static_vector(vectors, tokenizer, word: str) -> np.ndarray:
    """word2vec's one vector for `word`: the mean of its pieces' vectors (pieces without one are skipped)."""
    pieces = [p for p in tokenizer.tokenize(word) if p in vectors.key_to_index]
    if not pieces:
        raise KeyError(f"no word2vec vector for any piece of {word!r}")
    return np.mean([vectors[p] for p in pieces], axis=0)


def static_neighbours(vectors, tokenizer, word: str, k: int = 8) -> list[tuple[str, float]]:
    """The `k` vocabulary pieces nearest to `word`'s word2vec vector (cosine), its own pieces left out."""
    own = set(tokenizer.tokenize(word))
    found = vectors.similar_by_vector(static_vector(vectors, tokenizer, word), topn=k + len(own))
    return [(piece, float(similarity)) for piece, similarity in found if piece not in own][:k]


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def nearest_neighbour_accuracy(vectors: np.ndarray, labels: list[str]) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy (cosine) of the labels."""
    similarity = cosine_matrix(vectors)
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(1)
    return float(np.mean([labels[j] == labels[i] for i, j in enumerate(nearest)]))


def majority_rate(labels: list[str]) -> float:
    """Accuracy of always naming the most frequent label: the best one shared vector can do."""
    return Counter(labels).most_common(1)[0][1] / len(labels)


def separation(vectors: np.ndarray, labels: list[str]) -> float:
    """Mean cosine between occurrences of the same sense minus that between different senses."""
    similarity = cosine_matrix(vectors)
    same = np.equal.outer(np.asarray(labels), np.asarray(labels))
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return float(similarity[same & off_diagonal].mean() - similarity[~same].mean())


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components (numpy SVD of the centred vectors)."""
    centred = vectors - vectors.mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


@torch.inference_mode()
def attention_map(model, tokenizer, source: str, max_source_length: int, max_new_tokens: int = 40) -> dict:
    """Greedy output for `source` and the cross-attention over the source for each output token.

    Returns {"source_tokens", "output_tokens", "heads": (heads, output, source) array of the
    last decoder layer}. The Transformer is switched to eager attention, the only
    implementation that returns weights.
    """
    model.eval()
    if hasattr(model, "set_attn_implementation") and model.config.model_type != "recurrent":
        model.set_attn_implementation("eager")
    inputs = tokenizer([source], truncation=True, max_length=max_source_length, return_tensors="pt").to(model.device)
    output = model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=max_new_tokens)
    decoder_inputs = output[:, :-1]
    forward = model(**inputs, decoder_input_ids=decoder_inputs, output_attentions=True)
    heads = forward.cross_attentions[-1][0].float().cpu().numpy()
    return {
        "source_tokens": tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist()),
        "output_tokens": tokenizer.convert_ids_to_tokens(output[0, 1:].tolist()),
        "heads": heads,
    }


def attention_statistics(heads: np.ndarray, band: float = 0.2) -> dict:
    """Mean peak weight per output token, and the share of mass within `band` of the proportional diagonal."""
    _, outputs, sources = heads.shape
    rows = (np.arange(outputs) + 0.5) / outputs
    columns = (np.arange(sources) + 0.5) / sources
    near = np.abs(rows[:, None] - columns[None, :]) < band
    return {
        "sharpness": float(heads.max(-1).mean()),
        "diagonal": float((heads * near).sum() / heads.sum()),
        "heads": int(heads.shape[0]),
    }
