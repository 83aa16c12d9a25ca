r"""Learning-rate schedules, as ``torch.optim.lr_scheduler``, value for value.

A scheduler changes ``optimizer.param_groups[i]['lr']`` (and, for `OneCycleLR`,
the momentum) between optimizer steps. Call ``scheduler.step()`` *after*
``optimizer.step()``: building a scheduler already sets the rates for the first
step, and each ``step()`` sets them for the next one. `ReduceLROnPlateau` is
the exception: it is stepped with the monitored metric, ``step(val_loss)``.

The schedules the sources teach, with :math:`\eta_0` the starting rate of a
group (``base_lrs``) and :math:`t` the number of ``step()`` calls so far
(``last_epoch``):

- step decay (`StepLR`, `MultiStepLR`): :math:`\eta_t = \eta_0\,\gamma^{k}`, k
  the number of milestones passed;
- exponential decay (`ExponentialLR`): :math:`\eta_t = \eta_0\,\gamma^t`;
- cosine annealing (`CosineAnnealingLR`):
  :math:`\eta_t = \eta_{min} + \tfrac12(\eta_{max} - \eta_{min})(1 + \cos(\pi t / T_{max}))`;
- linear warmup (`LinearLR`), warmup then cosine (`SequentialLR`, or
  `warmup_cosine` in one line), one cycle (`OneCycleLR`), any factor you write
  yourself (`LambdaLR`), and reduce-on-plateau (`ReduceLROnPlateau`).

Like PyTorch's, the decays (`StepLR`, `MultiStepLR`, `ExponentialLR`,
`CosineAnnealingLR`, `LinearLR`) are computed *recursively* from the rate the
group holds now, so they chain: set ``group['lr']`` by hand between steps and
the schedule carries on from your value. Their closed forms above are what they
give when nobody interferes.

``state_dict()`` holds only plain Python data (numbers, strings, lists, dicts,
``None``), so ``tg.save(scheduler.state_dict(), path)`` works; save the
optimizer's state with it, since the chained schedules read its rates.
"""

from __future__ import annotations

import copy
import math
import numbers
import types
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "LambdaLR",
    "SequentialLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "warmup_cosine",
]


# -- argument checks: every message names the scheduler, the argument and the value ------------------


