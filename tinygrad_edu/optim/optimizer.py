"""`Optimizer`: parameter groups, state, ``zero_grad`` and ``step``, as in PyTorch.

How a step stays fast for a model of many small tensors (the idea of PyTorch's
``foreach``/``fused`` paths, kept entirely inside ``optim``; ``Tensor`` knows
nothing about optimizers): when an optimizer is built, the parameters of each
group (one dtype at a time) are copied end to end into one flat buffer, and each
parameter is made to share its slice of it (``Tensor.set_``). Each kind of state
(momentum, moments) is one flat buffer too, and so is the gradient. A step then
checks, per parameter, with identity tests only:

- that ``p.numpy()`` is still its slice; if the user rebound ``p.data``, the new
  values are taken into the buffer and ``p`` shares its slice again;
- that ``p.grad`` is ``None`` (the parameter is skipped, as in PyTorch) or
  already shares its slice of the gradient buffer; otherwise the gradient is
  copied in, and a gradient Tensor kept across steps is made to share the slice
  (``set_``), so that later ``backward()`` calls accumulate straight into the
  buffer and later steps copy nothing;

and then makes one kernel call per group, whatever the number of tensors (see
``kernels.py``), and bumps the version counter of every parameter it changed,
so that a graph that saved a parameter before the step refuses to backward.

The array a parameter holds therefore stays the same object across steps:
``p.detach().numpy()`` and any NumPy view of it see every update.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import attrgetter, is_, is_not
from typing import Any

import numpy as np

from ..autograd import bump_version, enable_grad
from ..tensor import ShapeError, Tensor
from .explain import Recording, UpdateExplanation, explain_step, remember_step

__all__ = ["Optimizer", "check_number"]

_kernels = None
CHUNK = 1 << 16  # elements per work unit of a kernel: large enough to vectorise, small enough to share out


def _frozen(value: Any) -> Any:
    """A hyperparameter as validated: a list (betas given as a list) copied to a tuple, so that an
    in-place edit such as ``group['betas'][0] = 1.5`` shows as a change and is validated again."""
    return tuple(value) if isinstance(value, list) else value


def load_kernels():  # noqa: ANN201
    """Import the numba kernels (and numba itself) on first use, so ``import tinygrad_edu`` stays light."""
    global _kernels
    if _kernels is None:
        from . import kernels

        _kernels = kernels
    return _kernels


def check_number(name: str, value: Any, low: float = 0.0, high: float = math.inf, *,
                 high_open: bool = False, low_open: bool = False) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a finite number in the range."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        ok = math.isfinite(value) and (low < value if low_open else low <= value) \
            and (value < high if high_open else value <= high)
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"Invalid {name} value: {value!r} (expected a finite number in {left}{low}, {high}{right})")


def check_betas(betas: Any) -> None:
    """Raise ValueError unless ``betas`` is a pair of numbers in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas value: {betas!r} (expected a pair (beta1, beta2))")
    check_number("betas[0]", betas[0], 0.0, 1.0, high_open=True)
    check_number("betas[1]", betas[1], 0.0, 1.0, high_open=True)


# The per-step identity checks call these once per tensor; the plain functions of Tensor's public ``numpy()``
# and ``grad`` cost half of what methodcaller/attrgetter do (measured: 1,000 tensors, 180 vs 80 us).
_array_of = Tensor.numpy
_grad_of = Tensor.grad.fget if isinstance(vars(Tensor).get("grad"), property) else attrgetter("grad")


def share(tensor: Tensor, array: np.ndarray) -> np.ndarray:
    """Make ``tensor`` hold ``array`` (equal values); return the array it now reports from ``numpy()``.

    Through ``tensor.data = array``, which, as in PyTorch, bumps no version
    counter: the values do not change, so a graph built before the optimizer
    (or before it took in rebound values) still backpropagates.
    """
    tensor.data = array
    return tensor.numpy()


