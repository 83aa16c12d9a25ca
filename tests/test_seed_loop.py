"""The sources' seed training loop, and SGD step for step against torch.optim.SGD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu import nn, optim


def _seed_loop(epochs: int, seed: int = 0):
    tg.manual_seed(seed)
    # -- the loop exactly as in the sources --------------------------------------------------------
    model = nn.Linear(1, 1)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    x = tg.randn(100, 1)
    y = 3 * x + 1 + 0.1 * tg.randn(100, 1)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        outputs = model(x)
        loss = criterion(outputs, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, x, y, losses


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seed_loop_recovers_the_least_squares_line(seed):
    model, x, y, losses = _seed_loop(200, seed)
    w, b = model.weight.item(), model.bias.item()
    # the same data, solved exactly
    design = np.hstack([x.numpy().astype(np.float64), np.ones((100, 1))])
    (w_ls, b_ls), *_ = np.linalg.lstsq(design, y.numpy().astype(np.float64), rcond=None)
    w_ls, b_ls = float(w_ls[0]), float(b_ls[0])
    assert w == pytest.approx(3.0, abs=0.05) and b == pytest.approx(1.0, abs=0.05)
    assert w == pytest.approx(w_ls, abs=2e-5)
    assert b == pytest.approx(b_ls, abs=2e-5)
    # the final loss is the least-squares residual (noise variance 0.01)
    residual = float(np.mean((design @ np.array([w_ls, b_ls]) - y.numpy()[:, 0]) ** 2))
    assert losses[-1] == pytest.approx(residual, rel=1e-3)
    assert 0.005 < losses[-1] < 0.02
    # the loss decreases: gradient descent on a convex quadratic with a small enough rate
    assert losses[0] > 10 * losses[-1]
    drops = np.diff(losses)
    assert np.all(drops[:30] < 0)
    assert np.all(drops <= 1e-6)  # later steps may stall at float32 resolution, never climb
    assert model.weight.dtype == np.float32


def test_seed_loop_is_reproducible_and_keeps_parameter_arrays():
    tg.manual_seed(0)
    model = nn.Linear(1, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    # Building the optimizer moves the values into its flat buffer; from then on the arrays stay.
    arrays = (model.weight.numpy(), model.bias.numpy())
    x = tg.randn(100, 1)
    y = 3 * x + 1 + 0.1 * tg.randn(100, 1)
    for _ in range(10):
        optimizer.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        optimizer.step()
    assert model.weight.numpy() is arrays[0] and model.bias.numpy() is arrays[1]
    a = _seed_loop(120, seed=5)[0]
    b = _seed_loop(120, seed=5)[0]
    assert a.weight.item() == b.weight.item() and a.bias.item() == b.bias.item()


def test_seed_loop_matches_torch_step_for_step():
    """The same data and initial weights in PyTorch give the same trajectory."""
    tg.manual_seed(3)
    model = nn.Linear(1, 1)
    x = tg.randn(100, 1)
    y = 3 * x + 1 + 0.1 * tg.randn(100, 1)
    theirs = torch.nn.Linear(1, 1)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(model.weight.numpy().copy()))
        theirs.bias.copy_(torch.tensor(model.bias.numpy().copy()))
    opt, opt_t = optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    xt, yt = torch.tensor(x.numpy().copy()), torch.tensor(y.numpy().copy())
    for _ in range(100):
        opt.zero_grad()
        opt_t.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss_t = torch.nn.MSELoss()(theirs(xt), yt)
        loss.backward()
        loss_t.backward()
        opt.step()
        opt_t.step()
        assert loss.item() == pytest.approx(loss_t.item(), rel=1e-4)
    assert model.weight.item() == pytest.approx(theirs.weight.item(), rel=1e-5)
    assert model.bias.item() == pytest.approx(theirs.bias.item(), rel=1e-5)


# -- SGD against torch.optim.SGD --------------------------------------------------------------------


SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.1, maximize=True),
    dict(lr=0.03, momentum=0.9, dampening=0.1, weight_decay=0.05, maximize=True),
    dict(lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1),
    dict(lr=0.01, momentum=0.5, nesterov=True, maximize=True),
    dict(lr=0.0),
]


def _param_pairs(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(shape) for shape in [(3, 4), (4,), (2, 2, 3), ()]]
    ours = [tg.tensor(v, dtype=dtype, requires_grad=True) for v in values]
    theirs = [torch.tensor(v.astype(dtype).copy(), requires_grad=True) for v in values]
    return ours, theirs


@pytest.mark.parametrize("config", SGD_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_matches_torch_for_a_fixed_gradient_sequence(config):
    ours, theirs = _param_pairs()
    opt = optim.SGD(ours, **config)
    arrays = [p.numpy() for p in ours]  # captured once the optimizer has taken them into its buffer
    opt_t = torch.optim.SGD(theirs, **config)
    rng = np.random.default_rng(1)
    for step in range(50):
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            if step % 7 == 3 and i == 1:  # a parameter with no gradient this step is skipped by both
                p.grad, q.grad = None, None
                continue
            g = rng.standard_normal(p.shape)
            p.grad = tg.tensor(g, dtype=np.float64)
            q.grad = torch.tensor(g.copy())
        opt.step()
        opt_t.step()
    for p, q, array in zip(ours, theirs, arrays, strict=True):
        assert p.numpy() is array  # updated in place
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("config", SGD_CONFIGS[:9], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_matches_torch_on_a_quadratic(config):
    """Gradients that depend on the parameters (autograd in both libraries)."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 4))
    target = rng.standard_normal(6)
    ours, theirs = _param_pairs(seed=3)
    w, w_t = ours[1], theirs[1]
    opt = optim.SGD([w], **config)
    opt_t = torch.optim.SGD([w_t], **config)
    at, tt = torch.tensor(a.copy()), torch.tensor(target.copy())
    for _ in range(50):
        opt.zero_grad()
        opt_t.zero_grad()
        sign = -1.0 if config.get("maximize") else 1.0  # maximize the negated loss: same minimum
        (sign * ((tg.tensor(a, dtype=np.float64) @ w - tg.tensor(target, dtype=np.float64)) ** 2).mean()).backward()
        (sign * ((at @ w_t - tt) ** 2).mean()).backward()
        opt.step()
        opt_t.step()
    np.testing.assert_allclose(w.numpy(), w_t.detach().numpy(), rtol=1e-11, atol=1e-12)


