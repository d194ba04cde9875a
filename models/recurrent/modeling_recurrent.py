"""Recurrent encoder-decoder models: RNN/GRU and LSTM, with or without attention.

One implementation serves both architectures (`RNNForConditionalGeneration`
and `LSTMForConditionalGeneration` differ only in their config class). Read
top to bottom:

1. the encoder: the shared embedding, then a packed (bidirectional) nn.RNN /
   nn.GRU / nn.LSTM, so padding never changes a sequence's result;
2. the attention: Bahdanau (additive) or Luong (dot / general), masking
   padded source positions;
3. the decoder: a bridge from the encoder's final state to the decoder's
   initial state, a recurrent network, attention, and a pre-output layer
   (Luong's attentional vector tanh(W[c; h])) of the embedding's size, so the
   output layer can be tied to the embedding;
4. the models: loss from `labels`, and `generate()` support with the
   recurrent state as the generation cache (`cache`, `past_key_values`
   before transformers 5.24).

Speed: where the attention allows it (none, Luong without input feeding) the
decoder runs one fused recurrent call over all target positions and scores
every position at once. Bahdanau attention (its query is the previous decoder
state and its context is part of the recurrent input) and input feeding (the
previous attentional vector is part of the input) need a per-step loop.

This file travels with published models: it imports torch, transformers and
its configuration (relatively) only.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput

from .configuration_recurrent import LSTMConfig, RecurrentConfig, RNNConfig

RECURRENT_UNITS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
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
            outputs, both directions concatenated; zeros at padded positions.
        final_hidden: (batch, encoder_layers, hidden_size) the final hidden
            state of every layer (forward direction at the last real token,
            backward direction at the first), directions concatenated.
        final_cell: (batch, encoder_layers, hidden_size) the LSTM's final cell
            states, laid out like `final_hidden`; None for RNN/GRU.
        hidden_states: `(last_hidden_state,)` when output_hidden_states.
        attentions: always None (the encoder has no attention).
    """

    last_hidden_state: torch.FloatTensor | None = None
    final_hidden: torch.FloatTensor | None = None
    final_cell: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class RecurrentEncoder(nn.Module):
    """Embedding, dropout, and a packed multi-layer (bidirectional) recurrent network.

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
        positions are never read: the recurrent network runs on a packed batch.
        """
        batch, length = input_ids.shape
        if length == 0:
            raise ValueError("empty input: every source needs at least one token (e.g. </s>)")
        lengths = source_lengths(input_ids, attention_mask)
        check_length(int(lengths.max()), self.config, "source")
        embeds = self.embedding_dropout(self.embed_tokens(input_ids))
        # A row that is all padding still runs over one (masked) position.
        packed = pack_padded_sequence(embeds, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        packed_outputs, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=length)
        outputs = self.output_dropout(outputs)
        hidden, cell = state if isinstance(state, tuple) else (state, None)
        result = RecurrentEncoderOutput(
            last_hidden_state=outputs,
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

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """What queries are scored against: U m for Bahdanau, the memory itself for Luong."""
        return self.key_proj(memory) if self.kind == "bahdanau" else memory

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (batch, steps, hidden), keys/memory (batch, source, hidden), mask (batch, source) bool.

        Returns the context vectors (batch, steps, hidden) and the attention
        weights (batch, steps, source).
        """
        if self.kind == "bahdanau":
            scores = self.energy(torch.tanh(self.query_proj(query).unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)
        else:
            if self.kind == "luong-general":
                query = self.query_proj(query)
            scores = torch.bmm(query, keys.transpose(1, 2))
        # The most negative finite value, not -inf: exp() of it is exactly 0, and
        # a row with no real position gets uniform weights instead of NaN.
        scores = scores.masked_fill(~mask.unsqueeze(1), torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        return torch.bmm(weights, memory), weights


# 3. Decoder -------------------------------------------------------------------------------------


class RecurrentDecoder(nn.Module):
    """Bridge, recurrent network, attention and pre-output layer.

    The decoder state travels between calls (and through `generate()` as
    `past_key_values`) as a tuple of batch-first tensors, in this order:
    hidden (batch, decoder_layers, hidden_size); cell (same shape, LSTM only);
    the previous attentional vector (batch, embedding_size, input feeding
    only); the attention keys (batch, source, hidden_size, Bahdanau only,
    computed once per source).
    """

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
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def initial_state(self, encoder_outputs: RecurrentEncoderOutput) -> tuple[torch.Tensor, ...]:
        """The decoder state before the first target token, from the encoder's final state."""
        final_hidden = encoder_outputs.final_hidden
        state = [self._bridge(self.bridge_hidden, final_hidden)]
        if self.is_lstm:
            state.append(self._bridge(self.bridge_cell, encoder_outputs.final_cell))
        if self.input_feeding:
            state.append(final_hidden.new_zeros(final_hidden.shape[0], self.config.embedding_size))
        if self.bahdanau:
            state.append(self.attention.keys(encoder_outputs.last_hidden_state))
        return tuple(state)

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
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None, torch.Tensor]:
        """Run the decoder over target embeddings (batch, steps, embedding_size) from `state`.

        Returns the attentional vectors (batch, steps, embedding_size, after
        dropout), the new state, the attention weights (batch, steps, source)
        or None, and the top recurrent outputs (batch, steps, hidden_size).
        """
        state = list(state)
        rnn_state = self._to_rnn(state)
        feed = state[2 if self.is_lstm else 1] if self.input_feeding else None
        keys = state[-1] if self.bahdanau else memory
        inputs = self.embedding_dropout(embeds)

        if not self.stepwise:
            outputs, rnn_state = self._run_rnn(inputs, rnn_state)
            if self.attention is None:
                features, weights = outputs, None
            else:
                context, weights = self.attention(outputs, keys, memory, mask)
                features = torch.cat([context, outputs], dim=-1)
            attentional = torch.tanh(self.output_projection(features))
        else:
            steps_outputs, steps_contexts, steps_weights, steps_attentional = [], [], [], []
            for step in range(inputs.shape[1]):
                parts = [inputs[:, step : step + 1]]
                if self.bahdanau:
                    # Query: the previous top-layer hidden state.
                    previous = (rnn_state[0] if self.is_lstm else rnn_state)[-1].unsqueeze(1)
                    context, step_weights = self.attention(previous, keys, memory, mask)
                    parts.append(context)
                if self.input_feeding:
                    parts.append(feed.unsqueeze(1))
                output, rnn_state = self._run_rnn(torch.cat(parts, dim=-1), rnn_state)
                if not self.bahdanau:  # Luong with input feeding
                    context, step_weights = self.attention(output, keys, memory, mask)
                    step_attentional = torch.tanh(self.output_projection(torch.cat([context, output], dim=-1)))
                    feed = step_attentional.squeeze(1)
                    steps_attentional.append(step_attentional)
                steps_outputs.append(output)
                steps_contexts.append(context)
                steps_weights.append(step_weights)
            outputs = torch.cat(steps_outputs, dim=1)
            weights = torch.cat(steps_weights, dim=1)
            if self.bahdanau:  # the pre-output needs no loop: batch it over all steps
                features = torch.cat([torch.cat(steps_contexts, dim=1), outputs], dim=-1)
                attentional = torch.tanh(self.output_projection(features))
            else:
                attentional = torch.cat(steps_attentional, dim=1)

        new_state = self._from_rnn(rnn_state)
        if self.input_feeding:
            new_state.append(feed)
        if self.bahdanau:
            new_state.append(keys)
        return self.output_dropout(attentional), tuple(new_state), weights, outputs

    def _run_rnn(self, inputs: torch.Tensor, rnn_state):
        # oneDNN's LSTM kernel costs ~0.5-1.2 ms per call on top of the arithmetic: it wins over whole
        # sequences, but one step of cached decoding runs 2.7-5.7x faster on PyTorch's native kernel
        # (tanh RNN and GRU steps take the same time on either).
        if inputs.shape[1] > 1 or torch.is_grad_enabled() or inputs.device.type != "cpu":
            return self.rnn(inputs, rnn_state)
        enabled = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            return self.rnn(inputs, rnn_state)
        finally:
            torch.backends.mkldnn.enabled = enabled

    def _to_rnn(self, state: list[torch.Tensor]):
        # batch-first (batch, layers, hidden) -> what nn.RNN/GRU/LSTM take: (layers, batch, hidden)
        hidden = state[0].transpose(0, 1).contiguous()
        if self.is_lstm:
            return hidden, state[1].transpose(0, 1).contiguous()
        return hidden

    def _from_rnn(self, rnn_state) -> list[torch.Tensor]:
        if self.is_lstm:
            return [rnn_state[0].transpose(0, 1), rnn_state[1].transpose(0, 1)]
        return [rnn_state.transpose(0, 1)]


