"""The `Optimizer` machinery: groups, gradients, the flat buffers and their fast path, state, saving, numba.

Semantics are checked against PyTorch running the same steps (two optimizers
sharing parameters, groups edited between steps, gradients missing in some
steps, ...). The flat-buffer design (parameters as views into one buffer per
group and dtype; ``backward()`` writing gradients into a flat gradient buffer;
one kernel call when every gradient is there) is checked from the outside too:
whatever a user does to ``p.numpy()`` or ``p.grad`` between steps, the result is
PyTorch's.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim

SHAPES = [(), (3,), (2, 3)]
F64 = dict(rtol=1e-12, atol=1e-13)
REPO = Path(__file__).resolve().parents[2]


# -- helpers -----------------------------------------------------------------------------------------------------


def make_params(torch=None, shapes=SHAPES, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=dtype) for v in init]
    if torch is None:
        return params
    return params, [torch.tensor(v.copy(), requires_grad=True) for v in init]


def make_coeffs(rng, params):
    return [(np.asarray(rng.uniform(0.5, 1.5, p.shape), p.dtype), np.asarray(rng.standard_normal(p.shape), p.dtype))
            for p in params]


def tg_loss(params, coeffs):
    """sum(a p^2 + b p): the same loss, with the same gradients, in both libraries."""
    return sum((tg.tensor(a, dtype=a.dtype) * p * p).sum() + (tg.tensor(b, dtype=b.dtype) * p).sum()
               for p, (a, b) in zip(params, coeffs))


def torch_loss(torch, params, coeffs):
    return sum((torch.tensor(a) * p * p).sum() + (torch.tensor(b) * p).sum() for p, (a, b) in zip(params, coeffs))


def backward_both(torch, rng, opt, params, torch_opt, torch_params):
    coeffs = make_coeffs(rng, params)
    opt.zero_grad()
    tg_loss(params, coeffs).backward()
    torch_opt.zero_grad()
    torch_loss(torch, torch_params, coeffs).backward()


def assert_same(params, torch_params, tol=F64, msg=""):
    for i, (p, tp) in enumerate(zip(params, torch_params)):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **tol, err_msg=f"{msg} parameter {i}")


def flats(opt):
    return [flat for group_flats in opt._flat for flat in group_flats]


def in_flat_buffer(opt, p):
    return any(np.shares_memory(p.numpy(), flat.param) for flat in flats(opt))


def snapshot(opt, params):
    """Everything a refused operation must leave alone, as bit patterns."""
    sd = opt.state_dict()
    state = {k: {name: np.array(v, copy=True) for name, v in s.items()} for k, s in sd["state"].items()}
    groups = [{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return (state, groups, [p.numpy().copy() for p in params], [flat.steps.copy() for flat in flats(opt)],
            {k: {n: np.array(v, copy=True) for n, v in s.items()} for k, s in
             ((i, opt.state[p]) for i, p in enumerate(params) if p in opt.state)})


def assert_snapshot_equal(before, after):
    state_b, groups_b, params_b, steps_b, live_b = before
    state_a, groups_a, params_a, steps_a, live_a = after
    assert groups_a == groups_b
    assert state_a.keys() == state_b.keys()
    for k in state_b:
        assert state_a[k].keys() == state_b[k].keys()
        for name in state_b[k]:
            assert np.array_equal(state_a[k][name], state_b[k][name]), (k, name)
    for a, b in zip(params_a, params_b):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(steps_a, steps_b):
        assert a.tobytes() == b.tobytes()
    assert live_a.keys() == live_b.keys()
    for k in live_b:
        for name in live_b[k]:
            assert np.array_equal(live_a[k][name], live_b[k][name]), (k, name)


# -- parameter groups --------------------------------------------------------------------------------------------


def test_param_groups_with_different_hyperparameters_match_torch(torch):
    params, torch_params = make_params(torch, shapes=[(), (3,), (2, 3), (4,)])
    rng = np.random.default_rng(1)

    def groups(ps):
        return [{"params": ps[:2], "lr": 0.1, "momentum": 0.9},
                {"params": [ps[2]], "momentum": 0.5, "nesterov": True, "weight_decay": 0.1},
                {"params": [ps[3]], "maximize": True, "dampening": 0.2, "momentum": 0.3}]

    opt, torch_opt = optim.SGD(groups(params), lr=0.03), torch.optim.SGD(groups(torch_params), lr=0.03)
    assert opt.param_groups[1]["lr"] == 0.03 and opt.param_groups[0]["dampening"] == 0
    for step in range(20):
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"SGD step {step + 1}")

    params, torch_params = make_params(torch, shapes=[(), (3,), (2, 3)], seed=2)

    def adam_groups(ps):
        return [{"params": [ps[0]], "betas": (0.5, 0.9)},
                {"params": [ps[1]], "lr": 0.05, "amsgrad": True, "weight_decay": 0.2},
                {"params": [ps[2]], "eps": 1e-3, "maximize": True}]

    opt, torch_opt = optim.Adam(adam_groups(params), lr=0.01), torch.optim.Adam(adam_groups(torch_params), lr=0.01)
    for step in range(20):
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"Adam step {step + 1}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_editing_hyperparameters_between_steps_takes_effect(torch, name):
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(3)
    kwargs = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.05)
    opt, torch_opt = getattr(optim, name)(params, **kwargs), getattr(torch.optim, name)(torch_params, **kwargs)
    for step in range(20):
        for group in (opt.param_groups[0], torch_opt.param_groups[0]):
            group["lr"] = 0.1 * 0.8**step  # a hand-made exponential schedule
            if name == "SGD" and step == 10:
                group["nesterov"], group["weight_decay"] = True, 0.05
            if name != "SGD" and step == 10:
                group["betas"], group["weight_decay"] = (0.5, 0.99), 0.3
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")
    # and a zero rate freezes every parameter
    opt.param_groups[0]["lr"] = 0.0
    before = [p.numpy().copy() for p in params]
    backward_both(torch, rng, opt, params, torch_opt, torch_params)
    opt.step()
    for a, p in zip(before, params):
        np.testing.assert_array_equal(p.numpy(), a)


def test_invalid_edit_of_a_group_is_refused_at_step_and_changes_nothing():
    params = make_params()
    other = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = optim.Adam([{"params": params}, {"params": [other]}], lr=0.1)
    tg_loss(params + [other], make_coeffs(np.random.default_rng(0), params + [other])).backward()
    opt.step()
    tg_loss(params + [other], make_coeffs(np.random.default_rng(1), params + [other])).backward()
    opt.param_groups[1]["lr"] = -1.0
    before = snapshot(opt, params + [other])
    with pytest.raises(ValueError, match=r"lr.*-1\.0"):
        opt.step()
    assert_snapshot_equal(before, snapshot(opt, params + [other]))  # group 0 untouched as well


@pytest.mark.parametrize("name, key, value, needed", [("SGD", "momentum", 0.9, "momentum_buffer"),
                                                      ("Adam", "amsgrad", True, "max_exp_avg_sq")])
def test_state_switched_on_after_the_first_step_is_refused_before_any_change(name, key, value, needed):
    params = make_params()
    other = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = getattr(optim, name)([{"params": [other]}, {"params": params}], lr=0.1)
    everything = [other] + params
    train_steps(opt, everything, np.random.default_rng(0), 2)
    tg_loss(everything, make_coeffs(np.random.default_rng(1), everything)).backward()
    opt.param_groups[1][key] = value
    before = snapshot(opt, everything)
    with pytest.raises(ValueError, match=f"group 1: {key} changed.*{needed}"):
        opt.step()
    assert_snapshot_equal(before, snapshot(opt, everything))  # group 0 was not stepped either
    opt.param_groups[1][key] = not value if isinstance(value, bool) else 0.0
    opt.step()
    assert float(opt.state[other]["step"]) == 3


def test_add_param_group_matches_torch(torch):
    params, torch_params = make_params(torch, shapes=[(3,), (2, 2), ()])
    rng = np.random.default_rng(4)
    opt = optim.Adam(params[:1], lr=0.05, betas=(0.8, 0.9))
    torch_opt = torch.optim.Adam(torch_params[:1], lr=0.05, betas=(0.8, 0.9))
    for step in range(12):
        if step == 5:
            opt.add_param_group({"params": params[1:], "lr": 0.2})
            torch_opt.add_param_group({"params": torch_params[1:], "lr": 0.2})
            assert opt.param_groups[1]["betas"] == (0.8, 0.9) and opt.param_groups[1]["lr"] == 0.2
            assert all(in_flat_buffer(opt, p) for p in params)
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")
    for p, tp in zip(params, torch_params):
        assert opt.state[p]["step"] == torch_opt.state[tp]["step"].item()


def test_add_param_group_refuses_duplicates_and_unknown_hyperparameters():
    params = make_params()
    opt = optim.SGD(params[:2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [params[1], params[2]]})
    with pytest.raises(TypeError, match="betas"):
        opt.add_param_group({"params": [params[2]], "betas": (0.9, 0.99)})
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [params[2]], "lr": -0.5})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": params[2]})  # a single Tensor is accepted as a group's params
    assert opt.param_groups[1]["params"] == [params[2]]


# -- gradients: zero_grad, accumulation, missing and hand-made gradients ---------------------------------------


def test_zero_grad_set_to_none():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    tg_loss(params, make_coeffs(np.random.default_rng(0), params)).backward()
    assert all(p.grad is not None for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    opt.step()  # no gradient anywhere: nothing moves, no state appears
    assert opt.state == {}


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_zero_grad_keeping_arrays_matches_torch(torch, name):
    """set_to_none=False zeroes the same gradient tensors in place; once steps took their arrays into the
    optimizer's gradient buffer (a gradient kept across steps is), backward() accumulates there."""
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(5)
    kwargs = dict(lr=0.1, momentum=0.9, nesterov=True) if name == "SGD" else dict(lr=0.05, amsgrad=True)
    opt, torch_opt = getattr(optim, name)(params, **kwargs), getattr(torch.optim, name)(torch_params, **kwargs)
    tg_loss(params, make_coeffs(rng, params)).backward()
    grad_tensors = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    tg_loss(params, make_coeffs(rng, params)).backward()
    torch_loss(torch, torch_params, make_coeffs(np.random.default_rng(5), params)).backward()
    torch_opt.zero_grad(set_to_none=False)
    opt.zero_grad(set_to_none=False)
    for _ in range(2):  # zero gradients: bookkeeping only; kept across two steps, they now live in the buffer
        opt.step()
        torch_opt.step()
    grad_arrays = [p.grad.numpy() for p in params]
    for step in range(15):
        coeffs = make_coeffs(rng, params)
        opt.zero_grad(set_to_none=False)
        for p, array, tensor in zip(params, grad_arrays, grad_tensors):
            assert p.grad is tensor and p.grad.numpy() is array and not array.any()
        tg_loss(params, coeffs).backward()
        torch_opt.zero_grad(set_to_none=False)
        torch_loss(torch, torch_params, coeffs).backward()
        assert all(p.grad.numpy() is array for p, array in zip(params, grad_arrays))
        assert flats(opt)[0].plan() is flats(opt)[0].all_active  # the one-kernel path
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


