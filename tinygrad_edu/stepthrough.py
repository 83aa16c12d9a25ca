"""Step-through backpropagation: the backward pass one node at a time, and a gradient check per node.

``loss.backward()`` does all its work at once and leaves only the leaves'
``.grad`` behind. `backward_steps` shows the work itself::

    trace = tg.backward_steps(loss, names={"w": w, "x": x})
    print(trace)              # every step as a table
    for step in trace: ...    # or one node at a time (in a notebook: trace.step(0), trace.step(1), ...)
    trace.totals              # each leaf's total gradient: what .backward() adds to .grad

It replays exactly what `tinygrad_edu.autograd.run_backward` does, in the same
order (the node with the highest creation number first), with the same local
rules (each node's ``backward``) and the same summing-down of
broadcast gradients (`tinygrad_edu.autograd.unbroadcast`), but it touches no
``.grad``: each step is recorded instead. A step holds the node (its
operation, output shape and creation number), the upstream gradient
``grad_out`` it received, the local rule (the first line of the operation's
docstring), and what it sends to each input; where a tensor is reached along a
second path, the step says so and shows the running total, because the
gradients of the paths are *added*.

Names: pass ``names={"label": tensor, ...}`` to label tensors in the printout.
Unnamed leaves are called ``leaf0``, ``leaf1``, ... in the order the walk
reaches them (tensors that need no gradient: ``constant``), and unnamed
intermediate results by operation and creation number, as ``Mul#12``.

`gradcheck_nodes` is `tinygrad_edu.gradcheck` taken apart: instead of one
verdict for a whole function, it checks every node's backward on its own,
against central differences of that node's own forward, so a wrong derivative
is pinned to the one operation that has it (errors do not travel along the
graph, because each node gets its inputs and upstream gradient from the
unperturbed forward pass).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from ._display import format_value, html_table, text_table
from .autograd import Node, keep_forward_inputs, summed_axes, unbroadcast, walk
from .gradcheck import GradcheckError, float64_copies
from .tensor import Tensor, backward_seed

__all__ = [
    "backward_steps",
    "BackwardTrace",
    "BackwardStep",
    "InputGradient",
    "HookChange",
    "gradcheck_nodes",
    "NodeCheckReport",
    "NodeCheck",
    "InputCheck",
    "NodeGradcheckError",
]


# ---------------------------------------------------------------------------
# Labels for tensors
# ---------------------------------------------------------------------------


class _Labels:
    """Names for the tensors of a graph: the user's, else made up (``leaf0``, ``Mul#12``)."""

    def __init__(self, names: Mapping[str, Tensor] | None) -> None:
        self.by_id: dict[int, str] = {}
        self.keep: list[Tensor] = []  # the labelled tensors stay alive, so their ids stay theirs
        self.leaves = 0
        for label, t in (names or {}).items():
            if not isinstance(t, Tensor):
                raise TypeError(f"names: the value for {label!r} must be a Tensor, got {type(t).__name__} "
                                f"(names maps a label to a tensor: names={{'w': w}})")
            self.by_id[id(t)] = str(label)
            self.keep.append(t)

    def __call__(self, t: Tensor) -> str:
        label = self.by_id.get(id(t))
        if label is None:
            if t._ctx is not None:
                label = f"{t._ctx.name}#{t._seq}"
            elif t._requires_grad:
                label = f"leaf{self.leaves}"
                self.leaves += 1
            else:
                return "constant"
            self.by_id[id(t)] = label
            self.keep.append(t)
        return label

    def node(self, t: Tensor) -> str:
        """An intermediate result as ``name = Op#seq`` when the user named it, else ``Op#seq``."""
        label = self(t)
        plain = f"{t._ctx.name}#{t._seq}"
        return plain if label == plain else f"{label} = {plain}"


def _rule(fn: Node) -> str:
    """The local derivative of ``fn``: the first line of its operation's docstring (of a custom `Function`'s
    class, when it has one: the backward hooks' node says what it is)."""
    own = getattr(getattr(fn, "function", None), "__doc__", None)  # the class's own (getdoc would inherit one)
    doc = inspect.cleandoc(own) if own else inspect.getdoc(type(fn))
    return doc.strip().splitlines()[0] if doc else f"{fn.name} (no docstring)"


