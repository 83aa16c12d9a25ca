"""Every figure stays readable when projected (issue 15): distinct series, legends off the data, big enough
text, a constant rate as a note, the race as small multiples, and no change to matplotlib's global state."""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.path import Path

import tinygrad_edu as tg
from tinygrad_edu import optim, surfaces, viz
from tinygrad_edu.optim.lr_scheduler import StepLR
from tinygrad_edu.viz import _style

matplotlib.use("Agg")

N = 16  # the bar: 16 series, each told apart


def drawn(fig):
    """The figure rendered once by Agg, so every tick, legend and text has its final size and place."""
    FigureCanvasAgg(fig)
    fig.set_dpi(60)
    fig.canvas.draw()
    return fig


def series(ax):
    """The labelled lines of an axes (matplotlib names unlabelled ones '_child...')."""
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def looks(lines):
    return [(to_rgba(line.get_color()), line.get_linestyle(), line.get_marker()) for line in lines]


def assert_distinct(lines, count=N):
    seen = looks(lines)
    assert len(seen) == count
    assert len(set(seen)) == count, f"repeated (colour, line style, marker): {seen}"


def display_points(line):
    xy = np.asarray(line.get_xydata(), dtype=float)
    xy = xy[np.isfinite(xy).all(axis=1)]
    return line.get_transform().transform(xy)


def line_box(line):
    points = display_points(line)
    return points.min(axis=0), points.max(axis=0)


def boxes_meet(box, low, high):
    return not (box.x1 < low[0] or box.x0 > high[0] or box.y1 < low[1] or box.y0 > high[1])


# -- the style's pieces ---------------------------------------------------------------------------


def test_series_style_is_distinct_for_64_series_and_starts_with_okabe_ito():
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    first = [viz.series_style(i) for i in range(8)]
    assert {style["color"] for style in first} == okabe_ito
    assert {(style["linestyle"], style["marker"]) for style in first} == {("-", "o")}
    styles = [tuple(viz.series_style(i)[key] for key in ("color", "linestyle", "marker")) for i in range(64)]
    assert len(set(styles)) == 64
    assert viz.series_style(8)["linestyle"] != "-" and viz.series_style(8)["marker"] != "o"
    assert viz.series_style(0, points=120)["markevery"] == 10 and "markevery" not in viz.series_style(0, points=20)
    with pytest.raises(ValueError, match="series index"):
        viz.series_style(-1)


def _simulated(colors, matrix):
    """Colours as seen with a colour-vision deficiency: Machado, Oliveira & Fernandes (2009), severity 1,
    applied in linear RGB."""
    rgb = np.array([to_rgb(c) for c in colors])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    seen = np.clip(linear @ np.array(matrix).T, 0, 1)
    return np.where(seen <= 0.0031308, 12.92 * seen, 1.055 * seen ** (1 / 2.4) - 0.055)


MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def _closest_pair(colors, matrix):
    seen = _simulated(colors, matrix)
    return min(np.linalg.norm(a - b) for a, b in itertools.combinations(seen, 2))


@pytest.mark.parametrize("deficiency", list(MACHADO))
def test_the_palette_stays_apart_for_colour_blind_eyes(deficiency):
    # Every pair of the eight colours stays at least 0.1 apart (sRGB units) as each deficiency sees them ...
    assert _closest_pair(viz.PALETTE, MACHADO[deficiency]) > 0.1
    # ... which matplotlib's default cycle does not: a protanope sees two of its first eight almost as one.
    if deficiency == "protanopia":
        assert _closest_pair([f"C{i}" for i in range(8)], MACHADO[deficiency]) < 0.1


def test_styled_never_changes_matplotlibs_global_settings():
    before = dict(matplotlib.rcParams)
    fig = viz.compare_losses({"a": [3.0, 2.0, 1.0], "b": [2.0, 1.5, 1.0]})
    assert dict(matplotlib.rcParams) == before
    assert fig.axes[0].title.get_fontsize() == _style.STYLE["axes.titlesize"]
    plain = Figure().add_subplot()  # a student's own figure afterwards: matplotlib's defaults
    assert plain.title.get_fontsize() < _style.STYLE["axes.titlesize"]
    with pytest.raises(ValueError):
        viz.compare_losses({})
    assert dict(matplotlib.rcParams) == before  # an error inside leaves them alone too


