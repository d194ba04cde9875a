"""The Space (pipelines/hub/space.py): one file set for the upload and for --local-dir, the page's own file as
app.py, a card Spaces read, model repos that must exist before an upload, and a Space folder that runs
as it is in a process that cannot import the project (driven in a headless browser, tests/browser.py)."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import browser  # tests/browser.py
import huggingface_hub
import isolated  # tests/isolated.py
import pytest
from huggingface_hub import SpaceCard
from launch import free_port
from lineage import app
from lineage.hub import publish as publishing
from lineage.hub import space
from lineage.hub.publish import OFFLINE_MESSAGE, PublishError, publish
from lineage.hub.space import SPACE_FILES, model_repos, publish_space
from transformers import pipeline

TASK = "multi30k-de-en"
ROWS = ["rnn", "lstm", "transformer"]
DEFAULT_REPOS = {f"{TASK}-{row}": f"you/lineage-{TASK}-{row}" for row in ROWS}


@pytest.fixture(scope="module")
def space_folder(tiny_compare_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("space") / "space"
    published = publish_space(tiny_compare_run, "you/lineage-tiny", local_dir=folder,
                              model_repo_overrides={f"{TASK}-lstm": "someone/lstm-de-en"})
    assert published.local_dir == folder and published.url is None and published.files == SPACE_FILES
    return folder


def test_space_folder_holds_exactly_its_four_files(space_folder):
    assert sorted(path.name for path in space_folder.iterdir()) == list(SPACE_FILES) == [
        "README.md", "app.py", "models.json", "requirements.txt"]
    # One copy of the UI: the Space runs the very file `lineage app` runs.
    assert (space_folder / "app.py").read_bytes() == Path(app.__file__).read_bytes()


def test_catalog_points_at_the_model_repos(space_folder, tiny_compare_run):
    catalog = json.loads((space_folder / "models.json").read_text())
    expected = space.catalog_from_run(tiny_compare_run)
    repos = {**DEFAULT_REPOS, f"{TASK}-lstm": "someone/lstm-de-en"}
    for model in expected["tasks"][TASK]["models"]:
        model["model"] = repos[Path(model["model"]).name]
    assert catalog == expected
    assert not any(str(tiny_compare_run) in model["model"] for model in catalog["tasks"][TASK]["models"])


def test_card_has_the_space_header(space_folder):
    card = SpaceCard.load(space_folder / "README.md")
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert card.data.sdk_version == importlib.metadata.version("gradio")
    assert card.data.models == sorted({*DEFAULT_REPOS.values(), "someone/lstm-de-en"} - {DEFAULT_REPOS[f"{TASK}-lstm"]})
    assert len(card.data.short_description) <= 60
    assert "| multi30k-de-en | LSTM + luong-general attention | [someone/lstm-de-en](https://huggingface.co/someone/lstm-de-en) | BLEU" in card.text


def test_requirements_are_the_projects_ranges(space_folder):
    lines = (space_folder / "requirements.txt").read_text().splitlines()
    assert lines[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    project = {line.split("<")[0].split(">")[0]: line for line in importlib.metadata.requires("lineage")}
    assert lines[1:] == [project["torch"], project["transformers"], project["matplotlib"]]


def test_model_repos_default_to_the_space_owner(tiny_compare_run):
    assert model_repos(tiny_compare_run, "you/anything") == DEFAULT_REPOS
    with pytest.raises(PublishError, match="--model_repo names no model of .*: multi30k-de-en-gru"):
        model_repos(tiny_compare_run, "you/x", {f"{TASK}-gru": "you/gru"})
    with pytest.raises(PublishError, match="has no results.json"):
        model_repos(tiny_compare_run / "models", "you/x")


def test_local_dir_rules(tiny_compare_run, space_folder, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(PublishError, match="not empty and does not hold an earlier Space folder"):
        publish_space(tiny_compare_run, "you/x", local_dir=mine)
    assert (mine / "notes.txt").read_text() == "mine"
    # An earlier output is replaced.
    again = tmp_path / "again"
    publish_space(tiny_compare_run, "you/x", local_dir=again)
    publish_space(tiny_compare_run, "other/x", local_dir=again)
    assert sorted(path.name for path in again.iterdir()) == list(SPACE_FILES)
    assert "other/lineage-multi30k-de-en-rnn" in (again / "models.json").read_text()


def test_upload_creates_a_gradio_space_with_the_same_files(tiny_compare_run, space_folder, monkeypatch):
    calls = {}

    def create_repo(repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs)
        return huggingface_hub.RepoUrl(f"https://huggingface.co/spaces/{repo_id}")

    def upload_folder(**kwargs):
        staged = Path(kwargs["folder_path"])
        calls["upload_folder"] = kwargs
        calls["staged"] = {path.name: path.read_bytes() for path in staged.iterdir()}
        return huggingface_hub.CommitInfo(commit_url="https://huggingface.co/spaces/you/x/commit/abc",
                                          commit_message="m", commit_description="", oid="abc")

    monkeypatch.setattr(publishing, "_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "repo_exists", lambda repo_id, **kwargs: True)
    monkeypatch.setattr(huggingface_hub, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    published = publish_space(tiny_compare_run, "you/lineage-tiny", token="hf_argument_token",
                              model_repo_overrides={f"{TASK}-lstm": "someone/lstm-de-en"})
    assert published.url == "https://huggingface.co/spaces/you/x/commit/abc" and published.local_dir is None
    assert calls["create_repo"] == ("you/lineage-tiny", {"private": False, "exist_ok": True, "token": "hf_argument_token",
                                                         "repo_type": "space", "space_sdk": "gradio"})
    upload = calls["upload_folder"]
    assert upload["repo_type"] == "space" and upload["token"] == "hf_argument_token"
    assert upload["delete_patterns"] is None  # files the owner added to the Space stay
    # What --local-dir writes is exactly what is uploaded.
    assert calls["staged"] == {name: (space_folder / name).read_bytes() for name in SPACE_FILES}


def test_upload_refuses_models_not_on_the_hub(tiny_compare_run, monkeypatch):
    monkeypatch.setattr(publishing, "_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "repo_exists", lambda repo_id, **kwargs: repo_id.endswith("-rnn"))
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda *a, **k: pytest.fail("created a Space regardless"))
    with pytest.raises(PublishError, match="not on the Hub; publish them first") as raised:
        publish_space(tiny_compare_run, "you/x")
    message = str(raised.value)
    assert f"lineage publish {tiny_compare_run / 'models' / f'{TASK}-lstm'} --repo_id you/lineage-{TASK}-lstm" in message
    assert f"{TASK}-transformer" in message and f"{TASK}-rnn " not in message


def test_upload_offline_is_a_clear_error(tiny_compare_run, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub, "repo_exists", lambda *a, **k: pytest.fail("asked the Hub while offline"))
    with pytest.raises(PublishError, match=f"^{OFFLINE_MESSAGE}$"):
        publish_space(tiny_compare_run, "you/x")


def test_cli_writes_the_space_and_says_which_models_to_publish(tiny_compare_run, tmp_path):
    out = tmp_path / "space"
    done = subprocess.run([sys.executable, "-m", "lineage.cli", "publish-space", str(tiny_compare_run),
                           "--repo-id", "you/lineage-demo", "--local-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir()) == list(SPACE_FILES)
    for row in ROWS:
        assert f"lineage publish {tiny_compare_run / 'models' / f'{TASK}-{row}'} --repo_id you/lineage-{TASK}-{row}" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "lineage.cli", "publish-space", str(tiny_compare_run),
                          "--repo-id", "you/x", "--model-repo", "no-equals-sign"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--model_repo takes FOLDER=REPO" in bad.stderr


def test_space_runs_as_it_is_without_the_project(tiny_compare_run, tmp_path):
    """The Space folder's app.py, in a process that cannot import the project, serves the page over the
    models as `lineage publish` uploads them (folders standing in for their Hub repos: no network here)."""
    browser.chromium_path()
    hub = {}
    for row in ROWS:
        repo = f"you/lineage-{TASK}-{row}"
        hub[repo] = publish(tiny_compare_run / "models" / f"{TASK}-{row}", repo, local_dir=tmp_path / "hub" / row).local_dir
    folder = publish_space(tiny_compare_run, "you/lineage-tiny", local_dir=tmp_path / "space").local_dir
    catalog = json.loads((folder / "models.json").read_text())
    for model in catalog["tasks"][TASK]["models"]:
        model["model"] = str(hub[model["model"]])
    (folder / "models.json").write_text(json.dumps(catalog))

    port = free_port()
    command, env = isolated.isolated_python_command(
        folder / "app.py", HF_HOME=str(tmp_path / "hf-home"), GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    sentence = "Zwei Hunde spielen im Schnee."
    with browser.serving(command, port, tmp_path / "space.log", env=env, cwd=folder) as url, \
            browser.open_page(url) as (page, external):
        assert browser.submit(page, TASK, sentence, expect="models answered").startswith("3 of 3 models answered")
        shown = browser.outputs(page, TASK, ROWS)
    expected = {row: pipeline("translation", model=str(hub[f"you/lineage-{TASK}-{row}"]),
                              trust_remote_code=True)(sentence)[0]["translation_text"] for row in ROWS}
    assert shown == expected
    assert external == []
    assert "Traceback" not in (tmp_path / "space.log").read_text()
