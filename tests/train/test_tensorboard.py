"""tg.train.TensorBoard: the event files read back with TensorBoard's own reader, against the History, the
parameters and gradients (NumPy formulas), the rates (the schedule's formula), and the bad inputs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.data import DataLoader, TensorDataset
from tinygrad_edu.optim import lr_scheduler
from tinygrad_edu.train import Callback, ModelCheckpoint, TensorBoard, fit

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

_EVERYTHING = {kind: 0 for kind in ("scalars", "histograms", "images", "tensors", "compressedHistograms", "audio")}


def _read(log_dir):
    """TensorBoard's reader over one run directory, keeping every event (size guidance 0)."""
    return event_accumulator.EventAccumulator(os.fspath(log_dir), size_guidance=_EVERYTHING).Reload()


def _scalars(acc, tag):
    events = acc.Scalars(tag)
    return [e.step for e in events], [e.value for e in events]


def _event_files(log_dir):
    return sorted(name for name in os.listdir(log_dir) if name.startswith("events.out.tfevents"))


def _assert_whole_records(path):
    """The TFRecord framing (length, crc, data, crc) runs exactly to the end of the file: nothing half-written."""
    data = open(path, "rb").read()
    offset, records = 0, 0
    while offset < len(data):
        assert offset + 12 <= len(data), f"{path}: a truncated record header at byte {offset}"
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        offset += 12 + length + 4
        records += 1
    assert offset == len(data), f"{path}: the last record runs past the end of the file"
    assert records >= 1


def _regression(n=32, seed=0):
    tg.manual_seed(seed)
    x = tg.randn(n, 2)
    y = x[:, :1] * 2.0 - x[:, 1:] + 0.5
    return x, y


def mean_abs_error(output, target):
    return float(np.mean(np.abs(output.numpy() - target.numpy())))


class RecordEpochs(Callback):
    """Each epoch's parameters (a NumPy copy, float64) at its end: ``self.weights[epoch]``."""

    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs):
        self.weights[epoch] = {name: p.numpy().astype(np.float64) for name, p in
                               self.trainer.model.named_parameters()}


class BatchLosses(Callback):
    """Every batch's loss: ``self.losses[(epoch, batch)]``."""

    def __init__(self):
        super().__init__()
        self.losses = {}

    def on_batch_end(self, batch, logs):
        self.losses[(self.trainer.epoch, batch)] = logs["loss"]


def test_scalars_equal_the_history_and_hparams_are_written(tmp_path):
    x, y = _regression()
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    log_dir = tmp_path / "run"
    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05, momentum=0.9), loader, val=(x, y),
                  epochs=4, metrics=[mean_abs_error], progress=False,
                  callbacks=[TensorBoard(log_dir, hparams={"batch_size": 8})])
    acc = _read(log_dir)
    assert set(acc.Tags()["scalars"]) == set(history) == {"train_loss", "val_loss", "lr", "mean_abs_error",
                                                           "val_mean_abs_error"}
    for tag, values in history.items():
        steps, logged = _scalars(acc, tag)
        assert steps == history.epoch == [0, 1, 2, 3]
        # Event files hold float32: equal to the History's values rounded to float32, exactly.
        np.testing.assert_array_equal(np.float32(logged), np.float32(values), err_msg=tag)
    (text,) = acc.Tensors("hparams/text_summary")
    table = text.tensor_proto.string_val[0].decode()
    for row in ("| optimizer | SGD |", "| lr | 0.05 |", "| momentum | 0.9 |", "| epochs | 4 |",
                "| loss_fn | MSELoss |", "| batch_size | 8 |", "| scheduler | None |"):
        assert row in table
    assert acc.Tags()["histograms"] == [] and acc.Tags()["images"] == []
    files = _event_files(log_dir)
    assert len(files) == 1
    _assert_whole_records(log_dir / files[0])
    assert sorted(os.listdir(log_dir)) == files  # no probe or temporary file left behind


