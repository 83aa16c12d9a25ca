"""tg.train.fit against hand-written loops, step for step; History; metrics; resuming; argument checks."""

from __future__ import annotations

import csv
import io
import math
import os
import sys

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import datasets, nn, optim
from tinygrad_edu.data import DataLoader, TensorDataset
from tinygrad_edu.optim import lr_scheduler
from tinygrad_edu.train import History, ModelCheckpoint, accuracy, fit

# -- helpers ---------------------------------------------------------------------------------------


def _weights(model):
    return {name: value.copy() for name, value in model.state_dict().items()}


def _assert_same_weights(a, b):
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _hand_loop(model, loss_fn, optimizer, batches, epochs, scheduler=None, interval="epoch", clip=None,
               val=None, plateau_metric="val"):
    """The sources' loop written out: what fit must do, step for step."""
    history = {"train_loss": [], "val_loss": [], "lr": []}
    for _ in range(epochs):
        model.train()
        losses = []
        lr = None
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            losses.append(loss.item())
            if scheduler is not None and interval == "batch":
                scheduler.step()
        train_loss = sum(losses) / len(losses)
        history["train_loss"].append(train_loss)
        history["lr"].append(lr)
        val_loss = None
        if val is not None:
            model.eval()
            with tg.no_grad():
                total, count = 0.0, 0
                for xb, yb in val:
                    total += loss_fn(model(xb), yb).item() * xb.shape[0]
                    count += xb.shape[0]
            val_loss = total / count
            history["val_loss"].append(val_loss)
        if scheduler is not None and interval == "epoch":
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss if plateau_metric == "val" else train_loss)
            else:
                scheduler.step()
    return history


def _regression_loaders(n=96, batch_size=16, shuffle=True, seed=0):
    x, y = datasets.linear(n=n, seed=seed)
    x_val, y_val = datasets.linear(n=40, seed=seed + 100)
    train = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=16)
    return train, val


# -- the sources' regression ------------------------------------------------------------------------


def test_fit_recovers_the_sources_line():
    tg.manual_seed(0)
    x, y = datasets.linear(n=100, seed=0)
    model = nn.Linear(1, 1)
    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=200, progress=False)
    assert model.weight.item() == pytest.approx(3.0, abs=0.05)
    assert model.bias.item() == pytest.approx(1.0, abs=0.05)
    assert len(history["train_loss"]) == 200
    assert history["train_loss"][-1] < 0.02 < history["train_loss"][0]


@pytest.mark.parametrize("make_optimizer", [lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
                                            lambda p: optim.Adam(p, lr=0.01)])
def test_fit_equals_a_hand_written_loop_step_for_step(make_optimizer):
    results = []
    for use_fit in (True, False):
        tg.manual_seed(3)
        train, val = _regression_loaders()
        model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
        optimizer = make_optimizer(model.parameters())
        if use_fit:
            history = fit(model, nn.MSELoss(), optimizer, train, val=val, epochs=4, progress=False)
            history = {key: history[key] for key in ("train_loss", "val_loss", "lr")}
        else:
            history = _hand_loop(model, nn.MSELoss(), optimizer, train, 4, val=val)
        results.append((_weights(model), history, tg.get_rng_state()))
    (w_fit, h_fit, rng_fit), (w_hand, h_hand, rng_hand) = results
    _assert_same_weights(w_fit, w_hand)
    assert h_fit == h_hand  # exactly: the same floats in the same order
    assert rng_fit == rng_hand  # fit draws nothing beyond what the loop draws (the shuffles)


def test_full_batch_tuple_is_one_batch_per_epoch():
    tg.manual_seed(0)
    x, y = datasets.linear(n=50, seed=1)
    steps = []

    class Count(tg.train.Callback):
        def on_batch_end(self, batch, logs):
            steps.append((self.trainer.epoch, batch, logs["size"]))

    model = nn.Linear(1, 1)
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x.numpy(), y.numpy()), epochs=3,
        callbacks=[Count()], progress=False)
    assert steps == [(0, 0, 50), (1, 0, 50), (2, 0, 50)]  # epochs and batches from 0, as Keras numbers them


