"""Reliability of the optimizers (issue 13): no half-done step, honoured edits, Tensor rates, stale graphs.

Each behaviour is first run in PyTorch (the oracle, torch 2.13 CPU) and then
checked here against what PyTorch does, step for step where PyTorch defines
the result. Where this library is deliberately stricter than PyTorch (a
negative rate set mid-run, a flag that is not a bool, a parameter listed
twice), the test says so and checks the clear error and that nothing changed.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim

torch = pytest.importorskip("torch")

# Optimizers PyTorch also has, with the keyword arguments both accept.
TORCH_PAIRS = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1)),
    ("NAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05)),
]


def pair(values, dtype=np.float32):
    """The same leaf parameters in both libraries."""
    values = [np.asarray(v, dtype=dtype) for v in values]
    return ([tg.tensor(v.copy(), dtype=v.dtype, requires_grad=True) for v in values],
            [torch.tensor(v.copy(), requires_grad=True) for v in values])


def set_grads(rng, params, torch_params):
    """The same gradient in both libraries, given directly (no graph: exactly the same numbers)."""
    for p, tp in zip(params, torch_params):
        g = np.asarray(rng.standard_normal(p.shape), dtype=p.dtype)
        p.grad = tg.tensor(g.copy(), dtype=g.dtype)
        tp.grad = torch.tensor(g.copy())


def values(params):
    return [np.array(p.detach().numpy()) for p in params]


def torch_values(params):
    return [p.detach().numpy().copy() for p in params]


def assert_same_values(params, torch_params, rtol=1e-6, atol=1e-7, msg=""):
    for i, (p, tp) in enumerate(zip(params, torch_params)):
        assert p.dtype == np.dtype(str(tp.dtype).replace("torch.", "")), f"{msg} parameter {i}: dtype {p.dtype}"
        np.testing.assert_allclose(np.asarray(p.detach().numpy(), np.float64), tp.detach().double().numpy(),
                                   rtol=rtol, atol=atol, err_msg=f"{msg} parameter {i}")


# -- item 1: a step is all or nothing; float16 supported as in PyTorch --------------------------------------------


@pytest.mark.parametrize("name, kwargs", TORCH_PAIRS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_PAIRS)])
def test_float16_and_float32_parameters_step_like_pytorch(name, kwargs):
    """PyTorch steps float16 CPU parameters (state kept in float16); so does this library, step for step.

    PyTorch rounds to float16 after each elementwise operation; this library
    computes a step in float32 and rounds once, so the float16 parameters agree
    to a few float16 ulps (2**-10 relative), the float32 ones to float32 rounding.
    """
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    p32, t32 = pair(init, np.float32)
    p16, t16 = pair(init, np.float16)
    opt = getattr(optim, name)(p32 + p16, **kwargs)
    topt = getattr(torch.optim, name)(t32 + t16, **kwargs)
    for step in range(5):
        set_grads(rng, p32 + p16, t32 + t16)
        opt.step()
        topt.step()
        assert_same_values(p32, t32, rtol=1e-5, atol=1e-6, msg=f"float32, step {step}")
        assert_same_values(p16, t16, rtol=4e-3, atol=4e-3, msg=f"float16, step {step}")
    for p, tp in zip(p16, t16):  # PyTorch keeps the moments in float16 too (NAdam's mu_product: see the report)
        for key, buffer in topt.state[tp].items():
            if key != "step" and buffer.dtype == torch.float16:
                assert opt.state[p][key].dtype == np.float16, (key, opt.state[p][key].dtype)


@pytest.mark.parametrize("cls", optim.REGISTRY, ids=lambda c: c.__name__)
def test_every_optimizer_steps_float16_as_its_float32_run_rounded(cls):
    """Every registered optimizer (PyTorch has no Lion, LARS, LAMB, CAME): float16 stays float16 and follows
    the float32 run of the same optimizer from the same (float16-representable) start to float16 precision."""
    rng = np.random.default_rng(1)
    init = np.asarray(rng.standard_normal((4, 6)), np.float16).astype(np.float32)
    kwargs = {"lr": 0.01}
    w16 = tg.tensor(init.astype(np.float16), dtype=tg.float16, requires_grad=True)
    w32 = tg.tensor(init, requires_grad=True)
    o16, o32 = cls([w16], **kwargs), cls([w32], **kwargs)
    for _ in range(3):
        g = np.asarray(rng.standard_normal((4, 6)), np.float16)
        w16.grad, w32.grad = tg.tensor(g, dtype=tg.float16), tg.tensor(g.astype(np.float32))
        o16.step()
        o32.step()
    assert w16.dtype == np.float16
    assert np.all(np.isfinite(w16.numpy()))
    assert not np.array_equal(w16.numpy().astype(np.float32), init), "float16 parameters did not move"
    np.testing.assert_allclose(w16.numpy().astype(np.float32), w32.numpy(), rtol=1e-2, atol=1e-2)


def test_a_failing_step_changes_nothing_and_a_retry_steps_once():
    """A bad gradient in the second group (found while checking) leaves the first group as it was: after fixing it,
    one retry gives exactly PyTorch's one step (the old behaviour stepped the first group twice)."""
    (a, b), (ta, tb) = pair([[1.0, 2.0], [3.0, 4.0, 5.0]])
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    topt = torch.optim.Adam([{"params": [ta]}, {"params": [tb], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = tg.ones(2), tg.ones(3)
    b.data = tg.ones(2)  # a parameter rebound to another shape: found while checking, before any change
    before = values([a, b])
    with pytest.raises(tg.ShapeError, match="changed shape"):
        opt.step()
    for p, v in zip([a, b], before):
        np.testing.assert_array_equal(p.numpy(), v)
    assert opt.state == {} and a._version == 0
    b.data = tg.tensor([3.0, 4.0, 5.0])
    ta.grad, tb.grad = torch.ones(2), torch.ones(3)
    opt.step()
    topt.step()
    assert_same_values([a, b], [ta, tb])


def test_a_bad_hyperparameter_in_a_later_group_changes_nothing():
    (a, b), _ = pair([[1.0], [2.0]])
    opt = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    a.grad, b.grad = tg.ones(1), tg.ones(1)
    opt.param_groups[1]["momentum"] = float("nan")
    with pytest.raises(ValueError, match="momentum"):
        opt.step()
    assert a.item() == 1.0 and b.item() == 2.0 and opt.state == {}


# -- item 2: edits of param_groups[i]['params'] are honoured -------------------------------------------------------


@pytest.mark.parametrize("edit", ["append", "replace", "move", "tuple", "new_group_via_add"])
def test_edited_params_follow_pytorch_step_for_step(edit):
    """Append to, replace, or move between groups mid-run: the new parameters are optimized from the next step,
    and those that stay keep their state (PyTorch keys state by parameter)."""
    rng = np.random.default_rng(2)
    init = [rng.standard_normal(3), rng.standard_normal((2, 2)), rng.standard_normal(4)]
    (a, b, c), (ta, tb, tc) = pair(init)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.02}], lr=0.05)
    topt = torch.optim.Adam([{"params": [ta]}, {"params": [tb], "lr": 0.02}], lr=0.05)
    for step in range(6):
        if step == 2:
            for o, (x, y, z) in ((opt, (a, b, c)), (topt, (ta, tb, tc))):
                if edit == "append":
                    o.param_groups[0]["params"].append(z)
                elif edit == "replace":
                    o.param_groups[0]["params"] = [z, x]
                elif edit == "move":  # b leaves group 1 for group 0, keeping its moments and step count
                    o.param_groups[1]["params"] = [z]
                    o.param_groups[0]["params"].append(y)
                elif edit == "tuple":
                    o.param_groups[0]["params"] = (x, z)
                else:
                    o.add_param_group({"params": [z], "lr": 0.1})
        set_grads(rng, [a, b, c], [ta, tb, tc])
        opt.step()
        topt.step()
        assert_same_values([a, b, c], [ta, tb, tc], rtol=1e-5, atol=1e-6, msg=f"{edit}, step {step}")
    for p, tp in ((a, ta), (b, tb), (c, tc)):
        assert opt.state[p]["step"] == float(topt.state[tp]["step"])
        np.testing.assert_allclose(opt.state[p]["exp_avg"], topt.state[tp]["exp_avg"].numpy(), rtol=1e-5, atol=1e-7)


