"""Tests of the minimal recurrent cells, minGRU and minLSTM (models/recurrent/scan.py), and of the
encoder-decoder models built on them (MinGRUForConditionalGeneration, MinLSTMForConditionalGeneration).

Tiny models and toy token-id data, as in tests/test_recurrent.py, whose helpers this file reuses.
"""

import inspect
import json
import subprocess
from pathlib import Path

import isolated  # tests/isolated.py
import pytest
import torch
import torch.nn.functional as F
from lineage.models.recurrent import (
    MinGRUConfig,
    MinGRUForConditionalGeneration,
    MinLSTMConfig,
    MinLSTMForConditionalGeneration,
    RecurrentConfig,
    RNNConfig,
)
from lineage.models.recurrent.modeling_recurrent import STATE_FIELD
from lineage.models.recurrent.scan import (
    SCAN_CHUNK,
    MinGRU,
    MinLSTM,
    log_space_scan,
    mingru_coefficients,
    minlstm_coefficients,
    recurrence_loop,
)
from transformers import AutoConfig, AutoModelForSeq2SeqLM

HERE = Path(__file__).resolve().parent
recurrent_tests = isolated.load_by_path("lineage_recurrent_tests", HERE / "test_recurrent.py")
toy_data, train, decoded, pad_batch = (recurrent_tests.toy_data, recurrent_tests.train, recurrent_tests.decoded,
                                       recurrent_tests.pad_batch)
assert_same_generation = recurrent_tests._assert_same_generation
PAD, BOS, EOS, VOCAB = recurrent_tests.PAD, recurrent_tests.BOS, recurrent_tests.EOS, recurrent_tests.VOCAB

MODELS = {
    "mingru": (MinGRUConfig, MinGRUForConditionalGeneration),
    "minlstm": (MinLSTMConfig, MinLSTMForConditionalGeneration),
}
UNITS = {"mingru": (MinGRU, mingru_coefficients), "minlstm": (MinLSTM, minlstm_coefficients)}
# (attention, input_feeding), as in test_recurrent.py
ATTENTIONS = recurrent_tests.ATTENTIONS
CASES = [(cell, attention, feed) for cell in MODELS for attention, feed in ATTENTIONS]
CASE_IDS = [f"{cell}-{attention}{'-feed' if feed else ''}" for cell, attention, feed in CASES]



@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(cell: str, seed: int = 0, **overrides):
    config_class, model_class = MODELS[cell]
    kwargs = dict(vocab_size=VOCAB, embedding_size=24, hidden_size=32, embedding_dropout=0.0, hidden_dropout=0.0)
    kwargs.update(overrides)
    torch.manual_seed(seed)
    return model_class(config_class(**kwargs))


@pytest.fixture(scope="module")
def toy():
    return toy_data()


def long_sources():
    """Right-padded sources of 3, 17, 33 and 40 tokens: rows end inside different scan chunks of 16."""
    generator = torch.Generator().manual_seed(3)
    rows = [torch.randint(4, VOCAB, (length - 1,), generator=generator).tolist() + [EOS] for length in (40, 3, 33, 17)]
    input_ids = pad_batch(rows, PAD)
    return input_ids, (input_ids != PAD).long()


# The paper's equations, step by step in float64: the reference for the scan ---------------------------------


def paper_states(cell: str, projected: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    def g(x):
        return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))

    projected, state = projected.double(), initial.double()
    states = []
    for x in projected.unbind(1):
        if cell == "mingru":
            gate, candidate = x.chunk(2, dim=-1)
            z = torch.sigmoid(gate)
            state = (1 - z) * state + z * g(candidate)
        else:
            forget, update, candidate = x.chunk(3, dim=-1)
            f, i = torch.sigmoid(forget), torch.sigmoid(update)
            state = f / (f + i) * state + i / (f + i) * g(candidate)
        states.append(state)
    return torch.stack(states, dim=1)


def relative_error(result: torch.Tensor, reference: torch.Tensor) -> float:
    """max |result - reference| / (|reference| + 1): relative for large states, absolute for small ones."""
    return ((result.double() - reference.double()).abs() / (reference.double().abs() + 1)).max().item()


