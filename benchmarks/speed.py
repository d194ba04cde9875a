"""Speed benchmark: training throughput, decoding speed, peak memory and FLOP utilisation.

    make bench                                    # demo size on CPU (under 10 minutes on 2 cores)
    make bench ARGS="--sizes demo,full"           # add the paper-scale size (GPU default)
    .venv/bin/python benchmarks/speed.py --help

Prints one JSON document and writes it to
`benchmarks/results/<hostname>-<YYYY-MM-DD>.json`, with a plot of training
throughput against sequence length beside it (`...-throughput.png`). What
each number means and how it is measured is written into the JSON itself
(`methods`) and into benchmarks/README.md.

Models: RNN and LSTM encoder-decoders with Luong ("general") attention and
without attention, the LSTM with Bahdanau attention (the per-step decoder
loop), and the Transformer; all built by `models.build_model` for an
8000-piece vocabulary. Inputs are random token ids, source length == target
length, no padding.
"""

import argparse
import copy
import json
import math
import multiprocessing
import os
import platform
import resource
import socket
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__" and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python benchmarks/speed.py` from anywhere

import torch  # noqa: E402

from benchmarks.flops import forward_flops, training_flops_per_target_token  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"
VOCAB_SIZE = 8000
LENGTHS = (16, 32, 64, 128, 256)
# name -> (architecture, config overrides on top of the size)
MODELS = {
    "rnn-luong-general": ("rnn", {"attention": "luong-general"}),
    "rnn-none": ("rnn", {"attention": "none"}),
    # The summarization RNN's recipe (pipelines/presets.py).
    "rnn-summarization": ("rnn", {"attention": "luong-general", "scaled_attention": True,
                                  "source_embedding_residual": True}),
    "lstm-luong-general": ("lstm", {"attention": "luong-general"}),
    "lstm-none": ("lstm", {"attention": "none"}),
    "lstm-bahdanau": ("lstm", {"attention": "bahdanau"}),
    "lstm-luong-general-copy": ("lstm", {"attention": "luong-general", "copy_attention": True}),
    "lstm-pointer-generator": ("lstm", {"attention": "luong-general", "copy_attention": True, "coverage": True}),
    "transformer": ("transformer", {}),
}
DEFAULT_CPU_BUDGET = 540.0  # seconds: `make bench` must end within 10 minutes on 2 cores
TRAINING_SHARE = 0.65  # of the time budget; decoding gets the rest
LABEL_SMOOTHING = 0.1  # TrainConfig's default
MAX_GRAD_NORM = 1.0  # TrainConfig's default

