"""Animated descent: one frame per step, saved as a GIF.

``animate_path`` builds a ``matplotlib.animation.FuncAnimation`` whose frame
``k`` shows the path up to step ``k`` (so a path of ``steps`` steps has
``steps + 1`` frames, one per point); ``save_gif`` writes it with Pillow.
The sources' demo: the 1-D descent at 2 frames per second::

    anim = tg.viz.animate_path(tg.surfaces.parabola, path, fps=2)
    tg.viz.save_gif(anim, "descent.gif")
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.animation import Animation, FuncAnimation, PillowWriter

from .._files import atomic_write
from ._inputs import check_count, check_fps, new_figure, read_path, read_surface
from ._style import PALETTE, place_legend, styled
from .surface_plots import draw_contours, draw_curve, draw_minima

__all__ = ["animate_path", "save_gif"]


@styled
def animate_path(surface: Any, path: Any, fps: float = 2, *, bounds: Any = None, levels: Any = None,
                 resolution: int = 200, figsize: tuple[float, float] = (6.0, 4.5)) -> Any:
    """Animate one path on a 1-D curve or 2-D contours, one frame per step.

    Frame ``k`` draws the trail of points 0..k, the current point (in 1-D also
    the tangent there, whose slope is the gradient when the path has
    ``.grads``), and a title with the step number and loss. A path that
    diverged stops moving at its last finite point; its remaining frames say
    where it diverged.

    Args:
        surface: a 1-D or 2-D surface (or function), as for `plot_path_1d` / `plot_contour`.
        path: a path from ``tg.surfaces.descend`` (or an array of points).
        fps: frames per second (the interval between frames is ``1000 / fps`` ms);
            stored on the animation as ``.fps``, which `save_gif` uses.
        bounds: a window to use instead of the surface's ``.bounds``.
        levels: contour levels for a 2-D surface, as in `plot_contour`.
        resolution: points per axis for the curve or the contour grid.
        figsize: the figure's size in inches.

    Returns:
        A ``matplotlib.animation.FuncAnimation`` with exactly ``len(path.points)``
        frames. Nothing is shown: save it with `save_gif`, or display it in
        Jupyter with ``IPython.display.HTML(anim.to_jshtml())``.
    """
    who = "animate_path"
    fps = check_fps(who, fps)
    check_count(who, "resolution", resolution, 2)
    view = read_surface(who, surface, [path], bounds)
    trail_path = read_path(who, path, view, 0)
    fig = new_figure(figsize)
    ax = fig.add_subplot()
    if view.dim == 1:
        draw_curve(ax, view, resolution)
        xs, ys = trail_path.points[:, 0], trail_path.losses
    else:
        draw_contours(ax, view, levels, resolution, who)
        xs, ys = trail_path.points[:, 0], trail_path.points[:, 1]
    draw_minima(ax, view)
    # the whole trail is drawn while the legend finds its corner, so no later frame runs under it
    (trail,) = ax.plot(xs[: trail_path.n_finite], ys[: trail_path.n_finite], "-o", color=PALETTE[0], linewidth=1.5,
                       markersize=5, label=trail_path.label, zorder=3)
    (current,) = ax.plot([], [], "o", color=PALETTE[1], markersize=11, zorder=4)
    (tangent,) = ax.plot([], [], "--", color=PALETTE[1], linewidth=1.5, zorder=3)
    place_legend(ax)
    trail.set_data([], [])
    title = ax.set_title("")
    last = trail_path.n_finite - 1  # the last frame with a finite point (-1: none)
    half_width = 0.08 * (view.bounds[0][1] - view.bounds[0][0])

    def draw_frame(frame: int) -> tuple[Any, ...]:
        shown = min(frame, last)
        trail.set_data(xs[: shown + 1], ys[: shown + 1])
        current.set_data(xs[shown: shown + 1], ys[shown: shown + 1])
        if view.dim == 1 and trail_path.grads is not None and shown >= 0 and np.isfinite(trail_path.grads[shown, 0]):
            slope = trail_path.grads[shown, 0]
            span = np.array([xs[shown] - half_width, xs[shown] + half_width])
            tangent.set_data(span, ys[shown] + slope * (span - xs[shown]))
        else:
            tangent.set_data([], [])
        text = f"{view.name}: step {frame}/{trail_path.steps}"
        if frame <= last:
            text += f", loss {trail_path.losses[frame]:.4g}"
        else:
            text += f"\n({trail_path.note})"
        title.set_text(text)
        return trail, current, tangent, title

    animation = FuncAnimation(fig, draw_frame, frames=len(trail_path.points), interval=1000.0 / fps,
                              blit=False, repeat=True, cache_frame_data=False)
    animation.fps = fps
    return animation


def save_gif(animation: Any, path: str | os.PathLike, fps: float | None = None, dpi: float | None = None) -> str:
    """Write an animation to ``path`` as a GIF, atomically; return the path.

    The frames are written with Pillow (``matplotlib.animation.PillowWriter``)
    to a temporary file beside ``path``, which is then renamed onto it, so a
    reader (or a crash) never sees half a GIF. Each frame lasts ``1000 / fps``
    milliseconds.

    Args:
        animation: a ``matplotlib.animation.Animation`` (as `animate_path` returns).
        path: where to write, e.g. ``"descent.gif"``; its directory must exist.
        fps: frames per second; by default the animation's ``.fps`` (set by
            `animate_path`), else the rate its interval implies.
        dpi: the resolution of the frames; by default the figure's.

    Raises:
        TypeError: if ``animation`` is not a matplotlib Animation.
        FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError:
            if ``path`` cannot be written; the message names it.
    """
    who = "save_gif"
    if not isinstance(animation, Animation):
        raise TypeError(f"{who}: expected a matplotlib Animation (from animate_path), got {type(animation).__name__}")
    path = os.fspath(path)
    if fps is None:
        fps = getattr(animation, "fps", None) or 1000.0 / float(getattr(animation, "_interval", 200))
    fps = check_fps(who, fps)
    return atomic_write(path, lambda tmp: animation.save(tmp, writer=PillowWriter(fps=fps), dpi=dpi),
                        who=who, suffix=".gif")
