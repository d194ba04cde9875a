"""The training loop: one loop for every architecture, run by Accelerate.

Accelerate handles the device, distribution (DDP over GPUs, nodes or CPU
processes), mixed precision, gradient accumulation, checkpoint state and
trackers. The loop itself is short: batches by token budget, token-level
cross-entropy with label smoothing, AdamW, clipping, a schedule, evaluation
every N steps (validation loss + the task metric on a sample), early
stopping, the best model kept as a Hub-ready folder, and atomic checkpoints
that `--resume` continues from exactly.

A run's folder:
    run.json              the settings that define the run, and those changed on resume (see runs.py)
    tokenizer/            the task tokenizer (unless one was given)
    checkpoints/step-N/   accelerate state: weights, optimizer, schedule, sampler, RNG, TrainState
    best/                 the best model so far, Hub-ready (see models.save_model_folder)
    milestones/N/         at N target tokens (--milestones): model/, best/ and milestone.json
    log.jsonl             one JSON object per log / evaluation event
    train_result.json     the summary written at the end
"""

import ctypes
import hashlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from pathlib import Path

import psutil
import torch
import torch.nn.functional as F
from accelerate import Accelerator, PartialState
from accelerate.utils import (
    InitProcessGroupKwargs, broadcast, broadcast_object_list, gather_object, parse_flag_from_env, set_seed,
)
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from models import build_model, init_embeddings, model_config, save_model_folder

from .data import Seq2SeqCollator, TokenBatchSampler, load_splits, tokenize_split
from .errors import ConfigError, LineageError
from .evaluation import generate_texts, score
from .files import append_line, read_json_lines, replace_folder, staging_path, write_json, write_lines
from .presets import preset
from .runs import open_run_folder
from .tasks import TaskSpec, get_task
from .tokenizer import SPECIAL_TOKENS, load_tokenizer, save_tokenizer, train_tokenizer

logger = logging.getLogger(__name__)

EMBEDDINGS = ("random", "word2vec", "word2vec-frozen")
MILESTONES = "milestones"  # the run folder's subfolder of models kept at --milestones
SCHEDULES = ("inverse_sqrt", "linear", "constant", "plateau")
MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
# The numeric settings `validate` checks, by rule (None: unset, where a preset or another budget fills in).
NUMBER_RULES = (
    ("positive", lambda value: value > 0, (
        "train_samples", "batch_tokens", "gradient_accumulation_steps", "learning_rate", "max_steps",
        "max_epochs", "budget_minutes", "budget_target_tokens", "eval_every", "eval_samples", "save_every",
        "keep_checkpoints", "log_every", "ddp_timeout", "plateau_every")),
    ("at least 0", lambda value: value >= 0, ("warmup_steps", "weight_decay", "max_grad_norm", "patience", "plateau_patience")),
    ("in [0, 1)", lambda value: 0 <= value < 1, ("dropout", "label_smoothing")),
)


