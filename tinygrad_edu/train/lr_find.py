"""The learning-rate range test: sweep the rate upward and watch the loss.

The sources say the learning rate is the first thing to suspect: too high and
the loss oscillates or becomes NaN, too low and it falls very slowly. The range
test (Smith 2017, popularised by fastai) finds the usable range in one short
run instead of many trials. Starting from a tiny rate, it takes one optimizer
step per batch while raising the rate exponentially,

    lr_i = start_lr * (end_lr / start_lr) ** (i / (num_iter - 1)),   i = 0 .. num_iter - 1,

and records the loss at each step. At first the rate is too small to change
anything and the loss is flat; then it starts to fall, faster and faster; past
the stable range it shoots up. A good rate is where the loss falls fastest,
well before it turns up: the suggestion is the rate of steepest descent of the
smoothed loss against ``log10(lr)`` (``np.gradient``), leaving out the first
10 and last 5 points as fastai does and anything past the lowest loss.

It is a starting point, not a verdict: look at ``result.plot()``. The moving
average lags the rate by a few dozen steps, and with small, noisy batches the
flat start can wobble as steeply as the real descent; a bigger batch or a
larger ``num_iter`` makes the curve (and the suggestion) steadier.

The raw loss of one batch is noisy, so it is smoothed by an exponential moving
average with the same bias correction as Adam's moments:

    avg_i      = beta * avg_{i-1} + (1 - beta) * loss_i,   avg_{-1} = 0
    smoothed_i = avg_i / (1 - beta ** (i + 1))

The sweep stops early once ``smoothed_i > diverge_threshold * min(smoothed_0..i)``
(for positive losses) or the loss stops being finite: beyond that point the
rates are useless and the parameters may already be NaN.

Everything the sweep touches is put back afterwards, bit for bit, through
public snapshot/restore methods only: the model's parameters and buffers
(``state_dict``/``load_state_dict``, so BatchNorm's running statistics too),
its gradients and train/eval modes, the optimizer (a deep copy of its
``state_dict``, loaded back), and the library's random generator
(``tg.get_rng_state``/``tg.set_rng_state``: the loader shuffles and dropout
draws from it). So ``lr_find`` can be called in the middle of an experiment
without changing what the experiment does next.

    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu import nn, optim
    >>> _ = tg.manual_seed(0)
    >>> X = tg.randn(200, 1); y = 3 * X + 1 + 0.1 * tg.randn(200, 1)
    >>> model = nn.Linear(1, 1)
    >>> result = tg.train.lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (X, y))
    >>> 1e-4 < result.suggestion < 1.0
    True

Reference: L. N. Smith, "Cyclical Learning Rates for Training Neural
Networks", WACV 2017 (the range test); fastai's ``LRFinder`` (the smoothing,
the stopping rule and the steepest-descent suggestion).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import check_int, check_number
from ..autograd import enable_grad
from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..rng import get_rng_state, set_rng_state
from ..tensor import Tensor
from .fit import _check_optimizer, _scalar_loss

__all__ = ["lr_find", "LRFinderResult"]

# The suggestion ignores this many points at each end of the curve, as fastai does:
# the first points are dominated by the bias-corrected average's warm-up, the last
# by the divergence that stopped the sweep. Shorter sweeps skip proportionally fewer.
SKIP_START = 10
SKIP_END = 5


@dataclass
class LRFinderResult:
    """What a learning-rate range test saw.

    Attributes:
        lrs: the rate used at each step (exponentially increasing), as an array.
        losses: the smoothed (bias-corrected moving average) loss at each step.
        raw_losses: the loss of each step's batch, before smoothing.
        suggestion: the rate where the smoothed loss falls fastest against
            ``log10(lr)`` (``None`` when the sweep was too short to tell).
        diverged: whether the sweep stopped early because the loss blew up.
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float | None
    diverged: bool = False
    suggestion_index: int | None = field(default=None, repr=False)

    def plot(self, ax: Any = None, skip_end: int = 0, title: str | None = None) -> Any:
        """Plot the smoothed (and faint raw) loss against the rate on a log axis; return the Figure.

        The same as ``tg.viz.plot_lr_find(self, ax, skip_end=skip_end, title=title)``:
        plotting lives in ``tg.viz``.

        Args:
            ax: a matplotlib Axes to draw on; by default a new Figure (no
                pyplot, so no window opens).
            skip_end: leave out this many points at the end (the blow-up can
                dwarf the interesting part of the curve).
            title: the axes' title (by default one naming the suggestion).
        """
        from .. import viz  # imported here so `import tinygrad_edu` does not import matplotlib

        return viz.plot_lr_find(self, ax, skip_end=skip_end, title=title)


def _one_batch(train: Any) -> bool:
    """Whether ``train`` is one ``(X, y)`` batch of Tensors (or arrays) rather than an iterable of batches."""
    return (isinstance(train, tuple) and len(train) >= 2
            and all(isinstance(part, (Tensor, np.ndarray)) for part in train))


