"""Learning-rate schedulers: step for step against torch.optim.lr_scheduler and against their docstring formulas.

Every PyTorch comparison builds the same two-group optimizer on both sides (dummy
parameters, different rates per group) and steps both schedulers in lockstep; no
optimizer step is needed, since a scheduler only reads and writes ``param_groups``.
"""

from __future__ import annotations

import doctest
import math
import types

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim import lr_scheduler

# PyTorch warns when its scheduler steps before any optimizer.step(); here that is the point.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`:UserWarning")

LRS = (0.1, 0.03)
HYPER_KEYS = ("lr", "initial_lr", "momentum", "betas", "max_lr", "min_lr", "max_momentum", "base_momentum")


class _NoMomentumOptimizer(optim.Optimizer):
    """Test-only: an optimizer with a rate and nothing else, to check OneCycleLR's refusal."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    def step(self, closure=None):
        return None


class _Beta1Optimizer(optim.Optimizer):
    """Test-only stand-in for Adam (used only if ``optim.Adam`` is missing): 'betas' and a no-op step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999)):
        super().__init__(params, {"lr": lr, "betas": betas})

    def step(self, closure=None):
        return None


_Adam = getattr(optim, "Adam", None) or _Beta1Optimizer


def tg_opt(kind="sgd", lrs=LRS):
    groups = [{"params": [tg.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return optim.SGD(groups, lr=lrs[0], momentum=0.9)
    if kind == "adam":
        return _Adam(groups, lr=lrs[0], betas=(0.9, 0.999))
    return _NoMomentumOptimizer(groups, lr=lrs[0])


def torch_opt(torch, kind="sgd", lrs=LRS):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    return torch.optim.Adam(groups, lr=lrs[0], betas=(0.9, 0.999))


def hyper(opt):
    """Every hyperparameter a scheduler may touch, per group (floats compared exactly)."""
    return [{k: (tuple(g[k]) if k == "betas" else g[k]) for k in HYPER_KEYS if k in g} for g in opt.param_groups]


# -- the schedules, each built the same way from either module ----------------------------------------

CASES = {
    "StepLR": (lambda ns, o: ns.StepLR(o, step_size=7, gamma=0.5), 120),
    "StepLR-every-step": (lambda ns, o: ns.StepLR(o, step_size=1), 40),
    "MultiStepLR": (lambda ns, o: ns.MultiStepLR(o, milestones=[10, 30, 30, 80], gamma=0.5), 120),
    "ExponentialLR": (lambda ns, o: ns.ExponentialLR(o, gamma=0.95), 150),
    "CosineAnnealingLR": (lambda ns, o: ns.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), 150),
    "CosineAnnealingLR-T37": (lambda ns, o: ns.CosineAnnealingLR(o, T_max=37), 300),
    "CosineAnnealingLR-T1": (lambda ns, o: ns.CosineAnnealingLR(o, T_max=1, eta_min=0.01), 50),
    "LinearLR": (lambda ns, o: ns.LinearLR(o), 100),
    "LinearLR-decay": (lambda ns, o: ns.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=30), 100),
    "LinearLR-warmup": (lambda ns, o: ns.LinearLR(o, start_factor=0.01, total_iters=20), 100),
    "LambdaLR": (lambda ns, o: ns.LambdaLR(o, lambda t: 0.97 ** t), 100),
    "LambdaLR-list": (lambda ns, o: ns.LambdaLR(o, [lambda t: 1 / (1 + t), lambda t: (t % 10 + 1) / 10]), 100),
    "SequentialLR-warmup-cosine": (
        lambda ns, o: ns.SequentialLR(o, [ns.LinearLR(o, start_factor=0.1, total_iters=10),
                                          ns.CosineAnnealingLR(o, T_max=40, eta_min=1e-4)], milestones=[10]),
        130),
    "SequentialLR-three": (
        lambda ns, o: ns.SequentialLR(o, [ns.StepLR(o, 3, gamma=0.5), ns.ExponentialLR(o, gamma=0.9),
                                          ns.MultiStepLR(o, milestones=[5, 15])], milestones=[12, 40]),
        100),
    "SequentialLR-lambda-linear": (
        lambda ns, o: ns.SequentialLR(o, [ns.LambdaLR(o, lambda t: 0.1), ns.LinearLR(o, 1.0, 0.2, 25)],
                                      milestones=[20]),
        100),
    "OneCycleLR": (lambda ns, o: ns.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=100), 100),
    "OneCycleLR-linear-three-phase": (
        lambda ns, o: ns.OneCycleLR(o, max_lr=0.3, total_steps=120, anneal_strategy="linear", three_phase=True,
                                    pct_start=0.25), 120),
    "OneCycleLR-cos-three-phase": (
        lambda ns, o: ns.OneCycleLR(o, max_lr=0.3, total_steps=101, three_phase=True, pct_start=0.4), 101),
    "OneCycleLR-epochs": (
        lambda ns, o: ns.OneCycleLR(o, max_lr=0.2, epochs=7, steps_per_epoch=17, div_factor=10.0,
                                    final_div_factor=100.0, base_momentum=[0.8, 0.7], max_momentum=[0.9, 0.99]),
        119),
    "OneCycleLR-no-momentum": (
        lambda ns, o: ns.OneCycleLR(o, max_lr=0.5, total_steps=60, cycle_momentum=False), 60),
}