def test_sgd_float32_matches_torch():
    ours, theirs = _param_pairs(dtype=np.float32)
    config = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)
    opt, opt_t = optim.SGD(ours, **config), torch.optim.SGD(theirs, **config)
    rng = np.random.default_rng(4)
    for _ in range(50):
        for p, q in zip(ours, theirs, strict=True):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad = tg.tensor(g, dtype=np.float32)
            q.grad = torch.tensor(g.copy())
        opt.step()
        opt_t.step()
    for p, q in zip(ours, theirs, strict=True):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_sgd_plain_step_known_value():
    w = tg.tensor([5.0], dtype=np.float64, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w ** 2).sum().backward()
    opt.step()
    assert w.item() == 4.0


def test_sgd_param_groups_and_lr_edit_match_torch():
    ours, theirs = _param_pairs(seed=5)
    opt = optim.SGD([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.3, "momentum": 0.5}], lr=0.1)
    opt_t = torch.optim.SGD([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.3, "momentum": 0.5}], lr=0.1)
    assert opt.param_groups[1]["momentum"] == 0.5 and opt.param_groups[0]["momentum"] == 0
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.3
    rng = np.random.default_rng(6)
    for step in range(20):
        if step == 10:
            opt.param_groups[0]["lr"] = 0.01
            opt_t.param_groups[0]["lr"] = 0.01
        for p, q in zip(ours, theirs, strict=True):
            g = rng.standard_normal(p.shape)
            p.grad, q.grad = tg.tensor(g, dtype=np.float64), torch.tensor(g.copy())
        opt.step()
        opt_t.step()
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_sgd_defaults_match_torch():
    w = tg.tensor([1.0], requires_grad=True)
    group = optim.SGD([w]).param_groups[0]
    torch_group = torch.optim.SGD([torch.zeros(1, requires_grad=True)]).param_groups[0]
    for key in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"):
        assert group[key] == torch_group[key], key


@pytest.mark.parametrize("kwargs,name", [
    (dict(lr=-0.1), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(lr=0.1, momentum=-0.5), "momentum"),
    (dict(lr=0.1, weight_decay=-1e-4), "weight_decay"),
    (dict(lr=0.1, nesterov=True), "[Nn]esterov"),
    (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "[Nn]esterov"),
])
def test_sgd_invalid_hyperparameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        optim.SGD([tg.tensor([1.0], requires_grad=True)], **kwargs)


def test_sgd_invalid_hyperparameter_in_a_group_is_named():
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([{"params": [w], "lr": -1.0}], lr=0.1)


def test_sgd_refuses_a_tensor_that_does_not_require_grad():
    with pytest.raises((ValueError, TypeError), match="requires_grad|require grad"):
        optim.SGD([tg.tensor([1.0, 2.0])], lr=0.1)


def test_sgd_refuses_an_integer_parameter():
    with pytest.raises((TypeError, ValueError), match="float"):
        optim.SGD([tg.tensor([1, 2])], lr=0.1)


def test_sgd_refuses_non_tensors_and_empty_lists():
    with pytest.raises(TypeError):
        optim.SGD([np.ones(3)], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)


def test_sgd_refuses_a_parameter_listed_twice():
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)


def test_sgd_zero_grad_both_modes():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    grad_array = w.grad.numpy()
    opt.zero_grad(set_to_none=False)
    assert w.grad.numpy() is grad_array and not grad_array.any()
    opt.zero_grad()
    assert w.grad is None


def test_sgd_step_with_closure_returns_the_loss():
    w = tg.tensor([2.0], dtype=np.float64, requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0 and w.item() == 1.0
    assert math.isclose(w.item(), 2.0 - 0.25 * 4.0)


def test_building_an_optimizer_moves_values_into_one_flat_buffer():
    """The documented design: values are copied once, then every step works on the same arrays."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = {name: p.numpy().copy() for name, p in model.named_parameters()}
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    params = list(model.parameters())
    base = params[0].numpy().base
    assert base is not None and all(p.numpy().base is base for p in params)   # one buffer for the group
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), before[name])                # values unchanged by the move
    arrays = [p.numpy() for p in params]
    for _ in range(3):
        optimizer.zero_grad()
        model(tg.randn(5, 3)).sum().backward()
        optimizer.step()
    assert all(p.numpy() is a for p, a in zip(params, arrays))