def test_weight_and_gradient_histograms_against_numpy(tmp_path):
    # Full-batch linear regression: epoch e takes one step, whose gradient is the MSE gradient at the weights
    # the epoch began with (those at the end of epoch e-1):  r = X w^T + b - y,  dL/dw = 2/n r^T X,  dL/db = 2/n sum r.
    x, y = _regression(n=40)
    model = nn.Linear(2, 1)
    initial = {name: p.numpy().astype(np.float64) for name, p in model.named_parameters()}
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    record = RecordEpochs()
    log_dir = tmp_path / "run"
    fit(model, nn.MSELoss(), optimizer, (x, y), epochs=5, progress=False,
        callbacks=[TensorBoard(log_dir, histogram_freq=2, write_grads=True), record])
    assert "step" not in vars(optimizer)  # the gradient recorder is gone after training
    acc = _read(log_dir)
    assert sorted(acc.Tags()["histograms"]) == ["grads/bias", "grads/weight", "weights/bias", "weights/weight"]
    x64, y64 = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    for tag in acc.Tags()["histograms"]:
        assert [e.step for e in acc.Histograms(tag)] == [0, 2, 4]  # epochs e with e % histogram_freq == 0
    for event in acc.Histograms("weights/weight"):
        values = record.weights[event.step]["weight"]
        histogram = event.histogram_value
        assert histogram.num == values.size
        assert histogram.min == pytest.approx(values.min(), rel=1e-6)
        assert histogram.max == pytest.approx(values.max(), rel=1e-6)
        assert histogram.sum == pytest.approx(values.sum(), rel=1e-6)
    for epoch in (0, 2, 4):
        before = initial if epoch == 0 else record.weights[epoch - 1]
        residual = x64 @ before["weight"].T + before["bias"] - y64
        expected = {"weight": 2.0 / len(x64) * residual.T @ x64, "bias": np.array([2.0 / len(x64) * residual.sum()])}
        for name, grad in expected.items():
            (event,) = [e for e in acc.Histograms(f"grads/{name}") if e.step == epoch]
            histogram = event.histogram_value
            assert histogram.num == grad.size
            assert histogram.min == pytest.approx(grad.min(), rel=1e-5, abs=1e-7)
            assert histogram.max == pytest.approx(grad.max(), rel=1e-5, abs=1e-7)
            assert histogram.sum_squares == pytest.approx((grad ** 2).sum(), rel=1e-5)


def test_gradients_are_the_clipped_ones_the_step_used(tmp_path):
    x, y = _regression(n=40)
    model = nn.Linear(2, 1)
    log_dir = tmp_path / "run"
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), (x, y), epochs=2, clip_grad_norm=0.05,
        progress=False, callbacks=[TensorBoard(log_dir, histogram_freq=1, write_grads=True)])
    acc = _read(log_dir)
    for epoch in (0, 1):
        squares = sum(e.histogram_value.sum_squares for tag in ("grads/weight", "grads/bias")
                      for e in acc.Histograms(tag) if e.step == epoch)
        # The raw gradient norm here is far above 0.05, so clip_grad_norm_ scales it to norm 0.05.
        assert np.sqrt(squares) == pytest.approx(0.05, rel=1e-4)


