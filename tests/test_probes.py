"""Probes: sense labelling, nearest-neighbour scores, projections, attention maps of both model families."""

import numpy as np
import pytest
import torch
from lineage.data.word2vec import train_word2vec
from lineage.evaluation import probes
from lineage.models import build_model


def test_sense_occurrences_label_by_the_reference_and_skip_ambiguous_ones():
    senses = {"gate": ("gate", "door"), "goal": ("goal",)}
    sources = ["Ein Tor im Park .", "Er schießt ein Tor .", "Das Tor ist offen .", "Ein Torwart springt .",
               "Ein Tor , ein Tor .", "Ein Tor ."]
    references = ["A gate in the park .", "He scores a goal .", "The door is open .", "A goalkeeper jumps .",
                  "A goal at the gate .", "A Gate ."]
    found = probes.sense_occurrences(sources, references, "Tor", senses, per_sense=5)
    # "Torwart" is not the word; a reference naming both senses is skipped; cues are case-insensitive.
    assert found == [("Ein Tor im Park .", "gate"), ("Er schießt ein Tor .", "goal"), ("Das Tor ist offen .", "gate"),
                     ("Ein Tor .", "gate")]
    assert len(probes.sense_occurrences(sources, references, "Tor", senses, per_sense=1)) == 2


def test_word_token_positions_cover_the_word_only():
    offsets = [(0, 3), (3, 6), (7, 10), (10, 12), (0, 0)]
    assert probes.word_token_positions(offsets, 7, 12) == [2, 3]
    assert probes.word_token_positions(offsets, 0, 6) == [0, 1]


def test_scores_of_separable_and_mixed_senses():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (10, 8)) + np.eye(8)[0] * 5
    b = rng.normal(0, 0.1, (6, 8)) + np.eye(8)[1] * 5
    labels = ["a"] * 10 + ["b"] * 6
    separable = np.vstack([a, b])
    assert probes.nearest_neighbour_accuracy(separable, labels) == 1.0
    assert probes.separation(separable, labels) > 0.9
    assert probes.majority_rate(labels) == 10 / 16
    one_vector = np.ones((16, 8))  # word2vec: the same vector for every occurrence
    assert probes.separation(one_vector, labels) == pytest.approx(0.0)
    projected = probes.project_2d(separable)
    assert projected.shape == (16, 2)
    # The first component is the direction that splits the two senses.
    assert np.sign(projected[:10, 0]).tolist() == [np.sign(projected[0, 0])] * 10
    assert np.sign(projected[10:, 0]).tolist() == [-np.sign(projected[0, 0])] * 6


def test_attention_statistics_of_diagonal_and_uniform_maps():
    diagonal = probes.attention_statistics(np.eye(10)[None])
    assert diagonal == {"sharpness": 1.0, "diagonal": 1.0, "heads": 1}
    uniform = probes.attention_statistics(np.full((2, 10, 10), 0.1))
    assert uniform["sharpness"] == pytest.approx(0.1) and uniform["heads"] == 2
    assert uniform["diagonal"] == pytest.approx(0.36, abs=0.05)


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_attention_map_and_contextual_vectors_of_a_model(toy_tokenizer, arch):
    torch.manual_seed(0)
    model = build_model(arch, toy_tokenizer, "tiny")
    found = probes.attention_map(model, toy_tokenizer, "the cat sits on the mat .", max_source_length=32, max_new_tokens=5)
    heads = found["heads"]
    assert heads.shape == (1 if arch == "lstm" else 2, len(found["output_tokens"]), len(found["source_tokens"]))
    assert np.allclose(heads.sum(-1), 1.0, atol=1e-5)  # a distribution over the source for every output token
    vectors = probes.contextual_vectors(model, toy_tokenizer, ["the cat sits", "a cat runs in the park ."], "cat", 32)
    assert vectors.shape == (2, model.config.hidden_size if arch == "lstm" else model.config.d_model)
    assert not np.allclose(vectors[0], vectors[1])  # the same word, two contexts, two states


def test_static_vector_and_neighbours(toy_tokenizer):
    texts = ["the cat sits on the mat .", "a dog runs in the park ."] * 20
    vectors = train_word2vec(toy_tokenizer, texts, vector_size=8, epochs=2)
    vector = probes.static_vector(vectors, toy_tokenizer, "cat")
    assert vector.shape == (8,)
    neighbours = probes.static_neighbours(vectors, toy_tokenizer, "cat", k=3)
    assert len(neighbours) == 3 and not set(toy_tokenizer.tokenize("cat")) & {n for n, _ in neighbours}
    with pytest.raises(KeyError, match="no word2vec vector"):
        probes.static_vector(vectors, toy_tokenizer, "fußball")  # a vocabulary piece word2vec never saw
