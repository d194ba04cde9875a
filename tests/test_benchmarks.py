"""The speed benchmark (lineage.speed, benchmarks/speed.py): FLOP counts and the result document.

Speed itself is never asserted: these tests run the benchmark at the tiny
size with two lengths and one step, and check what it writes.
"""

import json
from pathlib import Path

import isolated
import pytest
import torch
from lineage.models.recurrent.configuration_recurrent import LSTMConfig, MinGRUConfig, MinLSTMConfig, RNNConfig
from lineage.models.recurrent.modeling_recurrent import MinGRUForConditionalGeneration, MinLSTMForConditionalGeneration
from lineage.models.transformer import transformer_config
from lineage.speed.config import MODELS, build
from lineage.speed.decoding import predicted_seconds
from lineage.speed.flops import forward_flops, training_flops_per_target_token
from lineage.speed.training import flops_check

ROOT = Path(__file__).resolve().parents[1]
speed_script = isolated.load_by_path("lineage_speed_script", ROOT / "benchmarks" / "speed.py")

IDS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)


@pytest.mark.parametrize("name", list(MODELS))
def test_analytic_flops_match_torch_flop_counter(name):
    """Forward and training counts equal what FlopCounterMode sees on the real model (the tiny size)."""
    model = build(name, "tiny", max_length=16, vocab_size=300)
    check = flops_check(model, batch_size=2, length=12)
    assert check["analytic_forward"] == check["counted_forward"]
    # Backward = 2 x forward, except for a few products whose input gradient is not needed.
    assert check["ratio_training"] == pytest.approx(1.0, rel=0.005)


def test_recurrent_flops_scale_with_gates():
    sizes = dict(vocab_size=500, embedding_size=48, hidden_size=64, encoder_layers=2, decoder_layers=2, **IDS)
    for attention in ("none", "luong-general", "bahdanau"):
        rnn = forward_flops(RNNConfig(attention=attention, **sizes), 20, 20)
        gru = forward_flops(RNNConfig(cell="gru", attention=attention, **sizes), 20, 20)
        lstm = forward_flops(LSTMConfig(attention=attention, **sizes), 20, 20)
        for part in ("encoder_recurrent", "decoder_recurrent"):
            assert lstm[part] == 4 * rnn[part] > 0
            assert gru[part] == 3 * rnn[part]
        for part in ("attention", "pre_output", "lm_head"):  # the same outside the cells
            assert lstm[part] == rnn[part] == gru[part]
    # Without attention, a recurrent model's per-token work does not depend on the source length.
    config = LSTMConfig(attention="none", **sizes)
    short, long = forward_flops(config, 10, 10), forward_flops(config, 100, 100)
    assert long["encoder_recurrent"] + long["decoder_recurrent"] == 10 * (
        short["encoder_recurrent"] + short["decoder_recurrent"]
    )
    assert long["attention"] == short["attention"] == 0


@pytest.mark.parametrize("config_class, model_class, blocks", [
    (MinGRUConfig, MinGRUForConditionalGeneration, 2), (MinLSTMConfig, MinLSTMForConditionalGeneration, 3),
])
def test_minimal_cell_flops_are_their_projections_once_per_token(config_class, model_class, blocks):
    """minGRU / minLSTM: every weight of a layer's one projection multiplies once per token (2 FLOPs), with
    nothing for the state: the count is 2 x the projections' weights, and per token it is the same at any length."""
    sizes = dict(vocab_size=500, embedding_size=48, hidden_size=64, encoder_layers=2, decoder_layers=2, **IDS)
    config = config_class(attention="luong-general", **sizes)
    model = model_class(config)
    for part, rnn in (("encoder_recurrent", model.encoder.rnn), ("decoder_recurrent", model.decoder.rnn)):
        weights = sum(projection.weight.numel() for projection in rnn.projections)
        assert forward_flops(config, 20, 20)[part] == 20 * 2 * weights
        assert forward_flops(config, 100, 100)[part] == 5 * forward_flops(config, 20, 20)[part]
    # Against the LSTM of the same sizes: `blocks` of its 4 input blocks, no recurrent ones; the rest is the same.
    cells, lstm = forward_flops(config, 20, 20), forward_flops(LSTMConfig(attention="luong-general", **sizes), 20, 20)
    # 2 directions x 2 FLOPs x blocks x units (32 per direction) x input (48, then both directions' 64), 20 tokens.
    units, embedding = 32, 48
    assert cells["encoder_recurrent"] == 20 * 2 * 2 * blocks * units * (embedding + 2 * units)
    for part in ("attention", "pre_output", "lm_head"):
        assert cells[part] == lstm[part]
    assert cells["bridge"] == lstm["bridge"] // 2  # one bridge per layer: no cell state


