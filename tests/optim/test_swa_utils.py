"""Weight averaging (optim.swa_utils): step for step against torch.optim.swa_utils and against NumPy.

The averaging tests feed both libraries the *same* sequence of model weights
(random walks written into both models), so what is compared is the averaging
alone, not two trainings: every parameter and buffer of the averaged models
after each of 60 updates, for every averaging function and both values of
``use_buffers``, on a model with BatchNorm. float32 averages must agree to the
last bit; float64 ones within a few ulps (PyTorch's CPU ``lerp`` is a fused
multiply-add, which NumPy cannot reproduce in float64).
"""

from __future__ import annotations

import copy
import doctest
import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.optim import swa_utils

torch = pytest.importorskip("torch")
from torch.optim import swa_utils as torch_swa  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`:UserWarning")

STEPS = 60


def tg_model(dtype=np.float32):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    return model.to(dtype)


def torch_model(dtype=torch.float32):
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3))
    return model.to(dtype)


def state(model):
    """name -> array copy, parameters and buffers, for either library."""
    if isinstance(model, tg.nn.Module):
        return {k: np.array(v) for k, v in model.state_dict().items()}
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def set_state(tg_m, torch_m, values):
    """Write the same values into both models, in place (as training would)."""
    tg_params = dict(tg_m.state_dict(keep_vars=True))
    torch_params = dict(torch_m.state_dict(keep_vars=True))
    for name, value in values.items():
        tg_params[name].numpy()[...] = value
        tg.autograd.bump_version(tg_params[name])
        with torch.no_grad():
            torch_params[name].copy_(torch.from_numpy(np.array(value)))


def trajectory(model, steps, seed=0):
    """``steps`` states of a random walk from ``model``'s state, each a dict like ``state(model)``."""
    rng = np.random.default_rng(seed)
    current = state(model)
    out = []
    for step in range(steps):
        new = {}
        for name, value in current.items():
            if name.endswith("num_batches_tracked"):
                new[name] = np.array(7 * step + 3, dtype=np.int64)
            elif name.endswith("running_var"):
                new[name] = (np.abs(value + rng.normal(0, 0.3, value.shape)) + 0.1).astype(value.dtype)
            else:
                new[name] = (value + rng.normal(0, 0.3, value.shape)).astype(value.dtype)
        out.append(new)
        current = new
    return out


def averaging_kwargs(ns, kind):
    """The AveragedModel arguments for one averaging flavour, from either library's swa_utils."""
    return {
        "default": {},
        "swa_avg_fn": {"avg_fn": ns.get_swa_avg_fn()},
        "ema_avg_fn": {"avg_fn": ns.get_ema_avg_fn(0.9)},
        "swa_multi": {"multi_avg_fn": ns.get_swa_multi_avg_fn()},
        "ema_multi": {"multi_avg_fn": ns.get_ema_multi_avg_fn(0.9)},
        "ema_multi_default_decay": {"multi_avg_fn": ns.get_ema_multi_avg_fn()},
    }[kind]


def torch_swa_multi_with_integers():
    """PyTorch's get_swa_multi_avg_fn for floats, get_swa_avg_fn's truncated mean for integers.

    PyTorch's own raises on integer buffers (addcdiv refuses integer division);
    this is the documented behaviour of ours, built from PyTorch's pieces.
    """
    floats, per_tensor = torch_swa.get_swa_multi_avg_fn(), torch_swa.get_swa_avg_fn()

    def update(averaged, current, n):
        if averaged[0].is_floating_point():
            floats(averaged, current, n)
        else:
            for a, c in zip(averaged, current):
                a.copy_(per_tensor(a, c, n))

    return update


def assert_same(tg_m, torch_m, exact, where):
    ours, theirs = state(tg_m), state(torch_m)
    assert list(ours) == list(theirs), where
    for name in ours:
        if exact or ours[name].dtype.kind != "f":
            assert np.array_equal(ours[name], theirs[name]), (
                f"{where} {name}: max diff {np.max(np.abs(ours[name] - theirs[name].astype(ours[name].dtype)))}")
        else:
            np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-13, atol=1e-14, err_msg=f"{where} {name}")


KINDS = ["default", "swa_avg_fn", "ema_avg_fn", "swa_multi", "ema_multi", "ema_multi_default_decay"]


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_averages_match_pytorch_step_for_step(kind, use_buffers, dtype):
    ours_model = tg_model(np.dtype(dtype))
    theirs_model = torch_model(getattr(torch, dtype))
    theirs_model.load_state_dict({k: torch.from_numpy(v) for k, v in state(ours_model).items()})
    ours = swa_utils.AveragedModel(ours_model, use_buffers=use_buffers, **averaging_kwargs(swa_utils, kind))
    torch_kwargs = averaging_kwargs(torch_swa, kind)
    if kind == "swa_multi" and use_buffers:
        torch_kwargs = {"multi_avg_fn": torch_swa_multi_with_integers()}
    theirs = torch_swa.AveragedModel(theirs_model, use_buffers=use_buffers, **torch_kwargs)
    # Only PyTorch's fused lerp (the multi functions) cannot be reproduced bit for bit in float64.
    exact = dtype == "float32" or "multi" not in kind
    for step, values in enumerate(trajectory(ours_model, STEPS)):
        set_state(ours_model, theirs_model, values)
        ours.update_parameters(ours_model)
        theirs.update_parameters(theirs_model)
        assert_same(ours, theirs, exact, f"{kind} use_buffers={use_buffers} step {step}")
    assert int(ours.n_averaged) == STEPS


def test_default_is_the_arithmetic_mean_and_ema_the_weighted_sum():
    """NumPy transcriptions: SWA = the mean of all models seen; EMA = sum_k (1-b) b^(n-k) W_k + b^(n-1) W_1."""
    model = tg_model(np.float64)
    swa = swa_utils.AveragedModel(model)
    ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.8))
    seen = trajectory(model, STEPS, seed=3)
    for values in seen:
        set_state(model, torch_model(torch.float64), values)
        swa.update_parameters(model)
        ema.update_parameters(model)
    name = "0.weight"
    stack = np.stack([v[name] for v in seen])
    np.testing.assert_allclose(swa.module.state_dict()[name], stack.mean(axis=0), rtol=1e-12, atol=1e-12)
    beta, n = 0.8, len(seen)
    expected = beta ** (n - 1) * stack[0] + sum((1 - beta) * beta ** (n - 1 - k) * stack[k] for k in range(1, n))
    np.testing.assert_allclose(ema.module.state_dict()[name], expected, rtol=1e-12, atol=1e-12)
    # Without use_buffers the buffers are the model's latest, not averaged.
    assert np.array_equal(swa.module.state_dict()["1.running_mean"], seen[-1]["1.running_mean"])


def test_averaging_is_in_place_outside_the_graph_and_independent_of_the_model():
    model = tg_model()
    averaged = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.5))
    weight = averaged.module[0].weight
    storage = weight.numpy()
    assert not np.shares_memory(storage, model[0].weight.numpy())  # a deep copy
    model(tg.randn(5, 4)).sum().backward()  # the model has gradients and graphs around
    for _ in range(3):
        with tg.no_grad():
            model[0].weight.add_(1.0)
        version = weight._version
        averaged.update_parameters(model)
        assert weight._version > version  # changed in place, and it says so
    assert averaged.module[0].weight is weight and weight.numpy() is storage
    assert weight.grad_fn is None and weight.requires_grad and weight.grad is None
    # EMA with decay 0.5 of w+1, w+2, w+3 (first copied): 0.25 (w+1) + 0.25 (w+2) + 0.5 (w+3) = w + 2.25
    np.testing.assert_allclose(storage, model[0].weight.numpy() - 0.75, rtol=1e-6, atol=1e-6)
    out = averaged(tg.randn(5, 4))
    assert out.shape == (5, 3)


def test_state_dict_keys_and_loading_pytorchs():
    ours = swa_utils.AveragedModel(tg_model(), use_buffers=True)
    theirs_model = torch_model()
    theirs = torch_swa.AveragedModel(theirs_model, use_buffers=True)
    theirs.update_parameters(theirs_model)
    theirs.update_parameters(theirs_model)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours.state_dict())[0] == "n_averaged"
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert int(ours.n_averaged) == 2
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    # A deep copy (as fit's best-weights snapshot would keep) holds the same average.
    clone = copy.deepcopy(ours)
    assert all(np.array_equal(a, b) for a, b in zip(clone.state_dict().values(), ours.state_dict().values()))


def loaders(seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(2.0, 3.0, size=(n, 4)).astype(np.float32) for n in (16, 16, 16, 9, 5)]
    return ([tg.tensor(x) if i % 2 else (tg.tensor(x), tg.zeros(len(x))) for i, x in enumerate(xs)],
            [torch.from_numpy(x) if i % 2 else [torch.from_numpy(x), torch.zeros(len(x))] for i, x in enumerate(xs)])


@pytest.mark.parametrize("wrap", [False, True])
def test_update_bn_matches_pytorch(wrap):
    ours = tg_model()
    ours[1].momentum = 0.3
    theirs = torch_model()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state(ours).items()})
    theirs[1].momentum = 0.3
    if wrap:
        ours = swa_utils.AveragedModel(ours)
        theirs = torch_swa.AveragedModel(theirs)
    ours.eval()
    theirs.eval()
    ours_loader, theirs_loader = loaders()
    swa_utils.update_bn(ours_loader, ours)
    torch_swa.update_bn(theirs_loader, theirs)
    a, b = state(ours), state(theirs)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=2e-6, atol=1e-6, err_msg=name)
    bn = ours.module[1] if wrap else ours[1]
    assert int(bn.num_batches_tracked) == 5 and bn.momentum == 0.3 and not ours.training and not bn.training
    # momentum=None made it the plain mean of the five batch means (a NumPy transcription).
    model = ours.module if wrap else ours
    means = []
    for batch in ours_loader:
        x = batch[0] if isinstance(batch, tuple) else batch
        with tg.no_grad():
            means.append(model[0](x).numpy().mean(axis=0))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, axis=0), rtol=1e-5, atol=1e-6)


def test_update_bn_leaves_models_without_batchnorm_alone():
    def never():
        raise AssertionError("the loader was read")
        yield

    model = nn.Linear(2, 2)
    swa_utils.update_bn(never(), model)
    model.train()
    assert model.training


def test_update_bn_restores_momentum_after_an_error():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model.eval()
    with pytest.raises(tg.ShapeError):
        swa_utils.update_bn([tg.randn(4, 4), tg.randn(4, 5)], model)
    assert model[1].momentum == 0.1 and not model.training


# -- SWALR ------------------------------------------------------------------------------------------


def both_optimizers(lrs=(0.1, 0.03)):
    ours = optim.SGD([{"params": [tg.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs], lr=lrs[0])
    theirs = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs], lr=lrs[0])
    return ours, theirs


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 5, 10])
@pytest.mark.parametrize("swa_lr", [0.05, [0.02, 0.5]])
def test_swalr_rates_match_pytorch(strategy, anneal_epochs, swa_lr):
    ours_opt, theirs_opt = both_optimizers()
    ours = swa_utils.SWALR(ours_opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    theirs = torch_swa.SWALR(theirs_opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    for step in range(30):
        assert ours.get_last_lr() == theirs.get_last_lr(), f"step {step}"
        assert [g["lr"] for g in ours_opt.param_groups] == [g["lr"] for g in theirs_opt.param_groups]
        if step == 3:  # a rate set by hand: both carry on from it
            ours_opt.param_groups[0]["lr"] = theirs_opt.param_groups[0]["lr"] = 0.2
        ours_opt.step()
        theirs_opt.step()
        ours.step()
        theirs.step()


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_formula(strategy):
    """NumPy transcription of the docstring: eta_s = a(t) swa_lr + (1 - a(t)) eta, t = min(1, s / T)."""
    opt, _ = both_optimizers(lrs=(0.4,))
    sched = swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=6, anneal_strategy=strategy)
    alpha = (lambda t: (1 - np.cos(np.pi * t)) / 2) if strategy == "cos" else (lambda t: t)
    for s in range(12):
        expected = alpha(min(1, s / 6)) * 0.1 + (1 - alpha(min(1, s / 6))) * 0.4
        assert math.isclose(sched.get_last_lr()[0], expected, rel_tol=1e-12), s
        sched.step()


def test_swalr_state_dict_roundtrip(tmp_path):
    opt, _ = both_optimizers()
    sched = swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=8)
    for _ in range(3):
        sched.step()
    tg.save(sched.state_dict(), tmp_path / "sched.pt")
    opt2, _ = both_optimizers()
    for group, saved in zip(opt2.param_groups, opt.param_groups):
        group["lr"] = saved["lr"]
    again = swa_utils.SWALR(opt2, swa_lr=0.05, anneal_epochs=8, anneal_strategy="linear")
    again.load_state_dict(tg.load(tmp_path / "sched.pt"))
    for _ in range(6):
        sched.step()
        again.step()
        assert sched.get_last_lr() == again.get_last_lr()
    assert again.anneal_func is swa_utils.SWALR._cosine_anneal


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("decay", [-0.1, 1.5, float("nan"), "0.9"])
def test_bad_decay(decay):
    for make in (swa_utils.get_ema_avg_fn, swa_utils.get_ema_multi_avg_fn):
        with pytest.raises(ValueError, match="decay"):
            make(decay)


def test_bad_arguments():
    model = tg_model()
    with pytest.raises(AssertionError, match="only one"):
        swa_utils.AveragedModel(model, avg_fn=swa_utils.get_swa_avg_fn(),
                                multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(TypeError, match="avg_fn"):
        swa_utils.AveragedModel(model, avg_fn=3)
    with pytest.raises(TypeError, match="Module"):
        swa_utils.AveragedModel(lambda x: x)
    with pytest.raises(RuntimeError, match="cuda"):
        swa_utils.AveragedModel(model, device="cuda")
    with pytest.raises(TypeError, match="Module"):
        swa_utils.update_bn([], [1, 2])
    opt, _ = both_optimizers()
    for kwargs, error, word in [({"anneal_strategy": "exp"}, ValueError, "anneal_strategy"),
                                ({"anneal_epochs": -1}, ValueError, "anneal_epochs"),
                                ({"anneal_epochs": 2.5}, TypeError, "anneal_epochs"),
                                ({"swa_lr": [0.1]}, ValueError, "swa_lr"),
                                ({"swa_lr": -0.1}, ValueError, "swa_lr"),
                                ({"swa_lr": "big"}, TypeError, "swa_lr")]:
        before = copy.deepcopy(opt.param_groups)
        with pytest.raises(error, match=word):
            swa_utils.SWALR(opt, **{"swa_lr": 0.05, **kwargs})
        assert opt.param_groups == before  # refused before touching the optimizer


def test_update_parameters_refuses_another_model_and_changes_nothing():
    model = tg_model()
    averaged = swa_utils.AveragedModel(model)
    averaged.update_parameters(model)
    before = state(averaged)
    for other in (nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)),
                  nn.Linear(4, 8), "model"):
        with pytest.raises((ValueError, TypeError)):
            averaged.update_parameters(other)
        after = state(averaged)
        assert all(np.array_equal(before[k], after[k]) for k in before)


def test_docstring_examples():
    result = doctest.testmod(swa_utils, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
