"""Step explanations (`optimizer.record()`, `optimizer.explain(p)`, `optim.explain_step`).

For every optimizer of the registry and several flag combinations, over
several recorded steps: the explanation's terms are those of the optimizer's
readable rule (``cls.rule``) run on what the step started from; its
``theta_after`` agrees with the kernel's result within the dtype's tolerance,
and says so; and recording changes nothing about the steps themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim

SHAPES = [(), (3,), (2, 3)]
STEPS = 4
STEPS_FOR = {"RAdam": 8}  # RAdam with beta2 = 0.8 rectifies from t = 7: both branches are seen
# Beyond each optimizer's defaults (from the registry), a few flag combinations worth seeing explained.
EXTRA = {
    "SGD": [dict(momentum=0.9), dict(momentum=0.9, nesterov=True, weight_decay=0.01), dict(maximize=True)],
    "RMSprop": [dict(alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)],
    "Adagrad": [dict(lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.2)],
    "Adam": [dict(amsgrad=True, maximize=True, weight_decay=0.1)],
    "AdamW": [dict(weight_decay=0.3, amsgrad=True)],
    "NAdam": [dict(weight_decay=0.2, decoupled_weight_decay=True)],
    "RAdam": [dict(betas=(0.9, 0.8), weight_decay=0.1, maximize=True)],
    "Lion": [dict(weight_decay=0.1, maximize=True)],
    "Adafactor": [dict(beta2_decay=-0.5, d=2.0, weight_decay=0.1, maximize=True)],
    "LARS": [dict(weight_decay=0.01, nesterov=True, maximize=True), dict(lars_exclude=True, momentum=0.0)],
    "LAMB": [dict(weight_decay=0.1, bias_correction=False, maximize=True)],
    "CAME": [dict(weight_decay=0.1, clip_threshold=0.5, betas=(0.5, 0.9, 0.99), maximize=True)],
}
CASES = [(name, optim.get(name), dict(lr=0.1, **kw)) for name in optim.names() for kw in [{}] + EXTRA.get(name, [])]
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


@pytest.mark.parametrize("name, cls, kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_explanation_is_the_readable_rule_and_agrees_with_the_kernel(name, cls, kw, dtype):
    params = _params(dtype)
    opt = cls(params, **kw)
    opt.record()
    states = [{} for _ in params]
    hyperparameters = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    for step in range(1, STEPS_FOR.get(name, STEPS) + 1):
        opt.zero_grad()
        _backward(params, step)
        before = [p.numpy().copy() for p in params]
        opt.step()
        for k, p in enumerate(params):
            e = opt.explain(p)
            assert e.step == step and e.optimizer == name and e.shape == p.shape
            np.testing.assert_array_equal(e.theta_before, before[k])
            np.testing.assert_array_equal(e["grad"], _gradients(step)[k].astype(dtype))
            np.testing.assert_array_equal(e.kernel_theta, p.numpy())
            assert e.agrees and e.difference <= e.tolerance, (e.difference, e.tolerance)
            # the terms are the rule's, from the recorded state (the rule's own state, step after step)
            terms = cls.rule(before[k], e["grad"], states[k], step, **hyperparameters)
            assert [key for key in e.keys() if key not in ("theta_before", "grad")] == \
                   [("theta_after" if key == "theta" else key) for key in terms]
            tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
            for key, value in terms.items():
                np.testing.assert_allclose(np.asarray(e["theta_after" if key == "theta" else key], np.float64),
                                           np.asarray(value, np.float64), err_msg=key, **tol)
            states[k] = {key: np.array(v) for key, v in opt.state[p].items() if key != "step"}


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
            np.testing.assert_array_equal(a.numpy(), b.numpy())
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


def test_an_optimizer_without_a_readable_rule_is_not_explained():
    class MySGD(optim.SGD):
        rule = None

    w = tg.ones(3, requires_grad=True)
    opt = MySGD([w], lr=0.1)
    with opt.record():
        (w * 2.0).sum().backward()
        opt.step()
    with pytest.raises(NotImplementedError, match="MySGD has no readable rule"):
        opt.explain(w)


def test_a_kernel_that_disagrees_with_its_rule_is_shown():
    def twice_too_far(theta, g, state, t, **h):
        return {"update": 2 * h["lr"] * g, "theta": theta - 2 * h["lr"] * g}

    class Broken(optim.SGD):
        rule = staticmethod(twice_too_far)

    w = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = Broken([w], lr=0.1)
    with opt.record():
        (w * 2.0).sum().backward()
        opt.step()
    e = opt.explain(w)
    assert not e.agrees and e.difference > 0.1
    assert "The numba kernel DIFFERS" in str(e)


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
    for symbol in ("g_t", "m_t", "v_t", "m_hat", "v_hat", "update", "theta (new)"):
        assert f"\n  {symbol} " in text, symbol
    assert "m_t = beta1 * m_{t-1} + (1 - beta1) * g_t" in text  # each term beside its docstring line
    assert "The numba kernel agrees" in text
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