def test_every_public_picture_function_is_styled():
    drawing = [name for name in viz.__all__ if name.startswith(("plot_", "compare_", "animate_", "interactive_"))]
    assert len(drawing) >= 14
    unstyled = [name for name in drawing if not getattr(getattr(viz, name), "styled", False)]
    assert not unstyled, f"not built under the figure style: {unstyled}"


# -- 16 series, each told apart -------------------------------------------------------------------


def _paths_2d(count=N, steps=6):
    rng = np.random.default_rng(0)
    return [np.cumsum(rng.normal(0, 0.2, (steps, 2)), axis=0) for _ in range(count)]


def _bowl(x, y):
    return x ** 2 + y ** 2


BOWL_BOUNDS = ((-2.0, 2.0), (-2.0, 2.0))


def _groups_optimizer(count=N):
    params = [tg.zeros(1, requires_grad=True) for _ in range(count)]
    return optim.SGD([{"params": [p], "lr": 0.01 * (i + 1)} for i, p in enumerate(params)], lr=0.1)


SIXTEEN = {
    "compare_losses": lambda: (viz.compare_losses({f"run {i}": [3.0 + i, 2.0 + i, 1.0 + i] for i in range(N)}),
                               [0]),
    "plot_history": lambda: (viz.plot_history({f"run{i}_loss": [1.0 + i, 0.5 + i] for i in range(N)}), [0]),
    "plot_history metrics": lambda: (viz.plot_history({"loss": [1.0, 0.5], **{f"m{i}": [i, i + 1.0]
                                                                              for i in range(N)}}), [1]),
    "plot_lr_schedule": lambda: (viz.plot_lr_schedule(StepLR(_groups_optimizer(), step_size=2), 6), [0]),
    "plot_path_1d": lambda: (viz.plot_path_1d(surfaces.parabola, *[np.linspace(4 - i * 0.3, -1, 5) for i in range(N)],
                                              step_labels=False), [0]),
    "plot_contour": lambda: (viz.plot_contour(_bowl, *_paths_2d(), bounds=BOWL_BOUNDS, resolution=30), [0]),
    "plot_surface_3d": lambda: (viz.plot_surface_3d(_bowl, *_paths_2d(), bounds=BOWL_BOUNDS, resolution=15), [0]),
    "plot_race loss panel": lambda: (viz.plot_race(_bowl, *_paths_2d(), bounds=BOWL_BOUNDS, resolution=20), [N]),
    "plot_sweep hue": lambda: (viz.plot_sweep([{"lr": lr, "val_loss": 1.0 / lr + i, "opt": f"o{i}"}
                                               for i in range(N) for lr in (0.01, 0.1)], x="lr", hue="opt"), [0]),
    "plot_sweep curves": lambda: (viz.plot_sweep([{"lr": lr, "seed": seed, "val_loss": lr + seed,
                                                   "history": {"val_loss": [2.0, 1.0 + lr + seed]}}
                                                  for lr in (0.01, 0.03, 0.1, 0.3) for seed in range(4)],
                                                 x="lr", curves=True), [1]),
}


@pytest.mark.parametrize("name", list(SIXTEEN))
def test_sixteen_series_get_sixteen_distinct_looks(name):
    fig, axes = SIXTEEN[name]()
    for index in axes:
        assert_distinct(series(fig.axes[index]))


def test_race_panels_draw_each_path_in_its_own_look_matching_the_loss_panel():
    paths = _paths_2d()
    fig = viz.plot_race(_bowl, *paths, bounds=BOWL_BOUNDS, resolution=20)
    own = [series(ax)[0] for ax in fig.axes[:N]]
    assert_distinct(own)
    assert looks(own) == looks(series(fig.axes[N]))
    for ax, path in zip(fig.axes, paths):
        np.testing.assert_allclose(series(ax)[0].get_xydata(), path)


