"""Callbacks: code that `fit` runs at fixed points of training, as in Keras.

`fit` calls, on every callback, in the order they were given::

    on_train_begin(logs)
    for each epoch:
        on_epoch_begin(epoch, logs)
        for each batch:
            ... forward, loss, backward ...
            (when the batch completes a step: clipping, then
             on_before_optimizer_step(batch, logs), the step, zero_grad,
             a per-batch scheduler's step)
            on_batch_end(batch, logs)
        ... validation, scheduler step, history ...
        on_epoch_end(epoch, logs)
    on_train_end(logs)                   (or, if training raised: on_exception(err))

Epochs are numbered from 0, as Keras numbers them, and count across resumed
runs (epoch 3 is the fourth pass over the data, even in a run resumed from a
checkpoint written after three epochs); batches are numbered from 0 within
their epoch, as Keras numbers them too. (Keras, and `fit`'s progress bar,
*print* epoch 0 as "Epoch 1".)

What a hook receives:

- ``on_batch_end``: ``logs = {'loss', 'size', 'lr'}`` — the batch's loss (as
  computed, before any ``1/accumulate`` scaling), its number of samples, the
  first group's rate — plus each metric on the batch, and ``'grad_norm'`` (the
  norm before clipping) after a step when ``clip_grad_norm`` is set. ``'lr'``
  is the rate this batch's step used: a per-batch scheduler has already been
  stepped when ``on_batch_end`` runs, so the optimizer's ``param_groups`` then
  hold the *next* step's rate (and momentum, for `OneCycleLR`).
- ``on_epoch_end``: the epoch's line of the `History`: ``'train_loss'``,
  ``'val_loss'``, ``'lr'``, the metrics and ``'val_'`` metrics.
- ``on_train_end``: the last epoch's logs (empty if no epoch ran).

Every callback also sees the whole run through ``self.trainer``, a `Trainer`
that `fit` sets before ``on_train_begin``: the model, loss function, optimizer,
scheduler, the `History` so far, the current epoch and batch, and the
``stop_training`` flag. Setting ``self.trainer.stop_training = True`` ends
training: after the current batch when set in ``on_batch_end`` (the epoch is
then closed as usual: validation, history, ``on_epoch_end``), after the current
epoch when set in ``on_epoch_end``.

Writing your own::

    class PrintEvery(tg.train.Callback):
        def __init__(self, every=10):
            super().__init__()
            self.every = every

        def on_epoch_end(self, epoch, logs):
            if (epoch + 1) % self.every == 0:
                print(f"epoch {epoch + 1}: loss {logs['train_loss']:.4f}")

    class StopBelow(tg.train.Callback):
        def on_epoch_end(self, epoch, logs):
            if logs["train_loss"] < 1e-3:
                self.trainer.stop_training = True
"""

from __future__ import annotations

import math
import os
import string
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .._checks import check_choice, check_int, check_non_negative, check_number
from ..rng import get_rng_state
from ..serialization import save
from .history import History

__all__ = ["Trainer", "Callback", "EarlyStopping", "TerminateOnNaN", "ModelCheckpoint", "CSVLogger",
           "checkpoint"]


class Trainer:
    """The state of a running `fit`, shared with every callback as ``callback.trainer``.

    `fit` makes one and keeps it up to date; callbacks read it, and may change
    the model's weights, the optimizer's rates or ``stop_training``.

    Attributes:
        model: the `Module` being trained.
        loss_fn: the loss function ``loss_fn(output, target)``.
        optimizer: the optimizer.
        scheduler: the learning-rate scheduler, or ``None``.
        history: the `History` recorded so far (the current epoch is added
            just before ``on_epoch_end``).
        epochs: the total number of epochs asked for.
        epoch: the current epoch, numbered from 0 as in Keras (before the
            first, the number of the first epoch to run).
        batch: the current batch within the epoch, from 0 (``None`` before
            the epoch's first batch).
        completed_epochs: how many epochs have finished (counted across a
            resumed run): what a checkpoint stores as ``'epoch'``.
        stop_training: set it to ``True`` to end training (see the module docs).
        callbacks: every callback of the run, in order.
        log_names: the names every epoch's logs will hold (``'train_loss'``,
            ``'val_loss'`` with validation data, ``'lr'``, the metrics and their
            ``'val_'`` forms), known before the first epoch, so callbacks can
            check in ``on_train_begin`` what they will look up (``None``: not
            known).
    """

    def __init__(self, model: Any, loss_fn: Any, optimizer: Any, scheduler: Any, history: History,
                 epochs: int, callbacks: list[Callback], log_names: list[str] | None = None) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.history = history
        self.epochs = epochs
        self.epoch = 0
        self.batch: int | None = None
        self.completed_epochs = 0
        self.stop_training = False
        self.callbacks = callbacks
        self.log_names = None if log_names is None else list(log_names)

    def __repr__(self) -> str:
        return (f"Trainer(epoch={self.epoch}/{self.epochs}, batch={self.batch}, "
                f"stop_training={self.stop_training})")