def test_transformer_flops_grow_with_length_through_attention():
    d, encoder_layers, decoder_layers = 64, 2, 3
    config = transformer_config(
        vocab_size=500, max_position=512, d_model=d, encoder_layers=encoder_layers, decoder_layers=decoder_layers,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, **IDS,
    )
    per_token = {length: training_flops_per_target_token(config, length) for length in (16, 32, 64)}
    assert per_token[16] < per_token[32] < per_token[64]
    # Only the attention scores grow: 3 x 4 d (encoder layers + 2 decoder layers) per token of length.
    slope = 3 * 4 * d * (encoder_layers + 2 * decoder_layers)
    assert per_token[32] - per_token[16] == slope * 16
    assert per_token[64] - per_token[32] == slope * 32
    parts_16, parts_64 = forward_flops(config, 16, 16), forward_flops(config, 64, 64)
    assert parts_64["encoder_projections"] == 4 * parts_16["encoder_projections"]
    assert parts_64["encoder_attention"] == 16 * parts_16["encoder_attention"]


def positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0


def test_benchmark_writes_json_and_plot(tmp_path, capsys):
    args = [
        "--sizes", "tiny", "--lengths", "8,16", "--batch_tokens", "128", "--warmup_steps", "1", "--steps", "1",
        "--min_steps", "1", "--decode_batch", "2", "--beams", "2", "--cache_ratio_length", "16",
        "--uncached_max_length", "8", "--decode_max_seconds", "1000", "--decode_repeats", "1", "--output_dir", str(tmp_path),
        "--tag", "check", "--note", "a loaded machine",
    ]
    assert speed_script.main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    json_path, plot_path = Path(printed["result_path"]), Path(printed["plot_path"])
    assert json_path.parent == tmp_path and json_path.name.endswith(f"-{printed['date']}-check.json")
    assert printed["settings"]["note"] == "a loaded machine"
    assert json.loads(json_path.read_text()) == printed
    assert plot_path.name == json_path.stem + "-throughput.png"
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))

    result = printed
    assert positive(result["total_seconds"])
    environment = result["environment"]
    for key in ("torch", "transformers", "accelerate", "cpu_model", "device", "precision", "hostname"):
        assert environment[key], key
    assert environment["torch"] == torch.__version__
    assert positive(environment["torch_threads"]) and environment["device"] == "cpu"
    assert environment["precision"] == "fp32"
    for key in ("training", "decoding", "memory_cpu", "flops", "ceiling"):
        assert result["methods"][key]
    ceiling = result["ceiling"]
    assert positive(ceiling["gflops_median"]) and ceiling["dtype"] == "float32"
    assert ceiling["gflops_median"] == max(
        ceiling["gflops_median_at_start"], ceiling["gflops_median_after_training"]
    )

    names = [f"tiny/{name}" for name in MODELS]
    assert sorted(result["models"]) == sorted(names)
    for info in result["models"].values():
        assert positive(info["parameters"]) and positive(info["non_embedding_parameters"])
        assert all(positive(v) for v in info["flops_per_target_token"].values())
        assert info["flops_check"]["ratio_training"] == pytest.approx(1.0, rel=0.005)

    assert len(result["training"]) == len(names) * 2
    for row in result["training"]:
        assert row["batch_size"] == 128 // row["length"]
        for key in ("tokens_per_second", "median_step_seconds", "training_flops_per_target_token",
                    "achieved_gflops", "fraction_of_ceiling"):
            assert positive(row[key]), (row["model"], key)
        assert len(row["step_seconds"]) == 1 and len(row["warmup_seconds"]) == 1
        assert positive(row["cpu_share"]) and row["load_average_1min"] >= 0
        assert positive(row["memory"]["peak_rss_mb"]) and row["memory"]["training_delta_mb"] >= 0
    assert sorted(result["summary"]["training_tokens_per_second"]) == sorted(names)
    for growth in result["summary"]["training_throughput_longest_vs_shortest"].values():
        assert (growth["from_length"], growth["to_length"]) == (8, 16) and positive(growth["tokens_per_second_ratio"])

    settings = {(row["num_beams"], row["batch_size"], row["use_cache"]) for row in result["decoding"]}
    assert settings == {(beams, batch, cache) for beams in (1, 2) for batch in (1, 2) for cache in (True, False)}
    for row in result["decoding"]:
        if row.get("skipped"):
            assert row["sentences_per_second"] is None
            assert not row["use_cache"] and row["length"] > 8  # only the uncached cap applies here
        else:
            assert positive(row["sentences_per_second"]) and positive(row["tokens_per_second"])
            assert row["new_tokens"] == row["length"]
    # The cached / uncached comparison runs for every model, beyond the uncached cap.
    assert sorted(result["cache_speedup"]) == sorted(names)
    for speedup in result["cache_speedup"].values():
        assert speedup["length"] == 16 and positive(speedup["ratio"])
        assert isinstance(speedup["at_least_3x"], bool)