# -- legends off the data -------------------------------------------------------------------------


def _assert_legend_clear_of_boxes(ax, lines):
    legend = ax.get_legend().get_window_extent()
    for line in lines:
        low, high = line_box(line)
        assert not boxes_meet(legend, low, high), f"the legend covers {line.get_label()!r}"


def test_compare_losses_legend_sits_in_the_empty_corner():
    # Run a spans epochs 1-10 and losses 1-10, run b epochs 1-20 and losses 0.5-5: the upper right is empty.
    fig = drawn(viz.compare_losses({"a": list(np.linspace(10, 1, 10)), "b": list(np.linspace(5, 0.5, 20))}))
    ax = fig.axes[0]
    _assert_legend_clear_of_boxes(ax, series(ax))
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 > ax.bbox.x0 + ax.bbox.width / 2 and legend.y0 > ax.bbox.y0 + ax.bbox.height / 2


def test_contour_legend_avoids_paths_in_the_upper_left():
    paths = [np.array([[-1.8, 1.8], [-1.2, 1.0], [-0.8, 0.9]]), np.array([[-1.9, 0.5], [-1.0, 1.5]])]
    fig = drawn(viz.plot_contour(_bowl, *paths, bounds=BOWL_BOUNDS, resolution=30))
    ax = fig.axes[0]
    _assert_legend_clear_of_boxes(ax, series(ax))


def test_path_1d_legend_avoids_the_path():
    path = surfaces.descend(surfaces.parabola, lambda p: optim.SGD(p, lr=0.2), 5.0, 10)
    fig = drawn(viz.plot_path_1d(surfaces.parabola, path, step_labels=False))
    ax = fig.axes[0]
    _assert_legend_clear_of_boxes(ax, series(ax))


def test_history_legend_crosses_no_curve():
    # Two falling curves span the whole width, so no corner is free of their boxes; the legend still
    # goes where no point or segment of either curve runs under it.
    epochs = np.arange(30)
    fig = drawn(viz.plot_history({"train_loss": list(1 / (1 + epochs)), "val_loss": list(1.2 / (1 + epochs) + 0.1)}))
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    for line in series(ax):
        assert not Path(display_points(line)).intersects_bbox(legend, filled=False)


def test_a_legend_with_no_free_corner_goes_outside_the_axes():
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    x = np.linspace(0, 1, 50)
    for i in range(3):  # lines criss-crossing every corner
        ax.plot(x, np.sin(12 * x + i), label=f"wave {i}")
    ax.plot([0, 1], [1, -1], label="diagonal")
    ax.plot([0, 1], [-1, 1], label="other diagonal")
    viz.place_legend(ax)
    drawn(fig)
    assert ax.get_legend().get_window_extent().x0 >= ax.bbox.x1


def test_race_legend_is_beside_every_panel():
    fig = drawn(viz.plot_race(_bowl, *_paths_2d(5), bounds=BOWL_BOUNDS, resolution=20))
    (legend,) = fig.legends
    box = legend.get_window_extent()
    assert all(not box.overlaps(ax.bbox) for ax in fig.axes)
    assert [text.get_text() for text in legend.get_texts()] == [line.get_label() for line in series(fig.axes[-1])]


def test_race_legend_leaves_a_long_title_readable():
    """Eleven optimizers and a long title (example 06's Rosenbrock): the legend must not cover the title's end."""
    title = "rosenbrock: (1 - x)**2 + 100*(y - x**2)**2, 11 optimizers, 150 steps from (-1.5, 2.0)"
    names = ["SGD", "SGD+momentum", "Momentum (EMA)", "RMSprop", "Adagrad", "Adam", "AdamW", "NAdam", "RAdam",
             "Adafactor", "Lion"]
    paths = [surfaces.descend(surfaces.rosenbrock, lambda p: optim.SGD(p, lr=1e-4), (-1.5, 2.0), 3,
                              label=f"{name} (lr 0.001)") for name in names]
    fig = drawn(viz.plot_race(surfaces.rosenbrock, *paths, resolution=20, title=title))
    (legend,) = fig.legends
    assert not legend.get_window_extent().overlaps(fig._suptitle.get_window_extent())


