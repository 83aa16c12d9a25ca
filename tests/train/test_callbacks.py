"""Callbacks: hooks and the trainer context, EarlyStopping (Keras's rule on scripted curves),
TerminateOnNaN, ModelCheckpoint, CSVLogger."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import datasets, nn, optim
from tinygrad_edu.data import DataLoader, TensorDataset
from tinygrad_edu.optim import lr_scheduler
from tinygrad_edu.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    TerminateOnNaN,
    fit,
)


def _weights(model):
    return {name: value.copy() for name, value in model.state_dict().items()}


def _assert_same_weights(a, b):
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


class RecordWeights(Callback):
    """The weights at the end of every epoch: ``self.at[epoch]``."""

    def __init__(self):
        super().__init__()
        self.at = {}

    def on_epoch_end(self, epoch, logs):
        self.at[epoch] = _weights(self.trainer.model)


class ScriptedLoss:
    """MSE while training; in evaluation mode the value of ``curve`` for the epoch being validated.

    fit validates once per epoch with one full batch, so the k-th evaluation is epoch k.
    """

    def __init__(self, model, curve):
        self.model = model
        self.curve = list(curve)
        self.evaluations = 0

    def __call__(self, output, target):
        if self.model.training:
            return nn.MSELoss()(output, target)
        value = self.curve[self.evaluations]
        self.evaluations += 1
        return tg.tensor(value, dtype=np.float64)  # float64, so logs hold the scripted floats exactly


def _scripted_fit(curve, epochs=None, callbacks=(), metric_curve=None):
    """Train a Linear(1, 1) (its weights change every epoch) while val_loss follows ``curve``."""
    tg.manual_seed(0)
    x, y = datasets.linear(n=32, seed=0)
    model = nn.Linear(1, 1)
    loss_fn = ScriptedLoss(model, curve)
    metrics = ()
    if metric_curve is not None:
        values = iter(metric_curve)

        def score(output, target):
            return next(values) if not model.training else 0.0

        metrics = (score,)
    recorder = RecordWeights()
    history = fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.05), (x, y), val=(x, y),
                  epochs=epochs or len(curve), callbacks=[recorder, *callbacks], metrics=metrics, progress=False)
    return model, history, recorder


# -- the hooks --------------------------------------------------------------------------------------


def test_hooks_run_in_keras_order_with_the_trainer_context():
    calls = []

    class Spy(Callback):
        def on_train_begin(self, logs):
            calls.append(("train_begin", self.trainer.epoch))

        def on_epoch_begin(self, epoch, logs):
            calls.append(("epoch_begin", epoch))

        def on_batch_end(self, batch, logs):
            assert set(logs) == {"loss", "size", "lr"}
            assert self.trainer.batch == batch
            calls.append(("batch_end", self.trainer.epoch, batch, logs["size"]))

        def on_epoch_end(self, epoch, logs):
            assert logs == {key: values[-1] for key, values in self.trainer.history.items()}
            calls.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, logs):
            calls.append(("train_end", sorted(logs)))

    tg.manual_seed(0)
    x, y = datasets.linear(n=10, seed=0)
    model = nn.Linear(1, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    spy = Spy()
    assert spy.trainer is None
    fit(model, nn.MSELoss(), optimizer, DataLoader(TensorDataset(x, y), batch_size=6), val=(x, y), epochs=2,
        callbacks=[spy], progress=False)
    keys = ["lr", "train_loss", "val_loss"]
    # Keras numbers epochs (and batches within an epoch) from 0: `for epoch in range(initial_epoch, epochs)`.
    assert calls == [
        ("train_begin", 0),
        ("epoch_begin", 0), ("batch_end", 0, 0, 6), ("batch_end", 0, 1, 4), ("epoch_end", 0, keys),
        ("epoch_begin", 1), ("batch_end", 1, 0, 6), ("batch_end", 1, 1, 4), ("epoch_end", 1, keys),
        ("train_end", keys),
    ]
    trainer = spy.trainer
    assert trainer.model is model and trainer.optimizer is optimizer and trainer.scheduler is None
    assert trainer.epochs == 2 and trainer.stop_training is False


def test_stop_training_from_a_batch_closes_the_epoch_and_ends():
    class StopAtBatch2(Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1 and batch == 1:  # the second batch of the second epoch
                self.trainer.stop_training = True

    tg.manual_seed(0)
    x, y = datasets.linear(n=40, seed=0)
    model = nn.Linear(1, 1)
    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
                  DataLoader(TensorDataset(x, y), batch_size=10), val=(x, y), epochs=5,
                  callbacks=[StopAtBatch2()], progress=False)
    assert history.epoch == [0, 1]
    assert not math.isnan(history["val_loss"][1])  # the cut epoch was still validated and recorded


# -- EarlyStopping ---------------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_epochs_without_improvement_and_restores_the_best():
    # best 1.0 (e0), 0.8 (e1); then 0.9, 0.85, 0.82 do not beat 0.8: wait 1, 2, 3 -> stop after epoch 4
    stop = EarlyStopping(patience=3, min_delta=0.0)
    model, history, recorder = _scripted_fit([1.0, 0.8, 0.9, 0.85, 0.82, 0.7, 0.6, 0.5], callbacks=[stop])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (4, 1, 0.8)
    _assert_same_weights(_weights(model), recorder.at[1])
    assert not np.array_equal(recorder.at[1]["weight"], recorder.at[4]["weight"])


def test_early_stopping_restores_the_best_weights_even_when_it_did_not_stop():
    # 1.0, 0.9 (best), 0.95 (wait 1), 0.8 (best), 0.85 (wait 1): patience 3 is never reached
    stop = EarlyStopping(patience=3, min_delta=0.0)
    model, history, recorder = _scripted_fit([1.0, 0.9, 0.95, 0.8, 0.85], callbacks=[stop])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (0, 3, 0.8)
    _assert_same_weights(_weights(model), recorder.at[3])


def test_early_stopping_without_restore_keeps_the_last_weights():
    stop = EarlyStopping(patience=1, min_delta=0.0, restore_best_weights=False)
    model, history, recorder = _scripted_fit([1.0, 0.5, 0.7, 0.4], callbacks=[stop])
    assert history.epoch == [0, 1, 2] and stop.stopped_epoch == 2 and stop.best_epoch == 1
    _assert_same_weights(_weights(model), recorder.at[2])


def test_min_delta_decides_what_counts_as_improvement():
    curve = [1.0, 0.96, 0.92, 0.91, 0.905, 0.9]
    # min_delta 0.05: e1 0.96 is not below 1.0 - 0.05 (wait 1); e2 0.92 is (best, wait 0);
    # e3 0.91 and e4 0.905 are not below 0.92 - 0.05 (wait 1, 2): stop after epoch 4 with best epoch 2
    stop = EarlyStopping(patience=2, min_delta=0.05)
    model, history, recorder = _scripted_fit(curve, callbacks=[stop])
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (4, 2, 0.92)
    assert history.epoch == [0, 1, 2, 3, 4]
    _assert_same_weights(_weights(model), recorder.at[2])
    # min_delta 0: every epoch improves, no stop, the last epoch is the best
    stop = EarlyStopping(patience=2, min_delta=0.0)
    model, history, recorder = _scripted_fit(curve, callbacks=[stop])
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (0, 5, 0.9)
    _assert_same_weights(_weights(model), recorder.at[5])


def test_mode_max_on_a_validation_metric():
    # val_score 0.5 (best), 0.6 > 0.51 (best, e1), 0.55 (wait 1), 0.605 is not > 0.61 (wait 2): stop after e3
    scores = [0.5, 0.6, 0.55, 0.605, 0.9, 0.95]
    stop = EarlyStopping(monitor="val_score", mode="max", patience=2, min_delta=0.01)
    model, history, recorder = _scripted_fit([1.0] * 6, callbacks=[stop], metric_curve=scores)
    assert history["val_score"] == [0.5, 0.6, 0.55, 0.605]
    assert (stop.stopped_epoch, stop.best_epoch, stop.best) == (3, 1, 0.6)
    _assert_same_weights(_weights(model), recorder.at[1])


def _drive(stop, curve, key="val_loss"):
    """Run EarlyStopping by hand on a curve (no model), epochs from 0 as Keras: the epoch it stops at, or 0."""
    stop.on_train_begin({})
    for epoch, value in enumerate(curve):
        stop.on_epoch_end(epoch, {key: value})
        if stop.stopped_epoch:
            return epoch
    return 0


def test_baseline_resets_the_wait_only_when_beaten():
    # Keras: each epoch improves on the best, but none beats the baseline 0.5, so the wait is never
    # reset: 1, 2, 3 while improving (an improving epoch never stops), then 4 >= 2 at e3 stops.
    stop = EarlyStopping(patience=2, min_delta=0.0, baseline=0.5, restore_best_weights=False)
    assert _drive(stop, [0.9, 0.8, 0.7, 0.75, 0.6]) == 3
    assert (stop.best, stop.best_epoch, stop.wait) == (0.7, 2, 4)
    stop = EarlyStopping(patience=2, min_delta=0.0, baseline=0.5, restore_best_weights=False)
    assert _drive(stop, [0.9, 0.4, 0.45, 0.42, 0.41]) == 3  # 0.4 beats it: wait 0 at e1, then 1, 2
    assert (stop.best, stop.best_epoch) == (0.4, 1)


def test_start_from_epoch_ignores_the_first_epochs():
    stop = EarlyStopping(patience=2, min_delta=0.0, start_from_epoch=2, restore_best_weights=False)
    # Keras: `if epoch < self.start_from_epoch: return` with epochs from 0, so e0 and e1 are ignored
    assert _drive(stop, [0.1, 0.2, 1.0, 1.1, 1.2, 0.05]) == 4  # best 1.0 at e2, then wait 1, 2
    assert (stop.best, stop.best_epoch) == (1.0, 2)


def test_patience_zero_stops_at_the_first_non_improving_epoch():
    stop = EarlyStopping(patience=0, min_delta=0.0, restore_best_weights=False)
    assert _drive(stop, [1.0, 0.9, 0.9, 0.1]) == 2


def test_early_stopping_instance_can_be_reused():
    stop = EarlyStopping(patience=1, min_delta=0.0, restore_best_weights=False)
    assert _drive(stop, [1.0, 2.0]) == 1
    assert _drive(stop, [1.0, 0.5, 0.4]) == 0 and stop.best == 0.4 and stop.stopped_epoch == 0


def test_early_stopping_on_an_unknown_key_lists_the_available_ones():
    stop = EarlyStopping(monitor="val_los")
    with pytest.raises(KeyError, match=r"val_los.*\['lr', 'train_loss', 'val_loss'\]"):
        _scripted_fit([1.0, 0.9], callbacks=[stop])
    with pytest.raises(KeyError, match="monitor='val_loss'"):  # no validation set: no val_loss
        tg.manual_seed(0)
        model = nn.Linear(1, 1)
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (tg.randn(4, 1), tg.randn(4, 1)),
            epochs=2, callbacks=[EarlyStopping()], progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"patience": -1}, "patience must be an integer >= 0, got -1"),
    ({"mode": "auto"}, "mode must be 'min' or 'max', got 'auto'"),
    ({"min_delta": -0.1}, "min_delta must be a finite number >= 0, got -0.1"),
    ({"start_from_epoch": -2}, "start_from_epoch must be an integer >= 0, got -2"),
])
def test_early_stopping_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


def test_early_stopping_coordinates_with_reduce_on_plateau():
    """The sources' advice: the plateau scheduler (patience 1) cuts before early stopping (patience 4) stops."""
    tg.manual_seed(0)
    x, y = datasets.linear(n=32, seed=0)
    model = nn.Linear(1, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1, threshold=0.0)
    curve = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    stop = EarlyStopping(patience=4, min_delta=0.0)
    history = fit(model, ScriptedLoss(model, curve), optimizer, (x, y), val=(x, y), epochs=8, scheduler=scheduler,
                  callbacks=[stop], progress=False)
    assert stop.stopped_epoch == 5 and stop.best_epoch == 1
    assert history["lr"] == [0.05, 0.05, 0.05, 0.05, 0.025, 0.025]  # cut after epoch 3, before the stop


