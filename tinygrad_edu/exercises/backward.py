"""The backward family of `tg.exercises`: write the gradient of one operation by hand.

Every exercise asks for ``fn(grad_out, *inputs, **options)``: ``grad_out`` is the gradient of the loss with
respect to the operation's output, ``inputs`` are the forward pass's inputs, and ``fn`` returns a tuple with
one gradient per differentiable input, each the shape of its input (a bare array is accepted where there is
one). Options (``dim``, ``keepdim``, ``eps``, ``stride``, ``padding``) keep PyTorch's names and defaults.

In registration order: ``backward/add``, ``mul``, ``matmul``, ``sum``, ``mean``, ``exp``, ``log``, ``relu``,
``sigmoid``, ``tanh``, ``softmax_cross_entropy``, ``layer_norm``, ``conv1d``.

Each reference here is a plain NumPy transcription of its statement's formulas, independent of the library's
own autograd (the tests hold every reference to PyTorch's autograd on the exercise's cases). Each mistake is a
wrong variant of the reference that a student plausibly writes; ``check`` names the one an answer matches,
and its hint points at the step of the statement that the answer breaks.

Example:
    >>> import tinygrad_edu.exercises as ex
    >>> ex.names()[:3]
    ['backward/add', 'backward/mul', 'backward/matmul']
    >>> print(ex.stub("backward/relu").splitlines()[0])
    def relu_backward(grad_out, x):
    >>> def relu_backward(grad_out, x):
    ...     return (grad_out * (x >= 0),)
    >>> result = ex.check("backward/relu", relu_backward)
    >>> result.passed, result.finding, result.mistake
    (False, 'wrong_value', 'gradient_at_zero_is_one')
    >>> def relu_backward(grad_out, x):
    ...     return (grad_out * (x > 0),)
    >>> ex.check("backward/relu", relu_backward).passed
    True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import Case, Exercise, Mistake, register


def _run(fn: Callable, case: Case):
    """Call ``fn`` on one case and return what it returned.

    The checker reads the result: a tuple (or list) of gradients in order, or a bare array for an exercise with
    one differentiable input; it reports a wrong count, shape or dtype itself.
    """
    return fn(*case.args, **case.kwargs)


def _normal(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Standard normal float64 entries of ``shape`` (a 0-d array for ``()``)."""
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def _sum_to_shape(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Undo broadcasting: sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``."""
    added = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(added)))  # axes broadcasting put in front of the input's own
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1)  # size-1 axes it stretched
    return np.asarray(grad.sum(axis=stretched, keepdims=True))


# ------------------------------------------------------------------------------------------------ backward/add

_ADD_STATEMENT = r"""
### Backward of addition, with broadcasting

**Forward.** $z = x + y$, where NumPy broadcasting may stretch either operand: an `x` of shape (3, 1) and a
`y` of shape (4,) give a `z` of shape (3, 4), with $z_{ij} = x_{i0} + y_j$.

**Write** `add_backward(grad_out, x, y)`. `grad_out` is $\partial L/\partial z$, the shape of `z`.
Return the tuple `(grad_x, grad_y)` of $\partial L/\partial x$ and $\partial L/\partial y$.

1. **Local derivative and chain rule.** $\partial z_{ij} / \partial x_{i0} = 1$, so each output passes its
   gradient `grad_out[i, j]` unchanged to the input entry it was computed from.
2. **Undo the broadcast by summing.** An input entry that broadcasting copied into several outputs receives
   the **sum** of their gradients: $\dfrac{\partial L}{\partial y_j} = \sum_i \dfrac{\partial L}{\partial z_{ij}}$.
   So sum `grad_out`
   - over the leading axes that broadcasting added in front of the input's own (a (4,) input against a (3, 4)
     output: over axis 0), and
   - over every axis where the input has size 1 and the output has not, **keeping** that axis
     (a (3, 1) input: `grad_out.sum(axis=1, keepdims=True)`, shape (3, 1)).
3. **Shapes.** `grad_x.shape == x.shape` and `grad_y.shape == y.shape`. A 0-d `y` (shape `()`) gets a
   0-d gradient: the sum of all of `grad_out`.
"""

_ADD_STUB = '''def add_backward(grad_out, x, y):
    """Gradients of z = x + y (NumPy broadcasting) with respect to x and y.

    Args:
        grad_out: dL/dz, an array of the shape of z.
        x: the first input of the forward pass.
        y: the second input of the forward pass.

    Returns:
        (grad_x, grad_y), with the shapes of x and y.
    """
    raise NotImplementedError
'''


def _add_reference(grad_out, x, y):
    grad_x = _sum_to_shape(grad_out, x.shape)  # d(x + y)/dx = 1: grad_out, summed back to x's shape
    grad_y = _sum_to_shape(grad_out, y.shape)
    return grad_x, grad_y


def _add_broadcast_not_reduced(grad_out, x, y):
    return grad_out.copy(), grad_out.copy()


def _add_leading_axes_only(grad_out, x, y):
    def leading_only(grad, shape):
        return grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    return leading_only(grad_out, x.shape), leading_only(grad_out, y.shape)


def _add_keepdims_dropped(grad_out, x, y):
    def no_keepdims(grad, shape):
        added = grad.ndim - len(shape)
        axes = tuple(range(added)) + tuple(added + axis for axis, size in enumerate(shape) if size == 1)
        return np.asarray(grad.sum(axis=axes))
    return no_keepdims(grad_out, x.shape), no_keepdims(grad_out, y.shape)


def _add_grad_out_not_used(grad_out, x, y):
    return np.ones_like(x), np.ones_like(y)


def _add_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, x_shape, y_shape):
        x, y = _normal(rng, x_shape), _normal(rng, y_shape)
        return Case(label, (_normal(rng, np.broadcast_shapes(x_shape, y_shape)), x, y))
    return [
        case("x (3, 4) + y (3, 4): same shapes, no broadcasting", (3, 4), (3, 4)),
        case("x (3, 4) + y (4,): y broadcast over the rows", (3, 4), (4,)),
        case("x (3, 1) + y (1, 4): both broadcast, to (3, 4)", (3, 1), (1, 4)),
        case("x (2, 3, 4) + y (3, 1): y gains a leading axis and has its size-1 axis stretched", (2, 3, 4), (3, 1)),
        case("x (5,) + y (): y a 0-d scalar", (5,), ()),
        case("x (1,) + y (2, 3): x a one-entry vector", (1,), (2, 3)),
    ]


register(Exercise(
    name="backward/add",
    function="add_backward",
    title="Backward of x + y with broadcasting: sum the gradient back to each input's shape",
    statement=_ADD_STATEMENT,
    stub=_ADD_STUB,
    reference=_add_reference,
    cases=_add_cases,
    run=_run,
    mistakes=(
        Mistake("broadcast_not_reduced", _add_broadcast_not_reduced,
                "Step 2: an input that broadcasting stretched gets grad_out summed over the stretched axes, so its "
                "gradient has the input's shape, not the output's."),
        Mistake("size_one_axes_not_reduced", _add_leading_axes_only,
                "Step 2, second bullet: besides the leading axes broadcasting added, also sum over every axis where "
                "the input has size 1 (with keepdims=True)."),
        Mistake("keepdims_dropped", _add_keepdims_dropped,
                "Step 2, second bullet: sum the size-1 axes with keepdims=True, so a (3, 1) input gets a (3, 1) "
                "gradient, not (3,)."),
        Mistake("grad_out_not_used", _add_grad_out_not_used,
                "Step 1: the local derivative 1 multiplies grad_out (the chain rule); returning ones drops grad_out."),
    ),
    output_names=("grad x", "grad y"),
))


# ------------------------------------------------------------------------------------------------ backward/mul

_MUL_STATEMENT = r"""
### Backward of multiplication, with broadcasting

