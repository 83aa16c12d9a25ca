"""`Module` and `Parameter`: the containers a model is built from, as in PyTorch (parameters, buffers, children)."""

from __future__ import annotations

import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import autograd
from ..tensor import Tensor

if TYPE_CHECKING:
    from ..utils.hooks import RemovableHandle

__all__ = ["Module", "Parameter", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

#: The (read-only, empty) hook dict of a module that has none of that kind.
_NO_HOOKS: Mapping = MappingProxyType({})


def _module_label(module: Module) -> str:
    """A module as error notes name it: its class and the arguments its repr shows, ``Linear(in_features=2, ...)``."""
    try:
        extra = module.extra_repr()
    except Exception:  # noqa: BLE001 - a note must never fail
        extra = "..."
    return f"{type(module).__name__}({extra})"


def _module_path(module: Module, max_depth: int = 8) -> str | None:
    """Where ``module`` sits in the model around it, ``"'enc.0' in Net"``, or ``None`` if it has no parent.

    A module does not know its parent, so this asks the garbage collector who
    refers to it (the parent's ``_modules`` dict, held by the parent's
    ``__dict__``). Slow (a scan of all objects per level), so it runs only on
    the error path, to name the module in an error note.
    """
    import gc

    names: list[str] = []
    current = module
    try:
        for _ in range(max_depth):
            parent = None
            for registry in gc.get_referrers(current):
                if not isinstance(registry, OrderedDict):
                    continue
                for holder in gc.get_referrers(registry):
                    if not isinstance(holder, dict) or holder.get("_modules") is not registry:
                        continue
                    for owner in gc.get_referrers(holder):
                        if isinstance(owner, Module) and owner.__dict__ is holder:
                            parent = owner
                            names.append(next(k for k, v in registry.items() if v is current))
                            break
                    if parent is not None:
                        break
                if parent is not None:
                    break
            if parent is None:
                break
            current = parent
    except Exception:  # noqa: BLE001 - a name in a note is a courtesy: never fail because of it
        return None
    if not names:
        return None
    return f"{'.'.join(reversed(names))!r} in {type(current).__name__}"


def _run_hook(hook: Callable[..., Any], kind: str, module: Module, *args: Any) -> Any:
    """``hook(module, *args)``; an error it raises goes on with a note naming the hook and the module."""
    try:
        return hook(module, *args)
    except Exception as err:
        from ..utils.hooks import hook_name  # tinygrad_edu.utils imports nn: imported when needed

        where = _module_path(module)
        err.add_note(f"raised by the {kind} {hook_name(hook)!r} of {_module_label(module)}"
                     + (f" ({where})" if where else ""))
        raise


_HANDLE_CLASS: list = []


def _removable_handle() -> type:
    """`tinygrad_edu.utils.hooks.RemovableHandle`, imported at the first registration (tinygrad_edu.utils
    imports nn, so nn cannot import it at load time) and kept here, since registering is on Inspector's path."""
    if not _HANDLE_CLASS:
        from ..utils.hooks import RemovableHandle

        _HANDLE_CLASS.append(RemovableHandle)
    return _HANDLE_CLASS[0]


def _check_hook(who: str, hook: Any) -> None:
    if not callable(hook):
        raise TypeError(f"{who}: the hook must be callable, got {type(hook).__name__} {hook!r}")


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


class _BackwardHookFunction(autograd.Function):
    """The identity on a module's tensors, whose backward runs the module's backward hooks.

    PyTorch's ``BackwardHookFunction``: with full backward hooks registered, a
    module's positional tensor inputs and its tensor outputs each pass through
    one such node, so the backward walk meets the module twice: at the outputs'
    node (the gradients w.r.t. the outputs are complete: backward pre-hooks
    run) and at the inputs' node (the gradients w.r.t. the inputs are
    complete: backward hooks run). ``on_backward(grads)`` returns the gradients to pass on.
    """

    @staticmethod
    def forward(ctx: Any, on_backward: Callable[[tuple], tuple], *tensors: Tensor) -> tuple:
        ctx.on_backward = on_backward
        ctx.set_materialize_grads(False)  # an output no gradient reached: None (the hooks decide, below)
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx: Any, *grads: Tensor | None) -> tuple:
        return (None, *ctx.on_backward(grads))