def test_gradients_accumulate_over_two_backward_calls(torch):
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(6)
    opt, torch_opt = optim.Adam(params, lr=0.05), torch.optim.Adam(torch_params, lr=0.05)
    for step in range(8):
        first, second = make_coeffs(rng, params), make_coeffs(rng, params)
        opt.zero_grad()
        tg_loss(params, first).backward()
        tg_loss(params, second).backward()
        expected = [2 * a1 * p.numpy() + b1 + 2 * a2 * p.numpy() + b2
                    for p, (a1, b1), (a2, b2) in zip(params, first, second)]
        for p, g in zip(params, expected):
            np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-12, atol=1e-13)
        torch_opt.zero_grad()
        torch_loss(torch, torch_params, first).backward()
        torch_loss(torch, torch_params, second).backward()
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_parameter_without_gradient_is_skipped_like_torch(torch, name):
    """No update, no state, no step count, no weight decay for a parameter whose grad is None."""
    shapes = [(3,), (), (2, 2), (4,)]
    params, torch_params = make_params(torch, shapes=shapes)
    rng = np.random.default_rng(7)
    kwargs = dict(lr=0.1, momentum=0.9, weight_decay=0.1) if name == "SGD" else dict(lr=0.05, weight_decay=0.1)
    opt, torch_opt = getattr(optim, name)(params, **kwargs), getattr(torch.optim, name)(torch_params, **kwargs)
    masks = [[True, False, True, True], [False, False, True, True], [True, True, True, True], [False] * 4,
             [True, False, False, False]] * 3
    for step, mask in enumerate(masks):
        picked = [i for i, used in enumerate(mask) if used]
        coeffs = make_coeffs(rng, params)
        opt.zero_grad()
        torch_opt.zero_grad()
        if picked:
            tg_loss([params[i] for i in picked], [coeffs[i] for i in picked]).backward()
            torch_loss(torch, [torch_params[i] for i in picked], [coeffs[i] for i in picked]).backward()
        assert [p.grad is not None for p in params] == mask
        before = [p.numpy().copy() for p in params]
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")
        for i, used in enumerate(mask):
            if not used:
                np.testing.assert_array_equal(params[i].numpy(), before[i])
            if name != "SGD":
                theirs = torch_opt.state.get(torch_params[i], {}).get("step")
                ours = opt.state[params[i]]["step"] if params[i] in opt.state else None
                assert ours == (None if theirs is None else theirs.item())
            else:
                assert (params[i] in opt.state) == ("momentum_buffer" in torch_opt.state.get(torch_params[i], {}))