METHODS = {
    "training": (
        "One training step = forward + pipelines.training.loss_and_tokens (token cross-entropy, label smoothing 0.1) "
        "+ backward + gradient clipping (norm 1.0) + AdamW step + zero_grad, as in the training loop, in train mode "
        "(dropout on). Batches hold a fixed token budget: batch_size = batch_tokens // length, source length = "
        "target length = length, random ids, no padding. Warm-up steps are not timed; tokens_per_second = "
        "target tokens per step / median timed step. On CPU every (model, length) runs in a fresh process "
        "(multiprocessing forkserver), so its memory high-water mark is its own. Time budget (default CPU run): "
        "once 65% of time_budget is spent, remaining configurations are skipped (null, with the reason); one "
        "predicted to end past that point gets a single timed step (marked `reduced`). Contention check per "
        "row: cpu_share = the process's CPU time over the timed steps / (wall time x threads), near 1 when the "
        "threads had the cores to themselves, and the 1-minute load average when the steps began."
    ),
    "decoding": (
        "model.generate(input_ids, attention_mask, num_beams, do_sample=False, max_new_tokens=L, use_cache) with "
        "no end-of-sequence token (eos_token_id=None), under torch.inference_mode in eval mode, on random sources "
        "of L tokens, so every output has exactly L new tokens. sentences_per_second = batch_size / median "
        "seconds per generate call (one call, or up to `repeats` calls, 5 for the cache comparison, when one is "
        "short). One untimed warm-up call per model and setting. Combinations "
        "predicted (from the last measured lengths) to take longer than decode_max_seconds, and uncached runs "
        "beyond uncached_max_length, or predicted to end past time_budget, are not run: they appear with null "
        "values and a reason. cache_speedup = "
        "uncached seconds / cached seconds for greedy decoding of one sentence at cache_ratio_length."
    ),
    "memory_cpu": (
        "Peak resident set size of the fresh process that runs the training configuration "
        "(resource.getrusage(RUSAGE_SELF).ru_maxrss, a high-water mark): peak_rss_mb is the process's peak "
        "(Python, torch, the model, optimizer state, activations); training_delta_mb = that peak minus the "
        "high-water mark just before the first step (model and batch built), i.e. what training adds: gradients, "
        "AdamW state, activations and the allocator's slack."
    ),
    "memory_cuda": (
        "torch.cuda.max_memory_allocated after the steps (peak_mb), and that minus torch.cuda.memory_allocated "
        "just before the first step (training_delta_mb); the caching allocator's reserve is not included."
    ),
    "flops": (
        "Analytic, benchmarks/flops.py: matrix products only (multiply-add = 2 FLOPs), forward FLOPs of one "
        "(source, target) pair counted part by part from the model code; training = 3 x forward (backward = 2 x "
        "forward: input and weight gradients); per target token = pair total / target length, with source length = "
        "target length so the encoder's work per source token is attributed one-to-one to target tokens. "
        "Recurrent cells: gates x 2 x units x (input + units) per step, per direction and layer (gates: tanh RNN 1, "
        "GRU 3, LSTM 4). Transformer: Q/K/V/O and FFN projections per token, attention scores over the full "
        "matrices. flops_check compares the count with torch.utils.flop_counter.FlopCounterMode on one batch "
        "(oneDNN off and the math SDPA backend during the count, so every product is visible to the counter)."
    ),
    "ceiling": (
        "Practical compute ceiling: median GFLOP/s of an n x n @ n x n matmul (2 n^3 FLOPs) in the dtype the "
        "models train in (float32 on CPU; bfloat16 under autocast on CUDA), with the same thread count, measured "
        "before and after training; the higher median is the ceiling. "
        "fraction_of_ceiling = achieved training FLOP/s (tokens_per_second x training FLOPs per target token) / "
        "the ceiling, i.e. model-FLOPs utilisation against what this machine's matmul kernel reaches."
    ),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- setup


class Vocabulary:
    """What `models.build_model` reads from a tokenizer: its size and the special ids.

    Speed depends only on the vocabulary size; the ids are those every Lineage
    tokenizer has (pipelines.tokenizer.SPECIAL_TOKENS: <pad> 0, <s> 1, </s> 2, <unk> 3).
    """

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2
    first_regular_id = 4

    def __init__(self, size: int = VOCAB_SIZE):
        self.size = size

    def __len__(self) -> int:
        return self.size


def build(name: str, size: str, max_length: int, vocab_size: int = VOCAB_SIZE, seed: int = 0):
    """Build benchmark model `name` (a key of MODELS) at `size`, random weights."""
    from models import build_model

    arch, overrides = MODELS[name]
    torch.manual_seed(seed)
    # max_position only bounds the accepted lengths (the sinusoidal table for the Transformer).
    return build_model(arch, Vocabulary(vocab_size), size, max_position=max(512, max_length), **overrides)


def random_batch(batch_size: int, length: int, vocab_size: int, model, device, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    low = Vocabulary.first_regular_id
    input_ids = torch.randint(low, vocab_size, (batch_size, length), generator=generator)
    labels = torch.randint(low, vocab_size, (batch_size, length), generator=generator)
    batch = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "decoder_input_ids": model.prepare_decoder_input_ids_from_labels(labels=labels),
        "labels": labels,
    }
    return {key: value.to(device) for key, value in batch.items()}


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (what the training loop's "auto" precision picks); nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def precision(device: torch.device) -> str:
    return "bf16-autocast" if device.type == "cuda" else "fp32"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment(device: torch.device) -> dict:
    import accelerate
    import psutil
    import transformers

    info = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "cpu_model": cpu_model(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "precision": precision(device),
        "load_average_at_start": list(os.getloadavg()),
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
    return info


# ---------------------------------------------------------------- compute ceiling


def matmul_ceiling(device: torch.device, n: int | None = None, repeats: int = 5) -> dict:
    """Median and best GFLOP/s of an n x n @ n x n product in the models' training dtype."""
    if n is None:
        n = 8192 if device.type == "cuda" else 2048
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device, dtype)
    b = torch.randn(n, n, generator=generator).to(device, dtype)
    a @ b  # warm-up
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    flops = 2 * n**3
    return {
        "n": n,
        "dtype": str(dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "seconds": [round(s, 5) for s in seconds],
        "gflops_median": flops / statistics.median(seconds) / 1e9,
        "gflops_best": flops / min(seconds) / 1e9,
    }


# ---------------------------------------------------------------- FLOP counts


def model_info(model) -> dict:
    embedding = model.get_input_embeddings().weight
    total = sum(p.numel() for p in model.parameters())
    return {
        "model_type": model.config.model_type,
        "parameters": total,
        "non_embedding_parameters": total - embedding.numel(),
        "config": {
            key: getattr(model.config, key)
            for key in (
                "vocab_size", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "attention", "cell",
                "bidirectional", "input_feeding", "d_model", "encoder_ffn_dim", "decoder_ffn_dim",
                "encoder_attention_heads", "decoder_attention_heads",
            )
            if hasattr(model.config, key)
        },
    }


def counted_training_flops(model, batch_size: int = 1, length: int = 16) -> dict:
    """Forward and backward FLOPs of one batch as torch's FlopCounterMode sees them (CPU).

    oneDNN RNN kernels and the fused CPU attention kernel are invisible to the
    counter, so both are switched off while counting: every product then runs
    as a plain mm/addmm/bmm.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from pipelines.training import loss_and_tokens

    model.train()
    batch = random_batch(batch_size, length, model.config.vocab_size, model, torch.device("cpu"))
    forward, backward = FlopCounterMode(display=False), FlopCounterMode(display=False)
    with warnings.catch_warnings():  # mkldnn.flags warns about TF32 on Intel GPUs
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH):
            with forward:
                loss, _ = loss_and_tokens(model, batch, LABEL_SMOOTHING)
            with backward:
                loss.backward()
    model.zero_grad(set_to_none=True)
    return {"forward": forward.get_total_flops(), "backward": backward.get_total_flops()}


def flops_check(model, batch_size: int = 1, length: int = 16) -> dict:
    """The analytic count next to FlopCounterMode's, for one batch of `batch_size` x `length`."""
    analytic_forward = batch_size * sum(forward_flops(model.config, length, length).values())
    counted = counted_training_flops(model, batch_size, length)
    return {
        "batch_size": batch_size,
        "length": length,
        "analytic_forward": analytic_forward,
        "counted_forward": counted["forward"],
        "analytic_training": 3 * analytic_forward,
        "counted_training": counted["forward"] + counted["backward"],
        "ratio_training": 3 * analytic_forward / max(1, counted["forward"] + counted["backward"]),
    }


# ---------------------------------------------------------------- training


def training_step(model, batch: dict, optimizer, device: torch.device) -> None:
    from pipelines.training import loss_and_tokens

    with autocast(device):
        loss, _ = loss_and_tokens(model, batch, LABEL_SMOOTHING)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def measure_training(job: dict) -> dict:
    """Time training steps of one (model, size, length); runs in the process that calls it.

    job: name, size, length, batch_tokens, warmup_steps, steps, min_steps,
    seconds (stop adding timed steps after this much, once min_steps are done),
    vocab_size, device.
    """
    from pipelines.training import configure_cpu

    configure_cpu()
    device = torch.device(job["device"])
    length = job["length"]
    batch_size = max(1, job["batch_tokens"] // length)
    model = build(job["name"], job["size"], length, job["vocab_size"]).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-8)
    batch = random_batch(batch_size, length, job["vocab_size"], model, device)

    def timed_step() -> float:
        synchronize(device)
        start = time.perf_counter()
        training_step(model, batch, optimizer, device)
        synchronize(device)
        return time.perf_counter() - start

    base_memory = memory_in_use(device)
    warmup = [timed_step() for _ in range(job["warmup_steps"])]
    timed, load = [], os.getloadavg()[0]
    cpu_start = time.process_time()
    while len(timed) < job["steps"] and (len(timed) < job["min_steps"] or sum(timed) < job["seconds"]):
        timed.append(timed_step())
    cpu_seconds = time.process_time() - cpu_start

    step = statistics.median(timed)
    target_tokens = batch_size * length
    return {
        "model": job["name"],
        "size": job["size"],
        "length": length,
        "batch_size": batch_size,
        "target_tokens_per_step": target_tokens,
        "warmup_seconds": [round(s, 4) for s in warmup],
        "step_seconds": [round(s, 4) for s in timed],
        "median_step_seconds": step,
        "tokens_per_second": target_tokens / step,
        "threads": torch.get_num_threads(),
        # This process's CPU time over the timed steps / (their wall time x threads): near 1 when the
        # threads had the cores to themselves; well below 1 on a busy machine (or for serial work).
        "cpu_share": cpu_seconds / (sum(timed) * torch.get_num_threads()) if device.type == "cpu" else None,
        "load_average_1min": load,
        "memory": peak_memory(device, base_memory),
    }


def memory_in_use(device: torch.device) -> int:
    """Bytes in use before training: allocated GPU memory (peak statistics reset), or this process's RSS peak."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def peak_memory(device: torch.device, base: int) -> dict:
    """The peak memory of the training steps, and how much of it they added to `base`."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_mb": peak / 2**20, "training_delta_mb": (peak - base) / 2**20,
                "method": "torch.cuda.max_memory_allocated"}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_rss_mb": peak / 2**20, "training_delta_mb": (peak - base) / 2**20,
            "method": "ru_maxrss of a fresh process"}


_CONTEXT = None


def isolation_context():
    """The forkserver that runs CPU training jobs, started on first use (its imports run in the background)."""
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "transformers", "models", "pipelines.training", "benchmarks.speed"])
        from multiprocessing import forkserver

        forkserver.ensure_running()
        _CONTEXT = context
    return _CONTEXT