class FlatGroup:
    """The parameters of one group and one dtype, laid end to end in flat buffers.

    Holds ``param`` and ``grad`` (flat), ``offsets`` (parameter i is
    ``offsets[i]:offsets[i+1]``), ``steps`` (updates per parameter), and the
    optimizer's flat ``state`` buffers. ``held[i]`` is the array parameter i
    reports from ``numpy()`` while it shares its slice, ``grad_held[i]`` the
    same for its gradient: one identity test each tells whether a step can run
    on the buffers as they are.
    """

    def __init__(self, params: list[Tensor], dtype: np.dtype) -> None:
        self.params = params
        self.dtype = dtype
        self.slot = {id(p): i for i, p in enumerate(params)}
        self.offsets = np.zeros(len(params) + 1, dtype=np.int64)
        np.cumsum([p.numel() for p in params], out=self.offsets[1:])
        self.param = np.empty(int(self.offsets[-1]), dtype=dtype)
        self.grad = np.zeros(int(self.offsets[-1]), dtype=dtype)
        self.param_views = [self._view(self.param, i, p.shape) for i, p in enumerate(params)]
        self.grad_views = [self._view(self.grad, i, p.shape) for i, p in enumerate(params)]
        self.steps = np.zeros(len(params), dtype=np.float64)
        # Work units for the kernels: rows (lo, hi, parameter), at most CHUNK elements each.
        rows = [(start, min(start + CHUNK, int(self.offsets[i + 1])), i)
                for i in range(len(params)) for start in range(int(self.offsets[i]), int(self.offsets[i + 1]), CHUNK)]
        self.chunks = np.array(rows, dtype=np.int64).reshape(-1, 3)
        self.all_active = np.ones(len(params), dtype=np.bool_)
        self.empty = self.grad[:0]  # passed to a kernel for a state buffer the rule does not keep
        self.state: dict[str, np.ndarray] = {}
        self.state_offsets: dict[str, np.ndarray] = {}
        self.state_views: dict[str, list[np.ndarray]] = {}
        self.state_allocated = False
        self.all_recorded = False  # every parameter has its entry in optimizer.state
        self.held: list[Any] = [None] * len(params)
        self.grad_held: list[Any] = [None] * len(params)
        self.grad_seen: list[Any] = [None] * len(params)  # a weak reference to the gradient the last step copied
        self.picked: list[int] = []  # the parameters the current step updates (see plan)
        self.incoming: list[tuple] = []  # ... and those of them whose values or gradient live elsewhere
        self.in_place = False  # the last step found every value and gradient in the buffers
        for i, p in enumerate(params):
            self._adopt(i, p)

    def kernel(self, name: str):  # noqa: ANN201
        """The update kernel ``name``, parallel for large groups (see ``kernels.pick``)."""
        return load_kernels().pick(name, self.param.size)

    def _view(self, flat: np.ndarray, i: int, shape: tuple) -> np.ndarray:
        return flat[self.offsets[i]:self.offsets[i + 1]].reshape(shape)

    def _adopt(self, i: int, p: Tensor) -> None:
        """Copy ``p``'s values into its slice and make ``p`` share the slice."""
        np.copyto(self.param_views[i], p.numpy(), casting="same_kind")
        self.held[i] = share(p, self.param_views[i])

    # -- a step ---------------------------------------------------------------------

    def plan(self) -> np.ndarray | None:
        """Which parameters to update (``None``: none has a gradient), everything checked before any change.

        Returns ``all_active`` when every parameter has a gradient. ``picked``
        lists the indices to update; ``incoming`` the ones whose values or
        gradient live elsewhere, for `gather`. When the last step found
        everything in the buffers, identity tests alone (C-level ``map``: no
        Python per tensor) confirm that it still is.
        """
        params = self.params
        self.incoming = []
        if self.in_place:
            if all(map(is_, map(_array_of, params), self.held)):
                grads = list(map(_grad_of, params))
                if all(map(is_not, grads, repeat(None))) and all(map(is_, map(_array_of, grads), self.grad_held)):
                    return self.all_active
        picked, incoming = [], []
        views, held, grad_held = self.param_views, self.held, self.grad_held
        for i, p in enumerate(params):
            g = _grad_of(p)
            if g is None:
                continue
            array, grad = _array_of(p), _array_of(g)
            if array is not held[i] or grad is not grad_held[i]:
                if array is not held[i] and array.shape != views[i].shape:
                    raise ShapeError(f"step: parameter {i} changed shape from {views[i].shape} to "
                                     f"{array.shape}; build a new optimizer for the new parameters")
                if array is not held[i] and array.dtype != self.dtype:
                    raise TypeError(f"step: parameter {i} changed dtype from {self.dtype} to {array.dtype} "
                                    f"after the optimizer was built (model.to(...) after "
                                    f"optim.X(model.parameters())?); build the optimizer after converting the model")
                if grad.shape != views[i].shape:
                    raise ShapeError(f"step: parameter of shape {views[i].shape} has a gradient of shape "
                                     f"{grad.shape}")
                incoming.append((i, p, g, array, grad))
            picked.append(i)
        self.picked, self.incoming = picked, incoming
        self.in_place = not incoming and len(picked) == len(params)
        if not picked:
            return None
        if len(picked) == len(params):
            return self.all_active
        active = np.zeros(len(params), dtype=np.bool_)
        active[picked] = True
        return active

    def gather(self) -> None:
        """Bring the values and gradients that live elsewhere (``incoming``, found by `plan`) into the buffers."""
        for i, p, g, array, grad in self.incoming:
            if array is not self.held[i]:  # the user rebound p.data: take the new values in
                self._adopt(i, p)
            if grad is not self.grad_held[i]:
                self.grad_views[i][...] = grad
                # A gradient kept from one step to the next (no zero_grad, or zero_grad(set_to_none=False)) is
                # made to share its slot, so that backward() accumulates into the buffer and the following
                # steps copy nothing. A fresh gradient each step (the usual zero_grad()) is only copied.
                seen = self.grad_seen[i]
                if seen is not None and seen() is g and not g.requires_grad:
                    self.grad_held[i] = g.set_(self.grad_views[i]).numpy()
                else:
                    self.grad_seen[i] = weakref.ref(g)
        self.incoming = []

    def bump_versions(self, active: np.ndarray) -> None:
        """The parameters were changed in place: bump their version counters (as PyTorch's step does)."""
        params = self.params
        for p in params if active is self.all_active else [params[i] for i in self.picked]:
            bump_version(p)

    # -- state ------------------------------------------------------------------------

    def allocate_state(self, shapes: list[dict[str, tuple]], initial: dict[str, float]) -> None:
        """Create the flat state buffers: ``shapes[i][name]`` is parameter i's shape of state ``name``.

        Parameters may keep different state (Adafactor: row and column
        statistics for matrices, a full variance for vectors); a parameter
        without some state gets an empty slot in that buffer. Each buffer has
        its own ``state_offsets[name]``, like ``offsets`` for the parameters.
        """
        names = list(dict.fromkeys(name for s in shapes for name in s))
        self.state, self.state_offsets, self.state_views = {}, {}, {}  # (re)allocation drops any old buffers
        for name in names:
            sizes = [int(np.prod(s[name])) if name in s else 0 for s in shapes]
            offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
            np.cumsum(sizes, out=offsets[1:])
            flat = np.full(int(offsets[-1]), initial.get(name, 0.0), dtype=self.dtype)
            self.state[name] = flat
            self.state_offsets[name] = offsets
            self.state_views[name] = [flat[offsets[i]:offsets[i + 1]].reshape(s[name]) if name in s else None
                                      for i, s in enumerate(shapes)]
        self.state_allocated = True

    def free_state(self) -> None:
        """Drop the state buffers (an optimizer that never stepped keeps none)."""
        self.state, self.state_offsets, self.state_views = {}, {}, {}
        self.state_allocated = False
        self.all_recorded = False

    def state_of(self, i: int) -> dict[str, Any]:
        """Parameter i's state: a 0-d view of its step count and views into each state buffer."""
        state = {"step": self.steps[i:i + 1].reshape(())}
        for name, views in self.state_views.items():
            if views[i] is not None:
                state[name] = views[i]
        return state

    @property
    def nbytes(self) -> int:
        return sum(buffer.nbytes for buffer in self.state.values()) + self.steps.nbytes


