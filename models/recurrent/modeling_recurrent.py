"""Recurrent encoder-decoder models: RNN/GRU, LSTM, minGRU and minLSTM, with or without attention.

One implementation serves every architecture (`RNNForConditionalGeneration`,
`LSTMForConditionalGeneration`, `MinGRUForConditionalGeneration` and
`MinLSTMForConditionalGeneration` differ only in their config class). Read
top to bottom:

1. the encoder: the shared embedding, then a packed (bidirectional) nn.RNN /
   nn.GRU / nn.LSTM, so padding never changes a sequence's result; the
   minimal cells (scan.py: MinGRU, MinLSTM) take the lengths instead of a
   packed batch, to the same effect;
2. the attention: Bahdanau (additive) or Luong (dot / general), masking
   padded source positions;
3. the decoder: a bridge from the encoder's final state to the decoder's
   initial state, a recurrent network, attention (optionally with coverage),
   a pre-output layer (Luong's attentional vector tanh(W[c; h])) of the
   embedding's size, so the output layer can be tied to the embedding, and
   the pointer-generator's copy gate;
4. the models: the copy mixture (pointer-generator, See et al. 2017), loss
   from `labels` (plus the coverage loss), and `generate()` support with the
   recurrent state as the generation cache (`cache`, `past_key_values`
   before transformers 5.24).

Speed: where the attention allows it (none, Luong without input feeding) the
decoder runs one fused recurrent call over all target positions and scores
every position at once. Bahdanau attention (its query is the previous decoder
state and its context is part of the recurrent input) and input feeding (the
previous attentional vector is part of the input) need a per-step loop.
Coverage keeps the fused recurrent call but loops the attention over steps
(each step's scores read the attention summed so far). For minGRU / minLSTM
the fused call is a log-space parallel scan over all positions, and a cached
decoding step is one step of their linear recurrence (see scan.py).

This file travels with published models: it imports torch, transformers, its
configuration and scan.py (relatively) only.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput

from .configuration_recurrent import LSTMConfig, MinGRUConfig, MinLSTMConfig, RecurrentConfig, RNNConfig
from .scan import MinGRU, MinimalRecurrence, MinLSTM

# Every unit is built as nn.GRU is, (input_size, hidden_size, num_layers=, bidirectional=, batch_first=True,
# dropout=), and called as it is, (inputs, state) -> (outputs, state); MinimalRecurrence follows nn.GRU there.
RECURRENT_UNITS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM, "mingru": MinGRU, "minlstm": MinLSTM}
# transformers 5.24 renamed the outputs' `past_key_values` to `cache`; earlier releases read the old name.
STATE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: the labels shifted one step right,
    starting from `decoder_start_token_id`; ignored labels (-100) become pad."""
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


def check_length(length: int, config: RecurrentConfig, side: str) -> None:
    if length > config.max_position:
        raise ValueError(
            f"sequence too long: the {side} has {length} tokens, max_position is {config.max_position}"
        )


# 1. Encoder -------------------------------------------------------------------------------------