# ---------------------------------------------------------------------------
# The trace of one backward pass
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InputGradient:
    """What one node sends to one of its inputs.

    Attributes:
        label: the input's name.
        shape: the input's shape.
        grad: the gradient sent, after `unbroadcast` (``None`` when the input
            needs no gradient, such as a constant).
        broadcast_shape: the shape the local rule produced, before unbroadcasting.
        summed_axes: the axes of ``broadcast_shape`` that unbroadcasting summed
            (empty when the shapes already agreed).
        is_leaf: whether the input is a leaf (its total ends up in ``.grad``).
        contribution: 1 for the first gradient reaching this input in the walk,
            2 for the second path, and so on (0 when nothing is sent).
        running_total: the input's gradient so far, after adding this one
            (``None`` for a first contribution, where it equals ``grad``).
        tensor: the input itself.
    """

    label: str
    shape: tuple[int, ...]
    grad: np.ndarray | None
    broadcast_shape: tuple[int, ...] | None
    summed_axes: tuple[int, ...]
    is_leaf: bool
    contribution: int
    running_total: np.ndarray | None
    tensor: Tensor = field(repr=False)

    @property
    def note(self) -> str:
        """Unbroadcasting and accumulation, in words."""
        if self.grad is None:
            return "needs no gradient: nothing sent"
        notes = []
        if self.summed_axes:
            notes.append(f"unbroadcast: summed axes {self.summed_axes} of {self.broadcast_shape} -> {self.shape}")
        if self.contribution > 1:
            ordinal = {2: "second", 3: "third"}.get(self.contribution, f"{self.contribution}th")
            notes.append(f"{self.label} receives a {ordinal} contribution; running total = "
                         f"{format_value(self.running_total)}")
        return "; ".join(notes)


@dataclass(frozen=True, eq=False)
class HookChange:
    """Tensor hooks (``Tensor.register_hook``) ran on one gradient: what they got and what they passed on.

    Attributes:
        label: the tensor whose gradient the hooks saw.
        before: the gradient the hooks got (a leaf's total, or an intermediate result's complete gradient).
        after: what they returned: what a leaf's ``.grad`` gets, or what flows on to the inputs.
        is_leaf: whether the tensor is a leaf.
    """

    label: str
    before: np.ndarray
    after: np.ndarray
    is_leaf: bool

    @property
    def changed(self) -> bool:
        """Whether the hooks replaced (or changed) the gradient."""
        return not np.array_equal(self.before, self.after, equal_nan=True)

    @property
    def note(self) -> str:
        """The change in words, with the norms before and after."""
        if not self.changed:
            return f"hook on {self.label}: gradient unchanged"
        norm_before = float(np.linalg.norm(np.asarray(self.before, dtype=np.float64)))
        norm_after = float(np.linalg.norm(np.asarray(self.after, dtype=np.float64)))
        return (f"hook on {self.label} changed its gradient: {format_value(self.before)} -> "
                f"{format_value(self.after)} (norm {norm_before:.4g} -> {norm_after:.4g})")


@dataclass(frozen=True, eq=False)
class BackwardStep:
    """One node of the backward walk: what it received and what it sent.

    Attributes:
        index: the position of this step in the walk (0 is the output).
        op: the operation's name (``Mul``, ``Sum``, ...).
        label: the node's output, named (``Mul#12`` unless named by the user).
        shape: the output's shape.
        seq: the output's creation number (the walk goes from highest to lowest).
        grad_out: the upstream gradient dL/d(output), complete when the node is visited.
        rule: the local derivative, the first line of the operation's docstring.
        inputs: one `InputGradient` per input of the operation, in order.
        tensor: the node's output tensor.
        hooks: the tensor hooks that ran at this step, as `HookChange`: those of
            this node's output (``grad_out`` is then what they returned, what the
            rule used), and those of leaves whose gradient this step completed.
    """

    index: int
    op: str
    label: str
    shape: tuple[int, ...]
    seq: int
    grad_out: np.ndarray
    rule: str
    inputs: tuple[InputGradient, ...]
    tensor: Tensor = field(repr=False)
    hooks: tuple[HookChange, ...] = ()

    @property
    def accumulations(self) -> list[InputGradient]:
        """The inputs that this step reaches along a second (third, ...) path."""
        return [inp for inp in self.inputs if inp.contribution > 1]

    def _rows(self) -> list[list[str]]:
        return [[inp.label, str(inp.shape), format_value(inp.grad), inp.note] for inp in self.inputs]

    def __str__(self) -> str:
        head = (f"step {self.index}: {self.label} (out shape {self.shape}, creation #{self.seq})\n"
                f"  grad_out = {format_value(self.grad_out)}\n  rule: {self.rule}")
        hooks = "".join(f"\n  {hook.note}" for hook in self.hooks)
        return head + hooks + "\n" + text_table(["input", "shape", "sends (dL/d input)", "note"], self._rows(),
                                                indent="  ")

    def _repr_html_(self) -> str:
        caption = (f"step {self.index}: {self.label} (out shape {self.shape}, creation #{self.seq}); "
                   f"grad_out = {format_value(self.grad_out)}; rule: {self.rule}")
        caption += "".join(f"; {hook.note}" for hook in self.hooks)
        return html_table(["input", "shape", "sends (dL/d input)", "note"], self._rows(), caption=caption)