def measure_training_isolated(job: dict) -> dict:
    """`measure_training` in a fresh process: the forkserver imports torch once, and each job runs in a
    clean child forked from it. The CPU memory high-water mark is then this job's alone, and no job's
    allocator state leaks into the next one's timing."""
    with isolation_context().Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(measure_training, (job,))


def run_training(names, sizes, lengths, args, device: torch.device, deadline: float = math.inf) -> list[dict]:
    """Every (size, length, model) training configuration, lengths outermost.

    `deadline` (a perf_counter time) keeps a run on a busy machine bounded: a
    configuration whose predicted duration (its model's previous one) would
    end after it gets one warm-up and one timed step, and once it has passed
    the remaining configurations are skipped (null, with the reason).
    """
    rows, cost = [], {}
    for size in sizes:
        for length in lengths:
            for name in names:
                job = dict(
                    name=name, size=size, length=length, batch_tokens=args.batch_tokens, warmup_steps=args.warmup_steps,
                    steps=args.steps, min_steps=args.min_steps, seconds=args.train_seconds, vocab_size=args.vocab_size,
                    device=device.type,
                )
                start = time.perf_counter()
                reduced = start + cost.get(name, 0.0) > deadline
                if reduced:
                    job.update(warmup_steps=min(1, args.warmup_steps), steps=1, min_steps=1)
                try:
                    if start > deadline:
                        raise TimeoutError(f"the run's --time-budget {args.time_budget:g} s leaves no time for it")
                    row = measure_training_isolated(job) if device.type == "cpu" else measure_training(job)
                    if reduced:
                        row["reduced"] = f"one timed step: the run's --time-budget {args.time_budget:g} s is tight"
                except Exception as error:  # e.g. out of memory at a large size: recorded, the rest goes on
                    row = {"model": name, "size": size, "length": length, "tokens_per_second": None,
                           "skipped": f"{type(error).__name__}: {error}"[:500]}
                cost[name] = time.perf_counter() - start
                rows.append(row)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                tps = row["tokens_per_second"]
                log(f"train  {size}/{name:20s} L={length:4d}  "
                    + (f"{tps:9.0f} tok/s  steps {row['step_seconds']}" if tps else row["skipped"]))
    return rows


