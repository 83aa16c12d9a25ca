r"""Weight averaging, as ``torch.optim.swa_utils``: stochastic weight averaging (SWA) and EMA of a model.

Training with a noisy optimizer leaves the weights bouncing around a minimum;
an *average* of the weights visited lies nearer its centre, which often
generalises better (Izmailov et al., 2018, "Averaging Weights Leads to Wider
Optima and Better Generalization"). Two averages of the weights
:math:`W_1, W_2, \dots` seen at each call of `AveragedModel.update_parameters`:

- SWA, the equal-weight running mean (the default), with :math:`n` the number
  of models averaged so far:
  :math:`\bar W_{n+1} = \bar W_n + (W_{n+1} - \bar W_n) / (n + 1)`;
- EMA, the exponential moving average with ``decay`` :math:`\beta`:
  :math:`\bar W_{n+1} = \beta\,\bar W_n + (1 - \beta)\,W_{n+1}`.

Both start from a copy of the first model (:math:`\bar W_1 = W_1`). The pieces,
as in PyTorch: `AveragedModel` (a model holding the average), the averaging
functions (`get_swa_avg_fn`, `get_ema_avg_fn` work on one tensor;
`get_swa_multi_avg_fn`, `get_ema_multi_avg_fn` on lists, in place),
`update_bn` (recompute BatchNorm's running statistics for the averaged
weights) and `SWALR` (anneal the learning rate to a constant for the SWA phase).

The arithmetic is PyTorch's CPU arithmetic operation for operation, so an
average computed here equals PyTorch's to the last bit in float32.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .._checks import check_choice, check_number
from ..autograd import bump_version, no_grad
from ..nn.module import Module
from ..nn.normalization import _BatchNorm  # PyTorch's update_bn, too, finds BatchNorm layers by their base class
from ..tensor import Tensor
from .lr_scheduler import LRScheduler, _check_int, _check_optimizer, _check_real, _per_group
from .optimizer import Optimizer

__all__ = [
    "AveragedModel",
    "update_bn",
    "SWALR",
    "get_ema_multi_avg_fn",
    "get_swa_multi_avg_fn",
    "get_ema_avg_fn",
    "get_swa_avg_fn",
]

#: What the averaging functions receive: a list (or tuple) of tensors.
ParamList = Sequence[Tensor]


# -- the averaging functions ----------------------------------------------------------------------


def _lerp_(start: Tensor, end: Tensor, weight: float) -> None:
    r"""``start += weight * (end - start)`` in place, rounded as PyTorch's CPU ``lerp_`` rounds.

    PyTorch uses the form :math:`s + w\,(e - s)` for :math:`|w| < 0.5` and the
    equal :math:`e - (e - s)(1 - w)` otherwise (exact at :math:`w = 1`), each
    as one fused multiply-add: the product and the sum are rounded once,
    together. For float32 (and float16) the float64 intermediate below gives
    that single rounding, since the product of two float32 numbers is exact in
    float64; float64 tensors are computed in float64 and may differ from the
    fused result in the last bit.
    """
    s, e = start.numpy(), end.numpy()
    w = s.dtype.type(weight)  # PyTorch converts the weight to the tensor's dtype first
    wide = np.float64 if s.dtype.itemsize < 8 else s.dtype.type
    difference = (e - s).astype(wide)  # end - start, rounded in the tensor's dtype
    if abs(w) < 0.5:
        result = s.astype(wide) + wide(w) * difference
    else:
        result = e.astype(wide) - difference * wide(s.dtype.type(1) - w)
    s[...] = result
    bump_version(start)


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[ParamList, ParamList, Any], None]:
    r"""The EMA update of whole lists of tensors, in place (for ``AveragedModel(multi_avg_fn=...)``).

    With :math:`\beta` = ``decay``, each averaged tensor :math:`\bar W` and the
    model's current :math:`W`:

    .. math::
        \bar W \leftarrow \beta\,\bar W + (1 - \beta)\,W
        \;=\; \bar W + (1 - \beta)(W - \bar W)

    computed as PyTorch's ``lerp_`` with weight :math:`1 - \beta` for floating
    tensors; integer tensors (BatchNorm's ``num_batches_tracked`` under
    ``use_buffers=True``) get ``(avg * decay + current * (1 - decay))`` in the
    default float dtype, truncated back to integers, as PyTorch does. A decay
    near 1 averages over about :math:`1/(1-\beta)` recent models.

    Args:
        decay: :math:`\beta`, in [0, 1] (0 copies the model, 1 never moves).

    Returns:
        ``ema_update(averaged_list, current_list, num_averaged)``, which changes
        ``averaged_list``'s tensors in place and records no graph.

    Raises:
        ValueError: ``decay`` outside [0, 1].

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.optim.swa_utils import get_ema_multi_avg_fn
        >>> ema = get_ema_multi_avg_fn(0.75)
        >>> avg = [tg.tensor([0.0, 4.0])]
        >>> ema(avg, [tg.tensor([4.0, 0.0])], 1)     # 0.75 * avg + 0.25 * current
        >>> avg[0]
        tensor([1., 3.])
    """
    decay = check_number("get_ema_multi_avg_fn", "decay", decay, low=0, high=1)

    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, num_averaged: Any) -> None:
        with no_grad():
            for averaged, current in zip(ema_param_list, current_param_list, strict=True):
                if averaged.dtype.kind in "fc":
                    _lerp_(averaged, current, 1 - decay)
                else:
                    averaged.copy_(averaged * decay + current * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[ParamList, ParamList, Any], None]:
    r"""The SWA (equal-weight running mean) update of whole lists of tensors, in place.

    With :math:`n` = ``num_averaged`` models averaged so far, each averaged
    tensor :math:`\bar W` and the model's current :math:`W`:

    .. math::
        \bar W \leftarrow \bar W + \frac{W - \bar W}{n + 1}

    computed as PyTorch's ``lerp_`` with weight :math:`1/(n+1)` for floating
    tensors (the weight computed as a tensor in the default float dtype when
    ``num_averaged`` is a tensor, as PyTorch does). Integer tensors get
    ``avg + (current - avg) / (n + 1)`` truncated back to integers, as
    `get_swa_avg_fn` gives them. (PyTorch 2.x raises "Integer division with
    addcdiv is no longer supported" there instead: averaging a model with
    BatchNorm with this function and ``use_buffers=True`` fails in PyTorch.)

    Returns:
        ``swa_update(averaged_list, current_list, num_averaged)``, in place, no graph.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.optim.swa_utils import get_swa_multi_avg_fn
        >>> swa = get_swa_multi_avg_fn()
        >>> avg = [tg.tensor([2.0])]                 # the mean of 3 models so far
        >>> swa(avg, [tg.tensor([6.0])], 3)          # the 4th: (3 * 2 + 6) / 4
        >>> avg[0]
        tensor([3.])
    """

    def swa_update(averaged_param_list: ParamList, current_param_list: ParamList, num_averaged: Any) -> None:
        if isinstance(num_averaged, Tensor):
            weight = (1 / (num_averaged + 1)).item()
        else:
            weight = 1 / (num_averaged + 1)
        with no_grad():
            for averaged, current in zip(averaged_param_list, current_param_list, strict=True):
                if averaged.dtype.kind in "fc":
                    _lerp_(averaged, current, weight)
                else:
                    averaged.copy_(averaged + (current - averaged) / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    r"""The EMA of one tensor: returns :math:`\beta\,\bar W + (1 - \beta)\,W` (for ``AveragedModel(avg_fn=...)``).

    The same average as `get_ema_multi_avg_fn`, written as two products and a
    sum (PyTorch's ``decay * ema + (1 - decay) * current``), returned as a new
    tensor that `AveragedModel` copies into its own.

    Args:
        decay: :math:`\beta`, in [0, 1].

    Raises:
        ValueError: ``decay`` outside [0, 1].

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.optim.swa_utils import get_ema_avg_fn
        >>> get_ema_avg_fn(0.5)(tg.tensor([0.0]), tg.tensor([2.0]), 1)
        tensor([1.])
    """
    decay = check_number("get_ema_avg_fn", "decay", decay, low=0, high=1)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Any], Tensor]:
    r"""The SWA running mean of one tensor: returns :math:`\bar W + (W - \bar W) / (n + 1)`.

    This is also what `AveragedModel` uses when given no function at all (as
    PyTorch does on the CPU). ``num_averaged`` (:math:`n`) may be an int or
    `AveragedModel`'s integer ``n_averaged`` tensor.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.optim.swa_utils import get_swa_avg_fn
        >>> get_swa_avg_fn()(tg.tensor([2.0]), tg.tensor([6.0]), 3)
        tensor([3.])
    """

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


# -- the averaged model -----------------------------------------------------------------------------


class AveragedModel(Module):
    r"""A copy of a model whose weights are a running average (SWA or EMA) of the model's, as PyTorch's.

    Building it deep-copies ``model`` into ``self.module`` and registers the
    integer buffer ``n_averaged`` (how many models have been averaged). Each
    `update_parameters` call folds the model's current weights in: the first
    call copies them; later ones apply ``avg_fn`` to each tensor (its result
    copied in), or ``multi_avg_fn`` to lists of tensors of one dtype (in
    place), or, given neither, the equal-weight mean of `get_swa_avg_fn`:

    .. math::
        \bar W_{n+1} = \bar W_n + \frac{W_{n+1} - \bar W_n}{n + 1}.

    With ``use_buffers=True`` the buffers (BatchNorm's running statistics) are
    averaged like the parameters; otherwise they are copied from the model at
    every update, and `update_bn` recomputes them for the averaged weights.
    Calling the averaged model runs ``self.module``. Its ``state_dict`` holds
    ``'n_averaged'`` and ``'module.<name>'`` entries, as PyTorch's; the
    averaging functions are not saved.

    Args:
        model: the model to average (it is copied; it keeps training on its own).
        device: where to keep the copy: only the CPU exists here (``None`` or ``'cpu'``).
        avg_fn: ``avg_fn(averaged, current, num_averaged) -> Tensor``, applied per tensor.
        multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, num_averaged)``, in place on lists.
        use_buffers: average the buffers too (else copy them from the model).

    Raises:
        AssertionError: both ``avg_fn`` and ``multi_avg_fn`` given (PyTorch's error).
        TypeError: ``model`` not a Module, or a function that is not callable.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn
        >>> from tinygrad_edu.optim.swa_utils import AveragedModel
        >>> model = nn.Linear(1, 1, bias=False)
        >>> swa = AveragedModel(model)
        >>> for value in (1.0, 2.0, 6.0):                # three models seen during training
        ...     _ = model.weight.data.fill_(value)
        ...     swa.update_parameters(model)
        >>> swa.module.weight.item(), int(swa.n_averaged)   # (1 + 2 + 6) / 3
        (3.0, 3)
    """

    def __init__(self, model: Module, device: Any = None,
                 avg_fn: Callable[[Tensor, Tensor, Any], Tensor] | None = None,
                 multi_avg_fn: Callable[[ParamList, ParamList, Any], None] | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("AveragedModel: only one of avg_fn and multi_avg_fn should be provided")
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be an nn.Module, got {type(model).__name__}")
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"AveragedModel: {name} must be a function or None, got {fn!r}")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)  # refuses any device but the CPU
        self.register_buffer("n_averaged", Tensor(np.array(0, dtype=np.int64)))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = bool(use_buffers)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the averaged copy of the model."""
        return self.module(*args, **kwargs)

    def _pairs(self, model: Module) -> tuple[list[Tensor], list[Tensor]]:
        """The averaged tensors and the model's matching ones, checked to correspond one to one."""
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel.update_parameters: model must be an nn.Module, got "
                            f"{type(model).__name__}")
        if self.use_buffers:
            own = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
            what = "parameters and buffers"
        else:
            own, theirs = list(self.module.parameters()), list(model.parameters())
            what = "parameters"
        own_buffers, their_buffers = list(self.module.buffers()), list(model.buffers())
        for kind, mine, other in ((what, own, theirs), ("buffers", own_buffers, their_buffers)):
            if len(mine) != len(other):
                raise ValueError(f"AveragedModel.update_parameters: the averaged model has {len(mine)} {kind} but "
                                 f"the model has {len(other)}; pass the model this AveragedModel was built from")
            for index, (a, b) in enumerate(zip(mine, other)):
                if a.shape != b.shape:
                    raise ValueError(f"AveragedModel.update_parameters: {kind} number {index} has shape {a.shape} "
                                     f"in the averaged model but {b.shape} in the model")
        return own, theirs

    def update_parameters(self, model: Module) -> None:
        r"""Fold ``model``'s current weights into the average (the first call copies them); ``n_averaged += 1``.

        Everything is checked before anything changes; no graph is recorded,
        and the averaged tensors are changed in place (their storage stays the
        same, so references to ``self.module``'s parameters stay valid).
        """
        own, theirs = self._pairs(model)
        with no_grad():
            averaged = [p.detach() for p in own]  # same storage and version counter, outside any graph
            current = [p.detach() for p in theirs]
            n_averaged = self.n_averaged
            if int(n_averaged.item()) == 0:
                for a, c in zip(averaged, current):
                    a.copy_(c)
            elif self.avg_fn is not None:
                for a, c in zip(averaged, current):
                    a.copy_(self.avg_fn(a, c, n_averaged))
            elif self.multi_avg_fn is not None:
                # As PyTorch: one call per dtype, so a function sees lists of one kind of tensor.
                groups: dict[np.dtype, tuple[list[Tensor], list[Tensor]]] = {}
                for a, c in zip(averaged, current):
                    group = groups.setdefault(a.dtype, ([], []))
                    group[0].append(a)
                    group[1].append(c)
                for group_averaged, group_current in groups.values():
                    self.multi_avg_fn(group_averaged, group_current, n_averaged)
            else:  # PyTorch's default on the CPU: the per-tensor running mean
                swa = get_swa_avg_fn()
                for a, c in zip(averaged, current):
                    a.copy_(swa(a, c, n_averaged))
            if not self.use_buffers:
                # The buffers are not averaged: they follow the model's.
                for own_buffer, model_buffer in zip(self.module.buffers(), model.buffers()):
                    own_buffer.detach().copy_(model_buffer.detach())
            self.n_averaged += 1


# -- BatchNorm statistics for the averaged weights ----------------------------------------------------


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    r"""Recompute every BatchNorm layer's running mean and variance with one pass over ``loader``.

    The averaged weights were never trained with the running statistics they
    inherited, so SWA recomputes them: each BatchNorm layer's statistics are
    reset, its ``momentum`` set to ``None`` (a cumulative average, every batch
    weighing the same: after :math:`k` batches the running mean is the mean of
    the :math:`k` batch means), the model run in training mode over the
    loader, and the momenta and the training mode restored. No graph is
    recorded. A model without BatchNorm is left alone (the loader is not read).

    Args:
        loader: batches: tensors, or lists/tuples whose first element is the input tensor.
        model: the model (an `AveragedModel`, say).
        device: where to move each batch first: only the CPU exists here.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn
        >>> from tinygrad_edu.optim.swa_utils import update_bn
        >>> model = nn.BatchNorm1d(1)
        >>> loader = [tg.tensor([[0.0], [2.0]]), tg.tensor([[4.0], [6.0]])]
        >>> update_bn(loader, model)
        >>> model.running_mean                           # (1 + 5) / 2
        tensor([3.])
    """
    if not isinstance(model, Module):
        raise TypeError(f"update_bn: model must be an nn.Module, got {type(model).__name__}")
    momenta, saved = {}, []
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            if module.track_running_stats:  # kept to put back if the pass fails (PyTorch leaves them reset)
                saved += [(b, np.array(b.numpy())) for b in (module.running_mean, module.running_var,
                                                            module.num_batches_tracked)]
            momenta[module] = module.momentum
    if not momenta:
        return
    for module in momenta:
        module.reset_running_stats()
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    batch = batch[0]
                if device is not None:
                    batch = batch.to(device)
                model(batch)
    except BaseException:
        for buffer, values in saved:  # a failed pass (a bad batch, Ctrl-C) leaves the statistics as they were
            buffer.numpy()[...] = values
            bump_version(buffer)
        raise
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


# -- the learning rate for the SWA phase --------------------------------------------------------------


class SWALR(LRScheduler):
    r"""Anneal each group's learning rate from its current value to ``swa_lr``, then hold it (PyTorch's SWALR).

    With :math:`\eta` the group's rate when annealing starts, :math:`T` =
    ``anneal_epochs`` and :math:`s` = the number of steps taken (the
    constructor's counts as the first, so the rates start at :math:`s = 0`):

    .. math::
        \eta_s = \alpha(t)\,\eta_{swa} + (1 - \alpha(t))\,\eta, \qquad
        t = \min(1, s / T),

    with :math:`\alpha(t) = (1 - \cos \pi t) / 2` (``"cos"``) or
    :math:`\alpha(t) = t` (``"linear"``); from :math:`s = T` on the rate is
    :math:`\eta_{swa}`. (``anneal_epochs=0`` jumps to :math:`\eta_{swa}` at the
    first ``step()``.) As in PyTorch the schedule is computed from the rate
    the group holds now: each step recovers :math:`\eta` from the current rate
    and the previous :math:`\alpha`, so a rate set by hand carries on.

    Args:
        optimizer: the optimizer to schedule.
        swa_lr: :math:`\eta_{swa}`, one for all groups or a list with one per group.
        anneal_epochs: :math:`T`, an integer >= 0.
        anneal_strategy: ``"cos"`` or ``"linear"``.
        last_epoch: see `LRScheduler`.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> from tinygrad_edu.optim.swa_utils import SWALR
        >>> opt = optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = SWALR(opt, swa_lr=0.5, anneal_epochs=2, anneal_strategy="linear")
        >>> rates = [sched.get_last_lr()[0]]
        >>> for _ in range(3):
        ...     sched.step()
        ...     rates.append(sched.get_last_lr()[0])
        >>> rates
        [1.0, 0.75, 0.5, 0.5]
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | Sequence[float], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1) -> None:
        _check_optimizer("SWALR", optimizer)
        swa_lrs = [_check_real("SWALR", "swa_lr", lr, low=0)
                   for lr in _per_group("SWALR", "swa_lr", swa_lr, optimizer)]
        self._anneal_strategy = check_choice("SWALR", "anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.anneal_epochs = _check_int("SWALR", "anneal_epochs", anneal_epochs, low=0)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        self._step_count = 0  # PyTorch's count of step() calls, the constructor's included
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @property
    def anneal_func(self) -> Callable[[float], float]:
        r"""The annealing function :math:`\alpha(t)` of the chosen strategy."""
        return self._cosine_anneal if self._anneal_strategy == "cos" else self._linear_anneal

    def step(self) -> None:
        """Advance the schedule by one step and write the new rates into the optimizer."""
        self._step_count += 1
        super().step()

    def get_lr(self) -> list[float]:
        steps = self._step_count - 1
        if self.anneal_epochs == 0:
            steps = max(1, steps)
        span = max(1, self.anneal_epochs)
        alpha_before = self.anneal_func(max(0, min(1, (steps - 1) / span)))
        alpha = self.anneal_func(max(0, min(1, steps / span)))
        rates = []
        for group in self.optimizer.param_groups:
            swa_lr = group["swa_lr"]
            # The rate annealing started from, recovered from the current one: lr = a swa_lr + (1 - a) start.
            start = swa_lr if alpha_before == 1 else (group["lr"] - alpha_before * swa_lr) / (1 - alpha_before)
            rates.append(swa_lr * alpha + start * (1 - alpha))
        return rates
