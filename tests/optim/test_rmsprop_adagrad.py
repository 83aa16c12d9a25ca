"""RMSprop and Adagrad: step for step against torch.optim and against NumPy transcriptions of their docstrings.

Both sides of every comparison get the same random gradient sequence (assigned
to ``.grad`` directly, so the update rule is tested apart from autograd) over
several parameters of different shapes, a 0-d one among them. The NumPy
references below are written from the docstring formulas, in their textbook
order of operations, not the kernels': they agree with the kernels to rounding.
"""

from __future__ import annotations

import doctest
import itertools
import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim import adagrad as adagrad_module
from tinygrad_edu.optim import rmsprop as rmsprop_module

try:
    from rule_reference import RuleReference
except ImportError:  # imported as a package (tests.optim)
    from tests.optim.rule_reference import RuleReference

SHAPES = [(), (3,), (2, 5), (4, 1, 3)]
GRAD_SCALES = [2.0, 0.5, 1.0, 0.05]  # different gradient sizes, so per-parameter adaptivity matters
STEPS = 60
DTYPES = [np.float64, np.float32]
# PyTorch's CPU kernels use fused multiply-adds (add with alpha, addcmul, lerp), the kernels here do not:
# the last bits differ, a few ulps after 60 steps.
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}

RMSPROP_FLAGS = list(itertools.product([False, True], [0.0, 0.9], [0.0, 0.1], [False, True]))
ADAGRAD_FLAGS = list(itertools.product([0.0, 0.05], [0.0, 0.1], [0.0, 0.3], [False, True]))


def flag_id(flags):
    return "-".join(str(f) for f in flags)


def random_problem(seed, steps=STEPS):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[np.asarray(scale * rng.standard_normal(s)) for s, scale in zip(SHAPES, GRAD_SCALES)]
             for _ in range(steps)]
    return init, grads


def make_params(init, dtype):
    return [tg.tensor(np.asarray(x, dtype=dtype), dtype=dtype, requires_grad=True) for x in init]


def make_torch_params(torch, init, dtype):
    return [torch.tensor(np.asarray(x, dtype=dtype), requires_grad=True) for x in init]


# -- the NumPy transcriptions of the docstrings: each optimizer's own readable rule (cls.rule) ---------------


def RMSpropReference(init, dtype, **kwargs):  # noqa: N802 - used like the classes it replaced
    return RuleReference(optim.RMSprop, init, dtype, **kwargs)


def AdagradReference(init, dtype, **kwargs):  # noqa: N802
    return RuleReference(optim.Adagrad, init, dtype, **kwargs)


# -- the three-way comparison ------------------------------------------------------------------


def run_three_ways(torch, tg_cls, torch_cls, reference_cls, kwargs, dtype, seed):
    """Step tinygrad_edu, PyTorch and the reference with the same gradients; compare after every step."""
    init, grads = random_problem(seed)
    ps = make_params(init, dtype)
    qs = make_torch_params(torch, init, dtype)
    opt = tg_cls(ps, **kwargs)
    topt = torch_cls(qs, **kwargs)
    reference = reference_cls(init, dtype, **kwargs)
    for step, gs in enumerate(grads):
        for p, q, g in zip(ps, qs, gs):
            p.grad = tg.tensor(g, dtype=dtype)
            q.grad = torch.tensor(g.astype(dtype))
        opt.step()
        topt.step()
        reference.step(gs)
        for k, (p, q, theta) in enumerate(zip(ps, qs, reference.theta)):
            assert p.numpy().dtype == dtype and p.shape == SHAPES[k]
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), **TOL[dtype],
                                       err_msg=f"vs torch: step {step + 1}, parameter {k}")
            np.testing.assert_allclose(p.numpy(), theta, **TOL[dtype],
                                       err_msg=f"vs NumPy reference: step {step + 1}, parameter {k}")
    # The state holds the buffers PyTorch keeps, no more, with the same values.
    for p, q in zip(ps, qs):
        mine, theirs = opt.state[p], topt.state[q]
        assert set(mine) == set(theirs)
        assert float(mine["step"]) == float(theirs["step"]) == STEPS
        for name in set(theirs) - {"step"}:
            np.testing.assert_allclose(mine[name], theirs[name].numpy(), **TOL[dtype], err_msg=name)
    return opt


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("centered, momentum, weight_decay, maximize", RMSPROP_FLAGS,
                         ids=[flag_id(f) for f in RMSPROP_FLAGS])
