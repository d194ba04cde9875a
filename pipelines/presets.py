"""Training presets: one per architecture and scale.

A preset fills every training setting the user leaves unset. `tiny` is for
tests (seconds), `demo` for the CPU comparison (`make demo`: minutes on two
cores), `full` for paper-scale runs on GPUs.

Why these values:
- Recurrent models use Adam at 1e-3 with no warmup and halve the rate when
  the validation metric stalls ("plateau", as in JoeyNMT's RNN recipes):
  they are stable from the first step and gain most from a high early rate.
- The Transformer uses the inverse-square-root schedule with linear warmup
  (Vaswani et al. 2017): warmup keeps the early updates of Adam small while its moment estimates settle.
  Small models tolerate a higher peak rate and a shorter warmup than the
  paper's d512 model; a CPU run of a few minutes has only ~100-300 steps, so
  the demo warmup is 100 steps (400 left the demo Transformer at 1/4 of its
  rate when its 75-second budget ran out).
- Batches are counted in tokens (with padding), so a batch holds the same
  amount of work whatever the sentence lengths; on a CPU a few thousand
  tokens already saturate the two cores' matrix kernels. Smaller batches buy
  more updates at the price of noisier gradients, and the architectures
  differ in which matters more: the Transformer, slowest to start, is bound
  by its number of updates at CPU budgets (1,024 tokens); the LSTM gains
  from updates too (2,048); the plain RNN's ungated gradients need the
  larger batch (4,096). The measurements behind these choices are in
  docs/cpu-20min and docs/demo-cpu.
"""

from .errors import ConfigError

RECURRENT_DEMO = dict(
    size="demo", batch_tokens=4096, learning_rate=1e-3, schedule="plateau", plateau_every=200, warmup_steps=0,
    dropout=0.2, eval_every=200, save_every=200,
)
LSTM_DEMO = dict(RECURRENT_DEMO, batch_tokens=2048)
TRANSFORMER_DEMO = dict(
    size="demo", batch_tokens=1024, learning_rate=1e-3, schedule="inverse_sqrt", warmup_steps=100, dropout=0.1,
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
    "demo": {"rnn": RECURRENT_DEMO, "lstm": LSTM_DEMO, "transformer": TRANSFORMER_DEMO},
    "full": {
        "rnn": dict(RECURRENT_DEMO, size="full", batch_tokens=16384, dropout=0.3, plateau_every=1000, eval_every=1000,
                    save_every=1000),
        "lstm": dict(RECURRENT_DEMO, size="full", batch_tokens=16384, dropout=0.3, plateau_every=1000, eval_every=1000,
                     save_every=1000),
        "transformer": dict(
            TRANSFORMER_DEMO, size="full", batch_tokens=16384, learning_rate=7e-4, warmup_steps=4000,
            eval_every=1000, save_every=1000,
        ),
    },
}


# Summarization changes what a batch holds: sources are 5-10x longer than their summaries
# (DialogSum: median 116 words against 21) and the batch budget counts the longer side, so a
# translation-sized batch would hold only a few hundred summary tokens. Batches of 6,000
# tokens hold ~20 dialogues (~600 summary tokens): many small updates, which the recurrent
# models need early on. The plain RNN keeps the LSTM's batch here (its larger translation
# batch fed 4,096 target tokens per step; 6,000 source-bound tokens are far fewer). Over
# dialogue-length sources its unscaled attention starts sharply peaked on random positions
# (its states are wider and larger than the LSTM's) and it learned to ignore its source; it
# needs scaled scores, and the source embeddings added to its encoder outputs, to read the
# dialogue (docs/cpu-summarization/rnn.md).
# The Transformer learns to use its encoder later than the recurrent models, which start from
# the encoder's final state: it gets half the batch and twice the peak rate (the pre-norm
# Transformer tolerates it), so twice the updates per summary token; its warmup of 400 such
# steps covers as many tokens as 200 translation-sized ones.
SUMMARIZATION = {
    "tiny": {},
    "demo": {
        "rnn": dict(batch_tokens=6000, plateau_every=200, scaled_attention=True, source_embedding_residual=True),
        "lstm": dict(batch_tokens=6000, plateau_every=200),
        "transformer": dict(batch_tokens=3000, learning_rate=2e-3, warmup_steps=400),
    },
    "full": {"rnn": dict(batch_tokens=32768, scaled_attention=True, source_embedding_residual=True),
             **{arch: dict(batch_tokens=32768) for arch in ("lstm", "transformer")}},
}


