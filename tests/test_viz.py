"""tg.viz: every picture renders, holds the artists it should, and fails clearly on bad input."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import optim, viz  # noqa: E402
from tinygrad_edu.optim.lr_scheduler import ReduceLROnPlateau, StepLR  # noqa: E402
from tinygrad_edu.train import History  # noqa: E402

surfaces = tg.surfaces

# matplotlib warns when an Animation that never played is garbage-collected: here some are only inspected.
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


# -- helpers ---------------------------------------------------------------------------------------


def render(fig: Figure) -> np.ndarray:
    """The figure drawn by Agg, as an (h, w, 4) uint8 array."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def changed_pixels(fig: Figure) -> int:
    """How many pixels differ from a blank figure of the same size and resolution."""
    image = render(fig)
    blank = render(Figure(figsize=fig.get_size_inches(), dpi=fig.dpi))
    assert image.shape == blank.shape
    return int((image != blank).any(axis=-1).sum())


def assert_drawn(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    pixels = fig.canvas.get_width_height()
    # At least 3% of the canvas carries ink: axes, curves, labels.
    assert changed_pixels(fig) > 0.03 * pixels[0] * pixels[1]


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def parabola_path():
    """The sources' 1-D demo: x from 5.0 with lr 0.2, 15 steps."""
    return surfaces.descend(surfaces.parabola, lambda p: optim.SGD(p, lr=0.2), start=5.0, steps=15)


def quadratic_path():
    """The sources' 2-D demo: from (4, 4) with lr 0.1, 30 steps."""
    return surfaces.descend(surfaces.quadratic, lambda p: optim.SGD(p, lr=0.1), start=(4, 4), steps=30)


def diverged_path():
    path = surfaces.descend(surfaces.rosenbrock, lambda p: optim.SGD(p, lr=0.01), start=(-1.5, 2.0), steps=60,
                            label="SGD too fast")
    assert path.diverged and not np.isfinite(path.points).all()  # the premise of the tests that use it
    return path


def make_history(epochs: int = 12) -> History:
    history = History()
    for epoch in range(epochs):  # numbered from 0, as fit numbers them
        k = epoch + 1
        history.append(epoch, {"train_loss": 1.0 / k, "val_loss": 1.1 / k + 0.01 * k,
                               "lr": 0.1 * 0.9 ** k, "accuracy": 1 - 1 / (k + 1),
                               "val_accuracy": 1 - 1.2 / (k + 1)})
    return history


class FakeSurface:
    """A 2-D bowl shaped like tg.surfaces' objects but returning plain arrays, with no .dim and no .name."""

    bounds = ((-3.0, 3.0), (-2.0, 2.0))
    minima = [(1.0, -0.5)]

    def __call__(self, x, y):
        return (np.asarray(x) - 1.0) ** 2 + 2.0 * (np.asarray(y) + 0.5) ** 2


class FakePath:
    def __init__(self, points, name):
        self.points = np.asarray(points, dtype=float)
        self.name = name


# -- the lazy import -------------------------------------------------------------------------------


def test_import_tinygrad_edu_does_not_import_matplotlib_but_tg_viz_does(tmp_path):
    code = (
        "import sys\n"
        "import tinygrad_edu as tg\n"
        "assert 'matplotlib' not in sys.modules, 'import tinygrad_edu imported matplotlib'\n"
        "viz = tg.viz\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert viz.plot_graph is sys.modules['tinygrad_edu.viz'].plot_graph\n"
        "x = tg.tensor(2.0, requires_grad=True)\n"
        "viz.plot_graph(x * x).savefig(sys.argv[1])\n"
        "viz.plot_contour(tg.surfaces.quadratic).savefig(sys.argv[1])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'tg.viz imported pyplot'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "picture.png")],
                            capture_output=True, text=True, timeout=120,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_unknown_attribute_of_the_package_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        tg.no_such_thing  # noqa: B018


# -- every function draws something ----------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda: viz.plot_history(make_history()),
    lambda: viz.plot_lr_schedule(lambda opt: StepLR(opt, step_size=5, gamma=0.5), 30),
    lambda: viz.compare_losses({"SGD": [1.0, 0.5, 0.3, 0.2], "Adam": [1.0, 0.3, 0.1, 0.05]}),
    lambda: viz.plot_path_1d(surfaces.parabola, parabola_path()),
    lambda: viz.plot_contour(surfaces.quadratic, quadratic_path()),
    lambda: viz.plot_surface_3d(surfaces.quadratic, quadratic_path()),
    lambda: viz.animate_path(surfaces.parabola, parabola_path())._fig,
    lambda: viz.plot_graph((tg.tensor([1.0, 2.0], requires_grad=True) * 3).sum()),
], ids=["history", "lr_schedule", "compare_losses", "path_1d", "contour", "surface_3d", "animation", "graph"])
def test_every_function_draws_a_non_empty_picture(build):
    fig = build()
    assert_drawn(fig)