**Forward.** $z = x \odot y$, the elementwise product, where NumPy broadcasting may stretch either operand
(as in `backward/add`).

**Write** `mul_backward(grad_out, x, y)`. `grad_out` is $\partial L/\partial z$, the shape of `z`.
Return the tuple `(grad_x, grad_y)`.

1. **Local derivatives and chain rule.** $\partial z / \partial x = y$ and $\partial z / \partial y = x$:
   the gradient for `x` is `grad_out * y`, the gradient for `y` is `grad_out * x` (each product taken at the
   output's shape, broadcasting the other input). Each input's gradient uses the **other** input.
2. **Undo the broadcast by summing**, exactly as in `backward/add`: sum over the leading axes broadcasting
   added and, with `keepdims=True`, over every axis where the input has size 1 and the output has not.
3. **Shapes.** `grad_x.shape == x.shape` and `grad_y.shape == y.shape` (0-d for a 0-d input).
"""

_MUL_STUB = '''def mul_backward(grad_out, x, y):
    """Gradients of z = x * y (elementwise, NumPy broadcasting) with respect to x and y.

    Args:
        grad_out: dL/dz, an array of the shape of z.
        x: the first input of the forward pass.
        y: the second input of the forward pass.

    Returns:
        (grad_x, grad_y), with the shapes of x and y.
    """
    raise NotImplementedError
'''


def _mul_reference(grad_out, x, y):
    grad_x = _sum_to_shape(grad_out * y, x.shape)  # dz/dx = y
    grad_y = _sum_to_shape(grad_out * x, y.shape)  # dz/dy = x
    return grad_x, grad_y


def _mul_swapped_inputs(grad_out, x, y):
    return _sum_to_shape(grad_out * x, x.shape), _sum_to_shape(grad_out * y, y.shape)


def _mul_broadcast_not_reduced(grad_out, x, y):
    return grad_out * y, grad_out * x


def _mul_grad_out_not_used(grad_out, x, y):
    shape = grad_out.shape
    return (_sum_to_shape(np.broadcast_to(y, shape), x.shape),
            _sum_to_shape(np.broadcast_to(x, shape), y.shape))


def _mul_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, x_shape, y_shape):
        x, y = _normal(rng, x_shape), _normal(rng, y_shape)
        return Case(label, (_normal(rng, np.broadcast_shapes(x_shape, y_shape)), x, y))
    return [
        case("x (3, 4) * y (3, 4): same shapes, no broadcasting", (3, 4), (3, 4)),
        case("x (3, 4) * y (4,): y broadcast over the rows", (3, 4), (4,)),
        case("x (3, 1) * y (1, 4): both broadcast, to (3, 4)", (3, 1), (1, 4)),
        case("x (2, 3, 4) * y (4,): y broadcast over two leading axes", (2, 3, 4), (4,)),
        case("x (5,) * y (): y a 0-d scalar", (5,), ()),
        case("x (2, 1, 3) * y (4, 1): both broadcast, to (2, 4, 3)", (2, 1, 3), (4, 1)),
    ]


register(Exercise(
    name="backward/mul",
    function="mul_backward",
    title="Backward of x * y with broadcasting: each input's gradient uses the other input",
    statement=_MUL_STATEMENT,
    stub=_MUL_STUB,
    reference=_mul_reference,
    cases=_mul_cases,
    run=_run,
    mistakes=(
        Mistake("swapped_inputs", _mul_swapped_inputs,
                "Step 1: the gradient for x is grad_out * y (the OTHER input), and the gradient for y is "
                "grad_out * x."),
        Mistake("broadcast_not_reduced", _mul_broadcast_not_reduced,
                "Step 2: an input that broadcasting stretched gets its gradient summed over the stretched axes, "
                "back to the input's shape."),
        Mistake("grad_out_not_used", _mul_grad_out_not_used,
                "Step 1: the local derivative (the other input) multiplies grad_out, by the chain rule."),
    ),
    output_names=("grad x", "grad y"),
))


# --------------------------------------------------------------------------------------------- backward/matmul

_MATMUL_STATEMENT = r"""
### Backward of matrix multiplication

**Forward.** $C = A B$ with `a` of shape (n, k) and `b` of shape (k, m), so `c = a @ b` has shape (n, m):
$C_{ij} = \sum_p A_{ip} B_{pj}$. **Batched:** `a` of shape (batch, n, k) times a 2-D `b` multiplies every
batch entry by the **same** `b`, giving (batch, n, m).

**Write** `matmul_backward(grad_out, a, b)`. `grad_out` is $\partial L / \partial C$, the shape of `c`.
Return the tuple `(grad_a, grad_b)`.

1. **Gradient for A.** $\dfrac{\partial L}{\partial A} = \dfrac{\partial L}{\partial C}\, B^\top$:
   `grad_a = grad_out @ b.T`, shapes (n, m) @ (m, k) = (n, k). Batched, the same per batch entry:
   shape (batch, n, k).
2. **Gradient for B.** $\dfrac{\partial L}{\partial B} = A^\top\, \dfrac{\partial L}{\partial C}$:
   `grad_b = a.T @ grad_out`, shapes (k, n) @ (n, m) = (k, m). The transpose goes on `a`, on the left.
3. **Batched: sum over the batch.** `b` is shared by every batch entry, so its gradient is the sum of the
   batch entries' contributions, $\sum_s A_s^\top G_s$, shape (k, m). (For a 3-D array transpose the last two
   axes only: `np.swapaxes(a, -1, -2)`, not `a.T`.)
4. **Check with shapes:** `grad_a.shape == a.shape` and `grad_b.shape == b.shape`; the product of the shapes
   tells which factor is transposed and on which side.
"""

_MATMUL_STUB = '''def matmul_backward(grad_out, a, b):
    """Gradients of c = a @ b with respect to a and b.

    Args:
        grad_out: dL/dc, shape (n, m), or (batch, n, m) when a is batched.
        a: the left input, shape (n, k) or (batch, n, k).
        b: the right input, shape (k, m).

    Returns:
        (grad_a, grad_b), with the shapes of a and b.
    """
    raise NotImplementedError
'''


def _matmul_reference(grad_out, a, b):
    grad_a = grad_out @ b.T  # (..., n, m) @ (m, k)
    grad_b = np.swapaxes(a, -1, -2) @ grad_out  # (..., k, n) @ (..., n, m)
    if grad_b.ndim == 3:  # b was shared by every batch entry: add their contributions
        grad_b = grad_b.sum(axis=0)
    return grad_a, grad_b


def _matmul_grad_a_transposed(grad_out, a, b):
    grad_a = b @ np.swapaxes(grad_out, -1, -2)
    grad_b = np.swapaxes(a, -1, -2) @ grad_out
    return grad_a, grad_b.sum(axis=0) if grad_b.ndim == 3 else grad_b


def _matmul_grad_b_transposed(grad_out, a, b):
    grad_a = grad_out @ b.T
    grad_b = np.swapaxes(grad_out, -1, -2) @ a
    return grad_a, grad_b.sum(axis=0) if grad_b.ndim == 3 else grad_b


def _matmul_batch_not_summed(grad_out, a, b):
    return grad_out @ b.T, np.swapaxes(a, -1, -2) @ grad_out


def _matmul_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, a_shape, b_shape):
        a, b = _normal(rng, a_shape), _normal(rng, b_shape)
        return Case(label, (_normal(rng, (a @ b).shape), a, b))
    return [
        case("a (3, 4) @ b (4, 5)", (3, 4), (4, 5)),
        case("a (4, 4) @ b (4, 4): square, so a wrong transpose still has the right shape", (4, 4), (4, 4)),
        case("a (2, 3, 4) @ b (4, 2): batched, b shared by the 2 batch entries", (2, 3, 4), (4, 2)),
        case("a (1, 3) @ b (3, 1): a row times a column", (1, 3), (3, 1)),
        case("a (3, 2, 2) @ b (2, 2): batched and square", (3, 2, 2), (2, 2)),
    ]


register(Exercise(
    name="backward/matmul",
    function="matmul_backward",
    title="Backward of a @ b, 2-D and batched: which factor is transposed, on which side",
    statement=_MATMUL_STATEMENT,
    stub=_MATMUL_STUB,
    reference=_matmul_reference,
    cases=_matmul_cases,
    run=_run,
    mistakes=(
        Mistake("grad_a_transposed", _matmul_grad_a_transposed,
                "Step 1: grad_a = grad_out @ b.T, shape (n, k); b @ grad_out.T is its transpose."),
        Mistake("grad_b_transposed", _matmul_grad_b_transposed,
                "Step 2: grad_b = a.T @ grad_out, shape (k, m), with the transpose on a, on the left; "
                "grad_out.T @ a is its transpose."),
        Mistake("batch_not_summed", _matmul_batch_not_summed,
                "Step 3: b is shared by every batch entry, so its gradient is summed over the batch axis, "
                "shape (k, m)."),
    ),
    output_names=("grad a", "grad b"),
))


# ------------------------------------------------------------------------------------- backward/sum, backward/mean

_SUM_STATEMENT = r"""
### Backward of a sum over dimensions