# ---------------------------------------------------------------- decoding


def time_generate(model, length: int, batch_size: int, num_beams: int, use_cache: bool, device, repeats: int,
                  repeat_below: float) -> dict:
    """Seconds per generate() call of `batch_size` sources of `length` tokens, forced to `length` new tokens."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(
        Vocabulary.first_regular_id, model.config.vocab_size, (batch_size, length), generator=generator
    ).to(device)
    # No end-of-sequence token, so every output is exactly `length` new tokens. Forcing that with
    # min_new_tokens instead would add two logits processors whose per-step Python work (signature
    # inspection, isin) was ~25% of a cached one-sentence step: a cost of the benchmark, not of decoding.
    config = copy.deepcopy(model.generation_config)
    config.update(eos_token_id=None, num_beams=num_beams, do_sample=False, max_new_tokens=length, use_cache=use_cache)
    kwargs = dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), generation_config=config)
    seconds, new_tokens = [], None
    while len(seconds) < repeats and (not seconds or sum(seconds) < repeat_below * len(seconds)):
        synchronize(device)
        start = time.perf_counter()
        with torch.inference_mode(), autocast(device):
            output = model.generate(**kwargs)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
        new_tokens = output.shape[1] - 1  # the decoder start token comes first
    median = statistics.median(seconds)
    return {"seconds": median, "runs": [round(s, 4) for s in seconds], "new_tokens": new_tokens,
            "sentences_per_second": batch_size / median, "tokens_per_second": batch_size * new_tokens / median}


def predicted_seconds(measured: list[tuple[int, float]], length: int, use_cache: bool) -> float:
    """Extrapolate a series' time to `length`: the exponent of its last two points (at least 1;
    2 for uncached decoding, which re-runs the whole prefix at every step, until two points exist)."""
    (last_length, last_seconds) = measured[-1]
    exponent = 1.0 if use_cache else 2.0
    if len(measured) >= 2:
        (prev_length, prev_seconds) = measured[-2]
        if prev_seconds > 0 and last_length != prev_length:
            exponent = max(1.0, math.log(last_seconds / prev_seconds) / math.log(last_length / prev_length))
    return last_seconds * (length / last_length) ** exponent


def run_decoding(names, sizes, lengths, args, device: torch.device, deadline: float = math.inf) -> list[dict]:
    """Every decoding setting per size/model, lengths ascending; `deadline` (a perf_counter time) skips
    the runs that would end after it (the cache comparison runs regardless)."""
    rows = []
    settings = [
        (num_beams, batch_size, use_cache)
        for num_beams in (1, args.beams)
        for batch_size in (1, args.decode_batch)
        for use_cache in (True, False)
    ]
    for size in sizes:
        for name in names:
            model = build(name, size, max(lengths), args.vocab_size).to(device).eval()
            for num_beams, batch_size, use_cache in settings:  # untimed warm-up
                try:
                    time_generate(model, 4, batch_size, num_beams, use_cache, device, 1, 0.0)
                except Exception:  # the timed run of this setting records the error
                    pass
            for num_beams, batch_size, use_cache in settings:
                measured, stop = [], None
                for length in lengths:
                    row = {"model": name, "size": size, "num_beams": num_beams, "batch_size": batch_size,
                           "use_cache": use_cache, "length": length}
                    reference = num_beams == 1 and batch_size == 1 and length == args.cache_ratio_length
                    if not reference:
                        if not use_cache and length > args.uncached_max_length:
                            stop = stop or (f"uncached decoding re-runs the whole prefix at every step (quadratic): "
                                            f"capped at --uncached-max-length {args.uncached_max_length}")
                        elif measured and stop is None:
                            guess = predicted_seconds(measured, length, use_cache)
                            if guess > args.decode_max_seconds:
                                stop = (f"predicted {guess:.1f} s per call > --decode-max-seconds "
                                        f"{args.decode_max_seconds:g} (and longer lengths cost more)")
                            elif time.perf_counter() + guess > deadline:
                                stop = f"the run's --time-budget {args.time_budget:g} s would be exceeded"
                    if stop and not reference:
                        row.update(seconds=None, sentences_per_second=None, tokens_per_second=None, skipped=stop)
                    else:
                        # The cache comparison's two runs are short and its ratio is reported: more repeats.
                        repeats = max(args.decode_repeats, 5) if reference else args.decode_repeats
                        try:
                            row.update(time_generate(model, length, batch_size, num_beams, use_cache, device,
                                                     repeats, args.decode_repeat_below))
                            measured.append((length, row["seconds"]))
                        except Exception as error:  # e.g. out of memory: recorded, the rest goes on
                            stop = f"{type(error).__name__}: {error}"[:500]
                            row.update(seconds=None, sentences_per_second=None, tokens_per_second=None, skipped=stop)
                            if device.type == "cuda":
                                torch.cuda.empty_cache()
                    rows.append(row)
                    log(f"decode {size}/{name:20s} beams={num_beams} batch={batch_size:3d} cache={use_cache!s:5s} "
                        f"L={length:4d}  " + (f"{row['sentences_per_second']:9.2f} sent/s" if row.get("seconds")
                                              else "skipped"))
            del model
    return rows


def cache_speedups(rows: list[dict], length: int) -> dict:
    """Uncached / cached seconds for greedy batch-1 decoding at `length`, per size/model."""
    result = {}
    for row in rows:
        if row["use_cache"] and row["num_beams"] == 1 and row["batch_size"] == 1 and row["length"] == length:
            uncached = next(
                (r for r in rows if r["model"] == row["model"] and r["size"] == row["size"] and not r["use_cache"]
                 and r["num_beams"] == 1 and r["batch_size"] == 1 and r["length"] == length), None)
            if row.get("seconds") and uncached and uncached.get("seconds"):
                ratio = uncached["seconds"] / row["seconds"]
                result[f"{row['size']}/{row['model']}"] = {
                    "length": length, "num_beams": 1, "batch_size": 1, "cached_seconds": row["seconds"],
                    "uncached_seconds": uncached["seconds"], "ratio": ratio,
                    "at_least_3x": ratio >= 3.0,
                }
    return result


# ---------------------------------------------------------------- report


def add_flops(training: list[dict], models: dict, ceiling: dict) -> None:
    """Training FLOPs per target token, achieved GFLOP/s and fraction of the matmul ceiling, per row."""
    for row in training:
        if not row.get("tokens_per_second"):
            continue
        per_token = models[f"{row['size']}/{row['model']}"]["flops_per_target_token"][str(row["length"])]
        row["training_flops_per_target_token"] = per_token
        row["achieved_gflops"] = row["tokens_per_second"] * per_token / 1e9
        row["fraction_of_ceiling"] = row["achieved_gflops"] / ceiling["gflops_median"]


def summary(training: list[dict], decoding: list[dict], speedups: dict) -> dict:
    def key(row):
        return f"{row['size']}/{row['model']}"

    tokens, fraction = {}, {}
    for row in training:
        tokens.setdefault(key(row), {})[str(row["length"])] = row.get("tokens_per_second")
        fraction.setdefault(key(row), {})[str(row["length"])] = row.get("fraction_of_ceiling")
    decode = {}
    for row in decoding:
        search = "greedy" if row["num_beams"] == 1 else f"beam{row['num_beams']}"
        setting = f"{search}/batch{row['batch_size']}/{'cached' if row['use_cache'] else 'uncached'}"
        decode.setdefault(key(row), {}).setdefault(setting, {})[str(row["length"])] = row.get("sentences_per_second")
    growth = {}
    for name, values in tokens.items():
        measured = sorted((int(length), value) for length, value in values.items() if value)
        if len(measured) >= 2:
            (short, first), (long, last) = measured[0], measured[-1]
            growth[name] = {"from_length": short, "to_length": long, "tokens_per_second_ratio": last / first}
    return {
        "training_tokens_per_second": tokens,
        # Throughput at the longest length / at the shortest, at the same token budget: 1 = no cost growth.
        "training_throughput_longest_vs_shortest": growth,
        "training_fraction_of_ceiling": fraction,
        "decoding_sentences_per_second": decode,
        "cache_speedup": {name: value["ratio"] for name, value in speedups.items()},
    }


def result_paths(output_dir: Path, hostname: str, date: str) -> tuple[Path, Path]:
    stem = f"{hostname}-{date}"
    return output_dir / f"{stem}.json", output_dir / f"{stem}-throughput.png"


def write_results(result: dict, output_dir: Path) -> tuple[Path, Path]:
    """The JSON (atomically, as a `pipelines.results.SpeedResults`) and the throughput plot beside it."""
    from pipelines.results import SpeedResults

    from benchmarks.plot import plot_throughput

    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, plot_path = result_paths(output_dir, result["environment"]["hostname"], result["date"])
    result["result_path"], result["plot_path"] = str(json_path), str(plot_path)
    plot_throughput(result, plot_path)
    SpeedResults.from_dict(result).save(json_path)
    return json_path, plot_path


@dataclass(frozen=True)
class SpeedConfig:
    """What one benchmark run measures (`python -m benchmarks.speed --help` explains each field).

    None means the device's default: sizes demo (CPU) or demo and full (CUDA); 1 warm-up and 3
    timed steps on CPU, 3 and 10 on CUDA; the time budget DEFAULT_CPU_BUDGET for the default
    CPU run, no limit otherwise; decode_lengths = lengths.
    """

    sizes: tuple[str, ...] | None = None
    models: tuple[str, ...] = tuple(MODELS)
    lengths: tuple[int, ...] = LENGTHS
    decode_lengths: tuple[int, ...] | None = None
    parts: tuple[str, ...] = ("flops_check", "training", "decoding")
    device: str = "auto"
    vocab_size: int = VOCAB_SIZE
    batch_tokens: int = 4096
    warmup_steps: int | None = None
    steps: int | None = None
    min_steps: int = 2
    train_seconds: float = 4.0
    beams: int = 5
    decode_batch: int = 32
    decode_max_seconds: float = 3.0
    uncached_max_length: int = 64
    cache_ratio_length: int = 64
    decode_repeats: int = 3
    decode_repeat_below: float = 0.5
    time_budget: float | None = None

    def resolved(self, device: torch.device) -> "SpeedConfig":
        """Every None replaced by the default on `device`; raises ValueError for an unknown model."""
        unknown = [name for name in self.models if name not in MODELS]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
        cuda = device.type == "cuda"
        return replace(
            self,
            sizes=self.sizes or (("demo", "full") if cuda else ("demo",)),
            decode_lengths=self.decode_lengths or self.lengths,
            warmup_steps=(3 if cuda else 1) if self.warmup_steps is None else self.warmup_steps,
            steps=(10 if cuda else 3) if self.steps is None else self.steps,
            time_budget=(DEFAULT_CPU_BUDGET if not cuda and not self.sizes else 0.0)
            if self.time_budget is None else self.time_budget,
        )

    def settings(self) -> dict:
        """The result document's `settings`: the resolved fields and the constants of the training step."""
        return {**{key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
                   if key != "device"},
                "parts": sorted(self.parts), "training_share_of_budget": TRAINING_SHARE,
                "label_smoothing": LABEL_SMOOTHING, "max_grad_norm": MAX_GRAD_NORM}


