"""Interactive notebooks: sliders that re-run a descent or a schedule and redraw it at once.

    import tinygrad_edu as tg
    tg.viz.interactive_descent("rosenbrock")      # last line of a Jupyter cell: the controls and the picture
    tg.viz.interactive_schedule("onecycle", total_steps=100)

`interactive_descent` puts a 2-D surface's contours beside a dropdown of
optimizers and sliders for the rate (log-scaled), the optimizer's betas or
momentum (only those it has), the number of steps and the start point; every
change re-runs ``tg.surfaces.descend`` and redraws the path, with the final
point and loss printed under it. `interactive_schedule` does the same for a
learning-rate schedule: a dropdown of schedules, sliders for the chosen one's
parameters, and its rate curve, computed by stepping the real scheduler on a
throwaway optimizer (so the curve is the one training would see, and
PyTorch's).

Both return an ``ipywidgets.VBox``: show it as a cell's last expression,
``display()`` it, or put it inside your own layout. Its ``.explorer`` attribute
is the `DescentExplorer` / `ScheduleExplorer` that owns the controls (each an
ordinary ipywidget: set its ``.value`` from code and the picture follows, as if
the slider had been dragged), the matplotlib ``Figure`` (``.figure``, built
with the object API and reused from one redraw to the next: the contours are
drawn once, only the path moves), and the result of the last redraw
(``.path`` or ``.rates``, and ``.summary``). The picture is shown as a PNG in an
``ipywidgets.Image``, so it needs no matplotlib backend and no pyplot state,
and nothing blocks. ``explorer.set(lr=0.01, steps=200)`` changes several
controls with one redraw.

ipywidgets is an optional dependency: ``pip install "tinygrad-edu[notebook]"``.
This module imports it only when a widget is built, so the rest of ``tg.viz``
works without it.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import optim, surfaces
from .._checks import check_int, check_positive
from ..factories import zeros
from ..optim import lr_scheduler
from ._inputs import new_figure, read_surface
from ._style import PALETTE, STYLE, place_legend, styled
from .surface_plots import draw_contours, draw_minima

__all__ = ["interactive_descent", "interactive_schedule", "DescentExplorer", "ScheduleExplorer", "schedule_rates",
           "DESCENT_OPTIMIZERS", "SCHEDULES"]

#: The optimizers `interactive_descent` offers by default: those whose idea shows on one 2-D point.
#: Left out: Adafactor and CAME (they factor a *matrix*'s second moment) and LARS and LAMB (they rescale
#: each *layer*'s step by its weight norm): on a single 2-vector they reduce to odd variants of the others.
#: Any name of ``tg.optim.names()`` can still be passed in ``optimizers=``.
DESCENT_OPTIMIZERS = ("SGD", "Momentum", "RMSprop", "Adagrad", "Adam", "AdamW", "NAdam", "RAdam", "Lion")

#: Starting points that show each built-in surface's character (those the examples use where they have one).
_STARTS = {
    "quadratic": (4.0, 4.0),       # the sources' 2-D demo
    "rosenbrock": (-1.5, 2.0),
    "ravine": (-9.0, 1.0),
    "beale": (1.0, 1.5),
    "himmelblau": (0.0, 0.0),
    "saddle": (-1.5, 0.05),        # just off the ridge: the path rolls off the saddle
}

#: Sizes a projected notebook can be read at from the back of a room (the figure style's; set explicitly
#: because the explorers redraw after the style's context has ended).
_TITLE_SIZE, _LABEL_SIZE, _TICK_SIZE = STYLE["axes.titlesize"], STYLE["axes.labelsize"], STYLE["xtick.labelsize"]


def _import_widgets(who: str) -> Any:
    """``ipywidgets``, or an ImportError naming the extra that installs it."""
    try:
        import ipywidgets
    except ImportError as err:
        raise ImportError(f'tg.viz.{who} needs ipywidgets, which draws the sliders in Jupyter: '
                          f'pip install "tinygrad-edu[notebook]"') from err
    return ipywidgets


def _png(figure: Any, dpi: float) -> bytes:
    """The figure rendered by Agg as PNG bytes (no pyplot, no backend switch)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _readable(ax: Any) -> None:
    ax.xaxis.label.set_size(_LABEL_SIZE)
    ax.yaxis.label.set_size(_LABEL_SIZE)
    ax.tick_params(labelsize=_TICK_SIZE)


def _check_picture(who: str, figsize: Any, dpi: Any) -> None:
    """``figsize`` must be two positive numbers (inches) and ``dpi`` a positive number."""
    try:
        width, height = figsize
        check_positive(who, "figsize[0]", width)
        check_positive(who, "figsize[1]", height)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: figsize must be (width, height) in inches, two positive numbers, "
                         f"got {figsize!r}") from None
    check_positive(who, "dpi", dpi)


def _look(widgets: Any, width: str, label_width: str) -> dict[str, Any]:
    """A control's size, with a Layout of its own (a shared one would hide every control it is hidden on)."""
    return {"style": {"description_width": label_width}, "layout": widgets.Layout(width=width)}


def _check_value(who: str, name: str, control: Any, value: Any) -> None:
    """Refuse a value a control cannot hold (a slider would clamp it silently, a dropdown raise a TraitError)."""
    options = getattr(control, "options", None)
    if options is not None:
        if value not in options:
            raise ValueError(f"{who}: {name} must be one of {', '.join(map(repr, options))}; got {value!r}")
        return
    if not hasattr(control, "min"):  # a checkbox
        if not isinstance(value, bool):
            raise ValueError(f"{who}: {name} must be True or False, got {value!r}")
        return
    low, high = control.min, control.max
    if hasattr(control, "base"):  # FloatLogSlider: min and max are exponents
        low, high = control.base ** low, control.base ** high
    integer = isinstance(control.value, int)
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise ValueError(f"{who}: {name} must be {'an integer' if integer else 'a number'} in [{low:g}, {high:g}] "
                         f"(the slider's range), got {value!r}")