# -- schedulers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", ["epoch", "batch"])
def test_scheduler_stepping_equals_a_hand_written_loop(interval):
    results = []
    for use_fit in (True, False):
        tg.manual_seed(5)
        train, _ = _regression_loaders(n=64, batch_size=16)
        model = nn.Linear(1, 1)
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
        scheduler = lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
        if use_fit:
            history = fit(model, nn.MSELoss(), optimizer, train, epochs=5, scheduler=scheduler,
                          scheduler_interval=interval, progress=False)
        else:
            history = _hand_loop(model, nn.MSELoss(), optimizer, train, 5, scheduler=scheduler, interval=interval)
        results.append((_weights(model), history["lr"], history["train_loss"], scheduler.last_epoch))
    (w_fit, lr_fit, loss_fit, last_fit), (w_hand, lr_hand, loss_hand, last_hand) = results
    _assert_same_weights(w_fit, w_hand)
    assert lr_fit == lr_hand and loss_fit == loss_hand and last_fit == last_hand
    if interval == "epoch":  # the rate of each epoch's last step: halved after every 3 epochs
        assert lr_fit == [0.1, 0.1, 0.1, 0.05, 0.05]
        assert last_fit == 5
    else:  # 4 steps per epoch: halved every 3 steps; the last step of epoch e is step 4e - 1 (from 0)
        assert lr_fit == [0.1 * 0.5 ** ((4 * e - 1) // 3) for e in range(1, 6)]
        assert last_fit == 20


def test_reduce_on_plateau_is_driven_by_the_validation_loss():
    tg.manual_seed(0)
    x, y = datasets.linear(n=64, seed=0)
    # The validation targets have the opposite slope: as training fits the data, val_loss keeps rising.
    x_val = x.numpy()[:32].copy()
    val = (tg.tensor(x_val), tg.tensor(-3 * x_val + 1))
    results = []
    for use_fit in (True, False):
        tg.manual_seed(1)
        model = nn.Linear(1, 1)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
        if use_fit:
            history = fit(model, nn.MSELoss(), optimizer, (x, y), val=val, epochs=6, scheduler=scheduler,
                          progress=False)
        else:
            history = _hand_loop(model, nn.MSELoss(), optimizer, [(x, y)], 6, scheduler=scheduler, val=[val])
        results.append((_weights(model), history["lr"], history["val_loss"]))
    (w_fit, lr_fit, val_fit), (w_hand, lr_hand, val_hand) = results
    _assert_same_weights(w_fit, w_hand)
    assert val_fit == val_hand and lr_fit == lr_hand
    assert all(b > a for a, b in zip(val_fit, val_fit[1:]))  # val_loss rises every epoch ...
    # ... so every epoch after the first is a bad one and cuts the rate at its end (used from the next epoch on)
    assert lr_fit == [0.1, 0.1, 0.05, 0.025, 0.0125, 0.00625]
    assert optimizer.param_groups[0]["lr"] == 0.003125


def test_reduce_on_plateau_uses_the_training_loss_without_validation():
    tg.manual_seed(0)
    x, y = datasets.linear(n=64, seed=0)
    results = []
    for use_fit in (True, False):
        tg.manual_seed(1)
        model = nn.Linear(1, 1)
        optimizer = optim.SGD(model.parameters(), lr=1.05)  # too high: the training loss climbs
        scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
        if use_fit:
            history = fit(model, nn.MSELoss(), optimizer, (x, y), epochs=8, scheduler=scheduler, progress=False)
        else:
            history = _hand_loop(model, nn.MSELoss(), optimizer, [(x, y)], 8, scheduler=scheduler,
                                 plateau_metric="train")
        results.append((_weights(model), history["lr"], history["train_loss"]))
    assert results[0][1] == results[1][1] and results[0][2] == results[1][2]
    _assert_same_weights(results[0][0], results[1][0])
    assert results[0][1][-1] < 1.05  # it did cut


# -- accumulation and clipping -----------------------------------------------------------------------


def _two_layer_float64(seed):
    tg.set_default_dtype(np.float64)
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))


def test_accumulating_k_batches_of_b_steps_like_one_batch_of_k_times_b():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((64, 3)), dtype=np.float64)
    y = tg.tensor(rng.standard_normal((64, 1)), dtype=np.float64)
    results = []
    for batch_size, k in ((8, 4), (32, 1), (4, 8)):
        model = _two_layer_float64(seed=2)
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)
        history = fit(model, nn.MSELoss(), optimizer, loader, epochs=3, accumulate=k, progress=False)
        results.append((_weights(model), history["train_loss"]))
    reference_weights, reference_losses = results[1]
    for weights, losses in (results[0], results[2]):
        for name in reference_weights:
            np.testing.assert_allclose(weights[name], reference_weights[name], rtol=1e-12, atol=1e-14)
        # the mean of the small batches' losses is the big batch's loss (at the same weights)
        np.testing.assert_allclose(losses, reference_losses, rtol=1e-12)


