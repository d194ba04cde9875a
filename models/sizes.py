"""Named model sizes per architecture.

Sizes are config keyword arguments; `build_model` merges them under any
explicit overrides. The recurrent and Transformer sizes of one name are
chosen to have similar parameter counts (at an 8k vocabulary), so a
comparison at equal size is fair (counts in the comments: 8k vocabulary,
tied embeddings; the bidirectional encoder gives each direction hidden_size / 2).
"""

SIZES = {
    # Seconds-long tests: learns a toy task, nothing more.
    "tiny": {
        "rnn": dict(embedding_size=32, hidden_size=32, encoder_layers=1, decoder_layers=1),
        "lstm": dict(embedding_size=32, hidden_size=32, encoder_layers=1, decoder_layers=1),
        "mingru": dict(embedding_size=32, hidden_size=32, encoder_layers=1, decoder_layers=1),
        "minlstm": dict(embedding_size=32, hidden_size=32, encoder_layers=1, decoder_layers=1),
        "transformer": dict(
            d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        ),
    },
    # The CPU comparison (make demo): small enough to train in minutes on 2 cores.
    "small": {
        "rnn": dict(embedding_size=256, hidden_size=768, encoder_layers=1, decoder_layers=1),  # 4.9M
        "lstm": dict(embedding_size=256, hidden_size=384, encoder_layers=1, decoder_layers=1),  # 4.3M
        "mingru": dict(embedding_size=256, hidden_size=768, encoder_layers=1, decoder_layers=1),  # 4.4M
        "minlstm": dict(embedding_size=256, hidden_size=704, encoder_layers=1, decoder_layers=1),  # 4.5M
        "transformer": dict(  # 4.9M
            d_model=256, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=512, decoder_ffn_dim=512,
        ),
    },
    # Paper-scale sizes for a GPU (Bahdanau et al. 2015 / Vaswani et al. 2017 base).
    "base": {
        "rnn": dict(embedding_size=512, hidden_size=2048, encoder_layers=2, decoder_layers=2),  # 41.9M
        "lstm": dict(embedding_size=512, hidden_size=1280, encoder_layers=2, decoder_layers=2),  # 51.7M
        "mingru": dict(embedding_size=512, hidden_size=2304, encoder_layers=2, decoder_layers=2),  # 48.4M
        "minlstm": dict(embedding_size=512, hidden_size=2048, encoder_layers=2, decoder_layers=2),  # 50.3M
        "transformer": dict(  # 48.8M
            d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
            decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048,
        ),
    },
}

# The sizes' names before they were named as sizes: run folders and results recorded them so.
FORMER_NAMES = {"demo": "small", "full": "base"}
