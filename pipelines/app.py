"""Try the models side by side: a Gradio page over a comparison's models.

For each task the page takes a text (the test set's first examples are one
click away), runs every model on it through

    pipeline(kind, model=folder_or_hub_id, trust_remote_code=True)

-- the path a Hub user takes, so the page proves it -- and shows each output
with its decoding time and its source-target attention as a heatmap (the
Transformer's last decoder layer, averaged over heads or one head). Beam size
and output length are adjustable. Bad input gets a message in the page: an
empty text, a text longer than a model reads (where it was cut), a model that
failed to load or to run (the others still answer). Under load the page stays
bounded: a text of more than MAX_CHARACTERS characters (megabytes pasted or
posted) and one that is not Unicode text (lone surrogates) are refused with a
message before any model runs, the models run one request at a time, and at
most QUEUE_SIZE requests wait (the next ones are told the queue is full).

One file, two uses, one copy of the UI:

    lineage app runs/demo    pipelines/cli.py builds the catalog from the run's results.json
                             (hub.space.catalog_from_run)
    python app.py            in a Space written by `lineage publish-space`, which copies this
                             file verbatim; it reads the catalog from models.json beside it

so it imports only the standard library, numpy, torch, transformers,
matplotlib and gradio (gradio only when the page is built: the functions that
run the models work without it), never the Lineage project.

A catalog is plain JSON:
    {"title": str, "tasks": {task name: {"kind": "translation" | "summarization",
                                         "examples": [source texts],
                                         "models": [{"key", "label", "model": folder or Hub id}]}}}
"""

import contextlib
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from transformers import pipeline

logger = logging.getLogger(__name__)

CATALOG_FILE = "models.json"
KINDS = ("translation", "summarization")
VERBS = {"translation": "translate", "summarization": "summarize"}
# Limits above this are "no limit" (tokenizers default model_max_length to int(1e30)).
NO_LIMIT = 10**9
AVERAGE = "average of heads"
# Heatmap axes label at most this many tokens; longer inputs label every n-th.
MAX_TICKS = 40
# Every model run shares one queue slot: on a CPU two decodings at once only slow each other down.
CONCURRENCY_ID = "models"
# The longest text the page runs the models on. Far more than any model reads (a few thousand
# characters), and small enough that tokenizing it costs milliseconds: a text of megabytes took
# minutes and kept about 300 MB per megabyte in the server (measured: 5 MB, 186 s, 1.9 GB).
MAX_CHARACTERS = 50_000
# Requests that may wait for the models; each holds its text, so this bounds their memory.
QUEUE_SIZE = 64
# The sliders' ranges; a request made without the page is held to them too (`settings_problem`).
BEAMS = (1, 10)
NEW_TOKENS = (1, 512)


# ---------------------------------------------------------------------------- catalogs


def catalog_from_models(models: list[str], kind: str = "translation", examples: list[str] = ()) -> dict:
    """A one-task catalog over model folders or Hub ids, named by their last path part."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    entries, seen = [], set()
    for reference in models:
        key = base = Path(reference.rstrip("/")).name or reference
        number = 1
        while key in seen:  # two folders with one name keep apart
            number += 1
            key = f"{base}-{number}"
        seen.add(key)
        entries.append({"key": key, "label": key, "model": reference})
    return {"title": "Lineage", "tasks": {kind: {"kind": kind, "examples": list(examples), "models": entries}}}


# ---------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    """One catalog model: its pipeline, or why it could not be loaded."""

    key: str
    label: str
    reference: str
    pipe: object | None = None
    error: str | None = None


def load_models(catalog: dict) -> dict[str, list[LoadedModel]]:
    """Every catalog model's pipeline, per task; a model that fails to load keeps its error and the others load."""
    loaded = {}
    for task_name, task in catalog["tasks"].items():
        loaded[task_name] = []
        for entry in task["models"]:
            model = LoadedModel(entry["key"], entry["label"], entry["model"])
            try:
                model.pipe = pipeline(task["kind"], model=entry["model"], trust_remote_code=True)
            except Exception as error:  # any failure (missing folder, bad config, no network) is shown, not raised
                model.error = _one_line(error)
                logger.warning("%s: %s could not be loaded: %s", task_name, entry["model"], model.error)
            loaded[task_name].append(model)
    return loaded