# Scale 1: gate inputs as a trained layer sees them. Scale 6: saturated gates, a_t down to e^-20, so the
# products a_1 ... a_t underflow to 0 in float32 within a few hundred steps.
@pytest.mark.parametrize("scale", [1.0, 6.0])
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_scan_equals_the_recurrence_in_float32(cell, scale):
    unit, coefficients = UNITS[cell]
    generator = torch.Generator().manual_seed(0)
    steps, hidden = 2048, 16
    projected = torch.randn(2, steps, (unit.gates + 1) * hidden, generator=generator) * scale
    initial = torch.randn(2, hidden, generator=generator)  # any sign: the scan carries h_0 outside the logs
    log_a, log_b = coefficients(projected)
    if scale > 1:
        assert torch.exp(torch.cumsum(log_a, dim=1))[:, -1].max() == 0  # the long products are tiny indeed
    reference = paper_states(cell, projected, initial)
    for length in (1, SCAN_CHUNK - 1, SCAN_CHUNK + 1, 300, steps):  # inside, across and at chunk ends
        scanned = log_space_scan(log_a[:, :length], log_b[:, :length], initial)
        looped = recurrence_loop(log_a[:, :length], log_b[:, :length], initial)
        assert torch.isfinite(scanned).all()
        # Measured at 2,048 steps: scan 0.9-1.2e-6 (scale 1), 0.8-0.9e-5 (scale 6); loop 1.6e-7, 6e-7.
        assert relative_error(scanned, reference[:, :length]) < 2e-5, length
        assert relative_error(looped, reference[:, :length]) < 2e-6, length
        assert relative_error(scanned, looped) < 2e-5, length
    # One piece instead of chunks loses the digits the chunks keep (measured 1e-4 to 8e-4: see SCAN_CHUNK).
    assert relative_error(log_space_scan(log_a, log_b, initial, chunk=steps), reference) > 5e-5


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_scan_equals_the_recurrence_in_bfloat16(cell):
    """A bfloat16 layer over 2,048 steps: the scan (one call) and the step-by-step recurrence (one
    call per token, carrying the state as cached decoding does) agree to 2% of |h| + 1, and
    each to 2% of the float32 layer on the same numbers. Why 2%: bfloat16 keeps 8 significant bits,
    so each rounding is up to 2^-9 = 0.2% relative; the projection and the output are rounded once
    (the recurrence itself runs in float32), and step by step the carried state is rounded once per
    step, errors that decay with a_t but add up over the ~1 / (1 - a) steps the state remembers.
    Measured: up to 0.6% (gate biases 0 and -3, memories of ~2 and ~20 steps)."""
    unit = UNITS[cell][0]
    torch.manual_seed(0)
    for bias in (0.0, -3.0):
        layer = unit(16, 32)
        with torch.no_grad():
            layer.projections[0].bias.add_(bias)
        inputs, initial = torch.randn(2, 2048, 16), torch.randn(1, 2, 32)
        with torch.no_grad():
            reference, _ = layer(inputs.bfloat16().float(), initial.bfloat16().float())
            layer.bfloat16()
            scanned, final = layer(inputs.bfloat16(), initial.bfloat16())
            state, stepped = initial.bfloat16(), []
            for token in inputs.bfloat16().split(1, dim=1):
                output, state = layer(token, state)
                stepped.append(output)
            stepped = torch.cat(stepped, dim=1)
        assert scanned.dtype == stepped.dtype == final.dtype == torch.bfloat16
        assert torch.isfinite(scanned).all() and torch.isfinite(stepped).all()
        assert relative_error(scanned, stepped) < 2e-2
        assert relative_error(scanned, reference) < 2e-2 and relative_error(stepped, reference) < 2e-2
        assert torch.equal(final[0], scanned[:, -1])


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_bidirectional_layer_reads_each_row_both_ways_within_its_length(cell):
    """The forward half of a bidirectional layer's output is a one-way pass; the backward half is a
    one-way pass over the row reversed within its length, reversed back; padding gives zeros."""
    unit = UNITS[cell][0]
    torch.manual_seed(0)
    layer = unit(8, 6, bidirectional=True)
    inputs, lengths = torch.randn(3, 20, 8), torch.tensor([20, 5, 17])
    with torch.no_grad():
        outputs, final = layer(inputs, lengths=lengths)
        for row, length in enumerate(lengths.tolist()):
            one_way = unit(8, 6)
            for direction in (0, 1):
                one_way.projections[0].load_state_dict(layer.projections[direction].state_dict())
                sequence = inputs[row : row + 1, :length]
                states, last = one_way(sequence if direction == 0 else sequence.flip(1))
                states = states if direction == 0 else states.flip(1)
                torch.testing.assert_close(outputs[row, :length, 6 * direction : 6 * (direction + 1)], states[0])
                torch.testing.assert_close(final[direction, row], last[0, 0])
            assert not outputs[row, length:].any()


