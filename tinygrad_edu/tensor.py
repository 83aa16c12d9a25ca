"""`Tensor`: a NumPy array that remembers how it was computed.

Every operation on tensors that require grad records a node of the graph
(see `tinygrad_edu.autograd`) whose derivative rule lives in
`tinygrad_edu.ops`. ``loss.backward()`` walks that graph backwards and fills
``.grad`` of every leaf tensor with ``requires_grad=True``.

Dtypes follow PyTorch: float data becomes the default float dtype (float32,
see `set_default_dtype`), integer data stays integer, and mixing a tensor with
a Python number keeps the tensor's dtype unless the number is of a higher kind
(a float with an integer tensor gives the default float dtype).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import autograd, dtypes, ops
from . import rng as _rng
from .autograd import _mode as _grad_mode  # this thread's grad mode and recorder
from .autograd import creation_counter as _creation_counter
from .autograd import run_backward
from .device import check_device, parse_to_args
from .ops._quiet import quiet

__all__ = ["Tensor", "tensor", "ShapeError", "Size", "matmul", "maximum", "minimum", "cat", "stack", "where"]

Scalar = int | float | bool
DTypeLike = Any

# PyTorch's legacy type names (``t.type()`` gives "torch.FloatTensor"), by NumPy dtype name.
_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
               "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}

class Size(tuple):
    """A shape as ``torch.Size``: a tuple (equal to the plain tuple) that also has ``numel()``.

    Example:
        >>> import tinygrad_edu as tg
        >>> s = tg.zeros(2, 3).size()
        >>> s == (2, 3), s.numel(), s[1]
        (True, 6, 3)
    """

    __slots__ = ()

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        return math.prod(self)

    def __repr__(self) -> str:
        return f"tg.Size({list(self)})"


class ShapeError(ValueError, RuntimeError):
    """Shapes that do not fit an operation.

    A `ValueError` (as NumPy raises) and a `RuntimeError` (as PyTorch raises),
    so code written for either catches it.
    """


MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


# ---------------------------------------------------------------------------
# Helpers: turning inputs into arrays of the right dtype
# ---------------------------------------------------------------------------

def _to_array(data: Any, dtype: DTypeLike = None) -> np.ndarray:
    """Convert user data to a fresh array following the dtype rules (always a copy)."""
    if isinstance(data, Tensor):
        array = data._data
        return array.astype(dtype if dtype is not None else array.dtype, copy=True)
    if dtype is not None:
        dt = np.dtype(dtype)
        raw = data if isinstance(data, np.ndarray) else np.array(data)
        kind = raw.dtype.kind
        if kind in "biuf" or (kind == "c" and raw is data):  # a complex NumPy array: NumPy warns, as PyTorch does
            array = raw.astype(dt, copy=True)
        elif kind == "O":  # Python ints beyond int64, say: converted one by one, as before
            array = np.array(data, dtype=dt, copy=True)
        else:  # strings are not parsed ("1" is no number), complex numbers are not cut to their real part
            raise TypeError(f"a Tensor holds numbers (bool, integer or float), got data of dtype {raw.dtype} "
                            f"from {type(data).__name__} (with dtype={dt}; PyTorch refuses it too)")
    else:
        array = np.array(data, copy=True)
        if array.dtype.kind == "f":
            array = array.astype(dtypes.default_dtype(), copy=False)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"a Tensor holds numbers (bool, integer or float), got data of dtype {array.dtype} "
            f"from {type(data).__name__}"
        )
    return array


def _wrap(data: np.ndarray, requires_grad: bool = False, ctx: Any = None) -> Tensor:
    """Make a Tensor around ``data`` without copying or checking (internal fast path)."""
    out = object.__new__(Tensor)
    out._data = data
    out._requires_grad = requires_grad
    out._ctx = ctx
    out._grad = None
    out._vc = [0]
    return out


def _apply(fn_cls: type, *parents: Tensor, arrays: Sequence[np.ndarray] | None = None, **options: Any) -> Any:
    """Run ``fn_cls`` forward and, when grad is on and needed, record it in the graph.

    ``arrays`` lets a caller feed forward converted arrays (dtype promotion)
    while the graph still points at the original tensors. A node whose class
    has ``n_outputs > 1`` returns a tuple of arrays and gets a tuple of tensors,
    each knowing its place among the node's outputs.
    """
    fn = fn_cls(*parents)
    inputs = arrays if arrays is not None else [p._data for p in parents]
    data = fn.forward(*inputs, **options)
    if fn_cls.n_outputs != 1:
        return _record_outputs(fn, parents, inputs, options, data)
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    if _grad_mode.grad_enabled and True in fn.needs_input_grad:
        out = _wrap(data, True, fn)
        fn.seq = out._seq = next(_creation_counter)
        if fn_cls.tracks_versions:
            autograd.record_saved_versions(fn, parents, out)
        if _grad_mode.recorder is not None:
            _grad_mode.recorder.record(fn, inputs, options)
    else:
        out = _wrap(data)
    if data.base is not None:  # a view (reshape, slice, transpose...): it shares its input's version counter
        _share_version_if_view(out, parents)
    return out


def _share_version_if_view(out: Tensor, parents: Sequence[Tensor]) -> None:
    """Give ``out`` its input's version counter if it shares that input's memory (PyTorch: views share one).

    An in-place change through either then bumps the same counter, so a node that
    saved the other's values refuses to backpropagate through them. ``out._base``
    remembers the tensor it is a view of (see `Tensor._inplace`).
    """
    data = out._data
    for parent in parents:
        if np.may_share_memory(data, parent._data):
            out._vc = parent._vc
            out._base = parent.__dict__.get("_base", parent)
            return


def _record_outputs(fn: Any, parents: tuple, inputs: Any, options: dict, arrays: Sequence[np.ndarray]) -> tuple:
    """`_apply` for a node with several outputs (a recurrence returning the sequence and its last state)."""
    arrays = [np.asarray(a) for a in arrays]
    if not (_grad_mode.grad_enabled and True in fn.needs_input_grad):
        return tuple(_wrap(a) for a in arrays)
    fn.seq = next(_creation_counter)
    fn.output_meta = [(a.shape, a.dtype) for a in arrays]
    outputs = []
    for index, array in enumerate(arrays):
        out = _wrap(array, True, fn)
        out._seq = fn.seq
        if index:
            out._out_index = index
        outputs.append(out)
    if type(fn).tracks_versions:
        autograd.record_saved_versions(fn, parents, outputs[0] if type(fn).saves_output else None)
    if _grad_mode.recorder is not None:
        _grad_mode.recorder.record(fn, inputs, options)
    return tuple(outputs)


def _operands(a: Any, b: Any, *, true_divide: bool = False) -> tuple[Tensor, Tensor, list[np.ndarray]]:
    """Turn a binary operation's inputs into two Tensors and their arrays in one dtype."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype == b._data.dtype \
            and (not true_divide or a._data.dtype.kind == "f"):
        return a, b, [a._data, b._data]  # the common case, fast
    if type(b) in (float, int) and isinstance(a, Tensor) and a._data.dtype.kind == "f":
        b_array = np.asarray(b, dtype=a._data.dtype)  # a float tensor and a number: the tensor's dtype
        return a, _wrap(b_array), [a._data, b_array]
    if type(a) in (float, int) and isinstance(b, Tensor) and b._data.dtype.kind == "f":
        a_array = np.asarray(a, dtype=b._data.dtype)
        return _wrap(a_array), b, [a_array, b._data]
    raw = (a, b)
    # An array or list promotes like a tensor of the default float dtype (Tensor's rule), but its
    # values go straight to the result dtype below: float64 data meeting a float64 tensor is never
    # rounded through float32.
    if not isinstance(a, Tensor) and not isinstance(a, dtypes.SCALAR_TYPES):
        a = Tensor(a)
    if not isinstance(b, Tensor) and not isinstance(b, dtypes.SCALAR_TYPES):
        b = Tensor(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(a)  # two Python numbers, as in tg.where(cond, 1.0, 0.0)
    dtype = dtypes.result_dtype(*[(t._data.dtype, t._data.ndim) if isinstance(t, Tensor) else t for t in (a, b)])
    if true_divide and dtype.kind != "f":
        dtype = dtypes.default_dtype()
    a = a if isinstance(raw[0], Tensor) else _wrap(np.asarray(raw[0], dtype=dtype))
    b = b if isinstance(raw[1], Tensor) else _wrap(np.asarray(raw[1], dtype=dtype))
    return a, b, [t._data if t._data.dtype == dtype else t._data.astype(dtype) for t in (a, b)]


def _binary(fn_cls: type, name: str, a: Any, b: Any, *, true_divide: bool = False) -> Tensor:
    a, b, arrays = _operands(a, b, true_divide=true_divide)
    try:
        return _apply(fn_cls, a, b, arrays=arrays)
    except ValueError as err:
        _raise_if_unbroadcastable(name, a.shape, b.shape, err)
        raise


def _raise_if_unbroadcastable(name: str, shape_a: tuple, shape_b: tuple, err: Exception) -> None:
    try:
        np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        raise ShapeError(
            f"{name}: shapes {shape_a} and {shape_b} cannot be broadcast together "
            f"(trailing dimensions must be equal or 1)"
        ) from err


def _compare(ufunc: np.ufunc, name: str, a: Any, b: Any) -> Tensor:
    a, b, arrays = _operands(a, b)
    try:
        return _wrap(np.asarray(ufunc(*arrays)))
    except ValueError as err:
        _raise_if_unbroadcastable(name, a.shape, b.shape, err)
        raise


def _int_sizes(who: str, name: str, sizes: Sequence[Any]) -> tuple[int, ...]:
    """``sizes`` as a tuple of ints, if every element is an integer (or a 0-d integer tensor, as PyTorch allows).

    ``2.5``, ``"2"``, ``True`` and float tensors are refused with PyTorch's
    ``TypeError`` rather than silently truncated (``int(2.5) == 2``).
    """
    out = []
    for position, n in enumerate(sizes):
        if type(n) is int:  # the common case, fast
            out.append(n)
        elif isinstance(n, np.integer) or (isinstance(n, Tensor) and n._data.ndim == 0 and n._data.dtype.kind in "iu"):
            out.append(int(n))
        else:
            kind = f"a {n.ndim}-d Tensor of dtype {n.dtype}" if isinstance(n, Tensor) else type(n).__name__
            raise TypeError(f"{who}(): argument '{name}' must be a tuple of ints, but found {n!r} ({kind}) "
                            f"at position {position}")
    return tuple(out)


def _size_args(size: tuple, who: str = "size") -> tuple[int, ...]:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike, as PyTorch does; every size an integer >= 0."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    sizes = _int_sizes(who, "size", size)
    if any(n < 0 for n in sizes):
        raise ShapeError(f"{who}: sizes must be non-negative integers, got {sizes}")
    return sizes


def _normalize_axis(dim: Any, ndim: int, name: str) -> Any:
    """Check a ``dim`` argument (int, tuple of ints or None) against ``ndim``."""
    if dim is None:
        return None
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, fast
        return dim % ndim
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    low, high = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{name}: dim must be an integer or a tuple of integers, got {dim!r}")
        if not low <= d <= high:
            raise IndexError(f"{name}: dim {d} is out of range for a tensor with {ndim} dimensions "
                             f"(expected {low} to {high})")
        out.append(int(d) % max(ndim, 1))
    return tuple(out) if isinstance(dim, (tuple, list)) else out[0]


def _flag(who: str, name: str, value: Any) -> bool:
    """A yes/no argument (``requires_grad``, ``keepdim``...): a ``bool`` (or NumPy bool), never ``"no"`` or ``1``.

    PyTorch refuses anything but a bool with a ``TypeError``; so does the
    library (it also takes ``np.bool_``, which PyTorch refuses), where Python's
    ``bool("no")`` would silently mean yes.
    """
    if type(value) is bool:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{who}(): argument '{name}' must be bool, not {type(value).__name__} ({value!r})")


def _dim_and_keepdim(name: str, dim: Any, keepdim: bool, axis: Any, keepdims: Any) -> tuple[Any, bool]:
    """Resolve PyTorch's ``dim``/``keepdim`` and NumPy's ``axis``/``keepdims`` spellings."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}: give dim or axis, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, keepdim if type(keepdim) is bool else _flag(name, "keepdim", keepdim)


def _storage_of(value: Any, name: str) -> np.ndarray:
    """The array behind a Tensor or NumPy array that a tensor is about to share (``.data =``, ``set_``)."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, np.generic):
        return np.array(value)  # NumPy gives scalars for 0-d results
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name}: a Tensor holds numbers (bool, integer or float), got dtype {value.dtype}")
        return value
    raise TypeError(f"{name} takes a Tensor (or a NumPy array), got {type(value).__name__}")


