"""The Transformer's variants (models/transformer_variants.py): each is the stock model with its one change,
learns, reloads from its folder as itself, and generates with its cache as without it."""

import json
import subprocess
from pathlib import Path

import isolated  # tests/isolated.py
import pytest
import torch
from lineage.comparison.config import CompareConfig, named_row
from lineage.comparison.rows import row_label
from lineage.errors import ConfigError
from lineage.hub.architecture_text import architecture_lines
from lineage.hub.cards import custom_code_files, transformers_versions
from lineage.models import build_model
from lineage.models.transformer_variants import (
    VARIANTS,
    DecoderLSTM,
    EncoderLSTM,
    TransformerVariantConfig,
    TransformerVariantForConditionalGeneration,
)
from lineage.training.config import TrainConfig
from transformers import AutoModelForSeq2SeqLM, PegasusForConditionalGeneration

REPO = Path(__file__).resolve().parents[1]
VOCAB, PAD, BOS, EOS = 40, 0, 1, 2
SOURCES = [[5, 9, 12, 7, 30, EOS], [8, 8, 21, EOS, PAD, PAD], [33, 4, 17, 25, EOS, PAD], [6, 19, EOS, PAD, PAD, PAD]]


class ToyTokenizer:
    pad_token_id, bos_token_id, eos_token_id = PAD, BOS, EOS

    def __len__(self):
        return VOCAB


def toy_batch() -> dict:
    """Reverse each source (a task that needs the whole source and the target so far)."""
    input_ids = torch.tensor(SOURCES)
    attention_mask = (input_ids != PAD).long()
    labels = torch.full_like(input_ids, -100)
    for row, source in enumerate(SOURCES):
        tokens = [t for t in source if t not in (PAD, EOS)][::-1] + [EOS]
        labels[row, :len(tokens)] = torch.tensor(tokens)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def build(variant: str | None, **fields):
    torch.manual_seed(0)
    return build_model("transformer", ToyTokenizer(), size="tiny", dropout=0.0, **VARIANTS.get(variant, {}), **fields)


@pytest.fixture(scope="module")
def trained():
    """Each variant after 30 steps on the toy batch, with its losses."""
    batch, models = toy_batch(), {}
    for variant in VARIANTS:
        model = build(variant).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(30):
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        models[variant] = (model.eval(), losses)
    return models


def test_each_variant_is_the_stock_model_with_its_change():
    stock = build(None)
    assert type(stock) is PegasusForConditionalGeneration
    one_head = build("one-head")  # a pure config change: the stock class
    assert type(one_head) is PegasusForConditionalGeneration
    assert one_head.config.encoder_attention_heads == one_head.config.decoder_attention_heads == 1
    names = {variant: {name for name, _ in build(variant).named_parameters()} for variant in VARIANTS}
    stock_names = {name for name, _ in stock.named_parameters()}
    assert names["one-head"] == stock_names
    assert names["no-residual"] == stock_names  # nothing removed but the additions
    assert names["no-ffn"] == {n for n in stock_names if not any(p in n for p in ("fc1", "fc2", "final_layer_norm."))}
    for variant, side in (("rnn-encoder", "encoder"), ("rnn-decoder", "decoder")):
        model = build(variant)
        assert type(model) is TransformerVariantForConditionalGeneration
        layers = getattr(model.model, side).layers
        unit = EncoderLSTM if side == "encoder" else DecoderLSTM
        assert all(isinstance(layer.self_attn, unit) for layer in layers)
        other = model.model.decoder if side == "encoder" else model.model.encoder
        assert not any(isinstance(layer.self_attn, (EncoderLSTM, DecoderLSTM)) for layer in other.layers)
        assert {n for n in names[variant] if "self_attn." not in n} == {n for n in stock_names if "self_attn." not in n}
    lstm = build("rnn-encoder").model.encoder.layers[0].self_attn.lstm
    assert lstm.bidirectional and lstm.hidden_size == 16  # d_model 32, half per direction


def test_the_variant_layers_with_stock_fields_compute_the_stock_model():
    """The variant layers rewrite the stock layers' forward: with no change they must give the stock logits."""
    stock = build(None).eval()
    same = TransformerVariantForConditionalGeneration(TransformerVariantConfig(**stock.config.to_diff_dict())).eval()
    same.load_state_dict(stock.state_dict())
    batch = toy_batch()
    assert torch.allclose(stock(**batch).logits, same(**batch).logits, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_learns_the_toy_task(trained, variant):
    losses = trained[variant][1]
    assert losses[-1] < 0.75 * losses[0], losses  # no-residual learns slowest: 3.66 to 2.54


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_saved_variant_reloads_as_itself(trained, variant, tmp_path):
    model = trained[variant][0]
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is type(model)
    for field, value in VARIANTS[variant].items():
        assert config[field] == value and getattr(reloaded.config, field) == value
    if type(model) is TransformerVariantForConditionalGeneration:
        assert config["model_type"] == "lineage-transformer-variant"
        assert (tmp_path / "transformer_variants.py").exists() and "AutoModelForSeq2SeqLM" in config["auto_map"]
    batch = toy_batch()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cached_generation_equals_uncached(trained, variant):
    model, batch = trained[variant][0], toy_batch()
    # At least 4 steps each (no end before), so every output is decoded from the cache over several steps.
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "min_new_tokens": 4,
              "max_new_tokens": 8}
    for beams in (1, 3):
        cached = model.generate(**inputs, num_beams=beams, use_cache=True)
        assert cached.shape[1] >= 5 and torch.equal(cached, model.generate(**inputs, num_beams=beams, use_cache=False))


