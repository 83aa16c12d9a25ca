"""One style for every figure: readable when projected, colour-blind-safe, never global.

Three pieces, used by every public ``tg.viz`` function:

- `styled`: a decorator that builds the figure inside ``matplotlib.rc_context(STYLE)``
  (projector font sizes, thicker lines, the palette as the colour cycle). Nothing
  changes matplotlib's global settings: a student's own figures are left alone.
- `series_style`: the colour, line style and marker of series ``i``. The first
  eight are the Okabe–Ito colours (distinguishable with every common colour-vision
  deficiency) with solid lines and round markers; beyond eight the colours repeat
  with a new line style *and* marker, so every (colour, line style, marker) is
  distinct for ``8 * len(MARKERS)`` = 64 series (16 needs two rounds).
- `place_legend`: the legend in the first corner whose box overlaps no plotted
  line or point; when every corner is taken, outside the axes on the right.

A figure function written with them looks like::

    @styled
    def plot_runs(runs):
        fig, ax = ...
        for i, (name, values) in enumerate(runs.items()):
            ax.plot(values, label=name, **series_style(i, points=len(values)))
        place_legend(ax)
        return fig
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

__all__ = ["PALETTE", "LINESTYLES", "MARKERS", "STYLE", "MIN_FONT_PT", "styled", "series_style", "place_legend"]

#: The Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), ordered for contrast on white and
#: on the light contour fills: blue, vermillion, bluish green, orange, reddish purple, sky blue, black,
#: yellow (the faintest on white comes last).
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
                            "#F0E442")

#: Line styles of the successive rounds through `PALETTE` (round 0 solid, round 1 dashed, ...).
LINESTYLES: tuple[Any, ...] = ("-", "--", ":", "-.")

#: Markers of the successive rounds through `PALETTE`; with `LINESTYLES` they make 8 distinct rounds.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")

#: The smallest font size (points) of any title, axis label, tick label or legend text: readable from
#: the back of a classroom when a 6.4-inch-wide figure fills a projector screen.
MIN_FONT_PT = 12.0

#: The rc settings every figure is built under (``matplotlib.rc_context(STYLE)``).
STYLE: dict[str, Any] = {
    "font.size": 14.0,
    "axes.titlesize": 16.0,
    "axes.labelsize": 15.0,
    "xtick.labelsize": 13.0,
    "ytick.labelsize": 13.0,
    "legend.fontsize": 13.0,
    "legend.title_fontsize": 13.0,
    "figure.titlesize": 17.0,
    "lines.linewidth": 2.0,
    "lines.markersize": 5.0,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "axes.titlepad": 8.0,
    "legend.framealpha": 0.9,
    "legend.borderaxespad": 0.4,
    "image.cmap": "viridis",
}

# How deep this thread is inside styled functions: place_legend's final placement waits for the outermost.
_depth = threading.local()


def series_style(i: int, points: int | None = None) -> dict[str, Any]:
    """The look of series ``i``: ``dict(color=, linestyle=, marker=)``, distinct for 64 series.

    Series 0-7 get the eight `PALETTE` colours, solid, round markers; series
    8-15 the same colours dashed with squares; and so on through `LINESTYLES`
    and `MARKERS`. Colour alone separates the first eight; after that the
    line style and marker tell a repeated colour apart (and make the picture
    survive a black-and-white printout).

    Args:
        i: the series' index (0, 1, 2, ...).
        points: how many points the series has; when given, ``markevery`` is
            added so that a long line carries about 12 markers instead of a smear.

    Returns:
        A dict to pass to ``ax.plot(..., **series_style(i))``.

    Example:
        >>> series_style(0)
        {'color': '#0072B2', 'linestyle': '-', 'marker': 'o'}
        >>> series_style(8)["color"] == series_style(0)["color"], series_style(8)["linestyle"]
        (True, '--')
    """
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
        raise ValueError(f"series_style: i must be a series index (an int >= 0), got {i!r}")
    i = int(i)
    round_ = i // len(PALETTE)
    style = {"color": PALETTE[i % len(PALETTE)], "linestyle": LINESTYLES[round_ % len(LINESTYLES)],
             "marker": MARKERS[round_ % len(MARKERS)]}
    if points is not None and points > 30:
        style["markevery"] = max(1, int(points) // 12)
    return style


def styled(function: Callable[..., Any]) -> Callable[..., Any]:
    """Build a figure inside ``matplotlib.rc_context(STYLE)``; the global rcParams are never changed.

    After the function returns, the tick label sizes are fixed on every axes
    (matplotlib makes ticks lazily at draw time, after the context is gone)
    and every legend made by `place_legend` is placed again now that all the
    figure's panels exist.

    Example:
        >>> @styled
        ... def title_size():
        ...     import matplotlib
        ...     return matplotlib.rcParams["axes.titlesize"]
        >>> title_size() == STYLE["axes.titlesize"]
        True
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _depth.value = getattr(_depth, "value", 0) + 1
        try:
            with matplotlib.rc_context(STYLE):
                result = function(*args, **kwargs)
                if _depth.value == 1:
                    figure = _figure_of(result)
                    if figure is not None:
                        _finish(figure)
        finally:
            _depth.value -= 1
        return result

    wrapper.styled = True  # what tests/test_viz_readable.py checks on every public picture function
    return wrapper


