"""Everything before a run's first step: the run folder, data, tokenizer, model, optimizer, batches, resume."""

import importlib.util
import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import InitProcessGroupKwargs, set_seed
from torch.utils.data import DataLoader

from ..data.batching import Seq2SeqCollator, TokenBatchSampler, TokenizedRows
from ..data.encoding import count_at_least, tokenize_split
from ..data.loading import load_splits
from ..data.phases import peak_rss_mb, phase
from ..data.tasks import TaskSpec
from ..data.tokenizer import learned_from, load_tokenizer, sample_rows, save_tokenizer, train_task_tokenizer
from ..environment import cpu_supports_bf16
from ..errors import ConfigError
from ..files import write_json
from ..models import build_model, init_embeddings
from .checkpoints import load_checkpoint, resume_point
from .config import TrainConfig, milestone_tokens
from .cpu import configure_cpu
from .distributed import on_main_process
from .objective import make_optimizer, make_schedule, validation_batches_of
from .run_log import RunLog
from .runs import open_run_folder
from .state import TrainState, budget_reached

logger = logging.getLogger(__name__)

DATA_FILE = "data.json"  # in the run folder: the training rows, truncations and the tokenizer's sample


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
    tokenizer, train_data, validation_split, validation_data = load_run_data(config, task, out, accelerator)

    model = build_model(config.arch, tokenizer, config.size, **config.model_overrides())
    model.generation_config.update(**task.generation)
    if config.embeddings != "random":
        apply_word2vec(config, model, tokenizer, train_data, out, accelerator)
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
    logger.info("phase prepared: rank %d, peak RSS %.0f MB", accelerator.process_index, peak_rss_mb())
    return run


def resolved_precision(requested: str) -> str:
    """The precision Accelerate runs for `--mixed_precision requested`: `auto` is bf16 on a GPU that supports it
    and float32 elsewhere. bf16 on a CPU without bf16 instructions is refused: torch emulates it there, many
    times slower than float32 (benchmarks/README.md, "bf16 on the CPU"), and its LSTM kernel refuses it."""
    on_gpu = torch.cuda.is_available()
    if requested == "auto":
        return "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "no"
    if requested == "bf16" and not on_gpu and not cpu_supports_bf16():
        raise ConfigError("--mixed_precision bf16: this CPU has no bf16 instructions (avx512_bf16, amx_bf16), so "
                          "torch would emulate bf16, many times slower than float32; train in float32 "
                          "(--mixed_precision no or auto)")
    return requested


def make_accelerator(config: TrainConfig) -> Accelerator:
    precision = resolved_precision(config.mixed_precision)
    trackers = [name for name in ("tensorboard", "trackio") if importlib.util.find_spec(name)]
    return Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=trackers or None,
        project_dir=config.output_dir,
        # A rank that dies or stalls makes the others fail with a stack trace instead of waiting forever.
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=config.ddp_timeout))],
    )


def load_run_data(config: TrainConfig, task: TaskSpec, out: Path, accelerator: Accelerator):
    """The tokenizer, the tokenized train split, and the validation split raw and tokenized.

    The tokenized splits stay in the datasets cache (Arrow, memory-mapped): rank 0 writes it, the other
    ranks read it, and a later run with the same data and tokenizer reuses it. What the data and the
    tokenizer's sample hold is written to the run folder's `DATA_FILE`.
    """
    # Rank 0 first: it writes the datasets cache files that the other ranks then read, instead
    # of every rank writing the same files at once.
    with accelerator.main_process_first():
        with phase("loading") as details:
            splits = load_splits(task, ("train", "validation"))
            train_split = splits["train"]
            if config.train_samples:
                train_split = train_split.shuffle(seed=0).select(range(min(config.train_samples, len(train_split))))
            details.update(rows=len(train_split))
    tokenizer, folder = obtain_tokenizer(config, task, train_split, out, accelerator)
    with accelerator.main_process_first():
        train_data = tokenize_split(train_split, tokenizer, task)
        validation_data = tokenize_split(splits["validation"], tokenizer, task)
    if accelerator.is_main_process:
        write_json(out / DATA_FILE, {
            "train_rows": len(train_data),
            "truncated_sources": count_at_least(train_data.data.column("input_ids"), task.max_source_length),
            "truncated_targets": count_at_least(train_data.data.column("labels"), task.max_target_length),
            "tokenizer": str(folder),
            "tokenizer_sample": learned_from(folder),
        })
    return tokenizer, train_data, splits["validation"], validation_data


def obtain_tokenizer(config: TrainConfig, task: TaskSpec, train_split, out: Path, accelerator: Accelerator):
    """The given tokenizer, the run's own saved one, or a new one trained on (a sample of) `train_split`;
    returns it and its folder."""
    folder = Path(config.tokenizer) if config.tokenizer else out / "tokenizer"
    with accelerator.main_process_first():
        if not (folder / "tokenizer.json").exists():
            if config.tokenizer:
                raise ConfigError(f"--tokenizer {folder} holds no tokenizer (tokenizer.json)")
            if accelerator.is_main_process:
                tokenizer, sample = train_task_tokenizer(task, train_split, config.vocab_size)
                save_tokenizer(tokenizer, folder, sample)
        return load_tokenizer(folder), folder


def training_batches(config: TrainConfig, train_data, collate: Seq2SeqCollator, accelerator: Accelerator):
    """This rank's token-budget batch sampler and the DataLoader that collates its batches.

    The loader reads each batch's rows from the Arrow split (`TokenizedRows`); the lengths come from the
    Arrow offsets as arrays.
    """
    rows = TokenizedRows(train_data)
    with phase("lengths") as details:
        details.update(rows=len(rows))
        sampler = TokenBatchSampler(
            *rows.lengths(), config.batch_tokens,
            seed=config.seed, num_replicas=accelerator.num_processes, rank=accelerator.process_index,
            batch_multiple=config.gradient_accumulation_steps,
        )
    # A private generator: each new DataLoader iterator draws a seed from it, and drawing
    # from the global RNG instead would shift dropout masks after a resume.
    # No workers: the sampler's round_target_tokens must describe the batch just returned.
    loader = DataLoader(rows, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator())
    return sampler, loader


def embedding_size(model) -> int:
    return model.get_input_embeddings().weight.shape[1]


def apply_word2vec(config: TrainConfig, model, tokenizer, train_data, out: Path, accelerator: Accelerator) -> None:
    """Initialise (and for "word2vec-frozen", freeze) the embeddings from word2vec vectors, trained on the
    pieces of the tokenized training rows the tokenizer's sample holds, streamed from Arrow."""
    from ..data.word2vec import TokenPieces, embedding_matrix, load_word2vec, save_word2vec, train_word2vec

    path = Path(config.word2vec) if config.word2vec else out / "word2vec.kv"
    with accelerator.main_process_first():
        if not path.exists():
            if accelerator.is_main_process:
                with phase("word2vec"):
                    pieces = TokenPieces(train_data, tokenizer, sample_rows(len(train_data)))
                    vectors = train_word2vec(tokenizer, pieces, vector_size=embedding_size(model), seed=config.seed)
                save_word2vec(vectors, path)
        vectors = load_word2vec(path)
    # Rescaled to the random init's spread, so "random vs word2vec" compares content, not scale.
    init_std = float(model.get_input_embeddings().weight.detach().std())
    matrix = embedding_matrix(vectors, tokenizer, seed=config.seed, std=init_std)
    init_embeddings(model, matrix, freeze=config.embeddings == "word2vec-frozen")


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
