"""Tests of the recurrent encoder-decoder models (models/recurrent).

Everything runs on tiny models and toy token-id data: the whole file takes
well under a minute on two CPU cores.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
import torch.nn.functional as F
from lineage import models
from lineage.models.recurrent.configuration_recurrent import LSTMConfig, RecurrentConfig, RNNConfig
from lineage.models.recurrent.modeling_recurrent import (
    STATE_FIELD,
    LSTMForConditionalGeneration,
    RecurrentEncoderOutput,
    RNNForConditionalGeneration,
)
from transformers import AutoConfig, AutoModelForSeq2SeqLM

PAD, BOS, EOS = 0, 1, 2
VOCAB = 20  # ids 4..19 are "words"

ARCHS = {
    "rnn": (RNNConfig, RNNForConditionalGeneration, {"cell": "rnn"}),
    "gru": (RNNConfig, RNNForConditionalGeneration, {"cell": "gru"}),
    "lstm": (LSTMConfig, LSTMForConditionalGeneration, {}),
}
# (attention, input_feeding)
ATTENTIONS = [
    ("none", False),
    ("bahdanau", False),
    ("luong-dot", False),
    ("luong-general", False),
    ("luong-general", True),
]
CASES = [(arch, attention, feed) for arch in ARCHS for attention, feed in ATTENTIONS]
CASE_IDS = [f"{arch}-{attention}{'-feed' if feed else ''}" for arch, attention, feed in CASES]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny models run fastest on one thread, and do not fight other processes for cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(arch: str, seed: int = 0, **overrides):
    config_class, model_class, extra = ARCHS[arch]
    kwargs = dict(
        vocab_size=VOCAB,
        embedding_size=24,  # != hidden_size: the tied output layer must still work
        hidden_size=32,
        embedding_dropout=0.0,
        hidden_dropout=0.0,
        **extra,
    )
    kwargs.update(overrides)
    torch.manual_seed(seed)
    return model_class(config_class(**kwargs))


def pad_batch(sequences, value):
    width = max(len(s) for s in sequences)
    return torch.tensor([s + [value] * (width - len(s)) for s in sequences])


def toy_data(count: int = 8, seed: int = 0):
    """Reverse a sequence of words; sources and targets end with </s>; mixed lengths 2..9."""
    generator = torch.Generator().manual_seed(seed)
    sources, targets = [], []
    for i in range(count):
        words = torch.randint(4, VOCAB, (2 + i % 8,), generator=generator).tolist()
        sources.append(words + [EOS])
        targets.append(words[::-1] + [EOS])
    input_ids = pad_batch(sources, PAD)
    return input_ids, (input_ids != PAD).long(), pad_batch(targets, -100), targets


def train(model, input_ids, attention_mask, labels, max_steps=400, lr=2e-2, target_loss=0.01):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(max_steps):
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < target_loss:
            break
    model.eval()
    return loss.item()


def decoded(generated: torch.Tensor) -> list[list[int]]:
    """Generated rows without the start token, cut after the first </s>."""
    rows = []
    for row in generated.tolist():
        assert row[0] == BOS
        row = row[1:]
        rows.append(row[: row.index(EOS) + 1] if EOS in row else row)
    return rows


@pytest.fixture(scope="module")
def toy():
    return toy_data()


@pytest.fixture(scope="module")
def trained_lstm(toy):
    input_ids, attention_mask, labels, _ = toy
    model = make_model("lstm", attention="bahdanau", encoder_layers=2, decoder_layers=2)
    assert train(model, input_ids, attention_mask, labels) < 0.05
    return model


# Learning -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch,attention,feed", CASES, ids=CASE_IDS)
def test_overfits_and_decodes_exactly(toy, arch, attention, feed):
    input_ids, attention_mask, labels, targets = toy
    model = make_model(arch, attention=attention, input_feeding=feed)
    with torch.no_grad():
        initial = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.item()
    assert initial > 2.0  # about ln(VOCAB): the model starts knowing nothing
    assert train(model, input_ids, attention_mask, labels) < 0.05
    with torch.no_grad():
        greedy = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12)
        beam = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12, num_beams=4)
    assert decoded(greedy) == targets
    assert decoded(beam) == targets


def test_label_smoothing_and_ignored_labels(toy):
    input_ids, attention_mask, labels, _ = toy
    for smoothing in (0.0, 0.1):
        model = make_model("gru", label_smoothing=smoothing)
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        expected = F.cross_entropy(
            out.logits.reshape(-1, VOCAB), labels.reshape(-1), ignore_index=-100, label_smoothing=smoothing
        )
        torch.testing.assert_close(out.loss, expected)
        # Only the non-ignored positions count.
        keep = labels != -100
        manual = F.cross_entropy(out.logits[keep], labels[keep], label_smoothing=smoothing)
        torch.testing.assert_close(out.loss, manual)
    # Trainer-style normalisation under gradient accumulation.
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, num_items_in_batch=100)
    total = F.cross_entropy(out.logits.reshape(-1, VOCAB), labels.reshape(-1), label_smoothing=0.1, reduction="sum")
    torch.testing.assert_close(out.loss, total / 100)


def test_decoder_inputs_are_labels_shifted_right(toy):
    input_ids, attention_mask, labels, _ = toy
    model = make_model("lstm")
    shifted = model.prepare_decoder_input_ids_from_labels(labels=labels)
    assert shifted[:, 0].eq(BOS).all()
    assert torch.equal(shifted[:, 1:], labels[:, :-1].masked_fill(labels[:, :-1] == -100, PAD))
    with torch.no_grad():
        implicit = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).logits
        explicit = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=shifted).logits
    torch.testing.assert_close(implicit, explicit, rtol=0, atol=0)


def test_init_gives_unit_embeddings_and_lstm_forget_bias():
    model = make_model("lstm")
    weight = model.shared.weight.detach()
    assert weight[PAD].abs().sum() == 0
    assert 0.8 < weight[1:].std().item() < 1.2  # N(0, 1): small embeddings make RNNs learn slowly
    size = model.config.hidden_size
    bias = model.decoder.rnn.bias_ih_l0.detach() + model.decoder.rnn.bias_hh_l0.detach()
    assert torch.all(bias[size : 2 * size] == 1.0)
    assert model.lm_head.weight is model.shared.weight


# Cached decoding == uncached decoding ---------------------------------------------------------------


def _assert_same_generation(model, input_ids, attention_mask, **kwargs):
    outputs = []
    for use_cache in (True, False):
        torch.manual_seed(123)
        with torch.no_grad():
            outputs.append(
                model.generate(
                    input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache, max_new_tokens=9, **kwargs
                )
            )
    assert torch.equal(outputs[0], outputs[1]), kwargs
    return outputs[0]


@pytest.mark.parametrize("arch,attention,feed", CASES, ids=CASE_IDS)
def test_cached_decoding_equals_uncached(toy, arch, attention, feed):
    input_ids, attention_mask, _, _ = toy
    # Two decoder layers over one encoder layer exercises the bridge's layer mapping.
    model = make_model(arch, attention=attention, input_feeding=feed, encoder_layers=1, decoder_layers=2).eval()
    _assert_same_generation(model, input_ids, attention_mask)
    beams = _assert_same_generation(model, input_ids, attention_mask, num_beams=3, num_return_sequences=2)
    assert beams.shape[0] == 2 * input_ids.shape[0]
    _assert_same_generation(model, input_ids, attention_mask, num_beams=3, length_penalty=0.5, no_repeat_ngram_size=2)
    _assert_same_generation(model, input_ids, attention_mask, do_sample=True, top_k=5)


def test_generation_still_calls_the_private_cache_hooks(toy, monkeypatch):
    """The model keeps its recurrent state out of transformers' Cache classes through two private GenerationMixin
    hooks; a transformers release that stops calling them must fail here, by name, not somewhere in a beam."""
    input_ids, attention_mask, _, _ = toy
    model = make_model("lstm").eval()
    called = []
    cls = type(model)
    default_cache, reorder = cls._supports_default_dynamic_cache.__func__, cls._reorder_cache
    monkeypatch.setattr(cls, "_supports_default_dynamic_cache",
                        classmethod(lambda c: called.append("_supports_default_dynamic_cache") or default_cache(c)))
    monkeypatch.setattr(cls, "_reorder_cache",
                        staticmethod(lambda past, beam_idx: called.append("_reorder_cache") or reorder(past, beam_idx)))
    with torch.no_grad():
        model.generate(input_ids=input_ids, attention_mask=attention_mask, num_beams=3, max_new_tokens=4)
    assert {"_supports_default_dynamic_cache", "_reorder_cache"} <= set(called), (
        f"generate() called {sorted(set(called))}: transformers changed its cache hooks (modeling_recurrent.py)")


@pytest.mark.parametrize("arch", ARCHS)
def test_stock_generation_inputs_decode_the_same_without_warnings(toy, arch):
    """GenerationMixin's own prepare_inputs_for_generation (the fast-paths benchmark's baseline)
    decodes what the model's does, and is handed the state under one name only."""
    input_ids, attention_mask, _, _ = toy
    model = make_model(arch, attention="luong-general").eval()
    with torch.no_grad():
        own = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=9, num_beams=2)
        model.own_generation_inputs = False
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            stock = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=9, num_beams=2)
    assert torch.equal(own, stock)