def _figure_of(result: Any) -> Any:
    from matplotlib.figure import Figure

    if isinstance(result, Figure):
        return result
    figure = getattr(result, "_fig", None)  # a FuncAnimation
    return figure if isinstance(figure, Figure) else None


def _all_axes(figure: Any) -> list[Any]:
    """The axes of a figure and of its subfigures (``Figure.axes`` leaves the subfigures' out)."""
    found = list(figure.axes)
    for sub in getattr(figure, "subfigs", []):
        found += [ax for ax in _all_axes(sub) if ax not in found]
    return found


def _finish(figure: Any) -> None:
    """Tick sizes that survive the rc context; legends placed once the layout is final."""
    axes = _all_axes(figure)
    for ax in axes:
        ax.xaxis.set_tick_params(labelsize=STYLE["xtick.labelsize"])
        ax.yaxis.set_tick_params(labelsize=STYLE["ytick.labelsize"])
        if hasattr(ax, "zaxis"):
            ax.zaxis.set_tick_params(labelsize=STYLE["ytick.labelsize"])
    pending = [ax for ax in axes if getattr(ax, "_tg_legend_kw", None) is not None]
    if pending:
        _execute_layout(figure)
        for ax in pending:
            _place(ax, ax._tg_legend_kw)


def _execute_layout(figure: Any) -> None:
    engine = figure.get_layout_engine()
    if engine is not None:
        try:
            engine.execute(figure)
        except Exception:  # noqa: BLE001 - a layout that cannot be computed yet only makes the estimate coarser
            pass


# -- legends ---------------------------------------------------------------------------------------

_CORNERS = ("upper right", "upper left", "lower left", "lower right")


def place_legend(ax: Any, **kw: Any) -> Any:
    """Put ``ax``'s legend where it hides no data: an empty corner, else outside on the right.

    Each corner (upper right, upper left, lower left, lower right) is tried
    in turn: first one whose legend box meets none of the plotted lines' and
    scatters' bounding boxes; then one that meets none of their points or
    segments; and when none is free, the legend goes outside the axes: on the
    right when it is narrow (at most 60% of the axes' width and 40% of the
    figure's; in more columns if it is taller than the figure), else under the
    axes, below the x label, in up to three columns. Only a legend wider than
    the whole figure, or one that under the axes would be taller than half of
    them, stays inside, where matplotlib's ``loc="best"`` finds the fewest
    points under it. Filled contours, images and surfaces are background, not data.

    Inside a `styled` function the placement is redone when the whole figure
    is built, so panels added later (which shrink this one) are accounted for.

    Args:
        ax: the Axes (2-D or 3-D; a 3-D one always gets its legend outside, below it).
        **kw: passed to ``ax.legend`` (``handles``, ``labels``, ``title``, ``ncols``, ...);
            ``loc`` and ``bbox_to_anchor``, if given, are used as they are.

    Returns:
        The Legend, or ``None`` when there is nothing labelled to show.

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot()
        >>> _ = ax.plot([0, 1], [0.5, 1], label="rising")  # the lower right corner is empty
        >>> legend = place_legend(ax)
        >>> legend is ax.get_legend(), bool(legend.get_window_extent().overlaps(ax.lines[0].get_window_extent()))
        (True, False)
    """
    if not hasattr(ax, "legend") or not hasattr(ax, "figure"):
        raise TypeError(f"place_legend: ax must be a matplotlib Axes, got {type(ax).__name__}")
    ax._tg_legend_kw = kw  # placed again by styled once the figure is built
    return _place(ax, kw)


