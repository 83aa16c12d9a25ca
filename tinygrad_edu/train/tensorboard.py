"""`TensorBoard`: a callback that logs a `fit` run for TensorBoard, through ``tensorboardX``.

The sources' robust recipe ends with "log per epoch: train_loss, val_loss, the
current lr, the main metric". `History` keeps that log in memory; this
callback writes the same numbers as TensorBoard event files, so runs can be
watched live and compared side by side (``tensorboard --logdir runs``)::

    history = tg.train.fit(model, loss_fn, optimizer, loader, val=val_loader, epochs=50,
                           callbacks=[tg.train.TensorBoard("runs/sgd-0.1", histogram_freq=5)])

What is written, with the *global step* of every value being the epoch
(numbered from 0, as Keras numbers it, and counting across resumed runs):

- every name of the epoch's line of the `History` as a scalar, under that
  name: ``train_loss``, ``val_loss``, ``lr``, each metric and ``val_`` metric;
  with several parameter groups also ``lr_group_<i>``, the rate each group
  used in the epoch's last step;
- every ``histogram_freq`` epochs, a histogram of each parameter
  (``weights/<name>``, its values at the end of the epoch) and, with
  ``write_grads``, of each gradient (``grads/<name>``);
- optionally figures (a `tg.viz` loss-surface picture, or any matplotlib
  ``Figure`` a function of yours returns) as images;
- once, when training begins, the run's hyperparameters as a text table
  (``hparams``).

The event files are the ordinary ones TensorBoard reads
(``tensorboard.backend.event_processing.event_accumulator`` reads them back in
the tests); the library writes none of their bytes itself. ``tensorboardX`` is
an optional extra: ``pip install "tinygrad-edu[tensorboard]"``.
"""

from __future__ import annotations

import datetime
import itertools
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_positive
from .callbacks import Callback, Trainer

__all__ = ["TensorBoard"]

_INSTALL = 'pip install "tinygrad-edu[tensorboard]"'

# tensorboardX names an event file by the second and the host only, and opens it with 'wb': a second
# writer in the same directory within the same second would wipe the first one's file. TensorBoard's own
# writer adds the process id and a counter; so do we (zero-padded, so names sort in the order written).
_FILE_NUMBERS = itertools.count()


def _summary_writer_class() -> type:
    """``tensorboardX.SummaryWriter``, imported without importing PyTorch, or an ImportError naming the extra.

    ``tensorboardX`` imports ``torch`` when it can, only to accept torch tensors
    as values. This library never imports torch (and that import alone takes
    seconds), so unless the user imported torch already, ``import torch`` is
    made to fail while tensorboardX loads (it catches that failure and works
    on NumPy arrays, which is all it is given here).
    """
    block = "torch" not in sys.modules
    if block:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
    try:
        from tensorboardX import SummaryWriter
    except ImportError as err:
        raise ImportError(f"tg.train.TensorBoard needs tensorboardX, which writes TensorBoard's event files: "
                          f"{_INSTALL}") from err
    finally:
        if block and sys.modules.get("torch", False) is None:
            del sys.modules["torch"]
    return SummaryWriter


def _default_log_dir(comment: str) -> str:
    """PyTorch's ``SummaryWriter`` default: ``runs/<Mon DD_HH-MM-SS>_<host><comment>``."""
    now = datetime.datetime.now().strftime("%b%d_%H-%M-%S")
    return os.path.join("runs", f"{now}_{socket.gethostname()}{comment}")


