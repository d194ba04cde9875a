"""The training loop: learning, distribution, exact resumption, checkpoint errors."""

import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from launch import finish, kill_tree, run_script, two_cpu_processes
from lineage.configs import parse_config
from lineage.errors import ConfigError
from lineage.training.checkpoints import CheckpointError
from lineage.training.config import TrainConfig
from lineage.training.loop import train
from safetensors.torch import load_file

# Small enough for seconds per run, real enough to learn: 300 Multi30k pairs, a 400-piece vocabulary.
TINY = dict(preset="test", train_samples=300, vocab_size=400, eval_samples=16, log_every=5)


def tiny_flags(output_dir, **overrides) -> list[str]:
    values = {**TINY, "output_dir": str(output_dir), **overrides}
    return [item for key, value in values.items() for item in (f"--{key}", str(value))]


def read_log(run: Path, event: str) -> list[dict]:
    return [e for e in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if e["event"] == event]


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    last = sorted((run / "checkpoints").glob("step-*"))[-1]
    return load_file(str(last / "model.safetensors"))


def run_train(flags: list[str], launcher: list[str] | None = None, **env):
    return run_script("train.py", flags, launcher, **env)


@pytest.mark.parametrize("arch", ["rnn", "lstm", "transformer"])
def test_each_architecture_learns_on_a_multi30k_slice(tmp_path, arch):
    result = train(parse_config(TrainConfig, tiny_flags(tmp_path, arch=arch, max_steps=100, eval_every=50)))
    evaluations = read_log(tmp_path, "eval")
    uniform = torch.log(torch.tensor(400.0)).item()  # the loss of a model that knows nothing
    assert [e["step"] for e in evaluations] == [50, 100]
    assert evaluations[-1]["val_loss"] < uniform - 0.8
    assert evaluations[-1]["val_loss"] < evaluations[0]["val_loss"]
    assert result["steps"] == 100 and result["stop_reason"] == "max steps"
    assert result["best_step"] in (50, 100) and result["target_tokens_per_second"] > 0
    assert (tmp_path / "best" / "model.safetensors").exists()


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    """Rank r takes batches r::2; one process accumulating 2 batches sees the same pairs."""
    common = dict(arch="lstm", max_steps=12, eval_every=12, save_every=12, seed=3, ddp_timeout=120)
    finish(run_train(tiny_flags(tmp_path / "ddp", **common), two_cpu_processes(), ACCELERATE_USE_CPU="1"))
    train(parse_config(TrainConfig, tiny_flags(tmp_path / "single", gradient_accumulation_steps=2, **common)))

    ddp_result = json.loads((tmp_path / "ddp" / "train_result.json").read_text())
    single_result = json.loads((tmp_path / "single" / "train_result.json").read_text())
    assert ddp_result["num_processes"] == 2 and single_result["num_processes"] == 1
    assert len(set(ddp_result["rank_checksums"])) == 1, "ranks hold different weights"
    assert ddp_result["target_tokens"] == single_result["target_tokens"]
    ddp_loss = read_log(tmp_path / "ddp", "eval")[-1]["val_loss"]
    single_loss = read_log(tmp_path / "single", "eval")[-1]["val_loss"]
    assert ddp_loss == pytest.approx(single_loss, rel=1e-4)
    ddp_weights, single_weights = final_weights(tmp_path / "ddp"), final_weights(tmp_path / "single")
    for name, tensor in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], tensor, rtol=1e-4, atol=1e-5)


