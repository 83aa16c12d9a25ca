"""Primitive operations: each a `Node` with ``forward`` directly above ``backward``.

Every class here is one rule of calculus. ``forward`` works on NumPy arrays and
saves what the derivative needs; ``backward`` receives ``grad_out`` = dL/d(out)
and returns dL/d(input) for each input by the chain rule,
dL/dx = dL/d(out) * d(out)/dx.

Gradients may come back in the broadcast shape; the engine
(`tinygrad_edu.autograd.unbroadcast`) sums them down to each input's shape, so
no operation here deals with broadcasting. Everything else in the library
(``mean``, ``var``, losses, layers) is composed from these.

The operations live in themed modules, re-exported here so that every op is
``ops.Name``: `elementwise` (+, *, exp, relu, ...), `reduce` (sum, max),
`shape` (reshape, permute, indexing, cat, expand, where, cast), `linalg`
(matmul, linear), `attention` (scaled dot-product attention, one node) and
`fused` (softmax, log-softmax, logsumexp, sigmoid, softplus, nll_loss: fused
for numerical stability). A new family of
operations (convolution, a fused recurrent step) gets a module of its own.

Where the NumPy form of an op needs many passes over memory or many small
calls (max pooling, im2col and col2im, an LSTM step's gate arithmetic, a
layer norm's rows, attention's softmax, ReLU on large arrays, an embedding's
scatter-add), the op also has a compiled fast path in `kernels` (numba), tested
against the NumPy form, which stays the readable reference and runs whenever
numba's JIT is off (``NUMBA_DISABLE_JIT=1``). `_fast.compiled` makes the choice.

At the edges of floating point the ops give PyTorch's values and gradients
(log(0) = -inf, sqrt'(0) = inf, softmax of a row of -inf = nan, the mean of
nothing = nan) and, like PyTorch, say nothing: the ops that turn finite
inputs into inf or nan (division, log, sqrt, pow, exp, the softmax family)
compute inside `_quiet.quiet`. Where the library is noisier than PyTorch:
add, subtract and multiply let NumPy warn when given inf - inf or 0 * inf.
"""

from __future__ import annotations

from .activation import ELU, GELU, SiLU, SoftplusThreshold
from .attention import PackedSelfAttention, ScaledDotProductAttention
from .conv import AdaptiveAvgPool2d, AvgPool2d, ConvNd, MaxPool2d
from .einsum import Einsum
from .elementwise import Abs, Add, Clip, Cos, Div, Exp, Log, Log1p, Maximum, Mul, Neg, Pow, Relu, Sin, Sqrt, Sub, Tanh
from .fused import LogSoftmax, LogSumExp, NLLLoss, Sigmoid, Softmax, Softplus
from .indexing import AsStrided, CumProd, CumSum, Gather, Pad, Prod, Repeat, Scatter, Triangle, Unfold
from .linalg import Linear, MatMul
from .loss import BinaryCrossEntropy, Huber, KLDiv
from .norm import BatchNorm, Embedding, GroupNorm, LayerNorm, RMSNorm
from .numeric import Exp2, LogBase, VectorNorm
from .reduce import Amax, Mean, SelectAlong, Std, Sum
from .rnn import GRUSequence, LSTMSequence, RNNSequence
from .shape import Cast, Cat, Contiguous, Expand, GetItem, Overwrite, Permute, Reshape, Where

__all__ = [
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Maximum",
    "Neg",
    "Exp",
    "Log",
    "Log1p",
    "Sqrt",
    "Sin",
    "Cos",
    "Tanh",
    "Relu",
    "Abs",
    "Clip",
    "Sum",
    "Mean",
    "Amax",
    "Std",
    "SelectAlong",
    "Reshape",
    "Permute",
    "GetItem",
    "Cat",
    "Where",
    "Overwrite",
    "Expand",
    "Cast",
    "Contiguous",
    "MatMul",
    "Linear",
    "LogSumExp",
    "Softmax",
    "LogSoftmax",
    "Sigmoid",
    "Softplus",
    "NLLLoss",
    "BatchNorm",
    "LayerNorm",
    "GroupNorm",
    "RMSNorm",
    "Embedding",
    "GELU",
    "SiLU",
    "ELU",
    "SoftplusThreshold",
    "BinaryCrossEntropy",
    "Huber",
    "KLDiv",
    "Triangle",
    "Gather",
    "Scatter",
    "Pad",
    "Repeat",
    "Unfold",
    "AsStrided",
    "CumSum",
    "CumProd",
    "Prod",
    "Einsum",
    "LogBase",
    "Exp2",
    "VectorNorm",
    "ScaledDotProductAttention",
    "PackedSelfAttention",
    "RNNSequence",
    "LSTMSequence",
    "GRUSequence",
    "ConvNd",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
]
