"""`Inspector`: per-layer statistics while training — activations, gradients, update-to-data ratios.

The sources' debugging order ends with "look at the gradient norms": vanishing
and exploding gradients, dead ReLUs, saturated tanh and sigmoid units and a
rate too large for one layer all show in per-layer statistics long before the
loss says anything. The makemore lecture on batch normalisation draws them by
hand, layer by layer; an `Inspector` records them while training, every
``every`` optimizer steps, in bounded memory, for `tg.viz` to draw and
`tg.train.diagnose` to read.

What is recorded, at each recorded step ``s`` (optimizer steps counted from 0;
steps 0, ``every``, ``2*every``, ...):

==========================  ====================================================================
``activations[layer]``      of the layer's output on the training forward passes before step
                            ``s`` (all of them, with ``accumulate``): ``"mean"``, ``"std"``
                            (PyTorch's ``std()``, unbiased), ``"saturated"`` (the fraction of
                            outputs with ``|tanh| > 0.97``, or a sigmoid outside
                            ``[0.03, 0.97]``; nan for other kinds), ``"dead"`` (the fraction of
                            a ReLU's units that are zero for every sample of the batch; nan for
                            other kinds)
``gradients[param]``        of the gradient the optimizer steps with (accumulated, clipped):
                            ``"mean"``, ``"std"`` (unbiased), ``"norm"`` (the 2-norm)
``update_ratios[param]``    ``log10(std(w_after - w_before) / std(w_before))``: the size of the
                            step against the size of the weight (``lr * grad`` for plain SGD;
                            what it really was for any optimizer). The lecture's rule of thumb:
                            about -3
==========================  ====================================================================

Conventions, where a choice had to be made:

- *Which layers* (``layers=None``): every module with parameters of its own
  (`Linear`, `Conv2d`, norms, `Embedding`, RNNs, attention, and the model
  itself if it holds some, under the name ``''``) and every activation module
  (`ReLU`, `LeakyReLU`, `Tanh`, `Sigmoid`, `GELU`, `SiLU`, `ELU`, `Softplus`).
  ``insp.layers`` is put in the order the layers were first called in a
  recorded forward pass (depth order); ``insp.params`` follows it.
- *Kinds*: ``"tanh"`` (`Tanh`, an `RNN`/`RNNCell` with ``nonlinearity='tanh'``),
  ``"sigmoid"``, ``"relu"`` (`ReLU`, an RNN with ``'relu'``), ``"linear"``
  (`Linear`, `Conv1d`, `Conv2d`: affine maps) and ``"other"`` (the rest,
  `LeakyReLU` included: it has no dead units).
- *Outputs*: a module returning a tuple (an RNN's ``(output, h_n)``,
  attention's ``(output, weights)``) is recorded on its first Tensor. A
  module called several times in one forward pass (one ``self.act`` used after
  every layer, an `RNNCell` over time) is recorded over all its calls
  together: give each layer its own activation module to see them apart.
- *Dead units* are the entries of one sample's output (everything but
  dimension 0, the batch), each dead when it is zero for every sample of the
  batch; a batch of one sample makes every zero output a dead unit, so
  read ``"dead"`` with batches of a few dozen samples.
- *Only training forwards* are recorded: a module in ``eval()`` mode, or a
  forward under ``no_grad()``, is skipped (validation in `fit` is never mixed
  in).
- *Gradients*: only parameters with ``requires_grad`` when the Inspector is
  made; a parameter without a gradient at a recorded step gets nan.
- *Update ratio*: nan where ``std(w_before) == 0`` (a bias initialised to
  zero, a norm's gain of ones at the first step), ``-inf`` where the weight did
  not move.
- *Bounded memory*: each statistic is a ring of the last ``history``
  recorded steps (arrays exposed in step order, with ``insp.steps``), and
  ``last_activations`` / ``last_gradients`` hold at most ``sample`` values each
  (a strided subsample of the flattened tensor; the stride is made coprime
  with the last dimension, so every column is visited).
- *Cost*: on a step that is not recorded a forward hook returns after one
  attribute check and nothing else runs; a recorded step reads each output
  and gradient once with NumPy (outside the autograd graph) and copies the
  weights once (``benchmarks/inspector.py`` measures it).

As a callback in `fit`, the forward hooks are attached at ``on_train_begin``
and removed at ``on_train_end`` or ``on_exception`` (never left behind);
gradients and a copy of the weights are taken at ``on_before_optimizer_step``
and the update ratio after the step; at the end ``history.inspector`` is set,
so ``tg.train.diagnose(history)`` reads it. The step count goes on across
several `fit` runs with the same Inspector.

By hand, around any loop::

    insp = tg.train.Inspector(model, every=1)
    with insp:                                  # attach() ... detach() the forward hooks
        for x, y in batches:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            insp.before_step()                  # gradients, and the weights before the step
            optimizer.step()
            insp.after_step()                   # the update ratios; counts the step

Example:
    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu import nn, optim
    >>> _ = tg.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    >>> optimizer = optim.SGD(model.parameters(), lr=0.1)
    >>> insp = tg.train.Inspector(model, every=2)
    >>> insp.layers, insp.kinds["1"], insp.params[:2]
    (['0', '1', '2'], 'tanh', ['0.weight', '0.bias'])
    >>> x, y = tg.randn(32, 4), tg.randn(32, 1)
    >>> with insp:
    ...     for _ in range(5):
    ...         loss = nn.MSELoss()(model(x), y)
    ...         optimizer.zero_grad(); loss.backward()
    ...         insp.before_step(); optimizer.step(); insp.after_step()
    >>> insp.steps.tolist()
    [0, 2, 4]
    >>> sorted(insp.activations["1"]), sorted(insp.gradients["0.weight"])
    (['dead', 'mean', 'saturated', 'std'], ['mean', 'norm', 'std'])
    >>> bool(-4 < insp.update_ratios["0.weight"][0] < 0), insp.last_activations["1"].shape
    (True, (256,))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import nn
from .._checks import check_int
from ..autograd import is_grad_enabled
from ..nn.module import Module
from ..tensor import Tensor
from .callbacks import Callback

__all__ = ["Inspector", "TANH_SATURATION", "SIGMOID_SATURATION", "ACTIVATIONS"]

#: A tanh output counts as saturated when its absolute value is above this (its slope is below 0.06).
TANH_SATURATION = 0.97
#: A sigmoid output counts as saturated outside this interval (its slope is below 0.03).
SIGMOID_SATURATION = (0.03, 0.97)
#: The activation modules recorded by default (besides every module with parameters of its own).
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.Softplus)

_ACTIVATION_STATS = ("mean", "std", "saturated", "dead")
_GRADIENT_STATS = ("mean", "std", "norm")


def _kind(module: Module) -> str:
    """Which saturation rule applies to the module's output."""
    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.RNN):
        return "relu" if getattr(module, "mode", "") == "RNN_RELU" else "tanh"
    if isinstance(module, nn.RNNCell):
        return "relu" if getattr(module, "nonlinearity", "tanh") == "relu" else "tanh"
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        return "linear"
    return "other"