@dataclass
class RecurrentEncoderOutput(ModelOutput):
    """What the encoder gives the decoder. Every tensor is batch-first and top
    level, so `generate()` can expand it for beam search.

    Args:
        last_hidden_state: (batch, source_length, hidden_size) top-layer
            outputs, both directions concatenated (plus the projected source
            embeddings with `source_embedding_residual`); zeros at padded positions.
        source_ids: (batch, source_length) the encoded `input_ids`: copy
            attention scatters its weights onto them.
        final_hidden: (batch, encoder_layers, hidden_size) the final hidden
            state of every layer (forward direction at the last real token,
            backward direction at the first), directions concatenated.
        final_cell: (batch, encoder_layers, hidden_size) the LSTM's final cell
            states, laid out like `final_hidden`; None for the other cells.
        hidden_states: `(last_hidden_state,)` when output_hidden_states.
        attentions: always None (the encoder has no attention).
    """

    last_hidden_state: torch.FloatTensor | None = None
    source_ids: torch.LongTensor | None = None
    final_hidden: torch.FloatTensor | None = None
    final_cell: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class RecurrentEncoder(nn.Module):
    """Embedding, dropout, and a packed multi-layer (bidirectional) recurrent network
    (for minGRU / minLSTM: given the lengths instead of a packed batch).

    A bidirectional encoder gives each direction hidden_size // 2 units, so
    outputs and final states always have hidden_size features.
    """

    main_input_name = "input_ids"  # generate() reads it from the module named `encoder`

    def __init__(self, config: RecurrentConfig, embed_tokens: nn.Embedding):
        super().__init__()
        self.config = config
        self.set_embeddings(embed_tokens)
        directions = 2 if config.bidirectional else 1
        self.rnn = RECURRENT_UNITS[config.cell](
            config.embedding_size,
            config.hidden_size // directions,
            num_layers=config.encoder_layers,
            bidirectional=config.bidirectional,
            batch_first=True,
            dropout=config.hidden_dropout if config.encoder_layers > 1 else 0.0,
        )
        self.embedding_residual = (
            nn.Linear(config.embedding_size, config.hidden_size, bias=False) if config.source_embedding_residual else None
        )
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def set_embeddings(self, embed_tokens: nn.Embedding) -> None:
        # Held but not registered as a submodule: the embedding is registered
        # once, as the model's `shared`, so its weight is saved once whether or
        # not the output layer is tied to it.
        object.__setattr__(self, "embed_tokens", embed_tokens)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> RecurrentEncoderOutput | tuple:
        """Encode right-padded `input_ids` (batch, source_length).

        `attention_mask` marks real tokens with 1 (None: no padding). Padded
        positions are never read: the recurrent network runs on a packed batch,
        or (minimal cells) is given the lengths (see MinimalRecurrence).
        """
        batch, length = input_ids.shape
        if length == 0:
            raise ValueError("empty input: every source needs at least one token (e.g. </s>)")
        lengths = source_lengths(input_ids, attention_mask)
        check_length(int(lengths.max()), self.config, "source")
        embeds = self.embedding_dropout(self.embed_tokens(input_ids))
        # A row that is all padding still runs over one (masked) position.
        if isinstance(self.rnn, MinimalRecurrence):
            outputs, state = self.rnn(embeds, lengths=lengths.clamp(min=1))
        else:
            packed = pack_padded_sequence(embeds, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
            packed_outputs, state = self.rnn(packed)
            outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=length)
        if self.embedding_residual is not None:
            real = torch.arange(length, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)
            outputs = outputs + self.embedding_residual(embeds) * real.unsqueeze(-1).to(outputs.dtype)
        outputs = self.output_dropout(outputs)
        hidden, cell = state if isinstance(state, tuple) else (state, None)
        result = RecurrentEncoderOutput(
            last_hidden_state=outputs,
            source_ids=input_ids,
            final_hidden=self._layers_first(hidden),
            final_cell=None if cell is None else self._layers_first(cell),
            hidden_states=(outputs,) if output_hidden_states else None,
        )
        return result if return_dict is not False else result.to_tuple()

    def _layers_first(self, state: torch.Tensor) -> torch.Tensor:
        # (layers * directions, batch, units) -> (batch, layers, directions * units)
        directions = 2 if self.config.bidirectional else 1
        layers, batch, units = self.config.encoder_layers, state.shape[1], state.shape[2]
        return state.view(layers, directions, batch, units).permute(2, 0, 1, 3).reshape(batch, layers, -1)