def test_dropout_only_between_layers():
    torch.manual_seed(0)
    inputs = torch.randn(2, 5, 8)
    for layers, differs in ((1, False), (2, True)):
        layer = MinGRU(8, 8, num_layers=layers, dropout=0.5).train()
        assert (not torch.equal(layer(inputs)[0], layer(inputs)[0])) == differs
        layer.eval()
        assert torch.equal(layer(inputs)[0], layer(inputs)[0])


# Models: learning ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell,attention,feed", CASES, ids=CASE_IDS)
def test_overfits_and_decodes_exactly(toy, cell, attention, feed):
    input_ids, attention_mask, labels, targets = toy
    model = make_model(cell, attention=attention, input_feeding=feed)
    with torch.no_grad():
        initial = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.item()
    assert initial > 2.0  # about ln(VOCAB): the model starts knowing nothing
    assert train(model, input_ids, attention_mask, labels) < 0.05
    with torch.no_grad():
        greedy = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12)
        beam = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12, num_beams=4)
    assert decoded(greedy) == targets
    assert decoded(beam) == targets


def test_init_follows_the_recurrent_conventions():
    minlstm, mingru = make_model("minlstm", encoder_layers=2), make_model("mingru")
    for model in (minlstm, mingru):
        weight = model.shared.weight.detach()
        assert weight[PAD].abs().sum() == 0 and 0.8 < weight[1:].std().item() < 1.2
        assert model.lm_head.weight is model.shared.weight
    size = minlstm.config.hidden_size
    projections = list(minlstm.encoder.rnn.projections) + list(minlstm.decoder.rnn.projections)
    assert len(projections) == 5  # 2 layers x 2 directions, 1 decoder layer
    for projection in projections:
        units = projection.out_features // 3
        assert units in (size // 2, size)
        assert torch.all(projection.bias[:units] == 1.0)  # forget gate: remember from the start
        assert projection.bias[units:].abs().max() <= projection.in_features**-0.5  # PyTorch's default
    assert mingru.decoder.rnn.projections[0].bias.abs().max() <= mingru.decoder.rnn.projections[0].in_features**-0.5


# Models: padding, continuation, fused == per-step -----------------------------------------------------


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_padding_never_changes_results(cell):
    input_ids, attention_mask = long_sources()
    model = make_model(cell, attention="luong-general", encoder_layers=2, decoder_layers=2,
                       source_embedding_residual=True).eval()
    decoder_input_ids = torch.randint(4, VOCAB, (input_ids.shape[0], 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        encoded = model.encoder(input_ids, attention_mask)
        batch = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        for row in range(input_ids.shape[0]):
            length = int(attention_mask[row].sum())
            alone_ids = input_ids[row : row + 1, :length]
            alone = model.encoder(alone_ids)
            torch.testing.assert_close(alone.last_hidden_state, encoded.last_hidden_state[row : row + 1, :length],
                                       rtol=1e-5, atol=1e-6)
            assert not encoded.last_hidden_state[row, length:].any()
            # Both directions of both layers: forward at the last real token, backward at the first.
            torch.testing.assert_close(alone.final_hidden, encoded.final_hidden[row : row + 1], rtol=1e-5, atol=1e-6)
            logits = model(input_ids=alone_ids, decoder_input_ids=decoder_input_ids[row : row + 1]).logits
            torch.testing.assert_close(logits, batch.logits[row : row + 1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_per_step_loop_computes_the_scanned_decoder(toy, cell):
    """Over two decoder layers, the per-step loop (Bahdanau's and input feeding's path, one
    recurrence step per call) gives the logits of the scan over all positions."""
    input_ids, attention_mask, labels, _ = toy
    model = make_model(cell, attention="luong-general", decoder_layers=2).eval()
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask,
                  decoder_input_ids=model.prepare_decoder_input_ids_from_labels(labels))
    with torch.no_grad():
        scanned = model(**inputs).logits
        model.decoder.stepwise = True
        looped = model(**inputs).logits
    torch.testing.assert_close(looped, scanned, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell,attention,copy,coverage", [
    ("mingru", "luong-general", False, False), ("minlstm", "bahdanau", True, True),
    ("mingru", "luong-dot", True, True),
])
def test_state_continues_decoding(toy, cell, attention, copy, coverage):
    """Logits of a whole target equal those of a prefix followed by the rest from the returned state."""
    input_ids, attention_mask, labels, _ = toy
    model = make_model(cell, attention=attention, copy_attention=copy, coverage=coverage, decoder_layers=2).eval()
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    with torch.no_grad():
        whole = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        first = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids[:, :3],
                      use_cache=True)
        state = getattr(first, STATE_FIELD)
        assert state[0].shape == (input_ids.shape[0], 2, 32)  # one (batch-first) vector per layer, no cell state
        rest = model(encoder_outputs=model.get_encoder()(input_ids, attention_mask), attention_mask=attention_mask,
                     decoder_input_ids=decoder_input_ids[:, 3:], past_key_values=state, use_cache=True)
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], dim=1), whole.logits, rtol=1e-5, atol=1e-5)


