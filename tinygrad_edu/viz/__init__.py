"""Pictures of learning: loss curves, rate schedules, descent paths, GIFs, computation graphs.

    import tinygrad_edu as tg
    fig = tg.viz.plot_contour(tg.surfaces.rosenbrock, sgd_path, adam_path)
    fig.savefig("paths.png")

Every function returns a matplotlib ``Figure`` (or, for `animate_path`, a
``FuncAnimation``) built with the object API (``matplotlib.figure.Figure``),
never pyplot: nothing opens a window or changes the global backend, so it
works the same in a script, a test, a headless server and Jupyter (where,
after ``%matplotlib inline``, a Figure left as a cell's last expression is
shown). Save with ``fig.savefig(path)`` and `save_gif`.

This is the only part of tinygrad_edu that imports matplotlib, and
``import tinygrad_edu`` does not import it: ``tg.viz`` is loaded on first use.

================================  ================================================================
`plot_history`                    train/val loss per epoch, a changing rate on a twin axis (constant: a note), metrics
`plot_lr_find`                    a learning-rate range test (``tg.train.lr_find``) and its suggestion
`plot_lr_schedule`                the rate a scheduler gives over the steps
`compare_losses`                  several runs' losses on one plot (SGD vs Adam)
`plot_sweep`                      a ``tg.train.sweep``: final loss against the swept value, curves side by side
`plot_path_1d`                    a 1-D loss curve with the steps on it
`plot_contour`                    2-D contours with several optimizers' paths
`plot_surface_3d`                 a 2-D surface in 3-D with the paths on it
`plot_race`                       a race: one contour panel per optimizer, and all their losses on one axis
`animate_path`, `save_gif`        one frame per step, written as a GIF
`save_figure`                     a Figure written to disk atomically (png, svg, pdf)
`plot_graph`                      the computation graph of a tensor, with grads after backward
`trace_modules`                   record which module made each operation, so plot_graph can collapse modules
`interactive_descent`             ipywidgets: sliders re-running a descent on a 2-D surface's contours
`interactive_schedule`            ipywidgets: sliders for a rate schedule's parameters, its curve redrawn
`plot_activations`                an Inspector's layer outputs: a histogram per layer, saturated % in the legend
`plot_gradients`                  an Inspector's weight gradients: a histogram per layer
`plot_gradient_norms`             each weight's gradient norm against depth, log scale: vanishing in one call
`plot_update_ratios`              log10(update std / weight std) per weight over the steps, the band around -3
`plot_saturation`                 saturated (tanh, sigmoid) or dead (ReLU) units per layer over the steps
`plot_filters`                    a convolution's filters as images
`plot_feature_maps`               the feature maps of one image, layer by layer (forward hooks)
`plot_attention`                  a MultiheadAttention's weights, a heat map per head
`styled`, `series_style`          the one figure style, for your own figures too: a decorator (projector
`place_legend`, `PALETTE`         fonts), a series' colour/line/marker, a legend that hides no data
================================  ================================================================

Every figure is drawn in one style, applied locally (``matplotlib.rc_context``; the
global settings are never changed): fonts readable on a projector, the Okabe–Ito
colours and then line styles and markers (distinct for 64 series), a legend in an
empty corner or outside the data, a title that says what is compared.
"""

from __future__ import annotations

from ._style import PALETTE, place_legend, series_style, styled
from .animation import animate_path, save_gif
from .curves import compare_losses, plot_history, plot_lr_find, plot_lr_schedule
from .files import save_figure
from .graph import plot_graph, trace_modules
from .inspect import (
    plot_activations,
    plot_attention,
    plot_feature_maps,
    plot_filters,
    plot_gradient_norms,
    plot_gradients,
    plot_saturation,
    plot_update_ratios,
)
from .interactive import interactive_descent, interactive_schedule
from .surface_plots import plot_contour, plot_path_1d, plot_race, plot_surface_3d
from .sweep import plot_sweep

__all__ = [
    "save_figure",
    "plot_history",
    "plot_lr_find",
    "plot_lr_schedule",
    "compare_losses",
    "plot_sweep",
    "plot_path_1d",
    "plot_contour",
    "plot_surface_3d",
    "plot_race",
    "animate_path",
    "save_gif",
    "plot_graph",
    "trace_modules",
    "interactive_descent",
    "interactive_schedule",
    "plot_activations",
    "plot_gradients",
    "plot_gradient_norms",
    "plot_update_ratios",
    "plot_saturation",
    "plot_filters",
    "plot_feature_maps",
    "plot_attention",
    "styled",
    "series_style",
    "place_legend",
    "PALETTE",
]