def test_hand_assigned_and_backward_gradients_mixed_match_torch(torch):
    params, torch_params = make_params(torch, shapes=[(3,), (2, 3), ()])
    rng = np.random.default_rng(8)
    opt, torch_opt = optim.Adam(params, lr=0.05), torch.optim.Adam(torch_params, lr=0.05)
    for step in range(12):
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        # replace one gradient by hand (a different one each step), another after scaling it ourselves
        i = step % 3
        g = rng.standard_normal(params[i].shape)
        params[i].grad = tg.tensor(g, dtype=np.float64)
        torch_params[i].grad = torch.tensor(g)
        j = (step + 1) % 3
        params[j].grad = params[j].grad * 0.5
        torch_params[j].grad = torch_params[j].grad * 0.5
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


def test_wrong_shape_gradient_assignment_raises():
    params = make_params()
    optim.SGD(params, lr=0.1)
    with pytest.raises(tg.ShapeError, match=r"(\(4,\)|\[4\]).*(\(3,\)|\[3\])"):  # tuple or PyTorch's list
        params[1].grad = tg.zeros(4, dtype=np.float64)
    with pytest.raises(tg.ShapeError):
        params[0].grad = tg.zeros(1, dtype=np.float64)  # (1,) is not the 0-d shape ()
    assert params[1].grad is None


@pytest.mark.parametrize("how", ["backward", "assigned"])
def test_gradient_array_rebound_to_a_wrong_shape_is_an_error_that_changes_nothing(how):
    """``p.grad.data = wrong`` bypasses the setter's check; step() must still refuse, before any change."""
    params = make_params(shapes=[(3,), (2, 2)])
    other = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = optim.Adam([{"params": [other]}, {"params": params}], lr=0.1)  # group 0 is fine: it must not move either
    coeffs = make_coeffs(np.random.default_rng(9), params + [other])
    tg_loss(params + [other], coeffs).backward()
    opt.step()
    opt.zero_grad()
    if how == "backward":
        tg_loss(params + [other], coeffs).backward()  # gradients in the flat buffer: the one-kernel path is armed
    else:
        for p in params + [other]:
            p.grad = tg.ones(p.shape, dtype=np.float64)
    params[0].grad.data = np.ones(5)
    before = snapshot(opt, params + [other])
    with pytest.raises(tg.ShapeError, match=r"\(5,\)"):
        opt.step()
    assert_snapshot_equal(before, snapshot(opt, params + [other]))


def test_gradient_array_rebound_after_backward_is_used(torch):
    """``p.grad.data = np.clip(p.grad.numpy(), ...)``, a hand-made clipping, must reach the update."""
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(10)
    opt, torch_opt = optim.SGD(params, lr=0.1, momentum=0.9), torch.optim.SGD(torch_params, lr=0.1, momentum=0.9)
    for step in range(8):
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        for p, tp in zip(params, torch_params):
            p.grad.data = np.clip(p.grad.numpy(), -0.5, 0.5)
            tp.grad = tp.grad.clamp(-0.5, 0.5)
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


def test_gradient_array_rebound_then_cleared_does_not_update_a_parameter_without_gradient():
    a, b = make_params(shapes=[(2,), (2,)])
    opt = optim.SGD([a, b], lr=0.1)
    (a.sum() + b.sum()).backward()
    a.grad.data = a.grad.numpy().copy()
    opt.zero_grad()
    (a.sum() + b.sum()).backward()
    opt.zero_grad()
    (a * 2).sum().backward()  # only a has a gradient now
    before = b.numpy().copy()
    opt.step()
    np.testing.assert_array_equal(b.numpy(), before)
    assert b not in opt.state
    # with both gradients back, both move again
    opt.zero_grad()
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(b.numpy(), before - 0.1)


# -- the flat buffers and p.numpy() ---------------------------------------------------------------------------------


def test_parameter_arrays_stay_the_same_objects_and_views_see_every_update():
    """``p.detach().numpy()`` is one array object across steps and zero_grad; a NumPy view of it sees updates."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    params = list(model.parameters())
    opt = optim.Adam(params, lr=0.01)
    arrays = [p.detach().numpy() for p in params]
    views = [a.reshape(-1)[:2] for a in arrays]
    x = tg.randn(4, 3)
    for step in range(5):
        before = [v.copy() for v in views]
        opt.zero_grad(set_to_none=step % 2 == 0)
        (model(x) ** 2).mean().backward()
        opt.step()
        assert all(p.detach().numpy() is a and p.numpy() is a for p, a in zip(params, arrays))
        assert all(not np.array_equal(v, b) for v, b in zip(views, before))  # the views moved with the update
        for p, v in zip(params, views):
            np.testing.assert_array_equal(v, p.numpy().reshape(-1)[:2])


def test_the_optimizer_keeps_a_group_in_one_flat_buffer():
    """The fast path's layout (optim's own business): one buffer per group and dtype, every step one kernel."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    params = list(model.parameters())
    values = np.concatenate([p.numpy().ravel() for p in params])
    opt = optim.Adam(params, lr=0.01)
    (flat,) = flats(opt)
    np.testing.assert_array_equal(flat.param, values)
    assert all(np.shares_memory(p.numpy(), flat.param) for p in params)
    opt.zero_grad()
    (model(tg.randn(4, 3)) ** 2).mean().backward()
    opt.step()  # a fresh gradient (as after zero_grad()) is copied in, and left where it is
    assert not any(np.shares_memory(p.grad.numpy(), flat.grad) for p in params)
    (model(tg.randn(4, 3)) ** 2).mean().backward()
    opt.step()  # the same gradient tensors a second time: from now on they share the buffer
    assert all(np.shares_memory(p.grad.numpy(), flat.grad) for p in params)  # later backwards accumulate there
    (model(tg.randn(4, 3)) ** 2).mean().backward()
    assert flat.plan() is flat.all_active and flat.incoming == []


