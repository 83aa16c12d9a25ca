"""Every differentiable Tensor operation, checked four independent ways.

For each case in ``CASES`` (one operation, one way of calling it):

- the forward value against a NumPy transcription of the operation;
- the gradient against central finite differences of that NumPy transcription,
  in float64, computed by ``central_diff`` below (written here, independent of
  the library);
- the gradient with the library's own ``tg.gradcheck``;
- values and gradients against PyTorch, when it is installed.

Then the conventions at kinks and ties that only PyTorch defines (relu'(0) = 0,
abs'(0) = 0, inclusive clip bounds, ties of ``max()``/``maximum``, ``max(dim)``
routing to the returned index), numerical stability, and hypothesis property
tests over broadcastable shapes and reduction dims, compared with PyTorch.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg

F64 = np.float64
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])




# ---------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------


def central_diff(f: Callable[..., float], arrays: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """Gradient of the scalar ``f(*arrays)`` w.r.t. each array by central differences (float64)."""
    arrays = [np.array(a, dtype=F64) for a in arrays]
    grads = []
    for x in arrays:
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            original = x[idx]
            x[idx] = original + eps
            plus = f(*arrays)
            x[idx] = original - eps
            minus = f(*arrays)
            x[idx] = original
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_logsumexp(x: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def to_torch(torch: Any, arrays: list[np.ndarray], requires_grad: bool = True) -> list[Any]:
    return [torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad) for a in arrays]


def leaves(arrays: list[np.ndarray], dtype: Any = F64) -> list[tg.Tensor]:
    return [tg.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]


# ---------------------------------------------------------------------------
# Input generators (kept away from kinks, so finite differences are meaningful)
# ---------------------------------------------------------------------------


def uniform(low: float, high: float) -> Callable:
    return lambda rng, shape: rng.uniform(low, high, shape)


def away_from(points: tuple[float, ...], low: float = -2.0, high: float = 2.0, gap: float = 0.05) -> Callable:
    def make(rng: np.random.Generator, shape: tuple) -> np.ndarray:
        x = rng.uniform(low, high, shape)
        for p in points:
            near = np.abs(x - p) < gap
            x[near] = p + np.where(x[near] >= p, gap, -gap) * 2
        return x

    return make


NONZERO = away_from((0.0,))
POSITIVE = uniform(0.5, 2.0)
ANY = uniform(-2.0, 2.0)


@dataclass
class Case:
    """One way of calling one operation, with its NumPy and PyTorch counterparts."""

    id: str
    tg_fn: Callable
    np_fn: Callable
    torch_fn: Callable | None
    shapes: list[tuple]
    make: list[Callable] | Callable = ANY
    fd_tol: float = 1e-6

    def inputs(self) -> list[np.ndarray]:
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        makers = self.make if isinstance(self.make, list) else [self.make] * len(self.shapes)
        return [np.asarray(m(rng, s), dtype=F64) for m, s in zip(makers, self.shapes)]


def same(fn: Callable) -> tuple[Callable, Callable, Callable]:
    """An expression that reads the same for tg tensors, NumPy arrays and torch tensors."""
    return fn, fn, fn


# Constant arrays for the "NumPy array on either side" cases.
C4 = np.array([0.3, -1.7, 2.1, 0.45], dtype=F64)
C34 = np.linspace(-1.3, 2.2, 12, dtype=F64).reshape(3, 4)
C45 = np.linspace(-0.7, 1.9, 20, dtype=F64).reshape(4, 5)
CPOS4 = np.array([0.5, 1.25, 2.0, 0.8], dtype=F64)
MASK34 = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, False]])
COND34 = np.array([[True, False, True, False], [False, True, True, False], [True, True, False, False]])
COND31 = np.array([[True], [False], [True]])


CASES: list[Case] = [
    # -- binary arithmetic -----------------------------------------------------
    Case("add", *same(lambda a, b: a + b), [(3, 4), (3, 4)]),
    Case("add_bcast_col_row", *same(lambda a, b: a + b), [(3, 1), (1, 4)]),
    Case("add_bcast_leading", *same(lambda a, b: a + b), [(2, 3, 4), (4,)]),
    Case("add_bcast_0d", *same(lambda a, b: a + b), [(), (2, 3)]),
    Case("add_scalar_right", *same(lambda a: a + 2.5), [(3, 4)]),
    Case("add_scalar_left", *same(lambda a: 2.5 + a), [(3, 4)]),
    Case("add_int_scalar", *same(lambda a: a + 3), [(3,)]),
    Case("add_array_right", lambda a: a + C4, lambda a: a + C4, "lambda a: a + T(C4)", [(3, 4)]),
    Case("add_array_left", lambda a: C4 + a, lambda a: C4 + a, "lambda a: T(C4) + a", [(3, 4)]),
    Case("add_list_right", lambda a: a + [1.0, -2.0, 0.5, 4.0], lambda a: a + np.array([1.0, -2.0, 0.5, 4.0]),
         "lambda a: a + T(np.array([1.0, -2.0, 0.5, 4.0]))", [(2, 4)]),
    Case("sub", *same(lambda a, b: a - b), [(3, 4), (3, 4)]),
    Case("sub_bcast", *same(lambda a, b: a - b), [(4,), (3, 1)]),
    Case("sub_scalar_right", *same(lambda a: a - 1.5), [(5,)]),
    Case("rsub_scalar", *same(lambda a: 1.5 - a), [(5,)]),
    Case("rsub_array", lambda a: C34 - a, lambda a: C34 - a, "lambda a: T(C34) - a", [(4,)]),
    Case("mul", *same(lambda a, b: a * b), [(3, 4), (3, 4)]),
    Case("mul_bcast", *same(lambda a, b: a * b), [(2, 1, 4), (3, 1)]),
    Case("mul_scalar_right", *same(lambda a: a * -3.0), [(2, 3)]),
    Case("mul_scalar_left", *same(lambda a: 0.5 * a), [(2, 3)]),
    Case("mul_array_left", lambda a: C34 * a, lambda a: C34 * a, "lambda a: T(C34) * a", [(3, 1)]),
    Case("mul_self", *same(lambda a: a * a), [(4,)]),
    Case("div", *same(lambda a, b: a / b), [(3, 4), (3, 4)], [ANY, POSITIVE]),
    Case("div_bcast", *same(lambda a, b: a / b), [(3, 1), (4,)], [ANY, POSITIVE]),
    Case("div_scalar_right", *same(lambda a: a / 4.0), [(3,)]),
    Case("rdiv_scalar", *same(lambda a: 2.0 / a), [(3, 2)], POSITIVE),
    Case("rdiv_array", lambda a: C4 / a, lambda a: C4 / a, "lambda a: T(C4) / a", [(2, 4)], POSITIVE),
    Case("pow_tensor_tensor", *same(lambda a, b: a**b), [(3, 4), (3, 4)], [POSITIVE, ANY]),
    Case("pow_bcast", *same(lambda a, b: a**b), [(3, 1), (4,)], [POSITIVE, ANY]),
    Case("pow_int_exponent", *same(lambda a: a**3), [(2, 3)]),
    Case("pow_float_exponent", *same(lambda a: a**2.5), [(2, 3)], POSITIVE),
    Case("pow_negative_exponent", *same(lambda a: a**-1.5), [(4,)], POSITIVE),
    Case("rpow_scalar_base", *same(lambda a: 2.0**a), [(2, 3)]),
    Case("rpow_array_base", lambda a: CPOS4**a, lambda a: CPOS4**a, "lambda a: T(CPOS4) ** a", [(3, 4)]),
    Case("pow_method", lambda a: a.pow(2.0), lambda a: a**2.0, lambda a: a.pow(2.0), [(3,)]),
    Case("pow_function", lambda a: tg.pow(a, 3.0), lambda a: a**3.0, "lambda a: torch.pow(a, 3.0)", [(3,)]),
    Case("neg", *same(lambda a: -a), [(3, 4)]),
    Case("neg_then_add", *same(lambda a, b: -a + b), [(3,), (2, 3)]),
    # -- matmul ----------------------------------------------------------------
    Case("matmul_2d", *same(lambda a, b: a @ b), [(3, 4), (4, 5)]),
    Case("matmul_1d_1d", *same(lambda a, b: a @ b), [(4,), (4,)]),
    Case("matmul_1d_2d", *same(lambda a, b: a @ b), [(4,), (4, 5)]),
    Case("matmul_2d_1d", *same(lambda a, b: a @ b), [(3, 4), (4,)]),
    Case("matmul_batched", *same(lambda a, b: a @ b), [(2, 3, 4), (2, 4, 5)]),
    Case("matmul_batch_bcast", *same(lambda a, b: a @ b), [(2, 1, 3, 4), (5, 4, 2)]),
    Case("matmul_2d_batched", *same(lambda a, b: a @ b), [(3, 4), (2, 4, 5)]),
    Case("matmul_1d_batched", *same(lambda a, b: a @ b), [(4,), (2, 4, 5)]),
    Case("matmul_batched_1d", *same(lambda a, b: a @ b), [(2, 3, 4), (4,)]),
    Case("matmul_array_left", lambda a: C34 @ a, lambda a: C34 @ a, "lambda a: T(C34) @ a", [(4, 2)]),
    Case("matmul_array_right", lambda a: a @ C45, lambda a: a @ C45, "lambda a: a @ T(C45)", [(3, 4)]),
    Case("matmul_method", lambda a, b: a.matmul(b), np.matmul, "torch.matmul", [(3, 4), (4, 2)]),
    Case("matmul_function", tg.matmul, np.matmul, "torch.matmul", [(2, 3, 4), (4, 2)]),
    # -- maximum / minimum (continuous random inputs: no ties) ----------------
    Case("maximum", tg.maximum, np.maximum, "torch.maximum", [(3, 4), (3, 4)]),
    Case("maximum_bcast", tg.maximum, np.maximum, "torch.maximum", [(3, 1), (1, 4)]),
    Case("maximum_method", lambda a, b: a.maximum(b), np.maximum, "torch.maximum", [(4,), (2, 4)]),
    Case("maximum_scalar", lambda a: tg.maximum(a, 0.3), lambda a: np.maximum(a, 0.3),
         "lambda a: torch.clamp(a, min=0.3)", [(2, 5)], away_from((0.3,))),
    Case("maximum_scalar_left", lambda a: tg.maximum(0.3, a), lambda a: np.maximum(0.3, a),
         "lambda a: torch.clamp(a, min=0.3)", [(2, 5)], away_from((0.3,))),
    Case("maximum_array", lambda a: tg.maximum(a, C4), lambda a: np.maximum(a, C4),
         "lambda a: torch.maximum(a, T(C4))", [(3, 4)]),
    Case("minimum", tg.minimum, np.minimum, "torch.minimum", [(3, 4), (3, 4)]),
    Case("minimum_bcast", tg.minimum, np.minimum, "torch.minimum", [(2, 1, 4), (3, 1)]),
    Case("minimum_method", lambda a, b: a.minimum(b), np.minimum, "torch.minimum", [(4,), (4,)]),
    Case("minimum_scalar", lambda a: tg.minimum(a, -0.2), lambda a: np.minimum(a, -0.2),
         "lambda a: torch.clamp(a, max=-0.2)", [(6,)], away_from((-0.2,))),
    Case("minimum_array_left", lambda a: tg.minimum(C4, a), lambda a: np.minimum(C4, a),
         "lambda a: torch.minimum(T(C4), a)", [(3, 4)]),
    # -- unary -----------------------------------------------------------------
    Case("exp", lambda a: a.exp(), np.exp, "torch.exp", [(3, 4)]),
    Case("exp_function", tg.exp, np.exp, "torch.exp", [(5,)]),
    Case("log", lambda a: a.log(), np.log, "torch.log", [(3, 4)], POSITIVE),
    Case("log_function", tg.log, np.log, "torch.log", [(5,)], uniform(0.1, 5.0)),
    Case("log1p", lambda a: a.log1p(), np.log1p, "torch.log1p", [(3, 4)], uniform(-0.9, 3.0)),
    Case("log1p_function", tg.log1p, np.log1p, "torch.log1p", [(5,)], uniform(-0.5, 0.5)),
    Case("sqrt", lambda a: a.sqrt(), np.sqrt, "torch.sqrt", [(3, 4)], POSITIVE),
    Case("sqrt_function", tg.sqrt, np.sqrt, "torch.sqrt", [(5,)], uniform(0.2, 9.0)),
    Case("tanh", lambda a: a.tanh(), np.tanh, "torch.tanh", [(3, 4)]),
    Case("tanh_function", tg.tanh, np.tanh, "torch.tanh", [(5,)]),
    Case("sigmoid", lambda a: a.sigmoid(), np_sigmoid, "torch.sigmoid", [(3, 4)], uniform(-6, 6)),
    Case("sigmoid_function", tg.sigmoid, np_sigmoid, "torch.sigmoid", [(5,)]),
    Case("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), "torch.relu", [(3, 4)], NONZERO),
    Case("relu_function", tg.relu, lambda a: np.maximum(a, 0), "torch.relu", [(6,)], NONZERO),
    Case("abs", lambda a: a.abs(), np.abs, "torch.abs", [(3, 4)], NONZERO),
    Case("abs_function", tg.abs, np.abs, "torch.abs", [(6,)], NONZERO),
    Case("abs_builtin", abs, np.abs, "torch.abs", [(6,)], NONZERO),
    Case("sin", lambda a: a.sin(), np.sin, "torch.sin", [(3, 4)], uniform(-4, 4)),
    Case("sin_function", tg.sin, np.sin, "torch.sin", [(5,)]),
    Case("cos", lambda a: a.cos(), np.cos, "torch.cos", [(3, 4)], uniform(-4, 4)),
    Case("cos_function", tg.cos, np.cos, "torch.cos", [(5,)]),
    Case("clip", lambda a: a.clip(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5),
         "lambda a: torch.clamp(a, -0.5, 0.5)", [(4, 5)], away_from((-0.5, 0.5), -1, 1)),
    Case("clip_min_only", lambda a: a.clip(min=0.2), lambda a: np.maximum(a, 0.2),
         "lambda a: torch.clamp(a, min=0.2)", [(10,)], away_from((0.2,), -1, 1)),
    Case("clip_max_only", lambda a: a.clip(max=0.2), lambda a: np.minimum(a, 0.2),
         "lambda a: torch.clamp(a, max=0.2)", [(10,)], away_from((0.2,), -1, 1)),
    Case("clip_function", lambda a: tg.clip(a, -1.0, 1.0), lambda a: np.clip(a, -1.0, 1.0),
         "lambda a: torch.clamp(a, -1.0, 1.0)", [(10,)], away_from((-1.0, 1.0))),
    Case("clamp_alias", lambda a: tg.clamp(a, -1.0, 1.0), lambda a: np.clip(a, -1.0, 1.0),
         "lambda a: torch.clamp(a, -1.0, 1.0)", [(10,)], away_from((-1.0, 1.0))),
    # -- reductions ------------------------------------------------------------
    Case("sum_all", lambda a: a.sum(), np.sum, "lambda a: a.sum()", [(3, 4)]),
    Case("sum_dim", lambda a: a.sum(1), lambda a: a.sum(axis=1), "lambda a: a.sum(1)", [(3, 4)]),
    Case("sum_dim_negative", lambda a: a.sum(dim=-1), lambda a: a.sum(axis=-1), "lambda a: a.sum(dim=-1)",
         [(2, 3, 4)]),
    Case("sum_dim_tuple", lambda a: a.sum(dim=(0, 2)), lambda a: a.sum(axis=(0, 2)),
         "lambda a: a.sum(dim=(0, 2))", [(2, 3, 4)]),
    Case("sum_keepdim", lambda a: a.sum(0, keepdim=True), lambda a: a.sum(axis=0, keepdims=True),
         "lambda a: a.sum(0, keepdim=True)", [(3, 4)]),
    Case("sum_axis_keepdims_alias", lambda a: a.sum(axis=1, keepdims=True), lambda a: a.sum(axis=1, keepdims=True),
         "lambda a: a.sum(1, keepdim=True)", [(3, 4)]),
    Case("sum_function", lambda a: tg.sum(a, 0), lambda a: a.sum(axis=0), "lambda a: torch.sum(a, 0)", [(3, 4)]),
    Case("mean_all", lambda a: a.mean(), np.mean, "lambda a: a.mean()", [(3, 4)]),
    Case("mean_dim", lambda a: a.mean(dim=0), lambda a: a.mean(axis=0), "lambda a: a.mean(dim=0)", [(3, 4)]),
    Case("mean_dim_tuple_keepdim", lambda a: a.mean((1, 2), keepdim=True),
         lambda a: a.mean(axis=(1, 2), keepdims=True), "lambda a: a.mean((1, 2), keepdim=True)", [(2, 3, 4)]),
    Case("mean_axis_alias", lambda a: a.mean(axis=-1), lambda a: a.mean(axis=-1), "lambda a: a.mean(-1)",
         [(3, 4)]),
    Case("mean_function", lambda a: tg.mean(a, 1), lambda a: a.mean(axis=1), "lambda a: torch.mean(a, 1)",
         [(3, 4)]),
    Case("var_all_default_unbiased", lambda a: a.var(), lambda a: np.var(a, ddof=1), "lambda a: a.var()", [(3, 4)]),
    Case("var_dim", lambda a: a.var(1), lambda a: np.var(a, axis=1, ddof=1), "lambda a: a.var(1)", [(3, 4)]),
    Case("var_correction_0", lambda a: a.var(0, correction=0), lambda a: np.var(a, axis=0),
         "lambda a: a.var(0, correction=0)", [(3, 4)]),
    Case("var_correction_2", lambda a: a.var(dim=1, correction=2), lambda a: np.var(a, axis=1, ddof=2),
         "lambda a: a.var(dim=1, correction=2)", [(3, 5)]),
    Case("var_unbiased_false", lambda a: a.var(unbiased=False), lambda a: np.var(a),
         "lambda a: a.var(unbiased=False)", [(3, 4)]),
    Case("var_keepdim", lambda a: a.var(1, keepdim=True), lambda a: np.var(a, axis=1, ddof=1, keepdims=True),
         "lambda a: a.var(1, keepdim=True)", [(3, 4)]),
    Case("var_dim_tuple", lambda a: a.var(dim=(0, 2)), lambda a: np.var(a, axis=(0, 2), ddof=1),
         "lambda a: a.var(dim=(0, 2))", [(2, 3, 4)]),
    Case("var_axis_keepdims_alias", lambda a: a.var(axis=0, keepdims=True),
         lambda a: np.var(a, axis=0, ddof=1, keepdims=True), "lambda a: a.var(0, keepdim=True)", [(3, 4)]),
    Case("var_function", lambda a: tg.var(a, 0), lambda a: np.var(a, axis=0, ddof=1), "lambda a: torch.var(a, 0)",
         [(4, 2)]),
    Case("std", lambda a: a.std(1), lambda a: np.std(a, axis=1, ddof=1), "lambda a: a.std(1)", [(3, 4)]),
    Case("max_all", lambda a: a.max(), np.max, "lambda a: a.max()", [(3, 4)]),
    Case("max_dim_values", lambda a: a.max(1).values, lambda a: a.max(axis=1), "lambda a: a.max(1).values",
         [(3, 4)]),
    Case("max_dim_tuple_unpack", lambda a: a.max(dim=0)[0], lambda a: a.max(axis=0),
         "lambda a: a.max(dim=0)[0]", [(3, 4)]),
    Case("max_dim_keepdim", lambda a: a.max(0, keepdim=True).values, lambda a: a.max(axis=0, keepdims=True),
         "lambda a: a.max(0, keepdim=True).values", [(3, 4)]),
    Case("max_axis_alias", lambda a: a.max(axis=-1).values, lambda a: a.max(axis=-1),
         "lambda a: a.max(-1).values", [(2, 3, 4)]),
    Case("max_function", lambda a: tg.max(a), np.max, "torch.max", [(5,)]),
    Case("min_all", lambda a: a.min(), np.min, "lambda a: a.min()", [(3, 4)]),
    Case("min_dim_values", lambda a: a.min(1).values, lambda a: a.min(axis=1), "lambda a: a.min(1).values",
         [(3, 4)]),
    Case("min_dim_keepdim", lambda a: a.min(dim=1, keepdim=True).values, lambda a: a.min(axis=1, keepdims=True),
         "lambda a: a.min(dim=1, keepdim=True).values", [(3, 4)]),
    Case("min_function", lambda a: tg.min(a, 0).values, lambda a: a.min(axis=0), "lambda a: torch.min(a, 0).values",
         [(3, 4)]),
    Case("amax_all", lambda a: a.amax(), np.max, "lambda a: a.amax()", [(3, 4)]),
    Case("amax_dim", lambda a: a.amax(1), lambda a: a.max(axis=1), "lambda a: a.amax(1)", [(3, 4)]),
    Case("amax_dim_tuple_keepdim", lambda a: a.amax((0, 2), keepdim=True), lambda a: a.max(axis=(0, 2), keepdims=True),
         "lambda a: a.amax((0, 2), keepdim=True)", [(2, 3, 4)]),
    Case("amax_function", lambda a: tg.amax(a, 0), lambda a: a.max(axis=0), "lambda a: torch.amax(a, 0)", [(3, 4)]),
    Case("amin_dim", lambda a: a.amin(-1), lambda a: a.min(axis=-1), "lambda a: a.amin(-1)", [(3, 4)]),
    Case("amin_function", lambda a: tg.amin(a, (0, 1)), lambda a: a.min(axis=(0, 1)),
         "lambda a: torch.amin(a, (0, 1))", [(2, 3, 4)]),
    # -- softmax family --------------------------------------------------------
    Case("softmax_last", lambda a: a.softmax(-1), lambda a: np_softmax(a, -1), "lambda a: a.softmax(-1)", [(3, 4)]),
    Case("softmax_dim0", lambda a: a.softmax(0), lambda a: np_softmax(a, 0), "lambda a: a.softmax(0)", [(3, 4)]),
    Case("softmax_3d", lambda a: tg.softmax(a, dim=1), lambda a: np_softmax(a, 1),
         "lambda a: torch.softmax(a, dim=1)", [(2, 3, 4)]),
    Case("log_softmax_last", lambda a: a.log_softmax(-1), lambda a: np.log(np_softmax(a, -1)),
         "lambda a: a.log_softmax(-1)", [(3, 4)]),
    Case("log_softmax_dim0", lambda a: tg.log_softmax(a, 0), lambda a: np.log(np_softmax(a, 0)),
         "lambda a: torch.log_softmax(a, 0)", [(3, 4)]),
    Case("logsumexp", lambda a: a.logsumexp(1), lambda a: np_logsumexp(a, 1), "lambda a: a.logsumexp(1)",
         [(3, 4)]),
    Case("logsumexp_keepdim", lambda a: a.logsumexp(0, keepdim=True), lambda a: np_logsumexp(a, 0, True),
         "lambda a: a.logsumexp(0, keepdim=True)", [(3, 4)]),
    Case("logsumexp_function", lambda a: tg.logsumexp(a, -1), lambda a: np_logsumexp(a, -1),
         "lambda a: torch.logsumexp(a, -1)", [(2, 3, 4)]),
    # -- shape and movement ----------------------------------------------------
    Case("reshape", lambda a: a.reshape(4, 3), lambda a: a.reshape(4, 3), "lambda a: a.reshape(4, 3)", [(3, 4)]),
    Case("reshape_tuple_minus1", lambda a: a.reshape((2, -1)), lambda a: a.reshape(2, -1),
         "lambda a: a.reshape((2, -1))", [(3, 4)]),
    Case("reshape_function", lambda a: tg.reshape(a, (-1,)), lambda a: a.reshape(-1),
         "lambda a: torch.reshape(a, (-1,))", [(2, 3, 2)]),
    Case("view", lambda a: a.view(2, 6), lambda a: a.reshape(2, 6), "lambda a: a.view(2, 6)", [(3, 4)]),
    Case("flatten", lambda a: a.flatten(), lambda a: a.reshape(-1), "lambda a: a.flatten()", [(2, 3, 4)]),
    Case("flatten_start1", lambda a: a.flatten(1), lambda a: a.reshape(2, -1), "lambda a: a.flatten(1)",
         [(2, 3, 4)]),
    Case("flatten_0_1", lambda a: tg.flatten(a, 0, 1), lambda a: a.reshape(6, 4),
         "lambda a: torch.flatten(a, 0, 1)", [(2, 3, 4)]),
    Case("squeeze_all", lambda a: a.squeeze(), lambda a: a.squeeze(), "lambda a: a.squeeze()", [(3, 1, 4, 1)]),
    Case("squeeze_dim", lambda a: a.squeeze(1), lambda a: a.squeeze(1), "lambda a: a.squeeze(1)", [(3, 1, 4, 1)]),
    Case("squeeze_dim_not_one", lambda a: a.squeeze(0), lambda a: a, "lambda a: a.squeeze(0)", [(3, 1, 4)]),
    Case("squeeze_function", lambda a: tg.squeeze(a, -1), lambda a: a.squeeze(-1),
         "lambda a: torch.squeeze(a, -1)", [(3, 1, 4, 1)]),
    Case("unsqueeze0", lambda a: a.unsqueeze(0), lambda a: a[None], "lambda a: a.unsqueeze(0)", [(3, 4)]),
    Case("unsqueeze_last", lambda a: a.unsqueeze(-1), lambda a: a[..., None], "lambda a: a.unsqueeze(-1)",
         [(3, 4)]),
    Case("unsqueeze_function", lambda a: tg.unsqueeze(a, 1), lambda a: a[:, None],
         "lambda a: torch.unsqueeze(a, 1)", [(3, 4)]),
    Case("transpose", lambda a: a.transpose(0, 1), lambda a: a.T, "lambda a: a.transpose(0, 1)", [(3, 4)]),
    Case("transpose_3d", lambda a: a.transpose(0, -1), lambda a: a.swapaxes(0, -1), "lambda a: a.transpose(0, -1)",
         [(2, 3, 4)]),
    Case("transpose_function", lambda a: tg.transpose(a, 1, 2), lambda a: a.swapaxes(1, 2),
         "lambda a: torch.transpose(a, 1, 2)", [(2, 3, 4)]),
    Case("permute", lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), "lambda a: a.permute(2, 0, 1)",
         [(2, 3, 4)]),
    Case("permute_tuple", lambda a: a.permute((1, 2, 0)), lambda a: a.transpose(1, 2, 0),
         "lambda a: a.permute((1, 2, 0))", [(2, 3, 4)]),
    Case("permute_function", lambda a: tg.permute(a, (0, 2, 1)), lambda a: a.transpose(0, 2, 1),
         "lambda a: torch.permute(a, (0, 2, 1))", [(2, 3, 4)]),
    Case("T_2d", lambda a: a.T, lambda a: a.T, "lambda a: a.T", [(3, 4)]),
    Case("T_1d", lambda a: a.T, lambda a: a.T, "lambda a: a.permute(0)", [(4,)]),
    Case("T_3d", lambda a: a.T, lambda a: a.T, "lambda a: a.permute(2, 1, 0)", [(2, 3, 4)]),
    Case("expand", lambda a: a.expand(3, 4), lambda a: np.broadcast_to(a, (3, 4)), "lambda a: a.expand(3, 4)",
         [(3, 1)]),
    Case("expand_new_dims", lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)),
         "lambda a: a.expand(2, 3, 4)", [(3, 1)]),
    Case("expand_minus1_tuple", lambda a: a.expand((-1, 5)), lambda a: np.broadcast_to(a, (3, 5)),
         "lambda a: a.expand((-1, 5))", [(3, 1)]),
    # -- joining and selecting ---------------------------------------------------
    Case("cat_dim0", lambda a, b: tg.cat([a, b]), lambda a, b: np.concatenate([a, b]),
         "lambda a, b: torch.cat([a, b])", [(2, 3), (4, 3)]),
    Case("cat_dim1_three", lambda a, b, c: tg.cat([a, b, c], dim=1), lambda a, b, c: np.concatenate([a, b, c], 1),
         "lambda a, b, c: torch.cat([a, b, c], dim=1)", [(2, 1), (2, 3), (2, 2)]),
    Case("cat_dim_negative", lambda a, b: tg.cat((a, b), -1), lambda a, b: np.concatenate([a, b], -1),
         "lambda a, b: torch.cat((a, b), -1)", [(2, 3, 1), (2, 3, 2)]),
    Case("cat_same_tensor_twice", lambda a: tg.cat([a, a * 2.0]), lambda a: np.concatenate([a, a * 2.0]),
         "lambda a: torch.cat([a, a * 2.0])", [(3,)]),
    Case("stack_dim0", lambda a, b, c: tg.stack([a, b, c]), lambda a, b, c: np.stack([a, b, c]),
         "lambda a, b, c: torch.stack([a, b, c])", [(2, 3), (2, 3), (2, 3)]),
    Case("stack_dim1", lambda a, b: tg.stack([a, b], dim=1), lambda a, b: np.stack([a, b], 1),
         "lambda a, b: torch.stack([a, b], dim=1)", [(2, 3), (2, 3)]),
    Case("stack_dim_last", lambda a, b: tg.stack((a, b), -1), lambda a, b: np.stack([a, b], -1),
         "lambda a, b: torch.stack((a, b), -1)", [(4,), (4,)]),
    Case("where", lambda a, b: tg.where(tg.tensor(COND34), a, b), lambda a, b: np.where(COND34, a, b),
         "lambda a, b: torch.where(T(COND34), a, b)", [(3, 4), (3, 4)]),
    Case("where_bcast", lambda a, b: tg.where(COND31, a, b), lambda a, b: np.where(COND31, a, b),
         "lambda a, b: torch.where(T(COND31), a, b)", [(1, 4), (3, 1)]),
    Case("where_scalar_other", lambda a: tg.where(COND34, a, 0.0), lambda a: np.where(COND34, a, 0.0),
         "lambda a: torch.where(T(COND34), a, 0.0)", [(3, 4)]),
    Case("where_scalar_input", lambda b: tg.where(COND34, -1.5, b), lambda b: np.where(COND34, -1.5, b),
         "lambda b: torch.where(T(COND34), -1.5, b)", [(4,)]),
    Case("where_from_comparison", lambda a: tg.where(a > 0, a * a, -a), lambda a: np.where(a > 0, a * a, -a),
         "lambda a: torch.where(a > 0, a * a, -a)", [(3, 4)], NONZERO),
    # -- composites: a value used along several paths ---------------------------
    Case("composite_mlp", lambda x, w, b: ((x @ w + b).tanh() ** 2).mean(1),
         lambda x, w, b: (np.tanh(x @ w + b) ** 2).mean(1), "lambda x, w, b: ((x @ w + b).tanh() ** 2).mean(1)",
         [(3, 4), (4, 2), (2,)]),
    Case("composite_reuse", lambda a: a * a.exp() - a.sin() / (1.0 + a * a),
         lambda a: a * np.exp(a) - np.sin(a) / (1.0 + a * a),
         "lambda a: a * a.exp() - a.sin() / (1.0 + a * a)", [(2, 3)]),
]


def _index_case(id_: str, index: Any, shape: tuple = (3, 4), make: Callable = ANY) -> Case:
    """``x[index]``; the same index (converted for torch) goes to NumPy and PyTorch."""

    def np_index(i: Any) -> Any:
        if isinstance(i, tuple):
            return tuple(np_index(j) for j in i)
        if isinstance(i, tg.Tensor):
            return i.numpy()
        return i

    def torch_index(i: Any) -> Any:
        import torch

        if isinstance(i, tuple):
            return tuple(torch_index(j) for j in i)
        if isinstance(i, tg.Tensor):
            return torch.from_numpy(i.numpy())
        if isinstance(i, np.ndarray):
            return torch.from_numpy(i)
        return i

    return Case(f"index_{id_}", lambda a: a[index], lambda a: a[np_index(index)],
                lambda a: a[torch_index(index)], [shape], make)


INDEX_CASES = [
    _index_case("int", 1),
    _index_case("negative_int", -1),
    _index_case("int_int", (2, -3)),
    _index_case("slice", slice(1, 3)),
    _index_case("slice_step", (slice(None, None, 2), slice(1, None))),
    _index_case("column", (slice(None), 1)),
    _index_case("none", None),
    _index_case("none_mid", (slice(None), None, slice(1, 3))),
    _index_case("ellipsis", (Ellipsis, 1)),
    _index_case("ellipsis_3d", (1, Ellipsis, None), (2, 3, 4)),
    _index_case("int_list_repeated", [0, 0, 2, 0]),
    _index_case("int_array_repeated", np.array([2, 0, 2, 2])),
    _index_case("int_array_2d_repeated", np.array([[0, 1], [1, 1]])),
    _index_case("negative_int_array", np.array([-1, 0, -1])),
    _index_case("int_tensor_repeated", tg.tensor([1, 1, 1])),
    _index_case("pairs_repeated", ([0, 0, 1], [1, 1, 3])),
    _index_case("column_array_repeated", (slice(None), np.array([3, 3, 0]))),
    _index_case("int_and_array", (1, [0, 0, 2])),
    _index_case("bool_mask", MASK34),
    _index_case("bool_mask_tensor", tg.tensor(MASK34)),
    _index_case("bool_rows", np.array([True, False, True])),
    _index_case("bool_mask_3d_leading", np.array([[True, False, True], [False, True, True]]), (2, 3, 4)),
]

ALL_CASES = CASES + INDEX_CASES
CASE_IDS = [c.id for c in ALL_CASES]


def _torch_fn(case: Case, torch: Any) -> Callable:
    """Turn a case's torch spec (a callable, or source text naming torch) into a function."""
    if callable(case.torch_fn):
        return case.torch_fn
    namespace = {**globals(), "torch": torch, "np": np, "T": torch.from_numpy}
    return eval(case.torch_fn, namespace)  # noqa: S307 - fixed strings written in this file