@pytest.mark.parametrize("arch", ARCHS)
def test_per_step_loop_computes_the_fused_decoder(toy, arch):
    """The per-step loop (Bahdanau's and input feeding's path) gives the fused decoder's
    logits where both apply, over two decoder layers: the fused path is a pure speed-up."""
    input_ids, attention_mask, labels, _ = toy
    model = make_model(arch, attention="luong-general", decoder_layers=2).eval()
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask,
                  decoder_input_ids=model.prepare_decoder_input_ids_from_labels(labels))
    with torch.no_grad():
        fused = model(**inputs).logits
        model.decoder.stepwise = True
        looped = model(**inputs).logits
    torch.testing.assert_close(looped, fused, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch,attention,feed", CASES, ids=CASE_IDS)
def test_state_continues_decoding(toy, arch, attention, feed):
    """Logits of a whole target equal those of a prefix followed by the rest from the returned state."""
    input_ids, attention_mask, labels, _ = toy
    model = make_model(arch, attention=attention, input_feeding=feed, encoder_layers=2, decoder_layers=2).eval()
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    with torch.no_grad():
        whole = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        first = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids[:, :3],
            use_cache=True,
        )
        state = getattr(first, STATE_FIELD)  # `cache` from transformers 5.24 on, `past_key_values` before
        assert isinstance(state, tuple) and all(t.shape[0] == input_ids.shape[0] for t in state)
        # Continue from the state, with the encoder outputs computed once (as generate() does).
        encoder_outputs = model.get_encoder()(input_ids, attention_mask)
        assert isinstance(encoder_outputs, RecurrentEncoderOutput)
        rest = model(
            encoder_outputs=encoder_outputs,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids[:, 3:],
            past_key_values=state,
            use_cache=True,
        )
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], dim=1), whole.logits, rtol=1e-5, atol=1e-5)


