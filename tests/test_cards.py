"""Model cards rendered from a comparison's results (pipelines/hub/cards.py, model_cards/template.md).

`make_results` builds a results structure of the shape `lineage compare`
writes (the contract cards and publishing rely on), optionally with real tiny
model folders; tests/test_publish.py loads it from here.
"""

import copy
import fnmatch
import importlib.resources
import re
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from huggingface_hub import ModelCard
from lineage.hub import cards
from lineage.hub.cards import TEMPLATE, model_card, write_card, write_cards
from lineage.report.results import Results

TOY_TEXTS = [
    "a dog runs through the park .",
    "ein hund rennt durch den park .",
    "two men play football on the grass .",
    "zwei männer spielen fußball auf dem rasen .",
    "a woman reads a book .",
    "eine frau liest ein buch .",
]
TRANSLATION = "multi30k-de-en"
SUMMARIZATION = "dialogsum"
# Distinct values per model, so each number in a card can be traced to its model.
TRANSLATION_MODELS = {
    "rnn": dict(label="RNN + Luong attention", bleu=18.4261, chrf=41.0713, parameters=3_456_789, seconds=287.44,
                tokens_per_second=5873.6, sentences_per_second=45.27),
    "lstm": dict(label="LSTM + Luong attention", bleu=27.1349, chrf=52.3187, parameters=4_567_891, seconds=291.83,
                 tokens_per_second=4312.2, sentences_per_second=31.04),
    "transformer": dict(label="Transformer", bleu=31.5872, chrf=57.9024, parameters=9_876_543, seconds=293.06,
                        tokens_per_second=9421.9, sentences_per_second=22.61),
}
SUMMARIZATION_MODELS = {
    "lstm": dict(label="LSTM + Luong attention", rouge1=30.5531, rouge2=9.4427, rougeL=25.0119, rougeLsum=26.7364,
                 parameters=4_600_000, seconds=612.5, tokens_per_second=3100.4, sentences_per_second=4.39),
    "transformer": dict(label="Transformer", rouge1=33.8812, rouge2=11.2093, rougeL=27.6645, rougeLsum=29.4718,
                        parameters=9_900_000, seconds=605.25, tokens_per_second=7150.8, sentences_per_second=3.18),
}


def toy_tokenizer_for_cards():
    from lineage.data.tokenizer import train_tokenizer

    return train_tokenizer(TOY_TEXTS * 3, vocab_size=80, min_frequency=1)


