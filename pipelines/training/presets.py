"""Training presets: the settings each architecture trains with, named for their purpose.

A preset fills every training setting the user leaves unset:

    test   seconds: tests and smoke runs (tiny models)
    cpu    the CPU comparison (`make demo`): small models, minutes on two cores
    gpu    paper-scale runs on GPUs (base-size models)

The measurements behind the values are in docs/presets.md.
"""

from ..errors import ConfigError

# Recurrent models: Adam at 1e-3, no warmup, the rate halved when the validation loss stalls (as
# JoeyNMT's RNN recipes): stable from the first step, they gain most from a high early rate; at CPU
# budgets they gain more from the updates of small batches than from less noisy gradients.
RECURRENT_CPU = dict(
    size="small", batch_tokens=2048, learning_rate=1e-3, schedule="plateau", plateau_every=200, warmup_steps=0,
    dropout=0.2, eval_every=200, save_every=200,
)
# The plain RNN's states are wide and unbounded by gates, so its unscaled attention starts sharply peaked on
# arbitrary positions and it learns to ignore its source: scaled scores and the source embeddings beside its
# states let it read the source (chosen on Multi30k's and DialogSum's validation splits: docs/presets.md).
RNN_READS_SOURCE = dict(scaled_attention=True, source_embedding_residual=True)
# Inverse square root with a linear warmup (Vaswani et al. 2017); at CPU budgets the Transformer is bound by
# its number of updates, hence small batches and a short warmup.
TRANSFORMER_CPU = dict(
    size="small", batch_tokens=1024, learning_rate=1e-3, schedule="inverse_sqrt", warmup_steps=100, dropout=0.1,
    eval_every=200, save_every=200,
)
TEST = dict(size="tiny", batch_tokens=512, learning_rate=3e-3, schedule="constant", warmup_steps=0, dropout=0.0,
            eval_every=20, save_every=20)
RECURRENT_GPU = dict(RECURRENT_CPU, size="base", batch_tokens=16384, dropout=0.3, plateau_every=1000,
                     eval_every=1000, save_every=1000)

PRESETS = {
    "test": {"rnn": TEST, "lstm": TEST, "mingru": TEST, "minlstm": TEST, "transformer": TEST},
    # minGRU and minLSTM start from the LSTM's recipe (gated, like it).
    "cpu": {"rnn": RECURRENT_CPU | RNN_READS_SOURCE, "lstm": RECURRENT_CPU, "mingru": RECURRENT_CPU,
            "minlstm": RECURRENT_CPU, "transformer": TRANSFORMER_CPU},
    "gpu": {
        "rnn": RECURRENT_GPU | RNN_READS_SOURCE,
        "lstm": RECURRENT_GPU,
        "mingru": RECURRENT_GPU,
        "minlstm": RECURRENT_GPU,
        "transformer": dict(TRANSFORMER_CPU, size="base", batch_tokens=16384, learning_rate=7e-4, warmup_steps=4000,
                            eval_every=1000, save_every=1000),
    },
}

# Summarization: sources are 5-10x longer than their summaries and the batch budget counts the longer side.
SUMMARIZATION = {
    "test": {},
    "cpu": {
        # ~20 dialogues (~600 summary tokens) a batch: many small updates.
        **{arch: dict(batch_tokens=6000, plateau_every=200) for arch in ("rnn", "lstm", "mingru", "minlstm")},
        # It learns to use its encoder later than the recurrent models: twice the updates per summary token.
        # Chosen on DialogSum's validation split (docs/cpu-summarization/transformer.md): pre-norm, since the
        # post-norm encoder gave every dialogue position one vector; at this rate its loss given the dialogue
        # parts from its loss given another dialogue by 0.05 at 300k summary tokens and 0.17 at 508k, and its
        # validation ROUGE-L rises from 21.0 at 508k to 25.0 at 1.0M. So it needs the 1.2M-token floor of a
        # budget from the data (comparison/presets.py) and a best model chosen against collapse
        # (training/selection.py): before ~1M it writes one summary for most dialogues.
        "transformer": dict(batch_tokens=3000, learning_rate=2e-3, warmup_steps=400),
    },
    "gpu": {arch: dict(batch_tokens=32768) for arch in ("rnn", "lstm", "mingru", "minlstm", "transformer")},
}

# The presets' names before they were named for their purpose, as run folders and results recorded them.
FORMER_NAMES = {"tiny": "test", "demo": "cpu", "full": "gpu"}


def preset(name: str, arch: str, kind: str = "translation") -> dict:
    """The settings of preset `name` for architecture `arch` on a task of `kind`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    if arch not in PRESETS[name]:
        raise ConfigError(f"unknown architecture {arch!r}: choose one of {', '.join(PRESETS[name])}")
    return {**PRESETS[name][arch], **SUMMARIZATION[name].get(arch, {})} if kind == "summarization" else PRESETS[name][arch]
