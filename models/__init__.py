"""Lineage models: RNN, LSTM and Transformer sequence-to-sequence models.

Importing this package registers the recurrent models with the transformers
Auto classes, so `AutoConfig` / `AutoModelForSeq2SeqLM` build and load them by
`model_type` (`lineage-rnn`, `lineage-lstm`); `architectures.py` names them all. The Transformer is a stock
`PegasusForConditionalGeneration` and needs no registration; its variants (`transformer_variants.py`,
`lineage-transformer-variant`) are registered as the recurrent models are.

This package is what travels to the Hub: it imports only torch and
transformers.
"""

import json
import os
import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from .architectures import ARCHITECTURES, ARCHS
from .sizes import SIZES
from .transformer import build_transformer, transformer_config
from .transformer_variants import TransformerVariantConfig, TransformerVariantForConditionalGeneration

_CUSTOM_MODELS = [(a.config_class, a.model_class) for a in ARCHITECTURES.values() if a.recurrent]
for _config_class, _model_class in _CUSTOM_MODELS + [(TransformerVariantConfig, TransformerVariantForConditionalGeneration)]:
    AutoConfig.register(_config_class.model_type, _config_class, exist_ok=True)
    AutoModelForSeq2SeqLM.register(_config_class, _model_class, exist_ok=True)
    # save_pretrained then copies the modeling files and writes `auto_map`.
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModelForSeq2SeqLM")

PIPELINE_FILE = Path(__file__).with_name("text2text_pipeline.py")
# The pipelines transformers 5 removed, restored for every saved model folder
# (see text2text_pipeline.py); transformers 4.x maps them to its built-ins.
CUSTOM_PIPELINES = {
    task: {"impl": f"text2text_pipeline.{cls}", "pt": ["AutoModelForSeq2SeqLM"], "tf": [], "type": "text"}
    for task, cls in (("translation", "TranslationPipeline"), ("summarization", "SummarizationPipeline"))
}


def build_model(arch: str, tokenizer: PreTrainedTokenizerBase, size: str = "small", **overrides) -> PreTrainedModel:
    """Build a randomly initialised model for `tokenizer`'s vocabulary.

    Args:
        arch: "rnn", "lstm" or "transformer".
        tokenizer: gives vocab_size and the pad/bos/eos ids (decoders start from bos).
        size: a name in `sizes.SIZES` ("tiny", "small", "base").
        **overrides: config fields that replace the size's values
            (e.g. attention="none", cell="gru", dropout values).
    """
    config = model_config(
        arch, size, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id, **overrides,
    )
    if not ARCHITECTURES[arch].recurrent:
        return build_transformer(config)
    return ARCHITECTURES[arch].model_class(config)


def model_config(arch: str, size: str = "small", **fields) -> PretrainedConfig:
    """The config `build_model` builds a model from: the size's values with `fields`
    (vocabulary size, token ids, overrides) on top. Cheap, so a training run checks
    its model settings with it before loading any data.

    Raises ValueError for an unknown architecture or size, or an invalid field value.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}: choose one of {', '.join(SIZES)}")
    values = {**SIZES[size][arch], **fields}
    if not ARCHITECTURES[arch].recurrent:
        return transformer_config(**values)
    return ARCHITECTURES[arch].config_class(**values)


def init_embeddings(model: PreTrainedModel, matrix: torch.Tensor, freeze: bool = False) -> None:
    """Copy a (vocab_size, embedding_size) matrix, e.g. word2vec, into the model's embeddings.

    Every architecture shares one embedding between encoder and decoder (joint
    vocabulary), so this sets both, and a tied output layer with them.
    `freeze` stops the embedding from training.
    """
    embedding = model.get_input_embeddings()
    if tuple(matrix.shape) != tuple(embedding.weight.shape):
        raise ValueError(
            f"embedding matrix has shape {tuple(matrix.shape)}, the model expects {tuple(embedding.weight.shape)}"
        )
    with torch.no_grad():
        embedding.weight.copy_(matrix)
    embedding.weight.requires_grad_(not freeze)


def save_model_folder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: str | Path) -> Path:
    """Write a Hub-ready folder: weights (safetensors), config, generation config,
    tokenizer, custom model code (recurrent models) and the restored pipelines.

    The folder is written beside its destination and swapped in at the end, so
    an interrupted save never leaves a half-written folder behind.
    """
    folder = Path(folder)
    # Named as lineage.files.staging_path names it (so its clean-up finds it); models/ travels to the
    # Hub alone and cannot import the rest of Lineage, so it keeps this one-line copy of the rule.
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.config.custom_pipelines = CUSTOM_PIPELINES
    model.save_pretrained(staging)
    shutil.copy(PIPELINE_FILE, staging / PIPELINE_FILE.name)
    # A call with padding=/truncation= leaves that setting on the backend, and
    # tokenizer.json would carry it to users of the plain `tokenizers` library.
    tokenizer.backend_tokenizer.no_padding()
    tokenizer.backend_tokenizer.no_truncation()
    tokenizer.save_pretrained(staging)
    _make_tokenizer_config_portable(staging / "tokenizer_config.json", max_input_length(model.config))
    return replace_folder(staging, folder)


def replace_folder(staging: str | Path, destination: str | Path) -> Path:
    """Swap the fully written folder `staging` in as `destination` and return `destination`.

    `staging` must lie beside `destination` (same parent, so the renames stay
    on one file system). An existing `destination` is first renamed aside to
    `.<name>.old-<pid>`, then `staging` is renamed into place, then the old
    folder is deleted. `destination` thus holds either its old or its new
    complete contents, never a mix; between the two renames it is briefly
    absent (should the second rename fail, the old contents stay in the
    `.old-` folder). `staging` is gone afterwards.
    """
    staging, destination = Path(staging), Path(destination)
    if destination.exists():
        retired = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        destination.rename(retired)
        staging.rename(destination)
        shutil.rmtree(retired)
    else:
        staging.rename(destination)
    return destination


def max_input_length(config) -> int | None:
    """The longest sequence a model accepts (recurrent: max_position; Transformer: max_position_embeddings)."""
    return getattr(config, "max_position", None) or getattr(config, "max_position_embeddings", None)


def _make_tokenizer_config_portable(path: Path, model_max_length: int | None) -> None:
    # transformers 5 writes "TokenizersBackend", a class 4.x does not know;
    # "PreTrainedTokenizerFast" names the same tokenizer in both. The 4.x built-in
    # pipelines truncate to model_max_length, so it must be the model's limit.
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["model_input_names"] = ["input_ids", "attention_mask"]
    if model_max_length:
        config["model_max_length"] = model_max_length
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