class _Explorer:
    """What both explorers share: the widget, observers that redraw, `set`, and the PNG of the figure."""

    who = ""
    widget: Any
    figure: Any
    image: Any
    status: Any
    error: str | None = None
    summary: str = ""

    def __init__(self, dpi: float) -> None:
        self._dpi = dpi
        self._holding = False

    def _watch(self, controls: Sequence[Any]) -> None:
        for control in controls:
            control.observe(self._on_change, names="value")

    def _on_change(self, change: Any = None) -> None:
        if self._holding:
            return
        # An observer's exception would only reach the browser's console: show it under the picture instead.
        try:
            self.redraw()
        except Exception as err:  # noqa: BLE001 (any failure is reported to the reader, not lost)
            self.error = f"{type(err).__name__}: {err}"
            self.status.value = f"<b style='color:#b00; font-size:15px'>{html.escape(self.error)}</b>"

    def _show(self) -> None:
        """Put the figure into the Image widget and the summary under it."""
        self.error = None
        self.image.value = _png(self.figure, self._dpi)
        self.status.value = f"<span style='font-size:15px'>{self.summary}</span>"

    def redraw(self) -> None:  # pragma: no cover - defined by the subclasses
        raise NotImplementedError

    def set(self, **values: Any) -> None:
        """Set several controls' values (by name, e.g. ``lr=0.01``), then redraw once.

        Unlike a slider, which quietly clamps a value to its range, ``set``
        refuses a value outside a control's range or options, before changing
        anything; and an error of the redraw is raised, not only shown.

        Raises:
            KeyError: for a name that is not one of this explorer's controls, listing them.
            ValueError: for a value outside its control's range or options.
        """
        controls = self.controls
        unknown = [name for name in values if name not in controls]
        if unknown:
            raise KeyError(f"{self.who}: no control named {unknown[0]!r}; controls: {', '.join(controls)}")
        for name, value in values.items():
            _check_value(self.who, name, controls[name], value)
        self._holding = True
        try:
            for name, value in values.items():
                controls[name].value = value
        finally:
            self._holding = False
        self.redraw()

    @property
    def controls(self) -> dict[str, Any]:  # pragma: no cover - defined by the subclasses
        raise NotImplementedError


# -- descent on a surface ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slider:
    """A hyperparameter slider: its range, its step and what it means."""

    low: float
    high: float
    step: float
    default: float
    help: str


#: The hyperparameter sliders, each shown only for the optimizers that have it.
_HYPERPARAMETERS = {
    "momentum": _Slider(0.0, 0.99, 0.01, 0.0, "momentum μ (SGD, RMSprop): v ← μ v + g"),
    "beta": _Slider(0.0, 0.99, 0.01, 0.9, "beta β (Momentum): v ← β v + (1 − β) g"),
    "alpha": _Slider(0.0, 0.999, 0.001, 0.99, "alpha α (RMSprop): the squared gradients' average"),
    "beta1": _Slider(0.0, 0.99, 0.01, 0.9, "beta1 β₁: the gradients' average (betas[0])"),
    "beta2": _Slider(0.0, 0.999, 0.001, 0.999, "beta2 β₂: the squared gradients' average (betas[1])"),
}


def _optimizer_defaults(cls: type) -> dict[str, Any]:
    """The hyperparameter defaults of an optimizer class (``lr`` is required by some, so one is given)."""
    return dict(cls([zeros(1, requires_grad=True)], lr=0.1).defaults)


def _sliders_of(defaults: dict[str, Any]) -> list[str]:
    """Which of `_HYPERPARAMETERS` an optimizer with these defaults takes."""
    names = [name for name in ("momentum", "beta", "alpha") if name in defaults]
    betas = defaults.get("betas")
    if isinstance(betas, tuple) and len(betas) >= 2:
        names += ["beta1", "beta2"]
    return names


def _surface_of(who: str, surface: Any) -> surfaces.Surface:
    if isinstance(surface, str):
        try:
            surface = surfaces.get(surface)
        except KeyError:
            two_d = [name for name in surfaces.names() if surfaces.get(name).dim == 2]
            raise KeyError(f"{who}: unknown surface {surface!r}; valid names: {', '.join(two_d)}") from None
    if not isinstance(surface, surfaces.Surface):
        raise TypeError(f"{who}: surface must be a tg.surfaces.Surface or a surface name, got {surface!r}")
    if surface.dim != 2:
        raise ValueError(f"{who}: surface {surface.name!r} is {surface.dim}-D; the contour picture needs a 2-D "
                         f"surface (tg.viz.plot_path_1d draws 1-D paths)")
    if np.shape(surface.bounds) != (2, 2):
        raise ValueError(f"{who}: surface {surface.name!r} needs .bounds = ((xmin, xmax), (ymin, ymax)) for the "
                         f"start sliders, got {surface.bounds!r}")
    return surface