def test_rmsprop_matches_torch_and_formula(torch, dtype, centered, momentum, weight_decay, maximize):
    # alpha and eps away from their defaults so that their placement in the formula is tested.
    kwargs = dict(lr=0.01, alpha=0.9, eps=1e-3, weight_decay=weight_decay, momentum=momentum, centered=centered,
                  maximize=maximize)
    run_three_ways(torch, optim.RMSprop, torch.optim.RMSprop, RMSpropReference, kwargs, dtype, seed=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("lr_decay, weight_decay, initial_accumulator_value, maximize", ADAGRAD_FLAGS,
                         ids=[flag_id(f) for f in ADAGRAD_FLAGS])
def test_adagrad_matches_torch_and_formula(torch, dtype, lr_decay, weight_decay, initial_accumulator_value,
                                           maximize):
    kwargs = dict(lr=0.1, lr_decay=lr_decay, weight_decay=weight_decay,
                  initial_accumulator_value=initial_accumulator_value, eps=1e-3, maximize=maximize)
    run_three_ways(torch, optim.Adagrad, torch.optim.Adagrad, AdagradReference, kwargs, dtype, seed=2)


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad"])
def test_defaults_are_torchs(torch, name):
    init, grads = random_problem(3, steps=20)
    ps, qs = make_params(init, np.float64), make_torch_params(torch, init, np.float64)
    opt, topt = getattr(optim, name)(ps), getattr(torch.optim, name)(qs)
    for key, value in opt.defaults.items():
        assert topt.defaults[key] == value, key
    for gs in grads:
        for p, q, g in zip(ps, qs, gs):
            p.grad, q.grad = tg.tensor(g, dtype=np.float64), torch.tensor(g)
        opt.step()
        topt.step()
    for p, q in zip(ps, qs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), **TOL[np.float64])


# -- groups, skipped parameters, edited hyperparameters ----------------------------------------

# (constructor arguments, first group, second group). PyTorch's Adagrad fills 'sum' from the constructor's
# initial_accumulator_value whatever a group says (see test_adagrad_initial_accumulator_value_per_group), so
# here it is given to the constructor only.
GROUP_CASES = {
    "RMSprop": (dict(), dict(lr=0.01, centered=True),
                dict(lr=0.05, alpha=0.8, momentum=0.9, weight_decay=0.1, eps=1e-4)),
    "Adagrad": (dict(initial_accumulator_value=0.5), dict(lr=0.1, lr_decay=0.01),
                dict(lr=0.3, weight_decay=0.2, eps=1e-4, maximize=True)),
}


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad"])
def test_two_param_groups_with_different_hyperparameters(torch, name):
    init, grads = random_problem(4, steps=40)
    ps, qs = make_params(init, np.float64), make_torch_params(torch, init, np.float64)
    common, first, second = GROUP_CASES[name]
    opt = getattr(optim, name)([{"params": ps[:2], **first}, {"params": ps[2:], **second}], **common)
    topt = getattr(torch.optim, name)([{"params": qs[:2], **first}, {"params": qs[2:], **second}], **common)
    for step, gs in enumerate(grads):
        for p, q, g in zip(ps, qs, gs):
            p.grad, q.grad = tg.tensor(g, dtype=np.float64), torch.tensor(g)
        if step == 25:  # editing a group's rate between steps takes effect, as in PyTorch
            opt.param_groups[1]["lr"] = topt.param_groups[1]["lr"] = 0.02
        opt.step()
        topt.step()
        for p, q in zip(ps, qs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), **TOL[np.float64], err_msg=f"step {step + 1}")
    # The groups really differ: the same run with the first group's settings for everything does not match.
    alone = make_params(init, np.float64)
    opt_alone = getattr(optim, name)(alone, **{**common, **first})
    for gs in grads:
        for p, g in zip(alone, gs):
            p.grad = tg.tensor(g, dtype=np.float64)
        opt_alone.step()
    assert not np.allclose(alone[3].numpy(), ps[3].numpy())