# 4. Models --------------------------------------------------------------------------------------


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
        Linear and recurrent layers: PyTorch's defaults (uniform in +-1/sqrt(fan_in));
        LSTM forget-gate biases sum to 1, so the cell remembers from the start.

        transformers 5 guards torch.nn.init so loaded weights are not overwritten;
        the in-place slice writes below check the same flag themselves.
        """
        std = self.config.embedding_init_std
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.Linear):
            if module is getattr(self, "lm_head", None):
                nn.init.normal_(module.weight, mean=0.0, std=std)  # replaced by the embedding when tied
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            else:
                module.reset_parameters()
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

    The shared implementation of `RNNForConditionalGeneration` and
    `LSTMForConditionalGeneration`, which add `GenerationMixin` as a direct base.
    """

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
        # sqrt(embedding_size). Measured on a toy reversal task (Adam 1e-3,
        # embedding_size 256 and 512): scaling by embedding_size ** -0.5 learned
        # 3-5x slower; no scaling started from a higher loss; embedding_size ** -0.25
        # started lowest and learned fastest.
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
        """
        config = self.config
        output_attentions = output_attentions if output_attentions is not None else config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else config.return_dict

        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError("pass input_ids (or precomputed encoder_outputs)")
            encoder_outputs = self.encoder(
                input_ids, attention_mask, output_hidden_states=output_hidden_states, return_dict=True
            )
        elif not isinstance(encoder_outputs, RecurrentEncoderOutput):
            encoder_outputs = RecurrentEncoderOutput(*encoder_outputs)
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

        attentional, state, weights, decoder_outputs = self.decoder(
            self.shared(decoder_input_ids), memory, mask, state
        )
        logits = self.lm_head(attentional * self.output_scale)

        loss = None
        if labels is not None:
            num_items_in_batch = kwargs.get("num_items_in_batch")
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                labels.to(logits.device).reshape(-1),
                ignore_index=-100,
                label_smoothing=config.label_smoothing,
                reduction="mean" if num_items_in_batch is None else "sum",
            )
            if num_items_in_batch is not None:
                loss = loss / num_items_in_batch

        output = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{STATE_FIELD: state if use_cache else None},
            decoder_hidden_states=(decoder_outputs,) if output_hidden_states else None,
            cross_attentions=(weights.unsqueeze(1),) if output_attentions and weights is not None else None,
            encoder_last_hidden_state=memory,
            encoder_hidden_states=encoder_outputs.hidden_states,
        )
        return output if return_dict else output.to_tuple()

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
        this model does not need: it was ~8% of a cached decoding step.
        """
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

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # The decoder state is a tuple of tensors, not a transformers Cache.
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