def _lockstep(torch, build, steps, kind, edits=None):
    """Step ours and PyTorch's in lockstep, comparing every hyperparameter after each step."""
    ours_opt, theirs_opt = tg_opt(kind), torch_opt(torch, kind)
    ours, theirs = build(lr_scheduler, ours_opt), build(torch.optim.lr_scheduler, theirs_opt)
    trace = []
    for t in range(steps + 1):
        if t:
            if edits and t in edits:
                for o in (ours_opt, theirs_opt):
                    edits[t](o)
            ours.step()
            theirs.step()
        assert hyper(ours_opt) == hyper(theirs_opt), f"step {t}"
        assert ours.get_last_lr() == theirs.get_last_lr(), f"step {t}"
        assert ours.last_epoch == theirs.last_epoch, f"step {t}"
        trace.append(ours.get_last_lr()[0])
    return ours, theirs, trace


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_step_for_step(torch, name, kind):
    build, steps = CASES[name]
    ours, theirs, _ = _lockstep(torch, build, steps, kind)
    if hasattr(theirs, "base_lrs"):  # PyTorch's SequentialLR has none
        assert ours.base_lrs == theirs.base_lrs
    if name.startswith("OneCycleLR"):
        # Both allow exactly total_steps calls of step(); the next one is an error in both.
        with pytest.raises(ValueError, match="total_steps"):
            ours.step()
        with pytest.raises(ValueError):
            theirs.step()


CHAINABLE = ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR-warmup", "LinearLR-decay"]


def _halve_first(o):
    o.param_groups[0]["lr"] *= 0.5


def _set_second(o):
    o.param_groups[1]["lr"] = 0.02


@pytest.mark.parametrize("name", CHAINABLE)
def test_rates_set_by_hand_carry_on_as_in_torch(torch, name):
    build, steps = CASES[name]
    _, _, trace = _lockstep(torch, build, steps, "sgd", edits={3: _halve_first, 7: _set_second, 14: _halve_first,
                                                                40: _set_second, 61: _halve_first})
    untouched = _rates(build(lr_scheduler, tg_opt()), steps)
    assert not np.array_equal(trace, untouched)  # the edits did change the course


RESUMED = [
    lambda ns, o: ns.StepLR(o, 5, gamma=0.5, last_epoch=12),
    lambda ns, o: ns.CosineAnnealingLR(o, T_max=20, eta_min=0.001, last_epoch=12),
    lambda ns, o: ns.ExponentialLR(o, 0.9, last_epoch=3),
    lambda ns, o: ns.LinearLR(o, 0.2, total_iters=30, last_epoch=4),
]