#: Held while a gradient is added into a leaf's ``.grad`` (backward() may run in several threads at once).
_GRAD_LOCK = threading.Lock()

#: dL/dL = 1 for a 0-d loss, one read-only array per dtype (every walk copies before writing).
_UNIT_SEEDS: dict[np.dtype, np.ndarray] = {}


def _unit_seed(dtype: np.dtype) -> np.ndarray:
    seed = np.ones((), dtype=dtype)
    seed.flags.writeable = False
    _UNIT_SEEDS[dtype] = seed
    return seed


def backward_seed(tensor: Tensor, gradient: Any, caller: str) -> np.ndarray:
    """dL/d(tensor) to start a backward walk from, checked (shared by ``backward`` and ``backward_steps``)."""
    if not tensor._requires_grad:
        raise RuntimeError(
            f"{caller}() needs a tensor that requires grad, but this one was computed only from "
            f"tensors with requires_grad=False (or inside no_grad())"
        )
    if gradient is None:
        if tensor._data.size != 1:
            raise RuntimeError(
                f"{caller}() without `gradient` needs a scalar (one-element) tensor, got shape "
                f"{tensor.shape}; reduce it first (e.g. loss.sum()) or pass gradient= of that shape"
            )
        if tensor._data.ndim == 0:
            return _UNIT_SEEDS.get(tensor._data.dtype) or _unit_seed(tensor._data.dtype)
        return np.ones(tensor.shape, dtype=tensor.dtype)
    if isinstance(gradient, Tensor):
        given = gradient._data
    else:  # more lenient than PyTorch, which takes only Tensors: NumPy arrays, lists and numbers too
        given = np.asarray(gradient)
        if given.dtype.kind == "c":
            pass  # refused below with the dtype named
        elif given.dtype.kind not in "biuf":
            raise TypeError(f"{caller}: gradient must be a Tensor (or numbers), got {gradient!r} "
                            f"of dtype {given.dtype}")
    if given.dtype.kind == "c":  # PyTorch: real outputs take real gradients; the imaginary part is never dropped
        raise RuntimeError(f"{caller}: gradient has the complex dtype {given.dtype}, but the tensor has the real "
                           f"dtype {tensor.dtype}; pass a real gradient (the imaginary part is not dropped silently)")
    if given.shape != tensor.shape:
        raise ShapeError(f"{caller}: gradient has shape {given.shape} but the tensor has shape {tensor.shape} "
                         f"(PyTorch: 'Mismatch in shape')")
    # Integer, bool and other float gradients are converted to the tensor's dtype, as PyTorch does.
    return given.astype(tensor.dtype, copy=True)


