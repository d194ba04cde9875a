"""What a model card says about a model's architecture: its recurrent unit, attention, layers and embeddings."""

from ..models.architectures import RECURRENT
from ..models.transformer_variants import describe_variant

ATTENTION = {
    "none": ("no attention: the decoder sees the source only through the encoder's final state "
             "(Sutskever et al., 2014; Cho et al., 2014)", "no-attention"),
    "bahdanau": ("additive attention (Bahdanau et al., 2015); the previous decoder state is the query",
                 "bahdanau-attention"),
    "luong-dot": ("multiplicative attention with the dot score (Luong et al., 2015)", "luong-attention"),
    "luong-general": ("multiplicative attention with the general (bilinear) score (Luong et al., 2015)",
                      "luong-attention"),
}
TRANSFORMER_ATTENTION = (
    "multi-head scaled dot-product self-attention in encoder and decoder, and cross-attention over the "
    "encoder outputs (Vaswani et al., 2017)",
    "multi-head-attention",
)
CELLS = {"rnn": "Elman RNN (tanh)", "gru": "GRU (Cho et al., 2014)", "lstm": "LSTM (Hochreiter & Schmidhuber, 1997)",
         "mingru": "minGRU (Feng et al., 2024), trained with a parallel scan",
         "minlstm": "minLSTM (Feng et al., 2024), trained with a parallel scan"}
EMBEDDINGS = {
    "random": "random initialisation (everything is trained from scratch)",
    "word2vec": "initialised from word2vec vectors (gensim) trained on the task's tokenized training text, "
                "then trained with the rest of the model",
    "word2vec-frozen": "word2vec vectors (gensim) trained on the task's tokenized training text, "
                       "kept frozen during training",
}


def attention_description(arch: str, config: dict) -> tuple[str, str]:
    """What a card says of the model's attention, and its tag."""
    if arch in RECURRENT:
        attention = config.get("attention", "none")
        text, tag = ATTENTION.get(attention, (attention, f"{attention}-attention"))
        if config.get("scaled_attention"):
            text += ", its scores divided by the square root of the hidden size"
        if config.get("input_feeding"):
            text += ", with input feeding (Luong et al., 2015)"
        if config.get("coverage"):
            text += ", with coverage of what was attended so far (See et al., 2017)"
        if config.get("copy_attention"):
            text += ("; the attention weights also copy source tokens, mixed with the vocabulary distribution by a "
                     "learned gate (pointer-generator, See et al., 2017)")
        return text, tag
    return TRANSFORMER_ATTENTION


def architecture_lines(arch: str, config: dict, attention_text: str) -> list[str]:
    """The card's lines on the model's architecture, from its config."""
    get = config.get
    lines = []
    if arch in RECURRENT:
        cell = get("cell") or arch
        lines.append(f"Recurrent unit: {CELLS.get(cell, cell)}.")
        if get("encoder_layers") is not None:
            encoder = f"Encoder: {_layers(get('encoder_layers'))}"
            if get("bidirectional") and get("hidden_size"):
                encoder += f", bidirectional ({get('hidden_size') // 2} units per direction, concatenated)"
            elif get("hidden_size"):
                encoder += f", {get('hidden_size')} units"
            if get("source_embedding_residual"):
                encoder += ("; each source embedding, projected, is added to the encoder output at its position "
                            "(as in ConvS2S, Gehring et al., 2017)")
            lines.append(encoder + ".")
        if get("decoder_layers") is not None:
            decoder = f"Decoder: {_layers(get('decoder_layers'))}"
            if get("hidden_size"):
                decoder += f", hidden size {get('hidden_size')}"
            lines.append(decoder + "; it starts from the encoder's final state through a learned bridge.")
        lines.append(f"Attention: {attention_text}.")
        embedding_size = get("embedding_size")
    else:
        lines.append(transformer_summary(config))
        if get("encoder_layers") is not None and get("decoder_layers") is not None:
            lines.append(f"Layers: {get('encoder_layers')} encoder, {get('decoder_layers')} decoder.")
        sizes = [
            f"{label} {get(key)}"
            for key, label in (("d_model", "model size"), ("encoder_attention_heads", "attention heads"),
                               ("encoder_ffn_dim", "feed-forward size"))
            if get(key) is not None
        ]
        if sizes:
            lines.append(f"Sizes: {', '.join(sizes)}.")
        lines.append(f"Attention: {attention_text}.")
        embedding_size = get("d_model")
    embedding = "Embeddings: one joint source/target vocabulary"
    if get("vocab_size") is not None:
        embedding += f" of {integer_text(get('vocab_size'))} subword tokens"
    if embedding_size is not None:
        embedding += f", embedding size {embedding_size}"
    embedding += ", shared by encoder and decoder"
    if get("tie_word_embeddings", True):
        embedding += " and tied to the output layer"
    lines.append(embedding + ".")
    return lines


def transformer_summary(config: dict) -> str:
    """The card's first line on a Transformer: the stock model, or the stock model with a variant's change."""
    stock = ("the \"Attention Is All You Need\" encoder-decoder in its pre-norm form (sinusoidal positions)")
    changes = describe_variant(config)
    if not changes:
        return (f"A stock transformers `PegasusForConditionalGeneration` built from a `PegasusConfig`: {stock}; "
                "it loads without custom code.")
    code = ("It loads without custom code." if config.get("model_type") == "pegasus"
            else "The change is custom code (`transformer_variants.py`).")
    return f"The stock Transformer (a transformers `PegasusForConditionalGeneration`: {stock}) with {'; '.join(changes)}. {code}"


def _layers(count) -> str:
    return f"{count} layer" if count == 1 else f"{count} layers"


def integer_text(value) -> str:
    return f"{int(value):,}"
