r"""Gradient checkpointing, as ``torch.utils.checkpoint``: trade compute for memory.

Backpropagation needs the values each operation saw in the forward pass, so an
ordinary graph keeps every intermediate activation alive until ``backward()``:
memory grows with depth. ``y = checkpoint(f, x)`` keeps only ``f``'s inputs
(and its output): ``f`` runs once without keeping its graph, and when the
backward walk reaches ``y`` it runs ``f`` again, this time recording, and
backpropagates through that fresh graph. For a stack of :math:`L` layers cut
into :math:`k` checkpointed segments the activations held drop from
:math:`O(L)` to :math:`O(k + L/k)`, :math:`O(\sqrt L)` at
:math:`k = \sqrt L` (Chen et al., 2016, "Training Deep Nets with Sublinear
Memory Cost"), for the price of one more forward pass.

The gradients are exactly those of the plain graph: the recomputation runs the
same operations on the same values, and the random state is restored first so
that dropout draws the same masks. Gradients reach the inputs *and* every
tensor ``f`` uses from outside (a module's parameters, captured tensors).

How it is built on the engine (`tinygrad_edu.autograd`): the first run records
``f``'s graph only long enough to find which outside tensors it uses, then
drops it; one `Node` stands for the whole call, with the inputs and those
tensors as its parents. Its backward recomputes ``f`` and runs the library's one
backward walk (`autograd.walk`) over the new graph, from all of ``f``'s
outputs at once, stopping at the inputs and the outside tensors, whose
gradients it returns to the outer walk.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .. import autograd
from .._checks import check_choice, check_int
from ..autograd import Node, creation_counter, enable_grad, is_grad_enabled, no_grad, walk
from ..nn.layers import Sequential
from ..rng import get_rng_state, set_rng_state
from ..tensor import Tensor, _wrap

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError", "noop_context_fn"]


class CheckpointError(RuntimeError):
    """The recomputation did not reproduce the forward pass (PyTorch's ``CheckpointError``)."""


def noop_context_fn() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """The default ``context_fn``: two contexts that do nothing (for the forward and the recomputation)."""
    return contextlib.nullcontext(), contextlib.nullcontext()


# -- the nested structures a function may take and return ------------------------------------------


def _flatten(value: Any) -> list[Tensor]:
    """The tensors inside ``value`` (a tensor, or tuples/lists/dicts of them), in order."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _flatten(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _flatten(item)]
    return []


def _rebuild(value: Any, replacements: Iterator[Tensor]) -> Any:
    """``value`` with each tensor replaced by the next of ``replacements`` (same structure)."""
    if isinstance(value, Tensor):
        return next(replacements)
    if isinstance(value, (tuple, list)):
        items = [_rebuild(item, replacements) for item in value]
        return type(value)(items) if not hasattr(value, "_fields") else type(value)(*items)
    if isinstance(value, dict):
        return type(value)((key, _rebuild(item, replacements)) for key, item in value.items())
    return value


def _detached(tensor: Tensor) -> Tensor:
    """A leaf sharing ``tensor``'s storage and version counter, requiring grad as it does."""
    leaf = tensor.detach()
    leaf._requires_grad = tensor._requires_grad
    return leaf


def _outside_tensors(outputs: list[Tensor], start: int, inputs: set[int]) -> list[Tensor]:
    """The tensors requiring grad that the graph recorded since creation number ``start`` reads from outside.

    Those are the parents of the new nodes that were not made by new nodes:
    leaves (parameters) and results of earlier operations (tensors captured
    from the surrounding graph). The function's own inputs (ids in
    ``inputs``) are excluded.
    """
    found: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack = [t._ctx for t in outputs if t._ctx is not None and t._ctx.seq >= start]
    for t in outputs:  # an output may be an outside tensor returned as it is
        if t._requires_grad and id(t) not in inputs and (t._ctx is None or t._ctx.seq < start):
            found.setdefault(id(t), t)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for parent in node.parents:
            source = parent._ctx
            if source is not None and source.seq >= start:
                stack.append(source)
            elif parent._requires_grad and id(parent) not in inputs:
                found.setdefault(id(parent), parent)
    return list(found.values())


# -- the graph node standing for one checkpointed call -------------------------------------------------


class _Seeds(Node):
    """The root of the recomputed graph's walk: hands each recomputed output its upstream gradient."""

    def __init__(self, outputs: list[Tensor], seeds: list[np.ndarray]) -> None:
        super().__init__(*outputs)
        self.seeds = tuple(seeds)
        self.seq = next(creation_counter)  # after every node of the recomputation

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, ...]:
        return self.seeds


