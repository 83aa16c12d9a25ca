"""tg.surfaces: each surface against its analytic formula and gradient, and `descend` against hand loops.

The formulas and gradients below are written out independently of the module
(from the textbook definitions), so a typo in either place shows up as a
mismatch. `descend` is checked against the sources' two demos, transcribed as
plain NumPy loops, and against a NumPy transcription of Adam.
"""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu import surfaces as S

ALL_NAMES = ["parabola", "quadratic", "rosenbrock", "beale", "himmelblau", "saddle", "ravine"]


# -- analytic formulas and gradients, written independently of the module ----------------------------------------

def _beale_residuals(x, y):
    return 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3


def _beale_grad(x, y):
    r1, r2, r3 = _beale_residuals(x, y)
    return (2 * r1 * (y - 1) + 2 * r2 * (y**2 - 1) + 2 * r3 * (y**3 - 1),
            2 * r1 * x + 4 * r2 * x * y + 6 * r3 * x * y**2)


ANALYTIC = {
    "parabola": (lambda x: x**2 + 2 * x + 1,
                 lambda x: (2 * x + 2,)),
    "quadratic": (lambda x, y: x**2 + y**2 + x * y + 2 * x + 3 * y + 5,
                  lambda x, y: (2 * x + y + 2, 2 * y + x + 3)),
    "rosenbrock": (lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
                   lambda x, y: (-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2))),
    "beale": (lambda x, y: sum(r**2 for r in _beale_residuals(x, y)),
              _beale_grad),
    "himmelblau": (lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
                   lambda x, y: (4 * x * (x**2 + y - 11) + 2 * (x + y**2 - 7),
                                 2 * (x**2 + y - 11) + 4 * y * (x + y**2 - 7))),
    "saddle": (lambda x, y: x**2 - y**2,
               lambda x, y: (2 * x, -2 * y)),
    "ravine": (lambda x, y: 0.5 * (x**2 + 100 * y**2),
               lambda x, y: (x, 100 * y)),
}


def _window(surface):
    """The bounds as a list of (low, high) per coordinate, in 1-D and 2-D alike."""
    return [surface.bounds] if surface.dim == 1 else list(surface.bounds)


def _random_points(surface, n=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, size=n) for low, high in _window(surface)]


def _autograd_value_and_grad(surface, coords):
    """Value and gradient at each point by autograd: the points' losses summed, so grad row i is point i's."""
    tensors = [tg.tensor(c, dtype=tg.float64, requires_grad=True) for c in coords]
    value = surface(*tensors)
    value.sum().backward()
    return value.numpy(), [t.grad.numpy() for t in tensors]


# -- the surfaces -----------------------------------------------------------------------------------------------

def test_names_and_get():
    assert S.names() == ALL_NAMES
    for name in ALL_NAMES:
        surface = S.get(name)
        assert surface is getattr(S, name) is getattr(tg.surfaces, name)
        assert isinstance(surface, S.Surface)
        assert surface.name == name
        assert isinstance(surface.formula, str) and surface.formula
        assert surface.dim == (1 if name == "parabola" else 2)
        doc = type(surface).__doc__
        assert doc and ("grad L" in doc or "L'(x)" in doc)  # every docstring states the gradient
        assert "minim" in doc.lower()
    assert "surfaces" in tg.__all__


def test_unknown_name_is_a_key_error_listing_the_valid_ones():
    with pytest.raises(KeyError) as info:
        S.get("bananas")
    message = str(info.value)
    assert "bananas" in message
    for name in ALL_NAMES:
        assert name in message


