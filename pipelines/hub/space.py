"""`lineage publish-space`: a Hub Space that runs a comparison's published models side by side.

    publish_space("runs/demo", "you/lineage-demo")                     # create the Space and upload
    publish_space("runs/demo", "you/lineage-demo", local_dir="space")  # the same files, written; no network

The Space is four files, runnable on a free CPU Space as they are:

    app.py            pipelines/app.py, copied verbatim: the one copy of the UI, which
                      `lineage app` runs too; it needs neither this project nor the run
    models.json       its catalog: the run's tasks and test examples, and each model's Hub repo
    requirements.txt  torch (CPU wheels), transformers and matplotlib, at this project's
                      version ranges; gradio comes from the card's `sdk_version`
    README.md         the Space card: the YAML header Spaces read (sdk, sdk_version,
                      app_file, models) and a table of the models with their test scores

The models are loaded from their Hub repos, which `lineage publish` fills:
by default `<the Space's owner>/lineage-<task>-<row>` (the name a run's
model card suggests); `model_repos` overrides any of them. Uploading checks
first that every model repo exists, and says how to publish the missing ones.
"""

import importlib.metadata
import json
import shutil
import sys
import tempfile
from pathlib import Path

import huggingface_hub
from huggingface_hub import SpaceCard, SpaceCardData
from packaging.requirements import Requirement

from .. import app
from ..data.tasks import score_name
from ..report.results import Results
from ..report.tables import markdown_table
from .cards import default_model_name
from .publish import Published, PublishError, check_online, upload, write_output_folder

APP_FILE = "app.py"
README = "README.md"
REQUIREMENTS = "requirements.txt"
SPACE_FILES = tuple(sorted((APP_FILE, app.CATALOG_FILE, README, REQUIREMENTS)))
# What the Space installs beside gradio: the packages app.py imports.
SPACE_PACKAGES = ("torch", "transformers", "matplotlib")
# CPU Spaces: torch's CPU wheels are a fraction of the default CUDA build's size.
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
DEFAULT_COMMIT_MESSAGE = "Upload Lineage Space"


def model_repos(run_dir: str | Path, space_repo_id: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The Hub repo of each model folder of the run, by folder name (`<task>-<row>`).

    Defaults to `<owner of the Space>/lineage-<task>-<row>`; `overrides`
    (folder name -> repo id) replace any. An override naming no model of the
    run is refused, so a typo cannot leave a model on its default name.
    """
    owner = space_repo_id.split("/")[0]
    results = _results(Path(run_dir))
    repos = {}
    for task_name, row, model in results.rows(with_model=True):
        repos[Path(model.folder).name] = f"{owner}/{default_model_name(task_name, row)}"
    unknown = sorted(set(overrides or {}) - set(repos))
    if unknown:
        raise PublishError(f"--model_repo names no model of {run_dir}: {', '.join(unknown)} "
                           f"(its models: {', '.join(repos)})")
    return {**repos, **(overrides or {})}


def catalog_from_run(run_dir: str | Path) -> dict:
    """The catalog of a `lineage compare` run: its tasks, their test examples, and its model folders."""
    run_dir = Path(run_dir)
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no results.json: pass the folder of a `lineage compare` run")
    results = Results.load(results_path)
    tasks = {}
    for name, entry in results.tasks.items():
        models = [{"key": row, "label": model.label or row, "model": str(run_dir / model.folder)}
                  for row, model in entry.models.items() if model.folder]
        tasks[name] = {"kind": entry.task.kind, "examples": list(entry.test_sources), "models": models}
    return {"title": f"Lineage: {results.name or run_dir.name}", "tasks": tasks}


def space_catalog(run_dir: str | Path, repos: dict[str, str]) -> dict:
    """The run's catalog (`catalog_from_run`) with each model folder replaced by its Hub repo."""
    catalog = catalog_from_run(run_dir)
    for task in catalog["tasks"].values():
        for model in task["models"]:
            model["model"] = repos[Path(model["model"]).name]
    return catalog


def requirements() -> str:
    """requirements.txt: the packages app.py imports, at the version ranges this project requires."""
    wanted = {}
    for line in importlib.metadata.requires("lineage") or []:
        requirement = Requirement(line)
        if requirement.name in SPACE_PACKAGES and requirement.marker is None:
            wanted[requirement.name] = str(requirement)
    return "\n".join([TORCH_CPU_INDEX, *(wanted.get(name, name) for name in SPACE_PACKAGES)]) + "\n"


def gradio_version() -> str:
    """The gradio this project runs `lineage app` with: the Space runs the same one (its `sdk_version`)."""
    try:
        return importlib.metadata.version("gradio")
    except importlib.metadata.PackageNotFoundError:
        raise PublishError("gradio is not installed: install the app extra (pip install 'lineage[app]'), "
                           "whose gradio version the Space is then pinned to") from None


def space_card(run_dir: str | Path, repos: dict[str, str]) -> SpaceCard:
    """The Space's README.md: the Spaces YAML header and what the page shows, with each model's test score."""
    results = _results(Path(run_dir))
    kinds = sorted({entry.task.kind for entry in results.tasks.values()})
    data = SpaceCardData(
        title=f"Lineage {results.name or Path(run_dir).name}: RNN vs LSTM vs Transformer",
        emoji="\U0001f9ec",
        colorFrom="blue",
        colorTo="green",
        sdk="gradio",
        sdk_version=gradio_version(),
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        app_file=APP_FILE,
        pinned=False,
        license="apache-2.0",
        models=sorted(set(repos.values())),
        tags=["lineage", "seq2seq", *kinds],
        short_description="Three generations of seq2seq models, side by side",
    )
    rows = []
    for task_name, row, model in results.rows(with_model=True):
        metric = results.tasks[task_name].task.main_metric
        repo = repos[Path(model.folder).name]
        score = model.test.get(metric)
        rows.append([task_name, model.label or row, f"[{repo}](https://huggingface.co/{repo})",
                     f"{score_name(metric)} {score:.2f}" if score is not None else ""])
    body = [
        f"# {data.title}",
        "",
        "Type a sentence (or pick one of the test set's), and every model of the comparison answers it side by "
        "side: its output, its decoding time, and where it looked in the source while writing each output token "
        "(its source-target attention; for the Transformer, its cross-attention averaged over heads or one head). "
        "Beam size and output length are adjustable.",
        "",
        *markdown_table(["task", "model", "Hub repo", "test score"], rows),
        "",
        f"Made with `lineage publish-space` from the comparison run `{results.name}` "
        f"(preset `{results.preset}`). Each model loads as any Hub user loads it: "
        "`pipeline(task, model=repo, trust_remote_code=True)`.",
        "",
        f"Run it locally: `pip install gradio=={data.sdk_version} -r requirements.txt && python app.py`.",
    ]
    return SpaceCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body) + "\n")