# ---------------------------------------------------------------------------- running


@dataclass
class Decoded:
    """What one model made of the input.

    Attributes:
        text: the output, as `pipeline()` returns it; None when the model failed.
        seconds: wall time of the pipeline call (tokenize, generate, decode).
        source_tokens, output_tokens: the heatmap's axes.
        attention: (heads, output tokens, source tokens) weights of the last
            decoder layer; None for a model without source-target attention.
        note: the truncation message, if the input was cut.
        error: why the model gave no output.
    """

    key: str
    label: str
    text: str | None = None
    seconds: float | None = None
    source_tokens: list[str] | None = None
    output_tokens: list[str] | None = None
    attention: np.ndarray | None = None
    note: str | None = None
    error: str | None = None


def input_problem(text, kind: str) -> str | None:
    """The message for an input no model should be run on, else None: nothing (or blank), not a string,
    longer than MAX_CHARACTERS, or not Unicode text (a lone surrogate, which no tokenizer takes)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return f"Enter a text to {VERBS[kind]} first, or click one of the test set's examples."
    if not isinstance(text, str):
        return f"The input is not a text (it is {type(text).__name__}): enter a text to {VERBS[kind]}."
    if len(text) > MAX_CHARACTERS:
        return (f"The text is {len(text):,} characters long; this page takes at most {MAX_CHARACTERS:,}, far more "
                f"than its models read: shorten it.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (f"The text is not Unicode text: character {error.start + 1:,} is {ascii(text[error.start])}, "
                "half of a surrogate pair. Paste the text again from its source.")
    return None


def settings_problem(num_beams, max_new_tokens) -> str | None:
    """The message for a beam size or output length that is not a whole number in its slider's range, else None.

    The page's own sliders cannot send one; a request made without the page can.
    """
    for name, value, (low, high) in (("beam size", num_beams, BEAMS), ("max new tokens", max_new_tokens, NEW_TOKENS)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high or value % 1:
            return f"The {name} must be a whole number from {low} to {high}, not {str(value)[:40]!r}."
    return None


def input_limit(pipe) -> int | None:
    """The longest input the pipeline hands its model, in tokens; None if unbounded.

    Lineage's pipelines say so themselves (`max_input_length`); other
    pipelines are bounded by their tokenizer's `model_max_length`.
    """
    limit = getattr(pipe, "max_input_length", None)
    if limit is None:
        limit = getattr(pipe.tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < NO_LIMIT else None


def truncation_note(pipe, text: str) -> str | None:
    """A message saying where `text` is cut for this pipeline's model, or None when it fits.

    The pipeline truncates an over-long input to the model's limit (with only
    a log warning); the page says so, and quotes the text up to the cut.
    """
    limit = input_limit(pipe)
    if limit is None:
        return None
    length = len(pipe.tokenizer(text, verbose=False)["input_ids"])
    if length <= limit:
        return None
    kept = pipe.tokenizer(text, truncation=True, max_length=limit, return_offsets_mapping=True)
    cut = max(end for _, end in kept["offset_mapping"])
    return (
        f"the text is {length:,} tokens long and this model reads at most {limit:,}: it was truncated after "
        f"character {cut:,} of {len(text):,} (\u201c\u2026{text[max(0, cut - 40):cut]}\u201d)"
    )


def decode(model: LoadedModel, text: str, num_beams: int, max_new_tokens: int) -> Decoded:
    """Run one model on `text` through its pipeline, time it, and read its attention over the source."""
    result = Decoded(model.key, model.label)
    if model.pipe is None:
        result.error = f"could not be loaded: {model.error}"
        return result
    pipe = model.pipe
    try:
        result.note = truncation_note(pipe, text)
        start = time.perf_counter()
        [record] = pipe(text, num_beams=num_beams, max_new_tokens=max_new_tokens, return_tensors=True)
        result.seconds = time.perf_counter() - start
        output_ids = next(value for name, value in record.items() if name.endswith("_token_ids"))
        # What the pipeline's own text output decodes (postprocess with its defaults).
        result.text = pipe.tokenizer.decode(output_ids.tolist(), skip_special_tokens=True)
        result.source_tokens, result.output_tokens, result.attention = cross_attention(pipe, text, output_ids)
    except Exception as error:  # one model failing must not hide the others' outputs
        result.error = f"failed: {_one_line(error)}"
    return result


def decode_all(models: list[LoadedModel], text: str, num_beams: int, max_new_tokens: int) -> list[Decoded]:
    return [decode(model, text, num_beams, max_new_tokens) for model in models]


@torch.inference_mode()
def cross_attention(pipe, text: str, output_ids: torch.Tensor) -> tuple[list[str], list[str], np.ndarray | None]:
    """Source tokens, output tokens, and the last decoder layer's attention of each output token over the source.

    One teacher-forced forward pass over the output that generate() made,
    with `output_attentions=True`: exact whatever the search (greedy or beam),
    and the same standard `cross_attentions` output for every architecture
    ((batch, heads, output, source) per decoder layer; one "head" for the
    recurrent models). Returns None for the weights of a model without
    source-target attention.
    """
    model, tokenizer = pipe.model, pipe.tokenizer
    limit = input_limit(pipe)
    encoded = tokenizer(text, return_tensors="pt", truncation=limit is not None, max_length=limit)
    inputs = {name: encoded[name].to(model.device) for name in ("input_ids", "attention_mask")}
    output_ids = output_ids.reshape(1, -1).to(model.device)
    with eager_attention(model):
        forward = model(**inputs, decoder_input_ids=output_ids[:, :-1], output_attentions=True)
    weights = forward.cross_attentions[-1][0].float().cpu().numpy() if forward.cross_attentions else None
    return (
        tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist()),
        tokenizer.convert_ids_to_tokens(output_ids[0, 1:].tolist()),
        weights,
    )


@contextlib.contextmanager
def eager_attention(model):
    """Run with the eager attention implementation, the only one that returns weights, then switch back.

    Generation keeps the model's own implementation (sdpa for the
    Transformer), so outputs stay exactly those of a plain `pipeline()`.
    """
    # transformers has no public getter for the implementation in use (set_attn_implementation has no twin):
    # the config's private attribute is read, and tests/test_app.py's attention checks fail if it goes.
    before = getattr(model.config, "_attn_implementation", None)
    if before in (None, "eager"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def attention_matrix(weights: np.ndarray, head: int | None) -> np.ndarray:
    """(output, source) weights: one head's, or the heads' average (head None, or a head the model lacks)."""
    if head is None or not 0 <= head < weights.shape[0]:
        return weights.mean(0)
    return weights[head]


def attention_title(result: Decoded, head: int | None) -> str:
    heads = result.attention.shape[0]
    if heads == 1:
        return f"{result.label}: attention over the source"
    which = f"head {head + 1} of {heads}" if head is not None and head < heads else f"average of {heads} heads"
    return f"{result.label}: cross-attention, last layer, {which}"


def attention_figure(result: Decoded, head: int | None) -> Figure | None:
    """The heatmap of one model's attention (rows: output tokens, columns: source tokens); None without one."""
    if result.attention is None:
        return None
    matrix = attention_matrix(result.attention, head)
    outputs, sources = matrix.shape
    # About 1/6 inch a token: the page shows three models side by side, each figure scaled to its column.
    figure = Figure(figsize=(min(2.5 + 0.16 * sources, 10), min(1.8 + 0.16 * outputs, 10)), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="viridis", aspect="auto", interpolation="nearest", vmin=0)
    for axis, tokens, rotation in ((axes.xaxis, result.source_tokens, 90), (axes.yaxis, result.output_tokens, 0)):
        step = max(1, math.ceil(len(tokens) / MAX_TICKS))
        axis.set_ticks(range(0, len(tokens), step), tokens[::step], rotation=rotation, fontsize=8)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    axes.set_title(attention_title(result, head), fontsize=9)
    figure.colorbar(image, ax=axes, shrink=0.8)
    return figure