# -- TerminateOnNaN ------------------------------------------------------------------------------------


class RecordBeforeSteps(Callback):
    """The weights each batch ran with: those at the start, then those after every batch."""

    def __init__(self):
        super().__init__()
        self.weights = []
        self.losses = []

    def on_train_begin(self, logs):
        self.weights = [_weights(self.trainer.model)]

    def on_batch_end(self, batch, logs):
        self.losses.append((self.trainer.epoch, batch, logs["loss"]))
        self.weights.append(_weights(self.trainer.model))


@pytest.mark.parametrize("batch_size", [100, 10])
def test_terminate_on_nan_stops_and_keeps_the_last_finite_weights(batch_size):
    tg.manual_seed(0)
    x, y = datasets.linear(n=100, seed=0)
    model = nn.Linear(1, 1)
    optimizer = optim.SGD(model.parameters(), lr=10.0)  # far too high: the loss explodes to inf, then nan
    recorder, terminate = RecordBeforeSteps(), TerminateOnNaN()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="TerminateOnNaN: epoch"):
        history = fit(model, nn.MSELoss(), optimizer, loader, epochs=200, callbacks=[recorder, terminate],
                      progress=False)
    bad = [(e, b) for e, b, loss in recorder.losses if not math.isfinite(loss)]
    assert (terminate.stopped_epoch, terminate.stopped_batch) == bad[0]
    assert recorder.losses[-1][:2] == bad[0]  # nothing ran after it
    assert f"epoch {bad[0][0]}, batch {bad[0][1]}" in terminate.message
    assert history.epoch[-1] == bad[0][0] < 199
    assert not math.isfinite(history["train_loss"][-1])
    # the weights the bad batch ran with (the last finite ones) are the model's weights now
    weights = _weights(model)
    assert all(np.isfinite(value).all() for value in weights.values())
    _assert_same_weights(weights, recorder.weights[-2])