# -- plot_history ----------------------------------------------------------------------------------


def test_plot_history_draws_losses_rate_on_a_twin_axis_and_metrics():
    history = make_history()
    fig = viz.plot_history(history)
    loss_ax, metric_ax, lr_ax = fig.axes  # the twin axis is added last
    assert [line.get_label() for line in loss_ax.lines] == ["train_loss", "val_loss"]
    assert [line.get_label() for line in lr_ax.lines] == ["lr"]
    assert [line.get_label() for line in metric_ax.lines] == ["accuracy", "val_accuracy"]
    np.testing.assert_allclose(loss_ax.lines[0].get_xdata(), history.epoch)
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), history["val_loss"])
    np.testing.assert_allclose(lr_ax.lines[0].get_ydata(), history["lr"])
    assert legend_labels(loss_ax) == ["train_loss", "val_loss", "lr"]


def test_plot_history_into_a_given_axes_and_without_metrics():
    fig = Figure()
    ax = fig.add_subplot()
    assert viz.plot_history(make_history(), ax=ax) is fig
    assert len(ax.lines) == 2 and len(fig.axes) == 2  # losses, and the rate's twin axis
    fig = viz.plot_history(make_history(), metrics=False)
    assert len(fig.axes) == 2
    fig = viz.plot_history({"train_loss": [3.0, 2.0, 1.0]})  # a plain dict: epochs 0, 1, 2, as a History's
    assert len(fig.axes) == 1
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), [0, 1, 2])


def test_plotting_lives_only_in_viz_history_and_lr_find_delegate_to_it(monkeypatch):
    from pathlib import Path

    train_dir = Path(tg.__file__).parent / "train"
    for source in train_dir.glob("*.py"):
        text = source.read_text()
        pattern = r"^\s*(?:from|import) matplotlib|\.(?:add_subplot|twinx|set_xscale|set_ylim|axvline|savefig)\("
        drawing = re.findall(pattern, text, re.M)
        assert not drawing, f"{source.name} draws by itself ({drawing}); plotting belongs in tg.viz"
    calls = []
    monkeypatch.setattr(viz, "plot_history", lambda history, **kw: calls.append(("history", history, kw)) or "fig")
    monkeypatch.setattr(viz, "plot_lr_find", lambda result, ax, **kw: calls.append(("lr_find", result, kw)) or "fig")
    history = make_history()
    assert history.plot(title="t") == "fig"
    result = tg.train.LRFinderResult(lrs=np.array([1e-3, 1e-2]), losses=np.ones(2), raw_losses=np.ones(2),
                                     suggestion=None)
    assert result.plot(skip_end=1, title="range test") == "fig"
    assert calls == [("history", history, {"ax": None, "title": "t"}),
                     ("lr_find", result, {"skip_end": 1, "title": "range test"})]


