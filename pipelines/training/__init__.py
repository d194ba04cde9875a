"""Training: one loop for every architecture, run by Accelerate.

    config.py        TrainConfig, the settings of one run, and their rules
    presets.py       the settings each architecture trains with, per purpose (test, cpu, gpu)
    preparation.py   everything before the first step (data, tokenizer, model, optimizer, resume)
    loop.py          the loop: steps, evaluations, milestones, checkpoints, the summary
    objective.py     loss, optimizer, schedule, validation loss and metric
    state.py         the progress a checkpoint carries, and when a run stops
    checkpoints.py   atomic checkpoints and where a resume starts
    runs.py          run.json: what a run folder is, and which changes a resume may make
    run_log.py       log.jsonl and the trackers
    stops.py         the first SIGINT/SIGTERM ends a run at a step boundary, with a checkpoint
    locks.py         one writer per run folder
    distributed.py   the processes of `accelerate launch`
    cpu.py           CPU threads and memory settings

A run's folder:
    run.json              the settings that define the run, and those changed on resume
    tokenizer/            the task tokenizer (unless one was given)
    checkpoints/step-N/   accelerate state: weights, optimizer, schedule, sampler, RNG, TrainState
    best/                 the best model so far, Hub-ready (lineage.models.save_model_folder)
    milestones/N/         at N target tokens (--milestones): model/, best/ and milestone.json
    log.jsonl             one JSON object per log / evaluation event
    train_result.json     the summary written at the end
"""

from .config import TrainConfig
from .loop import train

__all__ = ["TrainConfig", "train"]
