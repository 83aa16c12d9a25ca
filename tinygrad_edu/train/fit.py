"""`fit`: the sources' training loop, written once, with the robust recipe's trimmings.

The loop every training run repeats — take a batch, forward, loss,
backpropagate, update — plus what the sources add around it: validation each
epoch, a learning-rate schedule, early stopping, gradient clipping, gradient
accumulation, and a per-epoch log of train loss, validation loss, rate and
metrics. Written out by hand, one epoch of `fit` is::

    model.train()
    for inputs, target in train:
        loss = loss_fn(model(inputs), target)
        (loss / accumulate).backward()
        if accumulate batches are in (or this is the last batch):
            clip_grad_norm_(params, clip_grad_norm)      # if clip_grad_norm
            optimizer.step(); optimizer.zero_grad()
            scheduler.step()                             # if scheduler_interval == 'batch'
    model.eval()
    with tg.no_grad():
        val_loss = mean of loss_fn(model(inputs), target) over val, weighted by batch size
    scheduler.step()          # or scheduler.step(val_loss) for ReduceLROnPlateau

so a hand-written loop and `fit` take the same steps, bit for bit.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_positive
from ..autograd import enable_grad, no_grad
from ..nn.utils import clip_grad_norm_
from ..optim.lr_scheduler import ReduceLROnPlateau
from ..rng import get_rng_state, set_rng_state
from ..serialization import load
from ..tensor import Tensor
from .callbacks import Callback, Trainer
from .history import History

__all__ = ["fit", "accuracy", "METRICS"]


# -- metrics ---------------------------------------------------------------------------------------

def accuracy(output: Any, target: Any) -> float:
    """The fraction of samples whose predicted class is the target class.

    - Several outputs per sample (shape ``(n, C)``, ``C > 1``): the predicted
      class is the largest output (logits or probabilities alike); ``target``
      holds class indices ``(n,)``, or one-hot rows / probabilities ``(n, C)``.
    - One output per sample (shape ``(n,)`` or ``(n, 1)``): the output is a
      *logit*, as ``nn.BCEWithLogitsLoss`` takes it, and predicts class 1 when
      it is positive (a probability above 0.5); ``target`` holds 0 and 1.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.train import accuracy
        >>> accuracy(tg.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), tg.tensor([0, 1, 1]))
        0.6666666666666666
    """
    out = np.asarray(output.numpy() if isinstance(output, Tensor) else output)
    tgt = np.asarray(target.numpy() if isinstance(target, Tensor) else target)
    if out.ndim >= 2 and out.shape[-1] > 1:
        predicted = out.argmax(axis=-1)
        if tgt.shape == out.shape:
            tgt = tgt.argmax(axis=-1)
    else:
        predicted = out > 0
        tgt = tgt > 0.5
    if predicted.size != tgt.size:
        raise ValueError(f"accuracy: {predicted.size} predictions (output shape {out.shape}) but "
                         f"{tgt.size} targets (shape {tgt.shape})")
    if predicted.size == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(predicted.reshape(-1) == tgt.reshape(-1)))


METRICS: dict[str, Callable[[Any, Any], float]] = {"accuracy": accuracy}
_RESERVED = {"loss", "train_loss", "val_loss", "lr", "epoch"}


def _metric_name(fn: Callable) -> str:
    if isinstance(fn, functools.partial):
        return _metric_name(fn.func)
    return getattr(fn, "__name__", type(fn).__name__)


def _resolve_metrics(metrics: Any) -> list[tuple[str, Callable[[Any, Any], float]]]:
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    resolved = []
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in METRICS:
                raise ValueError(f"fit: unknown metric {metric!r}; known names are {sorted(METRICS)}, "
                                 f"or pass a function f(output, target) -> float")
            resolved.append((metric, METRICS[metric]))
        elif callable(metric):
            resolved.append((_metric_name(metric), metric))
        else:
            raise ValueError(f"fit: a metric must be a name or a function f(output, target), got {metric!r}")
    names = [name for name, _ in resolved]
    for name in names:
        if name in _RESERVED or name.startswith("val_") or names.count(name) > 1:
            raise ValueError(f"fit: metric name {name!r} is reserved or repeated (its history key must differ "
                             f"from {sorted(_RESERVED)}, from the other metrics, and not start with 'val_')")
    return resolved


# -- data ---------------------------------------------------------------------------------------------

def _as_batches(name: str, data: Any) -> Iterable[Any]:
    """A re-iterable source of batches: a DataLoader as it is, an ``(X, y)`` tuple as one full batch."""
    if isinstance(data, tuple):
        if len(data) < 2 or not all(isinstance(t, (Tensor, np.ndarray)) for t in data):
            raise TypeError(f"fit: {name} given as a tuple must be (X, y) Tensors (one full batch), "
                            f"got a tuple of {[type(t).__name__ for t in data]}")
        rows = [int(t.shape[0]) if len(t.shape) else None for t in data]
        if rows[0] == 0 or len(set(rows)) > 1:
            raise ValueError(f"fit: {name} given as a tuple must hold tensors with the same number of samples "
                             f"(> 0) along dimension 0, got shapes {[tuple(t.shape) for t in data]}")
        return [tuple(t if isinstance(t, Tensor) else Tensor(t) for t in data)]
    # Checked without calling iter(): a shuffling DataLoader would draw a permutation from the generator.
    if not isinstance(data, Iterable):
        raise TypeError(f"fit: {name} must be a DataLoader or an (X, y) tuple, got {type(data).__name__}")
    if isinstance(data, Iterator):
        raise TypeError(f"fit: {name} is a one-shot iterator ({type(data).__name__}), which would be empty after "
                        f"the first epoch; pass a DataLoader or a list of batches")
    try:
        count = len(data)  # type: ignore[arg-type]
    except TypeError:
        count = None  # an iterable without a length: an empty one is found at its first epoch
    if count == 0:
        raise ValueError(f"fit: {name} gives no batches (len({name}) == 0: an empty dataset, or a DataLoader with "
                         f"drop_last=True and fewer samples than batch_size); nothing was trained")
    return data


def _split(batch: Any) -> tuple[tuple[Any, ...], Any]:
    """``(inputs..., target)``: every item but the last goes to the model."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"fit: each batch must be a tuple (inputs, target), got {type(batch).__name__}")
    return tuple(batch[:-1]), batch[-1]


