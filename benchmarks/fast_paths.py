"""Before/after figures for the fast paths: each one timed with and without it, in one run.

    make bench                                   # speed.py, then this
    .venv/bin/python benchmarks/fast_paths.py    # this alone (about 2 minutes on 2 CPU cores)

Writes `benchmarks/results/<hostname>-<YYYY-MM-DD>-fast-paths.json`. Every
entry holds the two measurements ("with" the fast path, "without" it) and
`speedup` = with / without in the entry's unit (tokens/s or sentences/s):

- fused_decoder: LSTM + Luong attention training, one fused nn.LSTM call and
  batched attention over all target positions, vs the per-step decoder loop
  computing the same function (the loop that Bahdanau attention needs).
- length_bucketing: Multi30k de-en training batches sorted by length within
  pools of 10k examples vs random batches under the same token budget:
  padding fraction and real (non-padding) target tokens/s.
- threads: training with one thread per physical core vs one thread and vs
  twice as many (oversubscribed).
- inference_mode: batched beam-5 decoding under torch.inference_mode vs torch.no_grad.
- cached_decoding: one sentence decoded greedily to 64 tokens with the recurrent
  state cache, with its per-step fast paths (PyTorch's native kernel for the one
  recurrent step: oneDNN's costs ~0.5 ms more per call; the model's own
  prepare_inputs_for_generation) vs without them, and the cache's speedup over
  uncached decoding both ways.
- freed_memory: training with glibc's malloc keeping freed memory for reuse
  (lineage.training.cpu.keep_freed_memory) vs its default, which maps and
  unmaps every tensor over 32 MB (a batch's logits over the vocabulary) at
  every step; each side in a fresh process, with its peak memory.
- denormals (with --trained_model): training steps of a trained model on real
  Multi30k batches with denormal floats flushed to zero vs computed (one
  thread, where the mode can be switched within a process). Fresh models have
  none; a trained RNN's backward pass is full of them.

Models are the `small` sizes with the training loop's step (lineage.speed.training.training_step).
"""

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil
import torch
from lineage.configs import option
from lineage.speed.config import build, synthetic_batches
from lineage.speed.corpus import collated, multi30k_examples
from lineage.speed.decoding import time_generate
from lineage.speed.measure import environment
from lineage.speed.training import isolation_context, measure_freed_memory, training_speed

RESULTS_DIR = Path(__file__).resolve().parent / "results"

CPU = torch.device("cpu")


def compared(with_value: float, without_value: float, unit: str, **setting) -> dict:
    return {**setting, "unit": unit, "with": with_value, "without": without_value, "speedup": with_value / without_value}


def fused_decoder(lengths=(32, 64), batch_tokens: int = 4096, steps: int = 4, size: str = "small") -> list[dict]:
    rows = []
    for length in lengths:
        model = build("lstm-luong-general", size, length)
        batches = synthetic_batches(model, length, batch_tokens, steps + 1)
        fused = training_speed(model, batches)
        model.decoder.stepwise = True  # the loop path; for Luong without input feeding it computes the same
        loop = training_speed(model, batches)
        rows.append(compared(fused, loop, "target tokens/s", model="lstm-luong-general", length=length))
    return rows


def length_bucketing(batch_tokens: int = 4096, steps: int = 12, size: str = "small", train_samples: int | None = None) -> dict:
    from lineage.data.batching import Seq2SeqCollator, TokenBatchSampler, padding_fraction

    tokenizer, sources, targets = multi30k_examples(4000, train_samples)
    source_lengths, target_lengths = [len(s) for s in sources], [len(t) for t in targets]
    model = build("lstm-luong-general", size, 128, vocab_size=len(tokenizer))
    collate = Seq2SeqCollator(tokenizer.pad_token_id, model.config.decoder_start_token_id)
    result = {}
    sampler = TokenBatchSampler(source_lengths, target_lengths, batch_tokens)
    random_order = np.random.default_rng(0).permutation(len(sources))
    # Without: the shuffled examples cut into batches under the same budget, unsorted.
    for variant, batches in (("with", sampler.all_batches(0)), ("without", sampler._cut(random_order))):
        tensors = collated(collate, sources, targets, batches, steps + 1)
        result[variant] = {
            "batches_per_epoch": len(batches),
            "padding_fraction": padding_fraction(batches, source_lengths, target_lengths),
            "real_target_tokens_per_second": training_speed(model, tensors),
        }
    return {"unit": "real target tokens/s", "model": "lstm-luong-general", "batch_tokens": batch_tokens, **result,
            "speedup": result["with"]["real_target_tokens_per_second"]
            / result["without"]["real_target_tokens_per_second"]}


def threads(length: int = 32, batch_tokens: int = 4096, steps: int = 3, size: str = "small") -> dict:
    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    model = build("transformer", size, length)
    batches = synthetic_batches(model, length, batch_tokens, steps + 1)
    previous = torch.get_num_threads()
    speeds = {}
    for count in sorted({1, physical, 2 * physical}):
        torch.set_num_threads(count)
        speeds[count] = training_speed(model, batches)
    torch.set_num_threads(previous)
    return {"unit": "target tokens/s", "model": "transformer", "length": length, "physical_cores": physical,
            "tokens_per_second_by_threads": speeds,
            "speedup_vs_one_thread": speeds[physical] / speeds[1],
            "speedup_vs_oversubscribed": speeds[physical] / speeds[2 * physical]}


