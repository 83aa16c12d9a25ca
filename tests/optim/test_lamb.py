"""LAMB against a NumPy transcription of You et al.'s Algorithm 2, against PyTorch's AdamW, and its defining property.

Algorithm 2 is transcribed below in NumPy, independently of `lamb_step`, and run
in lock step with the optimizer for 60 steps over tensors of several shapes
(one starting at zero, one with gradients 1e4 times larger than the others), for
every combination of the flags (weight decay, bias correction, maximize).
(`tests/optim/test_rules.py` checks the kernel against the readable rule too.)
"""

from __future__ import annotations

import doctest
import itertools
import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim import lamb

SHAPES = [(), (3,), (4, 5), (2, 3, 4), (6,)]
ZERO, HUGE = 4, 2
STEPS = 60
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}


def paper_lamb(x, g, state, *, lr, beta1, beta2, eps, weight_decay, bias_correction):
    """Algorithm 2 (LAMB) of You et al. for one layer, with phi the identity (a ratio of 1 where a norm is 0).

        m_t = beta1 m_{t-1} + (1 - beta1) g_t;      v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
        m_t = m_t / (1 - beta1^t);                  v_t = v_t / (1 - beta2^t)
        r_t = m_t / (sqrt(v_t) + eps)
        x_{t+1} = x_t - eta_t phi(||x_t||) / ||r_t + lambda x_t|| (r_t + lambda x_t)
    """
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    if bias_correction:
        m, v = m / (1 - beta1**t), v / (1 - beta2**t)
    r = m / (np.sqrt(v) + eps)
    direction = r + weight_decay * x
    x_norm, direction_norm = np.linalg.norm(x.astype(np.float64)), np.linalg.norm(direction.astype(np.float64))
    ratio = x_norm / direction_norm if x_norm > 0 and direction_norm > 0 else 1.0
    return x - lr * float(ratio) * direction


def assert_close(actual, desired, dtype, err_msg):
    tol = dict(TOL[dtype])
    tol["atol"] *= max(1.0, float(np.max(np.abs(desired), initial=0.0)))
    np.testing.assert_allclose(actual, desired, **tol, err_msg=err_msg)


def gradients(rng, dtype):
    grads = [np.asarray(rng.standard_normal(shape), dtype) for shape in SHAPES]
    grads[HUGE] = grads[HUGE] * dtype(1e4)
    return grads


KWARGS = [dict(lr=0.01, weight_decay=weight_decay, bias_correction=bias_correction, maximize=maximize)
          for weight_decay, bias_correction, maximize in itertools.product((0.0, 0.01), (True, False), (False, True))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", KWARGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_lamb_matches_algorithm_2_over_60_steps(kwargs, dtype):
    rng = np.random.default_rng(0)
    init = [np.asarray(rng.standard_normal(shape), dtype) for shape in SHAPES]
    init[ZERO][...] = 0
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    opt = optim.LAMB(params, betas=(0.8, 0.95), **kwargs)
    paper = dict(lr=kwargs["lr"], beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=kwargs["weight_decay"],
                 bias_correction=kwargs["bias_correction"])
    reference, states = [v.copy() for v in init], [{} for _ in init]
    for step in range(STEPS):
        grads = gradients(rng, dtype)
        for p, g in zip(params, grads):
            p.grad = tg.tensor(g, dtype=dtype)
        opt.step()
        for i, g in enumerate(grads):
            reference[i] = paper_lamb(reference[i], -g if kwargs["maximize"] else g, states[i], **paper)
            assert reference[i].dtype == dtype
            assert_close(params[i].numpy(), reference[i], dtype, f"step {step + 1}, parameter {i} {SHAPES[i]}")
    for p, state in zip(params, states):
        assert_close(opt.state[p]["exp_avg"], state["m"], dtype, "m")
        assert_close(opt.state[p]["exp_avg_sq"], state["v"], dtype, "v")


def test_each_layer_moves_by_lr_times_its_norm():
    """||delta theta|| = gamma ||theta|| for every tensor, whatever the scale of its gradients."""
    rng = np.random.default_rng(1)
    params = [tg.tensor(rng.standard_normal(s), requires_grad=True, dtype=np.float64) for s in [(8, 8), (30,), (3,)]]
    opt = optim.LAMB(params, lr=0.02, weight_decay=0.1)
    for _ in range(10):
        before = [p.numpy().copy() for p in params]
        for p, scale in zip(params, [1e-4, 1.0, 1e4]):
            p.grad = tg.tensor(rng.standard_normal(p.shape) * scale, dtype=np.float64)
        opt.step()
        for p, b in zip(params, before):
            np.testing.assert_allclose(np.linalg.norm(p.numpy() - b), 0.02 * np.linalg.norm(b), rtol=1e-12)


def test_without_decay_lamb_is_adamw_rescaled_per_tensor(torch):
    """PyTorch as the oracle for the moments and the direction: with gradients given (so the moments do not depend
    on theta) and no decay, LAMB's step is AdamW's step rescaled to length lr * ||theta||; the states agree."""
    rng = np.random.default_rng(2)
    init = [rng.standard_normal(s) for s in [(4, 5), (7,)]]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=np.float64) for v in init]
    torch_params = [torch.tensor(v.copy(), requires_grad=True) for v in init]
    opt = optim.LAMB(params, lr=0.01, betas=(0.9, 0.99))
    torch_opt = torch.optim.AdamW(torch_params, lr=0.01, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.0)
    for step in range(STEPS):
        grads = [rng.standard_normal(v.shape) for v in init]
        before = [p.numpy().copy() for p in params]
        torch_before = [tp.detach().numpy().copy() for tp in torch_params]
        for p, tp, g in zip(params, torch_params, grads):
            p.grad, tp.grad = tg.tensor(g, dtype=np.float64), torch.tensor(g)
        opt.step()
        torch_opt.step()
        for p, tp, b, tb in zip(params, torch_params, before, torch_before):
            adamw_step = tp.detach().numpy() - tb
            expected = 0.01 * np.linalg.norm(b) * adamw_step / np.linalg.norm(adamw_step)
            np.testing.assert_allclose(p.numpy() - b, expected, rtol=1e-9, atol=1e-15, err_msg=f"step {step}")
            np.testing.assert_allclose(opt.state[p]["exp_avg"], torch_opt.state[tp]["exp_avg"].numpy(),
                                       rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], torch_opt.state[tp]["exp_avg_sq"].numpy(),
                                       rtol=1e-13, atol=1e-15)


