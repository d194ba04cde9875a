"""The Transformer: a stock transformers encoder-decoder built from a config.

Nothing is reimplemented: `MarianConfig` gives the "Attention Is All You
Need" model (sinusoidal positions, post-norm, tied embeddings), and
`AutoModelForSeq2SeqLM.from_config` builds it, so a saved folder loads on the
Hub with no custom code.
"""

from transformers import AutoModelForSeq2SeqLM, MarianConfig, PreTrainedModel


def transformer_config(
    vocab_size: int,
    pad_token_id: int,
    bos_token_id: int,
    eos_token_id: int,
    decoder_start_token_id: int,
    max_position: int = 512,
    dropout: float = 0.1,
    **size,
) -> MarianConfig:
    """A `MarianConfig` for our tokenizer.

    Args:
        vocab_size: tokenizer vocabulary size (source and target share it).
        pad_token_id, bos_token_id, eos_token_id, decoder_start_token_id: the
            tokenizer's special ids. Marian's defaults (58100) would point
            outside a small vocabulary.
        max_position: longest sequence the sinusoidal table covers.
        dropout: dropout on residual branches; attention/activation dropout 0.
        **size: d_model, encoder/decoder_layers, attention heads, ffn dims
            (see `models.sizes.SIZES`).
    """
    return MarianConfig(
        vocab_size=vocab_size,
        decoder_vocab_size=vocab_size,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        decoder_start_token_id=decoder_start_token_id,
        forced_eos_token_id=eos_token_id,
        max_position_embeddings=max_position,
        # Without the sqrt(d_model) embedding scale Marian does not train from scratch.
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        activation_function="relu",
        dropout=dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        **size,
    )


def build_transformer(config: MarianConfig) -> PreTrainedModel:
    """Build the model from its config: random weights, stock class (MarianMTModel)."""
    return AutoModelForSeq2SeqLM.from_config(config)
