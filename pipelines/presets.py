"""Training presets: one per architecture and scale.

A preset fills every training setting the user leaves unset. `tiny` is for
tests (seconds), `demo` for the CPU comparison (`make demo`: minutes on two
cores), `full` for paper-scale runs on GPUs.

Why these values:
- Recurrent models use Adam at 1e-3 with no warmup and halve the rate when
  the validation metric stalls ("plateau", as in JoeyNMT's RNN recipes):
  they are stable from the first step and gain most from a high early rate.
- The Transformer uses the inverse-square-root schedule with linear warmup
  (Vaswani et al. 2017): without warmup, post-norm Transformers diverge.
  Small models tolerate a higher peak rate and a shorter warmup than the
  paper's d512 model; a CPU run of a few minutes has only ~100-300 steps, so
  the demo warmup is 100 steps (400 left the demo Transformer at 1/4 of its
  rate when its 75-second budget ran out).
- Batches are counted in tokens (with padding), so a batch holds the same
  amount of work whatever the sentence lengths; on a CPU a few thousand
  tokens already saturate the two cores' matrix kernels.

Measured with these `demo` settings at a 20-minute budget per model on 2 CPU
cores (README "Performance", docs/cpu-20min): test2016 BLEU 37.8 (LSTM), 36.7
(Transformer), 25.7 (RNN). The Transformer's warmup of 100 steps is 5% of the
~1,800 steps it gets in 20 minutes; its validation loss was still falling
(1.85 -> 1.80 over the last 300 steps), so a longer budget would still pay.
"""

RECURRENT_DEMO = dict(
    size="demo", batch_tokens=4096, learning_rate=1e-3, schedule="plateau", warmup_steps=0, dropout=0.2,
    eval_every=200, save_every=200,
)
TRANSFORMER_DEMO = dict(
    size="demo", batch_tokens=4096, learning_rate=1e-3, schedule="inverse_sqrt", warmup_steps=100, dropout=0.1,
    eval_every=200, save_every=200,
)

PRESETS = {
    "tiny": {
        arch: dict(
            size="tiny", batch_tokens=512, learning_rate=3e-3, schedule="constant", warmup_steps=0, dropout=0.0,
            eval_every=20, save_every=20,
        )
        for arch in ("rnn", "lstm", "transformer")
    },
    "demo": {"rnn": RECURRENT_DEMO, "lstm": RECURRENT_DEMO, "transformer": TRANSFORMER_DEMO},
    "full": {
        "rnn": dict(RECURRENT_DEMO, size="full", batch_tokens=16384, dropout=0.3, eval_every=1000, save_every=1000),
        "lstm": dict(RECURRENT_DEMO, size="full", batch_tokens=16384, dropout=0.3, eval_every=1000, save_every=1000),
        "transformer": dict(
            TRANSFORMER_DEMO, size="full", batch_tokens=16384, learning_rate=7e-4, warmup_steps=4000,
            eval_every=1000, save_every=1000,
        ),
    },
}


def preset(name: str, arch: str) -> dict:
    """The settings of preset `name` for architecture `arch`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    if arch not in PRESETS[name]:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(PRESETS[name])}")
    return PRESETS[name][arch]


# `lineage compare` presets. The budget is per model; every row gets the same.
COMPARE_PRESETS = {
    # Seconds: the tests' end-to-end check of every artefact.
    "tiny": dict(tasks="multi30k", budget_target_tokens=6000, train_samples=300, test_samples=12, vocab_size=400,
                 eval_samples=8),
    # make demo: both tasks, three architectures, under 15 minutes on 2 CPU cores. Each model
    # trains 75 s; test scoring uses the first 200 test examples (beam search dominates the rest).
    # A 4k vocabulary: on a CPU the output layer and its softmax dominate the cost per token.
    # Evaluating every 30 steps gives each validation curve a few points.
    "demo": dict(tasks="multi30k,dialogsum", budget_minutes=1.25, test_samples=200, vocab_size=4000, eval_samples=50,
                 eval_every=30),
    # GPUs: the same target-token budget for every architecture (about 35 Multi30k epochs), full test sets.
    "full": dict(tasks="multi30k,dialogsum", budget_target_tokens=15_000_000, vocab_size=8000, eval_samples=500),
}


def compare_preset(name: str) -> dict:
    """The settings of compare preset `name`."""
    if name not in COMPARE_PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(COMPARE_PRESETS)}")
    return COMPARE_PRESETS[name]
