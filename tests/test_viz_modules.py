"""plot_graph(collapse=...) after trace_modules: a module drawn as one box."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn

matplotlib.use("Agg")


def _model_and_loss(trace: bool):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 8), nn.Tanh()), nn.Linear(8, 2))
    x = tg.randn(3, 4)
    if trace:
        with tg.viz.trace_modules(model):
            out = model(x)
    else:
        out = model(x)
    return model, x, nn.functional.cross_entropy(out, tg.tensor([0, 1, 1]))


def _first_lines(fig):
    return sorted(t.get_text().split("\n")[0] for t in fig.axes[0].texts)


def test_collapse_draws_each_child_module_as_one_box():
    model, x, loss = _model_and_loss(trace=True)
    fig = tg.viz.plot_graph(loss, collapse=True, names={"x": x})
    # Four children of the Sequential, the loss's two nodes, and the input; every parameter is inside its box.
    assert _first_lines(fig) == sorted(["0: Linear", "1: ReLU", "2: Sequential", "3: Linear", "LogSoftmax",
                                        "NLLLoss", "x (const)"])
    texts = {t.get_text().split("\n")[0]: t.get_text() for t in fig.axes[0].texts}
    assert "2 ops" in texts["2: Sequential"] and "1 op\n" in texts["0: Linear"]
    assert len(fig.axes[0].patches) == 6  # one arrow per edge of the chain
    assert "4 modules, 2 operations, 1 leaf" in fig.axes[0].get_title()


def test_collapse_deeper_and_by_name():
    _, _, loss = _model_and_loss(trace=True)
    deeper = _first_lines(tg.viz.plot_graph(loss, collapse=2))
    assert "2.0: Linear" in deeper and "2.1: Tanh" in deeper and "2: Sequential" not in deeper
    named = _first_lines(tg.viz.plot_graph(loss, collapse=["2"]))
    assert "2: Sequential" in named and named.count("Linear") == 2  # the other Linears stay as operations
    # Without collapse, the same graph shows every operation and leaf.
    full = _first_lines(tg.viz.plot_graph(loss))
    assert full.count("leaf") == 6


def test_collapse_needs_a_traced_graph_and_tracing_changes_no_numbers():
    model, x, loss = _model_and_loss(trace=False)
    with pytest.raises(ValueError, match="trace_modules"):
        tg.viz.plot_graph(loss, collapse=True)
    with pytest.raises(ValueError, match="collapse"):
        tg.viz.plot_graph(loss, collapse=-1)
    _, _, traced = _model_and_loss(trace=True)
    np.testing.assert_array_equal(traced.numpy(), loss.numpy())
    assert loss.grad_fn.scope == () and traced.grad_fn.scope == ()  # the loss itself was made outside the model
    with pytest.raises(TypeError, match="nn.Module"):
        tg.viz.trace_modules(object())