def checkpoint(trainer: Trainer) -> dict[str, Any]:
    """Everything a resumed `fit` needs, as plain data for ``tg.save``.

    ``{'model', 'optimizer', 'scheduler' (or None), 'epoch', 'history', 'rng'}``:
    the state dicts (the model's with its persistent buffers), the number of
    finished epochs (so after the epoch numbered 2, ``'epoch'`` is 3, and a
    resumed run starts with the epoch numbered 3), the `History` so far, and
    ``tg.get_rng_state()`` (so shuffling and dropout go on exactly as in an
    uninterrupted run).
    """
    scheduler = trainer.scheduler
    return {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(trainer.completed_epochs),
        "history": trainer.history.state_dict(),
        "rng": get_rng_state(),
    }


class Callback:
    """Base class of callbacks: override any of the hooks (each does nothing here).

    ``self.trainer`` is the running `Trainer` (``None`` outside `fit`). See
    the module documentation for when each hook runs and what ``logs`` holds.
    """

    def __init__(self) -> None:
        self.trainer: Trainer | None = None

    def set_trainer(self, trainer: Trainer | None) -> None:
        """Called by `fit` before ``on_train_begin``."""
        self.trainer = trainer

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        """Before epoch ``epoch`` (from 0, as in Keras)."""

    def on_before_optimizer_step(self, batch: int, logs: dict[str, Any]) -> None:
        """Just before the optimizer steps after batch ``batch``: the gradients are there (accumulated, clipped).

        The only hook that sees them: `fit` zeroes them right after the step.
        """

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        """After batch ``batch`` (from 0 within the epoch) and the step it triggered."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """After epoch ``epoch`` (from 0): ``logs`` is its line of the History."""

    def on_train_end(self, logs: dict[str, Any]) -> None:
        """After the last epoch (or after training was stopped)."""

    def on_exception(self, err: BaseException) -> None:
        """When `fit` stops on an exception (Ctrl-C included), instead of ``on_train_end``: release files and
        the like. An error raised here is ignored; `fit` then re-raises ``err``."""


def _monitored(who: str, monitor: str, logs: Mapping[str, Any]) -> float:
    """``logs[monitor]`` as a float, or a KeyError that lists what there is to monitor."""
    if monitor not in logs:
        raise KeyError(f"{who}: monitor={monitor!r} is not in the epoch's logs; available keys are "
                       f"{sorted(logs)} ('val_' ones need a validation set)")
    return float(logs[monitor])


def _check_mode(who: str, mode: Any) -> str:
    return check_choice(who, "mode", mode, ("min", "max"))


def _check_name(who: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{who}: {name} must be the name of a logged value (a non-empty string such as "
                         f"'val_loss'), got {value!r}")
    return value


def _check_logged(who: str, what: str, names: Any, trainer: Trainer | None) -> None:
    """Before training: a KeyError if a name looked up in every epoch's logs will not be there."""
    known = getattr(trainer, "log_names", None)
    if known is None:
        return
    for name in names:
        if name not in known:
            raise KeyError(f"{who}: {what}={name!r} is not in the epoch's logs; available keys are "
                           f"{sorted(known)} ('val_' ones need a validation set)")