class _ModuleBackwardHooks:
    """One call's backward hooks: PyTorch's ``torch.utils.hooks.BackwardHook``, step for step.

    ``grad_input`` and ``grad_output`` are tuples with one entry per positional
    argument / per output (``None`` for non-Tensors; see `Module.register_full_backward_hook`
    for tensors that get no gradient). The pre-hooks run when the gradients w.r.t. the outputs are
    complete and may replace ``grad_output``; the hooks run once the gradients
    w.r.t. the inputs are complete and may replace ``grad_input``.
    """

    def __init__(self, module: Module, hooks: list, pre_hooks: list) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_outputs = -1
        self.output_index: list[int] | None = None
        self.n_inputs = -1
        self.input_index: list[int] | None = None
        self.inputs: list[Tensor] = []

    def _wrap_tensors(self, values: tuple, on_backward: Callable[[tuple], tuple]) -> tuple[tuple, list[int] | None]:
        index = [i for i, value in enumerate(values) if isinstance(value, Tensor)]
        tensors = [values[i] for i in index]
        if not (autograd.is_grad_enabled() and any(t.requires_grad for t in tensors)):
            return values, None
        wrapped = _BackwardHookFunction.apply(on_backward, *tensors)
        new = list(values)
        for i, tensor in zip(index, wrapped):
            new[i] = tensor
        return tuple(new), index

    def setup_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        self.inputs = [a for a in args if isinstance(a, Tensor)]
        args, self.input_index = self._wrap_tensors(args, self._inputs_backward)
        return args

    def setup_outputs(self, result: Any) -> Any:
        is_tuple = isinstance(result, tuple)
        if not (is_tuple or isinstance(result, Tensor)):
            warnings.warn(f"For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                          f"but received {type(result)}", stacklevel=3)
        outputs = result if is_tuple else (result,)
        self.n_outputs = len(outputs)
        outputs, self.output_index = self._wrap_tensors(outputs, self._outputs_backward)
        return outputs if is_tuple else outputs[0]

    @staticmethod
    def _pack(index: list[int] | None, values: tuple, size: int) -> tuple:
        packed: list = [None] * size
        for i, value in zip(index or (), values):
            packed[i] = value
        return tuple(packed)

    def _outputs_backward(self, grads: tuple) -> tuple:
        """At the outputs' node: the gradients w.r.t. the outputs are complete; run the pre-hooks."""
        self.grad_outputs = self._pack(self.output_index, grads, self.n_outputs)
        for hook in self.pre_hooks:
            new = _run_hook(hook, "full backward pre-hook", self.module, self.grad_outputs)
            if new is None:
                continue
            if isinstance(new, Tensor):
                new = (new,)
            self._check_replacement(hook, "pre hook", "grad_output", new, self.grad_outputs, None)
            self.grad_outputs = tuple(new)
        grad_outputs = self.grad_outputs
        if self.input_index is None:
            # As PyTorch: no input needs a gradient, so the hooks fire now, with grad_input all None.
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                          "since no inputs require gradients. See "
                          "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                          "#torch.nn.Module.register_full_backward_hook for more details.", stacklevel=2)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                new = _run_hook(hook, "full backward hook", self.module, grad_inputs, self.grad_outputs)
                if new is not None and not (isinstance(new, tuple) and all(g is None for g in new)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(grad_outputs[i] for i in self.output_index)

    def _inputs_backward(self, grads: tuple) -> tuple:
        """At the inputs' node: the gradients w.r.t. the inputs are complete; run the hooks."""
        if self.grad_outputs is None:
            return grads  # the gradient reached the inputs without passing through the outputs
        # As PyTorch (whose identity node materializes them): a tensor input that got no gradient, or needs
        # none, shows zeros; only non-Tensor arguments show None.
        grads = tuple(Tensor(np.zeros(t.shape, t.dtype)) if g is None else g for g, t in zip(grads, self.inputs))
        grad_inputs = self._pack(self.input_index, grads, self.n_inputs)
        for hook in self.hooks:
            new = _run_hook(hook, "full backward hook", self.module, grad_inputs, self.grad_outputs)
            if new is None:
                continue
            if isinstance(new, Tensor):
                new = (new,)
            self._check_replacement(hook, "hook", "grad_input", new, grad_inputs, self.inputs)
            grad_inputs = tuple(new)
        self.grad_outputs = None
        return tuple(grad_inputs[i] for i in self.input_index)

    def _check_replacement(self, hook: Any, kind: str, what: str, new: Any, old: tuple,
                           tensors: list[Tensor] | None) -> None:
        """A hook's replacement: as many entries as before, each None or a Tensor shaped like the gradient."""
        from ..utils.hooks import hook_name

        label = f"{hook_name(hook)!r} of {_module_label(self.module)}"
        if not isinstance(new, (tuple, list)) or len(new) != len(old):
            count = len(new) if isinstance(new, (tuple, list)) else type(new).__name__
            raise RuntimeError(f"Backward {kind} returned an invalid number of {what}, got {count}, but expected "
                               f"{len(old)} (from {label}; return None or a tuple of one gradient or None per entry)")
        index = self.input_index if tensors is not None else self.output_index
        for i, value in enumerate(new):
            if value is None:
                continue
            if not isinstance(value, Tensor):
                raise TypeError(f"Backward {kind} {label} returned a {type(value).__name__} as {what}[{i}]; "
                                f"expected a Tensor or None")
            reference = old[i]
            if reference is None and tensors is not None and index is not None and i in index:
                reference = tensors[index.index(i)]
            if reference is not None and tuple(value.shape) != tuple(reference.shape):
                raise RuntimeError(f"Backward {kind} {label} returned {what}[{i}] of shape {tuple(value.shape)}, "
                                   f"but it must have shape {tuple(reference.shape)}")


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

    Hooks, as PyTorch's, watch (or change) what passes through a module:
    `register_forward_pre_hook`, `register_forward_hook`,
    `register_full_backward_pre_hook` and `register_full_backward_hook`.

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

    # The hook dicts (id -> hook), as PyTorch's. Empty class-level defaults: a module gets its own
    # OrderedDict at its first registration (`_hook_dict`), so modules without hooks carry none.
    _forward_pre_hooks: Mapping[int, Any] = _NO_HOOKS
    _forward_pre_hooks_with_kwargs: Mapping[int, bool] = _NO_HOOKS
    _forward_hooks: Mapping[int, Any] = _NO_HOOKS
    _forward_hooks_with_kwargs: Mapping[int, bool] = _NO_HOOKS
    _forward_hooks_always_called: Mapping[int, bool] = _NO_HOOKS
    _backward_hooks: Mapping[int, Any] = _NO_HOOKS
    _backward_pre_hooks: Mapping[int, Any] = _NO_HOOKS
    #: Set on a module at its first registration; `_call_with_hooks` clears it once every hook is removed.
    _has_hooks = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The hot path: a module that never had a hook pays one attribute check.
        if self._has_hooks:
            return self._call_with_hooks(args, kwargs)
        recorder = autograd._recorder
        if recorder is None or recorder.module_names is None:
            return self.forward(*args, **kwargs)
        return self._call_forward(args, kwargs)

    def _call_forward(self, args: tuple, kwargs: dict) -> Any:
        recorder = autograd._recorder
        if recorder is None or recorder.module_names is None:
            return self.forward(*args, **kwargs)
        # Inside tg.viz.trace_modules: the nodes made by this forward remember this module.
        previous = recorder.enter_module(self)
        try:
            return self.forward(*args, **kwargs)
        finally:
            recorder.exit_module(previous)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """``__call__`` when hooks are registered: PyTorch's ``_call_impl``, in its order.

        Forward pre-hooks (may replace the arguments), the backward hooks' identity node on the
        inputs, forward, forward hooks (may replace the output), the identity node on the outputs.
        """
        pre_hooks, hooks = self._forward_pre_hooks, self._forward_hooks
        backward_hooks, backward_pre_hooks = self._backward_hooks, self._backward_pre_hooks
        if not (pre_hooks or hooks or backward_hooks or backward_pre_hooks):
            object.__setattr__(self, "_has_hooks", False)  # all removed: back to the hot path
            return self._call_forward(args, kwargs)
        result = None
        called_always: set[int] = set()
        try:
            if pre_hooks:
                with_kwargs = self._forward_pre_hooks_with_kwargs
                for hook_id, hook in list(pre_hooks.items()):
                    if hook_id in with_kwargs:
                        new = _run_hook(hook, "forward pre-hook", self, args, kwargs)
                        if new is not None:
                            if not (isinstance(new, tuple) and len(new) == 2):
                                from ..utils.hooks import hook_name

                                raise RuntimeError(f"forward pre-hook must return None or a tuple of (new_args, "
                                                   f"new_kwargs), but got {new!r} (from {hook_name(hook)!r} of "
                                                   f"{_module_label(self)})")
                            args, kwargs = new
                    else:
                        new = _run_hook(hook, "forward pre-hook", self, args)
                        if new is not None:
                            args = new if isinstance(new, tuple) else (new,)
            backward_state = None
            if backward_hooks or backward_pre_hooks:
                backward_state = _ModuleBackwardHooks(self, list(backward_hooks.values()),
                                                      list(backward_pre_hooks.values()))
                args = backward_state.setup_inputs(args)
            result = self._call_forward(args, kwargs)
            if hooks:
                with_kwargs = self._forward_hooks_with_kwargs
                always = self._forward_hooks_always_called
                for hook_id, hook in list(hooks.items()):
                    if always and hook_id in always:
                        called_always.add(hook_id)
                    if with_kwargs and hook_id in with_kwargs:
                        new = _run_hook(hook, "forward hook", self, args, kwargs, result)
                    else:
                        new = _run_hook(hook, "forward hook", self, args, result)
                    if new is not None:
                        result = new
            if backward_state is not None:
                result = backward_state.setup_outputs(result)
            return result
        except Exception:
            # As PyTorch: the always_call forward hooks that did not run yet run now; their own errors become
            # warnings, and the first error goes on.
            always = self._forward_hooks_always_called
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id not in always or hook_id in called_always:
                    continue
                try:
                    if hook_id in self._forward_hooks_with_kwargs:
                        new = hook(self, args, kwargs, result)
                    else:
                        new = hook(self, args, result)
                    if new is not None:
                        result = new
                except Exception as err:  # noqa: BLE001 - PyTorch silences these too, with a warning
                    warnings.warn(f"module forward hook with ``always_call=True`` raised an exception that was "
                                  f"silenced as another error was raised in forward: {err}", stacklevel=2)
            raise

    # -- hooks ---------------------------------------------------------------------

    def _hook_dict(self, kind: str) -> OrderedDict:
        """This module's own dict ``kind`` (made at the first registration)."""
        own = self.__dict__
        hooks = own.get(kind)
        if hooks is None:
            hooks = own[kind] = OrderedDict()
        own["_has_hooks"] = True
        return hooks

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients w.r.t. the module's outputs are computed (PyTorch's).

        ``grad_output`` is a tuple, one entry per output (``None`` for a
        non-Tensor output or one no gradient reached). The hook may return a
        replacement tuple (same length), which is what flows on into the
        module's computation and what its full backward hooks see as
        ``grad_output``. Registered hooks take effect from the next call of the
        module. Hooks run in registration order (``prepend=True``: this one first).

        Returns:
            A `tinygrad_edu.utils.hooks.RemovableHandle`.

        Example:
            >>> import tinygrad_edu as tg
            >>> from tinygrad_edu import nn
            >>> layer = nn.Linear(2, 1)
            >>> _ = layer.register_full_backward_pre_hook(lambda m, grad_output: (grad_output[0] * 0,))
            >>> layer(tg.ones(1, 2, requires_grad=True)).sum().backward()     # the hook zeroed dL/d(output)
            >>> layer.weight.grad
            tensor([[0., 0.]])
        """
        RemovableHandle = _removable_handle()  # noqa: N806 - the class

        _check_hook("register_full_backward_pre_hook", hook)
        hooks = self._hook_dict("_backward_pre_hooks")
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients w.r.t. the module's inputs are computed.

        As PyTorch's: ``grad_output`` holds dL/d(each output) (``None`` for
        one no gradient reached), ``grad_input`` dL/d(each positional
        argument): ``None`` for non-Tensors, zeros for a tensor that needs no
        gradient or got none (what PyTorch gives, though its documentation
        says ``None``); keyword arguments are not included. The
        hook runs once per backward, when every gradient w.r.t. the inputs is
        complete; it may return a replacement tuple for ``grad_input`` (same
        length, each entry ``None`` or a Tensor of that input's shape), which
        is what flows on to the layers before. When no input needs a gradient
        (the first layer, fed data), it runs as soon as the gradients w.r.t.
        the outputs are known, with ``grad_input`` all ``None``, and a warning
        (as PyTorch). In a model, the hook of the layer nearest the loss runs first.

        How: the module's tensor inputs and outputs each pass through an
        identity node (`_BackwardHookFunction`), whose backward runs the
        hooks, so the caller gets new tensors sharing the values. An in-place
        change of such an output is recorded like any other in-place change
        (PyTorch refuses it); the hook then sees the gradient w.r.t. the
        output before the change.

        Returns:
            A `tinygrad_edu.utils.hooks.RemovableHandle`.

        Example:
            >>> import tinygrad_edu as tg
            >>> from tinygrad_edu import nn
            >>> model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
            >>> order = []
            >>> for name, layer in model.named_children():
            ...     _ = layer.register_full_backward_hook(lambda m, gi, go, name=name: order.append(name))
            >>> x = tg.ones(4, 2, requires_grad=True)
            >>> model(x).sum().backward()
            >>> order                                       # backward: the last layer first
            ['2', '1', '0']
        """
        RemovableHandle = _removable_handle()  # noqa: N806 - the class

        _check_hook("register_full_backward_hook", hook)
        hooks = self._hook_dict("_backward_hooks")
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook`` before every ``forward``: it sees, and may replace, the arguments (as PyTorch).

        The hook is called as ``hook(module, args)``, ``args`` the tuple of
        positional arguments. It returns ``None`` (keep them) or new
        arguments: a tuple, or a single value (wrapped in a tuple). With
        ``with_kwargs=True`` it is called as ``hook(module, args, kwargs)`` and
        returns ``None`` or a pair ``(new_args, new_kwargs)``. Hooks run in
        registration order, each seeing the previous one's replacement;
        ``prepend=True`` puts this one first. A hook that raises stops the
        call; the error gets a note naming the hook and the module.

        Returns:
            A `tinygrad_edu.utils.hooks.RemovableHandle`: ``handle.remove()`` takes the hook out.

        Example:
            >>> import tinygrad_edu as tg
            >>> from tinygrad_edu import nn
            >>> double = nn.Identity()
            >>> handle = double.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
            >>> double(tg.tensor([1.0, 2.0]))
            tensor([2., 4.])
            >>> handle.remove()
            >>> double(tg.tensor([1.0, 2.0]))
            tensor([1., 2.])
        """
        RemovableHandle = _removable_handle()  # noqa: N806 - the class

        _check_hook("register_forward_pre_hook", hook)
        hooks = self._hook_dict("_forward_pre_hooks")
        with_kwargs_flags = self._hook_dict("_forward_pre_hooks_with_kwargs")
        handle = RemovableHandle(hooks, extra_dict=with_kwargs_flags)
        hooks[handle.id] = hook
        if with_kwargs:
            with_kwargs_flags[handle.id] = True
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook`` after every ``forward``: it sees, and may replace, the output (as PyTorch).

        The hook is called as ``hook(module, args, output)`` (``args``: the
        positional arguments forward got, after any pre-hook), or with
        ``with_kwargs=True`` as ``hook(module, args, kwargs, output)``. A
        non-``None`` return value replaces the output, for the next hook and
        for the caller. Hooks run in registration order (``prepend=True``: this
        one first). With ``always_call=True`` the hook runs even when forward
        (or an earlier hook) raised; its own errors are then turned into
        warnings and the first error is re-raised. Recording activations is
        the classic use (`tinygrad_edu.train.Inspector` does it).

        Returns:
            A `tinygrad_edu.utils.hooks.RemovableHandle`: ``handle.remove()`` takes the hook out.

        Example:
            >>> import tinygrad_edu as tg
            >>> from tinygrad_edu import nn
            >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
            >>> shapes = {}
            >>> handles = [m.register_forward_hook(lambda m, args, out, name=name: shapes.update({name: out.shape}))
            ...            for name, m in model.named_children()]
            >>> _ = model(tg.ones(5, 3))
            >>> shapes
            {'0': (5, 4), '1': (5, 4), '2': (5, 1)}
            >>> for h in handles:
            ...     h.remove()
        """
        RemovableHandle = _removable_handle()  # noqa: N806 - the class

        _check_hook("register_forward_hook", hook)
        hooks = self._hook_dict("_forward_hooks")
        with_kwargs_flags = self._hook_dict("_forward_hooks_with_kwargs")
        always_flags = self._hook_dict("_forward_hooks_always_called")
        handle = RemovableHandle(hooks, extra_dict=[with_kwargs_flags, always_flags])
        hooks[handle.id] = hook
        if with_kwargs:
            with_kwargs_flags[handle.id] = True
        if always_call:
            always_flags[handle.id] = True
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

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


