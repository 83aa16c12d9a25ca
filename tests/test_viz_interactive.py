"""tg.viz.interactive_descent / interactive_schedule: the widgets' controls are driven as a browser would
(setting ``.value`` fires the observers) and the redrawn figure's data is compared with an independent run:
``tg.surfaces.descend`` called directly, the schedulers stepped directly, PyTorch's schedulers, closed forms."""

from __future__ import annotations

import inspect
import io
import math
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import optim, surfaces  # noqa: E402
from tinygrad_edu.optim import lr_scheduler  # noqa: E402
from tinygrad_edu.viz.interactive import DESCENT_OPTIMIZERS, SCHEDULES, schedule_rates  # noqa: E402

widgets = pytest.importorskip("ipywidgets")

pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`:UserWarning")


# A coarse contour grid and a small picture: the tests read the figure's data, not its pixels.
FAST = dict(resolution=30, dpi=40)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def line_xy(explorer) -> np.ndarray:
    return np.column_stack([explorer.line.get_xdata(), explorer.line.get_ydata()]).astype(float)


# -- interactive_descent ---------------------------------------------------------------------------


def test_returns_a_widget_whose_path_is_descend_run_directly():
    w = tg.viz.interactive_descent("quadratic", lr=0.1, steps=30)
    assert isinstance(w, widgets.VBox)
    e = w.explorer
    assert e.widget is w and e.optimizer.value == "SGD" and e.start == (4.0, 4.0)  # the sources' start
    direct = surfaces.descend("quadratic", lambda p: optim.SGD(p, lr=0.1), (4.0, 4.0), 30)
    np.testing.assert_array_equal(e.path.points, direct.points)
    np.testing.assert_array_equal(line_xy(e), direct.points)
    # the sources' 2-D demo heads for the known minimum (-1/3, -4/3): with Hessian [[2, 1], [1, 4]]
    # (eigenvalues 3 -+ sqrt 2) each SGD step shrinks the distance by at most max |1 - lr * eigenvalue|
    contraction = max(abs(1 - 0.1 * (3 - math.sqrt(2))), abs(1 - 0.1 * (3 + math.sqrt(2))))
    minimum = np.array([-1 / 3, -4 / 3])
    distance = np.linalg.norm(e.path.points[-1] - minimum)
    assert distance <= contraction ** 30 * np.linalg.norm(np.array([4.0, 4.0]) - minimum) * (1 + 1e-9)
    assert distance < 0.05
    assert f"{direct.losses[-1]:.6g}" in e.summary and "after 30 steps" in e.summary
    width, height = png_size(e.image.value)
    assert (width, height) == (640, 540)  # figsize (6.4, 5.4) at dpi 100


def test_each_control_redraws_with_its_value():
    e = tg.viz.interactive_descent("rosenbrock", lr=1e-3, steps=40, **FAST).explorer
    figure, contours = e.figure, len(e._ax.collections)
    before = e.image.value

    e.lr.value = 2e-3
    direct = surfaces.descend("rosenbrock", lambda p: optim.SGD(p, lr=2e-3, momentum=0.0), (-1.5, 2.0), 40)
    np.testing.assert_array_equal(line_xy(e), direct.points)
    assert e.image.value != before

    e.steps.value = 7
    assert e.path.points.shape == (8, 2)
    e.start_x.value, e.start_y.value = 0.5, -0.25
    np.testing.assert_array_equal(e.path.points[0], [0.5, -0.25])
    e.hyperparameters["momentum"].value = 0.5
    direct = surfaces.descend("rosenbrock", lambda p: optim.SGD(p, lr=2e-3, momentum=0.5), (0.5, -0.25), 7)
    np.testing.assert_array_equal(line_xy(e), direct.points)
    # the same Figure is redrawn: the contours are not drawn again
    assert e.figure is figure and len(e._ax.collections) == contours


def test_switching_optimizer_runs_it_with_the_betas_of_the_sliders():
    e = tg.viz.interactive_descent("ravine", lr=0.3, steps=25, **FAST).explorer
    e.optimizer.value = "Adam"
    e.hyperparameters["beta1"].value = 0.5
    e.hyperparameters["beta2"].value = 0.9
    direct = surfaces.descend("ravine", lambda p: optim.Adam(p, lr=0.3, betas=(0.5, 0.9)), (-9.0, 1.0), 25)
    np.testing.assert_array_equal(line_xy(e), direct.points)
    assert e.path.name == "Adam" and "Adam(lr=0.3, betas=(0.5, 0.9))" in e._ax.get_title()
    # a slider keeps its value across a switch
    e.optimizer.value = "Lion"
    direct = surfaces.descend("ravine", lambda p: optim.Lion(p, lr=0.3, betas=(0.5, 0.9)), (-9.0, 1.0), 25)
    np.testing.assert_array_equal(line_xy(e), direct.points)
    e.optimizer.value = "Momentum"
    e.hyperparameters["beta"].value = 0.8
    direct = surfaces.descend("ravine", lambda p: optim.Momentum(p, lr=0.3, beta=0.8), (-9.0, 1.0), 25)
    np.testing.assert_array_equal(line_xy(e), direct.points)


def test_the_sliders_shown_are_the_hyperparameters_the_optimizer_takes():
    e = tg.viz.interactive_descent("quadratic", steps=3, **FAST).explorer
    assert list(e.optimizer.options) == list(DESCENT_OPTIMIZERS)
    for name in DESCENT_OPTIMIZERS:
        e.optimizer.value = name
        # independent reference: the constructor's own signature
        signature = inspect.signature(optim.get(name).__init__).parameters
        expected = {key for key in ("momentum", "beta", "alpha") if key in signature}
        if "betas" in signature:
            expected |= {"beta1", "beta2"}
        shown = {key for key, slider in e.hyperparameters.items() if slider.layout.display != "none"}
        assert shown == expected == set(e.visible_hyperparameters), name
        assert e.path.name == name


def test_switching_hides_and_shows_sliders():
    e = tg.viz.interactive_descent("quadratic", optimizers=["SGD", "Adam", "RMSprop", "Adagrad"], steps=3,
                                   **FAST).explorer
    display = {name: lambda n=name: e.hyperparameters[n].layout.display for name in e.hyperparameters}
    assert display["momentum"]() is None and display["beta1"]() == "none"
    e.optimizer.value = "Adam"
    assert display["momentum"]() == "none" and display["beta1"]() is None and display["beta2"]() is None
    e.optimizer.value = "RMSprop"
    assert display["alpha"]() is None and display["momentum"]() is None and display["beta1"]() == "none"
    e.optimizer.value = "Adagrad"
    assert all(get() == "none" for get in display.values())


def test_set_changes_several_controls_with_one_redraw(monkeypatch):
    e = tg.viz.interactive_descent("himmelblau", steps=10, **FAST).explorer
    calls = []
    original = surfaces.descend
    monkeypatch.setattr(surfaces, "descend", lambda *a, **k: calls.append(1) or original(*a, **k))
    e.set(optimizer="Adam", lr=0.05, steps=20, start_x=-1.0, start_y=-1.0)
    assert len(calls) == 1
    direct = original("himmelblau", lambda p: optim.Adam(p, lr=0.05), (-1.0, -1.0), 20)
    np.testing.assert_array_equal(e.path.points, direct.points)
    with pytest.raises(KeyError, match="no control named 'learning_rate'.*lr"):
        e.set(learning_rate=0.1)
    # a value a slider would clamp silently is refused, before any control changes
    for bad, match in [(dict(lr=0.5, steps=10_000), r"steps must be an integer in \[1, 500\]"),
                       (dict(steps=5, lr=100.0), r"lr must be a number in \[0.0001, 10\]"),
                       (dict(steps=5, optimizer="Adamm"), "optimizer must be one of 'SGD', 'Momentum'"),
                       (dict(steps=2.5), "steps must be an integer"),
                       (dict(beta1=-0.1), r"beta1 must be a number in \[0, 0.99\]")]:
        with pytest.raises(ValueError, match=match):
            e.set(**bad)
        assert (e.lr.value, e.steps.value, e.optimizer.value) == (0.05, 20, "Adam") and len(calls) == 1


def test_a_diverging_run_is_drawn_up_to_its_last_finite_point_and_said():
    e = tg.viz.interactive_descent("quadratic", lr=10.0, steps=300, **FAST).explorer  # 43 ** k overflows at k ~ 190
    assert e.path.diverged
    assert np.isfinite(line_xy(e)).all() and len(line_xy(e)) == len(e.path.finite_points())
    assert "diverged" in e.summary and "smaller lr" in e.summary


def test_a_path_off_the_saddle_runs_away_and_the_summary_says_why():
    e = tg.viz.interactive_descent("saddle", lr=0.9, steps=500, **FAST).explorer
    # from (-1.5, 0.05) y is multiplied by 1 + 2 * 0.9 = 2.8 per step: y ** 2 passes 1e308 near step 347
    assert e.start == (-1.5, 0.05) and e.path.diverged
    assert 340 <= len(e.path.finite_points()) <= 350
    assert "saddle is unbounded below" in e.summary


def test_the_ravine_story_the_docstring_tells():
    e = tg.viz.interactive_descent("ravine", lr=0.021, steps=50, **FAST).explorer
    assert abs(e.path.points[-1, 1]) > 1.0  # above 2/100 the across-valley coordinate grows: |1 - 100 lr| > 1
    e.lr.value = 0.01
    assert round(float(e.path.points[-1, 0]), 1) == -5.4  # x_k = -9 (1 - lr) ** k: the crawl along the floor
    np.testing.assert_allclose(e.path.points[-1, 0], -9 * 0.99 ** 50)
    e.set(optimizer="Momentum", lr=0.05)
    assert np.hypot(*e.path.points[-1]) < 0.6
    e.set(optimizer="Adam", lr=0.3)
    assert np.hypot(*e.path.points[-1]) < 0.6


def test_summary_distance_is_to_the_nearest_minimum():
    e = tg.viz.interactive_descent("himmelblau", optimizers=["Adam"], lr=0.1, steps=200, start=(0.0, 0.0)).explorer
    x, y = e.path.points[-1]
    nearest = min(math.hypot(x - a, y - b) for a, b in surfaces.himmelblau.minima)
    assert f"distance to the nearest minimum {nearest:.3g}" in e.summary


def test_a_failing_redraw_is_shown_under_the_picture():
    e = tg.viz.interactive_descent("quadratic", steps=3, **FAST).explorer
    e.surface = "no such surface"  # the next redraw's descend raises
    e.lr.value = 0.2
    assert e.error is not None and "no such surface" in e.error and "no such surface" in e.status.value


def test_descent_errors_name_the_value_and_the_valid_ones():
    with pytest.raises(KeyError, match="unknown surface 'bowl'.*rosenbrock"):
        tg.viz.interactive_descent("bowl")
    with pytest.raises(ValueError, match="'parabola' is 1-D"):
        tg.viz.interactive_descent("parabola")
    with pytest.raises(TypeError, match="surface must be"):
        tg.viz.interactive_descent(42)
    with pytest.raises(KeyError, match="unknown optimizer 'Adamm'.*Adam"):
        tg.viz.interactive_descent(optimizers=["SGD", "Adamm"])
    with pytest.raises(ValueError, match="non-empty list"):
        tg.viz.interactive_descent(optimizers="Adam")
    with pytest.raises(ValueError, match="lr must be"):
        tg.viz.interactive_descent(lr=0)
    with pytest.raises(ValueError, match="steps must be"):
        tg.viz.interactive_descent(steps=0)
    with pytest.raises(ValueError, match="start must be a pair"):
        tg.viz.interactive_descent(start=(1.0,))
    with pytest.raises(TypeError, match="unexpected argument 'gamma'.*beta1"):
        tg.viz.interactive_descent(gamma=0.5)
    with pytest.raises(ValueError, match="beta1 must be a number in"):
        tg.viz.interactive_descent(beta1=1.5)
    with pytest.raises(ValueError, match="figsize must be"):
        tg.viz.interactive_descent(figsize=(6.4, 0))
    with pytest.raises(ValueError, match="dpi must be"):
        tg.viz.interactive_schedule(dpi=-1)


# -- interactive_schedule --------------------------------------------------------------------------

# Non-default parameters for each schedule, and the same schedule built directly with tg and with PyTorch.
CASES = {
    "step": dict(step_size=7, gamma=0.5),
    "exponential": dict(gamma=0.93),
    "cosine": dict(T_max=30, eta_min=0.01),
    "linear": dict(start_factor=0.2, end_factor=0.6, total_iters=12),
    "warmup_cosine": dict(warmup_steps=6, eta_min=0.005, warmup_start_factor=0.1),
    "onecycle": dict(max_lr=0.4, pct_start=0.25, div_factor=10.0, final_div_factor=100.0, anneal_strategy="linear",
                     three_phase=True),
}
TOTAL, LR = 45, 0.1


def build_direct(module, optimizer, name, params):
    """The schedule built straight from a lr_scheduler module (tg's or PyTorch's)."""
    if name == "step":
        return module.StepLR(optimizer, **params)
    if name == "exponential":
        return module.ExponentialLR(optimizer, **params)
    if name == "cosine":
        return module.CosineAnnealingLR(optimizer, **params)
    if name == "linear":
        return module.LinearLR(optimizer, **params)
    if name == "onecycle":
        return module.OneCycleLR(optimizer, total_steps=TOTAL, **params)
    warmup = module.LinearLR(optimizer, start_factor=params["warmup_start_factor"], end_factor=1.0,
                             total_iters=params["warmup_steps"])
    cosine = module.CosineAnnealingLR(optimizer, T_max=TOTAL - params["warmup_steps"], eta_min=params["eta_min"])
    return module.SequentialLR(optimizer, [warmup, cosine], milestones=[params["warmup_steps"]])


def last_lrs(scheduler, steps):
    rates = [scheduler.get_last_lr()[0]]
    for _ in range(steps - 1):
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    return np.array(rates, dtype=float)


def test_cases_cover_every_schedule():
    assert set(CASES) == set(SCHEDULES)
    for name, params in CASES.items():
        assert set(params) == set(SCHEDULES[name].parameters)


@pytest.mark.parametrize("name", list(CASES))
def test_curve_is_the_schedulers_get_last_lr(name):
    w = tg.viz.interactive_schedule(name, total_steps=TOTAL, lr=LR, **CASES[name])
    e = w.explorer
    direct = build_direct(lr_scheduler, optim.SGD([tg.zeros(1, requires_grad=True)], lr=LR, momentum=0.9), name,
                          CASES[name])
    expected = last_lrs(direct, TOTAL)
    np.testing.assert_array_equal(e.rates, expected)
    np.testing.assert_array_equal(e.line.get_xdata(), np.arange(TOTAL))
    np.testing.assert_array_equal(e.line.get_ydata(), expected)


@pytest.mark.parametrize("name", list(CASES))
def test_curve_is_pytorchs(name):
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR, momentum=0.9)
    expected = last_lrs(build_direct(torch.optim.lr_scheduler, optimizer, name, CASES[name]), TOTAL)
    np.testing.assert_allclose(schedule_rates(name, TOTAL, LR, **CASES[name]), expected, rtol=1e-12, atol=1e-15)


def test_closed_forms():
    t = np.arange(TOTAL)
    np.testing.assert_allclose(schedule_rates("step", TOTAL, LR, step_size=7, gamma=0.5), LR * 0.5 ** (t // 7))
    np.testing.assert_allclose(schedule_rates("exponential", TOTAL, LR, gamma=0.93), LR * 0.93 ** t)
    np.testing.assert_allclose(schedule_rates("cosine", TOTAL, LR, T_max=TOTAL, eta_min=0.01),
                               0.01 + (LR - 0.01) * (1 + np.cos(np.pi * t / TOTAL)) / 2, rtol=1e-10)


def test_a_cosine_shorter_than_the_run_climbs_back_as_the_docstring_says():
    rates = tg.viz.interactive_schedule("cosine", total_steps=45, lr=0.1, T_max=30, eta_min=0.0).explorer.rates
    assert int(np.argmin(rates)) == 30 and rates[30] < 1e-12
    assert np.all(np.diff(rates[30:]) > 0)  # past T_max the cosine goes on: back up
    t = np.arange(45)
    np.testing.assert_allclose(rates, 0.1 * (1 + np.cos(np.pi * t / 30)) / 2, atol=1e-12)


def test_sliders_redraw_the_curve():
    e = tg.viz.interactive_schedule("step", total_steps=20, lr=1.0).explorer
    before = e.image.value
    e.parameters["step"]["step_size"].value = 4
    e.parameters["step"]["gamma"].value = 0.5
    np.testing.assert_allclose(e.line.get_ydata(), 0.5 ** (np.arange(20) // 4))
    assert e.image.value != before and "step(step_size=4, gamma=0.5)" == e._ax.get_title()
    assert "rate 1 at step 0" in e.summary and "0.0625 at step 19" in e.summary  # 0.5 ** (19 // 4)
    e.log_y.value = True
    assert e._ax.get_yscale() == "log"


def test_switching_schedule_shows_its_sliders_only():
    e = tg.viz.interactive_schedule("cosine", total_steps=50).explorer
    shown = lambda: {(n, k) for n, g in e.parameters.items() for k, c in g.items() if c.layout.display != "none"}  # noqa: E731
    assert shown() == {("cosine", "T_max"), ("cosine", "eta_min")}
    e.schedule.value = "onecycle"
    assert {k for _, k in shown()} == set(SCHEDULES["onecycle"].parameters)
    np.testing.assert_array_equal(e.rates, schedule_rates("onecycle", 50, 0.1))  # the defaults: PyTorch's
    e.set(schedule="warmup_cosine", warmup_steps=10)
    assert {n for n, _ in shown()} == {"warmup_cosine"}
    np.testing.assert_array_equal(
        e.rates, last_lrs(lr_scheduler.warmup_cosine(optim.SGD([tg.zeros(1, requires_grad=True)], lr=0.1),
                                                     warmup_steps=10, total_steps=50, warmup_start_factor=0.01), 50))


def test_a_scheduler_class_is_accepted():
    e = tg.viz.interactive_schedule(lr_scheduler.StepLR, total_steps=10, lr=1.0, step_size=5).explorer
    assert e.schedule.value == "step"
    np.testing.assert_allclose(e.rates, [1.0] * 5 + [0.1] * 5)


def test_schedule_errors_name_the_value_and_the_valid_ones():
    with pytest.raises(KeyError, match="unknown schedule 'cosin'.*warmup_cosine"):
        tg.viz.interactive_schedule("cosin")
    with pytest.raises(TypeError, match="schedule name"):
        tg.viz.interactive_schedule(lambda opt: lr_scheduler.StepLR(opt, 5))
    with pytest.raises(TypeError, match="'cosine' has no parameter 'gamma'; its parameters: T_max, eta_min"):
        tg.viz.interactive_schedule("cosine", gamma=0.5)
    with pytest.raises(ValueError, match="step_size"):
        tg.viz.interactive_schedule("step", step_size=0)
    with pytest.raises(ValueError, match="total_steps must be"):
        tg.viz.interactive_schedule(total_steps=1)
    with pytest.raises(ValueError, match="lr must be"):
        tg.viz.interactive_schedule(lr=-0.1)
    with pytest.raises(KeyError, match="unknown schedule 'plateau'"):
        tg.viz.interactive_schedule(schedules=["step", "plateau"])


# -- the optional dependency -----------------------------------------------------------------------


def test_missing_ipywidgets_names_the_extra_after_checking_the_arguments(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` raise ImportError
    needs = r'interactive_descent needs ipywidgets.*pip install "tinygrad-edu\[notebook\]"'
    with pytest.raises(ImportError, match=needs):
        tg.viz.interactive_descent("quadratic")
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[notebook\]"'):
        tg.viz.interactive_schedule("cosine")
    with pytest.raises(KeyError, match="unknown surface"):  # bad arguments are reported first
        tg.viz.interactive_descent("bowl")


@pytest.mark.slow
def test_no_pyplot_and_no_ipywidgets_until_called():
    code = ("import sys, tinygrad_edu as tg; tg.viz.plot_contour; assert 'ipywidgets' not in sys.modules; "
            "tg.viz.interactive_descent(steps=2); tg.viz.interactive_schedule(total_steps=5); "
            "assert 'ipywidgets' in sys.modules; assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