def _size(inputs: tuple[Any, ...]) -> int:
    first = inputs[0]
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else 1


def _scalar_loss(loss: Any, who: str = "fit") -> Tensor:
    """``loss`` itself, if it is a one-element Tensor (what ``backward()`` needs)."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"{who}: loss_fn must return a scalar Tensor (built from the model's output, so it can be "
                        f"backpropagated), got {type(loss).__name__} {loss!r:.80}")
    if loss.numel() != 1:
        raise ValueError(f"{who}: loss_fn must return a scalar Tensor, got one of shape {tuple(loss.shape)}; "
                         f"reduce it (reduction='mean', or .mean()) over the batch")
    return loss


def _check_optimizer(model: Any, optimizer: Any, who: str = "fit") -> None:
    """Refuse an optimizer over none of the model's trainable parameters; warn about the ones it leaves out."""
    if not callable(model) or not hasattr(model, "named_parameters"):
        raise TypeError(f"{who}: model must be a tg.nn.Module, got {type(model).__name__}")
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "params" in g for g in groups):
        raise TypeError(f"{who}: optimizer must be a tg.optim optimizer (with param_groups), "
                        f"got {type(optimizer).__name__}")
    stepped = {id(p) for group in groups for p in group["params"]}
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    left_out = [name for name, p in trainable if id(p) not in stepped]
    if trainable and len(left_out) == len(trainable):
        raise ValueError(f"{who}: the optimizer holds none of the model's {len(trainable)} trainable parameters "
                         f"({', '.join(left_out[:4])}{', ...' if len(left_out) > 4 else ''}): was it made over "
                         f"another model's parameters? Make it with optimizer(model.parameters(), ...)")
    if left_out:
        warnings.warn(f"{who}: the optimizer leaves out {len(left_out)} of the model's {len(trainable)} trainable "
                      f"parameters ({', '.join(left_out[:4])}{', ...' if len(left_out) > 4 else ''}); they get "
                      f"gradients but are never updated. Freeze them with p.requires_grad_(False) if that is meant",
                      UserWarning, stacklevel=3)


