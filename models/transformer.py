"""The Transformer: a stock transformers encoder-decoder built from a config.

Nothing is reimplemented: `PegasusConfig` gives the "Attention Is All You
Need" encoder-decoder (sinusoidal positions, ReLU feed-forward, tied
embeddings) in its pre-norm form (layer norm before each sublayer, a final
one after each stack; Xiong et al. 2020), and `AutoModelForSeq2SeqLM.from_config`
builds it, so a saved folder loads on the Hub with no custom code.

Why pre-norm: the post-norm original (`MarianConfig`) trained from scratch on
dialogue summarization collapsed within a few hundred steps, its encoder
giving the same vector at every position of every dialogue (long sources,
near-uniform early attention, each layer norm renormalising the averaged
residual), after which the decoder learnt to ignore it and wrote one
sentence for every input. Pre-norm keeps each token on the residual path;
docs/cpu-summarization records the runs.
"""

from transformers import AutoModelForSeq2SeqLM, PegasusConfig, PreTrainedModel

from .transformer_variants import TransformerVariantConfig, variant_fields


def transformer_config(
    vocab_size: int,
    pad_token_id: int,
    bos_token_id: int,
    eos_token_id: int,
    decoder_start_token_id: int,
    max_position: int = 512,
    dropout: float = 0.1,
    **size,
) -> PegasusConfig:
    """A `PegasusConfig` for our tokenizer (a `TransformerVariantConfig` where `size` sets a variant's
    fields: transformer_variants.py).

    Args:
        vocab_size: tokenizer vocabulary size (source and target share it).
        pad_token_id, bos_token_id, eos_token_id, decoder_start_token_id: the
            tokenizer's special ids (the config's defaults are Pegasus's own).
        max_position: longest sequence the sinusoidal table covers.
        dropout: dropout on residual branches; attention/activation dropout 0.
        **size: d_model, encoder/decoder_layers, attention heads, ffn dims
            (see `sizes.SIZES`), and a variant's fields.
    """
    config_class = TransformerVariantConfig if variant_fields(size) else PegasusConfig
    return config_class(
        vocab_size=vocab_size,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        decoder_start_token_id=decoder_start_token_id,
        forced_eos_token_id=eos_token_id,
        max_position_embeddings=max_position,
        # Without the sqrt(d_model) embedding scale the tokens drown in the positions from scratch.
        scale_embedding=True,
        tie_word_embeddings=True,
        activation_function="relu",
        dropout=dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        **size,
    )


def build_transformer(config: PegasusConfig) -> PreTrainedModel:
    """Build the model from its config: random weights, stock class (PegasusForConditionalGeneration), or a
    variant's class for a `TransformerVariantConfig`."""
    return AutoModelForSeq2SeqLM.from_config(config)