def test_the_sources_formulas_appear_verbatim():
    assert S.parabola.formula == "x**2 + 2*x + 1"
    assert S.quadratic.formula == "x**2 + y**2 + x*y + 2*x + 3*y + 5"
    assert S.saddle.formula == "x**2 - y**2"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_value_and_gradient_match_the_analytic_formulas(name):
    surface = S.get(name)
    f, grad = ANALYTIC[name]
    coords = _random_points(surface)
    value, autograd_grads = _autograd_value_and_grad(surface, coords)
    assert value.dtype == np.float64
    np.testing.assert_allclose(value, f(*coords), rtol=1e-12, atol=1e-12)
    for got, want in zip(autograd_grads, grad(*coords)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_gradient_matches_finite_differences(name):
    surface = S.get(name)
    coords = _random_points(surface, n=5, seed=1)
    tensors = [tg.tensor(c, dtype=tg.float64, requires_grad=True) for c in coords]
    assert tg.gradcheck(lambda *ts: surface(*ts), *tensors, eps=1e-6, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_minima_have_zero_gradient_and_are_local_minima(name):
    surface = S.get(name)
    f, grad = ANALYTIC[name]
    if name == "saddle":
        assert surface.minima == []
        return
    assert surface.minima, f"{name} lists no minimum"
    for minimum in surface.minima:
        assert len(minimum) == surface.dim
        value, grads = _autograd_value_and_grad(surface, [np.array([c]) for c in minimum])
        np.testing.assert_allclose(np.concatenate(grads), 0.0, atol=1e-9)
        np.testing.assert_allclose(grad(*minimum), 0.0, atol=1e-9)  # the analytic gradient agrees
        # Lower than every point on a small circle around it (or both sides, in 1-D).
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        offsets = [np.array([-1.0, 1.0])] if surface.dim == 1 else [np.cos(angles), np.sin(angles)]
        for radius in (1e-3, 1e-2):
            around = surface(*(c + radius * o for c, o in zip(minimum, offsets))).numpy()
            assert np.all(around > value[0]), f"{name}: {minimum} is not a local minimum at radius {radius}"


def test_known_minimum_values():
    assert S.quadratic(-1 / 3, -4 / 3).item() == pytest.approx(8 / 3, abs=1e-14)  # solved exactly: 8/3
    assert S.quadratic.minima == [(-1 / 3, -4 / 3)]
    assert S.parabola.minima == [(-1.0,)]
    assert S.rosenbrock.minima == [(1.0, 1.0)]
    assert S.beale.minima == [(3.0, 0.5)]
    assert S.ravine.minima == [(0.0, 0.0)]
    assert len(S.himmelblau.minima) == 4 and (3.0, 2.0) in S.himmelblau.minima
    for name in ("parabola", "rosenbrock", "beale", "himmelblau", "ravine"):
        for minimum in S.get(name).minima:
            assert S.get(name)(*minimum).item() == pytest.approx(0.0, abs=1e-20)
    # The quadratic's minimum solves the 2x2 system [[2, 1], [1, 2]] p = -(2, 3).
    np.testing.assert_allclose(np.linalg.solve([[2.0, 1.0], [1.0, 2.0]], [-2.0, -3.0]), S.quadratic.minima[0],
                               rtol=1e-15)


def test_saddle_point_has_zero_gradient_but_is_not_a_minimum():
    assert S.saddle.minima == []
    assert S.saddle.saddle_points == [(0.0, 0.0)]
    value, grads = _autograd_value_and_grad(S.saddle, [np.array([0.0]), np.array([0.0])])
    np.testing.assert_array_equal(np.concatenate(grads), [0.0, 0.0])
    assert S.saddle(0.0, 1e-3).item() < value[0] < S.saddle(1e-3, 0.0).item()
    for name in ALL_NAMES:
        if name != "saddle":
            assert S.get(name).saddle_points == []


@pytest.mark.parametrize("name", ALL_NAMES)
def test_bounds_contain_the_minima_and_saddle_points(name):
    surface = S.get(name)
    window = _window(surface)
    assert all(low < high for low, high in window)
    if surface.dim == 1:
        assert len(surface.bounds) == 2 and all(isinstance(b, float) for b in surface.bounds)
    else:
        assert len(surface.bounds) == 2 and all(len(axis) == 2 for axis in surface.bounds)
    for point in surface.minima + surface.saddle_points:
        assert all(low <= c <= high for c, (low, high) in zip(point, window)), (name, point)


def test_the_sources_demo_starts_lie_inside_the_windows():
    low, high = S.parabola.bounds
    assert low <= 5.0 <= high
    assert S.quadratic.bounds == ((-5.0, 5.0), (-5.0, 5.0))  # the sources' plot window [-5, 5]^2


@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n != "parabola"])
def test_a_meshgrid_evaluates_the_whole_grid(name):
    surface = S.get(name)
    f, _ = ANALYTIC[name]
    (x0, x1), (y0, y1) = surface.bounds
    grid_x, grid_y = np.meshgrid(np.linspace(x0, x1, 7), np.linspace(y0, y1, 5))
    grid_z = surface(grid_x, grid_y)
    assert isinstance(grid_z, tg.Tensor)
    assert grid_z.shape == (5, 7) and grid_z.dtype == np.float64
    np.testing.assert_allclose(grid_z.numpy(), f(grid_x, grid_y), rtol=1e-12, atol=1e-12)
    # Plain broadcasting too: a column against a row.
    assert surface(np.zeros((3, 1)), np.ones(4)).shape == (3, 4)