def _weights(shape: tuple, seed: int = 1) -> np.ndarray:
    """A non-uniform upstream gradient, so every output element's contribution is visible."""
    return np.random.default_rng(seed).standard_normal(shape)


def test_every_case_has_a_unique_id():
    assert len(set(CASE_IDS)) == len(CASE_IDS)


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_forward_matches_numpy_float64(case: Case):
    arrays = case.inputs()
    out = case.tg_fn(*leaves(arrays))
    expected = np.asarray(case.np_fn(*arrays))
    assert isinstance(out, tg.Tensor)
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert out.requires_grad


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_forward_and_grad_dtype_float32(case: Case):
    """With float32 inputs (the default dtype) results and gradients stay float32."""
    arrays = case.inputs()
    tensors = [tg.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    assert all(t.dtype == np.float32 for t in tensors)
    out = case.tg_fn(*tensors)
    expected = np.asarray(case.np_fn(*[a.astype(np.float32).astype(F64) for a in arrays]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=2e-5, atol=2e-5)
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_grad_matches_central_differences(case: Case):
    arrays = case.inputs()
    tensors = leaves(arrays)
    out = case.tg_fn(*tensors)
    weights = _weights(out.shape)
    out.backward(weights)

    def loss(*xs: np.ndarray) -> float:
        return float(np.sum(weights * case.np_fn(*xs)))

    numeric = central_diff(loss, arrays)
    for t, g in zip(tensors, numeric):
        assert t.grad is not None, f"{case.id}: no gradient reached an input"
        assert t.grad.shape == t.shape
        assert t.grad.dtype == np.float64
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-5, atol=case.fd_tol)


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_gradcheck(case: Case):
    assert tg.gradcheck(case.tg_fn, *leaves(case.inputs())) is True


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_matches_torch_values_and_grads(case: Case, torch: Any):
    arrays = case.inputs()
    tensors = leaves(arrays)
    out = case.tg_fn(*tensors)
    torch_inputs = to_torch(torch, arrays)
    torch_out = _torch_fn(case, torch)(*torch_inputs)
    assert out.shape == tuple(torch_out.shape)
    np.testing.assert_allclose(out.numpy(), torch_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = _weights(out.shape)
    out.backward(weights)
    torch_out.backward(torch.from_numpy(weights))
    for t, tt in zip(tensors, torch_inputs):
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# Reflected operators and operand types
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, expected",
    [
        (lambda x: 10.0 - x, lambda a: 10.0 - a),
        (lambda x: 10.0 / x, lambda a: 10.0 / a),
        (lambda x: 2.0**x, lambda a: 2.0**a),
        (lambda x: 3 * x, lambda a: 3 * a),
        (lambda x: 3 + x, lambda a: 3 + a),
        (lambda x: np.array([1.0, 2.0, 4.0]) - x, lambda a: np.array([1.0, 2.0, 4.0]) - a),
        (lambda x: np.array([1.0, 2.0, 4.0]) / x, lambda a: np.array([1.0, 2.0, 4.0]) / a),
        (lambda x: np.array([1.0, 2.0, 4.0]) ** x, lambda a: np.array([1.0, 2.0, 4.0]) ** a),
        (lambda x: np.eye(3) @ x, lambda a: np.eye(3) @ a),
    ],
)
def test_reflected_operators_return_tensors_with_gradients(expr: Callable, expected: Callable):
    a = np.array([0.5, 1.5, 2.5])
    x = tg.tensor(a, dtype=F64, requires_grad=True)
    out = expr(x)
    assert isinstance(out, tg.Tensor), "an ndarray/number on the left must hand over to Tensor's reflected operator"
    np.testing.assert_allclose(out.numpy(), expected(a), rtol=1e-12)
    out.sum().backward()
    (numeric,) = central_diff(lambda v: float(np.sum(expected(v))), [a])
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_float64_tensor_with_float64_array_keeps_full_precision():
    x = tg.tensor([1.0, 3.0], dtype=F64)
    c = np.array([0.1, 1 / 3])
    for out in (x * c, c * x, x + c, tg.maximum(x, c + 2.0), x @ c):
        assert out.dtype == np.float64
    np.testing.assert_array_equal((x * c).numpy(), np.array([1.0, 3.0]) * c)
    np.testing.assert_array_equal((c + x).numpy(), c + np.array([1.0, 3.0]))


def test_binary_ops_on_int_tensors():
    a, b = tg.tensor([7, -3, 4]), tg.tensor([2, 2, 3])
    for out, expected in ((a + b, [9, -1, 7]), (a - b, [5, -5, 1]), (a * b, [14, -6, 12]), (a**b, [49, 9, 64])):
        assert out.dtype == np.int64
        assert out.tolist() == expected
    quotient = a / b
    assert quotient.dtype == np.float32  # true division, as torch.div
    np.testing.assert_allclose(quotient.numpy(), np.array([3.5, -1.5, 4 / 3]), rtol=1e-6)


# ---------------------------------------------------------------------------
# PyTorch's conventions at kinks and ties (known values and PyTorch itself)
# ---------------------------------------------------------------------------


def _grad_of(fn: Callable, values: list, weights: Any = None) -> tuple[np.ndarray, np.ndarray]:
    x = tg.tensor(values, dtype=F64, requires_grad=True)
    out = fn(x)
    if weights is None:
        out.sum().backward()
    else:
        out.backward(weights)
    return out.numpy(), x.grad.numpy()


def _torch_grad_of(torch: Any, fn: Callable, values: list, weights: Any = None) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    out = fn(x)
    if weights is None:
        out.sum().backward()
    else:
        out.backward(torch.tensor(weights, dtype=torch.float64))
    return out.detach().numpy(), x.grad.numpy()


KINKS = [
    ("relu_at_0", lambda x: x.relu(), lambda x: x.relu(), [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
    ("abs_at_0", lambda x: x.abs(), lambda x: x.abs(), [-1.5, 0.0, 2.0], [-1.0, 0.0, 1.0]),
    ("clip_bounds_inclusive", lambda x: x.clip(-1.0, 1.0), lambda x: x.clamp(-1.0, 1.0),
     [-2.0, -1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0, 0.0]),
    ("clip_min_bound_inclusive", lambda x: x.clip(min=0.0), lambda x: x.clamp(min=0.0), [-1.0, 0.0, 1.0],
     [0.0, 1.0, 1.0]),
    ("max_ties_share", lambda x: x.max(), lambda x: x.max(), [1.0, 3.0, 3.0, 2.0], [0.0, 0.5, 0.5, 0.0]),
    ("max_three_way_tie", lambda x: x.max(), lambda x: x.max(), [5.0, 5.0, 5.0], [1 / 3, 1 / 3, 1 / 3]),
    ("min_ties_share", lambda x: x.min(), lambda x: x.min(), [1.0, -2.0, 4.0, -2.0], [0.0, 0.5, 0.0, 0.5]),
    ("amax_ties_share", lambda x: x.amax(), lambda x: x.amax(), [3.0, 1.0, 3.0], [0.5, 0.0, 0.5]),
    ("amin_ties_share", lambda x: x.amin(), lambda x: x.amin(), [0.0, 0.0, 1.0, 0.0], [1 / 3, 1 / 3, 0.0, 1 / 3]),
    ("maximum_ties_half", lambda x: tg.maximum(x, tg.tensor([1.0, 0.0, 5.0], dtype=F64)),
     lambda x: x.maximum(x.new_tensor([1.0, 0.0, 5.0])), [1.0, 2.0, 3.0], [0.5, 1.0, 0.0]),
    ("minimum_ties_half", lambda x: tg.minimum(x, tg.tensor([1.0, 0.0, 5.0], dtype=F64)),
     lambda x: x.minimum(x.new_tensor([1.0, 0.0, 5.0])), [1.0, 2.0, 3.0], [0.5, 0.0, 1.0]),
    ("maximum_self_tie", lambda x: tg.maximum(x, x), lambda x: torch_maximum(x, x), [1.0, -2.0], [1.0, 1.0]),
    ("pow_2_at_0", lambda x: x**2, lambda x: x**2, [0.0, 1.5], [0.0, 3.0]),
    ("pow_0_at_0", lambda x: x**0, lambda x: x**0, [0.0, 2.0], [0.0, 0.0]),
    ("pow_1_at_0", lambda x: x**1.0, lambda x: x**1.0, [0.0, -2.0], [1.0, 1.0]),
]


def torch_maximum(a: Any, b: Any) -> Any:
    import torch

    return torch.maximum(a, b)


@pytest.mark.parametrize("name, fn, torch_fn, values, expected_grad", KINKS, ids=[k[0] for k in KINKS])
def test_kinks_and_ties_known_values(name: str, fn: Callable, torch_fn: Callable, values: list,
                                     expected_grad: list):
    _, grad = _grad_of(fn, values)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, fn, torch_fn, values, expected_grad", KINKS, ids=[k[0] for k in KINKS])
def test_kinks_and_ties_match_torch(name: str, fn: Callable, torch_fn: Callable, values: list,
                                    expected_grad: list, torch: Any):
    out, grad = _grad_of(fn, values)
    torch_out, torch_grad = _torch_grad_of(torch, torch_fn, values)
    np.testing.assert_allclose(out, torch_out, rtol=1e-12)
    np.testing.assert_allclose(grad, torch_grad, rtol=1e-12, atol=1e-15)


def test_maximum_ties_with_broadcasting_share_gradient(torch: Any):
    a = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 0.0]])
    b = np.array([2.0, 2.0, 3.0])
    ta, tb = leaves([a, b])
    weights = _weights((2, 3))
    tg.maximum(ta, tb).backward(weights)
    pa, pb = to_torch(torch, [a, b])
    torch.maximum(pa, pb).backward(torch.from_numpy(weights))
    np.testing.assert_allclose(ta.grad.numpy(), pa.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), pb.grad.numpy(), rtol=1e-12)
    share = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))
    np.testing.assert_allclose(ta.grad.numpy(), weights * share, rtol=1e-12)


