"""Issue 13, training: what can be checked before training starts is checked then, and a refusal changes nothing.

One test per item of the issue (and its siblings in `tg.train`). PyTorch has no
`fit`, so where the item is about PyTorch's own behaviour (a loss that is not a
scalar Tensor, a state dict of another model) the test runs PyTorch's hand-written
loop beside ours and checks that it fails too, or trains flat, where ours says why.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.data import DataLoader, TensorDataset
from tinygrad_edu.train import (
    CSVLogger,
    EarlyStopping,
    History,
    ModelCheckpoint,
    TensorBoard,
    TerminateOnNaN,
    diagnose,
    fit,
    lr_find,
)

torch = pytest.importorskip("torch")


def _data(n=16, features=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x @ np.arange(1, features + 1, dtype=np.float32)[:, None] + 0.5).astype(np.float32)
    return tg.tensor(x), tg.tensor(y)


def _weights(model):
    return {name: value.copy() for name, value in model.state_dict().items()}


def _same(model, before):
    return all(np.array_equal(model.state_dict()[name], value) for name, value in before.items())


def _run(model, optimizer, **kwargs):
    kwargs.setdefault("epochs", 2)
    kwargs.setdefault("progress", False)
    return fit(model, nn.MSELoss(), optimizer, kwargs.pop("train", _data()), **kwargs)


# -- the optimizer must step the model's parameters --------------------------------------------------


def test_an_optimizer_over_another_models_parameters_is_refused_before_training():
    tg.manual_seed(0)
    model, other = nn.Linear(2, 1), nn.Linear(2, 1)
    before, other_before = _weights(model), _weights(other)
    # What the issue saw, in PyTorch's own hand-written loop: nothing fails, and the loss stays flat.
    torch.manual_seed(0)
    t_model, t_other = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    t_opt = torch.optim.SGD(t_other.parameters(), lr=0.1)
    x, y = (torch.tensor(t.numpy()) for t in _data())
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(t_model(x), y)
        t_opt.zero_grad()
        loss.backward()
        t_opt.step()
        losses.append(loss.item())
    assert len(set(losses)) == 1  # flat: the stepped parameters are not the model's
    with pytest.raises(ValueError, match=r"none of the model's 2 trainable parameters \(weight, bias\)"):
        _run(model, optim.SGD(other.parameters(), lr=0.1))
    assert _same(model, before) and _same(other, other_before)


def test_an_optimizer_leaving_out_some_trainable_parameters_warns_and_trains_the_rest():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    before = _weights(model)
    with pytest.warns(UserWarning, match=r"leaves out 2 of the model's 4 trainable parameters \(0.weight, 0.bias\)"):
        _run(model, optim.SGD(model[2].parameters(), lr=0.1))
    after = model.state_dict()
    assert np.array_equal(after["0.weight"], before["0.weight"]) and not np.array_equal(after["2.weight"],
                                                                                          before["2.weight"])
    # Frozen parameters are left out on purpose: no warning.
    model[0].requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run(model, optim.SGD(model[2].parameters(), lr=0.1))


# -- empty data is found before the first step --------------------------------------------------------


class _EmptyLoader:
    def __len__(self):
        return 0

    def __iter__(self):
        return iter(())


@pytest.mark.parametrize("where", ["train", "val"])
@pytest.mark.parametrize("empty", ["sized loader", "drop_last", "list"])
def test_empty_training_or_validation_data_is_refused_before_the_first_step(where, empty):
    x, y = _data()
    if empty == "sized loader":  # a loader of one's own, with a length (tg's DataLoader refuses empty data itself)
        loader = _EmptyLoader()
    elif empty == "drop_last":
        loader = DataLoader(TensorDataset(x[:3], y[:3]), batch_size=4, drop_last=True)
    else:
        loader = []
    tg.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = optim.Adam(model.parameters(), lr=0.1)
    before, state = _weights(model), optimizer.state_dict()
    kwargs = {"train": loader} if where == "train" else {"train": (x, y), "val": loader}
    with pytest.raises(ValueError, match=rf"fit: {where} gives no batches \(len\({where}\) == 0"):
        _run(model, optimizer, **kwargs)
    assert _same(model, before) and optimizer.state_dict()["state"] == state["state"]


def test_a_tuple_with_no_rows_or_mismatched_rows_is_refused():
    x, y = _data()
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"same number of samples \(> 0\).*\[\(0, 2\), \(0, 1\)\]"):
        _run(model, optim.SGD(model.parameters(), lr=0.1), train=(x[:0], y[:0]))
    with pytest.raises(ValueError, match=r"\[\(16, 2\), \(15, 1\)\]"):
        _run(model, optim.SGD(model.parameters(), lr=0.1), train=(x, y[:15]))


# -- the loss function must return a scalar Tensor ---------------------------------------------------


def test_a_loss_function_returning_a_float_is_a_clear_type_error():
    # PyTorch's hand-written loop fails at loss.backward() with an AttributeError on the float.
    with pytest.raises(AttributeError, match="'float' object has no attribute 'backward'"):
        (0.5).backward()
    tg.manual_seed(0)
    model = nn.Linear(2, 1)
    before = _weights(model)
    with pytest.raises(TypeError, match=r"fit: loss_fn must return a scalar Tensor .* got float 0.5"):
        fit(model, lambda output, target: 0.5, optim.SGD(model.parameters(), lr=0.1), _data(), progress=False)
    assert _same(model, before)


def test_a_loss_function_returning_a_vector_is_a_clear_value_error():
    # PyTorch refuses an implicit gradient for a non-scalar output too.
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (torch.ones(3, requires_grad=True) * 2).backward()
    model = nn.Linear(2, 1)
    before = _weights(model)
    with pytest.raises(ValueError, match=r"scalar Tensor, got one of shape \(16, 1\)"):
        fit(model, nn.MSELoss(reduction="none"), optim.SGD(model.parameters(), lr=0.1), _data(), progress=False)
    assert _same(model, before)


def test_lr_find_checks_its_loss_optimizer_and_data_before_changing_anything():
    model, other = nn.Linear(2, 1), nn.Linear(2, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    before = _weights(model)
    with pytest.raises(ValueError, match="lr_find: train gives no batches"):
        lr_find(model, nn.MSELoss(), optimizer, DataLoader(TensorDataset(*(t[:3] for t in _data())), batch_size=4,
                                                           drop_last=True))
    with pytest.raises(ValueError, match="lr_find: the optimizer holds none of the model's"):
        lr_find(model, nn.MSELoss(), optim.SGD(other.parameters(), lr=0.05), _data())
    with pytest.raises(TypeError, match="lr_find: loss_fn must return a scalar Tensor"):
        lr_find(model, lambda output, target: 1.0, optimizer, _data())
    assert _same(model, before) and optimizer.param_groups[0]["lr"] == 0.05


# -- callbacks: arguments at construction, names and places before the first epoch -------------------


def test_model_checkpoint_with_an_unknown_field_fails_before_training_not_after_an_epoch(tmp_path):
    tg.manual_seed(0)
    model = nn.Linear(2, 1)
    before = _weights(model)
    saver = ModelCheckpoint(str(tmp_path / "ck-{nope}.tg"), save_best_only=False)
    with pytest.raises(KeyError, match=r"'nope' is not in the epoch's logs; available keys are "
                                       r"\['lr', 'train_loss'\]"):
        _run(model, optim.SGD(model.parameters(), lr=0.1), callbacks=[saver])
    assert _same(model, before) and os.listdir(tmp_path) == []
    # The names the run will log are fine, with number formats.
    saver = ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}-{train_loss:.3f}.tg"), save_best_only=False)
    _run(model, optim.SGD(model.parameters(), lr=0.1), callbacks=[saver])
    assert sorted(os.listdir(tmp_path))[0].startswith("ck-01-") and saver.last_saved.startswith(
        str(tmp_path / "ck-02-"))


@pytest.mark.parametrize("pattern, match", [
    ("ck-{epoch.tg", "is not a valid pattern"),
    ("ck-{}.tg", "has the field {}"),
    ("ck-{0}.tg", "has the field {0}"),
    ("ck-{epoch.real}.tg", "has the field {epoch.real}"),
    ("ck-{val_loss[0]}.tg", r"has the field {val_loss\[0\]}"),
    ("ck-{epoch!r}.tg", "has the field {epoch!r}"),
    ("ck-{epoch:zz}.tg", r"the format {epoch:zz} does not format an integer"),
    ("ck-{val_loss:d}.tg", r"the format {val_loss:d} does not format a number"),
])
def test_model_checkpoint_patterns_are_checked_at_construction(pattern, match):
    with pytest.raises(ValueError, match=match):
        ModelCheckpoint(pattern)


def test_monitors_that_the_run_will_not_log_fail_before_training(tmp_path):
    model = nn.Linear(2, 1)
    before = _weights(model)
    for callback in (EarlyStopping(), ModelCheckpoint(str(tmp_path / "best.tg"))):  # both watch val_loss
        with pytest.raises(KeyError, match="monitor='val_loss' is not in the epoch's logs"):
            _run(model, optim.SGD(model.parameters(), lr=0.1), callbacks=[callback])
    assert _same(model, before)


@pytest.mark.parametrize("make, error, match", [
    (lambda: EarlyStopping(monitor=3), ValueError, "monitor must be the name of a logged value"),
    (lambda: EarlyStopping(monitor=""), ValueError, "monitor must be the name of a logged value"),
    (lambda: EarlyStopping(baseline="low"), ValueError, "baseline must be a finite number, got 'low'"),
    (lambda: EarlyStopping(baseline=float("nan")), ValueError, "baseline must be a finite number"),
    (lambda: ModelCheckpoint(3), TypeError, "path must be a file path"),
    (lambda: ModelCheckpoint(""), ValueError, "path must be a non-empty file path"),
    (lambda: ModelCheckpoint("ck.tg", monitor=None), ValueError, "monitor must be the name"),
    (lambda: CSVLogger(3), TypeError, "CSVLogger: path must be a file path"),
    (lambda: CSVLogger("log.csv", separator=""), ValueError, "separator must be one character"),
    (lambda: CSVLogger("log.csv", separator="1"), ValueError, "separator must be one character"),
    (lambda: CSVLogger("log.csv", separator="\n"), ValueError, "separator must be one character"),
    (lambda: TensorBoard(3), TypeError, "log_dir must be a directory path"),
    (lambda: TensorBoard(write_grads="yes"), ValueError, "write_grads must be True or False"),
    (lambda: TensorBoard(write_grads=True), ValueError, "set histogram_freq >= 1"),
])
def test_callback_arguments_are_checked_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_csv_logger_into_a_missing_directory_fails_before_training(tmp_path):
    model = nn.Linear(2, 1)
    before = _weights(model)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _run(model, optim.SGD(model.parameters(), lr=0.1), callbacks=[CSVLogger(tmp_path / "no" / "log.csv")])
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        _run(model, optim.SGD(model.parameters(), lr=0.1), callbacks=[CSVLogger(tmp_path / "dir.csv")])
    assert _same(model, before)


# -- user-editable structures --------------------------------------------------------------------------


def test_a_hand_edited_history_is_refused_by_append_and_left_unchanged():
    history = History()
    history.append(0, {"train_loss": 1.0, "lr": 0.1})
    history["train_loss"].append(0.5)  # edited by hand: now longer than history.epoch
    with pytest.raises(ValueError, match=r"1 epochs but lists of lengths \{'train_loss': 2\}"):
        history.append(1, {"train_loss": 0.4, "lr": 0.1})
    assert history.epoch == [0] and history["lr"] == [0.1]
    good = History()
    for bad_epoch, bad_logs, match in [(-1, {}, "epoch must be an integer >= 0"),
                                       (1.5, {}, "epoch must be an integer"),
                                       (0, [("a", 1)], "logs must be a mapping"),
                                       (0, {"loss": "low"}, r"logs\['loss'\] must be a number"),
                                       (0, {1: 0.5}, "names must be strings")]:
        with pytest.raises(ValueError, match=match):
            good.append(bad_epoch, bad_logs)
        assert good == {} and good.epoch == []
    with pytest.raises(ValueError, match="'epoch' must be a list of integers"):
        History.from_state_dict({"epoch": ["x"], "logs": {}})


def test_resuming_from_another_models_checkpoint_is_refused_before_training(tmp_path):
    tg.manual_seed(0)
    small = nn.Linear(2, 1)
    _run(small, optim.SGD(small.parameters(), lr=0.1),
         callbacks=[ModelCheckpoint(str(tmp_path / "ck.tg"), save_best_only=False)])
    # PyTorch refuses a state dict of another shape with a RuntimeError.
    with pytest.raises(RuntimeError, match="size mismatch"):
        torch.nn.Linear(3, 1).load_state_dict({k: torch.tensor(v) for k, v in small.state_dict().items()})
    big = nn.Linear(3, 1)
    before = _weights(big)
    with pytest.raises(RuntimeError, match=r"fit: resume_from=.*ck\.tg' holds the weights of another model"):
        _run(big, optim.SGD(big.parameters(), lr=0.1), train=_data(features=3), resume_from=tmp_path / "ck.tg")
    assert _same(big, before)
    same = nn.Linear(2, 1)
    before, adam = _weights(same), optim.Adam(same.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="does not fit this optimizer, scheduler or random generator"):
        _run(same, adam, resume_from=tmp_path / "ck.tg")
    assert _same(same, before) and adam.state_dict()["state"] == {}


def test_a_callback_refusal_after_resuming_puts_the_resumed_state_back(tmp_path):
    tg.manual_seed(0)
    model = nn.Linear(2, 1)
    _run(model, optim.SGD(model.parameters(), lr=0.1),
         callbacks=[ModelCheckpoint(str(tmp_path / "ck.tg"), save_best_only=False)])
    fresh = nn.Linear(2, 1)
    before, rng = _weights(fresh), tg.get_rng_state()
    with pytest.raises(KeyError, match="monitor='val_loss'"):
        _run(fresh, optim.SGD(fresh.parameters(), lr=0.1), epochs=4, resume_from=tmp_path / "ck.tg",
             callbacks=[EarlyStopping()])
    assert _same(fresh, before) and tg.get_rng_state() == rng


def test_fit_hands_back_every_modules_mode_on_an_exception_and_on_ctrl_c():
    model = nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    model.eval()
    model[1].train()  # a mixed state, to be handed back exactly

    for error in (RuntimeError("boom"), KeyboardInterrupt()):
        calls = []

        def loss_fn(output, target, error=error, calls=calls):
            calls.append(model.training)
            if len(calls) == 3:
                raise error
            return nn.functional.mse_loss(output, target)

        loader = DataLoader(TensorDataset(*_data()), batch_size=4)
        with pytest.raises(type(error)):
            fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), loader, progress=False)
        assert calls == [True, True, True]  # fit trained in training mode ...
        assert [m.training for m in model.modules()] == [False, False, True, False]  # ... and handed it back


# -- diagnose ------------------------------------------------------------------------------------------


def test_diagnose_of_an_empty_history_is_too_short_not_a_missing_key():
    found = diagnose({"train_loss": []})
    assert found.kinds == ["too_short"] and "no epochs recorded" in str(found)
    with pytest.raises(ValueError, match="needs the training loss"):
        diagnose(History())
    with pytest.raises(TypeError, match=r"history\['train_loss'\] must be a list of per-epoch values, got float"):
        diagnose({"train_loss": 0.5})


def test_a_metric_that_returns_no_number_is_named_in_a_type_error():
    model = nn.Linear(2, 1)

    def verdict(output, target):
        return "good"

    with pytest.raises(TypeError, match="fit: the metric 'verdict' must return a number, got str 'good'"):
        _run(model, optim.SGD(model.parameters(), lr=0.1), metrics=[verdict])
    history = _run(model, optim.SGD(model.parameters(), lr=0.1), metrics=[lambda output, target: tg.tensor(0.5)])
    assert history["<lambda>"] == [0.5, 0.5]  # a one-element Tensor is a number


def test_a_step_undone_by_terminate_on_nan_undoes_the_optimizer_state_too():
    """A finite loss whose step overflows a weight: weights *and* momentum go back to before that step.

    The reference is the same run stopped by hand after its two good epochs: the guarded run must end
    with exactly its weights and optimizer state (before the fix, the momentum buffer kept 3e37 and the
    step count 3, so a checkpoint or a further run would carry the bad step on).
    """
    def run(epochs, callbacks):
        tg.manual_seed(0)
        model = nn.Linear(1, 1)
        optimizer = optim.SGD(model.parameters(), lr=20, momentum=0.9)
        calls = []

        def loss_fn(output, target):
            calls.append(1)
            if len(calls) == 3:  # finite (about 1e37), but lr * gradient = 6e38 overflows float32
                return output.mean() * 0 + (model.bias * 0.1).sum() * 3e38
            return ((output - target) ** 2).mean() * 1e-3

        x, y = tg.tensor([[1.0], [2.0]]), tg.tensor([[1.0], [1.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit(model, loss_fn, optimizer, [(x, y)], epochs=epochs, callbacks=callbacks, progress=False)
        return model, optimizer

    guarded, guarded_opt = run(5, [TerminateOnNaN()])
    reference, reference_opt = run(2, [])
    assert _same(guarded, _weights(reference))
    got, want = guarded_opt.state_dict()["state"], reference_opt.state_dict()["state"]
    assert got.keys() == want.keys()
    for index in want:
        assert got[index]["step"] == want[index]["step"] == 2.0
        np.testing.assert_array_equal(got[index]["momentum_buffer"], want[index]["momentum_buffer"])


def test_gradient_clipping_covers_a_parameter_group_added_by_a_callback_mid_run():
    """`fit` reads the optimizer's groups at every step, as PyTorch's clip_grad_norm_(model.parameters()) would."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    optimizer = optim.SGD(model[0].parameters(), lr=0.0)

    class AddHead(tg.train.Callback):
        def on_epoch_begin(self, epoch, logs):
            if epoch == 1:
                optimizer.add_param_group({"params": list(model[1].parameters())})

    norms = []

    class Record(tg.train.Callback):
        def on_before_optimizer_step(self, batch, logs):
            norms.append((logs["grad_norm"], float(np.sqrt(sum(float((p.grad.numpy() ** 2).sum())
                                                                 for p in model.parameters())))))

    with pytest.warns(UserWarning, match="leaves out 2"):
        _run(model, optimizer, epochs=2, clip_grad_norm=1e-6, callbacks=[AddHead(), Record()])
    assert norms[1][1] == pytest.approx(1e-6, rel=1e-3)  # every parameter, the added head's too, was clipped
    assert norms[0][1] > 1e-6  # in the first epoch the head was not the optimizer's, so it was not clipped


