"""Analytic FLOP counts of the Lineage models, one function per architecture.

Conventions (the same for every architecture, no fudge factors):

- Only matrix products are counted; a multiply-add is 2 FLOPs. Element-wise
  work (gate nonlinearities, softmax, layer norm, dropout, residual adds,
  biases) and embedding lookups count 0.
- A function returns the FORWARD FLOPs of ONE (source, target) pair, split
  into named parts. The parts are exactly the matrix products the model code
  runs (models/recurrent/modeling_recurrent.py; transformers' PegasusForConditionalGeneration).
- Training = 3 x forward: the backward pass of a product X W computes
  dL/dX and dL/dW, each as costly as the forward product (the "6N per token"
  rule: forward 2N + backward 4N). The embeddings train, so even the first
  layer's input gradient is computed. Attention score products (no
  parameters) follow the same rule, since both of their operands need
  gradients.
- Per target token: the pair's total divided by the target length. The
  benchmark uses source length == target length, so the encoder's work per
  source token lands one-to-one on the target tokens.
- Attention is counted as computed: the Transformer's decoder self-attention
  scores the full T x T matrix (the causal mask zeroes half of it but the
  kernels compute it), and recurrent attention scores every source position.

`tests/test_benchmarks.py` checks these counts against
`torch.utils.flop_counter.FlopCounterMode` on real models (to the FLOP).
"""

GATES = {"rnn": 1, "gru": 3, "lstm": 4, "mingru": 2, "minlstm": 3}  # weight blocks per recurrent cell
# The minimal cells read only their input: no recurrent weight matrix (scan.py).
INPUT_ONLY = ("mingru", "minlstm")


def recurrent_cell_flops(cell: str, input_size: int, units: int) -> int:
    """One time step of one direction of one layer: gates x (W_ih x + W_hh h), or gates x W x for the minimal
    cells (their scan's elementwise work is not a matrix product and not counted)."""
    return 2 * GATES[cell] * units * (input_size + (0 if cell in INPUT_ONLY else units))


def recurrent_forward_flops(config, source_length: int, target_length: int) -> dict[str, int]:
    """Forward FLOPs of one pair for any recurrent Lineage model (RNN, GRU, LSTM, minGRU, minLSTM).

    Parts:
        encoder_recurrent: every layer and direction, per source token
            (a bidirectional encoder gives each direction hidden_size // 2 units;
            layers above the first read both directions' outputs). minGRU and
            minLSTM: one projection of the layer's input per token, whose products
            are the same whether the scan or the step loop runs the recurrence.
        decoder_recurrent: every decoder layer, per target token (the first
            layer's input is the embedding, plus the context for Bahdanau, plus
            the previous attentional vector with input feeding).
        bridge: tanh(W s + b) once per pair, per decoder layer (twice for LSTM: hidden and cell).
        attention: luong-general: W^T q (H x H) + scores (S x H) + context (S x H)
            per target token; luong-dot: scores + context; bahdanau: keys U m per
            source token, W q per target token, v^T over the (S, H) energies and the
            context per target token; none: 0.
        pre_output: tanh(W [context; output]) -> embedding_size, per target token.
        lm_head: embedding_size x vocab_size, per target token.
        copy_gate: w^T [context; output; input embedding] per target token (copy attention).
        coverage: the coverage term of the scores per target token: q^T u for Luong,
            coverage_i u inside the tanh of every source position for Bahdanau.
        embedding_residual: the source embedding's projection (E x H) per source token
            (source_embedding_residual).
        (The copy distribution's softmax, scatter and log are elementwise, not counted.)
    """
    S, T = source_length, target_length
    H, E, V = config.hidden_size, config.embedding_size, config.vocab_size
    cell = config.cell
    directions = 2 if config.bidirectional else 1
    units = H // directions

    encoder = 0
    for layer in range(config.encoder_layers):
        input_size = E if layer == 0 else units * directions
        encoder += directions * recurrent_cell_flops(cell, input_size, units)

    bahdanau = config.attention == "bahdanau"
    first_input = E + (H if bahdanau else 0) + (E if config.input_feeding else 0)
    decoder = sum(
        recurrent_cell_flops(cell, first_input if layer == 0 else H, H) for layer in range(config.decoder_layers)
    )

    bridges = config.decoder_layers * (2 if cell == "lstm" else 1)
    scores_and_context = 2 * S * H + 2 * S * H
    if config.attention == "none":
        attention = 0
    elif config.attention == "luong-dot":
        attention = T * scores_and_context
    elif config.attention == "luong-general":
        attention = T * (2 * H * H + scores_and_context)
    elif config.attention == "bahdanau":
        attention = S * 2 * H * H + T * (2 * H * H + scores_and_context)
    else:
        raise ValueError(f"unknown attention {config.attention!r}")
    pre_output_inputs = H * (2 if config.attention != "none" else 1)
    coverage = 0
    if getattr(config, "coverage", False):
        coverage = T * 2 * H * (S if bahdanau else 1)

    return {
        "encoder_recurrent": S * encoder,
        "decoder_recurrent": T * decoder,
        "bridge": bridges * 2 * H * H,
        "attention": attention,
        "pre_output": T * 2 * pre_output_inputs * E,
        "lm_head": T * 2 * E * V,
        "copy_gate": T * 2 * (2 * H + E) if getattr(config, "copy_attention", False) else 0,
        "coverage": coverage,
        "embedding_residual": S * 2 * E * H if getattr(config, "source_embedding_residual", False) else 0,
    }


