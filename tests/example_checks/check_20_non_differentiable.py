"""Claim check for examples/20_non_differentiable.py, against references computed here without the library.

- The exact gradient: L(theta) = sum over b in {0, 1} of p(b; theta) (b - t)^2, differentiated by central
  differences (it must be 1 - 2t), and its minimum over a grid of theta (it must be 0).
- REINFORCE is unbiased: its means lie within 4.5 standard errors (from the sample variances) of that gradient.
- Straight-through: its mean is E_b[d/db (b - t)^2] = sum_b p(b) 2 (b - t), again within 4.5 standard errors.
- Gumbel-softmax: y = sigmoid((logit theta + l) / tau) with l ~ Logistic(0, 1) (the difference of the two
  categories' Gumbel noises). The relaxed objective R(theta) = E[(y - t)^2] is integrated by scipy's adaptive
  quadrature over u = sigmoid(l), uniform on (0, 1), and differentiated by central differences; the soft
  estimator's means must match it, and its variance the quadrature of the squared single-sample gradient.
  The hard (straight-through Gumbel) estimator's mean is the quadrature of 2 (1[u > 1 - theta] - t) dy/dtheta.
- Where each biased estimator's mean gradient vanishes (a root found by brentq on the quadrature), the
  optimisation runs of the example must end nearby, and REINFORCE's near theta = 0.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, optimize

FIGURES = ["non_differentiable.png"]
Z = 4.5   # standard errors allowed between a Monte Carlo mean and its reference


def _expected_loss(theta: float, t: float) -> float:
    return sum(p * (b - t) ** 2 for b, p in ((0, 1 - theta), (1, theta)))


def _relaxed_sample(u: float, theta: float, tau: float) -> float:
    logistic = np.log(u) - np.log1p(-u)
    return 1 / (1 + np.exp(-(np.log(theta) - np.log1p(-theta) + logistic) / tau))


def _quad(f, theta: float) -> float:
    return integrate.quad(f, 0, 1, points=[1 - theta], limit=400, epsabs=1e-12, epsrel=1e-10)[0]


def _relaxed_objective(theta: float, t: float, tau: float) -> float:
    return _quad(lambda u: (_relaxed_sample(u, theta, tau) - t) ** 2, theta)


def _soft_gradient(theta: float, t: float, tau: float, h: float = 1e-5) -> float:
    return (_relaxed_objective(theta + h, t, tau) - _relaxed_objective(theta - h, t, tau)) / (2 * h)


def _dy_dtheta(u: float, theta: float, tau: float) -> float:
    y = _relaxed_sample(u, theta, tau)
    return y * (1 - y) / tau / (theta * (1 - theta))


def _soft_second_moment(theta: float, t: float, tau: float) -> float:
    return _quad(lambda u: (2 * (_relaxed_sample(u, theta, tau) - t) * _dy_dtheta(u, theta, tau)) ** 2, theta)


def _hard_gradient(theta: float, t: float, tau: float) -> float:
    return _quad(lambda u: 2 * (float(u > 1 - theta) - t) * _dy_dtheta(u, theta, tau), theta)


def _reference(name: str, theta: float, t: float) -> float:
    if name == "REINFORCE":
        h = 1e-6
        return (_expected_loss(theta + h, t) - _expected_loss(theta - h, t)) / (2 * h)
    if name == "straight-through":
        return sum(p * 2 * (b - t) for b, p in ((0, 1 - theta), (1, theta)))
    tau = float(name.split("tau=")[1])
    return _hard_gradient(theta, t, tau) if "hard" in name else _soft_gradient(theta, t, tau)


def check(r):
    t = r["t"]
    # The exact gradient and the minimum, recomputed by enumerating b.
    h = 1e-6
    for theta in (0.1, 0.5, 0.9):
        slope = (_expected_loss(theta + h, t) - _expected_loss(theta - h, t)) / (2 * h)
        assert abs(slope - (1 - 2 * t)) < 1e-8 and abs(r["exact"] - slope) < 1e-8
    grid = np.linspace(0, 1, 1001)
    assert r["minimum"] == grid[np.argmin([_expected_loss(th, t) for th in grid])] == 0.0

    # Every estimator's mean against its reference, within Z standard errors of its own sample variance.
    thetas, stats = r["thetas"], r["stats"]
    for name, s in stats.items():
        reference = np.array([_reference(name, th, t) for th in thetas])
        z = np.abs(s["mean"] - reference) / s["se"]
        assert z.max() < Z, f"{name}: mean {s['mean'][z.argmax()]:.4f} vs reference {reference[z.argmax()]:.4f} " \
                            f"at theta {thetas[z.argmax()]} ({z.max():.1f} standard errors)"
        if name != "REINFORCE":   # biased: its reference is not 1 - 2t ...
            assert np.max(np.abs(reference - r["exact"])) > 0.05, name
            if name != "Gumbel-softmax tau=0.1":   # ... and the samples show it (tau = 0.1 is too noisy to)
                assert np.max(np.abs(s["mean"] - r["exact"]) / s["se"]) > 10, name
    # REINFORCE's variance against the exact one: E[g^2] = sum_b p(b) (f(b) dlog p(b)/dtheta)^2.
    for th, var in zip(thetas, stats["REINFORCE"]["var"]):
        second = th * ((1 - t) ** 2 / th) ** 2 + (1 - th) * (t ** 2 / (1 - th)) ** 2
        assert abs(var - (second - (1 - 2 * t) ** 2)) < 0.1 * var, (th, var)
    # The soft Gumbel-softmax's variance against quadrature, and the trade-off: lower tau, higher variance.
    for tau in (0.5, 1.0, 2.0):
        s = stats[f"Gumbel-softmax tau={tau:g}"]
        for th in (0.2, 0.5, 0.8):
            i = int(np.argmin(abs(thetas - th)))
            exact_var = _soft_second_moment(th, t, tau) - _soft_gradient(th, t, tau) ** 2
            assert abs(s["var"][i] - exact_var) < 0.15 * exact_var, (tau, th, s["var"][i], exact_var)
    variances = [stats[f"Gumbel-softmax tau={tau}"]["var"] for tau in ("0.1", "0.5", "1", "2")]
    assert all(np.all(a > b) for a, b in zip(variances, variances[1:]))

    # Optimisation: REINFORCE heads for the true minimum, the biased estimators stop where their mean vanishes.
    final = {name: float(np.median(path[-1])) for name, path in r["paths"].items()}
    assert final["exact"] < 0.01 and final["REINFORCE"] < 0.1, final
    assert abs(final["straight-through"] - t) < 0.05, final
    # tau = 0.1: the relaxed gradient stays positive (minimum at 0 too) but fades with theta: slower than REINFORCE.
    assert all(_soft_gradient(th, t, 0.1) > 0 for th in (0.001, 0.01, 0.05, 0.2, 0.5))
    assert final["Gumbel-softmax tau=0.1"] > final["REINFORCE"], final
    for name in ("Gumbel-softmax tau=0.5", "Gumbel-softmax tau=1", "ST Gumbel-softmax (hard) tau=1"):
        tau = float(name.split("tau=")[1])
        root = optimize.brentq(lambda th, name=name: _reference(name, th, t), 0.2, 0.6, xtol=1e-6)
        assert abs(stats[name]["stationary"] - root) < 0.03, (name, stats[name]["stationary"], root)
        assert abs(final[name] - root) < 0.05 and final[name] > 3 * final["REINFORCE"], (name, final[name], root)
