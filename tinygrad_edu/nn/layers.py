"""Layers: `Linear`, activations, `Dropout`, `Flatten`, `Identity`; `Sequential`, `ModuleList`, `ModuleDict`."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .._checks import check_int, check_probability
from ..dtypes import get_default_dtype
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = [
    "Linear", "ReLU", "Tanh", "Sigmoid", "LeakyReLU", "Softmax", "LogSoftmax", "Dropout",
    "Flatten", "Identity", "Sequential", "ModuleList", "ModuleDict",
]


class Linear(Module):
    """y = x W^T + b, the fully connected layer.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: whether to learn the additive bias b.
        dtype: the parameters' dtype (the default float dtype if omitted).

    Shapes: input (*, in_features) -> output (*, out_features); ``weight`` is
    (out_features, in_features), as in PyTorch. Initialised as PyTorch does:
    W and b uniform on (-1/sqrt(in_features), 1/sqrt(in_features)).

    Example:
        >>> import tinygrad_edu as tg
        >>> layer = tg.nn.Linear(3, 2)
        >>> layer(tg.randn(5, 3)).shape
        (5, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = check_int("Linear", "in_features", in_features, minimum=0)
        self.out_features = check_int("Linear", "out_features", out_features, minimum=0)
        dtype = dtype or get_default_dtype()
        # Tensor(..., dtype=) keeps the requested dtype (bare float arrays become the default dtype).
        self.weight = Parameter(Tensor(np.zeros((out_features, in_features)), dtype=dtype))
        self.bias = Parameter(Tensor(np.zeros(out_features), dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) for W, i.e. U(±1/sqrt(fan_in)), and the same for b."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.shape[-1:] != (self.in_features,):
            from ..tensor import ShapeError

            raise ShapeError(f"Linear: expected input of shape (*, {self.in_features}), got {input.shape}")
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """max(x, 0).

    ``inplace`` is accepted so PyTorch code runs; the result is computed out
    of place either way (the same numbers, and the input keeps its values).
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.relu()

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """tanh(x)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.tanh()


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.sigmoid()


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x (``inplace`` accepted, computed out of place as `ReLU`)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


def _implicit_softmax_dim(name: str, ndim: int) -> int:
    """PyTorch's choice when ``dim`` is omitted (deprecated there too): 0 for 0-, 1- and 3-d input, else 1."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated (as in PyTorch). Change the call "
                  f"to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """softmax along ``dim`` (``dim=None``: PyTorch's deprecated implicit choice, with its warning)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        dim = self.dim if self.dim is not None else _implicit_softmax_dim("softmax", input.ndim)
        return input.softmax(dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along ``dim`` (``dim=None`` as `Softmax`)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        dim = self.dim if self.dim is not None else _implicit_softmax_dim("log_softmax", input.ndim)
        return input.log_softmax(dim)


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        check_probability("Dropout", "p", p)
        self.p = p

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge dimensions ``start_dim`` to ``end_dim`` (by default all but the batch dimension)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input


class _ModuleSequence(Module):
    """What `Sequential` and `ModuleList` share: modules registered under "0", "1", ..."""

    def append(self, module: Module) -> _ModuleSequence:
        """Add ``module`` at the end."""
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)._from_list(modules[index])
        return modules[index]


class Sequential(_ModuleSequence):
    """Modules applied one after another; indexable, iterable and sized.

    Example:
        >>> from tinygrad_edu import nn
        >>> model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
        >>> len(model), type(model[1]).__name__
        (3, 'ReLU')
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(module).__name__}, not a Module")
                self.add_module(str(i), module)

    @classmethod
    def _from_list(cls, modules: list[Module]) -> Sequential:
        return cls(*modules)

    def forward(self, input: Any) -> Any:  # noqa: A002
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (a plain list's would not be)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    @classmethod
    def _from_list(cls, modules: list[Module]) -> ModuleList:
        return cls(modules)


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, keeping insertion order (as ``torch.nn.ModuleDict``).

    Example:
        >>> from tinygrad_edu import nn
        >>> heads = nn.ModuleDict({"mean": nn.Linear(4, 1), "logvar": nn.Linear(4, 1)})
        >>> list(heads), [name for name, _ in heads.named_parameters()][:2]
        (['mean', 'logvar'], ['mean.weight', 'mean.bias'])
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: the value for {key!r} is a {type(module).__name__}, not a Module")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]
        object.__delattr__(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        """The names, in insertion order."""
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        """``(name, module)`` pairs, in insertion order."""
        return self._modules.items()

    def pop(self, key: str) -> Module:
        """Remove ``key`` and return its module."""
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every module."""
        for key in list(self._modules):
            del self[key]

    def update(self, modules: Any) -> None:
        """Add modules from a mapping or from ``(name, module)`` pairs (existing names are replaced)."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"ModuleDict.update expects a mapping or (name, module) pairs, got {pair!r}")
            self[pair[0]] = pair[1]
