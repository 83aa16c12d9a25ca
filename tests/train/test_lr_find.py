"""The learning-rate range test: the sweep, its suggestion, and that it leaves everything as it was."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu import rng as tg_rng
from tinygrad_edu.data import DataLoader, TensorDataset
from tinygrad_edu.train.lr_find import LRFinderResult, lr_find


def linear_data(n: int = 200, seed: int = 0) -> tuple[tg.Tensor, tg.Tensor]:
    """The sources' regression: x ~ N(0, 1), y = 3x + 1 + 0.1 * noise, shapes (n, 1)."""
    datasets = getattr(tg, "datasets", None)
    if datasets is not None and hasattr(datasets, "linear"):
        return datasets.linear(n=n, w=3.0, b=1.0, noise=0.1, seed=seed)
    tg.manual_seed(seed)
    x = tg.randn(n, 1)
    return x, 3 * x + 1 + 0.1 * tg.randn(n, 1)


def full_batch_loss(model: nn.Module, x: tg.Tensor, y: tg.Tensor) -> float:
    with tg.no_grad():
        return float(nn.MSELoss()(model(x), y).item())


def train_full_batch(initial: dict, lr: float, epochs: int, x: tg.Tensor, y: tg.Tensor) -> float:
    """Plain SGD, full batch, from the weights ``initial``; the final loss."""
    model = nn.Linear(1, 1)
    model.load_state_dict(initial)
    opt = optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return full_batch_loss(model, x, y)


def test_sweep_rates_are_exponential_and_losses_recorded():
    x, y = linear_data()
    tg.manual_seed(1)
    model = nn.Linear(1, 1)
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y), start_lr=1e-5, end_lr=1e-2,
                     num_iter=30)
    assert isinstance(result, LRFinderResult)
    i = np.arange(30)
    np.testing.assert_allclose(result.lrs, 1e-5 * (1e-2 / 1e-5) ** (i / 29), rtol=1e-12)
    ratios = result.lrs[1:] / result.lrs[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-10)  # a constant factor per step
    assert not result.diverged  # 1e-2 is far inside the stable range of this problem
    assert len(result.losses) == len(result.raw_losses) == 30


def test_smoothing_is_a_bias_corrected_moving_average():
    x, y = linear_data()
    tg.manual_seed(2)
    model = nn.Linear(1, 1)
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y), num_iter=40, smooth=0.9)
    average, expected = 0.0, []
    for i, raw in enumerate(result.raw_losses):
        average = 0.9 * average + 0.1 * raw
        expected.append(average / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(result.losses, expected, rtol=1e-12)
    assert result.losses[0] == result.raw_losses[0]  # bias correction: the first value is not shrunk toward 0
    # The raw losses are the model's real losses: the first is the untouched model's full-batch loss.
    fresh = nn.Linear(1, 1)
    fresh.load_state_dict(model.state_dict())
    assert result.raw_losses[0] == pytest.approx(full_batch_loss(fresh, x, y), rel=1e-6)


def test_suggestion_is_in_the_stable_range_of_the_sources_regression():
    x, y = linear_data()
    tg.manual_seed(3)
    model = nn.Linear(1, 1)
    initial = model.state_dict()
    start = full_batch_loss(model, x, y)
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y))  # defaults: 1e-7 .. 10, 100 steps
    assert result.suggestion is not None
    # Below the rate where the smoothed loss turned up (its lowest point) ...
    lowest = int(np.argmin(result.losses))
    assert result.suggestion < result.lrs[lowest]
    # ... inside the sweep, past the flat start ...
    assert result.lrs[0] < result.suggestion
    # ... and it trains: 100 full-batch SGD epochs reach the noise floor (0.1**2 = 0.01).
    assert train_full_batch(initial, result.suggestion, 100, x, y) < 0.02
    # The rate where the sweep stopped, ten times over, blows the same training up.
    divergence_lr = result.lrs[-1]
    blown = train_full_batch(initial, 10 * divergence_lr, 100, x, y)
    assert not np.isfinite(blown) or blown > 1e3 * start