def test_maximum_of_zero_dim_tensors_backpropagates():
    a = tg.tensor(2.0, dtype=F64, requires_grad=True)
    b = tg.tensor(2.0, dtype=F64, requires_grad=True)
    c = tg.tensor(1.0, dtype=F64, requires_grad=True)
    (tg.maximum(a, b) + tg.maximum(a, c) + tg.minimum(b, c)).backward()
    assert a.grad.item() == pytest.approx(1.5)
    assert b.grad.item() == pytest.approx(0.5)
    assert c.grad.item() == pytest.approx(1.0)


def test_max_dim_sends_gradient_to_returned_index(torch: Any):
    values = np.array([[1.0, 3.0, 3.0, 2.0], [4.0, 4.0, 0.0, 4.0], [-1.0, -5.0, -1.0, -7.0]])
    for name in ("max", "min"):
        for dim in (0, 1):
            x = tg.tensor(values, dtype=F64, requires_grad=True)
            result = getattr(x, name)(dim)
            vals, idx = result
            assert result.values is vals and result.indices is idx
            assert idx.dtype == np.int64
            reference = getattr(np, f"arg{name}")(values, axis=dim)
            np.testing.assert_array_equal(idx.numpy(), reference)
            weights = _weights(vals.shape)
            vals.backward(weights)
            expected = np.zeros_like(values)
            np.put_along_axis(expected, np.expand_dims(reference, dim), np.expand_dims(weights, dim), axis=dim)
            np.testing.assert_array_equal(x.grad.numpy(), expected)
            # One nonzero per reduced slice: the gradient is not shared at ties.
            assert ((x.grad.numpy() != 0).sum(axis=dim) == 1).all()

            tx = torch.tensor(values, requires_grad=True)
            tvals, tidx = getattr(tx, name)(dim)
            np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
            tvals.backward(torch.from_numpy(weights))
            np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_max_dim_keepdim_indices_shape():
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4))
    vals, idx = x.max(1, keepdim=True)
    assert vals.shape == (2, 1, 4) and idx.shape == (2, 1, 4)
    np.testing.assert_array_equal(idx.numpy(), np.full((2, 1, 4), 2))
    vals, idx = x.min(axis=-1, keepdims=True)
    assert vals.shape == (2, 3, 1)
    np.testing.assert_array_equal(idx.numpy(), np.zeros((2, 3, 1)))