def source_lengths(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Lengths of right-padded sources; raises on a mask that is not right-padded."""
    batch, length = input_ids.shape
    if attention_mask is None:
        return torch.full((batch,), length, dtype=torch.long, device=input_ids.device)
    mask = attention_mask.bool()
    lengths = mask.sum(-1)
    positions = torch.arange(length, device=mask.device)
    if not torch.equal(mask, positions.unsqueeze(0) < lengths.unsqueeze(1)):
        raise ValueError("attention_mask must be right-padded: real tokens first, then padding")
    return lengths


# 2. Attention -----------------------------------------------------------------------------------


class RecurrentAttention(nn.Module):
    """Attention of decoder queries over the encoder outputs (the memory).

    - "bahdanau": score(q, m) = v^T tanh(W q + U m) (Bahdanau et al. 2015);
      U m (the keys) is computed once per source, see `keys`.
    - "luong-dot": score(q, m) = q^T m (Luong et al. 2015).
    - "luong-general": score(q, m) = q^T W m, computed as (W^T q)^T m.
    With scaled_attention, Luong scores are divided by sqrt(hidden_size).
    With coverage (See et al. 2017), coverage_i * u is added to the key of
    source position i: inside the tanh for Bahdanau, and for Luong as the
    term (q^T u) coverage_i. u starts at zero, so coverage starts with no effect.
    Padded source positions get zero weight.
    """

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.kind = config.attention
        size = config.hidden_size
        if self.kind == "bahdanau":
            self.query_proj = nn.Linear(size, size, bias=False)
            self.key_proj = nn.Linear(size, size)
            self.energy = nn.Linear(size, 1, bias=False)
        elif self.kind == "luong-general":
            self.query_proj = nn.Linear(size, size, bias=False)
        self.score_scale = size**-0.5 if config.scaled_attention else 1.0
        self.coverage_proj = nn.Linear(1, size, bias=False) if config.coverage else None
        if self.coverage_proj is not None:
            self.coverage_proj.zero_init = True  # read by RecurrentPreTrainedModel._init_weights

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """What queries are scored against: U m for Bahdanau, the memory itself for Luong."""
        return self.key_proj(memory) if self.kind == "bahdanau" else memory

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor,
        coverage: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (batch, steps, hidden), keys/memory (batch, source, hidden), mask (batch, source) bool,
        coverage (batch, source) or None; with coverage, steps must be 1.

        Returns the context vectors (batch, steps, hidden) and the attention
        weights (batch, steps, source).
        """
        if self.kind == "bahdanau":
            if coverage is not None:
                keys = keys + self.coverage_proj(coverage.unsqueeze(-1))
            scores = self.energy(torch.tanh(self.query_proj(query).unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)
        else:
            if self.kind == "luong-general":
                query = self.query_proj(query)
            query = query * self.score_scale
            scores = torch.bmm(query, keys.transpose(1, 2))
            if coverage is not None:
                scores = scores + (query @ self.coverage_proj.weight) * coverage.unsqueeze(1)
        # The most negative finite value, not -inf: exp() of it is exactly 0, and
        # a row with no real position gets uniform weights instead of NaN.
        scores = scores.masked_fill(~mask.unsqueeze(1), torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        return torch.bmm(weights, memory), weights


# 3. Decoder -------------------------------------------------------------------------------------


@dataclass
class DecoderOutput:
    """What one decoder call returns (see `RecurrentDecoder.forward`).

    Args:
        attentional: (batch, steps, embedding_size) pre-output vectors, after dropout.
        state: the new decoder state (see `RecurrentDecoder`).
        weights: (batch, steps, source) attention weights, or None without attention.
        outputs: (batch, steps, hidden_size) top recurrent outputs.
        copy_gate: (batch, steps, 1) p_gen, the probability of generating from
            the vocabulary rather than copying; None without copy attention.
        coverage_penalty: (batch, steps) sum_i min(a_i, coverage_i) at each
            step (unweighted); None without coverage.
    """

    attentional: torch.Tensor
    state: tuple[torch.Tensor, ...]
    weights: torch.Tensor | None
    outputs: torch.Tensor
    copy_gate: torch.Tensor | None = None
    coverage_penalty: torch.Tensor | None = None


class RecurrentDecoder(nn.Module):
    """Bridge, recurrent network, attention, pre-output layer and copy gate.

    The decoder state travels between calls (and through `generate()` as its
    cache) as a tuple of batch-first tensors named by `state_names`, in this
    order: hidden (batch, decoder_layers, hidden_size); cell (same shape,
    LSTM only); the previous attentional vector (batch, embedding_size, input
    feeding only); the coverage (batch, source, coverage only); the attention
    keys (batch, source, hidden_size, Bahdanau only, computed once per source).

    Switches that benchmarks/fast_paths.py turns off to time the model without
    a fast path (the outputs are the same either way): `stepwise` (set on an
    instance) runs the per-step loop where one fused call would do;
    `native_step = False` leaves one-step decoding on the oneDNN kernel.
    """

    native_step = True

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        hidden, embedding = config.hidden_size, config.embedding_size
        self.is_lstm = config.cell == "lstm"
        self.bahdanau = config.attention == "bahdanau"
        self.input_feeding = config.input_feeding
        # Bahdanau attention and input feeding change the recurrent input at
        # every step, so the decoder loops; otherwise one fused call suffices.
        self.stepwise = self.bahdanau or self.input_feeding
        self.state_names = tuple(
            name
            for name, present in (
                ("hidden", True), ("cell", self.is_lstm), ("feed", self.input_feeding),
                ("coverage", config.coverage), ("keys", self.bahdanau),
            )
            if present
        )

        # Bridge: decoder layer j starts from tanh(W_j s + b_j), where s is the
        # final state of encoder layer max(0, j + encoder_layers - decoder_layers):
        # the layer stacks are aligned at the top, extra decoder layers at the
        # bottom reuse the lowest encoder layer. LSTM cell states get their own bridge.
        self.bridge_sources = [
            max(0, j + config.encoder_layers - config.decoder_layers) for j in range(config.decoder_layers)
        ]
        self.bridge_hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(config.decoder_layers))
        self.bridge_cell = (
            nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(config.decoder_layers)) if self.is_lstm else None
        )

        input_size = embedding + (hidden if self.bahdanau else 0) + (embedding if self.input_feeding else 0)
        self.rnn = RECURRENT_UNITS[config.cell](
            input_size,
            hidden,
            num_layers=config.decoder_layers,
            batch_first=True,
            dropout=config.hidden_dropout if config.decoder_layers > 1 else 0.0,
        )
        self.attention = RecurrentAttention(config) if config.attention != "none" else None
        # Pre-output: Luong's attentional vector tanh(W [context; output]) (or
        # tanh(W output) without attention), of the embedding's size.
        self.output_projection = nn.Linear(hidden * (2 if self.attention is not None else 1), embedding)
        # Pointer-generator gate: p_gen = sigmoid(w^T [context; output; input embedding] + b).
        self.copy_gate = nn.Linear(2 * hidden + embedding, 1) if config.copy_attention else None
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def initial_state(self, encoder_outputs: RecurrentEncoderOutput) -> tuple[torch.Tensor, ...]:
        """The decoder state before the first target token, from the encoder's final state."""
        final_hidden, memory = encoder_outputs.final_hidden, encoder_outputs.last_hidden_state
        state = {"hidden": self._bridge(self.bridge_hidden, final_hidden)}
        if self.is_lstm:
            state["cell"] = self._bridge(self.bridge_cell, encoder_outputs.final_cell)
        if self.input_feeding:
            state["feed"] = final_hidden.new_zeros(final_hidden.shape[0], self.config.embedding_size)
        if self.config.coverage:
            state["coverage"] = memory.new_zeros(memory.shape[:2])
        if self.bahdanau:
            state["keys"] = self.attention.keys(memory)
        return tuple(state[name] for name in self.state_names)

    def _bridge(self, layers: nn.ModuleList, final: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [torch.tanh(linear(final[:, source])) for linear, source in zip(layers, self.bridge_sources)], dim=1
        )

    def forward(
        self,
        embeds: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor,
        state: tuple[torch.Tensor, ...],
    ) -> DecoderOutput:
        """Run the decoder over target embeddings (batch, steps, embedding_size) from `state`."""
        state = dict(zip(self.state_names, state))
        rnn_state = self._to_rnn(state)
        keys = state.get("keys", memory)
        coverage, feed = state.get("coverage"), state.get("feed")
        inputs = self.embedding_dropout(embeds)
        contexts = weights = penalty = None

        if not self.stepwise:
            outputs, rnn_state = self._run_rnn(inputs, rnn_state)
            if self.attention is not None:
                contexts, weights, coverage, penalty = self._attend(outputs, keys, memory, mask, coverage)
            attentional = self._pre_output(contexts, outputs)
        else:
            steps = {"outputs": [], "contexts": [], "weights": [], "penalty": [], "attentional": []}
            for step in range(inputs.shape[1]):
                parts = [inputs[:, step : step + 1]]
                if self.bahdanau:
                    # Query: the previous top-layer hidden state.
                    previous = (rnn_state[0] if self.is_lstm else rnn_state)[-1].unsqueeze(1)
                    context, step_weights, coverage, step_penalty = self._attend(previous, keys, memory, mask, coverage)
                    parts.append(context)
                if self.input_feeding:
                    parts.append(feed.unsqueeze(1))
                output, rnn_state = self._run_rnn(torch.cat(parts, dim=-1), rnn_state)
                if not self.bahdanau:  # Luong with input feeding
                    context, step_weights, coverage, step_penalty = self._attend(output, keys, memory, mask, coverage)
                    step_attentional = self._pre_output(context, output)
                    feed = step_attentional.squeeze(1)
                    steps["attentional"].append(step_attentional)
                for name, value in (("outputs", output), ("contexts", context), ("weights", step_weights),
                                    ("penalty", step_penalty)):
                    steps[name].append(value)
            outputs, contexts, weights = (torch.cat(steps[name], dim=1) for name in ("outputs", "contexts", "weights"))
            penalty = torch.cat(steps["penalty"], dim=1) if coverage is not None else None
            # Bahdanau's pre-output needs no loop: batch it over all steps.
            attentional = self._pre_output(contexts, outputs) if self.bahdanau else torch.cat(steps["attentional"], dim=1)

        new_state = {**self._from_rnn(rnn_state), "feed": feed, "coverage": coverage, "keys": keys}
        gate = None
        if self.copy_gate is not None:
            gate = torch.sigmoid(self.copy_gate(torch.cat([contexts, outputs, inputs], dim=-1)))
        return DecoderOutput(
            self.output_dropout(attentional), tuple(new_state[name] for name in self.state_names), weights, outputs,
            gate, penalty,
        )

    def _attend(self, queries, keys, memory, mask, coverage):
        """Attention for every query step: at once, or step by step when coverage accumulates.

        Returns contexts (batch, steps, hidden), weights (batch, steps, source),
        the updated coverage and the coverage penalty (batch, steps), both None
        without coverage.
        """
        if coverage is None:
            contexts, weights = self.attention(queries, keys, memory, mask)
            return contexts, weights, None, None
        contexts, weights, penalties = [], [], []
        for step in range(queries.shape[1]):
            context, step_weights = self.attention(queries[:, step : step + 1], keys, memory, mask, coverage)
            step_weights = step_weights.squeeze(1)
            penalties.append(torch.minimum(step_weights, coverage).sum(-1))
            coverage = coverage + step_weights
            contexts.append(context)
            weights.append(step_weights)
        return torch.cat(contexts, dim=1), torch.stack(weights, dim=1), coverage, torch.stack(penalties, dim=1)

    def _pre_output(self, contexts: torch.Tensor | None, outputs: torch.Tensor) -> torch.Tensor:
        features = outputs if contexts is None else torch.cat([contexts, outputs], dim=-1)
        return torch.tanh(self.output_projection(features))

    def _run_rnn(self, inputs: torch.Tensor, rnn_state):
        # oneDNN's LSTM kernel has a fixed cost per call on top of the arithmetic: it wins over whole
        # sequences, but loses on the one-token steps of cached decoding, where PyTorch's native kernel
        # is faster (benchmarks/fast_paths.py measures both).
        if not self.native_step or inputs.shape[1] > 1 or torch.is_grad_enabled() or inputs.device.type != "cpu":
            return self.rnn(inputs, rnn_state)
        enabled = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            return self.rnn(inputs, rnn_state)
        finally:
            torch.backends.mkldnn.enabled = enabled

    def _to_rnn(self, state: dict[str, torch.Tensor]):
        # batch-first (batch, layers, hidden) -> what nn.RNN/GRU/LSTM take: (layers, batch, hidden)
        hidden = state["hidden"].transpose(0, 1).contiguous()
        if self.is_lstm:
            return hidden, state["cell"].transpose(0, 1).contiguous()
        return hidden

    def _from_rnn(self, rnn_state) -> dict[str, torch.Tensor]:
        if self.is_lstm:
            return {"hidden": rnn_state[0].transpose(0, 1), "cell": rnn_state[1].transpose(0, 1)}
        return {"hidden": rnn_state.transpose(0, 1)}


# 4. Models --------------------------------------------------------------------------------------


def mix_copy_distribution(
    logits: torch.Tensor, gate: torch.Tensor, weights: torch.Tensor, source_ids: torch.Tensor
) -> torch.Tensor:
    """The pointer-generator's output, as logits: log(p_gen P_vocab + (1 - p_gen) P_copy).

    P_copy(w) is the attention weight summed over the source positions holding
    token w (the vocabulary is joint, so source ids are output ids). The
    result is a log-distribution, so softmax / log_softmax of it (as the loss
    and generate() apply) give it back unchanged.
    """
    gate = gate.float()
    index = source_ids.unsqueeze(1).expand(-1, weights.shape[1], -1)
    # The copy mass is added at the source ids only: no second (batch, steps, vocabulary) tensor.
    mixed = (gate * torch.softmax(logits.float(), dim=-1)).scatter_add(-1, index, (1 - gate) * weights.float())
    return torch.log(mixed.clamp_min(1e-12))


@dataclass
class RecurrentSeq2SeqLMOutput(Seq2SeqLMOutput):
    """`Seq2SeqLMOutput` plus the coverage penalty, which a training loop adds to its loss.

    Args:
        coverage_penalty: (batch, target_length) coverage_loss_weight *
            sum_i min(a_i, coverage_i) at each target step (See et al. 2017);
            None without coverage. `loss` (from `labels`) already includes its
            mean over the non-ignored labels.
    """

    coverage_penalty: torch.FloatTensor | None = None


class RecurrentPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the transformers class attributes shared by the recurrent models."""

    config_class = RecurrentConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    # The decoder state cannot be rolled back, which assisted generation would need.
    _is_stateful = True
    # Honoured only when config.tie_word_embeddings is True.
    _tied_weights_keys = {"lm_head.weight": "shared.weight"}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Embedding (and untied output layer): N(0, embedding_init_std), pad row zero.
        Linear and recurrent layers: PyTorch's defaults (uniform in +-1/sqrt(fan_in)),
        except the coverage feature, which starts at zero (no effect until learned);
        LSTM forget-gate biases sum to 1, so the cell remembers from the start, and
        so does the minLSTM's forget-gate bias (marked `forget_gate` on its projections).

        transformers 5 guards torch.nn.init so loaded weights are not overwritten;
        the in-place slice writes below check the same flag themselves.
        """
        std = self.config.embedding_init_std
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.Linear):
            if getattr(module, "zero_init", False):
                nn.init.zeros_(module.weight)
            elif module is getattr(self, "lm_head", None):
                nn.init.normal_(module.weight, mean=0.0, std=std)  # replaced by the embedding when tied
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            else:
                module.reset_parameters()
                forget = getattr(module, "forget_gate", None)
                if forget is not None and not getattr(module.bias, "_is_hf_initialized", False):
                    module.bias[forget].fill_(1.0)
        elif isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
            module.reset_parameters()
            if isinstance(module, nn.LSTM):
                size = module.hidden_size
                for name, param in module.named_parameters():
                    if name.startswith("bias") and not getattr(param, "_is_hf_initialized", False):
                        # gate order: input, forget, cell, output
                        param[size : 2 * size].fill_(1.0 if name.startswith("bias_ih") else 0.0)