class BackwardTrace(Sequence):
    """The recorded backward walk: a sequence of `BackwardStep`, in the order ``backward()`` visits them.

    Use ``for step in trace``, ``trace[i]`` or ``trace.step(i)`` to go through
    it one node at a time; ``print(trace)`` shows every step as a table (a
    notebook renders ``trace`` and each step as HTML).

    Attributes:
        root: the tensor the walk started from; ``root_label`` its name.
        seed: dL/d(root), the gradient the walk started with.
        totals: each leaf that requires grad and was reached, mapped to its
            total gradient: what ``root.backward(seed)`` puts in an empty
            ``.grad``, bit for bit. (Onto an existing ``.grad``, backward adds
            path by path, which may round differently in the last bit.) For a
            leaf with hooks, what its hooks returned.
        hooks: every `HookChange`, in the order the hooks ran (each also in its step's ``hooks``).
    """

    def __init__(self, root: Tensor, root_label: str, seed: np.ndarray, steps: list[BackwardStep],
                 totals: dict[Tensor, np.ndarray], labels: _Labels, hooks: list[HookChange] | None = None) -> None:
        self.root = root
        self.root_label = root_label
        self.seed = seed
        self.steps = steps
        self.totals = totals
        self.hooks = hooks or []
        self._labels = labels
        self._step_of = {id(step.tensor): step for step in steps}

    @overload
    def __getitem__(self, index: int) -> BackwardStep: ...

    @overload
    def __getitem__(self, index: slice) -> list[BackwardStep]: ...

    def __getitem__(self, index: Any) -> Any:
        return self.steps[index]

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[BackwardStep]:
        return iter(self.steps)

    def step(self, i: int) -> BackwardStep:
        """Step ``i`` of the walk (0 is the node that produced the root)."""
        if not -len(self.steps) <= i < len(self.steps):
            raise IndexError(f"step {i} does not exist: this backward pass has {len(self.steps)} steps")
        return self.steps[i]

    def grad_of(self, tensor: Tensor | str) -> np.ndarray:
        """The complete gradient dL/d(tensor) of a leaf or an intermediate result (a tensor or its label)."""
        if isinstance(tensor, str):
            matches = [t for t in [*self.totals, *(s.tensor for s in self.steps)] if self._labels(t) == tensor]
            if not matches:
                known = [self._labels(t) for t in [*self.totals, *(s.tensor for s in self.steps)]]
                raise KeyError(f"no tensor labelled {tensor!r} received a gradient; labels: {known}")
            tensor = matches[0]
        if tensor in self.totals:
            return self.totals[tensor]
        step = self._step_of.get(id(tensor))
        if step is None or step.tensor is not tensor:
            raise KeyError("this tensor received no gradient in this backward pass")
        return step.grad_out

    def _total_rows(self) -> list[list[str]]:
        rows = [[self._labels(t), str(t.shape), format_value(g)] for t, g in self.totals.items()]
        leaf_hooks = {hook.label: hook for hook in self.hooks if hook.is_leaf}
        if leaf_hooks:
            for row in rows:
                hook = leaf_hooks.get(row[0])
                row.append("" if hook is None else (f"hook: {format_value(hook.before)} -> {format_value(hook.after)}"
                                                    if hook.changed else "hook: unchanged"))
        return rows

    def _total_header(self) -> list[str]:
        return ["leaf", "shape", "total gradient"] + (["hook"] if any(h.is_leaf for h in self.hooks) else [])

    def __str__(self) -> str:
        lines = [f"Backward pass from {self.root_label} (shape {self.root.shape}), seed dL/d{self.root_label} = "
                 f"{format_value(self.seed)}: {len(self.steps)} steps, highest creation number first", ""]
        lines += [str(step) for step in self.steps]
        lines += ["", "Total gradient of each leaf (what .backward() adds to .grad):"]
        lines.append(text_table(self._total_header(), self._total_rows(), indent="  "))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<BackwardTrace from {self.root_label}: {len(self.steps)} steps, {len(self.totals)} leaves; "
                f"print() it for the table>")

    def _repr_html_(self) -> str:
        rows = []
        for step in self.steps:
            for k, inp in enumerate(step.inputs):
                head = [str(step.index), step.label, str(step.shape), format_value(step.grad_out), step.rule] \
                    if k == 0 else ["", "", "", "", ""]
                rows.append(head + [inp.label, format_value(inp.grad), inp.note])
            for hook in step.hooks:
                rows.append(["", "", "", "", "", hook.label, format_value(hook.after), hook.note])
        caption = (f"Backward pass from {self.root_label} (shape {self.root.shape}), seed "
                   f"{format_value(self.seed)}: {len(self.steps)} steps")
        steps = html_table(["step", "node", "out shape", "grad_out", "local rule", "input", "sends", "note"], rows,
                           caption=caption)
        totals = html_table(self._total_header(), self._total_rows(),
                            caption="Total gradient of each leaf (what .backward() adds to .grad)")
        return steps + totals


