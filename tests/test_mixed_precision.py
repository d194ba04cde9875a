"""bf16 mixed precision on the CPU: every architecture trains, evaluates and generates under
`--mixed_precision bf16` (Accelerate's bf16 autocast), with losses close to float32 on the same batches.

A dtype error in a model (an index op given bfloat16 beside float32, a float32 constant in a bfloat16
tensor) shows here, on any CPU, instead of on a GPU after the data has loaded.
"""

import json
import math
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from lineage.data.tokenizer import load_tokenizer
from lineage.evaluation.generation import generate_texts
from lineage.environment import cpu_supports_bf16
from lineage.errors import ConfigError
from lineage.training import TrainConfig, preparation, train
from transformers import AutoModelForSeq2SeqLM

STEPS = 6
# Every architecture of models/architectures.py, and the recurrent options that add their own tensor
# operations: attention (or none), input feeding, copy attention's scatter_add and coverage.
VARIANTS = {
    "rnn": dict(arch="rnn"),
    "lstm": dict(arch="lstm"),
    "lstm-no-attention": dict(arch="lstm", attention="none"),
    "lstm-pointer-generator": dict(arch="lstm", input_feeding=True, copy_attention=True, coverage=True),
    "transformer": dict(arch="transformer"),
    "mingru": dict(arch="mingru"),
    "minlstm": dict(arch="minlstm"),
}
# Tolerances. bfloat16 keeps 8 significant bits: autocast rounds the inputs of every matmul and recurrent
# kernel to 2^-9 (0.2%) and accumulates in float32, and the loss itself is float32. A token's loss thus moves
# by about 0.1%, and the batch mean, over hundreds of tokens whose errors partly cancel, by less: measured
# here 0.00004% to 0.005% on the first step, the same weights and batch (2026-12-07, every variant). 0.2%, one
# bfloat16 rounding of the loss, leaves 40x room for rounding, not for an error that changes what is computed
# (a mask lost or filled with an overflowing value, a term dropped, a NaN). After the first update the runs
# follow their own weights; 1% over the last three steps (measured: at most 0.002%) and on the validation loss.
FIRST_STEP = 0.002
AFTER_STEPS = 0.01


def losses(run: Path) -> list[float]:
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [event["loss"] for event in events if event["event"] == "train"]


def evaluations(run: Path) -> list[dict]:
    return [event for event in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if event["event"] == "eval"]


def run_config(output_dir: Path, precision: str, tokenizer: Path | None, **variant) -> TrainConfig:
    settings = {**dict(preset="test", train_samples=120, vocab_size=400, seed=3, max_steps=STEPS, eval_every=STEPS,
                       save_every=STEPS, eval_samples=4, log_every=1), **variant}
    return TrainConfig(output_dir=str(output_dir), mixed_precision=precision,
                       tokenizer=str(tokenizer) if tokenizer else None, **settings)


@pytest.fixture
def bf16_instructions(monkeypatch):
    """Training as on a CPU with bf16 instructions, on any CPU: one without them emulates bf16 (slower, the same
    numbers), which is all a dtype check needs, except in the LSTM's kernel, which refuses it there."""
    monkeypatch.setattr(preparation, "cpu_supports_bf16", lambda: True)


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """Accelerate keeps one process-wide state whose mixed precision cannot change once set: a process trains in
    one precision (as `lineage train` and every row of a `lineage compare` do). Each run here starts afresh."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module")
def reference_tokenizer(tmp_path_factory) -> Path:
    """One tokenizer for every run, so that fp32 and bf16 see the same batches."""
    run = tmp_path_factory.mktemp("tokenizer")
    train(run_config(run, "no", None, arch="lstm", max_steps=1, eval_every=1, save_every=1))
    return run / "tokenizer"


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_bf16_trains_like_fp32_on_the_same_batches(tmp_path, reference_tokenizer, bf16_instructions, variant):
    settings = VARIANTS[variant]
    if settings["arch"] == "lstm" and not cpu_supports_bf16():
        pytest.skip("torch's LSTM kernel refuses bf16 on a CPU without bf16 instructions, where bf16 training is "
                    "refused (test_bf16_is_refused_on_a_cpu_without_bf16_instructions)")
    fp32 = train(run_config(tmp_path / "fp32", "no", reference_tokenizer, **settings))
    AcceleratorState._reset_state(reset_partial_state=True)
    bf16 = train(run_config(tmp_path / "bf16", "bf16", reference_tokenizer, **settings))
    assert (fp32["mixed_precision"], bf16["mixed_precision"]) == ("no", "bf16")
    assert fp32["steps"] == bf16["steps"] == STEPS and fp32["target_tokens"] == bf16["target_tokens"]

    full, half = losses(tmp_path / "fp32"), losses(tmp_path / "bf16")
    assert len(half) == STEPS and all(math.isfinite(loss) for loss in half)
    assert half != full, "bf16 gave float32's losses to the last digit: autocast did not run"
    assert half[0] == pytest.approx(full[0], rel=FIRST_STEP)
    assert sum(half[-3:]) == pytest.approx(sum(full[-3:]), rel=AFTER_STEPS)

    # The run's own evaluation (validation loss and greedy decoding) ran under autocast too.
    evaluation = evaluations(tmp_path / "bf16")[-1]
    assert math.isfinite(evaluation["val_loss"])
    assert evaluation["val_loss"] == pytest.approx(evaluations(tmp_path / "fp32")[-1]["val_loss"], rel=AFTER_STEPS)
    generates_as_saved_and_under_autocast(tmp_path / "bf16" / "best")


def generates_as_saved_and_under_autocast(folder: Path) -> None:
    """The saved model holds float32 weights (autocast keeps the master weights in float32); beam search runs on
    it as saved and under bf16 autocast."""
    model, tokenizer = AutoModelForSeq2SeqLM.from_pretrained(folder), load_tokenizer(folder)
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}
    sources = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    as_saved = generate_texts(model, tokenizer, sources, 32, num_beams=2, max_new_tokens=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = generate_texts(model, tokenizer, sources, 32, num_beams=2, max_new_tokens=8)
    assert len(as_saved) == len(autocast) == 2 and all(isinstance(text, str) for text in as_saved + autocast)


def test_bf16_is_refused_on_a_cpu_without_bf16_instructions(tmp_path, monkeypatch):
    """Where torch only emulates bf16 (many times slower than float32, and an LSTM kernel that refuses it), the
    run stops with one line before it loads any data."""
    monkeypatch.setattr(preparation, "cpu_supports_bf16", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no bf16 instructions"):
        train(run_config(tmp_path / "bf16", "bf16", None, arch="lstm"))
    assert not (tmp_path / "bf16" / "tokenizer").exists()