**Forward.** `y = x.sum(dim, keepdim)`, with PyTorch's arguments: `dim` is `None` (every axis), an int or a
tuple of ints (negative ones count from the end); `keepdim=True` keeps each summed axis with size 1.
For example, for `x` of shape (3, 4) and `dim=1`: $y_i = \sum_j x_{ij}$, shape (3,).

**Write** `sum_backward(grad_out, x, dim=None, keepdim=False)`. `grad_out` is $\partial L / \partial y$, the
shape of `y` (0-d when every axis is summed without `keepdim`). Return the 1-tuple `(grad_x,)`.

1. **Local derivative and chain rule.** $\partial y_i / \partial x_{ij} = 1$, so every entry of `x` gets the
   gradient of the output it was summed into: $\dfrac{\partial L}{\partial x_{ij}} = \dfrac{\partial L}{\partial y_i}$.
   (Not divided by anything: that is the mean.)
2. **Put the summed axes back, then broadcast.** With `keepdim=False`, `grad_out` lacks the summed axes:
   re-insert each with size 1 (`np.expand_dims(grad_out, dims)`), then broadcast to `x.shape`
   (`np.broadcast_to(...)`; copy it, the result is read-only). With `keepdim=True` they are already there.
3. **Shapes.** `grad_x.shape == x.shape`.
"""

_SUM_STUB = '''def sum_backward(grad_out, x, dim=None, keepdim=False):
    """Gradient of y = x.sum(dim, keepdim) with respect to x.

    Args:
        grad_out: dL/dy, an array of the shape of y.
        x: the input of the forward pass.
        dim: None (every axis), an int, or a tuple of ints; the axes that were summed.
        keepdim: whether y kept the summed axes with size 1.

    Returns:
        (grad_x,), grad_x with the shape of x.
    """
    raise NotImplementedError
'''

_MEAN_STATEMENT = r"""
### Backward of a mean over dimensions

**Forward.** `y = x.mean(dim, keepdim)`, with PyTorch's arguments: `dim` is `None` (every axis), an int or a
tuple of ints (negative ones count from the end); `keepdim=True` keeps each averaged axis with size 1.
For example, for `x` of shape (3, 4) and `dim=1`: $y_i = \frac{1}{4} \sum_j x_{ij}$, shape (3,).

**Write** `mean_backward(grad_out, x, dim=None, keepdim=False)`. `grad_out` is $\partial L / \partial y$, the
shape of `y` (0-d when every axis is averaged without `keepdim`). Return the 1-tuple `(grad_x,)`.

1. **Local derivative and chain rule.** $\partial y_i / \partial x_{ij} = 1/n$, where $n$ is the number of
   entries averaged into **one** output: the product of the sizes of the axes in `dim` (all of `x.size` only
   when `dim=None`). So $\dfrac{\partial L}{\partial x_{ij}} = \dfrac{1}{n}\dfrac{\partial L}{\partial y_i}$.
2. **Put the averaged axes back, then broadcast.** With `keepdim=False`, `grad_out` lacks the averaged axes:
   re-insert each with size 1 (`np.expand_dims(grad_out, dims)`), then broadcast to `x.shape`. With
   `keepdim=True` they are already there.
3. **Shapes.** `grad_x.shape == x.shape`.
"""

_MEAN_STUB = '''def mean_backward(grad_out, x, dim=None, keepdim=False):
    """Gradient of y = x.mean(dim, keepdim) with respect to x.

    Args:
        grad_out: dL/dy, an array of the shape of y.
        x: the input of the forward pass.
        dim: None (every axis), an int, or a tuple of ints; the axes that were averaged.
        keepdim: whether y kept the averaged axes with size 1.

    Returns:
        (grad_x,), grad_x with the shape of x.
    """
    raise NotImplementedError
'''


def _reduced_axes(x: np.ndarray, dim) -> tuple[int, ...]:
    """The axes that ``dim`` names, as non-negative ints (every axis for None)."""
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(axis % x.ndim for axis in dims)


def _expand_to(grad_out, x, dims, keepdim):
    """Re-insert the reduced axes (unless kept) and broadcast grad_out to x's shape."""
    grad_out = np.asarray(grad_out)
    if not keepdim:
        grad_out = np.expand_dims(grad_out, dims)
    return np.broadcast_to(grad_out, x.shape).copy()


def _sum_reference(grad_out, x, dim=None, keepdim=False):
    dims = _reduced_axes(x, dim)
    return (_expand_to(grad_out, x, dims, keepdim),)  # d(sum)/dx = 1 for every summed entry


def _mean_reference(grad_out, x, dim=None, keepdim=False):
    dims = _reduced_axes(x, dim)
    n = int(np.prod([x.shape[axis] for axis in dims]))  # entries averaged into one output
    return (_expand_to(grad_out, x, dims, keepdim) / n,)


def _sum_grad_out_not_used(grad_out, x, dim=None, keepdim=False):
    return (np.ones_like(x),)


def _sum_divided_by_count(grad_out, x, dim=None, keepdim=False):
    return _mean_reference(grad_out, x, dim, keepdim)


def _sum_grad_out_not_expanded(grad_out, x, dim=None, keepdim=False):
    return (np.array(grad_out, dtype=np.float64),)


def _mean_forgot_one_over_n(grad_out, x, dim=None, keepdim=False):
    return _sum_reference(grad_out, x, dim, keepdim)


def _mean_divided_by_total_size(grad_out, x, dim=None, keepdim=False):
    return (_expand_to(grad_out, x, _reduced_axes(x, dim), keepdim) / x.size,)


def _mean_grad_out_not_used(grad_out, x, dim=None, keepdim=False):
    n = int(np.prod([x.shape[axis] for axis in _reduced_axes(x, dim)]))
    return (np.ones_like(x) / n,)