class RecurrentForConditionalGeneration(RecurrentPreTrainedModel):
    """The recurrent encoder-decoder with its language-model head.

    The shared implementation of `RNNForConditionalGeneration`,
    `LSTMForConditionalGeneration`, `MinGRUForConditionalGeneration` and
    `MinLSTMForConditionalGeneration`, which add `GenerationMixin` as a direct base.
    `own_generation_inputs = False` makes generate() prepare each step's inputs
    with GenerationMixin's general method instead of this model's own (a switch
    for benchmarks/fast_paths.py; the outputs are the same either way).
    """

    own_generation_inputs = True

    def __init__(self, config: RecurrentConfig):
        super().__init__(config)
        expected = self.config_class.model_type
        if expected and config.model_type != expected:
            raise ValueError(f"{type(self).__name__} needs a {expected!r} config, got {config.model_type!r}")
        # One embedding for source and target (joint vocabulary).
        self.shared = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.encoder = RecurrentEncoder(config, self.shared)
        self.decoder = RecurrentDecoder(config)
        self.lm_head = nn.Linear(config.embedding_size, config.vocab_size)
        # The attentional vector lies in (-1, 1)^embedding_size and the output rows
        # have std embedding_init_std (1 by default), so unscaled logits grow like
        # sqrt(embedding_size): unscaled, training starts from a high loss; scaled by
        # embedding_size ** -0.5, the logits start too flat and learn slowly. The
        # fourth root in between started lowest and learned fastest on a toy task.
        self.output_scale = config.embedding_size**-0.25
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.shared = value
        self.encoder.set_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def get_encoder(self, *args, **kwargs) -> RecurrentEncoder:
        return self.encoder

    def get_decoder(self, *args, **kwargs) -> RecurrentDecoder:
        return self.decoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: RecurrentEncoderOutput | tuple | None = None,
        past_key_values: tuple[torch.Tensor, ...] | None = None,
        cache: tuple[torch.Tensor, ...] | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput | tuple:
        """
        Args:
            input_ids: (batch, source_length) right-padded source ids; at most
                config.max_position real tokens (a longer source raises a ValueError).
            attention_mask: (batch, source_length) 1 for real source tokens (None: no padding).
            decoder_input_ids: (batch, target_length) decoder inputs; built
                from `labels` by shifting right when not given.
            decoder_attention_mask: accepted for API compatibility and unused:
                the decoder is causal, so right padding of the target never
                changes earlier positions (and padded labels are -100).
            encoder_outputs: precomputed encoder outputs (as `generate()` passes them).
            past_key_values: the decoder state returned by a previous call
                (see `RecurrentDecoder`); decoding continues from it, so only
                the new tokens need to be given.
            cache: the same state under the name `generate()` uses from
                transformers 5.24 on (`past_key_values` before).
            labels: (batch, target_length) target ids, -100 where ignored; at
                most config.max_position of them not ignored (else ValueError). The
                loss is their cross-entropy (with config.label_smoothing),
                averaged over non-ignored labels, or summed and divided by
                `num_items_in_batch` when that is passed (as the Trainer does
                under gradient accumulation).
            use_cache: return the decoder state as `past_key_values`.
            output_attentions: return the attention weights as
                `cross_attentions`: a 1-tuple of (batch, 1, target_length, source_length).
            output_hidden_states: return the encoder outputs and the decoder's
                top recurrent outputs as 1-tuples.

        With `config.copy_attention` the logits are the log of the
        pointer-generator's mixed distribution (see `mix_copy_distribution`).
        """
        config = self.config
        output_attentions = output_attentions if output_attentions is not None else config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else config.return_dict

        encoder_outputs = self._encoded(input_ids, attention_mask, encoder_outputs, output_hidden_states)
        memory = encoder_outputs.last_hidden_state
        if attention_mask is None:
            mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)
        else:
            mask = attention_mask.bool()

        if labels is not None:
            check_length(int((labels != -100).sum(-1).max()), config, "target")
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("pass decoder_input_ids or labels")
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        # generate() may hand over a transformers Cache object (or nothing) at the
        # first step: only our own tuple is a decoder state.
        state = cache if cache is not None else past_key_values
        state = state if isinstance(state, tuple) and len(state) else None
        if state is None:
            state = self.decoder.initial_state(encoder_outputs)

        decoded = self.decoder(self.shared(decoder_input_ids), memory, mask, state)
        logits = self.lm_head(decoded.attentional * self.output_scale)
        if decoded.copy_gate is not None:
            if encoder_outputs.source_ids is None:
                raise ValueError("copy attention needs the source ids: pass input_ids or encoder_outputs.source_ids")
            logits = mix_copy_distribution(logits, decoded.copy_gate, decoded.weights, encoder_outputs.source_ids)
        coverage_penalty = None
        if decoded.coverage_penalty is not None:
            coverage_penalty = config.coverage_loss_weight * decoded.coverage_penalty

        loss = None
        if labels is not None:
            loss = self._loss(logits, labels.to(logits.device), coverage_penalty, kwargs.get("num_items_in_batch"))

        output = RecurrentSeq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{STATE_FIELD: decoded.state if use_cache else None},
            decoder_hidden_states=(decoded.outputs,) if output_hidden_states else None,
            cross_attentions=(decoded.weights.unsqueeze(1),) if output_attentions and decoded.weights is not None else None,
            encoder_last_hidden_state=memory,
            encoder_hidden_states=encoder_outputs.hidden_states,
            coverage_penalty=coverage_penalty,
        )
        return output if return_dict else output.to_tuple()

    def _encoded(self, input_ids, attention_mask, encoder_outputs, output_hidden_states) -> RecurrentEncoderOutput:
        """The encoder outputs: given (as `generate()` passes them, maybe as a tuple) or computed now."""
        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError("pass input_ids (or precomputed encoder_outputs)")
            return self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states, return_dict=True)
        if not isinstance(encoder_outputs, RecurrentEncoderOutput):
            return RecurrentEncoderOutput(*encoder_outputs)
        return encoder_outputs

    def _loss(self, logits, labels, coverage_penalty, num_items_in_batch) -> torch.Tensor:
        """Cross-entropy of the non-ignored labels (plus the coverage penalty): their mean, or their sum
        over `num_items_in_batch` when the Trainer passes it under gradient accumulation."""
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=-100,
            label_smoothing=self.config.label_smoothing,
            reduction="mean" if num_items_in_batch is None else "sum",
        )
        if coverage_penalty is not None:
            penalty = coverage_penalty[labels != -100].float().sum()
            loss = loss + (penalty if num_items_in_batch is not None else penalty / (labels != -100).sum())
        if num_items_in_batch is not None:
            loss = loss / num_items_in_batch
        return loss

    # generate() support ------------------------------------------------------------------------

    def prepare_inputs_for_generation(
        self,
        decoder_input_ids: torch.LongTensor,
        past_key_values: tuple[torch.Tensor, ...] | None = None,
        cache: tuple[torch.Tensor, ...] | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_outputs: RecurrentEncoderOutput | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> dict:
        """generate()'s inputs for the next step: only the newest token once a decoder state exists.

        Replaces GenerationMixin's general version, whose per-step work for
        attention-mask, position and cache types (and signature inspection)
        this model does not need: a noticeable share of a cached decoding step on CPU.
        """
        if not self.own_generation_inputs:
            # One name for the state, the one this transformers reads: given both, 5.24 warns on every step.
            named = {STATE_FIELD: cache if cache is not None else past_key_values}
            return super().prepare_inputs_for_generation(
                decoder_input_ids, attention_mask=attention_mask, encoder_outputs=encoder_outputs,
                use_cache=use_cache, **named, **kwargs)
        state = cache if cache is not None else past_key_values
        state = state if isinstance(state, tuple) and len(state) else None
        inputs = {
            "decoder_input_ids": decoder_input_ids if state is None else decoder_input_ids[:, -1:],
            "cache": state,
            "attention_mask": attention_mask,
            "encoder_outputs": encoder_outputs,
            "use_cache": use_cache,
        }
        for name in ("output_attentions", "output_hidden_states"):
            if name in kwargs:
                inputs[name] = kwargs[name]
        return inputs

    # The two private GenerationMixin hooks below stay because transformers has no public API for a model whose
    # state is not a transformers Cache (the alternative, a Cache subclass, would have to implement its
    # key/value layer interface for a state that has none). tests/test_recurrent.py
    # (test_generation_still_calls_the_private_cache_hooks) fails at once if generate() stops calling them.

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # The decoder state is a tuple of tensors: generate() must not build a DynamicCache for it.
        return False

    @staticmethod
    def _reorder_cache(past_key_values: tuple[torch.Tensor, ...], beam_idx: torch.Tensor) -> tuple:
        """Beam search: keep the states of the surviving beams (every state tensor is batch-first)."""
        return tuple(tensor.index_select(0, beam_idx.to(tensor.device)) for tensor in past_key_values)


class RNNForConditionalGeneration(RecurrentForConditionalGeneration, GenerationMixin):
    """Recurrent (tanh RNN or GRU, see `RNNConfig.cell`) encoder-decoder for sequence-to-sequence generation."""

    config_class = RNNConfig


class LSTMForConditionalGeneration(RecurrentForConditionalGeneration, GenerationMixin):
    """LSTM encoder-decoder for sequence-to-sequence generation."""

    config_class = LSTMConfig


class MinGRUForConditionalGeneration(RecurrentForConditionalGeneration, GenerationMixin):
    """minGRU encoder-decoder for sequence-to-sequence generation (see `MinGRUConfig`)."""

    config_class = MinGRUConfig


class MinLSTMForConditionalGeneration(RecurrentForConditionalGeneration, GenerationMixin):
    """minLSTM encoder-decoder for sequence-to-sequence generation (see `MinLSTMConfig`)."""

    config_class = MinLSTMConfig