def test_one_d_surface_on_arrays_and_scalars():
    xs = np.linspace(-6, 6, 11)
    out = S.parabola(xs)
    assert isinstance(out, tg.Tensor) and out.shape == (11,)
    np.testing.assert_allclose(out.numpy(), (xs + 1) ** 2, rtol=1e-12, atol=1e-12)
    assert S.parabola(5).item() == 36.0  # an integer becomes float64, not an integer Tensor
    assert S.parabola(5).dtype == np.float64


def test_float32_tensors_stay_float32():
    x = tg.tensor([1.0, 2.0])
    assert x.dtype == np.float32
    assert S.quadratic(x, x).dtype == np.float32


def test_wrong_number_of_coordinates_is_a_type_error():
    with pytest.raises(TypeError, match="quadratic.*2"):
        S.quadratic(1.0)
    with pytest.raises(TypeError, match="parabola.*1"):
        S.parabola(1.0, 2.0)


# -- descend ---------------------------------------------------------------------------------------------------

def test_descend_reproduces_the_one_d_demo():
    """The sources: L(x) = x**2 + 2x + 1 from x = 5, eta = 0.2, 15 steps."""
    path = S.descend(S.parabola, lambda p: optim.SGD(p, lr=0.2), start=5.0, steps=15)
    xs = [5.0]
    for _ in range(15):
        xs.append(xs[-1] - 0.2 * (2 * xs[-1] + 2))
    xs = np.array(xs)
    assert path.points.shape == (16, 1) and path.losses.shape == (16,) and path.grads.shape == (16, 1)
    np.testing.assert_array_equal(path.points[:, 0], xs)
    np.testing.assert_array_equal(path.losses, xs**2 + 2 * xs + 1)
    np.testing.assert_array_equal(path.grads[:, 0], 2 * xs + 2)  # the last row too: the gradient at x_15
    np.testing.assert_array_equal(path.lrs, np.full(15, 0.2))
    # Closed form: x_k + 1 = 6 * 0.6**k.
    np.testing.assert_allclose(path.points[:, 0] + 1, 6 * 0.6 ** np.arange(16), rtol=1e-12)
    assert path.name == "SGD" and not path.diverged and path.surface is S.parabola
    np.testing.assert_array_equal(path.finite_points(), path.points)