def test_rates_of_each_group_with_a_per_batch_schedule(tmp_path):
    # Two groups, StepLR(step_size=3, gamma=0.5) stepped after every batch, 4 batches an epoch: the epoch's
    # last step is step k = 4(e+1) - 1 (from 0), taken at rate lr0 * 0.5 ** (k // 3).
    x, y = _regression(n=32)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    optimizer = optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.02}],
                          lr=0.1)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    log_dir = tmp_path / "run"
    history = fit(model, nn.MSELoss(), optimizer, DataLoader(TensorDataset(x, y), batch_size=8), epochs=3,
                  scheduler=scheduler, scheduler_interval="batch", progress=False,
                  callbacks=[TensorBoard(log_dir)])
    acc = _read(log_dir)
    for index, lr0 in enumerate((0.1, 0.02)):
        steps, rates = _scalars(acc, f"lr_group_{index}")
        assert steps == [0, 1, 2]
        expected = [lr0 * 0.5 ** ((4 * (epoch + 1) - 1) // 3) for epoch in range(3)]
        np.testing.assert_allclose(rates, np.float32(expected), rtol=1e-7)
    np.testing.assert_array_equal(_scalars(acc, "lr")[1], _scalars(acc, "lr_group_0")[1])
    np.testing.assert_array_equal(np.float32(history["lr"]), np.float32(_scalars(acc, "lr")[1]))


def test_per_batch_scalars(tmp_path):
    x, y = _regression(n=32)
    model = nn.Linear(2, 1)

    losses = BatchLosses()
    log_dir = tmp_path / "run"
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), DataLoader(TensorDataset(x, y), batch_size=8),
        epochs=3, progress=False, callbacks=[TensorBoard(log_dir, update_freq=2), losses])
    acc = _read(log_dir / "batch")
    steps, values = _scalars(acc, "batch_loss")
    # Every 2nd batch (0 and 2 of 4), at global step epoch * 4 + batch.
    assert steps == [0, 2, 4, 6, 8, 10]
    expected = [losses.losses[(step // 4, step % 4)] for step in steps]
    np.testing.assert_array_equal(np.float32(values), np.float32(expected))
    assert _scalars(acc, "batch_lr")[1] == [pytest.approx(0.05)] * 6
    assert set(_read(log_dir).Tags()["scalars"]) == {"train_loss", "lr"}  # the run's own scalars stay per epoch
    assert TensorBoard(tmp_path / "keras", update_freq="batch").update_freq == 1  # Keras's name for every batch


def test_figures_as_images(tmp_path):
    x, y = _regression()
    model = nn.Linear(2, 1)
    made = []

    def picture(trainer):
        figure = tg.viz.plot_path_1d(tg.surfaces.parabola)
        made.append((trainer.epoch, figure))
        return figure

    log_dir = tmp_path / "run"
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=3, progress=False,
        callbacks=[TensorBoard(log_dir, figures={"surface/path": picture})])
    acc = _read(log_dir)
    (image,) = acc.Images("surface/path")
    assert image.step == 2 and [epoch for epoch, _ in made] == [2]  # figure_freq=0: once, at the last epoch
    width, height = (np.asarray(made[0][1].get_size_inches()) * made[0][1].dpi).round().astype(int)
    assert (image.width, image.height) == (width, height)
    assert image.encoded_image_string.startswith(b"\x89PNG\r\n\x1a\n")

    def small(trainer):  # any matplotlib Figure will do; a small one renders fast
        figure = Figure(figsize=(1.0, 0.5), dpi=40)
        figure.add_subplot().plot([0, 1], [trainer.epoch, 0])
        return figure

    log_dir = tmp_path / "every"
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=5, progress=False,
        callbacks=[TensorBoard(log_dir, figures=small, figure_freq=2)])
    images = _read(log_dir).Images("figure")
    assert [e.step for e in images] == [0, 2, 4] and (images[0].width, images[0].height) == (40, 20)


def test_a_figure_function_must_return_a_figure(tmp_path):
    x, y = _regression()
    model = nn.Linear(2, 1)
    callback = TensorBoard(tmp_path / "run", figures=lambda trainer: "not a figure", figure_freq=1)
    with pytest.raises(TypeError, match="matplotlib Figure, got str"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=2, progress=False,
            callbacks=[callback])
    callback.close()
    assert _scalars(_read(tmp_path / "run"), "train_loss")[0] == [0]  # the epoch's scalars were written first


def test_everything_up_to_a_crash_is_kept(tmp_path):
    x, y = _regression()
    model = nn.Linear(2, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.05)

    class Crash(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                raise RuntimeError("boom")

    log_dir = tmp_path / "run"
    callback = TensorBoard(log_dir, histogram_freq=1, write_grads=True)
    with pytest.raises(RuntimeError, match="boom"):
        fit(model, nn.MSELoss(), optimizer, (x, y), epochs=5, progress=False, callbacks=[callback, Crash()])
    # fit's on_exception hook closed the writer: everything up to the crash is on disk, nothing to call.
    assert callback.writer is None
    callback.close()  # closing again is fine
    assert _scalars(_read(log_dir), "train_loss")[0] == [0, 1, 2]
    assert [e.step for e in _read(log_dir).Histograms("grads/weight")] == [0, 1, 2]
    assert callback.writer is None and "step" not in vars(optimizer)
    _assert_whole_records(log_dir / _event_files(log_dir)[0])


def test_resumed_run_continues_and_hides_orphaned_epochs(tmp_path):
    x, y = _regression()
    log_dir, checkpoint = tmp_path / "run", str(tmp_path / "ckpt.tg")

    def run(epochs, lr=0.05, resume_from=None, extra=()):
        tg.manual_seed(1)
        model = nn.Linear(2, 1)
        return fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=lr),
                   DataLoader(TensorDataset(x, y), batch_size=16), epochs=epochs, progress=False,
                   resume_from=resume_from, callbacks=[TensorBoard(log_dir, update_freq=1), *extra])

    first_batches, resumed_batches = BatchLosses(), BatchLosses()
    first = run(2, extra=[ModelCheckpoint(checkpoint, save_best_only=False), first_batches])  # checkpoint at 2
    # An interrupted continuation that logged epochs 2 and 3 (with another rate) after the last checkpoint ...
    run(4, lr=0.2, resume_from=checkpoint)
    # ... then the real resume from that checkpoint: epochs 2..4.
    resumed = run(5, resume_from=checkpoint, extra=[resumed_batches])
    assert len(_event_files(log_dir)) == 3  # three runs in one directory (some within the same second): none lost
    steps, values = _scalars(_read(log_dir), "train_loss")
    assert steps == [0, 1, 2, 3, 4]
    assert resumed.epoch == [0, 1, 2, 3, 4] and resumed["train_loss"][:2] == first["train_loss"]
    np.testing.assert_array_equal(np.float32(values), np.float32(resumed["train_loss"]))
    # Per batch (2 batches an epoch): steps 0..9, the first run's up to epoch 1, the resumed run's after.
    steps, values = _scalars(_read(log_dir / "batch"), "batch_loss")
    assert steps == list(range(10))
    expected = {**first_batches.losses, **resumed_batches.losses}
    np.testing.assert_array_equal(np.float32(values), np.float32([expected[divmod(s, 2)] for s in steps]))