def test_adagrad_initial_accumulator_value_per_group(torch):
    """A group's own initial_accumulator_value is used, as for every other hyperparameter.

    A deliberate difference from PyTorch, whose constructor fills every group's
    'sum' with the constructor's value and ignores the group's (while still
    listing it in ``param_groups``).
    """
    init, grads = random_problem(8, steps=10)
    ps = make_params(init, np.float64)
    groups = [{"params": ps[:2]}, {"params": ps[2:], "initial_accumulator_value": 2.0}]
    opt = optim.Adagrad(groups, lr=0.1, initial_accumulator_value=0.1)
    first = AdagradReference(init[:2], np.float64, lr=0.1, initial_accumulator_value=0.1)
    second = AdagradReference(init[2:], np.float64, lr=0.1, initial_accumulator_value=2.0)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = tg.tensor(g, dtype=np.float64)
        opt.step()
        first.step(gs[:2])
        second.step(gs[2:])
        for p, theta in zip(ps, first.theta + second.theta):
            np.testing.assert_allclose(p.numpy(), theta, **TOL[np.float64])
    # PyTorch, given the same groups, starts the second group's sums at 0.1 instead.
    qs = make_torch_params(torch, init, np.float64)
    topt = torch.optim.Adagrad([{"params": qs[:2]}, {"params": qs[2:], "initial_accumulator_value": 2.0}],
                               lr=0.1, initial_accumulator_value=0.1)
    assert float(topt.state[qs[3]]["sum"][0, 0, 0]) == 0.1


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name, kwargs", [
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2)),
])
def test_parameter_without_grad_is_skipped(torch, dtype, name, kwargs):
    """A parameter whose grad is None keeps its value, its state and its step count, as in PyTorch."""
    init, grads = random_problem(5, steps=30)
    missing = {1: {0, 1, 2, 10, 11}, 3: {5}}  # parameter -> steps at which it has no gradient
    ps, qs = make_params(init, dtype), make_torch_params(torch, init, dtype)
    opt, topt = getattr(optim, name)(ps, **kwargs), getattr(torch.optim, name)(qs, **kwargs)
    reference_cls = RMSpropReference if name == "RMSprop" else AdagradReference
    reference = reference_cls(init, dtype, **kwargs)
    for step, gs in enumerate(grads):
        gs = [None if step in missing.get(k, ()) else g for k, g in enumerate(gs)]
        for p, q, g in zip(ps, qs, gs):
            p.grad = None if g is None else tg.tensor(g, dtype=dtype)
            q.grad = None if g is None else torch.tensor(g.astype(dtype))
        before = [p.numpy().copy() for p in ps]
        opt.step()
        topt.step()
        reference.step(gs)
        for k, (p, q, g) in enumerate(zip(ps, qs, gs)):
            if g is None:
                np.testing.assert_array_equal(p.numpy(), before[k])
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), **TOL[dtype], err_msg=f"step {step + 1}")
            np.testing.assert_allclose(p.numpy(), reference.theta[k], **TOL[dtype], err_msg=f"step {step + 1}")
            updates = sum(1 for s in range(step + 1) if s not in missing.get(k, ()))
            if updates == 0:
                assert p not in opt.state  # state appears at a parameter's first update
            else:
                assert float(opt.state[p]["step"]) == float(topt.state[q]["step"]) == updates


def test_switching_on_state_after_the_first_step_is_refused():
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.RMSprop([p])
    p.grad = tg.tensor([0.5, -0.5])
    opt.step()
    for key, value in [("centered", True), ("momentum", 0.9)]:
        saved = opt.param_groups[0][key]
        opt.param_groups[0][key] = value
        before = p.numpy().copy()
        with pytest.raises(ValueError, match=key):
            opt.step()
        np.testing.assert_array_equal(p.numpy(), before)
        opt.param_groups[0][key] = saved


# -- convergence with real autograd ------------------------------------------------------------


def descend(make_optimizer, loss_fn, start, steps):
    x = tg.tensor(np.array(start, dtype=np.float64), dtype=np.float64, requires_grad=True)
    opt = make_optimizer([x])
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(x)
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    return x.numpy().copy(), first, loss_fn(x).item()


def parabola(x):
    return x**2 + 2 * x + 1  # the sources' 1-D example: minimum 0 at x = -1


def rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2  # minimum 0 at (1, 1), at the end of a curved valley


@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.RMSprop(p, lr=0.05),
    lambda p: optim.RMSprop(p, lr=0.05, momentum=0.9, centered=True),
    lambda p: optim.Adagrad(p, lr=1.0),
], ids=["rmsprop", "rmsprop-centered-momentum", "adagrad"])
def test_parabola_converges(make_optimizer):
    x, first, last = descend(make_optimizer, parabola, 5.0, 300)
    assert first == 36.0
    assert abs(x - (-1.0)) < 1e-3 and last < 1e-6


@pytest.mark.parametrize("make_optimizer, steps, tolerance", [
    (lambda p: optim.RMSprop(p, lr=3e-4, momentum=0.9), 3000, 1e-2),
    (lambda p: optim.Adagrad(p, lr=1.0), 6000, 5e-2),  # Adagrad's shrinking steps crawl along the valley
], ids=["rmsprop-momentum", "adagrad"])
def test_rosenbrock_converges(make_optimizer, steps, tolerance):
    xy, first, last = descend(make_optimizer, rosenbrock, [-1.5, 2.0], steps)
    assert first == 12.5
    np.testing.assert_allclose(xy, [1.0, 1.0], atol=tolerance)
    assert last < 1e-3


