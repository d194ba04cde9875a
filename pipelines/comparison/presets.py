"""`lineage compare` presets: what a comparison trains by default, named for their purpose.

    test   seconds: the tests' end-to-end check of every artefact
    demo   `make demo`: both tasks on a CPU in minutes, budgets in target tokens
    gpu    GPUs: the same target-token budget for every architecture, full test sets

`training` names the training preset every row starts from (lineage.training.presets); the budget is
per model, and every row of a task gets the same. The reasons behind the values: docs/presets.md.
"""

from ..errors import ConfigError

PRESETS = {
    "test": dict(training="test", tasks="multi30k", budget_target_tokens=6000, milestones="2k,4k,6k",
                 train_samples=300, test_samples=12, vocab_size=400, eval_samples=8),
    # Multi30k: the three architectures on the budget the slowest learner (the RNN) needs to translate;
    # DialogSum: only the pointer-generator writes real summaries within a demo's budget.
    "demo": dict(training="cpu", tasks="multi30k,dialogsum", budget_target_tokens=550_000, test_samples=200,
                 vocab_size=4000, eval_samples=200, eval_every=200,
                 per_task={"dialogsum": dict(rows="lstm-pointer-generator", budget_target_tokens=70_000,
                                             eval_samples=50)}),
    # About 35 Multi30k epochs per model.
    "gpu": dict(training="gpu", tasks="multi30k,dialogsum", budget_target_tokens=15_000_000, vocab_size=8000,
                eval_samples=500),
}
# The presets' names before they were named for their purpose ("demo" kept its name).
FORMER_NAMES = {"tiny": "test", "full": "gpu"}


def compare_preset(name: str) -> dict:
    """The settings of compare preset `name`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
