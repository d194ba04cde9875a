"""`lineage compare` presets: what a comparison trains by default, named for their purpose.

    test   seconds: the tests' end-to-end check of every artefact
    demo   `make demo`: both tasks on a CPU in minutes, budgets in target tokens
    gpu    GPUs: the same target-token budget for every architecture, full test sets

`training` names the training preset every row starts from (lineage.training.presets); the budget is
per model, and every row of a task gets the same. A task whose budget neither the flags nor the preset
set gets one from its corpus by the preset's `data_budget` (lineage.comparison.budget). The reasons
behind the values: docs/presets.md.
"""

from ..errors import ConfigError

# The CPU budget of a task no setting gives one: `passes` over its training target tokens, kept within
# [`low`, `high`] target tokens per model (docs/presets.md, "Budget from the data").
CPU_DATA_BUDGET = {
    # 3 passes: 1.1M on Multi30k. The floor: from 500k to 1M every row's Multi30k validation loss still falls
    # fast; above 4M the curves flatten (LSTM +2.0, Transformer +2.2 BLEU from 4M to 8M, twice the time).
    "translation": dict(passes=3, low=1_000_000, high=4_000_000),
    # 1.2M: below ~1M the Transformer has barely begun to read its dialogue (its validation ROUGE-L rises
    # from 21.0 at 508k to 25.0 at 1.0M); at 2 passes (1.2M) every row's validation loss was still falling, hence 4.
    "summarization": dict(passes=4, low=1_200_000, high=2_400_000),
}

PRESETS = {
    "test": dict(training="test", tasks="multi30k", budget_target_tokens=6000, milestones="2k,4k,6k",
                 train_samples=300, test_samples=12, vocab_size=400, eval_samples=8),
    # Multi30k: the three architectures on the budget the slowest learner (the RNN) needs to translate;
    # DialogSum: only the pointer-generator writes real summaries within a demo's budget. Any other task
    # (your own data): the rows of its kind, on a budget from its corpus.
    "demo": dict(training="cpu", tasks="multi30k,dialogsum", test_samples=200, vocab_size=4000, eval_samples=200,
                 eval_every=200, data_budget=CPU_DATA_BUDGET,
                 per_task={"multi30k": dict(budget_target_tokens=550_000),
                           "dialogsum": dict(rows="lstm-pointer-generator", budget_target_tokens=70_000,
                                             eval_samples=50)}),
    # About 35 Multi30k epochs per model.
    "gpu": dict(training="gpu", tasks="multi30k,dialogsum", budget_target_tokens=15_000_000, vocab_size=8000,
                eval_samples=500),
}
# Preset entries that are not CompareConfig settings.
PRESET_ONLY = ("training", "per_task", "data_budget")
# The presets' names before they were named for their purpose ("demo" kept its name).
FORMER_NAMES = {"tiny": "test", "full": "gpu"}


def compare_preset(name: str) -> dict:
    """The settings of compare preset `name`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
