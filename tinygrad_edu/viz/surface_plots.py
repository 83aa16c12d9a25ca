"""Optimizer paths on loss surfaces: a 1-D curve, 2-D contours, a 3-D surface.

Each function takes a surface (``tg.surfaces.quadratic``, or any callable with
the same shape, see `tinygrad_edu.viz._inputs`) and any number of paths
(what ``tg.surfaces.descend`` returns), and returns a matplotlib ``Figure``.

A path that diverged (its points or losses became inf or nan) is drawn up to
its last finite point and labelled ``"name (diverged after step k)"``. The
axes show the surface's window (its ``.bounds``); steps that leave it run off
the edge of the picture rather than shrinking the surface to a dot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.patches import FancyArrowPatch

from ._inputs import (
    PathView,
    SurfaceView,
    check_count,
    default_levels,
    figure_and_axes,
    new_figure,
    read_paths,
    read_surface,
)
from ._style import STYLE, place_legend, series_style, styled

__all__ = ["plot_path_1d", "plot_contour", "plot_surface_3d", "plot_race"]

#: Above this many steps a 1-D path gets no arrows: they would pile up into a smear.
MAX_ARROWS = 60


# -- pieces shared with the animations ------------------------------------------------------------


def draw_curve(ax: Any, view: SurfaceView, resolution: int) -> np.ndarray:
    """Draw a 1-D surface over its window, fix the limits to it; return the curve's values."""
    x, values = view.grid_1d(resolution)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError(f"surface {view.name!r} has no finite value inside its bounds {view.bounds[0]}")
    ax.plot(x, np.where(np.isfinite(values), values, np.nan), color="0.25", linewidth=1.5)
    low, high = float(finite.min()), float(finite.max())
    pad = 0.06 * (high - low) if high > low else 1.0
    ax.set_xlim(*view.bounds[0])
    ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel("x")
    ax.set_ylabel("loss")
    return values