@pytest.mark.parametrize("kind", ["Tensor", "ndarray"])
@pytest.mark.parametrize("when", ["after step", "after backward", "zero_grad keeping arrays"])
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_rebinding_p_data_is_honoured(torch, name, when, kind):
    """A user may rebind ``p.data = other`` at any time between steps: the new values are used and updated from."""
    params, torch_params = make_params(torch)
    wrap = (lambda v: tg.tensor(v.copy(), dtype=np.float64)) if kind == "Tensor" else (lambda v: v.copy())
    rng = np.random.default_rng(11)
    kwargs = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.05)
    opt, torch_opt = getattr(optim, name)(params, **kwargs), getattr(torch.optim, name)(torch_params, **kwargs)
    keep = when == "zero_grad keeping arrays"
    for step in range(10):
        coeffs = make_coeffs(rng, params)
        values = [np.asarray(rng.standard_normal(p.shape)) for p in params]
        rebind = step % 3 == 1
        if rebind and when == "after step":
            for p, tp, v in zip(params, torch_params, values):
                p.data, tp.data = wrap(v), torch.tensor(v)
        opt.zero_grad(set_to_none=not keep)
        torch_opt.zero_grad(set_to_none=not keep)
        if rebind and keep:
            for p, tp, v in zip(params, torch_params, values):
                p.data, tp.data = wrap(v), torch.tensor(v)
        tg_loss(params, coeffs).backward()
        torch_loss(torch, torch_params, coeffs).backward()
        if rebind and when == "after backward":
            for p, tp, v in zip(params, torch_params, values):
                p.data, tp.data = wrap(v), torch.tensor(v)
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")
    # once taken back, the parameters live in the flat buffer again
    assert all(in_flat_buffer(opt, p) for p in params)


def test_manual_update_through_p_data_between_steps_is_seen(torch):
    """``p.data -= lr * p.grad`` (the lecture idiom) between steps acts on the values the optimizer updates."""
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(21)
    opt, torch_opt = optim.Adam(params, lr=0.05), torch.optim.Adam(torch_params, lr=0.05)
    for step in range(6):
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        if step % 2:
            for p, tp in zip(params, torch_params):
                p.data -= 0.1 * p.grad
                tp.data -= 0.1 * tp.grad
        opt.step()
        torch_opt.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


def test_forward_then_step_then_backward_raises_like_torch(torch):
    """The step changes the parameters in place, so a graph that saved them must refuse to backward."""
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    loss = (w * w).sum()        # saves w for its backward
    version = w._version
    opt.step()
    assert w._version > version
    with pytest.raises(RuntimeError, match="modified|in place|version"):
        loss.backward()
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1)
    (tw * tw).sum().backward()
    tloss = (tw * tw).sum()
    topt.step()
    with pytest.raises(RuntimeError):
        tloss.backward()


def test_hand_assigned_gradient_is_used_and_stays_the_users_tensor(torch):
    params, torch_params = make_params(torch)
    opt, torch_opt = optim.SGD(params, lr=0.1, momentum=0.9), torch.optim.SGD(torch_params, lr=0.1, momentum=0.9)
    rng = np.random.default_rng(22)
    for step in range(5):
        grads = [rng.standard_normal(p.shape) for p in params]
        mine = [tg.tensor(g, dtype=np.float64) for g in grads]
        for p, tp, g, t in zip(params, torch_params, grads, mine):
            p.grad, tp.grad = t, torch.tensor(g)
        opt.step()
        torch_opt.step()
        assert all(p.grad is t for p, t in zip(params, mine))       # the same Tensor objects, as in PyTorch
        assert all(np.array_equal(t.numpy(), g) for t, g in zip(mine, grads))  # with their values
        assert_same(params, torch_params, msg=f"step {step + 1}")


@pytest.mark.parametrize("name", ["Adam", "SGD", "Adagrad", "NAdam"])
def test_snapshot_and_restore_through_state_dict_alone(name):
    """What lr_find and fit do: ``copy.deepcopy(opt.state_dict())``, run, ``load_state_dict``: all is as before."""
    import copy

    kwargs = {"SGD": dict(lr=0.1, momentum=0.9)}.get(name, dict(lr=0.05))
    for warmup in (0, 3):  # a fresh optimizer, and one that stepped
        params = make_params()
        opt = getattr(optim, name)(params, **kwargs)
        rng = np.random.default_rng(23)
        train_steps(opt, params, rng, warmup)
        values = [p.numpy().copy() for p in params]
        snapshot_ = copy.deepcopy(opt.state_dict())
        nbytes = opt.state_nbytes()
        opt.param_groups[0]["lr"] = 1.0
        train_steps(opt, params, np.random.default_rng(99), 4)   # the range test's excursion
        opt.load_state_dict(snapshot_)
        for p, v in zip(params, values):
            p.numpy()[...] = v                                  # (the model's own restore)
        assert opt.state_nbytes() == nbytes and opt.param_groups[0]["lr"] == kwargs["lr"]
        assert len(opt.state) == (len(params) if warmup else 0)
        # continuing gives exactly the run that never made the excursion
        twin_params = make_params()
        twin = getattr(optim, name)(twin_params, **kwargs)
        train_steps(twin, twin_params, np.random.default_rng(23), warmup)
        train_steps(opt, params, np.random.default_rng(24), 3)
        train_steps(twin, twin_params, np.random.default_rng(24), 3)
        for p, q in zip(params, twin_params):
            assert p.numpy().tobytes() == q.numpy().tobytes()


def test_rebinding_p_data_to_another_shape():
    """backward() still works (the gradient has the new shape); step() refuses, changing nothing; a new optimizer
    over the reshaped parameter works (net surgery in a notebook)."""
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    train_steps(opt, params, np.random.default_rng(0), 2)
    opt.zero_grad()
    params[1].data = np.ones(5)
    (params[1] * params[1]).sum().backward()
    tg_loss([params[0]], make_coeffs(np.random.default_rng(1), [params[0]])).backward()
    np.testing.assert_array_equal(params[1].grad.numpy(), np.full(5, 2.0))
    before = snapshot(opt, params)
    with pytest.raises(tg.ShapeError, match=r"\(3,\) to \(5,\)"):
        opt.step()
    assert_snapshot_equal(before, snapshot(opt, params))
    fresh = optim.SGD(params, lr=0.25)
    fresh.step()
    np.testing.assert_array_equal(params[1].numpy(), np.full(5, 0.5))
    assert in_flat_buffer(fresh, params[1])


def test_mixed_dtypes_in_one_group_match_torch(torch):
    rng = np.random.default_rng(12)
    init = [rng.standard_normal(3).astype(np.float32), rng.standard_normal((2, 2)), np.float32(0.5),
            rng.standard_normal(4)]
    params = [tg.tensor(v.copy(), requires_grad=True, dtype=np.asarray(v).dtype) for v in init]
    torch_params = [torch.tensor(np.asarray(v).copy(), requires_grad=True) for v in init]
    assert [p.dtype for p in params] == [np.float32, np.float64, np.float32, np.float64]
    opt = optim.Adam(params, lr=0.05, amsgrad=True)
    torch_opt = torch.optim.Adam(torch_params, lr=0.05, amsgrad=True)
    assert sorted(str(flat.dtype) for flat in flats(opt)) == ["float32", "float64"]
    for step in range(15):
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        opt.step()
        torch_opt.step()
        for i, (p, tp) in enumerate(zip(params, torch_params)):
            assert p.dtype == init[i].dtype
            tol = F64 if p.dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **tol, err_msg=f"step {step + 1}, param {i}")
    assert optim.Adam(params, lr=0.1).state_dict()["param_groups"][0]["params"] == [0, 1, 2, 3]