def test_a_shorter_last_group_steps_with_what_it_has():
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal((40, 3)), dtype=np.float64)
    y = tg.tensor(rng.standard_normal((40, 1)), dtype=np.float64)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)  # 5 batches: groups of 3 and 2
    steps = []

    class Steps(tg.train.Callback):
        def on_batch_end(self, batch, logs):
            steps.append(batch)

    model = _two_layer_float64(seed=3)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    fit(model, nn.MSELoss(), optimizer, loader, epochs=2, accumulate=3, callbacks=[Steps()], progress=False)

    hand = _two_layer_float64(seed=3)
    hand_optimizer = optim.SGD(hand.parameters(), lr=0.1)
    batches = list(loader)
    for _ in range(2):
        for group in (batches[:3], batches[3:]):
            hand_optimizer.zero_grad()
            for xb, yb in group:
                (nn.MSELoss()(hand(xb), yb) / 3).backward()
            hand_optimizer.step()
    _assert_same_weights(_weights(model), _weights(hand))
    assert steps == [0, 1, 2, 3, 4] * 2  # batches numbered from 0 within each epoch, as Keras does


def test_clip_grad_norm_is_applied_before_each_step():
    grad_norms = []

    class Norms(tg.train.Callback):
        def on_batch_end(self, batch, logs):
            grad_norms.append(logs["grad_norm"])

    results = []
    for use_fit in (True, False):
        tg.manual_seed(4)
        train, _ = _regression_loaders(n=48, batch_size=16)
        model = nn.Linear(1, 1)
        optimizer = optim.SGD(model.parameters(), lr=0.05)
        if use_fit:
            fit(model, nn.MSELoss(), optimizer, train, epochs=3, clip_grad_norm=0.5, callbacks=[Norms()],
                progress=False)
        else:
            _hand_loop(model, nn.MSELoss(), optimizer, train, 3, clip=0.5)
        results.append(_weights(model))
    _assert_same_weights(*results)
    assert len(grad_norms) == 9 and max(grad_norms) > 0.5  # clipping was active

    tg.manual_seed(4)
    train, _ = _regression_loaders(n=48, batch_size=16)
    unclipped = nn.Linear(1, 1)
    fit(unclipped, nn.MSELoss(), optim.SGD(unclipped.parameters(), lr=0.05), train, epochs=3, progress=False)
    assert not np.array_equal(unclipped.weight.numpy(), results[0]["weight"])


# -- metrics ----------------------------------------------------------------------------------------------


def test_accuracy_function():
    logits = tg.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [0.0, 1.0, 0.5]])
    assert accuracy(logits, tg.tensor([0, 1, 2, 0])) == 0.75
    assert accuracy(logits, tg.tensor(np.eye(3)[[0, 1, 1, 1]])) == 0.75  # one-hot targets
    # one logit per sample: positive predicts class 1
    assert accuracy(tg.tensor([[1.5], [-0.2], [0.3], [-4.0]]), tg.tensor([[1.0], [0.0], [0.0], [1.0]])) == 0.5
    assert accuracy(tg.tensor([1.5, -0.2]), tg.tensor([1, 0])) == 1.0
    with pytest.raises(ValueError, match="3 predictions"):
        accuracy(logits[:3], tg.tensor([0, 1]))


def test_metrics_are_sample_weighted_means_for_train_and_val():
    tg.manual_seed(0)
    x, y = datasets.blobs(n=30, centers=3, seed=0)
    model = nn.Linear(2, 3)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)  # 8, 8, 8, 6: unequal batches
    val = (x[:10], y[:10])

    def wrong(output, target):
        return 1.0 - accuracy(output, target)

    # lr=0: the weights never move, so every epoch's accuracy is the accuracy of the fixed model
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), loader, val=val,
                  epochs=2, metrics=["accuracy", wrong], progress=False)
    with tg.no_grad():
        expected = accuracy(model(x), y)
        expected_val = accuracy(model(x[:10]), y[:10])
    assert list(history) == ["train_loss", "val_loss", "lr", "accuracy", "val_accuracy", "wrong", "val_wrong"]
    assert history["accuracy"] == pytest.approx([expected] * 2, abs=1e-12)
    assert history["val_accuracy"] == pytest.approx([expected_val] * 2, abs=1e-12)
    assert history["wrong"] == pytest.approx([1 - expected] * 2, abs=1e-12)
    with tg.no_grad():
        per_batch = [(accuracy(model(xb), yb), xb.shape[0]) for xb, yb in loader]
    assert [n for _, n in per_batch] == [8, 8, 8, 6]
    assert history["accuracy"][0] == pytest.approx(sum(a * n for a, n in per_batch) / 30, abs=1e-12)


