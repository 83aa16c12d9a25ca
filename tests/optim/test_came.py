"""CAME against a NumPy transcription of Luo et al.'s Algorithm 1, its memory against Adam's, and its confidence.

Algorithm 1 of the paper (a matrix: row and column *sums*, divided by the sum
of the row statistics) is transcribed below, independently of `came_step`
(which writes means, as the authors' code does), and run in lock step with the
optimizer for 60 steps over a matrix, a stack of matrices (each one factored on
its own), a vector and a scalar (the authors' code: no factoring, no
confidence), for every flag (weight decay, maximize) in float64 and float32.
(`tests/optim/test_rules.py` checks the kernel against the readable rule too.)
"""

# ruff: noqa: N806 - the transcription names its terms by the paper's capital symbols (U_t, R_t, C_t, S_t)

from __future__ import annotations

import doctest
import itertools
import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim import came

SHAPES = [(4, 5), (2, 3, 4), (6,), (), (1, 7)]
STEPS = 60
TOL = {np.float64: dict(rtol=1e-11, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}


def paper_came_matrix(x, g, state, *, lr, eps1, eps2, d, beta1, beta2, beta3, weight_decay, rms=None):
    """Algorithm 1 of the paper for an n x m matrix (weight decay as the authors' code: decoupled, before the step).

        r_t = beta2 r_{t-1} + (1 - beta2) (g_t^2 + eps1 1_n 1_m^T) 1_m
        c_t = beta2 c_{t-1} + (1 - beta2) 1_n^T (g_t^2 + eps1 1_n 1_m^T)
        v_t = r_t c_t / (1_n^T r_t)
        u_t = g_t / sqrt(v_t);      u_hat_t = u_t / max(1, RMS(u_t) / d)
        m_t = beta1 m_{t-1} + (1 - beta1) u_hat_t
        U_t = (u_hat_t - m_t)^2
        R_t = beta3 R_{t-1} + (1 - beta3) (U_t + eps2 1_n 1_m^T) 1_m
        C_t = beta3 C_{t-1} + (1 - beta3) 1_n^T (U_t + eps2 1_n 1_m^T)
        S_t = R_t C_t / (1_n^T R_t)
        x_t = x_{t-1} - eta / sqrt(S_t) m_t

    ``rms``: RMS(u_t) when the matrix is one of a stack (the authors' code clips a tensor as a whole).
    """
    n, m = x.shape
    ones_n, ones_m = np.ones(n, x.dtype), np.ones(m, x.dtype)
    G = g * g + eps1 * np.outer(ones_n, ones_m)
    r = state["r"] = beta2 * state.get("r", 0.0) + (1 - beta2) * (G @ ones_m)
    c = state["c"] = beta2 * state.get("c", 0.0) + (1 - beta2) * (ones_n @ G)
    v = np.outer(r, c) / (ones_n @ r)
    u = g / np.sqrt(v)
    if rms is None:
        rms = np.sqrt(np.mean(u.astype(np.float64) ** 2))
    u_hat = u / max(1.0, float(rms) / d)
    mom = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * u_hat
    U = (u_hat - mom) ** 2 + eps2 * np.outer(ones_n, ones_m)
    R = state["R"] = beta3 * state.get("R", 0.0) + (1 - beta3) * (U @ ones_m)
    C = state["C"] = beta3 * state.get("C", 0.0) + (1 - beta3) * (ones_n @ U)
    S = np.outer(R, C) / (ones_n @ R)
    return x * (1 - lr * weight_decay) - lr / np.sqrt(S) * mom


def authors_came_vector(x, g, state, *, lr, eps1, eps2, d, beta1, beta2, beta3, weight_decay):
    """The authors' code for a tensor of fewer than 2 dimensions: a full second moment and a plain momentum step."""
    v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * (g * g + eps1)
    u = g / np.sqrt(v)
    rms = np.sqrt(np.mean(np.asarray(u, np.float64) ** 2))
    u_hat = u / max(1.0, float(rms) / d)
    mom = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * u_hat
    return x * (1 - lr * weight_decay) - lr * mom


def reference_step(x, g, state, **hyper):
    """One step of the transcriptions: a vector or scalar, a matrix, or a (k, n, m) stack of matrices (each
    factored on its own, with one RMS(u_t) for the whole tensor, as the authors' code computes it)."""
    if x.ndim < 2:
        return authors_came_vector(x, g, state, **hyper)
    if x.ndim == 2:
        return paper_came_matrix(x, g, state, **hyper)
    us = []
    for b in range(x.shape[0]):  # the u_t of every matrix, from the statistics the step will compute
        G = g[b] * g[b] + hyper["eps1"]
        r = hyper["beta2"] * state[b].get("r", 0.0) + (1 - hyper["beta2"]) * G.sum(axis=1)
        c = hyper["beta2"] * state[b].get("c", 0.0) + (1 - hyper["beta2"]) * G.sum(axis=0)
        us.append(g[b] / np.sqrt(np.outer(r, c) / r.sum()))
    rms = float(np.sqrt(np.mean(np.square(np.stack(us), dtype=np.float64))))
    return np.stack([paper_came_matrix(x[b], g[b], state[b], rms=rms, **hyper) for b in range(x.shape[0])])


def assert_close(actual, desired, dtype, err_msg):
    tol = dict(TOL[dtype])
    tol["atol"] *= max(1.0, float(np.max(np.abs(desired), initial=0.0)))
    np.testing.assert_allclose(actual, desired, **tol, err_msg=err_msg)


KWARGS = [dict(lr=2e-3, weight_decay=weight_decay, maximize=maximize)
          for weight_decay, maximize in itertools.product((0.0, 0.1), (False, True))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", KWARGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
@pytest.mark.parametrize("clip_threshold", [1.0, 0.5])
def test_came_matches_algorithm_1_over_60_steps(kwargs, dtype, clip_threshold):
    rng = np.random.default_rng(0)
    init = [np.asarray(rng.standard_normal(shape), dtype) for shape in SHAPES]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    opt = optim.CAME(params, betas=(0.8, 0.95, 0.99), clip_threshold=clip_threshold, **kwargs)
    hyper = dict(lr=kwargs["lr"], eps1=1e-30, eps2=1e-16, d=clip_threshold, beta1=0.8, beta2=0.95, beta3=0.99,
                 weight_decay=kwargs["weight_decay"])
    reference = [v.copy() for v in init]
    states = [[{} for _ in range(shape[0])] if len(shape) == 3 else {} for shape in SHAPES]
    for step in range(STEPS):
        # gradients of changing scale, so that the clipping is on in some steps and off in others
        grads = [np.asarray(rng.standard_normal(shape) * (1 + 3 * (step % 2)), dtype) for shape in SHAPES]
        for p, g in zip(params, grads):
            p.grad = tg.tensor(g, dtype=dtype)
        opt.step()
        for i, g in enumerate(grads):
            g = -g if kwargs["maximize"] else g
            reference[i] = reference_step(reference[i], g, states[i], **hyper)
            assert reference[i].dtype == dtype
            assert_close(params[i].numpy(), reference[i], dtype, f"step {step + 1}, parameter {i} {SHAPES[i]}")
    # the statistics: the paper's sums are the optimizer's means times the row length (or column length)
    w, state = params[0], states[0]
    assert_close(opt.state[w]["exp_avg_sq_row"].ravel() * 5, state["r"], dtype, "r")
    assert_close(opt.state[w]["exp_avg_sq_col"].ravel() * 4, state["c"], dtype, "c")
    assert_close(opt.state[w]["exp_avg_res_row"].ravel() * 5, state["R"], dtype, "R")
    assert_close(opt.state[w]["exp_avg_res_col"].ravel() * 4, state["C"], dtype, "C")
    assert_close(opt.state[w]["exp_avg"], state["m"], dtype, "m")


def test_state_is_factored_for_matrices_and_its_bytes_are_about_half_of_adams():
    def stepped(cls, shapes, **kwargs):
        params = [tg.zeros(shape, requires_grad=True) for shape in shapes]  # float32
        opt = cls(params, **kwargs)
        for p in params:
            p.grad = tg.ones(p.shape)
        opt.step()
        return opt, params

    opt, (w, b) = stepped(optim.CAME, [(256, 512), (512,)])
    assert {k: v.shape for k, v in opt.state[w].items() if k != "step"} == {
        "exp_avg": (256, 512), "exp_avg_sq_row": (256, 1), "exp_avg_sq_col": (1, 512),
        "exp_avg_res_row": (256, 1), "exp_avg_res_col": (1, 512)}
    assert {k: v.shape for k, v in opt.state[b].items() if k != "step"} == {"exp_avg": (512,), "exp_avg_sq": (512,)}
    matrix_came = stepped(optim.CAME, [(256, 512)])[0].state_nbytes()
    matrix_adam = stepped(optim.Adam, [(256, 512)])[0].state_nbytes()
    matrix_adafactor = stepped(optim.Adafactor, [(256, 512)])[0].state_nbytes()
    assert matrix_came == 4 * (256 * 512 + 2 * (256 + 512)) + 8 == 530_440
    assert matrix_adam == 4 * 2 * 256 * 512 + 8 == 1_048_584
    assert matrix_adafactor == 4 * (256 + 512) + 8
    assert matrix_adafactor < matrix_came < 0.51 * matrix_adam
    assert opt.state_nbytes() == matrix_came + 4 * 2 * 512 + 8  # a vector keeps m and v in full, as Adam


def test_confident_rows_take_larger_steps_than_noisy_ones():
    """The confidence at work: of two rows with gradients of the same size (so the same v), the one whose gradient
    keeps its sign (u_hat close to m) gets a larger factor 1 / sqrt(S) = step / (lr |m|) than the one whose sign
    flips at random -- on top of its larger momentum |m|, which plain momentum would give it as well."""
    rng = np.random.default_rng(3)
    w = tg.zeros(2, 64, requires_grad=True, dtype=np.float64)
    opt = optim.CAME([w], lr=1e-3)
    confidence, momentum = np.zeros(2), np.zeros(2)
    for step in range(200):
        g = np.ones((2, 64))
        g[1] *= rng.choice([-1.0, 1.0], size=64)
        before = w.numpy().copy()
        w.grad = tg.tensor(g, dtype=np.float64)
        opt.step()
        if step >= 100:
            m = np.abs(opt.state[w]["exp_avg"])
            confidence += (np.abs(w.numpy() - before) / (1e-3 * m)).mean(axis=1)
            momentum += m.mean(axis=1)
    # (measured: confidence factors about 49 and 9; mean |m| about 0.1 and 0.019)
    assert confidence[0] > 3 * confidence[1], confidence
    assert momentum[0] > 3 * momentum[1], momentum


def test_state_dict_round_trip_and_resume_equal_the_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(20)]

    def build(values):
        params = [tg.tensor(v.copy(), requires_grad=True, dtype=np.float64) for v in values]
        return params, optim.CAME([{"params": params[:2]}, {"params": params[2:], "weight_decay": 0.1}], lr=1e-3)

    def run(params, opt, steps):
        for step_grads in steps:
            for p, g in zip(params, step_grads):
                p.grad = tg.tensor(g, dtype=np.float64)
            opt.step()

    straight, straight_opt = build(init)
    run(straight, straight_opt, grads)
    first, first_opt = build(init)
    run(first, first_opt, grads[:10])
    tg.save(first_opt.state_dict(), tmp_path / "came.tg")
    resumed, resumed_opt = build([p.numpy() for p in first])
    resumed_opt.load_state_dict(tg.load(tmp_path / "came.tg"))
    assert resumed_opt.param_groups[0]["betas"] == (0.9, 0.999, 0.9999)
    run(resumed, resumed_opt, grads[10:])
    for a, b in zip(straight, resumed):
        assert a.numpy().tobytes() == b.numpy().tobytes()
        assert straight_opt.state[a].keys() == resumed_opt.state[b].keys()
        for key in straight_opt.state[a]:
            np.testing.assert_array_equal(straight_opt.state[a][key], resumed_opt.state[b][key])


def test_explain_shows_the_confidence():
    w = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, dtype=np.float64)
    opt = optim.CAME([w], lr=0.01)
    for _ in range(2):
        with opt.record():
            opt.zero_grad()
            (w ** 2).sum().backward()
            opt.step()
    e = opt.explain(w)
    assert e.agrees and e.step == 2
    assert e["R_t"].shape == (2, 1) and e["C_t"].shape == (1, 3) and e["S_t"].shape == (2, 3)
    text = str(e)
    assert "S_t = R_t C_t / mean(R_t)" in text and "U_t = (u_hat - m_t)^2" in text