def build_folder(arch, folder, tokenizer=None):
    """A real tiny model folder (lineage.models.save_model_folder) and its config subset for the results."""
    from lineage import models

    tokenizer = tokenizer or toy_tokenizer_for_cards()
    model = models.build_model(arch, tokenizer, size="tiny")
    models.save_model_folder(model, tokenizer, folder)
    config = model.config.to_dict()
    keys = ("vocab_size", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "bidirectional",
            "attention", "input_feeding", "cell", "tie_word_embeddings", "d_model", "encoder_attention_heads",
            "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "max_position", "max_position_embeddings")
    return {key: config[key] for key in keys if key in config}, sum(p.numel() for p in model.parameters())


def _model_entry(task_name, arch, values, kind, model_config, parameters):
    if kind == "translation":
        scores = {
            "bleu": values["bleu"],
            "bleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0",
            "chrf": values["chrf"],
            "chrf_signature": "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0",
        }
        generation = {"num_beams": 5, "length_penalty": 1.0, "max_new_tokens": 64}
        main, buckets = "bleu", [(4, 11, 212), (11, 15, 198), (15, 41, 190)]
    else:
        scores = {key: values[key] for key in ("rouge1", "rouge2", "rougeL", "rougeLsum")}
        generation = {"num_beams": 4, "length_penalty": 1.0, "max_new_tokens": 96, "no_repeat_ngram_size": 3}
        main, buckets = "rougeL", [(40, 150, 101), (150, 513, 99)]
    return {
        "arch": arch,
        "label": values["label"],
        "model_config": model_config,
        "embeddings": "random",
        "parameters": parameters if parameters is not None else values["parameters"],
        "training": {
            "steps": 1213, "epochs": 2.41, "train_seconds": values["seconds"], "target_tokens": 1_803_456,
            "target_tokens_per_second": values["tokens_per_second"], "best_step": 1000,
            "best_metric": scores["bleu" if kind == "translation" else "rougeL"] + 0.8173, "stop_reason": "time budget",
            "num_processes": 1, "device": "cpu", "learning_rate": 0.001, "schedule": "plateau", "warmup_steps": 0,
            "batch_tokens": 4096, "label_smoothing": 0.1, "dropout": 0.2, "seed": 0, "size": "demo",
        },
        "test": {
            **scores,
            "sentences_per_second": values["sentences_per_second"],
            "generation": generation,
            "count": sum(count for _, _, count in buckets),
            "by_source_length": [
                {"min_length": low, "max_length": high, "count": count, main: scores[main] + 1.7 * i - 2.05}
                for i, (low, high, count) in enumerate(buckets)
            ],
        },
        "examples": [f"{arch} output {i} for {task_name}" for i in range(5)],
        "folder": f"models/{task_name}-{arch}",
    }


def make_results(run_folder=None, tokenizer=None):
    """A results structure as `lineage compare` writes it; with `run_folder`, real tiny model
    folders for the translation task's models are written under it (at each entry's "folder")."""
    results = {
        "name": "demo",
        "preset": "demo",
        "environment": {
            "python": "3.11.7", "torch": "2.13.0", "transformers": "5.23.0", "accelerate": "1.12.0",
            "datasets": "5.2.0", "device": "cpu", "hardware": "2-core x86_64 CPU (AMD EPYC 7B13)", "num_processes": 1,
            "torch_threads": 2,
        },
        "budget": {"kind": "minutes", "value": 5.0},
        "tasks": {
            TRANSLATION: {
                "task": {
                    "name": TRANSLATION, "kind": "translation", "dataset": "bentrevett/multi30k",
                    "source_language": "de", "target_language": "en",
                    "license": "non-commercial research and educational use (Flickr30K terms)",
                    "metrics": ["sacrebleu", "chrf"], "main_metric": "bleu", "test_split": "test (test2016 flickr)",
                },
                "models": {},
                "errors": {},
                "test_sources": ["Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.",
                                 "Ein Boston Terrier läuft über saftig-grünes Gras vor einem weißen Zaun."],
                "test_references": [["A man in an orange hat starring at something."],
                                    ["A Boston Terrier is running on lush green grass in front of a white fence."]],
                "test_count": 600,
            },
            SUMMARIZATION: {
                "task": {
                    "name": SUMMARIZATION, "kind": "summarization", "dataset": "knkarthick/dialogsum",
                    "source_language": "en", "target_language": "en", "license": "cc-by-nc-sa-4.0",
                    "metrics": ["rouge"], "main_metric": "rougeL", "test_split": "test (multiref: 3 references)",
                    "multiref_config": "multiref",
                },
                "models": {},
                "errors": {},
                "test_sources": ["#Person1#: Hello, Mr. Smith. I'm Dr. Hawkins. " + "Why are you here today? " * 40],
                "test_references": [["Mr. Smith's getting a check-up.", "Mr. Smith visits Dr. Hawkins.", "A check-up."]],
                "test_count": 200,
            },
        },
    }
    for task_name, kind, table in ((TRANSLATION, "translation", TRANSLATION_MODELS),
                                   (SUMMARIZATION, "summarization", SUMMARIZATION_MODELS)):
        for arch, values in table.items():
            entry = _model_entry(task_name, arch, values, kind, {}, None)
            if run_folder is not None and task_name == TRANSLATION:
                tokenizer = tokenizer or toy_tokenizer_for_cards()
                entry["model_config"], entry["parameters"] = build_folder(arch, Path(run_folder) / entry["folder"], tokenizer)
            else:
                entry["model_config"] = _static_config(arch)
            results["tasks"][task_name]["models"][arch] = entry
    return results


def _static_config(arch):
    if arch == "transformer":
        return {"vocab_size": 8000, "d_model": 256, "encoder_layers": 3, "decoder_layers": 3,
                "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 1024,
                "decoder_ffn_dim": 1024, "tie_word_embeddings": True}
    return {"vocab_size": 8000, "embedding_size": 256, "hidden_size": 256, "encoder_layers": 1, "decoder_layers": 1,
            "bidirectional": True, "attention": "luong-general", "input_feeding": False, "cell": arch,
            "tie_word_embeddings": True}


@pytest.fixture(scope="module")
def results():
    return make_results()


def saved(card, tmp_path):
    path = write_card(card, tmp_path)
    assert path == tmp_path / "README.md"
    return ModelCard.load(path), path.read_text(encoding="utf-8")


def body(text):
    return text.split("\n---\n", 1)[1]


# ---------------------------------------------------------------------------- metadata


def test_translation_metadata_round_trips(results, tmp_path):
    card, _ = saved(model_card(Results.from_dict(results), TRANSLATION, "lstm", repo_id="someone/lineage-de-en-lstm"), tmp_path)
    data = card.data
    assert data.language == ["de", "en"]
    assert data.datasets == ["bentrevett/multi30k"]
    assert data.metrics == ["sacrebleu", "chrf"]
    assert data.pipeline_tag == "translation"
    assert data.library_name == "transformers"
    # No Hub licence id for the Flickr30K terms: "other" with a name and a link.
    assert data.license == "other"
    assert data.license_name and data.license_link.startswith("https://")
    assert {"lineage", "lstm", "seq2seq", "luong-attention", "custom_code"} <= set(data.tags)
    assert "word2vec" not in data.tags
    assert data.model_name == "someone/lineage-de-en-lstm"

    test = results["tasks"][TRANSLATION]["models"]["lstm"]["test"]
    got = {(r.metric_type, r.metric_name): r for r in data.eval_results}
    assert set(got) == {("sacrebleu", "BLEU"), ("chrf", "chrF")}
    assert got["sacrebleu", "BLEU"].metric_value == pytest.approx(test["bleu"], abs=0.005)
    assert got["chrf", "chrF"].metric_value == pytest.approx(test["chrf"], abs=0.005)
    assert got["sacrebleu", "BLEU"].metric_config == test["bleu_signature"]
    for result in data.eval_results:
        assert result.task_type == "translation"
        assert result.dataset_type == "bentrevett/multi30k"
        assert result.dataset_name == "Multi30k de-en"
        assert result.dataset_split == "test"


def test_summarization_metadata_round_trips(results, tmp_path):
    card, _ = saved(model_card(Results.from_dict(results), SUMMARIZATION, "transformer"), tmp_path)
    data = card.data
    assert data.language == ["en"]
    assert data.license == "cc-by-nc-sa-4.0"
    assert data.license_name is None and data.license_link is None
    assert data.datasets == ["knkarthick/dialogsum"]
    assert data.metrics == ["rouge"]
    assert data.pipeline_tag == "summarization"
    assert {"lineage", "transformer", "seq2seq", "multi-head-attention"} <= set(data.tags)
    assert "custom_code" not in data.tags  # a stock PegasusForConditionalGeneration
    assert data.model_name == "lineage-dialogsum-transformer"

    test = results["tasks"][SUMMARIZATION]["models"]["transformer"]["test"]
    values = {r.metric_name: r.metric_value for r in data.eval_results}
    assert values == {
        "ROUGE-1": round(test["rouge1"], 2), "ROUGE-2": round(test["rouge2"], 2),
        "ROUGE-L": round(test["rougeL"], 2), "ROUGE-Lsum": round(test["rougeLsum"], 2),
    }
    for result in data.eval_results:
        assert (result.task_type, result.metric_type) == ("summarization", "rouge")
        assert (result.dataset_type, result.dataset_config, result.dataset_split) == ("knkarthick/dialogsum", "multiref", "test")


def test_model_index_is_in_the_yaml(results, tmp_path):
    _, text = saved(model_card(Results.from_dict(results), TRANSLATION, "rnn", repo_id="someone/rnn"), tmp_path)
    import yaml

    metadata = yaml.safe_load(text.split("---\n")[1])
    (index,) = metadata["model-index"]
    assert index["name"] == "someone/rnn"
    (result,) = index["results"]
    assert result["dataset"]["type"] == "bentrevett/multi30k"
    assert [m["name"] for m in result["metrics"]] == ["BLEU", "chrF"]
    assert result["metrics"][0]["value"] == round(TRANSLATION_MODELS["rnn"]["bleu"], 2)


def test_tags_follow_the_model(results):
    variant = copy.deepcopy(results)
    entry = variant["tasks"][TRANSLATION]["models"]["rnn"]
    entry["embeddings"] = "word2vec-frozen"
    entry["model_config"].update(cell="gru", attention="none")
    data = model_card(Results.from_dict(variant), TRANSLATION, "rnn").data
    assert {"word2vec", "gru", "no-attention", "custom_code", "rnn"} <= set(data.tags)
    assert "luong-attention" not in data.tags


def test_license_mapping():
    assert cards.hub_license("CC BY-NC-ND 4.0") == "cc-by-nc-nd-4.0"
    assert cards.hub_license("cc-by-nc-sa-4.0") == "cc-by-nc-sa-4.0"
    assert cards.hub_license("Apache-2.0") == "apache-2.0"
    assert cards.hub_license("non-commercial research and educational use (Flickr30K terms)") is None
    assert cards.hub_license(None) == "unknown"


def test_unknown_dataset_license_gets_name_and_link(results):
    variant = copy.deepcopy(results)
    variant["tasks"][TRANSLATION]["task"].update(dataset="someone/parallel", license="research only, see paper")
    data = model_card(Results.from_dict(variant), TRANSLATION, "lstm").data
    assert data.license == "other"
    assert data.license_name == "research-only-see-paper"
    assert data.license_link == "https://huggingface.co/datasets/someone/parallel"
    # A local folder is not a Hub dataset id: it stays out of the metadata (and no local path is published).
    variant["tasks"][TRANSLATION]["task"]["dataset"] = "/home/someone/data/parallel"
    card = model_card(Results.from_dict(variant), TRANSLATION, "lstm")
    assert card.data.datasets is None
    assert all(r.dataset_type == "parallel" for r in card.data.eval_results)
    assert "/home/someone" not in str(card)


def test_unknown_task_or_model_is_a_clear_error(results):
    with pytest.raises(KeyError, match="no task 'wmt14'"):
        model_card(Results.from_dict(results), "wmt14", "lstm")
    with pytest.raises(KeyError, match="no model 'gru'.*rnn, lstm, transformer"):
        model_card(Results.from_dict(results), TRANSLATION, "gru")


# ---------------------------------------------------------------------------- body


def test_template_uses_only_variables_the_cards_module_provides(results):
    """jinja2 renders an unknown variable as an empty string; catch typos here instead."""
    environment = jinja2.Environment()
    used = jinja2.meta.find_undeclared_variables(environment.parse(TEMPLATE.read_text()))
    context = cards._context(Results.from_dict(results), TRANSLATION, "lstm", None)
    provided = set(context) | {"card_data"} | set(cards._card_data(context).to_dict())
    assert used <= provided, used - provided


def test_body_sections_and_numbers(results, tmp_path):
    _, text = saved(model_card(Results.from_dict(results), TRANSLATION, "lstm", repo_id="someone/lineage-de-en-lstm"), tmp_path)
    text = body(text)
    for heading in ("## Model description", "## How to use", "## Training", "## Evaluation", "### By source length",
                    "## Comparison", "## Limitations and intended use", "## Citation"):
        assert heading in text
    entry = results["tasks"][TRANSLATION]["models"]["lstm"]
    assert 'pipeline("translation", model="someone/lineage-de-en-lstm", trust_remote_code=True)' in text
    assert 'AutoModelForSeq2SeqLM.from_pretrained("someone/lineage-de-en-lstm", trust_remote_code=True)' in text
    assert 'AutoTokenizer.from_pretrained("someone/lineage-de-en-lstm", trust_remote_code=True)' in text
    assert "model.generate(**inputs, num_beams=5, length_penalty=1.0, max_new_tokens=64)" in text
    # The snippets translate a real test sentence from the results.
    assert 'pipe("Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.")' in text
    assert "modeling_recurrent.py" in text and "custom_pipelines" in text
    assert "| BLEU | 27.13 |" in text and "| chrF | 52.32 |" in text
    assert entry["test"]["bleu_signature"] in text and entry["test"]["chrf_signature"] in text
    assert "`num_beams=5`" in text and "31.0 sentences per second" in text
    assert f"{entry['parameters']:,}" in text
    assert "4.9 min" in text and "4,312 target tokens per second" in text
    assert "5 training minutes per model" in text
    assert "2-core x86_64 CPU (AMD EPYC 7B13)" in text and "| Transformers | 5.23.0 |" in text
    assert "| Peak learning rate | 0.001 |" in text and "| Label smoothing | 0.1 |" in text
    assert f"| Best validation BLEU | {entry['training']['best_metric']:.2f} |" in text
    assert "torch_threads" not in text
    # Per-length table: every bucket with its count and score.
    for bucket in entry["test"]["by_source_length"]:
        assert f"| {bucket['min_length']}–{bucket['max_length']} | {bucket['count']} | {bucket['bleu']:.2f} |" in text
    assert "600 examples" in text
    # The first test examples: source, reference and this model's output.
    task = results["tasks"][TRANSLATION]
    for source, (reference,), output in zip(task["test_sources"], task["test_references"], entry["examples"]):
        assert f"| {source} | {reference} | {output} |" in text
    assert "non-commercial" in text and "Elliott" in text


def test_sibling_table_lists_every_model_and_marks_this_one(results):
    """The card's comparison is the report's table (tables.comparison_table), best first, this model marked."""
    text = body(str(model_card(Results.from_dict(results), TRANSLATION, "lstm")))
    table = text.split("## Comparison", 1)[1].split("## Limitations", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(TRANSLATION_MODELS)
    # Best BLEU first.
    assert [row.split(" | ")[0].strip("| *") for row in rows][0].startswith("Transformer")
    for arch, values in TRANSLATION_MODELS.items():
        (row,) = [row for row in rows if row.startswith((f"| {values['label']} |", f"| **{values['label']}**"))]
        assert f"{values['bleu']:.2f}" in row and f"{values['chrf']:.2f}" in row
        assert f"{values['sentences_per_second']:.1f}" in row
        assert ("(this model)" in row) == (arch == "lstm")
    summarization = body(str(model_card(Results.from_dict(results), SUMMARIZATION, "lstm")))
    assert "distinct outputs" in summarization.split("## Comparison", 1)[1]


def test_the_architecture_names_every_recurrent_option(results):
    plain = body(str(model_card(Results.from_dict(results), SUMMARIZATION, "lstm")))
    changed = copy.deepcopy(results)
    changed["tasks"][SUMMARIZATION]["models"]["lstm"]["model_config"].update(
        scaled_attention=True, source_embedding_residual=True, copy_attention=True, coverage=True)
    text = body(str(model_card(Results.from_dict(changed), SUMMARIZATION, "lstm")))
    for phrase in ("divided by the square root of the hidden size", "added to the encoder output at its position",
                   "pointer-generator, See et al., 2017", "with coverage of what was attended so far"):
        assert phrase in text and phrase not in plain, phrase


def test_changing_a_result_changes_the_card(results):
    before = str(model_card(Results.from_dict(results), TRANSLATION, "lstm"))
    changed = copy.deepcopy(results)
    changed["tasks"][TRANSLATION]["models"]["rnn"]["test"]["bleu"] = 19.8765
    after = str(model_card(Results.from_dict(changed), TRANSLATION, "lstm"))
    assert "19.88" in after and "19.88" not in before
    assert "18.43" in before and "18.43" not in after


def test_summarization_body(results):
    text = body(str(model_card(Results.from_dict(results), SUMMARIZATION, "lstm")))
    assert 'pipeline("summarization", model="lineage-dialogsum-lstm", trust_remote_code=True)' in text
    assert '["summary_text"]' in text
    assert "stands for this model's repository id" in text
    assert "| ROUGE-L | 25.01 |" in text and "| ROUGE-Lsum | 26.74 |" in text
    assert "`no_repeat_ngram_size=3`" in text
    comparison = text.split("## Comparison", 1)[1]
    assert "33.88" in comparison and "30.55" in comparison
    assert "Chen, Yulong" in text
    # A long dialogue is cut in the examples table, and the snippets keep a short one.
    examples = text.split("### Examples", 1)[1].split("## Comparison", 1)[0]
    assert " …" in examples and "Why are you here today?" in examples and "\n#Person2#" not in examples
    assert "Mr. Smith's getting a check-up." in examples and "lstm output 0 for dialogsum" in examples
    assert 'pipe("#Person1#: Are we still meeting at noon?\\n#Person2#:' in text


def test_no_number_in_the_body_is_typed_by_hand(results):
    """Every number in the card body is one of the results' values (as the card formats them),
    apart from the references' years and the transformers major versions named in the prose."""
    for task_name, model_key in ((TRANSLATION, "lstm"), (TRANSLATION, "transformer"), (SUMMARIZATION, "lstm")):
        text = body(str(model_card(Results.from_dict(results), task_name, model_key)))
        text = text.split("## Citation", 1)[0]
        text = re.sub(r"\((?:[A-Z][^()]*?(?:et al\.|&)[^()]*?\d{4}[;,]?\s*)+\)", "", text)  # (Author et al., 2015)
        text = text.replace("transformers 5", "").replace("transformers 4.x", "")
        allowed = set()
        for value in _leaves(results):
            allowed.update(_renderings(value))
        found = set(re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", text))
        assert found <= allowed, (task_name, model_key, sorted(found - allowed))


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _renderings(value):
    if isinstance(value, str):
        return set(re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", value))
    if isinstance(value, bool) or value is None:
        return set()
    out = {str(value), f"{value:,}", f"{value:g}", f"{value:.1f}", f"{value:.2f}", f"{round(value):,}",
           f"{value / 60:.1f}", cards._short(value)[:-1] if value >= 1000 else str(value)}
    if isinstance(value, int):
        out.add(str(value // 2))  # per-direction units of a bidirectional encoder
    return out


def test_write_card_is_atomic_and_overwrites(results, tmp_path):
    (tmp_path / "README.md").write_text("old")
    write_card(model_card(Results.from_dict(results), TRANSLATION, "rnn"), tmp_path)
    assert (tmp_path / "README.md").read_text().startswith("---\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_write_cards_writes_one_card_per_model_folder(tmp_path):
    results = make_results()
    for task in results["tasks"].values():
        for entry in task["models"].values():
            (tmp_path / entry["folder"]).mkdir(parents=True)
    written = write_cards(tmp_path, Results.from_dict(results), repo_ids={(TRANSLATION, "lstm"): "someone/x"})
    assert len(written) == len(TRANSLATION_MODELS) + len(SUMMARIZATION_MODELS)
    assert ModelCard.load(tmp_path / "models" / f"{TRANSLATION}-lstm" / "README.md").data.model_name == "someone/x"


def test_template_is_package_data():
    """The template is read through the package's resources, not a source-tree path, and pyproject ships it in
    the wheel: a non-editable install (`pip install .`) renders cards too."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    assert TEMPLATE == importlib.resources.files("lineage.model_cards") / "template.md" and TEMPLATE.is_file()
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "lineage.model_cards" in pyproject["tool"]["setuptools"]["packages"]
    patterns = pyproject["tool"]["setuptools"]["package-data"]["lineage.model_cards"]
    assert any(fnmatch.fnmatch(TEMPLATE.name, pattern) for pattern in patterns)


def test_sparse_results_render_without_gaps():
    """Optional parts of the results (training, environment, buckets, signatures, budget) may be missing."""
    results = {"tasks": {"t": {
        "task": {"name": "t", "kind": "translation", "dataset": "someone/pairs", "source_language": "fr",
                 "target_language": "en"},
        "models": {"m": {"arch": "lstm", "test": {"bleu": 12.345}}},
    }}}
    card = model_card(Results.from_dict(results), "t", "m")
    text = str(card)
    assert "None" not in text and "12.35" in text
    assert card.data.license == "unknown" and card.data.language == ["fr", "en"]
    assert [r.metric_value for r in card.data.eval_results] == [12.35]