@pytest.mark.parametrize("make", RESUMED, ids=["StepLR", "CosineAnnealingLR", "ExponentialLR", "LinearLR"])
def test_stepping_from_a_resumed_epoch_matches_torch(torch, make):
    def build(ns, o):
        for group in o.param_groups:
            group["initial_lr"] = group["lr"] * 2
        return make(ns, o)

    _lockstep(torch, build, 60, "sgd")


def test_onecycle_resumed_with_last_epoch_matches_torch(torch):
    def build(ns, o):
        first = ns.OneCycleLR(o, max_lr=[0.4, 0.2], total_steps=80)
        for _ in range(30):
            first.step()
        return ns.OneCycleLR(o, max_lr=[0.4, 0.2], total_steps=80, last_epoch=30)

    _lockstep(torch, build, 49, "adam")


# -- against the docstring formulas, in NumPy ---------------------------------------------------------


def _rates(scheduler, steps, group=0):
    out = [scheduler.get_last_lr()[group]]
    for _ in range(steps):
        scheduler.step()
        out.append(scheduler.get_last_lr()[group])
    return np.array(out)


def test_cosine_follows_the_sources_formula_even_past_t_max():
    T_max, eta_min, base = 25, 0.002, LRS[0]  # noqa: N806
    got = _rates(lr_scheduler.CosineAnnealingLR(tg_opt(), T_max=T_max, eta_min=eta_min), 6 * T_max)
    t = np.arange(6 * T_max + 1)
    want = eta_min + (base - eta_min) * (1 + np.cos(np.pi * t / T_max)) / 2
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got[T_max] == eta_min and got[2 * T_max] == pytest.approx(base, rel=1e-12)