class CheckpointError(LineageError, RuntimeError):
    """A checkpoint cannot be used; earlier checkpoints are left untouched."""


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset (None) values come from the preset.

    Read from flags (`--arch lstm`) or a YAML/JSON file (configs.parse_config).
    """

    output_dir: str = field(metadata={"help": "run folder (checkpoints, best model, logs)"})
    task: str = field(default="multi30k", metadata={"help": "benchmark name, Hub dataset id or local folder"})
    source_language: str = field(default="de", metadata={"help": "Multi30k source language"})
    target_language: str = field(default="en", metadata={"help": "Multi30k target language"})
    kind: str | None = field(default=None, metadata={"help": "translation | summarization (custom datasets)"})
    source_column: str | None = field(default=None, metadata={"help": "source text column (custom datasets)"})
    target_column: str | None = field(default=None, metadata={"help": "target text column (custom datasets)"})
    train_samples: int | None = field(default=None, metadata={"help": "train on a random subset of this size"})
    arch: str = field(default="lstm", metadata={"help": "rnn | lstm | transformer"})
    preset: str = field(default="demo", metadata={"help": "tiny | demo | full (see pipelines/presets.py)"})
    size: str | None = field(default=None, metadata={"help": "model size name (models/sizes.py)"})
    attention: str | None = field(default=None, metadata={"help": "recurrent attention: none | bahdanau | luong-dot | luong-general"})
    cell: str | None = field(default=None, metadata={"help": "rnn cell: rnn (tanh) | gru"})
    copy_attention: bool = field(default=False, metadata={"help": "recurrent models: pointer-generator copying from the source"})
    coverage: bool = field(default=False, metadata={"help": "recurrent models: coverage attention and loss (See et al. 2017)"})
    scaled_attention: bool | None = field(default=None, metadata={
        "help": "recurrent models: divide the Luong attention scores by sqrt(hidden_size)"})
    source_embedding_residual: bool | None = field(default=None, metadata={
        "help": "recurrent models: add each source embedding to the encoder output at its position (ConvS2S)"})
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
    ddp_timeout: int = field(default=1800, metadata={"help": "seconds a process waits for the others before failing"})

    def resolved(self) -> "TrainConfig":
        """A copy with every unset value filled from the preset."""
        defaults = preset(self.preset, self.arch, self.task_spec().kind)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in defaults.items():
            if values[name] is None:
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
        if self.arch == "transformer" and (self.copy_attention or self.coverage):
            raise ConfigError("copy attention and coverage are options of the recurrent models; the Transformer is a stock config")
        if self.milestones is not None:
            if self.schedule == "linear":
                raise ConfigError("--milestones: the linear schedule decays to zero at --max_steps, so a model kept "
                                  "on the way is not what a run with that budget would train; use another schedule")
            milestone_tokens(self.milestones)
        if not any((self.max_steps, self.max_epochs, self.budget_minutes, self.budget_target_tokens)):
            raise ConfigError("set a budget: --max_steps, --max_epochs, --budget_minutes or --budget_target_tokens")
        self.task_spec()
        try:  # our tokenizers' fixed special ids (pipelines/tokenizer.py)
            model_config(self.arch, self.size, vocab_size=self.vocab_size, pad_token_id=0, bos_token_id=1,
                         eos_token_id=2, decoder_start_token_id=1, **self.model_overrides())
        except ValueError as error:
            raise ConfigError(str(error)) from None

    def task_spec(self) -> TaskSpec:
        return get_task(
            self.task, self.source_language, self.target_language, self.kind, self.source_column, self.target_column
        )

    def model_overrides(self) -> dict:
        """Config fields this run sets on top of the model size."""
        overrides = {}
        if self.arch == "transformer":
            overrides["dropout"] = self.dropout
        else:
            overrides.update(embedding_dropout=self.dropout, hidden_dropout=self.dropout)
            if self.attention is not None:
                overrides["attention"] = self.attention
            if self.cell is not None:
                overrides["cell"] = self.cell
            overrides.update(copy_attention=self.copy_attention, coverage=self.coverage)
            for name in ("scaled_attention", "source_embedding_residual"):
                if getattr(self, name) is not None:
                    overrides[name] = getattr(self, name)
        return overrides


@dataclass
class TrainState:
    """Progress that a checkpoint must carry besides weights, optimizer and sampler."""

    step: int = 0
    epoch: int = 0
    train_seconds: float = 0.0
    target_tokens: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evaluations_without_improvement: int = 0
    stop_reason: str | None = None

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)


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


# ---------------------------------------------------------------- setup


def configure_cpu() -> None:
    """Threads and float mode for CPU work; `train()` calls it before any torch operation.

    - One intra-op thread per physical core of this process's share of the
      machine: hyper-threads only add contention to matrix kernels.
      `accelerate launch` sets OMP_NUM_THREADS itself; respect it.
    - Denormal floats flushed to zero: a trained tanh RNN's backward pass
      through time is full of them (vanishing gradients), and CPUs compute on
      them slowly: its training steps took twice as long as a fresh model's
      (benchmarks/fast_paths.py, "denormals"). Worker threads inherit the mode
      when they start, so it is set before torch's thread pool exists.
    - Freed memory kept for reuse (`keep_freed_memory`).
    """
    torch.set_flush_denormal(True)
    keep_freed_memory()
    if "OMP_NUM_THREADS" in os.environ:
        return
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    torch.set_num_threads(max(1, physical // local_processes))


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for the next allocation instead of returning it to the system.

    A training step's largest tensors (a batch's logits over the vocabulary, and with copy attention
    its mixed distribution: 4096 tokens x 8000 pieces is 131 MB) are above glibc's largest mmap
    threshold (32 MB). By default each one is mapped fresh, its pages are faulted in, and it is
    unmapped when freed, at every step; the page faults cost more than the arithmetic on them
    (benchmarks/fast_paths.py, "freed_memory"). With mmap off and no trimming, the heap keeps them.
    The price is memory: the heap keeps what it once held until the process ends, and batches of
    other shapes fit its free blocks imperfectly, so the peak grows (the benchmark records both).
    Returns False, changing nothing, where the C library is not glibc.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_max = -1, -4  # malloc.h
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def make_accelerator(config: TrainConfig) -> Accelerator:
    precision = config.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    trackers = [name for name in ("tensorboard", "trackio") if importlib.util.find_spec(name)]
    return Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=trackers or None,
        project_dir=config.output_dir,
        # A rank that dies or stalls makes the others fail with a stack trace instead of waiting forever.
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=config.ddp_timeout))],
    )


def launch_state(ddp_timeout: int = TrainConfig.ddp_timeout) -> PartialState:
    """This process's place among the processes of `accelerate launch` (one process otherwise).

    For the entry points that run several trainings (compare, study): they need the
    ranks before the first `train()`. Unlike Accelerator, PartialState ignores
    ACCELERATE_USE_CPU; without it two CPU processes would each see themselves as the
    only, main, process.
    """
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"), timeout=timedelta(seconds=ddp_timeout))


def on_main_process(function, *args, **kwargs):
    """Run `function(*args, **kwargs)` on the main process only; every process returns its result.

    For work that writes shared files (tokenizers, test scores, reports). An error on the
    main process is raised there and, as a RuntimeError naming it, on every other process,
    so no process waits for a peer that has given up.
    """
    state = launch_state()
    if state.num_processes == 1:
        return function(*args, **kwargs)
    result, error = None, None
    if state.is_main_process:
        try:
            result = function(*args, **kwargs)
        except Exception as caught:  # handed to the other processes first, then raised
            error = caught
    result, message = broadcast_object_list([result, None if error is None else f"{type(error).__name__}: {error}"])
    if error is not None:
        raise error
    if message is not None:
        raise RuntimeError(f"the main process failed: {message}")
    return result


def obtain_tokenizer(config: TrainConfig, train_texts: list[str], out: Path, accelerator: Accelerator):
    """The given tokenizer, the run's own saved one, or a new one trained on `train_texts`."""
    folder = Path(config.tokenizer) if config.tokenizer else out / "tokenizer"
    with accelerator.main_process_first():
        if not (folder / "tokenizer.json").exists():
            if config.tokenizer:
                raise ConfigError(f"--tokenizer {folder} holds no tokenizer (tokenizer.json)")
            if accelerator.is_main_process:
                save_tokenizer(train_tokenizer(train_texts, config.vocab_size), folder)
        return load_tokenizer(folder)