class CheckpointNode(Node):
    """The graph node of one `checkpoint` call: its backward recomputes the function and backpropagates.

    Parents: the tensor arguments that require grad, then the outside tensors
    the function reads. It keeps the arguments (all of them, to run the
    function again), the random state and the function; never the function's
    intermediate values.
    """

    materialize_grads = False  # outputs no gradient reached come as None and are not backpropagated

    def __init__(self, parents: tuple, call: tuple, rng_state: dict | None, recompute_context: Any,
                 output_meta: list, check: bool, debug: bool) -> None:
        super().__init__(*parents)
        self.call = call  # (function, args, kwargs)
        self.rng_state = rng_state
        self.recompute_context = recompute_context
        self.checked_meta = output_meta if check else None
        self.debug = debug
        self.n_inputs = 0  # how many parents are arguments (the rest are outside tensors)

    @property
    def name(self) -> str:
        return "CheckpointFunction"

    def _recompute(self) -> Any:
        """Run the function again, recording its graph, from the saved random state; return its result."""
        function, args, kwargs = self.call
        fresh = {id(a): _detached(a) for a in _flatten(args)}
        arguments = _rebuild(args, iter(fresh[id(a)] for a in _flatten(args)))
        surrounding = get_rng_state() if self.rng_state is not None else None
        try:
            if self.rng_state is not None:
                set_rng_state(self.rng_state)
            with self.recompute_context, enable_grad():
                result = function(*arguments, **kwargs)
        finally:
            if surrounding is not None:
                set_rng_state(surrounding)  # the walk goes on with the random state it had
        return result, [fresh[id(a)] for a in _flatten(args)]

    def _check(self, outputs: list[Tensor]) -> None:
        meta = [(t.shape, t.dtype) for t in outputs]
        if self.checked_meta is not None and meta != self.checked_meta:
            detail = f" forward gave {self.checked_meta}, the recomputation {meta}." if self.debug else ""
            raise CheckpointError(
                f"checkpoint: recomputing the function gave {len(meta)} tensor output(s) of different shapes or "
                f"dtypes than the forward pass, so its gradients would be wrong. The function must compute the same "
                f"thing when run again (no global state that changes between forward and backward).{detail} "
                f"Pass determinism_check='none' to skip this check.")

    def backward(self, *grad_outs: np.ndarray | None) -> tuple[np.ndarray | None, ...]:
        nothing = (None,) * len(self.parents)
        if all(g is None for g in grad_outs):
            return nothing
        result, fresh_inputs = self._recompute()
        outputs = _flatten(result)
        self._check(outputs)
        pairs = [(out, grad) for out, grad in zip(outputs, grad_outs)
                 if grad is not None and out._requires_grad]
        if not pairs:
            return nothing
        # The walk stops at the arguments (fresh leaves) and at the outside tensors: past those made by earlier
        # operations, the outer walk takes their gradient on.
        targets = {id(leaf): k for k, leaf in enumerate(fresh_inputs)}
        outside = self.parents[self.n_inputs:]
        offset = len(fresh_inputs)
        for k, tensor in enumerate(outside):
            targets[id(tensor)] = offset + k
        grads: list[np.ndarray | None] = [None] * (offset + len(outside))

        def collect(leaf: Tensor, grad: np.ndarray) -> None:
            k = targets.get(id(leaf))
            if k is not None:
                grads[k] = grad if grads[k] is None else grads[k] + grad

        root = _wrap(np.zeros(()), True, _Seeds([out for out, _ in pairs], [grad for _, grad in pairs]))
        walk(root, np.zeros(()), collect, retain=False, stop_at={id(t) for t in outside})
        # One gradient per parent: the arguments that require grad, then the outside tensors.
        argument_grads = [grads[k] for k, a in enumerate(fresh_inputs) if a._requires_grad]
        return tuple(argument_grads + grads[offset:])