# -- two optimizers over the same parameters (a notebook cell run twice) ----------------------------------------


@pytest.mark.parametrize("old_name, new_name", [("Adam", "Adam"), ("SGD", "Adam"), ("Adam", "SGD")])
def test_second_optimizer_over_the_same_parameters(torch, old_name, new_name):
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(13)
    kwargs = {"Adam": dict(lr=0.05, weight_decay=0.1), "SGD": dict(lr=0.05, momentum=0.9)}

    def build(lib, name, ps):
        return getattr(lib, name)(ps, **kwargs[name])

    old, torch_old = build(optim, old_name, params), build(torch.optim, old_name, torch_params)
    for _ in range(3):
        backward_both(torch, rng, old, params, torch_old, torch_params)
        old.step()
        torch_old.step()
    new, torch_new = build(optim, new_name, params), build(torch.optim, new_name, torch_params)
    assert all(in_flat_buffer(new, p) for p in params)
    for step in range(12):
        backward_both(torch, rng, new, params, torch_new, torch_params)
        new.step()
        torch_new.step()
        if step % 2:  # the old optimizer, stepped too, updates the same parameters with its own state
            old.step()
            torch_old.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


def test_only_the_old_optimizer_stepped_after_a_new_one_was_built(torch):
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(14)
    old, torch_old = optim.Adam(params, lr=0.05), torch.optim.Adam(torch_params, lr=0.05)
    backward_both(torch, rng, old, params, torch_old, torch_params)
    old.step()
    torch_old.step()
    optim.SGD(params, lr=1.0)  # built and forgotten
    for step in range(6):
        backward_both(torch, rng, old, params, torch_old, torch_params)
        old.step()
        torch_old.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


# -- validation ------------------------------------------------------------------------------------------------

BAD = [
    (optim.SGD, dict(lr=-0.1), "lr", "-0.1"),
    (optim.SGD, dict(lr=math.nan), "lr", "nan"),
    (optim.SGD, dict(lr=math.inf), "lr", "inf"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), "momentum", "-0.5"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1e-4), "weight_decay", "-0.0001"),
    (optim.SGD, dict(lr=0.1, weight_decay=math.nan), "weight_decay", "nan"),
    (optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov", "momentum=0"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov", "dampening=0.1"),
    (optim.Momentum, dict(lr=-1.0), "lr", "-1.0"),
    (optim.Momentum, dict(lr=0.1, beta=1.0), "beta", "1.0"),
    (optim.Momentum, dict(lr=0.1, beta=-0.2), "beta", "-0.2"),
    (optim.Adam, dict(lr=-1e-3), "lr", "-0.001"),
    (optim.Adam, dict(lr=math.inf), "lr", "inf"),
    (optim.Adam, dict(eps=-1e-8), "eps", "-1e-08"),
    (optim.Adam, dict(eps=math.nan), "eps", "nan"),
    (optim.Adam, dict(eps=math.inf), "eps", "inf"),
    (optim.Adam, dict(weight_decay=-0.1), "weight_decay", "-0.1"),
    (optim.Adam, dict(weight_decay=math.inf), "weight_decay", "inf"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "betas[0]", "1.0"),
    (optim.Adam, dict(betas=(0.9, -0.1)), "betas[1]", "-0.1"),
    (optim.Adam, dict(betas=(0.9, 1.0)), "betas[1]", "1.0"),
    (optim.Adam, dict(betas=(math.nan, 0.9)), "betas[0]", "nan"),
    (optim.Adam, dict(betas=(0.9,)), "betas", "(0.9,)"),
    (optim.AdamW, dict(lr=math.nan), "lr", "nan"),
    (optim.AdamW, dict(weight_decay=-0.01), "weight_decay", "-0.01"),
    (optim.AdamW, dict(betas=(-0.5, 0.999)), "betas[0]", "-0.5"),
    (optim.AdamW, dict(eps=-1.0), "eps", "-1.0"),
]


@pytest.mark.parametrize("cls, kwargs, name, value", BAD, ids=[f"{c.__name__}-{k}" for c, k, _, _ in BAD])
def test_invalid_hyperparameters_name_the_argument_and_value(cls, kwargs, name, value):
    p = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError) as info:
        cls([p], **kwargs)
    message = str(info.value)
    assert name in message and value in message, message
    assert p.numpy().base is None  # a refused optimizer did not take the parameter over


def test_hyperparameter_list_edited_in_place_is_validated_again():
    p = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = optim.Adam([{"params": [p], "betas": [0.9, 0.999]}], lr=0.1)
    p.grad = tg.ones(2, dtype=np.float64)
    opt.step()
    opt.param_groups[0]["betas"][0] = 1.5
    before = p.numpy().copy()
    with pytest.raises(ValueError, match=r"betas\[0\].*1\.5"):
        opt.step()
    np.testing.assert_array_equal(p.numpy(), before)
    opt.param_groups[0]["betas"][0] = 0.5
    opt.step()
    assert float(opt.state[p]["step"]) == 2


def test_valid_edge_hyperparameters_are_accepted():
    p = tg.tensor([1.0], requires_grad=True)
    optim.SGD([p], lr=0.0, momentum=0.0, dampening=-1.0)
    optim.Adam([p], lr=0, betas=(0.0, 0.0), eps=0.0)
    optim.Momentum([p], lr=0.1, beta=0.0)


def test_parameters_that_cannot_be_optimized_are_refused():
    with pytest.raises(ValueError, match="does not require grad"):
        optim.SGD([tg.tensor([1.0])], lr=0.1)
    with pytest.raises(TypeError, match="floating-point"):
        optim.Adam([tg.tensor([1, 2, 3])])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(tg.tensor([1.0], requires_grad=True), lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    x = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="leaf"):
        optim.SGD([x * 2], lr=0.1)
    with pytest.raises(TypeError, match="Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([x, x], lr=0.1)


# -- closure -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_step_with_closure_returns_its_loss_and_uses_its_gradients(torch, name):
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(15)
    opt, torch_opt = getattr(optim, name)(params, lr=0.05), getattr(torch.optim, name)(torch_params, lr=0.05)
    for step in range(8):
        coeffs = make_coeffs(rng, params)
        calls = []

        def closure(coeffs=coeffs, calls=calls):
            opt.zero_grad()
            loss = tg_loss(params, coeffs)
            loss.backward()
            calls.append(loss)
            return loss

        def torch_closure(coeffs=coeffs):
            torch_opt.zero_grad()
            loss = torch_loss(torch, torch_params, coeffs)
            loss.backward()
            return loss

        opt.zero_grad()  # no gradient before the call: only the closure's can move the parameters
        loss = opt.step(closure)
        torch_value = torch_opt.step(torch_closure).item()
        assert calls and loss is calls[0]
        assert loss.item() == pytest.approx(torch_value, rel=1e-12)
        assert_same(params, torch_params, msg=f"step {step + 1}")
    assert opt.step() is None


def test_closure_runs_with_grad_enabled():
    w = tg.tensor([2.0], requires_grad=True, dtype=np.float64)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        assert tg.is_grad_enabled()
        loss.backward()
        return loss

    with tg.no_grad():
        assert opt.step(closure).item() == 4.0
    np.testing.assert_array_equal(w.numpy(), [1.0])


# -- state, state_dict ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.1)),
                                          ("Adam", dict(lr=0.05)), ("Adam", dict(lr=0.05, amsgrad=True)),
                                          ("AdamW", dict(lr=0.05, amsgrad=True))])
