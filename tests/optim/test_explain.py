"""Step explanations (`optimizer.record()`, `optimizer.explain(p)`, `optim.explain_step`).

For every covered optimizer and flag combination, over several recorded steps:
the explanation's ``theta_after`` is the parameter after the real step, bit for
bit; its terms recompute that value exactly from ``theta_before`` by the rule;
its numbers equal a plain NumPy transcription of the docstring; and recording
changes nothing about the steps themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim

SHAPES = [(), (3,), (2, 3)]
STEPS = 4
STEPS_FOR = {"RAdam": 8}  # RAdam with beta2 = 0.8 rectifies from t = 7: both branches are seen

CASES = [
    ("SGD", optim.SGD, dict(lr=0.1)),
    ("SGD", optim.SGD, dict(lr=0.1, momentum=0.9)),
    ("SGD", optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", optim.SGD, dict(lr=0.1, weight_decay=0.2, maximize=True)),
    ("Momentum", optim.Momentum, dict(lr=0.1, beta=0.9)),
    ("Momentum", optim.Momentum, dict(lr=0.3, beta=0.5)),
    ("RMSprop", optim.RMSprop, dict(lr=0.01)),
    ("RMSprop", optim.RMSprop, dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", optim.RMSprop, dict(lr=0.01, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", optim.RMSprop, dict(lr=0.02, momentum=0.9, centered=True, weight_decay=0.05, maximize=True)),
    ("Adagrad", optim.Adagrad, dict(lr=0.5)),
    ("Adagrad", optim.Adagrad, dict(lr=0.5, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("Adagrad", optim.Adagrad, dict(lr=0.1, maximize=True)),
    ("Adam", optim.Adam, dict(lr=0.1)),
    ("Adam", optim.Adam, dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adam", optim.Adam, dict(lr=0.05, amsgrad=True, maximize=True)),
    ("AdamW", optim.AdamW, dict(lr=0.1)),
    ("AdamW", optim.AdamW, dict(lr=0.1, weight_decay=0.3, amsgrad=True)),
    ("NAdam", optim.NAdam, dict(lr=0.1)),
    ("NAdam", optim.NAdam, dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=0.5, maximize=True)),
    ("NAdam", optim.NAdam, dict(lr=0.1, weight_decay=0.2, decoupled_weight_decay=True)),
    ("RAdam", optim.RAdam, dict(lr=0.1)),
    ("RAdam", optim.RAdam, dict(lr=0.1, betas=(0.9, 0.8), weight_decay=0.1, maximize=True)),  # rectified from t = 7
    ("RAdam", optim.RAdam, dict(lr=0.05, betas=(0.8, 0.8), weight_decay=0.2, decoupled_weight_decay=True)),
    ("Lion", optim.Lion, dict(lr=0.1)),
    ("Lion", optim.Lion, dict(lr=0.05, betas=(0.8, 0.95), weight_decay=0.3)),
    ("Lion", optim.Lion, dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("Adafactor", optim.Adafactor, dict(lr=0.1)),
    ("Adafactor", optim.Adafactor, dict(lr=0.5, beta2_decay=-0.5, d=2.0, weight_decay=0.1, maximize=True)),
    ("Adafactor", optim.Adafactor, dict(lr=0.01, beta2_decay=0.0, eps=(1e-20, 1e-2))),
]
IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, _, kw in CASES]


def _params(dtype):
    rng = np.random.default_rng(0)
    return [tg.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=True) for shape in SHAPES]


def _gradients(step):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(shape) for shape in SHAPES]


def _backward(params, step):
    """A loss whose gradient is exactly the step's random gradients (it lands in the flat buffer)."""
    loss = sum((p * tg.tensor(g, dtype=p.dtype)).sum() for p, g in zip(params, _gradients(step)))
    loss.backward()


# -- a NumPy transcription of each docstring, in float64 ------------------------------------------


