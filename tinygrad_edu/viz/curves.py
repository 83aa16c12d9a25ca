"""Curves over time: a training History, a learning-rate schedule, several runs' losses."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..factories import zeros
from ..optim import SGD
from ..optim.lr_scheduler import ReduceLROnPlateau
from ._inputs import check_count, figure_and_axes, new_figure
from ._style import PALETTE, place_legend, series_style, styled

__all__ = ["plot_history", "plot_lr_find", "plot_lr_schedule", "compare_losses"]


def _as_floats(who: str, name: str, values: Any) -> np.ndarray:
    try:
        array = np.array(values.numpy() if hasattr(values, "numpy") else values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {name!r} must be a list of numbers, got {type(values).__name__}") from None
    return array


def _constant(values: np.ndarray) -> bool:
    """Whether a rate stays the same over the run (a note, not a curve worth an axis)."""
    finite = values[np.isfinite(values)]
    return len(values) > 0 and len(finite) == len(values) and bool(np.all(finite == finite[0]))


# -- History ---------------------------------------------------------------------------------------


@styled
def plot_history(history: Mapping[str, Sequence[float]], ax: Any = None, *, metrics: bool | Sequence[str] = True,
                 metric_ax: Any = None, log_y: bool = False, title: str | None = None) -> Any:
    """Draw a training run: the losses, the learning rate when it changes, and the metrics.

    Every list whose name ends in ``loss`` (``train_loss``, ``val_loss``) is a
    line on the left axis against the epoch. A rate that changes over the run
    (a schedule) is a dashed grey line on a twin axis at the right, so a jump
    in the loss can be read against a change of rate; a rate that stays the
    same is a note in the title (``lr = 0.1 (constant)``), not a flat line
    dressed up as data on an axis of its own. Any other list (``accuracy``,
    ``val_accuracy``, ...) is a metric, drawn in a second panel beside the losses.

    Args:
        history: a ``tg.train.History`` (what ``fit`` returns), or any mapping from
            a name to a list of per-epoch numbers; the epochs are its ``.epoch``
            if it has one, else 0, 1, 2, ... (numbered from 0, as Keras and `fit` do)
        ax: an Axes for the losses; by default a new Figure (with a second
            panel for the metrics when there are any).
        metrics: ``True`` for every metric, ``False`` for none, or a list of names.
        metric_ax: an Axes for the metrics when ``ax`` is given (without it,
            a given ``ax`` gets only the losses and the rate).
        log_y: a logarithmic loss axis.
        title: the title of the loss panel (by default what it compares:
            "train_loss and val_loss per epoch"); a constant rate's note is added below it.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: if ``history`` is not a mapping.
        ValueError: if it is empty or its lists differ in length from its epochs.
        KeyError: if ``metrics`` names a list the history does not have.
    """
    who = "plot_history"
    if not isinstance(history, Mapping):
        raise TypeError(f"{who}: expected a History (or a dict of per-epoch lists), got {type(history).__name__}")
    if not history:
        raise ValueError(f"{who}: the history is empty: nothing to plot")
    series = {str(name): _as_floats(who, name, values) for name, values in history.items()}
    length = max(len(values) for values in series.values())
    epochs = np.array(getattr(history, "epoch", None) or range(length), dtype=float)
    uneven = {name: len(values) for name, values in series.items() if len(values) != len(epochs)}
    if uneven:
        raise ValueError(f"{who}: {len(epochs)} epochs but lists of lengths {uneven}")

    loss_names = [name for name in series if name.endswith("loss")]
    other_names = [name for name in series if name not in loss_names and name != "lr"]
    if metrics is True:
        metric_names = other_names
    elif metrics is False or metrics is None:
        metric_names = []
    else:
        metric_names = [metrics] if isinstance(metrics, str) else list(metrics)
        missing = [name for name in metric_names if name not in series]
        if missing:
            raise KeyError(f"{who}: the history has no {missing}; it has {sorted(series)}")

    if ax is None:
        fig = new_figure((11.0, 4.0) if metric_names else (6.4, 4.0))
        ax = fig.add_subplot(1, 2 if metric_names else 1, 1)
        if metric_names:
            metric_ax = fig.add_subplot(1, 2, 2)
    else:
        fig, ax = figure_and_axes(who, ax, (6.4, 4.0))
    for i, name in enumerate(loss_names):
        ax.plot(epochs, series[name], label=name, **series_style(i, points=len(epochs)))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log_y:
        ax.set_yscale("log")
    if title is None:
        title = (" and ".join(loss_names) + " per epoch") if loss_names else "training run"
    handles, labels = ax.get_legend_handles_labels()
    if "lr" in series and _constant(series["lr"]):
        title += f"\nlr = {series['lr'][0]:g} (constant)"
    elif "lr" in series:
        lr_ax = ax.twinx()
        lr_ax.plot(epochs, series["lr"], linestyle="--", color="0.45", label="lr")
        lr_ax.set_ylabel("learning rate (dashed)")
        more_handles, more_labels = lr_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        place_legend(ax, handles=handles, labels=labels)
    ax.set_title(title)

    if metric_names and metric_ax is not None:
        for i, name in enumerate(metric_names):
            metric_ax.plot(epochs, series[name], label=name, **series_style(i, points=len(epochs)))
        metric_ax.set_xlabel("epoch")
        metric_ax.set_ylabel("metric")
        metric_ax.set_title(" and ".join(metric_names) + " per epoch")
        place_legend(metric_ax)
    return fig


# -- the learning-rate range test ------------------------------------------------------------------


@styled
def plot_lr_find(result: Any, ax: Any = None, *, skip_end: int = 0, title: str | None = None) -> Any:
    """Draw a ``tg.train.lr_find`` result: the smoothed (and faint raw) loss against the rate, log axis.

    The suggestion (steepest descent of the smoothed loss) is marked with a
    red dot and a dotted vertical line; the y-range leaves out a final blow-up
    so it does not flatten the rest of the curve.

    Args:
        result: what ``lr_find`` returns (``.lrs``, ``.losses``, ``.raw_losses``,
            ``.suggestion``, ``.suggestion_index``).
        ax: an Axes to draw on; by default a new Figure.
        skip_end: leave out this many points at the end.
        title: the title (by default "Learning-rate range test").

    Returns:
        The matplotlib ``Figure``.
    """
    who = "plot_lr_find"
    for name in ("lrs", "losses", "raw_losses", "suggestion"):
        if not hasattr(result, name):
            raise TypeError(f"{who}: expected the result of tg.train.lr_find, got {type(result).__name__} "
                            f"(it has no {name!r})")
    skip_end = check_count(who, "skip_end", skip_end, 0)
    fig, ax = figure_and_axes(who, ax, (6.0, 4.0))
    lrs, losses, raw = (np.asarray(getattr(result, name), dtype=float) for name in ("lrs", "losses", "raw_losses"))
    stop = len(lrs) - skip_end if skip_end > 0 else len(lrs)
    lrs, losses, raw = lrs[:stop], losses[:stop], raw[:stop]
    ax.plot(lrs, raw, color=PALETTE[0], alpha=0.3, linewidth=1, label="loss per batch")
    ax.plot(lrs, losses, color=PALETTE[0], linewidth=2.5, label="smoothed loss")
    index = getattr(result, "suggestion_index", None)
    if result.suggestion is not None and index is not None and index < stop:
        ax.plot([result.suggestion], [losses[index]], "o", color=PALETTE[1], markersize=10,
                label=f"suggestion: lr = {result.suggestion:.2g}")
        ax.axvline(result.suggestion, color=PALETTE[1], linestyle=":", linewidth=1.5)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    ax.set_title(title if title is not None else "Learning-rate range test: loss against rate")
    finite = losses[np.isfinite(losses)]
    if finite.size:  # keep a final blow-up from flattening the rest of the curve
        low, high = float(finite.min()), float(np.percentile(finite, 95))
        top = max(high, float(finite[0]))
        if top > low:
            margin = 0.1 * (top - low)
            ax.set_ylim(low - margin, top + margin)
    place_legend(ax)
    return fig


# -- learning-rate schedules -----------------------------------------------------------------------


@styled
def plot_lr_schedule(scheduler: Any, steps: int, *, lr: float = 0.1, metrics: Sequence[float] | None = None,
                     ax: Any = None, log_y: bool = False, title: str | None = None) -> Any:
    """Draw the learning rate a scheduler gives over ``steps`` steps.

    Rate ``t`` is the one the optimizer would use for step ``t`` (read before
    the t-th ``scheduler.step()``), one line per parameter group.

    Args:
        scheduler: either a *factory*, a function taking an optimizer and
            returning a scheduler (``lambda opt: StepLR(opt, step_size=10)``),
            run on a throwaway SGD with one parameter and rate ``lr``; or a
            scheduler *object*, which is stepped and then put back exactly as it
            was (its ``state_dict`` and its optimizer's hyperparameters are
            restored), so plotting a live schedule does not advance it.
        steps: how many steps to draw (>= 1).
        lr: the starting rate of the throwaway optimizer (factories only).
        metrics: for ``ReduceLROnPlateau``, the monitored value at each step
            (at least ``steps`` of them).
        ax: an Axes to draw into; by default a new Figure.
        log_y: a logarithmic rate axis.
        title: the title; by default the scheduler's class name.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR
        >>> fig = tg.viz.plot_lr_schedule(lambda opt: CosineAnnealingLR(opt, T_max=100), 100)  # doctest: +SKIP
    """
    who = "plot_lr_schedule"
    steps = check_count(who, "steps", steps, 1)
    if hasattr(scheduler, "optimizer") and hasattr(scheduler, "step"):
        live = True
    elif callable(scheduler):
        live = False
        made = scheduler(SGD([zeros(1, requires_grad=True)], lr=lr))
        if not (hasattr(made, "optimizer") and hasattr(made, "step")):
            raise TypeError(f"{who}: the factory must return a scheduler (with .optimizer and .step), "
                            f"got {type(made).__name__}")
        scheduler = made
    else:
        raise TypeError(f"{who}: expected a scheduler or a function optimizer -> scheduler, "
                        f"got {type(scheduler).__name__}")
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    if plateau:
        if metrics is None:
            raise ValueError(f"{who}: ReduceLROnPlateau is stepped with the monitored value; pass metrics= "
                             f"with {steps} values")
        metrics = list(metrics)
        if len(metrics) < steps:
            raise ValueError(f"{who}: {steps} steps need {steps} metrics, got {len(metrics)}")

    groups = scheduler.optimizer.param_groups
    if live:
        saved_scheduler = scheduler.state_dict()
        saved_groups = [{key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
                        for group in groups]
    rates = np.empty((steps, len(groups)))
    try:
        for t in range(steps):
            rates[t] = [group["lr"] for group in groups]
            if plateau:
                scheduler.step(metrics[t])
            else:
                scheduler.step()
    finally:
        if live:
            scheduler.load_state_dict(saved_scheduler)
            for group, saved in zip(groups, saved_groups):
                group.update(saved)

    fig, ax = figure_and_axes(who, ax, (6.4, 3.6))
    for i in range(len(groups)):
        ax.plot(np.arange(steps), rates[:, i], label=f"group {i}" if len(groups) > 1 else "lr",
                **series_style(i, points=steps))
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    if len(groups) > 1:
        place_legend(ax)
    ax.set_title(title if title is not None else type(scheduler).__name__)
    return fig


# -- several runs ----------------------------------------------------------------------------------


def _run_curve(who: str, name: str, run: Any, key: str) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """(x, losses, x label, diverged) for one run."""
    if isinstance(run, Mapping):
        if key not in run:
            raise KeyError(f"{who}: run {name!r} has no {key!r}; it has {sorted(run)}")
        values = _as_floats(who, name, run[key])
        epochs = getattr(run, "epoch", None) or range(1, len(values) + 1)
        return np.array(epochs, dtype=float), values, "epoch", False
    if hasattr(run, "losses"):
        values = _as_floats(who, name, run.losses)
        return np.arange(len(values), dtype=float), values, "step", bool(getattr(run, "diverged", False))
    values = _as_floats(who, name, run)
    return np.arange(1, len(values) + 1, dtype=float), values, "epoch", False


@styled
def compare_losses(runs: Mapping[str, Any] | Sequence[Any], ax: Any = None, *, key: str = "train_loss",
                   log_y: bool = False, title: str | None = None) -> Any:
    """Draw several runs' loss curves on one plot (the sources' SGD vs Adam picture).

    Args:
        runs: a mapping from a name to a run, or a list of runs (named by their
            ``.name``, else "run 1", "run 2", ...). A run is a ``History``
            (its ``key`` list against its epochs), a path (its ``.losses`` against
            the step, from 0), or a plain list of per-epoch losses (against epochs 1, 2, ...).
        ax: an Axes to draw into; by default a new Figure.
        key: which list of a History to draw (``'val_loss'`` for validation).
        log_y: a logarithmic loss axis (every loss must then be positive).
        title: the title; by default what is compared ("SGD vs Adam"; for many
            or long names, "loss curves of 5 runs").

    Returns:
        The matplotlib ``Figure``, with one line per run labelled with its name.
        A run that ends in inf or nan is drawn up to its last finite value and
        labelled "name (diverged after epoch k)".

    Raises:
        ValueError: for no runs, or ``log_y`` with a loss <= 0 (naming the run).
        KeyError: for a History without ``key``.

    Example:
        >>> fig = tg.viz.compare_losses({"SGD lr=0.05": sgd_history, "Adam lr=0.01": adam_history},
        ...                             log_y=True)   # doctest: +SKIP
    """
    who = "compare_losses"
    if isinstance(runs, Mapping) and not hasattr(runs, "epoch"):
        named = [(str(name), run) for name, run in runs.items()]
    elif isinstance(runs, Sequence) and not isinstance(runs, str):
        named = [(getattr(run, "name", None) or f"run {i + 1}", run) for i, run in enumerate(runs)]
    else:
        hint = " (for one History, write {'name': history})" if isinstance(runs, Mapping) else ""
        raise TypeError(f"{who}: runs must be a dict name -> run or a list of runs, got {type(runs).__name__}{hint}")
    if not named:
        raise ValueError(f"{who}: no runs to compare")
    fig, ax = figure_and_axes(who, ax, (6.4, 4.0))
    x_labels = set()
    any_diverged = False
    for i, (name, run) in enumerate(named):
        x, values, x_label, diverged = _run_curve(who, name, run, key)
        x_labels.add(x_label)
        finite = np.isfinite(values)
        if log_y and (values[finite] <= 0).any():
            raise ValueError(f"{who}: log_y needs positive losses, but run {name!r} has "
                             f"{values[finite][values[finite] <= 0][0]!r}")
        label = name
        if len(values) and not finite[-1] and finite.any():
            last = int(np.flatnonzero(finite)[-1])
            label = f"{name} (diverged after {x_label} {x[last]:g})"
        elif diverged or (len(values) and not finite.any()):
            label = f"{name} (diverged)"
        any_diverged = any_diverged or label != name
        ax.plot(x, np.where(finite, values, np.nan), label=label, **series_style(i, points=len(values)))
    ax.set_xlabel(x_labels.pop() if len(x_labels) == 1 else "epoch / step")
    ax.set_ylabel(key if any(isinstance(run, Mapping) for _, run in named) else "loss")
    if log_y:
        ax.set_yscale("log")
    place_legend(ax)
    if title is None:
        compared = " vs ".join(name for name, _ in named)
        title = compared if len(named) > 1 and len(compared) <= 48 else f"loss curves of {len(named)} runs"
        title += "\n(diverged runs stop at their last finite value)" if any_diverged else ""
    ax.set_title(title)
    return fig

