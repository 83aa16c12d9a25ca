"""Smooth activations, as ``torch.nn``: `GELU`, `SiLU`, `Softplus`, `ELU`; and ``gumbel_softmax``.

The functional forms (``gelu``, ``silu``, ``softplus``, ``elu``,
``gumbel_softmax``) are here too and re-exported by `tinygrad_edu.nn.functional`.
Each activation is one node (`tinygrad_edu.ops.activation`) with its derivative.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from .. import rng as _rng
from .._checks import check_choice, check_int, check_number, check_positive
from ..tensor import Tensor, _apply, _as_tensor, _wrap
from .module import Module

__all__ = ["GELU", "SiLU", "Softplus", "ELU", "gelu", "silu", "softplus", "elu", "gumbel_softmax"]


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """Gaussian error linear unit, as ``torch.nn.functional.gelu``: x * Phi(x).

    Phi is the standard normal CDF, Phi(x) = (1 + erf(x / sqrt(2))) / 2. With
    ``approximate='tanh'``: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.functional.gelu(tg.tensor([-1.0, 0.0, 1.0])).tolist()]
        [-0.1587, 0.0, 0.8413]
    """
    check_choice("gelu", "approximate", approximate, ("none", "tanh"))
    return _apply(ops.GELU, _as_tensor(input), approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """Sigmoid linear unit (swish), as ``torch.nn.functional.silu``: x * sigmoid(x).

    ``inplace`` is accepted for PyTorch's signature; a new tensor is returned.

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.functional.silu(tg.tensor([-1.0, 0.0, 1.0])).tolist()]
        [-0.2689, 0.0, 0.7311]
    """
    return _apply(ops.SiLU, _as_tensor(input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """Softplus, as ``torch.nn.functional.softplus``: log(1 + exp(beta x)) / beta, and x where beta x > threshold.

    A smooth ReLU whose derivative is sigmoid(beta x); above the threshold it
    is linear (to within rounding) and taken to be exactly x.

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.functional.softplus(tg.tensor([-1.0, 0.0, 30.0])).tolist()]
        [0.3133, 0.6931, 30.0]
    """
    return _apply(ops.SoftplusThreshold, _as_tensor(input), beta=float(beta), threshold=float(threshold))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """Exponential linear unit, as ``torch.nn.functional.elu``: x if x > 0, else alpha * (exp(x) - 1).

    ``inplace`` is accepted for PyTorch's signature; a new tensor is returned.

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.functional.elu(tg.tensor([-1.0, 0.0, 2.0])).tolist()]
        [-0.6321, 0.0, 2.0]
    """
    return _apply(ops.ELU, _as_tensor(input), alpha=float(alpha))


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """A differentiable sample from the categorical distribution softmax(logits), as PyTorch's.

    y = softmax((logits + g) / tau) along ``dim``, with g = -log(E), E ~ Exp(1)
    independent Gumbel noise drawn from the library generator
    (`tinygrad_edu.rng.generator`, so `tg.manual_seed` makes it reproducible)
    as PyTorch draws it: ``-log(exponential_())`` in the logits' dtype (the
    draws E are PyTorch's bit for bit; its vectorised CPU log and softmax may
    round the last bits differently). The argmax of y is an exact sample of
    the categorical distribution, P(k) = softmax(logits)_k, for every ``tau``
    (the Gumbel-max trick); small ``tau`` makes y nearly one-hot, large ``tau``
    nearly uniform. With ``hard=True`` the result is exactly one-hot (the
    argmax of y) in the forward pass while its gradient is y's (the
    straight-through estimator, PyTorch's y_hard - y.detach() + y). ``eps`` is
    accepted for PyTorch's signature; as there, any other value than the
    default warns that it has no effect.

    Raises:
        TypeError: ``logits`` not floating point (PyTorch cannot draw integer noise either).
        ValueError: ``tau`` not a finite number > 0, ``dim`` out of range.

    Example:
        >>> import tinygrad_edu as tg
        >>> _ = tg.manual_seed(0)
        >>> sample = tg.nn.functional.gumbel_softmax(tg.zeros(2, 5), tau=0.5, hard=True)
        >>> sample.sum(-1).tolist()
        [1.0, 1.0]
    """
    import warnings  # only here: the one function of this module that warns

    logits = _as_tensor(logits)
    if logits.dtype.kind != "f":
        raise TypeError(f"gumbel_softmax: logits must be a floating-point tensor, got dtype {logits.dtype}")
    tau = check_positive("gumbel_softmax", "tau", tau)
    dim = check_int("gumbel_softmax", "dim", dim, minimum=-max(logits.ndim, 1), maximum=max(logits.ndim, 1) - 1)
    if eps != 1e-10:
        warnings.warn("gumbel_softmax: the `eps` parameter is deprecated and has no effect (as in PyTorch)",
                      UserWarning, stacklevel=2)
    dtype = logits.dtype if logits.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    gumbels = -np.log(_rng.exponential(_rng.generator(), logits.shape, dtype, 1.0))
    y_soft = ((logits + _wrap(gumbels)) / tau).softmax(dim)
    if not hard:
        return y_soft
    soft = y_soft.numpy()
    y_hard = np.zeros_like(soft)
    np.put_along_axis(y_hard, np.expand_dims(soft.argmax(axis=dim), dim), 1, axis=dim)
    # PyTorch's order: (1 - y) + y and (0 - y) + y are exactly 1 and 0 in floating point, and only the
    # last term carries a gradient.
    return _wrap(y_hard) - y_soft.detach() + y_soft


class GELU(Module):
    """Gaussian error linear unit: x * Phi(x), Phi the standard normal CDF (Hendrycks and Gimpel, 2016).

    Args:
        approximate: ``'none'`` (erf, exact) or ``'tanh'`` (the tanh approximation).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.GELU()(tg.zeros(3)).tolist()
        [0.0, 0.0, 0.0]
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = check_choice("GELU", "approximate", approximate, ("none", "tanh"))

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """Sigmoid linear unit (swish): x * sigmoid(x).

    Args:
        inplace: accepted for PyTorch's signature; a new tensor is returned.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.SiLU()(tg.zeros(2)).tolist()
        [0.0, 0.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return silu(input)


class Softplus(Module):
    """Softplus: log(1 + exp(beta x)) / beta, and x where beta x > threshold (a smooth ReLU).

    Args:
        beta: the sharpness (larger is closer to ReLU).
        threshold: above beta x > threshold the output is x.

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.Softplus(beta=2.0)(tg.tensor([0.0])).tolist()]
        [0.3466]
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = check_number("Softplus", "beta", beta)
        if self.beta == 0:
            raise ValueError("Softplus: beta must be a finite non-zero number, got 0")
        self.threshold = check_number("Softplus", "threshold", threshold)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(Module):
    """Exponential linear unit: x if x > 0, else alpha * (exp(x) - 1) (Clevert et al., 2015).

    Args:
        alpha: the value approached as x -> -inf is -alpha.
        inplace: accepted for PyTorch's signature; a new tensor is returned.

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.ELU(alpha=2.0)(tg.tensor([-1.0, 1.0])).tolist()]
        [-1.2642, 1.0]
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = check_number("ELU", "alpha", alpha)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
