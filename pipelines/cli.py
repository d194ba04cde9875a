"""`lineage`: the command line.

    lineage train    --arch lstm --output_dir runs/lstm --max_steps 2000   (TrainConfig fields)
    lineage compare  --preset demo                                          (CompareConfig fields)
    lineage study    --preset cpu                                           (StudyConfig fields)
    lineage report   [RUN_DIR] [--readme README.md]                         (report.md, or README sections, from results.json)
    lineage evaluate MODEL_DIR --task multi30k [--num_beams 5] [--predictions out.txt]
    lineage publish  MODEL_DIR --repo_id user/name [--local_dir DIR] [--private]
    lineage app      RUN_DIR | MODEL_DIR_OR_HUB_ID... [--kind translation] [--host 127.0.0.1] [--port 7860]
                     (needs the app extra: pip install 'lineage[app]')
    lineage publish-space RUN_DIR --repo_id user/name [--local_dir DIR] [--model_repo FOLDER=REPO] [--private]

`train`, `compare` and `study` take their fields as flags or as one YAML/JSON file
(pipelines/configs.py), and also run under `accelerate launch` through scripts/.
Every flag of every command is written with underscores, as the dataclass fields
behind `train`, `compare` and `study` are named; each one also accepts dashes
(`--source-column` for `--source_column`).

A mistake the project detects (a setting, a folder, the data, a checkpoint, a
full disk) ends in one line, `lineage <command>: <message>`, and exit code 2; an
unexpected error keeps its traceback. The first SIGINT or SIGTERM stops `train`,
`compare` and `study` at the next step boundary with a checkpoint, one line that
says how to resume, and exit code 128 + the signal's number (training/stops.py).
"""

import argparse
import contextlib
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from .configs import help_of, option, positive
from .errors import ConfigError, LineageError

# The commands that train: a signal stops them gracefully, and they say how to resume.
TRAINING = ("train", "compare", "study")


def run_train(argv: list[str]) -> None:
    from .configs import parse_config
    from .training.config import TrainConfig
    from .training.loop import train

    print(json.dumps(train(parse_config(TrainConfig, argv)), indent=2))


def run_compare(argv: list[str]) -> None:
    from .comparison.config import CompareConfig
    from .comparison.running import compare
    from .configs import parse_config
    from .training.distributed import launch_state

    config = parse_config(CompareConfig, argv)
    results = compare(config)
    if not launch_state().is_main_process:
        return
    print(f"report: {config.resolved().run_dir / 'report.md'}")
    for task, row, model in results.rows():
        main = results.tasks[task].task.main_metric
        print(f"{task} {row}: {main} {model.test[main]:.2f}")


def run_study(argv: list[str]) -> None:
    from .configs import parse_config
    from .study.grid import StudyConfig
    from .study.runner import study
    from .training.distributed import launch_state

    config = parse_config(StudyConfig, argv)
    document = study(config)
    if not launch_state().is_main_process:
        return
    print(f"study: {config.run_dir / 'study.md'} ({document['wall_seconds'] / 60:.1f} min)")
    for number, section in enumerate(document["sections"].values(), 1):
        print(f"\n{number}. {section['title']}\n{section['verdict']}")


