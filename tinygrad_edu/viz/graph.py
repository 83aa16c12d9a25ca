"""The computation graph of a tensor, drawn with matplotlib alone (no graphviz).

Every recorded operation left a `Function` node in ``tensor._ctx``, whose
``parents`` are its input tensors. Walking those links back from a result
finds the whole graph: the *leaves* (tensors you made: parameters, inputs,
constants) and the *operations* (each box standing for the op and the tensor
it produced). The picture is laid out in columns, inputs at the left and the
result at the right, each arrow carrying a value forward; ``backward()``
sends gradients along the same arrows the other way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.patches import FancyArrowPatch

from ..autograd import record_scopes
from ..tensor import Tensor
from ._inputs import check_count, figure_and_axes, new_figure
from ._style import styled

__all__ = ["plot_graph", "trace_modules"]

#: Tensors with at most this many elements show their values; larger ones show their shape.
MAX_SHOWN_ELEMENTS = 4

_LEAF_COLOR = "#cfe2ff"  # a leaf that requires grad (a parameter, an input you differentiate)
_CONST_COLOR = "#e9ecef"  # a leaf that does not (data, a Python number)
_OP_COLOR = "#ffe8b3"
_ROOT_COLOR = "#c8f7c5"
_MODULE_COLOR = "#f8d7da"  # a module drawn as one box


@dataclass
class _Node:
    tensor: Any  # a leaf tensor, or the output of the operation
    op: Any  # the Function node, or None for a leaf
    inputs: list[tuple[int, ...]] = field(default_factory=list)  # producer keys, one per use, in order
    consumers: set[tuple[int, ...]] = field(default_factory=set)


def _key(tensor: Any) -> tuple[int, ...]:
    """One box per operation (keyed by its Function) and one per leaf tensor."""
    ctx = tensor._ctx
    return (0, id(ctx)) if ctx is not None else (1, id(tensor))


def _walk(root: Any, max_nodes: int) -> tuple[dict[tuple[int, ...], _Node], tuple[int, ...]]:
    """Find every node feeding ``root``, iteratively (deep graphs cannot overflow the stack)."""
    nodes: dict[tuple[int, ...], _Node] = {}
    stack = [root]
    while stack:
        tensor = stack.pop()
        key = _key(tensor)
        if key in nodes:
            continue
        node = nodes[key] = _Node(tensor=tensor, op=tensor._ctx)
        if len(nodes) > max_nodes:
            raise ValueError(f"plot_graph: the graph has more than max_nodes={max_nodes} nodes; a picture that "
                             f"large is unreadable, so draw a smaller expression or pass a larger max_nodes=")
        if node.op is not None:
            node.inputs = [_key(parent) for parent in node.op.parents]
            stack.extend(reversed(node.op.parents))  # the first input is visited (and placed) first
    for key, node in nodes.items():
        for source in node.inputs:
            nodes[source].consumers.add(key)
    return nodes, _key(root)


@dataclass
class _ModuleBox:
    """A module drawn as one box: the stand-in for the operations its forward recorded."""

    name: str
    kind: str
    ops: int


def trace_modules(model: Any) -> record_scopes:
    """A ``with`` block inside which every operation remembers the module (of ``model``) that made it.

    Build the graph inside it, then ``plot_graph(loss, collapse=True)`` draws
    each of ``model``'s children as one box (``collapse=2`` goes a level
    deeper; a list of names picks the modules). Outside the block nothing is
    recorded and nothing costs anything.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> with tg.viz.trace_modules(model):
        ...     loss = model(tg.randn(3, 4)).sum()
        >>> fig = tg.viz.plot_graph(loss, collapse=True)   # three boxes: 0: Linear, 1: ReLU, 2: Linear
    """
    if not hasattr(model, "named_modules"):
        raise TypeError(f"trace_modules: expected an nn.Module, got {type(model).__name__}")
    return record_scopes({id(module): name for name, module in model.named_modules() if name})


def _group(scope: tuple, collapse: Any) -> tuple[str, str] | None:
    """The (name, class) of the module box an operation with this scope belongs to, if any."""
    if not scope:
        return None
    if isinstance(collapse, (list, tuple, set)):
        return next((entry for entry in reversed(scope) if entry[0] in collapse), None)
    return scope[min(int(collapse), len(scope)) - 1]


def _collapse(nodes: dict[tuple[int, ...], _Node], root: tuple[int, ...],
              collapse: Any) -> tuple[dict[tuple[int, ...], _Node], tuple[int, ...]]:
    """Merge the operations of each collapsed module (and the leaves only it uses) into one box."""
    group_of: dict[tuple[int, ...], tuple[Any, ...]] = {}
    for key, node in nodes.items():
        if node.op is not None:
            entry = _group(node.op.scope, collapse)
            if entry is not None:
                group_of[key] = (2, entry[0])
    kinds = {group_of[key][1]: _group(nodes[key].op.scope, collapse)[1] for key in group_of}
    # A leaf that requires grad and feeds one module alone is that module's parameter: inside its box.
    for key, node in nodes.items():
        if node.op is None and node.tensor.requires_grad and node.consumers:
            owners = {group_of.get(c) for c in node.consumers}
            if len(owners) == 1 and None not in owners:
                group_of[key] = owners.pop()
    if not group_of:
        raise ValueError("plot_graph: collapse= needs a graph built inside `with tg.viz.trace_modules(model):`, "
                         "and none of its operations was recorded there")
    merged: dict[tuple[int, ...], _Node] = {}
    order = sorted(nodes, key=lambda k: nodes[k].tensor._seq if nodes[k].op is not None else -1)
    for key in order:
        node = nodes[key]
        target = group_of.get(key, key)
        if target not in merged:
            op = node.op if target == key else _ModuleBox(target[1], kinds[target[1]], 0)
            merged[target] = _Node(tensor=node.tensor, op=op)
        box = merged[target]
        if target != key and node.op is not None:
            box.op.ops += 1
            box.tensor = node.tensor  # the latest operation's output stands for the module's
        for source in node.inputs:
            source = group_of.get(source, source)
            if source != target and (target == key or source not in box.inputs):
                box.inputs.append(source)
    for key, node in merged.items():
        for source in node.inputs:
            merged[source].consumers.add(key)
    return merged, group_of.get(root, root)


def _layers(nodes: dict[tuple[int, ...], _Node], root: tuple[int, ...]) -> dict[tuple[int, ...], int]:
    """Each node's column counted back from the root: one more than its farthest consumer's.

    Kahn's algorithm backwards from the root: a node is placed once all its
    consumers are, so an input used early and late sits left of both uses.
    """
    layer = {root: 0}
    waiting = {key: len(node.consumers) for key, node in nodes.items()}
    queue = deque([root])
    while queue:
        key = queue.popleft()
        for source in dict.fromkeys(nodes[key].inputs):  # each producer once, in order
            layer[source] = max(layer.get(source, 0), layer[key] + 1)
            waiting[source] -= 1
            if waiting[source] == 0:
                queue.append(source)
    return layer


def _format(array: np.ndarray) -> str:
    """Values of a small array, the shape of a large one."""
    array = np.asarray(array)
    if array.size > MAX_SHOWN_ELEMENTS:
        return f"shape {array.shape}"
    if array.ndim == 0:
        value = array.item()
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    return np.array2string(array, precision=3, separator=", ", suppress_small=True)


def _label(node: _Node, names: Mapping[int, str]) -> str:
    tensor = node.tensor
    name = names.get(id(tensor))
    if isinstance(node.op, _ModuleBox):
        box = node.op
        return f"{box.name}: {box.kind}\n{box.ops} op{'s' * (box.ops != 1)}\nout: {_format(tensor.numpy())}"
    if node.op is not None:
        lines = [node.op.name if name is None else f"{node.op.name} -> {name}", f"out: {_format(tensor.numpy())}"]
    else:
        kind = "leaf" if tensor.requires_grad else "const"
        lines = [kind if name is None else f"{name} ({kind})", _format(tensor.numpy())]
    if tensor.grad is not None:
        lines.append(f"grad: {_format(tensor.grad.numpy())}")
    return "\n".join(lines)


@styled
def plot_graph(tensor: Any, ax: Any = None, *, names: Mapping[str, Any] | None = None, max_nodes: int = 200,
               title: str | None = None, collapse: Any = False) -> Any:
    """Draw the computation graph that produced ``tensor``, one box per leaf and per operation.

    A leaf box shows the tensor's values (or its shape, above
    `MAX_SHOWN_ELEMENTS` elements), blue for a leaf that requires grad, grey
    for a constant. An operation box shows the op's name and its output (the
    result is green). After ``backward()``, every tensor that holds a
    ``.grad`` (the leaves, and any ``retain_grad()`` result) shows it too. An
    input used twice (``x * x``) gets two arrows.

    Args:
        tensor: the result whose history to draw (a Tensor).
        ax: an Axes to draw into; by default a new Figure sized to the graph.
        names: labels for tensors, ``{"w": w, "x": x}``, shown in their boxes.
        max_nodes: refuse graphs with more boxes than this (unreadable anyway).
        title: the title; by default how many operations and leaves there are.
        collapse: draw modules as single boxes, for a graph built inside
            `trace_modules`: ``True`` (or 1) for each child of the traced
            model, 2 for their children, or a list of module names. A
            parameter that feeds one module alone goes inside its box.

    Returns:
        The matplotlib ``Figure``: one text box per node (``ax.texts``) and one
        arrow per input of each operation (``ax.patches``).

    Raises:
        TypeError: if ``tensor`` is not a Tensor.
        ValueError: if the graph has more than ``max_nodes`` nodes.

    Example:
        >>> import tinygrad_edu as tg
        >>> a, b = tg.tensor(2.0, requires_grad=True), tg.tensor(3.0, requires_grad=True)
        >>> loss = (a * b + 1) ** 2
        >>> loss.backward()
        >>> fig = tg.viz.plot_graph(loss, names={"a": a, "b": b})
        >>> len(fig.axes)
        1
    """
    who = "plot_graph"
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(tensor).__name__}")
    check_count(who, "max_nodes", max_nodes, 1)
    labels_by_id: dict[int, str] = {}
    for name, named in (names or {}).items():
        if not isinstance(named, Tensor):
            raise TypeError(f"{who}: names[{name!r}] must be a Tensor, got {type(named).__name__}")
        labels_by_id[id(named)] = str(name)

    nodes, root = _walk(tensor, max_nodes if not collapse else 100 * max_nodes)
    if collapse:
        if collapse is not True and isinstance(collapse, (int, float)) and collapse < 1:
            raise ValueError(f"{who}: collapse must be True, a depth >= 1 or a list of module names, got {collapse!r}")
        nodes, root = _collapse(nodes, root, collapse)
        if len(nodes) > max_nodes:
            raise ValueError(f"{who}: even collapsed, the graph has {len(nodes)} boxes (max_nodes={max_nodes})")
    layer = _layers(nodes, root)
    depth = max(layer.values())
    columns: list[list[tuple[int, ...]]] = [[] for _ in range(depth + 1)]
    for key in nodes:  # discovery order: from the root backwards, first input first
        columns[layer[key]].append(key)
    position: dict[tuple[int, ...], tuple[float, float]] = {}
    for column, keys in enumerate(columns):
        if column > 0:
            # Put each node level with the mean of its consumers (already placed), to keep arrows short.
            keys.sort(key=lambda k: float(np.mean([position[c][1] for c in nodes[k].consumers])))
        for row, key in enumerate(keys):
            position[key] = (float(depth - column), (len(keys) - 1) / 2 - row)

    height = max(len(keys) for keys in columns)
    if ax is None:
        fig = new_figure((min(2.9 * (depth + 1) + 0.6, 40.0), min(1.45 * height + 1.0, 40.0)), layout=None)
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.88))
    else:
        fig, ax = figure_and_axes(who, ax, (6.4, 4.8))

    boxes = {}
    for key, node in nodes.items():
        if node.op is None:
            color = _LEAF_COLOR if node.tensor.requires_grad else _CONST_COLOR
        elif isinstance(node.op, _ModuleBox) and key != root:
            color = _MODULE_COLOR
        else:
            color = _ROOT_COLOR if key == root else _OP_COLOR
        x, y = position[key]
        boxes[key] = ax.text(x, y, _label(node, labels_by_id), ha="center", va="center", fontsize=10, zorder=3,
                             bbox=dict(boxstyle="round,pad=0.4", facecolor=color, edgecolor="0.3",
                                       linewidth=1.6 if key == root else 0.8))
    for key, node in nodes.items():
        uses: dict[tuple[int, ...], int] = {}
        for source in node.inputs:
            count = uses.get(source, 0)
            uses[source] = count + 1
            # A repeated input (x * x) gets arrows bent alternately up and down, so each one shows.
            bend = 0.0 if count == 0 else 0.25 * ((count + 1) // 2) * (1 if count % 2 else -1)
            # zorder above the boxes: the boxes are measured when drawn, and the arrows are clipped to them.
            # add_artist, not add_patch: the limits are set below, so no need to measure every arrow now.
            ax.add_artist(FancyArrowPatch(position[source], position[key], patchA=boxes[source].get_bbox_patch(),
                                         patchB=boxes[key].get_bbox_patch(), arrowstyle="-|>", mutation_scale=12,
                                         shrinkA=1, shrinkB=1, color="0.35", linewidth=1.0, zorder=4,
                                         connectionstyle=f"arc3,rad={bend}"))
    ax.set_xlim(-0.6, depth + 0.6)
    ax.set_ylim(-height / 2, height / 2)
    ax.set_axis_off()
    n_ops = sum(node.op is not None for node in nodes.values())
    if title is None:
        n_modules = sum(isinstance(node.op, _ModuleBox) for node in nodes.values())
        what = f"{n_modules} module{'s' * (n_modules != 1)}, " if n_modules else ""
        n_ops -= n_modules
        n_leaves = len(nodes) - n_ops - n_modules
        title = (f"computation graph: {what}{n_ops} operation{'s' * (n_ops != 1)}, "
                 f"{n_leaves} lea{'f' if n_leaves == 1 else 'ves'}")
    ax.set_title(title)
    return fig