class Optimizer:
    """Base class of the optimizers: parameter groups, per-parameter state, ``step``.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups), each
            with a ``'params'`` entry and optional per-group hyperparameters.
        defaults: the hyperparameters a group gets when it does not set them.

    ``param_groups[i]`` is a dict holding ``'params'`` and every hyperparameter
    under its argument's name; editing ``param_groups[i]['lr']`` between steps
    takes effect at the next step. ``state[p]`` holds parameter ``p``'s state
    once it has been updated (``'step'`` and the buffers of the rule).

    Subclasses set ``kernel`` (the name of their kernel in ``kernels.py``) and
    ``rule`` (the same update for one parameter in plain NumPy, returning its
    terms: what `explain` shows and the kernel is tested against), and define
    ``_validate_group``, ``_state_shapes`` and ``_update``; the class itself does
    no arithmetic on parameters. Register a new optimizer in ``optim.REGISTRY``.

    Snapshot and restore (``lr_find``, checkpoints) go through
    ``copy.deepcopy(optimizer.state_dict())`` and ``load_state_dict``, which
    restore hyperparameters, step counts and state completely; nothing else
    needs restoring.
    """

    #: The name of the update kernel in ``kernels.py``, and the readable rule for one parameter.
    kernel: str = ""
    rule: Callable[..., dict[str, Any]] | None = None

    #: Whether ``step()`` keeps copies of the values it starts from, for `explain` (see `record`).
    _recording = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._flat: list[list[FlatGroup]] = []
        self._hyperparameter_names = tuple(defaults)
        self._checked: list[tuple] = []  # each group's hyperparameters as last validated
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or dicts, not a single Tensor; "
                            "wrap it in a list: [tensor]")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        load_kernels()
        for group in groups:
            self.add_param_group(group)

    # -- groups ------------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (others from the defaults)."""
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError("a parameter group must be a dict with a 'params' entry")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but parameter {i} is a {type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"optimizer can only optimize floating-point tensors, "
                                f"parameter {i} has dtype {p.dtype}")
            if not p.requires_grad:
                raise ValueError(f"parameter {i} (shape {p.shape}) does not require grad, so it can never be "
                                 f"updated; pass requires_grad=True or leave it out")
            if not p.is_leaf:
                raise ValueError(f"parameter {i} (shape {p.shape}) is computed from other tensors; "
                                 f"optimize leaf tensors only")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params} or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        unknown = set(param_group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown hyperparameters {sorted(unknown)}; "
                            f"expected some of {sorted(self.defaults)}")
        group = {**self.defaults, **param_group, "params": params}
        self._validate_group(group)
        self.param_groups.append(group)
        self._checked.append(tuple(map(_frozen, map(group.get, self._hyperparameter_names))))
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for p in params:
            by_dtype.setdefault(p.dtype, []).append(p)
        self._flat.append([FlatGroup(ps, dtype) for dtype, ps in by_dtype.items()])

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Check a group's hyperparameters; raise ValueError naming a bad one."""
        check_number("lr", group["lr"])

    # -- gradients -------------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: to ``None`` (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    grad.numpy().fill(0)  # in place: the array (and any view of it) stays

    # -- the step ------------------------------------------------------------------------

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return the closure's loss, if given.

        Args:
            closure: a function that zeroes the gradients, recomputes the loss,
                calls ``backward()`` and returns the loss (needed by optimizers
                that evaluate the loss several times; optional for the others).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        # Check every group before changing anything, so a bad value leaves all parameters as they were.
        # (Hyperparameters are checked again only when they changed since the last check.)
        plans = []
        for i, (group, flats) in enumerate(zip(self.param_groups, self._flat)):
            values = tuple(map(group.get, self._hyperparameter_names))
            if values != self._checked[i]:
                self._validate_group(group)
                self._check_state(i, group, flats)
                self._checked[i] = tuple(map(_frozen, values))
            for flat in flats:
                active = flat.plan()
                if active is not None:
                    plans.append((group, flat, active))
        # The update itself is NumPy and numba on the flat buffers: no Tensor operation, so no graph.
        for group, flat, active in plans:
            if not flat.state_allocated:
                flat.allocate_state([self._state_shapes(group, p) for p in flat.params],
                                    self._initial_state(group))
            flat.gather()
            record = remember_step(self, group, flat, active) if self._recording else None  # for explain()
            self._update(group, flat, active)
            if record is not None:
                record.param_after = flat.param.copy()
            flat.bump_versions(active)
            if not flat.all_recorded:
                self._record_state(flat, active)
        return loss

    # -- explaining a step ------------------------------------------------------------------

    def record(self, enabled: bool = True) -> Recording:
        """Keep what each ``step()`` starts from, so that `explain` can show its numbers.

        Switches recording on (or off) at once; used as a context manager,
        ``with optimizer.record(): optimizer.step()``, it restores the previous
        setting at the end of the block. While on, each step copies the
        parameters, gradients, state and step counts of every group it updates
        (memory for one more copy of each); while off, a step pays one boolean
        check per parameter group and nothing else.
        """
        return Recording(self, enabled)

    def explain(self, param: Tensor, element: Any = None, name: str | None = None) -> UpdateExplanation:
        """The last (recorded) update of ``param``, term by term; see `tinygrad_edu.optim.explain_step`."""
        return explain_step(self, param, element=element, name=name)

    def _check_state(self, index: int, group: dict[str, Any], flats: list[FlatGroup]) -> None:
        """Refuse edited hyperparameters that need state this group never kept (before anything changes)."""
        for flat in flats:
            missing = flat.state_allocated and set(self._state_shapes(group, flat.params[0])) - set(flat.state)
            if missing:
                changed = [name for name, old in zip(self._hyperparameter_names, self._checked[index])
                           if _frozen(group.get(name)) != old]
                raise ValueError(f"parameter group {index}: {', '.join(changed)} changed after the first step and now "
                                 f"needs the state {sorted(missing)}, which was not kept; build a new "
                                 f"{type(self).__name__} to use it")

    def _record_state(self, flat: FlatGroup, active: np.ndarray) -> None:
        """Give ``state[p]`` to parameters updated for the first time (as PyTorch creates it lazily)."""
        for i in (range(len(flat.params)) if active is flat.all_active else flat.picked):
            p = flat.params[i]
            if p not in self.state:
                self.state[p] = flat.state_of(i)
        flat.all_recorded = all(p in self.state for p in flat.params)

    def _state_shapes(self, group: dict[str, Any], p: Tensor) -> dict[str, tuple]:
        """The state buffers one parameter needs: name -> shape (by default, none)."""
        return {}

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        """Initial value of each state buffer (0 unless given)."""
        return {}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        """Run the update kernel over ``flat``'s buffers."""
        raise NotImplementedError

    def state_nbytes(self) -> int:
        """Bytes held by the optimizer's state (moments, momentum, step counts).

        The memory lesson of the sources, measurable: plain SGD keeps nothing
        but step counts, SGD with momentum one value per parameter, Adam two.
        """
        return sum(flat.nbytes for flats in self._flat for flat in flats if flat.state_allocated)

    # -- saving and loading ----------------------------------------------------------------

    def _indexed_params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _flat_of(self, p: Tensor) -> tuple[FlatGroup, int]:
        for flats in self._flat:
            for flat in flats:
                i = flat.slot.get(id(p))
                if i is not None:
                    return flat, i
        raise KeyError("parameter not in this optimizer")

    def state_dict(self) -> dict[str, Any]:
        """The state and hyperparameters, with parameters referred to by position (as PyTorch does).

        Plain data (numbers, strings, arrays): it round-trips through
        ``tg.save`` / ``tg.load``, and ``load_state_dict`` then continues
        exactly as the uninterrupted run would.
        """
        index = {id(p): i for i, p in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            entry = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            entry["params"] = [index[id(p)] for p in group["params"]]
            groups.append(entry)
        state = {}
        for p, s in self.state.items():
            state[index[id(p)]] = {k: (float(v) if k == "step" else v.copy()) for k, v in s.items()}
        return {"state": state, "param_groups": groups, "optimizer": type(self).__name__}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``: hyperparameters, step counts and state buffers.

        Everything is checked first (same kind of optimizer, same groups and
        sizes, every buffer's shape), so a refused load changes nothing.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("load_state_dict expects a dict with 'state' and 'param_groups', "
                             "as optimizer.state_dict() returns")
        name = state_dict.get("optimizer", type(self).__name__)
        if name != type(self).__name__:
            raise ValueError(f"this state dict comes from {name}, not {type(self).__name__}")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(groups)} parameter groups, the optimizer "
                             f"{len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameters in the state dict "
                                 f"but {len(group['params'])} in the optimizer")
            missing = set(self.defaults) - set(saved)
            if missing:
                raise ValueError(f"parameter group {i} of the state dict lacks {sorted(missing)}: "
                                 f"not a {type(self).__name__} state dict")
        new_groups = []
        for saved, group in zip(groups, self.param_groups):
            merged = {**group, **{k: (tuple(v) if isinstance(group.get(k), tuple) else v)
                                  for k, v in saved.items() if k != "params"}}
            self._validate_group(merged)
            new_groups.append(merged)
        position = {}
        for saved, group in zip(groups, self.param_groups):
            for k, p in zip(saved["params"], group["params"]):
                position[int(k)] = p
        group_of = {id(p): merged for merged, group in zip(new_groups, self.param_groups) for p in group["params"]}
        updates = []
        for key, saved_state in state_dict["state"].items():
            p = position.get(int(key))
            if p is None:
                raise ValueError(f"the state dict has state for parameter {key}, which no group lists")
            group = group_of[id(p)]
            expected = self._state_shapes(group, p)
            names = set(saved_state) - {"step"}
            if names != set(expected) or "step" not in saved_state:
                raise ValueError(f"state of parameter {key} holds {sorted(saved_state)}, but {type(self).__name__} "
                                 f"keeps {sorted(set(expected) | {'step'})}")
            step = np.asarray(saved_state["step"])
            if step.shape != () or step.dtype.kind not in "iuf":
                raise ValueError(f"state 'step' of parameter {key} must be a number, got {saved_state['step']!r}")
            for k, shape in expected.items():
                value = np.asarray(saved_state[k])
                if value.shape != tuple(shape):
                    raise ValueError(f"state '{k}' of parameter {key} has shape {value.shape}, expected {tuple(shape)}")
                if value.dtype.kind not in "biuf":
                    raise ValueError(f"state '{k}' of parameter {key} has dtype {value.dtype}, expected numbers")
            updates.append((p, saved_state))
        # Everything checked: now change.
        for i, (group, merged) in enumerate(zip(self.param_groups, new_groups)):
            group.update({k: v for k, v in merged.items() if k != "params"})
            self._checked[i] = tuple(map(_frozen, map(group.get, self._hyperparameter_names)))
        self.state.clear()
        with_state = {id(p) for p, _ in updates}
        for (group, flats) in zip(self.param_groups, self._flat):
            for flat in flats:
                flat.steps[:] = 0
                flat.all_recorded = False
                if not with_state & set(flat.slot):
                    flat.free_state()  # as an optimizer that never stepped: no buffers (state_nbytes says so)
                    continue
                # Fresh buffers, shaped for the loaded hyperparameters (amsgrad or momentum may differ from
                # those this optimizer stepped with, as PyTorch allows).
                flat.allocate_state([self._state_shapes(group, p) for p in flat.params],
                                    self._initial_state(group))
        for p, saved_state in updates:
            flat, i = self._flat_of(p)
            flat.steps[i] = float(saved_state["step"])
            for k, views in flat.state_views.items():
                if views[i] is not None:
                    np.copyto(views[i], np.asarray(saved_state[k]), casting="same_kind")
            self.state[p] = flat.state_of(i)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
