"""Reading what the plots are given: surfaces, paths and figures.

The plotting functions accept anything shaped like ``tg.surfaces``' objects
(duck typing, so a hand-written surface or a plain function works too):

- a *surface* is callable as ``f(x)`` (1-D) or ``f(x, y)`` (2-D) on NumPy arrays,
  broadcasting, and returns a Tensor or an array; it may have ``.name``,
  ``.dim`` (1 or 2), ``.bounds`` (``(xmin, xmax)`` or ``((xmin, xmax), (ymin, ymax))``)
  and ``.minima`` (a list of coordinate tuples);
- a *path* has ``.points`` (``(steps + 1, dim)``) and may have ``.losses``,
  ``.grads``, ``.name`` and ``.diverged``; a bare array of points works too.

Everything here turns those into plain NumPy data, with errors that name the
offending value, so the drawing code never has to guess.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._checks import check_int, check_positive
from ..autograd import no_grad


@dataclass
class SurfaceView:
    """A surface as the plots need it: a name, a dimension, a window, minima, and values."""

    surface: Any
    name: str
    dim: int
    bounds: tuple[tuple[float, float], ...]  # one (low, high) pair per coordinate
    minima: list[tuple[float, ...]]

    def __call__(self, *coords: np.ndarray) -> np.ndarray:
        """The surface's values at ``coords`` as a float array of the broadcast shape."""
        return evaluate(self.surface, *coords)

    def grid_1d(self, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        """``resolution`` points across the window and the values there."""
        x = np.linspace(*self.bounds[0], resolution)
        return x, self(x)

    def grid_2d(self, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A meshgrid over the window and the values there (non-finite values become nan)."""
        x = np.linspace(*self.bounds[0], resolution)
        y = np.linspace(*self.bounds[1], resolution)
        grid_x, grid_y = np.meshgrid(x, y)
        values = np.array(self(grid_x, grid_y), dtype=float)
        values[~np.isfinite(values)] = np.nan
        if np.isnan(values).all():
            raise ValueError(f"surface {self.name!r} has no finite value inside its bounds {self.bounds}")
        return grid_x, grid_y, values


@dataclass
class PathView:
    """A path as the plots need it; rows after the first non-finite one are not drawn."""

    name: str
    points: np.ndarray  # (n, dim), every row
    losses: np.ndarray  # (n,)
    grads: np.ndarray | None  # (n, dim) or None
    n_finite: int  # how many leading rows have finite points and losses
    diverged: bool

    @property
    def steps(self) -> int:
        """The number of steps (rows - 1)."""
        return len(self.points) - 1

    @property
    def finite_points(self) -> np.ndarray:
        """The rows up to the last finite one, ``(n_finite, dim)``."""
        return self.points[: self.n_finite]

    @property
    def finite_losses(self) -> np.ndarray:
        """The losses up to the last finite row."""
        return self.losses[: self.n_finite]

    @property
    def note(self) -> str:
        """'' for a path that converged; says where it diverged otherwise."""
        if not self.diverged:
            return ""
        if self.n_finite == 0:
            return "diverged at the start"
        if self.n_finite < len(self.points):
            return f"diverged after step {self.n_finite - 1}"
        return "diverged"

    @property
    def label(self) -> str:
        """The legend label: the name, with the divergence note when there is one."""
        return f"{self.name} ({self.note})" if self.note else self.name



def _plain(value: Any) -> Any:
    """A Tensor's array (``.numpy()``, no copy); anything else as it is."""
    return value.numpy() if hasattr(value, "numpy") and callable(value.numpy) else value

def evaluate(surface: Any, *coords: np.ndarray) -> np.ndarray:
    """``surface(*coords)`` as a float array of the coordinates' broadcast shape.

    Run without recording a graph and with NumPy's overflow warnings off: a
    plotting window may well reach where a steep surface overflows, which is
    drawn as a gap, not reported.
    """
    with no_grad(), np.errstate(all="ignore"):
        out = surface(*coords)
    values = np.asarray(_plain(out), dtype=float)
    return np.broadcast_to(values, np.broadcast(*coords).shape)


def _name_of(obj: Any, fallback: str) -> str:
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(obj, "__name__", None)
    if isinstance(name, str) and name and name != "<lambda>":
        return name
    return fallback


def _check_pair(who: str, what: str, pair: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: {what} must be a pair (low, high) of numbers, got {pair!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{who}: {what} must be finite with low < high, got {pair!r}")
    return low, high


def read_surface(who: str, surface: Any, paths: Sequence[Any] = (), bounds: Any = None) -> SurfaceView:
    """Check ``surface`` and read its name, dimension, window and minima.

    ``bounds`` overrides the surface's own; without either, the window is the
    box around the paths' finite points (padded), so a plain function works.
    """
    if not callable(surface):
        raise TypeError(f"{who}: surface must be callable as f(x) or f(x, y), got {surface!r} "
                        f"({type(surface).__name__})")
    name = _name_of(surface, type(surface).__name__)
    raw_bounds = bounds if bounds is not None else getattr(surface, "bounds", None)

    dim = getattr(surface, "dim", None)
    if dim is None and raw_bounds is not None:
        shape = np.shape(raw_bounds)
        dim = 1 if shape == (2,) else 2 if shape == (2, 2) else None
    if dim is None:
        for path in paths:
            points = np.asarray(getattr(path, "points", path))
            dim = 1 if points.ndim == 1 else points.shape[-1]
            break
    if dim is None:
        raise ValueError(f"{who}: cannot tell whether surface {name!r} is 1-D or 2-D: give it .dim or .bounds, "
                         f"or pass bounds=")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim not in (1, 2):
        raise ValueError(f"{who}: surface {name!r} has dim={dim!r}; only 1-D and 2-D surfaces can be drawn")
    dim = int(dim)

    if raw_bounds is None:
        found = [_points(who, path, dim, i, name)[0] for i, path in enumerate(paths)]
        finite = [p[np.isfinite(p).all(axis=1)] for p in found]
        finite = [p for p in finite if len(p)]
        if not finite:
            raise ValueError(f"{who}: surface {name!r} has no .bounds and there are no finite path points "
                             f"to frame; pass bounds=")
        stacked = np.concatenate(finite)
        low, high = stacked.min(axis=0), stacked.max(axis=0)
        pad = np.maximum(0.15 * (high - low), 1.0)
        window = tuple((float(lo - p), float(hi + p)) for lo, hi, p in zip(low, high, pad))
    elif dim == 1:
        if np.shape(raw_bounds) != (2,):
            raise ValueError(f"{who}: a 1-D surface's bounds must be (xmin, xmax); {name!r} has {raw_bounds!r}")
        window = (_check_pair(who, f"the bounds of {name!r}", raw_bounds),)
    else:
        if np.shape(raw_bounds) != (2, 2):
            raise ValueError(f"{who}: a 2-D surface's bounds must be ((xmin, xmax), (ymin, ymax)); "
                             f"{name!r} has {raw_bounds!r}")
        window = tuple(_check_pair(who, f"the {axis} bounds of {name!r}", pair)
                       for axis, pair in zip("xy", raw_bounds))

    minima = []
    for point in getattr(surface, "minima", None) or ():
        coords = np.asarray(point, dtype=float).reshape(-1)
        if coords.size != dim:
            raise ValueError(f"{who}: surface {name!r} lists a minimum {point!r} with {coords.size} coordinates, "
                             f"but it is {dim}-D")
        minima.append(tuple(float(c) for c in coords))
    return SurfaceView(surface=surface, name=name, dim=dim, bounds=window, minima=minima)


def _points(who: str, path: Any, dim: int, index: int, surface_name: str) -> tuple[np.ndarray, str]:
    name = _name_of(path, f"path {index + 1}") if hasattr(path, "points") else f"path {index + 1}"
    raw = getattr(path, "points", path)
    try:
        points = np.array(_plain(raw), dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {name!r} must be a path (with .points) or an array of points, "
                        f"got {type(path).__name__}") from None
    if points.ndim == 1 and dim == 1:
        points = points.reshape(-1, 1)
    if points.ndim != 2 or points.shape[1] != dim or len(points) == 0:
        raise ValueError(f"{who}: {name!r} has points of shape {points.shape}, but surface {surface_name!r} is "
                         f"{dim}-D: expected shape (steps + 1, {dim})")
    return points, name


def read_path(who: str, path: Any, surface: SurfaceView, index: int) -> PathView:
    """Check one path against ``surface`` and find how far it stays finite."""
    points, name = _points(who, path, surface.dim, index, surface.name)
    n = len(points)
    losses = getattr(path, "losses", None)
    if losses is None:
        losses = surface(*points.T)  # a non-finite point gives a non-finite loss, which ends the path
    losses = np.array(_plain(losses), dtype=float).reshape(-1)
    if len(losses) != n:
        raise ValueError(f"{who}: {name!r} has {n} points but {len(losses)} losses")
    grads = getattr(path, "grads", None)
    if grads is not None:
        grads = np.array(_plain(grads), dtype=float).reshape(n, -1)
        if grads.shape != points.shape:
            raise ValueError(f"{who}: {name!r} has points of shape {points.shape} but grads of shape {grads.shape}")
    finite = np.isfinite(points).all(axis=1) & np.isfinite(losses)
    n_finite = n if finite.all() else int(np.argmin(finite))
    diverged = bool(getattr(path, "diverged", False)) or n_finite < n
    return PathView(name=name, points=points, losses=losses, grads=grads, n_finite=n_finite, diverged=diverged)


def read_paths(who: str, paths: Sequence[Any], surface: SurfaceView) -> list[PathView]:
    """`read_path` for each of ``paths``."""
    return [read_path(who, path, surface, i) for i, path in enumerate(paths)]


def new_figure(figsize: tuple[float, float], layout: str | None = "constrained") -> Any:
    """A Figure made with the object API: no pyplot, no window, no global state."""
    return Figure(figsize=figsize, layout=layout)


def figure_and_axes(who: str, ax: Any, figsize: tuple[float, float], projection: str | None = None) -> tuple[Any, Any]:
    """``ax``'s figure and ``ax``, or a new figure with one axes of ``projection``."""
    if ax is None:
        fig = new_figure(figsize)
        return fig, fig.add_subplot(projection=projection)
    if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
        raise TypeError(f"{who}: ax must be a matplotlib Axes, got {type(ax).__name__}")
    if projection == "3d" and getattr(ax, "name", None) != "3d":
        raise ValueError(f"{who}: ax must be a 3-D Axes (add_subplot(projection='3d')), got a {ax.name!r} Axes")
    return ax.figure, ax


def check_count(who: str, name: str, value: Any, low: int) -> int:
    """``value`` as an int >= ``low``, or an error naming ``name``."""
    return check_int(who, name, value, minimum=low)


def check_fps(who: str, fps: Any) -> float:
    """``fps`` as a positive finite float, or an error naming it."""
    return check_positive(who, "fps (frames per second)", fps)


def default_levels(values: np.ndarray, count: int = 20) -> np.ndarray | None:
    """Contour levels at quantiles of the values, denser near the bottom.

    Evenly spaced levels fail on steep surfaces (Rosenbrock spans 0 to
    thousands, so every level sits on the walls and the valley is empty);
    quantiles put levels where the area is, and squaring the quantile
    fractions crowds them towards the minimum, where the paths end.
    """
    finite = values[np.isfinite(values)]
    levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, count) ** 2))
    return levels if len(levels) >= 2 else None  # a flat surface has no contours to draw