def test_removed_parameter_keeps_its_state_and_state_dict_leaves_it_out():
    """PyTorch keeps a removed parameter's state (its state_dict then raises KeyError); here it is kept too,
    a parameter put back continues from it, and state_dict leaves it out while it is out of every group."""
    (a, b), (ta, tb) = pair([[1.0, 2.0], [3.0]])
    opt, topt = optim.SGD([a, b], lr=0.1, momentum=0.9), torch.optim.SGD([ta, tb], lr=0.1, momentum=0.9)
    rng = np.random.default_rng(3)
    for step in range(5):
        if step == 1:
            opt.param_groups[0]["params"], topt.param_groups[0]["params"] = [a], [ta]
            sd = opt.state_dict()
            assert list(sd["state"]) == [0] and sd["param_groups"][0]["params"] == [0]
            with pytest.raises(KeyError):
                topt.state_dict()  # what PyTorch does here
        if step == 3:
            opt.param_groups[0]["params"].append(b)
            topt.param_groups[0]["params"].append(tb)
        set_grads(rng, [a, b], [ta, tb])
        opt.step()
        topt.step()
        assert_same_values([a, b], [ta, tb], msg=f"step {step}")


@pytest.mark.parametrize("bad, error, match", [
    (lambda a: a * 2, ValueError, "non-leaf"),
    (lambda a: tg.ones(2), ValueError, "does not require grad"),
    (lambda a: a, ValueError, "twice"),
    (lambda a: "w", TypeError, "str"),
    (lambda a: tg.tensor([1, 2]).requires_grad_(False), TypeError, "floating-point"),
])
def test_an_invalid_appended_parameter_is_refused_before_any_change(bad, error, match):
    """PyTorch raises "can't optimize a non-leaf Tensor" when building; an edit is checked at the next step."""
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.Adam([w * 2])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        torch.optim.Adam([torch.ones(2, requires_grad=True) * 2])
    opt.param_groups[0]["params"].append(bad(w))
    w.grad = tg.ones(2)
    with pytest.raises(error, match=match):
        opt.step()
    assert w.numpy().tolist() == [1.0, 2.0] and opt.state == {}