# Padding, lengths, edge cases -----------------------------------------------------------------------


@pytest.mark.parametrize("arch,attention,residual", [("rnn", "luong-dot", False), ("gru", "bahdanau", False),
                                                     ("lstm", "none", False), ("rnn", "luong-general", True)])
def test_padding_never_changes_results(toy, arch, attention, residual):
    input_ids, attention_mask, labels, _ = toy
    model = make_model(arch, attention=attention, encoder_layers=2, decoder_layers=2,
                       source_embedding_residual=residual).eval()
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    with torch.no_grad():
        encoded = model.encoder(input_ids, attention_mask)
        batch = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        for i in range(input_ids.shape[0]):
            length = int(attention_mask[i].sum())
            target_length = int((labels[i] != -100).sum())
            alone_ids = input_ids[i : i + 1, :length]
            alone_encoded = model.encoder(alone_ids)
            torch.testing.assert_close(
                alone_encoded.last_hidden_state, encoded.last_hidden_state[i : i + 1, :length], rtol=1e-5, atol=1e-6
            )
            assert not encoded.last_hidden_state[i, length:].any()  # padded positions are never read
            torch.testing.assert_close(
                alone_encoded.final_hidden, encoded.final_hidden[i : i + 1], rtol=1e-5, atol=1e-6
            )
            alone = model(input_ids=alone_ids, decoder_input_ids=decoder_input_ids[i : i + 1, :target_length])
            torch.testing.assert_close(
                alone.logits, batch.logits[i : i + 1, :target_length], rtol=1e-5, atol=1e-5
            )


