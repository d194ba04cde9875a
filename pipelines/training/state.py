"""A run's progress: what its checkpoints carry besides weights, optimizer and sampler, and when it stops."""

from dataclasses import asdict, dataclass

from .config import TrainConfig


@dataclass
class TrainState:
    """Progress that a checkpoint must carry besides weights, optimizer and sampler."""

    step: int = 0
    epoch: int = 0
    train_seconds: float = 0.0
    target_tokens: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    best_distinct: float | None = None  # the best model's share of distinct validation outputs (selection.py)
    evaluations_without_improvement: int = 0
    stop_reason: str | None = None

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)


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
