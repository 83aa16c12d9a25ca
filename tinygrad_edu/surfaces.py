"""Loss surfaces to watch gradient descent on, and `descend` to walk down them.

Each surface is a small object written with Tensor operations, so autograd
gives its gradient for free::

    import tinygrad_edu as tg
    from tinygrad_edu import optim

    f = tg.surfaces.quadratic
    f(4.0, 4.0)                     # a 0-d Tensor: 16 + 16 + 16 + 8 + 12 + 5 = 73
    X, Y = np.meshgrid(np.linspace(-5, 5, 50), np.linspace(-5, 5, 50))
    Z = f(X, Y)                     # broadcasting: the whole grid at once, shape (50, 50)

    path = tg.surfaces.descend(f, lambda p: optim.SGD(p, lr=0.1), start=(4, 4), steps=30)
    path.points[-1]                 # close to the minimum (-1/3, -4/3)

The 1-D surface (``parabola``) is called as ``f(x)``, the 2-D ones as
``f(x, y)``. Every surface has ``.name``, ``.dim``, ``.formula`` (readable
text), ``.minima`` (a list of coordinate tuples, possibly empty), ``.bounds``
(a plotting window: ``(xmin, xmax)`` in 1-D, ``((xmin, xmax), (ymin, ymax))``
in 2-D) and ``.saddle_points``.

This module sits above ``optim`` and below ``viz``: it computes paths and
leaves the drawing to ``tg.viz``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._checks import check_int
from .optim import Optimizer
from .optim.lr_scheduler import ReduceLROnPlateau
from .tensor import Tensor

__all__ = [
    "Surface", "Parabola", "Quadratic", "Rosenbrock", "Beale", "Himmelblau", "Saddle", "Ravine",
    "parabola", "quadratic", "rosenbrock", "beale", "himmelblau", "saddle", "ravine",
    "get", "names", "descend", "Path",
]


def _as_tensor(value: Any) -> Tensor:
    """A Tensor as given, or an array-like made into one (float64 unless it already is a float array)."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    # dtype= keeps a float64 grid float64 even when the default dtype is float32.
    return Tensor(array, dtype=array.dtype)


class Surface:
    """A loss function of one or two variables, with what is known about it.

    Subclasses set the class attributes and define `function` with Tensor
    operations (so ``backward()`` gives the gradient); calling the surface
    converts its arguments to Tensors first.

    Attributes:
        name: the short name, as ``tg.surfaces.get(name)`` takes it.
        dim: the number of variables, 1 (``f(x)``) or 2 (``f(x, y)``).
        formula: the function as readable text.
        minima: the exact minimisers, a list of coordinate tuples (empty if there are none).
        saddle_points: the saddle points, a list of coordinate tuples (usually empty).
        bounds: the plotting window, ``(xmin, xmax)`` in 1-D or ``((xmin, xmax), (ymin, ymax))`` in 2-D.
    """

    name: str = ""
    dim: int = 2
    formula: str = ""
    minima: list[tuple[float, ...]] = []
    saddle_points: list[tuple[float, ...]] = []
    bounds: Any = None

    def function(self, *coords: Tensor) -> Tensor:
        """The formula itself, on Tensors; subclasses define it."""
        raise NotImplementedError

    def __call__(self, *coords: Any) -> Tensor:
        """Evaluate at ``coords`` (Tensors, arrays or numbers; they broadcast), returning a Tensor."""
        if len(coords) != self.dim:
            args = "x" if self.dim == 1 else "x, y"
            raise TypeError(f"surface {self.name!r} takes {self.dim} coordinate(s), f({args}), "
                            f"but got {len(coords)}")
        return self.function(*(_as_tensor(c) for c in coords))

    def __repr__(self) -> str:
        return f"<surface {self.name}: {self.formula}>"


class Parabola(Surface):
    """The sources' 1-D loss, a parabola.

    L(x) = x**2 + 2*x + 1 = (x + 1)**2,  L'(x) = 2*x + 2.

    The minimum is at x = -1, where L = 0. Gradient descent with rate eta
    maps x to x - eta * (2x + 2), so the distance to the minimum shrinks by
    the factor |1 - 2*eta| each step: it converges for 0 < eta < 1 and
    diverges for eta > 1.
    """

    name = "parabola"
    dim = 1
    formula = "x**2 + 2*x + 1"
    minima = [(-1.0,)]
    bounds = (-6.0, 6.0)

    def function(self, x: Tensor) -> Tensor:
        return x**2 + 2 * x + 1


