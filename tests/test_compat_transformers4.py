"""Folders saved with transformers 5 work in transformers 4.57 (built-in pipelines).

Runs only when LINEAGE_T4_PYTHON names the Python of a transformers 4.57
virtualenv; `bash tests/compat/setup_venv.sh` creates one at .venv-t4:

    bash tests/compat/setup_venv.sh
    LINEAGE_T4_PYTHON=$PWD/.venv-t4/bin/python .venv/bin/python -m pytest tests/test_compat_transformers4.py

This process (transformers 5) trains and saves the three toy folders and the
outputs in-process `generate` gives; the 4.57 process, in another directory
and without the project, loads each with `pipeline("translation"/
"summarization", model=folder, trust_remote_code=True)` (4.57's own pipeline
classes) and with AutoModelForSeq2SeqLM/AutoTokenizer, and the outputs must
be the same.
"""

import os
from pathlib import Path

import isolated  # tests/isolated.py
import pytest

HERE = Path(__file__).resolve().parent
COMPAT = HERE / "compat"
T4_PYTHON = os.environ.get("LINEAGE_T4_PYTHON")

pytestmark = pytest.mark.skipif(
    not T4_PYTHON,
    reason="transformers 4.57 check: set LINEAGE_T4_PYTHON to a transformers 4.57 interpreter "
    "(bash tests/compat/setup_venv.sh creates .venv-t4)",
)


toy = isolated.load_by_path("lineage_toy_models", COMPAT / "toy_models.py")


@pytest.fixture(scope="module")
def t4_results(toy_folders, tmp_path_factory):
    python = Path(T4_PYTHON)
    assert python.exists(), f"LINEAGE_T4_PYTHON={T4_PYTHON} does not exist"
    # The 4.57 venv does not hold the project, so its own interpreter runs the
    # script as it is; check_folders.py records that the project cannot be imported there.
    return isolated.run_check_folders(
        toy_folders["spec_path"], tmp_path_factory.mktemp("t4-user"), python=python, timeout=900,
        TRANSFORMERS_OFFLINE="1",
    )


def test_t4_environment(t4_results):
    assert t4_results["transformers_version"].startswith("4."), t4_results["transformers_version"]
    assert t4_results["project_importable"] == {"models": False, "pipelines": False, "lineage": False}


@pytest.mark.parametrize("task,key", [("translation", "translation_text"), ("summarization", "summary_text")])
@pytest.mark.parametrize("arch", toy.ARCHS)
def test_t4_builtin_pipeline(toy_folders, t4_results, arch, task, key):
    expected = toy_folders["expected"][arch]
    result = t4_results["folders"][arch][task]
    assert "error" not in result, result.get("error")
    # 4.57's own class, reached through the folder's text2text_pipeline.py.
    assert result["pipeline_class"] == f"transformers.pipelines.text2text_generation.{task.capitalize()}Pipeline"
    assert result["tokenizer_class"] == "PreTrainedTokenizerFast"
    for name in toy.CALLS:
        assert result["calls"][name] == expected["calls"][name], name
    assert result["single"] == [{key: expected["calls"]["beam4"][0]}]


@pytest.mark.parametrize("arch", toy.ARCHS)
def test_t4_pipeline_truncates_long_input(toy_folders, t4_results, arch):
    result = t4_results["folders"][arch]["translation"]
    assert "error" not in result, result.get("error")
    if result["long"] is None:
        pytest.skip(f"transformers 4.57: {result['long_skipped']}")
    assert result["tokenizer_model_max_length"] <= toy.MAX_INPUT_LENGTH
    assert result["long"] == toy_folders["expected"][arch]["long"]


@pytest.mark.parametrize("arch", toy.ARCHS)
def test_t4_auto_classes(toy_folders, t4_results, arch):
    result = t4_results["folders"][arch]["auto"]
    assert "error" not in result, result.get("error")
    architecture = toy.MODELS[arch][0]
    expected_class = "PegasusForConditionalGeneration" if architecture == "transformer" else f"{architecture.upper()}ForConditionalGeneration"
    assert result["model_class"] == expected_class
    assert result["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert result["calls"] == toy_folders["expected"][arch]["calls"]
    assert result["long"] == toy_folders["expected"][arch]["long"]