INVALID = [
    (dict(lr=-1e-3), "lr", -1e-3),
    (dict(lr=float("nan")), "lr", float("nan")),
    (dict(eps=(0.0, 1e-16)), "eps[0]", 0.0),
    (dict(eps=(1e-30, -1.0)), "eps[1]", -1.0),
    (dict(eps=1e-30), "eps", 1e-30),
    (dict(clip_threshold=0.0), "clip_threshold", 0.0),
    (dict(clip_threshold=float("inf")), "clip_threshold", float("inf")),
    (dict(betas=(0.9, 0.999)), "betas", (0.9, 0.999)),
    (dict(betas=(1.0, 0.999, 0.9999)), "betas[0]", 1.0),
    (dict(betas=(0.9, -0.1, 0.9999)), "betas[1]", -0.1),
    (dict(betas=(0.9, 0.999, 1.5)), "betas[2]", 1.5),
    (dict(weight_decay=-0.01), "weight_decay", -0.01),
]


@pytest.mark.parametrize("kwargs,name,value", INVALID, ids=[f"{n}={v}" for _, n, v in INVALID])
def test_invalid_hyperparameters_raise_naming_them(kwargs, name, value):
    w = tg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(f"Invalid {name} value: {value!r}")):
        optim.CAME([w], **kwargs)
    assert optim.get("came") is optim.CAME and optim.CAME in optim.REGISTRY


def test_docstring_example_runs():
    result = doctest.testmod(came, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a_row_and_a_column_without_gradient_stay_finite_in_float32():
    """Dead ReLU units give a weight matrix a zero row and a zero column of gradient: r and c are then each about
    eps1 = 1e-30, whose product underflows to 0 in float32. The step must still be the paper's (computed here in
    float64, where nothing underflows), not 0/0 spreading NaN through the whole matrix."""
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((4, 5)).astype(np.float32)
    w = tg.tensor(x0.copy(), requires_grad=True)
    optimizer = optim.CAME([w], lr=1e-2)
    x, state = x0.astype(np.float64), {}
    for _ in range(5):
        g = rng.standard_normal((4, 5)).astype(np.float32)
        g[1], g[:, 2] = 0, 0
        w.grad = tg.tensor(g)
        optimizer.step()
        x = paper_came_matrix(x, g.astype(np.float64), state, lr=1e-2, eps1=1e-30, eps2=1e-16, d=1.0, beta1=0.9,
                              beta2=0.999, beta3=0.9999, weight_decay=0.0)
    assert np.isfinite(w.numpy()).all()
    np.testing.assert_allclose(w.numpy(), x, rtol=2e-5, atol=2e-6)