class DescentExplorer(_Explorer):
    """The controls, figure and last path behind `interactive_descent` (see it for the arguments).

    Attributes:
        widget: the ``ipywidgets.VBox`` to display (its ``.explorer`` is this object).
        optimizer: the ``Dropdown`` of optimizer names.
        lr: the ``FloatLogSlider`` of the learning rate.
        hyperparameters: ``{"momentum", "beta", "alpha", "beta1", "beta2"}`` -> ``FloatSlider``; only those
            the chosen optimizer takes are shown (``layout.display`` is ``"none"`` for the others).
        steps: the ``IntSlider`` of the number of steps.
        start_x, start_y: the ``FloatSlider`` s of the start point, over the surface's window.
        surface: the `tg.surfaces.Surface` drawn.
        figure: the matplotlib ``Figure``; ``line`` is the path's ``Line2D`` in it.
        path: the last `tg.surfaces.Path`, exactly what ``tg.surfaces.descend`` returned.
        summary: the text under the picture (final point, loss, distance to the nearest minimum).
        image, status: the ``Image`` holding the PNG and the ``HTML`` holding the summary.
        error: the last redraw's error message, or None.
    """

    who = "interactive_descent"

    def __init__(self, surface: Any = "quadratic", optimizers: Sequence[str] | None = None, lr: float = 0.1,
                 steps: int = 50, start: Sequence[float] | None = None, *, max_steps: int = 500,
                 levels: Any = None, resolution: int = 150, figsize: tuple[float, float] = (6.4, 5.4),
                 dpi: float = 100, continuous_update: bool = False, **hyperparameters: float) -> None:
        who = self.who
        # -- check everything before building anything
        surface = _surface_of(who, surface)
        names = list(DESCENT_OPTIMIZERS if optimizers is None else optimizers)
        if isinstance(optimizers, str) or not names:
            raise ValueError(f"{who}: optimizers must be a non-empty list of optimizer names, got {optimizers!r}")
        classes = []
        for name in names:
            try:
                classes.append(optim.get(name))
            except KeyError:
                raise KeyError(f"{who}: unknown optimizer {name!r}; valid names: {', '.join(optim.names())}") from None
        lr = check_positive(who, "lr", lr)
        steps = check_int(who, "steps", steps, minimum=1)
        max_steps = max(check_int(who, "max_steps", max_steps, minimum=1), steps)
        check_int(who, "resolution", resolution, minimum=2)
        _check_picture(who, figsize, dpi)
        for name, value in hyperparameters.items():
            if name not in _HYPERPARAMETERS:
                raise TypeError(f"{who}: unexpected argument {name!r}; the hyperparameter sliders are "
                                f"{', '.join(_HYPERPARAMETERS)}")
            spec = _HYPERPARAMETERS[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not spec.low <= value <= spec.high:
                raise ValueError(f"{who}: {name} must be a number in [{spec.low}, {spec.high}], got {value!r}")
        (x_low, x_high), (y_low, y_high) = surface.bounds
        if start is None:
            start = _STARTS.get(surface.name, (x_low + 0.8 * (x_high - x_low), y_low + 0.8 * (y_high - y_low)))
        try:
            start_x, start_y = (float(v) for v in start)
        except (TypeError, ValueError):
            raise ValueError(f"{who}: start must be a pair (x, y) of numbers, got {start!r}") from None
        if not (math.isfinite(start_x) and math.isfinite(start_y)):
            raise ValueError(f"{who}: start must be finite, got {start!r}")
        widgets = _import_widgets(who)

        super().__init__(dpi)
        self.surface = surface
        self._classes = {cls.__name__: cls for cls in classes}
        self._defaults = {cls.__name__: _optimizer_defaults(cls) for cls in classes}

        # -- the controls
        def wide() -> dict[str, Any]:  # a Layout of its own per control: hiding one must not hide the others
            return _look(widgets, "380px", "90px")

        def slide() -> dict[str, Any]:
            return dict(continuous_update=continuous_update, **wide())

        self.optimizer = widgets.Dropdown(options=list(self._classes), value=classes[0].__name__,
                                          description="optimizer", **wide())
        self.lr = widgets.FloatLogSlider(value=lr, base=10, min=min(-4, math.floor(math.log10(lr))),
                                         max=max(1, math.ceil(math.log10(lr))), step=0.05, readout_format=".3g",
                                         description="lr", **slide())
        self.hyperparameters: dict[str, Any] = {}
        for name, spec in _HYPERPARAMETERS.items():
            self.hyperparameters[name] = widgets.FloatSlider(
                value=hyperparameters.get(name, spec.default), min=spec.low, max=spec.high, step=spec.step,
                readout_format=".3g", description=name, tooltip=spec.help, **slide())
        self.steps = widgets.IntSlider(value=steps, min=1, max=max_steps, description="steps", **slide())
        self.start_x = widgets.FloatSlider(value=start_x, min=min(x_low, start_x), max=max(x_high, start_x),
                                           step=(x_high - x_low) / 200, readout_format=".3g",
                                           description="start x", **slide())
        self.start_y = widgets.FloatSlider(value=start_y, min=min(y_low, start_y), max=max(y_high, start_y),
                                           step=(y_high - y_low) / 200, readout_format=".3g",
                                           description="start y", **slide())
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width=f"{figsize[0] * dpi:.0f}px"))
        self.status = widgets.HTML()

        # -- the figure: contours and minima once; the path's artists are moved on each redraw
        self.figure = new_figure(figsize)
        ax = self.figure.add_subplot()
        draw_contours(ax, _view(surface), levels, resolution, who=who)
        draw_minima(ax, _view(surface))
        _readable(ax)
        self._ax = ax
        (self.line,) = ax.plot([], [], "-o", color=PALETTE[1], linewidth=1.8, markersize=3.5, zorder=3)
        (self._start_marker,) = ax.plot([], [], "o", markersize=11, markerfacecolor="none", markeredgecolor=PALETTE[1],
                                        markeredgewidth=1.8, zorder=4, label="start")
        self.path: surfaces.Path | None = None

        controls = _controls_box(widgets, [self.optimizer, self.lr, *self.hyperparameters.values(), self.steps,
                                    self.start_x, self.start_y])
        self.widget = widgets.VBox([widgets.HBox([controls, widgets.VBox([self.image, self.status])],
                                                 layout=widgets.Layout(flex_flow="row wrap"))])
        self.widget.explorer = self
        # The sliders' visibility follows the optimizer before the redraw does.
        self.optimizer.observe(lambda change: self._update_visibility(), names="value")
        self._watch([self.optimizer, self.lr, *self.hyperparameters.values(), self.steps, self.start_x,
                     self.start_y])
        self._update_visibility()
        self.redraw()
        # The axes' window never changes, so the layout found for the first picture is kept: laying the
        # figure out again on every redraw would cost about a third of the redraw's time.
        self.figure.set_layout_engine("none")

    @property
    def controls(self) -> dict[str, Any]:
        """Every control by the name `set` takes: optimizer, lr, the hyperparameters, steps, start_x, start_y."""
        return {"optimizer": self.optimizer, "lr": self.lr, **self.hyperparameters, "steps": self.steps,
                "start_x": self.start_x, "start_y": self.start_y}

    @property
    def visible_hyperparameters(self) -> list[str]:
        """The hyperparameter sliders the chosen optimizer takes (the ones shown)."""
        return _sliders_of(self._defaults[self.optimizer.value])

    def _update_visibility(self) -> None:
        shown = self.visible_hyperparameters
        for name, slider in self.hyperparameters.items():
            slider.layout.display = None if name in shown else "none"

    def optimizer_kwargs(self) -> dict[str, Any]:
        """The keyword arguments the chosen optimizer is built with from the controls' values."""
        defaults = self._defaults[self.optimizer.value]
        value = {name: float(slider.value) for name, slider in self.hyperparameters.items()}
        kwargs: dict[str, Any] = {"lr": float(self.lr.value)}
        for name in _sliders_of(defaults):
            if name in ("momentum", "beta", "alpha"):
                kwargs[name] = value[name]
        if "betas" in defaults:  # a third beta (CAME's) keeps its default
            kwargs["betas"] = (value["beta1"], value["beta2"]) + tuple(defaults["betas"][2:])
        return kwargs

    def make_optimizer(self) -> Callable[[list[Any]], Any]:
        """``params -> optimizer`` as the controls set it, the argument ``tg.surfaces.descend`` takes."""
        cls, kwargs = self._classes[self.optimizer.value], self.optimizer_kwargs()
        return lambda params: cls(params, **kwargs)

    @property
    def start(self) -> tuple[float, float]:
        """The start point the sliders set."""
        return float(self.start_x.value), float(self.start_y.value)

    def redraw(self) -> None:
        """Re-run the descent with the controls' values and redraw the path (called by every control)."""
        name = self.optimizer.value
        path = surfaces.descend(self.surface, self.make_optimizer(), self.start, int(self.steps.value), label=name)
        self.path = path
        points = path.finite_points()
        self.line.set_data(points[:, 0], points[:, 1])
        self.line.set_label(name)
        self._start_marker.set_data(points[:1, 0], points[:1, 1])
        settings = ", ".join(f"{key}={value:.3g}" if isinstance(value, float) else
                             f"{key}=({', '.join(f'{v:.3g}' for v in value)})"
                             for key, value in self.optimizer_kwargs().items())
        self._ax.set_title(f"{self.surface.name}: {name}({settings})", fontsize=_TITLE_SIZE)
        place_legend(self._ax, fontsize=STYLE["legend.fontsize"])
        self.summary = _descent_summary(self.surface, path)
        self._show()


