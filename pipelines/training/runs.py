"""A run folder knows what it is: run.json records the settings that made its run.

A run is defined by every training setting that changes what it trains: the
task and data subset, the tokenizer, the architecture, size and model
overrides, batch tokens, seed, schedule, learning rate and the rest. Only the
settings in `MAY_CHANGE` may differ when a run resumes (unless the schedule
reads them); every other `TrainConfig` field, a new one included, defines the
run. `open_run_folder`
enforces this when a run starts:

- resuming with a different defining setting is refused, naming each changed
  field with its old and new value; a change of a `MAY_CHANGE` setting (a
  larger budget, another evaluation frequency) is allowed and recorded;
- training into a folder that already holds a run, without --resume, is
  refused unless --overwrite is given, which deletes that run first;
- a folder another process trains into is refused (`locks.py`): the lock is
  taken before anything is read or deleted, and held until `train` returns.

`compare` and `study` rows carry the same record (`row_settings`, in
row.json), so a row whose settings changed is never reused silently.
"""

import json
import logging
import os
import shutil
from dataclasses import MISSING, fields
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError
from ..files import clear_interrupted_writes, write_json
from ..models.sizes import FORMER_NAMES as SIZE_FORMER_NAMES
from .locks import hold_folder, release_folder
from .presets import FORMER_NAMES as PRESET_FORMER_NAMES

logger = logging.getLogger(__name__)

RECORD = "run.json"
MILESTONES = "milestones"  # the subfolder of the models kept at --milestones (training.loop.keep_milestones)
# What a run writes into its folder (lineage.training); --overwrite deletes exactly these.
RUN_ENTRIES = (RECORD, "tokenizer", "word2vec.kv", "checkpoints", "best", MILESTONES, "log.jsonl",
               "train_result.json", "train_config.json", "lineage")  # train_config.json: older runs; lineage/: tracker logs
# The settings that may change when a run resumes, and why that leaves the run the same.
MAY_CHANGE = {
    "max_steps": "a budget: a larger one continues the run",
    "max_epochs": "a budget",
    "budget_minutes": "a budget",
    "budget_target_tokens": "a budget",
    "milestones": "which models are kept on the way, not how it trains",
    "eval_every": "when the model is evaluated, not how it trains",
    "eval_samples": "how many validation sentences an evaluation decodes",
    "patience": "when early stopping gives up",
    "save_every": "when checkpoints are written",
    "keep_checkpoints": "how many checkpoints are kept",
    "log_every": "when the loss is logged",
    "ddp_timeout": "how long a process waits for the others",
}
# ... except under the schedules that read them: the linear rate decays to zero at max_steps. (The
# plateau schedule checks the validation loss on its own clock, plateau_every, which defines the run.)
DEFINING_UNDER = {"max_steps": ("linear",)}
# Flags that say how to start this process, not what the run is: never recorded.
PROCESS_FLAGS = ("output_dir", "resume", "resume_from", "overwrite")
# Recorded relative to the run folder, so a compare folder that moves stays the same run.
PATHS = ("tokenizer", "word2vec")


def run_settings(config) -> dict:
    """The settings of a resolved TrainConfig as run.json records them."""
    settings = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in PROCESS_FLAGS}
    for name in PATHS:
        if settings[name] is not None:
            settings[name] = os.path.relpath(settings[name], config.output_dir)
    return json.loads(json.dumps(settings))  # as it reads back from the file


def setting_defaults(config) -> dict:
    """Each field's default: what a record made before the field existed is taken to have used."""
    return {f.name: f.default for f in fields(config) if f.default is not MISSING}


def defining(settings: dict) -> dict:
    """The settings that define the run: all but `MAY_CHANGE`, unless the schedule reads them (`DEFINING_UNDER`)."""
    return {name: value for name, value in settings.items()
            if name not in MAY_CHANGE or settings.get("schedule") in DEFINING_UNDER.get(name, ())}


def changes(recorded: dict, current: dict, defaults: dict) -> dict:
    """{field: [recorded value, current value]} for every current setting the record disagrees with."""
    return {name: [recorded.get(name, defaults.get(name)), value] for name, value in current.items()
            if recorded.get(name, defaults.get(name)) != value}


def describe(changed: dict) -> str:
    return "; ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in changed.items())


def read_record(folder: Path) -> dict | None:
    """The folder's run.json, its settings under today's names (`current_names`); None if it has none."""
    path = folder / RECORD
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return {**record, "settings": current_names(record["settings"])}


def current_names(settings: dict) -> dict:
    """`settings` with the preset and size names of earlier versions replaced by today's (docs/presets.md):
    a run folder or results file recorded under the former names is the same run."""
    renamed = dict(settings)
    for name, former in (("preset", PRESET_FORMER_NAMES), ("size", SIZE_FORMER_NAMES)):
        if renamed.get(name) in former:
            renamed[name] = former[renamed[name]]
    return renamed


def open_run_folder(config, out: Path) -> None:
    """Lock the run folder `out` for this process, check a resolved TrainConfig against it, record it in run.json.

    Raises FolderInUse when another process holds the folder, ConfigError when
    the settings contradict it (see the module docstring); either way this
    process holds no lock after the error. Also clears what an interrupted
    write left behind. A checkpoint given with --resume_from from another run
    folder is checked against that run's record. `train` releases the lock.
    """
    hold_folder(out)
    try:
        check_run_folder(config, out)
    except BaseException:
        release_folder(out)
        raise


def check_run_folder(config, out: Path) -> None:
    """The checks and the record of `open_run_folder`, once the folder is locked."""
    resuming = bool(config.resume or config.resume_from)
    if resuming and config.overwrite:
        raise ConfigError("--overwrite starts the run over and --resume continues it: give one of them")
    held = [name for name in RUN_ENTRIES if (out / name).exists()]
    if held and not resuming:
        if not config.overwrite:
            raise ConfigError(
                f"{out} already holds a run ({', '.join(held)}): continue it with --resume true, start it over "
                "with --overwrite true (deletes it), or choose another --output_dir"
            )
        logger.warning("%s: --overwrite deletes the run it holds (%s)", out, ", ".join(held))
        for name in held:
            (shutil.rmtree if (out / name).is_dir() else os.remove)(out / name)
    for folder in (out, out / "checkpoints"):
        clear_interrupted_writes(folder)

    record = read_record(out)
    if record is None and config.resume_from:
        record = read_record(Path(config.resume_from).parent.parent)
    settings = run_settings(config)
    if record is None:
        if held and resuming:
            raise ConfigError(
                f"{out} holds run files ({', '.join(held)}) but no {RECORD}, so its settings cannot be checked "
                "(a run of an older Lineage version?): start it over with --overwrite true, or use another --output_dir"
            )
        write_json(out / RECORD, {"settings": settings, "changes": []})
        return
    defaults = setting_defaults(config)
    changed = changes(defining(record["settings"]), defining(settings), defaults)
    if changed:
        raise ConfigError(
            f"cannot resume {out}: settings that define its run differ from its {RECORD} ({describe(changed)}); "
            "resume with the recorded values, or train into another --output_dir (or --overwrite true to start over)"
        )
    changed = changes(record["settings"], settings, defaults)
    if changed:
        logger.info("%s: resuming with changed settings (%s)", out, describe(changed))
        record["changes"].append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "changed": changed})
    if changed or not (out / RECORD).exists():
        write_json(out / RECORD, {"settings": settings, "changes": record["changes"]})