def _reduction_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, shape, **kwargs):
        x = _normal(rng, shape)
        out_shape = np.sum(x, axis=kwargs.get("dim"), keepdims=kwargs.get("keepdim", False)).shape
        return Case(label, (_normal(rng, out_shape), x), kwargs)
    return [
        case("x (3, 4), dim=None: every axis, grad_out 0-d", (3, 4)),
        case("x (3, 4), dim=1: grad_out (3,)", (3, 4), dim=1),
        case("x (3, 4), dim=0, keepdim=True: grad_out (1, 4)", (3, 4), dim=0, keepdim=True),
        case("x (2, 3, 4), dim=(0, 2): two axes, grad_out (3,)", (2, 3, 4), dim=(0, 2)),
        case("x (2, 3, 4), dim=-1, keepdim=True: a negative dim, grad_out (2, 3, 1)", (2, 3, 4), dim=-1,
             keepdim=True),
        case("x (4, 5), dim=None, keepdim=True: grad_out (1, 1)", (4, 5), dim=None, keepdim=True),
        case("x (5,), dim=0: a vector to a 0-d grad_out", (5,), dim=0),
    ]


register(Exercise(
    name="backward/sum",
    function="sum_backward",
    title="Backward of x.sum(dim, keepdim): put the summed axes back and broadcast",
    statement=_SUM_STATEMENT,
    stub=_SUM_STUB,
    reference=_sum_reference,
    cases=_reduction_cases,
    run=_run,
    mistakes=(
        Mistake("grad_out_not_used", _sum_grad_out_not_used,
                "Step 1: every entry of x gets grad_out of the output it was summed into (the chain rule), not 1."),
        Mistake("divided_by_count", _sum_divided_by_count,
                "Step 1: a sum's local derivative is 1; dividing by the number of summed entries is the mean's "
                "rule."),
        Mistake("grad_out_not_expanded", _sum_grad_out_not_expanded,
                "Steps 2 and 3: grad_out has the shape of y; put the summed axes back and broadcast it to "
                "x's shape."),
    ),
    output_names=("grad x",),
))

register(Exercise(
    name="backward/mean",
    function="mean_backward",
    title="Backward of x.mean(dim, keepdim): broadcast back and divide by the count averaged",
    statement=_MEAN_STATEMENT,
    stub=_MEAN_STUB,
    reference=_mean_reference,
    cases=_reduction_cases,
    run=_run,
    mistakes=(
        Mistake("forgot_one_over_n", _mean_forgot_one_over_n,
                "Step 1: each entry enters its output with weight 1/n, so its gradient is grad_out / n."),
        Mistake("divided_by_total_size", _mean_divided_by_total_size,
                "Step 1: n is the number of entries averaged into ONE output (the sizes of the axes in dim "
                "multiplied), not x.size, unless dim=None."),
        Mistake("grad_out_not_used", _mean_grad_out_not_used,
                "Step 1: the local derivative 1/n multiplies grad_out (the chain rule)."),
    ),
    output_names=("grad x",),
))


# ----------------------------------------------------------------------------- elementwise: exp, log, relu, ...

def _elementwise_stub(function: str, forward: str) -> str:
    return f'''def {function}(grad_out, x):
    """Gradient of y = {forward} (elementwise) with respect to x.

    Args:
        grad_out: dL/dy, an array of the shape of x.
        x: the input of the forward pass.

    Returns:
        (grad_x,), grad_x with the shape of x.
    """
    raise NotImplementedError
'''


def _elementwise_case(rng: np.random.Generator, label: str, x) -> Case:
    x = np.asarray(x, dtype=np.float64)
    return Case(label, (_normal(rng, x.shape), x))


_EXP_STATEMENT = r"""
### Backward of the exponential

**Forward.** $y = e^{x}$, elementwise.

**Write** `exp_backward(grad_out, x)`. `grad_out` is $\partial L / \partial y$, the shape of `x`.
Return the 1-tuple `(grad_x,)` (a bare array is accepted too).

1. **Local derivative.** $\dfrac{d}{dx} e^{x} = e^{x}$, the exponential of the forward **input** `x`
   (the forward output `y` itself).
2. **Chain rule.** Multiply by the incoming gradient, entry by entry:
   $\dfrac{\partial L}{\partial x} = \dfrac{\partial L}{\partial y}\, e^{x}$, i.e. `grad_out * np.exp(x)`.
3. **Shape.** `grad_x.shape == x.shape`.
"""


def _exp_reference(grad_out, x):
    return (grad_out * np.exp(x),)


def _exp_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _elementwise_case(rng, "x (3, 4), standard normal", rng.standard_normal((3, 4))),
        _elementwise_case(rng, "x (5,) = [-30, -10, 0, 10, 20]: large |x|", [-30.0, -10.0, 0.0, 10.0, 20.0]),
        _elementwise_case(rng, "x (2, 3) all zeros: exp(0) = 1", np.zeros((2, 3))),
        _elementwise_case(rng, "x (6,) uniform in [-5, 5]", rng.uniform(-5, 5, 6)),
        _elementwise_case(rng, "x () 0-d", rng.standard_normal(())),
    ]


register(Exercise(
    name="backward/exp",
    function="exp_backward",
    title="Backward of exp(x): the local derivative times grad_out",
    statement=_EXP_STATEMENT,
    stub=_elementwise_stub("exp_backward", "exp(x)"),
    reference=_exp_reference,
    cases=_exp_cases,
    run=_run,
    mistakes=(
        Mistake("grad_out_not_used", lambda grad_out, x: (np.exp(x),),
                "Step 2: the local derivative exp(x) multiplies grad_out (the chain rule)."),
        Mistake("local_derivative_missing", lambda grad_out, x: (grad_out.copy(),),
                "Step 1: grad_out is multiplied by the local derivative exp(x), not passed through unchanged."),
        Mistake("exp_of_grad_out", lambda grad_out, x: (np.exp(grad_out),),
                "Steps 1 and 2: the exponential is of the forward input x, and it multiplies grad_out: "
                "grad_out * np.exp(x)."),
    ),
    output_names=("grad x",),
))


_LOG_STATEMENT = r"""
### Backward of the natural logarithm

**Forward.** $y = \ln x$, elementwise, for $x > 0$.

**Write** `log_backward(grad_out, x)`. `grad_out` is $\partial L / \partial y$, the shape of `x`.
Return the 1-tuple `(grad_x,)` (a bare array is accepted too).

1. **Local derivative.** $\dfrac{d}{dx} \ln x = \dfrac{1}{x}$.
2. **Chain rule.** $\dfrac{\partial L}{\partial x} = \dfrac{\partial L}{\partial y} \cdot \dfrac{1}{x}$,
   i.e. `grad_out / x`: large where x is small.
3. **Shape.** `grad_x.shape == x.shape`.
"""


def _log_reference(grad_out, x):
    return (grad_out / x,)


def _log_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _elementwise_case(rng, "x (3, 4) uniform in [0.5, 3]", rng.uniform(0.5, 3.0, (3, 4))),
        _elementwise_case(rng, "x (5,) small, from 1e-3 to 0.1", [1e-3, 3e-3, 1e-2, 3e-2, 0.1]),
        _elementwise_case(rng, "x (4,) large, from 10 to 1000", [10.0, 50.0, 200.0, 1000.0]),
        _elementwise_case(rng, "x (2, 3) with exact ones: ln(1) = 0", [[1.0, 2.0, 1.0], [0.25, 1.0, 4.0]]),
        _elementwise_case(rng, "x (2, 2, 2) uniform in [0.1, 10]", rng.uniform(0.1, 10.0, (2, 2, 2))),
    ]


register(Exercise(
    name="backward/log",
    function="log_backward",
    title="Backward of log(x): grad_out divided by x",
    statement=_LOG_STATEMENT,
    stub=_elementwise_stub("log_backward", "log(x)"),
    reference=_log_reference,
    cases=_log_cases,
    run=_run,
    mistakes=(
        Mistake("grad_out_not_used", lambda grad_out, x: (1.0 / x,),
                "Step 2: the local derivative 1/x multiplies grad_out (the chain rule)."),
        Mistake("times_x", lambda grad_out, x: (grad_out * x,),
                "Step 1: the derivative of ln(x) is 1/x: divide grad_out by x, don't multiply."),
        Mistake("log_of_x", lambda grad_out, x: (grad_out * np.log(x),),
                "Step 1: the derivative of ln(x) is 1/x, not ln(x) again."),
    ),
    output_names=("grad x",),
))


