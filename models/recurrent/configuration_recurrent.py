"""Configurations of the recurrent encoder-decoder models (RNN/GRU, LSTM, minGRU, minLSTM).

`RNNConfig`, `LSTMConfig`, `MinGRUConfig` and `MinLSTMConfig` share every
field through `RecurrentConfig`; they differ only in the recurrent unit
(`RNNConfig.cell` chooses a tanh RNN or a GRU, the others have one unit each)
and in `model_type`, which the Auto classes use to pick the model class.

Generation defaults (beam size, maximum length, ...) are not config fields:
they belong in the model's `GenerationConfig`.
"""

from transformers import PretrainedConfig

ATTENTION_TYPES = ("none", "bahdanau", "luong-dot", "luong-general")


class RecurrentConfig(PretrainedConfig):
    r"""
    Configuration shared by the recurrent sequence-to-sequence models: an
    embedding shared by source and target (joint vocabulary), a
    (bidirectional) recurrent encoder, a bridge from the encoder's final state
    to the decoder's initial state, a recurrent decoder with optional
    attention, and an output layer (tied to the embedding by default).

    Args:
        vocab_size (`int`, *optional*, defaults to 8000):
            Size of the joint source/target vocabulary: rows of the shared
            embedding and outputs of the language-model head.
        embedding_size (`int`, *optional*, defaults to 256):
            Size of the token embeddings. The decoder's pre-output layer
            produces vectors of this size, so the output layer can be tied to
            the embedding whatever `hidden_size` is.
        hidden_size (`int`, *optional*, defaults to 256):
            Size of the decoder state and of the encoder outputs (the memory
            attention reads). A bidirectional encoder gives each direction
            `hidden_size // 2` units and concatenates them (as OpenNMT does),
            so encoder outputs always have `hidden_size` features; it must
            then be even.
        encoder_layers (`int`, *optional*, defaults to 1):
            Number of stacked recurrent layers in the encoder.
        decoder_layers (`int`, *optional*, defaults to 1):
            Number of stacked recurrent layers in the decoder. The bridge maps
            the encoder's layers onto the decoder's aligned at the top:
            decoder layer `j` starts from encoder layer
            `max(0, j + encoder_layers - decoder_layers)`.
        bidirectional (`bool`, *optional*, defaults to `True`):
            Whether the encoder reads the source in both directions.
        attention (`str`, *optional*, defaults to `"luong-general"`):
            Attention over the encoder outputs: `"none"` (the Sutskever / Cho
            setting: the decoder sees the source only through its initial
            state), `"bahdanau"` (additive; the previous decoder state is the
            query and the context is fed into the recurrent input, which needs
            a per-step loop), `"luong-dot"` or `"luong-general"`
            (multiplicative; the current decoder output is the query, so all
            decoder steps are scored at once after one fused recurrent call).
        scaled_attention (`bool`, *optional*, defaults to `False`):
            Divides the Luong scores by sqrt(hidden_size), as the Transformer's
            scaled dot-product attention does. Unscaled, a score grows with
            the width and magnitude of the states: a wide tanh RNN's attention
            starts sharply peaked on random positions, where its gradients
            are small. Luong attention only.
        source_embedding_residual (`bool`, *optional*, defaults to `False`):
            Adds each source token's embedding (projected to `hidden_size`) to
            the encoder output at its position, as ConvS2S does for its
            attention (Gehring et al. 2017): the attention then reads which
            token sits at a position beside what the recurrence made of it.
            It helps where the recurrence alone encodes its tokens poorly (the
            plain RNN over dialogue-length sources).
        input_feeding (`bool`, *optional*, defaults to `False`):
            Luong's input feeding: the previous step's attentional vector is
            concatenated to the decoder input. Needs a per-step loop and a
            Luong attention.
        copy_attention (`bool`, *optional*, defaults to `False`):
            Pointer-generator copying (See et al. 2017): at every step a
            learned gate p_gen = sigmoid(w^T [context; decoder output; input
            embedding] + b) mixes the vocabulary distribution with the
            attention weights scattered onto the source token ids. The
            vocabulary is joint, so a source token's id is its output id and
            no extended vocabulary is needed. The model's logits are then the
            log of the mixed distribution. Needs an attention.
        coverage (`bool`, *optional*, defaults to `False`):
            Coverage (See et al. 2017): the running sum of past attention
            weights over each source position enters the attention score
            (`coverage_i * u` is added to the key of position i, u learned),
            and a coverage loss penalises attending again to what is already
            covered. Needs an attention; the attention then runs step by step
            (the recurrent network itself stays one fused call for Luong
            attention without input feeding).
        coverage_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the coverage loss sum_i min(a_i, coverage_i), averaged
            over target tokens and added to the cross-entropy (See et al. use
            1.0). Only used with `coverage`.
        embedding_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the source and target embeddings.
        hidden_dropout (`float`, *optional*, defaults to 0.1):
            Dropout between stacked recurrent layers, on the encoder outputs
            and on the decoder's pre-output (attentional) vectors.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Whether the language-model head shares its weight with the
            embedding.
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Label smoothing of the cross-entropy loss the model computes from
            `labels`.
        embedding_init_std (`float`, *optional*, defaults to 1.0):
            Standard deviation of the normal initialisation of the embedding
            (and of an untied output layer). Small values (e.g. 0.1) make
            recurrent models train very slowly. The decoder's pre-output is
            scaled by `embedding_size ** -0.25` before the output layer, which
            keeps initial logits moderate at this scale.
        max_position (`int`, *optional*, defaults to 512):
            Longest source (real tokens of `input_ids`) or target (labels
            that are not -100) accepted, in tokens; longer ones raise a
            `ValueError`. Generation is not cut at this length: its limits
            come from the `GenerationConfig`.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token.
        bos_token_id (`int`, *optional*, defaults to 1):
            Id of the beginning-of-sequence token.
        eos_token_id (`int`, *optional*, defaults to 2):
            Id of the end-of-sequence token; every encoded sequence ends with it.
        decoder_start_token_id (`int`, *optional*, defaults to 1):
            Id the decoder starts from (the bos token).
        cell (`str`, *optional*):
            The recurrent unit, "rnn", "gru", "lstm", "mingru" or "minlstm";
            each subclass accepts its own (see `RNNConfig`, `LSTMConfig`,
            `MinGRUConfig`, `MinLSTMConfig`).
    """

    # Recurrent units the `cell` field accepts; subclasses narrow it.
    cells = ("rnn", "gru", "lstm", "mingru", "minlstm")

    def __init__(
        self,
        vocab_size: int = 8000,
        embedding_size: int = 256,
        hidden_size: int = 256,
        encoder_layers: int = 1,
        decoder_layers: int = 1,
        bidirectional: bool = True,
        attention: str = "luong-general",
        scaled_attention: bool = False,
        source_embedding_residual: bool = False,
        input_feeding: bool = False,
        copy_attention: bool = False,
        coverage: bool = False,
        coverage_loss_weight: float = 1.0,
        embedding_dropout: float = 0.1,
        hidden_dropout: float = 0.1,
        tie_word_embeddings: bool = True,
        label_smoothing: float = 0.0,
        embedding_init_std: float = 1.0,
        max_position: int = 512,
        pad_token_id: int = 0,
        bos_token_id: int = 1,
        eos_token_id: int = 2,
        decoder_start_token_id: int = 1,
        cell: str | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.bidirectional = bidirectional
        self.attention = attention
        self.scaled_attention = scaled_attention
        self.source_embedding_residual = source_embedding_residual
        self.input_feeding = input_feeding
        self.copy_attention = copy_attention
        self.coverage = coverage
        self.coverage_loss_weight = coverage_loss_weight
        self.embedding_dropout = embedding_dropout
        self.hidden_dropout = hidden_dropout
        self.tie_word_embeddings = tie_word_embeddings
        self.label_smoothing = label_smoothing
        self.embedding_init_std = embedding_init_std
        self.max_position = max_position
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.decoder_start_token_id = decoder_start_token_id
        self.cell = self.cells[0] if cell is None else cell
        self._validate()
        kwargs.pop("is_encoder_decoder", None)
        # Passed on as well: transformers 4.x's PretrainedConfig.__init__ has
        # these arguments and would reset them to its own defaults.
        super().__init__(
            is_encoder_decoder=True,
            tie_word_embeddings=tie_word_embeddings,
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            decoder_start_token_id=decoder_start_token_id,
            **kwargs,
        )

    def _validate(self) -> None:
        name = type(self).__name__
        if self.cell not in self.cells:
            raise ValueError(f"{name}: unknown cell {self.cell!r}, choose one of {', '.join(self.cells)}")
        if self.attention not in ATTENTION_TYPES:
            raise ValueError(
                f"{name}: unknown attention {self.attention!r}, choose one of {', '.join(ATTENTION_TYPES)}"
            )
        sizes = ("vocab_size", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "max_position")
        for field in sizes:
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: {field} must be a positive integer, got {value!r}")
        if self.bidirectional and self.hidden_size % 2:
            raise ValueError(
                f"{name}: a bidirectional encoder splits hidden_size between its two directions, "
                f"so hidden_size must be even, got {self.hidden_size}"
            )
        if self.input_feeding and not self.attention.startswith("luong"):
            raise ValueError(
                f"{name}: input_feeding feeds Luong's attentional vector and needs attention "
                f"'luong-dot' or 'luong-general', got attention={self.attention!r}"
            )
        if self.scaled_attention and not self.attention.startswith("luong"):
            raise ValueError(f"{name}: scaled_attention scales Luong scores and needs attention 'luong-dot' or "
                             f"'luong-general', got attention={self.attention!r}")
        for field in ("copy_attention", "coverage"):
            if getattr(self, field) and self.attention == "none":
                raise ValueError(f"{name}: {field} reads the attention weights and needs an attention, got attention='none'")
        if not self.coverage_loss_weight >= 0:
            raise ValueError(f"{name}: coverage_loss_weight must be non-negative, got {self.coverage_loss_weight!r}")
        for field in ("embedding_dropout", "hidden_dropout", "label_smoothing"):
            value = getattr(self, field)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}: {field} must be in [0, 1), got {value!r}")
        if not self.embedding_init_std > 0:
            raise ValueError(f"{name}: embedding_init_std must be positive, got {self.embedding_init_std!r}")
        for field in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
            value = getattr(self, field)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name}: {field}={value} is outside the vocabulary (vocab_size={self.vocab_size})")