def test_var_defaults_to_unbiased_like_torch(torch: Any):
    a = np.array([[1.0, 2.0, 4.0, 7.0], [0.5, -1.0, 3.0, 3.0]])
    x = tg.tensor(a, dtype=F64)
    assert x.var().item() == pytest.approx(np.var(a, ddof=1), rel=1e-12)
    assert x.var().item() == pytest.approx(torch.tensor(a).var().item(), rel=1e-12)
    np.testing.assert_allclose(x.var(1).numpy(), torch.tensor(a).var(1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.var(1, correction=0).numpy(), np.var(a, axis=1), rtol=1e-12)
    np.testing.assert_allclose(x.var(1, unbiased=False).numpy(), np.var(a, axis=1), rtol=1e-12)
    np.testing.assert_allclose(x.var(1, unbiased=True).numpy(), np.var(a, axis=1, ddof=1), rtol=1e-12)


def test_var_known_value():
    # 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32.
    x = tg.tensor([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], dtype=F64, requires_grad=True)
    v = x.var()
    assert v.item() == pytest.approx(32 / 7)
    v.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (x.numpy() - 5.0) / 7, rtol=1e-12)
    assert x.var(correction=0).item() == pytest.approx(4.0)


# ---------------------------------------------------------------------------
# Numerical stability
# ---------------------------------------------------------------------------