# -- saving and resuming -----------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs", [
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3)),
])
def test_state_dict_save_load_resume_equals_uninterrupted_run(tmp_path, name, kwargs):
    init, grads = random_problem(6, steps=40)
    late = 2  # this parameter gets its first gradient after the checkpoint: its state must start fresh

    def feed(params, gs, step):
        for k, (p, g) in enumerate(zip(params, gs)):
            p.grad = None if (k == late and step < 25) else tg.tensor(g, dtype=np.float32)

    straight = make_params(init, np.float32)
    opt = getattr(optim, name)(straight, **kwargs)
    for step, gs in enumerate(grads):
        feed(straight, gs, step)
        opt.step()

    first_half = make_params(init, np.float32)
    opt1 = getattr(optim, name)(first_half, **kwargs)
    for step, gs in enumerate(grads[:20]):
        feed(first_half, gs, step)
        opt1.step()
    tg.save({"optimizer": opt1.state_dict(), "params": [p.numpy() for p in first_half]}, tmp_path / "ckpt.tg")
    checkpoint = tg.load(tmp_path / "ckpt.tg")

    resumed = make_params(checkpoint["params"], np.float32)
    opt2 = getattr(optim, name)(resumed, lr=123.0)  # hyperparameters come back from the state dict
    opt2.load_state_dict(checkpoint["optimizer"])
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    assert resumed[late] not in opt2.state
    for step, gs in enumerate(grads[20:], start=20):
        feed(resumed, gs, step)
        opt2.step()
    for p, q in zip(straight, resumed):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    for p, q in zip(straight, resumed):
        for key, value in opt.state[p].items():
            np.testing.assert_array_equal(value, opt2.state[q][key], err_msg=key)


# -- memory and validation ---------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs, buffers", [
    ("RMSprop", dict(), 1),
    ("RMSprop", dict(centered=True), 2),
    ("RMSprop", dict(momentum=0.9), 2),
    ("RMSprop", dict(centered=True, momentum=0.9), 3),
    ("Adagrad", dict(), 1),
])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_state_nbytes(name, kwargs, buffers, dtype):
    ps = make_params(random_problem(7, steps=0)[0], dtype)
    n = sum(p.numel() for p in ps)
    opt = getattr(optim, name)(ps, **kwargs)
    assert opt.state_nbytes() == 0  # nothing is allocated before the first step
    for p in ps:
        p.grad = tg.ones_like(p, dtype=dtype)
    opt.step()
    assert opt.state_nbytes() == buffers * np.dtype(dtype).itemsize * n + 8 * len(ps)


INVALID = [
    ("RMSprop", "lr", -0.1), ("RMSprop", "lr", float("nan")), ("RMSprop", "lr", float("inf")),
    ("RMSprop", "alpha", -0.01), ("RMSprop", "alpha", 1.5), ("RMSprop", "alpha", float("nan")),
    ("RMSprop", "eps", -1e-8), ("RMSprop", "weight_decay", -0.1), ("RMSprop", "momentum", -0.9),
    ("RMSprop", "momentum", float("inf")),
    ("Adagrad", "lr", -1.0), ("Adagrad", "lr", float("inf")), ("Adagrad", "lr_decay", -0.1),
    ("Adagrad", "weight_decay", -1e-4), ("Adagrad", "initial_accumulator_value", -0.5),
    ("Adagrad", "initial_accumulator_value", float("nan")), ("Adagrad", "eps", -1e-10),
    ("Adagrad", "eps", float("-inf")),
]


@pytest.mark.parametrize("name, argument, value", INVALID, ids=[f"{n}-{a}-{v}" for n, a, v in INVALID])
def test_invalid_hyperparameters_are_refused_by_name(name, argument, value):
    cls = getattr(optim, name)
    message = re.escape(f"Invalid {argument} value: {value!r}")
    with pytest.raises(ValueError, match=message):
        cls([tg.zeros(2, requires_grad=True)], **{argument: value})
    with pytest.raises(ValueError, match=message):  # in a parameter group too
        cls([{"params": [tg.zeros(2, requires_grad=True)], argument: value}])
    # Set between steps: refused at the step, before anything changes.
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = cls([p])
    opt.param_groups[0][argument] = value
    p.grad = tg.tensor([1.0, 1.0])
    with pytest.raises(ValueError, match=message):
        opt.step()
    np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])
    assert p not in opt.state


@pytest.mark.parametrize("name, argument", [("RMSprop", "alpha"), ("RMSprop", "momentum"),
                                            ("Adagrad", "lr_decay"), ("Adagrad", "initial_accumulator_value")])
def test_boundary_values_are_accepted(name, argument):
    for value in (0, 0.0, 1.0):
        getattr(optim, name)([tg.zeros(2, requires_grad=True)], **{argument: value})


@pytest.mark.parametrize("module", [rmsprop_module, adagrad_module], ids=["rmsprop", "adagrad"])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