def test_moons_mlp_reaches_95_percent_training_accuracy():
    tg.manual_seed(0)
    x, y = datasets.moons(n=200, noise=0.1, seed=0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), loader, epochs=60,
                  metrics=["accuracy"], progress=False)
    model.eval()
    with tg.no_grad():
        final = accuracy(model(x), y)
    assert final >= 0.95
    assert history["accuracy"][-1] >= 0.95
    assert history["train_loss"][-1] < history["train_loss"][0] / 5


# -- History ---------------------------------------------------------------------------------------------


def test_history_keys_lengths_values_and_modes():
    tg.manual_seed(0)
    train, val = _regression_loaders(n=32, batch_size=16)
    model = nn.Sequential(nn.Linear(1, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    modes = []

    class Modes(tg.train.Callback):
        def on_batch_end(self, batch, logs):
            modes.append(self.trainer.model.training)

    model.eval()  # fit switches to training mode for training, and hands the model back as it found it
    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), train, val=val, epochs=3,
                  callbacks=[Modes()], progress=False)
    assert isinstance(history, History) and isinstance(history, dict)
    assert list(history) == ["train_loss", "val_loss", "lr"]
    assert history.epoch == [0, 1, 2]  # Keras's History.epoch: the epoch indices, from 0
    assert all(len(values) == 3 for values in history.values())
    assert history["lr"] == [0.01] * 3
    assert modes == [True] * 6 and model.training is False
    # the last val_loss is the eval-mode loss of the final weights, weighted by batch size (16 + 16 + 8)
    with tg.no_grad():
        losses = [(nn.MSELoss()(model(xb), yb).item(), xb.shape[0]) for xb, yb in val]
    assert history["val_loss"][-1] == pytest.approx(sum(v * n for v, n in losses) / 40, rel=1e-12)
    # ... not the plain mean of the batch losses
    assert history["val_loss"][-1] != pytest.approx(np.mean([v for v, _ in losses]), rel=1e-9)


def test_history_append_pads_missing_names_with_nan():
    h = History()
    h.append(0, {"train_loss": 1.0})
    h.append(1, {"train_loss": 0.5, "val_loss": 0.7})
    h.append(2, {"val_loss": 0.6})
    assert h["val_loss"][1:] == [0.7, 0.6] and math.isnan(h["val_loss"][0])
    assert h["train_loss"][:2] == [1.0, 0.5] and math.isnan(h["train_loss"][2])
    copy = History.from_state_dict(h.state_dict())
    assert copy.epoch == [0, 1, 2] and list(copy) == list(h)
    with pytest.raises(ValueError, match="lengths"):
        History.from_state_dict({"epoch": [1], "logs": {"train_loss": [1.0, 2.0]}})