def test_plot_lr_find_marks_the_suggestion_and_skips_the_end():
    lrs = np.logspace(-5, 0, 30)
    losses = np.concatenate([np.linspace(2.0, 0.5, 25), [0.6, 1.0, 3.0, 10.0, 50.0]])
    result = tg.train.LRFinderResult(lrs=lrs, losses=losses, raw_losses=losses * 1.1, suggestion=float(lrs[12]),
                                     suggestion_index=12)
    fig = viz.plot_lr_find(result, skip_end=3, title="range test")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "range test"
    smoothed = [line for line in ax.lines if line.get_label() == "smoothed loss"][0]
    np.testing.assert_allclose(smoothed.get_xdata(), lrs[:-3])
    marker = [line for line in ax.lines if line.get_label().startswith("suggestion")][0]
    assert marker.get_xdata()[0] == lrs[12] and marker.get_ydata()[0] == losses[12]
    assert ax.get_ylim()[1] < 50.0  # the blow-up does not flatten the curve
    with pytest.raises(TypeError, match="lr_find"):
        viz.plot_lr_find({"lrs": lrs})
    with pytest.raises(ValueError, match="skip_end"):
        viz.plot_lr_find(result, skip_end=-1)


def test_plot_history_bad_input_names_it():
    with pytest.raises(TypeError, match="list"):
        viz.plot_history([1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        viz.plot_history(History())
    with pytest.raises(KeyError, match="f1"):
        viz.plot_history(make_history(), metrics=["f1"])
    with pytest.raises(ValueError, match="lengths"):
        viz.plot_history({"train_loss": [1.0, 2.0], "val_loss": [1.0]})


# -- plot_lr_schedule ------------------------------------------------------------------------------


def test_plot_lr_schedule_from_a_factory_draws_the_schedule_values():
    fig = viz.plot_lr_schedule(lambda opt: StepLR(opt, step_size=2, gamma=0.5), 6, lr=1.0)
    (line,) = fig.axes[0].lines
    np.testing.assert_allclose(line.get_xdata(), np.arange(6))
    np.testing.assert_allclose(line.get_ydata(), [1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    assert fig.axes[0].get_title() == "StepLR"


def test_plot_lr_schedule_of_a_live_scheduler_leaves_it_as_it_was():
    optimizer = optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.4)
    scheduler = StepLR(optimizer, step_size=3, gamma=0.1)
    scheduler.step()
    before = (scheduler.last_epoch, scheduler.get_last_lr(), optimizer.param_groups[0]["lr"])
    fig = viz.plot_lr_schedule(scheduler, 5)
    # Drawn from where the schedule stands (step 1 of 3 at 0.4), then put back.
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.4, 0.4, 0.04, 0.04, 0.04])
    assert (scheduler.last_epoch, scheduler.get_last_lr(), optimizer.param_groups[0]["lr"]) == before


def test_plot_lr_schedule_reduce_on_plateau_needs_the_metrics():
    factory = lambda opt: ReduceLROnPlateau(opt, factor=0.5, patience=1)  # noqa: E731
    with pytest.raises(ValueError, match="metrics="):
        viz.plot_lr_schedule(factory, 5)
    fig = viz.plot_lr_schedule(factory, 5, lr=0.1, metrics=[1.0, 0.9, 0.95, 0.93, 0.8])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.1, 0.1, 0.1, 0.1, 0.05])


def test_plot_lr_schedule_bad_input_names_it():
    with pytest.raises(ValueError, match="steps"):
        viz.plot_lr_schedule(lambda opt: StepLR(opt, step_size=2), 0)
    with pytest.raises(TypeError, match="int"):
        viz.plot_lr_schedule(3, 10)
    with pytest.raises(TypeError, match="scheduler"):
        viz.plot_lr_schedule(lambda opt: opt.param_groups, 10)


# -- compare_losses --------------------------------------------------------------------------------


def test_compare_losses_one_line_per_run_named_in_the_legend():
    sgd, adam = make_history(), [1.0 / e ** 2 for e in range(1, 13)]
    fig = viz.compare_losses({"SGD lr=0.05": sgd, "Adam lr=0.01": adam}, log_y=True)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    assert legend_labels(ax) == ["SGD lr=0.05", "Adam lr=0.01"]
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sgd["train_loss"])
    np.testing.assert_allclose(ax.lines[1].get_xdata(), np.arange(1, 13))  # a plain list: epochs 1..n


def test_compare_losses_of_paths_and_a_diverged_run():
    paths = [quadratic_path(), diverged_path()]
    fig = viz.compare_losses(paths)
    ax = fig.axes[0]
    labels = legend_labels(ax)
    assert labels[0] == "SGD"
    assert labels[1].startswith("SGD too fast (diverged")
    ydata = np.asarray(ax.lines[1].get_ydata(), dtype=float)
    n_finite = len(paths[1].finite_points())
    assert np.isfinite(ydata[:n_finite]).all() and np.isnan(ydata[n_finite:]).all()
    assert_drawn(fig)


