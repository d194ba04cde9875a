"""The side-by-side app (pipelines/app.py): outputs equal pipeline()'s, attention read from the standard
outputs, messages for bad input, failing models beside working ones, and the page itself in a real
headless browser (tests/browser.py), started the way a user starts it: `lineage app RUN_DIR`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import browser  # tests/browser.py
import isolated  # tests/isolated.py
import numpy as np
import pytest
from launch import free_port
from lineage import app
from lineage.hub import space
from matplotlib.figure import Figure
from transformers import pipeline

TASK = "multi30k-de-en"
ROWS = ["rnn", "lstm", "transformer"]
GERMAN = "Ein Mann fährt mit dem Fahrrad durch die Stadt."


@pytest.fixture(scope="module")
def catalog(tiny_compare_run):
    return space.catalog_from_run(tiny_compare_run)


@pytest.fixture(scope="module")
def loaded(catalog):
    return app.load_models(catalog)[TASK]


def plain_pipeline(tiny_compare_run, row):
    """The model as a Hub user loads it: a pipeline of its own, not the app's."""
    return pipeline("translation", model=str(tiny_compare_run / "models" / f"{TASK}-{row}"), trust_remote_code=True)


# ---------------------------------------------------------------------------- catalogs


def test_catalog_of_a_run_lists_its_models_and_test_examples(tiny_compare_run, catalog):
    results = json.loads((tiny_compare_run / "results.json").read_text())
    task = catalog["tasks"][TASK]
    assert task["kind"] == "translation"
    assert task["examples"] == results["tasks"][TASK]["test_sources"] and len(task["examples"]) == 5
    assert [model["key"] for model in task["models"]] == ROWS
    for model in task["models"]:
        entry = results["tasks"][TASK]["models"][model["key"]]
        assert model["label"] == entry["label"]
        assert Path(model["model"]) == tiny_compare_run / entry["folder"]
    with pytest.raises(FileNotFoundError, match="no results.json"):
        space.catalog_from_run(tiny_compare_run / "models")


def test_catalog_of_model_folders_and_hub_ids():
    catalog = app.catalog_from_models(["runs/a/models/x-lstm", "other/models/x-lstm/", "user/repo"], "summarization")
    task = catalog["tasks"]["summarization"]
    assert task["kind"] == "summarization" and task["examples"] == []
    assert [(m["key"], m["model"]) for m in task["models"]] == [
        ("x-lstm", "runs/a/models/x-lstm"), ("x-lstm-2", "other/models/x-lstm/"), ("repo", "user/repo")]
    with pytest.raises(ValueError, match="unknown kind 'qa'"):
        app.catalog_from_models(["user/repo"], "qa")


# ---------------------------------------------------------------------------- running the models


def test_outputs_are_pipeline_outputs_with_attention_over_the_source(tiny_compare_run, loaded):
    results = app.decode_all(loaded, GERMAN, num_beams=3, max_new_tokens=16)
    assert [result.key for result in results] == ROWS
    for result, model in zip(results, loaded):
        assert result.error is None and result.note is None
        expected = plain_pipeline(tiny_compare_run, result.key)(GERMAN, num_beams=3, max_new_tokens=16)
        assert result.text == expected[0]["translation_text"], result.key
        assert result.seconds > 0
        assert result.source_tokens == model.pipe.tokenizer.convert_ids_to_tokens(model.pipe.tokenizer(GERMAN)["input_ids"])
        heads, rows, columns = result.attention.shape
        assert heads == (2 if result.key == "transformer" else 1)  # the tiny Transformer has 2 heads
        assert (rows, columns) == (len(result.output_tokens), len(result.source_tokens))
        np.testing.assert_allclose(result.attention.sum(-1), 1.0, atol=1e-4)  # each output token's distribution
    # The Transformer generates with its own attention kernel again after the eager pass.
    assert loaded[2].pipe.model.config._attn_implementation == "sdpa"


def test_summarization_runs_through_the_summarization_pipeline(tiny_compare_run):
    folder = str(tiny_compare_run / "models" / f"{TASK}-lstm")
    [model] = app.load_models(app.catalog_from_models([folder], "summarization"))["summarization"]
    [result] = app.decode_all([model], GERMAN, num_beams=2, max_new_tokens=12)
    expected = pipeline("summarization", model=folder, trust_remote_code=True)(GERMAN, num_beams=2, max_new_tokens=12)
    assert result.text == expected[0]["summary_text"] and result.attention is not None