def reference(name, kw, theta, g, state, t):
    """One step of the docstring's rule; returns theta_new and the named intermediate values."""
    h = {"maximize": False, "weight_decay": 1e-2 if name == "AdamW" else 0.0, **kw}
    out = {}
    if name in ("NAdam", "RAdam", "Lion", "Adafactor"):
        return reference_more(name, h, theta, g, state, t, out)
    if name == "Momentum":
        v = h.get("beta", 0.9) * state.get("v", 0.0) + (1 - h.get("beta", 0.9)) * g
        state["v"] = out["velocity"] = v
        out["update"] = h["lr"] * v
        return theta - h["lr"] * v, out
    if h["maximize"]:
        g = -g
    if name == "AdamW":
        theta = theta * (1 - h["lr"] * h["weight_decay"])
        out["theta_decayed"] = theta
    elif h["weight_decay"]:
        g = g + h["weight_decay"] * theta
    if name == "SGD":
        mu, tau = h.get("momentum", 0.0), h.get("dampening", 0.0)
        if mu:
            b = g if t == 1 else mu * state["b"] + (1 - tau) * g
            state["b"] = out["momentum_buffer"] = b
            g = g + mu * b if h.get("nesterov") else b
        out["update"] = h["lr"] * g
        return theta - h["lr"] * g, out
    if name == "RMSprop":
        alpha, eps, mu = h.get("alpha", 0.99), h.get("eps", 1e-8), h.get("momentum", 0.0)
        s = state["s"] = out["square_avg"] = alpha * state.get("s", 0.0) + (1 - alpha) * g**2
        v = s
        if h.get("centered"):
            g_bar = state["g_bar"] = out["grad_avg"] = alpha * state.get("g_bar", 0.0) + (1 - alpha) * g
            v = s - g_bar**2
        out["variance"] = v
        if mu:
            b = state["b"] = out["momentum_buffer"] = mu * state.get("b", 0.0) + g / (np.sqrt(v) + eps)
            out["update"] = h["lr"] * b
        else:
            out["update"] = h["lr"] * g / (np.sqrt(v) + eps)
        return theta - out["update"], out
    if name == "Adagrad":
        eps = h.get("eps", 1e-10)
        eta_t = out["lr_t"] = h["lr"] / (1 + (t - 1) * h.get("lr_decay", 0.0))
        s = state["s"] = out["sum"] = state.get("s", h.get("initial_accumulator_value", 0.0)) + g**2
        out["update"] = eta_t * g / (np.sqrt(s) + eps)
        return theta - out["update"], out
    # Adam, AdamW
    beta1, beta2 = h.get("betas", (0.9, 0.999))
    eps = h.get("eps", 1e-8)
    m = state["m"] = out["exp_avg"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = state["v"] = out["exp_avg_sq"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g**2
    if h.get("amsgrad"):
        v = state["v_max"] = out["max_exp_avg_sq"] = np.maximum(state.get("v_max", 0.0), v)
    out["bias_correction1"], out["bias_correction2"] = 1 - beta1**t, 1 - beta2**t
    m_hat = out["m_hat"] = m / (1 - beta1**t)
    v_hat = out["v_hat"] = v / (1 - beta2**t)
    out["step_size"] = h["lr"] / (1 - beta1**t)
    out["update"] = h["lr"] * m_hat / (np.sqrt(v_hat) + eps)
    return theta - out["update"], out


def reference_more(name, h, theta, g, state, t, out):
    """The docstrings of NAdam, RAdam, Lion and Adafactor, in float64."""
    if h["maximize"]:
        g = -g
    if name == "Lion":
        beta1, beta2 = h.get("betas", (0.9, 0.99))
        m = state.get("m", 0.0)
        c = out["interpolation"] = beta1 * m + (1 - beta1) * g
        out["sign"] = np.sign(c)
        theta = theta * (1 - h["lr"] * h["weight_decay"])
        if h["weight_decay"]:
            out["theta_decayed"] = theta
        out["update"] = h["lr"] * np.sign(c)
        state["m"] = out["exp_avg"] = beta2 * m + (1 - beta2) * g
        return theta - out["update"], out
    if name == "Adafactor":
        tau, d = h.get("beta2_decay", -0.8), h.get("d", 1.0)
        eps1, eps2 = h.get("eps", (None, 1e-3))
        eps1 = np.finfo(np.float32).eps if eps1 is None else eps1  # (it only guards V_hat near 0: never reached here)
        beta2_t = out["beta2_t"] = 1 - t**tau
        rho_t = out["rho_t"] = min(h["lr"], 1 / np.sqrt(t))
        out["theta_rms"] = np.sqrt(np.mean(theta**2))
        alpha = out["alpha_t"] = max(eps2, out["theta_rms"]) * rho_t
        theta = theta * (1 - h["lr"] * h["weight_decay"])
        if np.ndim(theta) >= 2:
            row_mean, col_mean = np.mean(g**2, -1, keepdims=True), np.mean(g**2, -2, keepdims=True)
            r = state["R"] = out["row_var"] = beta2_t * state.get("R", 0.0) + (1 - beta2_t) * row_mean
            c = state["C"] = out["col_var"] = beta2_t * state.get("C", 0.0) + (1 - beta2_t) * col_mean
            v_hat = out["v_hat"] = r * c / np.maximum(np.mean(r, -2, keepdims=True), eps1)
        else:
            v_hat = state["V"] = out["variance"] = beta2_t * state.get("V", 0.0) + (1 - beta2_t) * g**2
        u = out["u"] = g / np.sqrt(np.maximum(v_hat, eps1**2))
        out["u_rms"] = np.sqrt(np.mean(u**2))
        out["update"] = alpha * u / max(1, out["u_rms"] / d)
        return theta - out["update"], out
    lr, beta1, beta2, eps = h["lr"], *h.get("betas", (0.9, 0.999)), h.get("eps", 1e-8)
    if h.get("decoupled_weight_decay"):
        theta = out["theta_decayed"] = theta * (1 - lr * h["weight_decay"])
    elif h["weight_decay"]:
        g = g + h["weight_decay"] * theta
    m = state["m"] = out["exp_avg"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = state["v"] = out["exp_avg_sq"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g**2
    if name == "NAdam":
        psi = h.get("momentum_decay", 4e-3)
        mu = out["mu_t"] = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = out["mu_next"] = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        product = state["P"] = out["mu_product"] = state.get("P", 1.0) * mu
        v_hat = out["v_hat"] = v / (1 - beta2**t)
        out["grad_step"] = lr * (1 - mu) / (1 - product) * g / (np.sqrt(v_hat) + eps)
        out["momentum_step"] = lr * mu_next / (1 - product * mu_next) * m / (np.sqrt(v_hat) + eps)
        out["update"] = out["grad_step"] + out["momentum_step"]
        return theta - out["update"], out
    m_hat = out["m_hat"] = m / (1 - beta1**t)
    rho_inf = out["rho_inf"] = 2 / (1 - beta2) - 1
    rho_t = out["rho_t"] = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
    if rho_t > 5:
        l_t = out["adaptive_lr"] = np.sqrt(1 - beta2**t) / (np.sqrt(v) + eps)
        r_t = out["r_t"] = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        out["update"] = lr * m_hat * l_t * r_t
    else:
        out["update"] = lr * m_hat
    return theta - out["update"], out


def recompute(name, kw, e, dtype):
    """theta_after from theta_before and the explanation's own terms, by the rule, in the parameter's dtype."""
    d = np.dtype(dtype).type
    g = e["grad"]
    if "grad_ascent" in e:
        g = e["grad_ascent"]
    if "grad_with_decay" in e:
        g = e["grad_with_decay"]
    if name == "SGD":
        if "momentum_buffer" in e:
            assert np.array_equal(e["direction"], g + d(kw["momentum"]) * e["momentum_buffer"]
                                  if kw.get("nesterov") else e["momentum_buffer"])
            g = e["direction"]
        update = e["lr"] * g
    elif name == "Momentum":
        update = e["lr"] * e["velocity"]
    elif name == "RMSprop":
        assert np.array_equal(e["denominator"], np.sqrt(e["variance"]) + d(kw.get("eps", 1e-8)))
        update = e["lr"] * e["momentum_buffer"] if "momentum_buffer" in e else e["lr"] * g / e["denominator"]
    elif name == "Adagrad":
        assert np.array_equal(e["denominator"], np.sqrt(e["sum"]) + d(kw.get("eps", 1e-10)))
        update = e["lr_t"] * g / e["denominator"]
    elif name == "NAdam":
        theta = e["theta_decayed"] if "theta_decayed" in e else e["theta_before"]
        assert np.array_equal(e["grad_step"], d(e["grad_coefficient"]) * g / e["denominator"])
        assert np.array_equal(e["momentum_step"], d(e["momentum_coefficient"]) * e["exp_avg"] / e["denominator"])
        return theta - e["grad_step"] - e["momentum_step"]  # (two subtractions, as the kernel)
    elif name == "RAdam":
        assert e["rectified"] == (e["rho_t"] > 5)
        update = e["m_hat"] * e["lr"]
        if e["rectified"]:
            update = update * e["adaptive_lr"] * d(e["r_t"])
    elif name == "Lion":
        assert np.array_equal(e["sign"], np.sign(e["interpolation"]))
        update = e["lr"] * e["sign"]
    elif name == "Adafactor":
        assert np.isclose(e["clip"], max(1.0, e["u_rms"] / kw.get("d", 1.0)), rtol=1e-12, atol=0)
        update = d(e["step_size"]) * e["u"]
    else:
        update = d(e["step_size"]) * e["exp_avg"] / e["denominator"]
    assert np.array_equal(update, e["update"])
    theta = e["theta_decayed"] if "theta_decayed" in e else e["theta_before"]
    return theta - update


@pytest.mark.parametrize("name, cls, kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_explanation_is_the_step(name, cls, kw, dtype):
    params = _params(dtype)
    opt = cls(params, **kw)
    opt.record()
    states = [{} for _ in params]
    expected = [p.data.astype(np.float64) for p in params]
    for step in range(1, STEPS_FOR.get(name, STEPS) + 1):
        opt.zero_grad()
        _backward(params, step)
        before = [p.data.copy() for p in params]
        opt.step()
        for k, p in enumerate(params):
            e = opt.explain(p)
            assert e.step == step and e.optimizer == name and e.shape == p.shape
            # theta before and after are the parameter's own values, to the last bit
            np.testing.assert_array_equal(e.theta_before, before[k])
            np.testing.assert_array_equal(e.theta_after, p.data)
            np.testing.assert_array_equal(e["grad"], _gradients(step)[k].astype(dtype))
            # the terms give theta_after by the rule, exactly
            np.testing.assert_array_equal(recompute(name, kw, e, dtype), p.data)
            # and they are the docstring's numbers
            theta_new, terms = reference(name, kw, expected[k], _gradients(step)[k], states[k], step)
            tol = dict(rtol=1e-11, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-5)
            for key, value in terms.items():
                np.testing.assert_allclose(np.asarray(e[key], np.float64), value, err_msg=key, **tol)
            expected[k] = p.data.astype(np.float64) if dtype == np.float32 else theta_new
            if dtype == np.float64:
                np.testing.assert_allclose(p.data, theta_new, **tol)


@pytest.mark.parametrize("name, cls, kw", CASES, ids=IDS)
def test_recording_does_not_change_the_steps(name, cls, kw):
    plain, recorded = _params(np.float32), _params(np.float32)
    opt_plain, opt_recorded = cls(plain, **kw), cls(recorded, **kw)
    opt_recorded.record()
    for step in range(1, STEPS_FOR.get(name, STEPS) + 1):
        for params, opt in ((plain, opt_plain), (recorded, opt_recorded)):
            opt.zero_grad()
            _backward(params, step)
            opt.step()
        for a, b in zip(plain, recorded):
            np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(plain, recorded):
        for key, value in opt_plain.state[a].items():
            np.testing.assert_array_equal(value, opt_recorded.state[b][key])
    assert "_step_records" not in opt_plain.__dict__  # nothing is kept while recording is off


def test_recording_as_a_context_manager_and_the_errors():
    params = _params(np.float64)
    opt = optim.Adam(params, lr=0.1)
    with pytest.raises(RuntimeError, match="record"):
        _backward(params, 1)
        opt.step()
        opt.explain(params[0])
    assert opt._recording is False
    with opt.record() as same:
        assert same is opt and opt._recording is True
        opt.zero_grad()
        _backward(params, 2)
        opt.step()
    assert opt._recording is False
    e = opt.explain(params[1], name="w")
    assert e.step == 2 and e.label == "w"
    assert optim.explain_step(opt, params[1])["update"].tolist() == e["update"].tolist()
    opt.zero_grad()
    _backward(params, 3)
    opt.step()  # not recorded: the explanation would be out of date
    with pytest.raises(RuntimeError, match="updated again"):
        opt.explain(params[1])
    with pytest.raises(ValueError, match="not one of the optimizer's parameters"):
        opt.explain(tg.ones(2, requires_grad=True))
    with opt.record():
        opt.zero_grad()
        params[0].grad = tg.ones_like(params[0])  # only this one has a gradient
        opt.step()
    with pytest.raises(RuntimeError, match="no gradient"):
        opt.explain(params[1])
    assert opt.explain(params[0]).step == 4


def test_other_optimizers_are_not_explained_yet():
    class MySGD(optim.SGD):
        kernel = "my_sgd"  # a rule explain_step does not know (SGD's _update still runs the sgd kernel)

    w = tg.ones(3, requires_grad=True)
    opt = MySGD([w], lr=0.1)
    with opt.record():
        (w * 2.0).sum().backward()
        opt.step()
    with pytest.raises(NotImplementedError, match="MySGD is not explained yet"):
        opt.explain(w)


def test_printing_small_and_large_parameters():
    w = tg.tensor([5.0, -1.0, 2.0], requires_grad=True)
    big = tg.tensor(np.linspace(-1, 1, 60).reshape(6, 10), requires_grad=True)
    opt = optim.Adam([{"params": [w]}, {"params": [big], "lr": 0.01}], lr=0.1, weight_decay=0.1)
    with opt.record():
        ((w ** 2).sum() + (big ** 3).sum()).backward()
        opt.step()
    text = str(opt.explain(w, name="w"))
    assert text.startswith("Adam, step t = 1, parameter w (shape (3,)); lr=0.1")
    assert "The rule (from the docstring):" in text and "m_hat =  m_t / (1 - beta1^t)" in text
    for symbol in ("g_t", "lambda * theta", "m_t", "v_t", "1 - beta1^t", "1 - beta2^t", "m_hat", "v_hat",
                   "alpha / (1 - beta1^t)", "sqrt(v_hat) + epsilon", "theta (new)"):
        assert f"\n  {symbol} " in text, symbol
    assert "[10., -2., 4.]" in text  # a small parameter's gradient, in full
    e = opt.explain(big)  # a large one: the element that moved most, beside summaries
    assert e.element is not None and len(e.element) == 2
    moved = np.abs(e.theta_after - e.theta_before)
    assert moved[e.element] == moved.max()
    assert "shape (6, 10), mean" in str(e) and "element [" in str(e)
    picked = opt.explain(big, element=(2, 3))
    assert picked.element == (2, 3)
    assert str(picked).splitlines()[0].startswith("Adam, step t = 1, parameter param 1 (shape (6, 10), element [2, 3])")
    assert opt.explain(big, element=23).element == (2, 3)
    with pytest.raises(IndexError):
        opt.explain(big, element=(9, 9))
    assert "<table>" in e._repr_html_() and "UpdateExplanation" in repr(e)
    assert e.keys()[0] == "theta_before" and "update" in e
    with pytest.raises(KeyError, match="terms"):
        e["nothing"]