@pytest.mark.parametrize("make, formula", [
    (lambda o: lr_scheduler.StepLR(o, 4, gamma=0.3), lambda b, t: b * 0.3 ** (t // 4)),
    (lambda o: lr_scheduler.MultiStepLR(o, [3, 9, 9, 20], gamma=0.5),
     lambda b, t: b * 0.5 ** sum(m <= t for m in [3, 9, 9, 20])),
    (lambda o: lr_scheduler.ExponentialLR(o, 0.93), lambda b, t: b * 0.93 ** t),
    (lambda o: lr_scheduler.LinearLR(o, 0.05, 0.8, 17), lambda b, t: b * (0.05 + 0.75 * min(t, 17) / 17)),
    (lambda o: lr_scheduler.LambdaLR(o, lambda t: math.exp(-t / 9)), lambda b, t: b * math.exp(-t / 9)),
    (lambda o: lr_scheduler.warmup_cosine(o, 8, 50, eta_min=1e-3, warmup_start_factor=0.1),
     lambda b, t: b * (0.1 + 0.9 * t / 8) if t < 8 else 1e-3 + (b - 1e-3) * (1 + math.cos(math.pi * (t - 8) / 42)) / 2),
])
def test_decays_follow_their_docstring_formula(make, formula):
    opt = tg_opt()
    scheduler = make(opt)
    for group, base in enumerate(LRS):
        opt2 = tg_opt()
        got = _rates(make(opt2), 50, group)
        want = np.array([formula(base, t) for t in range(51)])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert scheduler.base_lrs == list(LRS)


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_onecycle_follows_its_docstring_formula(strategy, three_phase):
    T, p, max_lr, div, final_div = 90, 0.3, 0.6, 25.0, 1e4  # noqa: N806
    opt = tg_opt("adam")
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=T, pct_start=p, anneal_strategy=strategy,
                                        three_phase=three_phase)
    lrs, betas = [scheduler.get_last_lr()[1]], [opt.param_groups[1]["betas"]]
    for _ in range(T - 1):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[1])
        betas.append(opt.param_groups[1]["betas"])

    def anneal(a, b, x):
        return b + (a - b) / 2 * (1 + np.cos(np.pi * x)) if strategy == "cos" else a + (b - a) * x

    lo, hi, min_lr = max_lr / div, max_lr, max_lr / div / final_div
    t = np.arange(T, dtype=float)
    up = p * T - 1
    if three_phase:
        down = 2 * p * T - 2
        want_lr = np.where(t <= up, anneal(lo, hi, t / up),
                           np.where(t <= down, anneal(hi, lo, (t - up) / (down - up)),
                                    anneal(lo, min_lr, (t - down) / (T - 1 - down))))
        want_m = np.where(t <= up, anneal(0.95, 0.85, t / up),
                          np.where(t <= down, anneal(0.85, 0.95, (t - up) / (down - up)), 0.95))
    else:
        want_lr = np.where(t <= up, anneal(lo, hi, t / up), anneal(hi, min_lr, (t - up) / (T - 1 - up)))
        want_m = np.where(t <= up, anneal(0.95, 0.85, t / up), anneal(0.85, 0.95, (t - up) / (T - 1 - up)))
    np.testing.assert_allclose(lrs, want_lr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose([b[0] for b in betas], want_m, rtol=1e-12)
    assert all(b[1] == 0.999 for b in betas)  # beta2 is never touched
    assert lrs[0] == pytest.approx(lo) and lrs[-1] == pytest.approx(min_lr)


# -- ReduceLROnPlateau ----------------------------------------------------------------------------------


def _metric_sequence(seed, n=120):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    curve = 1.0 / (1.0 + 0.05 * t) + 0.02 * rng.standard_normal(n)
    curve[40:70] = curve[40]  # an exact plateau: ties are not improvements
    return [float(v) for v in curve]


PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(threshold_mode="abs", threshold=0.05, patience=1, cooldown=2),
    dict(mode="max", threshold_mode="abs", threshold=0.01, patience=0, cooldown=3, min_lr=[0.01, 0.002]),
    dict(factor=0.3, patience=3, min_lr=0.004, eps=1e-3),
    dict(mode="min", threshold=0.2, patience=2, cooldown=1, factor=0.0),
    dict(threshold=0.0, patience=3),  # with no threshold, a tie is still not an improvement
    dict(mode="max", threshold=0.0, threshold_mode="abs", patience=2),
    dict(factor=0.5, patience=1, eps=0.015),  # 0.03 -> 0.015 changes by exactly eps: skipped, as in PyTorch
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_plateau_matches_torch(torch, kwargs, seed):
    metrics = _metric_sequence(seed)
    if kwargs.get("mode") == "max":
        metrics = [1.0 - m for m in metrics]  # an accuracy-like curve
    metrics[90] = math.nan  # a NaN epoch is a bad epoch in both
    ours_opt, theirs_opt = tg_opt(), torch_opt(torch)
    ours = lr_scheduler.ReduceLROnPlateau(ours_opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **kwargs)
    cuts = 0
    for i, metric in enumerate(metrics):
        if i % 7 == 3:  # 0-d tensors work as metrics (both float32 here)
            ours.step(tg.tensor(metric))
            theirs.step(torch.tensor(metric))
        else:
            ours.step(metric)
            theirs.step(metric)
        assert hyper(ours_opt) == hyper(theirs_opt), f"epoch {i}"
        assert ours.get_last_lr() == theirs.get_last_lr()
        for attr in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            a, b = getattr(ours, attr), getattr(theirs, attr)
            assert a == b or (math.isnan(a) and math.isnan(b)), (attr, i)
        cuts += ours.get_last_lr()[0] < LRS[0]
    assert cuts  # every script above does cut the rate at least once


def test_plateau_by_hand():
    opt = tg_opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.04)
    seen = []
    for loss in [1.0, 0.9, 0.95, 0.93, 0.92, 0.91, 0.95, 0.96, 0.97, 0.98]:
        sched.step(loss)
        seen.append(sched.get_last_lr()[0])
    # Epoch 4 is the 2nd without beating 0.9 (> patience=1): cut; epoch 5 is cooldown;
    # epochs 6 and 7 are bad again: cut, floored at min_lr; the floor holds after that.
    assert seen == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.04, 0.04, 0.04, 0.04]


# -- get_last_lr, state_dict and save / load ----------------------------------------------------------