def transformer_forward_flops(config, source_length: int, target_length: int) -> dict[str, int]:
    """Forward FLOPs of one pair for the Transformer (`PegasusConfig`, pre-norm, ReLU FFN; layer norms not counted).

    Parts (d = d_model, f = ffn dim, per layer):
        encoder_projections: Q, K, V, O (4 d x d) and the FFN (d x f, f x d), per source token.
        encoder_attention: Q K^T and weights x V, 2 x (2 S S d) per pair (all heads together).
        decoder_projections: self-attention Q, K, V, O and the FFN per target token;
            cross-attention Q, O per target token and K, V per source token.
        decoder_attention: self-attention over the full T x T matrix and
            cross-attention over T x S, each 2 x (2 . d) per score.
        lm_head: d x vocab_size per target token.
    """
    S, T = source_length, target_length
    d, V = config.d_model, config.vocab_size
    encoder_ffn, decoder_ffn = config.encoder_ffn_dim, config.decoder_ffn_dim
    encoder_layers, decoder_layers = config.encoder_layers, config.decoder_layers
    return {
        "encoder_projections": encoder_layers * S * (8 * d * d + 4 * d * encoder_ffn),
        "encoder_attention": encoder_layers * 4 * S * S * d,
        "decoder_projections": decoder_layers * (T * (8 * d * d + 4 * d * decoder_ffn + 4 * d * d) + S * 4 * d * d),
        "decoder_attention": decoder_layers * (4 * T * T * d + 4 * T * S * d),
        "lm_head": T * 2 * d * V,
    }


def forward_flops(config, source_length: int, target_length: int) -> dict[str, int]:
    """Forward FLOPs of one pair, by part, for any Lineage model config."""
    if config.model_type == "pegasus":
        return transformer_forward_flops(config, source_length, target_length)
    if config.model_type in ("lineage-rnn", "lineage-lstm", "lineage-mingru", "lineage-minlstm"):
        return recurrent_forward_flops(config, source_length, target_length)
    raise ValueError(f"no FLOP count for model_type {config.model_type!r}")


def training_flops_per_target_token(config, length: int) -> float:
    """Training (forward + backward) FLOPs per target token at source length == target length == `length`."""
    return 3 * sum(forward_flops(config, length, length).values()) / length
