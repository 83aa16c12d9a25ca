"""Shape and movement: the same numbers rearranged (reshape, permute, indexing, cat, expand, where)."""

from __future__ import annotations

import numpy as np

from ..autograd import Node

# ---------------------------------------------------------------------------
# Shape and movement
# ---------------------------------------------------------------------------


class Reshape(Node):
    """out = x with a new shape;  the gradient is reshaped back."""

    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out.reshape(self.shape),)


class Permute(Node):
    """out = x with its axes reordered;  the gradient gets the inverse order."""

    def forward(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes
        return x.transpose(axes)

    def backward(self, grad_out: np.ndarray) -> tuple:
        inverse = sorted(range(len(self.axes)), key=self.axes.__getitem__)
        return (grad_out.transpose(inverse),)


def _is_basic_index(index: tuple) -> bool:
    """True when NumPy indexes with ``index`` by views (ints, slices, None, ...)."""
    for item in index:
        if isinstance(item, (bool, np.bool_)):
            return False
        if not (isinstance(item, (int, np.integer, slice)) or item is None or item is Ellipsis):
            return False
    return True


class GetItem(Node):
    """out = x[index];  the gradient lands on the selected positions.

    With integer-array indices one element may be picked several times; its
    gradient is then the *sum* of the gradients of each pick.
    """

    def forward(self, x: np.ndarray, index: tuple) -> np.ndarray:
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        if _is_basic_index(self.index):
            # Views pick each element at most once: write the gradient in place.
            grad[self.index] = grad_out
        else:
            # Integer arrays may pick an element several times; add.at adds
            # every pick's gradient (plain assignment would keep only the last).
            np.add.at(grad, self.index, grad_out)
        return (grad,)


class Cat(Node):
    """out = the inputs joined along ``axis``;  each input gets its slice of the gradient."""

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return tuple(np.split(grad_out, self.splits, axis=self.axis))


class Where(Node):
    """out = a where cond else b;  the gradient goes to whichever input was taken.

    ``cond`` is a constant mask (no gradient), passed as an option.
    """

    def forward(self, a: np.ndarray, b: np.ndarray, cond: np.ndarray) -> np.ndarray:
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        zero = np.zeros((), dtype=grad_out.dtype)
        return (
            np.where(self.cond, grad_out, zero) if need_a else None,
            np.where(self.cond, zero, grad_out) if need_b else None,
        )


class Overwrite(Node):
    """out = y broadcast to x's shape and dtype (x's old values are discarded);  d/dx = 0, d/dy = 1.

    The node behind in-place overwrites of a tensor in the graph (``zero_``,
    ``fill_``, ``copy_``, ``normal_``): the old value gets no gradient, the
    source (summed over its broadcast copies by the engine) gets all of it.
    """

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        out[...] = y
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return None, grad_out


class Expand(Node):
    """out = x broadcast to ``shape`` (copies along new or length-1 axes);  d/dx = 1 per copy, summed.

    The one operation whose backward is the engine's `unbroadcast`: it hands
    ``grad_out`` back in the broadcast shape, and the engine sums it down.
    """

    def forward(self, x: np.ndarray, shape: tuple) -> np.ndarray:
        return np.broadcast_to(x, shape)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out,)


class Contiguous(Node):
    """out = x copied into row-major (C) order;  d/dx = 1.

    The values do not change, only the memory layout, which decides the order
    of a later in-memory draw (dropout's mask), as in PyTorch.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out,)


class Cast(Node):
    """out = x converted to another dtype;  d/dx = 1 (cast back by the engine)."""

    def forward(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return x.astype(dtype)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out,)