def draw_contours(ax: Any, view: SurfaceView, levels: Any, resolution: int, who: str = "plot_contour") -> None:
    """Filled and line contours of a 2-D surface over its window, limits fixed to it."""
    grid_x, grid_y, values = view.grid_2d(resolution)
    if levels is None or (isinstance(levels, int) and not isinstance(levels, bool)):
        levels = default_levels(values, 20 if levels is None else check_count(who, "levels", levels, 2))
    masked = np.ma.masked_invalid(values)
    if levels is not None:
        ax.contourf(grid_x, grid_y, masked, levels=levels, cmap="viridis", alpha=0.35)
        ax.contour(grid_x, grid_y, masked, levels=levels, cmap="viridis", linewidths=0.7)
    ax.set_xlim(*view.bounds[0])
    ax.set_ylim(*view.bounds[1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def draw_minima(ax: Any, view: SurfaceView, height: Any = None) -> None:
    """Mark the surface's minima with gold stars (one collection, labelled for the legend)."""
    if not view.minima:
        return
    coords = np.array(view.minima, dtype=float)
    label = "minimum" if len(coords) == 1 else "minima"
    style = dict(marker="*", s=180, color="gold", edgecolors="black", linewidths=0.8, zorder=5, label=label)
    if view.dim == 1:
        ax.scatter(coords[:, 0], view(coords[:, 0]), **style)
    elif height is None:
        ax.scatter(coords[:, 0], coords[:, 1], **style)
    else:
        ax.scatter(coords[:, 0], coords[:, 1], height(coords), **style)


def _title(view: SurfaceView, paths: Sequence[PathView], title: str | None) -> str:
    if title is not None:
        return title
    text = view.name
    names = list(dict.fromkeys(path.name.split(" (")[0] for path in paths))
    if len(names) > 1 and len(" vs ".join(names)) <= 40:  # say what is compared
        text += ": " + " vs ".join(names)
    if any(path.diverged for path in paths):
        text += "\n(diverged paths are drawn up to their last finite point)"
    return text


# -- 1-D -------------------------------------------------------------------------------------------


def _labelled_steps(xs: np.ndarray, ys: np.ndarray, ax: Any, max_labels: int) -> list[int]:
    """The steps to number: every k-th (at most ``max_labels``), skipping any that would sit on
    the previous number (steps shrink near a minimum, and their numbers would pile up)."""
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    every = -(-len(xs) // max_labels)  # ceil
    chosen: list[int] = []
    for k in range(0, len(xs), every):
        if chosen:
            j = chosen[-1]
            # distance in fractions of the axes: about 4% is one label's width at the style's size
            if math.hypot((xs[k] - xs[j]) / (x_high - x_low), (ys[k] - ys[j]) / (y_high - y_low)) < 0.04:
                continue
        chosen.append(k)
    return chosen


@styled
def plot_path_1d(surface: Any, *paths: Any, ax: Any = None, bounds: Any = None, step_labels: bool = True,
                 max_labels: int = 20, resolution: int = 400, title: str | None = None) -> Any:
    """Draw a 1-D loss curve with each path's steps on it: markers, arrows and step numbers.

    The sources' first picture: L(x) = x² + 2x + 1 from x = 5 with η = 0.2,
    each step a dot on the curve, an arrow to the next one, and its number,
    so the shrinking steps near the minimum are plain to see.

    Args:
        surface: a 1-D surface (``tg.surfaces.parabola``) or a function of one array.
        *paths: paths from ``tg.surfaces.descend`` (or arrays of x values), each
            drawn in its own colour as one line with markers.
        ax: a matplotlib Axes to draw into; by default a new Figure.
        bounds: ``(xmin, xmax)`` to use instead of the surface's ``.bounds``.
        step_labels: write the step numbers beside the points.
        max_labels: at most this many numbers per path (every k-th step otherwise).
        resolution: how many points draw the curve.
        title: the title; by default the surface's name.

    Returns:
        The matplotlib ``Figure``. Arrows are drawn for paths of at most
        `MAX_ARROWS` steps.

    Raises:
        ValueError: for a 2-D surface or a path whose points are not 1-D.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> path = tg.surfaces.descend(tg.surfaces.parabola, lambda p: optim.SGD(p, lr=0.2),
        ...                            start=5.0, steps=15)    # doctest: +SKIP
        >>> tg.viz.plot_path_1d(tg.surfaces.parabola, path).savefig("descent.png")   # doctest: +SKIP
    """
    who = "plot_path_1d"
    view = read_surface(who, surface, paths, bounds)
    if view.dim != 1:
        raise ValueError(f"{who}: surface {view.name!r} is {view.dim}-D; plot_path_1d draws 1-D surfaces "
                         f"(use plot_contour or plot_surface_3d for 2-D ones)")
    check_count(who, "max_labels", max_labels, 1)
    check_count(who, "resolution", resolution, 2)
    path_views = read_paths(who, paths, view)
    fig, ax = figure_and_axes(who, ax, (6.4, 4.4))
    draw_curve(ax, view, resolution)
    draw_minima(ax, view)
    for i, path in enumerate(path_views):
        style = series_style(i)
        color = style["color"]
        xs, ys = path.finite_points[:, 0], path.finite_losses
        ax.plot(xs, ys, linewidth=1.2, markersize=6, alpha=0.9, label=path.label, zorder=3, **style)
        if 1 <= len(xs) - 1 <= MAX_ARROWS:
            for k in range(len(xs) - 1):
                if xs[k] == xs[k + 1] and ys[k] == ys[k + 1]:
                    continue  # a step of length zero has no direction to show
                ax.add_patch(FancyArrowPatch((xs[k], ys[k]), (xs[k + 1], ys[k + 1]), arrowstyle="-|>",
                                             mutation_scale=11, color=color, shrinkA=3, shrinkB=3, zorder=4))
        if step_labels and len(xs):
            for k in _labelled_steps(xs, ys, ax, max_labels):
                ax.annotate(str(k), (xs[k], ys[k]), xytext=(4, 6), textcoords="offset points", fontsize=11,
                            color=color, annotation_clip=True)
    ax.set_title(_title(view, path_views, title))
    place_legend(ax)
    return fig


# -- 2-D contours ----------------------------------------------------------------------------------


@styled
def plot_contour(surface: Any, *paths: Any, levels: Any = None, ax: Any = None, bounds: Any = None,
                 resolution: int = 200, title: str | None = None) -> Any:
    """Draw a 2-D surface's contours with several optimizers' paths on them.

    Each path is one line with markers in its own colour (a hollow circle marks
    its start), labelled in the legend with its name; the surface's minima are
    gold stars. This is the picture for comparing optimizers: SGD zig-zagging
    across a ravine while Adam or momentum run along it.

    Args:
        surface: a 2-D surface (``tg.surfaces.rosenbrock``) or a function ``f(x, y)``.
        *paths: paths from ``tg.surfaces.descend`` (or ``(n, 2)`` arrays of points).
        levels: the contour levels: ``None`` for 20 levels at quantiles of the
            surface's values (crowded towards the minimum, so steep surfaces
            still show their valley), an int for that many, or a sequence of values.
        ax: a matplotlib Axes to draw into; by default a new Figure.
        bounds: ``((xmin, xmax), (ymin, ymax))`` instead of the surface's ``.bounds``.
        resolution: the grid is ``resolution x resolution``.
        title: the title; by default the surface's name.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: for a 1-D surface or a path whose points are not ``(n, 2)``.

    Example:
        >>> paths = [tg.surfaces.descend(tg.surfaces.rosenbrock, make, start=(-1.5, 2.0), steps=300)
        ...          for make in (lambda p: optim.SGD(p, lr=1e-3), lambda p: optim.Adam(p, lr=0.05))]
        ...                                                     # doctest: +SKIP
        >>> tg.viz.plot_contour(tg.surfaces.rosenbrock, *paths)  # doctest: +SKIP
    """
    who = "plot_contour"
    view = read_surface(who, surface, paths, bounds)
    if view.dim != 2:
        raise ValueError(f"{who}: surface {view.name!r} is {view.dim}-D; plot_contour draws 2-D surfaces "
                         f"(use plot_path_1d for 1-D ones)")
    check_count(who, "resolution", resolution, 2)
    path_views = read_paths(who, paths, view)
    fig, ax = figure_and_axes(who, ax, (6.4, 5.4))
    draw_contours(ax, view, levels, resolution)
    draw_minima(ax, view)
    for i, path in enumerate(path_views):
        _draw_path_2d(ax, path, series_style(i), _width(i, len(path_views)))
    ax.set_title(_title(view, path_views, title))
    place_legend(ax)
    return fig


def _width(i: int, count: int) -> float:
    """Line width of path ``i`` of ``count``: with a few paths the earlier ones are wider, so a path that
    runs along another still shows as a coloured edge around it."""
    return 1.8 + (1.4 * (count - 1 - i) if count <= 4 else 0.0)


def _draw_path_2d(ax: Any, path: PathView, style: dict[str, Any], width: float = 1.8) -> None:
    """One path on contours: a line with a marker per step, a hollow circle at its start."""
    points = path.finite_points
    ax.plot(points[:, 0], points[:, 1], linewidth=width, markersize=3.5, label=path.label, zorder=3, **style)
    if len(points):
        ax.scatter(points[:1, 0], points[:1, 1], s=90, facecolors="none", edgecolors=style["color"],
                   linewidths=1.8, zorder=4)


# -- 3-D surface -----------------------------------------------------------------------------------


@styled
def plot_surface_3d(surface: Any, *paths: Any, ax: Any = None, bounds: Any = None, resolution: int = 60,
                    elev: float = 35.0, azim: float = -60.0, title: str | None = None) -> Any:
    """Draw a 2-D surface in 3-D with the path(s) lifted onto it (each point at its loss).

    The sources' 2-D demo: L(x, y) = x² + y² + xy + 2x + 3y + 5 on [−5, 5]²
    from (4, 4) with η = 0.1 for 30 steps, the path running down the bowl.
    The path is drawn over the (half-transparent) surface; points outside the
    window are left out so a diverging path cannot flatten the picture.

    Args:
        surface: a 2-D surface or a function ``f(x, y)``.
        *paths: paths from ``tg.surfaces.descend`` (or ``(n, 2)`` arrays of points).
        ax: a 3-D Axes (``fig.add_subplot(projection="3d")``); by default a new Figure.
        bounds: ``((xmin, xmax), (ymin, ymax))`` instead of the surface's ``.bounds``.
        resolution: the surface mesh is ``resolution x resolution``.
        elev, azim: the viewing angles, in degrees.
        title: the title; by default the surface's name.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: for a 1-D surface, a path whose points are not ``(n, 2)``,
            or ``ax`` that is not 3-D.
    """
    who = "plot_surface_3d"
    view = read_surface(who, surface, paths, bounds)
    if view.dim != 2:
        raise ValueError(f"{who}: surface {view.name!r} is {view.dim}-D; plot_surface_3d draws 2-D surfaces "
                         f"(use plot_path_1d for 1-D ones)")
    check_count(who, "resolution", resolution, 2)
    path_views = read_paths(who, paths, view)
    if ax is None:
        fig = new_figure((7.0, 5.6))
        # computed_zorder=False: draw in the order added, so the path stays on top of the surface.
        ax = fig.add_subplot(projection="3d", computed_zorder=False)
    else:
        fig, ax = figure_and_axes(who, ax, (7.0, 5.6), projection="3d")
    grid_x, grid_y, values = view.grid_2d(resolution)
    ax.plot_surface(grid_x, grid_y, values, cmap="viridis", alpha=0.6, linewidth=0, antialiased=True, zorder=1)
    z_low, z_high = float(np.nanmin(values)), float(np.nanmax(values))
    (x_low, x_high), (y_low, y_high) = view.bounds
    for i, path in enumerate(path_views):
        points, heights = path.finite_points, path.finite_losses.copy()
        outside = ((points[:, 0] < x_low) | (points[:, 0] > x_high)
                   | (points[:, 1] < y_low) | (points[:, 1] > y_high))
        heights[outside] = np.nan  # matplotlib breaks the line there
        if np.isfinite(heights).any():
            z_low, z_high = min(z_low, float(np.nanmin(heights))), max(z_high, float(np.nanmax(heights)))
        ax.plot(points[:, 0], points[:, 1], heights, linewidth=_width(i, len(path_views)) + 0.4, markersize=3.5,
                label=path.label, zorder=3, **series_style(i))
    draw_minima(ax, view, height=lambda coords: view(coords[:, 0], coords[:, 1]))
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    if z_high > z_low:
        ax.set_zlim(z_low, z_high)
    ax.set_xlabel("x", labelpad=8)
    ax.set_ylabel("y", labelpad=8)
    ax.set_zlabel("loss", labelpad=12)  # clear of the tick labels at the style's font size
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(_title(view, path_views, title))
    place_legend(ax)
    return fig


# -- a race: small multiples -----------------------------------------------------------------------


@styled
def plot_race(surface: Any, *paths: Any, levels: Any = None, bounds: Any = None, resolution: int = 120,
              log_y: bool | None = None, ncols: int | None = None, title: str | None = None) -> Any:
    """Race several optimizers on one 2-D surface: one contour panel each, and their losses together.

    Eleven paths on one contour plot hide each other; small multiples do not.
    Each path gets a panel of its own with the same contours, the same window
    and the same axes (shared, so positions compare at a glance), drawn in the
    path's own colour and style; a last panel puts every path's loss against
    the step on one plot, and one legend beside the figure names them all.

    Args:
        surface: a 2-D surface (``tg.surfaces.rosenbrock``) or a function ``f(x, y)``.
        *paths: paths from ``tg.surfaces.descend`` (or ``(n, 2)`` arrays of points), at least one.
        levels: the contour levels, as in `plot_contour`.
        bounds: ``((xmin, xmax), (ymin, ymax))`` instead of the surface's ``.bounds``.
        resolution: the grid is ``resolution x resolution`` (the same in every panel).
        log_y: a logarithmic loss axis. By default logarithmic when every finite
            loss is positive; when some are not (a saddle's losses go below 0),
            symmetric-logarithmic (``symlog``: logarithmic on both sides of a
            linear band around 0 a tenth of the typical starting loss wide), so a
            runaway path does not flatten the others. ``False``: linear.
        ncols: panels per row; by default about the square root of the panel count (at most 4).
        title: the figure's title; by default "<surface>: <n> optimizers, <steps> steps".

    Returns:
        The matplotlib ``Figure``: ``len(paths)`` contour axes (in the order of
        ``paths``) and then the loss axis, ``len(paths) + 1`` axes in all.

    Raises:
        ValueError: for no paths, a 1-D surface, a path whose points are not
            ``(n, 2)``, or ``log_y=True`` with a loss <= 0.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import optim
        >>> paths = [tg.surfaces.descend(tg.surfaces.rosenbrock, make, start=(-1.5, 2.0), steps=20, label=name)
        ...          for name, make in (("SGD", lambda p: optim.SGD(p, lr=1e-3)),
        ...                             ("Adam", lambda p: optim.Adam(p, lr=0.05)))]
        >>> fig = tg.viz.plot_race(tg.surfaces.rosenbrock, *paths)
        >>> [ax.get_title().splitlines()[0] for ax in fig.axes]
        ['SGD', 'Adam', 'loss against step']
    """
    who = "plot_race"
    if not paths:
        raise ValueError(f"{who}: no paths to race; pass one path per optimizer")
    view = read_surface(who, surface, paths, bounds)
    if view.dim != 2:
        raise ValueError(f"{who}: surface {view.name!r} is {view.dim}-D; plot_race draws 2-D surfaces")
    check_count(who, "resolution", resolution, 2)
    path_views = read_paths(who, paths, view)
    finite_losses = np.concatenate([path.finite_losses for path in path_views])
    scale = "linear"
    if log_y is None:
        if finite_losses.size and (finite_losses > 0).all():
            scale = "log"
        elif finite_losses.size:
            starts = np.abs([path.finite_losses[0] for path in path_views if len(path.finite_losses)])
            typical = float(np.median(starts)) if starts.size else 1.0
            scale = "symlog"
            linthresh = 10.0 ** math.floor(math.log10(typical / 10)) if typical > 0 else 1.0
    elif log_y and (finite_losses <= 0).any():
        raise ValueError(f"{who}: log_y=True needs positive losses, but one is {finite_losses.min()!r}")
    elif log_y:
        scale = "log"
    panels = len(path_views) + 1
    if ncols is None:
        ncols = min(4, math.ceil(math.sqrt(panels)))
    else:
        ncols = check_count(who, "ncols", ncols, 1)
    nrows = math.ceil(panels / ncols)
    fig = new_figure((3.4 * ncols + 2.6, 3.1 * nrows + 0.6))
    grid = fig.add_gridspec(nrows, ncols)
    first = None
    for i, path in enumerate(path_views):
        row, col = divmod(i, ncols)
        ax = fig.add_subplot(grid[row, col], sharex=first, sharey=first)
        first = first or ax
        draw_contours(ax, view, levels, resolution, who)
        draw_minima(ax, view)
        _draw_path_2d(ax, path, series_style(i))
        final = path.finite_losses[-1] if len(path.finite_losses) else float("nan")
        ax.set_title(f"{path.label}\nloss {final:.3g}" if not path.diverged else path.label,
                     fontsize=STYLE["font.size"])
        if row * ncols + col + ncols < len(path_views):
            ax.set_xlabel("")  # a panel below shows the shared x axis
        if col:
            ax.set_ylabel("")
    row, col = divmod(len(path_views), ncols)
    loss_ax = fig.add_subplot(grid[row, col:])
    for i, path in enumerate(path_views):
        losses = np.where(np.isfinite(path.losses), path.losses, np.nan)
        loss_ax.plot(np.arange(len(losses)), losses, linewidth=1.8, label=path.label,
                     **series_style(i, points=len(losses)))
    if scale == "symlog":
        loss_ax.set_yscale("symlog", linthresh=linthresh)
    elif scale == "log":
        loss_ax.set_yscale("log")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel({"log": "loss (log scale)", "symlog": "loss (symlog scale)"}.get(scale, "loss"))
    loss_ax.set_title("loss against step", fontsize=STYLE["font.size"])
    handles, labels = loss_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center")  # clear of the suptitle above
    steps = max(path.steps for path in path_views)
    fig.suptitle(title if title is not None else f"{view.name}: {len(path_views)} optimizers, {steps} steps")
    return fig