def test_descend_reproduces_the_two_d_demo():
    """The sources: the quadratic from (4, 4), gradient (2x + y + 2, 2y + x + 3), eta = 0.1, 30 steps."""
    path = S.descend("quadratic", lambda p: optim.SGD(p, lr=0.1), start=(4, 4), steps=30)
    points = [np.array([4.0, 4.0])]
    for _ in range(30):
        x, y = points[-1]
        points.append(points[-1] - 0.1 * np.array([2 * x + y + 2, 2 * y + x + 3]))
    points = np.array(points)
    x, y = points.T
    assert path.points.shape == (31, 2) and path.losses.shape == (31,) and path.grads.shape == (31, 2)
    # Same steps, though autograd may add the gradient's terms in another order: equal to rounding.
    np.testing.assert_allclose(path.points, points, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(path.losses, x**2 + y**2 + x * y + 2 * x + 3 * y + 5, rtol=1e-13)
    np.testing.assert_allclose(path.grads, np.stack([2 * x + y + 2, 2 * y + x + 3], axis=1), rtol=1e-12,
                               atol=1e-14)
    assert path.points[0].tolist() == [4.0, 4.0]


def _adam_by_hand(grad_fn, start, steps, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam as Kingma & Ba write it (and PyTorch computes it), one NumPy line per formula line."""
    theta = np.array(start, dtype=np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    points = [theta.copy()]
    for t in range(1, steps + 1):
        g = np.array(grad_fn(*theta))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        points.append(theta.copy())
    return np.array(points)


@pytest.mark.parametrize("name, start", [("rosenbrock", (-1.5, 2.0)), ("beale", (1.0, 1.5)),
                                         ("himmelblau", (0.0, 0.0))])
def test_descend_with_adam_equals_a_hand_loop(name, start):
    path = S.descend(name, lambda p: optim.Adam(p, lr=0.05), start=start, steps=40)
    _, grad = ANALYTIC[name]
    np.testing.assert_allclose(path.points, _adam_by_hand(grad, start, 40, lr=0.05), rtol=1e-9, atol=1e-12)
    assert path.name == "Adam"


def test_descend_with_adam_matches_pytorch(torch):
    path = S.descend("rosenbrock", lambda p: optim.Adam(p, lr=0.02), start=(-1.5, 2.0), steps=50)
    p = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.02)
    expected = [p.detach().numpy().copy()]
    for _ in range(50):
        opt.zero_grad()
        loss = (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
        loss.backward()
        opt.step()
        expected.append(p.detach().numpy().copy())
    np.testing.assert_allclose(path.points, np.array(expected), rtol=1e-10, atol=1e-12)


def test_descend_with_textbook_momentum_equals_a_hand_loop():
    path = S.descend("ravine", lambda p: optim.Momentum(p, lr=0.01, beta=0.9), start=(-8.0, 1.0), steps=25)
    theta, velocity, points = np.array([-8.0, 1.0]), np.zeros(2), []
    for _ in range(26):
        points.append(theta.copy())
        velocity = 0.9 * velocity + 0.1 * np.array([theta[0], 100 * theta[1]])
        theta = theta - 0.01 * velocity
    np.testing.assert_allclose(path.points, np.array(points), rtol=1e-12, atol=1e-15)


def test_a_scheduler_is_stepped_after_every_step():
    path = S.descend("quadratic", lambda p: optim.SGD(p, lr=0.1), start=(4, 4), steps=12,
                     scheduler=lambda opt: optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5))
    expected_lrs = [0.1] * 5 + [0.05] * 5 + [0.025] * 2
    np.testing.assert_allclose(path.lrs, expected_lrs, rtol=1e-15)
    # ... and the steps used those rates.
    theta, points = np.array([4.0, 4.0]), [np.array([4.0, 4.0])]
    for lr in expected_lrs:
        x, y = theta
        theta = theta - lr * np.array([2 * x + y + 2, 2 * y + x + 3])
        points.append(theta)
    np.testing.assert_allclose(path.points, np.array(points), rtol=1e-13, atol=1e-15)


def test_reduce_on_plateau_is_stepped_with_the_loss():
    # lr = 1 on the parabola bounces between 5 and -7 (loss 36 each time): a plateau.
    path = S.descend("parabola", lambda p: optim.SGD(p, lr=1.0), start=5.0, steps=10,
                     scheduler=lambda opt: optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2))
    assert path.lrs[0] == 1.0
    assert path.lrs[-1] < 1.0
    assert np.all(np.diff(path.lrs) <= 0)
    assert path.losses[-1] < 36.0  # the smaller rate finally makes progress


def test_zero_steps_records_only_the_start():
    path = S.descend("himmelblau", lambda p: optim.SGD(p, lr=0.01), start=(1, 1), steps=0)
    assert path.points.tolist() == [[1.0, 1.0]]
    assert path.losses.shape == (1,) and path.grads.shape == (1, 2) and path.lrs.shape == (0,)
    np.testing.assert_allclose(path.grads[0], ANALYTIC["himmelblau"][1](1.0, 1.0))


def test_label_names_the_path():
    path = S.descend("saddle", lambda p: optim.SGD(p, lr=0.1, momentum=0.9), start=(1, 0.1), steps=3,
                     label="SGD + momentum")
    assert path.name == "SGD + momentum"
    assert "SGD + momentum" in repr(path)


def test_saddle_traps_a_start_on_its_axis():
    path = S.descend("saddle", lambda p: optim.SGD(p, lr=0.1), start=(1.0, 0.0), steps=100)
    np.testing.assert_allclose(path.points[-1], [0.0, 0.0], atol=1e-8)
    escaped = S.descend("saddle", lambda p: optim.SGD(p, lr=0.1), start=(1.0, 1e-6), steps=100)
    assert abs(escaped.points[-1, 1]) > 1.0


def test_a_diverging_parabola_run_is_flagged_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning may escape
        path = S.descend("parabola", lambda p: optim.SGD(p, lr=2.0), start=5.0, steps=400)
    assert path.diverged
    finite = path.finite_points()
    assert 1 < len(finite) < 401
    assert np.isfinite(finite).all()
    # Before it blew up it followed x <- x - 2 * (2x + 2) = -3x - 4.
    np.testing.assert_allclose(finite[1:, 0], -3 * finite[:-1, 0] - 4, rtol=1e-12)
    stop = len(finite)
    assert not np.isfinite(path.losses[stop])  # the row where it left the finite numbers is kept
    assert np.isnan(path.points[stop + 1:]).all() and np.isnan(path.losses[stop + 1:]).all()
    assert np.isnan(path.grads[stop + 1:]).all()
    np.testing.assert_array_equal(path.lrs[:stop], 2.0)
    assert np.isnan(path.lrs[stop:]).all()
    np.testing.assert_array_equal(path.finite_losses(), path.losses[:stop])
    assert "diverged" in repr(path)


def test_a_diverging_rosenbrock_run_is_flagged():
    path = S.descend("rosenbrock", lambda p: optim.SGD(p, lr=0.1), start=(-1.5, 2.0), steps=50)
    assert path.diverged
    assert path.points.shape == (51, 2) and path.losses.shape == (51,)
    assert len(path.finite_points()) < 10
    assert np.isnan(path.points[-1]).all()


@pytest.mark.parametrize("name, start", [("quadratic", (4.0, 4.0)), ("ravine", (-8.0, 1.0))])
@pytest.mark.parametrize("make, steps, tol", [
    (lambda p: optim.SGD(p, lr=0.015), 1500, 1e-4),
    (lambda p: optim.Momentum(p, lr=0.05, beta=0.9), 600, 1e-4),
    (lambda p: optim.Adam(p, lr=0.05), 600, 1e-2),
], ids=["SGD", "Momentum", "Adam"])
def test_optimizers_converge_near_the_minimum(name, start, make, steps, tol):
    surface = S.get(name)
    path = S.descend(surface, make, start=start, steps=steps)
    assert not path.diverged
    distance = np.linalg.norm(path.points[-1] - np.array(surface.minima[0]))
    assert distance < tol, f"{path.name} on {name}: ended {distance:.3g} from the minimum"
    assert path.losses[-1] < path.losses[0]


def test_momentum_beats_sgd_along_the_ravine():
    sgd = S.descend("ravine", lambda p: optim.SGD(p, lr=0.015), start=(-8.0, 1.0), steps=200)
    momentum = S.descend("ravine", lambda p: optim.Momentum(p, lr=0.05, beta=0.9), start=(-8.0, 1.0), steps=200)
    assert momentum.losses[-1] < sgd.losses[-1] / 100


# -- validation --------------------------------------------------------------------------------------------------

def test_start_of_the_wrong_dimension_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"start=\(1, 2, 3\).*quadratic.*2-D"):
        S.descend("quadratic", lambda p: optim.SGD(p, lr=0.1), start=(1, 2, 3), steps=5)
    with pytest.raises(ValueError, match=r"start=\(1, 2\).*parabola"):
        S.descend(S.parabola, lambda p: optim.SGD(p, lr=0.1), start=(1, 2), steps=5)
    with pytest.raises(ValueError, match="start='abc'"):
        S.descend(S.parabola, lambda p: optim.SGD(p, lr=0.1), start="abc", steps=5)
    with pytest.raises(ValueError, match="finite"):
        S.descend(S.parabola, lambda p: optim.SGD(p, lr=0.1), start=math.nan, steps=5)


def test_bad_steps_are_errors_naming_the_value():
    with pytest.raises(ValueError, match="-1"):
        S.descend("parabola", lambda p: optim.SGD(p, lr=0.1), start=1.0, steps=-1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got 2.5"):
        S.descend("parabola", lambda p: optim.SGD(p, lr=0.1), start=1.0, steps=2.5)


def test_make_optimizer_must_return_an_optimizer():
    with pytest.raises(TypeError, match="Optimizer.*got \\[tensor"):
        S.descend("parabola", lambda p: p, start=1.0, steps=3)
    with pytest.raises(TypeError, match="make_optimizer.*'SGD'"):
        S.descend("parabola", "SGD", start=1.0, steps=3)


def test_unknown_surface_name_in_descend():
    with pytest.raises(KeyError, match="valid names"):
        S.descend("nope", lambda p: optim.SGD(p, lr=0.1), start=1.0, steps=3)
    with pytest.raises(TypeError, match="Surface"):
        S.descend(42, lambda p: optim.SGD(p, lr=0.1), start=1.0, steps=3)


def test_docstring_examples_run():
    result = doctest.testmod(S, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