# Models: cached decoding == uncached decoding ------------------------------------------------------------


@pytest.mark.parametrize("cell,attention,feed", CASES, ids=CASE_IDS)
def test_cached_decoding_equals_uncached(toy, cell, attention, feed):
    input_ids, attention_mask, _, _ = toy
    model = make_model(cell, attention=attention, input_feeding=feed, decoder_layers=2).eval()
    assert_same_generation(model, input_ids, attention_mask)
    beams = assert_same_generation(model, input_ids, attention_mask, num_beams=3, num_return_sequences=2)
    assert beams.shape[0] == 2 * input_ids.shape[0]


@pytest.mark.parametrize("cell,attention,feed", [("mingru", "luong-general", False), ("minlstm", "bahdanau", False),
                                                 ("minlstm", "luong-general", True)])
def test_copy_and_coverage_cached_decoding_equals_uncached(toy, cell, attention, feed):
    input_ids, attention_mask, _, _ = toy
    model = make_model(cell, attention=attention, input_feeding=feed, copy_attention=True, coverage=True,
                       decoder_layers=2).eval()
    torch.manual_seed(1)  # coverage starts with no effect (u = 0); give it one
    torch.nn.init.normal_(model.decoder.attention.coverage_proj.weight)
    assert_same_generation(model, input_ids, attention_mask)
    assert_same_generation(model, input_ids, attention_mask, num_beams=3, num_return_sequences=2)


# bfloat16 --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_bfloat16_autocast_trains_like_float32(cell):
    input_ids, attention_mask = long_sources()
    labels = input_ids.masked_fill(input_ids == PAD, -100)
    model = make_model(cell, attention="luong-general", encoder_layers=2, copy_attention=True)
    model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
    reference = {name: param.grad.clone() for name, param in model.named_parameters()}
    expected = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.item()
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    output.loss.backward()
    assert torch.isfinite(output.loss) and abs(output.loss.item() - expected) < 0.02 * expected
    for name, param in model.named_parameters():
        assert torch.isfinite(param.grad).all(), name
    gradient = torch.cat([param.grad.flatten() for param in model.parameters()])
    assert F.cosine_similarity(gradient, torch.cat([g.flatten() for g in reference.values()]), dim=0) > 0.99


# Configuration, Auto classes, saving and loading ---------------------------------------------------------------


def test_configs_and_auto_classes():
    for cell, (config_class, model_class) in MODELS.items():
        config = AutoConfig.for_model(config_class.model_type, vocab_size=VOCAB, embedding_size=8, hidden_size=8)
        assert type(config) is config_class and config.cell == cell
        model = AutoModelForSeq2SeqLM.from_config(config)
        assert type(model) is model_class and model.can_generate()
        with pytest.raises(ValueError, match="unknown cell"):
            config_class(cell="gru")
        with pytest.raises(ValueError, match=f"needs a {config_class.model_type!r} config"):
            model_class(RNNConfig(vocab_size=VOCAB))
    with pytest.raises(ValueError, match="unknown cell"):
        RNNConfig(cell="mingru")