def test_sigmoid_is_finite_for_huge_inputs(torch: Any):
    values = [-1000.0, -50.0, 0.0, 50.0, 1000.0]
    for dtype in (np.float32, F64):
        x = tg.tensor(values, dtype=dtype, requires_grad=True)
        y = x.sigmoid()
        y.sum().backward()
        assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
        tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        ty = tx.sigmoid()
        ty.sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-30)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_is_stable_for_huge_logits(op: str, torch: Any):
    logits = np.array([[1000.0, 0.0, -1000.0], [-800.0, -800.0, -799.0], [3.0, 2.0, 1.0]])
    x = tg.tensor(logits, dtype=F64, requires_grad=True)
    out = getattr(x, op)(1)
    weights = _weights(out.shape)
    out.backward(weights)
    tx = torch.tensor(logits, requires_grad=True)
    tout = getattr(tx, op)(1)
    tout.backward(torch.from_numpy(weights))
    assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_softmax_rows_sum_to_one_and_log_softmax_is_its_log():
    x = tg.randn(4, 6, dtype=F64)
    s = x.softmax(-1).numpy()
    np.testing.assert_allclose(s.sum(-1), np.ones(4), rtol=1e-12)
    np.testing.assert_allclose(x.log_softmax(-1).numpy(), np.log(s), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.logsumexp(-1).numpy(), np.log(np.exp(x.numpy()).sum(-1)), rtol=1e-12)