def _check_path(who: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{who}: path must be a file path (str or os.PathLike), got {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str) or not path:
        raise ValueError(f"{who}: path must be a non-empty file path, got {value!r}")
    return path


def _check_directory(who: str, path: str) -> None:
    """Before training: the file's directory must exist (a file there is written after the first epoch)."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: cannot write {path!r}: it is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{who}: cannot write {path!r}: the directory {directory!r} does not exist "
                                f"(or is not a directory)")


def _pattern_fields(who: str, path: str) -> list[str]:
    """The ``{name}`` fields of a file name pattern, each checked to format a number."""
    try:
        parsed = list(string.Formatter().parse(path))
    except ValueError as err:
        raise ValueError(f"{who}: path {path!r} is not a valid pattern ({err}); write braces that are not "
                         f"fields as '{{{{' and '}}}}'") from None
    fields = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or conversion is not None or "{" in (spec or ""):
            raise ValueError(f"{who}: path {path!r} has the field {{{field}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}}; fields are names of the logs or 'epoch', with a "
                             f"number format, such as {{epoch:03d}} or {{val_loss:.3f}}")
        try:
            format(1 if field == "epoch" else 1.0, spec or "")
        except ValueError as err:
            raise ValueError(f"{who}: path {path!r}: the format {{{field}:{spec}}} does not format "
                             f"{'an integer' if field == 'epoch' else 'a number'} ({err})") from None
        fields.append(field)
    return fields


class EarlyStopping(Callback):
    r"""Stop training when a monitored quantity has stopped improving; keep the best weights.

    The sources' third step of the robust recipe (monitor ``val_loss``,
    patience 10, min_delta 1e-4, restore the best weights), with Keras's rule.
    After each epoch, with :math:`c` the monitored value and :math:`b` the best
    so far (none at first), and a counter ``wait``:

    .. code-block:: text

        wait = wait + 1
        improved = c < b - min_delta        (mode='min'; no best yet counts as improved)
                   c > b + min_delta        (mode='max')
        if improved:  b = c;  remember the weights;  wait = 0 (if c also beats the baseline)
        elif wait >= patience:  stop training

    so training stops after ``patience`` epochs in a row without improvement.
    At the end of training (stopped early or not) the model gets back the
    weights of the best epoch, when ``restore_best_weights``.

    Set the patience longer than a `ReduceLROnPlateau`'s, so a cut of the rate
    gets the chance to help before training stops (the sources' advice).

    Args:
        monitor: the name to watch in the epoch logs (``'val_loss'``,
            ``'train_loss'``, ``'val_accuracy'``, ...).
        patience: epochs without improvement before stopping (an integer >= 0).
        min_delta: the least change that counts as improvement (>= 0).
        restore_best_weights: load the best epoch's weights when training ends.
        mode: ``'min'`` (a loss) or ``'max'`` (an accuracy).
        baseline: if given, ``wait`` is only reset by values that also beat it,
            so training stops after ``patience`` epochs unless the baseline is
            beaten.
        start_from_epoch: the number of first epochs to ignore (warm-up): as in
            Keras, epochs numbered below it are not monitored.
        verbose: print a line when stopping and when restoring weights.

    Attributes:
        best: the best monitored value (``None`` before the first one).
        best_epoch: the epoch it came from (numbered from 0; 0 before).
        stopped_epoch: the epoch after which training was stopped (numbered
            from 0, as in Keras; 0 if it was not, which cannot be confused: no
            run stops after its first epoch, which always improves on nothing).
        wait: epochs since the last improvement.

    Raises:
        ValueError: at construction, for an argument out of its range or of
            the wrong type.
        KeyError: when `fit` starts (before the first epoch), if ``monitor``
            will not be in the logs (the message lists what will be); outside
            `fit`, at the first epoch whose logs lack it.

    Example:
        >>> from tinygrad_edu.train import EarlyStopping
        >>> stop = EarlyStopping(patience=2, min_delta=0.0, restore_best_weights=False)
        >>> stop.on_train_begin({})
        >>> for epoch, val_loss in enumerate([1.0, 0.8, 0.9, 0.85, 0.7]):
        ...     stop.on_epoch_end(epoch, {"val_loss": val_loss})
        ...     if stop.stopped_epoch:
        ...         break
        >>> stop.stopped_epoch, stop.best_epoch, stop.best
        (3, 1, 0.8)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 1e-4,
                 restore_best_weights: bool = True, mode: str = "min", baseline: float | None = None,
                 start_from_epoch: int = 0, verbose: bool = False) -> None:
        super().__init__()
        who = "EarlyStopping"
        self.patience = check_int(who, "patience", patience, minimum=0)
        self.min_delta = check_non_negative(who, "min_delta", min_delta)
        start_from_epoch = check_int(who, "start_from_epoch", start_from_epoch, minimum=0)
        self.monitor = _check_name(who, "monitor", monitor)
        self.restore_best_weights = bool(restore_best_weights)
        self.mode = _check_mode(who, mode)
        self.baseline = None if baseline is None else check_number(who, "baseline", baseline)
        self.start_from_epoch = int(start_from_epoch)
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: OrderedDict | None = None

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        _check_logged("EarlyStopping", "monitor", [self.monitor], self.trainer)
        self._reset()  # so one instance can serve several runs

    def _model(self) -> Any:
        return self.trainer.model if self.trainer is not None else None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        current = _monitored("EarlyStopping", self.monitor, logs)
        if epoch < self.start_from_epoch:  # Keras's rule, with epochs numbered from 0
            return
        model = self._model()
        if self.restore_best_weights and self.best_weights is None and model is not None:
            # Until something improves, the weights at hand are the best ones known.
            self.best_weights = model.state_dict()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights and model is not None:
                self.best_weights = model.state_dict()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            if self.trainer is not None:
                self.trainer.stop_training = True

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.stopped_epoch and self.verbose:
            # Printed from 1, as Keras prints it.
            print(f"Epoch {self.stopped_epoch + 1}: early stopping ({self.monitor} did not improve for "
                  f"{self.wait} epochs; best {self.best} at epoch {self.best_epoch + 1})")
        model = self._model()
        if self.restore_best_weights and self.best_weights is not None and model is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}")
            model.load_state_dict(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite, keeping the last finite weights.

    A loss that turns NaN or inf is the sources' first sign of a learning rate
    that is too high (or of a numerical problem): nothing useful follows, and
    one more step would write NaN into every weight. With this callback, `fit`
    checks each batch's loss *before* backpropagating it: a non-finite loss is
    never stepped with, so the model keeps the weights that produced it (the
    last finite ones), and any pending accumulated gradient is dropped. If a
    step with a finite loss still makes a weight non-finite (a gradient that
    overflowed), `fit` undoes that whole step — the weights and the optimizer's
    state (moments, step counts), through ``optimizer.state_dict()`` taken
    before each step while this callback is in use (a few percent of a small
    model's step) — and the callback stops training as well, so a checkpoint
    written afterwards holds no trace of the bad step.

    Stopping warns (``RuntimeWarning``) with the epoch and batch.

    Attributes:
        stopped_epoch, stopped_batch: where training was stopped (``None`` if it was not).
        message: the warning's text (``None`` if it did not stop).
    """

    #: Tells `fit` to check losses before the backward pass and weights after each step.
    guards_weights = True

    def __init__(self) -> None:
        super().__init__()
        self.stopped_epoch: int | None = None
        self.stopped_batch: int | None = None
        self.message: str | None = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.stopped_epoch = self.stopped_batch = self.message = None

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        loss = logs.get("loss")
        bad_loss = loss is not None and not math.isfinite(loss)
        if not bad_loss and not logs.get("nonfinite_weights", False):
            return
        epoch = self.trainer.epoch if self.trainer is not None else None
        if bad_loss:
            what = f"the loss is {loss}"
        else:
            what = "the step made a weight non-finite (the step was undone: weights and optimizer state)"
        self.stopped_epoch, self.stopped_batch = epoch, batch
        self.message = (f"TerminateOnNaN: epoch {epoch}, batch {batch} (both numbered from 0): {what}; "
                        f"training stopped. "
                        f"The model keeps the last finite weights. Try a learning rate 10x lower, "
                        f"warmup, or gradient clipping.")
        warnings.warn(self.message, RuntimeWarning, stacklevel=2)
        if self.trainer is not None:
            self.trainer.stop_training = True


class ModelCheckpoint(Callback):
    """Save a checkpoint at the end of epochs; ``fit(resume_from=path)`` continues from it.

    The file (written atomically with ``tg.save``) holds the dict::

        {'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
         'scheduler': scheduler.state_dict() or None,
         'epoch': the number of epochs finished (the epoch just finished, numbered from 0, plus 1),
         'history': history.state_dict(), 'rng': tg.get_rng_state()}

    Args:
        path: the file to write. It may contain ``{epoch}`` or names of the logs
            (``'ckpt-{epoch:03d}-{val_loss:.3f}.tg'``) to keep one file per save;
            as in Keras, ``{epoch}`` is filled with the number of epochs
            finished (the checkpoint's ``'epoch'``: 1 after the epoch numbered 0).
        monitor: the name watched when ``save_best_only`` (``'val_loss'``, ...).
        save_best_only: save only when ``monitor`` is better than at every
            earlier save (strictly); otherwise save after every epoch.
        mode: ``'min'`` or ``'max'``: which way is better for ``monitor``.

    Raises:
        ValueError: at construction, a path pattern that cannot be filled
            (unbalanced braces, a positional ``{}`` or ``{0}``, an attribute
            or index, a format that does not format a number), or a bad
            ``monitor``/``mode``.
        KeyError: when `fit` starts (before the first epoch), a field of the
            pattern, or the ``monitor`` of ``save_best_only``, that will not be
            in the logs (Keras finds it only at the first save).
        FileNotFoundError, IsADirectoryError: when `fit` starts, a path whose
            directory does not exist, or that is a directory.

    Attributes:
        best: the best monitored value saved so far (``None`` before).
        best_epoch: the epoch of that save (numbered from 0; 0 before).
        last_saved: the path of the last file written (``None`` before).
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", save_best_only: bool = True,
                 mode: str = "min") -> None:
        super().__init__()
        who = "ModelCheckpoint"
        self.path = _check_path(who, path)
        self.fields = _pattern_fields(who, self.path)
        self.monitor = _check_name(who, "monitor", monitor)
        self.save_best_only = bool(save_best_only)
        self.mode = _check_mode(who, mode)
        self.best: float | None = None
        self.best_epoch = 0
        self.last_saved: str | None = None

    def _filled(self, epoch: int, logs: Mapping[str, Any]) -> str:
        if not self.fields:
            return self.path.format() if "{" in self.path or "}" in self.path else self.path
        values = {name: _monitored("ModelCheckpoint", name, logs) for name in self.fields if name != "epoch"}
        return self.path.format(**{**values, "epoch": epoch + 1})

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        who = "ModelCheckpoint"
        _check_logged(who, "the path's field", [name for name in self.fields if name != "epoch"], self.trainer)
        if self.save_best_only:
            _check_logged(who, "monitor", [self.monitor], self.trainer)
        known = getattr(self.trainer, "log_names", None)
        if known is not None:  # the directory of the file the first epoch will write (filled with dummies)
            _check_directory(who, self._filled(0, dict.fromkeys(self.fields, 0.0)))
        self.best, self.best_epoch, self.last_saved = None, 0, None

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.save_best_only:
            current = _monitored("ModelCheckpoint", self.monitor, logs)
            if not self._better(current):
                return
            self.best, self.best_epoch = current, epoch
        path = self._filled(epoch, logs)
        save(checkpoint(self.trainer), path)
        self.last_saved = path


class CSVLogger(Callback):
    """Write the History to a CSV file after every epoch: one row per epoch, ``epoch`` first.

    The whole file is rewritten atomically each time (temporary file, then
    rename), so it is always complete; in a resumed run it also holds the
    epochs before the checkpoint.

    Args:
        path: the CSV file.
        separator: the column separator (one character, not a quote, a
            newline, a digit or a character numbers are written with).

    Raises:
        TypeError, ValueError: at construction, a path that is not one, or a
            separator that would make the file unreadable.
        FileNotFoundError, IsADirectoryError: when `fit` starts, a path whose
            directory does not exist, or that is a directory.
    """

    def __init__(self, path: str | os.PathLike, separator: str = ",") -> None:
        super().__init__()
        self.path = _check_path("CSVLogger", path)
        if not isinstance(separator, str) or len(separator) != 1 or separator.isalnum() or separator in "\"\r\n.-+_":
            raise ValueError(f"CSVLogger: separator must be one character that cannot appear in a number or a name "
                             f"of the logs (',', ';', '\\t', ...), got {separator!r}")
        self.separator = separator

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        if self.trainer is not None:
            _check_directory("CSVLogger", self.path)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.trainer.history.to_csv(self.path, separator=self.separator)