def test_one_instance_serves_two_runs(tmp_path):
    x, y = _regression()
    model = nn.Linear(2, 1)
    callback = TensorBoard(tmp_path / "a")
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=2, progress=False,
        callbacks=[callback])
    callback.log_dir = os.fspath(tmp_path / "b")
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=3, progress=False,
        callbacks=[callback])
    assert _scalars(_read(tmp_path / "a"), "train_loss")[0] == [0, 1]
    assert _scalars(_read(tmp_path / "b"), "train_loss")[0] == [0, 1, 2]


# -- bad input --------------------------------------------------------------------------------------------------

def test_a_log_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    # Under a regular file no directory can exist, even for root (permission bits would not stop root).
    with pytest.raises(NotADirectoryError, match="cannot be created: .*a_file.* is a file"):
        TensorBoard(blocker / "runs" / "exp")
    with pytest.raises(NotADirectoryError, match="exists and is not a directory"):
        TensorBoard(blocker)
    assert blocker.read_text() == "keep me" and sorted(os.listdir(tmp_path)) == ["a_file"]


def test_a_log_dir_that_became_unusable_fails_before_training(tmp_path):
    x, y = _regression()
    model = nn.Linear(2, 1)
    before = {name: p.numpy().copy() for name, p in model.named_parameters()}
    callback = TensorBoard(tmp_path / "later" / "run")
    (tmp_path / "later").write_text("")  # now a file where the directory was to be
    with pytest.raises(NotADirectoryError, match="later"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), (x, y), epochs=2, progress=False,
            callbacks=[callback])
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), before[name])  # no step was taken


def test_missing_tensorboardx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # `import tensorboardX` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[tensorboard\]"'):
        TensorBoard(tmp_path / "run")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"histogram_freq": -1}, "histogram_freq must be an integer >= 0, got -1"),
    ({"update_freq": "step"}, "update_freq must be 'epoch' or 'batch', got 'step'"),
    ({"update_freq": 0}, "update_freq must be an integer >= 1, got 0"),
    ({"figure_freq": 1.5}, "figure_freq must be an integer >= 0, got 1.5"),
    ({"flush_secs": 0}, "flush_secs must be a finite number > 0, got 0"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorBoard(tmp_path / "run", **kwargs)
    assert os.listdir(tmp_path) == []


def test_bad_figures_and_hparams(tmp_path):
    with pytest.raises(TypeError, match="figures must be a function"):
        TensorBoard(tmp_path / "run", figures=["not callable"])
    with pytest.raises(TypeError, match="hparams must be True, False or a dict"):
        TensorBoard(tmp_path / "run", hparams="lr=0.1")


def test_default_log_dir_is_named_as_pytorch_names_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    callback = TensorBoard(comment="_sgd")
    assert callback.log_dir.startswith("runs" + os.sep) and callback.log_dir.endswith("_sgd")
    assert not os.path.exists("runs")  # nothing is created before training


def test_torch_is_not_imported():
    code = ("import sys, tempfile, tinygrad_edu as tg; tg.train.TensorBoard(tempfile.mkdtemp()); "
            "print('torch' in sys.modules, 'tensorboardX' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_on_before_optimizer_step_sees_each_steps_clipped_gradient():
    """The hook runs once per optimizer step, after accumulation and clipping, with the gradient the step uses."""
    from tinygrad_edu.train import Callback, fit

    class Spy(Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_before_optimizer_step(self, batch, logs):
            norm = np.linalg.norm(np.concatenate([p.grad.numpy().ravel() for p in self.trainer.model.parameters()]))
            self.seen.append((batch, norm, logs["grad_norm"]))

    tg.manual_seed(0)
    x, y = tg.randn(40, 3), tg.randn(40, 1)
    model = tg.nn.Linear(3, 1)
    spy = Spy()
    fit(model, tg.nn.MSELoss(), tg.optim.SGD(model.parameters(), lr=0.1), tg.data.DataLoader(
        tg.data.TensorDataset(x, y), batch_size=10), epochs=2, accumulate=2, clip_grad_norm=0.5, progress=False,
        callbacks=[spy])
    assert [batch for batch, _, _ in spy.seen] == [1, 3, 1, 3]        # 4 batches an epoch, a step every 2
    assert any(before > 0.5 for _, _, before in spy.seen)            # some steps needed clipping
    for _, norm, before in spy.seen:                                 # clipped before the hook
        assert norm == pytest.approx(min(before, 0.5), rel=1e-5)