def backward_steps(tensor: Tensor, gradient: Any = None, *, names: Mapping[str, Tensor] | None = None) -> BackwardTrace:
    """Record the backward pass of ``tensor`` step by step, without changing any ``.grad``.

    The walk is the one ``tensor.backward(gradient)`` makes (see
    `tinygrad_edu.autograd.run_backward`): the node with the highest creation
    number goes next, each node's ``backward`` turns its ``grad_out``
    into one gradient per input, `tinygrad_edu.autograd.unbroadcast` sums a
    broadcast gradient back to the input's shape, and gradients reaching a
    tensor along several paths are added. The totals are the same numbers,
    to the last bit, that ``backward()`` adds to each leaf's ``.grad``.

    Tensor hooks (``Tensor.register_hook``) run as in ``backward()`` (so their
    side effects happen here too), and each step lists in ``hooks`` what they
    got and returned: a line in the printout, with the norms before and after.

    Args:
        tensor: the output to differentiate (a loss, usually).
        gradient: dL/d(tensor), as for ``backward()``; may be omitted for a
            one-element tensor (it is then 1).
        names: labels for the printout, mapping a name to a tensor, e.g.
            ``names={"w": w, "x": x, "hidden": h}``.

    Returns:
        A `BackwardTrace`: a sequence of `BackwardStep`, with ``.totals``.

    Example:
        >>> import tinygrad_edu as tg
        >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * x).sum()                  # x is used twice by the Mul
        >>> trace = tg.backward_steps(y, names={"x": x})
        >>> [step.op for step in trace]
        ['Sum', 'Mul']
        >>> trace[1].inputs[1].note
        'x receives a second contribution; running total = [2., 4.]'
        >>> trace.totals[x]                    # dy/dx = 2x
        array([2., 4.], dtype=float32)
        >>> h = x * 3
        >>> _ = h.register_hook(lambda grad: grad * 10)
        >>> trace = tg.backward_steps(h.sum(), names={"h": h})
        >>> print(trace[1].hooks[0].note)
        hook on h changed its gradient: [1., 1.] -> [10., 10.] (norm 1.414 -> 14.14)
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"backward_steps expects a Tensor, got {type(tensor).__name__}")
    seed = backward_seed(tensor, gradient, "backward_steps")
    labels = _Labels(names)
    root_label = labels(tensor)
    steps: list[BackwardStep] = []
    totals: dict[Tensor, np.ndarray] = {}
    arrivals: dict[int, int] = {}  # how many paths have reached each tensor so far
    outputs = {id(tensor._ctx): tensor}  # node -> the tensor it made (met as an input before its visit)
    hooks: list[HookChange] = []
    step_hooks: list[HookChange] = []  # the hooks that ran since the last step

    def on_hook(target: Any, index: int | None, before: np.ndarray, after: np.ndarray) -> None:
        if index is None:
            label, is_leaf = labels(target), True
        else:
            out = outputs.get(id(target))
            label = labels(out) if out is not None else f"{target.name}#{target.seq}"
            if target.n_outputs > 1:
                label += f" (output {index})"
            is_leaf = False
        change = HookChange(label, np.array(before), np.array(after), is_leaf)
        hooks.append(change)
        step_hooks.append(change)

    def on_leaf(leaf: Tensor, grad: np.ndarray) -> np.ndarray | None:
        # The same sums as Tensor._accumulate_grad, into the table instead of .grad.
        if leaf not in totals:
            totals[leaf] = np.array(grad)  # a copy that owns its memory, as .grad does
            return None
        totals[leaf] += grad
        return totals[leaf].copy()

    def on_node(node: Any, grad_out: Any, edges: list) -> None:
        sent, k = [], 0
        for parent in node.parents:
            label = labels(parent)
            if k == len(edges) or edges[k][0] is not parent:
                sent.append(InputGradient(label, parent.shape, None, None, (), parent._ctx is None, 0, None, parent))
                continue
            _, grad, broadcast_shape, running = edges[k]
            k += 1
            if parent._ctx is not None:
                outputs[id(parent._ctx)] = parent
            count = arrivals[id(parent)] = arrivals.get(id(parent), 0) + 1
            summed = summed_axes(broadcast_shape, parent.shape) if broadcast_shape != parent.shape else ()
            sent.append(InputGradient(label, parent.shape, np.array(grad), broadcast_shape, summed,
                                      parent._ctx is None, count, None if running is None else np.array(running),
                                      parent))
        out = outputs[id(node)]
        shown = np.array(grad_out) if node.n_outputs == 1 else tuple(grad_out)
        steps.append(BackwardStep(len(steps), node.name, labels.node(out), out.shape, node.seq, shown,
                                  _rule(node), tuple(sent), out, tuple(step_hooks)))
        step_hooks.clear()

    walk(tensor, seed, on_leaf, on_node, retain=False, on_hook=on_hook)
    return BackwardTrace(tensor, root_label, seed, steps, totals, labels, hooks)


# ---------------------------------------------------------------------------
# A gradient check per node
# ---------------------------------------------------------------------------


class NodeGradcheckError(GradcheckError):
    """Some node's backward disagrees with finite differences of its forward; the message names the op."""