_RELU_STATEMENT = r"""
### Backward of ReLU

**Forward.** $y = \max(x, 0)$, elementwise.

**Write** `relu_backward(grad_out, x)`. `grad_out` is $\partial L / \partial y$, the shape of `x`.
Return the 1-tuple `(grad_x,)` (a bare array is accepted too).

1. **Local derivative.** $\dfrac{dy}{dx} = 1$ where $x > 0$ and $0$ where $x < 0$. At exactly $x = 0$ ReLU has
   no derivative; PyTorch (and this exercise) takes **0** there: the mask is `x > 0`, strictly.
2. **Chain rule.** $\dfrac{\partial L}{\partial x} = \dfrac{\partial L}{\partial y} \cdot \mathbb{1}[x > 0]$:
   `grad_out` passes where $x > 0$ and is zeroed elsewhere. It is `grad_out` that is masked; its own sign
   does not matter.
3. **Shape.** `grad_x.shape == x.shape`.
"""


def _relu_reference(grad_out, x):
    return (np.where(x > 0, grad_out, 0.0),)  # grad_out where x > 0, else 0: strictly, so 0 at x == 0 (PyTorch)


def _relu_cases(rng: np.random.Generator) -> list[Case]:
    with_zeros = rng.standard_normal((3, 4))
    with_zeros[rng.random((3, 4)) < 0.3] = 0.0
    with_zeros[0, 0] = 0.0
    return [
        _elementwise_case(rng, "x (3, 4) standard normal with some exact zeros", with_zeros),
        _elementwise_case(rng, "x (7,) = [-2, -1e-12, -0.0, 0, 1e-12, 1, 3]: around zero",
                          [-2.0, -1e-12, -0.0, 0.0, 1e-12, 1.0, 3.0]),
        _elementwise_case(rng, "x (2, 3, 2) standard normal", rng.standard_normal((2, 3, 2))),
        _elementwise_case(rng, "x (5,) all positive", rng.uniform(0.1, 2.0, 5)),
        _elementwise_case(rng, "x (2, 2) all exact zeros", np.zeros((2, 2))),
    ]


register(Exercise(
    name="backward/relu",
    function="relu_backward",
    title="Backward of relu(x): mask grad_out where x > 0 (gradient 0 at exactly 0)",
    statement=_RELU_STATEMENT,
    stub=_elementwise_stub("relu_backward", "relu(x) = max(x, 0)"),
    reference=_relu_reference,
    cases=_relu_cases,
    run=_run,
    mistakes=(
        Mistake("gradient_at_zero_is_one", lambda grad_out, x: (grad_out * (x >= 0),),
                "Step 1: at exactly x = 0 the gradient is 0, as PyTorch's: the mask is x > 0, not x >= 0."),
        Mistake("grad_out_not_used", lambda grad_out, x: ((x > 0).astype(np.float64),),
                "Step 2: the mask multiplies grad_out (the chain rule); returning the mask alone drops grad_out."),
        Mistake("relu_of_grad_out", lambda grad_out, x: (np.maximum(grad_out, 0.0),),
                "Step 2: the mask comes from the forward input x, not from grad_out; a negative grad_out passes "
                "where x > 0."),
        Mistake("gradient_not_masked", lambda grad_out, x: (grad_out.copy(),),
                "Steps 1 and 2: the gradient is 0 wherever x <= 0 (a mask computed as relu(x) >= 0 is always "
                "true)."),
    ),
    output_names=("grad x",),
))


_SIGMOID_STATEMENT = r"""
### Backward of the sigmoid

**Forward.** $s = \sigma(x) = \dfrac{1}{1 + e^{-x}}$, elementwise.

**Write** `sigmoid_backward(grad_out, x)`. `grad_out` is $\partial L / \partial s$, the shape of `x`.
Return the 1-tuple `(grad_x,)` (a bare array is accepted too).

1. **Recompute the output.** `s = 1 / (1 + np.exp(-x))` from the forward **input** `x`.
2. **Local derivative.** $\dfrac{d\sigma}{dx} = \sigma(x)\,\bigl(1 - \sigma(x)\bigr)$, written with the
   **output** $s$: `s * (1 - s)`, at most 1/4 (at x = 0), vanishing for large |x|.
3. **Chain rule.** $\dfrac{\partial L}{\partial x} = \dfrac{\partial L}{\partial s}\, s (1 - s)$.
4. **Shape.** `grad_x.shape == x.shape`.
"""


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _sigmoid_reference(grad_out, x):
    s = _sigmoid(x)
    return (grad_out * s * (1.0 - s),)


def _saturating_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _elementwise_case(rng, "x (3, 4), standard normal", rng.standard_normal((3, 4))),
        _elementwise_case(rng, "x (7,) = [-20, -5, -1, 0, 1, 5, 20]: saturating at large |x|",
                          [-20.0, -5.0, -1.0, 0.0, 1.0, 5.0, 20.0]),
        _elementwise_case(rng, "x (2, 5) uniform in [-6, 6]", rng.uniform(-6, 6, (2, 5))),
        _elementwise_case(rng, "x (4,) = [-35, -15, 15, 35]: far in the flat tails", [-35.0, -15.0, 15.0, 35.0]),
        _elementwise_case(rng, "x (2, 3) all zeros", np.zeros((2, 3))),
    ]


register(Exercise(
    name="backward/sigmoid",
    function="sigmoid_backward",
    title="Backward of sigmoid(x): s (1 - s) times grad_out",
    statement=_SIGMOID_STATEMENT,
    stub=_elementwise_stub("sigmoid_backward", "sigmoid(x) = 1 / (1 + exp(-x))"),
    reference=_sigmoid_reference,
    cases=_saturating_cases,
    run=_run,
    mistakes=(
        Mistake("derivative_is_s", lambda grad_out, x: (grad_out * _sigmoid(x),),
                "Step 2: the derivative of the sigmoid is s * (1 - s), not s itself."),
        Mistake("used_x_not_s", lambda grad_out, x: (grad_out * x * (1.0 - x),),
                "Steps 1 and 2: the derivative s * (1 - s) is written with the output s = sigmoid(x), not with "
                "the input x."),
        Mistake("grad_out_not_used", lambda grad_out, x: (_sigmoid(x) * (1.0 - _sigmoid(x)),),
                "Step 3: the local derivative s * (1 - s) multiplies grad_out (the chain rule)."),
    ),
    output_names=("grad x",),
))


_TANH_STATEMENT = r"""
### Backward of tanh

**Forward.** $t = \tanh x$, elementwise.

**Write** `tanh_backward(grad_out, x)`. `grad_out` is $\partial L / \partial t$, the shape of `x`.
Return the 1-tuple `(grad_x,)` (a bare array is accepted too).

1. **Recompute the output.** `t = np.tanh(x)` from the forward **input** `x`.
2. **Local derivative.** $\dfrac{d}{dx}\tanh x = 1 - \tanh^2 x$, written with the **output** $t$:
   `1 - t**2`, equal to 1 at x = 0 and vanishing for large |x|.
3. **Chain rule.** $\dfrac{\partial L}{\partial x} = \dfrac{\partial L}{\partial t}\,(1 - t^2)$.
4. **Shape.** `grad_x.shape == x.shape`.
"""


def _tanh_reference(grad_out, x):
    t = np.tanh(x)
    return (grad_out * (1.0 - t**2),)