def training_texts(task: TaskSpec, train) -> list[str]:
    """Text the tokenizer and word2vec learn from: both sides (joint vocabulary)."""
    return list(train[task.source_column]) + list(train[task.target_column])


def embedding_size(model) -> int:
    return model.get_input_embeddings().weight.shape[1]


def apply_word2vec(config: TrainConfig, model, tokenizer, texts: list[str], out: Path, accelerator: Accelerator) -> None:
    """Initialise (and for "word2vec-frozen", freeze) the embeddings from word2vec vectors."""
    from .embeddings import embedding_matrix, load_word2vec, save_word2vec, train_word2vec

    path = Path(config.word2vec) if config.word2vec else out / "word2vec.kv"
    with accelerator.main_process_first():
        if not path.exists():
            if accelerator.is_main_process:
                vectors = train_word2vec(tokenizer, texts, vector_size=embedding_size(model), seed=config.seed)
                save_word2vec(vectors, path)
        vectors = load_word2vec(path)
    # Rescaled to the random init's spread, so "random vs word2vec" compares content, not scale.
    init_std = float(model.get_input_embeddings().weight.detach().std())
    matrix = embedding_matrix(vectors, tokenizer, seed=config.seed, std=init_std)
    init_embeddings(model, matrix, freeze=config.embeddings == "word2vec-frozen")


def make_optimizer(config: TrainConfig, model) -> torch.optim.Optimizer:
    parameters = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(parameters, lr=config.learning_rate, betas=(0.9, 0.98), eps=1e-8, weight_decay=config.weight_decay)


def make_schedule(config: TrainConfig, optimizer):
    """A transformers schedule, stepped once per optimizer step.

    "plateau" is stepped every `plateau_every` steps instead, with the loss on
    the whole validation split: it halves the rate after `plateau_patience`
    checks without a lower loss (down to 1/64 of the peak). Its decisions
    depend neither on how often the run is evaluated nor on a small decoded
    sample's noisy BLEU/ROUGE, nor on the total budget.
    """
    if config.schedule == "plateau":
        return get_scheduler(
            "reduce_lr_on_plateau", optimizer,
            scheduler_specific_kwargs=dict(
                mode="min", factor=0.5, patience=config.plateau_patience, min_lr=config.learning_rate / 64
            ),
        )
    names = {"inverse_sqrt": "inverse_sqrt", "linear": "linear", "constant": "constant_with_warmup"}
    return get_scheduler(
        names[config.schedule], optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=config.max_steps
    )