@dataclass(frozen=True)
class InputCheck:
    """The check of one node's gradient for one of its inputs.

    Attributes:
        label: the input's name; ``shape`` its shape.
        max_error: the largest |analytic - numeric| over the input's elements.
        worst_index: the element where the check fails worst (or the largest error when it passes).
        analytic, numeric: the two values at ``worst_index``.
        ok: whether every element passes ``|analytic - numeric| <= atol + rtol * |numeric|``.
    """

    label: str
    shape: tuple[int, ...]
    max_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    ok: bool


@dataclass(frozen=True)
class NodeCheck:
    """The check of one node: its backward against finite differences of its forward.

    Attributes:
        op: the operation's name; ``label`` the node's name; ``shape`` its output shape;
            ``seq`` its creation number; ``rule`` the derivative its docstring states.
        inputs: one `InputCheck` per input that needs a gradient.
        skipped: why the node could not be checked (empty when it was).
    """

    op: str
    label: str
    shape: tuple[int, ...]
    seq: int
    rule: str
    inputs: tuple[InputCheck, ...]
    skipped: str = ""

    @property
    def ok(self) -> bool:
        """True when every checked input passes (a skipped node counts as passing)."""
        return all(inp.ok for inp in self.inputs)

    @property
    def max_error(self) -> float:
        """The worst |analytic - numeric| over the node's inputs."""
        return max((inp.max_error for inp in self.inputs), default=0.0)

    def describe_failure(self) -> str:
        """The failing inputs in words."""
        return "; ".join(
            f"input {inp.label} {list(inp.worst_index)}: analytic {inp.analytic:.6g}, numeric {inp.numeric:.6g}"
            for inp in self.inputs if not inp.ok)