def test_to_csv_writes_one_row_per_epoch_atomically(tmp_path):
    h = History()
    h.append(0, {"train_loss": 0.1 + 0.2, "val_loss": 1.5, "lr": 0.01})
    h.append(1, {"train_loss": 1 / 3, "val_loss": float("nan"), "lr": 0.005})
    path = tmp_path / "log.csv"
    path.write_text("old content that must vanish\n")
    h.to_csv(path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["epoch", "train_loss", "val_loss", "lr"]
    assert rows[1] == ["0", repr(0.1 + 0.2), "1.5", "0.01"]
    assert rows[2][:2] == ["1", repr(1 / 3)] and rows[2][2] == "nan"
    assert float(rows[1][1]) == 0.1 + 0.2  # read back bit for bit
    assert os.listdir(tmp_path) == ["log.csv"]  # no temporary file left behind


def test_plot_returns_a_figure_with_loss_and_lr_lines():
    from matplotlib.figure import Figure

    h = History()
    for epoch in range(5):
        h.append(epoch, {"train_loss": 1 / (epoch + 1), "val_loss": 1.2 / (epoch + 1), "lr": 0.1 * 0.5 ** epoch})
    fig = h.plot(title="curves")
    assert isinstance(fig, Figure)
    loss_ax, lr_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train_loss", "val_loss"]
    np.testing.assert_allclose(loss_ax.get_lines()[0].get_ydata(), h["train_loss"])
    np.testing.assert_array_equal(loss_ax.get_lines()[1].get_xdata(), [0, 1, 2, 3, 4])
    assert [line.get_label() for line in lr_ax.get_lines()] == ["lr"]
    assert loss_ax.get_title() == "curves"
    fig.savefig(io.BytesIO(), format="png")  # renders without a display


# -- progress -----------------------------------------------------------------------------------------------


def _tiny_fit(progress):
    tg.manual_seed(0)
    x, y = datasets.linear(n=20, seed=0)
    model = nn.Linear(1, 1)
    return fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(TensorDataset(x, y), 10),
               epochs=2, progress=progress)


def test_progress_false_prints_nothing(capfd):
    _tiny_fit(progress=False)
    assert capfd.readouterr() == ("", "")


def test_progress_is_hidden_when_stderr_is_not_a_terminal(capfd):
    _tiny_fit(progress=True)  # pytest's captured stderr is no terminal
    assert capfd.readouterr() == ("", "")


def test_progress_bar_on_a_terminal_shows_epoch_loss_and_lr(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _tiny_fit(progress=True)
    text = terminal.getvalue()
    assert "epoch 2/2" in text and "loss=" in text and "lr=" in text and "4/4" in text


# -- argument checks ---------------------------------------------------------------------------------------


def _args():
    model = nn.Linear(1, 1)
    x, y = tg.randn(4, 1), tg.randn(4, 1)
    return model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"epochs": 2.5}, "epochs must be an integer >= 1, got 2.5"),
    ({"accumulate": 0}, "accumulate must be an integer >= 1, got 0"),
    ({"scheduler_interval": "step"}, "scheduler_interval must be 'epoch' or 'batch', got 'step'"),
    ({"metrics": ["acc"]}, "unknown metric 'acc'"),
    ({"metrics": ["accuracy", "accuracy"]}, "'accuracy' is reserved or repeated"),
    ({"clip_grad_norm": -1.0}, "clip_grad_norm must be a finite number > 0, got -1.0"),
])
def test_invalid_arguments_are_value_errors_naming_the_value(kwargs, match):
    model, loss_fn, optimizer, data = _args()
    before = _weights(model)
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        fit(model, loss_fn, optimizer, data, progress=False, **kwargs)
    _assert_same_weights(before, _weights(model))


def test_reduce_on_plateau_needs_epoch_interval_and_other_type_errors():
    model, loss_fn, optimizer, data = _args()
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        fit(model, loss_fn, optimizer, data, scheduler=lr_scheduler.ReduceLROnPlateau(optimizer),
            scheduler_interval="batch", progress=False)
    with pytest.raises(TypeError, match="Callback"):
        fit(model, loss_fn, optimizer, data, callbacks=[print], progress=False)
    with pytest.raises(TypeError, match="one-shot iterator"):
        fit(model, loss_fn, optimizer, iter([data]), progress=False)


# -- resuming -----------------------------------------------------------------------------------------------


def _dropout_run(seed, epochs, callbacks=(), resume_from=None, interval="epoch"):
    """An MLP with Dropout on shuffled mini-batches, Adam and a schedule: every source of state at once."""
    tg.manual_seed(seed)
    x, y = datasets.linear(n=60, seed=7)
    x_val, y_val = datasets.linear(n=20, seed=8)
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    if interval == "epoch":
        scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    else:
        scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=30, eta_min=0.001)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    history = fit(model, nn.MSELoss(), optimizer, loader, val=(x_val, y_val), epochs=epochs, scheduler=scheduler,
                  scheduler_interval=interval, callbacks=callbacks, resume_from=resume_from, progress=False)
    return model, optimizer, scheduler, history