def test_stops_early_when_the_loss_diverges():
    x, y = linear_data()
    tg.manual_seed(4)
    model = nn.Linear(1, 1)
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y), start_lr=1e-3, end_lr=1e3,
                     num_iter=200)
    assert result.diverged
    assert len(result.lrs) < 200
    last, best_before = result.losses[-1], result.losses[:-1].min()
    assert not np.isfinite(last) or last > 4.0 * best_before
    # Every earlier point passed the test, so the sweep did not stop sooner than it had to.
    running_best = np.minimum.accumulate(result.losses[:-1])
    assert np.all(result.losses[1:-1] <= 4.0 * running_best[:-1])
    # A smaller threshold stops sooner.
    early = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y), start_lr=1e-3, end_lr=1e3,
                    num_iter=200, diverge_threshold=1.5)
    assert early.diverged and len(early.lrs) < len(result.lrs)


def test_non_finite_loss_stops_the_sweep_and_is_recorded():
    x, y = linear_data()
    calls = []

    def loss_fn(pred, target):
        calls.append(1)
        loss = nn.MSELoss()(pred, target)
        return loss * float("nan") if len(calls) == 7 else loss

    tg.manual_seed(5)
    model = nn.Linear(1, 1)
    before = model.state_dict()
    result = lr_find(model, loss_fn, optim.SGD(model.parameters()), (x, y), num_iter=50)
    assert result.diverged and len(result.lrs) == 7
    assert np.isnan(result.raw_losses[-1])
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def train_a_few_steps(model, opt, loader, steps):
    loss_fn = nn.MSELoss()
    done = 0
    while done < steps:
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            done += 1
            if done == steps:
                break


def make_setup(optimizer_name):
    """A dropout MLP, a shuffling loader and an optimizer that has already stepped (so it has state)."""
    x, y = linear_data()
    tg.manual_seed(6)
    model = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
    params = list(model.parameters())
    if optimizer_name == "adam":
        opt = optim.Adam([{"params": params[:2], "lr": 1e-3}, {"params": params[2:], "lr": 3e-3, "eps": 1e-7}])
    else:
        opt = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.02}], lr=0.01, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True)
    train_a_few_steps(model, opt, loader, 5)
    return model, opt, loader


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_restores_model_optimizer_and_rng_exactly(optimizer_name):
    # Twin runs from the same seed, one after the other (they share the library generator):
    # the first never calls lr_find, the second calls it in the middle.
    model_a, opt_a, loader_a = make_setup(optimizer_name)
    state_a = tg.get_rng_state()
    train_a_few_steps(model_a, opt_a, loader_a, 12)
    final_a = model_a.state_dict()

    model_b, opt_b, loader_b = make_setup(optimizer_name)
    groups_before = [{k: v for k, v in g.items() if k != "params"} for g in opt_b.param_groups]
    params_before = model_b.state_dict()
    opt_state_before = opt_b.state_dict()
    grads_before = [p.grad.numpy().copy() for p in model_b.parameters()]
    generator_before = tg_rng.generator()
    rng_before = tg.get_rng_state()
    assert rng_before == state_a

    result = lr_find(model_b, nn.MSELoss(), opt_b, loader_b, num_iter=60)
    assert len(result.lrs) > 10  # it did train (dropout and shuffling drew random numbers)

    assert tg_rng.generator() is generator_before
    assert tg.get_rng_state() == rng_before
    for key, value in model_b.state_dict().items():
        assert value.dtype == params_before[key].dtype
        assert np.array_equal(value, params_before[key]), key
    for p, g in zip(model_b.parameters(), grads_before):
        assert np.array_equal(p.grad.numpy(), g)
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt_b.param_groups] == groups_before
    after = opt_b.state_dict()
    assert after["param_groups"] == opt_state_before["param_groups"]
    assert after["state"].keys() == opt_state_before["state"].keys()
    for index, saved in opt_state_before["state"].items():
        for name, value in saved.items():
            assert np.array_equal(after["state"][index][name], value), (index, name)
    assert model_b.training and all(m.training for m in model_b.modules())

    # The strongest check: the second twin carries on exactly as the first did, bit for bit
    # (the same shuffles, dropout masks, momentum and moments).
    train_a_few_steps(model_b, opt_b, loader_b, 12)
    for name, b in model_b.state_dict().items():
        assert np.array_equal(final_a[name], b), name


