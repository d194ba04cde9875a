"""pipeline("translation"/"summarization") on saved model folders (transformers 5).

transformers 5 removed these pipelines; every folder written by
`lineage.models.save_model_folder` restores them through `custom_pipelines` and its
own copy of models/text2text_pipeline.py. The folders are checked the way a
Hub user would use them: in a fresh process, in another directory, where the
Lineage project cannot be imported. Their outputs must equal in-process
`model.generate` + `decode`, one input at a time.
"""

import json
import subprocess
import sys
from pathlib import Path

import isolated  # tests/isolated.py
import pytest

HERE = Path(__file__).resolve().parent
COMPAT = HERE / "compat"
REPO = HERE.parent


toy = isolated.load_by_path("lineage_toy_models", COMPAT / "toy_models.py")


@pytest.fixture(scope="module")
def remote_results(toy_folders, tmp_path_factory):
    """check_folders.py's results, from a fresh process that cannot import the project."""
    return isolated.run_check_folders(toy_folders["spec_path"], tmp_path_factory.mktemp("hub-user"))


def test_isolated_process_cannot_import_project(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib.util, json, transformers\n"
        "print(json.dumps({n: importlib.util.find_spec(n) is not None for n in ('lineage',)}))\n"
    )
    command, env = isolated.isolated_python_command(probe)
    done = subprocess.run(command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"lineage": False}
    # ...while the same probe without the isolation does see it (so the check means something).
    plain = subprocess.run([sys.executable, str(probe)], cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert json.loads(plain.stdout)["lineage"] is True


def test_pipeline_file_is_self_contained():
    """text2text_pipeline.py travels alone: it may import only stdlib, torch and transformers."""
    assert isolated.third_party_imports(REPO / "models" / "text2text_pipeline.py") <= {"torch", "transformers"}


def test_toy_models_learned(toy_folders):
    # The comparison below is only meaningful if the models say something sensible.
    for arch in toy.ARCHS:
        outputs = toy_folders["expected"][arch]["calls"]["beam4"]
        exact = sum(out == target for out, target in zip(outputs, toy_folders["targets"]))
        assert exact >= len(outputs) // 2, (arch, toy_folders["final_loss"][arch], outputs)


@pytest.mark.parametrize("arch", toy.ARCHS)
def test_folder_contents(toy_folders, arch):
    from transformers import AutoTokenizer

    folder = Path(toy_folders["folders"][arch])
    files = {path.name for path in folder.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "text2text_pipeline.py"} <= files
    assert (folder / "text2text_pipeline.py").read_bytes() == (REPO / "models" / "text2text_pipeline.py").read_bytes()
    config = json.loads((folder / "config.json").read_text())
    for task, cls in (("translation", "TranslationPipeline"), ("summarization", "SummarizationPipeline")):
        entry = config["custom_pipelines"][task]
        assert entry["impl"] == f"text2text_pipeline.{cls}"
        assert entry["pt"] == ["AutoModelForSeq2SeqLM"]
    # Custom code: every auto_map entry's module ships in the folder (the Transformer needs none).
    auto_map = config.get("auto_map", {})
    if arch == "transformer":
        assert config["model_type"] == "pegasus" and not auto_map
    else:
        assert set(auto_map) >= {"AutoConfig", "AutoModelForSeq2SeqLM"}
    for reference in auto_map.values():
        assert f"{reference.rsplit('.', 1)[0]}.py" in files, reference
    # A tokenizer config both major versions read.
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tokenizer_config["model_input_names"] == ["input_ids", "attention_mask"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    original = toy.train_toy_tokenizer()
    for text in toy.INPUTS + [toy.LONG_INPUT]:
        assert tokenizer(text)["input_ids"] == original(text)["input_ids"]
        assert "token_type_ids" not in tokenizer(text)
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)


def test_remote_process_setup(remote_results):
    assert remote_results["transformers_version"].startswith("5.")
    assert remote_results["project_importable"] == {"models": False, "pipelines": False, "lineage": False}


@pytest.mark.parametrize("task,key", [("translation", "translation_text"), ("summarization", "summary_text")])
@pytest.mark.parametrize("arch", toy.ARCHS)
def test_pipeline_from_folder(toy_folders, remote_results, arch, task, key):
    expected = toy_folders["expected"][arch]
    result = remote_results["folders"][arch][task]
    assert "error" not in result, result.get("error")
    # The folder's own pipeline class, loaded through trust_remote_code.
    assert result["pipeline_class"].startswith("transformers_modules.")
    assert result["pipeline_class"].endswith(f"text2text_pipeline.{task.capitalize()}Pipeline")
    assert result["tokenizer_class"] in ("TokenizersBackend", "PreTrainedTokenizerFast")
    # batch_size=2 over mixed-length inputs, per generation kwargs, equals unbatched generate.
    for name in toy.CALLS:
        assert result["calls"][name] == expected["calls"][name], name
    assert result["single"] == [{key: expected["calls"]["beam4"][0]}]
    # The over-long input is truncated to the model's limit, with a warning.
    assert expected["long_input_tokens"] > toy.MAX_INPUT_LENGTH
    assert result["long"] == expected["long"]
    assert any(
        f"{expected['long_input_tokens']} tokens" in message and f"truncated to {toy.MAX_INPUT_LENGTH}" in message
        for message in result["long_warnings"]
    ), result["long_warnings"]


@pytest.mark.parametrize("arch", toy.ARCHS)
def test_auto_classes_from_folder(toy_folders, remote_results, arch):
    result = remote_results["folders"][arch]["auto"]
    assert "error" not in result, result.get("error")
    assert result["calls"] == toy_folders["expected"][arch]["calls"]
    assert result["long"] == toy_folders["expected"][arch]["long"]


def test_pipeline_call_options(toy_folders):
    """In-process: output shapes of the 4.x pipelines, and the errors a user meets."""
    with toy.single_thread():
        _check_pipeline_call_options(toy_folders)


def _check_pipeline_call_options(toy_folders):
    from transformers import pipeline

    folder = toy_folders["folders"]["transformer"]
    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline("translation", model=folder)
    pipe = pipeline("summarization", model=folder, trust_remote_code=True, num_beams=4, max_new_tokens=24)
    first = toy_folders["expected"]["transformer"]["calls"]["beam4"][0]
    # Generation kwargs given at construction apply to every call.
    assert pipe(toy.INPUTS[0], length_penalty=0.8, no_repeat_ngram_size=3) == [{"summary_text": first}]
    several = pipe(toy.INPUTS[:2], num_return_sequences=2)
    assert len(several) == 2 and all(len(per_input) == 2 for per_input in several)
    assert all(set(item) == {"summary_text"} for per_input in several for item in per_input)
    ids = pipe(toy.INPUTS[0], return_tensors=True)[0]["summary_token_ids"]
    assert pipe.tokenizer.decode(ids.tolist(), skip_special_tokens=True) == pipe(toy.INPUTS[0])[0]["summary_text"]
    # Generator and single-string inputs work too.
    assert [out for out in pipe(text for text in toy.INPUTS[:2])] == [pipe(text) for text in toy.INPUTS[:2]]
    with pytest.raises(TypeError, match="string"):
        pipe([123])
    # As in 4.x, translation takes src_lang/tgt_lang (no-ops for tokenizers without language codes).
    translate = pipeline("translation", model=folder, trust_remote_code=True, num_beams=4, max_new_tokens=24)
    assert translate(toy.INPUTS[0], src_lang="en", tgt_lang="de", length_penalty=0.8, no_repeat_ngram_size=3) == [
        {"translation_text": first}
    ]
    # truncation=False hands the over-long input to the model as it is (the Transformer then fails).
    with pytest.raises(Exception):
        pipe(toy.LONG_INPUT, truncation=False)