# ---------------------------------------------------------------- checkpoints


def checkpoints(root: Path) -> list[Path]:
    """Completed checkpoints, oldest first (a checkpoint exists only once fully written)."""
    return sorted(root.glob("step-*")) if root.is_dir() else []


def save_checkpoint(accelerator: Accelerator, root: Path, step: int, keep: int) -> None:
    """`save_state` into a temporary folder, renamed into place when complete; then prune."""
    final = root / f"step-{step:08d}"
    staging = staging_path(final, per_process=False)
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        replace_folder(staging, final)
        for old in checkpoints(root)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, path: Path) -> None:
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        accelerator.load_state(str(path))
    except Exception as error:  # safetensors, pickle and torch all raise their own types
        others = [p.name for p in checkpoints(path.parent) if p != path]
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(error).__name__}: {error}). It was left as is; "
            f"resume from an earlier one with --resume_from (available: {', '.join(others) or 'none'})"
        ) from error


def resume_point(config: TrainConfig, root: Path) -> Path | None:
    if config.resume_from:
        return Path(config.resume_from)
    if config.resume:
        found = checkpoints(root)
        if found:
            return found[-1]
        logger.info("no checkpoint in %s: starting from scratch", root)
    return None


# ---------------------------------------------------------------- logging


class RunLog:
    """log.jsonl (always, main process) plus Accelerate's trackers."""

    def __init__(self, path: Path, accelerator: Accelerator):
        self.path, self.accelerator = path, accelerator

    def truncate_after(self, step: int) -> None:
        """Forget entries a resumed run will write again, and a line torn by a crash."""
        if self.accelerator.is_main_process and self.path.exists():
            kept = [record for record in read_json_lines(self.path) if record["step"] <= step]
            write_lines(self.path, [json.dumps(record) for record in kept])

    def write(self, event: str, step: int, **values) -> None:
        if not self.accelerator.is_main_process:
            return
        append_line(self.path, json.dumps({"event": event, "step": step, **values}))
        numbers = {f"{event}/{k}": v for k, v in values.items() if isinstance(v, (int, float))}
        self.accelerator.log(numbers, step=step)


# ---------------------------------------------------------------- loss and validation