def preset(name: str, arch: str, kind: str = "translation") -> dict:
    """The settings of preset `name` for architecture `arch` on a task of `kind`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    if arch not in PRESETS[name]:
        raise ConfigError(f"unknown architecture {arch!r}: choose one of {', '.join(PRESETS[name])}")
    if kind == "summarization":
        return {**PRESETS[name][arch], **SUMMARIZATION[name].get(arch, {})}
    return PRESETS[name][arch]


# `lineage compare` presets. The budget is per model; every row gets the same.
COMPARE_PRESETS = {
    # Seconds: the tests' end-to-end check of every artefact.
    "tiny": dict(tasks="multi30k", budget_target_tokens=6000, milestones="2k,4k,6k", train_samples=300,
                 test_samples=12, vocab_size=400, eval_samples=8),
    # make demo: both tasks in at most 11 minutes on one thread of the 2-core VM of docs/demo-cpu,
    # budgets in target tokens so that a seed trains the same models on any machine. Multi30k: the
    # three architectures on the same budget, enough for each to translate (the RNN, slowest to
    # learn, sets it). DialogSum: a summarizer needs ~10x the tokens before it
    # writes anything but one stock sentence; in a demo's budget only the pointer-generator gets
    # there (copying names and facts from the dialogue), so it is the demo's only summarization row,
    # shown beside the extractive baselines; docs/cpu-summarization compares every architecture.
    # Test scoring uses the first 200 test examples (beam search dominates the rest). A 4k
    # vocabulary: on a CPU the output layer and its softmax dominate the cost per token.
    # Every model is still improving fast when its budget ends, so few evaluations of a larger
    # validation sample pick the best checkpoint (a 50-sentence greedy BLEU is noisy enough to
    # prefer a checkpoint far behind the last one).
    "demo": dict(tasks="multi30k,dialogsum", budget_target_tokens=550_000, test_samples=200, vocab_size=4000,
                 eval_samples=200, eval_every=200,
                 per_task={"dialogsum": dict(rows="lstm-pointer-generator", budget_target_tokens=70_000,
                                             eval_samples=50)}),
    # GPUs: the same target-token budget for every architecture (about 35 Multi30k epochs), full test sets.
    "full": dict(tasks="multi30k,dialogsum", budget_target_tokens=15_000_000, vocab_size=8000, eval_samples=500),
}


def compare_preset(name: str) -> dict:
    """The settings of compare preset `name`."""
    if name not in COMPARE_PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(COMPARE_PRESETS)}")
    return COMPARE_PRESETS[name]


# `lineage study` presets (pipelines/study/). Each cell of the study is one compare row
# trained with the `training` preset's settings plus `batch_tokens` and `patience`, and tested at
# the task's `milestones` too (a doubling series ending at its budget: every section then says who
# leads at each budget, not only at the full one); `speed` holds the speed benchmark's settings
# (benchmarks.speed.SpeedConfig fields).
STUDY_PRESETS = {
    # Seconds per cell: the tests' check that every section, plot and verdict is produced.
    "tiny": dict(
        training="tiny", vocab_size=400, batch_tokens=512, patience=0, eval_samples=8, seeds=(0, 1), sweep_seeds=(0,),
        tasks={
            "multi30k": dict(role="translation", budget_target_tokens=3000, milestones="1.5k,3k", eval_every=10,
                             test_samples=40, data_sizes=(100,)),
            "dialogsum": dict(role="summarization", budget_target_tokens=600, milestones="300,600", eval_every=10,
                              test_samples=6, data_sizes=()),
        },
        word2vec_sizes=(100, None),
        speed=dict(sizes=("tiny",), lengths=(8, 16), models=("rnn-luong-general", "lstm-luong-general", "transformer"),
                   parts=("training", "decoding"), steps=1, min_steps=1, warmup_steps=0, beams=2, decode_batch=4,
                   decode_repeats=1, time_budget=0),
    ),
    # `lineage study --preset demo`: the whole study on 2 CPU cores in about 70 minutes, at reduced sizes:
    # demo-size models (3-5M parameters), a 4k vocabulary, and a budget per cell of 400k Multi30k target
    # tokens (about 14 epochs' worth of 1,000 pairs, 0.8 of the full training set) or 60k DialogSum
    # summary tokens (0.25 epochs); tests on the first 500 test2016 sentences (beam search on all 1,000
    # would double the test time) and 200 DialogSum dialogues. Batches of 2,048 tokens for every model,
    # the RNN included (its training preset has 4,096): at such budgets the number of updates limits
    # quality more than the gradient noise, the Transformer's most of all. No early stopping: a
    # temporary dip of a small sample's validation BLEU can stop a cell that would still improve; the
    # best checkpoint is tested either way. Three seeds where a cell is the study's headline (quality,
    # and the spread every other section is judged against), one seed for the sweeps.
    "demo": dict(
        training="demo", vocab_size=4000, batch_tokens=2048, patience=0, eval_samples=100, seeds=(0, 1, 2),
        sweep_seeds=(0,),
        tasks={
            "multi30k": dict(role="translation", budget_target_tokens=400_000, milestones="100k,200k,400k",
                             eval_every=40, test_samples=500, data_sizes=(1000, 5000)),
            "dialogsum": dict(role="summarization", budget_target_tokens=60_000, milestones="15k,30k,60k",
                              eval_every=75, test_samples=200, data_sizes=(1000,)),
        },
        word2vec_sizes=(1000, None),
        speed=dict(lengths=(16, 32, 64, 128),
                   models=("rnn-luong-general", "rnn-none", "lstm-luong-general", "lstm-none", "transformer"),
                   parts=("training", "decoding"), beams=5, time_budget=150),
    ),
    # GPUs via `accelerate launch scripts/study.py --preset full`: paper-scale models and budgets
    # (about 20 Multi30k epochs per cell), the learning-curve sizes of the literature, three seeds throughout.
    "full": dict(
        training="full", vocab_size=8000, batch_tokens=16384, patience=5, eval_samples=500, seeds=(0, 1, 2),
        sweep_seeds=(0, 1, 2),
        tasks={
            "multi30k": dict(role="translation", budget_target_tokens=10_000_000, milestones="1.25M,2.5M,5M,10M",
                             eval_every=500, test_samples=0, data_sizes=(1000, 3000, 10000)),
            "dialogsum": dict(role="summarization", budget_target_tokens=5_000_000, milestones="625k,1.25M,2.5M,5M",
                              eval_every=500, test_samples=0, data_sizes=(1000, 3000)),
        },
        word2vec_sizes=(3000, None),
        speed=dict(sizes=("demo", "full"), lengths=(16, 32, 64, 128, 256)),
    ),
}


def study_preset(name: str) -> dict:
    """The settings of study preset `name`."""
    if name not in STUDY_PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(STUDY_PRESETS)}")
    return STUDY_PRESETS[name]