@pytest.mark.parametrize("interval", ["epoch", "batch"])
def test_resuming_equals_an_uninterrupted_run_bit_for_bit(tmp_path, interval):
    path = tmp_path / "ckpt.tg"
    full_model, full_optimizer, full_scheduler, full_history = _dropout_run(0, 6, interval=interval)
    _dropout_run(0, 3, callbacks=[ModelCheckpoint(path, save_best_only=False)], interval=interval)
    assert tg.load(path)["epoch"] == 3
    # another seed: different initial weights and generator, all replaced by the checkpoint
    model, optimizer, scheduler, history = _dropout_run(99, 6, resume_from=path, interval=interval)
    _assert_same_weights(_weights(model), _weights(full_model))
    assert history.epoch == [0, 1, 2, 3, 4, 5]
    assert dict(history) == dict(full_history)
    assert scheduler.state_dict() == full_scheduler.state_dict()
    saved, expected = optimizer.state_dict(), full_optimizer.state_dict()
    assert saved["param_groups"] == expected["param_groups"]
    for key in expected["state"]:
        for name, value in expected["state"][key].items():
            np.testing.assert_array_equal(saved["state"][key][name], value)


def test_resuming_a_finished_run_trains_nothing(tmp_path):
    path = tmp_path / "ckpt.tg"
    model, *_ = _dropout_run(0, 2, callbacks=[ModelCheckpoint(path, save_best_only=False)])
    resumed, _, _, history = _dropout_run(5, 2, resume_from=path)
    _assert_same_weights(_weights(resumed), _weights(model))
    assert history.epoch == [0, 1]


def test_a_checkpoint_of_another_architecture_is_refused_and_nothing_changes(tmp_path):
    path = tmp_path / "ckpt.tg"
    _dropout_run(0, 1, callbacks=[ModelCheckpoint(path, save_best_only=False)])

    tg.manual_seed(1)
    x, y = datasets.linear(n=20, seed=0)
    for model in (nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1)),  # same keys, shapes
                  nn.Linear(1, 1)):  # other keys
        optimizer = optim.Adam(model.parameters(), lr=0.5)
        scheduler = lr_scheduler.StepLR(optimizer, step_size=2)
        before = (_weights(model), optimizer.state_dict(), scheduler.state_dict(), tg.rng.get_rng_state())
        key = "0.weight" if isinstance(model, nn.Sequential) else "weight"
        with pytest.raises(RuntimeError, match=key):
            fit(model, nn.MSELoss(), optimizer, (x, y), epochs=3, scheduler=scheduler, resume_from=path,
                progress=False)
        _assert_same_weights(before[0], _weights(model))
        assert optimizer.state_dict() == before[1] and scheduler.state_dict() == before[2]
        assert tg.rng.get_rng_state() == before[3]


def test_a_checkpoint_of_another_optimizer_is_refused_and_the_model_is_put_back(tmp_path):
    path = tmp_path / "ckpt.tg"
    _dropout_run(0, 1, callbacks=[ModelCheckpoint(path, save_best_only=False)])
    tg.manual_seed(1)
    x, y = datasets.linear(n=20, seed=0)
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
    optimizer = optim.SGD(model.parameters(), lr=0.5)  # the checkpoint is Adam's
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2)
    before = _weights(model)
    with pytest.raises(ValueError, match="Adam"):
        fit(model, nn.MSELoss(), optimizer, (x, y), epochs=3, scheduler=scheduler, resume_from=path, progress=False)
    _assert_same_weights(before, _weights(model))
    with pytest.raises(ValueError, match="given no scheduler"):
        fit(model, nn.MSELoss(), optim.Adam(model.parameters()), (x, y), epochs=3, resume_from=path, progress=False)


def test_spirals_mlp_reaches_95_percent_training_accuracy():
    tg.manual_seed(0)
    x, y = datasets.spirals(n=300, classes=3, seed=0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), loader, epochs=80,
                  metrics=["accuracy"], progress=False)
    model.eval()
    with tg.no_grad():
        final = accuracy(model(x), y)
    assert final >= 0.95
    assert history["train_loss"][-1] < history["train_loss"][0] / 5


def test_cross_entropy_on_digits_with_fit_reaches_95_percent_test_accuracy():
    pytest.importorskip("sklearn")
    x_train, y_train, x_test, y_test = datasets.digits()
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
                  DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True),
                  val=(x_test, y_test), epochs=15, metrics=["accuracy"], progress=False)
    model.eval()
    with tg.no_grad():
        test_accuracy = accuracy(model(x_test), y_test)
    assert test_accuracy >= 0.95
    assert history["val_accuracy"][-1] == pytest.approx(test_accuracy, abs=1e-12)