def loss_and_tokens(
    model, batch: dict, label_smoothing: float, coverage: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean token-level cross-entropy of a batch (padding ignored) and its target token count.

    With `coverage`, a model's coverage penalty (pointer-generator with
    coverage) is added, averaged over the same tokens: it is part of the
    training objective, not of the validation loss that compares models.
    """
    output = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=batch["decoder_input_ids"]
    )
    labels = batch["labels"]
    loss = F.cross_entropy(
        output.logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100, label_smoothing=label_smoothing
    )
    penalty = getattr(output, "coverage_penalty", None)
    if coverage and penalty is not None:
        loss = loss + penalty[labels != -100].float().mean()
    return loss, (labels != -100).sum()


def validation_loss(model, batches: list[dict], accelerator: Accelerator) -> float:
    """Token-level cross-entropy over the validation split (no smoothing), summed across ranks."""
    totals = torch.zeros(2, device=accelerator.device)
    model.eval()
    with torch.no_grad():
        for batch in batches[accelerator.process_index :: accelerator.num_processes]:
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            loss, tokens = loss_and_tokens(model, batch, 0.0, coverage=False)
            totals += torch.stack([loss.float() * tokens, tokens.float()])
    model.train()
    totals = accelerator.reduce(totals, reduction="sum")
    return (totals[0] / totals[1]).item()


def validation_metric(model, tokenizer, task: TaskSpec, sources: list[str], references: list[list[str]], accelerator) -> dict:
    """Greedy-decode a validation sample (sharded across ranks) and score it with the task metrics."""
    shard = list(range(accelerator.process_index, len(sources), accelerator.num_processes))
    texts = generate_texts(
        accelerator.unwrap_model(model), tokenizer, [sources[i] for i in shard], task.max_source_length,
        num_beams=1, max_new_tokens=task.generation["max_new_tokens"],
    )
    pairs = sorted(gather_object(list(zip(shard, texts))) if accelerator.num_processes > 1 else zip(shard, texts))
    return score(task, [text for _, text in pairs], references)


# ---------------------------------------------------------------- the run


@dataclass
class Run:
    """A prepared training run: what its steps share (`prepare_run` makes it, `train` drives it)."""

    config: TrainConfig
    out: Path
    accelerator: Accelerator
    task: TaskSpec
    tokenizer: object
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object
    sampler: TokenBatchSampler
    loader: DataLoader
    validation_batches: list[dict]
    sample_sources: list[str]
    sample_references: list[list[str]]
    state: TrainState
    log: RunLog
    # This rank's training seconds not yet agreed with rank 0 (see `agree_on_time`).
    pending_seconds: float = 0.0
    # The summed loss and the global target tokens since the last log line (the loss stays on the device).
    loss_sum: torch.Tensor | None = None
    loss_tokens: int = 0
    settled_step: int = 0  # the step at which the ranks last agreed on train_seconds
    milestones: list[int] = field(default_factory=list)  # --milestones as target-token counts, parsed once
    evaluated_step: int | None = None
    validation_losses: dict = field(default_factory=dict)  # step -> loss: the schedule and an evaluation share it


def prepare_run(config: TrainConfig) -> Run:
    """Everything before the first step: the run folder, data, tokenizer, model, optimizer, batches, resume."""
    config = config.resolved()
    configure_cpu()
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    accelerator = make_accelerator(config)
    on_main_process(open_run_folder, config, out)
    set_seed(config.seed)
    task = config.task_spec()
    tokenizer, texts, train_data, validation_split, validation_data = load_run_data(config, task, out, accelerator)

    model = build_model(config.arch, tokenizer, config.size, **config.model_overrides())
    model.generation_config.update(**task.generation)
    if config.embeddings != "random":
        apply_word2vec(config, model, tokenizer, texts, out, accelerator)
    optimizer = make_optimizer(config, model)
    schedule = make_schedule(config, optimizer)
    collate = Seq2SeqCollator(tokenizer.pad_token_id, model.config.decoder_start_token_id)
    sampler, loader = training_batches(config, train_data, collate, accelerator)
    sample = validation_split.select(range(min(config.eval_samples, len(validation_split))))

    model, optimizer = accelerator.prepare(model, optimizer)
    state = TrainState()
    accelerator.register_for_checkpointing(schedule, sampler, state)
    run = Run(
        config=config, out=out, accelerator=accelerator, task=task, tokenizer=tokenizer, model=model,
        optimizer=optimizer, schedule=schedule, sampler=sampler, loader=loader,
        validation_batches=validation_batches_of(validation_data, collate, config.batch_tokens),
        sample_sources=list(sample[task.source_column]),
        sample_references=[[t] for t in sample[task.target_column]],
        state=state, log=RunLog(out / "log.jsonl", accelerator),
        loss_sum=torch.zeros((), device=accelerator.device), milestones=milestone_tokens(config.milestones),
    )
    resume(run)
    accelerator.init_trackers("lineage", config={k: v for k, v in asdict(config).items() if v is not None})
    return run


def load_run_data(config: TrainConfig, task: TaskSpec, out: Path, accelerator: Accelerator):
    """The tokenizer, the texts it learned from, the tokenized train split, and the validation split raw and tokenized."""
    # Rank 0 first: it writes the datasets cache files that the other ranks then read, instead
    # of every rank writing the same files at once.
    with accelerator.main_process_first():
        splits = load_splits(task, ("train", "validation"))
        train_split = splits["train"]
        if config.train_samples:
            train_split = train_split.shuffle(seed=0).select(range(min(config.train_samples, len(train_split))))
    texts = training_texts(task, train_split)
    tokenizer = obtain_tokenizer(config, texts, out, accelerator)
    with accelerator.main_process_first():
        train_data = tokenize_split(train_split, tokenizer, task)
        validation_data = tokenize_split(splits["validation"], tokenizer, task)
    return tokenizer, texts, train_data, splits["validation"], validation_data


def training_batches(config: TrainConfig, train_data, collate: Seq2SeqCollator, accelerator: Accelerator):
    """This rank's token-budget batch sampler and the DataLoader that collates its batches."""
    examples = [{"input_ids": s, "labels": t} for s, t in zip(train_data["input_ids"], train_data["labels"])]
    sampler = TokenBatchSampler(
        [len(e["input_ids"]) for e in examples], [len(e["labels"]) for e in examples], config.batch_tokens,
        seed=config.seed, num_replicas=accelerator.num_processes, rank=accelerator.process_index,
        batch_multiple=config.gradient_accumulation_steps,
    )
    # A private generator: each new DataLoader iterator draws a seed from it, and drawing
    # from the global RNG instead would shift dropout masks after a resume.
    # No workers: the sampler's round_target_tokens must describe the batch just returned.
    loader = DataLoader(examples, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator())
    return sampler, loader


