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

from ..tensor import Tensor
from ._inputs import check_count, figure_and_axes, new_figure

__all__ = ["plot_graph"]

#: Tensors with at most this many elements show their values; larger ones show their shape.
MAX_SHOWN_ELEMENTS = 4

_LEAF_COLOR = "#cfe2ff"  # a leaf that requires grad (a parameter, an input you differentiate)
_CONST_COLOR = "#e9ecef"  # a leaf that does not (data, a Python number)
_OP_COLOR = "#ffe8b3"
_ROOT_COLOR = "#c8f7c5"


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
    if node.op is not None:
        lines = [node.op.name if name is None else f"{node.op.name} -> {name}", f"out: {_format(tensor.numpy())}"]
    else:
        kind = "leaf" if tensor.requires_grad else "const"
        lines = [kind if name is None else f"{name} ({kind})", _format(tensor.numpy())]
    if tensor.grad is not None:
        lines.append(f"grad: {_format(tensor.grad.numpy())}")
    return "\n".join(lines)


def plot_graph(tensor: Any, ax: Any = None, *, names: Mapping[str, Any] | None = None, max_nodes: int = 200,
               title: str | None = None) -> Any:
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

    nodes, root = _walk(tensor, max_nodes)
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
        fig = new_figure((min(2.4 * (depth + 1) + 0.6, 40.0), min(1.2 * height + 1.0, 40.0)), layout=None)
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.88))
    else:
        fig, ax = figure_and_axes(who, ax, (6.4, 4.8))

    boxes = {}
    for key, node in nodes.items():
        if node.op is None:
            color = _LEAF_COLOR if node.tensor.requires_grad else _CONST_COLOR
        else:
            color = _ROOT_COLOR if key == root else _OP_COLOR
        x, y = position[key]
        boxes[key] = ax.text(x, y, _label(node, labels_by_id), ha="center", va="center", fontsize=8, zorder=3,
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
        title = f"computation graph: {n_ops} operation{'s' * (n_ops != 1)}, {len(nodes) - n_ops} leaves"
    ax.set_title(title, fontsize=10)
    return fig