def test_without_terminate_on_nan_the_same_run_ruins_the_weights():
    tg.manual_seed(0)
    x, y = datasets.linear(n=100, seed=0)
    model = nn.Linear(1, 1)
    with np.errstate(all="ignore"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=10.0), (x, y), epochs=200, progress=False)
    assert not np.isfinite(model.weight.numpy()).all()


def test_terminate_on_nan_undoes_a_step_that_makes_weights_non_finite():
    class SqrtAtZero(nn.Module):
        """A finite loss (0) whose gradient is infinite: sqrt'(0) = inf."""

        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(tg.tensor([1.0]))

        def forward(self, x):
            return ((self.p - self.p.detach()) * x).sqrt()

    tg.manual_seed(0)
    model = SqrtAtZero()
    terminate = TerminateOnNaN()
    x = tg.ones(4, 1)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="non-finite"):
        fit(model, lambda out, target: out.mean(), optim.SGD(model.parameters(), lr=0.1), (x, x), epochs=3,
            callbacks=[terminate], progress=False)
    assert (terminate.stopped_epoch, terminate.stopped_batch) == (0, 0)
    assert model.p.numpy().tolist() == [1.0]


# -- ModelCheckpoint -----------------------------------------------------------------------------------


def test_model_checkpoint_saves_only_improvements(tmp_path):
    class RecordRng(Callback):
        def __init__(self):
            super().__init__()
            self.at = {}

        def on_epoch_end(self, epoch, logs):
            self.at[epoch] = tg.rng.get_rng_state()

    rng = RecordRng()
    best = ModelCheckpoint(tmp_path / "best.tg")
    each = ModelCheckpoint(tmp_path / "epoch-{epoch}-{val_loss:.2f}.tg", save_best_only=True)
    model, history, recorder = _scripted_fit([1.0, 0.8, 0.9, 0.7, 0.75], callbacks=[best, each, rng])
    # As Keras's ModelCheckpoint, {epoch} in the name is the number of epochs finished (epoch index + 1).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.tg", "epoch-1-1.00.tg", "epoch-2-0.80.tg",
                                                          "epoch-4-0.70.tg"]
    state = tg.load(tmp_path / "best.tg")
    assert set(state) == {"model", "optimizer", "scheduler", "epoch", "history", "rng"}
    assert state["epoch"] == 4 and state["scheduler"] is None  # four epochs finished: resume at epoch 4
    _assert_same_weights(state["model"], recorder.at[3])
    assert state["history"]["epoch"] == [0, 1, 2, 3]
    assert state["history"]["logs"]["val_loss"] == [1.0, 0.8, 0.9, 0.7]
    assert state["optimizer"]["optimizer"] == "SGD"
    assert state["rng"] == rng.at[3]
    assert (best.best, best.best_epoch) == (0.7, 3)