def _batches(train: Any) -> Iterator[tuple[Any, Any]]:
    """Batches forever: ``train`` itself if it is one ``(X, y)`` pair, else ``train`` cycled.

    A loader is iterated afresh at each pass (so a shuffling loader reshuffles);
    a one-shot iterator simply ends when it runs out.
    """
    if _one_batch(train):
        while True:
            yield train
    if not isinstance(train, Iterable):
        raise TypeError(f"train must be an iterable of (X, y) batches or an (X, y) tuple, "
                        f"got {type(train).__name__}")
    first_pass = True
    while True:
        empty = True
        for batch in train:
            empty = False
            yield batch
        if empty:
            if first_pass:
                raise ValueError("lr_find: train yielded no batches")
            return
        first_pass = False


def _as_tensor(value: Any) -> Any:
    return value if isinstance(value, Tensor) or not isinstance(value, np.ndarray) else Tensor(value)


def _generator_state(generator: Any) -> Any:
    """The state of a loader's own generator, through its public API (None if it has none we know)."""
    if isinstance(generator, np.random.Generator):
        return copy.deepcopy(generator.bit_generator.state)
    if hasattr(generator, "get_state") and hasattr(generator, "set_state"):  # PyTorch's Generator API
        return generator.get_state()
    return None


def _set_generator_state(generator: Any, state: Any) -> None:
    if isinstance(generator, np.random.Generator):
        generator.bit_generator.state = state
    else:
        generator.set_state(state)


class _Snapshot:
    """Everything a sweep changes, saved and put back through public snapshot/restore methods only.

    The model through ``state_dict``/``load_state_dict`` (parameters and
    persistent buffers; non-persistent buffers by name from ``named_buffers``),
    its train/eval modes, the gradients, any tensor the optimizer holds outside
    the model, the optimizer through a deep copy of its ``state_dict``, the
    library's generator through ``get_rng_state``/``set_rng_state``, and a
    loader's own generator through its state.
    """

    def __init__(self, model: Module, optimizer: Optimizer, train: Any) -> None:
        self.model = model
        self.optimizer = optimizer
        self.model_state = model.state_dict()
        self.buffers = {name: buffer.numpy().copy() for name, buffer in model.named_buffers()}
        self.modes = [(module, module.training) for module in model.modules()]
        params = self._all_params()
        self.grads = [(p, None if p.grad is None else p.grad.numpy().copy()) for p in params]
        # The optimizer may also hold tensors outside the model, which state_dict() does not cover.
        model_ids = {id(p) for p in model.parameters()}
        self.extra_values = [(p, p.numpy().copy()) for p in params if id(p) not in model_ids]
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        self.rng_state = get_rng_state()
        # A loader given its own generator shuffles with it, not with the library's: keep that too.
        self.loader_generator = getattr(train, "generator", None)
        self.loader_generator_state = _generator_state(self.loader_generator)

    def _all_params(self) -> list[Tensor]:
        seen: dict[int, Tensor] = {id(p): p for p in self.model.parameters()}
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                seen.setdefault(id(p), p)
        return list(seen.values())

    def restore(self) -> None:
        self.model.load_state_dict(self.model_state)  # in place: the optimizer keeps the same tensors
        for name, buffer in self.model.named_buffers():
            saved = self.buffers.get(name)
            if saved is not None and saved.shape == buffer.shape:
                np.copyto(buffer.numpy(), saved, casting="same_kind")
        for module, mode in self.modes:
            module.training = mode
        for p, value in self.extra_values:
            np.copyto(p.numpy(), value)
        self.optimizer.load_state_dict(self.optimizer_state)
        for p, grad in self.grads:
            if grad is None:
                p.grad = None
            elif p.grad is not None and p.grad.shape == grad.shape:
                np.copyto(p.grad.numpy(), grad)
            else:
                p.grad = Tensor(grad.copy())
        set_rng_state(self.rng_state)
        if self.loader_generator_state is not None:
            _set_generator_state(self.loader_generator, self.loader_generator_state)


def _check_range(start_lr: float, end_lr: float, num_iter: int, smooth: float, diverge_threshold: float) -> None:
    who = "lr_find"
    check_number(who, "start_lr", start_lr, low=0, low_inclusive=False)
    check_number(who, "end_lr", end_lr, low=start_lr, low_inclusive=False)
    check_int(who, "num_iter", num_iter, minimum=2)
    check_number(who, "smooth", smooth, low=0, high=1, high_inclusive=False)
    check_number(who, "diverge_threshold", diverge_threshold, low=1, low_inclusive=False)