class Quadratic(Surface):
    """The sources' 2-D loss, a tilted bowl.

    L(x, y) = x**2 + y**2 + x*y + 2*x + 3*y + 5,
    grad L = (2*x + y + 2, 2*y + x + 3).

    Setting the gradient to zero gives the 2x2 system 2x + y = -2,
    x + 2y = -3, so the single minimum is at (-1/3, -4/3), where L = 8/3.
    The Hessian [[2, 1], [1, 2]] has eigenvalues 1 and 3 (condition number 3),
    so plain gradient descent converges for 0 < eta < 2/3.
    """

    name = "quadratic"
    formula = "x**2 + y**2 + x*y + 2*x + 3*y + 5"
    minima = [(-1 / 3, -4 / 3)]
    bounds = ((-5.0, 5.0), (-5.0, 5.0))

    def function(self, x: Tensor, y: Tensor) -> Tensor:
        return x**2 + y**2 + x * y + 2 * x + 3 * y + 5


class Rosenbrock(Surface):
    """Rosenbrock's banana-shaped valley, a classic hard case for gradient descent.

    L(x, y) = (a - x)**2 + b * (y - x**2)**2,
    grad L = (-2*(a - x) - 4*b*x*(y - x**2), 2*b*(y - x**2)).

    The minimum is at (a, a**2), where L = 0 (with the usual a = 1, b = 100:
    at (1, 1)). Finding the curved valley floor is easy; following it to the
    minimum is slow, because the valley is steep across and nearly flat along.

    Args:
        a: the minimum's x coordinate (default 1).
        b: the steepness of the valley's walls (default 100).
    """

    name = "rosenbrock"
    bounds = ((-2.0, 2.0), (-1.0, 3.0))

    def __init__(self, a: float = 1.0, b: float = 100.0) -> None:
        self.a = a
        self.b = b
        self.formula = f"({a:g} - x)**2 + {b:g}*(y - x**2)**2"
        self.minima = [(float(a), float(a) ** 2)]

    def function(self, x: Tensor, y: Tensor) -> Tensor:
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2


class Beale(Surface):
    """Beale's function: flat plateaus and sharp ridges.

    L(x, y) = (1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2.
    With the three residuals r1, r2, r3 (in that order),
    grad L = (2*r1*(y - 1) + 2*r2*(y**2 - 1) + 2*r3*(y**3 - 1),
              2*r1*x + 4*r2*x*y + 6*r3*x*y**2).

    The global minimum is at (3, 0.5), where L = 0.
    """

    name = "beale"
    formula = "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2"
    minima = [(3.0, 0.5)]
    bounds = ((-4.5, 4.5), (-4.5, 4.5))

    def function(self, x: Tensor, y: Tensor) -> Tensor:
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


class Himmelblau(Surface):
    """Himmelblau's function: four minima of equal depth, so the start decides where you land.

    L(x, y) = (x**2 + y - 11)**2 + (x + y**2 - 7)**2,
    grad L = (4*x*(x**2 + y - 11) + 2*(x + y**2 - 7),
              2*(x**2 + y - 11) + 4*y*(x + y**2 - 7)).

    L = 0 at each of the four minima: (3, 2) exactly, and three more that are
    roots of a polynomial, given here to double precision:
    (-2.805118..., 3.131312...), (-3.779310..., -3.283185...) and
    (3.584428..., -1.848126...).
    """

    name = "himmelblau"
    formula = "(x**2 + y - 11)**2 + (x + y**2 - 7)**2"
    # The three irrational minima were solved with 40-digit Newton iterations, then rounded to float64.
    minima = [
        (3.0, 2.0),
        (-2.805118086952745, 3.131312518250573),
        (-3.779310253377747, -3.2831859912861696),
        (3.5844283403304917, -1.8481265269644036),
    ]
    bounds = ((-5.0, 5.0), (-5.0, 5.0))

    def function(self, x: Tensor, y: Tensor) -> Tensor:
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