class NodeCheckReport:
    """The result of `gradcheck_nodes`: one `NodeCheck` per node, in creation (forward) order.

    ``print(report)`` gives a table with ok / FAILED per node; ``report.failed``
    lists the nodes whose backward is wrong; ``report.raise_if_failed()`` raises
    `NodeGradcheckError` naming them.
    """

    def __init__(self, nodes: list[NodeCheck], eps: float, atol: float, rtol: float) -> None:
        self.nodes = nodes
        self.eps, self.atol, self.rtol = eps, atol, rtol

    @property
    def ok(self) -> bool:
        """True when every node passes."""
        return all(node.ok for node in self.nodes)

    @property
    def failed(self) -> list[NodeCheck]:
        """The nodes whose backward disagrees with finite differences."""
        return [node for node in self.nodes if not node.ok]

    def __iter__(self) -> Iterator[NodeCheck]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, index: int) -> NodeCheck:
        return self.nodes[index]

    def summary(self) -> str:
        """One sentence: all ok, or which operations have a wrong backward."""
        if self.ok:
            return f"all {len(self.nodes)} nodes agree with finite differences"
        return "wrong backward in " + ", ".join(
            f"{node.op} (node {node.label}, output shape {node.shape}: {node.describe_failure()})"
            for node in self.failed)

    def raise_if_failed(self) -> None:
        """Raise `NodeGradcheckError` (an `AssertionError`) naming each node that failed."""
        if not self.ok:
            raise NodeGradcheckError(f"gradcheck_nodes: {self.summary()}")

    def _rows(self) -> list[list[str]]:
        rows = []
        for node in self.nodes:
            result = "skipped" if node.skipped else ("ok" if node.ok else "FAILED")
            detail = node.skipped or (f"{node.max_error:.3g}" if node.ok else
                                      f"{node.max_error:.3g}  <- {node.describe_failure()}")
            rows.append([node.label, node.op, str(node.shape), result, detail])
        return rows

    def __str__(self) -> str:
        head = (f"Gradient check per node, float64 (eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g}): "
                f"{self.summary()}")
        return head + "\n" + text_table(["node", "op", "out shape", "result", "worst |analytic - numeric|"],
                                        self._rows(), indent="  ")

    def __repr__(self) -> str:
        return f"<NodeCheckReport: {self.summary()}>"

    def _repr_html_(self) -> str:
        return html_table(["node", "op", "out shape", "result", "worst |analytic - numeric|"], self._rows(),
                          caption=f"Gradient check per node: {self.summary()}")


def _graph_nodes(out: Tensor) -> list[Tensor]:
    """One output tensor per recorded node that ``out`` depends on, in creation order."""
    seen: dict[int, Tensor] = {}
    stack = [out] if out._ctx is not None else []
    while stack:
        t = stack.pop()
        if id(t._ctx) in seen:
            continue
        seen[id(t._ctx)] = t
        stack.extend(p for p in t._ctx.parents if p._ctx is not None and id(p._ctx) not in seen)
    return sorted(seen.values(), key=lambda t: t._seq)


def _check_node(node: Tensor, labels: _Labels, rng: np.random.Generator, eps: float, atol: float,
                rtol: float) -> NodeCheck:
    fn = node._ctx
    head = dict(op=fn.name, label=labels(node), shape=node.shape, seq=node._seq, rule=_rule(fn))
    call = fn.forward_call
    if call is None:
        return NodeCheck(**head, inputs=(), skipped="built outside fn, so its forward cannot be replayed")
    arrays, options = call
    # Random upstream gradients r (one per output): the node's backward must give d(sum(r * out))/d(input).
    metas = fn.output_meta if fn.n_outputs > 1 else [(node.shape, node.dtype)]
    upstream = [np.asarray(rng.standard_normal(shape)).astype(dtype, copy=False) for shape, dtype in metas]
    analytic_all = fn.backward(*upstream)
    # A spare node of the same operation to run forward on perturbed copies (the original keeps its saved values).
    spare = object.__new__(type(fn))
    spare.parents, spare.needs_input_grad = fn.parents, fn.needs_input_grad

    def weighted_output(args: list) -> float:
        outs = spare.forward(*args, **options)
        outs = outs if fn.n_outputs > 1 else (outs,)
        return float(sum(np.sum(r * o, dtype=np.float64) for r, o in zip(upstream, outs)))

    checks = []
    for i, (parent, needed) in enumerate(zip(fn.parents, fn.needs_input_grad)):
        if not needed:
            continue
        # C order, so that the flat view below writes into it (a permuted input is not C-contiguous).
        perturbed = np.array(arrays[i], dtype=np.float64, order="C")
        analytic = analytic_all[i]
        analytic = np.zeros(perturbed.shape) if analytic is None else np.asarray(analytic, dtype=np.float64)
        if analytic.shape != perturbed.shape:
            analytic = unbroadcast(analytic, perturbed.shape)
        args = list(arrays)
        args[i] = perturbed
        flat = perturbed.reshape(-1)  # a view: writing flat[j] perturbs args[i]
        numeric = np.empty(flat.size)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = weighted_output(args)
            flat[j] = original - eps
            minus = weighted_output(args)
            flat[j] = original
            numeric[j] = (plus - minus) / (2 * eps)
        numeric = numeric.reshape(perturbed.shape)
        error = np.abs(analytic - numeric)
        allowed = atol + rtol * np.abs(numeric)
        bad = ~(error <= allowed)  # NaN counts as a failure
        # The worst element: the one furthest beyond its allowance when some fail, else the largest error.
        score = np.where(bad, np.nan_to_num(error - allowed, nan=np.inf), -np.inf) if bad.any() else error
        worst = np.unravel_index(int(np.argmax(score)), perturbed.shape) if perturbed.size else None
        checks.append(InputCheck(
            label=labels(parent), shape=parent.shape,
            max_error=float(error.max()) if error.size else 0.0,  # NaN when some element is NaN
            worst_index=tuple(int(n) for n in worst) if worst is not None else (),
            analytic=float(analytic[worst]) if worst is not None else 0.0,
            numeric=float(numeric[worst]) if worst is not None else 0.0,
            ok=not bad.any()))
    return NodeCheck(**head, inputs=tuple(checks))


