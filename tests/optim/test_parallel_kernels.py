"""The parallel twins of the update kernels: bit for bit the serial kernels, for every optimizer but Adafactor and CAME.

A group of at least ``kernels.PARALLEL_THRESHOLD`` elements runs the twin
compiled with ``parallel=True``, whose ``prange`` shares the chunks of the
flat buffers out over the cores. Each chunk is computed by the same code in
either build, so the results must be identical, not merely close. Here one
parameter of 600,000 elements (ten chunks, the last one partial) and two
small ones (one 0-d) take 20 steps with the same random gradients, once with
the parallel twin and once with the serial kernel (the threshold patched out of
reach). Parameters skip some steps (no gradient), so within one call the
parameters are at different step counts (and RAdam's rectification is on for
some and off for others).

Most runs are float32 only: each twin compiles on first use, per dtype.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim import kernels

try:
    from rule_reference import flag_grid
except ImportError:  # imported as a package (tests.optim)
    from tests.optim.rule_reference import flag_grid

BIG = 600_000
SHAPES = [(600, 1000), (), (7, 3)]
STEPS = 20
DEFAULT_THRESHOLD = kernels.PARALLEL_THRESHOLD
assert BIG > DEFAULT_THRESHOLD

# Every registered optimizer with a parallel twin, with all its flags on (the last combination of the grid).
OPTIMIZERS = [(cls.kernel, cls, list(flag_grid(cls))[-1]) for cls in optim.REGISTRY if cls.kernel in kernels._parallel]


def has_grad(step: int, i: int) -> bool:
    """Which parameters get a gradient at a step: the big one skips step 5, the matrix every third step."""
    return not ((i == 0 and step == 4) or (i == 2 and step % 3 == 1))


def run(cls, kwargs, name, dtype, *, parallel, torch=None):  # noqa: ANN001, ANN201
    """20 steps of ``cls`` on the same parameters and gradients; the final parameters (and state)."""
    rng = np.random.default_rng(0)
    init = [np.asarray(rng.standard_normal(shape), dtype=dtype) for shape in SHAPES]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    opt = cls(params, **kwargs)
    flat = opt._flat[0][0]
    assert flat.param.size >= DEFAULT_THRESHOLD and flat.chunks.shape[0] > 10
    expected = kernels._parallel[name] if parallel else getattr(kernels, name)
    assert kernels.pick(name, flat.param.size) is expected
    assert flat.kernel(name) is expected
    if torch is not None:
        torch_params = [torch.tensor(v.copy(), requires_grad=True) for v in init]
        torch_opt = getattr(torch.optim, cls.__name__)(torch_params, **kwargs)
    for step in range(STEPS):
        grads = [np.asarray(rng.standard_normal(shape), dtype=dtype) for shape in SHAPES]
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = tg.tensor(g, dtype=dtype) if has_grad(step, i) else None
        opt.step()
        if torch is not None:
            for i, (p, g) in enumerate(zip(torch_params, grads)):
                p.grad = torch.tensor(g) if has_grad(step, i) else None
            torch_opt.step()
            for i, (p, tp) in enumerate(zip(params, torch_params)):
                np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-13,
                                           err_msg=f"step {step + 1}, parameter {i} vs torch")
    np.testing.assert_array_equal(flat.steps, [STEPS - 1, STEPS, STEPS - (STEPS + 1) // 3])
    return [p.numpy().copy() for p in params], {k: v.copy() for k, v in flat.state.items()}


@pytest.mark.parametrize("name, cls, kwargs", OPTIMIZERS, ids=[cls.__name__ for _, cls, _ in OPTIMIZERS])
def test_parallel_twin_is_bit_identical_to_the_serial_kernel(monkeypatch, name, cls, kwargs):
    assert name in kernels._parallel
    parallel_params, parallel_state = run(cls, kwargs, name, np.float32, parallel=True)
    monkeypatch.setattr(kernels, "PARALLEL_THRESHOLD", 1 << 62)  # pick() reads it at each call
    serial_params, serial_state = run(cls, kwargs, name, np.float32, parallel=False)
    for i, (a, b) in enumerate(zip(parallel_params, serial_params)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b, err_msg=f"parameter {i}")
    assert parallel_state.keys() == serial_state.keys()
    for key in serial_state:
        np.testing.assert_array_equal(parallel_state[key], serial_state[key], err_msg=f"state {key}")


def test_every_optimizer_but_the_factored_ones_has_a_parallel_kernel():
    names = {cls.kernel for cls in optim.REGISTRY}
    assert names - set(kernels._parallel) == {"adafactor", "came"}  # (per-parameter passes over rows and columns)
    assert {name for name, _, _ in OPTIMIZERS} == names - {"adafactor", "came"}


@pytest.mark.parametrize("name, cls, kwargs", [case for case in OPTIMIZERS if case[1] in (optim.SGD, optim.Adam)],
                         ids=["SGD", "Adam"])
def test_parallel_twin_matches_torch_in_float64(torch, name, cls, kwargs):
    run(cls, kwargs, name, np.float64, parallel=True, torch=torch)
