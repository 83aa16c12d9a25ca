"""tinygrad_edu: a small automatic-differentiation library for learning gradient descent.

    import tinygrad_edu as tg
    from tinygrad_edu import nn, optim

The API mirrors PyTorch's names, defaults and formulas, so a training loop
written here moves to PyTorch by changing the import.
"""

from __future__ import annotations

from . import (  # factories first: it attaches tg.zeros & co. to Tensor as static methods
    autograd,
    data,
    datasets,
    factories,
    memory,  # keeps freed memory for reuse from here on (see its docstring)
    nn,
    optim,
    surfaces,
    train,
    utils,
)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .device import accelerator, cuda, device
from .dtypes import (
    bool_,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from .factories import (
    arange,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    normal,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    zeros,
    zeros_like,
)
from .functions import (
    abs,
    amax,
    amin,
    argmax,
    argmin,
    as_strided,
    bernoulli,
    chunk,
    clamp,
    clip,
    cos,
    cumsum,
    einsum,
    eq,
    equal,
    exp,
    exp2,
    flatten,
    gather,
    ge,
    gt,
    le,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logsumexp,
    lt,
    masked_fill,
    max,
    mean,
    min,
    multinomial,
    ne,
    norm,
    numel,
    permute,
    pow,
    prod,
    relu,
    reshape,
    scatter,
    scatter_add,
    sigmoid,
    sin,
    softmax,
    split,
    sqrt,
    square,
    squeeze,
    std,
    sum,
    t,
    tanh,
    transpose,
    tril,
    triu,
    unsqueeze,
    var,
)
from .gradcheck import GradcheckError, gradcheck
from .rng import Generator, get_rng_state, initial_seed, manual_seed, set_rng_state
from .serialization import load, save
from .stepthrough import BackwardTrace, NodeCheckReport, backward_steps, gradcheck_nodes
from .tensor import (
    ShapeError,
    Size,
    Tensor,
    cat,
    matmul,
    maximum,
    minimum,
    stack,
    tensor,
    where,
)

__version__ = "0.1.0"

float = float32  # noqa: A001 - PyTorch's aliases, set last: they shadow the builtins in this module
int = int32  # noqa: A001
bool = bool_  # noqa: A001

__all__ = [
    "Tensor", "tensor", "ShapeError", "set_default_dtype", "get_default_dtype", "from_numpy",
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "randn", "rand", "randint",
    "randperm", "arange", "linspace", "eye", "cat", "stack", "where", "matmul", "maximum", "minimum",
    "exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "clip", "clamp",
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "softmax",
    "log_softmax", "logsumexp", "reshape", "flatten", "squeeze", "unsqueeze", "transpose", "permute",
    "pow", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "gradcheck",
    "GradcheckError", "manual_seed", "save", "load", "nn", "optim", "data", "datasets", "train",
    "surfaces",
    "backward_steps", "BackwardTrace", "gradcheck_nodes", "NodeCheckReport",
    "float16", "float32", "float64", "int32", "int64", "uint8", "bool_", "double", "long", "float",
    "half", "short", "int8", "int16",
    "empty", "empty_like", "tril", "triu", "split", "chunk", "gather", "scatter", "scatter_add", "masked_fill",
    "cumsum", "prod", "norm", "as_strided", "log10", "log2", "exp2", "multinomial", "einsum",
    "int", "bool", "autograd", "factories", "device", "cuda", "accelerator", "get_rng_state", "set_rng_state",
    "memory", "Generator", "normal", "initial_seed", "utils",
    "Size", "bernoulli", "eq", "ne", "lt", "le", "gt", "ge", "equal", "square", "t", "numel",
]


def __getattr__(name: str) -> object:
    """Load ``tg.viz`` and ``tg.exercises`` on first use, so ``import tinygrad_edu`` stays light.

    ``tg.viz`` imports matplotlib; ``tg.exercises`` builds its registry of exercises.
    """
    if name in ("viz", "exercises"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