def test_attention_of_a_model_without_attention_is_none(tmp_path, tiny_compare_run):
    from lineage.data.tokenizer import load_tokenizer
    from lineage.models import build_model, save_model_folder

    tokenizer = load_tokenizer(tiny_compare_run / "models" / f"{TASK}-lstm")
    folder = save_model_folder(build_model("lstm", tokenizer, size="tiny", attention="none"), tokenizer,
                               tmp_path / "lstm-no-attention")
    [model] = app.load_models(app.catalog_from_models([str(folder)]))["translation"]
    [result] = app.decode_all([model], GERMAN, num_beams=1, max_new_tokens=4)
    assert result.error is None and result.text is not None and result.attention is None
    assert app.attention_figure(result, None) is None
    assert "no source-target attention" in app.model_status(result)


def test_heads_average_or_one(loaded):
    [result] = app.decode_all(loaded[2:], GERMAN, num_beams=1, max_new_tokens=8)
    weights = result.attention
    np.testing.assert_allclose(app.attention_matrix(weights, None), weights.mean(0))
    np.testing.assert_array_equal(app.attention_matrix(weights, 1), weights[1])
    np.testing.assert_allclose(app.attention_matrix(weights, 7), weights.mean(0))  # a head it lacks
    assert app.head_choices([result]) == [app.AVERAGE, "head 1", "head 2"]
    assert (app.head_index("head 2"), app.head_index(app.AVERAGE)) == (1, None)
    figure = app.attention_figure(result, 1)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == result.source_tokens
    assert [label.get_text() for label in axes.get_yticklabels()] == result.output_tokens
    assert axes.get_title() == "Transformer: cross-attention, last layer, head 2 of 2"


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("text", ["", "   \n\t", None])
def test_empty_text_gets_a_message(text):
    assert app.input_problem(text, "translation") == (
        "Enter a text to translate first, or click one of the test set's examples.")
    assert app.input_problem(text, "summarization").startswith("Enter a text to summarize first")


def test_text_over_the_limit_says_it_was_truncated_and_where(tiny_compare_run, loaded):
    long_text = " ".join([GERMAN] * 90)
    tokenizer = loaded[0].pipe.tokenizer
    length = len(tokenizer(long_text, verbose=False)["input_ids"])
    limit = app.input_limit(loaded[0].pipe)
    assert limit == 512 < length  # the tiny models' max_position
    # The cut: where the last token the model still reads ends (the limit holds the end-of-sequence token).
    cut = tokenizer(long_text, verbose=False, return_offsets_mapping=True)["offset_mapping"][limit - 2][1]
    results = app.decode_all(loaded, long_text, num_beams=1, max_new_tokens=8)
    for result in results:
        assert result.note == (
            f"the text is {length:,} tokens long and this model reads at most 512: it was truncated after "
            f"character {cut:,} of {len(long_text):,} (\u201c\u2026{long_text[cut - 40:cut]}\u201d)")
        # The output is what the pipeline makes of the text (which it truncates the same way).
        expected = plain_pipeline(tiny_compare_run, result.key)(long_text, num_beams=1, max_new_tokens=8)
        assert result.text == expected[0]["translation_text"]
        assert len(result.source_tokens) == limit
        assert "input truncated" in app.model_status(result)
    message = app.page_message(results, 1, 8)
    assert message.count("it was truncated after character") == 3
    assert f"**{results[0].label}**" in message and message.endswith("3 of 3 models answered (beam size 1, "
                                                                      "at most 8 new tokens).")