def test_compare_losses_bad_input_names_it():
    with pytest.raises(ValueError, match="no runs"):
        viz.compare_losses({})
    with pytest.raises(ValueError, match="'Adam'"):
        viz.compare_losses({"SGD": [1.0, 0.5], "Adam": [1.0, -0.5]}, log_y=True)
    with pytest.raises(KeyError, match="val_loss"):
        viz.compare_losses({"run": {"train_loss": [1.0]}}, key="val_loss")
    with pytest.raises(TypeError, match="dict"):
        viz.compare_losses(3.0)
    with pytest.raises(TypeError, match="'name': history"):
        viz.compare_losses(make_history())


# -- plot_path_1d ----------------------------------------------------------------------------------


def test_plot_path_1d_draws_the_curve_and_every_step_with_arrows_and_numbers():
    path = parabola_path()
    fig = viz.plot_path_1d(surfaces.parabola, path)
    ax = fig.axes[0]
    curve, drawn = ax.lines  # the curve, then one line per path
    np.testing.assert_allclose(drawn.get_xdata(), path.points[:, 0])
    np.testing.assert_allclose(drawn.get_ydata(), path.losses)
    # The curve is the surface itself: x^2 + 2x + 1.
    x = np.asarray(curve.get_xdata())
    np.testing.assert_allclose(curve.get_ydata(), x ** 2 + 2 * x + 1, rtol=1e-5, atol=1e-5)
    assert len(ax.patches) == 15  # one arrow per step
    numbers = [int(text.get_text()) for text in ax.texts]
    assert numbers[0] == 0 and numbers == sorted(numbers) and len(numbers) >= 5
    assert set(legend_labels(ax)) == {"SGD", "minimum"}


def test_plot_path_1d_several_paths_and_label_limit():
    slow = surfaces.descend(surfaces.parabola, lambda p: optim.SGD(p, lr=0.01), start=-4.0, steps=100, label="slow")
    fig = viz.plot_path_1d(surfaces.parabola, parabola_path(), slow, max_labels=5)
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert len(ax.texts) <= 5 + 5
    assert len(ax.patches) == 15  # the 100-step path is too long for arrows
    assert set(legend_labels(ax)) == {"SGD", "slow", "minimum"}


def test_plot_path_1d_diverged_path_is_drawn_up_to_its_last_finite_point():
    path = surfaces.descend(surfaces.parabola, lambda p: optim.SGD(p, lr=1.5), start=5.0, steps=2000,
                            label="lr 1.5")
    assert path.diverged
    fig = viz.plot_path_1d(surfaces.parabola, path)
    ax = fig.axes[0]
    n_finite = len(path.finite_points())
    assert len(ax.lines[1].get_xdata()) == n_finite
    (label,) = [text for text in legend_labels(ax) if text.startswith("lr 1.5")]
    assert label == f"lr 1.5 (diverged after step {n_finite - 1})"
    assert "diverged" in ax.get_title()
    assert_drawn(fig)


def test_plot_path_1d_rejects_a_2d_surface_and_a_2d_path():
    with pytest.raises(ValueError, match="'quadratic'.*2-D"):
        viz.plot_path_1d(surfaces.quadratic, quadratic_path())
    with pytest.raises(ValueError, match=r"'SGD'.*\(31, 2\)"):
        viz.plot_path_1d(surfaces.parabola, quadratic_path())
    with pytest.raises(TypeError, match="callable"):
        viz.plot_path_1d("parabola")


def test_plot_path_1d_accepts_a_plain_function_with_bounds_and_an_array_path():
    fig = viz.plot_path_1d(lambda x: (x - 1) ** 2, [3.0, 2.0, 1.5, 1.25], bounds=(-1, 4))
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and legend_labels(ax) == ["path 1"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [4.0, 1.0, 0.25, 0.0625])
    with pytest.raises(ValueError, match="bounds"):
        viz.plot_path_1d(lambda x: x ** 2, bounds=(2, 1))


