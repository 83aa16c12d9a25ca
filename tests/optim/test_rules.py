"""Each update rule's numba kernel against its readable NumPy form, for every optimizer in the registry.

Every optimizer keeps its rule twice: a plain per-parameter NumPy function
(``cls.rule``, e.g. `adam_step`, written as the docstring's math) and a numba
kernel over flat buffers. Here both run 50 steps side by side from the same
start and the same gradients, for every combination of the optimizer's flags
(each boolean both ways, each hyperparameter that defaults to 0 also at a
non-zero value), in float64 (agreeing to ~1e-12) and float32. The list of
optimizers is the one registry, ``optim.names()`` / ``optim.get``: a new
optimizer is covered as soon as it is registered.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim

try:
    from rule_reference import flag_grid
except ImportError:  # imported as a package (tests.optim)
    from tests.optim.rule_reference import flag_grid

SHAPES = [(), (3,), (2, 5), (2, 3, 4)]
STEPS = 50
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}
CASES = [(name, kwargs) for name in optim.names() for kwargs in flag_grid(optim.get(name))]
IDS = [name + "-" + ",".join(f"{k}={v}" for k, v in kwargs.items() if k != "lr") for name, kwargs in CASES]


def test_every_registered_optimizer_has_a_rule_and_a_kernel():
    from tinygrad_edu.optim import kernels

    for name in optim.names():
        cls = optim.get(name)
        assert callable(cls.rule), name
        assert callable(getattr(kernels, cls.kernel)), name
        assert cls.rule.__doc__ and cls.__doc__, name


def has_grad(step, i):
    return (step + i) % 7 != 3  # now and then a parameter has no gradient: its step is skipped


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_kernel_matches_the_readable_rule_over_50_steps(name, kwargs, dtype):
    cls = optim.get(name)
    rng = np.random.default_rng(0)
    init = [np.asarray(rng.standard_normal(shape), dtype) for shape in SHAPES]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    opt = cls(params, **kwargs)
    hyperparameters = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    thetas = [v.copy() for v in init]
    states = [{} for _ in params]
    steps = [0] * len(params)
    for step in range(STEPS):
        grads = [np.asarray(rng.standard_normal(shape), dtype) for shape in SHAPES]
        for i, p in enumerate(params):
            p.grad = tg.tensor(grads[i], dtype=dtype) if has_grad(step, i) else None
        opt.step()
        for i, p in enumerate(params):
            if not has_grad(step, i):
                continue
            steps[i] += 1
            terms = cls.rule(thetas[i], grads[i], states[i], steps[i], **hyperparameters)
            thetas[i] = terms["theta"]
            assert np.asarray(thetas[i]).dtype == dtype, f"the rule changed the dtype to {thetas[i].dtype}"
            np.testing.assert_allclose(p.numpy(), thetas[i], **TOL[dtype], err_msg=f"step {step}, parameter {i}")
    for i, p in enumerate(params):
        kernel_state = opt.state[p]
        assert float(kernel_state["step"]) == steps[i]
        assert set(kernel_state) - {"step"} == set(states[i]), "the rule keeps the state under the kernel's names"
        for key, value in states[i].items():
            np.testing.assert_allclose(kernel_state[key], np.broadcast_to(value, np.shape(kernel_state[key])),
                                       **TOL[dtype], err_msg=f"state {key!r} of parameter {i}")


def test_rule_returns_the_docstring_terms():
    """Adam's terms by their symbols; the rule updates the state dict it is given (empty at t = 1)."""
    theta, g, state = np.array([1.0, -2.0]), np.array([0.5, 4.0]), {}
    terms = optim.adam_step(theta, g, state, 1, lr=0.1)
    assert list(terms) == ["g_t", "m_t", "v_t", "m_hat", "v_hat", "update", "theta"]
    np.testing.assert_allclose(terms["m_hat"], g)         # bias correction undoes the zero start
    np.testing.assert_allclose(terms["v_hat"], g * g)
    np.testing.assert_allclose(terms["theta"], theta - 0.1 * np.sign(g), rtol=1e-6)
    assert set(state) == {"exp_avg", "exp_avg_sq"}


def test_adamw_rule_takes_adamws_default_weight_decay():
    """``adamw_step`` without ``weight_decay`` decays by AdamW's 1e-2, as ``torch.optim.AdamW``'s default."""
    from tinygrad_edu.optim.adam import adamw_step
    theta, g = np.array([2.0, -1.0]), np.array([0.5, 0.25])
    default = adamw_step(theta, g, {}, 1, lr=0.1)["theta"]
    explicit = adamw_step(theta, g, {}, 1, lr=0.1, weight_decay=1e-2)["theta"]
    # By hand: decay theta *= 1 - lr * wd, then the first Adam step moves each entry by lr * sign(g).
    expected = theta * (1 - 0.1 * 1e-2) - 0.1 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(default, expected, rtol=1e-12)
    np.testing.assert_array_equal(default, explicit)