# -- a constant rate is a note, a changing rate an axis -------------------------------------------


def test_constant_rate_is_a_note_in_the_title_not_a_twin_axis():
    history = {"train_loss": [3.0, 2.0, 1.0], "lr": [0.1, 0.1, 0.1]}
    fig = viz.plot_history(history)
    assert len(fig.axes) == 1
    assert "lr = 0.1 (constant)" in fig.axes[0].get_title()
    assert [line.get_label() for line in fig.axes[0].lines] == ["train_loss"]
    given = Figure().add_subplot()
    viz.plot_history(history, ax=given)
    assert len(given.figure.axes) == 1


def test_changing_rate_keeps_its_twin_axis():
    history = {"train_loss": [3.0, 2.0, 1.0], "lr": [0.1, 0.1, 0.01]}
    fig = viz.plot_history(history)
    assert len(fig.axes) == 2 and "constant" not in fig.axes[0].get_title()
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.1, 0.1, 0.01])


def test_demo_loss_curve_has_no_flat_rate_axis(tmp_path, monkeypatch):
    from tinygrad_edu import cli

    made = []
    original = viz.plot_history
    monkeypatch.setattr(viz, "plot_history", lambda *a, **k: made.append(original(*a, **k)) or made[-1])
    cli.demo_linear(str(tmp_path))
    (fig,) = made
    assert len(fig.axes) == 1 and "lr = 0.1 (constant)" in fig.axes[0].get_title()


def test_demo_3d_surface_shows_the_contours_optimizers():
    from tinygrad_edu import cli

    surface, paths = cli._surface_paths()
    contour = viz.plot_contour(surface, *paths, resolution=30)
    solid = viz.plot_surface_3d(surface, *paths, resolution=15)
    names = [path.name for path in paths]
    assert [line.get_label() for line in series(contour.axes[0])] == names
    assert [line.get_label() for line in series(solid.axes[0])] == names
    assert looks(series(contour.axes[0])) == looks(series(solid.axes[0]))
    assert len(set(looks(series(solid.axes[0])))) == 3


# -- the race: small multiples --------------------------------------------------------------------


def test_race_has_one_panel_per_optimizer_with_the_same_window_and_a_log_loss_panel():
    makers = {"SGD": lambda p: optim.SGD(p, lr=1e-3), "Adam": lambda p: optim.Adam(p, lr=0.05),
              "Lion": lambda p: optim.Lion(p, lr=0.01)}
    paths = [surfaces.descend(surfaces.rosenbrock, make, (-1.5, 2.0), 20, label=name) for name, make in makers.items()]
    fig = viz.plot_race(surfaces.rosenbrock, *paths, resolution=30)
    assert len(fig.axes) == len(paths) + 1
    *panels, loss_ax = fig.axes
    for ax, path in zip(panels, paths):
        assert ax.get_xlim() == surfaces.rosenbrock.bounds[0] and ax.get_ylim() == surfaces.rosenbrock.bounds[1]
        assert ax.get_title().startswith(path.name) and len(ax.collections) > 0  # contours in every panel
    assert loss_ax.get_yscale() == "log" and loss_ax.get_xlabel() == "step"
    for line, path in zip(series(loss_ax), paths):
        np.testing.assert_allclose(line.get_ydata(), path.losses)
    assert "3 optimizers" in fig.get_suptitle()


def test_race_of_a_saddle_uses_symlog_and_refuses_log_y():
    path = surfaces.descend(surfaces.saddle, lambda p: optim.SGD(p, lr=0.1), (-1.5, 1e-3), 30)
    assert viz.plot_race(surfaces.saddle, path, resolution=20).axes[-1].get_yscale() == "symlog"
    with pytest.raises(ValueError, match="log_y"):
        viz.plot_race(surfaces.saddle, path, log_y=True)
    with pytest.raises(ValueError, match="no paths"):
        viz.plot_race(surfaces.saddle)