# -- the public functions --------------------------------------------------------------------------------


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               context_fn: Callable[[], tuple[Any, Any]] = noop_context_fn, determinism_check: str = "default",
               debug: bool = False, early_stop: bool = True, preserve_rng_state: bool = True,
               **kwargs: Any) -> Any:
    r"""Run ``function(*args, **kwargs)`` keeping only its inputs; recompute it during ``backward()``.

    The result is the function's, and so are the gradients, exactly (see the
    module docstring for the mechanism). Memory: the function's intermediate
    values are freed as soon as it returns; the backward pass holds them again
    only while it goes through this call. Compute: the function runs twice.

    The arguments are PyTorch's:

    - ``use_reentrant``: PyTorch has two implementations and asks you to
      choose; not passing it warns (as PyTorch does) and means ``True``. Here
      both are one mechanism, with PyTorch's rules for each: with ``True``,
      keyword arguments for ``function`` and ``context_fn``/``debug`` are
      refused, and if no tensor argument requires grad the result has no graph
      (a warning says so; the function's parameters get no gradient, as in
      PyTorch). With ``False`` (recommended) the parameters get their
      gradients whatever the inputs.
    - ``preserve_rng_state``: restore the random state before recomputing,
      so dropout draws the same masks (``False`` saves that copy, for
      functions that draw nothing).
    - ``context_fn``: returns two context managers, entered around the forward
      run and around the recomputation.
    - ``determinism_check``: ``"default"`` checks that the recomputation gives
      outputs of the same shapes and dtypes (else `CheckpointError`);
      ``"none"`` skips it. ``debug=True`` adds both lists to the error.
    - ``early_stop``: accepted for PyTorch's signature; the recomputation
      always runs the whole function here.

    Tensors inside tuples, lists or dicts (in the arguments or the result)
    work; the outputs' gradients flow back through them.

    Args:
        function: what to run; it gets ``*args`` (tensors among them) and ``**kwargs``.
        *args: its arguments.
        **kwargs: keyword arguments for ``function`` (only with ``use_reentrant=False``).

    Returns:
        What ``function`` returns, its tensors now standing for the checkpointed call.

    Raises:
        ValueError: keyword arguments, ``context_fn`` or ``debug`` with ``use_reentrant=True``; an unknown
            ``determinism_check``; ``debug=True`` with a ``context_fn`` of your own.
        TypeError: ``function`` is not callable.
        CheckpointError: in ``backward()``, if the recomputation does not match the forward run.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn
        >>> from tinygrad_edu.utils.checkpoint import checkpoint
        >>> _ = tg.manual_seed(0)
        >>> block = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3))
        >>> x = tg.randn(4, 3, requires_grad=True)
        >>> y = checkpoint(block, x, use_reentrant=False)  # block's activations are not kept
        >>> y.sum().backward()                             # block runs again here
        >>> plain = [x.grad.numpy().copy(), block[0].weight.grad.numpy().copy()]
        >>> x.grad = None; block.zero_grad()
        >>> block(x).sum().backward()                      # the same gradients, to the last bit
        >>> all(bool((a == b).all()) for a, b in zip(plain, [x.grad.numpy(), block[0].weight.grad.numpy()]))
        True
    """
    if use_reentrant is None:
        warnings.warn("checkpoint: pass use_reentrant explicitly (PyTorch asks for it and will refuse calls "
                      "without it); use_reentrant=False is recommended. Using True, PyTorch's current default.",
                      UserWarning, stacklevel=2)
        use_reentrant = True
    if not callable(function):
        raise TypeError(f"checkpoint: function must be callable, got {type(function).__name__}")
    if use_reentrant:
        if kwargs:
            raise ValueError("checkpoint: unexpected keyword arguments with use_reentrant=True: "
                             + ", ".join(kwargs) + "; pass use_reentrant=False to give function keyword arguments")
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("checkpoint: passing context_fn or debug is only supported with use_reentrant=False")
    check_choice("checkpoint", "determinism_check", determinism_check, ("default", "none"))
    if debug and context_fn is not noop_context_fn:
        raise ValueError("checkpoint: debug=True is incompatible with a context_fn of your own")
    forward_context, recompute_context = context_fn()
    inputs = _flatten(args)
    if use_reentrant and not any(t._requires_grad for t in inputs):
        warnings.warn("checkpoint: none of the inputs have requires_grad=True, so with use_reentrant=True gradients "
                      "will be None (pass use_reentrant=False to give the function's parameters gradients)",
                      UserWarning, stacklevel=2)
        with forward_context, no_grad():
            return function(*args, **kwargs)
    if not is_grad_enabled():
        with forward_context:
            return function(*args, **kwargs)

    rng_state = get_rng_state() if preserve_rng_state else None
    fresh = {id(a): _detached(a) for a in inputs}
    arguments = _rebuild(args, iter(fresh[id(a)] for a in inputs))
    start = next(creation_counter)
    with forward_context:
        result = function(*arguments, **kwargs)
    outputs = _flatten(result)
    outside = _outside_tensors(outputs, start, {id(t) for t in fresh.values()})
    grad_inputs = tuple(a for a in inputs if a._requires_grad)
    node = CheckpointNode(grad_inputs + tuple(outside), (function, args, dict(kwargs)), rng_state,
                          recompute_context, [(t.shape, t.dtype) for t in outputs],
                          determinism_check == "default", bool(debug))
    node.n_inputs = len(grad_inputs)
    # A changed input or parameter would make the recomputation silently differ: backward() refuses then.
    node.saved_versions = tuple((t._vc, t._vc[0], k) for k, t in enumerate(inputs + outside)) or None
    differentiable = [t._requires_grad and t.dtype.kind == "f" for t in outputs]
    if not (node.parents and any(differentiable)):
        return _rebuild(result, iter(t.detach() if t._requires_grad else t for t in outputs))
    node.seq = next(creation_counter)
    node.n_outputs = len(outputs)
    node.output_meta = [(t.shape, t.dtype) for t in outputs]
    if autograd._recorder is not None and autograd._recorder.path:
        node.scope = autograd._recorder.path
    replaced = []
    for k, (tensor, recorded) in enumerate(zip(outputs, differentiable)):
        out = _wrap(tensor._data)  # the same values; the graph that made them is dropped with `result`
        if recorded:
            out._requires_grad, out._ctx, out._seq = True, node, node.seq
            if k:
                out._out_index = k
        replaced.append(out)
    return _rebuild(result, iter(replaced))


