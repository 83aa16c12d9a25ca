"""SGD, Momentum, Adam and AdamW: step for step against PyTorch and a NumPy transcription of each docstring.

Every comparison runs one optimizer over parameters of several shapes (a 0-d
one included) for 50+ steps with a random gradient sequence, either assigned by
hand (``p.grad = tg.tensor(g)``) or produced by ``backward()`` of the same loss
in both libraries (so the gradients land in the optimizer's flat buffer and the
one-kernel fast path runs). Parameters are compared after every step.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim

try:
    from rule_reference import rule_reference
except ImportError:  # imported as a package (tests.optim)
    from tests.optim.rule_reference import rule_reference


SHAPES = [(), (3,), (2, 3), (4, 1, 2)]
STEPS = 50
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-6)}
DTYPES = [np.float64, np.float32]
GRAD_MODES = ["assigned", "backward"]


# -- the NumPy transcriptions of the docstrings: each optimizer's own readable rule (cls.rule) ---------------
# Each takes the parameter, its gradient and a dict of its state, and returns the new parameter value.

sgd_reference = rule_reference(optim.SGD)
momentum_reference = rule_reference(optim.Momentum)
adam_reference = rule_reference(optim.Adam)
adamw_reference = rule_reference(optim.AdamW)


# -- the lock-step runner ----------------------------------------------------------------------------------


def run_lockstep(tg_cls, kwargs, dtype, grad_mode, *, torch=None, torch_cls=None, reference=None, seed=0,
                 steps=STEPS, shapes=SHAPES):
    """Step tinygrad_edu, and PyTorch and/or a NumPy reference, on the same gradients; compare every step."""
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(shape), dtype=dtype) for shape in shapes]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    opt = tg_cls(params, **kwargs)
    if torch is not None:
        torch_params = [torch.tensor(v.copy(), requires_grad=True) for v in init]
        torch_opt = torch_cls(torch_params, **kwargs)
    if reference is not None:
        ref_values = [v.copy() for v in init]
        ref_states = [{} for _ in init]
    tol = TOL[dtype]
    for step in range(steps):
        if grad_mode == "assigned":
            grads = [np.asarray(rng.standard_normal(shape), dtype=dtype) for shape in shapes]
            for p, g in zip(params, grads):
                p.grad = tg.tensor(g, dtype=dtype)
            if torch is not None:
                for p, g in zip(torch_params, grads):
                    p.grad = torch.tensor(g)
        else:
            # loss = sum(a * p * p + b * p) with fresh random a > 0 and b: a gradient 2 a p + b that depends on
            # p. A convex loss keeps the float32 runs from amplifying PyTorch's fused multiply-adds (1 ulp).
            coeffs = [(np.asarray(rng.uniform(0.5, 1.5, s), dtype), np.asarray(rng.standard_normal(s), dtype=dtype))
                      for s in shapes]
            opt.zero_grad()
            loss = sum(((tg.tensor(a, dtype=dtype) * p * p).sum() + (tg.tensor(b, dtype=dtype) * p).sum())
                       for p, (a, b) in zip(params, coeffs))
            loss.backward()
            grads = [p.grad.numpy().copy() for p in params]
            if torch is not None:
                torch_opt.zero_grad()
                torch_loss = sum(((torch.tensor(a) * p * p).sum() + (torch.tensor(b) * p).sum())
                                 for p, (a, b) in zip(torch_params, coeffs))
                torch_loss.backward()
                for p, tp in zip(params, torch_params):
                    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), **tol)
        opt.step()
        for i, p in enumerate(params):
            assert p.numpy().dtype == dtype and p.numpy().shape == shapes[i]
        if torch is not None:
            torch_opt.step()
            for i, (p, tp) in enumerate(zip(params, torch_params)):
                np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **tol,
                                           err_msg=f"step {step + 1}, parameter {i} vs torch")
        if reference is not None:
            for i, p in enumerate(params):
                ref_values[i] = np.asarray(reference(ref_values[i], grads[i].astype(dtype), ref_states[i], **kwargs),
                                           dtype=dtype)
                np.testing.assert_allclose(p.numpy(), ref_values[i], **tol,
                                           err_msg=f"step {step + 1}, parameter {i} vs the NumPy transcription")
    return params


# -- SGD ------------------------------------------------------------------------------------------------------


def sgd_combinations():
    for momentum, dampening, nesterov, weight_decay, maximize in itertools.product(
            (0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.1), (False, True)):
        if nesterov and (momentum == 0 or dampening != 0):
            continue  # refused by both libraries (tested in test_optimizer_core)
        yield dict(lr=0.05, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                   maximize=maximize)


SGD_KWARGS = list(sgd_combinations())


def kwargs_id(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items() if k != "lr")


def test_sgd_combinations_are_all_valid_ones():
    assert len(SGD_KWARGS) == 20


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", SGD_KWARGS, ids=kwargs_id)
def test_sgd_matches_torch_and_numpy(torch, kwargs, dtype, grad_mode):
    run_lockstep(optim.SGD, kwargs, dtype, grad_mode, torch=torch, torch_cls=torch.optim.SGD,
                 reference=sgd_reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", SGD_KWARGS[::3], ids=kwargs_id)
def test_sgd_matches_numpy_transcription(kwargs, dtype):
    run_lockstep(optim.SGD, kwargs, dtype, "assigned", reference=sgd_reference, seed=1)


def test_sgd_first_step_is_plain_gradient_descent():
    w = tg.tensor([5.0, -2.0], requires_grad=True, dtype=np.float64)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    (w ** 2).sum().backward()
    opt.step()  # the momentum buffer starts as a copy of the gradient: w <- w - lr * g
    np.testing.assert_array_equal(w.numpy(), [5.0 - 0.1 * 10.0, -2.0 - 0.1 * -4.0])


# -- Momentum (textbook form) --------------------------------------------------------------------------------


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", [dict(lr=0.1, beta=0.9), dict(lr=0.05, beta=0.0), dict(lr=0.2, beta=0.5)],
                         ids=["beta0.9", "beta0", "beta0.5"])
def test_momentum_matches_numpy_transcription(kwargs, dtype, grad_mode):
    run_lockstep(optim.Momentum, kwargs, dtype, grad_mode, reference=momentum_reference)


def test_momentum_known_values():
    # v1 = 0.1 * 10 = 1, w1 = 5 - 0.1 = 4.9;  g2 = 9.8, v2 = 0.9 + 0.98 = 1.88, w2 = 4.9 - 0.188 = 4.712
    w = tg.tensor(5.0, requires_grad=True, dtype=np.float64)
    opt = optim.Momentum([w], lr=0.1, beta=0.9)
    for expected in (4.9, 4.712):
        opt.zero_grad()
        (w ** 2).backward()
        opt.step()
        assert w.item() == pytest.approx(expected, rel=1e-14)


def test_momentum_differs_from_torch_sgd_momentum(torch):
    """The docstring's claim: PyTorch's SGD(momentum) neither scales g by (1 - beta) nor starts from v = 0."""
    rng = np.random.default_rng(3)
    init = rng.standard_normal(4)
    w = tg.tensor(init.copy(), requires_grad=True, dtype=np.float64)
    tw = torch.tensor(init.copy(), requires_grad=True)
    opt, torch_opt = optim.Momentum([w], lr=0.1, beta=0.9), torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    g = rng.standard_normal(4)
    w.grad, tw.grad = tg.tensor(g, dtype=np.float64), torch.tensor(g)
    opt.step()
    torch_opt.step()
    np.testing.assert_allclose(w.numpy(), init - 0.1 * 0.1 * g, rtol=1e-14)   # v1 = (1 - beta) g
    np.testing.assert_allclose(tw.detach().numpy(), init - 0.1 * g, rtol=1e-14)  # b1 = g
    assert not np.allclose(w.numpy(), tw.detach().numpy())
    # With the same sequence, the two never coincide: textbook v is (1 - beta) times an EMA-like sum.
    for _ in range(10):
        g = rng.standard_normal(4)
        w.grad, tw.grad = tg.tensor(g, dtype=np.float64), torch.tensor(g)
        opt.step()
        torch_opt.step()
        assert not np.allclose(w.numpy(), tw.detach().numpy())


# -- Adam, AdamW ------------------------------------------------------------------------------------------------


def adam_combinations(default_decay):
    for amsgrad, weight_decay, maximize in itertools.product((False, True), (0.0, default_decay), (False, True)):
        yield dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay, amsgrad=amsgrad,
                   maximize=maximize)


ADAM_KWARGS = list(adam_combinations(0.1))
ADAMW_KWARGS = list(adam_combinations(0.01)) + [dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5)]


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", ADAM_KWARGS + [dict(lr=0.05, betas=(0.3, 0.5), eps=1e-3)], ids=kwargs_id)
def test_adam_matches_torch_and_numpy(torch, kwargs, dtype, grad_mode):
    run_lockstep(optim.Adam, kwargs, dtype, grad_mode, torch=torch, torch_cls=torch.optim.Adam,
                 reference=adam_reference)


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kwargs", ADAMW_KWARGS, ids=kwargs_id)
def test_adamw_matches_torch_and_numpy(torch, kwargs, dtype, grad_mode):
    run_lockstep(optim.AdamW, kwargs, dtype, grad_mode, torch=torch, torch_cls=torch.optim.AdamW,
                 reference=adamw_reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("cls, reference, kwargs", [
    (optim.Adam, adam_reference, ADAM_KWARGS[-1]),
    (optim.Adam, adam_reference, ADAM_KWARGS[2]),
    (optim.AdamW, adamw_reference, ADAMW_KWARGS[-1]),
    (optim.AdamW, adamw_reference, ADAMW_KWARGS[3]),
], ids=["adam-all-flags", "adam-decay", "adamw-custom", "adamw-decay-maximize"])
def test_adam_matches_numpy_transcription(cls, reference, kwargs, dtype):
    run_lockstep(cls, kwargs, dtype, "assigned", reference=reference, seed=2)


def test_adam_defaults_match_torch(torch):
    w = tg.tensor([1.0], requires_grad=True)
    for cls, torch_cls in ((optim.Adam, torch.optim.Adam), (optim.AdamW, torch.optim.AdamW),
                           (optim.SGD, torch.optim.SGD)):
        ours = cls([tg.tensor([1.0], requires_grad=True)]).param_groups[0]
        theirs = torch_cls([torch.zeros(1, requires_grad=True)]).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert theirs[key] == value, (cls.__name__, key)
    assert optim.Momentum([w], lr=0.1).param_groups[0]["beta"] == 0.9


def test_adamw_decay_is_decoupled_from_adam_decay():
    """With a zero gradient, AdamW shrinks theta by (1 - lr lambda); Adam's coupled decay takes an Adam step."""
    init = np.array([2.0, -3.0])
    a = tg.tensor(init.copy(), requires_grad=True, dtype=np.float64)
    b = tg.tensor(init.copy(), requires_grad=True, dtype=np.float64)
    adamw, adam = optim.AdamW([a], lr=0.1, weight_decay=0.5), optim.Adam([b], lr=0.1, weight_decay=0.5)
    a.grad, b.grad = tg.zeros(2, dtype=np.float64), tg.zeros(2, dtype=np.float64)
    adamw.step()
    adam.step()
    np.testing.assert_array_equal(a.numpy(), init * (1 - 0.1 * 0.5))
    # Adam: g = lambda theta, m_hat / sqrt(v_hat) = sign(g): a step of lr against the sign
    np.testing.assert_allclose(b.numpy(), init - 0.1 * np.sign(init), rtol=1e-7)