def _with_last(batches: Iterable[Any]) -> Iterator[tuple[Any, bool]]:
    """Each batch with a flag telling whether it is the epoch's last (looks one batch ahead)."""
    iterator = iter(batches)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True


# -- progress --------------------------------------------------------------------------------------

def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _progress_bar(progress: bool, total: int | None, initial: int, unit: str) -> Any:
    """A tqdm bar (the Jupyter widget in a notebook), or None when progress is off or nobody would see it."""
    if not progress:
        return None
    stderr = sys.stderr
    terminal = stderr is not None and hasattr(stderr, "isatty") and stderr.isatty()
    if not (terminal or _in_notebook()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit=unit, dynamic_ncols=True)


# -- resuming -------------------------------------------------------------------------------------

_CHECKPOINT_KEYS = {"model", "optimizer", "scheduler", "epoch", "history"}


def _resume(path: str | os.PathLike, model: Any, optimizer: Any,
            scheduler: Any) -> tuple[int, History, Callable[[], None]]:
    """Load a ModelCheckpoint file into model, optimizer, scheduler and the RNG; all or nothing.

    Returns the checkpoint's epoch, its History, and a function that puts
    everything back as it was before (for a run refused before its first epoch).
    """
    state = load(path)
    if not isinstance(state, dict) or not _CHECKPOINT_KEYS <= set(state):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"fit: {os.fspath(path)!r} is not a checkpoint: expected the keys "
                         f"{sorted(_CHECKPOINT_KEYS)} (as ModelCheckpoint writes), got {keys}")
    if (state["scheduler"] is None) != (scheduler is None):
        raise ValueError(f"fit: the checkpoint {os.fspath(path)!r} "
                         + ("has no scheduler state, but fit was given a scheduler" if scheduler is not None
                            else "holds a scheduler's state, but fit was given no scheduler"))
    epoch = check_int("fit", "the checkpoint's epoch", state["epoch"], minimum=0)
    history = History.from_state_dict(state["history"])
    rng_state = state.get("rng")
    # Public snapshots of everything, so a refused load (a bad optimizer or rng state) changes nothing.
    before = (model.state_dict(), copy.deepcopy(optimizer.state_dict()),
              scheduler.state_dict() if scheduler is not None else None, get_rng_state())
    def undo() -> None:
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        if scheduler is not None:
            scheduler.load_state_dict(before[2])
        set_rng_state(before[3])

    try:
        model.load_state_dict(state["model"])  # checks every key and shape before changing anything
    except (RuntimeError, ValueError, TypeError, KeyError) as err:
        raise type(err)(f"fit: resume_from={os.fspath(path)!r} holds the weights of another model; nothing was "
                        f"changed. {err}") from err
    try:
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if rng_state is not None:
            set_rng_state(rng_state)
    except BaseException as err:
        undo()
        if isinstance(err, (RuntimeError, ValueError, TypeError, KeyError)):
            raise type(err)(f"fit: resume_from={os.fspath(path)!r} does not fit this optimizer, scheduler or "
                            f"random generator; nothing was changed. {err}") from err
        raise
    return epoch, history, undo


# -- the loop -------------------------------------------------------------------------------------