def run_evaluate(argv: list[str]) -> None:
    from transformers import AutoModelForSeq2SeqLM

    from . import models  # noqa: F401  (registers the recurrent Auto classes)
    from .data.loading import load_test_references
    from .data.tasks import TASK_SETTINGS, get_task
    from .data.tokenizer import load_tokenizer
    from .evaluation.generation import evaluate_model
    from .training.config import TrainConfig

    def like(name: str) -> dict:  # the setting as `lineage train` takes it: one default and help text
        return dict(default=getattr(TrainConfig, name, None), help=help_of(TrainConfig, name))

    parser = argparse.ArgumentParser(prog="lineage evaluate", description="Score a model folder on a task's test split.")
    parser.add_argument("model", help="model folder (a run's best/ or a published folder)")
    for name in ("task", *TASK_SETTINGS):
        option(parser, f"--{name}", type=int if name.startswith("max_") else str, **like(name))
    option(parser, "--num_beams", type=positive, help="beam size (default: the task's)")
    option(parser, "--length_penalty", type=float)
    option(parser, "--max_new_tokens", type=positive)
    parser.add_argument("--samples", type=positive, help="score only the first N test examples")
    parser.add_argument("--predictions", help="write predictions here, one per line")
    parser.add_argument("--output", help="write the scores here as JSON")
    args = parser.parse_args(argv)
    if not Path(args.model).is_dir():
        raise ConfigError(f"model folder {args.model} does not exist")

    task = get_task(args.task, **{name: getattr(args, name) for name in TASK_SETTINGS})
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, trust_remote_code=True)
    tokenizer = load_tokenizer(args.model)
    sources, references = load_test_references(task)
    if args.samples:
        sources, references = sources[: args.samples], references[: args.samples]
    overrides = {k: v for k, v in (("num_beams", args.num_beams), ("length_penalty", args.length_penalty),
                                   ("max_new_tokens", args.max_new_tokens)) if v is not None}
    result = evaluate_model(model, tokenizer, task, sources, references, predictions_file=args.predictions, **overrides)
    result.pop("predictions")
    text = json.dumps(result, indent=2)
    if args.output:
        from .files import write_json

        write_json(args.output, result)
    print(text)


def run_publish(argv: list[str]) -> None:
    from .hub.publish import publish

    parser = argparse.ArgumentParser(prog="lineage publish", description="Upload a model folder to the Hub.")
    parser.add_argument("model", help="Hub-ready model folder (e.g. runs/demo/models/multi30k-de-en-lstm)")
    option(parser, "--repo_id", required=True, help="user/name on the Hub")
    option(parser, "--local_dir", help="write exactly what would be uploaded here instead (no network)")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    # The token comes from HF_TOKEN or the login cache; it is never a flag, so never in shell history.
    print(publish(args.model, args.repo_id, local_dir=args.local_dir, private=args.private))


def run_publish_space(argv: list[str]) -> None:
    from .hub.space import model_repos, publish_space

    parser = argparse.ArgumentParser(prog="lineage publish-space",
                                     description="Upload a Hub Space that runs a comparison's models side by side.")
    parser.add_argument("run", help="a `lineage compare` run folder (e.g. runs/demo)")
    option(parser, "--repo_id", required=True, help="user/name of the Space on the Hub")
    option(parser, "--local_dir", help="write exactly what would be uploaded here instead (no network)")
    option(parser, "--model_repo", action="append", default=[], metavar="FOLDER=REPO",
                        help="the Hub repo of a model folder of the run (e.g. multi30k-de-en-lstm=you/lstm-de-en); "
                             "default: <Space owner>/lineage-<folder>")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.model_repo if "=" in item)
    if len(overrides) != len(args.model_repo):
        raise ConfigError("--model_repo takes FOLDER=REPO")
    repos = model_repos(args.run, args.repo_id, overrides)
    print(publish_space(args.run, args.repo_id, local_dir=args.local_dir, model_repo_overrides=overrides,
                        private=args.private))
    print("The Space loads these model repos; publish each with `lineage publish` if not done yet:")
    for folder, repo in repos.items():
        print(f"  lineage publish {Path(args.run) / 'models' / folder} --repo_id {repo}")