def checkpoint_sequential(functions: Any, segments: int, input: Tensor,  # noqa: A002 - PyTorch's name
                          use_reentrant: bool | None = None, preserve_rng_state: bool = True,
                          **kwargs: Any) -> Tensor:
    r"""Run a sequence of modules/functions in ``segments`` chunks, checkpointing all but the last.

    As PyTorch's: ``functions`` (an ``nn.Sequential``, or a list of modules or
    functions of one tensor) is cut into ``segments`` chunks of
    ``len(functions) // segments`` (the last chunk takes the remainder and
    runs normally, since its backward comes first anyway). Only each chunk's
    input is kept, so for :math:`L` layers the activations held are about
    :math:`\text{segments} + L/\text{segments}` layers' worth instead of
    :math:`L`.

    Args:
        functions: an ``nn.Sequential`` or a list/tuple of callables.
        segments: the number of chunks, in [1, len(functions)].
        input: the tensor given to the first function.
        use_reentrant: as in `checkpoint` (not passing it warns and means ``True``).
        preserve_rng_state: as in `checkpoint`.

    Raises:
        ValueError: other keyword arguments, or ``segments`` out of range.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn
        >>> from tinygrad_edu.utils.checkpoint import checkpoint_sequential
        >>> model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(6)])
        >>> y = checkpoint_sequential(model, 3, tg.randn(2, 4), use_reentrant=False)
        >>> y.grad_fn.name                                 # the last chunk ran normally
        'Linear'
        >>> y.sum().backward()                             # chunks 2, then 1, recomputed on the way
        >>> model[0].weight.grad is not None
        True
    """
    if use_reentrant is None:
        warnings.warn("checkpoint_sequential: pass use_reentrant explicitly (PyTorch asks for it); "
                      "use_reentrant=False is recommended. Using True, PyTorch's current default.",
                      UserWarning, stacklevel=2)
        use_reentrant = True
    if kwargs:
        raise ValueError("checkpoint_sequential: unexpected keyword arguments: " + ", ".join(kwargs))
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    if not isinstance(functions, Iterable) or isinstance(functions, (str, bytes)):
        raise TypeError(f"checkpoint_sequential: functions must be an nn.Sequential or a list of callables, "
                        f"got {type(functions).__name__}")
    functions = list(functions)
    for k, fn in enumerate(functions):
        if not callable(fn):
            raise TypeError(f"checkpoint_sequential: functions[{k}] is not callable ({type(fn).__name__})")
    segments = check_int("checkpoint_sequential", "segments", segments, minimum=1, maximum=max(1, len(functions)))

    def run(start: int, end: int) -> Callable[[Tensor], Tensor]:
        def chunk(x: Tensor) -> Tensor:
            for fn in functions[start:end + 1]:
                x = fn(x)
            return x

        return chunk

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant,  # noqa: A001
                           preserve_rng_state=preserve_rng_state)
    return run(end + 1, len(functions) - 1)(input)