def head_index(choice: str | None) -> int | None:
    """The dropdown's "head 3" -> 2; the average -> None."""
    match = re.fullmatch(r"head (\d+)", choice or "")
    return int(match.group(1)) - 1 if match else None


def head_choices(results: list[Decoded]) -> list[str]:
    """The average, and one choice per head of the model with the most heads."""
    heads = max((result.attention.shape[0] for result in results if result.attention is not None), default=1)
    return [AVERAGE] + ([f"head {number}" for number in range(1, heads + 1)] if heads > 1 else [])


def page_message(results: list[Decoded], num_beams: int, max_new_tokens: int) -> str:
    """The Markdown above the outputs: what ran, and every truncation and failure."""
    lines = [f"**{result.label}**: {_escape(result.note)}." for result in results if result.note]
    lines += [f"**{result.label}** {_escape(result.error)}" for result in results if result.error]
    answered = sum(result.text is not None for result in results)
    lines.append(f"{answered} of {len(results)} models answered (beam size {num_beams}, "
                 f"at most {max_new_tokens} new tokens).")
    return "\n\n".join(lines)


def load_message(models: list[LoadedModel]) -> str:
    """The Markdown shown before any run: the models that failed to load, if any."""
    return "\n\n".join(f"**{model.label}** could not be loaded ({_escape(model.reference)}): {_escape(model.error)}"
                       for model in models if model.error)