def run_app(argv: list[str]) -> None:
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise ConfigError("gradio is not installed: pip install 'lineage[app]'")
    from . import app
    from .hub.space import catalog_from_run

    parser = argparse.ArgumentParser(prog="lineage app", description="Serve a page that runs models side by side.")
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="a `lineage compare` run folder (e.g. runs/demo), or model folders / Hub ids")
    parser.add_argument("--kind", choices=app.KINDS, default="translation",
                        help="the task of model folders / Hub ids (a run names its own)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, help="port (default: gradio's, 7860 or the next free one)")
    args = parser.parse_args(argv)
    runs = [source for source in args.sources if (Path(source) / "results.json").is_file()]
    if runs and len(args.sources) > 1:
        raise ConfigError("pass one run folder, or any number of model folders / Hub ids, not both")
    catalog = catalog_from_run(runs[0]) if runs else app.catalog_from_models(args.sources, args.kind)
    app.serve(catalog, host=args.host, port=args.port)


def run_report(argv: list[str]) -> None:
    from .report.document import refresh_readme, write_report
    from .report.results import Results

    parser = argparse.ArgumentParser(prog="lineage report", description=(
        "Rewrite a run's report.md and plots from its results.json, or a README's results sections from the "
        "results files they name."))
    parser.add_argument("run", nargs="?", help="a `lineage compare` run folder")
    parser.add_argument("--readme", help="a README with <!-- results: PATH --> ... <!-- end results --> sections")
    args = parser.parse_args(argv)
    if not args.run and not args.readme:
        raise ConfigError("name a run folder, --readme, or both")
    if args.run:
        results_file = Path(args.run) / "results.json"
        if not results_file.is_file():
            raise ConfigError(f"{results_file} does not exist: is {args.run} a `lineage compare` run folder?")
        write_report(Results.load(results_file), Path(args.run))
        print(Path(args.run) / "report.md")
    if args.readme:
        if not Path(args.readme).is_file():
            raise ConfigError(f"README {args.readme} does not exist")
        for name in refresh_readme(Path(args.readme)):
            print(f"{args.readme}: section from {name}")


COMMANDS = {"train": run_train, "report": run_report, "compare": run_compare, "study": run_study, "evaluate": run_evaluate, "publish": run_publish,
            "app": run_app, "publish-space": run_publish_space}


def resume_command(command: str, args: list[str]) -> str:
    """The command line that continues an interrupted `command` run with `args`, as the user started it.

    `train` resumes with --resume true (in place of --overwrite or --resume_from); `compare` and
    `study` continue when run again as they were. Under `accelerate launch` the launcher's own
    options are not visible to its processes: the line says where they go.
    """
    program, launcher = Path(sys.argv[0]), ""
    if program.name == Path(__file__).name:
        prefix = ["python", "-m", "lineage.cli", command]
    elif program.suffix == ".py":  # scripts/<command>.py
        several = int(os.environ.get("WORLD_SIZE", "1")) > 1
        prefix, launcher = (sys.argv[:1], "accelerate launch [launch options] ") if several else (["python", sys.argv[0]], "")
    else:
        prefix = ["lineage", command]
    if command != "train":
        return launcher + shlex.join([*prefix, *args])
    if len(args) == 1 and args[0].endswith((".yaml", ".yml", ".json")):
        return f"{launcher}{shlex.join([*prefix, *args])} (with resume: true in {args[0]})"
    kept, index = [], 0
    while index < len(args):
        flag, _, value = args[index].partition("=")
        index += 1
        if flag.replace("-", "_") not in ("__resume", "__resume_from", "__overwrite"):
            kept.append(args[index - 1])
        elif not value and index < len(args) and not args[index].startswith("--"):
            index += 1  # the dropped flag's value
    return launcher + shlex.join([*prefix, *kept, "--resume", "true"])


def stop_message(stop, command: str, args: list[str]) -> str:
    """The one line a graceful stop ends with (training.stops.Stopped)."""
    where = "" if command == "train" else f" of {stop.folder}"
    when = f"before training {stop.folder}" if stop.step is None else f"at step {stop.step}{where}"
    return f"lineage {command}: stopped {when} by {stop.signal_name}; resume with: {resume_command(command, args)}"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    command, args = argv[0], argv[1:]
    signals, stopped = contextlib.nullcontext(), ()  # () catches nothing
    if command in TRAINING:  # only they load torch, which training.stops imports
        from .training.stops import Stopped, stop_signals_caught

        signals, stopped = stop_signals_caught(), Stopped
    code = 0
    try:
        with signals:
            COMMANDS[command](args)
    except stopped as stop:
        if int(os.environ.get("RANK", "0")) == 0:  # every rank stops at the same step; one says so
            print(stop_message(stop, command, args), file=sys.stderr, flush=True)
        code = stop.exit_code
    except LineageError as error:
        message = " ".join(str(error).split())
        from .files import WriteFailed

        if isinstance(error, WriteFailed) and command in TRAINING:
            message += f"; free some space, then resume with: {resume_command(command, args)}"
        print(f"lineage {command}: {message}", file=sys.stderr)
        code = 2
    from .training.distributed import end_distributed_process

    end_distributed_process(code)  # returns at once unless the command ran under torch.distributed
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
