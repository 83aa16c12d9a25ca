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

import inspect
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


_UNCHECKED = object()  # stands for a hyperparameter not validated yet: never identical to a value


def resolve_hyperparameter(name: str, value: Any, flag: bool = False) -> Any:
    """The plain value a kernel receives for hyperparameter ``name``: ``value`` as validated.

    As in PyTorch, a number may be given as a one-element Tensor (``lr=tg.tensor(0.01)``): its
    current value is read (``item()``) at every step, so an in-place change of the Tensor takes
    effect at the next step and is validated there. Pairs (``betas``) are resolved element by
    element into a tuple. ``flag`` marks a switch (``maximize``, ``amsgrad``, ``nesterov`` ...),
    which must be a bool: PyTorch accepts any object and reads its truth (``maximize="no"``
    maximizes); this library refuses such values (stricter than PyTorch).

    Raises:
        ValueError: a Tensor of more than one element or of a non-real dtype, or a flag that is not a bool.

    Example:
        >>> import tinygrad_edu as tg
        >>> resolve_hyperparameter("lr", tg.tensor(0.5))
        0.5
        >>> resolve_hyperparameter("betas", [0.9, tg.tensor(0.5)])
        (0.9, 0.5)
    """
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"Invalid {name} value: a Tensor {name} must have one element, got shape "
                             f"{tuple(value.shape)}")
        if value.dtype.kind not in "iuf":
            raise ValueError(f"Invalid {name} value: a Tensor {name} must hold a real number, got dtype {value.dtype}")
        return value.numpy().reshape(()).item()
    if isinstance(value, (tuple, list)):
        return tuple(resolve_hyperparameter(f"{name}[{j}]", v) for j, v in enumerate(value))
    if flag:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"Invalid {name} value: {value!r} (expected True or False)")
        return bool(value)
    return value


def _is_dynamic(value: Any) -> bool:
    """Whether a validated value can change without being replaced (a Tensor, a list): checked at every step."""
    if isinstance(value, (tuple, list)):
        return isinstance(value, list) or any(map(_is_dynamic, value))
    return isinstance(value, (Tensor, np.ndarray))


def _position(key: Any, total: int, where: str) -> int:
    """A parameter's position in a state dict (an int, or its decimal string after a round trip), checked."""
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)) or not 0 <= key < total:
        raise ValueError(f"{where}: parameter position {key!r} is not an integer in [0, {total})")
    return int(key)


def _plain(value: Any) -> Any:
    """A hyperparameter as ``state_dict`` saves it: a Tensor as its number (as a NumPy array if it has several)."""
    if isinstance(value, Tensor):
        return value.numpy().item() if value.numel() == 1 else np.array(value.numpy())
    if isinstance(value, (tuple, list)):
        return type(value)(map(_plain, value))
    return value


def _same_array(value: Any, view: np.ndarray) -> bool:
    """Whether ``value`` is (a view like) ``view``: the same memory, shape and dtype (a state entry not replaced)."""
    return (isinstance(value, np.ndarray) and value.shape == view.shape and value.dtype == view.dtype
            and value.__array_interface__["data"][0] == view.__array_interface__["data"][0])


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