# ---------------------------------------------------------------------------
# Indexing details
# ---------------------------------------------------------------------------


def test_repeated_integer_index_gradients_add_up():
    x = tg.tensor([10.0, 20.0, 30.0], requires_grad=True)
    y = x[[0, 0, 2, 0]]
    (y * tg.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 0.0, 3.0])


def test_repeated_index_pairs_gradients_add_up():
    x = tg.zeros(2, 3, requires_grad=True)
    x[[1, 1, 0, 1], [2, 2, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]])


def test_boolean_mask_from_comparison_selects_and_routes_gradient():
    a = np.array([[-1.0, 2.0], [3.0, -4.0]])
    x = tg.tensor(a, requires_grad=True)
    picked = x[x > 0]
    np.testing.assert_array_equal(picked.numpy(), [2.0, 3.0])
    (picked * picked).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 4.0], [6.0, 0.0]])


def test_iterating_a_tensor_yields_differentiable_rows():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    total = None
    for i, row in enumerate(x):
        term = row.sum() * (i + 1)
        total = term if total is None else total + term
    total.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [2.0, 2.0]])


# ---------------------------------------------------------------------------
# Hypothesis: broadcastable shapes and reduction dims, compared with PyTorch
# ---------------------------------------------------------------------------

BINARY_OPS = {
    "add": (lambda a, b: a + b, None),
    "sub": (lambda a, b: a - b, None),
    "mul": (lambda a, b: a * b, None),
    "div": (lambda a, b: a / b, "positive_b"),
    "pow": (lambda a, b: a**b, "positive_a"),
    "maximum": ("maximum", None),
    "minimum": ("minimum", None),
    "where": ("where", None),
}