def test_a_group_added_by_hand_must_be_complete():
    w, v = tg.tensor([1.0], requires_grad=True), tg.tensor([2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    opt.param_groups.append({"params": [v]})
    w.grad, v.grad = tg.ones(1), tg.ones(1)
    with pytest.raises(ValueError, match="lacks the hyperparameter 'lr'.*add_param_group"):
        opt.step()
    assert w.item() == 1.0
    opt.param_groups[1].update({k: val for k, val in opt.defaults.items()})
    opt.step()
    assert w.item() == pytest.approx(0.9) and v.item() == pytest.approx(1.9)


# -- item 3: Tensor learning rates (and betas) as in PyTorch; every change validated --------------------------------


def test_tensor_learning_rate_set_mid_run_follows_pytorch():
    """PyTorch accepts a one-element Tensor lr (and betas); its current value is used at every step, including
    after an in-place change. (The validation is not skipped because ``tensor(0.1) == 0.1``.)"""
    rng = np.random.default_rng(4)
    (w,), (tw,) = pair([rng.standard_normal(4)])
    opt, topt = optim.Adam([w], lr=0.1), torch.optim.Adam([tw], lr=0.1)
    for step in range(6):
        if step == 1:
            opt.param_groups[0]["lr"], topt.param_groups[0]["lr"] = tg.tensor(0.1), torch.tensor(0.1)
        if step == 3:
            opt.param_groups[0]["lr"].numpy().fill(0.02)
            topt.param_groups[0]["lr"].fill_(0.02)
        if step == 4:
            opt.param_groups[0]["betas"] = (tg.tensor(0.8), 0.99)
            topt.param_groups[0]["betas"] = (torch.tensor(0.8), 0.99)
        set_grads(rng, [w], [tw])
        opt.step()
        topt.step()
        assert_same_values([w], [tw], rtol=1e-5, atol=1e-6, msg=f"step {step}")
    assert isinstance(opt.state_dict()["param_groups"][0]["lr"], float)  # saved as its number


def test_tensor_learning_rate_at_construction_follows_pytorch():
    (w,), (tw,) = pair([[1.0, -2.0]])
    opt = optim.SGD([w], lr=tg.tensor(0.1), momentum=tg.tensor(0.5))
    topt = torch.optim.SGD([tw], lr=torch.tensor(0.1), momentum=torch.tensor(0.5))
    for _ in range(3):
        set_grads(np.random.default_rng(5), [w], [tw])
        opt.step()
        topt.step()
    assert_same_values([w], [tw])
    with pytest.raises(ValueError, match="one element"):
        optim.Adam([w], lr=tg.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="1-element"):
        torch.optim.Adam([tw], lr=torch.tensor([0.1, 0.2]))  # PyTorch: "Tensor lr must be 1-element"
    with pytest.raises(ValueError, match="Invalid lr"):
        optim.Adam([w], lr=tg.tensor(-0.1))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        torch.optim.Adam([tw], lr=torch.tensor(-0.1))


@pytest.mark.parametrize("key, bad, match", [
    ("lr", -0.1, "Invalid lr"),
    ("lr", float("nan"), "Invalid lr"),
    ("lr", "0.1", "Invalid lr"),
    ("lr", tg.tensor(-0.1), "Invalid lr"),
    ("lr", tg.tensor(float("nan")), "Invalid lr"),
    ("lr", tg.tensor([0.1, 0.2]), "one element"),
    ("lr", tg.tensor(True), "real number"),
    ("betas", (tg.tensor(1.5), 0.9), "betas"),
    ("betas", [0.9], "betas"),
    ("eps", None, "Invalid eps"),
    ("maximize", "no", "maximize"),
    ("amsgrad", 1, "amsgrad"),
])
def test_a_bad_value_set_mid_run_is_refused_before_any_change(key, bad, match):
    """Stricter than PyTorch for values set mid-run: PyTorch checks only at construction (a negative rate set
    later ascends, ``maximize="no"`` maximizes); here every changed entry is validated at the next step."""
    w, v = tg.tensor([1.0], requires_grad=True), tg.tensor([1.0], requires_grad=True)
    opt = optim.Adam([{"params": [w]}, {"params": [v]}], lr=0.1)
    w.grad, v.grad = tg.ones(1), tg.ones(1)
    opt.step()
    before = copy.deepcopy(opt.state_dict())
    w.grad, v.grad = tg.ones(1), tg.ones(1)
    opt.param_groups[1][key] = bad
    with pytest.raises(ValueError, match=match):
        opt.step()
    assert w.item() == pytest.approx(0.9) and v.item() == pytest.approx(0.9)
    after = opt.state_dict()
    assert after["state"][0]["step"] == before["state"][0]["step"] == 1.0


def test_a_tensor_rate_changed_in_place_to_a_bad_value_is_caught():
    w = tg.tensor([1.0], requires_grad=True)
    lr = tg.tensor(0.1)
    opt = optim.SGD([w], lr=lr)
    w.grad = tg.ones(1)
    opt.step()
    lr.numpy().fill(-1.0)
    with pytest.raises(ValueError, match="Invalid lr value: -1.0"):
        opt.step()
    assert w.item() == pytest.approx(0.9)


# -- item 4: a step between forward and backward -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_step_between_forward_and_backward_raises_as_in_pytorch(name):
    """The step changes the parameters in place and bumps their version counters: a graph that saved a parameter
    before the step refuses to backward, as PyTorch's does (PyTorch: "... modified by an inplace operation")."""
    (w,), (tw,) = pair([[1.0, 2.0]])
    opt, topt = getattr(optim, name)([w], lr=0.1), getattr(torch.optim, name)([tw], lr=0.1)
    loss, tloss = (w * w).sum(), (tw * tw).sum()
    w.grad, tw.grad = tg.ones(2), torch.ones(2)
    opt.step()
    topt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
    # A graph built after the step backpropagates (the counter is checked, not just "a step happened").
    (w * w).sum().backward()
    (tw * tw).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)


def test_float16_step_also_bumps_versions():
    w = tg.tensor([1.0, 2.0], dtype=tg.float16, requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    loss = (w * w).sum()
    w.grad = tg.ones(2, dtype=tg.float16)
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


# -- siblings: every multi-part mutation in optim checks everything first -------------------------------------------


def stepped_adam():
    rng = np.random.default_rng(6)
    (a, b), _ = pair([rng.standard_normal(3), rng.standard_normal((2, 2))])
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)
    for _ in range(2):
        a.grad, b.grad = tg.ones(3), tg.ones((2, 2))
        opt.step()
    return opt, (a, b)


def hostile_states():
    """Damaged or crafted optimizer state dicts, each a ValueError (a hostile file must not half-load)."""
    def edit(fn):
        opt, _ = stepped_adam()
        sd = copy.deepcopy(opt.state_dict())
        fn(sd)
        return sd
    return {
        "not a dict": [1, 2],
        "state not a dict": edit(lambda sd: sd.update(state=[])),
        "groups not a list": edit(lambda sd: sd.update(param_groups=None)),
        "group not a dict": edit(lambda sd: sd["param_groups"].__setitem__(1, "x")),
        "params not a list": edit(lambda sd: sd["param_groups"][0].update(params=0)),
        "position out of range": edit(lambda sd: sd["param_groups"][1].update(params=[7])),
        "position negative": edit(lambda sd: sd["param_groups"][1].update(params=[-1])),
        "position a float": edit(lambda sd: sd["param_groups"][1].update(params=[1.5])),
        "position repeated": edit(lambda sd: sd["param_groups"][1].update(params=[0])),
        "state key a word": edit(lambda sd: sd["state"].update({"x": sd["state"][0]})),
        "a parameter's state not a dict": edit(lambda sd: sd["state"].update({1: 3})),
        "step negative": edit(lambda sd: sd["state"][1].update(step=-1.0)),
        "step NaN": edit(lambda sd: sd["state"][1].update(step=float("nan"))),
        "step a string": edit(lambda sd: sd["state"][1].update(step="2")),
        "buffer shape": edit(lambda sd: sd["state"][1].update(exp_avg=np.zeros(4))),
        "buffer strings": edit(lambda sd: sd["state"][1].update(exp_avg=np.array([["a", "b"], ["c", "d"]]))),
        "bad lr in the last group": edit(lambda sd: sd["param_groups"][1].update(lr=-1.0)),
        "flag not a bool": edit(lambda sd: sd["param_groups"][1].update(amsgrad="yes")),
        "lr a 2-element list": edit(lambda sd: sd["param_groups"][1].update(lr=[0.1, 0.2])),
    }


@pytest.mark.parametrize("case", list(hostile_states()))
def test_optimizer_load_state_dict_refuses_hostile_states_and_changes_nothing(case):
    sd = hostile_states()[case]
    opt, (a, b) = stepped_adam()
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert [g["lr"] for g in after["param_groups"]] == [g["lr"] for g in before["param_groups"]]
    for key, state in before["state"].items():
        for name, value in state.items():
            np.testing.assert_array_equal(after["state"][key][name], value, err_msg=f"{case}: {name}")
    # ... and it still steps as before
    a.grad, b.grad = tg.ones(3), tg.ones((2, 2))
    opt.step()


def test_optimizer_load_state_dict_takes_string_positions_and_int_steps():
    """After a round trip through a format with string keys (JSON), the positions are decimal strings."""
    opt, (a, b) = stepped_adam()
    sd = copy.deepcopy(opt.state_dict())
    sd["state"] = {str(k): {**v, "step": int(v["step"])} for k, v in sd["state"].items()}
    fresh = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)
    fresh.load_state_dict(sd)
    assert fresh.state[b]["step"] == 2.0


