"""torch.compile (inductor) of the training step on the CPU against eager, per architecture, in one process.

    .venv/bin/python benchmarks/compile.py [--models ...] [--lengths 32,128] [--bucketed_batches 10]

Writes `benchmarks/results/<hostname>-<YYYY-MM-DD>-compile.json`. What is compiled is the model,
`torch.compile(model)`: its forward pass, and through AOTAutograd its backward pass; the loss, clipping and the
AdamW step run as the training loop runs them (lineage.speed.training.training_step), so the figures are what
compiling the model in the training loop (or Accelerate's `dynamo_backend`) would give. Inductor's caches start
empty (a fresh cache folder), so compile times are a first run's; inductor compiles with as many threads as torch
computes with.

- fixed: per model and length, random batches of that one shape (lineage.speed.config.synthetic_batches); the same
  model and batches are stepped eager and compiled (`dynamic=False`), alternating (eager first, then compiled
  first, ...), so that load from other processes falls on both alike: the ratio `compiled_over_eager` (tokens/s) is
  the figure. `compile_seconds` = the first compiled step (tracing, code generation and C++ compilation of forward
  and backward) less a median compiled step.
- bucketed: the first `bucketed_batches` training batches of a Multi30k de-en epoch as the training loop draws them
  (TokenBatchSampler at `batch_tokens`: length-bucketed, so batch size, source and target width change from batch
  to batch). `shapes`: how many distinct (batch, source, target) shapes a whole epoch has, as padded and with both
  widths padded up to a multiple of 8, 16, 32 (the fewest graphs a static compile would need per epoch).
  `graphs`: graphs dynamo compiles over the sequence with dynamic=False, None (torch's default: static, then
  dynamic once a shape changes) and True, counted with the `aot_eager` backend (dynamo's guards decide a
  recompile, not the backend) and `recompile_limit` lifted. `inductor_dynamic`: the sequence stepped eager,
  compiled with `dynamic=True` (its first pass compiles), compiled, eager again; compile seconds = first compiled
  pass less the second, `compiled_over_eager` = real target tokens/s of the second compiled pass over the eager
  passes' median, and `twenty_minute_run` = (1200 s - compile seconds) x that ratio / 1200 s: the tokens a
  20-minute run trains compiled, relative to eager.
"""

import argparse
import os
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from lineage.configs import option
from lineage.speed.config import VOCAB_SIZE, Vocabulary, build, synthetic_batches
from lineage.speed.corpus import collated, multi30k_examples
from lineage.speed.documents import benchmark_document, benchmark_path, save_benchmark
from lineage.speed.measure import environment
from lineage.speed.training import timed_steps
from lineage.training.cpu import configure_cpu

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MODELS = ("rnn-luong-general", "lstm-luong-general", "lstm-pointer-generator", "mingru-luong-general",
          "minlstm-luong-general", "transformer")
TWENTY_MINUTES = 1200.0
PAD_MULTIPLES = (8, 16, 32)


def fresh_optimizer(model) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-8)


def counting_backend(backend: str, graphs: list):
    """`backend` (a torch.compile backend name) that appends every graph it compiles to `graphs`."""
    compile_graph = torch._dynamo.lookup_backend(backend)

    def counted(graph_module, example_inputs):
        graphs.append(len(graph_module.graph.nodes))
        return compile_graph(graph_module, example_inputs)

    return counted


def graph_breaks() -> dict:
    """Dynamo's graph-break reasons (their first line) since its last reset, with counts."""
    reasons = Counter()
    for reason, count in torch._dynamo.utils.counters["graph_break"].items():
        reasons[reason.split("\n")[0]] += count
    return dict(reasons)


