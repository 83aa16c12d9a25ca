"""Function forms of the tensor operations: ``tg.exp(t)`` is ``t.exp()``, and so on.

PyTorch offers both spellings; so does this library. Each function accepts a
Tensor (or anything `tg.tensor` accepts) and calls the method of the same name.
"""

from __future__ import annotations

from typing import Any

from .tensor import Tensor, _as_tensor

__all__ = [
    "exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "clip", "clamp",
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    "softmax", "log_softmax", "logsumexp", "reshape", "flatten", "squeeze", "unsqueeze",
    "transpose", "permute", "pow",
]


def _method(name: str):  # noqa: ANN202 - builds the functions below
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002 - PyTorch's name
        return getattr(_as_tensor(input), name)(*args, **kwargs)

    method = getattr(Tensor, name)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``tg.{name}(t, ...)`` is ``t.{name}(...)``: {method.__doc__}"
    return function


exp = _method("exp")
log = _method("log")
log1p = _method("log1p")
sqrt = _method("sqrt")
tanh = _method("tanh")
sigmoid = _method("sigmoid")
relu = _method("relu")
abs = _method("abs")  # noqa: A001 - PyTorch's name
sin = _method("sin")
cos = _method("cos")
clip = _method("clip")
clamp = _method("clip")
sum = _method("sum")  # noqa: A001
mean = _method("mean")
var = _method("var")
std = _method("std")
max = _method("max")  # noqa: A001
min = _method("min")  # noqa: A001
amax = _method("amax")
amin = _method("amin")
argmax = _method("argmax")
argmin = _method("argmin")
softmax = _method("softmax")
log_softmax = _method("log_softmax")
logsumexp = _method("logsumexp")
reshape = _method("reshape")
flatten = _method("flatten")
squeeze = _method("squeeze")
unsqueeze = _method("unsqueeze")
transpose = _method("transpose")
permute = _method("permute")
pow = _method("pow")  # noqa: A001