@pytest.mark.parametrize("history, kinds", [
    ({"train_loss": [float("inf")] * 4, "val_loss": [float("inf")] * 4}, ["diverging"]),  # was: argmin of empty
    ({"train_loss": [1e308] * 4}, ["too_slow"]),  # was: RuntimeWarning overflow in the explosion threshold
    ({"train_loss": [1e308, 1.0, 1e308, 1.0, 1e308]}, ["oscillating"]),
    ({"train_loss": [0.0] * 6, "val_loss": [0.0] * 6, "lr": [0.0] * 6}, ["healthy"]),
])
def test_diagnose_at_the_edges_of_floating_point_is_silent(history, kinds):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's RuntimeWarnings would leak as errors here
        assert diagnose(history).kinds == kinds


def test_a_checkpoint_into_a_missing_directory_fails_before_training(tmp_path):
    model = nn.Linear(2, 1)
    before = _weights(model)
    saver = ModelCheckpoint(str(tmp_path / "no" / "ck-{epoch}.tg"), save_best_only=False)
    with pytest.raises(FileNotFoundError, match=r"ck-1\.tg'.* does not exist"):
        _run(model, optim.SGD(model.parameters(), lr=0.1), callbacks=[saver])
    assert _same(model, before) and saver.last_saved is None


