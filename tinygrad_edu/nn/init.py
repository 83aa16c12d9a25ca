"""Weight initialisation, as ``torch.nn.init``: each function fills a tensor in place.

Why initialisation matters (the sources' remedy for vanishing and exploding
gradients): a layer's output variance is fan_in * Var(w) * Var(x). Choosing
Var(w) = 1/fan_in (times a gain for the activation) keeps signals, and so
gradients, at the same scale through a deep network.

- Xavier/Glorot (tanh, sigmoid): Var(w) = gain^2 * 2 / (fan_in + fan_out).
- Kaiming/He (ReLU): Var(w) = gain^2 / fan, with gain = sqrt(2) for ReLU.

Every draw comes from the library's generator (or a ``generator=``) by
PyTorch's own recipes (`tinygrad_edu.rng`), and each bound or standard
deviation is computed with PyTorch's formula, operation for operation, so after
the same seed a layer's initial weights are PyTorch's, bit for bit. The array
object inside the tensor is kept (values are copied in).
"""

from __future__ import annotations

import math

import numpy as np

from .. import rng as _rng
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "zeros_", "ones_", "constant_", "normal_", "uniform_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_",
]


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    np.copyto(tensor.numpy(), values, casting="unsafe")
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation, as in PyTorch (relu: sqrt(2), tanh: 5/3, ...)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid", "identity")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{', '.join(linear + ('tanh', 'relu', 'leaky_relu', 'selu'))}")


def _fans(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return _fill(tensor, np.zeros(tensor.shape))


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return _fill(tensor, np.ones(tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: _rng.Generator | None = None) -> Tensor:
    """Fill with samples of N(mean, std^2) (``Tensor.normal_``'s numbers)."""
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    gen = _rng.check_generator("normal_", generator)
    return _fill(tensor, _draw(tensor, lambda shape, dtype: _rng.normal(gen, shape, dtype, mean, std)))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: _rng.Generator | None = None) -> Tensor:
    """Fill with samples of U(a, b) (``Tensor.uniform_``'s numbers)."""
    if a > b:
        raise ValueError(f"uniform_: need a <= b, got a={a}, b={b}")
    gen = _rng.check_generator("uniform_", generator)
    return _fill(tensor, _draw(tensor, lambda shape, dtype: _rng.uniform(gen, shape, dtype, a, b)))


def _draw(tensor: Tensor, draw: object) -> np.ndarray:
    """``draw(shape, dtype)`` in the tensor's dtype (float32 for other float dtypes, then rounded)."""
    dtype = tensor.dtype if tensor.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    return draw(tensor.shape, dtype)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: _rng.Generator | None = None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    Computed as PyTorch does, std = gain * sqrt(2 / (fan_in + fan_out)) and a = sqrt(3) * std, so the
    bound, and with it every value, is PyTorch's to the last bit.
    """
    fan_in, fan_out = _fans(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: _rng.Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: _rng.Generator | None = None) -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015); ``a`` is the leaky slope."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: _rng.Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan) (He et al., 2015)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: _rng.Generator | None = None) -> Tensor:
    """N(mean, std^2) truncated to [a, b], by rejection, as ``torch.nn.init.trunc_normal_`` (PyTorch 2.x).

    When [a, b] holds more than 30% of the normal's mass: draw N(mean, std^2) for every element, then
    redraw a full tensor and take its values where the current ones fall outside [a, b], until none
    do -- PyTorch's numbers, bit for bit. Otherwise: candidates U(a, b), each accepted when
    log(U(0, 1)) <= -((x - mean) / std)^2 / 2 - log_peak, rejected ones redrawn together; the draws
    are PyTorch's, the acceptance test is NumPy's arithmetic, so a value exactly at the threshold
    could be decided differently (not seen in practice).
    """
    def norm_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    gen = _rng.check_generator("trunc_normal_", generator)
    dtype = tensor.dtype if tensor.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    mass = norm_cdf((b - mean) / std) - norm_cdf((a - mean) / std)
    if mass > 0.3:
        low, high = dtype.type(a), dtype.type(b)  # the bounds in the tensor's dtype, as PyTorch compares
        result = _rng.normal(gen, tensor.shape, dtype, mean, std)
        while True:
            outside = (result < low) | (result > high)
            if not outside.any():
                break
            result = np.where(outside, _rng.normal(gen, tensor.shape, dtype, mean, std), result)
        return _fill(tensor, result)
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2

    def log_density(x: np.ndarray) -> np.ndarray:
        scaled = (x - dtype.type(mean)) / dtype.type(std)
        return (scaled * scaled) * dtype.type(-0.5) - dtype.type(log_peak)

    def rejected(x: np.ndarray) -> np.ndarray:
        return np.log(_rng.uniform(gen, tensor.shape, dtype, 0.0, 1.0)) > log_density(x)

    result = _rng.uniform(gen, tensor.shape, dtype, a, b)
    pending = rejected(result)
    while pending.any():
        candidates = _rng.uniform(gen, tensor.shape, dtype, a, b)
        result = np.where(pending, candidates, result)
        pending = np.where(pending, rejected(candidates), pending)
    return _fill(tensor, result)
