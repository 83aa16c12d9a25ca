"""Finite-difference gradient checking: is the backward of ``fn`` right?

For every input element x_j the derivative is estimated by central differences,

    d out_i / d x_j  ~  (out_i(x_j + eps) - out_i(x_j - eps)) / (2 eps),

which is accurate to O(eps^2), and compared with the Jacobian that autograd
computes row by row (one ``backward`` per output element). The check is done
in float64: in float32 the rounding error of the difference swamps eps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = ["gradcheck", "GradcheckError", "float64_copies"]


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; the message names the input and entry."""


def _as_output(value: Any) -> Tensor:
    if isinstance(value, (tuple, list)):
        raise TypeError("gradcheck: fn must return one Tensor (combine several outputs with tg.cat)")
    if not isinstance(value, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(value).__name__}")
    return value


def float64_copies(inputs: Sequence[Any]) -> list[Tensor]:
    """Copies of ``inputs`` as Tensors, floats in float64 (the precision finite differences need).

    A Tensor keeps its ``requires_grad``; anything else becomes a constant.
    Shared by `gradcheck` and `tinygrad_edu.gradcheck_nodes`.
    """
    tensors = []
    for value in inputs:
        array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
        tensors.append(Tensor(array, requires_grad=isinstance(value, Tensor) and value.requires_grad,
                              dtype=np.float64 if array.dtype.kind == "f" else None))
    return tensors


def gradcheck(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3) -> bool:
    """Compare autograd's gradient of ``fn`` with central finite differences.

    Args:
        fn: a function of the inputs returning one Tensor of any shape.
        *inputs: Tensors (or arrays); those with ``requires_grad=True`` are
            checked, the others are held fixed. They are copied to float64.
        eps: the finite-difference step.
        atol, rtol: an entry passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Returns:
        True when every entry of every checked input passes.

    Raises:
        GradcheckError: naming the input, the worst entry (output and input
            index) and both values.

    Example:
        >>> import tinygrad_edu as tg
        >>> x = tg.randn(3, requires_grad=True)
        >>> tg.gradcheck(lambda t: (t * t).sum(), x)
        True
    """
    if eps <= 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps}")
    tensors = float64_copies(inputs)
    checked = [i for i, t in enumerate(tensors) if t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")

    out = _as_output(fn(*tensors))
    out_size = out.numel()
    # Analytic Jacobian, one row per output element: backward with a one-hot gradient.
    analytic = {i: np.zeros((out_size, tensors[i].numel())) for i in checked}
    for k in range(out_size):
        for i in checked:
            tensors[i].grad = None
        seed = np.zeros(out_size)
        seed[k] = 1.0
        out = _as_output(fn(*tensors))
        if out.requires_grad:
            out.backward(seed.reshape(out.shape))
        for i in checked:
            grad = tensors[i].grad
            if grad is not None:
                analytic[i][k] = grad.numpy().ravel()
    for i in checked:
        tensors[i].grad = None

    # Numeric Jacobian, one column per input element.
    for i in checked:
        flat = tensors[i].numpy().reshape(-1)
        numeric = np.zeros_like(analytic[i])
        with no_grad():
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                # np.array copies: an output may be a view of the input being perturbed (reshape, x[1:]).
                plus = np.array(_as_output(fn(*tensors)).numpy(), dtype=np.float64).ravel()
                flat[j] = original - eps
                minus = np.array(_as_output(fn(*tensors)).numpy(), dtype=np.float64).ravel()
                flat[j] = original
                numeric[:, j] = (plus - minus) / (2 * eps)
        error = np.abs(analytic[i] - numeric)
        allowed = atol + rtol * np.abs(numeric)
        bad = ~(error <= allowed)  # NaN counts as a failure
        if bad.any():
            excess = np.where(bad, np.nan_to_num(error - allowed, nan=np.inf), -np.inf)
            k, j = np.unravel_index(np.argmax(excess), excess.shape)
            # Plain ints, so the message reads [1, 2] rather than [np.int64(1), np.int64(2)].
            out_index = [int(n) for n in np.unravel_index(k, out.shape)] if out.shape else []
            in_index = [int(n) for n in np.unravel_index(j, tensors[i].shape)] if tensors[i].shape else []
            raise GradcheckError(
                f"gradcheck: the gradient of input {i} (shape {tensors[i].shape}) disagrees with finite "
                f"differences in {int(bad.sum())} of {bad.size} entries; worst: d output{list(out_index)} / "
                f"d input{list(in_index)}: analytic {analytic[i][k, j]:.6g}, numeric {numeric[k, j]:.6g} "
                f"(|difference| {error[k, j]:.3g} > allowed {allowed[k, j]:.3g})"
            )
    return True