def test_source_embedding_residual_adds_each_projected_embedding_to_its_encoder_output(toy):
    input_ids, attention_mask, labels, targets = toy
    model = make_model("rnn", source_embedding_residual=True).eval()
    with torch.no_grad():
        with_residual = model.encoder(input_ids, attention_mask).last_hidden_state
        projected = model.encoder.embedding_residual(model.shared(input_ids))
        model.encoder.embedding_residual.weight.zero_()
        recurrence_only = model.encoder(input_ids, attention_mask).last_hidden_state
    real = attention_mask.bool()
    torch.testing.assert_close(with_residual[real], (recurrence_only + projected)[real])
    assert not with_residual[~real].any()
    # With scaled attention (the summarization RNN's recipe) it trains and decodes like the plain model.
    model = make_model("rnn", source_embedding_residual=True, scaled_attention=True)
    assert train(model, input_ids, attention_mask, labels) < 0.05
    with torch.no_grad():
        assert decoded(model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12)) == targets


@pytest.mark.parametrize("attention", ["luong-dot", "luong-general"])
def test_scaled_attention_divides_the_scores_by_the_square_root_of_the_width(toy, attention):
    input_ids, attention_mask, labels, _ = toy
    weights = {}
    for scaled in (False, True):
        model = make_model("rnn", attention=attention, scaled_attention=scaled, coverage=True).eval()
        with torch.no_grad():
            out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_attentions=True)
        weights[scaled] = out.cross_attentions[0]
    real = attention_mask.bool()[:, None, None, :].expand_as(weights[False])
    # The same parameters (same seed), so the scaled weights are softmax(scores / sqrt(32)); log-weights
    # are the scores up to a constant per row, which the softmax ignores.
    expected = torch.softmax(weights[False].log().masked_fill(~real, -1e9) / 32**0.5, dim=-1)
    torch.testing.assert_close(weights[True], expected.masked_fill(~real, 0.0), rtol=1e-4, atol=1e-6)
    entropy = {k: -(w.clamp_min(1e-12).log() * w).sum(-1).mean() for k, w in weights.items()}
    assert entropy[True] > entropy[False]  # flatter at the start


def test_attention_weights_mask_padding(toy):
    input_ids, attention_mask, labels, _ = toy
    for attention in ("bahdanau", "luong-general"):
        model = make_model("gru", attention=attention).eval()
        with torch.no_grad():
            out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_attentions=True)
        (weights,) = out.cross_attentions
        assert weights.shape == (input_ids.shape[0], 1, labels.shape[1], input_ids.shape[1])
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
        padded = ~attention_mask.bool()[:, None, None, :].expand_as(weights)
        assert weights[padded].abs().max() == 0
    model = make_model("gru", attention="none")
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_attentions=True)
    assert out.cross_attentions is None


def test_mixed_length_batch_decodes_like_each_alone(toy, trained_lstm):
    input_ids, attention_mask, _, targets = toy
    with torch.no_grad():
        for kwargs in (dict(), dict(num_beams=3)):
            batch = trained_lstm.generate(
                input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12, **kwargs
            )
            alone = [
                trained_lstm.generate(
                    input_ids=input_ids[i : i + 1, : int(attention_mask[i].sum())], max_new_tokens=12, **kwargs
                )
                for i in range(input_ids.shape[0])
            ]
            batch, alone = decoded(batch), [decoded(one)[0] for one in alone]
            assert batch == alone == targets


def test_empty_source_is_just_eos(toy, trained_lstm):
    input_ids, attention_mask, _, _ = toy
    model = trained_lstm
    empty = torch.tensor([[EOS]])
    with torch.no_grad():
        alone = model.generate(input_ids=empty, max_new_tokens=5, num_beams=2)
        assert alone.shape[0] == 1 and alone[0, 0] == BOS
        # In a batch of longer sources it still decodes as it does alone.
        batch_ids = torch.cat([torch.tensor([[EOS] + [PAD] * (input_ids.shape[1] - 1)]), input_ids])
        batch_mask = (batch_ids != PAD).long()
        batch = model.generate(input_ids=batch_ids, attention_mask=batch_mask, max_new_tokens=5, num_beams=2)
    assert decoded(batch[:1]) == decoded(alone)
    with pytest.raises(ValueError, match="empty input"):
        model(input_ids=torch.zeros(1, 0, dtype=torch.long), decoder_input_ids=torch.tensor([[BOS]]))