def gradcheck_nodes(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
                    rtol: float = 1e-3, names: Mapping[str, Any] | None = None, seed: int = 0,
                    raise_on_failure: bool = False) -> NodeCheckReport:
    """Check the backward of every node in the graph of ``fn(*inputs)`` against its own forward.

    ``tg.gradcheck`` says *whether* the gradient of a whole function is
    right; this says *which operation* is wrong. ``fn`` runs once, in float64,
    and then each node is tested alone: with a random upstream gradient r, its
    ``backward(r)`` must equal the central differences

        d sum(r * out) / d x_j  ~  (sum(r * f(x + eps e_j)) - sum(r * f(x - eps e_j))) / (2 eps)

    of its own forward f, for every element x_j of every input that needs a
    gradient. A node gets its inputs from the unperturbed forward pass, so a
    wrong rule does not make the nodes around it fail: exactly the wrong one
    is reported. (As with any finite-difference check, avoid inputs that sit
    on a kink, such as relu at 0.)

    Args:
        fn: a function of the inputs returning one Tensor.
        *inputs: Tensors (or arrays), copied to float64; those with
            ``requires_grad=True`` are the variables.
        eps: the finite-difference step.
        atol, rtol: an element passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
        names: labels for the report, mapping a name to one of ``inputs``
            (``names={"w": w}``); other inputs are ``input0``, ``input1``, ...
        seed: seeds the random upstream gradients.
        raise_on_failure: raise `NodeGradcheckError` instead of returning a failing report.

    Returns:
        A `NodeCheckReport`; ``print`` it for the table, ``.failed`` for the culprits.

    Example:
        >>> import tinygrad_edu as tg
        >>> x = tg.randn(3, requires_grad=True)
        >>> report = tg.gradcheck_nodes(lambda t: (t.tanh() * t).sum(), x, names={"x": x})
        >>> report.ok, [node.op for node in report]
        (True, ['Tanh', 'Mul', 'Sum'])
    """
    if eps <= 0:
        raise ValueError(f"gradcheck_nodes: eps must be positive, got {eps}")
    tensors = float64_copies(inputs)
    label_of = {id(value): label for label, value in (names or {}).items()}
    if len(label_of) != len(names or {}) or not set(label_of) <= {id(value) for value in inputs}:
        raise ValueError("gradcheck_nodes: names must map labels to the inputs passed to gradcheck_nodes, "
                         "one label each")
    labels = _Labels({label_of.get(id(value), f"input{k}"): t for k, (value, t) in enumerate(zip(inputs, tensors))})
    with keep_forward_inputs():
        out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck_nodes: fn must return a Tensor, got {type(out).__name__}")
    nodes = _graph_nodes(out)
    if not nodes:
        raise ValueError("gradcheck_nodes: the output was not computed from any input with requires_grad=True, "
                         "so there is no node to check")
    rng = np.random.default_rng(seed)
    report = NodeCheckReport([_check_node(node, labels, rng, eps, atol, rtol) for node in nodes], eps, atol, rtol)
    if raise_on_failure:
        report.raise_if_failed()
    return report
