"""The training loop: one loop for every architecture, run by Accelerate.

Accelerate handles the device, distribution (DDP over GPUs, nodes or CPU
processes), mixed precision, gradient accumulation, checkpoint state and
trackers. The loop itself is short: batches by token budget, token-level
cross-entropy with label smoothing, AdamW, clipping, a schedule, evaluation
every N steps (validation loss + the task metric on a sample), early
stopping, the best model kept as a Hub-ready folder, and atomic checkpoints
that `--resume` continues from exactly. `preparation.py` builds the run it drives.

A stop signal ends the run at a step boundary with a checkpoint (`stops.py`);
a failed write ends it with `files.WriteFailed`, the checkpoints and `best/`
written before intact. Either way the run folder's lock (`locks.py`) is released.
"""

import shutil
import time
from pathlib import Path

import torch
from accelerate.utils import broadcast, gather_object
from tqdm.auto import tqdm

from ..evaluation.generation import distinct_share
from ..files import replace_folder, staging_path, write_json, writing
from ..models import save_model_folder
from .checkpoints import save_checkpoint
from .config import TrainConfig
from .distributed import parameter_checksum
from .locks import release_folder
from .objective import loss_and_tokens, validation_loss, validation_metric
from .preparation import Run, prepare_run
from .runs import MILESTONES
from .selection import Candidate, better
from .state import budget_reached
from .stops import StopVote, Stopped, agreed_now


def train(config: TrainConfig) -> dict:
    """Train one model; returns (and writes to train_result.json) the run summary.

    Raises `Stopped` after a stop signal (with a checkpoint at the step it stopped at), and
    `files.WriteFailed` when a write fails.
    """
    signum = agreed_now()
    if signum:  # a signal between two runs of compare or study: this one has not begun
        raise Stopped(signum, None, Path(config.output_dir))
    try:
        run = prepare_run(config)  # holds the run folder's lock from here (runs.open_run_folder)
        progress = progress_bar(run)
        try:
            with StopVote(run.accelerator.num_processes) as vote:
                steps(run, progress, vote)
        finally:
            progress.close()
        return summarise(run)
    finally:
        release_folder(config.output_dir)


def steps(run: Run, progress: tqdm, vote: StopVote) -> None:
    """Train until a budget is spent, early stopping, or a stop signal (which raises `Stopped`)."""
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
            signum = vote.agreed()
            if signum:
                stop_here(run, signum)
            clock, step_tokens = time.perf_counter(), 0
        else:
            finish_epoch(run)


def stop_here(run: Run, signum: int) -> None:
    """Checkpoint this step (unless its scheduled checkpoint is written already) and raise `Stopped`.

    No evaluation: the checkpoint must hold what an uninterrupted run holds at this step, so
    that the resumed run evaluates, keeps its best model and stops early exactly as it would have.
    """
    config, state = run.config, run.state
    agree_on_time(run)
    if state.step % config.save_every:
        save_checkpoint(run.accelerator, run.out / "checkpoints", state.step, config.keep_checkpoints)
    raise Stopped(signum, state.step, run.out)


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
        record = evaluate(run, scheduled=False)
        metric = record[run.task.main_metric]
        best_step, best_metric = (state.step, metric) if beats_best(run, record) else (state.best_step, state.best_metric)
    if run.accelerator.is_main_process:
        for tokens in crossed:
            write_milestone(run, run.out / MILESTONES / str(tokens), tokens, best_step, best_metric)
    run.accelerator.wait_for_everyone()


def write_milestone(run: Run, folder: Path, tokens: int, best_step: int, best_metric: float) -> None:
    """milestones/<tokens>/: model/ (the current model), best/ (the model of `best_step`) and milestone.json."""
    staging = staging_path(folder, per_process=False)
    shutil.rmtree(staging, ignore_errors=True)
    state = run.state
    with writing(folder, staging):
        save_model_folder(run.accelerator.unwrap_model(run.model), run.tokenizer, staging / "model")
        shutil.copytree(staging / "model" if best_step == state.step else run.out / "best", staging / "best")
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


def beats_best(run: Run, record: dict) -> bool:
    """Whether an evaluation `record` makes a better model than the run's best so far (`selection.better`:
    the main metric, and a model that repeats one output never wins over one that does not)."""
    state = run.state
    best = None if state.best_metric is None else Candidate(state.best_metric, state.best_distinct)
    references = distinct_share([texts[0] for texts in run.sample_references])
    return better(Candidate(record[run.task.main_metric], record.get("distinct_outputs")), best, references)


def evaluate(run: Run, scheduled: bool = True) -> dict:
    """Validation loss and metric, logged. One of the run's own evaluations (`scheduled`) keeps the best model
    and counts evaluations without improvement; one made only for a milestone changes neither."""
    state, accelerator = run.state, run.accelerator
    record = {"val_loss": current_validation_loss(run)}
    record.update(validation_metric(run.model, run.tokenizer, run.task, run.sample_sources, run.sample_references,
                                    accelerator))
    improved = scheduled and beats_best(run, record)
    if improved:
        state.best_metric, state.best_distinct = record[run.task.main_metric], record.get("distinct_outputs")
        state.best_step, state.evaluations_without_improvement = state.step, 0
        if accelerator.is_main_process:
            with writing(run.out / "best", staging_path(run.out / "best")):  # save_model_folder's staging
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
