"""Publish a model folder to the Hugging Face Hub, or write exactly what would be published.

    publish(folder, "user/lineage-multi30k-de-en-lstm")                  # create_repo + upload_folder
    publish(folder, "user/lineage-multi30k-de-en-lstm", local_dir="out") # the same files, copied; no network

What goes to the Hub is decided by one function, `files_to_publish`, which
both paths use: the safetensors weights, `config.json`,
`generation_config.json`, the tokenizer files, the code files the config
names and their relative imports (the recurrent models' modeling/configuration
code and `text2text_pipeline.py`) and the `README.md` model card. Anything
else in the folder (other `*.py` files, `__pycache__`, temporary files,
checkpoints, optimizer states, logs) stays behind. A folder
without weights, config or tokenizer, with pickled (`pytorch_model.bin`)
weights, or whose config names code files it lacks, is refused.

When the folder is a model of a comparison run (`<run>/models/<task>-<row>`,
listed in `<run>/results.json`), the published README.md is the card
rendered again for the target repo id, so its metadata and usage snippets
name the repo; the run's folder itself is left as it is.

`upload` and `write_output_folder` are the two halves every publication shares:
pipelines/hub/space.py publishes a Space through them too.

The access token comes from the `token` argument, else `huggingface_hub`
resolves it (the `HF_TOKEN` environment variable, or the `hf auth login`
cache). This module never writes it anywhere and never logs it.
"""

import fnmatch
import glob
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
from huggingface_hub import ModelCard

from ..errors import LineageError
from ..files import write_folder
from ..report.results import Results
from .cards import CARD_NAME, model_card

logger = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
WEIGHT_SHARDS = "model-*-of-*.safetensors"
CONFIG_FILES = ("config.json", "generation_config.json")
TOKENIZER_CONFIG = "tokenizer_config.json"
# The files a tokenizer folder can hold besides tokenizer_config.json; one of
# the vocabulary files must be there.
TOKENIZER_VOCABULARIES = (
    "tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
    "source.spm", "target.spm",
)
TOKENIZER_EXTRAS = ("special_tokens_map.json", "added_tokens.json", "merges.txt", "chat_template.jinja")
# Weights in a format other than safetensors: refused, never published.
UNSAFE_WEIGHTS = ("pytorch_model*.bin", "tf_model*.h5", "flax_model*.msgpack")
# Remote files of the kinds this module publishes: a new upload removes stale
# ones (old code files, old weight shards) so the repository holds exactly the folder's set.
MANAGED_REMOTE_PATTERNS = ["*.py", "*.safetensors", WEIGHTS_INDEX, *UNSAFE_WEIGHTS]
OFFLINE_MESSAGE = "cannot upload while offline; use --local_dir to write the folder"
DEFAULT_COMMIT_MESSAGE = "Upload Lineage model"


class PublishError(LineageError, ValueError):
    """The folder cannot be published as it is, or publishing is not possible here."""


@dataclass(frozen=True)
class Published:
    """What `publish` did.

    Attributes:
        files: the files published, relative to the folder, sorted.
        local_dir: the folder they were written to (with `local_dir`), else None.
        url: the commit's URL on the Hub (without `local_dir`), else None.
    """

    files: tuple[str, ...]
    local_dir: Path | None = None
    url: str | None = None