def test_state_of_each_parameter_matches_torch(torch, name, kwargs):
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(16)
    opt = getattr(optim, name)(params, **kwargs)
    torch_opt = getattr(torch.optim, name)(torch_params, **kwargs)
    assert opt.state == {}
    for _ in range(4):
        backward_both(torch, rng, opt, params, torch_opt, torch_params)
        opt.step()
        torch_opt.step()
    for p, tp in zip(params, torch_params):
        ours, theirs = opt.state[p], {k: v for k, v in torch_opt.state[tp].items() if v is not None}
        assert set(ours) == set(theirs) | {"step"}
        assert float(ours["step"]) == 4
        for key, value in theirs.items():
            expected = value.item() if key == "step" else value.numpy()
            np.testing.assert_allclose(ours[key], expected, **F64, err_msg=key)
            if key != "step":
                assert ours[key].shape == p.shape
    # the state entries are live: they follow later steps
    exp_avg = opt.state[params[1]].get("exp_avg")
    backward_both(torch, rng, opt, params, torch_opt, torch_params)
    opt.step()
    torch_opt.step()
    if exp_avg is not None:
        np.testing.assert_allclose(exp_avg, torch_opt.state[torch_params[1]]["exp_avg"].numpy(), **F64)
    assert float(opt.state[params[0]]["step"]) == 5


def test_state_nbytes_counts_the_buffers():
    shapes = [(100,), (10, 10), ()]
    n_params, n_values = len(shapes), 201
    results = {}
    for dtype in (np.float64, np.float32):
        for label, cls, kwargs in [("plain", optim.SGD, dict(lr=0.1)),
                                   ("momentum", optim.SGD, dict(lr=0.1, momentum=0.9)),
                                   ("textbook", optim.Momentum, dict(lr=0.1)), ("adam", optim.Adam, {}),
                                   ("amsgrad", optim.Adam, dict(amsgrad=True)), ("adamw", optim.AdamW, {})]:
            params = make_params(shapes=shapes, dtype=dtype)
            opt = cls(params, **kwargs)
            assert opt.state_nbytes() == 0  # nothing allocated before the first step
            for p in params:
                p.grad = tg.ones(p.shape, dtype=dtype)
            opt.step()
            results[label, dtype] = opt.state_nbytes()
        itemsize = np.dtype(dtype).itemsize
        plain = results["plain", dtype]
        assert 0 < plain <= 8 * n_params  # plain SGD keeps only step counts, nothing per value
        assert results["momentum", dtype] - plain == n_values * itemsize
        assert results["textbook", dtype] - plain == n_values * itemsize
        assert results["adam", dtype] - plain == 2 * n_values * itemsize
        assert results["adamw", dtype] - plain == 2 * n_values * itemsize
        assert results["amsgrad", dtype] - plain == 3 * n_values * itemsize


def train_steps(opt, params, rng, steps):
    for _ in range(steps):
        opt.zero_grad()
        tg_loss(params, make_coeffs(rng, params)).backward()
        opt.step()


@pytest.mark.parametrize("name, kwargs", [("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
                                          ("AdamW", dict(lr=0.05, betas=(0.8, 0.95))),
                                          ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                          ("Momentum", dict(lr=0.1, beta=0.8))])
def test_state_dict_round_trips_through_save_and_load(tmp_path, name, kwargs):
    params = make_params()
    opt = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": 0.01}], **kwargs)
    train_steps(opt, params, np.random.default_rng(17), 5)
    opt.param_groups[1]["lr"] = 0.02
    sd = opt.state_dict()
    tg.save(sd, tmp_path / "opt.tg")
    loaded = tg.load(tmp_path / "opt.tg")
    assert loaded["param_groups"] == sd["param_groups"]
    assert loaded["state"].keys() == sd["state"].keys()
    for key in sd["state"]:
        for buffer, value in sd["state"][key].items():
            assert np.array_equal(loaded["state"][key][buffer], value)
    # a fresh optimizer over parameters of the same shapes takes it all
    fresh_params = make_params(seed=99)
    fresh = getattr(optim, name)([{"params": fresh_params[:2]}, {"params": fresh_params[2:]}], **kwargs)
    fresh.load_state_dict(loaded)
    assert fresh.param_groups[1]["lr"] == 0.02
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert type(fresh.param_groups[0].get("betas", ())) is tuple
    again = fresh.state_dict()
    assert again["param_groups"] == sd["param_groups"]
    for key in sd["state"]:
        for buffer, value in sd["state"][key].items():
            assert np.array_equal(again["state"][key][buffer], value), (key, buffer)
    for p, q in zip(params, fresh_params):
        assert set(fresh.state[q]) == set(opt.state[p])


@pytest.mark.parametrize("name, kwargs", [("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.01)),
                                          ("AdamW", dict(lr=0.02)),
                                          ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1))])
def test_checkpoint_resume_equals_the_uninterrupted_run_bit_for_bit(tmp_path, name, kwargs):
    tg.set_default_dtype(np.float64)
    data_rng = np.random.default_rng(18)
    x, y = tg.tensor(data_rng.standard_normal((16, 3))), tg.tensor(data_rng.standard_normal((16, 1)))
    k, n = 6, 9

    def model_and_optimizer(seed):
        tg.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        return model, getattr(optim, name)(model.parameters(), **kwargs)

    def train(model, opt, first, count):
        for step in range(first, first + count):
            opt.param_groups[0]["lr"] = kwargs["lr"] * 0.95**step  # as a scheduler would
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()

    model, opt = model_and_optimizer(0)
    train(model, opt, 0, k + n)
    expected = [p.numpy().copy() for p in model.parameters()]

    model, opt = model_and_optimizer(0)
    train(model, opt, 0, k)
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ckpt.tg")
    del model, opt
    checkpoint = tg.load(tmp_path / "ckpt.tg")
    model, opt = model_and_optimizer(1)  # different initial weights, overwritten by the checkpoint
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    train(model, opt, k, n)
    for p, e in zip(model.parameters(), expected):
        assert p.numpy().tobytes() == e.tobytes()


