"""Publishing (pipelines/hub/publish.py): one file set for the Hub upload and for --local-dir,
no network and no token on disk with --local-dir, refusals with clear errors, and
published folders that load where the project cannot be imported."""

import fnmatch
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import huggingface_hub
import isolated  # tests/isolated.py
import pytest
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects
from lineage.hub import publish as publishing
from lineage.hub.cards import model_card, write_card
from lineage.hub.publish import PublishError, files_to_publish, publish, run_card
from lineage.report.results import Results

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# The results builder of test_cards.py.
card_fixtures = isolated.load_by_path("lineage_card_fixtures", HERE / "test_cards.py")
TASK = card_fixtures.TRANSLATION
ARCHS = ("rnn", "lstm", "transformer")
MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
               "text2text_pipeline.py", "README.md"}
EXPECTED = {
    "rnn": MODEL_FILES | {"modeling_recurrent.py", "configuration_recurrent.py", "scan.py"},
    "lstm": MODEL_FILES | {"modeling_recurrent.py", "configuration_recurrent.py", "scan.py"},
    "transformer": MODEL_FILES,
}


def repo_id(arch):
    return f"someone/lineage-{TASK}-{arch}"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A comparison run folder: results.json and real tiny model folders, each with its card."""
    run_folder = tmp_path_factory.mktemp("run")
    results = card_fixtures.make_results(run_folder)
    (run_folder / "results.json").write_text(json.dumps(results))
    folders = {}
    for arch in ARCHS:
        folder = run_folder / results["tasks"][TASK]["models"][arch]["folder"]
        write_card(model_card(Results.from_dict(results), TASK, arch, repo_id=repo_id(arch)), folder)
        folders[arch] = folder
    return {"folder": run_folder, "results": results, "models": folders}


@pytest.fixture
def lstm_copy(run, tmp_path):
    """A private copy of the LSTM folder that a test may damage."""
    return Path(shutil.copytree(run["models"]["lstm"], tmp_path / "lstm"))


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any Hub call or socket connection made in this process."""
    calls = []

    def refuse(name):
        def refused(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called: publishing must not touch the network here")

        return refused

    for name in ("create_repo", "upload_folder", "upload_file", "create_commit"):
        monkeypatch.setattr(huggingface_hub, name, refuse(f"huggingface_hub.{name}"))
        monkeypatch.setattr(huggingface_hub.HfApi, name, refuse(f"HfApi.{name}"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    return calls


def listing(folder):
    """Every path under `folder`, files and folders, relative."""
    return {path.relative_to(folder).as_posix() for path in Path(folder).rglob("*")}


# ---------------------------------------------------------------------------- the file set


@pytest.mark.parametrize("arch", ARCHS)
def test_files_to_publish(run, arch):
    assert files_to_publish(run["models"][arch]) == sorted(EXPECTED[arch])


def test_junk_stays_behind(lstm_copy, tmp_path, no_network):
    junk = ["__pycache__/modeling_recurrent.cpython-311.pyc", "checkpoint-200/model.safetensors",
            "checkpoint-200/optimizer.bin", "optimizer.pt", "optimizer.bin", "scheduler.bin", "random_states_0.pkl",
            "training_args.bin", "trainer_state.json.tmp", "README.md.tmp", ".README.md.tmp-123", "config.json.tmp",
            ".model.safetensors.tmp", "events.out.tfevents.1.host", "train.log", ".DS_Store", ".git/HEAD",
            # Code the model does not import: a user's script or notes were uploaded as "*.py".
            "my_secrets.py", "train_my_model.py", "modeling_recurrent_old.py"]
    for name in junk:
        path = lstm_copy / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"junk")
    assert files_to_publish(lstm_copy) == sorted(EXPECTED["lstm"])
    published = publish(lstm_copy, repo_id("lstm"), local_dir=tmp_path / "out")
    assert listing(tmp_path / "out") == EXPECTED["lstm"]
    assert set(published.files) == EXPECTED["lstm"]
    assert no_network == []


def test_local_dir_holds_exactly_the_published_files(run, tmp_path, no_network):
    source = run["models"]["lstm"]
    published = publish(source, repo_id("lstm"), local_dir=tmp_path / "out")
    assert published.local_dir == tmp_path / "out" and published.url is None
    assert list(published.files) == sorted(EXPECTED["lstm"])
    assert listing(tmp_path / "out") == EXPECTED["lstm"]
    for name in EXPECTED["lstm"]:
        assert (tmp_path / "out" / name).read_bytes() == (source / name).read_bytes(), name
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert card.data.model_name == repo_id("lstm")
    # Nothing but the output folder was created beside it (no staging left behind).
    assert {path.name for path in tmp_path.iterdir()} == {"out"}
    assert no_network == []


def test_upload_uses_the_same_file_set(lstm_copy, monkeypatch):
    """Without local_dir: create_repo + upload_folder, whose patterns select exactly files_to_publish."""
    (lstm_copy / "optimizer.pt").write_bytes(b"junk")
    (lstm_copy / "__pycache__").mkdir()
    (lstm_copy / "__pycache__" / "x.pyc").write_bytes(b"junk")
    calls = {}

    def create_repo(repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs)
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(**kwargs):
        calls["upload_folder"] = kwargs
        staged = Path(kwargs["folder_path"])
        calls["staged"] = {path.relative_to(staged).as_posix(): path.read_bytes() for path in staged.rglob("*")}
        return huggingface_hub.CommitInfo(
            commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/abc", commit_message="m",
            commit_description="", oid="abc",
        )

    monkeypatch.setattr(publishing, "_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    published = publish(lstm_copy, "someone/x", private=True, token="hf_argument_token", commit_message="Upload x")

    assert calls["create_repo"] == ("someone/x", {"private": True, "exist_ok": True, "token": "hf_argument_token"})
    upload = calls["upload_folder"]
    assert upload["repo_id"] == "someone/x"
    assert upload["token"] == "hf_argument_token" and upload["commit_message"] == "Upload x"
    # upload_folder gets a staging folder holding exactly the published files (the junk stays behind),
    # and its patterns select all of them.
    staged = calls["staged"]
    assert sorted(staged) == files_to_publish(lstm_copy) == list(published.files) == sorted(EXPECTED["lstm"])
    assert sorted(filter_repo_objects(staged, allow_patterns=upload["allow_patterns"])) == sorted(staged)
    for name, content in staged.items():
        assert content == (lstm_copy / name).read_bytes(), name
    assert not Path(upload["folder_path"]).exists()  # the staging folder is cleaned up
    # Stale remote files of the managed kinds go; the card and unrelated files are never deleted.
    deleted = upload["delete_patterns"]
    assert any(fnmatch.fnmatch("modeling_old.py", p) for p in deleted)
    assert any(fnmatch.fnmatch("pytorch_model.bin", p) for p in deleted)
    assert not any(fnmatch.fnmatch(name, p) for p in deleted for name in ("README.md", ".gitattributes", "notes.txt"))
    assert published.url == "https://huggingface.co/someone/x/commit/abc"


def test_token_defaults_to_huggingface_hub_resolution(lstm_copy, monkeypatch):
    seen = {}
    monkeypatch.setattr(publishing, "_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "create_repo",
                        lambda repo_id, **kw: seen.setdefault("create", kw) and huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}"))
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kw: seen.setdefault("upload", kw) and None)
    publish(lstm_copy, "someone/x")
    assert seen["create"]["token"] is None and seen["upload"]["token"] is None


# ---------------------------------------------------------------------------- offline, tokens


def test_offline_without_local_dir_is_a_clear_error(run, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PublishError, match="^cannot upload while offline; use --local_dir to write the folder$"):
        publish(run["models"]["lstm"], repo_id("lstm"))
    assert no_network == []


def test_local_dir_offline_subprocess_leaves_no_token(run, tmp_path):
    """HF_HUB_OFFLINE=1 and a secret HF_TOKEN: --local-dir works, and the secret is nowhere on disk or in the output."""
    secret = f"hf_lineage_test_{uuid.uuid4().hex}"
    hf_home = tmp_path / "hf-home"
    out = tmp_path / "published"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": secret, "HF_HOME": str(hf_home)}
    script = (
        "import logging, sys\n"
        "from lineage.hub.publish import publish\n"
        "logging.basicConfig(level=logging.DEBUG)\n"  # everything publish (and huggingface_hub) logs is checked too
        "print(publish(sys.argv[1], sys.argv[2], local_dir=sys.argv[3]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(run["models"]["lstm"]), repo_id("lstm"), str(out)],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert listing(out) == EXPECTED["lstm"]
    assert secret not in done.stdout and secret not in done.stderr
    for root in (out, run["models"]["lstm"], hf_home, tmp_path):
        for path in [root, *root.rglob("*")] if root.exists() else []:
            assert secret not in str(path)
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "model.safetensors").unlink(), r"lacks the weights \(model\.safetensors\)"),
        (lambda f: (f / "config.json").unlink(), r"lacks the model config \(config\.json\)"),
        (lambda f: (f / "tokenizer.json").unlink(), r"lacks the tokenizer"),
        (lambda f: (f / "tokenizer_config.json").unlink(), r"lacks the tokenizer"),
        (lambda f: (f / "pytorch_model.bin").write_bytes(b"pickle"), r"pytorch_model\.bin.*weights must be safetensors"),
        (lambda f: (f / "modeling_recurrent.py").unlink(), r"names code that the folder lacks \(modeling_recurrent\.py\)"),
        (lambda f: (f / "configuration_recurrent.py").unlink(),
         r"names code that the folder lacks \(configuration_recurrent\.py\)"),
        (lambda f: (f / "config.json").write_text("{not json"), r"config\.json cannot be read as JSON"),
    ],
    ids=["no-weights", "no-config", "no-tokenizer-json", "no-tokenizer-config", "bin-weights", "no-code",
         "no-imported-code", "bad-config"],
)
def test_refusals(lstm_copy, tmp_path, no_network, damage, message):
    damage(lstm_copy)
    with pytest.raises(PublishError, match=message):
        publish(lstm_copy, repo_id("lstm"), local_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bin_weights_refused_even_beside_safetensors_and_when_uploading(lstm_copy, no_network):
    (lstm_copy / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(PublishError, match="weights must be safetensors"):
        publish(lstm_copy, repo_id("lstm"))
    assert no_network == []


def test_not_a_folder(tmp_path):
    with pytest.raises(PublishError, match="is not a folder"):
        files_to_publish(tmp_path / "missing")


def test_local_dir_rules(run, lstm_copy, tmp_path, no_network):
    with pytest.raises(PublishError, match="outside the model folder"):
        publish(lstm_copy, "someone/x", local_dir=lstm_copy)
    with pytest.raises(PublishError, match="outside the model folder"):
        publish(lstm_copy, "someone/x", local_dir=lstm_copy / "published")
    with pytest.raises(PublishError, match="outside the model folder"):
        publish(lstm_copy, "someone/x", local_dir=tmp_path)
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("mine")
    with pytest.raises(PublishError, match="not empty"):
        publish(lstm_copy, "someone/x", local_dir=unrelated)
    assert (unrelated / "notes.txt").read_text() == "mine"
    # An empty folder is fine, and an earlier output is replaced: it ends up with exactly the new set.
    out = tmp_path / "out"
    out.mkdir()
    publish(run["models"]["transformer"], repo_id("transformer"), local_dir=out)
    assert listing(out) == EXPECTED["transformer"]
    publish(lstm_copy, repo_id("lstm"), local_dir=out)
    assert listing(out) == EXPECTED["lstm"]
    (lstm_copy / "README.md").unlink()
    publish(lstm_copy, repo_id("lstm"), local_dir=out)
    assert listing(out) == EXPECTED["lstm"] - {"README.md"}


def test_card_outside_a_run_is_published_as_it_is(lstm_copy, tmp_path, caplog):
    """No results.json above the folder: its own card goes out unchanged, with a warning if it names another repo."""
    assert run_card(lstm_copy, "someone/other-name") is None
    with caplog.at_level("WARNING", logger="lineage.hub.publish"):
        publish(lstm_copy, "someone/other-name", local_dir=tmp_path / "out")
    assert "names the model 'someone/lineage-multi30k-de-en-lstm', not 'someone/other-name'" in caplog.text
    assert (tmp_path / "out" / "README.md").read_bytes() == (lstm_copy / "README.md").read_bytes()


def test_card_of_a_run_model_is_rendered_for_the_repo(run, tmp_path, no_network, monkeypatch):
    """A run's model folder: the published card names the target repo; the run's own card is left alone."""
    source = run["models"]["rnn"]
    before = (source / "README.md").read_bytes()
    published = publish(source, "another/rnn-model", local_dir=tmp_path / "out")
    assert set(published.files) == EXPECTED["rnn"]
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert card.data.model_name == "another/rnn-model"
    assert 'model="another/rnn-model"' in card.text
    assert (source / "README.md").read_bytes() == before
    # The same card goes to the Hub.
    staged = {}
    monkeypatch.setattr(publishing, "_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "create_repo",
                        lambda repo_id, **kw: huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}"))
    monkeypatch.setattr(huggingface_hub, "upload_folder",
                        lambda **kw: staged.update(card=(Path(kw["folder_path"]) / "README.md").read_bytes()))
    publish(source, "another/rnn-model")
    assert staged["card"] == (tmp_path / "out" / "README.md").read_bytes()
    # Without a card in the folder, the run's card is still published.
    bare = run["folder"] / "models" / "bare-copy"
    shutil.copytree(source, bare)
    (bare / "README.md").unlink()
    results = json.loads((run["folder"] / "results.json").read_text())
    assert run_card(bare, "x/y") is None  # not listed in results.json
    results["tasks"][TASK]["models"]["rnn-bare"] = {**results["tasks"][TASK]["models"]["rnn"], "folder": "models/bare-copy"}
    (run["folder"] / "results.json").write_text(json.dumps(results))
    try:
        published = publish(bare, "x/y", local_dir=tmp_path / "bare-out")
        assert "README.md" in published.files
        assert ModelCard.load(tmp_path / "bare-out" / "README.md").data.model_name == "x/y"
    finally:
        (run["folder"] / "results.json").write_text(json.dumps(run["results"]))
        shutil.rmtree(bare)


# ---------------------------------------------------------------------------- the published folder


LOAD_SCRIPT = r"""
import importlib.util, json, sys
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline

assert importlib.util.find_spec("lineage") is None, "the project is importable"
result = {}
for folder in sys.argv[1:]:
    # As the card's snippet says: AutoTokenizer reads config.json, so custom-code folders need the flag.
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
    inputs = tokenizer(["ein hund rennt durch den park ."], return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**inputs, num_beams=2, max_new_tokens=5)
    translate = pipeline("translation", model=folder, trust_remote_code=True)
    text = translate("eine frau liest ein buch .", max_new_tokens=5)[0]["translation_text"]
    result[folder] = {"class": type(model).__name__, "shape": list(output.shape), "pipeline_text": isinstance(text, str)}
print("\nRESULT " + json.dumps(result))
"""


def test_published_folders_load_without_the_project(run, tmp_path):
    """Each published folder loads in a fresh process that cannot import the project, from another directory."""
    outs = []
    for arch in ARCHS:
        out = tmp_path / "hub" / arch
        publish(run["models"][arch], repo_id(arch), local_dir=out)
        outs.append(str(out))
    work = tmp_path / "user"
    work.mkdir()
    script = work / "load.py"
    script.write_text(LOAD_SCRIPT)
    # This interpreter, offline, without the project on sys.path (see tests/isolated.py).
    command, env = isolated.isolated_python_command(script, *outs, HF_HOME=str(work / "hf-home"), OMP_NUM_THREADS="1")
    done = subprocess.run(command, cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "Do you wish to run the custom code" not in done.stdout + done.stderr
    result = json.loads(done.stdout.split("\nRESULT ", 1)[1])
    classes = {arch: result[out]["class"] for arch, out in zip(ARCHS, outs)}
    assert classes == {"rnn": "RNNForConditionalGeneration", "lstm": "LSTMForConditionalGeneration",
                       "transformer": "PegasusForConditionalGeneration"}
    for out in outs:
        assert result[out]["shape"][0] == 1 and 1 < result[out]["shape"][1] <= 6
        assert result[out]["pipeline_text"] is True
