"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?") and the log-space
parallel scan that runs them over whole sequences (Heinsen 2023).

Both cells drop the previous state from their gates and candidate, which makes
them linear recurrences with input-dependent coefficients:

    h_t = a_t * h_{t-1} + b_t,    0 < a_t < 1,  b_t > 0,  (a_t, b_t) functions of x_t only

- minGRU:  z_t = sigmoid(W_z x_t),  h~_t = g(W_h x_t),  h_t = (1 - z_t) h_{t-1} + z_t h~_t
- minLSTM: f_t = sigmoid(W_f x_t),  i_t = sigmoid(W_i x_t),  h~_t = g(W_h x_t),
           h_t = f'_t h_{t-1} + i'_t h~_t  with  f' = f / (f + i),  i' = i / (f + i)

with g(x) = x + 1/2 for x >= 0 and sigmoid(x) below (continuous at 0, always
positive, so every b_t is positive and its log exists).

Over a whole sequence every h_t is computed at once (`log_space_scan`):
h_t = A_t h_0 + A_t sum_{s<=t} b_s / A_s with A_t = a_1 ... a_t, that is
log(h_t - A_t h_0) = a*_t + logcumsumexp_s(log b_s - a*_s), a*_t = cumsum(log a)_t.
One decoding step (and `parallel_scan = False`) uses the recurrence itself
(`recurrence_loop`). Both run in float32 at least, whatever the input dtype.

This file travels with published models (the modeling file imports it
relatively): it imports torch only.
"""

import torch
import torch.nn.functional as F
from torch import nn

# Positions per chunk of the scan. In float32, log(h_t) = a*_t + logcumsumexp(...) adds two numbers
# of size |a*_t| that nearly cancel, so h_t's relative error grows like |a*_t| * 2^-24: over 2,048
# steps in one piece the error (of |h| + 1) measured 1e-4 with unit-scale gate inputs and 8e-4 with
# saturated ones (inputs of scale 8). The scan restarts a* at every chunk and carries the state from
# chunk to chunk by the recurrence itself (h = A h_0 + ...), so |a*| stays below 16 * max|log a|:
# 1.2e-6 and 1.4e-5 (the float32 loop: 1.5e-7 and 3.5e-7), for about 10% more time than one piece.
SCAN_CHUNK = 16


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's candidate activation: x + 1/2 for x >= 0, sigmoid(x) below; always positive."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log(g(x)), without forming g(x) where it underflows (log sigmoid(x) = -softplus(-x))."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def mingru_coefficients(projected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log a_t and log b_t of minGRU from its projection [W_z x; W_h x] (..., 2 * hidden).

    log(1 - z) = -softplus(k) and log z = k + log(1 - z) for k = W_z x: no 1 - sigmoid(k),
    which loses every digit of a small 1 - z.
    """
    gate, candidate = projected.chunk(2, dim=-1)
    log_a = -F.softplus(gate)
    return log_a, gate + log_a + log_g(candidate)