class Saddle(Surface):
    """A saddle: up along x, down along y.

    L(x, y) = x**2 - y**2,  grad L = (2*x, -2*y).

    The origin has zero gradient but is no minimum (L falls off along y), and
    L is unbounded below, so ``minima`` is empty and ``saddle_points`` is
    [(0, 0)]. Gradient descent started exactly on the x axis slides into the
    saddle and stops there; any small y grows and carries it away.
    """

    name = "saddle"
    formula = "x**2 - y**2"
    minima: list[tuple[float, ...]] = []
    saddle_points = [(0.0, 0.0)]
    bounds = ((-2.0, 2.0), (-2.0, 2.0))

    def function(self, x: Tensor, y: Tensor) -> Tensor:
        return x**2 - y**2


class Ravine(Surface):
    """A narrow elongated valley: a quadratic a hundred times steeper across than along.

    L(x, y) = 0.5 * (x**2 + 100*y**2),  grad L = (x, 100*y).

    The minimum is at (0, 0), where L = 0. The Hessian diag(1, 100) has
    condition number 100: a rate small enough not to bounce out across the
    valley (eta < 2/100) crawls along it, which is the case momentum and
    Adam are meant to fix.
    """

    name = "ravine"
    formula = "0.5*(x**2 + 100*y**2)"
    minima = [(0.0, 0.0)]
    bounds = ((-10.0, 10.0), (-5.0, 5.0))

    def function(self, x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * (x**2 + 100 * y**2)


parabola = Parabola()
quadratic = Quadratic()
rosenbrock = Rosenbrock()
beale = Beale()
himmelblau = Himmelblau()
saddle = Saddle()
ravine = Ravine()

_SURFACES: dict[str, Surface] = {s.name: s for s in
                                 (parabola, quadratic, rosenbrock, beale, himmelblau, saddle, ravine)}


def names() -> list[str]:
    """The names of the built-in surfaces, in a fixed order (1-D first)."""
    return list(_SURFACES)


def get(name: str) -> Surface:
    """The built-in surface called ``name``; an unknown name is a KeyError listing the valid ones."""
    try:
        return _SURFACES[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown surface {name!r}; valid names are: {', '.join(_SURFACES)}") from None


class Path:
    """The record of an optimizer's walk on a surface, as `descend` returns it.

    Row k of ``points``, ``losses`` and ``grads`` belongs to the same point:
    the parameters after k steps (row 0 is the start), the loss there and the
    gradient there. The last row's gradient is computed at the final point
    too, though no step uses it.

    Attributes:
        points: array ``(steps + 1, dim)``.
        losses: array ``(steps + 1,)``.
        grads: array ``(steps + 1, dim)``.
        lrs: array ``(steps,)``: the first param group's learning rate used by
            each step (read just before it, so a scheduler's changes show).
        name: the label given to `descend`, or the optimizer's class name.
        surface: the surface walked on.
        diverged: True when the walk reached a non-finite point, loss or
            gradient. Recording stops at that row (which is kept, showing
            the inf or NaN); every later row, and the rate of every step not
            taken, is NaN.
    """

    def __init__(self, points: np.ndarray, losses: np.ndarray, grads: np.ndarray, lrs: np.ndarray, name: str,
                 surface: Surface, diverged: bool) -> None:
        self.points = points
        self.losses = losses
        self.grads = grads
        self.lrs = lrs
        self.name = name
        self.surface = surface
        self.diverged = diverged

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    def _finite_rows(self) -> int:
        """How many leading rows have a finite point and a finite loss."""
        ok = np.isfinite(self.points).all(axis=1) & np.isfinite(self.losses)
        return len(ok) if ok.all() else int(np.argmin(ok))

    def finite_points(self) -> np.ndarray:
        """The points up to the last one before the walk left the finite numbers (a copy, ``(n, dim)``).

        A row counts when its point and its loss are both finite, so these
        points can be drawn on a contour plot as well as on a 3-D surface.
        """
        return self.points[:self._finite_rows()].copy()

    def finite_losses(self) -> np.ndarray:
        """The losses matching `finite_points` (a copy, ``(n,)``)."""
        return self.losses[:self._finite_rows()].copy()

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        status = "diverged" if self.diverged else f"final loss {self.losses[-1]:.6g}"
        return f"Path({self.name!r} on {self.surface.name!r}: {len(self) - 1} steps, {status})"


def _start_array(surface: Surface, start: Any) -> np.ndarray:
    """``start`` as a float64 vector of the surface's dimension, or a ValueError naming it."""
    try:
        array = np.array(start, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"descend: start={start!r} is not a point (a number or a tuple of numbers)") from None
    if array.size != surface.dim:
        raise ValueError(f"descend: start={start!r} has {array.size} coordinate(s) but surface "
                         f"{surface.name!r} is {surface.dim}-D")
    if not np.isfinite(array).all():
        raise ValueError(f"descend: start={start!r} must be finite")
    return array


def descend(surface: Surface | str, make_optimizer: Callable[[list[Tensor]], Optimizer],
            start: float | Sequence[float], steps: int, scheduler: Callable[[Optimizer], Any] | None = None,
            label: str | None = None) -> Path:
    """Run an optimizer on a surface from ``start`` and record where it goes.

    One float64 parameter Tensor of shape ``(dim,)`` holds the point. Each
    step is the training loop in miniature::

        optimizer.zero_grad()
        loss = surface(*coords)      # coords: the parameter's entries
        loss.backward()
        optimizer.step()
        scheduler.step()             # if a scheduler was given

    A ``ReduceLROnPlateau`` scheduler is stepped with the step's loss.

    Args:
        surface: a surface, or its name.
        make_optimizer: called with ``[param]``, returns the optimizer, e.g.
            ``lambda p: optim.Adam(p, lr=0.1)``.
        start: the starting point, a number (1-D) or a tuple (2-D).
        steps: how many optimizer steps to take (0 records only the start).
        scheduler: called with the optimizer, returns a scheduler stepped
            after every optimizer step, e.g.
            ``lambda opt: optim.lr_scheduler.StepLR(opt, step_size=10)``.
        label: the path's name (default: the optimizer's class name).

    Returns:
        A `Path` with ``points`` ``(steps + 1, dim)``, ``losses``
        ``(steps + 1,)``, ``grads`` ``(steps + 1, dim)`` and ``lrs``
        ``(steps,)``. A walk that reaches inf or NaN stops there without an
        error: the remaining rows are NaN and ``path.diverged`` is True.

    Example:
        >>> import tinygrad_edu as tg
        >>> path = tg.surfaces.descend("parabola", lambda p: tg.optim.SGD(p, lr=0.2), start=5.0, steps=15)
        >>> path.points.shape, round(float(path.points[1, 0]), 6)   # 5 - 0.2 * (2*5 + 2)
        ((16, 1), 2.6)
    """
    if isinstance(surface, str):
        surface = get(surface)
    if not isinstance(surface, Surface):
        raise TypeError(f"descend: surface must be a Surface or a surface name, got {surface!r}")
    steps = check_int("descend", "steps", steps, minimum=0)
    point = _start_array(surface, start)
    if not callable(make_optimizer):
        raise TypeError(f"descend: make_optimizer must be a callable that builds an optimizer from [param], "
                        f"got {make_optimizer!r}")

    param = Tensor(point, requires_grad=True, dtype=np.float64)
    optimizer = make_optimizer([param])
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"descend: make_optimizer([param]) must return an optim.Optimizer, got {optimizer!r}; "
                        f"write it as, e.g., lambda p: optim.SGD(p, lr=0.1)")
    schedule = scheduler(optimizer) if scheduler is not None else None
    if schedule is not None and not callable(getattr(schedule, "step", None)):
        raise TypeError(f"descend: scheduler(optimizer) must return a scheduler with a step() method, "
                        f"got {schedule!r}")

    dim = surface.dim
    points = np.full((steps + 1, dim), np.nan)
    losses = np.full(steps + 1, np.nan)
    grads = np.full((steps + 1, dim), np.nan)
    lrs = np.full(steps, np.nan)
    diverged = False
    # Overflow to inf (and inf - inf = NaN) is what divergence looks like; it is detected below, not warned about.
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps + 1):
            optimizer.zero_grad()
            loss = surface(*(param[i] for i in range(dim)))
            loss.backward()
            points[k] = param.numpy()
            losses[k] = loss.item()
            grads[k] = param.grad.numpy()
            if not (np.isfinite(points[k]).all() and math.isfinite(losses[k]) and np.isfinite(grads[k]).all()):
                diverged = True
                break
            if k == steps:
                break  # the last row's gradient is recorded, but no step uses it
            lrs[k] = optimizer.param_groups[0]["lr"]
            optimizer.step()
            if isinstance(schedule, ReduceLROnPlateau):
                schedule.step(losses[k])
            elif schedule is not None:
                schedule.step()
    name = label if label is not None else type(optimizer).__name__
    return Path(points, losses, grads, lrs, name, surface, diverged)