def files_to_publish(folder: str | Path) -> list[str]:
    """The files of `folder` that make up the published model, sorted.

    Only top-level regular files are considered. Raises `PublishError` if the
    folder lacks weights, config or tokenizer, if a sharded checkpoint misses
    a shard, if `config.json` names code files the folder does not have, or if
    it holds non-safetensors weights.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder: pass a model folder written by the comparison or `lineage train`")
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith("."))

    unsafe = [name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in UNSAFE_WEIGHTS)]
    if unsafe:
        raise PublishError(
            f"{folder} holds weights that are not safetensors ({', '.join(unsafe)}): weights must be safetensors. "
            "Save the model again with `save_pretrained` (safetensors is its default) and remove the old files."
        )
    missing = []
    if WEIGHTS not in names and WEIGHTS_INDEX not in names:
        missing.append(f"the weights ({WEIGHTS})")
    if "config.json" not in names:
        missing.append("the model config (config.json)")
    if TOKENIZER_CONFIG not in names or not any(name in names for name in TOKENIZER_VOCABULARIES):
        missing.append(f"the tokenizer ({TOKENIZER_CONFIG} and tokenizer.json or a vocabulary file)")
    if missing:
        raise PublishError(
            f"{folder} is not a complete model folder: it lacks {'; '.join(missing)}. "
            "Write it with `lineage.models.save_model_folder(model, tokenizer, folder)`."
        )

    code = _code_files(folder, names)
    _check_shards(folder, names)
    return [
        name for name in names
        if name in (WEIGHTS, WEIGHTS_INDEX, CARD_NAME, TOKENIZER_CONFIG, *CONFIG_FILES, *TOKENIZER_VOCABULARIES,
                    *TOKENIZER_EXTRAS)
        or fnmatch.fnmatch(name, WEIGHT_SHARDS)
        or name in code
    ]


def publish(
    folder: str | Path,
    repo_id: str,
    local_dir: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
) -> Published:
    """Publish `folder` to the Hub repo `repo_id`, or, with `local_dir`, write the files that would be uploaded there.

    Both paths assemble the same files: those `files_to_publish` selects, with
    the model card re-rendered for `repo_id` when the folder belongs to a
    comparison run (its `results.json` lists the folder), so that the card's
    metadata and usage snippets name the repo. The source folder is never
    modified.

    Args:
        folder: a model folder (weights, config, tokenizer, code, README.md card).
        repo_id: "user/name" or "org/name" on the Hub; created if it does not exist.
        local_dir: write the published file set to this folder instead of
            uploading (no network; works with HF_HUB_OFFLINE=1). It must be
            new, empty, or an earlier output of this function, which is replaced.
        private: create the repo private (an existing repo keeps its visibility).
        token: a Hub access token; None lets huggingface_hub find one
            (HF_TOKEN, or the `hf auth login` cache). Never written or logged.
        commit_message: the Hub commit's message.
    """
    folder = Path(folder)
    files = files_to_publish(folder)
    card = run_card(folder, repo_id)
    if card is not None:
        files = sorted(set(files) | {CARD_NAME})
    elif CARD_NAME not in files:
        logger.warning("%s has no model card (%s): the Hub repo will have none", folder, CARD_NAME)
    else:
        _check_card_name(folder / CARD_NAME, repo_id)

    if local_dir is not None:
        destination = _write_local(folder, files, card, Path(local_dir))
        logger.info("wrote %d files for %s to %s", len(files), repo_id, destination)
        return Published(files=tuple(files), local_dir=destination)

    check_online()
    with tempfile.TemporaryDirectory(prefix="lineage-publish-") as staging:
        _stage(folder, files, card, Path(staging), link=True)
        url = upload(Path(staging), repo_id, files, private=private, token=token, commit_message=commit_message,
                     delete_patterns=MANAGED_REMOTE_PATTERNS)
    return Published(files=tuple(files), url=url)


def check_online() -> None:
    """Raise `PublishError` before any upload when the Hub is switched off (HF_HUB_OFFLINE and its kin)."""
    if _offline():
        raise PublishError(OFFLINE_MESSAGE)


def upload(
    staging: Path,
    repo_id: str,
    files: list[str],
    *,
    private: bool,
    token: str | None,
    commit_message: str,
    delete_patterns: list[str] | None = None,
    space_sdk: str | None = None,
) -> str:
    """Create `repo_id` if it does not exist, upload exactly `files` of the folder `staging`, return the commit URL.

    The one upload path of models (`publish`) and Spaces (`lineage.hub.space`,
    which passes `space_sdk`). Remote files matching `delete_patterns` that
    the upload does not hold are deleted.
    """
    check_online()
    space = {"repo_type": "space", "space_sdk": space_sdk} if space_sdk else {}
    repo = huggingface_hub.create_repo(repo_id, private=private, exist_ok=True, token=token, **space)
    commit = huggingface_hub.upload_folder(
        repo_id=repo.repo_id,
        repo_type=space.get("repo_type"),
        folder_path=str(staging),
        allow_patterns=[glob.escape(name) for name in files],
        delete_patterns=delete_patterns,
        commit_message=commit_message,
        token=token,
    )
    url = getattr(commit, "commit_url", None) or str(commit)
    logger.info("uploaded %d files to %s (%s)", len(files), repo.repo_id, url)
    return url


def run_card(folder: str | Path, repo_id: str) -> ModelCard | None:
    """The card of `folder` rendered for `repo_id`, if the folder is a model of a comparison run.

    Looks for `results.json` in the two folders above `folder` (a run writes
    `<run>/models/<task>-<row>/`) and for the entry whose "folder" is this
    one. Returns None for a folder outside a run.
    """
    folder = Path(folder).resolve()
    for run_folder in list(folder.parents)[:2]:
        results_path = run_folder / "results.json"
        if not results_path.is_file():
            continue
        try:
            results = Results.load(results_path)
            for task_name, model_key, entry in results.rows(with_model=True):
                if (run_folder / entry.folder).resolve() == folder:
                    return model_card(results, task_name, model_key, repo_id=repo_id)
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("cannot render the card from %s (%s): publishing the folder's own card", results_path, error)
            return None
    return None


# ---------------------------------------------------------------------------- helpers


def _offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; the environment is checked too
    # so that setting it later still stops the upload before any request.
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return huggingface_hub.is_offline_mode() or value.strip().upper() in ("1", "ON", "YES", "TRUE")


def _code_files(folder: Path, names: list[str]) -> set[str]:
    """The code the model needs: the modules config.json names (auto_map, custom_pipelines) and, file by file,
    their relative imports (what `save_pretrained` copied). Raises PublishError if one is missing."""
    from transformers.dynamic_module_utils import get_relative_imports

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise PublishError(f"{folder / 'config.json'} cannot be read as JSON: {error}") from None
    references = list((config.get("auto_map") or {}).values())
    references += [entry.get("impl", "") for entry in (config.get("custom_pipelines") or {}).values()]
    queue = []
    for reference in references:
        for item in reference if isinstance(reference, list) else [reference]:
            if item and "." in item:
                # "module.Class" or "repo--module.Class" (code hosted elsewhere: not ours to ship)
                if "--" not in item:
                    queue.append(item.rsplit(".", 1)[0] + ".py")
    needed = set()
    while queue:
        module = queue.pop()
        if module not in needed:
            needed.add(module)
            if module in names:
                queue += [f"{imported}.py" for imported in get_relative_imports(str(folder / module))]
    absent = sorted(needed - set(names))
    if absent:
        raise PublishError(
            f"{folder / 'config.json'} names code that the folder lacks ({', '.join(absent)}): "
            "the published model would not load. Write the folder again with `lineage.models.save_model_folder`."
        )
    return needed


def _check_shards(folder: Path, names: list[str]) -> None:
    """Every weight shard the index lists must be there."""
    if WEIGHTS_INDEX in names:
        try:
            shards = set(json.loads((folder / WEIGHTS_INDEX).read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError) as error:
            raise PublishError(f"{folder / WEIGHTS_INDEX} is not a valid weight index: {error}") from None
        absent = sorted(shard for shard in shards if shard not in names)
        if absent:
            raise PublishError(f"{folder} lacks weight shards listed in {WEIGHTS_INDEX}: {', '.join(absent)}")


def _check_card_name(card_path: Path, repo_id: str) -> None:
    try:
        card = ModelCard.load(card_path, ignore_metadata_errors=True)
    except Exception as error:  # a card we cannot parse is the user's to fix; still publish it
        logger.warning("%s could not be parsed (%s)", card_path, error)
        return
    name = card.data.get("model_name")
    if name and name != repo_id:
        logger.warning(
            "the model card names the model %r, not %r: render it with "
            "lineage.hub.cards.model_card(..., repo_id=%r) so its usage snippets are right",
            name, repo_id, repo_id,
        )


def _stage(folder: Path, files: list[str], card: ModelCard | None, staging: Path, link: bool = False) -> None:
    """Put `files` of `folder` into the empty folder `staging`; README.md is `card` when given.

    With `link`, files are hard-linked where possible (a staging area that is only read, for an upload).
    """
    for name in files:
        if name == CARD_NAME and card is not None:
            card.save(staging / CARD_NAME)
            continue
        if link:
            try:
                os.link(folder / name, staging / name)
                continue
            except OSError:
                pass
        shutil.copyfile(folder / name, staging / name)


def _write_local(folder: Path, files: list[str], card: ModelCard | None, destination: Path) -> Path:
    """Write the published files into `destination`, which then holds exactly them (see `write_output_folder`)."""
    source, target = folder.resolve(), destination.resolve()
    if target == source or source in target.parents or target in source.parents:
        raise PublishError(f"--local_dir {destination} must lie outside the model folder {folder} (and not contain it)")
    return write_output_folder(destination, lambda staging: _stage(folder, files, card, staging), _is_published_folder,
                        "published model")


def write_output_folder(destination: Path, fill, is_earlier_output, what: str) -> Path:
    """Make `destination` a folder holding exactly what `fill(staging)` writes into an empty staging folder.

    `destination` must be new, empty, or an earlier output (`is_earlier_output(destination)`,
    which is then replaced; `what` names such an output in the error). The
    staging folder lies beside `destination` and is swapped in at the end, so
    an interrupted run never leaves a half-written folder.
    """
    if destination.exists():
        if not destination.is_dir():
            raise PublishError(f"--local_dir {destination} exists and is not a folder")
        if any(destination.iterdir()) and not is_earlier_output(destination):
            raise PublishError(
                f"--local_dir {destination} is not empty and does not hold an earlier {what}: "
                "choose a new or empty folder"
            )
    return write_folder(destination, fill)


def _is_published_folder(destination: Path) -> bool:
    """Whether `destination` looks like an earlier output of `publish(local_dir=...)`."""
    entries = list(destination.iterdir())
    if any(not entry.is_file() for entry in entries):
        return False
    try:
        return sorted(entry.name for entry in entries) == files_to_publish(destination)
    except PublishError:
        return False