def _controls_box(widgets: Any, children: list[Any]) -> Any:
    """A ``VBox`` of controls, narrow enough to sit beside the picture."""
    return widgets.VBox(children, layout=widgets.Layout(min_width="390px"))


def _view(surface: surfaces.Surface) -> Any:
    return read_surface("interactive_descent", surface)


def _descent_summary(surface: surfaces.Surface, path: surfaces.Path) -> str:
    """The final point and loss, and how far the last point is from the nearest minimum."""
    steps = len(path.points) - 1
    points = path.finite_points()
    if path.diverged:
        where = f"after step {len(points) - 1}" if len(points) else "at the start"
        advice = "try a smaller lr" if surface.minima else f"{surface.name} is unbounded below, so a path may run off"
        return f"{path.name} diverged {where} (the loss became inf or nan): {advice}"
    x, y = points[-1]
    text = f"after {steps} steps: (x, y) = ({x:.4g}, {y:.4g}), loss {path.losses[-1]:.6g}"
    if surface.minima:
        distance = min(math.hypot(x - mx, y - my) for mx, my in surface.minima)
        text += f", distance to the nearest minimum {distance:.3g}"
    return text


@styled
def interactive_descent(surface: Any = "quadratic", optimizers: Sequence[str] | None = None, lr: float = 0.1,
                        steps: int = 50, start: Sequence[float] | None = None, *, max_steps: int = 500,
                        levels: Any = None, resolution: int = 150, figsize: tuple[float, float] = (6.4, 5.4),
                        dpi: float = 100, continuous_update: bool = False, **hyperparameters: float) -> Any:
    """Sliders that re-run gradient descent on a 2-D surface and redraw its path on the contours.

    Each change of a control runs ``tg.surfaces.descend(surface, make_optimizer, start, steps)``
    again, with the chosen optimizer built as ``cls(params, lr=lr, ...)`` from the
    sliders, and moves the path on the (cached) contour picture; the final point,
    its loss and its distance to the nearest minimum are printed under it. The
    hyperparameter sliders appear for the optimizers that have them: ``momentum``
    (SGD's μ, RMSprop's), ``beta`` (Momentum's β), ``alpha`` (RMSprop's α),
    ``beta1`` and ``beta2`` (``betas`` of Adam, AdamW, NAdam, RAdam, Lion). A
    slider keeps its value when the optimizer changes, so "Adam with β₁ = 0.5"
    and "NAdam with β₁ = 0.5" are one click apart.

    Things to try: on ``"ravine"`` (curvatures 1 along, 100 across) SGD bounces
    out across the valley for any lr above 2/100 and crawls along it below
    (50 steps at lr = 0.01 take x from -9 only to -5.4), while Momentum
    (lr = 0.05) or Adam (lr = 0.3) end within 0.6 of the minimum in 50 steps; on
    ``"himmelblau"`` the start decides which of the four minima you reach; on
    ``"saddle"`` a start just off the ridge rolls away; raise lr until SGD
    diverges on ``"quadratic"``.

    Args:
        surface: a 2-D surface or its name (``tg.surfaces.names()``).
        optimizers: the dropdown's optimizer names, the first one chosen at the
            start; by default `DESCENT_OPTIMIZERS` (any of ``tg.optim.names()`` works).
        lr: the starting learning rate (the slider is logarithmic, 1e-4 to 10,
            widened to include ``lr``).
        steps: the starting number of steps; the slider goes to ``max_steps``.
        start: the start point ``(x, y)``; by default one that shows the
            surface's character (the sources' ``(4, 4)`` on ``quadratic``).
        max_steps: the end of the steps slider.
        levels: the contour levels, as `plot_contour` takes them.
        resolution: the contour grid is ``resolution x resolution`` (drawn once).
        figsize, dpi: the picture's size in inches and its resolution.
        continuous_update: redraw while a slider is dragged (True) or when it is
            released (False, the default: a 500-step run takes a moment).
        **hyperparameters: starting values of the sliders ``momentum``, ``beta``,
            ``alpha``, ``beta1``, ``beta2``.

    Returns:
        An ``ipywidgets.VBox``; ``widget.explorer`` is the `DescentExplorer` with
        the controls (``.optimizer``, ``.lr``, ``.hyperparameters[name]``,
        ``.steps``, ``.start_x``, ``.start_y``), the ``.figure``, the last
        ``.path`` and ``.summary``, and ``.set(**values)``.

    Raises:
        KeyError: an unknown surface or optimizer name (the message lists the valid ones).
        ValueError: a 1-D surface, or an argument out of its range.
        ImportError: ipywidgets is not installed (``pip install "tinygrad-edu[notebook]"``).

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.viz.interactive_descent("quadratic", lr=0.1, steps=30)
        >>> w.explorer.path.points.shape
        (31, 2)
        >>> w.explorer.optimizer.value = "Adam"          # as if chosen in the dropdown: redrawn
        >>> w.explorer.visible_hyperparameters
        ['beta1', 'beta2']
        >>> w.explorer.path.name
        'Adam'
    """
    explorer = DescentExplorer(surface, optimizers, lr, steps, start, max_steps=max_steps, levels=levels,
                               resolution=resolution, figsize=figsize, dpi=dpi, continuous_update=continuous_update,
                               **hyperparameters)
    return explorer.widget


