"""Variants of the stock Transformer, for the question of what matters in it (Domhan 2018; Chen et al. 2018).

Each variant is the stock `PegasusForConditionalGeneration` of `transformer.py` with the smallest change,
written into its config, so a saved folder reloads as the same variant (`AutoModelForSeq2SeqLM` with
`trust_remote_code`, as the recurrent models travel):

    one-head      one attention head in every self- and cross-attention: a pure config change
                  (encoder/decoder_attention_heads=1), the stock class
    no-ffn        every layer's feed-forward sublayer removed (`feed_forward=False`)
    no-residual   every sublayer's `x + f(x)` becomes `f(x)` (`residual=False`)
    rnn-encoder   the encoder's self-attention sublayers replaced by a bidirectional LSTM (`encoder_self_attention="lstm"`)
    rnn-decoder   the decoder's self-attention sublayers replaced by an LSTM (`decoder_self_attention="lstm"`)

Everything else (embeddings, sinusoidal positions, pre-norm layer norms, residual dropout, cross-attention,
the final layer norms, the tied output layer) stays the stock model's. A recurrent sublayer sits where the
self-attention sat, inside the pre-norm residual sublayer: x + dropout(LSTM(LayerNorm(x))).

- The encoder's LSTM is bidirectional, `d_model // 2` units per direction, concatenated: the self-attention it
  replaces sees the whole source, so a left-to-right LSTM would also remove the right context and the
  comparison would no longer isolate attention against recurrence. It reads each source up to its length
  (packed; sources padded on the right, as Lineage's tokenizers pad), so padding never changes a result.
- The decoder's LSTM is left to right, `d_model` units, as the causal self-attention it replaces. Its
  generation cache is a real one: the self-attention layer of the stock `EncoderDecoderCache` holds, per
  decoded position, the LSTM's hidden state (as its keys) and cell state (as its values), so the cache's
  length still counts positions (the sinusoidal positions read it), beam search reorders it as any
  attention cache, and each decoding step runs one LSTM step from the last stored state.

Only torch and transformers are imported (the file travels to the Hub with the model).
"""

import inspect

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationMixin, PegasusConfig
from transformers.cache_utils import EncoderDecoderCache
from transformers.models.pegasus.modeling_pegasus import (
    PegasusAttention,
    PegasusDecoder,
    PegasusDecoderLayer,
    PegasusEncoder,
    PegasusEncoderLayer,
    PegasusForConditionalGeneration,
)

SELF_ATTENTION = ("attention", "lstm")
# The variants by name: the config fields each sets on the stock Transformer's.
VARIANTS = {
    "one-head": dict(encoder_attention_heads=1, decoder_attention_heads=1),
    "no-ffn": dict(feed_forward=False),
    "no-residual": dict(residual=False),
    "rnn-encoder": dict(encoder_self_attention="lstm"),
    "rnn-decoder": dict(decoder_self_attention="lstm"),
}
# The fields only TransformerVariantConfig has, with the stock model's values.
STOCK = dict(encoder_self_attention="attention", decoder_self_attention="attention", feed_forward=True, residual=True)
# transformers 5.24 renamed the attention's `past_key_values` argument to `cache`.
CACHE_ARGUMENT = "cache" if "cache" in inspect.signature(PegasusAttention.forward).parameters else "past_key_values"


class TransformerVariantConfig(PegasusConfig):
    r"""
    Configuration of `TransformerVariantForConditionalGeneration`: every `PegasusConfig` field, plus what the
    variant changes in the stock Transformer.

    Args:
        encoder_self_attention (`str`, *optional*, defaults to `"attention"`):
            The encoder's self-attention sublayers: `"attention"` (stock multi-head self-attention) or `"lstm"`
            (a bidirectional LSTM, `d_model // 2` units per direction; `d_model` must be even).
        decoder_self_attention (`str`, *optional*, defaults to `"attention"`):
            The decoder's self-attention sublayers: `"attention"` (stock causal multi-head self-attention) or
            `"lstm"` (a left-to-right LSTM of `d_model` units, its state cached for generation).
        feed_forward (`bool`, *optional*, defaults to `True`):
            Whether every encoder and decoder layer keeps its feed-forward sublayer (fc1, fc2 and their
            layer norm); `False` removes them.
        residual (`bool`, *optional*, defaults to `True`):
            Whether every sublayer adds its input to its output (`x + f(x)`); `False` makes each
            sublayer's output `f(x)` alone (f: layer norm, the sublayer, dropout).
    """

    model_type = "lineage-transformer-variant"

    def __init__(
        self,
        encoder_self_attention: str = "attention",
        decoder_self_attention: str = "attention",
        feed_forward: bool = True,
        residual: bool = True,
        **kwargs,
    ):
        self.encoder_self_attention = encoder_self_attention
        self.decoder_self_attention = decoder_self_attention
        self.feed_forward = feed_forward
        self.residual = residual
        for side in ("encoder", "decoder"):
            if getattr(self, f"{side}_self_attention") not in SELF_ATTENTION:
                raise ValueError(f"TransformerVariantConfig: {side}_self_attention must be one of "
                                 f"{', '.join(SELF_ATTENTION)}, got {getattr(self, f'{side}_self_attention')!r}")
        super().__init__(**kwargs)
        if self.encoder_self_attention == "lstm" and self.d_model % 2:
            raise ValueError(f"TransformerVariantConfig: the bidirectional encoder LSTM splits d_model between its "
                             f"two directions, so d_model must be even, got {self.d_model}")