def test_too_long_inputs_raise_naming_max_position():
    model = make_model("rnn", max_position=8).eval()
    ok = torch.full((1, 8), 5)
    model(input_ids=ok, labels=ok)
    too_long = torch.full((1, 9), 5)
    with pytest.raises(ValueError, match=r"sequence too long: the source has 9 tokens, max_position is 8"):
        model(input_ids=too_long, labels=ok)
    with pytest.raises(ValueError, match=r"sequence too long: the target has 9 tokens, max_position is 8"):
        model(input_ids=ok, labels=too_long)
    with pytest.raises(ValueError, match="max_position is 8"):
        model.generate(input_ids=too_long, max_new_tokens=2)
    # Padding does not count: 5 real tokens (and 5 labels) in batches padded to 10.
    padded = torch.tensor([[5] * 5 + [PAD] * 5, [5] * 5 + [PAD] * 5])
    model(input_ids=padded, attention_mask=(padded != PAD).long(), labels=padded.masked_fill(padded == PAD, -100))


def test_left_padding_is_rejected():
    model = make_model("gru")
    input_ids = torch.tensor([[PAD, 5, EOS], [6, 7, EOS]])
    with pytest.raises(ValueError, match="right-padded"):
        model(input_ids=input_ids, attention_mask=(input_ids != PAD).long(), labels=input_ids)


# Configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_class,kwargs,message",
    [
        (RNNConfig, dict(attention="luong"), "unknown attention"),
        (RNNConfig, dict(attention="bahdanau", scaled_attention=True), "scaled_attention scales Luong scores"),
        (RNNConfig, dict(cell="lstm"), "unknown cell"),
        (LSTMConfig, dict(cell="gru"), "unknown cell"),
        (LSTMConfig, dict(attention="bahdanau", input_feeding=True), "input_feeding"),
        (LSTMConfig, dict(attention="none", input_feeding=True), "input_feeding"),
        (RNNConfig, dict(hidden_size=33), "even"),
        (RNNConfig, dict(hidden_dropout=1.0), "hidden_dropout"),
        (RNNConfig, dict(encoder_layers=0), "encoder_layers"),
        (LSTMConfig, dict(vocab_size=10, eos_token_id=12), "eos_token_id"),
        (LSTMConfig, dict(attention="none", copy_attention=True), "copy_attention"),
        (RNNConfig, dict(attention="none", coverage=True), "coverage"),
        (LSTMConfig, dict(coverage=True, coverage_loss_weight=-1.0), "coverage_loss_weight"),
    ],
)
def test_config_rejects_bad_values(config_class, kwargs, message):
    with pytest.raises(ValueError, match=message):
        config_class(**kwargs)


def test_config_fields_round_trip(tmp_path):
    config = RNNConfig(cell="gru", vocab_size=123, attention="bahdanau", bidirectional=False, label_smoothing=0.1)
    assert config.is_encoder_decoder and config.tie_word_embeddings
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is RNNConfig
    for field in ("cell", "vocab_size", "attention", "bidirectional", "label_smoothing", "decoder_start_token_id"):
        assert getattr(loaded, field) == getattr(config, field)
    # Every field is documented in the class docstring.
    documented = RecurrentConfig.__doc__ + RNNConfig.__doc__
    for field in (
        "vocab_size embedding_size hidden_size encoder_layers decoder_layers bidirectional attention input_feeding "
        "source_embedding_residual copy_attention coverage coverage_loss_weight "
        "embedding_dropout hidden_dropout tie_word_embeddings label_smoothing embedding_init_std max_position "
        "pad_token_id bos_token_id eos_token_id decoder_start_token_id cell"
    ).split():
        assert f"{field} (`" in documented, field