def test_add_param_group_refused_changes_nothing():
    w = tg.tensor([1.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    for bad, match in [({"params": [tg.ones(1, requires_grad=True)], "lr": -1}, "Invalid lr"),
                       ({"params": [tg.ones(1, requires_grad=True)], "maximize": "yes"}, "maximize"),
                       ({"params": [w]}, "more than one"),
                       ({"params": [tg.ones(1, requires_grad=True), tg.ones(1) * 2]}, "does not require grad")]:
        with pytest.raises(ValueError, match=match):
            opt.add_param_group(bad)
        assert len(opt.param_groups) == 1 and len(opt._flat) == 1
    w.grad = tg.ones(1)
    opt.step()
    assert w.item() == pytest.approx(0.9)


def test_flags_of_the_wrong_type_are_refused_where_pytorch_reads_their_truth():
    """PyTorch accepts ``maximize="yes"`` (and ``amsgrad="no"``, which turns amsgrad on); this library refuses
    a flag that is not a bool (stricter than PyTorch, documented in `resolve_hyperparameter`)."""
    tw = torch.tensor([1.0], requires_grad=True)
    assert torch.optim.Adam([tw], amsgrad="no").param_groups[0]["amsgrad"] == "no"
    w = tg.tensor([1.0], requires_grad=True)
    for kwargs in [dict(maximize="yes"), dict(amsgrad="no"), dict(amsgrad=None)]:
        with pytest.raises(ValueError, match="expected True or False"):
            optim.Adam([w], **kwargs)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([w], lr=0.1, momentum=0.9, nesterov=1)
    assert optim.Adam([w], maximize=np.bool_(True)).param_groups[0]["maximize"]


def test_duplicate_parameters_are_refused():
    """PyTorch warns ("duplicate parameters") and steps such a parameter twice per step; refused here."""
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([w, w], lr=0.1)
    tw = torch.tensor([1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate"):
        torch.optim.SGD([tw, tw], lr=0.1)


def test_zero_grad_checks_its_argument_first():
    w = tg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = tg.ones(1)
    with pytest.raises(TypeError, match="set_to_none"):
        opt.zero_grad(set_to_none="no")
    assert w.grad is not None and w.grad.item() == 1.0
    opt.zero_grad(set_to_none=False)
    assert w.grad.item() == 0.0


def schedulers():
    sched = optim.lr_scheduler
    w = tg.zeros(1, requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    seq = sched.SequentialLR(opt, [sched.StepLR(opt, 2, 0.5), sched.ExponentialLR(opt, 0.9)], [3])
    return opt, seq


@pytest.mark.parametrize("damage", [
    lambda sd: sd.update(last_epoch="3"),
    lambda sd: sd.update(last_epoch=2.5),
    lambda sd: sd.update(base_lrs=[1.0, 2.0]),
    lambda sd: sd["_schedulers"][1].update(gamma="0.9"),
    lambda sd: sd["_schedulers"][1].update(_last_lr=None),
    lambda sd: sd["_schedulers"][1].pop("gamma"),
    lambda sd: sd.update(_schedulers=sd["_schedulers"][:1]),
])
def test_scheduler_load_state_dict_checks_everything_before_changing(damage):
    """A damaged SequentialLR state (the last nested scheduler's, say) changes nothing: before, the outer
    scheduler and the first nested one were loaded before the damage was found."""
    opt, seq = schedulers()
    for _ in range(5):
        seq.step()
    saved = copy.deepcopy(seq.state_dict())
    opt2, seq2 = schedulers()
    before = copy.deepcopy(seq2.state_dict())
    damage(saved)
    with pytest.raises(ValueError):
        seq2.load_state_dict(saved)
    assert seq2.state_dict() == before
    assert seq2._schedulers[0].last_epoch == before["_schedulers"][0]["last_epoch"]


def test_scheduler_round_trip_still_loads():
    opt, seq = schedulers()
    for _ in range(4):
        seq.step()
    saved = copy.deepcopy(seq.state_dict())
    opt2, seq2 = schedulers()
    opt2.load_state_dict(opt.state_dict())  # the rates live in the optimizer (as in PyTorch: load both)
    seq2.load_state_dict(saved)
    seq.step()
    seq2.step()
    assert seq2.get_last_lr() == seq.get_last_lr()


# -- sibling: edits of optimizer.state are honoured, as PyTorch uses its state as it finds it ------------------------


@pytest.mark.parametrize("edit", ["replace_buffer", "delete_entry", "set_step", "clear", "new_dict", "tensor_step"])
def test_edited_state_follows_pytorch_step_for_step(edit):
    rng = np.random.default_rng(7)
    (w, v), (tw, tv) = pair([rng.standard_normal(3), rng.standard_normal(2)])
    opt, topt = optim.Adam([w, v], lr=0.05), torch.optim.Adam([tw, tv], lr=0.05)
    for step in range(5):
        if step == 2:
            if edit == "replace_buffer":
                opt.state[w]["exp_avg"] = np.full(3, 0.5, np.float32)
                topt.state[tw]["exp_avg"] = torch.full((3,), 0.5)
            elif edit == "delete_entry":
                del opt.state[w]
                del topt.state[tw]
            elif edit == "set_step":
                opt.state[v]["step"] = 10.0
                topt.state[tv]["step"] = torch.tensor(10.0)
            elif edit == "tensor_step":
                opt.state[v]["step"] = tg.tensor(7.0)
                topt.state[tv]["step"] = torch.tensor(7.0)
            elif edit == "clear":
                opt.state.clear()
                topt.state.clear()
            else:
                opt.state[v] = {"step": 1.0, "exp_avg": np.ones(2), "exp_avg_sq": np.ones(2)}
                topt.state[tv] = {"step": torch.tensor(1.0), "exp_avg": torch.ones(2), "exp_avg_sq": torch.ones(2)}
        set_grads(rng, [w, v], [tw, tv])
        opt.step()
        topt.step()
        assert_same_values([w, v], [tw, tv], rtol=1e-5, atol=1e-6, msg=f"{edit}, step {step}")
    for p, tp in ((w, tw), (v, tv)):
        assert float(opt.state[p]["step"]) == float(topt.state[tp]["step"])


def test_a_bad_state_edit_is_refused_before_any_change():
    """PyTorch fails inside the step ("The size of tensor a (3) must match ..."); here a ValueError names the entry
    and nothing changes."""
    (w, v), (tw, _) = pair([[1.0, 2.0], [3.0]])
    opt = optim.Adam([w, v], lr=0.1)
    w.grad, v.grad = tg.ones(2), tg.ones(1)
    opt.step()
    for bad, match in [({"exp_avg": np.zeros(3)}, "shape"), ({"step": -1.0}, "'step'"),
                       ({"exp_avg_sq": np.array(["a", "b"])}, "numbers")]:
        saved = copy.deepcopy(opt.state_dict())
        opt.state[v].update(bad) if "exp_avg" not in bad else opt.state[w].update(bad)
        w.grad, v.grad = tg.ones(2), tg.ones(1)
        before = values([w, v])
        with pytest.raises(ValueError, match=match):
            opt.step()
        assert [x.tolist() for x in values([w, v])] == [x.tolist() for x in before]
        # put the saved state back (load_state_dict replaces the edited entries)
        opt.load_state_dict(saved)
    del opt.state[w]["exp_avg"]
    with pytest.raises(ValueError, match="lacks 'exp_avg'"):
        opt.step()
    topt = torch.optim.Adam([tw], lr=0.1)
    tw.grad = torch.ones(2)
    topt.step()
    topt.state[tw]["exp_avg"] = torch.zeros(3)
    with pytest.raises(RuntimeError, match="must match"):
        topt.step()


@pytest.mark.parametrize("name, args, kwargs", [
    ("StepLR", (2, 0.5), {}), ("ExponentialLR", (0.9,), {}), ("CosineAnnealingLR", (10,), {}), ("LinearLR", (), {}),
    ("OneCycleLR", (1.0,), dict(total_steps=10)), ("ReduceLROnPlateau", (), {}), ("MultiStepLR", ([2, 3],), {}),
])
def test_schedulers_drive_a_tensor_learning_rate_as_pytorch(name, args, kwargs):
    results = []
    for lib, schedulers in ((tg, optim.lr_scheduler), (torch, torch.optim.lr_scheduler)):
        w = lib.tensor([1.0], requires_grad=True)
        opt = lib.optim.SGD([w], lr=lib.tensor(0.1), momentum=0.9)
        scheduler = getattr(schedulers, name)(opt, *args, **kwargs)
        for _ in range(4):
            w.grad = lib.ones(1)
            opt.step()
            scheduler.step(1.0) if name == "ReduceLROnPlateau" else scheduler.step()
        results.append(float(w.detach().numpy()[0]))
    assert results[0] == pytest.approx(results[1], rel=1e-6), results


def test_update_bn_that_fails_leaves_the_running_statistics_as_they_were():
    """A loader that fails half-way (a batch of the wrong width): PyTorch leaves the statistics reset (mean 0,
    var 1) and momentum None; here every BatchNorm gets its statistics, momentum and mode back (stricter)."""
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.BatchNorm1d(4))
    model.train()
    for _ in range(3):
        model(tg.randn(8, 3))
    model.eval()
    bn = model[1]
    before = [np.array(b.numpy()) for b in (bn.running_mean, bn.running_var, bn.num_batches_tracked)]
    loader = [tg.randn(8, 3), tg.randn(8, 5)]
    with pytest.raises(tg.ShapeError):
        optim.swa_utils.update_bn(loader, model)
    after = [b.numpy() for b in (bn.running_mean, bn.running_var, bn.num_batches_tracked)]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert bn.momentum == 0.1 and not model.training
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    tmodel(torch.randn(8, 3))
    with pytest.raises(RuntimeError):
        torch.optim.swa_utils.update_bn([torch.randn(8, 3), torch.randn(8, 5)], tmodel)
    assert tmodel[1].momentum is None  # what PyTorch leaves behind
    # A pass that succeeds still gives the statistics of the loader's batches (the mean of their batch means).
    batches = [tg.randn(8, 3), tg.randn(8, 3)]
    optim.swa_utils.update_bn(batches, model)
    with tg.no_grad():
        means = [model[0](x).numpy().mean(0) for x in batches]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, 0), rtol=1e-5, atol=1e-6)
