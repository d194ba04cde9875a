"""Decoding speed: generate() with and without the cache, greedy and beam, one sentence and batches."""

import copy
import math
import statistics
import time

import torch

from .config import Vocabulary, autocast, build, log, synchronize


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
                                            f"capped at --uncached_max_length {args.uncached_max_length}")
                        elif measured and stop is None:
                            guess = predicted_seconds(measured, length, use_cache)
                            if guess > args.decode_max_seconds:
                                stop = (f"predicted {guess:.1f} s per call > --decode_max_seconds "
                                        f"{args.decode_max_seconds:g} (and longer lengths cost more)")
                            elif time.perf_counter() + guess > deadline:
                                stop = f"the run's --time_budget {args.time_budget:g} s would be exceeded"
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