def run(config: SpeedConfig) -> dict:
    """Run every part of the benchmark that `config` asks for; returns the result document."""
    from pipelines.training import configure_cpu

    started, seconds = time.perf_counter(), {}
    configure_cpu()
    device = pick_device(config.device)
    config = config.resolved(device)
    result = {
        "benchmark": "lineage-speed",
        "date": datetime.now().strftime("%Y-%m-%d"),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(device),
        "settings": config.settings(),
        "methods": dict(METHODS),
    }
    log(f"device {device.type}, {torch.get_num_threads()} threads, sizes {list(config.sizes)}, "
        f"load {os.getloadavg()[0]:.2f}")
    isolate = "training" in config.parts and device.type == "cpu"
    if isolate:
        isolation_context()  # imports in the background while the FLOP counts run
    result["models"] = describe_models(config)
    if isolate:  # the forkserver's imports must be over before anything is timed
        with isolation_context().Pool(1) as pool:
            pool.apply(os.getpid)
    ceiling_start = matmul_ceiling(device)
    log(f"matmul {ceiling_start['gflops_median']:.1f} GFLOP/s ({ceiling_start['dtype']})")
    seconds["flops_and_ceiling"] = time.perf_counter() - started
    mark, budget = time.perf_counter(), config.time_budget or math.inf
    names, sizes = list(config.models), list(config.sizes)
    result["training"] = (
        run_training(names, sizes, list(config.lengths), config, device, started + TRAINING_SHARE * budget)
        if "training" in config.parts else []
    )
    seconds["training"] = time.perf_counter() - mark
    result["ceiling"] = higher_ceiling(ceiling_start, matmul_ceiling(device))
    add_flops(result["training"], result["models"], result["ceiling"])
    mark = time.perf_counter()
    result["decoding"] = (run_decoding(names, sizes, list(config.decode_lengths), config, device, started + budget)
                          if "decoding" in config.parts else [])
    seconds["decoding"] = time.perf_counter() - mark
    result["cache_speedup"] = cache_speedups(result["decoding"], config.cache_ratio_length)
    result["summary"] = summary(result["training"], result["decoding"], result["cache_speedup"])
    result["environment"]["load_average_at_end"] = list(os.getloadavg())
    result["total_seconds"] = time.perf_counter() - started
    result["part_seconds"] = seconds
    return result


