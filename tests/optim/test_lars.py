"""LARS against You, Gitman & Ginsburg's Algorithm 1, PyTorch's SGD (excluded groups) and its defining property.

The paper's update (Algorithm 1) is transcribed below in NumPy, independently
of `lars_step`, and run in lock step with the optimizer for 60 steps over
tensors of several shapes (one of them starting at zero, one of them getting
huge gradients), for every combination of momentum, weight decay and maximize.
(`tests/optim/test_rules.py` checks the kernel against the readable rule for
every flag combination, nesterov and lars_exclude included.)
"""

from __future__ import annotations

import doctest
import itertools
import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim import kernels, lars

SHAPES = [(), (3,), (4, 5), (2, 3, 4), (6,)]
ZERO = 4           # this parameter starts at zero (a bias): its trust ratio is 1
HUGE = 2           # ... and this one gets gradients 1e4 times larger than the others
STEPS = 60
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}


def paper_lars(w, g, state, *, lr, momentum, weight_decay, trust_coefficient, eps):
    """Algorithm 1 of the paper for one layer (eps in the denominator; local lr 1 where a norm is 0, by convention).

        lambda = eta * ||w|| / (||g|| + beta * ||w||)
        v      = m * v + gamma * lambda * (g + beta * w)
        w      = w - v
    """
    w_norm, g_norm = np.linalg.norm(w.astype(np.float64)), np.linalg.norm(g.astype(np.float64))
    local = trust_coefficient * w_norm / (g_norm + weight_decay * w_norm + eps) if w_norm > 0 and g_norm > 0 else 1.0
    v = momentum * state.get("v", 0.0) + lr * float(local) * (g + weight_decay * w)
    state["v"] = v
    return w - v


def gradients(rng, dtype):
    grads = [np.asarray(rng.standard_normal(shape), dtype) for shape in SHAPES]
    grads[HUGE] = grads[HUGE] * dtype(1e4)
    return grads


def initial_values(rng, dtype):
    init = [np.asarray(rng.standard_normal(shape), dtype) for shape in SHAPES]
    init[ZERO][...] = 0
    return init


def assert_close(actual, desired, dtype, err_msg):
    tol = dict(TOL[dtype])
    tol["atol"] *= max(1.0, float(np.max(np.abs(desired), initial=0.0)))
    np.testing.assert_allclose(actual, desired, **tol, err_msg=err_msg)


KWARGS = [dict(lr=0.5, momentum=momentum, weight_decay=weight_decay, maximize=maximize)
          for momentum, weight_decay, maximize in itertools.product((0.0, 0.9), (0.0, 5e-3), (False, True))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", KWARGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_lars_matches_the_papers_algorithm_over_60_steps(kwargs, dtype):
    rng = np.random.default_rng(0)
    init = initial_values(rng, dtype)
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    opt = optim.LARS(params, trust_coefficient=0.02, **kwargs)
    reference, states = [v.copy() for v in init], [{} for _ in init]
    paper = dict(lr=kwargs["lr"], momentum=kwargs["momentum"], weight_decay=kwargs["weight_decay"],
                 trust_coefficient=0.02, eps=1e-8)
    for step in range(STEPS):
        grads = gradients(rng, dtype)
        for p, g in zip(params, grads):
            p.grad = tg.tensor(g, dtype=dtype)
        opt.step()
        for i, g in enumerate(grads):
            reference[i] = paper_lars(reference[i], -g if kwargs["maximize"] else g, states[i], **paper)
            assert_close(params[i].numpy(), reference[i], dtype, f"step {step + 1}, parameter {i} {SHAPES[i]}")
    assert np.all(params[ZERO].numpy() != 0)  # the zero-initialised tensor moved (trust ratio 1)


def test_every_layer_moves_by_the_same_fraction_of_its_norm_whatever_its_gradients_scale():
    """The point of LARS: ||delta w|| / ||w|| = lr * eta for every layer (without momentum and decay, eps = 0)."""
    rng = np.random.default_rng(1)
    params = [tg.tensor(rng.standard_normal(s), requires_grad=True, dtype=np.float64) for s in [(8, 8), (30,), (3,)]]
    scales = [1e-4, 1.0, 1e4]
    lars_opt = optim.LARS(params, lr=2.0, momentum=0.0, trust_coefficient=0.001, eps=0.0)
    for _ in range(5):
        before = [p.numpy().copy() for p in params]
        for p, scale in zip(params, scales):
            p.grad = tg.tensor(rng.standard_normal(p.shape) * scale, dtype=np.float64)
        lars_opt.step()
        for p, b in zip(params, before):
            np.testing.assert_allclose(np.linalg.norm(p.numpy() - b) / np.linalg.norm(b), 2.0 * 0.001, rtol=1e-12)
    # plain SGD's relative steps follow the gradients' scales instead: 8 orders of magnitude apart
    sgd_params = [tg.tensor(p.numpy().copy(), requires_grad=True, dtype=np.float64) for p in params]
    sgd = optim.SGD(sgd_params, lr=1e-3)
    for p, scale in zip(sgd_params, scales):
        p.grad = tg.tensor(rng.standard_normal(p.shape) * scale, dtype=np.float64)
    before = [p.numpy().copy() for p in sgd_params]
    sgd.step()
    relative = [np.linalg.norm(p.numpy() - b) / np.linalg.norm(b) for p, b in zip(sgd_params, before)]
    assert relative[2] / relative[0] > 1e7


def test_zero_norms_give_a_trust_ratio_of_one():
    w = tg.zeros(3, requires_grad=True, dtype=np.float64)       # ||w|| = 0: moves by lr * g
    still = tg.tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)  # ||g|| = 0: only the decay moves it
    opt = optim.LARS([w, still], lr=0.1, momentum=0.0, weight_decay=0.5)
    w.grad = tg.tensor([1.0, 2.0, -3.0], dtype=np.float64)
    still.grad = tg.zeros(2, dtype=np.float64)
    with opt.record():
        opt.step()
    np.testing.assert_array_equal(w.numpy(), [-0.1, -0.2, 0.30000000000000004])
    np.testing.assert_allclose(still.numpy(), np.array([1.0, -2.0]) * (1 - 0.1 * 0.5), rtol=1e-15)
    assert opt.explain(w)["local_lr"] == 1.0 and opt.explain(still)["local_lr"] == 1.0


