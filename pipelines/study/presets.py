"""`lineage study` presets, named for their purpose.

    test   seconds per cell: the tests' check that every section, plot and verdict is produced
    cpu    `make study`: the whole study on 2 CPU cores in about 70 minutes, at reduced sizes and budgets
    gpu    paper-scale models and budgets via `accelerate launch scripts/study.py --preset gpu`

Each cell of the study is one compare row of the `compare` preset (lineage.comparison.presets), trained with
its training preset's settings plus `batch_tokens` and `patience`, and tested at the task's `milestones` too (a doubling series ending at its budget: every
section says who leads at each budget). `components` has a budget of its own per task (the stock Transformer and
its `variants` on it, with its `seeds`); `speed` holds the speed measurement's settings
(lineage.speed.SpeedConfig fields). The reasons behind the values: docs/presets.md.
"""

from ..errors import ConfigError

PRESETS = {
    "test": dict(
        compare="test", vocab_size=400, batch_tokens=512, patience=0, eval_samples=8, seeds=(0, 1), sweep_seeds=(0,),
        tasks={
            "multi30k": dict(role="translation", budget_target_tokens=3000, milestones="1.5k,3k", eval_every=10,
                             test_samples=40, data_sizes=(100,)),
            "dialogsum": dict(role="summarization", budget_target_tokens=600, milestones="300,600", eval_every=10,
                              test_samples=6, data_sizes=()),
        },
        word2vec_sizes=(100, None),
        components=dict(seeds=(0, 1), tasks={
            "multi30k": dict(budget_target_tokens=3000, milestones="1.5k,3k", eval_every=10,
                             variants=("rnn-encoder", "no-residual")),
            "dialogsum": dict(budget_target_tokens=600, milestones="300,600", eval_every=10, variants=("rnn-decoder",)),
        }),
        speed=dict(sizes=("tiny",), lengths=(8, 16), models=("rnn-luong-general", "lstm-luong-general", "transformer"),
                   parts=("training", "decoding"), steps=1, min_steps=1, warmup_steps=0, beams=2, decode_batch=4,
                   decode_repeats=1, time_budget=0),
    ),
    # Batches of 2,048 tokens for every model (updates limit quality at these budgets); no early stopping (a
    # dip of a small validation sample would stop a cell that still improves); three seeds for the headline cells.
    "cpu": dict(
        compare="demo", vocab_size=4000, batch_tokens=2048, patience=0, eval_samples=100, seeds=(0, 1, 2),
        sweep_seeds=(0,),
        tasks={
            "multi30k": dict(role="translation", budget_target_tokens=400_000, milestones="100k,200k,400k",
                             eval_every=40, test_samples=500, data_sizes=(1000, 5000)),
            "dialogsum": dict(role="summarization", budget_target_tokens=60_000, milestones="15k,30k,60k",
                              eval_every=75, test_samples=200, data_sizes=(1000,)),
        },
        word2vec_sizes=(1000, None),
        # The Transformer passes the LSTM on Multi30k between 1M and 2M target tokens (docs/budget-curves) and
        # learns DialogSum from 1.2M summary tokens (docs/cpu-summarization): each variant gets that far. Two seeds.
        components=dict(seeds=(0, 1), tasks={
            "multi30k": dict(budget_target_tokens=2_000_000, milestones="250k,500k,1M,2M", eval_every=250,
                             variants=("rnn-encoder", "rnn-decoder", "one-head", "no-ffn", "no-residual")),
            "dialogsum": dict(budget_target_tokens=1_200_000, milestones="300k,600k,1.2M", eval_every=500,
                              variants=("rnn-encoder",)),
        }),
        speed=dict(lengths=(16, 32, 64, 128),
                   models=("rnn-luong-general", "rnn-none", "lstm-luong-general", "lstm-none", "transformer"),
                   parts=("training", "decoding"), beams=5, time_budget=150),
    ),
    # About 20 Multi30k epochs per cell, the learning-curve sizes of the literature, three seeds throughout.
    "gpu": dict(
        compare="gpu", vocab_size=8000, batch_tokens=16384, patience=5, eval_samples=500, seeds=(0, 1, 2),
        sweep_seeds=(0, 1, 2),
        tasks={
            "multi30k": dict(role="translation", budget_target_tokens=10_000_000, milestones="1.25M,2.5M,5M,10M",
                             eval_every=500, test_samples=0, data_sizes=(1000, 3000, 10000)),
            "dialogsum": dict(role="summarization", budget_target_tokens=5_000_000, milestones="625k,1.25M,2.5M,5M",
                              eval_every=500, test_samples=0, data_sizes=(1000, 3000)),
        },
        word2vec_sizes=(3000, None),
        components=dict(seeds=(0, 1, 2), tasks={
            task: dict(budget_target_tokens=budget, milestones=milestones, eval_every=500,
                       variants=("rnn-encoder", "rnn-decoder", "one-head", "no-ffn", "no-residual"))
            for task, budget, milestones in (("multi30k", 10_000_000, "1.25M,2.5M,5M,10M"),
                                             ("dialogsum", 5_000_000, "625k,1.25M,2.5M,5M"))
        }),
        speed=dict(sizes=("small", "base"), lengths=(16, 32, 64, 128, 256)),
    ),
}
# The presets' names before they were named for their purpose.
FORMER_NAMES = {"tiny": "test", "demo": "cpu", "full": "gpu"}


def study_preset(name: str) -> dict:
    """The settings of study preset `name`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