class _Loop:
    """One `fit` run: the epoch and evaluation code, sharing the run's settings."""

    def __init__(self, trainer: Trainer, train: Iterable[Any], val: Iterable[Any] | None,
                 scheduler_interval: str, clip_grad_norm: float | None, accumulate: int,
                 metrics: list[tuple[str, Callable]], bar: Any) -> None:
        self.trainer = trainer
        self.train = train
        self.val = val
        self.scheduler_interval = scheduler_interval
        self.clip_grad_norm = clip_grad_norm
        self.accumulate = accumulate
        self.metrics = metrics
        self.bar = bar
        self.guard = any(getattr(cb, "guards_weights", False) for cb in trainer.callbacks)

    def _metric_values(self, output: Any, target: Any) -> dict[str, float]:
        with no_grad():
            detached = output.detach() if isinstance(output, Tensor) else output
            values = {}
            for name, fn in self.metrics:
                value = fn(detached, target)
                try:
                    values[name] = float(value)
                except (TypeError, ValueError):
                    raise TypeError(f"fit: the metric {name!r} must return a number, got "
                                    f"{type(value).__name__} {value!r:.80}") from None
            return values

    def _step(self, batch_logs: dict[str, Any]) -> float:
        """Clip, step, zero the gradients, step a per-batch scheduler; return the rate used."""
        trainer = self.trainer
        optimizer = trainer.optimizer
        lr = float(optimizer.param_groups[0]["lr"])
        # Read afresh at every step: a callback may have added a group or edited one's 'params'.
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if self.clip_grad_norm is not None:
            batch_logs["grad_norm"] = float(clip_grad_norm_(params, self.clip_grad_norm).item())
        for callback in trainer.callbacks:
            callback.on_before_optimizer_step(trainer.batch, batch_logs)
        before = None
        if self.guard:  # the whole step is undone if it makes a weight non-finite: weights and optimizer state
            before = ([p.numpy().copy() for p in params], optimizer.state_dict())  # its arrays are copies
        optimizer.step()
        if before is not None and not all(np.isfinite(p.numpy()).all() for p in params):
            for p, values in zip(params, before[0]):
                np.copyto(p.numpy(), values)  # in place: the optimizer keeps its views of these arrays
            optimizer.load_state_dict(before[1])  # its moments and step count, as before the step
            batch_logs["nonfinite_weights"] = True
        optimizer.zero_grad()
        if trainer.scheduler is not None and self.scheduler_interval == "batch":
            trainer.scheduler.step()
        return lr

    def train_epoch(self, epoch: int) -> dict[str, float]:
        # Training records graphs even when fit is called inside a no_grad() block (as lr_find does).
        with enable_grad():
            return self._train_epoch(epoch)

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        trainer = self.trainer
        model, optimizer, loss_fn = trainer.model, trainer.optimizer, trainer.loss_fn
        model.train()
        optimizer.zero_grad()
        losses: list[float] = []
        metric_sums = dict.fromkeys((name for name, _ in self.metrics), 0.0)
        samples = 0
        last_lr = None
        pending = 0  # batches backpropagated since the last step
        for index, (batch, is_last) in enumerate(_with_last(self.train)):
            trainer.batch = index
            inputs, target = _split(batch)
            output = model(*inputs)
            loss = _scalar_loss(loss_fn(output, target))
            loss_value = float(loss.item())
            size = _size(inputs)
            batch_logs: dict[str, Any] = {"loss": loss_value, "size": size,
                                          "lr": float(optimizer.param_groups[0]["lr"])}
            values = self._metric_values(output, target)
            batch_logs.update(values)
            losses.append(loss_value)
            samples += size
            for name, value in values.items():
                metric_sums[name] += value * size
            if self.guard and not math.isfinite(loss_value):
                # Never backpropagate a non-finite loss: the weights stay the ones that produced it.
                optimizer.zero_grad()
                pending = 0
            else:
                (loss if self.accumulate == 1 else loss / self.accumulate).backward()
                pending += 1
                if pending == self.accumulate or is_last:
                    last_lr = self._step(batch_logs)
                    pending = 0
            for callback in trainer.callbacks:
                callback.on_batch_end(index, batch_logs)
            if self.bar is not None:
                # Printed from 1, as Keras prints "Epoch 1/10" for the epoch its callbacks number 0.
                self.bar.set_description(f"epoch {epoch + 1}/{trainer.epochs}", refresh=False)
                self.bar.set_postfix(loss=f"{sum(losses) / len(losses):.4g}", lr=f"{batch_logs['lr']:.3g}",
                                     refresh=False)
                self.bar.update(1 if self.bar.unit == "batch" else 0)
            if trainer.stop_training:
                if pending:
                    optimizer.zero_grad()  # an epoch cut short drops its unfinished accumulation
                break
        if not losses:
            raise ValueError("fit: the training data gave no batches")
        logs = {"train_loss": sum(losses) / len(losses)}
        logs["lr"] = last_lr if last_lr is not None else float(optimizer.param_groups[0]["lr"])
        for name, total in metric_sums.items():
            logs[name] = total / samples
        return logs

    def evaluate(self) -> dict[str, float]:
        """Validation loss and metrics, weighted by batch size, in eval mode without a graph."""
        trainer = self.trainer
        model, loss_fn = trainer.model, trainer.loss_fn
        model.eval()
        loss_sum = 0.0
        metric_sums = dict.fromkeys((name for name, _ in self.metrics), 0.0)
        samples = 0
        with no_grad():
            for batch in self.val:
                inputs, target = _split(batch)
                output = model(*inputs)
                size = _size(inputs)
                loss_sum += float(_scalar_loss(loss_fn(output, target)).item()) * size
                for name, value in self._metric_values(output, target).items():
                    metric_sums[name] += value * size
                samples += size
        if samples == 0:
            raise ValueError("fit: the validation data gave no batches")
        logs = {"val_loss": loss_sum / samples}
        for name, total in metric_sums.items():
            logs["val_" + name] = total / samples
        return logs