def _apply_binary(name: str, lib: Any, a: Any, b: Any, cond: np.ndarray) -> Any:
    fn, _ = BINARY_OPS[name]
    if callable(fn):
        return fn(a, b)
    if fn == "where":
        return lib.where(cond if lib is tg else lib.from_numpy(cond), a, b)
    return getattr(lib, fn)(a, b)


def _binary_inputs(name: str, shapes: tuple, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, shapes[0])
    b = rng.uniform(-2, 2, shapes[1])
    domain = BINARY_OPS[name][1]
    if domain == "positive_b":
        b = np.abs(b) + 0.5
    if domain == "positive_a":
        a = np.abs(a) + 0.5
    cond = np.asarray(rng.random(np.broadcast_shapes(shapes[0], shapes[1])) > 0.5)  # an array even when 0-d
    return a, b, cond


@HYPOTHESIS
@given(
    name=st.sampled_from(sorted(BINARY_OPS)),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4),
    seed=st.integers(0, 2**16),
)
def test_property_binary_broadcasting_matches_torch(name: str, shapes: Any, seed: int):
    torch = pytest.importorskip("torch")
    a, b, cond = _binary_inputs(name, shapes.input_shapes, seed)
    ta, tb = leaves([a, b])
    out = _apply_binary(name, tg, ta, tb, cond)
    pa, pb = to_torch(torch, [a, b])
    pout = _apply_binary(name, torch, pa, pb, cond)
    assert out.shape == shapes.result_shape == tuple(pout.shape)
    np.testing.assert_allclose(out.numpy(), pout.detach().numpy(), rtol=1e-12, atol=1e-14)
    weights = _weights(out.shape, seed)
    out.backward(weights)
    pout.backward(torch.from_numpy(weights))
    for t, p in ((ta, pa), (tb, pb)):
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12)