def describe_models(config: SpeedConfig) -> dict:
    """Parameters, config and FLOPs per target token of every "<size>/<model>" (and the FLOP check)."""
    lengths, every_length = list(config.lengths), sorted(set(config.lengths + config.decode_lengths))
    models = {}
    for size in config.sizes:
        for name in config.models:
            model = build(name, size, max(every_length), config.vocab_size)
            info = model_info(model)
            info["flops_per_target_token"] = {
                str(length): training_flops_per_target_token(model.config, length) for length in every_length
            }
            info["forward_flops_by_part"] = {str(length): forward_flops(model.config, length, length) for length in lengths}
            if "flops_check" in config.parts:
                info["flops_check"] = flops_check(model)
            models[f"{size}/{name}"] = info
            del model
    return models


def higher_ceiling(at_start: dict, after_training: dict) -> dict:
    """The ceiling, measured before and after training: a burst of other work on the machine during one
    measurement lowers its median, so the higher of the two counts."""
    ceiling = dict(max(at_start, after_training, key=lambda c: c["gflops_median"]),
                   gflops_median_at_start=at_start["gflops_median"],
                   gflops_median_after_training=after_training["gflops_median"])
    log(f"matmul ceiling {ceiling['gflops_median']:.1f} GFLOP/s (after training: "
        f"{after_training['gflops_median']:.1f})")
    return ceiling