class RNNConfig(RecurrentConfig):
    r"""
    Configuration of `RNNForConditionalGeneration`: a plain recurrent
    encoder-decoder. Takes every argument of `RecurrentConfig`, plus:

    Args:
        cell (`str`, *optional*, defaults to `"rnn"`):
            The recurrent unit: `"rnn"` (Elman RNN with tanh) or `"gru"`
            (gated recurrent unit, Cho et al. 2014).
    """

    model_type = "lineage-rnn"
    cells = ("rnn", "gru")

    # transformers 5 turns a config subclass without its own `__init__` into a
    # dataclass with a generated one, which would skip RecurrentConfig's.
    def __init__(self, cell: str = "rnn", **kwargs):
        super().__init__(cell=cell, **kwargs)


class LSTMConfig(RecurrentConfig):
    r"""
    Configuration of `LSTMForConditionalGeneration`: an LSTM encoder-decoder.
    Takes every argument of `RecurrentConfig`; the recurrent unit (`cell`) is
    always `"lstm"`.
    """

    model_type = "lineage-lstm"
    cells = ("lstm",)

    def __init__(self, **kwargs):  # see RNNConfig.__init__
        super().__init__(**kwargs)


# What MinGRUConfig's and MinLSTMConfig's docstrings say about both minimal cells.
MINIMAL_CELLS_DOC = """
    The minimal cells (Feng et al. 2024, "Were RNNs All We Needed?") compute
    their gates and candidate from the input x_t alone, never from h_{t-1}.
    Each layer is then one linear projection of its input followed by the
    linear recurrence h_t = a_t h_{t-1} + b_t (0 < a_t < 1, b_t > 0), with
    g(x) = x + 1/2 for x >= 0 and sigmoid(x) below (always positive). The
    state is one vector per layer (the minLSTM has no cell state), so the
    decoder state and the generation cache are shaped as the GRU's.
    Layers stack as nn.GRU's do: each layer's output feeds the next, with
    `hidden_dropout` in between (the paper's language models add residual
    connections, normalisation and MLPs between layers; these do not).

    Over a whole sequence (the encoder; the decoder in training and without
    a cache) every h_t comes from one parallel scan in log space (Heinsen
    2023, `scan.log_space_scan`): log h_t = a*_t + logcumsumexp(log b - a*)_t
    with a* the cumulative sum of log a_t, in chunks of 16 positions whose
    entering states are carried by the recurrence (float32 error 1e-6 to
    1e-5 of |h| + 1 at any length). Cached decoding steps run the recurrence
    h_t = a_t h_{t-1} + b_t itself. Both compute in float32 at least, also
    under bfloat16 autocast or weights. The encoder handles padding without
    packing: its backward direction reverses each source within its length.

    What the other options cost with these cells:
    - `attention="none"`, `"luong-dot"`, `"luong-general"` (without input
      feeding): the decoder keeps the parallel scan over all target
      positions and scores every position at once.
    - `attention="bahdanau"` and `input_feeding`: the recurrent input at
      step t depends on the state at t - 1 (Bahdanau's context is computed
      from it; input feeding feeds the previous attentional vector), so the
      decoder loses the parallel scan and loops over target positions, one
      projection and one recurrence step per position, as the LSTM does.
    - `coverage`: the scan is kept; only the attention loops over steps.
    - `copy_attention`, `scaled_attention`, `source_embedding_residual`:
      no effect on the recurrence.
"""