def test_auto_classes_build_by_model_type():
    for model_type, model_class, kwargs in (
        ("lineage-rnn", RNNForConditionalGeneration, dict(cell="gru")),
        ("lineage-lstm", LSTMForConditionalGeneration, {}),
    ):
        config = AutoConfig.for_model(model_type, vocab_size=VOCAB, embedding_size=8, hidden_size=8, **kwargs)
        model = AutoModelForSeq2SeqLM.from_config(config)
        assert type(model) is model_class and model.can_generate()
    with pytest.raises(ValueError, match="needs a 'lineage-lstm' config"):
        LSTMForConditionalGeneration(RNNConfig(vocab_size=VOCAB))


def test_build_model_with_a_trained_tokenizer():
    from lineage.data.tokenizer import train_tokenizer

    texts = ["a small dog runs .", "ein kleiner Hund rennt .", "the cat sleeps .", "die Katze schläft ."] * 3
    tokenizer = train_tokenizer(texts, vocab_size=60, min_frequency=1)
    for arch, overrides, model_class in (
        ("rnn", dict(attention="none", cell="gru"), RNNForConditionalGeneration),
        ("lstm", dict(attention="bahdanau"), LSTMForConditionalGeneration),
    ):
        model = models.build_model(arch, tokenizer, size="tiny", **overrides).eval()
        assert type(model) is model_class
        assert model.config.vocab_size == len(tokenizer)
        assert model.config.decoder_start_token_id == tokenizer.bos_token_id
        batch = tokenizer(
            ["a small dog .", "the cat ."], text_target=["ein Hund .", "die Katze ."], padding=True, return_tensors="pt"
        )
        inputs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        labels = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
        assert torch.isfinite(model(**inputs, labels=labels).loss)
        generated = model.generate(**inputs, max_new_tokens=4)
        assert generated[:, 0].eq(tokenizer.bos_token_id).all()


# Embeddings -------------------------------------------------------------------------------------


def test_one_shared_embedding_and_tied_head():
    model = make_model("lstm")
    assert model.get_input_embeddings() is model.shared
    assert model.encoder.embed_tokens is model.shared
    assert model.lm_head.weight is model.shared.weight
    names = [name for name, _ in model.named_parameters()]
    assert "shared.weight" in names and not any("embed_tokens" in name for name in names)
    untied = make_model("lstm", tie_word_embeddings=False)
    assert untied.lm_head.weight is not untied.shared.weight


@pytest.mark.parametrize("tie", [True, False])
def test_init_embeddings_copies_rows_and_freeze_stops_gradients(toy, tie):
    input_ids, attention_mask, labels, _ = toy
    model = make_model("gru", attention="luong-general", tie_word_embeddings=tie)
    matrix = torch.randn(VOCAB, 24) * 0.3
    models.init_embeddings(model, matrix, freeze=True)
    assert torch.equal(model.shared.weight, matrix)
    assert torch.equal(model.encoder.embed_tokens.weight, matrix)
    assert torch.equal(model.lm_head.weight, matrix) == tie
    model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
    assert model.shared.weight.grad is None
    assert model.decoder.rnn.weight_ih_l0.grad is not None
    # Encoder and decoder read the copied rows: changing them changes the output.
    with torch.no_grad():
        before = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        models.init_embeddings(model, torch.randn(VOCAB, 24), freeze=False)
        after = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    assert before != after
    model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
    assert model.shared.weight.grad is not None
    with pytest.raises(ValueError, match="shape"):
        models.init_embeddings(model, torch.randn(VOCAB, 25))


def test_resized_embeddings_reach_the_encoder(toy):
    input_ids, attention_mask, labels, _ = toy
    model = make_model("lstm")
    model.resize_token_embeddings(VOCAB + 4)
    assert model.encoder.embed_tokens is model.shared and model.shared.num_embeddings == VOCAB + 4
    assert model.lm_head.weight is model.shared.weight
    assert model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).logits.shape[-1] == VOCAB + 4


# Saving and loading -----------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path, toy, trained_lstm):
    input_ids, attention_mask, _, _ = toy
    trained_lstm.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert {"configuration_recurrent.py", "modeling_recurrent.py"} <= {p.name for p in tmp_path.iterdir()}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "lineage-lstm"
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_recurrent.LSTMForConditionalGeneration"
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is LSTMForConditionalGeneration
    assert loaded.lm_head.weight is loaded.shared.weight
    original_state = trained_lstm.state_dict()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, original_state[name]), name
    kwargs = dict(
        input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12, num_beams=3, num_return_sequences=2
    )
    with torch.no_grad():
        assert torch.equal(loaded.generate(**kwargs), trained_lstm.generate(**kwargs))


