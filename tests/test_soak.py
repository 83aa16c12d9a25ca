"""Soak test (issue 13): 10,000 training steps of a small model, memory measured before and after.

Each step builds a graph (forward), walks it (backward) and updates the weights
(Adam). Once the step is over nothing may keep that graph alive: the memory of
the process must not grow with the number of steps, and the graph must be
freed by reference counting alone, so the cycle collector finds nothing (the
reference: PyTorch's autograd frees a step's graph the same way, when the last
reference to its output goes).

Three measurements:

- the resident memory (``/proc/self/statm``) after a warm-up and after 10,000
  more steps, with the cycle collector off during the run, must differ by less
  than `RSS_NOISE` (a leak of a single 16x8 float32 array per step would add
  5 MB; a kept graph, far more);
- ``gc.collect()`` after the run must find no unreachable objects (a graph that
  held a reference cycle would survive refcounting and be found here);
- `tracemalloc` over 1,000 steps of `fit` (with a History, metrics and
  callbacks) must show the traced memory growing by less than `FIT_NOISE`,
  while the same measurement *does* see a leak made on purpose (the losses kept
  with their graphs), so the check can fail.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
import weakref

import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.train import EarlyStopping, TerminateOnNaN, fit

STEPS = 10_000
WARMUP = 500
RSS_NOISE = 2 * 2**20     # bytes: the allocator's caches move by this much at most
FIT_NOISE = 256 * 2**10   # bytes: a History of 50 epochs and the tracing's own bookkeeping stay far below

pytestmark = pytest.mark.slow


def _rss() -> int:
    """The resident set size of this process in bytes (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _problem(seed: int = 0):
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = tg.randn(16, 4), tg.randn(16, 1)
    return model, x, y


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc to read the memory used")
def test_ten_thousand_steps_do_not_grow_memory_and_leave_no_cycles():
    model, x, y = _problem()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(WARMUP):
        first = step()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()  # whatever is freed during the run is freed by reference counting
    try:
        before = _rss()
        for _ in range(STEPS):
            last = step()
        after = _rss()
        unreachable = gc.collect()
    finally:
        if enabled:
            gc.enable()
    assert last < first  # it did train
    assert after - before < RSS_NOISE, f"resident memory grew by {(after - before) / 2**20:.2f} MiB over {STEPS} steps"
    assert unreachable == 0, f"{unreachable} objects were only freed by the cycle collector: a graph holds a cycle"


def test_a_steps_graph_dies_with_its_last_reference():
    model, x, y = _problem()
    loss = nn.MSELoss()(model(x), y)
    loss.backward()
    node = loss.grad_fn
    assert node is not None
    output, graph = weakref.ref(loss), weakref.ref(node)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del loss, node
        assert output() is None and graph() is None  # freed at once, without the cycle collector
    finally:
        if enabled:
            gc.enable()


def _traced_growth(run) -> int:
    """Traced memory after ``run()`` minus before, both measured after a collection."""
    gc.collect()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        kept = run()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def test_fit_for_a_thousand_steps_holds_no_memory_and_the_check_sees_a_leak():
    model, x, y = _problem()
    batches = [(x[i:i + 4], y[i:i + 4]) for i in range(0, 16, 4)] * 5  # 20 steps an epoch
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.MSELoss()
    fit(model, loss_fn, optimizer, batches, epochs=5, progress=False)  # warm-up: state, caches, imports

    def train():
        return fit(model, loss_fn, optimizer, batches, val=(x, y), epochs=50, progress=False,
                   metrics=[lambda output, target: 0.0], callbacks=[TerminateOnNaN(), EarlyStopping(patience=200)])

    grown = _traced_growth(train)
    assert grown < FIT_NOISE, f"fit kept {grown / 2**10:.0f} KiB after 1,000 steps"

    def leak():  # what a loop that keeps its losses (and so their graphs) looks like to the same measurement
        kept = []
        for _ in range(50):
            for inputs, target in batches:
                optimizer.zero_grad()
                loss = loss_fn(model(inputs), target)
                loss.backward()
                optimizer.step()
                kept.append(loss)
        return kept

    leaked = _traced_growth(leak)
    assert leaked > 2 * FIT_NOISE, f"the deliberate leak grew only {leaked / 2**10:.0f} KiB"
