"""Training throughput, peak memory, FLOP counts and the matmul ceiling they are compared with."""

import math
import multiprocessing
import os
import resource
import statistics
import time
import warnings

import torch
from torch.profiler import record_function

from .config import LABEL_SMOOTHING, MAX_GRAD_NORM, build, log, random_batch, synchronize, synthetic_batches
from .flops import forward_flops

_CONTEXT = None  # the forkserver of CPU training jobs, started on first use


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

    from ..training.objective import loss_and_tokens

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


def higher_ceiling(at_start: dict, after_training: dict) -> dict:
    """The ceiling, measured before and after training: a burst of other work on the machine during one
    measurement lowers its median, so the higher of the two counts."""
    ceiling = dict(max(at_start, after_training, key=lambda c: c["gflops_median"]),
                   gflops_median_at_start=at_start["gflops_median"],
                   gflops_median_after_training=after_training["gflops_median"])
    log(f"matmul ceiling {ceiling['gflops_median']:.1f} GFLOP/s (after training: "
        f"{after_training['gflops_median']:.1f})")
    return ceiling


def training_step(model, batch: dict, optimizer, bf16: bool = False) -> None:
    """The training loop's step (lineage.training.loop.forward_backward): forward and loss (under bfloat16
    autocast with `bf16`, as Accelerate runs `--mixed_precision bf16`), backward outside it, clipping, the
    optimizer step and zero_grad. `model` may be a `torch.compile`d module. Each phase is a labelled range for
    torch.profiler (benchmarks/profile_step.py)."""
    from ..training.objective import loss_and_tokens

    with record_function("forward_and_loss"), torch.autocast(batch["input_ids"].device.type, dtype=torch.bfloat16, enabled=bf16):
        loss, _ = loss_and_tokens(model, batch, LABEL_SMOOTHING)
    with record_function("backward"):
        loss.backward()
    with record_function("clip_grad_norm"):
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
    with record_function("optimizer_step"):
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def timed_steps(model, batches: list[dict], optimizer, bf16: bool = False) -> list[float]:
    """Seconds of one `training_step` per batch (CPU: nothing to synchronise)."""
    seconds = []
    for batch in batches:
        start = time.perf_counter()
        training_step(model, batch, optimizer, bf16)
        seconds.append(time.perf_counter() - start)
    return seconds


def measure_training(job: dict) -> dict:
    """Time training steps of one (model, size, length); runs in the process that calls it.

    job: name, size, length, batch_tokens, warmup_steps, steps, min_steps,
    seconds (stop adding timed steps after this much, once min_steps are done),
    vocab_size, device.
    """
    from ..training.cpu import configure_cpu

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
        training_step(model, batch, optimizer, bf16=device.type == "cuda")
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


def isolation_context():
    """The forkserver that runs CPU training jobs, started on first use (its imports run in the background)."""
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "transformers", "lineage.models", "lineage.training", __name__])
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
                        raise TimeoutError(f"the run's --time_budget {args.time_budget:g} s leaves no time for it")
                    row = measure_training_isolated(job) if device.type == "cpu" else measure_training(job)
                    if reduced:
                        row["reduced"] = f"one timed step: the run's --time_budget {args.time_budget:g} s is tight"
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


def training_speed(model, batches: list[dict], warmup: int = 1) -> float:
    """Real (non-padding) target tokens per second over training steps on `batches` (after `warmup` untimed)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    timed_steps(model, batches[:warmup], optimizer)
    seconds = sum(timed_steps(model, batches[warmup:], optimizer))
    return sum(int((b["labels"] != -100).sum()) for b in batches[warmup:]) / seconds


def measure_freed_memory(job: dict) -> dict:
    """Training tokens/s and peak memory of one model with glibc's malloc keeping freed memory (job["keep"]) or
    not; run it in a fresh process (`isolation_context`), since the setting cannot be undone."""
    from ..training.cpu import keep_freed_memory

    torch.set_num_threads(job["threads"])
    torch.set_flush_denormal(True)
    if job["keep"]:
        keep_freed_memory()
    model = build(job["model"], job["size"], job["length"])
    batches = synthetic_batches(model, job["length"], job["batch_tokens"], job["steps"] + 1)
    return {"tokens_per_second": training_speed(model, batches),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