def compare_fixed(name: str, size: str, length: int, batch_tokens: int, steps: int, rounds: int) -> dict:
    """Eager against `torch.compile(dynamic=False)` on one shape, alternating rounds of `steps` steps."""
    torch._dynamo.reset()
    model = build(name, size, length).train()
    graphs = []
    variants = {"eager": model, "compiled": torch.compile(model, backend=counting_backend("inductor", graphs), dynamic=False)}
    optimizer = fresh_optimizer(model)
    batches = synthetic_batches(model, length, batch_tokens, steps)
    timed_steps(model, batches[:1], optimizer)  # eager warm-up
    first_compiled = timed_steps(variants["compiled"], batches[:1], optimizer)[0]
    seconds = {variant: [] for variant in variants}
    for round_index in range(rounds):
        for variant in list(variants)[:: 1 if round_index % 2 == 0 else -1]:
            seconds[variant] += timed_steps(variants[variant], batches, optimizer)
    tokens = int((batches[0]["labels"] != -100).sum())
    speed = {variant: tokens / statistics.median(values) for variant, values in seconds.items()}
    return {"model": name, "size": size, "length": length, "target_tokens_per_step": tokens,
            "first_compiled_step_seconds": first_compiled,
            "compile_seconds": first_compiled - statistics.median(seconds["compiled"]),
            "graphs_compiled": len(graphs), "graph_breaks": graph_breaks(),
            "step_seconds": {variant: [round(value, 4) for value in values] for variant, values in seconds.items()},
            "tokens_per_second": speed, "compiled_over_eager": speed["compiled"] / speed["eager"]}