# -- plot_contour ----------------------------------------------------------------------------------


def test_plot_contour_one_line_per_path_legend_names_and_minima():
    make = {"SGD": lambda p: optim.SGD(p, lr=1e-3), "Momentum": lambda p: optim.SGD(p, lr=1e-3, momentum=0.9),
            "Adam": lambda p: optim.Adam(p, lr=0.05)}
    paths = [surfaces.descend(surfaces.rosenbrock, m, start=(-1.5, 2.0), steps=100, label=name)
             for name, m in make.items()]
    fig = viz.plot_contour(surfaces.rosenbrock, *paths)
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert legend_labels(ax) == ["minimum", "SGD", "Momentum", "Adam"]
    for line, path in zip(ax.lines, paths):
        np.testing.assert_allclose(line.get_xydata(), path.points)
    colors = {line.get_color() for line in ax.lines}
    assert len(colors) == 3
    assert ax.get_xlim() == surfaces.rosenbrock.bounds[0] and ax.get_ylim() == surfaces.rosenbrock.bounds[1]
    assert_drawn(fig)


def test_plot_contour_with_a_diverged_path_notes_it():
    good, bad = quadratic_path(), diverged_path()
    fig = viz.plot_contour(surfaces.rosenbrock, good, bad, levels=10)
    ax = fig.axes[0]
    n_finite = len(bad.finite_points())
    assert len(ax.lines[1].get_xdata()) == n_finite < len(bad.points)
    assert f"SGD too fast (diverged after step {n_finite - 1})" in legend_labels(ax)
    assert "diverged" in ax.get_title()
    assert_drawn(fig)


def test_plot_contour_of_a_duck_typed_surface_and_explicit_levels():
    path = FakePath([[-2.0, 1.5], [0.0, 0.5], [1.0, -0.5]], name="by hand")
    fig = viz.plot_contour(FakeSurface(), path, levels=[0.5, 1.0, 2.0, 4.0, 8.0])
    ax = fig.axes[0]
    assert legend_labels(ax) == ["minimum", "by hand"]
    assert ax.get_title() == "FakeSurface"
    assert_drawn(fig)


def test_plot_contour_rejects_a_1d_surface_and_mismatched_paths():
    with pytest.raises(ValueError, match="'parabola'.*1-D"):
        viz.plot_contour(surfaces.parabola, parabola_path())
    with pytest.raises(ValueError, match=r"'SGD'.*\(16, 1\)"):
        viz.plot_contour(surfaces.quadratic, parabola_path())
    with pytest.raises(ValueError, match="levels"):
        viz.plot_contour(surfaces.quadratic, levels=1)


# -- plot_surface_3d -------------------------------------------------------------------------------


def test_plot_surface_3d_lifts_the_path_onto_the_surface():
    path = quadratic_path()
    fig = viz.plot_surface_3d(surfaces.quadratic, path)
    ax = fig.axes[0]
    assert ax.name == "3d"
    (line,) = ax.lines
    xs, ys, zs = (np.asarray(v, dtype=float) for v in line.get_data_3d())
    np.testing.assert_allclose(np.stack([xs, ys], axis=1), path.points)
    np.testing.assert_allclose(zs, path.losses)  # each point at its loss: on the surface
    assert ax.get_xlim() == (-5.0, 5.0) and ax.get_ylim() == (-5.0, 5.0)  # the sources' window
    assert set(legend_labels(ax)) == {"SGD", "minimum"}
    assert_drawn(fig)


def test_plot_surface_3d_with_a_diverged_path_and_bad_axes():
    fig = viz.plot_surface_3d(surfaces.rosenbrock, diverged_path())
    ax = fig.axes[0]
    assert any("diverged after step" in label for label in legend_labels(ax))
    assert_drawn(fig)
    flat = Figure().add_subplot()
    with pytest.raises(ValueError, match="3-D Axes"):
        viz.plot_surface_3d(surfaces.quadratic, ax=flat)
    with pytest.raises(ValueError, match="1-D"):
        viz.plot_surface_3d(surfaces.parabola)


# -- animate_path and save_gif ---------------------------------------------------------------------


