"""Does a model read its source? Two numbers per model folder, as JSON.

    python scripts/source_probe.py runs/x/dialogsum/transformer/best [more folders] --task dialogsum

- `loss_own_source` / `loss_other_source`: the validation references' token
  cross-entropy given their own source, and given another example's source
  (sources rotated by one). A model that ignores its input scores both alike.
- `encoder_position_spread`: the encoder's last states, standard deviation
  across all real source positions of the sample (mean over dimensions),
  over their mean norm. Near zero, the encoder gives every position of every
  input the same vector (collapse), and the decoder can only ignore it.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # noqa: E402,F401  (registers the recurrent Auto classes)
from pipelines.data import load_splits  # noqa: E402
from pipelines.tasks import get_task  # noqa: E402
from pipelines.tokenizer import load_tokenizer  # noqa: E402


def reference_loss(model, tokenizer, sources: list[str], targets: list[str], max_length: int) -> tuple[float, object]:
    """Mean token cross-entropy of `targets` given `sources`, and the model's output."""
    inputs = tokenizer(sources, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    labels = tokenizer(text_target=targets, truncation=True, max_length=max_length, padding=True,
                       return_tensors="pt")["input_ids"]
    labels[labels == tokenizer.pad_token_id] = -100
    with torch.no_grad():
        output = model(**inputs, labels=labels)
    return output.loss.item(), (output, inputs["attention_mask"].bool())


def probe(folder: str, task, samples: int) -> dict:
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
    tokenizer = load_tokenizer(folder)
    split = load_splits(task, ("validation",))["validation"].select(range(samples))
    sources, targets = list(split[task.source_column]), list(split[task.target_column])
    own, (output, mask) = reference_loss(model, tokenizer, sources, targets, task.max_source_length)
    other, _ = reference_loss(model, tokenizer, sources[1:] + sources[:1], targets, task.max_source_length)
    result = {"model": folder, "model_type": model.config.model_type, "loss_own_source": round(own, 4),
              "loss_other_source": round(other, 4)}
    states = getattr(output, "encoder_last_hidden_state", None)
    if states is not None and states.shape[:2] == mask.shape:
        real = states[mask]
        result["encoder_position_spread"] = round((real.std(0).mean() / real.norm(dim=-1).mean()).item(), 6)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", help="model folders (a run's best/ or a published folder)")
    parser.add_argument("--task", default="dialogsum")
    parser.add_argument("--samples", type=int, default=16, help="validation examples")
    args = parser.parse_args()
    task = get_task(args.task)
    print(json.dumps([probe(folder, task, args.samples) for folder in args.folders], indent=2))


if __name__ == "__main__":
    main()
