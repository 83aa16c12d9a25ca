"""Pictures of inside training: what a ``tg.train.Inspector`` recorded, conv filters, feature maps, attention.

The first five draw an Inspector's records (its ``layers``, ``kinds``,
``params``, ``steps``, ``activations``, ``gradients``, ``update_ratios``,
``last_activations`` and ``last_gradients``), the pictures Karpathy draws by
hand in his makemore lecture on batch normalisation (part 3):

- `plot_activations`: the distribution of each layer's output, one step-line
  histogram per layer on one axes, its mean, std and saturated (tanh, sigmoid)
  or dead (ReLU) fraction in the legend;
- `plot_gradients`: the same for the weights' gradients;
- `plot_gradient_norms`: each weight's gradient norm against its depth, on a
  log scale: vanishing gradients in one picture;
- `plot_update_ratios`: log10 of (the std of a step's change of a weight) /
  (the std of the weight) over the steps, with the band around -3 (a change of
  about 1/1000 of the weight per step), the lecture's rule of thumb;
- `plot_saturation`: the saturated / dead fraction of each layer over the steps.

The last three look inside a model of the zoo directly: `plot_filters` (a
convolution's kernels as images), `plot_feature_maps` (what the convolutions
make of one image, captured with forward hooks) and `plot_attention` (a
``MultiheadAttention``'s weights, one heat map per head).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np

from .._checks import check_int
from ..autograd import no_grad
from ..train.diagnose import _MATRIX
from ._inputs import _check_pair, figure_and_axes, new_figure
from ._style import place_legend, series_style, styled

__all__ = ["plot_activations", "plot_gradients", "plot_gradient_norms", "plot_update_ratios", "plot_saturation",
           "plot_filters", "plot_feature_maps", "plot_attention"]

#: The rule of thumb's band for ``plot_update_ratios``: log10(update std / weight std) from -3.5 to -2.5.
UPDATE_BAND = (-3.5, -2.5)

# What a layer's kind says about its output (the Inspector's rules): which fraction is recorded, in words.
_FRACTION = {"tanh": ("saturated", "saturated"), "sigmoid": ("saturated", "saturated"), "relu": ("dead", "dead")}
_NONLINEAR = ("tanh", "sigmoid", "relu")


# -- reading an Inspector ----------------------------------------------------------------------------


def _inspector(who: str, insp: Any, needs: Sequence[str]) -> Any:
    """Check ``insp`` has the Inspector attributes ``needs`` and recorded at least one step."""
    missing = [name for name in ("steps", *needs) if not hasattr(insp, name)]
    if missing:
        raise TypeError(f"{who}: expected a tg.train.Inspector, got {type(insp).__name__} (it has no {missing})")
    if len(np.asarray(insp.steps).reshape(-1)) == 0:
        raise ValueError(f"{who}: the Inspector recorded nothing yet (no steps): train with it attached "
                         f"(fit(..., callbacks=[insp]) or `with insp:` and insp.before_step()/after_step() "
                         f"around each optimizer step) before drawing")
    for name in needs:
        if isinstance(getattr(insp, name), (Mapping, list, tuple)) and len(getattr(insp, name)) == 0:
            hint = (" (forward passes are watched only inside `with insp:`, after insp.attach(), or in fit: the "
                    "activations need the forward hooks)" if name == "last_activations" else "")
            raise ValueError(f"{who}: the Inspector recorded nothing yet: its {name} is empty{hint}")
    return insp


def _choose(who: str, what: str, available: Sequence[str], chosen: Any) -> list[str]:
    """``chosen`` (a name or a list of names, each one of ``available``) in ``available``'s order."""
    names = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise KeyError(f"{who}: the Inspector recorded no {what} {unknown}; it has {list(available)}")
    if not names:
        raise ValueError(f"{who}: {what}s must name at least one of {list(available)}")
    return [name for name in available if name in names]


