"""Step-through backprop on the zoo's graphs: conv, pooling, norms, embeddings, recurrent nets, attention.

`backward_steps` must give, to the last bit, the totals ``backward()`` puts in
``.grad``; `gradcheck_nodes` must find every node's backward right against
finite differences of its own forward (float64).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn


def _cnn() -> tuple[nn.Module, Callable[[], tg.Tensor]]:
    # Max pooling before the ReLU: after it, a window of clipped zeros is a tie at a kink, where finite
    # differences and the (first-maximum) gradient rightly disagree; the same nodes either way.
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.MaxPool2d(2), nn.ReLU(),
                          nn.Conv2d(3, 2, 2, stride=2), nn.AvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    x = tg.randn(2, 1, 4, 4, dtype=tg.float64)
    return model, lambda: model(x)


def _sequence(cell: str) -> tuple[nn.Module, Callable[[], tg.Tensor]]:
    emb, rnn, norm = nn.Embedding(5, 3), getattr(nn, cell)(3, 4, batch_first=True), nn.LayerNorm(4)
    model = nn.ModuleList([emb, rnn, norm])
    idx = tg.tensor([[0, 3, 1], [4, 2, 2]])
    return model, lambda: norm(rnn(emb(idx))[0])


def _attention() -> tuple[nn.Module, Callable[[], tg.Tensor]]:
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, batch_first=True, norm_first=True)
    x = tg.randn(2, 3, 4, dtype=tg.float64)
    mask = tg.triu(tg.full((3, 3), float("-inf"), dtype=tg.float64), diagonal=1)
    return layer, lambda: layer(x, src_mask=mask)


def _group_and_rms() -> tuple[nn.Module, Callable[[], tg.Tensor]]:
    model = nn.Sequential(nn.Conv1d(2, 4, 3, padding="same"), nn.GroupNorm(2, 4), nn.GELU(), nn.Flatten(),
                          nn.RMSNorm(20), nn.SiLU())
    x = tg.randn(3, 2, 5, dtype=tg.float64)
    return model, lambda: model(x)


BUILDERS = {"cnn_batchnorm_pooling": _cnn, "rnn": lambda: _sequence("RNN"), "lstm": lambda: _sequence("LSTM"),
            "gru": lambda: _sequence("GRU"), "transformer_layer": _attention, "groupnorm_rmsnorm": _group_and_rms}


def _build(name: str):
    tg.manual_seed(0)
    tg.set_default_dtype(np.float64)
    try:
        model, run = BUILDERS[name]()
    finally:
        tg.set_default_dtype(np.float32)
    model.to(tg.float64)
    return model, run


@pytest.mark.parametrize("name", list(BUILDERS))
def test_backward_steps_totals_equal_grad_bit_for_bit(name: str):
    model, run = _build(name)
    out = run()
    upstream = tg.tensor(np.random.default_rng(1).standard_normal(out.shape))
    loss = (out * upstream).sum()
    trace = tg.backward_steps(loss)
    loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    assert params, "the model's parameters got no gradient"
    for p in params:
        np.testing.assert_array_equal(trace.totals[p], p.grad.numpy())
    ops = {step.op for step in trace}
    assert len(trace) >= 3 and all(step.rule for step in trace)
    assert ops  # every node of the walk is a step with its rule


@pytest.mark.parametrize("name", list(BUILDERS))
def test_gradcheck_nodes_passes_on_every_node(name: str):
    model, run = _build(name)
    if any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules()):
        model.eval()  # running statistics: a forward replayed on perturbed inputs must not move them
    params = list(model.parameters())
    report = tg.gradcheck_nodes(lambda *ps: run().tanh().sum(), *params)
    assert report.ok, str(report)
    assert len(report.nodes) >= 3