def multi30k_batches(vocab_size: int, batch_tokens: int, count: int) -> tuple[list[dict], dict]:
    """The first `count` training batches of a Multi30k de-en epoch (tensors), and the epoch's shape counts."""
    from lineage.data.batching import Seq2SeqCollator, TokenBatchSampler

    tokenizer, sources, targets = multi30k_examples(vocab_size)
    source_lengths = np.array([len(s) for s in sources])
    target_lengths = np.array([len(t) for t in targets])
    epoch = TokenBatchSampler(source_lengths, target_lengths, batch_tokens).all_batches(0)
    widths = [(len(b), int(source_lengths[b].max()), int(target_lengths[b].max())) for b in epoch]
    shapes = {"batches": len(epoch), "distinct": len(set(widths))}
    for multiple in PAD_MULTIPLES:
        shapes[f"distinct_padded_to_multiple_of_{multiple}"] = len(
            {(size, -(-source // multiple) * multiple, -(-target // multiple) * multiple) for size, source, target in widths})
    collate = Seq2SeqCollator(tokenizer.pad_token_id, Vocabulary.bos_token_id)
    batches = collated(collate, sources, targets, epoch, count)
    shapes["sequence"] = [list(batch["input_ids"].shape) + [batch["labels"].shape[1]] for batch in batches]
    return batches, shapes


def count_graphs(name: str, size: str, batches: list[dict], dynamic: bool | None) -> dict:
    """Graphs dynamo compiles (aot_eager) over `batches`, at the first batch and in all."""
    torch._dynamo.reset()
    model = build(name, size, 512, vocab_size=VOCAB_SIZE).train()
    graphs = []
    compiled = torch.compile(model, backend=counting_backend("aot_eager", graphs), dynamic=dynamic)
    optimizer = fresh_optimizer(model)
    timed_steps(compiled, batches[:1], optimizer)
    at_first = len(graphs)
    timed_steps(compiled, batches[1:], optimizer)
    return {"at_first_batch": at_first, "total": len(graphs), "recompiled": len(graphs) - at_first,
            "graph_breaks": graph_breaks()}


def compare_bucketed(name: str, size: str, batches: list[dict]) -> dict:
    """Eager against inductor `dynamic=True` over the bucketed sequence (see the module's description)."""
    torch._dynamo.reset()
    model = build(name, size, 512, vocab_size=VOCAB_SIZE).train()
    graphs = []
    compiled = torch.compile(model, backend=counting_backend("inductor", graphs), dynamic=True)
    optimizer = fresh_optimizer(model)
    timed_steps(model, batches[:1], optimizer)  # eager warm-up
    passes = {"eager": [sum(timed_steps(model, batches, optimizer))]}
    compiling = sum(timed_steps(compiled, batches, optimizer))
    graphs_first_pass = len(graphs)
    passes["compiled"] = [sum(timed_steps(compiled, batches, optimizer))]
    passes["eager"].append(sum(timed_steps(model, batches, optimizer)))
    tokens = sum(int((batch["labels"] != -100).sum()) for batch in batches)
    speed = {variant: tokens / statistics.median(seconds) for variant, seconds in passes.items()}
    compile_seconds = compiling - passes["compiled"][0]
    ratio = speed["compiled"] / speed["eager"]
    return {"graphs_first_pass": graphs_first_pass, "graphs_second_pass": len(graphs) - graphs_first_pass,
            "first_compiled_pass_seconds": compiling, "compile_seconds": compile_seconds,
            "pass_seconds": passes, "real_target_tokens_per_second": speed, "compiled_over_eager": ratio,
            "twenty_minute_run": max(0.0, TWENTY_MINUTES - compile_seconds) * ratio / TWENTY_MINUTES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    option(parser, "--models", default=",".join(MODELS), help="benchmark models (lineage.speed.config.MODELS)")
    option(parser, "--lengths", default="32,128", help="source = target lengths of the fixed-shape part, comma-separated")
    option(parser, "--size", default="small", help="model size (models/sizes.py)")
    option(parser, "--batch_tokens", type=int, default=2048, help="target tokens per batch (both parts)")
    option(parser, "--steps", type=int, default=2, help="timed steps per variant and round (fixed part)")
    option(parser, "--rounds", type=int, default=2, help="alternating rounds per model and length (fixed part)")
    option(parser, "--bucketed_batches", type=int, default=10, help="Multi30k batches in the bucketed sequence")
    option(parser, "--parts", default="fixed,bucketed", help="which parts to run, comma-separated")
    option(parser, "--output_dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    args = parser.parse_args(argv)
    configure_cpu()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="lineage-inductor-")
    torch._inductor.config.compile_threads = torch.get_num_threads()
    torch._dynamo.config.recompile_limit = 1000  # count every recompile instead of falling back to eager
    machine = {**environment(torch.device("cpu")), "threads": torch.get_num_threads()}
    document = {**benchmark_document(__doc__.split("\n\n", 2)[2], args, machine), "fixed": [], "bucketed": {}}
    path = benchmark_path(args.output_dir, document, "compile")
    models, parts = args.models.split(","), args.parts.split(",")
    if "bucketed" in parts:
        batches, document["bucketed"]["shapes"] = multi30k_batches(VOCAB_SIZE, args.batch_tokens, args.bucketed_batches)
        print(f"shapes {document['bucketed']['shapes']}", flush=True)
    for name in models:
        for length in map(int, args.lengths.split(",")) if "fixed" in parts else ():
            row = compare_fixed(name, args.size, length, args.batch_tokens, args.steps, args.rounds)
            document["fixed"].append(row)
            print(f"fixed    {name:24s} L={length:4d}  eager {row['tokens_per_second']['eager']:7.0f}  compiled "
                  f"{row['tokens_per_second']['compiled']:7.0f} tok/s  ratio {row['compiled_over_eager']:.2f}  "
                  f"compile {row['compile_seconds']:.0f} s  graphs {row['graphs_compiled']}", flush=True)
            save_benchmark(path, document)
        if "bucketed" in parts:
            row = {"model": name, "graphs": {str(dynamic): count_graphs(name, args.size, batches, dynamic)
                                             for dynamic in (False, None, True)}}
            row["inductor_dynamic"] = compare_bucketed(name, args.size, batches)
            document["bucketed"].setdefault("models", []).append(row)
            inductor = row["inductor_dynamic"]
            print(f"bucketed {name:24s} graphs (False/None/True) "
                  f"{'/'.join(str(g['total']) for g in row['graphs'].values())}  dynamic ratio "
                  f"{inductor['compiled_over_eager']:.2f}  compile {inductor['compile_seconds']:.0f} s  "
                  f"20-min run {inductor['twenty_minute_run']:.2f}", flush=True)
            save_benchmark(path, document)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