def publish_space(
    run_dir: str | Path,
    repo_id: str,
    local_dir: str | Path | None = None,
    model_repo_overrides: dict[str, str] | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
) -> Published:
    """Publish the Space of `run_dir` to `repo_id`, or, with `local_dir`, write exactly the files that would be uploaded.

    Args:
        run_dir: a `lineage compare` run folder (its results.json lists tasks, models and test examples).
        repo_id: "user/name" of the Space; created (gradio SDK) if it does not exist.
        local_dir: write the Space's files here instead (no network). It must be
            new, empty, or an earlier output of this function, which is replaced.
        model_repo_overrides: model folder name (`<task>-<row>`) -> Hub repo, where
            a model is published under another name than the default.
        private: create the Space private (an existing one keeps its visibility).
        token: a Hub access token; None lets huggingface_hub find one. Never written or logged.
        commit_message: the Hub commit's message.
    """
    repos = model_repos(run_dir, repo_id, model_repo_overrides)
    card = space_card(run_dir, repos)
    catalog = space_catalog(run_dir, repos)

    def fill(folder: Path) -> None:
        shutil.copyfile(app.__file__, folder / APP_FILE)
        (folder / app.CATALOG_FILE).write_text(json.dumps(catalog, indent=2, ensure_ascii=False) + "\n")
        (folder / REQUIREMENTS).write_text(requirements())
        card.save(folder / README)

    if local_dir is not None:
        destination = write_output_folder(Path(local_dir), fill, _is_space_folder, "Space folder")
        return Published(files=SPACE_FILES, local_dir=destination)

    check_online()
    missing = [repo for repo in sorted(set(repos.values())) if not huggingface_hub.repo_exists(repo, token=token)]
    if missing:
        commands = [f"lineage publish {Path(run_dir) / 'models' / name} --repo_id {repo}"
                    for name, repo in repos.items() if repo in missing]
        raise PublishError("the Space would load models that are not on the Hub; publish them first:\n  "
                           + "\n  ".join(commands))
    with tempfile.TemporaryDirectory(prefix="lineage-space-") as staging:
        fill(Path(staging))
        url = upload(Path(staging), repo_id, list(SPACE_FILES), private=private, token=token,
                     commit_message=commit_message, space_sdk="gradio")
    return Published(files=SPACE_FILES, url=url)


def _is_space_folder(folder: Path) -> bool:
    """Whether `folder` holds an earlier output of `publish_space(local_dir=...)` and nothing else."""
    entries = list(folder.iterdir())
    return all(entry.is_file() for entry in entries) and sorted(entry.name for entry in entries) == list(SPACE_FILES)


def _results(run_dir: Path) -> Results:
    path = run_dir / "results.json"
    if not path.is_file():
        raise PublishError(f"{run_dir} has no results.json: pass the folder of a `lineage compare` run")
    return Results.load(path)