def gif_frames(path: str) -> tuple[int, list[int]]:
    with Image.open(path) as image:
        durations = []
        for i in range(image.n_frames):
            image.seek(i)
            durations.append(image.info["duration"])
        return image.n_frames, durations


def test_animate_1d_path_gif_has_one_frame_per_step_at_2_fps(tmp_path):
    path = parabola_path()
    animation = viz.animate_path(surfaces.parabola, path, fps=2, figsize=(4, 3))
    assert len(list(animation.new_saved_frame_seq())) == len(path.points) == 16
    target = tmp_path / "descent.gif"
    assert viz.save_gif(animation, target, dpi=50) == str(target)
    count, durations = gif_frames(str(target))
    assert count == 16
    assert durations == [500] * 16  # 1000 / fps milliseconds
    assert os.listdir(tmp_path) == ["descent.gif"]  # no temporary file left behind


def test_animate_2d_path_gif_at_4_fps_to_exactly_the_given_name(tmp_path):
    path = quadratic_path()
    animation = viz.animate_path(surfaces.quadratic, path, fps=4, figsize=(4, 3), resolution=60)
    target = tmp_path / "path.animation"  # no .gif suffix: still written to exactly this name
    target.write_bytes(b"old content")
    viz.save_gif(animation, str(target), dpi=50)
    count, durations = gif_frames(str(target))
    assert count == len(path.points) == 31
    assert set(durations) == {250}
    assert os.listdir(tmp_path) == ["path.animation"]


def test_animate_a_diverged_path_keeps_one_frame_per_step(tmp_path):
    path = surfaces.descend(surfaces.parabola, lambda p: optim.SGD(p, lr=1.2), start=5.0, steps=12)
    fake = FakePath(np.concatenate([path.points, [[math.inf], [math.nan]]]), name="exploding")
    animation = viz.animate_path(surfaces.parabola, fake, fps=5, figsize=(4, 3))
    target = tmp_path / "boom.gif"
    viz.save_gif(animation, target, dpi=40)
    count, durations = gif_frames(str(target))
    assert count == len(fake.points) == 15
    assert set(durations) == {200}
    assert "diverged after step 12" in animation._fig.axes[0].get_title()  # the last frame drawn


def test_save_gif_bad_destinations_and_arguments_name_them(tmp_path):
    animation = viz.animate_path(surfaces.parabola, parabola_path(), figsize=(3, 2))
    missing = tmp_path / "no" / "such" / "dir" / "a.gif"
    with pytest.raises(FileNotFoundError, match="no/such/dir"):
        viz.save_gif(animation, missing)
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    with pytest.raises(NotADirectoryError, match="file.txt"):
        viz.save_gif(animation, not_a_dir / "a.gif")
    with pytest.raises(IsADirectoryError, match=str(tmp_path.name)):
        viz.save_gif(animation, tmp_path)
    with pytest.raises(TypeError, match="Animation"):
        viz.save_gif(Figure(), tmp_path / "a.gif")
    with pytest.raises(ValueError, match="fps"):
        viz.save_gif(animation, tmp_path / "a.gif", fps=0)
    with pytest.raises(ValueError, match="fps"):
        viz.animate_path(surfaces.parabola, parabola_path(), fps=-2)
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_save_gif_permission_error_names_the_path(tmp_path, monkeypatch):
    # Root may write anywhere, so the refusal a student would meet is simulated where the file is created.
    import tinygrad_edu._files as files_module  # where every temporary file of the library is made

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    animation = viz.animate_path(surfaces.parabola, parabola_path(), figsize=(3, 2))
    monkeypatch.setattr(files_module, "_create_temporary", refuse)
    with pytest.raises(PermissionError, match="save_gif: .*Permission denied.*a.gif"):
        viz.save_gif(animation, tmp_path / "a.gif")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere")
def test_save_gif_to_an_unwritable_directory_names_it(tmp_path):
    animation = viz.animate_path(surfaces.parabola, parabola_path(), figsize=(3, 2))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="locked"):
            viz.save_gif(animation, locked / "a.gif")
    finally:
        locked.chmod(0o700)


# -- plot_graph ------------------------------------------------------------------------------------