class MinGRUConfig(RecurrentConfig):
    r"""
    Configuration of `MinGRUForConditionalGeneration`: a minGRU
    encoder-decoder. Takes every argument of `RecurrentConfig`; the recurrent
    unit (`cell`) is always `"mingru"`:

        z_t = sigmoid(Linear_z(x_t)),  h~_t = g(Linear_h(x_t)),
        h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

    (one projection of 2 * units outputs per layer and direction).
    """

    model_type = "lineage-mingru"
    cells = ("mingru",)

    def __init__(self, **kwargs):  # see RNNConfig.__init__
        super().__init__(**kwargs)


class MinLSTMConfig(RecurrentConfig):
    r"""
    Configuration of `MinLSTMForConditionalGeneration`: a minLSTM
    encoder-decoder. Takes every argument of `RecurrentConfig`; the recurrent
    unit (`cell`) is always `"minlstm"`:

        f_t = sigmoid(Linear_f(x_t)),  i_t = sigmoid(Linear_i(x_t)),
        h~_t = g(Linear_h(x_t)),  f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t),
        h_t = f'_t * h_{t-1} + i'_t * h~_t

    (one projection of 3 * units outputs per layer and direction; the
    forget gate's bias starts at 1, as the LSTM's does, so the state leans
    towards remembering from the start).
    """

    model_type = "lineage-minlstm"
    cells = ("minlstm",)

    def __init__(self, **kwargs):  # see RNNConfig.__init__
        super().__init__(**kwargs)


MinGRUConfig.__doc__ += MINIMAL_CELLS_DOC
MinLSTMConfig.__doc__ += MINIMAL_CELLS_DOC