def test_a_zero_tensor_takes_the_unscaled_step():
    b = tg.zeros(3, requires_grad=True, dtype=np.float64)
    opt = optim.LAMB([b], lr=0.1)
    b.grad = tg.tensor([2.0, -0.5, 0.0], dtype=np.float64)
    with opt.record():
        opt.step()
    # trust ratio 1: the step is lr * r = lr * g / (|g| + eps) on the first step
    np.testing.assert_allclose(b.numpy(), -0.1 * np.array([2.0, -0.5, 0.0]) / (np.array([2.0, 0.5, 0.0]) + 1e-6),
                               rtol=1e-12)
    assert opt.explain(b)["trust_ratio"] == 1.0 and opt.explain(b).agrees


def test_state_dict_round_trip_and_resume_equal_the_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(20)]

    def build(values):
        params = [tg.tensor(v.copy(), requires_grad=True, dtype=np.float64) for v in values]
        return params, optim.LAMB([{"params": params[:2]}, {"params": params[2:], "bias_correction": False}],
                                  lr=0.01, weight_decay=0.01)

    def run(params, opt, steps):
        for step_grads in steps:
            for p, g in zip(params, step_grads):
                p.grad = tg.tensor(g, dtype=np.float64)
            opt.step()

    straight, straight_opt = build(init)
    run(straight, straight_opt, grads)
    first, first_opt = build(init)
    run(first, first_opt, grads[:10])
    tg.save(first_opt.state_dict(), tmp_path / "lamb.tg")
    resumed, resumed_opt = build([p.numpy() for p in first])
    resumed_opt.load_state_dict(tg.load(tmp_path / "lamb.tg"))
    run(resumed, resumed_opt, grads[10:])
    for a, b in zip(straight, resumed):
        assert a.numpy().tobytes() == b.numpy().tobytes()
        for key in straight_opt.state[a]:
            np.testing.assert_array_equal(straight_opt.state[a][key], resumed_opt.state[b][key])


def test_state_nbytes_equals_adams():
    sizes = {}
    for cls in (optim.LAMB, optim.Adam):
        params = [tg.zeros(s, requires_grad=True) for s in [(10, 20), (5,)]]
        opt = cls(params)
        for p in params:
            p.grad = tg.ones(p.shape)
        opt.step()
        sizes[cls] = opt.state_nbytes()
    assert sizes[optim.LAMB] == sizes[optim.Adam] == 2 * 205 * 4 + 2 * 8


def test_explain_shows_the_trust_ratio():
    w = tg.tensor([3.0, 4.0], requires_grad=True, dtype=np.float64)
    opt = optim.LAMB([w], lr=0.01)
    with opt.record():
        (w ** 2).sum().backward()
        opt.step()
    e = opt.explain(w)
    assert e.agrees and e["w_norm"] == 5.0
    np.testing.assert_allclose(e["trust_ratio"], 5.0 / np.linalg.norm(e["u_t"]), rtol=1e-15)
    assert "trust_ratio = w_norm / u_norm" in str(e) and "r_t = m_hat / (sqrt(v_hat) + epsilon)" in str(e)


INVALID = [
    (dict(lr=-1e-3), "lr", -1e-3),
    (dict(lr=float("inf")), "lr", float("inf")),
    (dict(betas=(1.0, 0.999)), "betas[0]", 1.0),
    (dict(betas=(0.9, -0.1)), "betas[1]", -0.1),
    (dict(betas=(0.9,)), "betas", (0.9,)),
    (dict(eps=-1e-6), "eps", -1e-6),
    (dict(weight_decay=-0.01), "weight_decay", -0.01),
]


@pytest.mark.parametrize("kwargs,name,value", INVALID, ids=[f"{n}={v}" for _, n, v in INVALID])
def test_invalid_hyperparameters_raise_naming_them(kwargs, name, value):
    w = tg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(f"Invalid {name} value: {value!r}")):
        optim.LAMB([w], **kwargs)
    assert optim.get("lamb") is optim.LAMB and optim.LAMB in optim.REGISTRY


def test_docstring_example_runs():
    result = doctest.testmod(lamb, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