def test_a_tag_that_is_not_a_file_name_stops_before_measuring(tmp_path):
    with pytest.raises(SystemExit, match="--tag 'a/b'"):
        speed_script.main(["--tag", "a/b", "--output_dir", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_decoding_time_prediction():
    # One point: linear growth with the cache, quadratic without.
    assert predicted_seconds([(16, 1.0)], 32, use_cache=True) == pytest.approx(2.0)
    assert predicted_seconds([(16, 1.0)], 32, use_cache=False) == pytest.approx(4.0)
    # Two points: their own exponent (here 3), never below linear.
    assert predicted_seconds([(16, 1.0), (32, 8.0)], 64, use_cache=True) == pytest.approx(64.0)
    assert predicted_seconds([(16, 1.0), (32, 1.0)], 64, use_cache=False) == pytest.approx(2.0)


def test_fast_paths_time_each_path_with_and_without_it():
    """benchmarks/fast_paths.py at the tiny size: both variants measured, the ratio reported,
    and length bucketing really cuts the padding of random batches."""
    fast_paths = isolated.load_by_path("lineage_fast_paths_script", ROOT / "benchmarks" / "fast_paths.py")

    (fused,) = fast_paths.fused_decoder(lengths=(8,), batch_tokens=64, steps=1, size="tiny")
    threads = fast_paths.threads(length=8, batch_tokens=64, steps=1, size="tiny")
    inference = fast_paths.inference_mode(length=4, batch_size=2, size="tiny")
    (cached,) = fast_paths.cached_decoding(length=6, size="tiny", models=("lstm-luong-general",))
    assert positive(cached["uncached"]) and positive(cached["without_native_step_only"])
    assert cached["cache_speedup"] == pytest.approx(cached["with"] / cached["uncached"])
    (freed,) = fast_paths.freed_memory(models=("lstm-luong-general",), length=8, batch_tokens=64, steps=1, size="tiny")
    assert positive(freed["peak_rss_mb"]["with"]) and positive(freed["peak_rss_mb"]["without"])
    for row in (fused, inference, cached, freed):
        assert positive(row["with"]) and positive(row["without"])
        assert row["speedup"] == pytest.approx(row["with"] / row["without"])
    by_threads = threads["tokens_per_second_by_threads"]
    assert {1, threads["physical_cores"], 2 * threads["physical_cores"]} == set(by_threads)
    assert threads["speedup_vs_one_thread"] == pytest.approx(by_threads[threads["physical_cores"]] / by_threads[1])

    bucketing = fast_paths.length_bucketing(batch_tokens=512, steps=1, size="tiny", train_samples=2000)
    assert bucketing["with"]["padding_fraction"] < 0.15 < bucketing["without"]["padding_fraction"]
    assert bucketing["with"]["batches_per_epoch"] < bucketing["without"]["batches_per_epoch"]


def test_profile_step_splits_the_step_into_phases_and_operators(tmp_path):
    """benchmarks/profile_step.py at the tiny size: the four phases of the training step, operators by self time,
    and the matrix products' share and speed against the ceiling."""
    profile_step = isolated.load_by_path("lineage_profile_step_script", ROOT / "benchmarks" / "profile_step.py")
    assert profile_step.main(["--models", "transformer,lstm-luong-general", "--size", "tiny", "--length", "8",
                              "--batch_tokens", "64", "--warmup", "1", "--steps", "1", "--top", "5",
                              "--output_dir", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*-profile.json")
    document = json.loads(path.read_text())
    for row in document["models"]:
        assert set(row["phases"]) == set(profile_step.PHASES) and all(positive(ms) for ms in row["phases"].values())
        self_times = [operator["self_ms_per_step"] for operator in row["operators"]]
        assert len(self_times) == 5 and self_times == sorted(self_times, reverse=True)
        assert 0 < row["matrix_products_share"] < 1 and positive(row["matrix_products_fraction_of_ceiling"])
        assert row["fraction_of_ceiling"] == pytest.approx(row["achieved_gflops"] / document["ceiling"]["gflops_median"])
