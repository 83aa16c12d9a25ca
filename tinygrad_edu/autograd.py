"""The autograd machinery: grad mode, graph nodes, version counters and the backward walk.

This is the lowest layer of the library. It knows nothing about `Tensor` except
the handful of attributes every tensor in a graph has:

- ``_data``: the NumPy array holding the value (``numpy()`` to users),
- ``_requires_grad``: whether a gradient should flow to it,
- ``_ctx``: the `Node` that produced it (``None`` for a leaf),
- ``_out_index``: which output of that node it is (0 unless the node has several),
- ``_vc``: its version counter, a one-element list bumped by every in-place change,
- ``_accumulate_grad(array)``: add a gradient into ``.grad``.

Reverse mode in one paragraph: every operation records a `Node` that remembers
its inputs (``parents``) and whatever it needs to compute local derivatives.
``backward()`` visits the nodes so that a node comes before every node that
produced its inputs (a reverse topological order), once each, handing the
upstream gradient ``grad_out`` to the node's ``backward``, which returns one
gradient per input by the chain rule. Gradients reaching the same tensor along
several paths are *added*.

Two ways to write an operation, one engine:

- `Node` subclasses (the library's primitives in `tinygrad_edu.ops`) work on
  NumPy arrays: ``forward(self, *arrays)`` and ``backward(self, grad_out)``.
- `Function` subclasses (yours, exactly as in PyTorch) work on Tensors:
  static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``,
  ``ctx.save_for_backward(...)``, ``ctx.saved_tensors``, called as ``MyFn.apply(...)``.
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from collections.abc import Callable, Collection
from heapq import heappop, heappush
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "Node",
    "Function",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "unbroadcast",
    "walk",
    "run_backward",
    "bump_version",
    "keep_forward_inputs",
    "record_scopes",
]

F = TypeVar("F", bound=Callable[..., Any])

# ---------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------

class _ThreadModes(threading.local):
    """The global modes, one set per thread (as in PyTorch): a ``no_grad`` block in one thread leaves others alone.

    The class attributes are the defaults every thread starts with: recording
    on (a new thread starts with grad enabled, as in PyTorch, whatever the
    thread that made it was doing) and no `Recorder`. Reading one costs an
    attribute lookup on a ``threading.local`` (tens of nanoseconds), paid once
    per operation.
    """

    grad_enabled = True
    recorder: Recorder | None = None

    def __init__(self) -> None:
        # The modes `no_grad` / `enable_grad` blocks entered in this thread replaced, innermost last: one
        # instance (``NO_GRAD = tg.no_grad()``) may then be entered by several threads at once.
        self.saved: list[bool] = []
        self.saved_recorders: list[Recorder | None] = []  # the same for the recording modes


#: This thread's modes: ``_mode.grad_enabled`` (read by every operation) and ``_mode.recorder``.
_mode = _ThreadModes()


def __getattr__(name: str) -> Any:
    # The module-level name grad mode had before it became per thread, read through (PEP 562).
    if name == "_grad_enabled":
        return _mode.grad_enabled
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_grad_enabled() -> bool:
    """Return whether operations record the graph in this thread (grad mode is per thread, as in PyTorch).

    Example:
        >>> import tinygrad_edu as tg
        >>> with tg.no_grad():
        ...     tg.is_grad_enabled()
        False
    """
    return _mode.grad_enabled


def _with_grad_mode(func: F, mode: bool) -> F:
    """``func`` wrapped so that it runs with graph recording set to ``mode``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with set_grad_enabled(mode):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class set_grad_enabled:  # noqa: N801 - named as in PyTorch
    """Turn graph recording on or off; usable as a function, context manager or decorator.

    ``set_grad_enabled(False)`` switches recording off at once (as in PyTorch);
    used in a ``with`` block, the previous mode is restored on exit. The mode
    belongs to the calling thread only (as in PyTorch): other threads keep
    theirs, and a new thread starts with recording on. ``mode`` must be a bool
    (``set_grad_enabled(0)`` is a ``TypeError``, as in PyTorch).

    Example:
        >>> import tinygrad_edu as tg
        >>> with tg.set_grad_enabled(False):
        ...     (tg.ones(2, requires_grad=True) * 2).requires_grad
        False
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {mode!r} (as in PyTorch)")
        self.prev = _mode.grad_enabled
        self.mode = bool(mode)
        _mode.grad_enabled = self.mode

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _mode.grad_enabled = self.prev

    def __call__(self, func: F) -> F:
        # Used as a decorator: the constructor already switched the mode, undo that.
        self.__exit__()
        return _with_grad_mode(func, self.mode)


class _GradMode:
    """Shared body of `no_grad` and `enable_grad`: a context manager and a decorator."""

    mode = True

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        # Bare `@no_grad` (no parentheses) decorates at once, as PyTorch allows.
        instance = super().__new__(cls)
        return instance(func) if callable(func) else instance

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        pass

    def __enter__(self) -> None:
        mode = _mode
        mode.saved.append(mode.grad_enabled)
        mode.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        mode = _mode
        mode.grad_enabled = mode.saved.pop()

    def __call__(self, func: F) -> F:
        return _with_grad_mode(func, self.mode)


class no_grad(_GradMode):  # noqa: N801 - named as in PyTorch
    """Record no graph inside the block (or the decorated function), in this thread.

    Grad mode is per thread, as in PyTorch: a ``no_grad`` block in one thread
    (an evaluation loop, say) leaves recording on in every other one.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.ones(3, requires_grad=True)
        >>> with tg.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """

    mode = False


class enable_grad(_GradMode):  # noqa: N801 - named as in PyTorch
    """Record the graph inside the block (in this thread), even within `no_grad`.

    Example:
        >>> import tinygrad_edu as tg
        >>> with tg.no_grad(), tg.enable_grad():
        ...     tg.is_grad_enabled()
        True
    """

    mode = True


# ---------------------------------------------------------------------------
# Node: one recorded operation of the graph
# ---------------------------------------------------------------------------


#: Creation numbers for graph nodes; see `walk` for why they give the order.
creation_counter = itertools.count()


class Node:
    """One recorded operation on arrays: ``forward`` computes, ``backward`` applies the chain rule.

    Subclasses implement:

    - ``forward(self, *arrays, **options) -> np.ndarray``: compute the output
      from the inputs' arrays, saving on ``self`` what ``backward`` needs;
    - ``backward(self, grad_out) -> tuple``: given dL/d(output), return
      dL/d(input) for each input, in order (``None`` where
      ``self.needs_input_grad[i]`` is false). The gradient may have the
      *broadcast* shape: the engine sums it back to the input's shape in one
      place (`unbroadcast`). ``backward`` must never modify ``grad_out`` in place:
      the same array may be handed to several nodes.

    Two class attributes tell the engine which values ``backward`` reads, so
    that changing one of them in place afterwards makes ``backward()`` raise
    instead of returning a wrong gradient (PyTorch's version-counter check):

    - ``saves``: pairs ``(i, j)``: input ``i``'s value is kept for the backward
      whenever input ``j`` needs a gradient (``j = None``: whenever any does);
    - ``saves_output``: the output's value is kept (``exp``, ``tanh``, ...).

    Nodes hold their inputs but never their outputs, so the graph has no
    reference cycles and is freed by reference counting alone.
    """

    __slots__ = ("parents", "needs_input_grad", "__dict__")

    #: How many tensors ``forward`` returns (a tuple when more than one).
    n_outputs = 1
    saves: tuple[tuple[int, int | None], ...] = ()
    saves_output = False
    # Per-node extras, set on the instance only where needed (the class values are the defaults).
    seq = -1  # creation number, given when the node is recorded
    saved_versions: tuple | None = None  # ((counter, version, what), ...) checked before backward
    # Output index -> tensor that called retain_grad(); an empty dict when only hooks are registered, so
    # that the walk checks one attribute per node in the common case.
    retained: dict[int, weakref.ref] | None = None
    tensor_hooks: dict[int, dict] | None = None  # output index -> {id: hook} of Tensor.register_hook
    forward_call: tuple | None = None  # (arrays, options), only inside `keep_forward_inputs`
    materialize_grads = True  # outputs no gradient reached get zeros (a Function's ctx may turn it off)
    scope: tuple = ()  # ((module name, class name), ...) from outermost to innermost, only inside `record_scopes`

    #: Whether the engine records versions for this class (derived from the two above).
    tracks_versions = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tracks_versions = bool(cls.saves) or cls.saves_output

    def __init__(self, *parents: Any) -> None:
        self.parents = parents
        self.needs_input_grad = tuple([p._requires_grad for p in parents])

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The operation's name, as shown in ``repr`` and graph pictures."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"


# ---------------------------------------------------------------------------
# Version counters: in-place changes of saved values are caught, not silently wrong
# ---------------------------------------------------------------------------


def bump_version(tensor: Any) -> None:
    """Record that ``tensor``'s values were changed in place (an optimizer step, say).

    Every in-place Tensor method does this itself, in every grad mode (views
    share their base's counter, so a change through a slice counts too); code
    that writes into
    ``tensor.numpy()`` directly (the optimizer kernels) calls it, so that a
    graph which saved the old values refuses to backpropagate through them.
    """
    tensor._vc[0] += 1


def record_saved_versions(node: Node, parents: tuple, output: Any) -> None:
    """Remember the versions of the values ``node``'s backward will read (see `Node.saves`)."""
    needs = node.needs_input_grad
    saved = []
    for i, j in node.saves:
        if j is None or needs[j]:
            counter = parents[i]._vc
            saved.append((counter, counter[0], i))
    if node.saves_output:
        counter = output._vc
        saved.append((counter, counter[0], -1))
    if saved:
        node.saved_versions = saved


def _check_saved_versions(node: Node) -> None:
    for counter, version, which in node.saved_versions:
        if counter[0] != version:
            what = "its output" if which < 0 else f"its input {which}"
            raise RuntimeError(
                f"backward: {node.name} needs {what} to compute its gradient, but that tensor was modified "
                f"in place after {node.name} used it (it is at version {counter[0]}; expected version "
                f"{version}). The gradient would be wrong, so backward stops here. Change a copy instead "
                f"(x = x + 1 rather than x += 1, or .clone() first), or do the in-place change after backward()."
            )


class Recorder:
    """What recorded nodes remember besides their backward's needs, while a recording mode is on.

    Off (``autograd._mode.recorder is None``, per thread) costs the engine one check per
    operation. `keep_forward_inputs` makes each node keep the arrays and
    options its forward got; `record_scopes` makes it keep the path of modules
    whose forward made it. The modes nest and combine.
    """

    def __init__(self, previous: Recorder | None, keep_inputs: bool = False,
                 module_names: dict[int, str] | None = None) -> None:
        self.keep_inputs = keep_inputs or (previous is not None and previous.keep_inputs)
        self.module_names = module_names if module_names is not None else (
            previous.module_names if previous is not None else None)
        self.path: tuple = previous.path if previous is not None else ()

    def record(self, node: Node, inputs: Any, options: dict) -> None:
        if self.keep_inputs:
            node.forward_call = (tuple(inputs), options)
        if self.path:
            node.scope = self.path

    def enter_module(self, module: Any) -> tuple | None:
        """Called by ``Module.__call__``: push the module on the path (if it is a traced one)."""
        name = self.module_names.get(id(module)) if self.module_names is not None else None
        if name is None:
            return None
        previous = self.path
        self.path = previous + ((name, type(module).__name__),)
        return previous

    def exit_module(self, previous: tuple | None) -> None:
        if previous is not None:
            self.path = previous


class _Recording:
    """Shared body of the recording modes: install a `Recorder` for the block, restore the previous one."""

    def _recorder(self, previous: Recorder | None) -> Recorder:
        raise NotImplementedError

    def __enter__(self) -> Recorder:
        global _recorder, _recordings
        previous = _mode.recorder
        _mode.saved_recorders.append(previous)
        recorder = _mode.recorder = self._recorder(previous)
        with _recordings_lock:
            _recordings += 1
            _recorder = _CURRENT_THREAD_RECORDER
        return recorder

    def __exit__(self, *exc: object) -> None:
        global _recorder, _recordings
        _mode.recorder = _mode.saved_recorders.pop()
        with _recordings_lock:
            _recordings -= 1
            if not _recordings:
                _recorder = None


class _CurrentThreadRecorder:
    """``autograd._recorder`` while a recording mode is on in any thread: the calling thread's `Recorder`.

    ``Module.__call__`` and gradient checkpointing read the module-level name
    ``_recorder``, which is ``None`` (one cheap check per call) unless some
    thread is inside `keep_forward_inputs` / `record_scopes`; then it is this
    stand-in, which hands every question to the calling thread's own recorder
    (answering as "not recording" in threads that have none).
    """

    @property
    def module_names(self) -> dict[int, str] | None:
        recorder = _mode.recorder
        return None if recorder is None else recorder.module_names

    @property
    def keep_inputs(self) -> bool:
        recorder = _mode.recorder
        return recorder is not None and recorder.keep_inputs

    @property
    def path(self) -> tuple:
        recorder = _mode.recorder
        return () if recorder is None else recorder.path

    def record(self, node: Node, inputs: Any, options: dict) -> None:
        recorder = _mode.recorder
        if recorder is not None:
            recorder.record(node, inputs, options)

    def enter_module(self, module: Any) -> tuple | None:
        recorder = _mode.recorder
        return None if recorder is None else recorder.enter_module(module)

    def exit_module(self, previous: tuple | None) -> None:
        recorder = _mode.recorder
        if recorder is not None:
            recorder.exit_module(previous)


_CURRENT_THREAD_RECORDER = _CurrentThreadRecorder()
#: Module-level view of the recording modes for code outside this module: None while no thread records.
_recorder: _CurrentThreadRecorder | None = None
_recordings = 0  # recording blocks open, over all threads
_recordings_lock = threading.Lock()


class keep_forward_inputs(_Recording):  # noqa: N801 - a context manager, named like no_grad
    """Inside the block, every recorded node keeps the arrays and options its forward got.

    A node normally keeps only what its backward needs, not how it was called;
    `tinygrad_edu.gradcheck_nodes` replays each node's forward on perturbed
    inputs, so it builds its graph inside this block. The mode is per thread:
    graphs built by other threads meanwhile are not affected.
    """

    def _recorder(self, previous: Recorder | None) -> Recorder:
        return Recorder(previous, keep_inputs=True)


class record_scopes(_Recording):  # noqa: N801 - a context manager
    """Inside the block, every recorded node keeps the path of modules whose forward made it.

    ``module_names`` maps ``id(module)`` to the name to record (the names of
    ``model.named_modules()``); ``Module.__call__`` pushes a traced module on
    the path for the length of its forward. `tinygrad_edu.viz.trace_modules`
    is the friendly way in; `tinygrad_edu.viz.plot_graph` then draws a module
    as one box.
    """

    def __init__(self, module_names: dict[int, str]) -> None:
        self.module_names = dict(module_names)

    def _recorder(self, previous: Recorder | None) -> Recorder:
        return Recorder(previous, module_names=self.module_names)


# ---------------------------------------------------------------------------
# Broadcasting, undone in one place
# ---------------------------------------------------------------------------


def summed_axes(grad_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of ``grad_shape`` that broadcasting ``shape`` up to it created or stretched."""
    extra = len(grad_shape) - len(shape)
    return tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad_shape[extra + i] != 1
    )


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` back down to ``shape``, undoing NumPy broadcasting.

    If ``y = f(x)`` broadcast ``x`` of shape ``shape`` to ``grad.shape``, each
    element of ``x`` was used once per copy, so its gradient is the *sum* over
    the copies: over the leading axes that broadcasting added, and over every
    axis where ``x`` had length 1.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra and grad.shape[extra:] == shape:  # only leading axes were added (a bias, say)
        return grad.sum(axis=tuple(range(extra)))
    axes = summed_axes(grad.shape, shape)
    summed = grad.sum(axis=axes, keepdims=True) if axes else grad
    return summed.reshape(shape)


# ---------------------------------------------------------------------------
# The backward walk
# ---------------------------------------------------------------------------


def _owner(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (itself, or the base of a view)."""
    base = array.base
    return array if base is None else base


def _zeros_for_missing(node: Node, grad_outs: list) -> list:
    """A node with several outputs gets zeros for the outputs no gradient reached (as PyTorch does)."""
    if not node.materialize_grads:
        return grad_outs
    return [np.zeros(shape, dtype) if g is None else g for g, (shape, dtype) in zip(grad_outs, node.output_meta)]


def _describe_hooked(target: Any, index: int | None) -> str:
    """The tensor a hook belongs to, in words (for error messages)."""
    if index is None:
        return f"a leaf tensor of shape {tuple(target.shape)}"
    output = f" (output {index})" if target.n_outputs > 1 else ""
    return f"the tensor made by {target.name}#{target.seq}{output}"


def _call_tensor_hooks(hooks: dict, grad: np.ndarray, target: Any, index: int | None) -> np.ndarray:
    """Run ``hooks`` in order on (a copy of) ``grad``; each gets the previous one's result. Returns the result.

    A hook gets a copy, so changing it in place changes this gradient only (as a
    replacement would); a hook's result must be a Tensor of ``grad``'s shape and dtype.
    """
    from .tensor import Tensor, _wrap  # the layer above; imported when a hook first runs
    from .utils.hooks import hook_name

    value = _wrap(np.array(grad))
    for hook in list(hooks.values()):
        try:
            result = hook(value)
        except Exception as err:
            err.add_note(f"raised by the hook {hook_name(hook)!r} registered with register_hook on "
                         f"{_describe_hooked(target, index)}")
            raise
        if result is None:
            continue
        if not isinstance(result, Tensor):
            raise TypeError(f"hook {hook_name(hook)!r} returned {type(result).__name__}; a tensor hook returns "
                            f"a Tensor (the replacement gradient, shape {tuple(grad.shape)}) or None "
                            f"(as PyTorch: 'expected Variable, but hook returned ...')")
        if result.dtype != grad.dtype:
            raise RuntimeError(f"hook {hook_name(hook)!r} has changed the type of value (was {value.type()} got "
                               f"{result.type()}); registered on {_describe_hooked(target, index)}, it must "
                               f"return a gradient of dtype {grad.dtype}")
        if result.shape != grad.shape:
            raise RuntimeError(f"hook {hook_name(hook)!r} has changed the size of value: expected shape "
                               f"{tuple(grad.shape)}, got {tuple(result.shape)} (the hook is registered on "
                               f"{_describe_hooked(target, index)})")
        value = result
    return value._data


def _run_tensor_hooks(node: Node, grad_out: Any, on_hook: Callable | None) -> tuple[Any, set[int] | None]:
    """The hooks of ``node``'s outputs on ``grad_out`` (an array, or a list for several outputs).

    Returns the gradient(s) after the hooks, and the ids of the memory the hooks
    saw or returned (``None`` when no hook ran): the walk copies them before
    handing them on.
    """
    seen: set[int] = set()
    single = node.n_outputs == 1
    grads = [grad_out] if single else list(grad_out)
    for index, hooks in node.tensor_hooks.items():
        if not hooks or grads[index] is None:
            continue
        before = grads[index]
        after = grads[index] = _call_tensor_hooks(hooks, before, node, index)
        seen.add(id(_owner(after)))
        if on_hook is not None:
            on_hook(node, index, before, after)
    if not seen:
        return grad_out, None
    return (grads[0] if single else grads), seen


class _HookedLeaves:
    """The gradients of leaves with hooks during one walk, held until complete.

    A leaf's hooks run once, on its total gradient (as PyTorch's ``AccumulateGrad``,
    which runs when all its inputs arrived). Made at the first such leaf met; it
    counts, once, the edges still to come into each hooked leaf, from the node
    being visited and every node the walk can still reach.
    """

    def __init__(self, node: Node, grads_in: Any, heap: list, stop_at: Collection[int]) -> None:
        self.remaining: dict[int, int] = {}
        self.waiting: dict[int, list] = {}  # id(leaf) -> [leaf, gradient so far]
        visited = {id(node)}
        stack = []
        for parent, grad, needed in zip(node.parents, grads_in, node.needs_input_grad):
            if needed and grad is not None:
                self._count(parent, stack, visited, stop_at)
        stack.extend(entry[1] for entry in heap if id(entry[1]) not in visited)
        visited.update(id(n) for n in stack)
        while stack:
            current = stack.pop()
            for parent, needed in zip(current.parents, current.needs_input_grad):
                if needed:
                    self._count(parent, stack, visited, stop_at)

    def _count(self, parent: Any, stack: list, visited: set[int], stop_at: Collection[int]) -> None:
        source = parent._ctx
        stop = stop_at and id(parent) in stop_at
        if source is None:
            if parent._backward_hooks and not stop:
                self.remaining[id(parent)] = self.remaining.get(id(parent), 0) + 1
        elif not stop and id(source) not in visited:
            visited.add(id(source))
            stack.append(source)

    def add(self, leaf: Any, grad: np.ndarray, on_leaf: Callable, on_hook: Callable | None) -> Any:
        """One more contribution to ``leaf``; the last one runs its hooks and hands the result to ``on_leaf``."""
        key = id(leaf)
        held = self.waiting.get(key)
        running = None
        if held is None:
            held = self.waiting[key] = [leaf, grad]
        else:
            held[1] = running = held[1] + grad
        self.remaining[key] = self.remaining.get(key, 1) - 1
        if self.remaining[key] <= 0:
            del self.waiting[key]
            self.fire(leaf, held[1], on_leaf, on_hook)
        return running

    @staticmethod
    def run(leaf: Any, grad: np.ndarray, on_hook: Callable | None) -> np.ndarray:
        """``leaf``'s hooks on its total gradient; what ``on_leaf`` then gets (memory of its own)."""
        after = _call_tensor_hooks(leaf._backward_hooks, grad, leaf, None)
        if on_hook is not None:
            on_hook(leaf, None, grad, after)
        return np.array(after)  # a hook may keep what it saw or returned: .grad gets its own copy

    def fire(self, leaf: Any, grad: np.ndarray, on_leaf: Callable, on_hook: Callable | None) -> None:
        on_leaf(leaf, self.run(leaf, grad, on_hook))

    def flush(self, on_leaf: Callable, on_hook: Callable | None) -> None:
        """After the walk: leaves still waiting (a backward returned None for an input that needed a gradient)."""
        for leaf, grad in list(self.waiting.values()):
            self.fire(leaf, grad, on_leaf, on_hook)
        self.waiting.clear()


def walk(root: Any, seed: np.ndarray, on_leaf: Callable[[Any, np.ndarray], Any],
         on_node: Callable[[Node, Any, list], None] | None = None, retain: bool = True,
         stop_at: Collection[int] = (), on_hook: Callable[[Any, int | None, Any, Any], None] | None = None) -> None:
    """Backpropagate ``seed`` = dL/d(root) through the graph: the one walk of the library.

    ``backward()`` and `tinygrad_edu.backward_steps` both run this; they
    differ only in what they do with a leaf's gradient (``on_leaf(tensor,
    grad)``: add it to ``.grad``, or to a table) and in whether they watch
    each node (``on_node(node, grad_out, edges)`` after the node's backward,
    with one ``(parent, grad, broadcast_shape, running)`` per input that got
    a gradient: ``grad`` summed down to the parent's shape, ``running`` the
    parent's total so far when it was reached before, else ``None``; for a
    leaf, ``running`` is what ``on_leaf`` returned). With ``retain=False``
    the tensors that called ``retain_grad()`` are left alone too. Tensors whose
    ``id`` is in ``stop_at`` are treated as leaves: the walk hands them their
    gradient and goes no further (gradient checkpointing's inner walk ends at
    the tensors its segment read from the surrounding graph).

    Tensor hooks (``Tensor.register_hook``) run here, as PyTorch runs them:
    a non-leaf's hooks when its node is visited (its gradient is complete
    then), before ``retain_grad`` stores it and before the node's backward,
    which gets the replacement; a leaf's hooks once, when the last
    contribution to its gradient arrives, before ``on_leaf``. ``on_hook(target,
    index, before, after)`` (if given) is told each time hooks ran: ``target``
    the node (``index``: which of its outputs) or the leaf (``index`` None).

    The order: every node gets a creation number (``seq``) when it is
    recorded, and an operation is always recorded after the ones that made its
    inputs, so creation order is a topological order of the graph. Walking
    backwards, the next node to visit is therefore the one with the *highest*
    number among those holding a gradient: by then every node that consumed
    its outputs has been visited and its gradient is complete. A heap hands out
    that node in O(log n); no recursion, so graphs of any depth work, and
    branches that need no gradient are never visited.

    Why the ``handed_out`` bookkeeping: operations such as ``+`` or ``reshape``
    pass ``grad_out`` (or a view of it) straight through, possibly to several
    inputs. A leaf's ``.grad`` must own its memory, or scaling one gradient in
    place (gradient clipping, say) would silently change another. So each
    memory block is handed out as it is at most once per walk; any further
    holder gets a copy. Copies are only made where sharing would happen.
    """
    node = root._ctx
    if node is None:
        if root._backward_hooks:
            seed = _HookedLeaves.run(root, seed, on_hook)
        on_leaf(root, seed)
        return
    pending: dict[Node, Any] = {}  # node -> its output's gradient (a list of them if it has several)
    if node.n_outputs == 1:
        pending[node] = seed
    else:
        pending[node] = [None] * node.n_outputs
        pending[node][root._out_index] = seed
    handed_out = {id(_owner(seed))}
    heap = [(-node.seq, node)]
    watching = on_node is not None
    hooked_leaves = None  # made at the first leaf with hooks: their gradients wait there until complete
    while heap:
        node = heappop(heap)[1]
        grad_out = pending.pop(node)
        single = node.n_outputs == 1
        retained = node.retained  # not None also when an output has hooks (register_hook sees to it)
        if single and retained is None:
            # This gradient dies here, so its memory may be passed on once more.
            base = grad_out.base
            handed_out.discard(id(grad_out if base is None else base))
        else:
            seen_by_hooks = None
            if node.tensor_hooks is not None:
                # Tensor hooks of this node's outputs: their gradients are complete now (PyTorch runs them
                # before the node, and before retain_grad stores the gradient, so .grad holds the replacement).
                grad_out, seen_by_hooks = _run_tensor_hooks(node, grad_out, on_hook)
            if not retain:
                retained = None
            for index, grad in enumerate((grad_out,) if single else grad_out):
                if grad is None:
                    continue
                tensor = retained[index]() if retained is not None and index in retained else None
                if tensor is not None:
                    tensor._accumulate_grad(grad.copy())
                elif seen_by_hooks is None or id(_owner(grad)) not in seen_by_hooks:
                    handed_out.discard(id(_owner(grad)))
            if seen_by_hooks is not None:
                handed_out |= seen_by_hooks  # a hook may keep what it saw or returned: passed on, it is copied
        saved = node.saved_versions
        if saved is not None:
            for counter, version, _ in saved:
                if counter[0] != version:
                    _check_saved_versions(node)  # raises, naming what changed
        grads_in = node.backward(grad_out) if single else node.backward(*_zeros_for_missing(node, grad_out))
        edges = [] if watching else None
        for parent, grad, needed in zip(node.parents, grads_in, node.needs_input_grad):
            if not needed or grad is None:
                continue
            data = parent._data
            broadcast_shape = grad.shape
            if broadcast_shape != data.shape:
                grad = unbroadcast(grad, data.shape)
            if grad.dtype != data.dtype:
                grad = grad.astype(data.dtype)
            base = grad.base
            owner_id = id(grad if base is None else base)
            if owner_id in handed_out:
                grad = grad.copy()
                owner_id = id(grad)
            running = None
            source = parent._ctx
            if source is None:
                handed_out.add(owner_id)
                # (A leaf in stop_at gets its hooks from the outer walk, which this walk's result flows into.)
                if not parent._backward_hooks or (stop_at and id(parent) in stop_at):
                    running = on_leaf(parent, grad)
                else:
                    if hooked_leaves is None:
                        hooked_leaves = _HookedLeaves(node, grads_in, heap, stop_at)
                    running = hooked_leaves.add(parent, grad, on_leaf, on_hook)
            elif stop_at and id(parent) in stop_at:
                running = on_leaf(parent, grad)
                handed_out.add(owner_id)
            elif source.n_outputs == 1:
                total = pending.get(source)
                if total is None:
                    pending[source] = grad
                    handed_out.add(owner_id)
                    heappush(heap, (-source.seq, source))
                else:
                    pending[source] = running = total + grad
            else:
                slots = pending.get(source)
                if slots is None:
                    slots = pending[source] = [None] * source.n_outputs
                    heappush(heap, (-source.seq, source))
                index = parent._out_index
                if slots[index] is None:
                    slots[index] = grad
                    handed_out.add(owner_id)
                else:
                    slots[index] = running = slots[index] + grad
            if watching:
                edges.append((parent, grad, broadcast_shape, running))
        if watching:
            on_node(node, grad_out, edges)
    if hooked_leaves is not None:
        hooked_leaves.flush(on_leaf, on_hook)


def run_backward(root: Any, seed: np.ndarray) -> None:
    """Backpropagate ``seed`` = dL/d(root), adding each leaf's gradient into its ``.grad``."""
    walk(root, seed, type(root)._accumulate_grad)


# ---------------------------------------------------------------------------
# Function: custom operations on Tensors, exactly as in PyTorch
# ---------------------------------------------------------------------------


class _FunctionNode(Node):
    """The graph node of one call of a `Function`; it is the ``ctx`` its forward and backward receive."""

    def __init__(self, function: type, *parents: Any) -> None:
        super().__init__(*parents)
        self.function = function
        self.to_save: tuple = ()
        self.non_differentiable: set[int] = set()

    @property
    def name(self) -> str:
        return self.function.__name__

    # -- PyTorch's ctx protocol ------------------------------------------------

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors for ``backward`` (read them back from ``ctx.saved_tensors``)."""
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward``, checked to be unchanged since."""
        if self.saved_versions is not None:
            _check_saved_versions(self)
        return self.saved_for_backward

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """Declare outputs (integer indices, say) that no gradient flows through."""
        self.non_differentiable |= {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """With ``False``, outputs that got no gradient reach ``backward`` as ``None`` instead of zeros."""
        self.materialize_grads = bool(value)

    # -- the engine's side --------------------------------------------------------

    def backward(self, *grad_outs: np.ndarray) -> tuple:
        from .tensor import _wrap  # the layer above; imported when a backward first runs

        with set_grad_enabled(False):
            grads = self.function.backward(self, *[None if g is None else _wrap(g) for g in grad_outs])
        if not isinstance(grads, tuple):
            grads = (grads,)
        positions = self.tensor_positions
        expected = self.n_args
        if len(grads) < expected or any(g is not None for g in grads[expected:]):
            raise RuntimeError(
                f"{self.name}.backward returned {len(grads)} gradient(s), but forward took {expected} "
                f"argument(s): return one per argument of forward (None for one that needs no gradient)"
            )
        arrays = []
        for i, parent in enumerate(self.parents):
            grad = grads[positions[i]]
            if grad is None or not self.needs_input_grad[i]:
                arrays.append(None)
                continue
            array = grad._data if hasattr(grad, "_data") else np.asarray(grad)
            if array.dtype.kind not in "biuf":  # a complex gradient is never cut to its real part (PyTorch raises)
                raise RuntimeError(
                    f"{self.name}.backward returned a gradient of dtype {array.dtype} for argument {positions[i]}, "
                    f"which has the real dtype {parent.dtype}: return a real gradient (a Tensor or None)")
            try:
                fits = np.broadcast_shapes(array.shape, parent.shape) == array.shape
            except ValueError:
                fits = False
            if not fits:
                raise RuntimeError(
                    f"{self.name}.backward returned a gradient of shape {array.shape} for argument "
                    f"{positions[i]}, which has shape {parent.shape}"
                )
            arrays.append(array)
        return tuple(arrays)


class Function:
    """A differentiable operation of your own, written as in PyTorch.

    Subclass it with two static methods: ``forward(ctx, *args, **kwargs)``,
    which computes the output(s) from Tensors (graph recording is off inside
    it), and ``backward(ctx, *grad_outputs)``, which receives one gradient per
    output and returns one per positional input of ``forward`` (``None`` for
    inputs that need none). ``ctx`` carries what backward needs:
    ``ctx.save_for_backward(*tensors)`` / ``ctx.saved_tensors``,
    ``ctx.needs_input_grad``, or any attribute you set on it. Call the
    operation as ``MyFn.apply(*args)``, never ``MyFn()``.

    Example:
        >>> import tinygrad_edu as tg
        >>> class Cube(tg.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):           # y = x**3
        ...         ctx.save_for_backward(x)
        ...         return x * x * x
        ...     @staticmethod
        ...     def backward(ctx, grad_out):   # dy/dx = 3 x**2
        ...         (x,) = ctx.saved_tensors
        ...         return grad_out * 3 * x * x
        >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
        >>> Cube.apply(x).sum().backward()
        >>> x.grad
        tensor([ 3., 12.])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"call a Function through {type(self).__name__}.apply(...), not by making an instance")

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass defines forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a Function subclass defines backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and record one graph node whose backward is this class's ``backward``."""
        from .tensor import Tensor, _wrap  # the layer above; imported on first use

        inputs = tuple(a for a in args if isinstance(a, Tensor))
        node = _FunctionNode(cls, *inputs)
        node.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        node.n_args = len(args)
        # ``ctx.needs_input_grad`` has one entry per positional argument, as in PyTorch.
        flags = iter(node.needs_input_grad)
        ctx_needs = tuple(next(flags) if isinstance(a, Tensor) else False for a in args)
        engine_needs = node.needs_input_grad
        node.needs_input_grad = ctx_needs
        with set_grad_enabled(False):
            result = cls.forward(node, *args, **kwargs)
        node.needs_input_grad = engine_needs
        outputs = result if isinstance(result, tuple) else (result,)
        for k, out in enumerate(outputs):
            if not isinstance(out, Tensor):
                raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple of Tensors, "
                                f"got {type(out).__name__} as output {k}")
        # A saved output is kept detached (same storage, same version counter): the node holding
        # the output itself would be a reference cycle, freed only by the garbage collector.
        returned = {id(out) for out in outputs}
        node.saved_for_backward = tuple(t.detach() if id(t) in returned else t for t in node.to_save)
        node.saved_versions = tuple((t._vc, t._vc[0], i) for i, t in enumerate(node.to_save)
                                    if isinstance(t, Tensor)) or None
        del node.to_save
        record = _mode.grad_enabled and True in engine_needs
        if record:
            node.seq = next(creation_counter)
            node.n_outputs = len(outputs)
        wrapped = []
        for k, out in enumerate(outputs):
            differentiable = record and id(out) not in node.non_differentiable and out._data.dtype.kind == "f"
            if out._ctx is not None or any(out is a for a in inputs):
                # An input returned as it is becomes a new tensor sharing its storage and version counter.
                shared, out = out, _wrap(out._data)
                out._vc = shared._vc
            if differentiable:
                out._requires_grad, out._ctx, out._seq = True, node, node.seq
                if k:
                    out._out_index = k
            wrapped.append(out)
        if record and len(outputs) > 1:
            node.output_meta = [(o.shape, o.dtype) for o in wrapped]
        return tuple(wrapped) if isinstance(result, tuple) else wrapped[0]