@HYPOTHESIS
@given(
    name=st.sampled_from(["add", "sub", "mul", "div", "pow", "rsub", "rdiv", "rpow", "maximum", "minimum"]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4),
    scalar=st.floats(0.25, 3.0) | st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_property_python_scalar_operands_match_torch(name: str, shape: tuple, scalar: Any, seed: int):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, shape)
    fns = {
        "add": lambda x: x + scalar, "sub": lambda x: x - scalar, "mul": lambda x: x * scalar,
        "div": lambda x: x / scalar, "pow": lambda x: x**scalar, "rsub": lambda x: scalar - x,
        "rdiv": lambda x: scalar / x, "rpow": lambda x: scalar**x,
        "maximum": lambda x: x.maximum(x.new_tensor(scalar) if hasattr(x, "new_tensor") else scalar),
        "minimum": lambda x: x.minimum(x.new_tensor(scalar) if hasattr(x, "new_tensor") else scalar),
    }
    (ta,) = leaves([a])
    out = fns[name](ta)
    (pa,) = to_torch(torch, [a])
    pout = fns[name](pa)
    assert out.dtype == np.float64 and out.shape == tuple(pout.shape)
    np.testing.assert_allclose(out.numpy(), pout.detach().numpy(), rtol=1e-12)
    weights = _weights(out.shape, seed)
    out.backward(weights)
    pout.backward(torch.from_numpy(weights))
    np.testing.assert_allclose(ta.grad.numpy(), pa.grad.numpy(), rtol=1e-10, atol=1e-12)


REDUCTIONS = ["sum", "mean", "var0", "var1", "amax", "amin", "max_dim", "min_dim", "logsumexp", "softmax",
              "log_softmax", "max_all", "min_all"]


@st.composite
def reduction_cases(draw: Any) -> tuple[str, tuple, Any, bool]:
    name = draw(st.sampled_from(REDUCTIONS))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    single = st.integers(-ndim, ndim - 1)
    if name in ("sum", "mean", "var0", "var1", "amax", "amin"):
        several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)
        dim = draw(st.none() | single | several)
    elif name in ("max_all", "min_all"):
        dim = None
    else:
        dim = draw(single)
    return name, shape, dim, draw(st.booleans())


def _reduce(lib: Any, x: Any, name: str, dim: Any, keepdim: bool) -> Any:
    is_tg = isinstance(x, tg.Tensor)
    if name in ("sum", "mean"):
        if dim is None:
            return getattr(x, name)()
        return getattr(x, name)(dim, keepdim=keepdim)
    if name in ("var0", "var1"):
        correction = int(name[-1])
        if dim is None:
            return x.var(correction=correction)
        return x.var(dim, keepdim=keepdim, correction=correction)
    if name in ("amax", "amin"):
        if dim is None:
            return getattr(x, name)() if is_tg else getattr(x, name)(dim=tuple(range(x.ndim)))
        return getattr(x, name)(dim, keepdim=keepdim)
    if name in ("max_dim", "min_dim"):
        return getattr(x, name[:3])(dim, keepdim=keepdim)[0]
    if name in ("max_all", "min_all"):
        return getattr(x, name[:3])()
    if name == "logsumexp":
        return x.logsumexp(dim, keepdim=keepdim)
    return getattr(x, name)(dim)


# A variance over fewer elements than ``correction`` is nan in both libraries (with warnings).
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@HYPOTHESIS
@given(case=reduction_cases(), seed=st.integers(0, 2**16))
def test_property_reductions_match_torch(case: tuple, seed: int):
    torch = pytest.importorskip("torch")
    name, shape, dim, keepdim = case
    a = np.random.default_rng(seed).standard_normal(shape)
    (ta,) = leaves([a])
    (pa,) = to_torch(torch, [a])
    out = _reduce(tg, ta, name, dim, keepdim)
    pout = _reduce(torch, pa, name, dim, keepdim)
    assert out.shape == tuple(pout.shape), (name, shape, dim, keepdim)
    np.testing.assert_allclose(out.numpy(), pout.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = _weights(out.shape, seed)
    out.backward(weights)
    pout.backward(torch.from_numpy(weights))
    np.testing.assert_allclose(ta.grad.numpy(), pa.grad.numpy(), rtol=1e-9, atol=1e-12)


@HYPOTHESIS
@given(
    batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3),
    mnk=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    vector=st.sampled_from(["none", "left", "right", "both"]),
    seed=st.integers(0, 2**16),
)
def test_property_matmul_matches_torch(batch: Any, mnk: tuple, vector: str, seed: int):
    torch = pytest.importorskip("torch")
    m, n, k = mnk
    shape_a = (k,) if vector in ("left", "both") else batch.input_shapes[0] + (m, k)
    shape_b = (k,) if vector in ("right", "both") else batch.input_shapes[1] + (k, n)
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    ta, tb = leaves([a, b])
    pa, pb = to_torch(torch, [a, b])
    out, pout = ta @ tb, pa @ pb
    assert out.shape == tuple(pout.shape) == np.matmul(a, b).shape
    np.testing.assert_allclose(out.numpy(), pout.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = _weights(out.shape, seed)
    out.backward(weights)
    pout.backward(torch.from_numpy(weights))
    np.testing.assert_allclose(ta.grad.numpy(), pa.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), pb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_zero_dim_tensor_formats_like_its_number_and_indexes_a_list():
    loss = tg.tensor(0.123456)
    assert f"{loss:.4f}" == "0.1235" and f"{loss:8.2e}" == f"{0.123456:8.2e}"
    names = ["a", "b", "c"]
    assert names[tg.tensor([0.1, 0.9, 0.3]).argmax()] == "b"
    assert names[tg.tensor(2)] == "c"
    with pytest.raises(TypeError, match="integer tensors of a single element"):
        names[tg.tensor(1.0)]
    torch = pytest.importorskip("torch")
    assert f"{torch.tensor(0.123456):.4f}" == f"{loss:.4f}"
    assert names[torch.tensor([0.1, 0.9, 0.3]).argmax()] == "b"


def test_mean_divides_as_pytorch_to_the_last_bit():
    """The mean is the sum divided by n (not times 1/n): an accuracy of 92 of 100 is 0.92000002, PyTorch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for n in (3, 7, 100, 1000):
        right = (rng.random(n) < 0.9).astype(np.float32)  # sums of 0s and 1s are exact in any order
        x, xt = tg.tensor(right, requires_grad=True), torch.tensor(right, requires_grad=True)
        assert x.mean().item() == xt.mean().item()
        x.mean().backward()
        xt.mean().backward()
        np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
        values = rng.standard_normal(n).astype(np.float32)
        assert tg.tensor(values).mean().item() == np.float32(values.sum()) / np.float32(n)