def test_restores_eval_mode_gradients_and_a_loaders_own_generator():
    x, y = linear_data()
    tg.manual_seed(7)
    model = nn.Sequential(nn.Linear(1, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    model.eval()
    opt = optim.SGD(model.parameters(), lr=0.1)
    nn.MSELoss()(model(x), y).backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    own = tg.Generator().manual_seed(123)
    loader = DataLoader(TensorDataset(x, y), batch_size=40, shuffle=True, generator=own)
    own_state = own.get_state()
    lr_find(model, nn.MSELoss(), opt, loader, num_iter=30)
    assert not any(m.training for m in model.modules())
    for p, g in zip(model.parameters(), grads):
        assert np.array_equal(p.grad.numpy(), g)
    assert own.get_state() == own_state


def test_restores_everything_when_the_loss_function_raises():
    x, y = linear_data()
    tg.manual_seed(8)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train_a_few_steps(model, opt, [(x, y)], 3)
    params, opt_state, rng_state = model.state_dict(), opt.state_dict(), tg.get_rng_state()
    calls = []

    def failing(pred, target):
        calls.append(1)
        if len(calls) == 20:
            raise RuntimeError("boom")
        return nn.MSELoss()(pred, target)

    loader = DataLoader(TensorDataset(x, y), batch_size=25, shuffle=True)
    with pytest.raises(RuntimeError, match="boom"):
        lr_find(model, failing, opt, loader, num_iter=50)
    assert all(np.array_equal(v, params[k]) for k, v in model.state_dict().items())
    assert opt.param_groups[0]["lr"] == 0.05
    assert np.array_equal(opt.state_dict()["state"][0]["momentum_buffer"], opt_state["state"][0]["momentum_buffer"])
    assert tg.get_rng_state() == rng_state


def test_restores_after_a_divergent_sweep():
    x, y = linear_data()
    tg.manual_seed(9)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.05)
    params = model.state_dict()
    result = lr_find(model, nn.MSELoss(), opt, (x, y), start_lr=1.0, end_lr=1e4, num_iter=50)
    assert result.diverged
    assert all(np.array_equal(v, params[k]) for k, v in model.state_dict().items())
    assert opt.param_groups[0]["lr"] == 0.05
    assert opt.state == {} and opt.state_nbytes() == 0  # it had never stepped, and still keeps nothing


def test_a_fresh_optimizer_trains_afterwards_exactly_as_if_lr_find_never_ran():
    x, y = linear_data()
    finals = []
    for probe in (False, True):
        tg.manual_seed(14)
        model = nn.Linear(1, 1)
        opt = optim.Adam(model.parameters(), lr=0.05)
        if probe:
            lr_find(model, nn.MSELoss(), opt, (x, y), num_iter=40)
            assert opt.state_nbytes() == 0 and opt.state == {}
        train_a_few_steps(model, opt, [(x, y)], 10)
        finals.append(model.state_dict())
    for name, value in finals[0].items():
        assert np.array_equal(value, finals[1][name]), name


def test_works_with_a_dataloader_cycling_it_as_needed():
    x, y = linear_data()
    tg.manual_seed(10)
    model = nn.Linear(1, 1)
    initial = model.state_dict()
    loader = DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True)  # 4 batches per pass
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), loader, num_iter=100)
    assert len(result.lrs) > 4 * 10  # far more steps than one pass holds
    assert result.suggestion is not None
    assert result.suggestion < result.lrs[int(np.argmin(result.losses))]
    assert train_full_batch(initial, result.suggestion, 100, x, y) < 0.02


def test_works_with_a_plain_list_of_batches_and_a_one_shot_iterator():
    x, y = linear_data()
    tg.manual_seed(11)
    model = nn.Linear(1, 1)
    batches = [(x[:100], y[:100]), (x[100:], y[100:])]
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), batches, num_iter=20, end_lr=1e-2)
    assert len(result.lrs) == 20
    one_shot = iter(batches * 3)
    short = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), one_shot, num_iter=20, end_lr=1e-2)
    assert len(short.lrs) == 6  # it ends with its data
    with pytest.raises(ValueError, match="no batches"):
        lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), [], num_iter=20)


def test_every_group_gets_the_sweep_rate():
    x, y = linear_data()
    tg.manual_seed(12)
    model = nn.Linear(1, 1)
    opt = optim.SGD([{"params": [model.weight], "lr": 0.5}, {"params": [model.bias], "lr": 0.001}])
    seen = []

    class Spy(optim.SGD):
        def step(self, closure=None):
            seen.append([g["lr"] for g in self.param_groups])
            return super().step(closure)

    spy = Spy([{"params": [model.weight], "lr": 0.5}, {"params": [model.bias], "lr": 0.001}])
    result = lr_find(model, nn.MSELoss(), spy, (x, y), num_iter=10, end_lr=1e-3)
    assert [row[0] for row in seen] == list(result.lrs) and all(row[0] == row[1] for row in seen)
    assert [g["lr"] for g in spy.param_groups] == [0.5, 0.001]
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.001]


