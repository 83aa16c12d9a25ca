"""A sweep's comparison: the final loss against the swept value, and the runs' curves side by side."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps

from ._inputs import figure_and_axes, new_figure
from ._style import MARKERS, PALETTE, place_legend, series_style, styled

__all__ = ["plot_sweep"]


def _rows(who: str, rows: Any) -> list[Mapping[str, Any]]:
    """The rows of a sweep: a list of dicts (``tg.train.sweep``'s result) or a pandas DataFrame."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a DataFrame, without importing pandas
        rows = rows.to_dict("records")
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or isinstance(rows, str):
        raise TypeError(f"{who}: rows must be what tg.train.sweep returns (a list of dicts) or a DataFrame, "
                        f"got {type(rows).__name__}")
    if not rows:
        raise ValueError(f"{who}: no rows to plot")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"{who}: row {i} must be a dict, got {type(row).__name__}")
    return list(rows)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_float(value: Any) -> float:
    """A result as a float; missing or not a number is nan (not drawn)."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _scale_limits(values: Sequence[float]) -> tuple[float, float] | None:
    """Limits for the y axis that keeps a blown-up run from flattening the others (None: no need).

    Final losses spanning a few decades are normal; one ten times the median
    belongs to a run that diverged without reaching inf, and is drawn as a
    mark at the top edge instead.
    """
    finite = np.array([v for v in values if math.isfinite(v)], dtype=float)
    if len(finite) < 3 or np.median(finite) <= 0:
        return None
    cap = 10 * float(np.median(finite))
    kept = finite[finite <= cap]
    if len(kept) == len(finite):
        return None
    low, high = float(kept.min()), float(kept.max())
    margin = 0.1 * (high - low if high > low else abs(high) or 1.0)
    return low - margin, high + margin


def _failed(row: Mapping[str, Any]) -> bool:
    """Whether the run raised (a DataFrame fills ``error`` with NaN on the rows that did not)."""
    error = row.get("error")
    return error is not None and not (isinstance(error, float) and math.isnan(error))


def _fmt(value: Any) -> str:
    return f"{value:g}" if _is_number(value) else str(value)


@styled
def plot_sweep(rows: Any, x: str, y: str = "val_loss", *, hue: str | None = None, curves: bool | None = None,
               curve_key: str | None = None, log_x: bool | None = None, log_y: bool = False, ax: Any = None,
               curves_ax: Any = None, title: str | None = None) -> Any:
    """Draw a sweep: a final result against the swept value, and the training curves side by side.

    The left panel is the sources' learning-rate picture: ``y`` (the final
    validation loss, say) of every run against its ``x`` (the rate), one
    dot per run and a line through the mean at each ``x`` (so repeated seeds
    show their spread), one line per value of ``hue`` (the optimizer, say).
    A run that failed (its row has ``error``) or whose ``y`` is not finite (it
    diverged) has no value to draw: it is marked with a red ``x`` at the top
    of the panel, above its ``x``, so a rate that blew up is seen, not lost.
    A finite value more than ten times the median (a run that was blowing up
    when it stopped) stays on its line but the axis leaves it out, so it does
    not flatten the others: a black triangle at the top edge marks it.

    The right panel holds the per-epoch curves of the runs that kept a
    History (``row["history"]``, which ``tg.train.sweep`` keeps when
    ``train_fn`` returns one), coloured from dark to light along ``x``, with
    one line style per ``hue``.

    Args:
        rows: what ``tg.train.sweep`` returns (a list of dicts ``{**point, **results}``)
            or its ``.to_dataframe()``.
        x: the swept parameter on the horizontal axis (numbers, or names such
            as optimizers, drawn as categories in order of appearance).
        y: the result on the vertical axis (a row key, e.g. ``"val_loss"``,
            ``"train_loss"``, ``"accuracy"``).
        hue: a second parameter: one line per value.
        curves: draw the curves panel; ``None`` (default) draws it when some
            row has a ``"history"``.
        curve_key: which list of each History to draw (default: ``y`` if the
            histories have it, else ``"train_loss"``).
        log_x: a logarithmic ``x`` axis; ``None`` (default) uses one when every
            ``x`` is a positive number and they span a factor of 10 or more
            (learning rates).
        log_y: logarithmic loss axes (non-positive values are not drawn).
        ax: an Axes for the left panel; with ``ax`` given, the curves are
            drawn only into ``curves_ax`` (if given).
        curves_ax: an Axes for the curves when ``ax`` is given.
        title: the left panel's title (default: ``"<y> against <x>"``).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: ``rows`` is not a list of dicts or a DataFrame.
        ValueError: no rows; ``curves=True`` but no row has a history.
        KeyError: ``x``, ``y`` or ``hue`` is in no row (the message lists the keys there are),
            or no History has ``curve_key``.

    Example:
        >>> import tinygrad_edu as tg
        >>> rows = [{"lr": 0.01, "val_loss": 0.9}, {"lr": 0.1, "val_loss": 0.2},
        ...         {"lr": 1.0, "val_loss": float("inf")}]
        >>> fig = tg.viz.plot_sweep(rows, x="lr", y="val_loss")
        >>> fig.axes[0].get_xscale(), fig.axes[0].get_xlabel()
        ('log', 'lr')
    """
    who = "plot_sweep"
    rows = _rows(who, rows)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    for name, value in (("x", x), ("y", y), ("hue", hue)):
        if value is None and name == "hue":
            continue
        if not isinstance(value, str) or value not in keys:
            raise KeyError(f"{who}: {name}={value!r} is in no row; the rows have {keys}")

    histories = [row.get("history") for row in rows]
    has_history = [isinstance(h, Mapping) and len(h) > 0 for h in histories]
    if curves is None:
        curves = any(has_history)
    elif curves and not any(has_history):
        raise ValueError(f"{who}: curves=True, but no row has a 'history' (return a History from train_fn "
                         f"to keep the curves)")
    if curves:
        if curve_key is None:
            curve_key = y if all(y in h for h, kept in zip(histories, has_history) if kept) else "train_loss"
        if not any(curve_key in h for h, kept in zip(histories, has_history) if kept):
            found = sorted({name for h, kept in zip(histories, has_history) if kept for name in h})
            raise KeyError(f"{who}: no history has {curve_key!r}; they have {found}")

    # -- where each run goes on the x axis
    x_values = [row.get(x) for row in rows]
    present = [v for v in x_values if v is not None]
    numeric = all(_is_number(v) for v in present)
    if numeric:
        positions = [_as_float(v) for v in x_values]
        positive = [p for p in positions if p > 0]
        if log_x is None:
            log_x = len(positive) == len(present) and len(positive) > 1 and max(positive) >= 10 * min(positive)
    else:
        categories = list(dict.fromkeys(_fmt(v) for v in present))
        positions = [categories.index(_fmt(v)) if v is not None else math.nan for v in x_values]
        log_x = False
    order = sorted({p for p in positions if not math.isnan(p)})
    colors = colormaps["viridis"]
    color_of = {p: colors(0.85 * k / max(len(order) - 1, 1)) for k, p in enumerate(order)}
    groups = list(dict.fromkeys(_fmt(row.get(hue)) for row in rows)) if hue is not None else [None]
    styles = ["-", "--", ":", "-."]

    # -- the figure
    if ax is None:
        fig = new_figure((11.5, 4.2) if curves else (6.4, 4.2))
        ax = fig.add_subplot(1, 2 if curves else 1, 1)
        if curves:
            curves_ax = fig.add_subplot(1, 2, 2)
    else:
        fig, ax = figure_and_axes(who, ax, (6.4, 4.2))

    finals = [_as_float(row.get(y)) for row in rows if not _failed(row)]
    limits = None if log_y else _scale_limits(finals)
    top = None if limits is None else limits[1]
    failed_x: list[float] = []
    above_x: list[float] = []
    for g, group in enumerate(groups):
        members = [i for i, row in enumerate(rows) if hue is None or _fmt(row.get(hue)) == group]
        points = []
        for i in members:
            value = _as_float(rows[i].get(y))
            if math.isnan(positions[i]):
                continue
            if _failed(rows[i]) or not math.isfinite(value) or (log_y and value <= 0):
                failed_x.append(positions[i])
            else:
                points.append((positions[i], value))
                if top is not None and value > top:
                    above_x.append(positions[i])
        label = f"{hue}={group}" if hue is not None else y
        look = series_style(g)
        if points:
            xs, ys = np.array(points).T
            ax.plot(xs, ys, look["marker"], color=look["color"], alpha=0.45, markersize=6)
            means = [(p, float(np.mean(ys[xs == p]))) for p in sorted(set(xs.tolist()))]
            ax.plot(*np.array(means).T, markersize=5, label=label, **look)
    if failed_x:
        # x in data units, y at the top edge in axes units: visible whatever the loss range.
        ax.plot(failed_x, [0.97] * len(failed_x), "x", color=PALETTE[1], markersize=10, mew=2.5,
                transform=ax.get_xaxis_transform(), label="failed or diverged", clip_on=False)
    if above_x:
        ax.set_ylim(*limits)
        ax.plot(above_x, [0.97] * len(above_x), "^", color="black", markersize=9,
                transform=ax.get_xaxis_transform(), label=f"{y} above the axis", clip_on=False)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    if not numeric:
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title if title is not None else f"{y} against {x}")
    if hue is not None or failed_x or above_x:
        place_legend(ax)

    if curves and curves_ax is not None:
        starts = []
        repeats: dict[tuple[Any, Any], int] = {}  # runs sharing an x value and a hue (seeds) get their own marker
        for i, row in enumerate(rows):
            if not has_history[i] or curve_key not in histories[i]:
                continue
            values = np.array([_as_float(v) for v in histories[i][curve_key]], dtype=float)
            values[~np.isfinite(values)] = np.nan
            if log_y:
                values[values <= 0] = np.nan
            epochs = getattr(histories[i], "epoch", None) or range(len(values))
            if np.isfinite(values).any():
                finite = values[np.isfinite(values)]
                starts.append((float(finite[0]), float(finite.max()), float(finite.min())))
            parts = [f"{x}={_fmt(row.get(x))}"] + ([f"{hue}={_fmt(row.get(hue))}"] if hue is not None else [])
            if "seed" in row and x != "seed" and hue != "seed":
                parts.append(f"seed={row['seed']}")
            style = styles[groups.index(_fmt(row.get(hue))) % len(styles)] if hue is not None else "-"
            twin = (positions[i], _fmt(row.get(hue)))
            repeats[twin] = repeats.get(twin, -1) + 1
            curves_ax.plot(np.asarray(epochs, dtype=float), values, linestyle=style,
                           marker=MARKERS[repeats[twin] % len(MARKERS)], markevery=max(1, len(values) // 10),
                           color=color_of.get(positions[i], "0.5"), label=", ".join(parts))
        if starts and not log_y:
            # A curve that climbs far above every run's start diverged: keep it from flattening the others.
            highest_start = max(start for start, _, _ in starts)
            if max(peak for _, peak, _ in starts) > 2 * highest_start > 0:
                curves_ax.set_ylim(min(0.0, min(low for _, _, low in starts)), 1.1 * highest_start)
        curves_ax.set_xlabel("epoch")
        curves_ax.set_ylabel(curve_key)
        if log_y:
            curves_ax.set_yscale("log")
        curves_ax.set_title(f"{curve_key} per epoch")
        if len(curves_ax.get_lines()) <= 12:
            place_legend(curves_ax)
    return fig
