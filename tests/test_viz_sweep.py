"""tg.viz.plot_sweep: the final result against the swept value, the curves beside it, and clear errors."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import viz  # noqa: E402
from tinygrad_edu.train import History, SweepResult  # noqa: E402


def history(values, lr):
    h = History()
    for epoch, value in enumerate(values):
        h.append(epoch, {"train_loss": value * 1.1, "val_loss": value, "lr": lr})
    return h


def rows_with_curves():
    """Two optimizers x three rates, two seeds at lr 0.1; one failed and one blown-up run."""
    curves = {
        ("SGD", 0.01, 0): [1.0, 0.9, 0.8], ("SGD", 0.1, 0): [1.0, 0.5, 0.3], ("SGD", 0.1, 1): [1.0, 0.6, 0.5],
        ("Adam", 0.01, 0): [1.0, 0.4, 0.2], ("Adam", 0.1, 0): [1.0, 0.3, 0.1], ("Adam", 0.1, 1): [1.0, 0.2, 0.1],
        ("Adam", 1.0, 0): [1.0, 50.0, 1e6],
    }
    rows = []
    for (optimizer, lr, seed), values in curves.items():
        rows.append({"optimizer": optimizer, "lr": lr, "seed": seed, "train_loss": values[-1] * 1.1,
                     "val_loss": values[-1], "final_lr": lr, "history": history(values, lr)})
    rows.append({"optimizer": "SGD", "lr": 1.0, "seed": 0, "error": "ValueError: nan", "traceback": "..."})
    return SweepResult(rows)


def render(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_final_loss_against_the_rate_with_the_mean_over_seeds_and_the_curves():
    rows = rows_with_curves()
    fig = viz.plot_sweep(rows, x="lr", y="val_loss", hue="optimizer")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    left, right = fig.axes
    assert left.get_xscale() == "log" and left.get_xlabel() == "lr" and left.get_ylabel() == "val_loss"
    lines = lines_by_label(left)
    # The line through the means at each rate, computed here from the rows.
    sgd = lines["optimizer=SGD"]
    assert sgd.get_xdata().tolist() == [0.01, 0.1]
    assert np.allclose(sgd.get_ydata(), [0.8, np.mean([0.3, 0.5])])
    adam = lines["optimizer=Adam"]
    assert adam.get_xdata().tolist() == [0.01, 0.1, 1.0]
    assert np.allclose(adam.get_ydata(), [0.2, 0.1, 1e6])
    # The blown-up run at lr 1 is on its line, but the axis leaves it out and a triangle marks it at the top;
    # the failed SGD run at lr 1 is a red x.
    assert lines["val_loss above the axis"].get_xdata().tolist() == [1.0]
    assert left.get_ylim()[1] < 1.0
    assert lines["failed or diverged"].get_xdata().tolist() == [1.0]
    # Curves: one per run that kept a history, its values, labelled by its point.
    curves = lines_by_label(right)
    assert len(curves) == 7 and right.get_ylabel() == "val_loss"
    assert curves["lr=0.1, optimizer=SGD, seed=1"].get_ydata().tolist() == [1.0, 0.6, 0.5]
    assert curves["lr=0.1, optimizer=SGD, seed=1"].get_xdata().tolist() == [0, 1, 2]
    assert right.get_ylim()[1] < 50  # the blown-up curve does not flatten the others
    assert render(fig).std() > 0


def test_categorical_x_and_a_dataframe():
    pandas = pytest.importorskip("pandas")
    rows = rows_with_curves()
    fig = viz.plot_sweep(rows.to_dataframe(), x="optimizer", y="train_loss", hue="lr", curve_key="train_loss",
                         log_y=True)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["SGD", "Adam"]
    assert left.get_xscale() == "linear" and left.get_yscale() == "log" and right.get_yscale() == "log"
    lines = lines_by_label(left)
    assert lines["lr=0.01"].get_xdata().tolist() == [0, 1]
    assert np.allclose(lines["lr=0.01"].get_ydata(), [0.88, 0.22])
    assert isinstance(pandas.DataFrame(rows), pandas.DataFrame)


def test_rows_without_histories_draw_one_panel_and_nan_is_a_failed_run():
    rows = [{"lr": 0.001, "loss": 2.0}, {"lr": 0.01, "loss": 1.0}, {"lr": 0.1, "loss": math.nan}]
    fig = viz.plot_sweep(rows, x="lr", y="loss")
    assert len(fig.axes) == 1
    lines = lines_by_label(fig.axes[0])
    assert lines["loss"].get_xdata().tolist() == [0.001, 0.01]
    assert lines["failed or diverged"].get_xdata().tolist() == [0.1]
    # Rates spanning less than a factor of 10 stay on a linear axis unless asked.
    assert viz.plot_sweep([{"lr": 0.1, "loss": 1}, {"lr": 0.2, "loss": 2}], x="lr", y="loss").axes[0].get_xscale() \
        == "linear"
    assert viz.plot_sweep([{"lr": 0.1, "loss": 1}, {"lr": 0.2, "loss": 2}], x="lr", y="loss",
                          log_x=True).axes[0].get_xscale() == "log"


def test_into_given_axes():
    rows = rows_with_curves()
    fig = Figure()
    ax, curves_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    assert viz.plot_sweep(rows, x="lr", ax=ax, curves_ax=curves_ax, title="rates") is fig
    assert ax.get_title() == "rates" and len(curves_ax.get_lines()) == 7
    only = Figure()
    ax = only.add_subplot()
    assert viz.plot_sweep(rows, x="lr", ax=ax) is only and len(only.axes) == 1


def test_a_real_sweep_plots():
    def train_fn(lr):
        x = tg.randn(32, 1)
        model = tg.nn.Linear(1, 1)
        return tg.train.fit(model, tg.nn.MSELoss(), tg.optim.SGD(model.parameters(), lr=lr), (x, 2 * x),
                            val=(x, 2 * x), epochs=5, progress=False)

    rows = tg.train.sweep(train_fn, {"lr": [0.01, 0.1, 0.5]}, progress=False)
    fig = viz.plot_sweep(rows, x="lr")
    assert lines_by_label(fig.axes[0])["val_loss"].get_ydata().tolist() == [row["val_loss"] for row in rows]
    assert len(fig.axes[1].get_lines()) == 3


@pytest.mark.parametrize("rows, kwargs, error, message", [
    ({"lr": [0.1]}, {"x": "lr"}, TypeError, "rows must be what tg.train.sweep returns"),
    ([], {"x": "lr"}, ValueError, "no rows to plot"),
    ([{"lr": 0.1}, 3], {"x": "lr", "y": "lr"}, TypeError, "row 1 must be a dict, got int"),
    ([{"lr": 0.1, "loss": 1.0}], {"x": "rate", "y": "loss"}, KeyError, "x='rate' is in no row; the rows have "
                                                                      "['lr', 'loss']"),
    ([{"lr": 0.1, "loss": 1.0}], {"x": "lr"}, KeyError, "y='val_loss' is in no row"),
    ([{"lr": 0.1, "loss": 1.0}], {"x": "lr", "y": "loss", "hue": "opt"}, KeyError, "hue='opt' is in no row"),
    ([{"lr": 0.1, "loss": 1.0}], {"x": "lr", "y": "loss", "curves": True}, ValueError, "no row has a 'history'"),
])
def test_bad_input_names_it(rows, kwargs, error, message):
    with pytest.raises(error) as info:
        viz.plot_sweep(rows, **kwargs)
    assert message in str(info.value)


def test_unknown_curve_key():
    with pytest.raises(KeyError, match="no history has 'accuracy'; they have"):
        viz.plot_sweep(rows_with_curves(), x="lr", curve_key="accuracy")