def test_fresh_process_loads_with_trust_remote_code(tmp_path, toy, trained_lstm):
    input_ids, attention_mask, _, _ = toy
    folder = tmp_path / "model"
    trained_lstm.save_pretrained(folder)
    with torch.no_grad():
        expected = trained_lstm.generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12, num_beams=3
        ).tolist()
    script = textwrap.dedent(
        f"""
        import json, sys
        # The project must not be importable: only the folder's own code may be used.
        sys.modules["lineage"] = None
        try:
            from lineage import models
            raise SystemExit("lineage is importable")
        except ImportError:
            pass
        import torch
        from transformers import AutoModelForSeq2SeqLM
        model = AutoModelForSeq2SeqLM.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        input_ids = torch.tensor({input_ids.tolist()})
        attention_mask = torch.tensor({attention_mask.tolist()})
        with torch.no_grad():
            beams = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12, num_beams=3)
        print(json.dumps({{"module": type(model).__module__, "beams": beams.tolist()}}))
        """
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["module"].startswith("transformers_modules.")
    assert answer["beams"] == expected


# Copy attention and coverage ---------------------------------------------------------------------

# (arch, attention, input_feeding, copy_attention, coverage)
COPY_CASES = [
    ("lstm", "luong-general", False, True, False),
    ("lstm", "luong-general", False, True, True),
    ("lstm", "luong-dot", False, False, True),
    ("lstm", "luong-general", True, True, True),
    ("gru", "bahdanau", False, True, True),
    ("rnn", "bahdanau", False, False, True),
]
COPY_IDS = [f"{a}-{att}{'-feed' if f else ''}{'-copy' if c else ''}{'-coverage' if v else ''}" for a, att, f, c, v in COPY_CASES]


def make_copy_model(arch, attention, feed, copy, coverage, **overrides):
    model = make_model(arch, attention=attention, input_feeding=feed, copy_attention=copy, coverage=coverage, **overrides)
    if coverage:  # coverage starts with no effect (u = 0); give it one, so the tests exercise it
        torch.manual_seed(1)
        torch.nn.init.normal_(model.decoder.attention.coverage_proj.weight)
    return model.eval()


@pytest.mark.parametrize("arch,attention,feed,copy,coverage", COPY_CASES, ids=COPY_IDS)
def test_copy_and_coverage_cached_decoding_equals_uncached(toy, arch, attention, feed, copy, coverage):
    input_ids, attention_mask, _, _ = toy
    model = make_copy_model(arch, attention, feed, copy, coverage, decoder_layers=2)
    _assert_same_generation(model, input_ids, attention_mask)
    _assert_same_generation(model, input_ids, attention_mask, num_beams=3, num_return_sequences=2)
    _assert_same_generation(model, input_ids, attention_mask, num_beams=3, no_repeat_ngram_size=2)


@pytest.mark.parametrize("arch,attention,feed,copy,coverage", COPY_CASES, ids=COPY_IDS)
def test_copy_and_coverage_state_continues_decoding(toy, arch, attention, feed, copy, coverage):
    input_ids, attention_mask, labels, _ = toy
    model = make_copy_model(arch, attention, feed, copy, coverage)
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    with torch.no_grad():
        whole = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        first = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids[:, :3],
                      use_cache=True)
        rest = model(encoder_outputs=model.get_encoder()(input_ids, attention_mask), attention_mask=attention_mask,
                     decoder_input_ids=decoder_input_ids[:, 3:], past_key_values=getattr(first, STATE_FIELD),
                     use_cache=True)
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], dim=1), whole.logits, rtol=1e-5, atol=1e-5)
    if coverage:
        torch.testing.assert_close(torch.cat([first.coverage_penalty, rest.coverage_penalty], dim=1),
                                   whole.coverage_penalty, rtol=1e-5, atol=1e-6)


