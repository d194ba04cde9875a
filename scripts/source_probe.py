"""Does a model read its source? Two numbers per model folder, as JSON.

    python scripts/source_probe.py runs/x/dialogsum/transformer/best [more folders] --task dialogsum

- `loss_own_source` / `loss_other_source`: the validation references' token
  cross-entropy given their own source, and given another example's source
  (sources rotated by one). A model that ignores its input scores both alike.
- `encoder_position_spread`: the encoder's last states, standard deviation
  across all real source positions of the sample (mean over dimensions),
  over their mean norm. Near zero, the encoder gives every position of every
  input the same vector (collapse), and the decoder can only ignore it.
- `attention_entropy` / `uniform_entropy`: the mean entropy (nats) of the
  cross-attention weights over the source, at every reference token (heads
  averaged), and that of uniform weights (the log of the source length).
  `attention_peak`: the mean largest weight. With `--untrained` the probe
  reads a freshly initialised model of each folder's config instead (seed 0):
  an attention far below uniform there is peaked on random positions.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lineage.models  # noqa: E402,F401  (registers the recurrent Auto classes)
from lineage.data.loading import load_splits  # noqa: E402
from lineage.data.tasks import get_task  # noqa: E402
from lineage.data.tokenizer import load_tokenizer  # noqa: E402


def reference_loss(model, tokenizer, sources: list[str], targets: list[str], max_length: int) -> tuple[float, tuple]:
    """Mean token cross-entropy of `targets` given `sources`, and (the model's output, the source mask, the
    target mask)."""
    inputs = tokenizer(sources, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    labels = tokenizer(text_target=targets, truncation=True, max_length=max_length, padding=True,
                       return_tensors="pt")["input_ids"]
    labels[labels == tokenizer.pad_token_id] = -100
    with torch.no_grad():
        output = model(**inputs, labels=labels, output_attentions=True)
    return output.loss.item(), (output, inputs["attention_mask"].bool(), labels != -100)


def probe(folder: str, task, samples: int, untrained: bool = False) -> dict:
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    if untrained:
        torch.manual_seed(0)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
        model = AutoModelForSeq2SeqLM.from_config(config, trust_remote_code=True).eval()
    else:
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
    tokenizer = load_tokenizer(folder)
    split = load_splits(task, ("validation",))["validation"].select(range(samples))
    sources, targets = list(split[task.source_column]), list(split[task.target_column])
    own, (output, mask, labels_mask) = reference_loss(model, tokenizer, sources, targets, task.max_source_length)
    other, _ = reference_loss(model, tokenizer, sources[1:] + sources[:1], targets, task.max_source_length)
    result = {"model": folder, "untrained": untrained, "model_type": model.config.model_type,
              "loss_own_source": round(own, 4), "loss_other_source": round(other, 4)}
    states = getattr(output, "encoder_last_hidden_state", None)
    if states is not None and states.shape[:2] == mask.shape:
        real = states[mask]
        result["encoder_position_spread"] = round((real.std(0).mean() / real.norm(dim=-1).mean()).item(), 6)
    if output.cross_attentions:
        result.update(attention_statistics(output.cross_attentions[-1].mean(1), mask, labels_mask))
    return result


def attention_statistics(weights: torch.Tensor, source_mask: torch.Tensor, target_mask: torch.Tensor) -> dict:
    """Entropy and peak of attention `weights` (batch, target, source) at the real target tokens."""
    entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)
    uniform = source_mask.sum(-1, keepdim=True).float().log().expand_as(entropy)
    real = target_mask.bool()
    return {"attention_entropy": round(entropy[real].mean().item(), 4),
            "uniform_entropy": round(uniform[real].mean().item(), 4),
            "attention_peak": round(weights.max(-1).values[real].mean().item(), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", help="model folders (a run's best/ or a published folder)")
    parser.add_argument("--task", default="dialogsum")
    parser.add_argument("--samples", type=int, default=16, help="validation examples")
    parser.add_argument("--untrained", action="store_true", help="probe a fresh initialisation of each config")
    args = parser.parse_args()
    task = get_task(args.task)
    print(json.dumps([probe(folder, task, args.samples, args.untrained) for folder in args.folders], indent=2))


if __name__ == "__main__":
    main()