def _index_to_numpy(index: Any) -> Any:
    """Convert Tensors and lists inside an index to NumPy arrays."""
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return np.asarray([i.item() if isinstance(i, Tensor) else i for i in index])
    return index


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Args:
        data: a Python number, a (nested) list, a NumPy array or a Tensor. The
            data is copied. Float data becomes the default float dtype
            (float32 unless `set_default_dtype` changed it); integer data stays
            integer.
        requires_grad: record operations on this tensor so that ``backward()``
            can fill its ``.grad``. Only floating tensors may require grad.
        dtype: a NumPy dtype (``np.float64``, ``tg.float64``, ...) to convert to.

    Example:
        >>> import tinygrad_edu as tg
        >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> y = (x ** 2).sum()     # y = x1^2 + x2^2 + x3^2
        >>> y.backward()           # dy/dx = 2x
        >>> x.grad
        tensor([2., 4., 6.])
    """

    __slots__ = ("_data", "_grad", "_requires_grad", "_ctx", "_seq", "_vc", "__weakref__", "__dict__")

    #: Which output of its node this tensor is (set on the instance only for nodes with several).
    _out_index = 0
    #: The tensor this one is a view of, sharing its memory and version counter (set only on views).
    _base: Tensor | None = None
    #: A leaf's hooks (id -> hook), set by its first `register_hook`; a non-leaf's live on its node.
    _backward_hooks: dict | None = None

    # Make NumPy hand `ndarray <op> Tensor` over to Tensor's reflected operators.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: DTypeLike = None, device: Any = None) -> None:
        check_device(device)  # the CPU is the only device: anything else is a clear error
        requires_grad = _flag("tensor", "requires_grad", requires_grad)
        array = _to_array(data, dtype)
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {array.dtype}; "
                f"pass float data or dtype=tg.float32"
            )
        self._data = array
        self._grad: Tensor | None = None
        self._requires_grad = bool(requires_grad)
        self._ctx = None
        self._vc = [0]

    # -- attributes ---------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded for ``backward()``."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise RuntimeError(f"requires_grad must be a bool, got {value!r} (as in PyTorch)")
        self.requires_grad_(value)

    @property
    def data(self) -> Tensor:
        """This tensor's values as a tensor outside the graph, sharing storage (PyTorch's ``.data``).

        It never requires grad and changes to it are not tracked, so the
        classic update ``p.data -= lr * p.grad`` changes ``p`` itself without
        recording anything. (``p.detach()`` is the safer twin: it shares ``p``'s
        version counter, so an in-place change through it that would spoil a
        pending backward is caught.) ``p.data = other`` makes ``p`` hold
        ``other``'s values (sharing its storage, as in PyTorch).
        """
        return _wrap(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        array = _storage_of(value, "data")
        if array.dtype.kind != "f" and self._requires_grad:
            raise TypeError(f"data: a tensor that requires grad needs floating-point data, got dtype {array.dtype}")
        self._data = array

    def set_(self, source: Any) -> Tensor:
        """Make this tensor share ``source``'s storage (and take its shape), in place, as in PyTorch.

        ``source`` is a Tensor (or a NumPy array) of this tensor's dtype (another
        dtype is a ``RuntimeError``, as in PyTorch). On a leaf that requires grad,
        call it inside ``tg.no_grad()``. Bumps the version counter.
        """
        self._check_leaf_inplace("set_")
        array = _storage_of(source, "set_")
        if array.dtype != self._data.dtype:
            raise RuntimeError(f"set_: could not set a tensor of dtype {array.dtype} to a tensor of dtype "
                               f"{self._data.dtype} (as in PyTorch, set_ keeps the dtype; convert the source first)")
        self._data = array
        self._vc[0] += 1
        return self

    @property
    def _version(self) -> int:
        """How many times this tensor was changed in place (PyTorch's version counter).

        Every in-place method bumps it by one in every grad mode, as PyTorch's
        do; a view (slice, reshape, transpose, ``detach()``) shares its base's
        counter, while ``.data`` and ``numpy()`` are not tracked (as in PyTorch).
        """
        return self._vc[0]

    @property
    def grad(self) -> Tensor | None:
        """The gradient ``backward()`` accumulated here (``None`` until then).

        Assigning checks as PyTorch does: a Tensor (or ``None``) of this
        tensor's dtype and shape; anything else raises before ``.grad`` changes.
        """
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value.dtype != self.dtype:  # an integer .grad would break the next backward deep inside NumPy
                raise RuntimeError(f"attempting to assign a gradient with dtype {value.dtype} to a tensor with "
                                   f"dtype {self.dtype}: the gradient must have the tensor's dtype (PyTorch's rule); "
                                   f"convert it first, e.g. g.to({self.dtype.name})")
            if value.shape != self.shape:
                raise ShapeError(f"attempting to assign a gradient of size {value.shape} to a tensor of size "
                                 f"{self.shape}: the gradient must have the tensor's size")
        self._grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple of ints."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the data."""
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (not computed by a recorded operation)."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        """The graph node that produced this tensor, or ``None`` for a leaf."""
        return self._ctx

    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The tensor with its dimensions reversed (the transpose of a matrix)."""
        return _apply(ops.Permute, self, axes=tuple(range(self._data.ndim - 1, -1, -1)))

    def size(self, dim: int | None = None) -> Any:
        """The shape as a `Size` (or the length of dimension ``dim``), as in PyTorch."""
        if dim is None:
            return Size(self.shape)
        return self.shape[_normalize_axis(dim, self.ndim, "size")]

    def dim(self) -> int:
        """The number of dimensions (PyTorch's spelling of ``ndim``)."""
        return self._data.ndim

    def numel(self) -> int:
        """The number of elements."""
        return self._data.size

    def nelement(self) -> int:
        """The number of elements (PyTorch's other name for `numel`)."""
        return self._data.size

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self._data

    def item(self) -> Scalar:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        """The data as (nested) Python lists."""
        return self._data.tolist()

    def detach(self) -> Tensor:
        """A tensor sharing this data (and version counter) but cut from the graph (never requires grad)."""
        out = _wrap(self._data)
        out._vc = self._vc
        return out

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (gradients flow back)."""
        return _apply(ops.Cast, self, dtype=self.dtype)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return ``self`` (a bool only: ``requires_grad_("no")`` is a TypeError).

        Example:
            >>> import tinygrad_edu as tg
            >>> tg.zeros(2).requires_grad_().requires_grad
            True
        """
        requires_grad = _flag("requires_grad_", "requires_grad", requires_grad)
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {self._data.dtype}"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf tensor; use .detach()")
        self._requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()``."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad() needs a tensor that requires grad")
        node = self._ctx
        if node is not None:
            if node.retained is None:
                node.retained = {}
            node.retained[self._out_index] = weakref.ref(self)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` whenever the gradient with respect to this tensor is computed, as PyTorch's.

        The hook gets the gradient (a Tensor that needs no grad) and returns
        ``None`` (keep it) or a replacement of the same shape and dtype, used
        in its place from then on:

        - on a leaf, the hook runs once per backward, on the leaf's total
          gradient, *before* it is added into ``.grad``: the replacement is
          what is added;
        - on an intermediate result, it runs when that gradient is complete
          (every path summed): the replacement is what flows on to the inputs
          that made the tensor, and what ``retain_grad()`` keeps in ``.grad``
          (as in PyTorch, whatever the order of the two calls).

        Several hooks run in registration order, each getting the previous
        one's result. The hook gets a copy of the gradient: changing it in place
        and returning ``None`` works like returning it. A hook that raises stops
        ``backward()``; the error gets a note naming the hook and the tensor.
        `tinygrad_edu.backward_steps` shows where a hook changed a gradient.
        As in PyTorch, a copy of the tensor (``copy.deepcopy``, pickling) has
        none of its hooks, while a deep-copied module keeps its module hooks.

        Args:
            hook: a function of the gradient.

        Returns:
            A `tinygrad_edu.utils.hooks.RemovableHandle`; ``handle.remove()`` takes the hook out.

        Raises:
            RuntimeError: this tensor does not require grad (there will be no
                gradient to see); at backward time, a hook returned another
                shape or dtype ("hook 'name' has changed the size of value").

        Example:
            >>> import tinygrad_edu as tg
            >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
            >>> y = x * 3
            >>> handle = y.register_hook(lambda grad: grad * 10)   # dL/dy = 1 becomes 10
            >>> y.sum().backward()
            >>> x.grad                                               # dL/dx = 3 * 10
            tensor([30., 30.])
            >>> handle.remove()
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient "
                               "(as PyTorch; no gradient will be computed for it: call requires_grad_() on a leaf)")
        if not callable(hook):
            raise TypeError(f"register_hook: the hook must be callable, got {type(hook).__name__} {hook!r}")
        from .utils.hooks import RemovableHandle  # tinygrad_edu.utils imports nn, a layer above: imported when used

        node = self._ctx
        if node is None:
            hooks = self.__dict__.get("_backward_hooks")
            if hooks is None:
                hooks = self._backward_hooks = OrderedDict()
        else:
            # Kept by the node, as PyTorch keeps them on grad_fn: the hook runs even if this tensor is gone.
            if node.tensor_hooks is None:
                node.tensor_hooks = {}
            if node.retained is None:
                node.retained = {}  # the walk looks for hooks only on nodes with this set (see autograd.Node)
            hooks = node.tensor_hooks.setdefault(self._out_index, OrderedDict())
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def __getstate__(self) -> Any:
        """The state that ``copy.deepcopy`` and pickling copy: all but a leaf's hooks (as PyTorch, whose
        leaf hooks live outside the copied ``__dict__``)."""
        state = super().__getstate__()
        if isinstance(state, tuple) and state[0] and "_backward_hooks" in state[0]:
            rest = {k: v for k, v in state[0].items() if k != "_backward_hooks"}
            return (rest or None, *state[1:])
        return state

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Convert to a dtype (gradients flow back), as PyTorch's ``to(dtype)``, ``to(device, dtype)``, ``to(other)``.

        The only device is the CPU: ``to("cpu")`` returns the tensor itself,
        and any other device is a clear error.
        """
        dt = parse_to_args(args, kwargs)
        if dt is None or dt == self.dtype:
            return self
        if dt.kind != "f" or self.dtype.kind != "f":
            return _wrap(self._data.astype(dt))
        return _apply(ops.Cast, self, dtype=dt)

    def type(self, dtype: Any = None) -> Any:
        """Without ``dtype``: the type's name as PyTorch spells it (``'torch.FloatTensor'``); with it, `to` it.

        ``dtype`` may be a dtype (``tg.float``) or PyTorch's type name (``'torch.DoubleTensor'``).

        Example:
            >>> import tinygrad_edu as tg
            >>> tg.tensor([1.0]).type(), tg.tensor([1, 2]).type(tg.float).dtype
            ('torch.FloatTensor', dtype('float32'))
        """
        if dtype is None:
            return "torch." + _TYPE_NAMES.get(self.dtype.name, self.dtype.name) + "Tensor"
        if isinstance(dtype, str):
            names = {f"torch.{name}Tensor": np.dtype(dt) for dt, name in _TYPE_NAMES.items()}
            if dtype not in names:
                raise ValueError(f"type: unknown type name {dtype!r}; expected one of {sorted(names)}")
            dtype = names[dtype]
        return self.to(dtype)

    def float(self) -> Tensor:
        """Convert to float32."""
        return self.to(np.float32)

    def double(self) -> Tensor:
        """Convert to float64."""
        return self.to(np.float64)

    def long(self) -> Tensor:
        """Convert to int64 (no gradient)."""
        return self.to(np.int64)

    def int(self) -> Tensor:
        """Convert to int32 (no gradient)."""
        return self.to(np.int32)

    def bool(self) -> Tensor:
        """Convert to bool (no gradient)."""
        return self.to(np.bool_)

    def cpu(self) -> Tensor:
        """Return ``self`` (everything lives on the CPU); kept so PyTorch code runs."""
        return self

    # -- backward -------------------------------------------------------------

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires grad.

        Gradients are *added* into each leaf's ``.grad`` (as in PyTorch), so call
        ``zero_grad()`` between steps.

        Args:
            gradient: dL/d(self), the same shape as ``self``. May be omitted for
                a tensor with one element (it is then 1). Integer, bool and other
                float dtypes are converted to ``self``'s dtype, as in PyTorch; a
                complex gradient is refused (PyTorch refuses it too), never
                truncated to its real part. More lenient than PyTorch, which takes
                only Tensors: a NumPy array or (nested) list of numbers works too;
                strings and other objects are a ``TypeError``.
            retain_graph: accepted for compatibility (``None`` or a bool); the
                graph is always kept, so ``backward()`` may be called again.
            create_graph: higher-order gradients are not supported.

        Raises:
            RuntimeError: a tensor saved for this backward was changed in place
                since (its version counter moved), or ``gradient`` is complex or
                of another shape (`ShapeError`, also a ``ValueError``).
        """
        if retain_graph is not None and not isinstance(retain_graph, (int, np.bool_)):  # PyTorch takes 0/1 too
            _flag("backward", "retain_graph", retain_graph)
        if create_graph:
            raise NotImplementedError("create_graph=True (gradients of gradients) is not supported")
        seed = backward_seed(self, gradient, "backward")
        with quiet():  # inf - inf, 0 * inf in a backward rule give nan silently, as PyTorch's do
            run_backward(self, seed)

    def _accumulate_grad(self, grad: np.ndarray) -> None:
        """Add ``grad`` into ``.grad`` (the engine guarantees ``grad`` is not shared).

        The first gradient becomes ``.grad`` as it is; later ones are added in
        place into that array, as PyTorch does. Under a lock, as PyTorch's
        accumulation: backward() in several threads into shared leaves loses
        no gradient (NumPy's ``+=`` lets go of the GIL on large arrays).
        """
        with _GRAD_LOCK:
            if self._grad is None:
                # NumPy gives scalars for 0-d results (np.exp(0-d array)); .grad.data must be a writable array.
                if type(grad) is not np.ndarray or not grad.flags.writeable:
                    grad = np.array(grad)
                self._grad = _wrap(grad)
            else:
                held = self._grad._data
                if held.dtype != grad.dtype or held.shape != grad.shape:
                    self._raise_grad_mismatch(held, grad)
                held += grad

    def _raise_grad_mismatch(self, held: np.ndarray, grad: np.ndarray) -> None:
        """``.grad`` was changed (through ``.grad.data`` or ``.data``) into something the new gradient cannot join."""
        raise RuntimeError(
            f"backward: cannot add a gradient of dtype {grad.dtype} and shape {grad.shape} into .grad, which holds "
            f"dtype {held.dtype} and shape {held.shape} (changed through .grad.data, or the tensor's .data "
            f"was replaced); set .grad = None (or zero_grad()) first")

    # -- in-place changes -------------------------------------------------------------
    # PyTorch's rules. A leaf that requires grad may be changed in place only while no graph is
    # recorded (inside `no_grad`, as an optimizer does), since the change would otherwise happen
    # behind the graph's back. Any other tensor may be: if the change involves the graph, it is
    # recorded as a new node that this tensor stands for from then on (its old value lives on as
    # that node's input). Every change bumps the version counter, so a node that saved the old
    # values refuses to backpropagate through them instead of giving a wrong gradient. Stricter than
    # PyTorch: a *view* (``_base`` set) may not be changed in place while the graph is recorded
    # (PyTorch rewrites its base's graph, CopySlices; here the base would change behind its graph).

    def _check_leaf_inplace(self, name: str) -> None:
        if _grad_mode.grad_enabled and self._requires_grad and self._ctx is None:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad cannot be changed in place while the graph is recorded "
                f"(PyTorch: 'a leaf Variable that requires grad is being used in an in-place operation'); "
                f"do it inside `with tg.no_grad():`, or change p.data"
            )

    def _check_writable(self, name: str) -> None:
        """Refuse an in-place change of read-only memory (an ``expand()``: its elements share memory)."""
        if not self._data.flags.writeable:
            raise RuntimeError(
                f"{name}: this tensor's memory cannot be written (an expand()ed tensor, whose elements share memory, "
                f"or a read-only NumPy array); clone() it first. (PyTorch: 'more than one element of the written-to "
                f"tensor refers to a single memory location'; it lets fill_ and item assignment through, the "
                f"library is stricter)")

    def _write(self, name: str, values: np.ndarray) -> None:
        """Copy ``values`` into this tensor's storage, with PyTorch's shape and dtype rules."""
        self._check_writable(name)
        if values.shape != self.shape:
            raise ShapeError(f"{name}: the result has shape {values.shape}, which cannot be written in place "
                             f"into a tensor of shape {self.shape}")
        if not np.can_cast(values.dtype, self.dtype, casting="same_kind"):
            raise RuntimeError(f"{name}: the result has dtype {values.dtype}, which cannot be written in place "
                               f"into a tensor of dtype {self.dtype}")
        np.copyto(self._data, values, casting="same_kind")

    def _inplace(self, name: str, compute: Any, *others: Any) -> Tensor:
        """Change this tensor in place to ``compute(self)``: the shared body of every in-place method."""
        self._check_leaf_inplace(name)
        recording = _grad_mode.grad_enabled and (
            self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others))
        if not recording:
            self._write(name, compute(self)._data)
        else:
            if self._base is not None:
                raise RuntimeError(
                    f"{name}: this tensor is a view of another (a slice, reshape or transpose of it), and changing "
                    f"a view in place while the graph is recorded is not supported: the tensor it views would "
                    f"change behind its graph's back. (PyTorch rewrites the base's graph here; this library is "
                    f"stricter.) Build the result out of place (tg.where, tg.cat, x = x * 2), or clone() first")
            # The value before the change becomes a tensor of its own, the input of the new node.
            old = _wrap(self._data.copy(), self._requires_grad, self._ctx)
            if self._ctx is not None:
                old._seq = self._seq
                old._out_index = self._out_index
            result = compute(old)
            self._write(name, result._data)
            self._ctx, self._requires_grad = result._ctx, result._requires_grad
            if result._ctx is not None:
                self._seq = result._seq
            self.__dict__.pop("_out_index", None)
        self._vc[0] += 1
        return self

    def _inplace_arith(self, name: str, ufunc: np.ufunc, fn_cls: type, other: Any, true_divide: bool = False) -> Tensor:
        if _grad_mode.grad_enabled and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad)):
            return self._inplace(name, lambda t: _binary(fn_cls, name, t, other, true_divide=true_divide), other)
        # Outside the graph: straight into the storage, no temporary (the `p.data -= lr * p.grad` path).
        operand = other._data if isinstance(other, Tensor) else other
        if true_divide and self.dtype.kind != "f":
            raise RuntimeError(f"{name}: true division gives floats, which cannot be written in place into a "
                               f"tensor of dtype {self.dtype}")
        try:
            ufunc(self._data, operand, out=self._data, casting="same_kind")
        except TypeError as err:  # NumPy's casting error: float results into an integer tensor, say
            raise RuntimeError(f"{name}: the result cannot be written in place into a tensor of dtype "
                               f"{self.dtype} ({err})") from None
        except ValueError as err:
            self._check_writable(name)
            shape = np.shape(operand)
            raise ShapeError(f"{name}: an operand of shape {shape} gives a result that does not fit in place "
                             f"into shape {self.shape}") from err
        self._vc[0] += 1
        return self

    def add_(self, other: Any, alpha: Scalar = 1) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._inplace_arith("add_", np.add, ops.Add, other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: Scalar = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._inplace_arith("sub_", np.subtract, ops.Sub, other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place."""
        return self._inplace_arith("mul_", np.multiply, ops.Mul, other)

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place."""
        return self._inplace_arith("div_", np.true_divide, ops.Div, other, true_divide=True)

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace_arith("+=", np.add, ops.Add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace_arith("-=", np.subtract, ops.Sub, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace_arith("*=", np.multiply, ops.Mul, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace_arith("/=", np.true_divide, ops.Div, other, true_divide=True)

    def _overwrite(self, name: str, values: Any) -> Tensor:
        """Replace every element with ``values`` (broadcast); the old values get no gradient."""
        source = values if isinstance(values, Tensor) else _wrap(np.asarray(values))
        if _grad_mode.grad_enabled and (self._requires_grad or source._requires_grad):
            return self._inplace(name, lambda t: _apply(ops.Overwrite, t, source), source)
        self._check_writable(name)
        self._data[...] = source._data
        self._vc[0] += 1
        return self

    def zero_(self) -> Tensor:
        """Set every element to 0 in place."""
        return self._overwrite("zero_", np.zeros((), self.dtype))

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value`` in place."""
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(f"fill_ takes a number or a one-element tensor, got a tensor of shape {value.shape}")
            return self._overwrite("fill_", value.reshape(()))
        if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):  # bool is an int
            raise TypeError(f"fill_ takes a real number or a one-element tensor, got {value!r} (as PyTorch, a complex "
                            f"value is refused rather than cut to its real part)")
        return self._overwrite("fill_", np.asarray(value, dtype=self.dtype))

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to this shape, converted to this dtype) into this tensor in place."""
        source = src if isinstance(src, Tensor) else np.asarray(src)
        try:
            np.broadcast_to(source._data if isinstance(source, Tensor) else source, self.shape)
        except ValueError as err:
            raise ShapeError(f"copy_: a source of shape {np.shape(source)} does not broadcast to shape "
                             f"{self.shape}") from err
        return self._overwrite("copy_", source)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
        """Limit every element to [min, max] in place (see `clip`)."""
        return self._inplace("clamp_", lambda t: t.clip(min, max), min, max)

    clip_ = clamp_

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of N(mean, std**2), in place: ``Tensor.normal_``'s numbers for the same seed.

        Bit for bit PyTorch's for float32 and float64 at every size (see `tinygrad_edu.rng` for the recipes).
        """
        if not std >= 0:
            raise ValueError(f"normal_: std must be non-negative, got {std}")
        self._check_writable("normal_")  # before drawing: a refused call leaves the random stream alone
        gen = _rng.check_generator("normal_", generator)
        return self._overwrite("normal_", self._random_fill(
            lambda shape, dt, contiguous: _rng.normal(gen, shape, dt, mean, std, contiguous)))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of the uniform distribution on [a, b), in place (PyTorch's numbers for the same seed)."""
        if not a <= b:
            raise ValueError(f"uniform_: needs a <= b, got a={a}, b={b}")
        self._check_writable("uniform_")  # before drawing: a refused call leaves the random stream alone
        gen = _rng.check_generator("uniform_", generator)
        return self._overwrite("uniform_", self._random_fill(lambda shape, dt, _: _rng.uniform(gen, shape, dt, a, b)))

    def exponential_(self, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of the exponential distribution of rate ``lambd``, in place (PyTorch's recipe)."""
        if not lambd > 0:
            raise ValueError(f"exponential_: lambd must be positive, got {lambd}")
        self._check_writable("exponential_")  # before drawing: a refused call leaves the random stream alone
        gen = _rng.check_generator("exponential_", generator)
        return self._overwrite("exponential_",
                               self._random_fill(lambda shape, dt, _: _rng.exponential(gen, shape, dt, lambd)))

    def bernoulli(self, p: Any = None, *, generator: Any = None) -> Tensor:
        """A new tensor of 0s and 1s, 1 with probability ``self`` elementwise (or ``p`` if given): ``torch.bernoulli``.

        PyTorch's numbers for the same seed. Not differentiable (its output is a sample).

        Example:
            >>> import tinygrad_edu as tg
            >>> tg.bernoulli(tg.tensor([0.0, 1.0])).tolist()
            [0.0, 1.0]
        """
        if self.dtype.kind != "f":
            raise TypeError(f"bernoulli: needs a floating tensor of probabilities, got dtype {self.dtype}")
        return _wrap(np.zeros(self.shape, dtype=self.dtype)).bernoulli_(self.detach() if p is None else p,
                                                                        generator=generator)

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        """Fill with 1 (probability ``p``) or 0, in place: ``u < p`` over one uniform per element.

        ``p`` is a number or a tensor of probabilities broadcast to this shape; PyTorch's numbers for
        the same seed (see `tinygrad_edu.rng.bernoulli`).
        """
        if isinstance(p, Tensor):
            probabilities = p._data
            if not ((probabilities >= 0) & (probabilities <= 1)).all():
                raise ValueError("bernoulli_: every probability in p must be in [0, 1]")
            try:
                np.broadcast_to(probabilities, self.shape)
            except ValueError:
                raise ShapeError(f"bernoulli_: p of shape {p.shape} does not broadcast to {self.shape}") from None
        elif not 0 <= p <= 1:
            raise ValueError(f"bernoulli_: p must be in [0, 1], got {p}")
        else:
            probabilities = p
        self._check_writable("bernoulli_")  # before drawing: a refused call leaves the random stream alone
        gen = _rng.check_generator("bernoulli_", generator)
        in_memory_order = self._memory_order()
        if in_memory_order is None:
            return self._overwrite("bernoulli_", _rng.bernoulli(gen, self.shape, probabilities).astype(self.dtype))
        if isinstance(probabilities, np.ndarray):  # a strided view: draw in memory order, as PyTorch
            probabilities = np.broadcast_to(probabilities, self.shape).reshape(-1)[in_memory_order]
        values = np.empty(self._data.size, dtype=np.bool_)
        values[in_memory_order] = _rng.bernoulli(gen, (self._data.size,), probabilities)
        return self._overwrite("bernoulli_", values.reshape(self.shape).astype(self.dtype))

    def random_(self, *bounds: int, generator: Any = None) -> Tensor:
        """Fill with random integers, in place: ``random_()``, ``random_(to)`` or ``random_(from, to)``.

        [from, to) when given; otherwise [0, the dtype's largest value] (2**mantissa bits for floats),
        PyTorch's numbers for the same seed (see `tinygrad_edu.rng.random_fill`).
        """
        if len(bounds) > 2:
            raise TypeError(f"random_: takes random_(), random_(to) or random_(from, to), got {len(bounds)} bounds")
        low, high = (0, None) if not bounds else (0, bounds[0]) if len(bounds) == 1 else bounds
        if high is not None and not low < high:
            raise ValueError(f"random_: needs from < to, got from={low}, to={high}")
        self._check_writable("random_")  # before drawing: a refused call leaves the random stream alone
        gen = _rng.check_generator("random_", generator)
        in_memory_order = self._memory_order()
        if in_memory_order is None:
            return self._overwrite("random_", _rng.random_fill(gen, self.shape, self.dtype, low, high))
        values = np.empty(self._data.size, dtype=self.dtype)  # a strided view: in memory order, as PyTorch
        values[in_memory_order] = _rng.random_fill(gen, (self._data.size,), self.dtype, low, high)
        return self._overwrite("random_", values.reshape(self.shape))

    def _random_fill(self, draw: Any) -> np.ndarray:
        """``draw(shape, dtype, contiguous)`` for this tensor, in the order PyTorch fills it.

        float32/float64 are drawn as they are, other dtypes via float32. A view that is not contiguous
        (a transpose) is filled in memory order, as PyTorch's iterator walks its strides.
        """
        dtype = self.dtype if self.dtype in (np.float32, np.float64) else np.dtype(np.float32)
        in_memory_order = self._memory_order()
        if in_memory_order is None:
            return draw(self.shape, dtype, True).astype(self.dtype, copy=False)
        values = np.empty(self._data.size, dtype=dtype)
        values[in_memory_order] = draw((self._data.size,), dtype, False)
        return values.reshape(self.shape).astype(self.dtype, copy=False)

    def _memory_order(self) -> np.ndarray | None:
        """For a view that is not contiguous, its elements' flat indices sorted by address; else None."""
        data = self._data
        if data.flags.c_contiguous or data.size < 2:
            return None
        offsets = sum(index * stride for index, stride in zip(np.indices(data.shape), data.strides))
        return np.argsort(offsets.reshape(-1), kind="stable")

    # -- arithmetic -------------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        return _binary(ops.Add, "add", self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _binary(ops.Add, "add", other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _binary(ops.Sub, "sub", self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _binary(ops.Sub, "sub", other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _binary(ops.Mul, "mul", self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _binary(ops.Mul, "mul", other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _binary(ops.Div, "div", self, other, true_divide=True)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _binary(ops.Div, "div", other, self, true_divide=True)

    def __pow__(self, other: Any) -> Tensor:
        return _binary(ops.Pow, "pow", self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _binary(ops.Pow, "pow", other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(other, self)

    def __neg__(self) -> Tensor:
        return _apply(ops.Neg, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    # -- comparisons and logic (no gradient) ------------------------------------

    def __lt__(self, other: Any) -> Tensor:
        return _compare(np.less, "lt", self, other)

    def __le__(self, other: Any) -> Tensor:
        return _compare(np.less_equal, "le", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _compare(np.greater, "gt", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _compare(np.greater_equal, "ge", self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(np.equal, "eq", self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(np.not_equal, "ne", self, other)

    def eq(self, other: Any) -> Tensor:
        """``self == other`` elementwise, a boolean tensor (PyTorch's method form; also `ne lt le gt ge`)."""
        return _compare(np.equal, "eq", self, other)

    def ne(self, other: Any) -> Tensor:
        """``self != other`` elementwise, a boolean tensor."""
        return _compare(np.not_equal, "ne", self, other)

    def lt(self, other: Any) -> Tensor:
        """``self < other`` elementwise, a boolean tensor."""
        return _compare(np.less, "lt", self, other)

    def le(self, other: Any) -> Tensor:
        """``self <= other`` elementwise, a boolean tensor."""
        return _compare(np.less_equal, "le", self, other)

    def gt(self, other: Any) -> Tensor:
        """``self > other`` elementwise, a boolean tensor."""
        return _compare(np.greater, "gt", self, other)

    def ge(self, other: Any) -> Tensor:
        """``self >= other`` elementwise, a boolean tensor."""
        return _compare(np.greater_equal, "ge", self, other)

    def equal(self, other: Any) -> bool:
        """True if ``other`` has the same shape and the same values (PyTorch's ``equal``; a Python bool)."""
        other = _as_tensor(other)
        return self.shape == other.shape and bool(np.array_equal(self._data, other._data))

    __hash__ = object.__hash__

    def __and__(self, other: Any) -> Tensor:
        return _compare(np.bitwise_and, "and", self, other)

    def __or__(self, other: Any) -> Tensor:
        return _compare(np.bitwise_or, "or", self, other)

    def __xor__(self, other: Any) -> Tensor:
        return _compare(np.bitwise_xor, "xor", self, other)

    def __invert__(self) -> Tensor:
        return _wrap(np.invert(self._data))

    def all(self) -> Tensor:
        """True if every element is non-zero (no gradient)."""
        return _wrap(np.asarray(self._data.all()))

    def any(self) -> Tensor:
        """True if some element is non-zero (no gradient)."""
        return _wrap(np.asarray(self._data.any()))

    # -- unary operations ---------------------------------------------------------

    def exp(self) -> Tensor:
        """e ** x, elementwise."""
        return _apply(ops.Exp, self)

    def log(self) -> Tensor:
        """Natural logarithm, elementwise."""
        return _apply(ops.Log, self)

    def log1p(self) -> Tensor:
        """log(1 + x), accurate for small x."""
        return _apply(ops.Log1p, self)

    def sqrt(self) -> Tensor:
        """Square root, elementwise."""
        return _apply(ops.Sqrt, self)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent, elementwise."""
        return _apply(ops.Tanh, self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + exp(-x)), elementwise, stable for any x."""
        return _apply(ops.Sigmoid, self)

    def relu(self) -> Tensor:
        """max(x, 0), elementwise."""
        return _apply(ops.Relu, self)

    def abs(self) -> Tensor:
        """|x|, elementwise."""
        return _apply(ops.Abs, self)

    def square(self) -> Tensor:
        """x ** 2, elementwise (as ``x * x``: d/dx = 2x)."""
        return self * self

    def sin(self) -> Tensor:
        """Sine, elementwise."""
        return _apply(ops.Sin, self)

    def cos(self) -> Tensor:
        """Cosine, elementwise."""
        return _apply(ops.Cos, self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Limit every element to [min, max] (either bound may be None)."""
        if min is None and max is None:
            raise ValueError("clip needs at least one of min and max")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = maximum(out, min)
            if max is not None:
                out = minimum(out, max)
            return out
        return _apply(ops.Clip, self, low=min, high=max)

    clamp = clip

    def pow(self, exponent: Any) -> Tensor:
        """x ** exponent."""
        return self**exponent

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum with ``other`` (ties share the gradient)."""
        return maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum with ``other`` (ties share the gradient)."""
        return minimum(self, other)

    def matmul(self, other: Any) -> Tensor:
        """Matrix product, as ``@``."""
        return matmul(self, other)

    # -- reductions ---------------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Sum over ``dim`` (an int, a tuple, or None for all elements)."""
        dim, keepdim = _dim_and_keepdim("sum", dim, keepdim, axis, keepdims)
        dim = _normalize_axis(dim, self.ndim, "sum")
        return _apply(ops.Sum, self, axis=dim, keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Mean over ``dim``: the sum divided by the number of elements summed."""
        dim, keepdim = _dim_and_keepdim("mean", dim, keepdim, axis, keepdims)
        dim = _normalize_axis(dim, self.ndim, "mean")
        count = _reduced_count(self.shape, dim)
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"mean: needs a floating-point tensor (as in PyTorch), got dtype {self.dtype}; "
                            f"convert with .float() first")
        return _apply(ops.Mean, self, axis=dim, keepdim=keepdim, count=count)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Variance: sum((x - mean)**2) / (N - correction); ``correction=1`` (unbiased) by default."""
        dim, keepdim = _dim_and_keepdim("var", dim, keepdim, axis, keepdims)
        dim = _normalize_axis(dim, self.ndim, "var")
        if correction is None:
            correction = 0 if unbiased is False else 1
        count = _reduced_count(self.shape, dim)
        deviation = self - self.mean(dim, keepdim=True)
        denominator = max(count - correction, 0)
        squares = (deviation * deviation).sum(dim, keepdim)
        return squares / float(denominator)  # as PyTorch: 0/0 = nan, x/0 = inf, silently (ops.Div)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None, axis: Any = None, keepdims: Any = None) -> Tensor:
        """Standard deviation, the square root of `var` (same arguments); a constant row's gradient is 0 (PyTorch's)."""
        dim, keepdim = _dim_and_keepdim("std", dim, keepdim, axis, keepdims)
        dim = _normalize_axis(dim, self.ndim, "std")
        if correction is None:
            correction = 0 if unbiased is False else 1
        count = _reduced_count(self.shape, dim)
        return _apply(ops.Std, self, axis=dim, keepdim=keepdim, correction=correction, count=count)

    def _extremum(self, name: str, lowest: bool, dim: Any, keepdim: bool, axis: Any, keepdims: Any) -> Any:
        if isinstance(dim, Tensor):
            return minimum(self, dim) if lowest else maximum(self, dim)
        dim, keepdim = _dim_and_keepdim(name, dim, keepdim, axis, keepdims)
        if dim is None:
            if self._data.size == 0:
                raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0 "
                                   f"(input of shape {self.shape}). Specify the reduction dim with the 'dim' argument.")
            return _apply(ops.Amax, self, axis=None, keepdim=False, lowest=lowest)
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"{name}(dim) takes one dim; use amax/amin for several")
        axis_ = _normalize_axis(dim, self.ndim, name)
        if self.ndim == 0:  # as PyTorch: the element itself, index 0 (keepdim changes nothing)
            values, indices = self.reshape(1)._extremum(name, lowest, 0, False, None, None)
            return (MinResult if lowest else MaxResult)(values, indices)
        if self.shape[axis_] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {axis_} to have non-zero size "
                             f"(input of shape {self.shape})")
        indices = (np.argmin if lowest else np.argmax)(self._data, axis=axis_)
        values = _apply(ops.SelectAlong, self, indices=indices, axis=axis_, keepdim=keepdim)
        index_tensor = _wrap(np.expand_dims(indices, axis_) if keepdim else np.asarray(indices))
        return (MinResult if lowest else MaxResult)(values, index_tensor)

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The largest element; with ``dim``, a ``(values, indices)`` pair as in PyTorch.

        Without ``dim`` the gradient is shared evenly among tied maxima; with
        ``dim`` it goes to the returned index. ``max(other_tensor)`` is `maximum`.
        """
        return self._extremum("max", False, dim, keepdim, axis, keepdims)

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """The smallest element; with ``dim``, a ``(values, indices)`` pair (see `max`)."""
        return self._extremum("min", True, dim, keepdim, axis, keepdims)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The maximum over ``dim`` (int or tuple), ties sharing the gradient evenly."""
        dim = _normalize_axis(dim, self.ndim, "amax")
        return _apply(ops.Amax, self, axis=dim, keepdim=keepdim, lowest=False, route_nan=False)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The minimum over ``dim`` (int or tuple), ties sharing the gradient evenly."""
        dim = _normalize_axis(dim, self.ndim, "amin")
        return _apply(ops.Amax, self, axis=dim, keepdim=keepdim, lowest=True, route_nan=False)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the largest element (over all elements, or along ``dim``)."""
        if dim is None:
            return _wrap(np.asarray(np.argmax(self._data)).reshape((1,) * self.ndim if keepdim else ()))
        dim = _normalize_axis(dim, self.ndim, "argmax")
        return _wrap(np.asarray(np.argmax(self._data, axis=dim, keepdims=keepdim)))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the smallest element (over all elements, or along ``dim``)."""
        if dim is None:
            return _wrap(np.asarray(np.argmin(self._data)).reshape((1,) * self.ndim if keepdim else ()))
        dim = _normalize_axis(dim, self.ndim, "argmin")
        return _wrap(np.asarray(np.argmin(self._data, axis=dim, keepdims=keepdim)))

    def softmax(self, dim: int) -> Tensor:
        """exp(x) / sum(exp(x)) along ``dim``, computed stably."""
        return _apply(ops.Softmax, self, axis=_normalize_axis(dim, self.ndim, "softmax"))

    def log_softmax(self, dim: int) -> Tensor:
        """x - logsumexp(x) along ``dim``, finite for logits of any size."""
        return _apply(ops.LogSoftmax, self, axis=_normalize_axis(dim, self.ndim, "log_softmax"))

    def logsumexp(self, dim: int, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))) along ``dim``, computed stably."""
        return _apply(ops.LogSumExp, self, axis=_normalize_axis(dim, self.ndim, "logsumexp"), keepdim=keepdim)

    # -- shape ----------------------------------------------------------------------

    def reshape(self, *shape: Any, **keyword: Any) -> Tensor:
        """The same elements in a new shape (one dimension may be -1); ``shape=`` as a keyword too.

        Sizes are integers (or 0-d integer tensors, as PyTorch allows):
        ``reshape(2.5, 2)`` or ``reshape("2", 2)`` is a ``TypeError``, never ``(2, 2)``.
        """
        shape = _int_sizes("reshape", "shape", _sizes_argument("reshape", shape, keyword, "shape"))
        try:
            return _apply(ops.Reshape, self, shape=shape)
        except ValueError as err:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {self.shape} "
                             f"({self.numel()} elements) into shape {tuple(shape)}") from err

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dimensions ``start_dim`` to ``end_dim`` (inclusive) into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start = _normalize_axis(start_dim, self.ndim, "flatten")
        end = _normalize_axis(end_dim, self.ndim, "flatten")
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        shape = self.shape
        return self.reshape(shape[:start] + (-1 if 0 not in shape else 0,) + shape[end + 1:])

    def squeeze(self, dim: Any = None) -> Tensor:
        """Remove dimensions of length 1 (all of them, or only ``dim`` if it has length 1)."""
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dims = _normalize_axis(dim, self.ndim, "squeeze")
        dims = dims if isinstance(dims, tuple) else (dims,)
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1)))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a dimension of length 1 at position ``dim``."""
        dim = _normalize_axis(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def permute(self, *dims: Any, **keyword: Any) -> Tensor:
        """Reorder the dimensions: ``out.shape[i] = self.shape[dims[i]]``; ``dims=`` as a keyword too."""
        dims = _sizes_argument("permute", dims, keyword, "dims")
        axes = tuple(_normalize_axis(d, self.ndim, "permute") for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not an ordering of the {self.ndim} dimensions")
        return _apply(ops.Permute, self, axes=axes)

    def t(self) -> Tensor:
        """The transpose of a matrix; a vector or a scalar comes back as it is (PyTorch's ``t``).

        Example:
            >>> import tinygrad_edu as tg
            >>> tg.zeros(2, 3).t().shape
            (3, 2)
        """
        if self.ndim > 2:
            raise ShapeError(f"t: expects a tensor with at most 2 dimensions, got shape {self.shape} "
                             f"(use transpose(dim0, dim1) or permute)")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap dimensions ``dim0`` and ``dim1``."""
        axes = list(range(self.ndim))
        d0 = _normalize_axis(dim0, self.ndim, "transpose")
        d1 = _normalize_axis(dim1, self.ndim, "transpose")
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return _apply(ops.Permute, self, axes=tuple(axes))

    def expand(self, *sizes: Any, **keyword: Any) -> Tensor:
        """Broadcast to ``sizes`` (-1 keeps a dimension; ``size=`` as a keyword too); the gradient is summed back."""
        sizes = _int_sizes("expand", "size", _sizes_argument("expand", sizes, keyword, "size"))
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        try:
            fits = lead >= 0 and np.broadcast_shapes(self.shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"expand: a tensor of shape {self.shape} cannot expand to {shape} (each dimension "
                             f"must match or be 1, and new dimensions go in front)")
        return _apply(ops.Expand, self, shape=shape)

    # -- the model zoo's operations: masks, splits, picks, padding, scans, products, norms --------

    def contiguous(self, memory_format: Any = None) -> Tensor:
        """This tensor laid out in row-major order: ``self`` if it already is, else a copy in the graph.

        As in PyTorch, the values are the same either way; the layout decides
        the order in which a later dropout draws its mask.
        """
        if self._data.flags.c_contiguous:
            return self
        return _apply(ops.Contiguous, self)

    def is_contiguous(self, memory_format: Any = None) -> bool:
        """True when the elements lie in memory in row-major order, without gaps (as PyTorch's)."""
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim: int | None = None) -> Any:
        """The step in elements from one index to the next along each dimension (or along ``dim``), as PyTorch's."""
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        if dim is None:
            return strides
        return strides[_normalize_axis(dim, self.ndim, "stride")]

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to ``other``'s dtype, as ``self.to(other.dtype)``."""
        return self.to(other.dtype)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """``value`` where ``mask`` is True, this tensor's values elsewhere: out = where(mask, value, self).

        Args:
            mask: a boolean tensor broadcastable with this one (True marks the positions to fill).
            value: a number, or a 0-d tensor (which then gets the sum of the filled positions' gradients).

        The result keeps this tensor's dtype; the gradient of ``self`` is 0 at the filled
        positions and passes through elsewhere.
        """
        cond = _bool_mask("masked_fill", mask)
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got a tensor of "
                                 f"shape {value.shape}")
            filler, filler_array = value, value._data.astype(self.dtype, copy=False)
        else:
            filler_array = np.asarray(value).astype(self.dtype)
            filler = _wrap(filler_array)
        try:
            np.broadcast_shapes(cond.shape, self.shape)
        except ValueError as err:
            raise ShapeError(f"masked_fill: a mask of shape {cond.shape} does not broadcast with the tensor's "
                             f"shape {self.shape}") from err
        return _apply(ops.Where, filler, self, arrays=[filler_array, self._data], cond=cond)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """`masked_fill` in place: ``mask`` must broadcast to this tensor's shape."""
        return self._inplace("masked_fill_", lambda t: t.masked_fill(mask, value), value)

    def _triangle(self, name: str, diagonal: int, lower: bool) -> Tensor:
        if self.ndim < 2:
            raise ShapeError(f"{name}: needs a tensor of at least 2 dimensions (a matrix or a batch of them), "
                             f"got shape {self.shape}")
        if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
            raise TypeError(f"{name}: diagonal must be an integer, got {diagonal!r}")
        return _apply(ops.Triangle, self, diagonal=int(diagonal), lower=lower)

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle of the matrix (of each matrix in a batch), zeros above it.

        Element (i, j) is kept when j - i <= ``diagonal`` (0: the main diagonal and below,
        positive: more diagonals above it, negative: fewer). The gradient passes through the
        kept elements only.
        """
        return self._triangle("tril", diagonal, lower=True)

    def triu(self, diagonal: int = 0) -> Tensor:
        """The upper triangle of the matrix (of each matrix in a batch), zeros below it.

        Element (i, j) is kept when j - i >= ``diagonal``; see `tril`.
        """
        return self._triangle("triu", diagonal, lower=False)

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """Cut into pieces along ``dim``: of ``split_size`` each (the last may be shorter), or of the given sizes.

        Args:
            split_size_or_sections: an int (every piece that long, the last one what is left),
                or a list of lengths summing to the dimension's length (zeros allowed).
            dim: the dimension to cut.

        Returns:
            A tuple of tensors; each gets its own slice of the gradient.
        """
        axis = _normalize_axis(dim, self.ndim, "split")
        length = self.shape[axis]
        if isinstance(split_size_or_sections, (int, np.integer)) and not isinstance(split_size_or_sections, bool):
            size = int(split_size_or_sections)
            if size < 0 or (size == 0 and length != 0):
                raise ValueError(f"split: split_size must be a positive integer, got {size}")
            bounds = list(range(0, length, size)) + [length] if length else [0, 0]
        else:
            sizes = [int(n) for n in split_size_or_sections]
            if any(n < 0 for n in sizes) or sum(sizes) != length:
                raise ValueError(f"split: split sizes {sizes} must be non-negative and sum to the length of "
                                 f"dim {dim}, {length}")
            bounds = [0, *np.cumsum(sizes).tolist()]
        lead = (slice(None),) * axis
        return tuple(_apply(ops.GetItem, self, index=lead + (slice(start, stop),))
                     for start, stop in zip(bounds[:-1], bounds[1:]))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """Cut into at most ``chunks`` pieces of ceil(length / chunks) along ``dim`` (the last may be shorter).

        As PyTorch, fewer pieces come back when the length does not allow ``chunks``
        (``arange(5).chunk(4)`` gives 3 pieces of 2, 2 and 1).
        """
        if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
        axis = _normalize_axis(dim, self.ndim, "chunk")
        length = self.shape[axis]
        if length == 0:  # PyTorch gives ``chunks`` empty pieces
            return self.split([0] * int(chunks), axis)
        return self.split(-(-length // int(chunks)), axis)

    def gather(self, dim: int, index: Any) -> Tensor:
        """Pick along ``dim``: ``out[i][j][k] = self[index[i][j][k]][j][k]`` for dim 0 (and so on for others).

        Args:
            dim: the dimension to pick along.
            index: an int64 tensor with as many dimensions as this one, no longer than it in the
                other dimensions; the result has its shape.

        An element picked several times gets the sum of its picks' gradients.
        """
        axis, index_array = self._index_along("gather", dim, index)
        if self.ndim == 0:  # a 0-d tensor is picked from as a vector of one element
            return self.reshape(1).gather(0, index_array.reshape(1)).reshape(index_array.shape)
        return _apply(ops.Gather, self, index=index_array, axis=axis)

    def _index_along(self, name: str, dim: int, index: Any, limit: tuple | None = None) -> tuple[int, np.ndarray]:
        """Check ``dim`` and an index tensor for gather and scatter (PyTorch's rules)."""
        array = index._data if isinstance(index, Tensor) else np.asarray(index)
        if array.dtype.kind not in "iu":
            raise TypeError(f"{name}: index must be an integer tensor (tg.long), got dtype {array.dtype}")
        ndim = max(self.ndim, 1)
        axis = _normalize_axis(dim, ndim, name)
        if array.ndim != self.ndim and not (array.ndim <= 1 and self.ndim <= 1):
            raise ShapeError(f"{name}: index must have as many dimensions as the tensor ({self.ndim}), "
                             f"got index of shape {array.shape}")
        shape = self.shape or (1,)
        for d, n in enumerate(array.shape):
            if d != axis and (n > shape[d] or (limit is not None and n > limit[d])):
                raise ShapeError(f"{name}: index of shape {array.shape} is larger than the tensor's shape "
                                 f"{self.shape} in dimension {d}")
        if array.size and (array.min() < 0 or array.max() >= shape[axis]):
            bad = array.min() if array.min() < 0 else array.max()
            raise IndexError(f"{name}: index {bad} is out of range for dimension {dim} of size {shape[axis]} "
                             f"(expected 0 to {shape[axis] - 1})")
        return axis, array

    def _scatter(self, name: str, dim: int, index: Any, src: Any, add: bool) -> Tensor:
        if isinstance(src, Tensor):
            if src.ndim != self.ndim:
                raise ShapeError(f"{name}: src must have as many dimensions as the tensor ({self.ndim}), "
                                 f"got shape {src.shape}")
            axis, array = self._index_along(name, dim, index, limit=src.shape)
            source, source_array = src, src._data.astype(self.dtype, copy=False)
        else:
            axis, array = self._index_along(name, dim, index)
            source_array = np.asarray(src).astype(self.dtype)
            source = _wrap(source_array)
        return _apply(ops.Scatter, self, source, arrays=[self._data, source_array], index=array, axis=axis, add=add)

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Tensor:
        """A copy with ``src`` written at ``index`` along ``dim``: ``out[index[i][j]][j] = src[i][j]`` for dim 0.

        ``src`` is a tensor (or give a number as ``src`` or ``value=``). Where ``index`` names one
        position several times, which write wins is unspecified (as in PyTorch). The gradient
        of ``self`` is 0 at the overwritten positions; ``src`` gets the gradient gathered there.
        """
        if (src is None) == (value is None):
            raise TypeError("scatter: give exactly one of src (a tensor or number) and value")
        return self._scatter("scatter", dim, index, value if src is None else src, add=False)

    def scatter_(self, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Tensor:
        """`scatter` in place: ``src`` (or ``value``) written into this tensor at ``index`` along ``dim``.

        Example:
            >>> import tinygrad_edu as tg
            >>> tg.zeros(3).scatter_(0, tg.tensor([1]), value=1.0).tolist()
            [0.0, 1.0, 0.0]
        """
        if (src is None) == (value is None):
            raise TypeError("scatter_: give exactly one of src (a tensor or number) and value")
        source = value if src is None else src
        return self._inplace("scatter_", lambda t: t._scatter("scatter_", dim, index, source, add=False), source)

    def scatter_add_(self, dim: int, index: Any, src: Tensor) -> Tensor:
        """`scatter_add` in place: ``src`` added into this tensor at ``index`` along ``dim``."""
        return self._inplace("scatter_add_", lambda t: t._scatter("scatter_add_", dim, index, src, add=True), src)

    def scatter_add(self, dim: int, index: Any, src: Tensor) -> Tensor:
        """A copy with ``src`` added at ``index`` along ``dim``: ``out[index[i][j]][j] += src[i][j]`` for dim 0.

        Repeated positions add up. d/dself = 1; d/dsrc = the gradient gathered at ``index``.
        """
        return self._scatter("scatter_add", dim, index, src, add=True)

    def repeat(self, *sizes: Any) -> Tensor:
        """Tile the tensor ``sizes[d]`` times along each dimension (NumPy's ``tile``).

        ``sizes`` may have more entries than this tensor has dimensions: new leading
        dimensions are added. The gradient is the sum over the copies.
        """
        reps = _size_args(sizes, "repeat")
        if len(reps) < self.ndim:
            raise ValueError(f"repeat: needs at least one size per dimension ({self.ndim}), got sizes {reps}")
        return _apply(ops.Repeat, self, reps=reps)

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """Every window of ``size`` elements along ``dimension``, ``step`` apart, as a new last dimension.

        ``dimension`` becomes the number of windows, (length - size) // step + 1;
        out[..., i, ..., j] = self[..., i * step + j, ...]. An element in several windows
        gets the sum of their gradients.
        """
        if self.ndim == 0:  # a 0-d tensor unfolds as a vector of one element
            _normalize_axis(dimension, 0, "unfold")
            return self.reshape(1).unfold(0, size, step).reshape(-1)
        axis = _normalize_axis(dimension, self.ndim, "unfold")
        length = self.shape[axis]
        if not 0 <= size <= length:
            raise ValueError(f"unfold: size {size} must be between 0 and the length of dimension {dimension}, "
                             f"{length}")
        if step <= 0:
            raise ValueError(f"unfold: step must be positive, got {step}")
        return _apply(ops.Unfold, self, axis=axis, size=int(size), step=int(step))

    def as_strided(self, size: Sequence[int], stride: Sequence[int], storage_offset: int = 0) -> Tensor:
        """A view of the elements at ``storage_offset + sum_d i_d * stride[d]`` for every index (i_1, ..., i_k) < size.

        Strides count elements of this tensor laid out in row-major (C) order, which is its
        storage in PyTorch when it is contiguous. Here the result is a copy, not a view; an
        element read at several positions gets the sum of their gradients.
        """
        size, stride = _size_args((size,), "as_strided"), _int_sizes("as_strided", "stride", stride)
        if len(size) != len(stride):
            raise ValueError(f"as_strided: size {size} and stride {stride} must have the same length")
        if any(s < 0 for s in stride) or storage_offset < 0:
            raise ValueError(f"as_strided: strides and storage_offset must be non-negative, got stride {stride} and "
                             f"storage_offset {storage_offset}")
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if 0 not in size else -1
        if last >= self.numel():
            raise ValueError(f"as_strided: size {size}, stride {stride} and storage_offset {storage_offset} reach "
                             f"element {last}, beyond the {self.numel()} elements of a tensor of shape {self.shape}")
        return _apply(ops.AsStrided, self, size=size, stride=stride, offset=int(storage_offset))

    def cumsum(self, dim: int, *, dtype: DTypeLike = None) -> Tensor:
        """Running sum along ``dim``: out_i = x_1 + ... + x_i.

        Integer and bool tensors give int64 (as PyTorch). The gradient of x_i is the sum of
        the upstream gradients of every out_k with k >= i.
        """
        if self.ndim == 0:
            _normalize_axis(dim, 0, "cumsum")
            return self.reshape(1).cumsum(0, dtype=dtype).reshape(())
        axis = _normalize_axis(dim, self.ndim, "cumsum")
        source = self if dtype is None else self.to(dtype)
        out_dtype = np.int64 if source.dtype.kind in "biu" else None
        return _apply(ops.CumSum, source, axis=axis, dtype=out_dtype)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: DTypeLike = None) -> Tensor:
        """Product of the elements (all of them, or along one ``dim``).

        Integer and bool tensors give int64 (as PyTorch). d/dx_i is the product of all the
        other elements, computed without dividing, so it is right when some are zero.
        """
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"prod: dim must be one integer (as in PyTorch), got {dim!r}")
        source = self if dtype is None else self.to(dtype)
        axis = None if dim is None else _normalize_axis(dim, max(self.ndim, 1), "prod")
        if axis is not None and self.ndim == 0:
            return source.prod(dtype=dtype)
        out_dtype = np.int64 if source.dtype.kind in "biu" else None
        return _apply(ops.Prod, source, axis=axis, keepdim=bool(keepdim) and axis is not None, dtype=out_dtype)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: DTypeLike = None) -> Tensor:
        """The vector p-norm over ``dim`` (all elements by default): (sum |x_i|**p) ** (1/p).

        Args:
            p: ``'fro'`` or 2 (Euclidean), 1, ``inf`` (max |x_i|), ``-inf`` (min |x_i|), 0 (the
                count of non-zeros) or any other number.
            dim: an int or a tuple of ints; None reduces every element.
            keepdim: keep the reduced dimensions with length 1.
            dtype: convert to this dtype first.

        The gradient is PyTorch's: x_i |x_i|**(p-2) / norm**(p-1), 0 where the norm is 0; for
        inf, shared evenly among the tied maxima.
        """
        source = self if dtype is None else self.to(dtype)
        if isinstance(p, str):
            if p != "fro":
                raise ValueError(f"norm: p must be 'fro' or a number, got {p!r} (the nuclear norm is not supported)")
            p = 2.0
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"norm: p must be 'fro' or a number, got {p!r}")
        if source.dtype.kind != "f":
            raise TypeError(f"norm: needs a floating-point tensor (as in PyTorch), got dtype {source.dtype}")
        axis = _normalize_axis(dim, source.ndim, "norm")
        if isinstance(axis, int):
            axis = (axis,)
        reduced = source.shape if axis is None else [source.shape[d] for d in axis]
        if math.isinf(p) and 0 in reduced:
            raise RuntimeError(f"norm: the {p} norm of an empty tensor (shape {source.shape}) is undefined "
                               f"(max and min have no identity)")
        return _apply(ops.VectorNorm, source, p=float(p), axis=axis, keepdim=bool(keepdim))

    def _as_float(self) -> Tensor:
        """This tensor, or for integer and bool tensors its values in the default float dtype (PyTorch's rule)."""
        return self if self._data.dtype.kind == "f" else _wrap(self._data.astype(dtypes.default_dtype()))

    def log10(self) -> Tensor:
        """Base-10 logarithm, elementwise;  d/dx = 1 / (x ln 10)."""
        return _apply(ops.LogBase, self._as_float(), base=10.0)

    def log2(self) -> Tensor:
        """Base-2 logarithm, elementwise;  d/dx = 1 / (x ln 2)."""
        return _apply(ops.LogBase, self._as_float(), base=2.0)

    def exp2(self) -> Tensor:
        """2 ** x, elementwise;  d/dx = 2**x ln 2."""
        return _apply(ops.Exp2, self._as_float())

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
        """Draw category indices with probabilities proportional to this tensor's non-negative weights.

        Args:
            num_samples: how many indices to draw per row.
            replacement: draw with replacement; without it (the default) each index comes at most
                once per row, drawn one after another as PyTorch does.
            generator: a random generator; by default the library's (`tg.manual_seed`).

        Returns:
            An int64 tensor of shape ``(num_samples,)`` for a vector of weights, or
            ``(rows, num_samples)`` for a matrix (one distribution per row): PyTorch's CPU numbers
            for the same seed (see `tinygrad_edu.rng.multinomial` for the recipes).
        """
        weights = self._data
        if weights.ndim not in (1, 2) or weights.dtype.kind != "f":
            raise ValueError(f"multinomial: needs a 1-d or 2-d floating tensor of weights, got shape {self.shape} "
                             f"and dtype {self.dtype}")
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
            raise ValueError(f"multinomial: num_samples must be a positive integer, got {num_samples!r}")
        rows = np.asarray(weights, dtype=np.float64).reshape(-1, weights.shape[-1])
        if not np.isfinite(rows).all() or (rows < 0).any():
            raise ValueError("multinomial: weights must be finite and non-negative")
        if rows.shape[1] == 0 or (rows.sum(axis=1) <= 0).any():
            raise ValueError("multinomial: every row of weights must have a positive sum")
        if not replacement and num_samples > rows.shape[1]:
            raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                             f"{rows.shape[1]} categories")
        gen = _rng.check_generator("multinomial", generator)
        samples = _rng.multinomial(gen, weights.reshape(-1, weights.shape[-1]), int(num_samples), bool(replacement))
        samples = samples.astype(np.int64)
        return _wrap(samples if weights.ndim == 2 else samples[0])

    def new_zeros(self, *size: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype (unless ``dtype`` is given)."""
        return _new_filled(self, "new_zeros", size, 0, dtype, requires_grad)

    def new_ones(self, *size: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
        """Ones of ``size`` with this tensor's dtype (unless ``dtype`` is given)."""
        return _new_filled(self, "new_ones", size, 1, dtype, requires_grad)

    def new_full(self, size: Any, fill_value: Scalar, *, dtype: DTypeLike = None,
                 requires_grad: bool = False) -> Tensor:
        """``fill_value`` in ``size`` with this tensor's dtype (unless ``dtype`` is given)."""
        return _new_filled(self, "new_full", (size,), fill_value, dtype, requires_grad)

    def new_empty(self, *size: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
        """A tensor of ``size`` with this tensor's dtype; PyTorch leaves it uninitialised, here it holds zeros."""
        return _new_filled(self, "new_empty", size, 0, dtype, requires_grad)

    def __getitem__(self, index: Any) -> Tensor:
        if not isinstance(index, tuple):
            index = (index,)
        index = tuple(_index_to_numpy(i) for i in index)
        return _apply(ops.GetItem, self, index=index)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_leaf_inplace("item assignment")
        if _grad_mode.grad_enabled and (self._ctx is not None or (isinstance(value, Tensor) and value._requires_grad)):
            raise RuntimeError("item assignment into a tensor that is part of the graph is not supported; "
                               "build the result out of place (tg.where, tg.cat) instead")
        if not isinstance(index, tuple):
            index = (index,)
        index = tuple(_index_to_numpy(i) for i in index)
        self._check_writable("item assignment")
        self._data[index] = value._data if isinstance(value, Tensor) else value
        self._vc[0] += 1

    # -- Python protocols ------------------------------------------------------------

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self._data)

    def __format__(self, spec: str) -> str:
        # A one-element tensor formats like its number (f"{loss:.4f}"), as in PyTorch.
        if self._data.size == 1 and self._data.ndim == 0:
            return format(self._data.item(), spec)
        return super().__format__(spec) if not spec else format(str(self), spec)

    def __index__(self) -> int:
        # An integer tensor of one element indexes a list (names[t.argmax()]), as in PyTorch.
        if self._data.size != 1 or self._data.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be converted to an index, "
                            f"got shape {self.shape} and dtype {self.dtype}")
        return int(self._data.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def __repr__(self) -> str:
        body = _array_text(self._data)
        extras = []
        if self._data.size == 0:  # PyTorch's rule: an empty tensor shows its size (unless 1-d) and dtype
            body = "[]"
            if self._data.ndim != 1:
                extras.append(f"size={self.shape}")
            if self._data.dtype != dtypes.default_dtype():
                extras.append(f"dtype={self._data.dtype}")
        elif self._data.dtype not in (dtypes.default_dtype(), np.int64, np.bool_):
            extras.append(f"dtype={self._data.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # -- factories as static methods, as in PyTorch ---------------------------------
    # (assigned below, once the functions exist)


def _array_text(array: np.ndarray, precision: int = 4) -> str:
    """The values as PyTorch prints them: its choice of integer, fixed or scientific notation, its widths.

    PyTorch's rule (``torch._tensor_str``), over the finite nonzero values (of
    the shown part only, for an array summarised with "..."): all whole
    numbers print as ``3.``; otherwise a ratio of largest to smallest above
    1000, a largest above 1e8 or a smallest below 1e-4 switches to ``1.2346e+05``;
    otherwise 4 decimals. Every value is padded to the widest.
    """
    options = {"separator": ", ", "prefix": "tensor(", "max_line_width": 80, "threshold": 1000, "edgeitems": 3}
    if array.dtype.kind == "b":  # padded to the widest value present ("True" alone needs no room for "False")
        width = 5 if (~array).any() else 4
        return np.array2string(array, formatter={"bool": lambda v: str(bool(v)).rjust(width)}, **options)
    if array.dtype.kind != "f":
        return np.array2string(array, **options)
    shown = array
    if array.size > options["threshold"]:
        for axis in range(array.ndim):
            if shown.shape[axis] > 2 * options["edgeitems"]:
                edge = options["edgeitems"]
                shown = np.concatenate([np.take(shown, range(edge), axis),
                                        np.take(shown, range(shown.shape[axis] - edge, shown.shape[axis]), axis)], axis)
    values = shown.reshape(-1).astype(np.float64)
    values = values[np.isfinite(values) & (values != 0)]
    whole, scientific, width = True, False, 1
    if values.size:
        smallest, largest = np.abs(values).min(), np.abs(values).max()
        whole = bool(np.all(values == np.ceil(values)))
        scientific = largest / smallest > 1000.0 or largest > 1.0e8 or (not whole and smallest < 1.0e-4)
        if scientific:
            width = max(len(f"{v:.{precision}e}") for v in values)
        elif whole:
            width = max(len(f"{v:.0f}") + 1 for v in values)
        else:
            width = max(len(f"{v:.{precision}f}") for v in values)

    def number(value: float) -> str:
        value = float(value)
        if scientific:
            text = f"{value:{width}.{precision}e}"
        elif whole:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{precision}f}"
        return text.rjust(width)

    text = np.array2string(array, formatter={"float_kind": number}, **options)
    if array.ndim == 1 and array.size > options["threshold"]:
        text = text.replace(", ...,", ",  ...,", 1)  # PyTorch pads a vector's ellipsis like a number
    return text


def _reduced_count(shape: tuple, dim: Any) -> int:
    if dim is None or not shape:  # a 0-d tensor reduced over dim 0 or -1 is its one element
        return int(np.prod(shape)) if shape else 1
    dims = dim if isinstance(dim, tuple) else (dim,)
    return int(np.prod([shape[d] for d in dims])) if dims else 1


def _bool_mask(name: str, mask: Any) -> np.ndarray:
    """The boolean array behind a mask argument (masked_fill and friends take only bool masks, as PyTorch)."""
    array = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"{name}: mask must be a bool tensor, got dtype {array.dtype} (compare first, as in "
                        f"x == 0, or convert with .bool())")
    return array


def _new_filled(like: Tensor, name: str, size: tuple, value: Any, dtype: DTypeLike, requires_grad: bool) -> Tensor:
    """The shared body of ``new_zeros``, ``new_ones``, ``new_full`` and ``new_empty``."""
    requires_grad = _flag(name, "requires_grad", requires_grad)
    array = np.full(_size_args(size, name), value, dtype=like.dtype if dtype is None else np.dtype(dtype))
    if requires_grad and array.dtype.kind != "f":
        raise TypeError(f"{name}: only floating-point tensors can require grad, got dtype {array.dtype}")
    return _wrap(array, bool(requires_grad))


#: ``tg.tensor(data, requires_grad=False, dtype=None)`` is the same as ``Tensor(...)``.
tensor = Tensor


# ---------------------------------------------------------------------------
# Functions over tensors
# ---------------------------------------------------------------------------


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _sizes_argument(who: str, args: tuple, keyword: dict, name: str) -> tuple:
    """PyTorch's ways of passing sizes: ``f(2, 3)``, ``f((2, 3))`` or ``f(name=(2, 3))``, as one tuple."""
    if keyword:
        unknown = sorted(set(keyword) - {name})
        if unknown or args:
            raise TypeError(f"{who}: unexpected keyword argument {(unknown or [name])[0]!r}; "
                            f"give the sizes as {who}(2, 3), {who}((2, 3)) or {who}({name}=(2, 3))")
        value = keyword[name]
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return args


def matmul(input: Any, other: Any) -> Tensor:  # noqa: A002 - PyTorch's names
    """Matrix product ``input @ other`` with NumPy's rules for vectors and batches."""
    a, b, arrays = _operands(input, other)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least one dimension, got shapes {a.shape} and {b.shape}")
    try:
        return _apply(ops.MatMul, a, b, arrays=arrays)
    except ValueError as err:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not fit (the last dimension of the first, "
            f"{a.shape[-1]}, must equal the {'first' if b.ndim == 1 else 'second-to-last'} of the second, "
            f"{b.shape[0] if b.ndim == 1 else b.shape[-2]})"
        ) from err


def maximum(input: Any, other: Any) -> Tensor:  # noqa: A002 - PyTorch's names
    """Elementwise maximum; at ties each input gets half the gradient (as in PyTorch)."""
    return _binary(ops.Maximum, "maximum", input, other)


def minimum(input: Any, other: Any) -> Tensor:  # noqa: A002 - PyTorch's names
    """Elementwise minimum, as -maximum(-a, -b)."""
    a, b, arrays = _operands(input, other)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError as err:
        _raise_if_unbroadcastable("minimum", a.shape, b.shape, err)
    # Constants go in as their converted arrays (full precision); tensors that need grad stay in the graph.
    a, b = (t if t.requires_grad else _wrap(array) for t, array in zip((a, b), arrays))
    return -maximum(-a, -b)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension ``dim``."""
    tensors = [_as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    axis = _normalize_axis(dim, ndim, "cat")
    shapes = [t.shape for t in tensors]
    for s in shapes:
        if len(s) != ndim or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
            raise ShapeError(f"cat: shapes {shapes} must match in every dimension except dim {dim}")
    dtype = np.result_type(*[t.dtype for t in tensors])
    arrays = [t._data.astype(dtype, copy=False) for t in tensors]
    return _apply(ops.Cat, *tensors, arrays=arrays, axis=axis)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new dimension ``dim``."""
    tensors = [_as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = [t.shape for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError(f"stack: every tensor must have the same shape, got {shapes}")
    axis = _normalize_axis(dim, tensors[0].ndim + 1, "stack")
    return cat([t.unsqueeze(axis) for t in tensors], dim=axis)


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002 - PyTorch's names
    """``input`` where ``condition`` is true, else ``other`` (gradients follow the choice)."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    cond = cond.astype(bool, copy=False)
    a, b, arrays = _operands(input, other)
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError as err:
        raise ShapeError(f"where: shapes {cond.shape} (condition), {a.shape} and {b.shape} "
                         f"cannot be broadcast together") from err
    return _apply(ops.Where, a, b, arrays=arrays, cond=cond)