def test_a_model_that_fails_to_load_leaves_the_others_working(tiny_compare_run, tmp_path):
    broken = Path(shutil.copytree(tiny_compare_run / "models" / f"{TASK}-lstm", tmp_path / "broken"))
    (broken / "config.json").write_text("{ not json")
    catalog = app.catalog_from_models([str(tiny_compare_run / "models" / f"{TASK}-rnn"), str(broken),
                                       str(tmp_path / "missing")])
    models = app.load_models(catalog)["translation"]
    assert models[0].error is None and models[0].pipe is not None
    assert models[1].pipe is None and models[1].error
    assert models[2].pipe is None and models[2].error
    results = app.decode_all(models, GERMAN, num_beams=2, max_new_tokens=8)
    expected = plain_pipeline(tiny_compare_run, "rnn")(GERMAN, num_beams=2, max_new_tokens=8)
    assert results[0].text == expected[0]["translation_text"] and results[0].error is None
    assert [result.text for result in results[1:]] == [None, None]
    assert results[1].error == f"could not be loaded: {models[1].error}"
    message = app.page_message(results, 2, 8)
    assert "**broken** could not be loaded" in message and "**missing** could not be loaded" in message
    assert message.endswith("1 of 3 models answered (beam size 2, at most 8 new tokens).")
    before_any_run = app.load_message(models)
    assert before_any_run.count("could not be loaded") == 2
    assert app.model_status(results[1]).startswith("\u26a0\ufe0f could not be loaded")
    assert app.idle_status(models[1]) == app.model_status(results[1]) and app.idle_status(models[0]) == ""


def test_a_model_that_fails_to_run_leaves_the_others_working(loaded, monkeypatch):
    def broken_generate(*args, **kwargs):
        raise RuntimeError("simulated *failure* [in] the LSTM")

    monkeypatch.setattr(loaded[1].pipe.model, "generate", broken_generate)
    results = app.decode_all(loaded, GERMAN, num_beams=1, max_new_tokens=4)
    assert [result.text is not None for result in results] == [True, False, True]
    # Markdown in an error is shown as itself.
    assert "failed: RuntimeError: simulated \\*failure\\* \\[in\\] the LSTM" in app.page_message(results, 1, 4)


def test_app_file_is_self_contained():
    """pipelines/app.py is a Space's app.py as it is: stdlib and the Space's packages only, no relative imports."""
    assert isolated.third_party_imports(app.__file__) == {"numpy", "torch", "transformers", "matplotlib", "gradio"}


def test_cli_takes_one_run_or_models_not_both(tiny_compare_run):
    done = subprocess.run([sys.executable, "-m", "lineage.cli", "app", str(tiny_compare_run), "user/model"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "pass one run folder, or any number of model folders" in done.stderr


# ---------------------------------------------------------------------------- the page, in a browser


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_chromium_the_browser_tests_fail_under_ci_and_skip_elsewhere(monkeypatch, ci):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="Debian's chromium"):
        browser.chromium_path()


@pytest.fixture(scope="module")
def page(tiny_compare_run, tmp_path_factory):
    """`lineage app RUN_DIR` in a subprocess, and a chromium page on it."""
    browser.chromium_path()  # skip (or, under CI, fail) before starting anything
    port = free_port()
    command = [sys.executable, "-m", "lineage.cli", "app", str(tiny_compare_run), "--port", str(port)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    log = tmp_path_factory.mktemp("app") / "app.log"
    with browser.serving(command, port, log, env=env) as url, browser.open_page(url) as opened:
        yield opened


def test_browser_runs_every_model_and_shows_what_pipeline_gives(page, tiny_compare_run, catalog):
    page, external = page
    # The test set's examples are one click away.
    examples = catalog["tasks"][TASK]["examples"]
    assert browser.click_example(page, TASK, 2) == examples[2] and len(examples[2]) > 60  # shortened on its button

    message = browser.submit(page, TASK, GERMAN, expect="models answered")
    assert message == "3 of 3 models answered (beam size 5, at most 64 new tokens)."
    shown = browser.outputs(page, TASK, ROWS)
    # The sliders start at the models' own generation config, which a plain pipeline() call uses too.
    expected = {row: plain_pipeline(tiny_compare_run, row)(GERMAN)[0]["translation_text"] for row in ROWS}
    print(json.dumps({"input": GERMAN, "page": shown, "pipeline()": expected}, ensure_ascii=False, indent=2))
    assert shown == expected
    for row in ROWS:
        assert page.locator(f"#status-{TASK}-{row}").inner_text().split(" ms")[0].replace(",", "").isdigit()
        assert page.locator(f"#attention-{TASK}-{row} img").count() == 1  # the heatmap
    browser.screenshot(page, "app-tiny.png")
    assert external == [], f"the page reached beyond its server: {external}"


def test_browser_empty_text_gets_a_message(page):
    page, external = page
    message = browser.submit(page, TASK, "  ", expect="Enter a text")
    assert message == "Enter a text to translate first, or click one of the test set's examples."
    assert set(browser.outputs(page, TASK, ROWS).values()) == {""}
    assert external == []