def test_model_checkpoint_every_epoch_and_mode_max(tmp_path):
    every = ModelCheckpoint(tmp_path / "last.tg", save_best_only=False)
    high = ModelCheckpoint(tmp_path / "high-{epoch}.tg", monitor="val_loss", mode="max")
    _scripted_fit([1.0, 0.8, 1.2, 1.1], callbacks=[every, high])
    assert tg.load(tmp_path / "last.tg")["epoch"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["high-1.tg", "high-3.tg", "last.tg"]
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        ModelCheckpoint(tmp_path / "x.tg", mode="best")


def test_model_checkpoint_stores_the_scheduler(tmp_path):
    tg.manual_seed(0)
    x, y = datasets.linear(n=16, seed=0)
    model = nn.Linear(1, 1)
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    fit(model, nn.MSELoss(), optimizer, (x, y), epochs=3, scheduler=scheduler,
        callbacks=[ModelCheckpoint(tmp_path / "c.tg", save_best_only=False)], progress=False)
    state = tg.load(tmp_path / "c.tg")
    assert state["scheduler"] == scheduler.state_dict()
    assert state["scheduler"]["last_epoch"] == 3
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.1 * 0.5 ** 3


# -- CSVLogger ------------------------------------------------------------------------------------------------


def test_csv_logger_writes_a_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    rows_seen = []

    class Peek(Callback):
        def on_epoch_end(self, epoch, logs):
            with open(path, newline="") as handle:
                rows_seen.append(len(list(csv.reader(handle))) - 1)

    model, history, _ = _scripted_fit([1.0, 0.8, 0.9], callbacks=[CSVLogger(path), Peek()])
    assert rows_seen == [1, 2, 3]  # the file is complete after every epoch
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]  # Keras's CSVLogger writes epochs from 0
    assert [float(row["val_loss"]) for row in rows] == [1.0, 0.8, 0.9]
    assert [float(row["train_loss"]) for row in rows] == history["train_loss"]
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]