def test_plot_returns_a_figure_with_a_log_axis_and_the_suggestion():
    x, y = linear_data()
    tg.manual_seed(13)
    model = nn.Linear(1, 1)
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y))
    fig = result.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.lines) >= 2
    smoothed = [line for line in ax.lines if line.get_label() == "smoothed loss"][0]
    np.testing.assert_allclose(smoothed.get_xdata(), result.lrs)
    marker = [line for line in ax.lines if line.get_label().startswith("suggestion")][0]
    assert marker.get_xdata()[0] == pytest.approx(result.suggestion)
    assert result.plot(title="range test").axes[0].get_title() == "range test"


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"start_lr": 0.0}, "start_lr"),
    ({"start_lr": -1e-3}, "start_lr"),
    ({"start_lr": 1e-2, "end_lr": 1e-2}, "end_lr"),
    ({"start_lr": 1e-2, "end_lr": 1e-3}, "end_lr"),
    ({"num_iter": 1}, "num_iter"),
    ({"num_iter": 0}, "num_iter"),
    ({"smooth": 1.0}, "smooth"),
    ({"diverge_threshold": 1.0}, "diverge_threshold"),
])
def test_invalid_arguments_are_value_errors_naming_them(kwargs, name):
    x, y = linear_data(20)
    model = nn.Linear(1, 1)
    params = model.state_dict()
    with pytest.raises(ValueError, match=name):
        lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y), **kwargs)
    assert all(np.array_equal(v, params[k]) for k, v in model.state_dict().items())


class PublicOnlySGD:
    """An optimizer with nothing but the public API: lr_find must work through it alone (no private state)."""

    def __init__(self, params, lr):
        self.param_groups = [{"params": list(params), "lr": lr}]
        self.velocity = [np.zeros_like(p.numpy()) for p in self.param_groups[0]["params"]]
        self.loads = 0

    def zero_grad(self):
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def step(self):
        group = self.param_groups[0]
        for p, v in zip(group["params"], self.velocity):
            v *= 0.9
            v += p.grad.numpy()
            p.numpy()[...] -= group["lr"] * v

    def state_dict(self):
        return {"lr": self.param_groups[0]["lr"], "velocity": [v.copy() for v in self.velocity]}

    def load_state_dict(self, state):
        self.loads += 1
        self.param_groups[0]["lr"] = state["lr"]
        for v, saved in zip(self.velocity, state["velocity"]):
            v[...] = saved


def test_restores_an_optimizer_through_its_public_state_dict_alone():
    x, y = linear_data()
    tg.manual_seed(21)
    model = nn.Linear(1, 1)
    opt = PublicOnlySGD(model.parameters(), lr=0.05)
    train_a_few_steps(model, opt, [(x, y)], 3)  # some momentum to keep
    before = (model.state_dict(), opt.state_dict(), tg.get_rng_state())
    result = lr_find(model, nn.MSELoss(), opt, (x, y), num_iter=30)
    assert len(result.lrs) > 10 and opt.loads == 1
    for name, value in before[0].items():
        np.testing.assert_array_equal(model.state_dict()[name], value)
    assert opt.param_groups[0]["lr"] == 0.05
    for v, saved in zip(opt.velocity, before[1]["velocity"]):
        np.testing.assert_array_equal(v, saved)
    assert tg.get_rng_state() == before[2]


def test_lr_find_and_fit_reach_into_no_private_state():
    """The restore goes through public snapshot/restore methods: no `obj._name` of the optimizer or the RNG."""
    import re
    from pathlib import Path

    train_dir = Path(tg.__file__).parent / "train"
    for name in ("lr_find.py", "fit.py", "callbacks.py"):
        text = train_dir.joinpath(name).read_text()
        private = re.findall(r"\b(?:optimizer|opt|rng|generator\(\))\._\w+", text)
        assert not private, f"{name} reaches into {private}"
        assert "rng._" not in text and "_checked" not in text and "bit_generator" not in text.replace(
            "generator.bit_generator", "")  # a loader's own NumPy Generator is restored through NumPy's public API