def _check_optimizer(who: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        kind = f"{type(optimizer).__module__}.{type(optimizer).__qualname__}"
        raise TypeError(f"{who}: optimizer must be a tinygrad_edu.optim.Optimizer, got {kind}")


def _describe(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if high == math.inf:
        return f"{'>' if low_open else '>='} {low:g}"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def _check_real(who: str, name: str, value: Any, low: float = -math.inf, high: float = math.inf,
                low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` if it is a finite number in the interval; raise naming ``name`` otherwise."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{who}: {name} must be a number, got {value!r} ({type(value).__name__})")
    inside = math.isfinite(value)
    inside = inside and (low < value if low_open else low <= value)
    inside = inside and (value < high if high_open else value <= high)
    if not inside:
        raise ValueError(f"{who}: {name} must be a finite number {_describe(low, high, low_open, high_open)}, "
                         f"got {value!r}")
    return value


def _check_int(who: str, name: str, value: Any, low: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``low``; raise naming ``name`` otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{who}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{who}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _per_group(who: str, name: str, value: Any, optimizer: Optimizer) -> list[Any]:
    """One value per parameter group: a list/tuple of that length, or one value for all groups."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{who}: {name} has {len(value)} values but the optimizer has {count} "
                             f"param groups: {value!r}")
        return list(value)
    return [value] * count


# -- the base class ----------------------------------------------------------------------------------


def _check_like(where: str, current: Any, new: Any) -> None:
    """Raise ValueError unless ``new`` is of the kind of ``current`` (a loaded value against the live one)."""
    if isinstance(current, (bool, np.bool_)):
        ok = isinstance(new, (bool, np.bool_))
    elif isinstance(current, numbers.Real):
        ok = isinstance(new, numbers.Real) and not isinstance(new, (bool, np.bool_))
    elif isinstance(current, str):
        ok = isinstance(new, str)
    elif isinstance(current, (list, tuple)):
        ok = isinstance(new, (list, tuple))
        if ok and current:
            for j, item in enumerate(new):
                _check_like(f"{where}[{j}]", current[j] if j < len(current) else current[0], item)
    elif isinstance(current, dict):
        ok = isinstance(new, dict) and set(new) == set(current)
        if ok:
            for key in current:
                _check_like(f"{where}[{key!r}]", current[key], new[key])
    else:
        ok = True
    if not ok:
        raise ValueError(f"{where}: expected a value like {current!r}, got {new!r}")


class LRScheduler:
    """Base class of the schedulers: holds the optimizer, ``last_epoch`` and ``base_lrs``.

    Building a scheduler with ``last_epoch=-1`` stores each group's current rate
    as ``group['initial_lr']`` (unless an earlier scheduler already did), takes
    those as ``base_lrs``, and performs the first step, so ``last_epoch`` becomes
    0 and the rates are the schedule's values for step 0. A subclass defines
    `get_lr` (the rates for ``last_epoch``), and a ``_closed_form_lr`` when
    `get_lr` is recursive.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        last_epoch: the index of the last step taken; -1 starts the schedule.
            Pass another value only when resuming, with ``'initial_lr'``
            already in every group.

    Attributes:
        last_epoch: how many times `step` was called since the start (0 after building).
        base_lrs: each group's ``'initial_lr'``, the rate the schedule starts from.
    """

    # True only while the constructor's first step runs: recursive schedules then keep the rates
    # they find instead of stepping them (PyTorch's "initial mode").
    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        who = type(self).__name__
        _check_optimizer(who, optimizer)
        last_epoch = _check_int(who, "last_epoch", last_epoch, low=-1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            missing = [i for i, group in enumerate(optimizer.param_groups) if "initial_lr" not in group]
            if missing:
                raise ValueError(f"{who}: resuming with last_epoch={last_epoch} needs 'initial_lr' in every "
                                 f"param group, but param_groups{missing} have none; load the optimizer's "
                                 f"state first, or start with last_epoch=-1")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Take the step that sets the rates for ``last_epoch + 1`` (0 on a fresh start)."""
        self._is_initial = True
        try:
            self.step()
        finally:
            del self._is_initial  # back to the class-level False; keeps it out of state_dict()

    def get_lr(self) -> list[float]:
        """The rates of every group for the current ``last_epoch``; `step` calls it.

        To read the rates in use, call `get_last_lr` instead: for the recursive
        schedules this method computes the *next* value from the current one.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def _closed_form_lr(self) -> list[float]:
        """The rates at ``last_epoch`` from ``base_lrs`` alone (used when `SequentialLR` switches)."""
        return self.get_lr()

    def step(self) -> None:
        """Advance the schedule by one step and write the new rates into the optimizer."""
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _restart_at(self, epoch: int) -> None:
        """Jump to ``epoch`` using the closed form (how `SequentialLR` starts a later scheduler)."""
        self.last_epoch = epoch
        self._set_lrs(self._closed_form_lr())

    def _set_lrs(self, lrs: list[float]) -> None:
        groups = self.optimizer.param_groups
        if len(lrs) != len(groups):
            raise RuntimeError(f"{type(self).__name__}: the optimizer has {len(groups)} param groups but the "
                               f"scheduler was built for {len(lrs)}; build the scheduler after adding groups")
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list[float]:
        """The rates the last `step` (or the constructor) set, one per group (a new list)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as plain Python data (a deep copy), for ``tg.save``."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items() if key != "optimizer"}

    #: Keys of ``state_dict`` that a subclass checks itself (nested states, attributes of functions).
    _nested_keys: tuple[str, ...] = ()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict` of the same kind of scheduler (load the optimizer's state too).

        Everything is checked before anything changes: the keys, and each
        value against the kind of the current one (numbers for numbers, an
        integer ``last_epoch``, one rate per parameter group in ``base_lrs``
        and ``_last_lr``, lists for lists ...). PyTorch checks nothing here;
        this library refuses a state that would fail later, in the middle of
        training (stricter than PyTorch).

        Raises:
            TypeError: if ``state_dict`` is not a dict.
            ValueError: if its keys are not this scheduler's (say, a StepLR's state
                loaded into a CosineAnnealingLR), or a value is of the wrong kind;
                nothing is changed then.

        Example:
            >>> import tinygrad_edu as tg
            >>> opt = tg.optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
            >>> sched = tg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
            >>> saved = sched.state_dict(); sched.step()
            >>> sched.load_state_dict(saved); sched.last_epoch
            0
        """
        self._check_state_dict(state_dict)
        self.__dict__.update(copy.deepcopy(state_dict))

    def _check_state_dict(self, state_dict: Any) -> None:
        """Raise (TypeError, ValueError) unless ``state_dict`` can be loaded as a whole; change nothing."""
        who = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{who}.load_state_dict: expected a dict, got {type(state_dict).__name__}")
        current = self.state_dict()
        expected, given = set(current), set(state_dict)
        if expected != given:
            raise ValueError(f"{who}.load_state_dict: not a {who} state_dict; missing keys "
                             f"{sorted(map(str, expected - given))}, unexpected keys "
                             f"{sorted(map(str, given - expected))}")
        last_epoch = state_dict["last_epoch"]
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral):
            raise ValueError(f"{who}.load_state_dict: last_epoch must be an integer, got {last_epoch!r}")
        groups = len(self.optimizer.param_groups)
        for key in sorted(expected - set(self._nested_keys)):
            value = state_dict[key]
            if key in ("base_lrs", "_last_lr", "min_lrs") and (not isinstance(value, (list, tuple))
                                                              or len(value) != groups):
                raise ValueError(f"{who}.load_state_dict: {key} must hold one value per parameter group "
                                 f"({groups}), got {value!r}")
            _check_like(f"{who}.load_state_dict: {key}", current[key], value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={getattr(self, '_last_lr', None)})"


# -- decays ------------------------------------------------------------------------------------------


class StepLR(LRScheduler):
    r"""Multiply every group's rate by ``gamma`` every ``step_size`` steps (step decay).

    With :math:`\eta_0` the starting rate and ``gamma`` = :math:`\gamma`::

        eta_t = eta_0 * gamma ** floor(t / step_size)

    computed recursively: when t is a positive multiple of ``step_size``,
    lr <- lr * gamma; otherwise the rate is left as it is (so a rate you set by
    hand carries on).

    Args:
        optimizer: the optimizer to schedule.
        step_size: the period of the decay, in steps (an integer >= 1).
        gamma: the factor applied at each period (> 0; 0.1 or 0.5 are usual).
        last_epoch: see `LRScheduler`.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> rates = []
        >>> for _ in range(6):
        ...     rates.append(sched.get_last_lr()[0])   # optimizer.step() would use this rate
        ...     sched.step()
        >>> rates
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        _check_optimizer("StepLR", optimizer)
        self.step_size = _check_int("StepLR", "step_size", step_size, low=1)
        self.gamma = _check_real("StepLR", "gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Multiply every group's rate by ``gamma`` at each milestone (step decay, e.g. at 30, 60, 90).

    With :math:`\eta_0` the starting rate and k(t) the number of milestones <= t::

        eta_t = eta_0 * gamma ** k(t)

    computed recursively: at a milestone, lr <- lr * gamma (gamma ** n if the
    milestone is listed n times, as in PyTorch); otherwise the rate is kept.

    Args:
        optimizer: the optimizer to schedule.
        milestones: step indices, non-negative integers in increasing order
            (a repeated one counts once per repeat).
        gamma: the factor applied at each milestone (> 0).
        last_epoch: see `LRScheduler`.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.5)
        >>> rates = []
        >>> for _ in range(6):
        ...     rates.append(sched.get_last_lr()[0])
        ...     sched.step()
        >>> rates
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_optimizer("MultiStepLR", optimizer)
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise TypeError(f"MultiStepLR: milestones must be a list of integers, got {milestones!r}")
        milestones = list(milestones)
        for m in milestones:
            _check_int("MultiStepLR", "each of milestones", m, low=0)
        if any(b < a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"MultiStepLR: milestones must be in increasing order, got {milestones!r}")
        self.milestones = [int(m) for m in milestones]
        self.gamma = _check_real("MultiStepLR", "gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma ** hits for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        passed = bisect_right(self.milestones, self.last_epoch)
        return [base_lr * self.gamma ** passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Multiply every group's rate by ``gamma`` at every step (exponential decay).

    With :math:`\eta_0` the starting rate::

        eta_t = eta_0 * gamma ** t

    computed recursively: lr <- lr * gamma at each step.

    Args:
        optimizer: the optimizer to schedule.
        gamma: the factor per step (> 0; 0.9 to 0.99 are usual).
        last_epoch: see `LRScheduler`.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        >>> sched.step(); sched.step()
        >>> sched.get_last_lr()
        [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        _check_optimizer("ExponentialLR", optimizer)
        self.gamma = _check_real("ExponentialLR", "gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:  # resuming from a checkpoint must not decay the loaded rate once more
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Anneal every group's rate from its starting value to ``eta_min`` along half a cosine.

    With :math:`\eta_{max}` the starting rate (``base_lrs``), the sources' formula::

        eta_t = eta_min + (eta_max - eta_min) * (1 + cos(pi * t / T_max)) / 2

    PyTorch (and so this class) applies it recursively, as the ratio of two
    consecutive values, so that it chains with rates changed by hand::

        eta_t = eta_min + (eta_{t-1} - eta_min) * (1 + cos(pi t / T_max)) / (1 + cos(pi (t-1) / T_max))

    and, at the steps just after a trough (t - 1 - T_max a multiple of
    2 T_max), where that ratio would divide by zero,
    eta_t = eta_{t-1} + (eta_max - eta_min) * (1 - cos(pi / T_max)) / 2.
    Stepping past ``T_max`` therefore does *not* stay at ``eta_min``: the rate
    climbs back along the same cosine (period 2 T_max), exactly as PyTorch's
    does. Stop at ``T_max``, or follow it with another scheduler.

    Args:
        optimizer: the optimizer to schedule.
        T_max: the number of steps from the start to ``eta_min`` (an integer >= 1).
        eta_min: the lowest rate (>= 0).
        last_epoch: see `LRScheduler`.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
        >>> rates = []
        >>> for _ in range(5):
        ...     rates.append(round(sched.get_last_lr()[0], 4))
        ...     sched.step()
        >>> rates
        [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:  # noqa: N803 (PyTorch's name)
        _check_optimizer("CosineAnnealingLR", optimizer)
        self.T_max = _check_int("CosineAnnealingLR", "T_max", T_max, low=1)
        self.eta_min = _check_real("CosineAnnealingLR", "eta_min", eta_min, low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [group["lr"] for group in groups]
        t, T_max, eta_min = self.last_epoch, self.T_max, self.eta_min  # noqa: N806 (the formula's symbol)
        if (t - 1 - T_max) % (2 * T_max) == 0:
            # The previous step sat in a trough, where 1 + cos(...) = 0: take the cosine's first rise.
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * t / T_max)) / (1 + math.cos(math.pi * (t - 1) / T_max))
        return [eta_min + ratio * (group["lr"] - eta_min) for group in groups]

    def _closed_form_lr(self) -> list[float]:
        t, T_max, eta_min = self.last_epoch, self.T_max, self.eta_min  # noqa: N806
        return [eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Scale every group's rate by a factor that moves linearly from ``start_factor`` to ``end_factor``.

    With :math:`\eta_0` the starting rate and T = ``total_iters``::

        eta_t = eta_0 * (start_factor + (end_factor - start_factor) * min(t, T) / T)

    This is linear warmup when ``start_factor`` < ``end_factor`` = 1 (the
    sources' eta_t = eta_target * t / T_warmup, starting from a small factor
    instead of 0). Computed recursively from the current rate::

        eta_0 = lr * start_factor
        eta_t = eta_{t-1} * (1 + (end - start) / (T * start + (t - 1) * (end - start)))   for 1 <= t <= T

    and left unchanged after T.

    Args:
        optimizer: the optimizer to schedule.
        start_factor: the factor at step 0, in (0, 1].
        end_factor: the factor from step ``total_iters`` on, in [0, 1].
        total_iters: the number of steps the change takes (an integer >= 1).
        last_epoch: see `LRScheduler`.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
        >>> rates = []
        >>> for _ in range(5):
        ...     rates.append(round(sched.get_last_lr()[0], 4))
        ...     sched.step()
        >>> rates
        [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        _check_optimizer("LinearLR", optimizer)
        self.start_factor = _check_real("LinearLR", "start_factor", start_factor, low=0.0, high=1.0, low_open=True)
        self.end_factor = _check_real("LinearLR", "end_factor", end_factor, low=0.0, high=1.0)
        self.total_iters = _check_int("LinearLR", "total_iters", total_iters, low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        t, start, end = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [group["lr"] * start for group in groups]
        if self._is_initial or t > self.total_iters:
            return [group["lr"] for group in groups]
        # factor_t / factor_{t-1}, written so that it needs no base rate
        growth = 1.0 + (end - start) / (self.total_iters * start + (t - 1) * (end - start))
        return [group["lr"] * growth for group in groups]

    def _closed_form_lr(self) -> list[float]:
        t, start, end, total = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        return [base_lr * (start + (end - start) * min(total, t) / total) for base_lr in self.base_lrs]


class LambdaLR(LRScheduler):
    r"""Set each group's rate to its starting rate times a factor you compute from the step.

    With :math:`\eta_0` the starting rate and f = ``lr_lambda``::

        eta_t = eta_0 * f(t)

    (not chained: it ignores rates set by hand).

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: a function of the step index returning the factor, or a list
            of such functions, one per param group.
        last_epoch: see `LRScheduler`.

    ``state_dict()`` stores no functions (as in PyTorch): for a plain function or
    lambda it stores ``None``, for a callable object a copy of its ``__dict__``;
    rebuild the scheduler with the same functions before loading.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.5)
        >>> sched = optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (t + 1))
        >>> sched.step(); sched.step(); sched.step()
        >>> sched.get_last_lr()
        [0.125]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        _check_optimizer("LambdaLR", optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            lambdas = _per_group("LambdaLR", "lr_lambda", lr_lambda, optimizer)
        else:
            lambdas = [lr_lambda] * len(optimizer.param_groups)
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be a function or a list of functions, got {fn!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        state = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "lr_lambdas")}
        # Functions cannot be saved as data: keep only the attributes of callable objects.
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else copy.deepcopy(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    _nested_keys = ("lr_lambdas",)

    def _check_state_dict(self, state_dict: Any) -> None:
        super()._check_state_dict(state_dict)  # raises, naming missing keys
        saved = state_dict["lr_lambdas"]
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.lr_lambdas):
            raise ValueError(f"LambdaLR.load_state_dict: lr_lambdas holds {saved!r}, expected "
                             f"{len(self.lr_lambdas)} entries")
        for i, (fn, attributes) in enumerate(zip(self.lr_lambdas, saved)):
            if attributes is not None and (not isinstance(attributes, dict) or isinstance(fn, types.FunctionType)
                                           or not all(isinstance(k, str) for k in attributes)):
                raise ValueError(f"LambdaLR.load_state_dict: lr_lambdas[{i}] must be None (a function) or a dict "
                                 f"of the callable object's attributes, got {attributes!r}")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_state_dict(state_dict)
        saved = state_dict["lr_lambdas"]
        lambdas = self.lr_lambdas
        super().load_state_dict(state_dict)
        self.lr_lambdas = lambdas  # the functions themselves stay; only their attributes load
        for fn, attributes in zip(lambdas, saved):
            if attributes is not None:
                vars(fn).update(copy.deepcopy(attributes))


# -- combining schedules -----------------------------------------------------------------------------


class SequentialLR(LRScheduler):
    r"""Run several schedulers one after another, switching at the given milestones.

    Scheduler i drives the rates for steps ``milestones[i-1] <= t < milestones[i]``.
    At a milestone the next scheduler starts from its own step 0, computed from
    ``base_lrs`` (its closed form), as PyTorch does; it then continues
    recursively. The schedulers must be built on the same optimizer, just
    before this one (building them changed the rates; this class puts back
    what the first scheduler's step 0 sets).

    Args:
        optimizer: the optimizer all the schedulers drive.
        schedulers: the schedulers, in order (not ReduceLROnPlateau, not SequentialLR).
        milestones: the steps at which to switch: ``len(schedulers) - 1``
            strictly increasing integers >= 1.

    Example — 5 steps of linear warmup, then cosine down over 20 steps; the same
    in PyTorch with ``torch.optim.lr_scheduler`` in place of ``optim.lr_scheduler``:

        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
        >>> warmup = LinearLR(opt, start_factor=0.2, total_iters=5)
        >>> cosine = CosineAnnealingLR(opt, T_max=20)
        >>> sched = SequentialLR(opt, [warmup, cosine], milestones=[5])
        >>> rates = []
        >>> for _ in range(7):
        ...     rates.append(round(sched.get_last_lr()[0], 4))
        ...     sched.step()
        >>> rates
        [0.2, 0.36, 0.52, 0.68, 0.84, 1.0, 0.9938]
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        _check_optimizer("SequentialLR", optimizer)
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise ValueError(f"SequentialLR: schedulers must be a non-empty list of schedulers, got {schedulers!r}")
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] must be an LRScheduler, got {scheduler!r}")
            if isinstance(scheduler, (ReduceLROnPlateau, SequentialLR)):
                raise ValueError(f"SequentialLR: schedulers[{i}] is a {type(scheduler).__name__}, which cannot be "
                                 f"sequenced (it has no closed form to start from at a milestone)")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({type(scheduler).__name__}) drives another "
                                 f"optimizer than the one given")
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(f"SequentialLR: milestones must be a list of integers, got {milestones!r}")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need {len(schedulers) - 1} milestones, "
                             f"got milestones={list(milestones)!r}")
        for m in milestones:
            _check_int("SequentialLR", "each of milestones", m, low=1)
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"SequentialLR: milestones must be strictly increasing, got {list(milestones)!r}")

        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = 0
        # Each scheduler took its first step when it was built; undo that, then let only the first
        # one take step 0 from the starting rates.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            scheduler.last_epoch -= 1
        self._schedulers[0]._initial_step()
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self._last_lr = self._schedulers[0].get_last_lr()

    def get_lr(self) -> list[float]:
        raise NotImplementedError("SequentialLR delegates to its schedulers; read the rates with get_last_lr()")

    def step(self) -> None:
        """Step the scheduler in charge; at a milestone, start the next one at its step 0."""
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._restart_at(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        state = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                 if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    _nested_keys = ("_schedulers",)

    def _check_state_dict(self, state_dict: Any) -> None:
        super()._check_state_dict(state_dict)
        saved = state_dict["_schedulers"]
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: _schedulers must hold {len(self._schedulers)} states, "
                             f"got {saved!r}")
        for scheduler, state in zip(self._schedulers, saved):  # every one checked before any is loaded
            scheduler._check_state_dict(state)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._check_state_dict(state_dict)
        saved = state_dict["_schedulers"]
        schedulers = self._schedulers
        super().load_state_dict(state_dict)
        self._schedulers = schedulers
        for scheduler, state in zip(schedulers, saved):
            scheduler.load_state_dict(state)


def warmup_cosine(optimizer: Optimizer, warmup_steps: int, total_steps: int, eta_min: float = 0.0,
                  warmup_start_factor: float = 0.01) -> SequentialLR:
    r"""Linear warmup for ``warmup_steps`` steps, then cosine annealing to ``eta_min`` at ``total_steps``.

    With :math:`\eta_{max}` the optimizer's rate, W = ``warmup_steps``, T = ``total_steps``
    and s = ``warmup_start_factor``::

        eta_t = eta_max * (s + (1 - s) * t / W)                                   for t < W
        eta_t = eta_min + (eta_max - eta_min) * (1 + cos(pi (t - W) / (T - W))) / 2   for W <= t <= T

    (the second part computed recursively, as `CosineAnnealingLR`). The sources
    suggest a warmup of about 5 % of the steps. It is exactly this PyTorch
    two-liner (``from torch.optim.lr_scheduler import LinearLR, CosineAnnealingLR, SequentialLR``)::

        warmup = LinearLR(optimizer, start_factor=s, total_iters=W)
        SequentialLR(optimizer, [warmup, CosineAnnealingLR(optimizer, T_max=T - W, eta_min=eta_min)], milestones=[W])

    With ``warmup_steps=0`` it is a `SequentialLR` holding only the cosine.

    Args:
        optimizer: the optimizer to schedule.
        warmup_steps: the length of the warmup, an integer >= 0.
        total_steps: the step at which the rate reaches ``eta_min`` (> ``warmup_steps``).
        eta_min: the final rate (>= 0).
        warmup_start_factor: the fraction of the rate used at step 0, in (0, 1].

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = optim.lr_scheduler.warmup_cosine(opt, warmup_steps=5, total_steps=100)
        >>> for _ in range(5):
        ...     sched.step()
        >>> sched.get_last_lr()            # warmup over: the full rate
        [0.1]
        >>> for _ in range(95):
        ...     sched.step()
        >>> sched.get_last_lr()            # total_steps reached: eta_min
        [0.0]
    """
    who = "warmup_cosine"
    _check_optimizer(who, optimizer)
    warmup_steps = _check_int(who, "warmup_steps", warmup_steps, low=0)
    total_steps = _check_int(who, "total_steps", total_steps, low=1)
    if total_steps <= warmup_steps:
        raise ValueError(f"{who}: total_steps must be larger than warmup_steps={warmup_steps}, got {total_steps}")
    # Check everything before building anything: building a scheduler changes the optimizer's rates.
    _check_real(who, "eta_min", eta_min, low=0.0)
    _check_real(who, "warmup_start_factor", warmup_start_factor, low=0.0, high=1.0, low_open=True)
    if warmup_steps == 0:
        return SequentialLR(optimizer, [CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=eta_min)], [])
    warmup = LinearLR(optimizer, start_factor=warmup_start_factor, end_factor=1.0, total_iters=warmup_steps)
    cosine = CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)
    return SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])


# -- one cycle ---------------------------------------------------------------------------------------


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy: the rate climbs to ``max_lr`` and then falls far below where it started.

    With T = ``total_steps``, p = ``pct_start``, and per group
    ``initial_lr = max_lr / div_factor`` and ``min_lr = initial_lr / final_div_factor``,
    each phase moves from one value to another with::

        anneal(a, b, x) = b + (a - b) / 2 * (1 + cos(pi x))     anneal_strategy='cos'
        anneal(a, b, x) = a + (b - a) * x                       anneal_strategy='linear'

    where x is the fraction of the phase done. Two phases (the default, as fastai)::

        0      <= t <= pT - 1 :  lr: initial_lr -> max_lr     momentum: max_momentum -> base_momentum
        pT - 1 <  t <= T - 1  :  lr: max_lr -> min_lr         momentum: base_momentum -> max_momentum

    ``three_phase=True`` (the original paper) goes back to ``initial_lr`` at step
    2pT - 2, symmetrically, then down to ``min_lr`` at T - 1 with momentum held at
    ``max_momentum``. Momentum runs opposite to the rate: a group's ``'momentum'``
    (SGD, RMSprop) or, for Adam-style optimizers, ``betas[0]`` (beta2 kept).

    The sources' super-convergence: rates up to ten times larger than usual,
    made safe by the warmup and the low final rate. It is not chainable (it
    sets the rates from scratch every step). ``step()`` may be called
    ``total_steps`` times; one more raises ValueError, as in PyTorch.

    Args:
        optimizer: the optimizer to schedule.
        max_lr: the peak rate (> 0), or a list with one per group.
        total_steps: the number of steps in the cycle; or give ``epochs`` and
            ``steps_per_epoch`` and it is their product.
        epochs, steps_per_epoch: see ``total_steps``.
        pct_start: the fraction of the cycle spent raising the rate, in [0, 1].
        anneal_strategy: ``'cos'`` or ``'linear'``.
        cycle_momentum: cycle ``'momentum'`` / ``betas[0]`` too (the optimizer must have one).
        base_momentum, max_momentum: the momentum at the peak and at the ends of
            the cycle, in [0, 1), or lists with one per group.
        div_factor: ``initial_lr = max_lr / div_factor`` (> 0).
        final_div_factor: ``min_lr = initial_lr / final_div_factor`` (> 0).
        three_phase: use the paper's three phases instead of fastai's two.
        last_epoch: see `LRScheduler` (here it counts batches).

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
        >>> rates = [round(sched.get_last_lr()[0], 4)]     # step 0
        >>> for _ in range(9):                             # steps 1 .. total_steps - 1
        ...     sched.step()
        ...     rates.append(round(sched.get_last_lr()[0], 4))
        >>> rates
        [0.04, 0.52, 1.0, 0.9505, 0.8117, 0.6113, 0.3887, 0.1883, 0.0495, 0.0]
        >>> round(opt.param_groups[0]["momentum"], 4)      # back to max_momentum at the end
        0.95
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        who = "OneCycleLR"
        _check_optimizer(who, optimizer)
        if total_steps is not None:
            self.total_steps = _check_int(who, "total_steps", total_steps, low=1)
        elif epochs is not None and steps_per_epoch is not None:
            epochs = _check_int(who, "epochs", epochs, low=1)
            steps_per_epoch = _check_int(who, "steps_per_epoch", steps_per_epoch, low=1)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(f"{who}: give total_steps, or both epochs and steps_per_epoch; got total_steps=None, "
                             f"epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}")
        pct_start = _check_real(who, "pct_start", pct_start, low=0.0, high=1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{who}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        div_factor = _check_real(who, "div_factor", div_factor, low=0.0, low_open=True)
        final_div_factor = _check_real(who, "final_div_factor", final_div_factor, low=0.0, low_open=True)
        max_lrs = [_check_real(who, "max_lr", lr, low=0.0, low_open=True)
                   for lr in _per_group(who, "max_lr", max_lr, optimizer)]

        # Each phase: the step it ends at, and the group keys it anneals the rate and momentum between.
        T = self.total_steps  # noqa: N806 (the formula's symbol)
        up = float(pct_start * T) - 1
        if three_phase:
            self._phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * T) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": T - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": T - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]

        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = False
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{who}: cycle_momentum=True needs an optimizer with 'momentum' or 'betas', "
                                 f"but {type(optimizer).__name__} has neither; pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momenta = [_check_real(who, "max_momentum", m, low=0.0, high=1.0, high_open=True)
                           for m in _per_group(who, "max_momentum", max_momentum, optimizer)]
            base_momenta = [_check_real(who, "base_momentum", m, low=0.0, high=1.0, high_open=True)
                            for m in _per_group(who, "base_momentum", base_momentum, optimizer)]

        if last_epoch == -1:
            for i, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[i] / div_factor
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if self.cycle_momentum:
                    self._set_momentum(group, max_momenta[i])
                    group["max_momentum"] = max_momenta[i]
                    group["base_momentum"] = base_momenta[i]
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def _phase(self) -> tuple[dict[str, Any], float]:
        """The phase ``last_epoch`` lies in, and the fraction of it done."""
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {t} times; the cycle has total_steps={self.total_steps}")
        start = 0.0
        for i, phase in enumerate(self._phases):
            if t <= phase["end_step"] or i == len(self._phases) - 1:
                return phase, (t - start) / (phase["end_step"] - start)
            start = phase["end_step"]
        raise AssertionError("unreachable: the last phase always matches")

    def get_lr(self) -> list[float]:
        phase, fraction = self._phase()
        return [self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], fraction)
                for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one batch; raises ValueError past ``total_steps`` steps, changing nothing."""
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {self.last_epoch + 1} times; the cycle has "
                             f"total_steps={self.total_steps} (build a new scheduler to run another cycle)")
        super().step()

    def _set_lrs(self, lrs: list[float]) -> None:
        super()._set_lrs(lrs)
        if self.cycle_momentum:
            phase, fraction = self._phase()
            for group in self.optimizer.param_groups:
                momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], fraction)
                self._set_momentum(group, momentum)


# -- reduce on plateau -------------------------------------------------------------------------------


class ReduceLROnPlateau(LRScheduler):
    r"""Cut the rates by ``factor`` when a monitored metric stops improving.

    Call ``step(metric)`` once per epoch with, say, the validation loss. With
    ``best`` the best metric so far, the metric *improves* when::

        metric < best * (1 - threshold)     mode='min', threshold_mode='rel'
        metric < best - threshold           mode='min', threshold_mode='abs'
        metric > best * (1 + threshold)     mode='max', threshold_mode='rel'
        metric > best + threshold           mode='max', threshold_mode='abs'

    An improvement becomes the new ``best`` and resets the count of bad epochs;
    otherwise the count grows. Once it exceeds ``patience``, every group's rate
    becomes ``lr <- max(lr * factor, min_lr)`` (skipped when that changes it by
    ``eps`` or less), the count restarts, and for the next ``cooldown`` epochs
    bad epochs are not counted. The sources: use it with early stopping whose
    patience is longer than this one's, so the cut gets a chance to help.

    Args:
        optimizer: the optimizer to schedule.
        mode: ``'min'`` (a loss) or ``'max'`` (an accuracy).
        factor: the factor applied to the rates, in [0, 1).
        patience: how many bad epochs in a row are tolerated (an integer >= 0).
        threshold: the least change that counts as an improvement (>= 0).
        threshold_mode: ``'rel'`` or ``'abs'``, see above.
        cooldown: epochs after a cut during which bad epochs are ignored (>= 0).
        min_lr: the lowest rate (>= 0), or a list with one per group.
        eps: cuts smaller than this are skipped (>= 0).

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
        >>> for val_loss in [1.0, 0.9, 0.95, 0.93, 0.8]:
        ...     sched.step(val_loss)
        >>> sched.get_last_lr()       # two epochs without beating 0.9 exceed patience=1
        [0.05]
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0, eps: float = 1e-8) -> None:
        who = "ReduceLROnPlateau"
        _check_optimizer(who, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{who}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.factor = _check_real(who, "factor", factor, low=0.0, high=1.0, high_open=True)
        self.patience = _check_int(who, "patience", patience, low=0)
        self.threshold = _check_real(who, "threshold", threshold, low=0.0)
        self.cooldown = _check_int(who, "cooldown", cooldown, low=0)
        self.eps = _check_real(who, "eps", eps, low=0.0)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group(who, "min_lr", min_lr, optimizer)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        for value in self.min_lrs:
            _check_real(who, "min_lr", value, low=0.0)
        self.last_epoch = 0
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self) -> bool:
        """Whether bad epochs are being ignored after a recent cut."""
        return self.cooldown_counter > 0

    def is_better(self, metric: float, best: float) -> bool:
        """Whether ``metric`` improves on ``best`` by more than the threshold (see the class doc)."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return metric < best * (1.0 - self.threshold)
        if self.mode == "min":
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record one epoch's metric (a number or a one-element Tensor) and cut the rates if due."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer now has {len(groups)} param groups but "
                                   f"min_lr lists {len(self.min_lrs)}; set scheduler.min_lrs to match")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