def test_a_resumed_run_numbers_epochs_as_keras_initial_epoch_does(tmp_path):
    """Keras: fit(initial_epoch=k, epochs=n) calls on_epoch_begin/end with k, k+1, ..., n-1 and records those
    in History.epoch; a checkpoint after k finished epochs resumes the same way here."""
    seen = []

    class Spy(Callback):
        def on_epoch_begin(self, epoch, logs):
            seen.append(("begin", epoch))

        def on_epoch_end(self, epoch, logs):
            seen.append(("end", epoch))

    path = tmp_path / "ckpt.tg"
    tg.manual_seed(0)
    x, y = datasets.linear(n=16, seed=0)
    model = nn.Linear(1, 1)
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3,
        callbacks=[ModelCheckpoint(path, save_best_only=False), Spy()], progress=False)
    assert seen == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1), ("begin", 2), ("end", 2)]
    assert tg.load(path)["epoch"] == 3  # epochs finished: Keras's initial_epoch for the next run
    seen.clear()
    model = nn.Linear(1, 1)
    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=5, resume_from=path,
                  callbacks=[Spy()], progress=False)
    assert seen == [("begin", 3), ("end", 3), ("begin", 4), ("end", 4)]
    assert history.epoch == [0, 1, 2, 3, 4]