register(Exercise(
    name="backward/tanh",
    function="tanh_backward",
    title="Backward of tanh(x): (1 - tanh(x)^2) times grad_out",
    statement=_TANH_STATEMENT,
    stub=_elementwise_stub("tanh_backward", "tanh(x)"),
    reference=_tanh_reference,
    cases=_saturating_cases,
    run=_run,
    mistakes=(
        Mistake("used_x_not_tanh", lambda grad_out, x: (grad_out * (1.0 - x**2),),
                "Steps 1 and 2: the derivative 1 - t**2 is written with the output t = tanh(x), not with the "
                "input x."),
        Mistake("square_missing", lambda grad_out, x: (grad_out * (1.0 - np.tanh(x)),),
                "Step 2: the derivative of tanh is 1 - tanh(x)**2: the tanh is squared."),
        Mistake("grad_out_not_used", lambda grad_out, x: (1.0 - np.tanh(x) ** 2,),
                "Step 3: the local derivative 1 - t**2 multiplies grad_out (the chain rule)."),
    ),
    output_names=("grad x",),
))


# ---------------------------------------------------------------------------- backward/softmax_cross_entropy

_SOFTMAX_CE_STATEMENT = r"""
### Backward of softmax + cross-entropy

**Forward** (PyTorch's `F.cross_entropy(logits, target)`, `reduction="mean"`): `logits` $z$ of shape (N, C),
integer class indices `target` $t$ of shape (N,).
$$p_{ij} = \frac{e^{z_{ij}}}{\sum_k e^{z_{ik}}}, \qquad
L = -\frac{1}{N} \sum_{i=1}^{N} \ln p_{i, t_i}.$$

**Write** `softmax_cross_entropy_backward(grad_out, logits, target)`. `grad_out` is the gradient of the final
objective with respect to the scalar loss $L$ (a 0-d array; 1.0 when $L$ is the objective itself). Only
`logits` is differentiable: return the **1-tuple** `(grad_logits,)`, shape (N, C) (a bare array is accepted
too). Nothing is returned for `target`.

1. **Softmax, stably.** Subtract each row's maximum before exponentiating:
   `e = np.exp(logits - logits.max(axis=1, keepdims=True))`, `p = e / e.sum(axis=1, keepdims=True)`.
   The result is the same, but $e^{1000}$ overflows to `inf` and `inf / inf` is `nan`.
2. **One row's gradient.** For $\ell_i = -\ln p_{i,t_i}$:
   $\dfrac{\partial \ell_i}{\partial z_{ij}} = p_{ij} - \mathbb{1}[j = t_i]$: the softmax **minus** the one-hot
   target. (The $p_{ij}$ term comes from the normalizer $\sum_k e^{z_{ik}}$, which every logit enters.)
3. **The mean and the chain rule.** $L$ averages the $N$ rows, so each row's gradient carries $1/N$; then
   multiply by `grad_out`: `grad_logits = grad_out * (p - one_hot) / N`.
"""

_SOFTMAX_CE_STUB = '''def softmax_cross_entropy_backward(grad_out, logits, target):
    """Gradient of L = cross_entropy(logits, target) (softmax, then the mean negative log-likelihood).

    Args:
        grad_out: dObjective/dL, a 0-d array (the loss L is a scalar).
        logits: the scores z, shape (N, C).
        target: the class of each row, integers of shape (N,) in [0, C); not differentiable.

    Returns:
        (grad_logits,), shape (N, C).
    """
    raise NotImplementedError
'''


def _one_hot(target, num_classes):
    return np.eye(num_classes)[target]


def _softmax_ce_reference(grad_out, logits, target):
    n, num_classes = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True)  # same softmax, no overflow
    exp = np.exp(shifted)
    p = exp / exp.sum(axis=1, keepdims=True)
    return (grad_out * (p - _one_hot(target, num_classes)) / n,)


def _softmax_ce_mean_not_divided(grad_out, logits, target):
    (grad,) = _softmax_ce_reference(grad_out, logits, target)
    return (grad * logits.shape[0],)


def _softmax_ce_unstable_softmax(grad_out, logits, target):
    n, num_classes = logits.shape
    with np.errstate(over="ignore", invalid="ignore"):  # the point of this mistake: inf / inf = nan
        exp = np.exp(logits)
        p = exp / exp.sum(axis=1, keepdims=True)
    return (grad_out * (p - _one_hot(target, num_classes)) / n,)


def _softmax_ce_one_hot_sign_flipped(grad_out, logits, target):
    (grad,) = _softmax_ce_reference(grad_out, logits, target)
    return (-grad,)


def _softmax_ce_softmax_term_missing(grad_out, logits, target):
    n, num_classes = logits.shape
    return (-grad_out * _one_hot(target, num_classes) / n,)


def _softmax_ce_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, logits, target=None, grad_out=1.0):
        logits = np.asarray(logits, dtype=np.float64)
        if target is None:
            target = rng.integers(0, logits.shape[1], logits.shape[0])
        return Case(label, (np.asarray(grad_out, dtype=np.float64), logits, np.asarray(target, dtype=np.int64)))
    return [
        case("logits (4, 3), standard normal, grad_out 1", rng.standard_normal((4, 3))),
        case("logits (1, 5): a single row", rng.standard_normal((1, 5)), grad_out=rng.uniform(0.5, 2.0)),
        case("logits (8, 10), grad_out a random scalar", 2 * rng.standard_normal((8, 10)),
             grad_out=rng.uniform(0.5, 2.0)),
        case("logits (3, 4) near 1000: exp overflows without the max subtracted",
             1000.0 + 5 * rng.standard_normal((3, 4))),
        case("logits (5, 2), two classes, scaled by 10", 10 * rng.standard_normal((5, 2))),
        case("logits (6, 3), every target class 2", rng.standard_normal((6, 3)), target=np.full(6, 2)),
    ]


register(Exercise(
    name="backward/softmax_cross_entropy",
    function="softmax_cross_entropy_backward",
    title="Backward of softmax + cross-entropy (mean): (softmax - one_hot) / N",
    statement=_SOFTMAX_CE_STATEMENT,
    stub=_SOFTMAX_CE_STUB,
    reference=_softmax_ce_reference,
    cases=_softmax_ce_cases,
    run=_run,
    mistakes=(
        Mistake("mean_not_divided", _softmax_ce_mean_not_divided,
                "Step 3: reduction 'mean' averages the N rows, so every row's gradient carries a factor 1/N."),
        Mistake("unstable_softmax", _softmax_ce_unstable_softmax,
                "Step 1: subtract each row's max before np.exp; exp(1000) overflows to inf and inf / inf is nan."),
        Mistake("one_hot_sign_flipped", _softmax_ce_one_hot_sign_flipped,
                "Step 2: the gradient is the softmax MINUS the one-hot target (p - one_hot), not one_hot - p."),
        Mistake("softmax_term_missing", _softmax_ce_softmax_term_missing,
                "Step 2: the normalizer sum_k exp(z_k) depends on every logit and contributes p_ij; the gradient "
                "is p - one_hot, not -one_hot."),
    ),
    output_names=("grad logits",),
))


# --------------------------------------------------------------------------------------- backward/layer_norm