def graph_boxes(fig: Figure) -> list[str]:
    ax = fig.axes[0]
    assert all(text.get_bbox_patch() is not None for text in ax.texts)
    return [text.get_text() for text in ax.texts]


def test_plot_graph_one_box_per_leaf_and_operation_with_grads_after_backward():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0], requires_grad=True)
    c = tg.tensor(0.5, requires_grad=True)
    out = ((a * b) + c).sum()
    fig = viz.plot_graph(out, names={"a": a, "b": b, "c": c})
    boxes = graph_boxes(fig)
    assert len(boxes) == 6  # 3 leaves + 3 operations
    assert len(fig.axes[0].patches) == 5  # a->Mul, b->Mul, Mul->Add, c->Add, Add->Sum
    assert sorted(box.splitlines()[0] for box in boxes) == ["Add", "Mul", "Sum", "a (leaf)", "b (leaf)", "c (leaf)"]
    assert not any("grad" in box for box in boxes)
    assert any("out: 12" in box for box in boxes)  # (1*3 + 0.5) + (2*4 + 0.5)
    assert_drawn(fig)

    out.backward()
    boxes = graph_boxes(viz.plot_graph(out, names={"a": a, "b": b, "c": c}))
    by_name = {box.splitlines()[0]: box for box in boxes}
    assert "grad: [3., 4.]" in by_name["a (leaf)"]  # d/da sum(a*b + c) = b
    assert "grad: [1., 2.]" in by_name["b (leaf)"]
    assert "grad: 2" in by_name["c (leaf)"]  # c is broadcast over 2 elements
    assert sum("grad" in box for box in boxes) == 3  # the intermediate results keep no grad


def test_plot_graph_repeated_input_constants_and_shapes():
    x = tg.tensor(3.0, requires_grad=True)
    fig = viz.plot_graph(x * x)
    assert len(graph_boxes(fig)) == 2 and len(fig.axes[0].patches) == 2  # one arrow per use of x
    w = tg.randn(3, 4, requires_grad=True)
    boxes = graph_boxes(viz.plot_graph((w * 2.0).relu().sum()))
    assert len(boxes) == 5  # w, the constant 2, Mul, Relu, Sum
    assert any("shape (3, 4)" in box for box in boxes)
    assert any(box.startswith("const") for box in boxes)
    leaf_only = graph_boxes(viz.plot_graph(tg.tensor([1.0, 2.0])))
    assert leaf_only == ["const\n[1., 2.]"]


def test_plot_graph_walks_deep_graphs_without_recursion():
    x = tg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(1500):  # deeper than Python's default recursion limit of 1000
        y = y * 1.0001
    with pytest.raises(ValueError, match="max_nodes=50"):
        viz.plot_graph(y, max_nodes=50)
    fig = viz.plot_graph(y, max_nodes=10_000)
    assert len(fig.axes[0].texts) == 1500 + 1500 + 1  # every Mul, its constant, and x
    assert len(fig.axes[0].patches) == 1500 + 1500


def test_plot_graph_bad_input_names_it():
    with pytest.raises(TypeError, match="ndarray"):
        viz.plot_graph(np.ones(3))
    x = tg.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="names\\['w'\\]"):
        viz.plot_graph(x * 2, names={"w": 3.0})


def test_save_figure_writes_atomically_and_keeps_an_old_file_on_failure(tmp_path):
    path = tmp_path / "curve.png"
    assert viz.save_figure(viz.plot_path_1d(surfaces.parabola), path) == str(path)
    with open(path, "rb") as handle:
        assert handle.read(8).startswith(b"\x89PNG")
    before = path.read_bytes()

    class Broken:  # a Figure whose drawing fails halfway
        pass

    figure = viz.plot_path_1d(surfaces.parabola)
    figure.savefig = lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("drawing failed"))
    with pytest.raises(RuntimeError, match="drawing failed"):
        viz.save_figure(figure, path)
    assert path.read_bytes() == before                       # the old picture is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]  # no temporary file left
    with pytest.raises(TypeError, match="expected a matplotlib Figure"):
        viz.save_figure(Broken(), tmp_path / "x.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.save_figure(viz.plot_path_1d(surfaces.parabola), tmp_path / "missing" / "x.png")