def inference_mode(length: int = 32, batch_size: int = 16, size: str = "small") -> dict:
    model = build("transformer", size, length).eval()
    ids = torch.randint(4, model.config.vocab_size, (batch_size, length), generator=torch.Generator().manual_seed(0))
    kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=5, max_new_tokens=length,
                  min_new_tokens=length)
    speeds = {}
    for variant, context in (("with", torch.inference_mode), ("without", torch.no_grad)):
        seconds = []
        for _ in range(3):
            with context():
                start = time.perf_counter()
                model.generate(**kwargs)
                seconds.append(time.perf_counter() - start)
        speeds[variant] = batch_size / statistics.median(seconds)
    return compared(speeds["with"], speeds["without"], "sentences/s", model="transformer",
                    setting=f"beam 5, batch {batch_size}, {length} new tokens")


def cached_decoding(length: int = 64, size: str = "small", models=("rnn-luong-general", "lstm-luong-general", "lstm-none")) -> list[dict]:
    """One sentence, greedy, `length` new tokens: the recurrent state cache with and without its two
    per-step fast paths (PyTorch's native kernel for the single recurrent step instead of oneDNN's,
    and the model's own prepare_inputs_for_generation instead of GenerationMixin's), and uncached."""
    rows = []
    for name in models:
        model = build(name, size, length).eval()

        def decode(use_cache: bool = True) -> float:
            return time_generate(model, length, 1, 1, use_cache, CPU, repeats=5, repeat_below=10.0)["seconds"]

        decode()  # warm-up
        seconds = {"with": decode(), "uncached": decode(use_cache=False)}
        model.get_decoder().native_step = False  # oneDNN for every call
        seconds["without_native_step"] = decode()
        model.own_generation_inputs = False
        seconds["without"] = decode()
        rows.append(compared(1 / seconds["with"], 1 / seconds["without"], "sentences/s", model=name,
                             setting=f"greedy, batch 1, {length} new tokens")
                    | {"without_native_step_only": 1 / seconds["without_native_step"], "uncached": 1 / seconds["uncached"],
                       "cache_speedup": seconds["uncached"] / seconds["with"],
                       "cache_speedup_without_fast_paths": seconds["uncached"] / seconds["without"]})
    return rows


def freed_memory(models=("lstm-luong-general", "lstm-pointer-generator", "transformer"), length: int = 128,
                 batch_tokens: int = 4096, steps: int = 4, size: str = "small") -> list[dict]:
    rows = []
    for model in models:
        measured = {}
        for variant, keep in (("without", False), ("with", True)):
            job = dict(model=model, size=size, length=length, batch_tokens=batch_tokens, steps=steps, keep=keep,
                       threads=torch.get_num_threads())
            with isolation_context().Pool(1, maxtasksperchild=1) as pool:
                measured[variant] = pool.apply(measure_freed_memory, (job,))
        row = compared(measured["with"]["tokens_per_second"], measured["without"]["tokens_per_second"],
                       "target tokens/s", model=model, length=length)
        row["peak_rss_mb"] = {variant: measured[variant]["peak_rss_mb"] for variant in ("with", "without")}
        rows.append(row)
    return rows


def denormals(model_dir: Path, batch_tokens: int = 4096, steps: int = 5) -> dict:
    from lineage.data.batching import Seq2SeqCollator, TokenBatchSampler
    from lineage.data.encoding import tokenize_split
    from lineage.data.loading import load_splits
    from lineage.data.tasks import get_task
    from lineage.data.tokenizer import load_tokenizer
    from transformers import AutoModelForSeq2SeqLM

    tokenizer, model = load_tokenizer(model_dir), AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    task = get_task("multi30k")
    data = tokenize_split(load_splits(task, ("train",))["train"].select(range(3000)), tokenizer, task)
    sources, targets = list(data["input_ids"]), list(data["labels"])
    batches = TokenBatchSampler([len(s) for s in sources], [len(t) for t in targets], batch_tokens).all_batches(0)
    collate = Seq2SeqCollator(tokenizer.pad_token_id, model.config.decoder_start_token_id)
    tensors = collated(collate, sources, targets, batches, steps + 1)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    speeds = {}
    for variant, flush in (("without", False), ("with", True)):
        torch.set_flush_denormal(flush)
        speeds[variant] = training_speed(model, tensors)
    torch.set_num_threads(previous)
    return compared(speeds["with"], speeds["without"], "real target tokens/s", model=str(model_dir),
                    setting="training on Multi30k batches, one thread (learning rate 1e-4 from the trained weights)")


def run(trained_model: Path | None = None) -> dict:
    from lineage.training.cpu import configure_cpu

    configure_cpu()
    started = time.perf_counter()
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "environment": environment(CPU)}
    for name, measure in (("fused_decoder", fused_decoder), ("length_bucketing", length_bucketing), ("threads", threads),
                          ("inference_mode", inference_mode), ("cached_decoding", cached_decoding),
                          ("freed_memory", freed_memory)):
        part = time.perf_counter()
        result[name] = measure()
        print(f"fast paths: {name} in {time.perf_counter() - part:.0f} s", file=sys.stderr)
    if trained_model:
        result["denormals"] = denormals(trained_model)
    result["not_measured"] = {
        "torch.compile": "measured by benchmarks/compile.py (benchmarks/README.md, \"torch.compile on the "
                         "CPU\"): not adopted",
        "bf16 autocast": "GPU only (speed.py runs it there); no GPU was available for these figures",
    }
    result["total_seconds"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    option(parser, "--output_dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    option(parser, "--trained_model", type=Path, default=None,
                        help="a trained Multi30k de-en model folder (e.g. runs/<name>/multi30k-de-en/rnn/best) "
                             "for the denormals figure")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lineage.files import write_json

    result = run(args.trained_model)
    path = args.output_dir / f"{result['environment']['hostname']}-{result['date']}-fast-paths.json"
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
