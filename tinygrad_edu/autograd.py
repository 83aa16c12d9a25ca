"""The autograd machinery: grad mode, the `Function` node, and the backward walk.

This is the lowest layer of the library. It knows nothing about `Tensor` except
the handful of attributes every graph node has:

- ``_data``: the NumPy array holding the value (``data`` to users),
- ``requires_grad``: whether a gradient should flow to it,
- ``_ctx``: the `Function` that produced it (``None`` for a leaf),
- ``_retains_grad``: whether a non-leaf keeps its gradient in ``.grad``,
- ``_accumulate_grad(array)``: add a gradient into ``.grad``.

Reverse mode in one paragraph: every operation records a `Function` node that
remembers its inputs (``parents``) and whatever it needs to compute local
derivatives. ``backward()`` orders the nodes so that a node comes before every
node that produced its inputs (a reverse topological order), then visits them
once each, handing the upstream gradient ``grad_out`` to the node's
``backward``, which returns one gradient per input by the chain rule. Gradients
reaching the same tensor along several paths are *added*.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "unbroadcast",
    "run_backward",
]

F = TypeVar("F", bound=Callable[..., Any])

# ---------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Return whether operations currently record the graph."""
    return _grad_enabled


def _with_grad_mode(func: F, mode: bool) -> F:
    """``func`` wrapped so that it runs with graph recording set to ``mode``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with set_grad_enabled(mode):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class set_grad_enabled:  # noqa: N801 - named as in PyTorch
    """Turn graph recording on or off; usable as a function, context manager or decorator.

    ``set_grad_enabled(False)`` switches recording off at once (as in PyTorch);
    used in a ``with`` block, the previous mode is restored on exit.
    """

    def __init__(self, mode: bool) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        self.mode = bool(mode)
        _grad_enabled = self.mode

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self.prev

    def __call__(self, func: F) -> F:
        # Used as a decorator: the constructor already switched the mode, undo that.
        self.__exit__()
        return _with_grad_mode(func, self.mode)


class _GradMode:
    """Shared body of `no_grad` and `enable_grad`: a context manager and a decorator."""

    mode = True

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        # Bare `@no_grad` (no parentheses) decorates at once, as PyTorch allows.
        instance = super().__new__(cls)
        return instance(func) if callable(func) else instance

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        pass

    def __enter__(self) -> None:
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self.prev

    def __call__(self, func: F) -> F:
        return _with_grad_mode(func, self.mode)


class no_grad(_GradMode):  # noqa: N801 - named as in PyTorch
    """Record no graph inside the block (or the decorated function).

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.ones(3, requires_grad=True)
        >>> with tg.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """

    mode = False


class enable_grad(_GradMode):  # noqa: N801 - named as in PyTorch
    """Record the graph inside the block, even within `no_grad`."""

    mode = True


# ---------------------------------------------------------------------------
# Function: one node of the graph
# ---------------------------------------------------------------------------


#: Creation numbers for graph nodes; see `run_backward` for why they give the order.
creation_counter = itertools.count()


class Function:
    """One primitive operation: ``forward`` on arrays, ``backward`` by the chain rule.

    Subclasses implement:

    - ``forward(self, *arrays, **options) -> np.ndarray``: compute the output
      from the inputs' arrays, saving on ``self`` what ``backward`` needs;
    - ``backward(self, grad_out) -> tuple``: given dL/d(output), return
      dL/d(input) for each input, in order (``None`` where
      ``self.needs_input_grad[i]`` is false). The gradient may have the
      *broadcast* shape: the engine sums it back to the input's shape in one
      place (`unbroadcast`). ``backward`` must never modify ``grad_out`` in place:
      the same array may be handed to several nodes.

    Nodes hold their inputs but never their output, so the graph has no
    reference cycles and is freed by reference counting alone.
    """

    __slots__ = ("parents", "needs_input_grad", "__dict__")

    def __init__(self, *parents: Any) -> None:
        self.parents = parents
        self.needs_input_grad = tuple([p._requires_grad for p in parents])

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The operation's name, as shown in ``repr`` and graph pictures."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"


# ---------------------------------------------------------------------------
# Broadcasting, undone in one place
# ---------------------------------------------------------------------------


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` back down to ``shape``, undoing NumPy broadcasting.

    If ``y = f(x)`` broadcast ``x`` of shape ``shape`` to ``grad.shape``, each
    element of ``x`` was used once per copy, so its gradient is the *sum* over
    the copies: over the leading axes that broadcasting added, and over every
    axis where ``x`` had length 1.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra and grad.shape[extra:] == shape:  # only leading axes were added (a bias, say)
        return grad.sum(axis=tuple(range(extra)))
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    summed = grad.sum(axis=axes, keepdims=True) if axes else grad
    return summed.reshape(shape)


# ---------------------------------------------------------------------------
# The backward walk
# ---------------------------------------------------------------------------


def _owner(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (itself, or the base of a view)."""
    base = array.base
    return array if base is None else base


def run_backward(root: Any, seed: np.ndarray) -> None:
    """Backpropagate ``seed`` = dL/d(root) to every leaf that requires grad.

    The order: every tensor gets a creation number (``_seq``) when an operation
    makes it, and an operation's output is always made after its inputs, so
    creation order is a topological order of the graph. Walking backwards,
    the next node to visit is therefore the one with the *highest* number
    among those holding a gradient: by then every node that consumed it has
    been visited and its gradient is complete. A heap hands out that node in
    O(log n); no recursion, so graphs of any depth work, and branches that
    need no gradient are never visited.

    Leaves receive their gradient through ``_accumulate_grad`` (added to
    ``.grad``). Intermediate gradients live in ``grads`` only until used.

    Why the ``handed_out`` bookkeeping: operations such as ``+`` or ``reshape``
    pass ``grad_out`` (or a view of it) straight through, possibly to several
    inputs. A leaf's ``.grad`` must own its memory, or scaling one gradient in
    place (gradient clipping, say) would silently change another. So each
    memory block is handed out as it is at most once per walk; any further
    holder gets a copy. Copies are only made where sharing would happen.
    """
    if root._ctx is None:
        root._accumulate_grad(seed)
        return
    grads: dict[int, np.ndarray] = {id(root): seed}
    handed_out = {id(_owner(seed))}
    heap = [(-root._seq, root)]
    while heap:
        node = heappop(heap)[1]
        grad_out = grads.pop(id(node))
        if node._retains_grad:
            node._accumulate_grad(grad_out.copy())
        else:
            # This node's gradient dies here, so its memory may be passed on once more.
            base = grad_out.base
            handed_out.discard(id(grad_out if base is None else base))
        fn = node._ctx
        for parent, grad, needed in zip(fn.parents, fn.backward(grad_out), fn.needs_input_grad):
            if not needed or grad is None:
                continue
            data = parent._data
            if grad.shape != data.shape:
                grad = unbroadcast(grad, data.shape)
            if grad.dtype != data.dtype:
                grad = grad.astype(data.dtype)
            base = grad.base
            owner_id = id(grad if base is None else base)
            if owner_id in handed_out:
                grad = grad.copy()
                owner_id = id(grad)
            if parent._ctx is None:
                parent._accumulate_grad(grad)
                handed_out.add(owner_id)
            else:
                key = id(parent)
                pending = grads.get(key)
                if pending is None:
                    grads[key] = grad
                    handed_out.add(owner_id)
                    heappush(heap, (-parent._seq, parent))
                else:
                    grads[key] = pending + grad