def _has_own_parameters(module: Module) -> bool:
    return next(module.named_parameters(recurse=False), None) is not None


def _first_tensor(output: Any) -> Tensor | None:
    """The output itself if it is a Tensor, else the first Tensor of a (nested) tuple or list."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _sample(array: np.ndarray, size: int) -> np.ndarray:
    """At most ``size`` values of ``array``, every k-th of the flattened array, as float64.

    k is made coprime with the last dimension, so the sample visits every column
    (a stride of 16 over rows of 64 would see only four units).
    """
    if array.size <= size:
        return array.astype(np.float64).reshape(-1)
    stride = -(-array.size // size)
    width = array.shape[-1] if array.ndim else 1
    while math.gcd(stride, width) != 1:
        stride += 1
    flat = array.reshape(-1) if array.flags.c_contiguous else array.flat  # never a copy of the whole tensor
    return np.asarray(flat[::stride], dtype=np.float64)


def _moments(array: np.ndarray) -> tuple[int, float, float]:
    """(n, mean, sum of squared deviations), in float64, without a float64 copy of the input."""
    n = int(array.size)
    mean = float(array.mean(dtype=np.float64))
    m2 = float(array.var(dtype=np.float64)) * n
    return n, mean, m2


class Inspector(Callback):
    """Record per-layer activation, gradient and update statistics while training (see the module docs).

    Args:
        model: the `Module` to watch.
        every: record every ``every``-th optimizer step (steps 0, every, 2*every, ...).
        layers: ``None`` (every module with parameters of its own and every
            activation module), or a list of module names (as
            ``model.named_modules()`` gives them) and/or module classes
            (``[nn.Tanh, "0"]``).
        history: how many recorded steps each statistic keeps (a ring: the
            oldest are dropped).
        sample: at most this many values kept in ``last_activations`` and
            ``last_gradients`` per layer and parameter.

    Attributes:
        layers: the names of the modules whose output is recorded, in the
            order they were first called (depth order).
        kinds: name -> ``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"linear"`` or ``"other"``.
        params: the names of the parameters whose gradient and update are
            recorded, in the order of ``layers``.
        steps: the optimizer-step numbers recorded (from 0), oldest first.
        activations: layer -> ``{"mean", "std", "saturated", "dead"}``, each
            an array over ``steps``.
        gradients: parameter -> ``{"mean", "std", "norm"}``, each an array over ``steps``.
        update_ratios: parameter -> the array of
            ``log10(std(w_after - w_before) / std(w_before))`` over ``steps``.
        last_activations: layer -> a 1-D sample (at most ``sample`` values)
            of its last recorded output.
        last_gradients: parameter -> a 1-D sample of its last recorded gradient.
        every, history, sample: as given.

    Raises:
        TypeError: ``model`` is not a `Module`; ``layers`` holds something
            other than names and module classes.
        ValueError: ``every``, ``history`` or ``sample`` not an integer >= 1;
            a name in ``layers`` that is not a module of the model (the message
            lists the names there are); no module of the model matches (a
            model without parameters or activations, or classes it does not
            use).
    """

    def __init__(self, model: Module, every: int = 10, layers: Iterable[str | type] | None = None,
                 history: int = 1000, sample: int = 4096) -> None:
        super().__init__()
        who = "Inspector"
        if not isinstance(model, Module):
            raise TypeError(f"{who}: model must be a tg.nn.Module, got {type(model).__name__}")
        self.every = check_int(who, "every", every, minimum=1)
        self.history = check_int(who, "history", history, minimum=1)
        self.sample = check_int(who, "sample", sample, minimum=1)
        chosen = self._choose(model, layers)
        self.model = model
        self._modules = [module for _, module in chosen]
        self._names = [name for name, _ in chosen]
        self.layers: list[str] = list(self._names)
        self.kinds: dict[str, str] = {name: _kind(module) for name, module in chosen}
        self._kind_codes = [self.kinds[name] for name in self._names]

        # Each parameter belongs to the deepest chosen layer whose name prefixes its own.
        owners: list[tuple[str, int, Any]] = []  # (name, owner's index in _names, parameter)
        for pname, param in model.named_parameters():
            if not param.requires_grad:
                continue
            owner = max((i for i, name in enumerate(self._names) if name == "" or pname.startswith(name + ".")),
                        key=lambda i: len(self._names[i]), default=None)
            if owner is not None:
                owners.append((pname, owner, param))
        self._param_names = [pname for pname, _, _ in owners]
        self._param_owner = [owner for _, owner, _ in owners]
        self._parameters = [param for _, _, param in owners]
        self.params: list[str] = list(self._param_names)

        n_layers, n_params = len(self._names), len(self._param_names)
        self._steps = np.zeros(self.history, dtype=np.int64)
        self._act = np.full((self.history, n_layers, len(_ACTIVATION_STATS)), np.nan)
        self._grad = np.full((self.history, n_params, len(_GRADIENT_STATS)), np.nan)
        self._ratio = np.full((self.history, n_params), np.nan)
        self._count = 0  # recorded steps so far (the ring's write position is _count % history)
        self._step = 0  # optimizer steps counted so far: the number of the next step
        self._recording = True  # whether the coming step is recorded (read by the forward hooks)
        self._stepped = False  # before_step ran and after_step has not yet
        self._handles: list[Any] = []
        self._first_call: list[int] = []  # layer indices in the order they were first called
        self._seen = [False] * n_layers
        self.last_activations: dict[str, np.ndarray] = {}
        self.last_gradients: dict[str, np.ndarray] = {}
        self._reset_step()

    # -- choosing the layers -------------------------------------------------------------

    @staticmethod
    def _choose(model: Module, layers: Any) -> list[tuple[str, Module]]:
        who = "Inspector"
        named = list(model.named_modules())
        if layers is None:
            chosen = [(name, m) for name, m in named if _has_own_parameters(m) or isinstance(m, ACTIVATIONS)]
            if not chosen:
                raise ValueError(f"{who}: the model ({type(model).__name__}) has no layer to inspect: no module "
                                 f"with parameters of its own and no activation module "
                                 f"({', '.join(c.__name__ for c in ACTIVATIONS)})")
            return chosen
        if isinstance(layers, (str, type)) or not isinstance(layers, Iterable):
            layers = [layers]
        names, classes = set(), []
        valid = [name for name, _ in named]
        for item in layers:
            if isinstance(item, str):
                if item not in valid:
                    shown = ", ".join(repr(n) for n in valid[:40]) + (", ..." if len(valid) > 40 else "")
                    raise ValueError(f"{who}: layers holds {item!r}, which is not a module of the model; the "
                                     f"names there are (model.named_modules()): {shown}")
                names.add(item)
            elif isinstance(item, type) and issubclass(item, Module):
                classes.append(item)
            else:
                raise TypeError(f"{who}: layers must hold module names (str) or module classes (nn.Tanh, ...), "
                                f"got {item!r}")
        chosen = [(name, m) for name, m in named if name in names or isinstance(m, tuple(classes))]
        if not chosen:
            raise ValueError(f"{who}: no module of the model matches layers={list(layers)!r} (the model uses "
                             f"{sorted({type(m).__name__ for _, m in named})})")
        return chosen

    # -- attaching -----------------------------------------------------------------------

    def attach(self) -> Inspector:
        """Put a forward hook on each chosen layer (done by ``with insp:`` and by `fit`); return self."""
        if self._handles:
            return self
        for index, module in enumerate(self._modules):
            self._handles.append(module.register_forward_hook(self._make_hook(index)))
        return self

    def detach(self) -> None:
        """Remove the forward hooks (the recorded statistics stay)."""
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()

    def __enter__(self) -> Inspector:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def _make_hook(self, index: int) -> Any:
        def hook(module: Module, args: Any, output: Any) -> None:
            # The one check on a step that is not recorded; eval and no_grad forwards are not training.
            if self._recording and module.training and is_grad_enabled():
                self._record_activation(index, output)

        return hook

    # -- recording -----------------------------------------------------------------------

    def _reset_step(self) -> None:
        n_layers, n_params = len(self._names), len(self._param_names)
        # Per layer: calls pooled with Chan's rule: n, mean, m2, saturated count, dead units, units.
        self._acc = np.zeros((n_layers, 6))
        self._grad_now = np.full((n_params, len(_GRADIENT_STATS)), np.nan)
        self._before: list[np.ndarray | None] = [None] * n_params

    def _record_activation(self, index: int, output: Any) -> None:
        tensor = _first_tensor(output)
        if tensor is None:
            return
        values = tensor.numpy()
        if values.size == 0 or values.dtype.kind not in "biuf":
            return
        if not self._seen[index]:
            self._seen[index] = True
            self._first_call.append(index)
        n, mean, m2 = _moments(values)
        acc = self._acc[index]
        n0, mean0, m20 = acc[0], acc[1], acc[2]
        total = n0 + n
        delta = mean - mean0
        acc[0], acc[1], acc[2] = total, mean0 + delta * n / total, m20 + m2 + delta * delta * n0 * n / total
        kind = self._kind_codes[index]
        if kind == "tanh":
            acc[3] += np.count_nonzero(np.abs(values) > TANH_SATURATION)
        elif kind == "sigmoid":
            low, high = SIGMOID_SATURATION
            acc[3] += np.count_nonzero((values < low) | (values > high))
        elif kind == "relu":
            firing = values != 0
            if values.ndim >= 2:
                firing = firing.reshape(values.shape[0], -1).any(axis=0)
            acc[4] += firing.size - np.count_nonzero(firing)
            acc[5] += firing.size
        self.last_activations[self._names[index]] = _sample(values, self.sample)

    def before_step(self) -> None:
        """Call after ``backward()`` and before ``optimizer.step()``: records the gradients (on a recorded step)
        and keeps a copy of the weights for the update ratio."""
        self._stepped = True
        if not self._recording:
            return
        for j, param in enumerate(self._parameters):
            grad = param.grad
            if grad is None:
                continue
            values = grad.numpy()
            n, mean, m2 = _moments(values)
            std = math.sqrt(m2 / (n - 1)) if n > 1 else math.nan
            self._grad_now[j] = (mean, std, math.sqrt(m2 + n * mean * mean))
            self.last_gradients[self._param_names[j]] = _sample(values, self.sample)
            self._before[j] = param.numpy().copy()

    def after_step(self) -> None:
        """Call after ``optimizer.step()``: records the update ratios and the step (on a recorded step); counts
        the step."""
        self._stepped = False
        if self._recording:
            self._commit()
        self._step += 1
        self._recording = self._step % self.every == 0

    def _update_ratio(self, j: int) -> float:
        before = self._before[j]
        after = self._parameters[j].numpy()
        if before is None or after.shape != before.shape or before.size == 0:
            return math.nan
        scale = float(before.std(dtype=np.float64))
        if scale == 0 or not math.isfinite(scale):
            return math.nan
        change = float((after - before).std(dtype=np.float64))
        if change == 0:
            return -math.inf
        return math.log10(change / scale) if math.isfinite(change) else math.inf

    def _commit(self) -> None:
        slot = self._count % self.history
        self._steps[slot] = self._step
        acc = self._acc
        n = acc[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, acc[:, 1], np.nan)
            std = np.where(n > 1, np.sqrt(acc[:, 2] / (n - 1)), np.nan)
            saturated = np.where(n > 0, acc[:, 3] / n, np.nan)
            dead = np.where(acc[:, 5] > 0, acc[:, 4] / acc[:, 5], np.nan)
        for i, kind in enumerate(self._kind_codes):
            if kind not in ("tanh", "sigmoid"):
                saturated[i] = np.nan
            if kind != "relu":
                dead[i] = np.nan
        self._act[slot] = np.stack([mean, std, saturated, dead], axis=1)
        self._grad[slot] = self._grad_now
        self._ratio[slot] = [self._update_ratio(j) for j in range(len(self._parameters))]
        self._count += 1
        self._reorder()
        self._reset_step()

    def _reorder(self) -> None:
        """``layers`` in first-call order (uncalled ones after, as they were); ``params`` following them."""
        order = self._first_call + [i for i in range(len(self._names)) if not self._seen[i]]
        self.layers = [self._names[i] for i in order]
        position = {layer: k for k, layer in enumerate(order)}
        ranked = sorted(range(len(self._param_names)), key=lambda j: (position[self._param_owner[j]], j))
        self.params = [self._param_names[j] for j in ranked]

    # -- reading -------------------------------------------------------------------------

    def _ordered(self, array: np.ndarray) -> np.ndarray:
        """The ring's filled rows, oldest first (a copy)."""
        if self._count <= self.history:
            return array[:self._count].copy()
        start = self._count % self.history
        return np.concatenate([array[start:], array[:start]])

    @property
    def steps(self) -> np.ndarray:
        """The recorded optimizer-step numbers (from 0), oldest first."""
        return self._ordered(self._steps)

    @property
    def activations(self) -> dict[str, dict[str, np.ndarray]]:
        """layer -> ``{"mean", "std", "saturated", "dead"}``, arrays over `steps`."""
        table = self._ordered(self._act)
        index = {name: i for i, name in enumerate(self._names)}
        return {layer: {stat: table[:, index[layer], k].copy() for k, stat in enumerate(_ACTIVATION_STATS)}
                for layer in self.layers}

    @property
    def gradients(self) -> dict[str, dict[str, np.ndarray]]:
        """parameter -> ``{"mean", "std", "norm"}``, arrays over `steps`."""
        table = self._ordered(self._grad)
        index = {name: j for j, name in enumerate(self._param_names)}
        return {param: {stat: table[:, index[param], k].copy() for k, stat in enumerate(_GRADIENT_STATS)}
                for param in self.params}

    @property
    def update_ratios(self) -> dict[str, np.ndarray]:
        """parameter -> ``log10(std(change of the weight) / std(weight))``, an array over `steps`."""
        table = self._ordered(self._ratio)
        index = {name: j for j, name in enumerate(self._param_names)}
        return {param: table[:, index[param]].copy() for param in self.params}

    def __repr__(self) -> str:
        return (f"Inspector({len(self.layers)} layers, {len(self.params)} parameters, every={self.every}, "
                f"{min(self._count, self.history)} steps recorded)")

    # -- as a callback in fit --------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self._stepped = False
        self._reset_step()
        self.attach()

    def on_before_optimizer_step(self, batch: int, logs: dict[str, Any]) -> None:
        self.before_step()

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        if self._stepped:  # this batch ended a step (with accumulate, not every batch does)
            self.after_step()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        self.detach()
        if self.trainer is not None:
            self.trainer.history.inspector = self

    def on_exception(self, err: BaseException) -> None:
        self.detach()