class WatchedDict(dict):
    """A dict that notes every edit in a flag it shares with its optimizer (``optimizer.state`` and each
    ``optimizer.state[p]``), so that a step takes in state the user replaced or deleted, as PyTorch does,
    at the cost of one boolean test per step. Copies (``copy``, ``deepcopy``, pickling) are plain dicts.

    Example:
        >>> flag = [False]
        >>> d = WatchedDict(flag, a=1)
        >>> d["a"] = 2; flag
        [True]
    """

    __slots__ = ("_edited",)

    def __init__(self, edited: list[bool], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._edited = edited

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return dict, (dict(self),)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._edited[0] = True
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._edited[0] = True
        super().__delitem__(key)

    def __ior__(self, other: Any) -> WatchedDict:
        self._edited[0] = True
        return super().__ior__(other)

    def pop(self, *args: Any) -> Any:
        self._edited[0] = True
        return super().pop(*args)

    def popitem(self) -> tuple:
        self._edited[0] = True
        return super().popitem()

    def clear(self) -> None:
        self._edited[0] = True
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._edited[0] = True
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._edited[0] = True
        return super().setdefault(key, default)


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
        # float16 has no numba arithmetic: its buffers stay float16 (as PyTorch keeps state in the parameters'
        # dtype) and each step runs the kernel on float32 copies, rounded back once (see Optimizer._update_wide).
        self.narrow = self.param.dtype.itemsize < 4
        self.carried: dict[int, dict[str, Any]] = {}  # state of parameters taken over from an edited group
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

    def restore_carried(self) -> list[int]:
        """Copy the state of parameters taken over from an edited group (``carried``) into the new buffers;
        return their indices."""
        restored = list(self.carried)
        for i, saved in self.carried.items():
            self.steps[i] = float(saved["step"])
            for name, views in self.state_views.items():
                if views[i] is not None and name in saved and np.shape(saved[name]) == views[i].shape:
                    np.copyto(views[i], saved[name], casting="unsafe")
        self.carried = {}
        return restored

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

    As in PyTorch, every user-editable structure is honoured at the next step:
    a hyperparameter may be a one-element Tensor (read at every step);
    parameters appended to, removed from or moved between groups'
    ``'params'`` are taken in, keeping the state of those that stay (state is
    keyed by parameter); entries of ``state`` replaced or deleted are taken in
    (a deleted one starts afresh). Each edit is validated at the next step
    (a negative or NaN rate, a flag that is not a bool, a non-leaf parameter,
    a state buffer of the wrong shape: ValueError or TypeError naming it)
    before any parameter or state changes: a step is all or nothing, and so
    are ``add_param_group`` and ``load_state_dict``. Stricter than PyTorch,
    which validates only at construction and accepts a parameter listed
    twice (with a warning). float16 parameters are supported (see `step`).

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
        self._state_edited = [False]  # set by any edit of state or state[p] (see WatchedDict)
        self.state: dict[Tensor, dict[str, Any]] = WatchedDict(self._state_edited)
        self._state_seen = self.state
        self.param_groups: list[dict[str, Any]] = []
        self._flat: list[list[FlatGroup]] = []
        self._hyperparameter_names = tuple(defaults)
        self._flags = self._flag_names() | {name for name, value in defaults.items() if isinstance(value, bool)}
        self._checked: list[tuple] = []  # each group's hyperparameters (the objects) as last validated
        self._resolved: list[dict[str, Any]] = []  # ... and the group the kernels get (Tensors read as numbers)
        self._dynamic: list[bool] = []  # the group holds a Tensor or list: validated again at every step
        self._param_lists: list[tuple[Any, tuple]] = []  # each group's 'params' list and its contents, as built
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

    @classmethod
    def _flag_names(cls) -> frozenset[str]:
        """The switches of this optimizer: the arguments of its constructor whose default is a bool."""
        flags = cls.__dict__.get("_flag_cache")
        if flags is None:
            flags = frozenset(name for name, parameter in inspect.signature(cls.__init__).parameters.items()
                              if isinstance(parameter.default, bool))
            cls._flag_cache = flags
        return flags

    # -- groups ------------------------------------------------------------------------

    @staticmethod
    def _checked_params(params: Any, where: str) -> list[Tensor]:
        """``params`` as a list of distinct leaf floating-point Tensors that require grad; raise naming ``where``."""
        if isinstance(params, (str, bytes, dict)) or not isinstance(params, (Tensor, Iterable)):
            raise TypeError(f"{where} must be a Tensor or a list of Tensors, got {type(params).__name__}")
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but parameter {i} of {where} is a "
                                f"{type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"optimizer can only optimize floating-point tensors, "
                                f"parameter {i} of {where} has dtype {p.dtype}")
            if not p.requires_grad:
                raise ValueError(f"parameter {i} of {where} (shape {p.shape}) does not require grad, so it can "
                                 f"never be updated; pass requires_grad=True or leave it out")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor: parameter {i} of {where} (shape {p.shape}) "
                                 f"is computed from other tensors; optimize leaf tensors only")
        return params

    def _resolved_group(self, group: dict[str, Any], where: str = "parameter group") -> dict[str, Any]:
        """A copy of ``group`` with each hyperparameter resolved (`resolve_hyperparameter`); raise if one is missing."""
        resolved = dict(group)
        flags = self._flags
        for name in self._hyperparameter_names:
            if name not in group:
                raise ValueError(f"{where} lacks the hyperparameter {name!r} (a {type(self).__name__} group has "
                                 f"{sorted(self.defaults)}); add groups with add_param_group")
            resolved[name] = resolve_hyperparameter(name, group[name], name in flags)
        return resolved

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (others from the defaults).

        Everything is checked before the group is added: a refused group
        leaves the optimizer as it was. Stricter than PyTorch, which warns
        about a parameter listed twice and accepts one that does not require
        grad: both raise ValueError here, as does a non-leaf tensor (as in
        PyTorch: "can't optimize a non-leaf Tensor").

        Example:
            >>> import tinygrad_edu as tg
            >>> opt = tg.optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1)
            >>> opt.add_param_group({"params": [tg.zeros(3, requires_grad=True)], "lr": 0.01})
            >>> [g["lr"] for g in opt.param_groups]
            [0.1, 0.01]
        """
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError("a parameter group must be a dict with a 'params' entry")
        params = self._checked_params(param_group["params"], f"parameter group {len(self.param_groups)}")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params} or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        unknown = set(param_group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown hyperparameters {sorted(unknown)}; "
                            f"expected some of {sorted(self.defaults)}")
        group = {**self.defaults, **param_group, "params": params}
        resolved = self._resolved_group(group)
        self._validate_group(resolved)
        values = tuple(map(group.get, self._hyperparameter_names))
        self.param_groups.append(group)
        self._checked.append(values)
        self._resolved.append(resolved)
        self._dynamic.append(any(map(_is_dynamic, values)))
        self._param_lists.append((params, tuple(params)))
        self._flat.append(self._build_flats(params))

    @staticmethod
    def _build_flats(params: list[Tensor]) -> list[FlatGroup]:
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for p in params:
            by_dtype.setdefault(p.dtype, []).append(p)
        return [FlatGroup(ps, dtype) for dtype, ps in by_dtype.items()]

    def _edited(self) -> bool:
        """Whether ``param_groups`` or a group's ``'params'`` was changed since the last step (identity tests)."""
        groups = self.param_groups
        if len(groups) != len(self._param_lists):
            return True
        for group, (built, contents) in zip(groups, self._param_lists):
            params = group.get("params") if isinstance(group, dict) else None
            if params is not built or len(params) != len(contents) or not all(map(is_, params, contents)):
                return True
        return False

    def _take_edits(self) -> None:
        """Honour edits of ``param_groups`` made since the last step, as PyTorch does.

        A parameter appended to (or put into) a group's ``'params'`` is
        optimized from this step on, starting from fresh state; one that
        stays keeps its state (PyTorch keys state by parameter), even when it
        moved to another group; one removed is no longer updated, and its
        ``state`` entry stays (a parameter put back continues from it). The
        edited groups' flat buffers are rebuilt. Everything is checked before
        anything changes.
        """
        groups = self.param_groups
        if not isinstance(groups, list):
            raise TypeError(f"param_groups must be a list of dicts, got {type(groups).__name__}")
        lists, seen = [], set()
        for g, group in enumerate(groups):
            if not isinstance(group, dict) or "params" not in group:
                raise TypeError(f"param_groups[{g}] must be a dict with a 'params' entry, got {type(group).__name__}")
            params = self._checked_params(group["params"], f"param_groups[{g}]['params']")
            ids = {id(p) for p in params}
            if ids & seen or len(ids) != len(params):
                raise ValueError(f"param_groups[{g}]['params']: some parameters appear twice (in this group or "
                                 f"another); each parameter may be optimized by one group only")
            seen |= ids
            self._resolved_group(group, f"param_groups[{g}]")  # every hyperparameter present and well-formed
            lists.append(params)
        # Everything checked: now change.
        kept = {g: flats for g, (flats, (built, contents)) in enumerate(zip(self._flat, self._param_lists))
                if g < len(groups) and groups[g].get("params") is built and len(built) == len(contents)
                and all(map(is_, built, contents))}
        new_flat = []
        for g, (group, params) in enumerate(zip(groups, lists)):
            if g in kept:
                new_flat.append(kept[g])
                continue
            group["params"] = params  # a tuple or a single Tensor becomes a list, as add_param_group makes it
            flats = self._build_flats(params)
            for flat in flats:
                for i, p in enumerate(flat.params):
                    if p in self.state:  # a parameter that stepped before (here or elsewhere): keep its state
                        flat.carried[i] = {k: np.array(v) for k, v in self.state[p].items()}
            new_flat.append(flats)
        self._flat = new_flat
        self._param_lists = [(group["params"], tuple(group["params"])) for group in groups]
        self._checked = [self._checked[g] if g in kept else (_UNCHECKED,) for g in range(len(groups))]
        self._resolved = [self._resolved[g] if g in kept else {} for g in range(len(groups))]
        self._dynamic = [self._dynamic[g] if g in kept else True for g in range(len(groups))]

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Check a group's hyperparameters; raise ValueError naming a bad one."""
        check_number("lr", group["lr"])

    def _revalidate(self, index: int, group: dict[str, Any], values: tuple) -> None:
        """Validate a group whose hyperparameters changed (or hold Tensors) and keep what the kernels get."""
        resolved = self._resolved_group(group, f"parameter group {index}")
        self._validate_group(resolved)
        self._check_state(index, resolved, self._flat[index], values)
        self._checked[index] = values
        self._resolved[index] = resolved
        self._dynamic[index] = any(map(_is_dynamic, values))

    # -- gradients -------------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: to ``None`` (the default), or to zeros in place.

        Example:
            >>> import tinygrad_edu as tg
            >>> w = tg.tensor([1.0], requires_grad=True)
            >>> opt = tg.optim.SGD([w], lr=0.1)
            >>> (w * 3).sum().backward(); opt.zero_grad(); print(w.grad)
            None
        """
        if not isinstance(set_to_none, (bool, np.bool_)):
            raise TypeError(f"zero_grad: set_to_none must be True or False, got {set_to_none!r}")
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

        A step is all or nothing: edits of ``param_groups`` (parameters
        appended or replaced, hyperparameters changed, Tensor rates read),
        every parameter's shape, dtype and gradient, and the state buffers are
        all checked and prepared before the first parameter changes, so a
        step that raises leaves every parameter and all state as they were
        (retrying it does not step anything twice). float16 parameters are
        supported as in PyTorch: their values and state stay float16; the
        update is computed in float32 and rounded once (PyTorch rounds after
        each elementwise operation, so results agree to about one float16 ulp
        per step, not bit for bit).

        Args:
            closure: a function that zeroes the gradients, recomputes the loss,
                calls ``backward()`` and returns the loss (needed by optimizers
                that evaluate the loss several times; optional for the others).

        Example:
            >>> import tinygrad_edu as tg
            >>> w = tg.tensor([1.0], dtype=tg.float16, requires_grad=True)
            >>> opt = tg.optim.SGD([w], lr=0.5)
            >>> w.grad = tg.ones(1, dtype=tg.float16); opt.step(); print(w.item())
            0.5
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if self._edited():
            self._take_edits()
        # Check every group before changing anything, so a bad value leaves all parameters as they were.
        # (Hyperparameters are validated again when one was replaced since the last check, found by identity
        # tests, not ==, which a Tensor would answer elementwise; groups holding a Tensor or a list every step.)
        plans = []
        names = self._hyperparameter_names
        for i, (group, flats) in enumerate(zip(self.param_groups, self._flat)):
            values = tuple(map(group.get, names))
            if self._dynamic[i] or not all(map(is_, values, self._checked[i])):
                self._revalidate(i, group, values)
            resolved = self._resolved[i]
            for flat in flats:
                active = flat.plan()
                if active is not None:
                    plans.append((resolved, flat, active))
        if self._state_edited[0] or self.state is not self._state_seen:
            self._take_state_edits()
        for resolved, flat, _ in plans:  # allocation may fail (memory): still before any change
            if not flat.state_allocated:
                flat.allocate_state([self._state_shapes(resolved, p) for p in flat.params],
                                    self._initial_state(resolved))
                for i in flat.restore_carried():
                    dict.__setitem__(self.state, flat.params[i], self._watched(flat.state_of(i)))
        # The update itself is NumPy and numba on the flat buffers: no Tensor operation, so no graph.
        for resolved, flat, active in plans:
            flat.gather()
            record = remember_step(self, resolved, flat, active) if self._recording else None  # for explain()
            if flat.narrow:
                self._update_wide(resolved, flat, active)
            else:
                self._update(resolved, flat, active)
            if record is not None:
                record.param_after = flat.param.copy()
            flat.bump_versions(active)
            if not flat.all_recorded:
                self._record_state(flat, active)
        return loss

    def _update_wide(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        """`_update` for float16 buffers: the kernel runs on float32 copies, the results are rounded back."""
        narrow = flat.param, flat.grad, flat.state, flat.empty
        flat.param, flat.grad = flat.param.astype(np.float32), flat.grad.astype(np.float32)
        flat.state = {name: buffer.astype(np.float32) for name, buffer in flat.state.items()}
        flat.empty = flat.grad[:0]
        try:
            self._update(group, flat, active)
            wide_param, wide_state = flat.param, flat.state
        finally:
            flat.param, flat.grad, flat.state, flat.empty = narrow
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float16's range: inf, silently, as PyTorch
            np.copyto(flat.param, wide_param, casting="same_kind")
            for name, buffer in flat.state.items():
                np.copyto(buffer, wide_state[name], casting="same_kind")

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

    def _check_state(self, index: int, group: dict[str, Any], flats: list[FlatGroup], values: tuple) -> None:
        """Refuse edited hyperparameters that need state this group never kept (before anything changes)."""
        for flat in flats:
            missing = flat.state_allocated and set(self._state_shapes(group, flat.params[0])) - set(flat.state)
            if missing:
                changed = [name for name, old, new in zip(self._hyperparameter_names, self._checked[index], values)
                           if old is not new]
                raise ValueError(f"parameter group {index}: {', '.join(changed)} changed after the first step and now "
                                 f"needs the state {sorted(missing)}, which was not kept; build a new "
                                 f"{type(self).__name__} to use it")

    def _watched(self, state: dict[str, Any]) -> WatchedDict:
        return WatchedDict(self._state_edited, state)

    def _take_state_edits(self) -> None:
        """Take in edits of ``optimizer.state`` since the last step, as PyTorch uses its state as it finds it.

        A state entry replaced (``state[p]['exp_avg'] = ...``, ``state[p]['step'] = 0``) is copied into the
        flat buffers (same shape, numbers; a step count finite and >= 0); a parameter whose entry was deleted
        (``del state[p]``, ``state.clear()``) starts afresh (step 0, initial state) the next time it is
        updated; an entry given to a parameter that never stepped is taken as its state. In-place edits of
        the arrays need nothing: they are views of the buffers. Everything is checked before anything changes.
        """
        state = self.state
        if not isinstance(state, dict):
            raise TypeError(f"optimizer.state must be a dict (parameter -> dict), got {type(state).__name__}")
        actions = []
        n = -1
        for g, flats in enumerate(self._flat):
            for flat in flats:
                for i, p in enumerate(flat.params):
                    n += 1
                    entry = state.get(p)
                    if entry is None:
                        if flat.state_allocated and flat.steps[i] != 0:
                            actions.append((g, flat, i, p, None))
                        continue
                    if not isinstance(entry, dict):
                        raise ValueError(f"optimizer.state of parameter {n} must be a dict, got {type(entry).__name__}")
                    if flat.state_allocated:
                        views = flat.state_of(i)
                    else:
                        views = {"step": np.zeros(())}
                        views.update({name: np.zeros(shape) for name, shape in
                                      self._state_shapes(self._resolved[g] or self.param_groups[g], p).items()})
                    values = {}
                    for name, view in views.items():
                        if name not in entry:
                            raise ValueError(f"optimizer.state of parameter {n} lacks {name!r}; delete the whole entry "
                                             f"(del optimizer.state[p]) to start the parameter afresh")
                        value = entry[name]
                        if _same_array(value, view):
                            continue
                        value = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
                        if value.dtype.kind not in "biuf" or value.shape != view.shape:
                            raise ValueError(f"optimizer.state of parameter {n}: {name!r} must be numbers of shape "
                                             f"{view.shape}, got {value.dtype} of shape {value.shape}")
                        if name == "step" and not (np.isfinite(value) and value >= 0):
                            raise ValueError(f"optimizer.state of parameter {n}: 'step' must be a finite number "
                                             f">= 0, got {value!r}")
                        values[name] = value
                    if values or not isinstance(entry, WatchedDict):
                        actions.append((g, flat, i, p, values))
        # Everything checked: now change.
        if not isinstance(state, WatchedDict):
            self.state = WatchedDict(self._state_edited, state)
        self._state_seen = self.state
        for g, flat, i, p, values in actions:
            if values is None:  # deleted: start afresh, as PyTorch creates state lazily
                initial = self._initial_state(self._resolved[g])
                flat.steps[i] = 0
                for name, view in flat.state_of(i).items():
                    if name != "step":
                        view[...] = initial.get(name, 0.0)
                flat.all_recorded = False
                continue
            if not flat.state_allocated:
                flat.carried[i] = {**{k: np.array(v) for k, v in state[p].items()}, **values}
                continue
            for name, view in flat.state_of(i).items():
                if name == "step" and name in values:
                    flat.steps[i] = float(values[name])
                elif name in values:
                    np.copyto(view, values[name], casting="unsafe")
            dict.__setitem__(self.state, p, self._watched(flat.state_of(i)))
        self._state_edited[0] = False

    def _record_state(self, flat: FlatGroup, active: np.ndarray) -> None:
        """Give ``state[p]`` to parameters updated for the first time (as PyTorch creates it lazily)."""
        for i in (range(len(flat.params)) if active is flat.all_active else flat.picked):
            p = flat.params[i]
            if p not in self.state:
                dict.__setitem__(self.state, p, self._watched(flat.state_of(i)))
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
        exactly as the uninterrupted run would. A hyperparameter given as a
        Tensor is saved as its current number. The state of a parameter
        removed from every group is left out (PyTorch's ``state_dict`` raises
        ``KeyError`` there).

        Example:
            >>> import tinygrad_edu as tg
            >>> opt = tg.optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1)
            >>> opt.state_dict()["param_groups"][0]["params"]
            [0]
        """
        if self._edited():
            self._take_edits()
        if self._state_edited[0] or self.state is not self._state_seen:
            self._take_state_edits()
        index = {id(p): i for i, p in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            entry = {}
            for k, v in group.items():
                if k != "params":
                    v = _plain(v)
                    entry[k] = list(v) if isinstance(v, tuple) else v
            entry["params"] = [index[id(p)] for p in group["params"]]
            groups.append(entry)
        state = {}
        for p, s in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: (float(v) if k == "step" else v.copy()) for k, v in s.items()}
        return {"state": state, "param_groups": groups, "optimizer": type(self).__name__}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``: hyperparameters, step counts and state buffers.

        Everything is checked first (same kind of optimizer, same groups and
        sizes, parameter positions that are distinct integers in range, every
        step count a finite number >= 0, every buffer's shape and dtype, every
        hyperparameter), so a refused load (``ValueError``) changes nothing,
        whatever the dict holds (it may come from an untrusted file).

        Example:
            >>> import tinygrad_edu as tg
            >>> opt = tg.optim.Adam([tg.zeros(2, requires_grad=True)], lr=0.1)
            >>> saved = opt.state_dict(); opt.param_groups[0]["lr"] = 0.5
            >>> opt.load_state_dict(saved); opt.param_groups[0]["lr"]
            0.1
        """
        if not isinstance(state_dict, dict) or not isinstance(state_dict.get("state"), dict) \
                or not isinstance(state_dict.get("param_groups"), (list, tuple)):
            raise ValueError("load_state_dict expects a dict with 'state' (a dict) and 'param_groups' (a list), "
                             "as optimizer.state_dict() returns")
        if self._edited():
            self._take_edits()
        name = state_dict.get("optimizer", type(self).__name__)
        if name != type(self).__name__:
            raise ValueError(f"this state dict comes from {name!r}, not {type(self).__name__}")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(groups)} parameter groups, the optimizer "
                             f"{len(self.param_groups)}")
        total = sum(len(group["params"]) for group in self.param_groups)
        position: dict[int, Tensor] = {}
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise ValueError(f"parameter group {i} of the state dict must be a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameters in the state dict "
                                 f"but {len(group['params'])} in the optimizer")
            missing = set(self.defaults) - set(saved)
            if missing:
                raise ValueError(f"parameter group {i} of the state dict lacks {sorted(missing)}: "
                                 f"not a {type(self).__name__} state dict")
            for k, p in zip(saved["params"], group["params"]):
                key = _position(k, total, f"parameter group {i} of the state dict")
                if key in position:
                    raise ValueError(f"the state dict lists parameter {key} twice")
                position[key] = p
        new_groups = []
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            merged = {**group, **{k: (tuple(v) if isinstance(group.get(k), tuple) and isinstance(v, list) else v)
                                  for k, v in saved.items() if k != "params"}}
            resolved = self._resolved_group(merged, f"parameter group {i} of the state dict")
            self._validate_group(resolved)
            new_groups.append((merged, resolved))
        group_of = {id(p): resolved for (_, resolved), group in zip(new_groups, self.param_groups)
                    for p in group["params"]}
        updates = []
        for key, saved_state in state_dict["state"].items():
            p = position.get(_position(key, total, "the state dict's 'state'"))
            if p is None:
                raise ValueError(f"the state dict has state for parameter {key!r}, which no group lists")
            if not isinstance(saved_state, dict):
                raise ValueError(f"the state of parameter {key!r} must be a dict, got {type(saved_state).__name__}")
            expected = self._state_shapes(group_of[id(p)], p)
            names = set(saved_state) - {"step"}
            if names != set(expected) or "step" not in saved_state:
                raise ValueError(f"state of parameter {key} holds {sorted(map(str, saved_state))}, but "
                                 f"{type(self).__name__} keeps {sorted(set(expected) | {'step'})}")
            step = saved_state["step"]
            step = np.asarray(step.numpy() if isinstance(step, Tensor) else step)
            if step.shape != () or step.dtype.kind not in "iuf" or not (np.isfinite(step) and step >= 0):
                raise ValueError(f"state 'step' of parameter {key} must be a finite number >= 0, "
                                 f"got {saved_state['step']!r}")
            values = {}
            for k, shape in expected.items():
                value = saved_state[k]
                value = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
                if value.shape != tuple(shape):
                    raise ValueError(f"state '{k}' of parameter {key} has shape {value.shape}, expected {tuple(shape)}")
                if value.dtype.kind not in "biuf":
                    raise ValueError(f"state '{k}' of parameter {key} has dtype {value.dtype}, expected numbers")
                values[k] = value
            updates.append((p, float(step), values))
        # Everything checked: now change.
        for i, (group, (merged, resolved)) in enumerate(zip(self.param_groups, new_groups)):
            group.update({k: v for k, v in merged.items() if k != "params"})
            self._checked[i] = tuple(map(group.get, self._hyperparameter_names))
            self._resolved[i] = resolved
            self._dynamic[i] = any(map(_is_dynamic, self._checked[i]))
        self.state = self._state_seen = WatchedDict(self._state_edited)
        self._state_edited[0] = False
        with_state = {id(p) for p, _, _ in updates}
        for resolved, flats in zip(self._resolved, self._flat):
            for flat in flats:
                flat.steps[:] = 0
                flat.all_recorded = False
                flat.carried = {}
                if not with_state & set(flat.slot):
                    flat.free_state()  # as an optimizer that never stepped: no buffers (state_nbytes says so)
                    continue
                # Fresh buffers, shaped for the loaded hyperparameters (amsgrad or momentum may differ from
                # those this optimizer stepped with, as PyTorch allows).
                flat.allocate_state([self._state_shapes(resolved, p) for p in flat.params],
                                    self._initial_state(resolved))
        for p, step, values in updates:
            flat, i = self._flat_of(p)
            flat.steps[i] = step
            for k, views in flat.state_views.items():
                if views[i] is not None:
                    np.copyto(views[i], values[k], casting="unsafe")
            dict.__setitem__(self.state, p, self._watched(flat.state_of(i)))

    def __getstate__(self) -> dict[str, Any]:
        """What ``copy.deepcopy`` and ``pickle`` keep: the groups (parameters and hyperparameters), the
        defaults and the ``state_dict``.

        The flat buffers are left out: the parameters share their slices and the step's bookkeeping holds weak
        references, so a copy is rebuilt from its own (copied) parameters, as PyTorch's optimizer copies
        step its copied parameters.
        """
        groups = [{**group, "params": list(group["params"])} for group in self.param_groups]
        return {"groups": groups, "defaults": self.defaults, "state_dict": self.state_dict()}

    def __setstate__(self, saved: dict[str, Any]) -> None:
        Optimizer.__init__(self, saved["groups"], saved["defaults"])
        self.load_state_dict(saved["state_dict"])

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