def idle_status(model: LoadedModel) -> str:
    """A model's line under its output before it has run: empty, or why it could not be loaded."""
    return f"\u26a0\ufe0f could not be loaded: {_escape(model.error)}" if model.error else ""


def model_status(result: Decoded) -> str:
    """One model's line under its output: time and length, or its error."""
    if result.error:
        return f"\u26a0\ufe0f {_escape(result.error)}"
    parts = [f"{result.seconds * 1000:,.0f} ms", f"{len(result.output_tokens)} output tokens"]
    if result.note:
        parts.append("input truncated")
    if result.attention is None:
        parts.append("no source-target attention in this model")
    return " \u00b7 ".join(parts)


def _escape(text: str) -> str:
    """Text shown as itself in Markdown (user input and error messages may contain markup)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~])", r"\\\1", text)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


# ---------------------------------------------------------------------------- the page


def build_page(catalog: dict, loaded: dict[str, list[LoadedModel]]):
    """The Gradio Blocks page: one tab per task."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry calls
    import gradio as gr

    with gr.Blocks(title=catalog.get("title") or "Lineage", analytics_enabled=False) as page:
        gr.Markdown(f"# {catalog.get('title') or 'Lineage'}\n"
                    "Every model gets the same text; each shows its output, its decoding time and where it "
                    "looked in the source while writing each output token.")
        with gr.Tabs():
            for task_name, task in catalog["tasks"].items():
                with gr.Tab(task_name, id=task_name):
                    _task_tab(gr, task_name, task, loaded[task_name])
    return page