def suggest(lrs: np.ndarray, losses: np.ndarray) -> int | None:
    """Index of the steepest descent of ``losses`` against ``log10(lrs)`` (``None`` if too few points).

    ``np.gradient`` of the smoothed loss with respect to ``log10(lr)``; the
    first `SKIP_START` and last `SKIP_END` points are ignored (fewer for short
    sweeps), and so is everything from the first non-finite loss on.
    """
    finite = np.isfinite(losses)
    n = int(np.argmin(finite)) if not finite.all() else len(losses)
    skip_start, skip_end = min(SKIP_START, n // 5), min(SKIP_END, n // 10)
    lo, hi = skip_start, n - skip_end
    if hi - lo < 1 or n < 3:
        return None
    # The slope is taken over the whole finite curve and only then restricted, so the window's
    # edges get central differences too (a one-sided difference at the edge is twice as noisy).
    slope = np.gradient(losses[:n], np.log10(lrs[:n]))
    # Past the lowest loss the curve is on its way up: a dip there is noise, not a usable rate.
    hi = min(hi, lo + int(np.argmin(losses[lo:hi])) + 1)
    return lo + int(np.argmin(slope[lo:hi]))


def lr_find(model: Module, loss_fn: Callable[[Any, Any], Any], optimizer: Optimizer, train: Any,
            start_lr: float = 1e-7, end_lr: float = 10, num_iter: int = 100, smooth: float = 0.98,
            diverge_threshold: float = 4.0) -> LRFinderResult:
    """Run the learning-rate range test and leave everything as it was.

    Args:
        model: the model to probe (put in training mode for the sweep).
        loss_fn: ``loss_fn(model(X), y)`` returns a scalar Tensor.
        optimizer: the optimizer to probe; every group's ``'lr'`` is set to
            the sweep's rate at each step.
        train: an iterable of ``(X, y)`` batches (a `DataLoader`, cycled when
            it runs out), or one ``(X, y)`` tuple used as the batch of every step.
        start_lr: the first rate (> 0).
        end_lr: the last rate (> ``start_lr``).
        num_iter: the number of steps (at least 2), unless it stops early.
        smooth: beta of the moving average that smooths the loss, in [0, 1)
            (0: no smoothing).
        diverge_threshold: stop once the smoothed loss exceeds this multiple of
            the lowest smoothed loss so far (applied while that lowest loss is
            positive); a non-finite loss stops the sweep always.

    Returns:
        A `LRFinderResult` with ``lrs``, ``losses`` (smoothed), ``raw_losses``,
        ``suggestion`` (the rate of steepest descent) and ``plot()``.

    Raises:
        ValueError: ``start_lr <= 0``, ``end_lr <= start_lr``, ``num_iter < 2``
            (or an out-of-range ``smooth`` / ``diverge_threshold``), naming the value;
            an optimizer over none of the model's trainable parameters; an
            empty ``train`` (checked before anything changes); a non-scalar loss.
        TypeError: ``loss_fn`` returned something other than a Tensor.
    """
    _check_range(start_lr, end_lr, num_iter, smooth, diverge_threshold)
    _check_optimizer(model, optimizer, who="lr_find")
    if not _one_batch(train) and isinstance(train, Sized) and len(train) == 0:
        raise ValueError("lr_find: train gives no batches (len(train) == 0); nothing to probe with")
    ratio = float(end_lr) / float(start_lr)
    schedule = [float(start_lr) * ratio ** (i / (num_iter - 1)) for i in range(num_iter)]

    snapshot = _Snapshot(model, optimizer, train)
    lrs: list[float] = []
    raw_losses: list[float] = []
    losses: list[float] = []
    diverged = False
    try:
        model.train()
        batches = _batches(train)
        average, best = 0.0, math.inf
        # Overflow is what the end of a sweep is for: no warnings about it.
        with enable_grad(), np.errstate(over="ignore", invalid="ignore"):
            for i, lr in enumerate(schedule):
                batch = next(batches, None)
                if batch is None:  # a one-shot iterator ran out
                    break
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise TypeError(f"lr_find expects (inputs, target) batches, got {type(batch).__name__}"
                                    + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
                *inputs, target = (_as_tensor(part) for part in batch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad()
                loss = _scalar_loss(loss_fn(model(*inputs), target), who="lr_find")
                value = float(loss.item())
                lrs.append(lr)
                raw_losses.append(value)
                if not math.isfinite(value):
                    losses.append(value)
                    diverged = True
                    break
                average = smooth * average + (1 - smooth) * value
                smoothed = average / (1 - smooth ** (i + 1))
                losses.append(smoothed)
                if not math.isfinite(smoothed) or (best > 0 and smoothed > diverge_threshold * best):
                    diverged = True
                    break
                best = min(best, smoothed)
                loss.backward()
                optimizer.step()
    finally:
        snapshot.restore()

    lrs_array = np.asarray(lrs, dtype=np.float64)
    losses_array = np.asarray(losses, dtype=np.float64)
    index = suggest(lrs_array, losses_array)
    return LRFinderResult(lrs=lrs_array, losses=losses_array, raw_losses=np.asarray(raw_losses, dtype=np.float64),
                          suggestion=None if index is None else float(lrs_array[index]), diverged=diverged,
                          suggestion_index=index)