_LAYER_NORM_STATEMENT = r"""
### Backward of layer normalization

**Forward** (PyTorch's `F.layer_norm(x, (D,), weight, bias, eps)`): `x` of shape (N, D), `weight` $w$ and
`bias` $b$ of shape (D,). Each row $i$ is normalized over its $D$ features:
$$\mu_i = \frac{1}{D}\sum_j x_{ij}, \qquad \sigma_i^2 = \frac{1}{D}\sum_j (x_{ij} - \mu_i)^2, \qquad
\hat x_{ij} = \frac{x_{ij} - \mu_i}{\sqrt{\sigma_i^2 + \varepsilon}}, \qquad y_{ij} = w_j \hat x_{ij} + b_j.$$
The variance is the **biased** one, divided by $D$ (`x.var(axis=1)`, NumPy's default `ddof=0`), as PyTorch's.

**Write** `layer_norm_backward(grad_out, x, weight, bias, eps=1e-5)`. `grad_out` is $\partial L/\partial y$,
shape (N, D). Return the tuple `(grad_x, grad_weight, grad_bias)`, shapes (N, D), (D,), (D,).

1. **Weight and bias.** They are shared by all $N$ rows, so their gradients are **summed over the batch**:
   $\dfrac{\partial L}{\partial b_j} = \sum_i \dfrac{\partial L}{\partial y_{ij}}$ and
   $\dfrac{\partial L}{\partial w_j} = \sum_i \dfrac{\partial L}{\partial y_{ij}}\, \hat x_{ij}$.
2. **Through the affine.**
   $g_{ij} = \dfrac{\partial L}{\partial \hat x_{ij}} = \dfrac{\partial L}{\partial y_{ij}}\, w_j$.
3. **Through the normalization.** $\mu_i$ and $\sigma_i^2$ depend on every $x_{ij}$ of the row, which adds two
   terms to $g$. With row means $\langle\cdot\rangle$ over the $D$ features:
   $$\frac{\partial L}{\partial x_{ij}} = \frac{1}{\sqrt{\sigma_i^2 + \varepsilon}}
   \Bigl(g_{ij} - \langle g_i \rangle - \hat x_{ij} \,\langle g_i \hat x_i \rangle\Bigr).$$
   The term $-\langle g_i \rangle$ comes from the mean $\mu_i$, the term $-\hat x_{ij}\langle g_i \hat x_i\rangle$
   from the variance $\sigma_i^2$.
"""

_LAYER_NORM_STUB = '''def layer_norm_backward(grad_out, x, weight, bias, eps=1e-5):
    """Gradients of y = layer_norm(x, (D,), weight, bias, eps) with respect to x, weight and bias.

    Args:
        grad_out: dL/dy, shape (N, D).
        x: the input, shape (N, D); each row is normalized over its D features.
        weight: the scale w, shape (D,).
        bias: the shift b, shape (D,).
        eps: added to the (biased) variance inside the square root.

    Returns:
        (grad_x, grad_weight, grad_bias), shapes (N, D), (D,), (D,).
    """
    raise NotImplementedError
'''


def _layer_norm_parts(x, eps, ddof=0):
    """x_hat and 1 / sqrt(var + eps) of the forward pass, per row (ddof=0: the biased variance)."""
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, ddof=ddof, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mu) * inv_std, inv_std


def _layer_norm_reference(grad_out, x, weight, bias, eps=1e-5):
    x_hat, inv_std = _layer_norm_parts(x, eps)
    grad_bias = grad_out.sum(axis=0)  # shared by the N rows: summed over the batch
    grad_weight = (grad_out * x_hat).sum(axis=0)
    g = grad_out * weight  # dL/dx_hat
    grad_x = inv_std * (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
    return grad_x, grad_weight, grad_bias


def _layer_norm_unbiased_variance(grad_out, x, weight, bias, eps=1e-5):
    x_hat, inv_std = _layer_norm_parts(x, eps, ddof=1)
    g = grad_out * weight
    grad_x = inv_std * (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
    return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)


def _layer_norm_mean_term_missing(grad_out, x, weight, bias, eps=1e-5):
    x_hat, inv_std = _layer_norm_parts(x, eps)
    g = grad_out * weight
    grad_x = inv_std * (g - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
    return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)


def _layer_norm_variance_term_missing(grad_out, x, weight, bias, eps=1e-5):
    x_hat, inv_std = _layer_norm_parts(x, eps)
    g = grad_out * weight
    grad_x = inv_std * (g - g.mean(axis=1, keepdims=True))
    return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)


def _layer_norm_weight_not_applied(grad_out, x, weight, bias, eps=1e-5):
    x_hat, inv_std = _layer_norm_parts(x, eps)
    g = grad_out  # dL/dx_hat taken as dL/dy: the scale w left out
    grad_x = inv_std * (g - g.mean(axis=1, keepdims=True) - x_hat * (g * x_hat).mean(axis=1, keepdims=True))
    return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)


def _layer_norm_params_not_summed(grad_out, x, weight, bias, eps=1e-5):
    grad_x, _, _ = _layer_norm_reference(grad_out, x, weight, bias, eps)
    x_hat, _ = _layer_norm_parts(x, eps)
    return grad_x, grad_out * x_hat, grad_out.copy()


def _layer_norm_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, x, **kwargs):
        d = x.shape[1]
        weight, bias = 1.0 + 0.5 * _normal(rng, (d,)), _normal(rng, (d,))
        return Case(label, (_normal(rng, x.shape), x, weight, bias), kwargs)
    return [
        case("x (4, 5), standard normal, eps default", rng.standard_normal((4, 5))),
        case("x (2, 8), scale 3 and offset -2, eps=1e-5 given", 3 * rng.standard_normal((2, 8)) - 2, eps=1e-5),
        case("x (6, 3), eps=1e-3", rng.standard_normal((6, 3)), eps=1e-3),
        case("x (3, 4) = 100 + 0.01 noise: variance 1e-4, near eps", 100 + 0.01 * rng.standard_normal((3, 4))),
        case("x (5, 2): two features, where D and D - 1 differ most", rng.standard_normal((5, 2))),
        case("x (1, 6): a single row", rng.standard_normal((1, 6))),
    ]


register(Exercise(
    name="backward/layer_norm",
    function="layer_norm_backward",
    title="Backward of layer norm: the mean and variance terms, and batch-summed weight and bias gradients",
    statement=_LAYER_NORM_STATEMENT,
    stub=_LAYER_NORM_STUB,
    reference=_layer_norm_reference,
    cases=_layer_norm_cases,
    run=_run,
    mistakes=(
        Mistake("unbiased_variance", _layer_norm_unbiased_variance,
                "The forward formula: sigma^2 divides by D (the biased variance, x.var(axis=1) with ddof=0, as "
                "PyTorch's layer_norm), not by D - 1."),
        Mistake("mean_term_missing", _layer_norm_mean_term_missing,
                "Step 3: the mean mu depends on every x of the row; it contributes the term -mean(g) over the row."),
        Mistake("variance_term_missing", _layer_norm_variance_term_missing,
                "Step 3: the variance depends on every x of the row too; it contributes the term "
                "-x_hat * mean(g * x_hat) over the row."),
        Mistake("weight_not_applied", _layer_norm_weight_not_applied,
                "Step 2: y = w * x_hat + b, so the gradient reaching x_hat is g = grad_out * weight; use that g "
                "(not grad_out) in step 3."),
        Mistake("params_not_summed", _layer_norm_params_not_summed,
                "Step 1: weight and bias are shared by the N rows, so their gradients are summed over the batch "
                "(axis 0), shape (D,)."),
    ),
    output_names=("grad x", "grad weight", "grad bias"),
))


# ------------------------------------------------------------------------------------------- backward/conv1d