def _task_tab(gr, task_name: str, task: dict, models: list[LoadedModel]) -> None:
    """One task's input, settings, examples and a column per model, wired to run them all."""
    kind = task["kind"]
    beams, new_tokens = _generation_defaults(models)
    text = gr.Textbox(label=f"Text to {VERBS[kind]}", lines=3 if kind == "translation" else 8,
                      elem_id=f"input-{task_name}")
    if task.get("examples"):
        gr.Examples([[example] for example in task["examples"]], inputs=[text], label="Test set examples",
                    cache_examples=False, elem_id=f"examples-{task_name}")
    with gr.Row():
        num_beams = gr.Slider(*BEAMS, value=beams, step=1, label="beam size", elem_id=f"beams-{task_name}")
        max_new_tokens = gr.Slider(*NEW_TOKENS, value=new_tokens, step=1, label="max new tokens",
                                   elem_id=f"max-new-tokens-{task_name}")
        head = gr.Dropdown([AVERAGE], value=AVERAGE, label="Transformer attention head",
                           elem_id=f"head-{task_name}")
    run = gr.Button("Run every model", variant="primary", elem_id=f"run-{task_name}")
    message = gr.Markdown(load_message(models), elem_id=f"message-{task_name}")
    outputs, plots = [], []
    with gr.Row(equal_height=False):
        for model in models:
            with gr.Column(min_width=320):
                gr.Markdown(f"### {model.label}\n`{model.reference}`")
                output = gr.Textbox(label="output", interactive=False, lines=2, elem_id=f"output-{task_name}-{model.key}")
                status = gr.Markdown(idle_status(model), elem_id=f"status-{task_name}-{model.key}")
                # The figure's own title says which attention it shows.
                plot = gr.Plot(show_label=False, format="png", elem_id=f"attention-{task_name}-{model.key}")
                outputs += [output, status, plot]
                plots.append(plot)
    results_state = gr.State([])

    def on_run(source, beam_size, new_token_limit, head_choice):
        # The inputs arrive as sent (preprocess=False below): a request made without the page gets this
        # message for a bad value too, where gradio's own checks answer some with no message at all.
        problem = input_problem(source, kind) or settings_problem(beam_size, new_token_limit)
        if problem:  # the message, and no outputs left over from an earlier text
            return [problem, [], gr.update()] + [value for model in models for value in ("", idle_status(model), None)]
        beam_size, new_token_limit = int(beam_size), int(new_token_limit)
        results = decode_all(models, source, beam_size, new_token_limit)
        choices = head_choices(results)
        chosen = head_choice if head_choice in choices else AVERAGE
        updates = []
        for result in results:
            updates += [result.text or "", model_status(result), attention_figure(result, head_index(chosen))]
        return [page_message(results, beam_size, new_token_limit), results,
                gr.update(choices=choices, value=chosen)] + updates

    def on_head(results, head_choice):
        return [attention_figure(result, head_index(head_choice)) for result in results] or [None] * len(plots)

    triggers = [run.click, text.submit]
    gr.on(triggers, on_run, inputs=[text, num_beams, max_new_tokens, head],
          outputs=[message, results_state, head, *outputs], concurrency_id=CONCURRENCY_ID, preprocess=False)
    head.input(on_head, inputs=[results_state, head], outputs=plots)  # the user's choice only, not on_run's update


def _generation_defaults(models: list[LoadedModel]) -> tuple[int, int]:
    """The sliders' start: the first loaded model's own beam size and output length (its generation_config)."""
    for model in models:
        if model.pipe is not None:
            config = model.pipe.model.generation_config
            return config.num_beams or 4, config.max_new_tokens or 128
    return 4, 128


def serve(catalog: dict, host: str | None = "127.0.0.1", port: int | None = None) -> None:
    """Load every model, build the page and serve it until interrupted.

    host/port None leave them to gradio (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, as a Space sets them).
    """
    page = build_page(catalog, load_models(catalog))
    page.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    page.launch(server_name=host, server_port=port, ssr_mode=False, show_error=False)


def main() -> None:
    """A Space's entry point: the catalog in models.json beside this file."""
    catalog = json.loads((Path(__file__).resolve().parent / CATALOG_FILE).read_text())
    serve(catalog, host=None)


if __name__ == "__main__":
    main()