def fit(model: Any, loss_fn: Callable[[Any, Any], Any], optimizer: Any, train: Any, val: Any = None,
        epochs: int = 1, scheduler: Any = None, scheduler_interval: str = "epoch",
        callbacks: Sequence[Callback] = (), clip_grad_norm: float | None = None, accumulate: int = 1,
        metrics: Sequence[str | Callable[[Any, Any], float]] = (), progress: bool = True,
        resume_from: str | os.PathLike | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return the `History` of the run.

    Each epoch runs the sources' loop over ``train`` (forward, loss, backward,
    step) in training mode, then measures ``val`` in evaluation mode without
    building a graph, steps the scheduler, records a line of the `History` and
    calls the callbacks (see `tg.train.callbacks` for the hooks and the
    ``trainer`` they can reach).

    Args:
        model: the `Module` to train.
        loss_fn: ``loss_fn(output, target)`` -> a scalar Tensor, averaged over
            the batch (``nn.MSELoss()``, ``nn.CrossEntropyLoss()``, ...).
        optimizer: the optimizer over the model's parameters.
        train: a `DataLoader` (or any re-iterable of ``(inputs, target)``
            batches), or an ``(X, y)`` tuple taken as one full batch. A batch
            with more than two items passes all but the last to the model.
        val: the validation data, in the same forms, or ``None``.
        epochs: the *total* number of epochs, counting those of the checkpoint
            when resuming (a run resumed after epoch 3 with ``epochs=10``
            trains 7 more).
        scheduler: a learning-rate scheduler for ``optimizer``, or ``None``.
            ``ReduceLROnPlateau`` is stepped once per epoch with ``val_loss``
            (``train_loss`` when there is no ``val``).
        scheduler_interval: ``'epoch'`` (step after each epoch) or ``'batch'``
            (step after every optimizer step).
        callbacks: `Callback` objects (`EarlyStopping`, `TerminateOnNaN`,
            `ModelCheckpoint`, `CSVLogger`, your own).
        clip_grad_norm: if given, ``nn.utils.clip_grad_norm_`` with this
            ``max_norm`` before every step (the remedy for exploding gradients).
        accumulate: ``k`` averages gradients over ``k`` batches before each
            step: every loss is divided by ``k`` before ``backward()``, so ``k``
            batches of size ``b`` step like one batch of ``k*b``. A shorter
            group at the end of an epoch steps with what it has (its gradient
            is not rescaled).
        metrics: names (``'accuracy'``) or functions ``f(output, target) ->
            float``, recorded under their ``__name__``, averaged over each
            epoch's samples, on the training batches (``'accuracy'``) and on
            ``val`` (``'val_accuracy'``).
        progress: show a tqdm progress bar (epoch, loss, rate); it is shown
            only when stderr is a terminal or in a Jupyter notebook.
        resume_from: the path of a `ModelCheckpoint` file: model, optimizer,
            scheduler, History and the library's random generator are restored
            from it (checked first: a checkpoint of another model is refused
            and nothing changes) and training continues after its epoch,
            exactly as the uninterrupted run would have. (Callbacks start
            afresh: an `EarlyStopping` counts its patience from the resumed
            epoch. A DataLoader given its own ``generator=`` shuffles from
            that generator, which the checkpoint does not hold.)

    Returns:
        The `History`: ``'train_loss'`` (mean of the epoch's batch losses),
        ``'val_loss'`` (with ``val``), ``'lr'`` (the first group's rate in the
        epoch's last step), one list per metric, and ``.epoch``.

    Raises:
        ValueError: ``epochs`` or ``accumulate`` below 1, an unknown
            ``scheduler_interval`` or metric name, a ``clip_grad_norm`` that is
            not a positive number, ``ReduceLROnPlateau`` with
            ``scheduler_interval='batch'``; an optimizer that holds none of
            the model's trainable parameters (one made over another model's:
            it would train with a flat loss); ``train`` or ``val`` with no
            batches (``len() == 0``; an iterable without a length is found
            empty at its first pass), an ``(X, y)`` tuple with no rows or with
            different numbers of rows; a loss that is not a scalar.
        TypeError: ``train``/``val`` in a form fit cannot iterate every
            epoch, callbacks that are not `Callback` objects, a ``loss_fn``
            that returns something other than a Tensor (PyTorch's loop would
            fail at ``.backward()`` with an ``AttributeError``).
        KeyError: a callback that will look up a name the logs will not hold
            (``EarlyStopping(monitor='val_loss')`` without ``val``,
            ``ModelCheckpoint('ck-{nope}.tg')``).

    Everything above is checked before the first step, and a refused
    ``resume_from`` or callback check leaves model, optimizer, scheduler and
    random generator as they were. Warns (``UserWarning``) when the optimizer
    leaves out some of the model's trainable parameters (they would get
    gradients but never move; freeze them with ``requires_grad_(False)`` if
    that is meant). On any exception, including Ctrl-C, the modules' training
    modes are handed back as they were found. Training records graphs even
    when `fit` is called inside a ``no_grad()`` block (a hand-written PyTorch
    loop would fail at ``backward()`` there); the caller's mode is kept.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn, optim
        >>> _ = tg.manual_seed(0)
        >>> X = tg.randn(100, 1); y = 3 * X + 1 + 0.1 * tg.randn(100, 1)
        >>> model = nn.Linear(1, 1)
        >>> history = tg.train.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
        ...                        (X, y), epochs=200, progress=False)
        >>> round(model.weight.item(), 1), round(model.bias.item(), 1)
        (3.0, 1.0)
        >>> len(history["train_loss"]), history.epoch[0], history.epoch[-1]
        (200, 0, 199)
    """
    epochs = check_int("fit", "epochs", epochs, minimum=1)
    accumulate = check_int("fit", "accumulate", accumulate, minimum=1)
    check_choice("fit", "scheduler_interval", scheduler_interval, ("epoch", "batch"))
    if isinstance(scheduler, ReduceLROnPlateau) and scheduler_interval != "epoch":
        raise ValueError("fit: ReduceLROnPlateau watches a per-epoch loss; use scheduler_interval='epoch'")
    if clip_grad_norm is not None:
        check_positive("fit", "clip_grad_norm", clip_grad_norm)
    metric_fns = _resolve_metrics(metrics)
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"fit: callbacks must be tg.train.Callback objects, got {type(callback).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    _check_optimizer(model, optimizer)
    train_batches = _as_batches("train", train)
    val_batches = _as_batches("val", val) if val is not None else None

    history = History()
    start = 0
    undo_resume = None
    if resume_from is not None:
        start, history, undo_resume = _resume(resume_from, model, optimizer, scheduler)

    log_names = ["train_loss", *(["val_loss"] if val_batches is not None else []), "lr"]
    for name, _ in metric_fns:
        log_names += [name, *(["val_" + name] if val_batches is not None else [])]
    trainer = Trainer(model, loss_fn, optimizer, scheduler, history, epochs, callbacks, log_names)
    trainer.epoch = trainer.completed_epochs = start
    try:
        per_epoch = len(train_batches)  # type: ignore[arg-type]
    except TypeError:
        per_epoch = None
    if per_epoch is not None:
        bar = _progress_bar(progress, epochs * per_epoch, min(start, epochs) * per_epoch, "batch")
    else:
        bar = _progress_bar(progress, epochs, min(start, epochs), "epoch")
    loop = _Loop(trainer, train_batches, val_batches, scheduler_interval, clip_grad_norm, accumulate,
                 metric_fns, bar)

    modes = [(module, module.training) for module in model.modules()]  # handed back as found, module by module
    logs: dict[str, float] = {}
    try:
        for callback in callbacks:
            callback.set_trainer(trainer)
        for callback in callbacks:
            callback.on_train_begin({})
        undo_resume = None  # training starts: from here on, what it changes stands
        for epoch in range(start, epochs):  # numbered from 0, as Keras numbers them
            trainer.epoch, trainer.batch = epoch, None
            for callback in callbacks:
                callback.on_epoch_begin(epoch, {})
            train_logs = loop.train_epoch(epoch)
            logs = {"train_loss": train_logs.pop("train_loss")}
            val_logs = loop.evaluate() if val_batches is not None else {}
            if "val_loss" in val_logs:
                logs["val_loss"] = val_logs.pop("val_loss")
            logs["lr"] = train_logs.pop("lr")
            for name, _ in metric_fns:
                logs[name] = train_logs[name]
                if "val_" + name in val_logs:
                    logs["val_" + name] = val_logs["val_" + name]
            if scheduler is not None and scheduler_interval == "epoch":
                if isinstance(scheduler, ReduceLROnPlateau):
                    scheduler.step(logs.get("val_loss", logs["train_loss"]))
                else:
                    scheduler.step()
            history.append(epoch, logs)
            trainer.completed_epochs = epoch + 1
            if bar is not None:
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
                bar.update(1 if bar.unit == "epoch" else 0)
                bar.refresh()
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if trainer.stop_training:
                break
        for callback in callbacks:
            callback.on_train_end(dict(logs))
    except BaseException as err:
        if undo_resume is not None:  # refused before the first epoch (a callback's check): nothing changes
            undo_resume()
        for callback in callbacks:  # e.g. TensorBoard closes its files; the error itself goes on
            try:
                callback.on_exception(err)
            except Exception:  # noqa: BLE001, S110 - the training error is the one to report
                pass
        raise
    finally:
        if bar is not None:
            bar.close()
        for module, mode in modes:
            module.training = mode
    return history
