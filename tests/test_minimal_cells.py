"""Tests of the minimal recurrent cells, minGRU and minLSTM, and their log-space parallel scan
(models/recurrent/scan.py).
"""

import pytest
import torch

from models.recurrent.scan import (
    SCAN_CHUNK,
    MinGRU,
    MinLSTM,
    log_space_scan,
    mingru_coefficients,
    minlstm_coefficients,
    recurrence_loop,
)

UNITS = {"mingru": (MinGRU, mingru_coefficients), "minlstm": (MinLSTM, minlstm_coefficients)}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# The paper's equations, step by step in float64: the reference for the scan ---------------------------------


def paper_states(cell: str, projected: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    def g(x):
        return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))

    projected, state = projected.double(), initial.double()
    states = []
    for x in projected.unbind(1):
        if cell == "mingru":
            gate, candidate = x.chunk(2, dim=-1)
            z = torch.sigmoid(gate)
            state = (1 - z) * state + z * g(candidate)
        else:
            forget, update, candidate = x.chunk(3, dim=-1)
            f, i = torch.sigmoid(forget), torch.sigmoid(update)
            state = f / (f + i) * state + i / (f + i) * g(candidate)
        states.append(state)
    return torch.stack(states, dim=1)


def relative_error(result: torch.Tensor, reference: torch.Tensor) -> float:
    """max |result - reference| / (|reference| + 1): relative for large states, absolute for small ones."""
    return ((result.double() - reference.double()).abs() / (reference.double().abs() + 1)).max().item()


# Scale 1: gate inputs as a trained layer sees them. Scale 6: saturated gates, a_t down to e^-20, so the
# products a_1 ... a_t underflow to 0 in float32 within a few hundred steps.
@pytest.mark.parametrize("scale", [1.0, 6.0])
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_scan_equals_the_recurrence_in_float32(cell, scale):
    unit, coefficients = UNITS[cell]
    generator = torch.Generator().manual_seed(0)
    steps, hidden = 2048, 16
    projected = torch.randn(2, steps, (unit.gates + 1) * hidden, generator=generator) * scale
    initial = torch.randn(2, hidden, generator=generator)  # any sign: the scan carries h_0 outside the logs
    log_a, log_b = coefficients(projected)
    if scale > 1:
        assert torch.exp(torch.cumsum(log_a, dim=1))[:, -1].max() == 0  # the long products are tiny indeed
    reference = paper_states(cell, projected, initial)
    for length in (1, SCAN_CHUNK - 1, SCAN_CHUNK + 1, 300, steps):  # inside, across and at chunk ends
        scanned = log_space_scan(log_a[:, :length], log_b[:, :length], initial)
        looped = recurrence_loop(log_a[:, :length], log_b[:, :length], initial)
        assert torch.isfinite(scanned).all()
        # Measured at 2,048 steps: 1.2e-6 (scale 1) and 1e-5 (scale 6) for the scan, 3e-7 for the loop.
        assert relative_error(scanned, reference[:, :length]) < 2e-5, length
        assert relative_error(looped, reference[:, :length]) < 2e-6, length
        assert relative_error(scanned, looped) < 2e-5, length
    # One piece instead of chunks loses the digits the chunks keep (the reason for SCAN_CHUNK).
    assert relative_error(log_space_scan(log_a, log_b, initial, chunk=steps), reference) > 5e-5


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_scan_equals_the_recurrence_in_bfloat16(cell):
    """A bfloat16 layer over 2,048 steps: the scan (one call) and the step-by-step recurrence (one
    call per token, carrying the state as cached decoding does) agree to 2% of |h| + 1, and
    each to 2% of the float32 layer on the same numbers. Why 2%: bfloat16 keeps 8 significant bits,
    so each rounding is up to 2^-9 = 0.2% relative; the projection and the output are rounded once
    (the recurrence itself runs in float32), and step by step the carried state is rounded once per
    step, errors that decay with a_t but add up over the ~1 / (1 - a) steps the state remembers.
    Measured: up to 0.6% (gate biases 0 and -3, memories of ~2 and ~20 steps)."""
    unit = UNITS[cell][0]
    torch.manual_seed(0)
    for bias in (0.0, -3.0):
        layer = unit(16, 32)
        with torch.no_grad():
            layer.projections[0].bias.add_(bias)
        inputs, initial = torch.randn(2, 2048, 16), torch.randn(1, 2, 32)
        with torch.no_grad():
            reference, _ = layer(inputs.bfloat16().float(), initial.bfloat16().float())
            layer.bfloat16()
            scanned, final = layer(inputs.bfloat16(), initial.bfloat16())
            state, stepped = initial.bfloat16(), []
            for token in inputs.bfloat16().split(1, dim=1):
                output, state = layer(token, state)
                stepped.append(output)
            stepped = torch.cat(stepped, dim=1)
        assert scanned.dtype == stepped.dtype == final.dtype == torch.bfloat16
        assert torch.isfinite(scanned).all() and torch.isfinite(stepped).all()
        assert relative_error(scanned, stepped) < 2e-2
        assert relative_error(scanned, reference) < 2e-2 and relative_error(stepped, reference) < 2e-2
        assert torch.equal(final[0], scanned[:, -1])


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_bidirectional_layer_reads_each_row_both_ways_within_its_length(cell):
    """The forward half of a bidirectional layer's output is a one-way pass; the backward half is a
    one-way pass over the row reversed within its length, reversed back; padding gives zeros."""
    unit = UNITS[cell][0]
    torch.manual_seed(0)
    layer = unit(8, 6, bidirectional=True)
    inputs, lengths = torch.randn(3, 20, 8), torch.tensor([20, 5, 17])
    with torch.no_grad():
        outputs, final = layer(inputs, lengths=lengths)
        for row, length in enumerate(lengths.tolist()):
            one_way = unit(8, 6)
            for direction in (0, 1):
                one_way.projections[0].load_state_dict(layer.projections[direction].state_dict())
                sequence = inputs[row : row + 1, :length]
                states, last = one_way(sequence if direction == 0 else sequence.flip(1))
                states = states if direction == 0 else states.flip(1)
                torch.testing.assert_close(outputs[row, :length, 6 * direction : 6 * (direction + 1)], states[0])
                torch.testing.assert_close(final[direction, row], last[0, 0])
            assert not outputs[row, length:].any()


def test_dropout_only_between_layers():
    torch.manual_seed(0)
    inputs = torch.randn(2, 5, 8)
    for layers, differs in ((1, False), (2, True)):
        layer = MinGRU(8, 8, num_layers=layers, dropout=0.5).train()
        assert (not torch.equal(layer(inputs)[0], layer(inputs)[0])) == differs
        layer.eval()
        assert torch.equal(layer(inputs)[0], layer(inputs)[0])
