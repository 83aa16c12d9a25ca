"""Elementwise operations: out_i depends on in_i alone (broadcast by NumPy, undone by the engine)."""

from __future__ import annotations

import numpy as np

from ..autograd import Node
from ._fast import ELEMENTWISE_THRESHOLD, compiled
from ._quiet import quiet

# ---------------------------------------------------------------------------
# Binary elementwise
# ---------------------------------------------------------------------------


class Add(Node):
    """out = a + b;  d/da = 1, d/db = 1."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def backward(self, grad_out: np.ndarray) -> tuple:
        return grad_out, grad_out


class Sub(Node):
    """out = a - b;  d/da = 1, d/db = -1."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def backward(self, grad_out: np.ndarray) -> tuple:
        return grad_out, (-grad_out if self.needs_input_grad[1] else None)


class Mul(Node):
    """out = a * b;  d/da = b, d/db = a."""

    saves = ((0, 1), (1, 0))  # each input's value, for the other's gradient

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        return (grad_out * self.b if need_a else None, grad_out * self.a if need_b else None)


class Div(Node):
    """out = a / b;  d/da = 1/b, d/db = -a/b**2, computed as -(a/b)/b.

    As PyTorch: -(a/b)/b stays finite where b*b would underflow to 0 (a = b = 1e-200 gives -1e200, not -inf),
    and division by zero gives inf or nan silently, without NumPy's RuntimeWarning.
    """

    saves = ((0, 1), (1, None))

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        with quiet():
            return a / b

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        with quiet():
            grad_a = grad_out / self.b if need_a else None
            grad_b = -grad_out * (self.a / self.b / self.b) if need_b else None
        return grad_a, grad_b


class Pow(Node):
    """out = a ** b;  d/da = b * a**(b-1), d/db = a**b * log(a)."""

    saves = ((0, None), (1, None))
    saves_output = True

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        with quiet():  # 0**-1 = inf, (-1)**0.5 = nan, silently as in PyTorch
            self.out = a**b
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        a, b = self.a, self.b
        grad_a = grad_b = None
        if need_a and b.ndim == 0 and b >= 1:
            grad_a = grad_out * (b * a ** (b - 1))  # the common x**2: no 0**negative can occur
        elif need_a:
            # PyTorch's rule: an exponent of exactly 0 gives gradient 0 (not 0 * a**-1).
            with quiet():
                grad_a = grad_out * np.where(b == 0, 0, b * a ** (b - 1)).astype(grad_out.dtype, copy=False)
        if need_b:
            # log(a) is undefined for a < 0; PyTorch gives 0 where a == 0 and b >= 0.
            with quiet():
                grad_b = grad_out * np.where((a == 0) & (b >= 0), 0, self.out * np.log(a))
        return grad_a, grad_b


class Maximum(Node):
    """out = max(a, b);  gradient to the larger input, shared half-and-half at ties."""

    saves = ((0, None), (1, None))

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        share_a = np.where(self.a == self.b, 0.5, self.a > self.b).astype(grad_out.dtype, copy=False)
        need_a, need_b = self.needs_input_grad
        return (
            grad_out * share_a if need_a else None,
            grad_out * (1.0 - share_a) if need_b else None,
        )


# ---------------------------------------------------------------------------
# Unary elementwise
# ---------------------------------------------------------------------------


class Neg(Node):
    """out = -x;  d/dx = -1."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (-grad_out,)


class Exp(Node):
    """out = exp(x);  d/dx = exp(x) = out."""

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        with quiet():  # exp(1000) = inf silently, as in PyTorch
            self.out = np.exp(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * self.out,)


class Log(Node):
    """out = log(x);  d/dx = 1/x (log(0) = -inf with gradient inf, log(-1) = nan: silently, as PyTorch)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        with quiet():
            return np.log(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        with quiet():
            return (grad_out / self.x,)


class Log1p(Node):
    """out = log(1 + x), accurate for tiny x;  d/dx = 1/(1 + x)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        with quiet():  # log1p(-1) = -inf, log1p(-2) = nan, silently as in PyTorch
            return np.log1p(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        with quiet():
            return (grad_out / (1 + self.x),)


class Sqrt(Node):
    """out = sqrt(x);  d/dx = 1 / (2 sqrt(x)) (inf at 0, nan below: silently, as PyTorch)."""

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        with quiet():
            self.out = np.sqrt(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        with quiet():
            return (grad_out / (2 * self.out),)


class Sin(Node):
    """out = sin(x);  d/dx = cos(x)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.sin(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * np.cos(self.x),)


class Cos(Node):
    """out = cos(x);  d/dx = -sin(x)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.cos(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (-grad_out * np.sin(self.x),)


class Tanh(Node):
    """out = tanh(x);  d/dx = 1 - tanh(x)**2 = 1 - out**2."""

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * (1 - self.out * self.out),)


class Relu(Node):
    """out = max(x, 0);  d/dx = 1 where out > 0, else 0 (0 at x = 0; NaN passes its gradient, as in PyTorch)."""

    saves_output = True  # as PyTorch, which keeps relu's result

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.fast = fast = compiled() if x.size >= ELEMENTWISE_THRESHOLD and x.dtype.kind == "f" else None
        if fast is not None:  # the same rule in one compiled pass (ops.kernels.relu)
            self.out = np.empty_like(x)
            fast.relu(np.ascontiguousarray(x).reshape(-1), self.out.reshape(-1))
            return self.out
        self.zeroed = x <= 0  # PyTorch's threshold_backward: no gradient where out <= 0 (NaN is not)
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> tuple:
        if self.fast is not None:
            grad_x = np.empty_like(self.out, dtype=np.result_type(grad_out, self.out))
            self.fast.relu_backward(np.ascontiguousarray(np.broadcast_to(grad_out, grad_x.shape)).reshape(-1),
                                     self.out.reshape(-1), grad_x.reshape(-1))
            return (grad_x,)
        return (np.where(self.zeroed, 0, grad_out),)


class Abs(Node):
    """out = |x|;  d/dx = sign(x) (0 at x = 0, as in PyTorch)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.abs(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * np.sign(self.x),)


class Clip(Node):
    """out = min(max(x, low), high);  d/dx = 1 where low <= x <= high, else 0.

    The bounds count as inside, as in PyTorch's ``clamp``.
    """

    saves = ((0, None),)

    def forward(self, x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
        self.inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            self.inside &= x >= low
        if high is not None:
            self.inside &= x <= high
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * self.inside,)