@pytest.mark.parametrize("nesterov", [False, True])
def test_an_excluded_group_takes_pytorchs_sgd_steps_and_the_other_group_does_not(torch, nesterov):
    rng = np.random.default_rng(2)
    init = [rng.standard_normal(s) for s in [(4, 3), (4,), (3,)]]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=np.float64) for v in init]
    torch_biases = [torch.tensor(v.copy(), requires_grad=True) for v in init[1:]]
    opt = optim.LARS([{"params": params[:1]}, {"params": params[1:], "lars_exclude": True}], lr=0.1,
                     weight_decay=0.01, nesterov=nesterov)
    torch_opt = torch.optim.SGD(torch_biases, lr=0.1, momentum=0.9, nesterov=nesterov)
    weight_sgd = optim.SGD([tg.tensor(init[0].copy(), requires_grad=True, dtype=np.float64)], lr=0.1, momentum=0.9,
                           weight_decay=0.01, nesterov=nesterov)
    for step in range(STEPS):
        grads = [rng.standard_normal(v.shape) for v in init]
        for p, g in zip(params, grads):
            p.grad = tg.tensor(g, dtype=np.float64)
        for p, g in zip(torch_biases, grads[1:]):
            p.grad = torch.tensor(g)
        weight_sgd.param_groups[0]["params"][0].grad = tg.tensor(grads[0], dtype=np.float64)
        opt.step()
        torch_opt.step()
        weight_sgd.step()
        for p, tp in zip(params[1:], torch_biases):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-13, err_msg=f"step {step}")
    assert not np.allclose(params[0].numpy(), weight_sgd.param_groups[0]["params"][0].numpy(), rtol=1e-3)


def test_with_a_changing_learning_rate_the_momentum_convention_shows():
    """Documented: gamma is applied after the momentum (PyTorch's SGD convention); the paper puts gamma_t inside.

    The same while gamma is constant (above); with a warm-up they differ, and ours is the SGD convention.
    """
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal(5)
    w = tg.tensor(w0.copy(), requires_grad=True, dtype=np.float64)
    opt = optim.LARS([w], lr=1.0, trust_coefficient=0.01)
    paper, state = w0.copy(), {}
    sgd_convention, buffer = w0.copy(), None
    for step in range(10):
        lr = 0.1 * (step + 1)
        opt.param_groups[0]["lr"] = lr
        g = rng.standard_normal(5)
        w.grad = tg.tensor(g, dtype=np.float64)
        opt.step()
        paper = paper_lars(paper, g, state, lr=lr, momentum=0.9, weight_decay=0.0, trust_coefficient=0.01, eps=1e-8)
        local = 0.01 * np.linalg.norm(sgd_convention) / (np.linalg.norm(g) + 1e-8)
        buffer = local * g if buffer is None else 0.9 * buffer + local * g
        sgd_convention = sgd_convention - lr * buffer
    np.testing.assert_allclose(w.numpy(), sgd_convention, rtol=1e-12)
    assert np.max(np.abs(w.numpy() - paper)) > 1e-3