def test_get_last_lr_is_a_copy_of_the_rates_in_use():
    opt = tg_opt()
    sched = lr_scheduler.StepLR(opt, 2, gamma=0.5)
    sched.step()
    sched.step()
    rates = sched.get_last_lr()
    assert rates == [g["lr"] for g in opt.param_groups] == [0.05, 0.015]
    rates[0] = 123.0
    assert sched.get_last_lr() == [0.05, 0.015] and opt.param_groups[0]["lr"] == 0.05


class _Scaled:
    """A callable object: LambdaLR saves its attributes (not the object), as PyTorch does."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, t):
        return self.scale / (1 + t)


ROUND_TRIP = {
    **{name: CASES[name][0] for name in ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                         "LinearLR-warmup", "LambdaLR-list", "SequentialLR-three", "OneCycleLR",
                                         "OneCycleLR-linear-three-phase"]},
    "warmup_cosine": lambda ns, o: ns.warmup_cosine(o, 10, 60, eta_min=1e-4),
    "LambdaLR-callable-object": lambda ns, o: ns.LambdaLR(o, [_Scaled(1.0), lambda t: 0.9 ** t]),
}


def _plain(obj):
    """Only data: no functions, no objects (what tg.save accepts, and nothing that pickles code)."""
    if isinstance(obj, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_plain(v) for v in obj)
    return obj is None or isinstance(obj, (bool, int, float, str))


def _optimizer_hyper(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


@pytest.mark.parametrize("split", [0, 9, 37])
@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_state_dict_save_load_continues_identically(tmp_path, name, split):
    build, total = ROUND_TRIP[name], 60
    kind = "adam" if name.startswith("OneCycle") else "sgd"

    opt = tg_opt(kind)
    sched = build(lr_scheduler, opt)
    uninterrupted = []
    for _ in range(total):
        sched.step()
        uninterrupted.append((hyper(opt), sched.get_last_lr(), sched.last_epoch))

    opt = tg_opt(kind)
    sched = build(lr_scheduler, opt)
    if name == "LambdaLR-callable-object":
        sched.lr_lambdas[0].scale = 1.0
    for _ in range(split):
        sched.step()
    state = sched.state_dict()
    assert _plain(state), state
    tg.save({"scheduler": state, "optimizer_groups": _optimizer_hyper(opt)}, tmp_path / "ckpt.tg")
    loaded = tg.load(tmp_path / "ckpt.tg")

    # A fresh run: optimizer and scheduler built as before, then both restored (the optimizer's
    # hyperparameters by hand here, since the chained schedules read the rates it holds).
    fresh_opt = tg_opt(kind)
    fresh = build(lr_scheduler, fresh_opt)
    if name == "LambdaLR-callable-object":
        fresh.lr_lambdas[0].scale = 7.0  # the saved attribute must come back
    for group, saved in zip(fresh_opt.param_groups, loaded["optimizer_groups"]):
        group.update(saved)
    fresh.load_state_dict(loaded["scheduler"])
    if name == "LambdaLR-callable-object":
        assert fresh.lr_lambdas[0].scale == 1.0 and isinstance(fresh.lr_lambdas[1], types.FunctionType)
    resumed = []
    for _ in range(total - split):
        fresh.step()
        resumed.append((hyper(fresh_opt), fresh.get_last_lr(), fresh.last_epoch))
    assert resumed == uninterrupted[split:]


def test_lambda_state_dict_drops_functions_as_torch_does(torch):
    ours = lr_scheduler.LambdaLR(tg_opt(), [lambda t: 1.0, _Scaled(0.5)])
    theirs = torch.optim.lr_scheduler.LambdaLR(torch_opt(torch), [lambda t: 1.0, _Scaled(0.5)])
    assert ours.state_dict()["lr_lambdas"] == theirs.state_dict()["lr_lambdas"] == [None, {"scale": 0.5}]


def test_plateau_state_dict_round_trip(tmp_path):
    metrics = _metric_sequence(3, n=80)

    def run(sched, values):
        out = []
        for m in values:
            sched.step(m)
            out.append((sched.get_last_lr(), sched.best, sched.num_bad_epochs, sched.cooldown_counter))
        return out

    kwargs = dict(factor=0.5, patience=2, cooldown=2, min_lr=[1e-3, 1e-4])
    whole = run(lr_scheduler.ReduceLROnPlateau(tg_opt(), **kwargs), metrics)
    opt = tg_opt()
    first = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    run(first, metrics[:45])
    tg.save({"s": first.state_dict(), "o": _optimizer_hyper(opt)}, tmp_path / "p.tg")
    loaded = tg.load(tmp_path / "p.tg")
    fresh_opt = tg_opt()
    fresh = lr_scheduler.ReduceLROnPlateau(fresh_opt, **kwargs)
    for group, saved in zip(fresh_opt.param_groups, loaded["o"]):
        group.update(saved)
    fresh.load_state_dict(loaded["s"])
    assert run(fresh, metrics[45:]) == whole[45:]


def test_optimizer_and_scheduler_checkpoint_through_their_own_state_dicts(tmp_path):
    """The real resume path: optimizer.state_dict() and scheduler.state_dict() in one tg.save file."""
    opt = tg_opt("adam")
    if not hasattr(opt, "load_state_dict"):
        pytest.skip("the optimizer has no load_state_dict yet")
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=50)
    for _ in range(20):
        sched.step()
    tg.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "c.tg")
    rest = []
    for _ in range(30):
        sched.step()
        rest.append(hyper(opt))
    fresh_opt = tg_opt("adam")
    fresh = lr_scheduler.OneCycleLR(fresh_opt, max_lr=0.5, total_steps=50)  # before the optimizer's load
    loaded = tg.load(tmp_path / "c.tg")
    fresh_opt.load_state_dict(loaded["optimizer"])
    fresh.load_state_dict(loaded["scheduler"])
    resumed = []
    for _ in range(30):
        fresh.step()
        resumed.append(hyper(fresh_opt))
    assert resumed == rest


def test_load_state_dict_refuses_another_schedulers_state():
    step = lr_scheduler.StepLR(tg_opt(), 3)
    cosine = lr_scheduler.CosineAnnealingLR(tg_opt(), 10)
    before = cosine.state_dict()
    with pytest.raises(ValueError, match="not a CosineAnnealingLR state_dict"):
        cosine.load_state_dict(step.state_dict())
    assert cosine.state_dict() == before
    with pytest.raises(TypeError, match="expected a dict"):
        cosine.load_state_dict([1, 2])


# -- SequentialLR and warmup_cosine -------------------------------------------------------------------


@pytest.mark.parametrize("warmup, total, eta_min, start", [(10, 100, 0.0, 0.01), (5, 40, 1e-3, 0.2),
                                                           (0, 30, 1e-4, 0.01), (1, 2, 0.0, 0.5)])
def test_warmup_cosine_is_the_torch_two_liner(torch, warmup, total, eta_min, start):
    def two_liner(ns, o):
        schedulers = [ns.CosineAnnealingLR(o, T_max=total - warmup, eta_min=eta_min)]
        if warmup:
            schedulers.insert(0, ns.LinearLR(o, start_factor=start, total_iters=warmup))
        return ns.SequentialLR(o, schedulers, milestones=[warmup] if warmup else [])

    steps = total + 25  # past the end, where the cosine climbs again in both
    _lockstep(torch, two_liner, steps, "sgd")
    ours_opt, builder_opt = tg_opt(), tg_opt()
    ours = two_liner(lr_scheduler, ours_opt)
    built = lr_scheduler.warmup_cosine(builder_opt, warmup, total, eta_min=eta_min, warmup_start_factor=start)
    assert isinstance(built, lr_scheduler.SequentialLR)
    for t in range(steps + 1):
        if t:
            ours.step()
            built.step()
        assert hyper(ours_opt) == hyper(builder_opt), t
        if t == warmup:
            assert built.get_last_lr() == list(LRS)  # the full rate right after the warmup
        if t == total:
            assert built.get_last_lr() == [eta_min, eta_min]


# -- bad arguments --------------------------------------------------------------------------------------

S = lr_scheduler

BAD = [
    (lambda o: S.StepLR(o, step_size=0), ValueError, ["step_size", "0"]),
    (lambda o: S.StepLR(o, step_size=2.5), TypeError, ["step_size", "2.5"]),
    (lambda o: S.StepLR(o, 5, gamma=0), ValueError, ["gamma", "0"]),
    (lambda o: S.StepLR(o, 5, gamma=-0.5), ValueError, ["gamma", "-0.5"]),
    (lambda o: S.StepLR(o, 5, gamma="0.1"), TypeError, ["gamma", "'0.1'"]),
    (lambda o: S.StepLR(o, 5, last_epoch=-2), ValueError, ["last_epoch", "-2"]),
    (lambda o: S.StepLR(o, 5, last_epoch=3), ValueError, ["initial_lr", "last_epoch=3"]),
    (lambda o: S.ExponentialLR(o, gamma=float("nan")), ValueError, ["gamma", "nan"]),
    (lambda o: S.ExponentialLR(o, gamma=0.0), ValueError, ["gamma", "0.0"]),
    (lambda o: S.MultiStepLR(o, [30, 10]), ValueError, ["milestones", "[30, 10]"]),
    (lambda o: S.MultiStepLR(o, [-1, 10]), ValueError, ["milestones", "-1"]),
    (lambda o: S.MultiStepLR(o, 30), TypeError, ["milestones", "30"]),
    (lambda o: S.MultiStepLR(o, [10], gamma=0), ValueError, ["gamma", "0"]),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, ["T_max", "0"]),
    (lambda o: S.CosineAnnealingLR(o, T_max=-5), ValueError, ["T_max", "-5"]),
    (lambda o: S.CosineAnnealingLR(o, 10, eta_min=-1.0), ValueError, ["eta_min", "-1.0"]),
    (lambda o: S.LinearLR(o, start_factor=0), ValueError, ["start_factor", "0"]),
    (lambda o: S.LinearLR(o, end_factor=1.5), ValueError, ["end_factor", "1.5"]),
    (lambda o: S.LinearLR(o, total_iters=0), ValueError, ["total_iters", "0"]),
    (lambda o: S.LambdaLR(o, [lambda t: 1.0]), ValueError, ["lr_lambda", "1 values", "2 param groups"]),
    (lambda o: S.LambdaLR(o, 3), TypeError, ["lr_lambda", "3"]),
    (lambda o: S.OneCycleLR(o, 0.1), ValueError, ["total_steps", "epochs"]),
    (lambda o: S.OneCycleLR(o, 0.1, total_steps=0), ValueError, ["total_steps", "0"]),
    (lambda o: S.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=5), ValueError, ["epochs", "0"]),
    (lambda o: S.OneCycleLR(o, 0.1, 10, anneal_strategy="cosine"), ValueError, ["anneal_strategy", "'cosine'"]),
    (lambda o: S.OneCycleLR(o, 0.1, 10, pct_start=1.5), ValueError, ["pct_start", "1.5"]),
    (lambda o: S.OneCycleLR(o, [0.1], 10), ValueError, ["max_lr", "[0.1]"]),
    (lambda o: S.OneCycleLR(o, -0.1, 10), ValueError, ["max_lr", "-0.1"]),
    (lambda o: S.OneCycleLR(o, 0.1, 10, max_momentum=1.2), ValueError, ["max_momentum", "1.2"]),
    (lambda o: S.OneCycleLR(o, 0.1, 10, div_factor=0), ValueError, ["div_factor", "0"]),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, ["factor", "1.0"]),
    (lambda o: S.ReduceLROnPlateau(o, factor=2), ValueError, ["factor", "2"]),
    (lambda o: S.ReduceLROnPlateau(o, mode="mean"), ValueError, ["mode", "'mean'"]),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError, ["threshold_mode", "'relative'"]),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), ValueError, ["patience", "-1"]),
    (lambda o: S.ReduceLROnPlateau(o, cooldown=-2), ValueError, ["cooldown", "-2"]),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, ["min_lr", "[0.1]"]),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=-1), ValueError, ["min_lr", "-1"]),
    (lambda o: S.ReduceLROnPlateau(o, eps=-1e-8), ValueError, ["eps", "-1e-08"]),
    (lambda o: S.warmup_cosine(o, 10, 5), ValueError, ["total_steps", "5", "warmup_steps=10"]),
    (lambda o: S.warmup_cosine(o, 10, 50, warmup_start_factor=0), ValueError, ["warmup_start_factor", "0"]),
    (lambda o: S.warmup_cosine(o, 10, 50, eta_min=-1), ValueError, ["eta_min", "-1"]),
    (lambda o: S.warmup_cosine(o, -1, 50), ValueError, ["warmup_steps", "-1"]),
]


@pytest.mark.parametrize("make, error, words", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_arguments_are_named_and_change_nothing(make, error, words):
    opt = tg_opt()
    before = hyper(opt)
    with pytest.raises(error) as info:
        make(opt)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    assert hyper(opt) == before  # refused before touching the optimizer


SEQUENTIAL_BAD = [
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 3), S.ExponentialLR(o, 0.9), S.StepLR(o, 2)], milestones=[10, 5]),
     ValueError, ["milestones", "[10, 5]"]),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 3), S.ExponentialLR(o, 0.9)], milestones=[5, 10]),
     ValueError, ["milestones", "[5, 10]", "2 schedulers"]),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 3), S.ExponentialLR(o, 0.9)], milestones=[0]),
     ValueError, ["milestones", "0"]),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 3), S.ReduceLROnPlateau(o)], milestones=[5]),
     ValueError, ["schedulers[1]", "ReduceLROnPlateau"]),
    (lambda o: S.SequentialLR(o, [S.StepLR(tg_opt(), 3)], milestones=[]), ValueError, ["schedulers[0]", "optimizer"]),
    (lambda o: S.SequentialLR(o, [], milestones=[]), ValueError, ["schedulers", "[]"]),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 3), "cosine"], milestones=[5]), TypeError, ["schedulers[1]", "'cosine'"]),
]


@pytest.mark.parametrize("make, error, words", SEQUENTIAL_BAD, ids=[str(i) for i in range(len(SEQUENTIAL_BAD))])
def test_bad_sequences_are_named(make, error, words):
    with pytest.raises(error) as info:
        make(tg_opt())
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("make", [
    lambda o: S.StepLR(o, 3), lambda o: S.MultiStepLR(o, [3]), lambda o: S.ExponentialLR(o, 0.9),
    lambda o: S.CosineAnnealingLR(o, 3), lambda o: S.LinearLR(o), lambda o: S.LambdaLR(o, lambda t: 1.0),
    lambda o: S.OneCycleLR(o, 0.1, 10), lambda o: S.ReduceLROnPlateau(o), lambda o: S.warmup_cosine(o, 1, 5),
    lambda o: S.SequentialLR(o, [], []),
])
def test_a_non_optimizer_is_a_type_error(torch, make):
    for not_an_optimizer in (torch_opt(torch), [0.1], None):
        with pytest.raises(TypeError, match="optimizer must be a tinygrad_edu.optim.Optimizer"):
            make(not_an_optimizer)


def test_onecycle_momentum_needs_an_optimizer_with_momentum():
    opt = tg_opt("plain")
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with 'momentum' or 'betas'"):
        lr_scheduler.OneCycleLR(opt, 0.1, 10)
    sched = lr_scheduler.OneCycleLR(opt, 0.1, 10, cycle_momentum=False)
    assert sched.get_last_lr() == pytest.approx([0.1 / 25, 0.1 / 25], rel=1e-15)


def test_onecycle_past_the_end_changes_nothing():
    opt = tg_opt("adam")
    sched = lr_scheduler.OneCycleLR(opt, 0.1, total_steps=5)
    for _ in range(5):
        sched.step()
    before = (hyper(opt), sched.last_epoch)
    with pytest.raises(ValueError, match="tried to step 6 times; the cycle has total_steps=5"):
        sched.step()
    assert (hyper(opt), sched.last_epoch) == before


def test_docstring_examples_run():
    result = doctest.testmod(lr_scheduler, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0