def stepped_adam(params=None, amsgrad=False):
    params = params or make_params()
    opt = optim.Adam([{"params": params[:2]}, {"params": params[2:], "betas": (0.5, 0.9)}], lr=0.05, amsgrad=amsgrad)
    train_steps(opt, params, np.random.default_rng(19), 3)
    return opt, params


def wrong_shape(sd):
    sd["state"][1]["exp_avg"] = np.zeros(4)
    return sd


def missing_buffer(sd):
    del sd["state"][2]["exp_avg_sq"]
    return sd


def missing_step(sd):
    del sd["state"][0]["step"]
    return sd


def extra_param_state(sd):
    sd["state"][7] = dict(sd["state"][0])
    return sd


def bad_hyperparameter(sd):
    sd["param_groups"][1]["betas"] = [1.5, 0.9]
    return sd


def fewer_groups(sd):
    sd["param_groups"] = sd["param_groups"][:1]
    return sd


def fewer_params(sd):
    sd["param_groups"][0]["params"] = sd["param_groups"][0]["params"][:1]
    return sd


def from_sgd(_):
    params = make_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    train_steps(opt, params, np.random.default_rng(0), 2)
    return opt.state_dict()


def from_sgd_without_name(_):
    sd = from_sgd(None)
    del sd["optimizer"]
    return sd


def from_amsgrad_with_fewer_buffers(sd):
    for state in sd["state"].values():
        state.pop("max_exp_avg_sq")
    return sd


def not_a_state_dict(_):
    return {"params": []}


def step_not_a_number(sd):
    sd["state"][2]["step"] = None
    return sd


def complex_buffer(sd):
    sd["state"][2]["exp_avg"] = sd["state"][2]["exp_avg"].astype(np.complex128)
    return sd


CORRUPTIONS = [wrong_shape, missing_buffer, missing_step, extra_param_state, bad_hyperparameter, fewer_groups,
               fewer_params, from_sgd, from_sgd_without_name, not_a_state_dict, step_not_a_number, complex_buffer]


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__)
def test_refused_load_state_dict_changes_nothing(corrupt, amsgrad):
    opt, params = stepped_adam(amsgrad=amsgrad)
    source, _ = stepped_adam(make_params(seed=5), amsgrad=amsgrad)
    bad = corrupt(source.state_dict())
    before = snapshot(opt, params)
    with pytest.raises(ValueError):
        opt.load_state_dict(bad)
    assert_snapshot_equal(before, snapshot(opt, params))
    # and the optimizer still steps as it would have
    twin, twin_params = stepped_adam(amsgrad=amsgrad)
    train_steps(opt, params, np.random.default_rng(20), 2)
    train_steps(twin, twin_params, np.random.default_rng(20), 2)
    for p, q in zip(params, twin_params):
        assert p.numpy().tobytes() == q.numpy().tobytes()


def test_refused_load_with_fewer_amsgrad_buffers_changes_nothing():
    opt, params = stepped_adam(amsgrad=True)
    source, _ = stepped_adam(make_params(seed=5), amsgrad=True)
    before = snapshot(opt, params)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        opt.load_state_dict(from_amsgrad_with_fewer_buffers(source.state_dict()))
    assert_snapshot_equal(before, snapshot(opt, params))


@pytest.mark.parametrize("saved_kwargs, live_kwargs", [
    (dict(lr=0.05, amsgrad=True), dict(lr=0.05)),
    (dict(lr=0.05), dict(lr=0.05, amsgrad=True)),
])
def test_loading_state_with_other_buffers_into_a_stepped_optimizer_continues_like_torch(torch, saved_kwargs,
                                                                                       live_kwargs):
    """torch takes the saved hyperparameters (amsgrad included) and buffers, whatever the live optimizer had."""
    params, torch_params = make_params(torch)
    rng = np.random.default_rng(21)
    source, torch_source = optim.Adam(params, **saved_kwargs), torch.optim.Adam(torch_params, **saved_kwargs)
    for _ in range(3):
        backward_both(torch, rng, source, params, torch_source, torch_params)
        source.step()
        torch_source.step()
    sd, torch_sd = source.state_dict(), torch_source.state_dict()
    live, torch_live = optim.Adam(params, **live_kwargs), torch.optim.Adam(torch_params, **live_kwargs)
    backward_both(torch, rng, live, params, torch_live, torch_params)
    live.step()
    torch_live.step()
    live.load_state_dict(sd)
    torch_live.load_state_dict(torch_sd)
    for step in range(4):
        backward_both(torch, rng, live, params, torch_live, torch_params)
        live.step()
        torch_live.step()
        assert_same(params, torch_params, msg=f"step {step + 1}")


# -- numba: pure-Python mode, lazy import, on-disk cache ------------------------------------------------------------

TRAINING_CODE = textwrap.dedent("""
    import numpy as np
    import tinygrad_edu as tg
    from tinygrad_edu import optim

    def run():
        lines = []
        for dtype in (np.float64, np.float32):
            for make in (lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.1),
                         lambda ps: optim.AdamW(ps, lr=0.05, betas=(0.3, 0.9)),
                         lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
                         lambda ps: optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.2, maximize=True),
                         lambda ps: optim.Momentum(ps, lr=0.1, beta=0.7)):
                rng = np.random.default_rng(0)
                params = [tg.tensor(np.asarray(rng.standard_normal(s), dtype), requires_grad=True, dtype=dtype)
                          for s in [(), (3,), (2, 2)]]
                opt = make(params)
                for step in range(12):
                    opt.zero_grad()
                    loss = sum(((tg.tensor(np.asarray(rng.uniform(0.5, 1.5, p.shape), dtype), dtype=dtype) * p * p
                                 ).sum() for p in params))
                    loss.backward()
                    if step % 4 == 3:
                        params[1].grad = None  # the general path too
                    opt.step()
                lines.append(" ".join(float(v).hex() for p in params for v in np.ravel(p.numpy())))
        return "\\n".join(lines)
""")


def run_python(code, env=None, **kwargs):
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                            cwd=kwargs.pop("cwd", REPO), **kwargs)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_numba_disable_jit_gives_identical_results():
    namespace = {}
    exec(TRAINING_CODE, namespace)
    jitted = namespace["run"]()
    code = TRAINING_CODE + textwrap.dedent("""
        from tinygrad_edu.optim import kernels
        assert type(kernels.adam).__name__ == "function", type(kernels.adam)  # plain Python, not a dispatcher
        print(run())
    """)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(REPO)}
    plain = run_python(code, env=env).strip()
    assert plain.splitlines() == jitted.splitlines()
    assert len(jitted.splitlines()) == 10