_CONV1D_STATEMENT = r"""
### Backward of a 1-D convolution

**Forward** (PyTorch's `F.conv1d(x, weight, bias, stride, padding)`, a **cross-correlation**: the kernel is not
flipped): `x` of shape (N, C_in, L), `weight` $w$ of shape (C_out, C_in, K), `bias` $b$ of shape (C_out,).
$x_p$ is `x` with `padding` zeros added at both ends of the length axis, and for
$l = 0, \dots, L_\text{out} - 1$ with $L_\text{out} = \lfloor (L + 2\,\text{padding} - K) / \text{stride} \rfloor + 1$:
$$y_{n,o,l} = b_o + \sum_{c} \sum_{k=0}^{K-1} w_{o,c,k}\; x_{p\;n,c,\,l\cdot\text{stride} + k}.$$

**Write** `conv1d_backward(grad_out, x, weight, bias, stride=1, padding=0)`. `grad_out` is
$\partial L/\partial y$, shape (N, C_out, L_out). Return the tuple `(grad_x, grad_weight, grad_bias)`, with
the shapes of `x`, `weight` and `bias`.

1. **Bias.** $\dfrac{\partial L}{\partial b_o} = \sum_n \sum_l \dfrac{\partial L}{\partial y_{n,o,l}}$:
   summed over the batch and over every output position.
2. **Weight.** $\dfrac{\partial L}{\partial w_{o,c,k}} = \sum_n \sum_l \dfrac{\partial L}{\partial y_{n,o,l}}\,
   x_{p\;n,c,\,l\cdot\text{stride}+k}$: every sample and every position uses the same weight, so their
   contributions are **added** (in a loop over $l$: `grad_weight += ...`, never `=`).
3. **Input.** Each window sends gradient back to the inputs it read:
   $\dfrac{\partial L}{\partial x_{p\;n,c,\,l\cdot\text{stride}+k}} \mathrel{+}= \sum_o
   \dfrac{\partial L}{\partial y_{n,o,l}}\, w_{o,c,k}$. Windows overlap (when K > stride), so contributions to
   the same input position **add up** (`+=`, never `=`). An input position no window reads gets 0.
4. **Crop the padding.** The gradient above is for the padded $x_p$: drop the `padding` positions at both
   ends, `grad_x = grad_x_p[:, :, padding:padding + L]`, the shape of `x`.
"""

_CONV1D_STUB = '''def conv1d_backward(grad_out, x, weight, bias, stride=1, padding=0):
    """Gradients of y = conv1d(x, weight, bias, stride, padding) with respect to x, weight and bias.

    Args:
        grad_out: dL/dy, shape (N, C_out, L_out).
        x: the input, shape (N, C_in, L).
        weight: the kernels, shape (C_out, C_in, K); applied without flipping (a cross-correlation).
        bias: shape (C_out,).
        stride: the step between windows.
        padding: zeros added at both ends of the length axis.

    Returns:
        (grad_x, grad_weight, grad_bias), with the shapes of x, weight and bias.
    """
    raise NotImplementedError
'''


def _conv1d_reference(grad_out, x, weight, bias, stride=1, padding=0):
    length, k = x.shape[2], weight.shape[2]
    x_p = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    grad_x_p = np.zeros_like(x_p)
    grad_weight = np.zeros_like(weight)
    for pos in range(grad_out.shape[2]):  # output position l reads the window x_p[..., l*stride : l*stride + K]
        window = slice(pos * stride, pos * stride + k)
        g = grad_out[:, :, pos]  # (N, C_out)
        grad_weight += np.einsum("no,nck->ock", g, x_p[:, :, window])  # summed over the batch n
        grad_x_p[:, :, window] += np.einsum("no,ock->nck", g, weight)  # summed over the output channels o
    grad_bias = grad_out.sum(axis=(0, 2))
    grad_x = grad_x_p[:, :, padding:padding + length]  # crop the padding off
    return grad_x, grad_weight, grad_bias


def _conv1d_flipped_kernel(grad_out, x, weight, bias, stride=1, padding=0):
    # The student's forward is a true convolution, y = sum w[o, c, K-1-k] x_p[l*stride + k]: the gradients of
    # the cross-correlation with the flipped kernel, the weight gradient flipped back.
    grad_x, grad_weight, grad_bias = _conv1d_reference(grad_out, x, weight[:, :, ::-1], bias, stride, padding)
    return grad_x, grad_weight[:, :, ::-1].copy(), grad_bias


def _conv1d_gradient_overwritten(grad_out, x, weight, bias, stride=1, padding=0):
    length, k = x.shape[2], weight.shape[2]
    x_p = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    grad_x_p = np.zeros_like(x_p)
    grad_weight = np.zeros_like(weight)
    for pos in range(grad_out.shape[2]):
        window = slice(pos * stride, pos * stride + k)
        g = grad_out[:, :, pos]
        grad_weight = np.einsum("no,nck->ock", g, x_p[:, :, window])
        grad_x_p[:, :, window] = np.einsum("no,ock->nck", g, weight)
    return grad_x_p[:, :, padding:padding + length], grad_weight, grad_out.sum(axis=(0, 2))


def _conv1d_batch_not_summed(grad_out, x, weight, bias, stride=1, padding=0):
    k = weight.shape[2]
    x_p = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    grad_weight = np.zeros((x.shape[0],) + weight.shape)
    for pos in range(grad_out.shape[2]):
        window = slice(pos * stride, pos * stride + k)
        grad_weight += np.einsum("no,nck->nock", grad_out[:, :, pos], x_p[:, :, window])
    grad_x, _, _ = _conv1d_reference(grad_out, x, weight, bias, stride, padding)
    return grad_x, grad_weight, grad_out.sum(axis=2)


def _conv1d_padding_not_cropped(grad_out, x, weight, bias, stride=1, padding=0):
    # The reference run on the padded input with no padding of its own: the padded input's gradient, uncropped.
    x_p = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    return _conv1d_reference(grad_out, x_p, weight, bias, stride, padding=0)


def _conv1d_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, n, c_in, length, c_out, k, **kwargs):
        stride, padding = kwargs.get("stride", 1), kwargs.get("padding", 0)
        length_out = (length + 2 * padding - k) // stride + 1
        x, weight, bias = _normal(rng, (n, c_in, length)), _normal(rng, (c_out, c_in, k)), _normal(rng, (c_out,))
        return Case(label, (_normal(rng, (n, c_out, length_out)), x, weight, bias), kwargs)
    return [
        case("x (2, 3, 7), weight (4, 3, 3): stride 1, no padding", 2, 3, 7, 4, 3),
        case("x (1, 2, 5), weight (3, 2, 2), padding=1", 1, 2, 5, 3, 2, padding=1),
        case("x (3, 1, 8), weight (2, 1, 3), stride=2, padding=1", 3, 1, 8, 2, 3, stride=2, padding=1),
        case("x (2, 2, 6), weight (1, 2, 1): a 1-wide kernel", 2, 2, 6, 1, 1),
        case("x (2, 3, 10), weight (2, 3, 4), stride=3, padding=2: the last input positions unread",
             2, 3, 10, 2, 4, stride=3, padding=2),
    ]


register(Exercise(
    name="backward/conv1d",
    function="conv1d_backward",
    title="Backward of conv1d (cross-correlation, stride, padding): accumulate over windows and the batch",
    statement=_CONV1D_STATEMENT,
    stub=_CONV1D_STUB,
    reference=_conv1d_reference,
    cases=_conv1d_cases,
    run=_run,
    mistakes=(
        Mistake("flipped_kernel", _conv1d_flipped_kernel,
                "The forward formula: PyTorch's conv1d is a cross-correlation, w[o, c, k] meets "
                "x_p[l*stride + k]; a true convolution (flipped kernel) pairs it with x_p[l*stride + K-1-k]."),
        Mistake("gradient_overwritten", _conv1d_gradient_overwritten,
                "Steps 2 and 3: contributions from different output positions add up; accumulate with += in the "
                "loop instead of overwriting with =."),
        Mistake("batch_not_summed", _conv1d_batch_not_summed,
                "Steps 1 and 2: weight and bias are shared by the N samples, so their gradients are summed over "
                "the batch too; shapes (C_out, C_in, K) and (C_out,)."),
        Mistake("padding_not_cropped", _conv1d_padding_not_cropped,
                "Step 4: the gradient computed is for the padded input; crop padding positions at both ends, "
                "back to the shape of x."),
    ),
    output_names=("grad x", "grad weight", "grad bias"),
))
