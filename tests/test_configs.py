"""Every command's settings come from flags or one YAML/JSON file, parsed the same way."""

import json
from dataclasses import fields

import pytest
import yaml
from lineage.comparison.config import TRAINING_FIELDS, CompareConfig
from lineage.configs import parse_config
from lineage.study.grid import StudyConfig
from lineage.training.config import TrainConfig

SETTINGS = {
    TrainConfig: {"output_dir": "runs/x", "arch": "rnn", "max_steps": 7},
    CompareConfig: {"preset": "test", "rows": "lstm-pointer-generator", "budget_target_tokens": 900},
    StudyConfig: {"preset": "test", "seeds": "0,3"},
}


@pytest.mark.parametrize("config_class", SETTINGS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_config_file_and_the_same_flags_give_the_same_settings(tmp_path, config_class, suffix):
    settings = SETTINGS[config_class]
    path = tmp_path / f"settings{suffix}"
    path.write_text(yaml.safe_dump(settings) if suffix == ".yaml" else json.dumps(settings))
    flags = [part for key, value in settings.items() for part in (f"--{key}", str(value))]
    from_file, from_flags = parse_config(config_class, [str(path)]), parse_config(config_class, flags)
    assert from_file == from_flags
    assert {key: getattr(from_file, key) for key in settings} == settings


def test_compare_declares_the_training_settings_it_passes_on_as_training_declares_them():
    train = {f.name: f for f in fields(TrainConfig)}
    compare = {f.name: f for f in fields(CompareConfig)}
    for name in TRAINING_FIELDS:
        assert compare[name].metadata["help"] == train[name].metadata["help"]
        assert compare[name].default in (None, train[name].default)