def test_the_decoder_lstm_cache_continues_the_state_step_by_step(trained):
    """Logits of one decoding step at a time, from the cache, equal those of one forward over the whole target."""
    model, batch = trained["rnn-decoder"][0], toy_batch()
    targets = model.prepare_decoder_input_ids_from_labels(batch["labels"].clamp(min=0))
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     decoder_input_ids=targets, use_cache=False).logits
        encoded = model.get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        cache, steps = None, []
        for position in range(targets.shape[1]):
            out = model(encoder_outputs=encoded, attention_mask=batch["attention_mask"],
                        decoder_input_ids=targets[:, position:position + 1], cache=cache, use_cache=True)
            cache = out.cache if hasattr(out, "cache") else out.past_key_values
            steps.append(out.logits)
    assert cache.get_seq_length() == targets.shape[1]  # one stored state per position: the positions read it
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_a_training_forward_runs_the_decoder_lstm_once_over_the_whole_target():
    """The training loop calls the model without `use_cache`: no cache, so no step-by-step loop."""
    model, calls = build("rnn-decoder").train(), []
    for layer in model.model.decoder.layers:
        layer.self_attn.lstm.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[1]))
    batch = toy_batch()
    output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   decoder_input_ids=model.prepare_decoder_input_ids_from_labels(batch["labels"].clamp(min=0)))
    assert calls == [batch["labels"].shape[1]] * len(model.model.decoder.layers)
    assert getattr(output, "cache", getattr(output, "past_key_values", None)) is None


def test_the_encoder_lstm_reads_each_source_to_its_length():
    model = build("rnn-encoder").eval()
    batch = toy_batch()
    with torch.no_grad():
        together = model.get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
        for row, source in enumerate(SOURCES):
            length = sum(t != PAD for t in source)
            alone = model.get_encoder()(input_ids=torch.tensor([source[:length]]))[0]
            assert torch.allclose(together[row, :length], alone[0], atol=1e-5)


def test_variant_folders_load_in_a_fresh_process_without_lineage(trained, tmp_path):
    """The Hub user's view: trust_remote_code loads each custom variant from its folder alone, outputs unchanged."""
    assert isolated.third_party_imports(REPO / "models" / "transformer_variants.py") <= {"torch", "transformers"}
    batch, expected = toy_batch(), {}
    for variant in ("no-ffn", "no-residual", "rnn-encoder", "rnn-decoder"):
        trained[variant][0].save_pretrained(tmp_path / variant)
        expected[variant] = trained[variant][0].generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                                         num_beams=3, max_new_tokens=8).tolist()
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys, torch\n"
        "from transformers import AutoModelForSeq2SeqLM\n"
        f"ids = torch.tensor({SOURCES}); mask = (ids != {PAD}).long(); found = {{}}\n"
        f"for name in {list(expected)}:\n"
        f"    model = AutoModelForSeq2SeqLM.from_pretrained({str(tmp_path)!r} + '/' + name, trust_remote_code=True)\n"
        "    found[name] = [type(model).__name__, model.eval().generate(input_ids=ids, attention_mask=mask, num_beams=3,"
        " max_new_tokens=8).tolist()]\n"
        "print(json.dumps(found))\n"
    )
    command, env = isolated.isolated_python_command(probe, HF_HOME=str(tmp_path / "hf-home"))
    done = subprocess.run(command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]
    found = json.loads(done.stdout)
    for variant, outputs in expected.items():
        assert found[variant] == ["TransformerVariantForConditionalGeneration", outputs]


def test_rows_name_the_variants_and_only_the_transformer_has_them():
    assert named_row("transformer-no-ffn") == ("transformer-no-ffn", "transformer", {"transformer_variant": "no-ffn"})
    with pytest.raises(ConfigError, match="variant of the Transformer only"):
        named_row("lstm-rnn-encoder")
    rows = CompareConfig(tasks="multi30k", archs="lstm,transformer", variants="one-head,no-residual").resolved().row_specs()
    assert [name for name, _, _ in rows] == ["lstm", "transformer", "transformer-one-head", "transformer-no-residual"]
    with pytest.raises(ConfigError, match="changes the Transformer"):
        TrainConfig(output_dir="x", arch="lstm", transformer_variant="no-ffn", max_steps=1).resolved()
    with pytest.raises(ConfigError, match="unknown transformer_variant"):
        TrainConfig(output_dir="x", arch="transformer", transformer_variant="no-heads", max_steps=1).resolved()
    labels = {variant: row_label("transformer", build(variant).config.to_dict(), "random") for variant in VARIANTS}
    assert labels == {
        "one-head": "Transformer (one attention head)", "no-ffn": "Transformer (no feed-forward blocks)",
        "no-residual": "Transformer (no residual connections)",
        "rnn-encoder": "Transformer (LSTM in place of encoder self-attention)",
        "rnn-decoder": "Transformer (LSTM in place of decoder self-attention)",
    }


def test_cards_say_what_a_variant_changes_and_whether_it_is_custom_code():
    no_ffn, one_head = build("no-ffn").config.to_dict(), build("one-head").config.to_dict()
    assert architecture_lines("transformer", no_ffn, "attention")[0].endswith(
        "with no feed-forward blocks. The change is custom code (`transformer_variants.py`).")
    assert custom_code_files("transformer", no_ffn) == "`transformer_variants.py`"
    assert architecture_lines("transformer", one_head, "attention")[0].endswith(
        "with one attention head. It loads without custom code.")
    assert custom_code_files("transformer", one_head) == ""
    # Checked by hand: a variant folder fails to load under transformers 4.57 (PegasusEncoder.forward's arguments).
    assert "does not load with transformers 4.x" in transformers_versions(no_ffn)
    assert "4.x the built-in pipelines" in transformers_versions(one_head)