# -- learning-rate schedules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parameter:
    """One schedule parameter's control: its kind, range and default, given the steps and the rate."""

    kind: str  # "int", "float", "log", "choice" or "bool"
    bounds: Callable[[int, float], tuple[Any, Any, Any]]  # (total_steps, lr) -> (low, high, step or choices)
    default: Callable[[int, float], Any]  # (total_steps, lr) -> the starting value
    help: str


@dataclass(frozen=True)
class _Schedule:
    """A schedule the explorer offers: how to build it and its parameters' controls."""

    build: Callable[..., Any]  # (optimizer, total_steps, **parameters) -> scheduler
    parameters: dict[str, _Parameter]
    formula: str


#: The schedules `interactive_schedule` offers, by name; each is built with ``tg.optim.lr_scheduler``.
SCHEDULES: dict[str, _Schedule] = {
    "step": _Schedule(
        lambda opt, total, **p: lr_scheduler.StepLR(opt, **p),
        {"step_size": _Parameter("int", lambda n, lr: (1, n, 1), lambda n, lr: max(1, n // 4),
                                 "multiply the rate by gamma every step_size steps"),
         "gamma": _Parameter("float", lambda n, lr: (0.01, 1.0, 0.01), lambda n, lr: 0.1, "the factor")},
        "StepLR: η_t = η₀ γ^⌊t / step_size⌋"),
    "exponential": _Schedule(
        lambda opt, total, **p: lr_scheduler.ExponentialLR(opt, **p),
        {"gamma": _Parameter("float", lambda n, lr: (0.8, 1.0, 0.001), lambda n, lr: 0.95, "the factor per step")},
        "ExponentialLR: η_t = η₀ γ^t"),
    "cosine": _Schedule(
        lambda opt, total, **p: lr_scheduler.CosineAnnealingLR(opt, **p),
        {"T_max": _Parameter("int", lambda n, lr: (1, 2 * n, 1), lambda n, lr: n, "half a cosine period, in steps"),
         "eta_min": _Parameter("float", lambda n, lr: (0.0, lr, lr / 100), lambda n, lr: 0.0, "the lowest rate")},
        "CosineAnnealingLR: η_t = η_min + (η₀ − η_min)(1 + cos(π t / T_max)) / 2"),
    "linear": _Schedule(
        lambda opt, total, **p: lr_scheduler.LinearLR(opt, **p),
        {"start_factor": _Parameter("float", lambda n, lr: (0.01, 1.0, 0.01), lambda n, lr: round(1 / 3, 2),
                                    "the rate's fraction at step 0"),
         "end_factor": _Parameter("float", lambda n, lr: (0.0, 1.0, 0.01), lambda n, lr: 1.0,
                                  "the fraction reached at total_iters"),
         "total_iters": _Parameter("int", lambda n, lr: (1, n, 1), lambda n, lr: max(1, n // 10),
                                   "how many steps the ramp takes")},
        "LinearLR: η_t = η₀ (start + (end − start) min(t, total_iters) / total_iters)"),
    "warmup_cosine": _Schedule(
        lambda opt, total, **p: lr_scheduler.warmup_cosine(opt, total_steps=total, **p),
        {"warmup_steps": _Parameter("int", lambda n, lr: (0, n - 1, 1), lambda n, lr: min(n - 1, round(0.05 * n)),
                                    "the linear warmup's length (the sources: about 5 %)"),
         "eta_min": _Parameter("float", lambda n, lr: (0.0, lr, lr / 100), lambda n, lr: 0.0, "the final rate"),
         "warmup_start_factor": _Parameter("float", lambda n, lr: (0.01, 1.0, 0.01), lambda n, lr: 0.01,
                                           "the rate's fraction at step 0")},
        "warmup_cosine: linear warmup to η₀, then cosine down to η_min at the last step"),
    "onecycle": _Schedule(
        lambda opt, total, **p: lr_scheduler.OneCycleLR(opt, total_steps=total, **p),
        {"max_lr": _Parameter("log", lambda n, lr: (lr / 100, lr * 100, 0.05), lambda n, lr: lr, "the peak rate"),
         "pct_start": _Parameter("float", lambda n, lr: (0.0, 1.0, 0.01), lambda n, lr: 0.3,
                                 "the fraction of the steps spent climbing"),
         "div_factor": _Parameter("log", lambda n, lr: (1.0, 1e3, 0.05), lambda n, lr: 25.0,
                                  "start at max_lr / div_factor"),
         "final_div_factor": _Parameter("log", lambda n, lr: (1.0, 1e5, 0.1), lambda n, lr: 1e4,
                                        "end at the start rate / final_div_factor"),
         "anneal_strategy": _Parameter("choice", lambda n, lr: (None, None, ("cos", "linear")),
                                       lambda n, lr: "cos", "the shape of each phase"),
         "three_phase": _Parameter("bool", lambda n, lr: (None, None, None), lambda n, lr: False,
                                   "the paper's three phases instead of fastai's two")},
        "OneCycleLR: up from max_lr / div_factor to max_lr, then far below the start"),
}

#: A scheduler class (or function) given instead of a name.
_BY_FACTORY = {lr_scheduler.StepLR: "step", lr_scheduler.ExponentialLR: "exponential",
               lr_scheduler.CosineAnnealingLR: "cosine", lr_scheduler.LinearLR: "linear",
               lr_scheduler.warmup_cosine: "warmup_cosine", lr_scheduler.OneCycleLR: "onecycle"}


def schedule_rates(scheduler: Any, total_steps: int, lr: float = 0.1, **parameters: Any) -> np.ndarray:
    """The rate for each of ``total_steps`` steps of a schedule of `SCHEDULES`, on a throwaway optimizer.

    Rate ``t`` is the one the optimizer holds for step ``t``: ``get_last_lr()``
    after building (``t = 0``) and after each of the ``t`` ``step()`` calls. The
    optimizer is an ``SGD`` with one parameter, rate ``lr`` and momentum 0.9 (so
    `OneCycleLR` has a momentum to cycle; the rates do not depend on it).

    Args:
        scheduler: a name of `SCHEDULES` (or one of the classes it lists).
        total_steps: how many rates (>= 2).
        lr: the optimizer's rate, the schedule's η₀.
        **parameters: the schedule's parameters (those of its sliders); the
            sliders' starting values for the others.

    Example:
        >>> from tinygrad_edu.viz.interactive import schedule_rates
        >>> schedule_rates("step", 6, lr=1.0, step_size=2, gamma=0.5).tolist()
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    who = "schedule_rates"
    name = _schedule_name(who, scheduler)
    total_steps = check_int(who, "total_steps", total_steps, minimum=2)
    lr = check_positive(who, "lr", lr)
    known = SCHEDULES[name].parameters
    for key in parameters:
        if key not in known:
            raise TypeError(f"{who}: {name!r} has no parameter {key!r}; its parameters: {', '.join(known)}")
    values = {key: spec.default(total_steps, lr) for key, spec in known.items()} | parameters
    optimizer = optim.SGD([zeros(1, requires_grad=True)], lr=lr, momentum=0.9)
    made = SCHEDULES[name].build(optimizer, total_steps, **values)
    rates = np.empty(total_steps)
    for t in range(total_steps):
        rates[t] = made.get_last_lr()[0]
        if t + 1 < total_steps:
            made.step()
    return rates


def _schedule_name(who: str, scheduler: Any) -> str:
    if isinstance(scheduler, str):
        if scheduler not in SCHEDULES:
            raise KeyError(f"{who}: unknown schedule {scheduler!r}; valid names: {', '.join(SCHEDULES)}")
        return scheduler
    try:
        return _BY_FACTORY[scheduler]
    except (KeyError, TypeError):
        raise TypeError(f"{who}: scheduler must be a schedule name ({', '.join(SCHEDULES)}) or one of the classes "
                        f"StepLR, ExponentialLR, CosineAnnealingLR, LinearLR, warmup_cosine, OneCycleLR; got "
                        f"{scheduler!r} (a scheduler's own parameters cannot be read off an arbitrary factory: "
                        f"plot it with tg.viz.plot_lr_schedule)") from None


class ScheduleExplorer(_Explorer):
    """The controls, figure and last rates behind `interactive_schedule` (see it for the arguments).

    Attributes:
        widget: the ``ipywidgets.VBox`` to display (its ``.explorer`` is this object).
        schedule: the ``Dropdown`` of schedule names.
        parameters: ``{schedule name: {parameter name: control}}``; only the chosen
            schedule's controls are shown.
        log_y: the ``Checkbox`` for a logarithmic rate axis.
        total_steps, lr: the number of steps drawn and the optimizer's rate η₀.
        figure: the matplotlib ``Figure``; ``line`` is the rate curve's ``Line2D``.
        rates: the last curve, ``(total_steps,)``, from `schedule_rates`.
        summary: the text under the picture (the rate at the start, its peak, at the end).
        image, status, error: as in `DescentExplorer`.
    """

    who = "interactive_schedule"

    def __init__(self, scheduler: Any = "cosine", total_steps: int = 100, lr: float = 0.1, *,
                 schedules: Sequence[str] | None = None, log_y: bool = False,
                 figsize: tuple[float, float] = (6.4, 3.8), dpi: float = 100, continuous_update: bool = True,
                 **parameters: Any) -> None:
        who = self.who
        # -- check everything before building anything
        first = _schedule_name(who, scheduler)
        names = list(SCHEDULES if schedules is None else schedules)
        if isinstance(schedules, str) or not names:
            raise ValueError(f"{who}: schedules must be a non-empty list of schedule names, got {schedules!r}")
        names = [_schedule_name(who, name) for name in names]
        if first not in names:
            names.insert(0, first)
        total_steps = check_int(who, "total_steps", total_steps, minimum=2)
        lr = check_positive(who, "lr", lr)
        _check_picture(who, figsize, dpi)
        known = SCHEDULES[first].parameters
        for key in parameters:
            if key not in known:
                raise TypeError(f"{who}: {first!r} has no parameter {key!r}; its parameters: {', '.join(known)}")
        schedule_rates(first, total_steps, lr, **parameters)  # the scheduler's own checks of the values
        widgets = _import_widgets(who)

        super().__init__(dpi)
        self.total_steps, self.lr = total_steps, lr
        self.schedule = widgets.Dropdown(options=names, value=first, description="schedule",
                                         **_look(widgets, "420px", "140px"))
        self.log_y = widgets.Checkbox(value=bool(log_y), description="log-scaled rate axis", indent=False)
        self.parameters: dict[str, dict[str, Any]] = {}
        for name in names:
            given = parameters if name == first else {}
            self.parameters[name] = {
                key: _control(widgets, key, spec, given.get(key, spec.default(total_steps, lr)), total_steps, lr,
                              continuous_update)
                for key, spec in SCHEDULES[name].parameters.items()}
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width=f"{figsize[0] * dpi:.0f}px"))
        self.status = widgets.HTML()

        self.figure = new_figure(figsize)
        ax = self.figure.add_subplot()
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.grid(alpha=0.3)
        _readable(ax)
        self._ax = ax
        # steps-post: rate t holds from step t to step t + 1, so a step decay is drawn as stairs.
        (self.line,) = ax.plot([], [], color=PALETTE[0], linewidth=2, drawstyle="steps-post",
                               marker="o" if total_steps <= 40 else None, markersize=3.5)
        self.rates: np.ndarray | None = None

        every = [control for group in self.parameters.values() for control in group.values()]
        controls = widgets.VBox([self.schedule, *every, self.log_y], layout=widgets.Layout(min_width="430px"))
        self.widget = widgets.VBox([widgets.HBox([controls, widgets.VBox([self.image, self.status])],
                                                 layout=widgets.Layout(flex_flow="row wrap"))])
        self.widget.explorer = self
        self.schedule.observe(lambda change: self._update_visibility(), names="value")
        self._watch([self.schedule, self.log_y, *every])
        self._update_visibility()
        self.redraw()

    @property
    def controls(self) -> dict[str, Any]:
        """The schedule dropdown, the log-axis box and the chosen schedule's controls, by name (as `set` takes)."""
        return {"schedule": self.schedule, "log_y": self.log_y, **self.parameters[self.schedule.value]}

    def set(self, **values: Any) -> None:
        """Set several controls' values, then redraw once (see `DescentExplorer.set`).

        A ``schedule=`` among the values is applied first, so that schedule's
        parameters can follow it in the same call.
        """
        if "schedule" in values:
            _check_value(self.who, "schedule", self.schedule, values["schedule"])
            self._holding = True
            try:
                self.schedule.value = values.pop("schedule")
            finally:
                self._holding = False
        super().set(**values)

    def _update_visibility(self) -> None:
        for name, group in self.parameters.items():
            for control in group.values():
                control.layout.display = None if name == self.schedule.value else "none"

    def schedule_parameters(self) -> dict[str, Any]:
        """The chosen schedule's parameters as the controls set them (plain Python values)."""
        values = {}
        for key, control in self.parameters[self.schedule.value].items():
            value = control.value
            values[key] = value if isinstance(value, (bool, str)) else \
                int(value) if isinstance(value, (int, np.integer)) else float(value)
        return values

    def redraw(self) -> None:
        """Recompute the rates with the controls' values and redraw the curve (called by every control)."""
        name = self.schedule.value
        params = self.schedule_parameters()
        rates = schedule_rates(name, self.total_steps, self.lr, **params)
        self.rates = rates
        self.line.set_data(np.arange(self.total_steps), rates)
        ax = self._ax
        ax.set_yscale("log" if self.log_y.value and (rates > 0).all() else "linear")
        ax.relim()
        ax.autoscale_view()
        if ax.get_yscale() == "linear":
            ax.set_ylim(0.0, 1.05 * max(float(rates.max()), 1e-12))
        settings = ", ".join(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"
                             for key, value in params.items())
        ax.set_title(f"{name}({settings})", fontsize=_TITLE_SIZE - 2)
        peak = int(np.argmax(rates))
        self.summary = (f"{SCHEDULES[name].formula}<br>η₀ = {self.lr:g}: rate {rates[0]:.4g} at step 0, "
                        f"peak {rates[peak]:.4g} at step {peak}, {rates[-1]:.4g} at step {self.total_steps - 1}")
        if self.log_y.value and not (rates > 0).all():
            self.summary += " (a rate of 0 cannot be drawn on a log axis: the axis stays linear)"
        self._show()


def _control(widgets: Any, key: str, spec: _Parameter, value: Any, total_steps: int, lr: float,
             continuous_update: bool) -> Any:
    """The ipywidget for one schedule parameter, its range widened to include ``value``."""
    low, high, step = spec.bounds(total_steps, lr)
    common = dict(description=key, tooltip=spec.help, **_look(widgets, "420px", "140px"))
    if spec.kind == "choice":
        return widgets.Dropdown(options=list(step), value=value, **common)
    if spec.kind == "bool":
        return widgets.Checkbox(value=bool(value), **common)
    slide = dict(continuous_update=continuous_update, **common)
    if spec.kind == "int":
        return widgets.IntSlider(value=value, min=min(low, value), max=max(high, value), step=step, **slide)
    if spec.kind == "log":
        return widgets.FloatLogSlider(value=value, base=10, min=math.log10(min(low, value)),
                                      max=math.log10(max(high, value)), step=step, readout_format=".3g", **slide)
    return widgets.FloatSlider(value=value, min=min(low, value), max=max(high, value), step=step,
                               readout_format=".3g", **slide)


@styled
def interactive_schedule(scheduler: Any = "cosine", total_steps: int = 100, lr: float = 0.1, *,
                         schedules: Sequence[str] | None = None, log_y: bool = False,
                         figsize: tuple[float, float] = (6.4, 3.8), dpi: float = 100, continuous_update: bool = True,
                         **parameters: Any) -> Any:
    """Sliders for a learning-rate schedule's parameters, redrawing its rate over the steps.

    A dropdown picks the schedule (`SCHEDULES`: ``step``, ``exponential``,
    ``cosine``, ``linear``, ``warmup_cosine``, ``onecycle``) and shows that
    schedule's controls: StepLR's ``step_size`` and ``gamma``,
    CosineAnnealingLR's ``T_max`` and ``eta_min``, warmup_cosine's
    ``warmup_steps``, OneCycleLR's ``max_lr`` and ``pct_start``, and so on. Each
    change rebuilds the real ``tg.optim.lr_scheduler`` scheduler on a throwaway
    optimizer of rate ``lr`` and steps it ``total_steps - 1`` times
    (`schedule_rates`), so the curve is exactly the rates training gets, which
    are PyTorch's.

    Things to try: ``cosine`` with ``T_max`` below ``total_steps`` (the rate
    climbs back up: the cosine continues past its minimum); ``warmup_cosine``
    with ``warmup_steps`` from 0 to 20 % of the steps; ``onecycle`` with
    ``pct_start`` and ``div_factor``; ``step`` on a log axis (straight stairs).

    Args:
        scheduler: the schedule shown first: a name of `SCHEDULES` or one of
            ``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``, ``LinearLR``,
            ``warmup_cosine``, ``OneCycleLR``.
        total_steps: how many steps the curve covers (>= 2; warmup_cosine and
            onecycle are built with ``total_steps`` as theirs).
        lr: the throwaway optimizer's rate, η₀ (OneCycleLR's ``max_lr`` starts here too).
        schedules: the dropdown's names (default: all of `SCHEDULES`).
        log_y: start with a logarithmic rate axis.
        figsize, dpi: the picture's size in inches and its resolution.
        continuous_update: redraw while a slider is dragged (the default: a
            schedule is quick to compute).
        **parameters: starting values of the first schedule's parameters, e.g.
            ``step_size=30``.

    Returns:
        An ``ipywidgets.VBox``; ``widget.explorer`` is the `ScheduleExplorer`
        with the controls (``.schedule``, ``.parameters[name][key]``,
        ``.log_y``), the ``.figure``, the last ``.rates`` and ``.summary``, and
        ``.set(**values)``.

    Raises:
        KeyError: an unknown schedule name (the message lists the valid ones).
        TypeError: a parameter the schedule does not have, or a scheduler that is neither a name nor a known class.
        ValueError: a parameter out of its range (the scheduler's own message).
        ImportError: ipywidgets is not installed (``pip install "tinygrad-edu[notebook]"``).

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.viz.interactive_schedule("step", total_steps=8, lr=1.0, step_size=3, gamma=0.5)
        >>> w.explorer.rates.tolist()
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
        >>> w.explorer.parameters["step"]["gamma"].value = 0.1     # as if the slider were moved: redrawn
        >>> w.explorer.rates.round(6).tolist()
        [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    """
    explorer = ScheduleExplorer(scheduler, total_steps, lr, schedules=schedules, log_y=log_y, figsize=figsize,
                                dpi=dpi, continuous_update=continuous_update, **parameters)
    return explorer.widget
