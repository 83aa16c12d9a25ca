"""`Module` and `Parameter`: the containers a model is built from, as in PyTorch (parameters, buffers, children)."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from .. import autograd
from ..tensor import Tensor

__all__ = ["Module", "Parameter", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A Tensor that is a learnable part of a `Module` (``requires_grad=True`` by default).

    Assigning a Parameter as a module attribute registers it, so it appears in
    ``parameters()`` and ``state_dict()``. Built from a Tensor, it shares that
    tensor's data (as in PyTorch); built from other data, it copies it.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0)
        if isinstance(data, Tensor):
            if requires_grad and data.dtype.kind != "f":
                raise TypeError(f"a Parameter that requires grad must be floating point, got dtype {data.dtype}")
            super().__init__(np.empty(0, dtype=data.dtype))
            self.data = data  # PyTorch's `p.data = t`: the parameter shares t's storage
            self.requires_grad_(requires_grad)
        else:
            super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _device_name(device: Any) -> str:
    """``'cpu'`` for anything that names the CPU; a clear error for any other device."""
    name = device if isinstance(device, str) else getattr(device, "type", None) or str(device)
    if not isinstance(name, str) or name.split(":")[0] != "cpu":
        raise RuntimeError(f"tinygrad_edu runs on the CPU only: cannot move a module to device {device!r} "
                           f"(tg.cuda.is_available() is False; use 'cpu', or write device-agnostic code with "
                           f"device = 'cuda' if tg.cuda.is_available() else 'cpu')")
    return "cpu"


class Module:
    """Base class of every layer and model.

    Subclasses assign `Parameter` and `Module` attributes in ``__init__`` (after
    ``super().__init__()``) and define ``forward``; calling the module calls
    ``forward``. State that is not learned but belongs to the model (running
    statistics, counters) is registered with `register_buffer`.

    Assignment routes as in PyTorch: a `Parameter` is registered as a
    parameter, a `Module` as a child, a Tensor (or ``None``) assigned to a
    registered buffer's name replaces that buffer, and anything else is a plain
    attribute.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn
        >>> class TwoLayer(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = nn.Linear(2, 8)
        ...         self.out = nn.Linear(8, 1)
        ...     def forward(self, x):
        ...         return self.out(self.hidden(x).relu())
        >>> [name for name, _ in TwoLayer().named_parameters()]
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        recorder = autograd._recorder
        if recorder is None or recorder.module_names is None:
            return self.forward(*args, **kwargs)
        # Inside tg.viz.trace_modules: the nodes made by this forward remember this module.
        previous = recorder.enter_module(self)
        try:
            return self.forward(*args, **kwargs)
        finally:
            recorder.exit_module(previous)

    # -- registration -----------------------------------------------------------

    def _registry(self, kind: str) -> Any:
        try:
            return self.__dict__[kind]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning attributes"
            ) from None

    def _forget(self, name: str) -> None:
        """Remove ``name`` from every registry (not from ``__dict__``)."""
        for kind in ("_parameters", "_buffers", "_modules"):
            self.__dict__.get(kind, {}).pop(name, None)
        self.__dict__.get("_non_persistent_buffers_set", set()).discard(name)

    def __setattr__(self, name: str, value: Any) -> None:
        # PyTorch's routing; every refusal is checked before anything is unregistered.
        registries = self.__dict__
        if isinstance(value, Parameter):
            self._registry("_parameters")
            self._forget(name)
            self._parameters[name] = value
        elif name in registries.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                f"(nn.Parameter or None expected)")
            self._parameters[name] = None
        elif isinstance(value, Module):
            self._registry("_modules")
            self._forget(name)
            self._modules[name] = value
        elif name in registries.get("_modules", ()):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                f"(nn.Module or None expected)")
            self._modules[name] = None
        elif name in registries.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                f"(Tensor or None expected)")
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name`` (``None``: a parameter slot left empty, as ``bias=False``)."""
        self._check_new_name("register_parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter '{name}' "
                            f"(nn.Parameter or None expected)")
        self._forget(name)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a Tensor that belongs to the module's state but is not learned (no gradient, no optimizer).

        Buffers move with the module (`to`), are listed by `buffers` /
        `named_buffers`, and, when ``persistent``, are saved by `state_dict`
        and restored by `load_state_dict` (and so by checkpoints, early
        stopping and ``lr_find``). BatchNorm's running mean is the classic
        example. Assigning a Tensor to ``self.name`` later replaces the buffer.

        Args:
            name: the attribute name (no dots).
            tensor: the buffer, or ``None`` (an empty slot, skipped by `state_dict`).
            persistent: whether `state_dict` includes it.

        Raises:
            KeyError: ``name`` is empty, has a dot, or is already an attribute.
            TypeError: ``tensor`` is neither a Tensor nor ``None``.

        Example:
            >>> import tinygrad_edu as tg
            >>> from tinygrad_edu import nn
            >>> class Counter(nn.Module):
            ...     def __init__(self):
            ...         super().__init__()
            ...         self.register_buffer("calls", tg.zeros(()))
            ...     def forward(self, x):
            ...         self.calls += 1
            ...         return x
            >>> m = Counter(); _ = m(tg.ones(2)); _ = m(tg.ones(2))
            >>> m.state_dict()["calls"]
            array(2., dtype=float32)
        """
        self._check_new_name("register_buffer", name, self._registry("_buffers"))
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer '{name}' (Tensor or None expected)")
        self._forget(name)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        object.__setattr__(self, name, tensor)

    def _check_new_name(self, who: str, name: Any, own: dict) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{who}: the name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{who}: the name must be non-empty and contain no '.', got {name!r}")
        if name in self.__dict__ and name not in own:
            raise KeyError(f"{who}: attribute '{name}' already exists")

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name`` (same as assigning the attribute)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module expects a Module, got {type(module).__name__}")
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"add_module: the name must be a non-empty string without '.', got {name!r}")
        self._registry("_modules")
        self._forget(name)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias of `add_module` (PyTorch has both)."""
        self.add_module(name, module)

    def get_submodule(self, target: str) -> Module:
        """The sub-module at the dotted path ``target`` (``''``: this module), e.g. ``'encoder.0'``.

        Raises:
            AttributeError: naming the first part of the path that is not a sub-module.
        """
        module = self
        if target == "":
            return module
        walked = []
        for part in target.split("."):
            child = module._modules.get(part) if isinstance(module, Module) else None
            if child is None:
                where = ".".join(walked) or type(self).__name__
                raise AttributeError(f"{where} has no sub-module `{part}` (looking up {target!r})")
            module = child
            walked.append(part)
        return module

    # -- traversal --------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules with their attribute names."""
        seen: set[int] = set()
        for name, module in self._registry("_modules").items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and every module inside it, depth first, with dotted names (as PyTorch).

        Args:
            memo: ids of modules already listed (to skip them); used internally.
            prefix: put in front of every name.
            remove_duplicate: list a module reachable by several paths only once.
        """
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:  # iterative pre-order, so deep models cannot overflow the stack
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            yield name, module
            children = [(child_name, child) for child_name, child in module._modules.items() if child is not None]
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it."""
        for _, module in self.named_modules():
            yield module

    def _named_members(self, kind: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_name, module in modules:
            for name, member in module.__dict__[kind].items():
                if member is None or (remove_duplicate and id(member) in seen):
                    continue
                seen.add(id(member))
                yield (f"{module_name}.{name}" if module_name else name), member

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (a shared parameter is listed once)."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter, in registration order (what an optimizer is given)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Every buffer (persistent or not) with its dotted name."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer (persistent or not), in registration order."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first, depth first), then on this one; return self.

        The usual way to initialise weights::

            def init_weights(m):
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
            model.apply(init_weights)
        """
        # Iterative post-order (the order of PyTorch's recursive apply), so deep models cannot overflow.
        stack: list[tuple[Module, bool]] = [(self, False)]
        while stack:
            module, children_done = stack.pop()
            if children_done:
                fn(module)
                continue
            stack.append((module, True))
            for child in reversed(list(module.children())):
                stack.append((child, False))
        return self

    # -- modes, gradients, dtypes and devices -----------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode (affects Dropout) on this module and all inside it."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (``False`` freezes the module); return self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (to None, or to zeros in place)."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.numpy()[...] = 0

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move to a device and/or convert floating-point parameters and buffers to a dtype; return self.

        As PyTorch: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``,
        ``to(tensor)`` (that tensor's dtype), keywords ``device=`` and
        ``dtype=``. Only floating-point parameters and buffers change dtype
        (integer counters stay integers); the Parameter objects stay the same,
        so an optimizer built before still holds them. The only device is the
        CPU: any other is a ``RuntimeError``.
        """
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, (str,)) or type(arg).__name__ == "device":
                device = arg
            else:
                dtype = arg
        if device is not None:
            _device_name(device)
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None and param.dtype.kind == "f" and param.dtype != dtype:
                    param.data = Tensor(param.numpy(), dtype=dtype)
                    if param.grad is not None:
                        param.grad = Tensor(param.grad.numpy(), dtype=dtype)
            for name, buffer in module._buffers.items():
                if buffer is not None and buffer.dtype.kind == "f" and buffer.dtype != dtype:
                    setattr(module, name, Tensor(buffer.numpy(), dtype=dtype))
        return self

    def cpu(self) -> Module:
        """Return self: everything already lives on the CPU."""
        return self

    def float(self) -> Module:
        """Convert floating-point parameters and buffers to float32."""
        return self.to(np.float32)

    def double(self) -> Module:
        """Convert floating-point parameters and buffers to float64."""
        return self.to(np.float64)

    # -- state ---------------------------------------------------------------------

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """What `state_dict` holds, as PyTorch orders it: each module's parameters, then its
        persistent buffers, then its children's, depth first; ``None`` slots are skipped."""
        for module_name, module in self.named_modules(prefix=prefix, remove_duplicate=False):
            # PyTorch lists a module reachable by several paths under each of them.
            dotted = module_name + "." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dotted + name, param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers_set:
                    yield dotted + name, buffer

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Any]:
        """A dict from each parameter's and persistent buffer's dotted name to a copy of its array.

        The keys are PyTorch's (``'0.weight'``, ``'bn.running_mean'``), so a
        PyTorch ``state_dict`` converted to arrays loads here, and back.

        Args:
            prefix: put in front of every key, as it is (PyTorch's: ``'net.'`` gives ``'net.weight'``).
            keep_vars: give the Parameter and buffer Tensors themselves
                instead of copies of their arrays (PyTorch's ``keep_vars``).
        """
        items = ((prefix + name, tensor) for name, tensor in self._state_items())
        if keep_vars:
            return OrderedDict(items)
        return OrderedDict((name, tensor.numpy().copy()) for name, tensor in items)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and persistent buffers, in place.

        Every key, shape and dtype is checked before anything changes, so a
        refused load leaves the model exactly as it was. Values are copied into
        the existing arrays (as PyTorch's ``param.copy_``), so an optimizer, or
        a NumPy view of a parameter, keeps seeing the model's values.

        Args:
            state_dict: name -> array (or Tensor), as `state_dict` returns.
            strict: refuse missing and unexpected keys.

        Returns:
            ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a dict, got {type(state_dict).__name__}")
        targets = dict(self._state_items())
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        values = {}
        for name, target in targets.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if not isinstance(value, (Tensor, np.ndarray)):
                # As PyTorch (whose copy_ takes only a Tensor): a list or a string is not silently converted.
                problems.append(f"'{name}' is a {type(value).__name__} in the state dict; expected a Tensor or a "
                                f"NumPy array of shape {target.shape}")
                continue
            array = value.numpy() if isinstance(value, Tensor) else value
            if array.dtype.kind not in "biuf":
                problems.append(f"'{name}' has dtype {array.dtype} in the state dict; expected numbers of dtype "
                                f"{target.dtype}")
            elif array.shape != target.shape:
                problems.append(f"'{name}' has shape {array.shape} in the state dict but {target.shape} in the model")
            elif not np.can_cast(array.dtype, target.dtype, casting="same_kind"):
                problems.append(f"'{name}' has dtype {array.dtype}, which cannot be stored in {target.dtype}")
            else:
                values[name] = array
        if problems:
            raise RuntimeError(
                f"load_state_dict for {type(self).__name__} refused; nothing was changed:\n  " + "\n  ".join(problems)
            )
        for name, array in values.items():
            np.copyto(targets[name].numpy(), array, casting="same_kind")
        return IncompatibleKeys(missing, unexpected)

    # -- printing -----------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        if self.extra_repr():
            lines.append("  " + self.extra_repr())
        for name, child in children:
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines)


