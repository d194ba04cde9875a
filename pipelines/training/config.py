"""A training run's settings (`TrainConfig`) and the rules they must follow.

Read from flags (`--arch lstm`) or a YAML/JSON file (`lineage.configs.parse_config`);
unset values come from the training preset (`presets.py`). `validate` checks every
setting before any data is loaded, so a mistake fails at once in one line.
"""

import logging
from dataclasses import dataclass, field, fields

from ..data.tasks import DEFAULT_LANGUAGES, TASK_SETTINGS, TaskSpec, get_task
from ..data.tokenizer import SPECIAL_TOKENS
from ..errors import ConfigError
from ..models import model_config
from ..models.architectures import RECURRENT
from ..models.transformer_variants import VARIANTS as TRANSFORMER_VARIANTS
from .distributed import DDP_TIMEOUT
from .presets import preset
from .runs import current_names

logger = logging.getLogger(__name__)

EMBEDDINGS = ("random", "word2vec", "word2vec-frozen")
SCHEDULES = ("inverse_sqrt", "linear", "constant", "plateau")
MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
# The numeric settings `validate` checks, by rule (None: unset, where a preset or another budget fills in).
NUMBER_RULES = (
    ("positive", lambda value: value > 0, (
        "train_samples", "batch_tokens", "gradient_accumulation_steps", "learning_rate", "max_steps",
        "max_epochs", "budget_minutes", "budget_target_tokens", "eval_every", "eval_samples", "save_every",
        "keep_checkpoints", "log_every", "ddp_timeout", "plateau_every", "max_source_length", "max_target_length")),
    ("at least 0", lambda value: value >= 0, ("warmup_steps", "weight_decay", "max_grad_norm", "patience", "plateau_patience")),
    ("in [0, 1)", lambda value: 0 <= value < 1, ("dropout", "label_smoothing")),
)


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset (None) values come from the preset.

    Read from flags (`--arch lstm`) or a YAML/JSON file (configs.parse_config).
    """

    output_dir: str = field(metadata={"help": "run folder (checkpoints, best model, logs)"})
    task: str = field(default="multi30k", metadata={"help": "named task (multi30k, dialogsum, samsum), Hub dataset id or local folder"})
    source_language: str = field(default=DEFAULT_LANGUAGES[0], metadata={
        "help": "translation: the source language's code (in the Hub's layout, its field of the `translation` column)"})
    target_language: str = field(default=DEFAULT_LANGUAGES[1], metadata={"help": "translation: the target language's code"})
    kind: str | None = field(default=None, metadata={"help": "translation | summarization (a Hub id or folder)"})
    source_column: str | None = field(default=None, metadata={
        "help": "source text column; a dotted name reads a nested field (translation.de)"})
    target_column: str | None = field(default=None, metadata={
        "help": "target text column; a dotted name reads a nested field (translation.en)"})
    dataset_config: str | None = field(default=None, metadata={
        "help": "the dataset's configuration, where it has several (wmt14: de-en; cnn_dailymail: 3.0.0)"})
    max_source_length: int | None = field(default=None, metadata={
        "help": "tokens kept of a source (default: the task's; 128 for translation, 512 for summarization)"})
    max_target_length: int | None = field(default=None, metadata={
        "help": "tokens kept of a target, and the longest output decoded (default: the task's)"})
    train_samples: int | None = field(default=None, metadata={"help": "train on a random subset of this size"})
    arch: str = field(default="lstm", metadata={"help": "rnn | lstm | mingru | minlstm | transformer"})
    preset: str = field(default="cpu", metadata={"help": "test | cpu | gpu (pipelines/training/presets.py)"})
    size: str | None = field(default=None, metadata={"help": "model size: tiny | small | base (models/sizes.py)"})
    attention: str | None = field(default=None, metadata={"help": "recurrent attention: none | bahdanau | luong-dot | luong-general"})
    cell: str | None = field(default=None, metadata={"help": "the RNN's cell: rnn (tanh) | gru"})
    input_feeding: bool | None = field(default=None, metadata={
        "help": "recurrent models: feed the previous attentional vector into the decoder (Luong et al. 2015)"})
    copy_attention: bool = field(default=False, metadata={"help": "recurrent models: pointer-generator copying from the source"})
    coverage: bool = field(default=False, metadata={"help": "recurrent models: coverage attention and loss (See et al. 2017)"})
    scaled_attention: bool | None = field(default=None, metadata={
        "help": "recurrent models: divide the Luong attention scores by sqrt(hidden_size)"})
    source_embedding_residual: bool | None = field(default=None, metadata={
        "help": "recurrent models: add each source embedding to the encoder output at its position (ConvS2S)"})
    transformer_variant: str | None = field(default=None, metadata={
        "help": "Transformer only: the stock model with one change, one-head | no-ffn | no-residual | rnn-encoder | "
                "rnn-decoder (models/transformer_variants.py)"})
    dropout: float | None = field(default=None, metadata={"help": "dropout probability"})
    tokenizer: str | None = field(default=None, metadata={"help": "existing tokenizer folder (default: train one)"})
    vocab_size: int = field(default=8000, metadata={"help": "vocabulary size of a newly trained tokenizer"})
    embeddings: str = field(default="random", metadata={"help": "random | word2vec | word2vec-frozen"})
    word2vec: str | None = field(default=None, metadata={"help": "existing word2vec vectors (default: train them)"})
    seed: int = field(default=0, metadata={"help": "random seed (weights, data order, dropout)"})
    batch_tokens: int | None = field(default=None, metadata={"help": "tokens per batch and process, padding included"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "batches per optimizer step"})
    learning_rate: float | None = field(default=None, metadata={"help": "peak learning rate"})
    schedule: str | None = field(default=None, metadata={"help": "inverse_sqrt | linear | constant | plateau"})
    warmup_steps: int | None = field(default=None, metadata={"help": "linear warmup steps"})
    plateau_every: int | None = field(
        default=None, metadata={"help": "plateau schedule: steps between its checks of the validation loss"}
    )
    plateau_patience: int = field(
        default=2, metadata={"help": "plateau schedule: checks without a lower validation loss before the rate halves"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0: off)"})
    label_smoothing: float = field(default=0.1, metadata={"help": "label smoothing of the loss"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps"})
    max_epochs: int | None = field(default=None, metadata={"help": "stop after this many epochs"})
    budget_minutes: float | None = field(default=None, metadata={"help": "stop after this much training time"})
    budget_target_tokens: int | None = field(default=None, metadata={"help": "stop after this many target tokens"})
    milestones: str | None = field(default=None, metadata={
        "help": "target-token counts at which the model is kept for testing, comma-separated (250k,500k,1M)"})
    eval_every: int | None = field(default=None, metadata={"help": "evaluate every N steps"})
    eval_samples: int = field(default=200, metadata={"help": "validation sentences decoded for the metric"})
    patience: int = field(default=0, metadata={"help": "stop after N evaluations without improvement (0: never)"})
    save_every: int | None = field(default=None, metadata={"help": "checkpoint every N steps"})
    keep_checkpoints: int = field(default=2, metadata={"help": "checkpoints kept (oldest deleted)"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint"})
    resume_from: str | None = field(default=None, metadata={"help": "continue from this checkpoint folder"})
    overwrite: bool = field(default=False, metadata={"help": "delete the run --output_dir holds and start over"})
    mixed_precision: str = field(default="auto", metadata={"help": "auto (bf16 on capable GPUs) | no | bf16 | fp16"})
    log_every: int = field(default=50, metadata={"help": "log the training loss every N steps"})
    ddp_timeout: int = field(default=DDP_TIMEOUT, metadata={"help": "seconds a process waits for the others before failing"})

    def resolved(self) -> "TrainConfig":
        """A copy with every unset value filled from the preset (a former preset or size name is translated)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        current = current_names(values)
        for name in ("preset", "size"):
            if current[name] != values[name]:
                logger.warning("%s %r is now called %r", name, values[name], current[name])
        values = current
        defaults = preset(values["preset"], self.arch, self.task_spec().kind)
        for name, value in defaults.items():
            if values[name] is None and reads(values["attention"], name):
                values[name] = value
        values["milestones"] = values["milestones"] or None  # "" (none) where a compare preset would set some
        config = TrainConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Check every setting, so a mistake fails at once, before any data is loaded (raises ConfigError)."""
        for rule, valid, names in NUMBER_RULES:
            for name in names:
                value = getattr(self, name)
                if value is not None and not valid(value):
                    raise ConfigError(f"--{name} must be {rule}, got {value}")
        if self.vocab_size <= len(SPECIAL_TOKENS):
            raise ConfigError(f"--vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {self.vocab_size}")
        for name, choices in (("embeddings", EMBEDDINGS), ("schedule", SCHEDULES), ("mixed_precision", MIXED_PRECISION)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r}: choose one of {', '.join(choices)}")
        if self.schedule == "linear" and not self.max_steps:
            raise ConfigError("the linear schedule decays to zero at --max_steps: set it")
        if self.schedule == "plateau" and not self.plateau_every:
            raise ConfigError("the plateau schedule checks the validation loss every --plateau_every steps: set it")
        if self.arch not in RECURRENT and (self.copy_attention or self.coverage):
            raise ConfigError("copy attention and coverage are options of the recurrent models; the Transformer is a stock config")
        if self.transformer_variant is not None:
            if self.arch != "transformer":
                raise ConfigError(f"--transformer_variant changes the Transformer; --arch is {self.arch}")
            if self.transformer_variant not in TRANSFORMER_VARIANTS:
                raise ConfigError(f"unknown transformer_variant {self.transformer_variant!r}: choose one of "
                                  f"{', '.join(TRANSFORMER_VARIANTS)}")
        if self.milestones is not None:
            if self.schedule == "linear":
                raise ConfigError("--milestones: the linear schedule decays to zero at --max_steps, so a model kept "
                                  "on the way is not what a run with that budget would train; use another schedule")
            milestone_tokens(self.milestones)
        if not any((self.max_steps, self.max_epochs, self.budget_minutes, self.budget_target_tokens)):
            raise ConfigError("set a budget: --max_steps, --max_epochs, --budget_minutes or --budget_target_tokens")
        self.task_spec()
        try:  # our tokenizers' fixed special ids (pipelines/data/tokenizer.py)
            model_config(self.arch, self.size, vocab_size=self.vocab_size, pad_token_id=0, bos_token_id=1,
                         eos_token_id=2, decoder_start_token_id=1, **self.model_overrides())
        except ValueError as error:
            raise ConfigError(str(error)) from None

    def task_spec(self) -> TaskSpec:
        return get_task(self.task, **{name: getattr(self, name) for name in TASK_SETTINGS})

    def model_overrides(self) -> dict:
        """Config fields this run sets on top of the model size."""
        overrides = {}
        if self.arch not in RECURRENT:
            overrides["dropout"] = self.dropout
            overrides.update(TRANSFORMER_VARIANTS.get(self.transformer_variant, {}))
        else:
            overrides.update(embedding_dropout=self.dropout, hidden_dropout=self.dropout)
            if self.attention is not None:
                overrides["attention"] = self.attention
            if self.cell is not None:
                overrides["cell"] = self.cell
            overrides.update(copy_attention=self.copy_attention, coverage=self.coverage)
            for name in ("scaled_attention", "source_embedding_residual", "input_feeding"):
                if getattr(self, name) is not None:
                    overrides[name] = getattr(self, name)
        return overrides


# Preset settings that only some attentions read, with those attentions: a preset gives them to a model whose
# attention (None: its size's default, Luong's) reads them; one the user names otherwise goes without them.
READ_BY = {
    "scaled_attention": ("luong-dot", "luong-general"),  # it scales Luong's scores
    "source_embedding_residual": ("bahdanau", "luong-dot", "luong-general"),  # only attention reads the encoder outputs
}


def reads(attention: str | None, setting: str) -> bool:
    """Whether a recurrent model with `attention` reads preset `setting`."""
    return setting not in READ_BY or attention is None or attention in READ_BY[setting]


def milestone_tokens(text: str | None) -> list[int]:
    """The target-token counts of --milestones ("250k,500k,1M"), ascending; raises ConfigError for a bad one."""
    counts = []
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        number, scale = (item[:-1], {"k": 10**3, "m": 10**6}[item[-1].lower()]) if item[-1] in "kKmM" else (item, 1)
        try:
            count = round(float(number) * scale)
        except ValueError:
            count = 0
        if count <= 0:
            raise ConfigError(f"--milestones: {item!r} is not a positive token count (e.g. 250000, 250k or 1M)")
        counts.append(count)
    return sorted(set(counts))