def _check_writable_location(log_dir: str) -> None:
    """Refuse a ``log_dir`` that can be neither used nor created, without creating anything."""
    who = "TensorBoard"
    if os.path.exists(log_dir):
        if not os.path.isdir(log_dir):
            raise NotADirectoryError(f"{who}: log_dir {log_dir!r} exists and is not a directory")
        if not os.access(log_dir, os.W_OK | os.X_OK):
            raise PermissionError(f"{who}: log_dir {log_dir!r} is not writable")
        return
    # The nearest existing ancestor must be a directory we may create entries in.
    ancestor = os.path.dirname(os.path.abspath(log_dir))
    while not os.path.exists(ancestor):
        parent = os.path.dirname(ancestor)
        if parent == ancestor:
            break
        ancestor = parent
    if not os.path.isdir(ancestor):
        raise NotADirectoryError(f"{who}: log_dir {log_dir!r} cannot be created: {ancestor!r} is a file, "
                                 f"not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(f"{who}: log_dir {log_dir!r} cannot be created: {ancestor!r} is not writable")


def _make_log_dir(log_dir: str) -> None:
    """Create ``log_dir`` and make sure a file can be written there (a probe, removed at once)."""
    _check_writable_location(log_dir)
    try:
        os.makedirs(log_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=log_dir, prefix=".tensorboard-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise type(err)(err.errno, f"TensorBoard: cannot write to log_dir {log_dir!r} ({err.strerror})") from err


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class TensorBoard(Callback):
    r"""Write a `fit` run's History (and optionally histograms and figures) as TensorBoard event files.

    After every epoch :math:`e` (numbered from 0, counted across resumed
    runs) each value of the epoch's `History` line is written as a scalar
    with global step :math:`e` under its own name: ``train_loss``,
    ``val_loss``, ``lr`` (the first group's rate used in the epoch's last
    step, as in the History), each metric and ``val_`` metric; with several
    parameter groups, ``lr_group_<i>`` holds each group's rate in that step.
    tensorboardX writes events from a background thread and flushes them to
    disk at least every ``flush_secs`` seconds (and asks for a flush after every
    epoch), so TensorBoard follows a run as it trains; everything is on disk
    when the writer closes at the end of training.

    Every ``histogram_freq`` epochs (those with :math:`e \bmod
    \text{histogram\_freq} = 0`, Keras's rule), a histogram of every parameter
    is written as ``weights/<name>`` (``<name>`` from
    ``model.named_parameters()``: its values at the end of the epoch) and,
    with ``write_grads``, ``grads/<name>``: the gradient the epoch's *last
    optimizer step* used (after accumulation and clipping), copied in the
    ``on_before_optimizer_step`` hook of those epochs (`fit` clears gradients
    right after each step).

    A resumed run (``fit(resume_from=...)``) with the same ``log_dir`` goes on
    at the checkpoint's epoch; anything an interrupted run had logged at that
    epoch or later (written after its last checkpoint) is hidden from
    TensorBoard (tensorboardX's ``purge_step``), so the curves join up.

    Args:
        log_dir: the directory of the run's event files (created if needed;
            one directory per run, ``runs/<name>``, lets TensorBoard compare
            runs). ``None`` names it as PyTorch's ``SummaryWriter`` does:
            ``runs/<date-time>_<host><comment>``.
        histogram_freq: write weight (and gradient) histograms every this many
            epochs; ``0`` (the default, as in Keras) writes none.
        write_grads: with ``histogram_freq``, also write the gradients'
            histograms.
        update_freq: ``'epoch'`` (the default): scalars once per epoch; an
            integer :math:`k \geq 1` (``'batch'`` is 1, as in Keras): also
            every :math:`k`-th batch's
            ``batch_loss`` and ``batch_lr`` (and batch metrics, prefixed
            ``batch_``), into the sub-directory ``batch`` (TensorBoard shows it
            as its own run) with global step :math:`e \cdot B + b` for batch
            :math:`b` of epoch :math:`e`, :math:`B` the number of batches per
            epoch (counted in the run's first epoch; the epoch's batch values
            are written when it ends).
        figures: a function ``f(trainer) -> matplotlib Figure`` (or a dict
            ``{tag: f}``) whose figure is written as an image, e.g. ``lambda
            trainer: tg.viz.plot_contour(surface, path)``; the tag of a lone
            function is ``'figure'``. The figure is not closed (`tg.viz`'s
            figures are plain ``Figure`` objects, freed when unreferenced).
        figure_freq: ``0`` (the default): the figures are made once, when
            training ends (at the last epoch's step); :math:`k \geq 1`: every
            ``k`` epochs (:math:`e \bmod k = 0`).
        hparams: ``True`` (the default) writes, when training begins, a text
            table ``hparams`` of the optimizer, its groups' hyperparameters,
            the scheduler, the loss and ``epochs``; a dict adds (or overrides)
            rows of your own; ``False`` writes none.
        comment: appended to the generated directory name when ``log_dir`` is
            ``None`` (as PyTorch's ``comment``); otherwise unused.
        flush_secs: tensorboardX flushes pending events to disk at least this
            often (seconds; PyTorch's ``SummaryWriter`` waits 120, a long time
            to watch a small run).
        max_queue: the size of tensorboardX's queue of events waiting for its
            writer thread.

    Attributes:
        log_dir: the directory written to.
        writer: the open ``tensorboardX.SummaryWriter`` during `fit` (``None``
            before and after).

    Raises:
        ImportError: tensorboardX is not installed (the message says
            ``pip install "tinygrad-edu[tensorboard]"``), at construction.
        NotADirectoryError, PermissionError: ``log_dir`` can be neither used
            nor created (at construction), or turns out not to be writable
            when training begins (before anything is written).
        ValueError: a bad ``histogram_freq``, ``update_freq``,
            ``figure_freq``, ``flush_secs`` or ``max_queue``.
        TypeError: ``figures`` that are not callables, or a figure function
            that returns something other than a matplotlib Figure.

    When `fit` stops with an exception (Ctrl-C included), its
    ``on_exception`` hook closes the writer: every epoch that finished is on
    disk. Used outside `fit`, call `close` yourself.

    Example:
        >>> import tempfile, os
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn, optim
        >>> _ = tg.manual_seed(0)
        >>> X = tg.randn(64, 1); y = 3 * X + 1
        >>> model = nn.Linear(1, 1)
        >>> log_dir = os.path.join(tempfile.mkdtemp(), "linear")
        >>> history = tg.train.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
        ...                        epochs=5, progress=False, callbacks=[tg.train.TensorBoard(log_dir)])
        >>> any(name.startswith("events.out.tfevents") for name in os.listdir(log_dir))
        True
    """

    def __init__(self, log_dir: str | os.PathLike | None = None, histogram_freq: int = 0, write_grads: bool = False,
                 update_freq: str | int = "epoch", figures: Callable[[Trainer], Any] | Mapping[str, Callable] | None
                 = None, figure_freq: int = 0, hparams: bool | Mapping[str, Any] = True, comment: str = "",
                 flush_secs: float = 10, max_queue: int = 10) -> None:
        super().__init__()
        who = "TensorBoard"
        self.histogram_freq = check_int(who, "histogram_freq", histogram_freq, minimum=0)
        if not isinstance(write_grads, bool):
            raise ValueError(f"{who}: write_grads must be True or False, got {write_grads!r}")
        if write_grads and not self.histogram_freq:
            raise ValueError(f"{who}: write_grads=True writes the gradients' histograms with the weights', every "
                             f"histogram_freq epochs; set histogram_freq >= 1 too (it is 0: no histograms)")
        self.write_grads = write_grads
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"{who}: log_dir must be a directory path (str or os.PathLike) or None, "
                            f"got {type(log_dir).__name__}")
        if isinstance(update_freq, str):
            check_choice(who, "update_freq", update_freq, ("epoch", "batch"))
            self.update_freq: str | int = 1 if update_freq == "batch" else "epoch"
        else:
            self.update_freq = check_int(who, "update_freq", update_freq, minimum=1)
        if figures is None:
            self.figures: dict[str, Callable] = {}
        elif callable(figures):
            self.figures = {"figure": figures}
        elif isinstance(figures, Mapping) and all(callable(f) for f in figures.values()):
            self.figures = {str(tag): f for tag, f in figures.items()}
        else:
            raise TypeError(f"{who}: figures must be a function f(trainer) -> Figure or a dict {{tag: f}}, "
                            f"got {figures!r}")
        self.figure_freq = check_int(who, "figure_freq", figure_freq, minimum=0)
        if not isinstance(hparams, (bool, Mapping)):
            raise TypeError(f"{who}: hparams must be True, False or a dict of extra rows, got {hparams!r}")
        self.hparams = hparams
        self.comment = str(comment)
        self.flush_secs = check_positive(who, "flush_secs", flush_secs)
        self.max_queue = check_int(who, "max_queue", max_queue, minimum=1)
        self.log_dir = os.fspath(log_dir) if log_dir is not None else _default_log_dir(self.comment)
        _check_writable_location(self.log_dir)
        self._writer_class = _summary_writer_class()  # the missing extra is reported here, before fit
        self.writer: Any = None
        self._batch_writer: Any = None
        self._start_epoch = 0
        self._reset_run_state()

    def _reset_run_state(self) -> None:
        self._batches_per_epoch: int | None = None
        self._seen_batches = 0
        self._pending_batches: list[tuple[int, dict[str, float]]] = []
        self._rates: list[float] = []
        self._rates_used: list[float] = []
        self._grads: dict[str, np.ndarray] = {}

    # -- the writers ------------------------------------------------------------------------------

    def _open(self, log_dir: str, purge_step: int | None) -> Any:
        suffix = f".{os.getpid()}.{next(_FILE_NUMBERS):06d}"
        return self._writer_class(logdir=log_dir, purge_step=purge_step, flush_secs=self.flush_secs,
                                  max_queue=self.max_queue, filename_suffix=suffix)

    def flush(self) -> None:
        """Ask tensorboardX to flush its event files (events still queued for its thread follow shortly)."""
        for writer in (self.writer, self._batch_writer):
            if writer is not None:
                writer.flush()

    def close(self) -> None:
        """Flush and close the event files (`fit` calls this when training ends); safe to call twice."""
        for writer in (self.writer, self._batch_writer):
            if writer is not None:
                writer.close()
        self.writer = self._batch_writer = None

    def _parameter_names(self) -> dict[int, str]:
        return {id(p): name for name, p in self.trainer.model.named_parameters()}

    # -- hooks ---------------------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.close()  # an instance used for an earlier run starts afresh
        self._reset_run_state()
        _make_log_dir(self.log_dir)
        self._start_epoch = self.trainer.epoch if self.trainer is not None else 0
        self.writer = self._open(self.log_dir, self._start_epoch if self._start_epoch > 0 else None)
        if self.hparams is not False and self.trainer is not None:
            self.writer.add_text("hparams", self._hparams_table(), self._start_epoch)
            self.writer.flush()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        self._pending_batches = []
        self._rates = self._group_rates()
        self._rates_used = list(self._rates)
        self._grads = {}

    def on_before_optimizer_step(self, batch: int, logs: dict[str, Any]) -> None:
        if self.write_grads and self._histogram_epoch(self.trainer.epoch):
            names = self._parameter_names()
            self._grads = {names[id(p)]: p.grad.numpy().copy()
                           for group in self.trainer.optimizer.param_groups for p in group["params"]
                           if p.grad is not None and id(p) in names}

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        # The rates the step just taken used are those the groups held before it: a per-batch
        # scheduler has already moved param_groups on to the next step's rates.
        self._rates_used, self._rates = self._rates, self._group_rates()
        if self.update_freq != "epoch" and batch % self.update_freq == 0:
            values = {"batch_" + name: float(value) for name, value in logs.items()
                      if name not in ("size", "nonfinite_weights") and isinstance(value, (int, float))}
            self._pending_batches.append((batch, values))
        self._seen_batches = batch + 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        writer = self.writer
        for name, value in logs.items():
            writer.add_scalar(name, float(value), epoch)
        if len(self._rates_used) > 1:
            for index, rate in enumerate(self._rates_used):
                writer.add_scalar(f"lr_group_{index}", rate, epoch)
        if self._histogram_epoch(epoch):
            for name, p in self.trainer.model.named_parameters():
                writer.add_histogram(f"weights/{name}", p.numpy(), epoch)
            if self.write_grads:
                for name, grad in self._grads.items():
                    writer.add_histogram(f"grads/{name}", grad, epoch)
        if self.figure_freq and epoch % self.figure_freq == 0:
            self._write_figures(epoch)
        self._write_batches(epoch)
        self.flush()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        try:
            if self.figures and self.figure_freq == 0 and self.writer is not None and self.trainer is not None:
                self._write_figures(max(self.trainer.completed_epochs - 1, 0))
        finally:
            self.close()

    def on_exception(self, err: BaseException) -> None:
        self.close()  # every finished epoch reaches the disk, and the files are released

    # -- helpers -------------------------------------------------------------------------------------

    def _histogram_epoch(self, epoch: int) -> bool:
        return self.histogram_freq > 0 and epoch % self.histogram_freq == 0

    def _group_rates(self) -> list[float]:
        if self.trainer is None:
            return []
        return [float(group["lr"]) for group in self.trainer.optimizer.param_groups]

    def _write_batches(self, epoch: int) -> None:
        if not self._pending_batches:
            return
        if self._batches_per_epoch is None:
            self._batches_per_epoch = self._seen_batches
            purge = self._start_epoch * self._batches_per_epoch
            self._batch_writer = self._open(os.path.join(self.log_dir, "batch"), purge if purge > 0 else None)
        for batch, values in self._pending_batches:
            step = epoch * self._batches_per_epoch + batch
            for name, value in values.items():
                self._batch_writer.add_scalar(name, value, step)
        self._pending_batches = []

    def _write_figures(self, epoch: int) -> None:
        for tag, make in self.figures.items():
            figure = make(self.trainer)
            if not (hasattr(figure, "savefig") and hasattr(figure, "canvas")):
                raise TypeError(f"TensorBoard: the figure function for {tag!r} must return a matplotlib Figure, "
                                f"got {type(figure).__name__}")
            self.writer.add_figure(tag, figure, epoch, close=False)

    def _hparams_table(self) -> str:
        trainer = self.trainer
        optimizer = trainer.optimizer
        rows: dict[str, Any] = {"optimizer": type(optimizer).__name__}
        for index, group in enumerate(optimizer.param_groups):
            prefix = "" if len(optimizer.param_groups) == 1 else f"group_{index}."
            for key, value in group.items():
                if key != "params" and isinstance(value, (int, float, str, bool, tuple, type(None))):
                    rows[prefix + key] = value
        rows["scheduler"] = type(trainer.scheduler).__name__ if trainer.scheduler is not None else None
        loss_fn = trainer.loss_fn
        rows["loss_fn"] = getattr(loss_fn, "__name__", type(loss_fn).__name__)
        rows["epochs"] = trainer.epochs
        if isinstance(self.hparams, Mapping):
            rows.update({str(k): v for k, v in self.hparams.items()})
        lines = ["| hyperparameter | value |", "|---|---|"]
        lines += [f"| {name} | {_plain(value)} |" for name, value in rows.items()]
        return "\n".join(lines)