def test_copy_logits_are_the_mixed_distribution(toy):
    """exp(logits) sums to 1, and with the gate shut (p_gen = 0) it is the attention on the source ids."""
    input_ids, attention_mask, labels, _ = toy
    model = make_copy_model("lstm", "luong-general", False, True, False)
    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_attentions=True)
        torch.testing.assert_close(output.logits.exp().sum(-1), torch.ones(labels.shape), rtol=1e-5, atol=1e-5)
        model.decoder.copy_gate.bias.fill_(-1e4)  # p_gen -> 0: copy only
        output = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_attentions=True)
    weights = output.cross_attentions[0][:, 0]  # (batch, target, source)
    for row in range(input_ids.shape[0]):
        for token in input_ids[row][attention_mask[row].bool()].unique():
            expected = weights[row][:, input_ids[row] == token].sum(-1)
            torch.testing.assert_close(output.logits[row, :, token].exp(), expected, rtol=1e-4, atol=1e-6)


def test_coverage_penalty_and_loss(toy):
    """The penalty is sum_i min(a_i, coverage_i) per step: zero at the first step, and in the loss with its weight."""
    input_ids, attention_mask, labels, _ = toy
    weighted = make_copy_model("lstm", "luong-general", False, False, True, coverage_loss_weight=2.0)
    unweighted = make_copy_model("lstm", "luong-general", False, False, True, coverage_loss_weight=0.0)
    unweighted.load_state_dict(weighted.state_dict())
    with torch.no_grad():
        output = weighted(input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_attentions=True)
        plain = unweighted(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    weights = output.cross_attentions[0][:, 0]
    coverage = torch.cumsum(weights, dim=1) - weights  # attention before each step
    expected = 2.0 * torch.minimum(weights, coverage).sum(-1)
    torch.testing.assert_close(output.coverage_penalty, expected, rtol=1e-5, atol=1e-6)
    assert torch.all(output.coverage_penalty[:, 0] == 0) and output.coverage_penalty.sum() > 0
    mask = labels != -100
    torch.testing.assert_close(output.loss, plain.loss + output.coverage_penalty[mask].mean(), rtol=1e-5, atol=1e-6)


def copy_data(count: int, seed: int, unseen: range | None = None):
    """Copy a sequence of 3-6 ids from 4..15; with `unseen`, one position holds one of those ids
    instead (a name in a sentence). Sources and targets end with </s>."""
    generator = torch.Generator().manual_seed(seed)
    sequences = []
    for i in range(count):
        sequence = torch.randint(4, 16, (3 + i % 4,), generator=generator).tolist()
        if unseen is not None:
            sequence[i % len(sequence)] = unseen[i % len(unseen)]
        sequences.append(sequence + [EOS])
    input_ids = pad_batch(sequences, PAD)
    return input_ids, (input_ids != PAD).long(), pad_batch(sequences, -100), sequences


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "no-copy"])
def test_copy_attention_copies_tokens_never_seen_in_training(copy):
    """Trained to copy sequences of ids 4..15, the pointer-generator copies sequences that
    hold one of the never-seen ids 16..19 (whose embeddings never trained); without copy
    attention the same model never emits them. Embedding dropout teaches the model not to
    rely on one input embedding, as it must for an untrained one."""
    input_ids, attention_mask, labels, _ = copy_data(96, seed=0)
    model = make_model("lstm", attention="luong-general", copy_attention=copy, embedding_dropout=0.3, seed=0)
    train(model, input_ids, attention_mask, labels, max_steps=600, lr=1e-2, target_loss=0.0)
    unseen_ids, unseen_mask, _, unseen = copy_data(8, seed=1, unseen=range(16, VOCAB))
    with torch.no_grad():
        generated = model.generate(input_ids=unseen_ids, attention_mask=unseen_mask, num_beams=1, max_new_tokens=8)
    outputs = decoded(generated)
    emitted_unseen = sum(any(token >= 16 for token in output) for output in outputs)
    if copy:
        assert emitted_unseen == len(unseen) and sum(o == u for o, u in zip(outputs, unseen)) >= 7, outputs
    else:
        assert emitted_unseen == 0, outputs


def test_transformer_copy_is_refused():
    from lineage.training.config import TrainConfig

    with pytest.raises(ValueError, match="recurrent models"):
        TrainConfig(output_dir="unused", arch="transformer", copy_attention=True, max_steps=1).resolved()
