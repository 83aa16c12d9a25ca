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
  recorded forward pass (depth order; a layer holding others, as attention
  holds its ``out_proj``, comes before them: where its call began);
  ``insp.params`` follows it.
- *Kinds*: ``"tanh"`` (`Tanh`, an `RNN`/`RNNCell` with ``nonlinearity='tanh'``),
  ``"sigmoid"``, ``"relu"`` (`ReLU`, an RNN with ``'relu'``), ``"linear"``
  (`Linear`, `Conv1d`, `Conv2d`: affine maps) and ``"other"`` (the rest,
  `LeakyReLU` included: it has no dead units).
- *Outputs*: a module returning a tuple (an RNN's ``(output, h_n)``,
  attention's ``(output, weights)``), a list or a dict is recorded on its
  first Tensor (the first value of a dict). A
  module called several times in one forward pass (one ``self.act`` used after
  every layer, an `RNNCell` over time) is recorded over all its calls
  together: give each layer its own activation module to see them apart.
- *Dead units* are the entries of one sample's output (everything but
  dimension 0, the batch), each dead when it is zero for every sample of the
  batch; a batch of one sample makes every zero output a dead unit, so
  read ``"dead"`` with batches of a few dozen samples. An `RNN` or
  `RNNCell` with ``'relu'`` (whose dimension 0 may be time) counts its hidden
  units: each dead when zero for every sample at every time step.
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
- *Cost*: the forward hooks are on the layers only during recorded steps
  (put on by `after_step` before one, taken off after it), so the other steps
  run as without an Inspector, but for two method calls; a recorded step reads
  each output and gradient once with NumPy (outside the autograd graph), the
  gradients and weights of all parameters as segments of one float64 vector,
  and copies the weights once (``benchmarks/inspector.py`` measures it).

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
import warnings
from collections.abc import Iterable, Mapping
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
    """The output itself if it is a Tensor, else the first Tensor of a (nested) tuple, list or dict (its values)."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _sample(array: np.ndarray, size: int) -> np.ndarray:
    """A copy of at most ``size`` values of ``array``: every k-th of the flattened array.

    k is made coprime with the last dimension, so the sample visits every column
    (a stride of 16 over rows of 64 would see only four units). Floating-point
    values keep their dtype; others become float64.
    """
    dtype = array.dtype if array.dtype.kind == "f" else np.float64
    if array.size <= size:
        return np.array(array.reshape(-1), dtype=dtype)
    stride = -(-array.size // size)
    width = array.shape[-1] if array.ndim else 1
    while math.gcd(stride, width) != 1:
        stride += 1
    flat = array.reshape(-1) if array.flags.c_contiguous else array.flat  # never a copy of the whole tensor
    return np.array(flat[::stride], dtype=dtype)


def _moments(array: np.ndarray) -> tuple[int, float, float]:
    """(n, mean, sum of squared deviations from the mean), in float64: two passes, a handful of NumPy calls.

    (``np.var`` gives the same numbers, at several times the cost on the small arrays of a small model.)
    """
    n = int(array.size)
    flat = array.reshape(-1)
    with np.errstate(all="ignore"):  # inf - inf is nan, silently: the statistics of a diverged run say so
        if flat.dtype == np.float64:
            mean = float(np.add.reduce(flat)) / n
            deviations = flat - mean
        else:
            deviations = flat.astype(np.float64)
            mean = float(np.add.reduce(deviations)) / n
            deviations -= mean
        return n, mean, float(np.dot(deviations, deviations))


def _norm(array: np.ndarray) -> float:
    """The 2-norm, summed in float64 (inf for an overflowed gradient, where the moments give nan)."""
    with np.errstate(all="ignore"):
        return float(np.sqrt(np.add.reduce(np.square(array.reshape(-1), dtype=np.float64))))


def _segment_moments(flat: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(means, sums of squared deviations) of consecutive segments along the last axis of ``flat`` (float64; no
    empty segment), each row on its own."""
    with np.errstate(all="ignore"):  # inf - inf is nan, silently
        means = np.add.reduceat(flat, offsets, axis=-1) / sizes
        deviations = flat - np.repeat(means, sizes, axis=-1)
        np.square(deviations, out=deviations)
        return means, np.add.reduceat(deviations, offsets, axis=-1)


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
        # Where a unit is the last dimension (the hidden units of an RNN, whatever batch_first says).
        self._units_last = [isinstance(module, (nn.RNN, nn.RNNCell)) for _, module in chosen]

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
        self._handles: list[Any] = []  # the forward hooks, there only while a recorded step runs
        self._attached = False  # inside `with insp:` or fit
        self._warned = False  # the warning of a step recorded without attach() was given
        self._layout: tuple[tuple[int, ...], Any, Any] = ((), None, None)  # gradient sizes, sizes, offsets
        self._first_call: list[int] = []  # layer indices in the order they were first called
        self._seen = [False] * n_layers
        self._ordered_calls = 0  # how many first calls `layers` was last ordered by
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
        """Start watching the forward passes (done by ``with insp:`` and by `fit`); return self.

        The forward hooks are on the chosen layers only during the steps that are
        recorded: `after_step` puts them on before a recorded step and takes them
        off after it, so the other steps run exactly as without an Inspector.
        """
        self._attached = True
        if self._recording:
            self._hook_layers()
        return self

    def detach(self) -> None:
        """Stop watching the forward passes: every hook is removed (the recorded statistics stay)."""
        self._attached = False
        self._unhook_layers()

    def _hook_layers(self) -> None:
        if not self._handles:
            self._handles = [module.register_forward_hook(self._make_hook(index))
                             for index, module in enumerate(self._modules)]

    def _unhook_layers(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()

    def __enter__(self) -> Inspector:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def _make_hook(self, index: int) -> Any:
        def hook(module: Module, args: Any, output: Any) -> None:
            # Eval and no_grad forwards are not training.
            if self._recording and module.training and is_grad_enabled():
                self._record_activation(index, output)

        return hook

    # -- recording -----------------------------------------------------------------------

    def _reset_step(self) -> None:
        # Per layer: its calls pooled with Chan's rule: [n, mean, m2, saturated count, dead units, units].
        self._acc = [[0, 0.0, 0.0, 0, 0, 0] for _ in self._names]
        self._grad_now = np.full((len(self._param_names), len(_GRADIENT_STATS)), np.nan)
        self._before: tuple[list[int], np.ndarray, np.ndarray, np.ndarray] | None = None

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
        n0, mean0 = acc[0], acc[1]
        total = n0 + n
        delta = mean - mean0
        acc[0], acc[1], acc[2] = total, mean0 + delta * n / total, acc[2] + m2 + delta * delta * n0 * n / total
        kind = self._kind_codes[index]
        if kind == "tanh":
            acc[3] += int(np.count_nonzero(np.abs(values) > TANH_SATURATION))
        elif kind == "sigmoid":
            low, high = SIGMOID_SATURATION
            acc[3] += int(np.count_nonzero((values < low) | (values > high)))
        elif kind == "relu":
            # A unit fires if it is non-zero for some sample (NaN counts as firing).
            rows = (-1, values.shape[-1]) if self._units_last[index] else (values.shape[0], -1)
            firing = np.logical_or.reduce(values.reshape(rows), axis=0) if values.ndim >= 2 else values != 0
            acc[4] += int(firing.size - np.count_nonzero(firing))
            acc[5] += int(firing.size)
        self.last_activations[self._names[index]] = _sample(values, self.sample)

    def before_step(self) -> None:
        """Call after ``backward()`` and before ``optimizer.step()``: records the gradients (on a recorded step)
        and keeps a copy of the weights for the update ratio."""
        self._stepped = True
        if not self._recording:
            return
        present = [j for j, p in enumerate(self._parameters) if p.grad is not None and p.numel() > 0]
        if not present:
            return
        # Every gradient at once, as segments of one float64 vector: a dozen NumPy calls for any number of them.
        grads = [self._parameters[j].grad.numpy() for j in present]
        key = tuple(g.size for g in grads)
        if key != self._layout[0]:  # the same parameters with the same sizes: the layout of the last step
            sizes = np.array(key)
            self._layout = (key, sizes, np.concatenate(([0], np.cumsum(sizes)[:-1])))
        sizes, offsets = self._layout[1], self._layout[2]
        means, m2 = _segment_moments(np.concatenate([g.reshape(-1) for g in grads], dtype=np.float64), offsets,
                                     sizes)
        rows = [(mean, math.sqrt(ss / (n - 1)) if n > 1 else math.nan,
                 math.sqrt(ss + n * mean * mean) if math.isfinite(mean) else _norm(grad))
                for mean, ss, n, grad in zip(means.tolist(), m2.tolist(), sizes.tolist(), grads)]
        self._grad_now[present] = rows
        for j, grad in zip(present, grads):
            self.last_gradients[self._param_names[j]] = _sample(grad, self.sample)
        # Row 0: the weights before the step; row 1 will hold their change.
        weights = np.empty((2, int(sizes.sum())))
        np.concatenate([self._parameters[j].numpy().reshape(-1) for j in present], out=weights[0])
        self._before = (present, sizes, offsets, weights)

    def after_step(self) -> None:
        """Call after ``optimizer.step()``: records the update ratios and the step (on a recorded step); counts
        the step."""
        self._stepped = False
        if self._recording:
            if not self._attached and not self._warned:
                self._warned = True
                warnings.warn("Inspector: a step was recorded without watching the forward passes, so no "
                              "activations were: put the loop inside `with insp:` (or call insp.attach() first); "
                              "gradients and update ratios are recorded either way", stacklevel=2)
            self._commit()
        self._step += 1
        self._recording = self._step % self.every == 0
        if self._recording and self._attached:
            self._hook_layers()
        elif self._handles and not self._recording:
            self._unhook_layers()

    def _update_ratios(self) -> np.ndarray:
        """log10(std(after - before) / std(before)) per parameter: nan where std(before) is 0 or nothing was
        kept, -inf where the weight did not move."""
        ratios = np.full(len(self._parameters), np.nan)
        if self._before is None:
            return ratios
        present, sizes, offsets, weights = self._before
        arrays = [self._parameters[j].numpy() for j in present]
        if any(a.size != size for a, size in zip(arrays, sizes)):  # a weight replaced by one of another size
            return ratios
        np.concatenate([a.reshape(-1) for a in arrays], out=weights[1])
        with np.errstate(all="ignore"):
            weights[1] -= weights[0]
        # The ratio of two stds over the same n: the sums of squared deviations will do.
        scales, moves = _segment_moments(weights, offsets, sizes)[1].tolist()
        ratios[present] = [math.nan if not (scale > 0 and math.isfinite(scale)) else
                           -math.inf if move == 0 else 0.5 * math.log10(move / scale)
                           for scale, move in zip(scales, moves)]
        return ratios

    def _commit(self) -> None:
        slot = self._count % self.history
        self._steps[slot] = self._step
        row = self._act[slot]
        for i, (n, mean, m2, saturated, dead, units) in enumerate(self._acc):
            kind = self._kind_codes[i]
            row[i] = (mean if n > 0 else math.nan, math.sqrt(m2 / (n - 1)) if n > 1 else math.nan,
                      saturated / n if n > 0 and kind in ("tanh", "sigmoid") else math.nan,
                      dead / units if units > 0 and kind == "relu" else math.nan)
        self._grad[slot] = self._grad_now
        self._ratio[slot] = self._update_ratios()
        self._count += 1
        if len(self._first_call) != self._ordered_calls:
            self._reorder()
        self._reset_step()

    def _reorder(self) -> None:
        """``layers`` in first-call order (uncalled ones after, as they were); ``params`` following them."""
        self._ordered_calls = len(self._first_call)
        order = self._first_call + [i for i in range(len(self._names)) if not self._seen[i]]
        # A forward hook fires when the call ends, so a layer holding others (attention and its out_proj) is
        # seen after them: put it before its first descendant, where its call began (deepest holders first).
        for i in sorted(range(len(self._names)), key=lambda i: -self._names[i].count(".") - bool(self._names[i])):
            name = self._names[i]
            inside = [k for k, j in enumerate(order)
                      if j != i and (name == "" or self._names[j].startswith(name + "."))]
            if inside and inside[0] < order.index(i):
                order.remove(i)
                order.insert(inside[0], i)
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

    def __getstate__(self) -> dict[str, Any]:
        """What pickling and ``copy.deepcopy`` copy: the records and the model, without the running `fit`'s
        trainer (its optimizer) or live hooks: a `History` holding an Inspector comes back from a `sweep` worker
        process."""
        state = dict(self.__dict__)
        state.update(trainer=None, _handles=[], _attached=False)
        return state

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