def resume(run: Run) -> None:
    """Load the checkpoint that --resume / --resume_from name, if any; a larger budget continues a finished run."""
    checkpoint = resume_point(run.config, run.out / "checkpoints")
    if checkpoint is not None:
        load_checkpoint(run.accelerator, checkpoint)
        if run.state.stop_reason != "early stopping":
            run.state.stop_reason = budget_reached(run.config, run.state)
        run.settled_step = run.state.step
        logger.info("resumed from %s at step %d", checkpoint, run.state.step)
    run.log.truncate_after(run.state.step)  # a run killed before its first checkpoint starts again from step 0


# ---------------------------------------------------------------- the loop


def train(config: TrainConfig) -> dict:
    """Train one model; returns (and writes to train_result.json) the run summary."""
    run = prepare_run(config)
    progress = progress_bar(run)
    run.model.train()
    while run.state.stop_reason is None:
        clock, step_tokens = time.perf_counter(), 0
        for batch in run.loader:
            run.loss_sum += forward_backward(run, batch)
            step_tokens += run.sampler.round_target_tokens
            if not run.accelerator.sync_gradients:
                continue
            finish_step(run, time.perf_counter() - clock, step_tokens, progress)
            if run.state.stop_reason:
                break
            clock, step_tokens = time.perf_counter(), 0
        else:
            finish_epoch(run)
    progress.close()
    return summarise(run)


def progress_bar(run: Run) -> tqdm:
    """Against the budget where it is counted in target tokens (so the bar has a total and an ETA), else in
    steps; named by the run folder, which tells a compare row's variant apart from its architecture."""
    by_tokens = bool(run.config.budget_target_tokens)
    return tqdm(
        total=run.config.budget_target_tokens if by_tokens else run.config.max_steps,
        initial=run.state.target_tokens if by_tokens else run.state.step, unit="token" if by_tokens else "step",
        unit_scale=by_tokens, disable=not run.accelerator.is_main_process, desc=run.out.name, dynamic_ncols=True,
    )


def forward_backward(run: Run, batch: dict) -> torch.Tensor:
    """Loss and gradients of one batch, and the optimizer step where an accumulation window ends.

    Returns the batch's summed token loss, left on the device: reading it would wait for the step.
    """
    batch = {k: v.to(run.accelerator.device) for k, v in batch.items()}
    with run.accelerator.accumulate(run.model):
        loss, tokens = loss_and_tokens(run.model, batch, run.config.label_smoothing)
        run.accelerator.backward(loss)
        if run.accelerator.sync_gradients and run.config.max_grad_norm:
            run.accelerator.clip_grad_norm_(run.model.parameters(), run.config.max_grad_norm)
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
    return loss.detach() * tokens


def finish_step(run: Run, seconds: float, step_tokens: int, progress: tqdm) -> None:
    """After an optimizer step: count and log it, step the schedule, decide whether to stop, evaluate and
    checkpoint as due."""
    config, state = run.config, run.state
    if config.schedule != "plateau":
        run.schedule.step()
    state.step += 1
    state.target_tokens += step_tokens
    run.loss_tokens += step_tokens
    run.pending_seconds += seconds
    if time_agreement_due(run):
        agree_on_time(run)
    progress.update(step_tokens if config.budget_target_tokens else 1)
    if state.step % config.log_every == 0:
        progress.set_postfix(log_training(run))
    if config.schedule == "plateau" and state.step % config.plateau_every == 0:
        run.schedule.step(current_validation_loss(run))
    state.stop_reason = budget_reached(config, state)
    keep_milestones(run, state.target_tokens - step_tokens)
    evaluate_and_save(run)


def finish_epoch(run: Run) -> None:
    """At the end of an epoch: stop there if the epoch budget is spent."""
    run.state.epoch += 1
    run.state.stop_reason = budget_reached(run.config, run.state)
    if run.state.stop_reason:
        evaluate_and_save(run)


def evaluate_and_save(run: Run) -> None:
    """The evaluation and checkpoint that are due: every eval_every / save_every steps, and at the stop."""
    config, state = run.config, run.state
    if state.stop_reason:
        agree_on_time(run)  # the summary and the last checkpoint carry the time every rank agrees on
    if evaluation_due(run) and run.evaluated_step != state.step:
        evaluate(run)  # may stop the run early
    if state.step % config.save_every == 0 or state.stop_reason:
        save_checkpoint(run.accelerator, run.out / "checkpoints", state.step, config.keep_checkpoints)