# Kill/resume parity: one setting per schedule and step kind that carries state across a checkpoint.
PARITY = dict(arch="lstm", max_steps=40, eval_every=10, save_every=10, seed=1, dropout=0.2)
PARITY_VARIANTS = {
    "constant": {},  # the tiny preset's schedule
    "plateau": dict(schedule="plateau", plateau_every=5),
    "inverse_sqrt": dict(schedule="inverse_sqrt", warmup_steps=10),
    "accumulation": dict(gradient_accumulation_steps=2),
    "two_processes": dict(ddp_timeout=120),
}
# A slow disk: each checkpoint's custom states (schedule, sampler, TrainState) wait a second before they are
# written, so a kill lands inside the checkpoint write (it takes ~5 ms otherwise).
SLOW_DISK = [sys.executable, "-c", """
import runpy, sys, time
import accelerate.accelerator as accelerator
save = accelerator.save_custom_state
def slow(obj, path, index=0, **kwargs):
    time.sleep(1.0 if index == 0 else 0.0)
    return save(obj, path, index, **kwargs)
accelerator.save_custom_state = slow
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""]


def kill_when(process, ready, timeout: int = 300) -> None:
    """SIGKILL the run (and every process it started) as soon as `ready()` holds."""
    deadline = time.time() + timeout
    while not ready():
        assert process.poll() is None and time.time() < deadline, "the run ended before the kill point"
        time.sleep(0.001)
    kill_tree(process)


def assert_same_run(straight: Path, resumed: Path) -> None:
    """The same final weights bit for bit, the same evaluations, and no staging left behind."""
    expected, found = final_weights(straight), final_weights(resumed)
    assert expected.keys() == found.keys()
    for name in expected:
        assert torch.equal(expected[name], found[name]), name
    evaluations = [[(e["step"], e["val_loss"]) for e in read_log(run, "eval")] for run in (straight, resumed)]
    assert evaluations[0] == evaluations[1]
    assert [p.name for p in (resumed / "checkpoints").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("variant", PARITY_VARIANTS)
def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path, variant):
    flags = {**PARITY, **PARITY_VARIANTS[variant]}
    launcher, env = (two_cpu_processes(), {"ACCELERATE_USE_CPU": "1"}) if variant == "two_processes" else (None, {})
    finish(run_train(tiny_flags(tmp_path / "straight", **flags), launcher, **env))

    interrupted = tmp_path / "interrupted"
    kill_when(run_train(tiny_flags(interrupted, **flags), launcher, **env),
              (interrupted / "checkpoints" / "step-00000020").exists)
    assert not (interrupted / "train_result.json").exists()
    output = finish(run_train(tiny_flags(interrupted, resume="true", **flags), launcher, **env))
    if variant == "two_processes":
        assert json.loads((interrupted / "train_result.json").read_text())["num_processes"] == 2, output[-2000:]
    assert_same_run(tmp_path / "straight", interrupted)


def test_a_run_killed_during_a_checkpoint_write_resumes_to_the_same_weights(tmp_path):
    finish(run_train(tiny_flags(tmp_path / "straight", **PARITY)))

    interrupted = tmp_path / "interrupted"
    staging = interrupted / "checkpoints" / ".step-00000020.tmp"
    kill_when(run_train(tiny_flags(interrupted, **PARITY), SLOW_DISK), staging.exists)
    assert staging.is_dir() and not (interrupted / "checkpoints" / "step-00000020").exists(), "not killed mid-write"
    finish(run_train(tiny_flags(interrupted, resume="true", **PARITY)))
    assert_same_run(tmp_path / "straight", interrupted)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 10-step RNN run; tests copy it before changing it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    train(parse_config(TrainConfig, tiny_flags(run, **RUN)))
    return run


RUN = dict(arch="rnn", max_steps=10, eval_every=10, save_every=10)


def copy_of(run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp_path / "run"))


@pytest.mark.parametrize("changes, message", [
    # Kept the old rate (optimizer and schedule state come from the checkpoint) while reporting the new one.
    (dict(learning_rate=0.01), "learning_rate: 0.003 -> 0.01"),
    # Re-applied the sampler's position to a different batch list.
    (dict(batch_tokens=256, seed=5, train_samples=200),
     "train_samples: 300 -> 200; seed: 0 -> 5; batch_tokens: 512 -> 256"),
    # Was reported as "checkpoint unreadable".
    (dict(arch="lstm"), "arch: 'rnn' -> 'lstm'"),
    (dict(size="small"), "size: 'tiny' -> 'small'"),
])
def test_resuming_with_a_changed_defining_setting_is_refused(finished_run, tmp_path, changes, message):
    run = copy_of(finished_run, tmp_path)
    before = (run / "run.json").read_text()
    with pytest.raises(ConfigError, match=f"cannot resume {run}: .*\\({re.escape(message)}\\)"):
        train(parse_config(TrainConfig, tiny_flags(run, **{**RUN, "max_steps": 20, **changes}, resume="true")))
    assert (run / "run.json").read_text() == before


def test_a_larger_budget_and_another_eval_frequency_are_allowed_and_recorded(finished_run, tmp_path):
    run = copy_of(finished_run, tmp_path)
    result = train(parse_config(TrainConfig, tiny_flags(run, **{**RUN, "max_steps": 20, "eval_every": 5}, resume="true")))
    assert result["steps"] == 20
    record = json.loads((run / "run.json").read_text())
    assert record["settings"]["max_steps"] == 20 and record["settings"]["eval_every"] == 5
    assert [c["changed"] for c in record["changes"]] == [{"max_steps": [10, 20], "eval_every": [10, 5]}]


@pytest.mark.parametrize("schedule, change, message", [
    ("linear", dict(max_steps=20), "max_steps: 10 -> 20"),  # the rate decays to zero at max_steps
    ("plateau", dict(plateau_every=5), "plateau_every: 10 -> 5"),  # the schedule's own clock
])
def test_a_setting_the_schedule_reads_defines_the_run(tmp_path, schedule, change, message):
    flags = dict(RUN, schedule=schedule, **({"plateau_every": 10} if schedule == "plateau" else {}))
    train(parse_config(TrainConfig, tiny_flags(tmp_path, **flags)))
    with pytest.raises(ConfigError, match=message):
        train(parse_config(TrainConfig, tiny_flags(tmp_path, **{**flags, **change}, resume="true")))


def test_training_into_a_folder_that_holds_a_run_needs_resume_or_overwrite(finished_run, tmp_path):
    """Without --resume the old tokenizer was reused, the first evaluation always 'improved' and replaced
    the old best/, log.jsonl was appended to, and the new step-10 checkpoint was pruned at once."""
    run = copy_of(finished_run, tmp_path)
    longer = {**RUN, "max_steps": 30}
    train(parse_config(TrainConfig, tiny_flags(run, **longer, resume="true")))
    with pytest.raises(ConfigError, match=f"{run} already holds a run .*--resume true.*--overwrite true"):
        train(parse_config(TrainConfig, tiny_flags(run, **RUN)))
    with pytest.raises(ConfigError, match="give one of them"):
        train(parse_config(TrainConfig, tiny_flags(run, **RUN, resume="true", overwrite="true")))

    (run / "notes.txt").write_text("mine")
    tokenizer = (run / "tokenizer" / "tokenizer.json").stat().st_mtime_ns
    result = train(parse_config(TrainConfig, tiny_flags(run, **RUN, vocab_size=300, overwrite="true")))
    assert result["steps"] == 10
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000010"]
    assert [e["step"] for e in read_log(run, "eval")] == [10]
    assert (run / "tokenizer" / "tokenizer.json").stat().st_mtime_ns != tokenizer
    assert json.loads((run / "run.json").read_text())["settings"]["vocab_size"] == 300
    assert (run / "notes.txt").read_text() == "mine"  # only the run's own files are deleted


def test_a_torn_log_line_is_dropped_on_resume(tmp_path):
    """A crash (or a full disk) in the middle of a log write leaves a torn last line; resuming drops it."""
    flags = tiny_flags(tmp_path, arch="rnn", max_steps=10, eval_every=10, save_every=10)
    train(parse_config(TrainConfig, flags))
    with open(tmp_path / "log.jsonl", "a") as log:
        log.write('{"event": "train", "step": 11, "lo')
    resumed = train(parse_config(TrainConfig, tiny_flags(tmp_path, arch="rnn", max_steps=20, eval_every=10, save_every=10,
                                                  resume="true")))
    assert resumed["steps"] == 20
    assert [e["step"] for e in read_log(tmp_path, "eval")] == [10, 20]


def test_a_best_model_caught_mid_swap_is_restored_on_resume(tmp_path):
    """Killed between the two renames of a folder swap, best/ is missing and its last copy lies aside."""
    flags = tiny_flags(tmp_path, arch="rnn", max_steps=10, eval_every=10, save_every=10)
    train(parse_config(TrainConfig, flags))
    (tmp_path / "best").rename(tmp_path / ".best.old-4242")
    train(parse_config(TrainConfig, flags + ["--resume", "true"]))
    assert (tmp_path / "best" / "model.safetensors").exists()
    assert not (tmp_path / ".best.old-4242").exists()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    flags = tiny_flags(tmp_path, arch="rnn", max_steps=5, resume_from=str(tmp_path / "nowhere"))
    with pytest.raises(CheckpointError, match="nowhere does not exist"):
        train(parse_config(TrainConfig, flags))


def test_config_from_yaml_file_and_preset_defaults(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(f"output_dir: {tmp_path / 'run'}\narch: transformer\npreset: demo\nmax_steps: 5\n")
    config = parse_config(TrainConfig, [str(path)]).resolved()
    assert (config.arch, config.schedule, config.size, config.batch_tokens) == ("transformer", "inverse_sqrt", "small", 1024)
    with pytest.raises(ValueError, match="set a budget"):
        TrainConfig(output_dir=str(tmp_path)).resolved()
    with pytest.raises(ValueError, match="unknown architecture 'gpt'"):
        TrainConfig(output_dir=str(tmp_path), arch="gpt", max_steps=1).resolved()


def test_the_rnn_recipe_reaches_the_model_and_a_flag_or_an_attention_that_does_not_read_it_drops_it(tmp_path):
    from lineage.models import model_config

    def rnn_config(task, **flags):
        config = TrainConfig(output_dir=str(tmp_path), arch="rnn", task=task, max_steps=1, **flags).resolved()
        return model_config("rnn", config.size, vocab_size=100, **config.model_overrides())

    for task in ("dialogsum", "multi30k"):
        recipe = rnn_config(task)
        assert recipe.scaled_attention and recipe.source_embedding_residual
    assert not rnn_config("multi30k", source_embedding_residual=False).source_embedding_residual
    bahdanau = rnn_config("multi30k", attention="bahdanau")  # scaled scores are Luong's: it goes without them
    assert (bahdanau.attention, bahdanau.scaled_attention, bahdanau.source_embedding_residual) == ("bahdanau", False, True)
    unread = rnn_config("multi30k", attention="none")  # nothing reads the encoder outputs
    assert (unread.scaled_attention, unread.source_embedding_residual) == (False, False)
    lstm = TrainConfig(output_dir=str(tmp_path), arch="lstm", task="multi30k", max_steps=1).resolved()
    assert (lstm.scaled_attention, lstm.source_embedding_residual) == (None, None)


@pytest.mark.parametrize("flag, value, message", [
    ("save_every", 0, "--save_every must be positive, got 0"),
    ("eval_every", 0, "--eval_every must be positive, got 0"),
    ("log_every", 0, "--log_every must be positive, got 0"),
    ("keep_checkpoints", 0, "--keep_checkpoints must be positive, got 0"),
    ("batch_tokens", -512, "--batch_tokens must be positive"),
    ("max_steps", -5, "--max_steps must be positive"),
    ("train_samples", 0, "--train_samples must be positive"),
    ("learning_rate", 0, "--learning_rate must be positive"),
    ("warmup_steps", -1, "--warmup_steps must be at least 0"),
    ("dropout", 1.5, r"--dropout must be in \[0, 1\)"),
    ("vocab_size", 3, "--vocab_size must exceed the 4 special tokens"),
    ("mixed_precision", "fp8", "unknown mixed_precision 'fp8'"),
    ("size", "huge", "unknown model size 'huge'"),
    ("attention", "global", "unknown attention 'global'"),
    ("task", "wmt14", "unknown task 'wmt14'"),
])
def test_a_bad_setting_fails_before_any_data_is_loaded(tmp_path, monkeypatch, flag, value, message):
    """Each of these used to fail late (ZeroDivisionError after the data was prepared) or not at all
    (keep_checkpoints 0 kept every checkpoint)."""
    import lineage.training.preparation

    monkeypatch.setattr(lineage.training.preparation, "load_splits", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(ConfigError, match=message):
        train(parse_config(TrainConfig, tiny_flags(tmp_path, **{"arch": "lstm", "max_steps": 10, flag: value})))


def test_configure_cpu_flushes_denormal_floats():
    """Denormals (a trained RNN's backward pass is full of them) become zero, so CPU math stays fast."""
    from lineage.training.cpu import configure_cpu

    denormal = torch.finfo(torch.float32).tiny / 4
    configure_cpu()
    try:
        assert (torch.tensor([denormal]) * 1.0).item() == 0.0
        torch.set_flush_denormal(False)
        assert (torch.tensor([denormal]) * 1.0).item() > 0.0
    finally:
        torch.set_flush_denormal(True)


MAPPED_AND_KEPT = """
import ctypes, sys, torch
from lineage.training.cpu import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = mallinfo2().hblkhd
tensor = torch.ones(16 * 2**20)  # 64 MB, above glibc's largest mmap threshold
mapped = mallinfo2().hblkhd - before
del tensor
print(mapped // 2**20, mallinfo2().fordblks // 2**20)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_keep_freed_memory_keeps_a_large_tensor_in_the_heap_for_the_next_one():
    """By default a 64 MB tensor is mapped on its own and unmapped when freed (every step pays its page
    faults again); after keep_freed_memory it comes from the heap, and its memory stays there, free."""
    def mapped_and_kept_mb(mode: str) -> tuple[int, int]:
        done = subprocess.run([sys.executable, "-c", MAPPED_AND_KEPT, mode], capture_output=True, text=True, check=True)
        mapped, free = done.stdout.split()
        return int(mapped), int(free)

    mapped, free = mapped_and_kept_mb("default")
    assert mapped >= 64 and free < 64
    mapped, free = mapped_and_kept_mb("keep")
    assert mapped == 0 and free >= 64


def test_plateau_schedule_does_not_depend_on_how_often_the_run_is_evaluated(tmp_path):
    """The plateau schedule halves the rate on its own clock (plateau_every, the whole validation
    loss), so evaluating every 5 or every 20 steps trains the same model; it did change the rate."""
    flags = dict(arch="lstm", max_steps=20, save_every=20, schedule="plateau", plateau_every=2, plateau_patience=0,
                 learning_rate=0.5)  # too high: the validation loss stops falling, and the rate halves
    for every in (5, 20):
        train(parse_config(TrainConfig, tiny_flags(tmp_path / f"every-{every}", **flags, eval_every=every)))
    often, rarely = final_weights(tmp_path / "every-5"), final_weights(tmp_path / "every-20")
    for name in often:
        assert torch.equal(often[name], rarely[name]), name
    rates = {e["learning_rate"] for e in read_log(tmp_path / "every-5", "train")}
    assert len(rates) > 1, rates


def test_a_milestone_keeps_the_models_a_run_with_that_budget_ends_with(tmp_path):
    """Each milestone of a 6k-token run keeps the model and the best model a run of that budget ends with,
    and the run itself ends with the best model of a run without milestones: the evaluations made only
    for a milestone (between the evaluations every 4 steps) do not enter later choices of best model. With
    this seed the 4000-token milestone's own evaluation (step 10) scores above every evaluation up to the
    4800-token milestone (step 12), whose best model must still be the one of step 8."""
    common = dict(arch="lstm", eval_every=4, save_every=50, schedule="inverse_sqrt", warmup_steps=5, learning_rate=0.1)
    long = train(parse_config(TrainConfig, tiny_flags(tmp_path / "long", budget_target_tokens=6000,
                                                      milestones="2k,4000,4800", **common)))
    assert any(e.get("milestone_only") for e in read_log(tmp_path / "long", "eval"))
    for budget, kept in [(b, tmp_path / "long" / "milestones" / str(b)) for b in (2000, 4000, 4800)] + [(6000, None)]:
        alone = train(parse_config(TrainConfig, tiny_flags(tmp_path / f"alone-{budget}", budget_target_tokens=budget,
                                                           **common)))
        if kept is None:  # the run's own end
            assert (long["steps"], long["best_step"]) == (alone["steps"], alone["best_step"])
            pairs = [(tmp_path / "long" / "best", tmp_path / f"alone-{budget}" / "best")]
        else:
            record = json.loads((kept / "milestone.json").read_text())
            assert (record["step"], record["target_tokens"]) == (alone["steps"], alone["target_tokens"]), budget
            assert (record["best_step"], record["best_metric"]) == (alone["best_step"], alone["best_metric"]), budget
            pairs = [(kept / "best", tmp_path / f"alone-{budget}" / "best"), (kept / "model", None)]
        for found, expected in pairs:
            expected = load_file(str(expected / "model.safetensors")) if expected else final_weights(tmp_path / f"alone-{budget}")
            found = load_file(str(found / "model.safetensors"))
            assert expected.keys() == found.keys()
            assert all(torch.equal(expected[key], found[key]) for key in expected), (budget, found)


@pytest.mark.parametrize("milestones, message", [
    ("1k,lots", "--milestones: 'lots' is not a positive token count"),
    ("0", "--milestones: '0' is not a positive token count"),
])
def test_bad_milestones_fail_before_training(tmp_path, milestones, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        train(parse_config(TrainConfig, tiny_flags(tmp_path, arch="rnn", max_steps=5, milestones=milestones)))


def test_milestones_refuse_a_schedule_that_depends_on_the_budget(tmp_path):
    with pytest.raises(ConfigError, match="linear schedule decays to zero"):
        train(parse_config(TrainConfig, tiny_flags(tmp_path, arch="rnn", max_steps=5, schedule="linear",
                                                   milestones="1k")))