def _place(ax: Any, kw: dict[str, Any]) -> Any:
    kw = dict(kw)
    if "handles" not in kw:
        handles, labels = ax.get_legend_handles_labels()
        if not handles:
            return None
        kw["handles"], kw["labels"] = handles, labels
    elif not kw["handles"]:
        return None
    if "loc" in kw or "bbox_to_anchor" in kw:
        return ax.legend(**kw)
    if getattr(ax, "name", None) == "3d":
        # a 3-D box fills its axes from every side: the legend goes under it, in two columns
        count = len(kw["handles"])
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=1 if count < 3 else 2, **kw)
    legend = ax.legend(loc="upper right", **kw)
    size = legend.get_window_extent()
    ax_box = ax.get_window_extent()
    if ax_box.width <= 0 or ax_box.height <= 0:
        return legend
    # the legend's size and padding as fractions of the axes (invariant under later resizing only roughly)
    width, height = size.width / ax_box.width, size.height / ax_box.height
    pad_x = legend.borderaxespad * legend.prop.get_size_in_points() * ax.figure.dpi / 72 / ax_box.width
    pad_y = pad_x * ax_box.width / ax_box.height
    if width + 2 * pad_x >= 1 or height + 2 * pad_y >= 1:
        legend.remove()
        return _outside(ax, kw)
    boxes, paths = _data_in_axes(ax)
    for strict in (True, False):
        for loc in _CORNERS:
            right, top = "right" in loc, "upper" in loc
            x0 = 1 - pad_x - width if right else pad_x
            y0 = 1 - pad_y - height if top else pad_y
            # a small margin so a line that grazes the corner counts as touching it
            box = Bbox.from_bounds(x0 - 0.01, y0 - 0.01, width + 0.02, height + 0.02)
            if strict and not any(box.overlaps(other) for other in boxes):
                return _at(ax, legend, kw, loc)
            if not strict and not any(_touches(points, box) for points in paths):
                return _at(ax, legend, kw, loc)
    legend.remove()
    return _outside(ax, kw)


def _at(ax: Any, legend: Any, kw: dict[str, Any], loc: str) -> Any:
    if loc == "upper right":
        return legend
    legend.remove()
    return ax.legend(loc=loc, **kw)


def _outside(ax: Any, kw: dict[str, Any]) -> Any:
    """Beside the axes on the right when the legend is narrow enough, else under them."""
    figure = ax.figure
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)
    width = legend.get_window_extent().width
    if width <= 0.6 * ax.bbox.width and width <= 0.4 * figure.bbox.width:
        if "ncols" in kw or "ncol" in kw:
            return legend
        # a legend taller than the figure would make the layout squash the axes: more columns instead
        room = 0.9 * figure.bbox.height
        height = legend.get_window_extent().height
        if height > room:
            legend.remove()
            legend = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                               ncols=int(np.ceil(height / room)), **kw)
        return legend
    legend.remove()
    if width <= 0.95 * figure.bbox.width:
        legend = _below(ax, dict(kw))
        if legend.get_window_extent().height <= 0.5 * ax.bbox.height:
            return legend
        legend.remove()
    # no room beside or under the axes without squashing them: inside after all, over the fewest points
    return ax.legend(loc="best", **kw)


def _below(ax: Any, kw: dict[str, Any]) -> Any:
    """Under the axes, clear of the tick labels and the x label, in as many columns (up to 3) as fit."""
    from matplotlib.transforms import ScaledTranslation

    figure = ax.figure
    # the tick labels and the x label are sized in points, not in axes fractions: offset by inches
    gap = max(0.0, ax.bbox.y0 - ax.get_tightbbox().y0) / figure.dpi + 0.08
    anchor = ax.transAxes + ScaledTranslation(0.0, -gap, figure.dpi_scale_trans)
    count = len(kw["handles"])
    columns = kw.pop("ncols", kw.pop("ncol", None))
    fixed = columns is not None
    columns = columns or min(3, count)
    while True:
        legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=anchor,
                           borderaxespad=0.0, ncols=columns, **kw)
        if fixed or columns == 1 or legend.get_window_extent().width <= 1.05 * ax.bbox.width:
            return legend
        legend.remove()
        columns -= 1


def _data_in_axes(ax: Any) -> tuple[list[Bbox], list[np.ndarray]]:
    """The plotted lines' and scatters' points in axes fractions (0..1 inside the axes), with their boxes."""
    to_axes = ax.transAxes.inverted()
    point_sets = []
    for line in ax.lines:
        if not isinstance(line, Line2D) or not line.get_visible():
            continue
        xy = np.asarray(line.get_xydata(), dtype=float)
        if xy.size == 0:
            continue
        point_sets.append(to_axes.transform(line.get_transform().transform(xy)))
    for collection in ax.collections:
        if type(collection) is not PathCollection or not collection.get_visible():
            continue  # scatter points only: contour sets, meshes and fills are background
        offsets = np.asarray(collection.get_offsets(), dtype=float)
        if offsets.size == 0:
            continue
        transform = collection.get_offset_transform()
        point_sets.append(to_axes.transform(transform.transform(offsets)))
    boxes, paths = [], []
    for points in point_sets:
        points = points[np.isfinite(points).all(axis=1)]
        if len(points) == 0:
            continue
        paths.append(points)
        low, high = points.min(axis=0), points.max(axis=0)
        boxes.append(Bbox([low, high]))
    return boxes, paths


def _touches(points: np.ndarray, box: Bbox) -> bool:
    """Whether the polyline through ``points`` has a point inside ``box`` or a segment crossing it."""
    from matplotlib.path import Path

    if len(points) == 1:
        return bool(box.contains(*points[0]))
    return bool(Path(points).intersects_bbox(box, filled=False))