def test_fit_called_inside_no_grad_trains_as_outside_it():
    """A global mode left on by the caller: fit's training records graphs anyway (PyTorch Lightning's fit does too;
    a hand-written PyTorch loop inside no_grad fails at backward)."""
    with torch.no_grad(), pytest.raises(RuntimeError, match="does not require grad"):
        torch.nn.functional.mse_loss(torch.nn.Linear(2, 1)(torch.ones(3, 2)), torch.ones(3, 1)).backward()

    def train(inside_no_grad):
        tg.manual_seed(0)
        model = nn.Linear(2, 1)
        if inside_no_grad:
            with tg.no_grad():
                history = _run(model, optim.SGD(model.parameters(), lr=0.1), val=_data(seed=1))
                assert not tg.is_grad_enabled()  # the caller's mode, handed back
        else:
            history = _run(model, optim.SGD(model.parameters(), lr=0.1), val=_data(seed=1))
        return _weights(model), history

    (inside, h_inside), (outside, h_outside) = train(True), train(False)
    assert all(np.array_equal(inside[k], outside[k]) for k in outside) and h_inside == h_outside


def test_on_exception_runs_on_every_callback_and_the_training_error_goes_on():
    """When fit raises, each callback's on_exception sees the error (an error inside one is ignored), then fit
    re-raises the training error itself; on_train_end does not run."""
    import tinygrad_edu as tg
    from tinygrad_edu import nn, optim
    from tinygrad_edu.train import Callback, fit

    seen = []

    class Boom(Callback):
        def on_epoch_end(self, epoch, logs):
            raise RuntimeError("boom")

    class Record(Callback):
        def on_exception(self, err):
            seen.append(str(err))
            raise ValueError("ignored")

        def on_train_end(self, logs):
            seen.append("end")

    x, y = tg.randn(8, 2), tg.randn(8, 1)
    model = nn.Linear(2, 1)
    with pytest.raises(RuntimeError, match="boom"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2, progress=False,
            callbacks=[Record(), Boom(), Record()])
    assert seen == ["boom", "boom"]