def test_the_race_example_draws_small_multiples(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path as FilePath

    spec = importlib.util.spec_from_file_location(
        "race", FilePath(__file__).resolve().parents[1] / "examples" / "06_optimizer_race.py")
    race = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(race)
    made = []
    monkeypatch.setattr(race.viz, "plot_race", lambda *a, **k: made.append(a) or Figure())
    monkeypatch.setattr(race.viz, "save_figure", lambda *a, **k: None)
    monkeypatch.setattr(race, "RACES", {"ravine": ((-8.0, 2.0), 5, {"SGD": 0.018, "Adam": 0.5, "Lion": 0.05})})
    race.run(str(tmp_path), quick=True)
    (args,) = made
    assert len(args) == 1 + 3  # the surface, then one path per optimizer


# -- text big enough to read from the back --------------------------------------------------------

FIGURES = {
    "compare_losses": lambda: viz.compare_losses({"a": [3.0, 2.0, 1.0], "b": [2.5, 1.5, 1.2]}),
    "plot_history": lambda: viz.plot_history({"train_loss": [3.0, 2.0], "val_loss": [3.1, 2.5], "acc": [0.1, 0.5],
                                              "lr": [0.1, 0.05]}),
    "plot_lr_schedule": lambda: viz.plot_lr_schedule(lambda opt: StepLR(opt, step_size=3), 10),
    "plot_path_1d": lambda: viz.plot_path_1d(surfaces.parabola, np.linspace(4, -1, 6)),
    "plot_contour": lambda: viz.plot_contour(_bowl, *_paths_2d(2), bounds=BOWL_BOUNDS, resolution=20),
    "plot_surface_3d": lambda: viz.plot_surface_3d(_bowl, *_paths_2d(2), bounds=BOWL_BOUNDS, resolution=10),
    "plot_race": lambda: viz.plot_race(_bowl, *_paths_2d(2), bounds=BOWL_BOUNDS, resolution=20),
    "plot_sweep": lambda: viz.plot_sweep([{"lr": 0.01, "val_loss": 1.0}, {"lr": 0.1, "val_loss": 0.5}], x="lr"),
    "animate_path": lambda: viz.animate_path(surfaces.parabola, np.linspace(4, -1, 4))._fig,
    "plot_graph": lambda: viz.plot_graph(tg.tensor(2.0, requires_grad=True) * 3),
}

#: Titles and axis labels at least this size (points), tick labels and legends at least `MIN_FONT_PT`.
TITLE_PT = 14.0


@pytest.mark.parametrize("name", list(FIGURES))
def test_text_is_big_enough_to_read_when_projected(name):
    fig = drawn(FIGURES[name]())
    assert fig.axes
    for ax in fig.axes:
        if ax.get_title():
            assert ax.title.get_fontsize() >= TITLE_PT, ax.get_title()
        if not ax.axison:
            continue
        labels = [ax.xaxis.label, ax.yaxis.label] + ([ax.zaxis.label] if hasattr(ax, "zaxis") else [])
        assert all(label.get_fontsize() >= TITLE_PT for label in labels if label.get_text())
        ticks = [t for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
        assert ticks and all(t.get_fontsize() >= _style.MIN_FONT_PT for t in ticks)
        if ax.get_legend() is not None:
            assert all(t.get_fontsize() >= _style.MIN_FONT_PT for t in ax.get_legend().get_texts())
    for legend in fig.legends:
        assert all(t.get_fontsize() >= _style.MIN_FONT_PT for t in legend.get_texts())


def test_every_example_and_demo_that_builds_its_own_figure_draws_it_in_the_style():
    """A figure made with matplotlib directly (not by a tg.viz function) must be built inside ``viz.styled``."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [*sorted((root / "examples").glob("[0-9][0-9]_*.py")),
               *sorted((root / "tinygrad_edu" / "demos").glob("*.py"))]
    unstyled = [path.name for path in sources
                if ("Figure(" in path.read_text() or ".subplots(" in path.read_text())
                and "styled" not in path.read_text()]
    assert not unstyled, f"figures built outside tg.viz's style in: {unstyled}"
