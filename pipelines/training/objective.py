"""What training minimises and how progress is measured: the loss, the optimizer and schedule,
and the validation loss and metric."""

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import gather_object
from transformers import get_scheduler

from ..data.batching import Seq2SeqCollator, TokenBatchSampler
from ..data.tasks import TaskSpec
from ..evaluation.generation import distinct_share, generate_texts, score
from .config import TrainConfig


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
    """Greedy-decode a validation sample (sharded across ranks) and score it with the task metrics, with the share
    of distinct outputs (`distinct_outputs`), which guards the choice of best model (selection.py)."""
    shard = list(range(accelerator.process_index, len(sources), accelerator.num_processes))
    texts = generate_texts(
        accelerator.unwrap_model(model), tokenizer, [sources[i] for i in shard], task.max_source_length,
        num_beams=1, max_new_tokens=task.generation["max_new_tokens"],
    )
    pairs = sorted(gather_object(list(zip(shard, texts))) if accelerator.num_processes > 1 else zip(shard, texts))
    outputs = [text for _, text in pairs]
    return {**score(task, outputs, references), "distinct_outputs": distinct_share(outputs)}


def validation_batches_of(data, collate: Seq2SeqCollator, batch_tokens: int) -> list[dict]:
    """The validation split as fixed, length-sorted batches."""
    sources, targets = list(data["input_ids"]), list(data["labels"])
    sampler = TokenBatchSampler([len(s) for s in sources], [len(t) for t in targets], batch_tokens, shuffle=False)
    return [collate([{"input_ids": sources[i], "labels": targets[i]} for i in batch]) for batch in sampler]


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