def _is_bias(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf == "bias" or _MATRIX_BIAS.fullmatch(leaf) is not None


def _owner_kind(insp: Any, name: str) -> str | None:
    """The kind of the layer that owns parameter ``name`` (``"3.weight"`` belongs to layer ``"3"``)."""
    owner = name.rsplit(".", 1)[0] if "." in name else ""
    return getattr(insp, "kinds", {}).get(owner)


# The weight matrices of recurrent layers and of attention (diagnose's _MATRIX: weight_ih_l0, in_proj_weight, ...) are
# drawn with the linear layers' weights, as tg.train.diagnose compares them; their biases are biases.
_MATRIX_BIAS = re.compile(r"bias_(ih|hh)(_l\d+)?(_reverse)?|in_proj_bias")


def _weights(who: str, insp: Any, params: Any, include_biases: bool, recorded: Mapping[str, Any]) -> list[str]:
    """The parameters to draw, in depth order: ``params`` if given; else the weight matrices (those of the layers
    of kind linear, of recurrent layers and of attention; and their biases with ``include_biases``), or every
    recorded parameter but the biases when there are none."""
    available = [name for name in insp.params if name in recorded]
    if params is not None:
        return _choose(who, "parameter", available, params)
    names = [name for name in available if include_biases or not _is_bias(name)]
    linear = [name for name in names if _owner_kind(insp, name) == "linear"
              or _MATRIX.fullmatch(name.rsplit(".", 1)[-1])
              or include_biases and _MATRIX_BIAS.fullmatch(name.rsplit(".", 1)[-1])]
    if linear:
        return linear
    if not names:
        raise ValueError(f"{who}: every recorded parameter is a bias ({available}); pass include_biases=True")
    return names


def _default_layers(insp: Any, available: Sequence[str]) -> list[str]:
    """The nonlinear layers (tanh, sigmoid, ReLU) when there are any, as in the lecture; else every layer."""
    nonlinear = [name for name in available if insp.kinds.get(name) in _NONLINEAR]
    return nonlinear or list(available)


def _last(values: Any) -> float:
    array = np.asarray(values, dtype=float).reshape(-1)
    return float(array[-1]) if array.size else math.nan


def _sample(who: str, what: str, name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise ValueError(f"{who}: the Inspector's last sample of {what} {name!r} has no finite value")
    return array


def _labels(ax: Any, xlabel: str, ylabel: str) -> None:
    """Axis labels at the style's size, also on an Axes made outside the style (``ax=`` given)."""
    size = matplotlib.rcParams["axes.labelsize"]
    ax.set_xlabel(xlabel, fontsize=size)
    ax.set_ylabel(ylabel, fontsize=size)


def _histogram_curve(ax: Any, sample: np.ndarray, bins: int, label: str, i: int) -> None:
    """One histogram as a step line (density, so differently sized samples compare), series ``i``'s look."""
    low, high = float(sample.min()), float(sample.max())
    if low == high:  # a constant: one narrow bin around it
        low, high = low - 0.5 * (abs(low) or 1.0) * 1e-3, high + 0.5 * (abs(high) or 1.0) * 1e-3
    density, edges = np.histogram(sample, bins=bins, range=(low, high), density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    style = series_style(i)
    style.pop("marker")  # markers on a histogram's steps would read as data points
    ax.plot(centres, density, drawstyle="steps-mid", label=label, **style)


def _histograms(who: str, insp: Any, ax: Any, samples: Mapping[str, np.ndarray], labels: Sequence[str], bins: int,
                xlabel: str, title: str | None, default_title: str) -> Any:
    """One step-line histogram per sample (in order, with its label) on one axes; the default title names the
    last recorded step."""
    fig, ax = figure_and_axes(who, ax, (9.0, 4.8))
    for i, (sample, label) in enumerate(zip(samples.values(), labels)):
        _histogram_curve(ax, sample, bins, label, i)
    step = int(np.asarray(insp.steps).reshape(-1)[-1])
    _labels(ax, xlabel, "density")
    ax.set_title(title if title is not None else f"{default_title} (step {step})")
    place_legend(ax)
    return fig


# -- histograms --------------------------------------------------------------------------------------


@styled
def plot_activations(insp: Any, ax: Any = None, *, layers: Any = None, bins: int = 50,
                     title: str | None = None) -> Any:
    """Draw the distribution of each layer's output: one step-line histogram per layer, on one axes.

    The picture of the makemore lecture: for a stack of tanh layers, a
    healthy network has every layer's histogram spread over (-1, 1) with few
    values piled at the ends; a network whose weights are too large piles
    them at -1 and +1 (saturated: the tanh's slope there is almost 0, so
    almost no gradient flows back), one whose weights are too small squeezes
    them towards 0, less so layer after layer.

    The histograms are of ``insp.last_activations`` (a sample of the last
    recorded output of each layer); the legend gives each layer's mean and
    std at that step and, for tanh and sigmoid layers, the saturated fraction
    (|tanh| > 0.97; sigmoid outside [0.03, 0.97]), for ReLU layers the dead
    fraction (units zero for the whole batch), as the Inspector recorded them.

    Args:
        insp: a ``tg.train.Inspector`` that has recorded at least one step.
        ax: an Axes to draw into; by default a new Figure.
        layers: a layer name or list of names (of ``insp.layers``) to draw;
            by default the tanh, sigmoid and ReLU layers, as in the lecture
            (every recorded layer if there are none), in depth order.
        bins: histogram bins per layer (>= 2).
        title: the title; by default says which step is drawn.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: ``insp`` is not an Inspector.
        ValueError: it recorded nothing; ``bins`` < 2.
        KeyError: ``layers`` names a layer the Inspector did not record.

    Example:
        >>> import types
        >>> import numpy as np
        >>> insp = types.SimpleNamespace(
        ...     layers=["1", "3"], kinds={"1": "tanh", "3": "tanh"}, steps=np.array([0]),
        ...     activations={n: {"mean": np.zeros(1), "std": np.ones(1) / 2, "saturated": np.zeros(1),
        ...                      "dead": np.full(1, np.nan)} for n in ["1", "3"]},
        ...     last_activations={n: np.tanh(np.linspace(-2, 2, 100)) for n in ["1", "3"]})
        >>> fig = plot_activations(insp)
        >>> len(fig.axes[0].get_lines())
        2
    """
    who = "plot_activations"
    _inspector(who, insp, ("layers", "kinds", "activations", "last_activations"))
    bins = check_int(who, "bins", bins, minimum=2)
    available = [name for name in insp.layers if name in insp.last_activations]
    names = _default_layers(insp, available) if layers is None else _choose(who, "layer", available, layers)
    samples = {name: _sample(who, "layer", name, insp.last_activations[name]) for name in names}
    activations = insp.activations  # read once: an Inspector builds the dict on each access
    labels = []
    for name in names:
        stats = activations.get(name, {})
        kind = insp.kinds.get(name, "other")
        label = f"{name} ({kind}): mean {_last(stats.get('mean', [])):+.2f}, std {_last(stats.get('std', [])):.2f}"
        if kind in _FRACTION:
            key, words = _FRACTION[kind]
            fraction = _last(stats.get(key, []))
            if math.isfinite(fraction):
                label += f", {words} {fraction:.1%}"
        labels.append(label)
    return _histograms(who, insp, ax, samples, labels, bins, "layer output value", title, "activations per layer")


@styled
def plot_gradients(insp: Any, ax: Any = None, *, params: Any = None, include_biases: bool = False,
                   bins: int = 50, title: str | None = None) -> Any:
    """Draw the distribution of each weight's gradient: one step-line histogram per parameter, on one axes.

    In a healthy network the weights' gradients have similar spreads at
    every depth; a vanishing network has a spike at 0 for the first layers
    and wide histograms for the last ones. The histograms are of
    ``insp.last_gradients`` (a sample of the last recorded gradient); the
    legend gives each gradient's mean and std at that step, from
    ``insp.gradients`` (`plot_gradient_norms` draws the norms).

    Args:
        insp: a ``tg.train.Inspector`` that has recorded at least one step.
        ax: an Axes to draw into; by default a new Figure.
        params: a parameter name or list of names (of ``insp.params``); by
            default the weight matrices, in depth order: the weights of the
            layers of kind ``"linear"`` (``Linear``, ``Conv1d``, ``Conv2d``),
            of recurrent layers (``weight_ih_l0``, ``weight_hh_l0``, ...) and of
            attention (``in_proj_weight``); or every recorded parameter that
            is not a bias when there are none.
        include_biases: with the default ``params``, draw the biases too.
        bins: histogram bins per parameter (>= 2).
        title: the title; by default says which step is drawn.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: ``insp`` is not an Inspector.
        ValueError: it recorded nothing; ``bins`` < 2.
        KeyError: ``params`` names a parameter the Inspector did not record.
    """
    who = "plot_gradients"
    _inspector(who, insp, ("params", "gradients", "last_gradients"))
    bins = check_int(who, "bins", bins, minimum=2)
    names = _weights(who, insp, params, include_biases, insp.last_gradients)
    samples = {name: _sample(who, "gradient", name, insp.last_gradients[name]) for name in names}
    gradients = insp.gradients
    labels = []
    for name in names:
        stats = gradients.get(name, {})
        labels.append(f"{name}: mean {_last(stats.get('mean', [])):+.1e}, std {_last(stats.get('std', [])):.1e}")
    return _histograms(who, insp, ax, samples, labels, bins, "gradient value", title,
                       "weight gradients per layer")


# -- over depth and over steps -----------------------------------------------------------------------


@styled
def plot_gradient_norms(insp: Any, ax: Any = None, *, params: Any = None, include_biases: bool = False,
                        step: int | None = None, title: str | None = None) -> Any:
    """Draw each weight's gradient norm against its depth, on a log scale: the vanishing picture in one call.

    The x axis is the parameter's place in the network (1 = nearest the
    input, in ``insp.params``' depth order), the y axis ``insp.gradients[p]["norm"]``
    at one recorded step. A flat line is healthy; one that falls towards the
    input is vanishing (a deep sigmoid stack loses a factor of 4 or more per
    layer); one high above the others is exploding. Several Inspectors (a
    dict ``{label: Inspector}``) are drawn as one line each, to compare
    networks on one axes.

    Args:
        insp: a ``tg.train.Inspector``, or a dict from a label to one.
        ax: an Axes to draw into; by default a new Figure.
        params: parameter names to draw (every Inspector must have them); by
            default each Inspector's linear layers' weights (as `plot_gradients`).
        include_biases: with the default ``params``, draw the biases too.
        step: the optimizer step to draw (one of each Inspector's ``steps``);
            by default each one's last recorded step.
        title: the title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: ``insp`` is not an Inspector or a dict of them.
        ValueError: an Inspector recorded nothing, or not at ``step``.
        KeyError: ``params`` names a parameter an Inspector did not record.

    Example:
        >>> import types
        >>> import numpy as np
        >>> insp = types.SimpleNamespace(params=["0.weight", "0.bias", "2.weight"], steps=np.array([0, 10]),
        ...     gradients={"0.weight": {"norm": np.array([1e-6, 2e-6])}, "0.bias": {"norm": np.array([1.0, 1.0])},
        ...                "2.weight": {"norm": np.array([0.1, 0.2])}})
        >>> fig = plot_gradient_norms(insp)
        >>> [float(v) for v in fig.axes[0].get_lines()[0].get_ydata()]
        [2e-06, 0.2]
    """
    who = "plot_gradient_norms"
    if isinstance(insp, Mapping):
        if not insp:
            raise ValueError(f"{who}: the dict of Inspectors is empty")
        runs = {str(label): value for label, value in insp.items()}
    else:
        runs = {"": insp}
    rows = {}
    for label, inspector in runs.items():
        _inspector(who if not label else f"{who} ({label!r})", inspector, ("params", "gradients"))
        gradients = inspector.gradients
        names = _weights(who, inspector, params, include_biases, gradients)
        steps = np.asarray(inspector.steps).reshape(-1)
        if step is None:
            index = len(steps) - 1
        else:
            check_int(who, "step", step, minimum=0)
            found = np.flatnonzero(steps == step)
            if found.size == 0:
                shown = steps.tolist() if len(steps) <= 12 else [*steps[:5].tolist(), "...", *steps[-5:].tolist()]
                raise ValueError(f"{who}: step {step} was not recorded{f' by {label!r}' if label else ''}; "
                                 f"the recorded steps are {shown}")
            index = int(found[-1])
        norms = np.array([np.asarray(gradients[name]["norm"], dtype=float).reshape(-1)[index]
                          for name in names])
        rows[label] = (names, norms, int(steps[index]))

    fig, ax = figure_and_axes(who, ax, (8.0, 4.8))
    for i, (label, (names, norms, at)) in enumerate(rows.items()):
        shown = np.where(norms > 0, norms, np.nan)  # a zero norm has no place on a log axis
        text = f"{label} (step {at})" if label else f"step {at}"
        ax.plot(np.arange(1, len(names) + 1), shown, label=text, **series_style(i))
    ax.set_yscale("log")
    name_lists = [names for names, _, _ in rows.values()]
    if all(names == name_lists[0] for names in name_lists) and len(name_lists[0]) <= 24:
        ax.set_xticks(np.arange(1, len(name_lists[0]) + 1), name_lists[0], rotation=45, ha="right")
        _labels(ax, "parameter, input side first", "‖∂L/∂W‖ (log scale)")
    else:
        _labels(ax, "weight parameter (1 = nearest the input)", "‖∂L/∂W‖ (log scale)")
    ax.set_title(title if title is not None else "gradient norm per layer against depth")
    if len(rows) > 1 or next(iter(rows)):
        place_legend(ax)
    return fig


@styled
def plot_update_ratios(insp: Any, ax: Any = None, *, params: Any = None, include_biases: bool = False,
                       band: tuple[float, float] | None = UPDATE_BAND, title: str | None = None) -> Any:
    """Draw the update-to-data ratio of each weight over the steps, with the band around 1e-3.

    For each parameter, ``insp.update_ratios[p]`` is log10 of the std of
    one optimizer step's change of the weight over the std of the weight:
    -3 means each step moves the weight by about a thousandth of its own
    size. The makemore lecture's rule of thumb: around -3 is healthy; far
    above (-1, -2) the rate is too high for that layer, far below (-4, -5) the
    layer barely learns. The band (by default -3.5 to -2.5) is shaded with a
    dashed line at -3; a line per weight shows whether the layers learn at
    even speeds.

    Args:
        insp: a ``tg.train.Inspector`` that has recorded at least one step.
        ax: an Axes to draw into; by default a new Figure.
        params: parameter names to draw; by default the weights of the layers
            of kind ``"linear"`` (``Linear``, ``Conv``: the lecture draws the 2-D
            weights only; a norm's gain and shift are left out), in depth order,
            or every recorded parameter whose name does not end in ``bias``
            when there are none.
        include_biases: with the default ``params``, draw the biases too.
        band: ``(low, high)`` in log10 units to shade, or ``None`` for no band.
        title: the title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: ``insp`` is not an Inspector.
        ValueError: it recorded nothing; ``band`` is not ``(low, high)`` with low < high.
        KeyError: ``params`` names a parameter the Inspector did not record.
    """
    who = "plot_update_ratios"
    _inspector(who, insp, ("params", "update_ratios"))
    if band is not None:
        low, high = _check_pair(who, "band (log10 units, or None)", band)
    update_ratios = insp.update_ratios
    names = _weights(who, insp, params, include_biases, update_ratios)
    steps = np.asarray(insp.steps, dtype=float).reshape(-1)
    fig, ax = figure_and_axes(who, ax, (9.0, 4.8))
    if band is not None:
        ax.axhspan(low, high, color="0.85", zorder=0, label=f"rule of thumb: 10^{low:g} to 10^{high:g}")
        ax.axhline(-3.0, color="0.35", linestyle="--", linewidth=1.2, zorder=1)
    for i, name in enumerate(names):
        ratios = np.asarray(update_ratios[name], dtype=float).reshape(-1)
        if len(ratios) != len(steps):
            raise ValueError(f"{who}: {name!r} has {len(ratios)} update ratios for {len(steps)} recorded steps")
        ratios = np.where(np.isfinite(ratios), ratios, np.nan)  # a step that did not move the weight: -inf
        ax.plot(steps, ratios, label=name, **series_style(i, points=len(steps)))
    _labels(ax, "optimizer step", "log10(update std / weight std)")
    ax.set_title(title if title is not None else "update-to-data ratio per weight (about -3 is healthy)")
    place_legend(ax)
    return fig


@styled
def plot_saturation(insp: Any, ax: Any = None, *, layers: Any = None, title: str | None = None) -> Any:
    """Draw the saturated (tanh, sigmoid) or dead (ReLU) fraction of each layer over the steps.

    A tanh unit is saturated when |tanh| > 0.97 (a sigmoid outside
    [0.03, 0.97]): its slope is then below 0.06, so little gradient passes.
    A ReLU unit is dead on a batch when it outputs zero for every example:
    no gradient passes at all. The fractions are the Inspector's records,
    one line per layer, in percent.

    Args:
        insp: a ``tg.train.Inspector`` that has recorded at least one step.
        ax: an Axes to draw into; by default a new Figure.
        layers: layer names to draw; by default every tanh, sigmoid and ReLU layer.
        title: the title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: ``insp`` is not an Inspector.
        ValueError: it recorded nothing, or no layer (of ``layers``) is tanh, sigmoid or ReLU.
        KeyError: ``layers`` names a layer the Inspector did not record.
    """
    who = "plot_saturation"
    _inspector(who, insp, ("layers", "kinds", "activations"))
    activations = insp.activations
    available = [name for name in insp.layers if name in activations]
    chosen = available if layers is None else _choose(who, "layer", available, layers)
    names = [name for name in chosen if insp.kinds.get(name) in _FRACTION]
    if not names:
        kinds = {name: insp.kinds.get(name, "other") for name in chosen}
        raise ValueError(f"{who}: no tanh, sigmoid or ReLU layer to draw (the layers' kinds are {kinds}): "
                         f"saturation is defined for those only")
    steps = np.asarray(insp.steps, dtype=float).reshape(-1)
    fig, ax = figure_and_axes(who, ax, (9.0, 4.8))
    for i, name in enumerate(names):
        key, words = _FRACTION[insp.kinds[name]]
        fraction = np.asarray(activations[name][key], dtype=float).reshape(-1)
        if len(fraction) != len(steps):
            raise ValueError(f"{who}: {name!r} has {len(fraction)} values for {len(steps)} recorded steps")
        ax.plot(steps, 100 * fraction, label=f"{name} ({insp.kinds[name]}, {words})",
                **series_style(i, points=len(steps)))
    ax.set_ylim(bottom=0)
    _labels(ax, "optimizer step", "units (%)")
    kinds = {insp.kinds[name] for name in names}
    what = " / ".join(w for w, test in (("saturated", kinds & {"tanh", "sigmoid"}), ("dead", kinds & {"relu"})) if test)
    ax.set_title(title if title is not None else f"{what} units per layer")
    place_legend(ax)
    return fig


# -- the zoo: filters, feature maps, attention -------------------------------------------------------


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    return np.asarray(value, dtype=float)


def _grid(count: int, ncols: int | None) -> tuple[int, int]:
    columns = ncols if ncols is not None else min(count, max(1, math.ceil(math.sqrt(count * 1.5))))
    columns = min(columns, count)
    return math.ceil(count / columns), columns


@styled
def plot_filters(conv_or_weight: Any, *, max_filters: int = 64, ncols: int | None = None, channel: int | None = None,
                 title: str | None = None) -> Any:
    """Draw a convolution's filters as images, one small panel per output channel.

    The weight is ``(out_channels, in_channels, kH, kW)`` (``Conv2d``) or
    ``(out_channels, in_channels, k)`` (``Conv1d``, each filter an
    ``in_channels x k`` image). With one input channel each filter is drawn
    on a diverging colour map centred on 0 (blue negative, red positive),
    one scale for all filters so their sizes compare; with three input
    channels and ``channel=None`` as an RGB image (each filter rescaled to
    [0, 1]), the way first-layer filters of image networks are shown;
    otherwise ``channel`` picks one input channel (by default the mean over
    them is drawn).

    Args:
        conv_or_weight: a ``Conv1d``/``Conv2d`` (its ``.weight`` is drawn), or the weight as a Tensor or array.
        max_filters: draw at most this many (the first ones).
        ncols: panels per row (by default about 1.5 times as many columns as rows).
        channel: the input channel to draw; ``None``: RGB for 3 channels, else the mean over the channels.
        title: the figure's title.

    Returns:
        The matplotlib ``Figure``: one Axes per filter drawn (then a colour bar's, unless RGB).

    Raises:
        ValueError: the weight is not 3-D or 4-D; ``channel`` out of range.

    Example:
        >>> import tinygrad_edu as tg
        >>> fig = plot_filters(tg.nn.Conv2d(1, 6, 5))
        >>> panels = [ax for ax in fig.axes if ax.get_images()]
        >>> len(panels), panels[0].get_images()[0].get_array().shape
        (6, (5, 5))
    """
    who = "plot_filters"
    weight = getattr(conv_or_weight, "weight", conv_or_weight)
    try:
        kernels = _array(weight)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: expected a Conv1d/Conv2d or its weight, got {type(conv_or_weight).__name__}") from None
    if kernels.ndim == 3:
        kernels = kernels[:, :, None, :]
        one_d = True
    elif kernels.ndim == 4:
        one_d = False
    else:
        raise ValueError(f"{who}: expected a weight of shape (out, in, kH, kW) or (out, in, k), got shape "
                         f"{kernels.shape}")
    max_filters = check_int(who, "max_filters", max_filters, minimum=1)
    if ncols is not None:
        ncols = check_int(who, "ncols", ncols, minimum=1)
    n_out, n_in = kernels.shape[:2]
    if n_out == 0:
        raise ValueError(f"{who}: the weight has no filters (shape {kernels.shape})")
    if channel is not None:
        channel = check_int(who, "channel", channel, minimum=0, maximum=n_in - 1)
    count = min(n_out, max_filters)
    if one_d:
        images = [kernels[i, :, 0, :] for i in range(count)]  # in_channels x k
        rgb = False
    elif channel is not None:
        images, rgb = [kernels[i, channel] for i in range(count)], False
    elif n_in == 3:
        images, rgb = [], True
        for i in range(count):
            image = np.transpose(kernels[i], (1, 2, 0))
            low, high = image.min(), image.max()
            images.append((image - low) / (high - low) if high > low else np.full_like(image, 0.5))
    else:
        images, rgb = [kernels[i].mean(axis=0) for i in range(count)], False
    rows, columns = _grid(count, ncols)
    fig = new_figure((1.6 * columns + 0.8, 1.6 * rows + 0.8))
    limit = max(float(np.abs(np.stack(images)).max()), 1e-12) if not rgb else None
    shown = None
    for i, image in enumerate(images):
        ax = fig.add_subplot(rows, columns, i + 1)
        if rgb:
            ax.imshow(image, interpolation="nearest")
        else:
            shown = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest",
                              aspect="auto" if one_d else "equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize="medium")
    if shown is not None:
        fig.colorbar(shown, ax=fig.axes, shrink=0.8, label="weight")
    what = type(conv_or_weight).__name__ if hasattr(conv_or_weight, "weight") else "convolution"
    detail = ("RGB" if rgb else f"input channel {channel}" if channel is not None
              else "input channels averaged" if n_in > 1 and not one_d else "")
    shape = " x ".join(str(s) for s in (n_in, *kernels.shape[2:]) if not one_d or s != 1)
    fig.suptitle(title if title is not None else
                 f"{what} filters: {count} of {n_out}, each {shape}" + (f" ({detail})" if detail else ""))
    return fig


def _modes(model: Any) -> list[tuple[Any, bool]]:
    return [(module, module.training) for module in model.modules()]


def _restore(modes: list[tuple[Any, bool]]) -> None:
    for module, training in modes:
        module.training = training


@styled
def plot_feature_maps(model: Any, image: Any, layers: Any = None, *, max_maps: int = 16,
                      title: str | None = None) -> Any:
    """Draw what a network's convolutions make of one image: each layer's output channels as images.

    Forward hooks (``register_forward_hook``) capture the output of each
    layer in ``layers`` while ``model(image)`` runs once, without a graph and
    in eval mode (so dropout is off and batch norm uses, and does not change,
    its running statistics); every module's mode is put back afterwards and
    the hooks removed. One row per layer, its first ``max_maps`` channels,
    each on its own colour scale (the layer's name and output shape above
    the row). The first row is the input image.

    Args:
        model: a ``Module`` (a whole network, or one ``Conv2d``).
        image: one image, ``(C, H, W)``, ``(1, C, H, W)`` or ``(H, W)`` (one channel), a Tensor or array.
        layers: module names (as ``model.named_modules()`` gives them) whose output to draw; by default
            every ``Conv2d``, in order. Each output must be ``(1, C, H, W)``.
        max_maps: channels drawn per layer (the first ones).
        title: the figure's title.

    Returns:
        The matplotlib ``Figure``: the input's panel, then one Axes per map drawn.

    Raises:
        TypeError: ``model`` is not a Module.
        ValueError: the image's shape; no Conv2d to draw; a layer's output is not an image batch of one.
        KeyError: ``layers`` names no module of ``model``.

    Example:
        >>> import tinygrad_edu as tg
        >>> conv = tg.nn.Conv2d(1, 6, 3)
        >>> fig = plot_feature_maps(conv, tg.randn(1, 8, 8))
        >>> len(fig.axes)          # the input, then 6 maps
        7
    """
    from .. import nn
    from ..tensor import Tensor

    who = "plot_feature_maps"
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: model must be a tg.nn.Module, got {type(model).__name__}")
    max_maps = check_int(who, "max_maps", max_maps, minimum=1)
    pixels = _array(image)
    if pixels.ndim == 2:
        pixels = pixels[None, None]
    elif pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.ndim != 4 or pixels.shape[0] != 1:
        raise ValueError(f"{who}: image must be one image, (C, H, W), (1, C, H, W) or (H, W); got shape "
                         f"{_array(image).shape}")
    modules = dict(model.named_modules())
    if layers is None:
        names = [name for name, module in modules.items() if isinstance(module, nn.Conv2d)]
        if not names:
            raise ValueError(f"{who}: {type(model).__name__} has no Conv2d; name the layers to draw with layers=")
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in names if name not in modules]
        if unknown:
            raise KeyError(f"{who}: {type(model).__name__} has no module {unknown}; it has "
                           f"{[name for name in modules if name]}")
        if not names:
            raise ValueError(f"{who}: layers must name at least one module")

    captured: dict[str, np.ndarray] = {}

    def capture(name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            if name not in captured:  # a module called twice: its first output
                captured[name] = _array(output[0] if isinstance(output, tuple) else output)
        return hook

    dtype = getattr(next(iter(model.parameters()), None), "dtype", None)
    x = Tensor(pixels.astype(dtype if dtype is not None else np.float32))
    modes = _modes(model)
    handles = [modules[name].register_forward_hook(capture(name)) for name in names]
    try:
        model.eval()
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        _restore(modes)
    missing = [name for name in names if name not in captured]
    if missing:
        raise ValueError(f"{who}: {missing} did not run in model(image)")
    for name in names:
        if captured[name].ndim != 4 or captured[name].shape[0] != 1:
            raise ValueError(f"{who}: layer {name!r} gave an output of shape {captured[name].shape}; only image "
                             f"batches (1, C, H, W) can be drawn as feature maps")

    columns = max(min(captured[name].shape[1], max_maps) for name in names)
    fig = new_figure((1.5 * columns + 0.6, 1.9 * (len(names) + 1) + 0.4))
    panels = fig.subfigures(len(names) + 1, 1, squeeze=False)[:, 0]
    input_ax = panels[0].add_subplot(1, columns, 1)
    picture = pixels[0]
    if picture.shape[0] == 3:
        low, high = picture.min(), picture.max()
        input_ax.imshow(np.transpose((picture - low) / (high - low) if high > low else picture * 0 + 0.5, (1, 2, 0)))
    else:
        input_ax.imshow(picture.mean(axis=0), cmap="gray")
    input_ax.set_xticks([])
    input_ax.set_yticks([])
    panels[0].suptitle(f"input {tuple(pixels.shape[1:])}", fontsize="medium")
    for panel, name in zip(panels[1:], names):
        maps = captured[name][0]
        label = name or type(model).__name__
        panel.suptitle(f"{label} ({type(modules[name]).__name__}): {maps.shape[0]} maps of "
                       f"{maps.shape[1]} x {maps.shape[2]}" + (f", first {max_maps}" if maps.shape[0] > max_maps
                                                               else ""), fontsize="medium")
        for j in range(min(maps.shape[0], max_maps)):
            ax = panel.add_subplot(1, columns, j + 1)
            ax.imshow(maps[j], cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
    if title is not None:
        fig.suptitle(title)
    return fig


def _tokens(who: str, name: str, tokens: Any, length: int) -> list[str] | None:
    if tokens is None:
        return None
    labels = [str(t) for t in (list(tokens) if not isinstance(tokens, str) else list(tokens))]
    if len(labels) != length:
        raise ValueError(f"{who}: {name} has {len(labels)} labels for {length} positions")
    return labels


@styled
def plot_attention(mha_or_weights: Any, query: Any = None, key: Any = None, value: Any = None, *,
                   tokens: Any = None, key_tokens: Any = None, batch: int = 0, attn_mask: Any = None,
                   key_padding_mask: Any = None, ncols: int | None = None, title: str | None = None) -> Any:
    """Draw attention weights as heat maps, one per head: row i is how query i spreads over the keys.

    Given a ``MultiheadAttention`` and its inputs, it is run once (no graph,
    eval mode: no dropout on the weights; every module's mode is put back)
    with ``need_weights=True, average_attn_weights=False``, so each head's
    own weights are drawn, not their mean. Given weights instead (a Tensor
    or array ``(L, S)``, ``(heads, L, S)`` or ``(N, heads, L, S)``), they are
    drawn as they are. Every row of a softmax sums to 1; one colour scale
    (0 to the largest weight) for all heads.

    Args:
        mha_or_weights: a ``tg.nn.MultiheadAttention``, or attention weights.
        query, key, value: the module's inputs (``key`` defaults to ``query``,
            ``value`` to ``key``: self-attention), as its forward takes them.
        tokens: labels of the query positions (and of the key positions too when
            ``key_tokens`` is not given and there are as many keys as queries).
        key_tokens: labels of the key positions.
        batch: which sequence of a batch to draw.
        attn_mask, key_padding_mask: passed to the module's forward.
        ncols: heat maps per row (by default up to 4).
        title: the figure's title.

    Returns:
        The matplotlib ``Figure``: one Axes per head, then the colour bar's.

    Raises:
        TypeError: a module without a ``query``; ``None`` for the weights (what ``need_weights=False``
            returns); another module (the message names its ``MultiheadAttention`` submodules).
        ValueError: weights of another shape; ``batch`` out of range; token labels of the wrong length.

    Example:
        >>> import tinygrad_edu as tg
        >>> mha = tg.nn.MultiheadAttention(8, 2, batch_first=True)
        >>> x = tg.randn(1, 4, 8)
        >>> fig = plot_attention(mha, x, tokens=list("abcd"))
        >>> len(fig.axes)          # 2 heads and a colour bar
        3
    """
    from .. import nn

    who = "plot_attention"
    if isinstance(mha_or_weights, nn.MultiheadAttention):
        mha = mha_or_weights
        if query is None:
            raise TypeError(f"{who}: give the MultiheadAttention's query (and key, value for cross-attention)")
        key = query if key is None else key
        value = key if value is None else value
        modes = _modes(mha)
        try:
            mha.eval()
            with no_grad():
                _, weights = mha(query, key, value, key_padding_mask=key_padding_mask, need_weights=True,
                                 attn_mask=attn_mask, average_attn_weights=False)
        finally:
            _restore(modes)
        weights = _array(weights)
        source = "MultiheadAttention"
    else:
        if mha_or_weights is None:
            raise TypeError(f"{who}: got None for the weights: MultiheadAttention returns None for them when called "
                            f"with need_weights=False (as a TransformerEncoderLayer calls it); pass the module and "
                            f"its query instead, plot_attention(mha, x), which runs it with need_weights=True")
        if isinstance(mha_or_weights, nn.Module):
            inner = [name for name, m in mha_or_weights.named_modules() if isinstance(m, nn.MultiheadAttention)]
            raise TypeError(f"{who}: expected a MultiheadAttention or attention weights, got the module "
                            f"{type(mha_or_weights).__name__}" + (f"; its attention is {', '.join(inner)} (pass "
                                                                    f"that: plot_attention(model.{inner[0]}, x))"
                                                                    if inner else ""))
        if query is not None or key is not None or value is not None:
            raise TypeError(f"{who}: query/key/value go with a MultiheadAttention, not with weights "
                            f"({type(mha_or_weights).__name__})")
        try:
            weights = _array(mha_or_weights)
        except (TypeError, ValueError):
            raise TypeError(f"{who}: expected a MultiheadAttention or attention weights, got "
                            f"{type(mha_or_weights).__name__}") from None
        source = "attention"
    if weights.ndim == 2:
        weights = weights[None]
    elif weights.ndim == 4:
        batch = check_int(who, "batch", batch, minimum=0, maximum=weights.shape[0] - 1)
        weights = weights[batch]
    elif weights.ndim != 3:
        raise ValueError(f"{who}: attention weights must be (L, S), (heads, L, S) or (N, heads, L, S); got "
                         f"shape {weights.shape}")
    heads, length, keys = weights.shape
    if heads == 0 or length == 0 or keys == 0:
        raise ValueError(f"{who}: nothing to draw: weights of shape {weights.shape}")
    query_labels = _tokens(who, "tokens", tokens, length)
    if key_tokens is not None:
        key_labels = _tokens(who, "key_tokens", key_tokens, keys)
    else:
        key_labels = query_labels if query_labels is not None and keys == length else None
    if ncols is not None:
        ncols = check_int(who, "ncols", ncols, minimum=1)
    rows, columns = _grid(heads, ncols if ncols is not None else min(heads, 4))
    side = min(max(2.8, 0.32 * max(length, keys)), 6.0)
    fig = new_figure((side * columns + 1.2, side * rows + 0.6))
    top = float(np.nanmax(weights)) if np.isfinite(weights).any() else 1.0
    image = None
    for h in range(heads):
        ax = fig.add_subplot(rows, columns, h + 1)
        image = ax.imshow(weights[h], cmap="viridis", vmin=0.0, vmax=max(top, 1e-12), interpolation="nearest",
                          aspect="auto")
        ax.set_title(f"head {h}" if heads > 1 else "weights")
        if key_labels is not None:
            ax.set_xticks(range(keys), key_labels, rotation=90 if max(map(len, key_labels)) > 2 else 0)
        if query_labels is not None:
            ax.set_yticks(range(length), query_labels)
        if h % columns == 0:
            ax.set_ylabel("query")
        if h >= (rows - 1) * columns:
            ax.set_xlabel("key")
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="attention weight")
    fig.suptitle(title if title is not None else f"{source} weights, one heat map per head ({heads})")
    return fig
