"""Reading a command's settings: one dataclass per command (TrainConfig, CompareConfig, StudyConfig),
and the flags of the commands and scripts that take a few options (`option`).

Every flag of every command and script is written with underscores, as the
dataclass fields are named (`--source_column`); each also accepts the dashed
spelling (`--source-column`), as `transformers.HfArgumentParser` does. The
dataclass commands take their fields as flags (`--arch lstm`, or `--arch=lstm`)
or one YAML or JSON file that holds them (`lineage compare my-compare.yaml`).
"""

import argparse
from dataclasses import MISSING, Field, field, fields


def parse_config(config_class, argv: list[str]):
    """An instance of the dataclass `config_class` from command-line flags, or from a single YAML/JSON file."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(config_class)
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(argv[0])[0]
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])[0]
    return parser.parse_args_into_dataclasses(argv)[0]


def field_like(config_class, name: str, default=MISSING) -> Field:
    """A dataclass field declared as `config_class` declares `name` (its help), for a config that passes it
    on; `default` replaces the original default (None: a preset of the outer command fills it in)."""
    original = next(f for f in fields(config_class) if f.name == name)
    return field(default=original.default if default is MISSING else default, metadata=original.metadata)


def help_of(config_class, name: str) -> str:
    """The help text of field `name` of the dataclass `config_class`: one text for every command that takes it."""
    return next(f for f in fields(config_class) if f.name == name).metadata["help"]


def option(parser: argparse.ArgumentParser, flag: str, **settings) -> None:
    """Add `flag` (written with underscores, as the dataclass commands' flags are) and its dashed spelling."""
    parser.add_argument(flag, *([flag.replace("_", "-")] if "_" in flag else []), **settings)


def positive(text: str) -> int:
    """An argparse type: a positive integer."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value