def names(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated names."""
    return tuple(item for item in text.split(",") if item)


def integers(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated integers."""
    return tuple(int(item) for item in names(text))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = p.add_argument
    add("--sizes", type=names, default=None, help="comma-separated model sizes (default: demo on CPU, demo,full on CUDA)")
    add("--models", type=names, default=",".join(MODELS), help="comma-separated benchmark models (default: %(default)s)")
    add("--lengths", type=integers, default=",".join(map(str, LENGTHS)),
        help="source = target lengths of training (default: %(default)s)")
    add("--decode-lengths", type=integers, default=None, help="target lengths of decoding (default: --lengths)")
    add("--parts", type=names, default="flops_check,training,decoding",
        help="what to run; the ceiling always runs (default: %(default)s)")
    add("--device", default="auto", help="auto | cpu | cuda (default: %(default)s)")
    add("--vocab-size", type=int, default=VOCAB_SIZE, help="vocabulary of the models (default: %(default)s)")
    add("--batch-tokens", type=int, default=4096,
        help="target tokens per training batch, = source tokens (default: %(default)s)")
    add("--warmup-steps", type=int, default=None,
        help="untimed training steps per configuration (default: 1 on CPU, 3 on CUDA)")
    add("--steps", type=int, default=None,
        help="most timed training steps per configuration (default: 3 on CPU, 10 on CUDA)")
    add("--min-steps", type=int, default=2, help="fewest timed training steps per configuration (default: %(default)s)")
    add("--train-seconds", type=float, default=4.0,
        help="no more timed steps after this many seconds, once --min-steps are done (default: %(default)s)")
    add("--beams", type=int, default=5, help="beam size of the beam-search runs (default: %(default)s)")
    add("--decode-batch", type=int, default=32, help="sentences per batched generate() call (default: %(default)s)")
    add("--decode-max-seconds", type=float, default=3.0,
        help="skip decoding runs predicted to take longer than this per call (default: %(default)s)")
    add("--uncached-max-length", type=int, default=64,
        help="longest target decoded without the cache (default: %(default)s)")
    add("--cache-ratio-length", type=int, default=64,
        help="length of the cached/uncached comparison: greedy, one sentence, always run (default: %(default)s)")
    add("--decode-repeats", type=int, default=3, help="most generate() calls per measurement (default: %(default)s)")
    add("--decode-repeat-below", type=float, default=0.5,
        help="repeat a measurement while its calls average less than this many seconds (default: %(default)s)")
    add("--time-budget", type=float, default=None,
        help=f"seconds for the whole run: training may use {100 * TRAINING_SHARE:.0f}%%, then its remaining "
             "configurations are skipped; decoding runs that would end later are skipped "
             f"(default: {DEFAULT_CPU_BUDGET:g} for the default CPU run, so `make bench` ends within 10 minutes; "
             "no limit otherwise; 0: no limit)")
    add("--output-dir", type=Path, default=RESULTS_DIR, help="where results go (default: benchmarks/results)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    output_dir = args.pop("output_dir")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        result = run(SpeedConfig(**args))
    except ValueError as error:  # a setting: one line, no traceback
        raise SystemExit(str(error)) from None
    json_path, plot_path = write_results(result, output_dir)
    print(json.dumps(result, indent=2))
    log(f"wrote {json_path} and {plot_path} in {result['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    # Run as `benchmarks.speed`, not `__main__`, so forkserver children find the job function by module name.
    from benchmarks.speed import main as module_main

    sys.exit(module_main())