def variant_fields(fields: dict) -> dict:
    """The `TransformerVariantConfig` fields of `fields` that change the stock model (empty: a stock config)."""
    return {name: fields[name] for name in STOCK if name in fields and fields[name] != STOCK[name]}


def describe_variant(config: dict) -> list[str]:
    """What a config (as a dict) changes in the stock Transformer, in words; empty for the stock model."""
    changes = []
    for side in ("encoder", "decoder"):
        if config.get(f"{side}_self_attention", "attention") == "lstm":
            changes.append(f"LSTM in place of {side} self-attention")
    if config.get("encoder_attention_heads") == 1 and config.get("decoder_attention_heads") == 1:
        changes.append("one attention head")
    if not config.get("feed_forward", True):
        changes.append("no feed-forward blocks")
    if not config.get("residual", True):
        changes.append("no residual connections")
    return changes


class EncoderLSTM(nn.Module):
    """A bidirectional LSTM in the place of the encoder's self-attention: (batch, length, d_model) in and out."""

    def __init__(self, d_model: int):
        super().__init__()
        self.lstm = nn.LSTM(d_model, d_model // 2, batch_first=True, bidirectional=True)

    def forward(self, hidden_states: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        batch, length = hidden_states.shape[:2]
        if padding_mask is None:
            lengths = torch.full((batch,), length)
        else:
            lengths = padding_mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(hidden_states, lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        return pad_packed_sequence(outputs, batch_first=True, total_length=length)[0]


class DecoderLSTM(nn.Module):
    """A left-to-right LSTM in the place of the decoder's self-attention, its state kept in the generation
    cache's self-attention layer `layer_idx` (hidden states as keys, cell states as values, one per position)."""

    def __init__(self, d_model: int, layer_idx: int):
        super().__init__()
        self.lstm = nn.LSTM(d_model, d_model, batch_first=True)
        self.layer_idx = layer_idx

    def forward(self, hidden_states: torch.Tensor, cache=None) -> torch.Tensor:
        if cache is None:
            return self.lstm(hidden_states)[0]
        if isinstance(cache, EncoderDecoderCache):
            cache = cache.self_attention_cache
        state = None
        if cache.get_seq_length(self.layer_idx) > 0:
            stored = cache.layers[self.layer_idx]
            state = (stored.keys[:, 0, -1].unsqueeze(0).contiguous(), stored.values[:, 0, -1].unsqueeze(0).contiguous())
        outputs, hidden, cell = [], [], []
        for position in range(hidden_states.shape[1]):  # the cell state of every position is cached
            output, state = self.lstm(hidden_states[:, position:position + 1], state)
            outputs.append(output)
            hidden.append(state[0].transpose(0, 1))
            cell.append(state[1].transpose(0, 1))
        cache.update(torch.stack(hidden, dim=2), torch.stack(cell, dim=2), self.layer_idx)
        return torch.cat(outputs, dim=1)


class VariantSublayers:
    """What the variant layers share: the residual sublayer and the feed-forward block."""

    def sublayer(self, hidden_states: torch.Tensor, norm: nn.LayerNorm, function) -> torch.Tensor:
        """Pre-norm: x + dropout(f(norm(x))); without residual connections dropout(f(norm(x)))."""
        output = nn.functional.dropout(function(norm(hidden_states)), p=self.dropout, training=self.training)
        return hidden_states + output if self.residual else output

    def feed_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation_fn(self.fc1(hidden_states))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        return self.fc2(hidden_states)

    def remove_feed_forward(self) -> None:
        self.fc1 = self.fc2 = self.final_layer_norm = None


class VariantEncoderLayer(VariantSublayers, PegasusEncoderLayer):
    """The stock encoder layer with the config's changes."""

    def __init__(self, config: TransformerVariantConfig):
        super().__init__(config)
        self.residual = config.residual
        if config.encoder_self_attention == "lstm":
            self.self_attn = EncoderLSTM(config.d_model)
        if not config.feed_forward:
            self.remove_feed_forward()

    def forward(self, hidden_states, attention_mask, padding_mask=None, **kwargs) -> torch.Tensor:
        def mix(states):
            if isinstance(self.self_attn, EncoderLSTM):
                return self.self_attn(states, padding_mask)
            return self.self_attn(hidden_states=states, attention_mask=attention_mask, **kwargs)[0]

        hidden_states = self.sublayer(hidden_states, self.self_attn_layer_norm, mix)
        if self.fc1 is not None:
            hidden_states = self.sublayer(hidden_states, self.final_layer_norm, self.feed_forward)
        if hidden_states.dtype == torch.float16:  # as the stock layer does
            clamp = torch.finfo(hidden_states.dtype).max - 1000
            hidden_states = torch.clamp(hidden_states, min=-clamp, max=clamp)
        return hidden_states


class VariantDecoderLayer(VariantSublayers, PegasusDecoderLayer):
    """The stock decoder layer with the config's changes."""

    def __init__(self, config: TransformerVariantConfig, layer_idx: int):
        super().__init__(config, layer_idx=layer_idx)
        self.residual = config.residual
        if config.decoder_self_attention == "lstm":
            self.self_attn = DecoderLSTM(config.d_model, layer_idx)
        if not config.feed_forward:
            self.remove_feed_forward()

    def forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                cache=None, use_cache=True, past_key_values=None, **kwargs) -> torch.Tensor:
        cache = cache if cache is not None else past_key_values  # its name before transformers 5.24

        def mix(states):
            if isinstance(self.self_attn, DecoderLSTM):
                return self.self_attn(states, cache)
            return self.self_attn(hidden_states=states, attention_mask=attention_mask, **{CACHE_ARGUMENT: cache},
                                  **kwargs)[0]

        def attend(states):
            return self.encoder_attn(hidden_states=states, key_value_states=encoder_hidden_states,
                                     attention_mask=encoder_attention_mask, **{CACHE_ARGUMENT: cache}, **kwargs)[0]

        hidden_states = self.sublayer(hidden_states, self.self_attn_layer_norm, mix)
        if encoder_hidden_states is not None:
            hidden_states = self.sublayer(hidden_states, self.encoder_attn_layer_norm, attend)
        if self.fc1 is not None:
            hidden_states = self.sublayer(hidden_states, self.final_layer_norm, self.feed_forward)
        return hidden_states


class VariantEncoder(PegasusEncoder):
    """The stock encoder with variant layers; it hands them the source's padding mask (the LSTM packs by it)."""

    def __init__(self, config: TransformerVariantConfig):
        super().__init__(config)
        self.layers = nn.ModuleList([VariantEncoderLayer(config) for _ in range(config.encoder_layers)])
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, **kwargs):
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               padding_mask=attention_mask, **kwargs)


class VariantDecoder(PegasusDecoder):
    """The stock decoder with variant layers. It builds a generation cache only when asked for one (generate
    asks): the stock decoder builds one whenever `config.use_cache` is set, in training too, where the decoder
    LSTM would then store its state position by position instead of running over the target in one call."""

    def __init__(self, config: TransformerVariantConfig):
        super().__init__(config)
        self.layers = nn.ModuleList([VariantDecoderLayer(config, i) for i in range(config.decoder_layers)])
        self.post_init()

    def forward(self, use_cache=None, **kwargs):
        return super().forward(use_cache=bool(use_cache), **kwargs)


class TransformerVariantForConditionalGeneration(PegasusForConditionalGeneration, GenerationMixin):
    """The stock `PegasusForConditionalGeneration` with the variant's encoder and decoder layers."""

    config_class = TransformerVariantConfig

    def __init__(self, config: TransformerVariantConfig):
        super().__init__(config)
        self.model.encoder = VariantEncoder(config)
        self.model.decoder = VariantDecoder(config)
        self.post_init()