def keep_milestones(run: Run, tokens_before: int) -> None:
    """At every milestone this step crossed, keep what a run with that target-token budget would end with.

    That run would stop at this step and evaluate here, so the milestone evaluates (once per step) and then
    keeps, in milestones/<tokens>/, the current model (`model/`), the better by validation of the best so
    far and the current model (`best/`), and milestone.json (step, target tokens, training seconds, best
    step). An evaluation made only for a milestone does not enter the run's own choice of best model:
    runs of larger budgets do not evaluate there, so every later milestone, and the run's end, picks its
    best model from the evaluations a run of that budget makes. The schedules a milestone allows do not
    depend on the total budget.
    """
    crossed = [m for m in run.milestones if tokens_before < m <= run.state.target_tokens]
    if not crossed:
        return
    agree_on_time(run)
    state = run.state
    if evaluation_due(run):
        if run.evaluated_step != state.step:
            evaluate(run)
        best_step, best_metric = state.best_step, state.best_metric
    else:
        metric = evaluate(run, scheduled=False)[run.task.main_metric]
        best_step, best_metric = (state.step, metric) if beats_best(state, metric) else (state.best_step, state.best_metric)
    if run.accelerator.is_main_process:
        for tokens in crossed:
            write_milestone(run, run.out / MILESTONES / str(tokens), tokens, best_step, best_metric)
    run.accelerator.wait_for_everyone()


def write_milestone(run: Run, folder: Path, tokens: int, best_step: int, best_metric: float) -> None:
    """milestones/<tokens>/: model/ (the current model), best/ (the model of `best_step`) and milestone.json."""
    staging = staging_path(folder, per_process=False)
    shutil.rmtree(staging, ignore_errors=True)
    save_model_folder(run.accelerator.unwrap_model(run.model), run.tokenizer, staging / "model")
    shutil.copytree(staging / "model" if best_step == run.state.step else run.out / "best", staging / "best")
    state = run.state
    write_json(staging / "milestone.json", {
        "milestone": tokens, "step": state.step, "target_tokens": state.target_tokens,
        "train_seconds": state.train_seconds, "best_step": best_step, "best_metric": best_metric,
    })
    replace_folder(staging, folder)


def time_agreement_due(run: Run) -> bool:
    """Whether this step must take rank 0's clock: the steps that log, evaluate or checkpoint, and under a time
    budget every step that could have crossed it. Decided from settled numbers only, so every rank decides alike.

    One process: always (it costs nothing). A step is judged able to cross the budget once the seconds
    agreed so far plus twice their pace per step since then reach it.
    """
    config, state = run.config, run.state
    if run.accelerator.num_processes == 1 or any(
        state.step % every == 0 for every in (config.log_every, config.eval_every, config.save_every)
    ):
        return True
    if not config.budget_minutes:
        return False
    pace = state.train_seconds / run.settled_step if run.settled_step else float("inf")
    return state.train_seconds + 2 * (state.step - run.settled_step) * pace >= 60 * config.budget_minutes


def agree_on_time(run: Run) -> None:
    """Add this rank's pending seconds to train_seconds; with several ranks, rank 0's sum becomes everyone's."""
    seconds = run.state.train_seconds + run.pending_seconds
    if run.accelerator.num_processes > 1:
        seconds = broadcast(torch.tensor([seconds], dtype=torch.float64, device=run.accelerator.device)).item()
    run.state.train_seconds, run.pending_seconds, run.settled_step = seconds, 0.0, run.state.step


def log_training(run: Run) -> dict:
    """Log the mean training loss since the last log line; returns what the progress bar shows."""
    loss_sum = run.accelerator.reduce(run.loss_sum, reduction="sum").item()  # the interval's one wait for the device
    mean_loss = loss_sum / max(run.loss_tokens, 1)
    speed = run.state.target_tokens / max(run.state.train_seconds, 1e-9)
    run.log.write("train", run.state.step, loss=mean_loss, learning_rate=run.optimizer.param_groups[0]["lr"],
                  target_tokens_per_second=speed, train_seconds=run.state.train_seconds)
    run.loss_sum, run.loss_tokens = torch.zeros((), device=run.accelerator.device), 0
    return {"loss": f"{mean_loss:.3f}", "tok_s": f"{speed:.0f}"}


def current_validation_loss(run: Run) -> float:
    """The validation loss at this step, computed once however many decisions read it."""
    if run.state.step not in run.validation_losses:
        run.validation_losses = {run.state.step: validation_loss(run.model, run.validation_batches, run.accelerator)}
    return run.validation_losses[run.state.step]


