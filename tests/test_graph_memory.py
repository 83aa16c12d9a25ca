"""The graph holds no reference cycles: it is freed by reference counting alone.

Python's cycle collector was most of micrograd's step time (PERFORMANCE.md,
lesson 3). Here nodes hold their inputs but never their outputs, so dropping
the loss frees the whole graph at once, with the collector switched off.
"""

from __future__ import annotations

import gc
import weakref

import tinygrad_edu as tg
from tinygrad_edu import nn


def _without_collector(body):
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return body()
    finally:
        if was_enabled:
            gc.enable()


def test_graph_is_freed_without_the_cycle_collector():
    def body():
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        x, y = tg.randn(5, 4), tg.tensor([0, 1, 2, 1, 0])
        hidden = model[0](x)
        probe = weakref.ref(hidden)
        loss = nn.CrossEntropyLoss()(model[2](model[1](hidden)), y)
        loss.backward()
        del hidden
        assert probe() is not None  # still held by the graph through the loss
        del loss
        return probe

    probe = _without_collector(body)
    assert probe() is None


def test_training_steps_leave_nothing_for_the_collector():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = tg.optim.SGD(model.parameters(), lr=0.01)
    x, y = tg.randn(32, 3), tg.randn(32, 1)

    def steps():
        for _ in range(20):
            optimizer.zero_grad()
            nn.MSELoss()(model(x), y).backward()
            optimizer.step()

    steps()  # warm up any lazily created module-level objects
    gc.collect()
    _without_collector(steps)
    assert gc.collect() == 0