def test_config_fields_round_trip_and_are_documented(tmp_path):
    fields = [name for name in inspect.signature(RecurrentConfig.__init__).parameters if name not in ("self", "kwargs")]
    for cell, (config_class, _) in MODELS.items():
        config = config_class(vocab_size=123, attention="bahdanau", bidirectional=False, encoder_layers=2)
        config.save_pretrained(tmp_path / cell)
        loaded = AutoConfig.from_pretrained(tmp_path / cell)
        assert type(loaded) is config_class
        assert all(getattr(loaded, field) == getattr(config, field) for field in fields)
        documented = RecurrentConfig.__doc__ + config_class.__doc__
        assert all(f"{field} (`" in documented for field in fields)
        # The cell's own equations and what each option costs with it.
        assert "h_t = " in config_class.__doc__ and "loses the parallel scan" in " ".join(config_class.__doc__.split())


@pytest.fixture(scope="module")
def trained(toy):
    input_ids, attention_mask, labels, _ = toy
    models = {}
    for cell, attention in (("mingru", "luong-general"), ("minlstm", "bahdanau")):
        models[cell] = make_model(cell, attention=attention, encoder_layers=2, copy_attention=True)
        assert train(models[cell], input_ids, attention_mask, labels) < 0.05
    return models


def test_save_load_and_fresh_process_with_trust_remote_code(tmp_path, toy, trained):
    """save_pretrained / from_pretrained give the same weights and beams; the folder alone (its own copy
    of the model code, scan.py included) loads with trust_remote_code in a fresh process that cannot
    import the project, and gives the same beams."""
    input_ids, attention_mask, _, _ = toy
    kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=12, num_beams=3,
                  num_return_sequences=2)
    expected = {}
    for cell, model in trained.items():
        folder = tmp_path / cell
        model.save_pretrained(folder)
        assert {"configuration_recurrent.py", "modeling_recurrent.py", "scan.py"} <= {p.name for p in folder.iterdir()}
        config = json.loads((folder / "config.json").read_text())
        assert config["model_type"] == type(model).config_class.model_type
        assert config["auto_map"]["AutoModelForSeq2SeqLM"] == f"modeling_recurrent.{type(model).__name__}"
        loaded = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
        assert type(loaded) is type(model)
        original = model.state_dict()
        assert all(torch.equal(tensor, original[name]) for name, tensor in loaded.state_dict().items())
        with torch.no_grad():
            expected[cell] = model.generate(**kwargs)
            assert torch.equal(loaded.generate(**kwargs), expected[cell])
    script = tmp_path / "hub_user.py"
    script.write_text(HUB_USER_SCRIPT)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"folders": {cell: str(tmp_path / cell) for cell in trained},
                                "input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist()}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command, env = isolated.isolated_python_command(script, spec, HF_HOME=str(tmp_path / "hf-home"))
    done = subprocess.run(command, cwd=elsewhere, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["project_importable"] is False
    for cell, model in trained.items():
        assert answer[cell]["module"].startswith("transformers_modules.")
        assert answer[cell]["class"] == type(model).__name__
        assert answer[cell]["beams"] == expected[cell].tolist()


HUB_USER_SCRIPT = """
import json, sys
import torch
from transformers import AutoModelForSeq2SeqLM

spec = json.load(open(sys.argv[1]))
try:
    import models  # the project: must not be importable here
    answer = {"project_importable": True}
except ImportError:
    answer = {"project_importable": False}
for cell, folder in spec["folders"].items():
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
    with torch.no_grad():
        beams = model.generate(input_ids=torch.tensor(spec["input_ids"]),
                               attention_mask=torch.tensor(spec["attention_mask"]),
                               max_new_tokens=12, num_beams=3, num_return_sequences=2)
    answer[cell] = {"module": type(model).__module__, "class": type(model).__name__, "beams": beams.tolist()}
print(json.dumps(answer))
"""