def minlstm_coefficients(projected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log a_t and log b_t of minLSTM from its projection [W_f x; W_i x; W_h x] (..., 3 * hidden).

    With d = log(i / f) = softplus(-k_f) - softplus(-k_i): log f' = -softplus(d) and log i' = log f' + d.
    """
    forget, update, candidate = projected.chunk(3, dim=-1)
    ratio = F.softplus(-forget) - F.softplus(-update)
    log_a = -F.softplus(ratio)
    return log_a, log_a + ratio + log_g(candidate)


def log_space_scan(
    log_a: torch.Tensor, log_b: torch.Tensor, initial: torch.Tensor | None = None, chunk: int = SCAN_CHUNK
) -> torch.Tensor:
    """Every state of h_t = a_t h_{t-1} + b_t at once, from log a, log b (batch, steps, hidden).

    `initial` (batch, hidden) is h_0, of any sign (None: zeros). Chunks of `chunk` positions are
    scanned in parallel in log space; the state entering each chunk is carried by the
    recurrence itself, one step per chunk (see SCAN_CHUNK).
    """
    batch, steps, hidden = log_a.shape
    chunks = -(-steps // chunk)
    # Padding positions come after the real ones, so their values (zeros: a = b = 1) never reach them.
    pad = (0, 0, 0, chunks * chunk - steps)
    log_a = F.pad(log_a, pad).view(batch, chunks, chunk, hidden)
    log_b = F.pad(log_b, pad).view(batch, chunks, chunk, hidden)
    a_star = torch.cumsum(log_a, dim=2)  # log of the product of a since the chunk's start
    # The states each chunk reaches from a zero state at its start.
    local = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=2))
    if initial is None and chunks == 1:
        states = local
    else:
        decay = torch.exp(a_star)
        entering = [log_a.new_zeros(batch, hidden) if initial is None else initial]
        for index in range(chunks - 1):
            entering.append(decay[:, index, -1] * entering[-1] + local[:, index, -1])
        states = local + decay * torch.stack(entering, dim=1).unsqueeze(2)
    return states.reshape(batch, chunks * chunk, hidden)[:, :steps]


def recurrence_loop(log_a: torch.Tensor, log_b: torch.Tensor, initial: torch.Tensor | None = None) -> torch.Tensor:
    """The same states as `log_space_scan`, one step at a time: h_t = a_t h_{t-1} + b_t."""
    a, b = torch.exp(log_a), torch.exp(log_b)
    state = torch.zeros_like(b[:, 0]) if initial is None else initial
    states = []
    for step in range(a.shape[1]):
        state = a[:, step] * state + b[:, step]
        states.append(state)
    return torch.stack(states, dim=1)


def reversal_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(batch, steps) index that reverses each row's first `lengths` positions and keeps its padding in
    place: the backward direction then reads a right-padded batch from each row's last real token.
    Applying it twice gives the identity."""
    positions = torch.arange(steps, device=lengths.device).unsqueeze(0)
    lengths = lengths.unsqueeze(1)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


def reorder(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Reverse each row of (batch, steps, features) within its length by `reversal_index`."""
    return tensor.gather(1, index.unsqueeze(-1).expand(-1, -1, tensor.shape[2]))


class MinimalRecurrence(nn.Module):
    """A stack of minGRU or minLSTM layers (see the subclasses), called like a batch-first nn.GRU:
    `(inputs, state) -> (outputs, state)`, state (layers * directions, batch, hidden_size).

    Each layer is one linear projection of its input onto the gates and the candidate; the
    recurrence has no weights. Layers are stacked as nn.GRU stacks them: each layer's output
    (both directions concatenated) is the next layer's input, with dropout in between.

    Instead of a PackedSequence, a right-padded batch passes its `lengths`: the forward direction
    needs nothing (padding comes after every real position), the backward direction reads each row
    reversed within its length (`reversal_index`), final states are taken at each row's last real
    step, and outputs at padded positions are zero.

    `parallel_scan = False` (on the class or an instance) computes whole sequences with the
    per-step loop instead of the log-space scan: the same states, for timing the scan.
    """

    gates = 0  # projections per layer besides the candidate's: set by the subclasses
    # Which block of a projection's outputs is a forget gate (None: none). The model's _init_weights
    # starts its bias at 1 (as for the LSTM), so the state leans to remembering from the start.
    forget_block = None
    parallel_scan = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if not batch_first:
            raise ValueError(f"{type(self).__name__} is batch-first only")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        self.dropout = dropout
        # Ordered as nn.GRU orders its final states: layer 0 forward, layer 0 backward, layer 1 forward, ...
        self.projections = nn.ModuleList(
            nn.Linear(input_size if layer == 0 else hidden_size * self.directions, (self.gates + 1) * hidden_size)
            for layer in range(num_layers)
            for _ in range(self.directions)
        )
        if self.forget_block is not None:
            block = slice(self.forget_block * hidden_size, (self.forget_block + 1) * hidden_size)
            for projection in self.projections:
                projection.forget_gate = block  # read by RecurrentPreTrainedModel._init_weights

    @staticmethod
    def coefficients(projected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(
        self, inputs: torch.Tensor, state: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over `inputs` (batch, steps, input_size) from `state` (None: zeros).

        `lengths` (batch,), each at least 1: real steps per row of a right-padded batch (None: all real).
        Returns the top layer's outputs (batch, steps, directions * hidden_size) and every layer's and
        direction's final state (layers * directions, batch, hidden_size), in the dtype of `inputs`.
        """
        batch, steps = inputs.shape[:2]
        padded = lengths is not None
        if not padded:
            lengths = torch.full((batch,), steps, device=inputs.device)
        reverse = reversal_index(lengths, steps) if self.directions == 2 else None
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, self.hidden_size)
        layer_input, finals = inputs, []
        for layer in range(self.num_layers):
            if layer:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
            outputs = []
            for direction in range(self.directions):
                index = layer * self.directions + direction
                source = layer_input if direction == 0 else reorder(layer_input, reverse)
                initial = None if state is None else state[index]
                states = self._recur(self.projections[index](source), initial).to(inputs.dtype)
                finals.append(states.gather(1, last).squeeze(1))
                outputs.append(states if direction == 0 else reorder(states, reverse))
            layer_input = torch.cat(outputs, dim=-1)
        if padded:
            real = torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)
            layer_input = layer_input * real.unsqueeze(-1).to(layer_input.dtype)
        return layer_input, torch.stack(finals)

    def _recur(self, projected: torch.Tensor, initial: torch.Tensor | None) -> torch.Tensor:
        # At least float32: in bfloat16 (8 significant bits) a cumulative sum of log-coefficients, and a
        # state updated once per step, would lose most of their digits.
        dtype = torch.promote_types(projected.dtype, torch.float32)
        log_a, log_b = self.coefficients(projected.to(dtype))
        initial = None if initial is None else initial.to(dtype)
        if projected.shape[1] == 1 or not self.parallel_scan:
            return recurrence_loop(log_a, log_b, initial)
        return log_space_scan(log_a, log_b, initial)


class MinGRU(MinimalRecurrence):
    """minGRU layers: projection [W_z x; W_h x], h_t = (1 - z_t) h_{t-1} + z_t g(W_h x_t)."""

    gates = 1
    coefficients = staticmethod(mingru_coefficients)


class MinLSTM(MinimalRecurrence):
    """minLSTM layers: projection [W_f x; W_i x; W_h x], h_t = f'_t h_{t-1} + i'_t g(W_h x_t)."""

    gates = 2
    coefficients = staticmethod(minlstm_coefficients)
    forget_block = 0