def test_import_is_light_and_numba_comes_with_the_first_optimizer():
    code = textwrap.dedent("""
        import sys
        import tinygrad_edu as tg
        assert "numba" not in sys.modules, "import tinygrad_edu imported numba"
        p = tg.tensor([1.0], requires_grad=True)
        tg.optim.SGD([p], lr=0.1)
        assert "numba" in sys.modules
        print("ok")
    """)
    assert run_python(code, env={**os.environ, "PYTHONPATH": str(REPO)}).strip() == "ok"


def test_kernels_are_cached_on_disk():
    p = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    opt = optim.Adam([p], lr=0.1)
    p.grad = tg.ones(2, dtype=np.float64)
    opt.step()
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = tg.ones(2, dtype=np.float64)
    sgd.step()
    from tinygrad_edu.optim import kernels

    if os.environ.get("NUMBA_CACHE_DIR"):
        where = Path(os.environ["NUMBA_CACHE_DIR"])
    else:
        where = Path(kernels.__file__).parent / "__pycache__"
    for name in ("adam", "sgd"):
        found = list(where.rglob(f"kernels.{name}-*.nbi"))
        assert found, f"no numba cache index for kernels.{name} under {where}"
        assert any(where.rglob(f"kernels.{name}-*.nbc"))


def test_kernels_work_from_a_read_only_package(tmp_path):
    """Installed read-only, the package still steps: numba caches in a user directory instead."""
    package = tmp_path / "site" / "tinygrad_edu"
    shutil.copytree(REPO / "tinygrad_edu", package, ignore=shutil.ignore_patterns("__pycache__"))
    cache_home = tmp_path / "cache"
    cache_home.mkdir()
    for path in [package, *package.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    probe = package / "optim" / "probe"
    try:
        probe.write_text("")
        writable = True
    except OSError:
        writable = False
    try:
        if writable:
            # Root (or CAP_DAC_OVERRIDE) ignores the mode bits, so chmod alone proves nothing here. Make the
            # in-tree cache location unusable another way: a plain file where numba's __pycache__ would go.
            probe.unlink()
            (package / "optim").chmod(0o755)
            (package / "optim" / "__pycache__").write_text("not a directory")
            (package / "optim").chmod(0o555)
        env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
        env.update(PYTHONPATH=str(package.parent), XDG_CACHE_HOME=str(cache_home))
        code = textwrap.dedent("""
            import numpy as np
            import tinygrad_edu as tg
            assert tg.__file__.startswith(%r), tg.__file__
            p = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
            opt = tg.optim.SGD([p], lr=0.5)
            p.grad = tg.tensor([1.0, -2.0], dtype=np.float64)
            opt.step()
            print(p.numpy().tolist())
        """) % str(package.parent)
        assert run_python(code, env=env, cwd=tmp_path).strip() == "[0.5, 3.0]"
        assert not (package / "optim" / "__pycache__").is_dir()
        assert list(cache_home.rglob("kernels.sgd-*.nbi")), "numba wrote no cache in the user cache directory"
    finally:
        for path in [package, *package.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def test_optimizers_by_name_and_unknown_names_list_the_valid_ones():
    assert optim.get("adam") is optim.Adam and optim.get("AdamW") is optim.AdamW and optim.get("sgd") is optim.SGD
    assert set(optim.names()) == {"SGD", "Momentum", "RMSprop", "Adagrad", "Adam", "AdamW", "NAdam", "RAdam",
                                  "Lion", "Adafactor", "LARS", "LAMB", "CAME"}
    with pytest.raises(KeyError) as info:
        optim.get("adamax")
    message = str(info.value)
    assert "adamax" in message and all(name in message for name in optim.names())


def test_a_model_converted_after_the_optimizer_was_built_is_a_clear_error_not_a_silent_downcast():
    model = tg.nn.Linear(2, 1)
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    model.to(tg.float64)
    model(tg.ones(3, 2, dtype=tg.float64)).sum().backward()
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.raises(TypeError, match="changed dtype from float32 to float64"):
        optimizer.step()
    for p, b in zip(model.parameters(), before):
        assert p.dtype == np.float64
        np.testing.assert_array_equal(p.numpy(), b)  # refused before anything changed
    # Built after the conversion, it trains in float64.
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    optimizer.step()
    assert all(p.dtype == np.float64 for p in model.parameters())


def test_building_an_optimizer_after_the_forward_pass_keeps_the_graph_usable_as_in_torch():
    torch = pytest.importorskip("torch")
    w = tg.tensor([1.0, -2.0], requires_grad=True)
    wt = torch.tensor([1.0, -2.0], requires_grad=True)
    loss, loss_t = (w * w).sum() + w[0], (wt * wt).sum() + wt[0]
    optimizer, optimizer_t = optim.Adam([w], lr=0.1), torch.optim.Adam([wt], lr=0.1)
    loss.backward()
    loss_t.backward()                    # neither construction changed a value: both graphs still work
    np.testing.assert_array_equal(w.grad.numpy(), wt.grad.numpy())
    optimizer.step()
    optimizer_t.step()
    np.testing.assert_allclose(w.numpy(), wt.detach().numpy(), rtol=1e-6)
    stale, stale_t = (w * w).sum(), (wt * wt).sum()
    optimizer.step()
    optimizer_t.step()                   # a step does change values: a graph from before it refuses, in both
    with pytest.raises(RuntimeError):
        stale_t.backward()
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "NAdam"])
def test_a_deep_copy_or_pickle_of_model_and_optimizer_trains_on_as_pytorchs_does(name):
    """copy.deepcopy((model, optimizer)) and pickle give an optimizer stepping the copied parameters, with the
    state carried over; the original is left alone. Compared with the same in PyTorch."""
    import copy
    import pickle

    torch = pytest.importorskip("torch")
    kwargs = {"lr": 0.1, **({"momentum": 0.9} if name == "SGD" else {})}
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)

    def train(model, optimizer, inputs, steps):
        for _ in range(steps):
            optimizer.zero_grad()
            (model(inputs) ** 2).sum().backward()
            optimizer.step()

    ours = tg.nn.Linear(3, 2)
    theirs = torch.nn.Linear(3, 2)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(np.array(ours.weight.detach().numpy())))
        theirs.bias.copy_(torch.from_numpy(np.array(ours.bias.detach().numpy())))
    opt = getattr(tg.optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    train(ours, opt, tg.tensor(x), 2)
    train(theirs, topt, torch.from_numpy(x), 2)
    before = np.array(ours.weight.detach().numpy()).copy()
    for made in (copy.deepcopy((ours, opt)), pickle.loads(pickle.dumps((ours, opt)))):
        model, optimizer = made
        assert optimizer.param_groups[0]["params"][0] is model.weight
        train(model, optimizer, tg.tensor(x), 3)
        tmodel, toptimizer = copy.deepcopy((theirs, topt))
        train(tmodel, toptimizer, torch.from_numpy(x), 3)
        np.testing.assert_allclose(model.weight.detach().numpy(), tmodel.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ours.weight.detach().numpy(), before)  # the original did not move