def evaluation_due(run: Run) -> bool:
    """Whether this step makes one of the run's own evaluations: every eval_every steps, and at the stop."""
    return run.state.step % run.config.eval_every == 0 or bool(run.state.stop_reason)


def beats_best(state: TrainState, metric: float) -> bool:
    """Whether a validation `metric` improves on the run's best so far (any metric does before the first)."""
    return state.best_metric is None or metric > state.best_metric


def evaluate(run: Run, scheduled: bool = True) -> dict:
    """Validation loss and metric, logged. One of the run's own evaluations (`scheduled`) keeps the best model
    and counts evaluations without improvement; one made only for a milestone changes neither."""
    state, accelerator = run.state, run.accelerator
    record = {"val_loss": current_validation_loss(run)}
    record.update(validation_metric(run.model, run.tokenizer, run.task, run.sample_sources, run.sample_references,
                                    accelerator))
    metric = record[run.task.main_metric]
    improved = scheduled and beats_best(state, metric)
    if improved:
        state.best_metric, state.best_step, state.evaluations_without_improvement = metric, state.step, 0
        if accelerator.is_main_process:
            save_model_folder(accelerator.unwrap_model(run.model), run.tokenizer, run.out / "best")
    elif scheduled:
        state.evaluations_without_improvement += 1
    run.log.write("eval", state.step, train_seconds=state.train_seconds, target_tokens=state.target_tokens,
                  best=improved, **({} if scheduled else {"milestone_only": True}), **record)
    if scheduled:
        if run.config.patience and state.evaluations_without_improvement >= run.config.patience:
            state.stop_reason = "early stopping"
        run.evaluated_step = state.step
    accelerator.wait_for_everyone()
    return record


def summarise(run: Run) -> dict:
    """The run summary, written to train_result.json; ends the trackers."""
    state, accelerator = run.state, run.accelerator
    model = accelerator.unwrap_model(run.model)
    result = {
        "arch": run.config.arch,
        "task": run.task.name,
        "steps": state.step,
        "epochs": state.epoch,
        "stop_reason": state.stop_reason,
        "train_seconds": state.train_seconds,
        "target_tokens": state.target_tokens,
        "target_tokens_per_second": state.target_tokens / max(state.train_seconds, 1e-9),
        "best_step": state.best_step,
        "best_metric": state.best_metric,
        "main_metric": run.task.main_metric,
        "parameters": sum(p.numel() for p in model.parameters()),
        # One checksum per rank: DDP keeps replicas identical, and this shows it.
        "rank_checksums": gather_object([parameter_checksum(model)]),
        "num_processes": accelerator.num_processes,
        "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision,
    }
    if accelerator.is_main_process:
        write_json(run.out / "train_result.json", result)
    # Trackers end here; the process group stays up for a later train() in this process
    # (compare's next row) and ends with the process (see end_distributed_process).
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.wait_for_everyone()
    return result


def end_distributed_process(code: int = 0) -> None:
    """The last call of an entry point: under torch.distributed, end the process at once, with exit status `code`.

    Tearing a gloo process group down (explicitly or at interpreter exit) can
    wait forever for a peer that has already exited: 1 in 4 of the 2-process
    CPU runs hung so after writing their results, and 1 in 44 still did with
    every rank entering the teardown together. Every file is written and
    closed by now, so the ranks meet once more and leave without teardown.
    Returns at once when not distributed.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def parameter_checksum(model) -> str:
    """A hash of every parameter's bytes."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def budget_reached(config: TrainConfig, state: TrainState) -> str | None:
    """Why training should stop now, if it should. Every rank holds the same state, so all agree."""
    if config.max_steps and state.step >= config.max_steps:
        return "max steps"
    if config.budget_target_tokens and state.target_tokens >= config.budget_target_tokens:
        return "target-token budget"
    if config.budget_minutes and state.train_seconds >= 60 * config.budget_minutes:
        return "time budget"
    if config.max_epochs and state.epoch >= config.max_epochs:
        return "max epochs"
    return None


def validation_batches_of(data, collate: Seq2SeqCollator, batch_tokens: int) -> list[dict]:
    """The validation split as fixed, length-sorted batches."""
    sources, targets = list(data["input_ids"]), list(data["labels"])
    sampler = TokenBatchSampler([len(s) for s in sources], [len(t) for t in targets], batch_tokens, shuffle=False)
    return [collate([{"input_ids": sources[i], "labels": targets[i]} for i in batch]) for batch in sampler]