# -- convergence with real autograd ----------------------------------------------------------------------------

OPTIMIZERS = {
    "SGD": lambda ps, lr: optim.SGD(ps, lr=lr),
    "SGD-momentum": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9),
    "SGD-nesterov": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "Momentum": lambda ps, lr: optim.Momentum(ps, lr=lr, beta=0.9),
    "Adam": lambda ps, lr: optim.Adam(ps, lr=lr),
    "Adam-amsgrad": lambda ps, lr: optim.Adam(ps, lr=lr, amsgrad=True),
    "AdamW": lambda ps, lr: optim.AdamW(ps, lr=lr, weight_decay=0.0),
}


def descend(make, lr, loss_fn, start, steps):
    params = [tg.tensor(v, requires_grad=True, dtype=np.float64) for v in start]
    opt = make(params, lr)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(*params).backward()
        opt.step()
    return [p.item() for p in params]


PARABOLA = {"SGD": (0.1, 200), "SGD-momentum": (0.05, 300), "SGD-nesterov": (0.05, 200), "Momentum": (0.1, 300),
            "Adam": (0.1, 1000), "Adam-amsgrad": (0.1, 1000), "AdamW": (0.1, 1000)}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_parabola_converges_to_minus_one(name):
    lr, steps = PARABOLA[name]
    (x,) = descend(OPTIMIZERS[name], lr, lambda x: x**2 + 2 * x + 1, [5.0], steps)
    assert x == pytest.approx(-1.0, abs=1e-4)


ROSENBROCK = {"SGD": (2e-3, 5000), "SGD-momentum": (1e-3, 2000), "SGD-nesterov": (1e-3, 2000),
              "Momentum": (1e-2, 2000), "Adam": (5e-2, 2000), "Adam-amsgrad": (5e-2, 4000), "AdamW": (5e-2, 2000)}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_rosenbrock_converges_to_one_one(name):
    lr, steps = ROSENBROCK[name]
    x, y = descend(OPTIMIZERS[name], lr, lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2, [-1.5, 2.0], steps)
    assert (x, y) == (pytest.approx(1.0, abs=2e-3), pytest.approx(1.0, abs=2e-3))