def test_the_parallel_twin_with_adaptation_is_bit_identical_to_the_serial_kernel(monkeypatch):
    """(test_parallel_kernels runs every flag on, lars_exclude included; here the trust ratios are computed.)"""
    def run():
        rng = np.random.default_rng(4)
        params = [tg.tensor(rng.standard_normal(s), requires_grad=True, dtype=np.float32) for s in [(600, 1000), (7,)]]
        opts = [optim.LARS(params, lr=1.0, weight_decay=0.01, nesterov=True),
                optim.LAMB([tg.tensor(p.numpy().copy(), requires_grad=True) for p in params], weight_decay=0.01)]
        for _ in range(3):
            for opt in opts:
                for p in opt.param_groups[0]["params"]:
                    p.grad = tg.tensor(rng.standard_normal(p.shape), dtype=np.float32)
                opt.step()
        return [p.numpy().copy() for opt in opts for p in opt.param_groups[0]["params"]]

    assert kernels.pick("lars", 600_007) is kernels._parallel["lars"]
    parallel = run()
    monkeypatch.setattr(kernels, "PARALLEL_THRESHOLD", 1 << 62)
    assert kernels.pick("lars", 600_007) is kernels.lars
    for a, b in zip(parallel, run()):
        np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip_and_resume_equal_the_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(20)]
    kwargs = dict(lr=0.3, weight_decay=1e-3, nesterov=True)

    def build(values):
        params = [tg.tensor(v.copy(), requires_grad=True, dtype=np.float64) for v in values]
        return params, optim.LARS([{"params": params[:3]}, {"params": params[3:], "lars_exclude": True}], **kwargs)

    def run(params, opt, steps):
        for step_grads in steps:
            for p, g in zip(params, step_grads):
                p.grad = tg.tensor(g, dtype=np.float64)
            opt.step()

    straight, straight_opt = build(init)
    run(straight, straight_opt, grads)
    first, first_opt = build(init)
    run(first, first_opt, grads[:10])
    tg.save(first_opt.state_dict(), tmp_path / "lars.tg")
    resumed, resumed_opt = build([p.numpy() for p in first])
    resumed_opt.load_state_dict(tg.load(tmp_path / "lars.tg"))
    assert resumed_opt.param_groups[1]["lars_exclude"] is True
    run(resumed, resumed_opt, grads[10:])
    for a, b in zip(straight, resumed):
        assert a.numpy().tobytes() == b.numpy().tobytes()
    for a, b in zip(straight, resumed):
        for key in straight_opt.state[a]:
            np.testing.assert_array_equal(straight_opt.state[a][key], resumed_opt.state[b][key])


def test_state_nbytes_is_one_momentum_buffer():
    params = [tg.zeros(s, requires_grad=True) for s in [(10, 20), (5,)]]
    opt, plain = optim.LARS(params, lr=1.0), optim.LARS([tg.zeros(3, requires_grad=True)], lr=1.0, momentum=0)
    for p in [*params, *plain.param_groups[0]["params"]]:
        p.grad = tg.ones(p.shape)
    opt.step()
    plain.step()
    assert opt.state_nbytes() == 205 * 4 + 2 * 8 and plain.state_nbytes() == 8


def test_explain_shows_the_trust_ratio():
    w = tg.tensor([3.0, 4.0], requires_grad=True, dtype=np.float64)
    opt = optim.LARS([w], lr=1.0, trust_coefficient=0.01)
    with opt.record():
        (w ** 2).sum().backward()
        opt.step()
    e = opt.explain(w)
    assert e.agrees and e["w_norm"] == 5.0 and e["g_norm"] == 10.0
    np.testing.assert_allclose(e["local_lr"], 0.01 * 5 / (10 + 1e-8), rtol=1e-15)
    text = str(e)
    assert "local_lr = eta * w_norm / (g_norm + lambda * w_norm + epsilon)" in text
    assert "the trust ratio (1 if a norm is 0)" in text


INVALID = [
    (dict(lr=-1.0), "lr", -1.0),
    (dict(lr=float("nan")), "lr", float("nan")),
    (dict(lr=1.0, momentum=-0.9), "momentum", -0.9),
    (dict(lr=1.0, weight_decay=-1e-4), "weight_decay", -1e-4),
    (dict(lr=1.0, trust_coefficient=0.0), "trust_coefficient", 0.0),
    (dict(lr=1.0, trust_coefficient=float("inf")), "trust_coefficient", float("inf")),
    (dict(lr=1.0, eps=-1e-8), "eps", -1e-8),
]


@pytest.mark.parametrize("kwargs,name,value", INVALID, ids=[f"{n}={v}" for _, n, v in INVALID])
def test_invalid_hyperparameters_raise_naming_them(kwargs, name, value):
    w = tg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(f"Invalid {name} value: {value!r}")):
        optim.LARS([w], **kwargs)
    with pytest.raises(ValueError, match="Nesterov momentum requires momentum > 0"):
        optim.LARS([w], lr=1.0, momentum=0.0, nesterov=True)
    assert optim.get("lars") is optim.LARS and optim.LARS in optim.REGISTRY


def test_docstring_example_runs():
    result = doctest.testmod(lars, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
