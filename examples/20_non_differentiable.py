"""Gradients through a non-differentiable step: REINFORCE, straight-through and Gumbel-softmax.

What it teaches. A sample b ~ Bernoulli(theta) has no derivative with respect to theta, yet the
expected loss does. The toy of Tucker et al. (2017) and Grathwohl et al. (2018):

    L(theta) = E[(b - t)^2] = theta (1 - t)^2 + (1 - theta) t^2,   t = 0.45,

so dL/dtheta = (1 - t)^2 - t^2 = 1 - 2t = 0.1 for every theta: L is linear in theta with a positive
slope, and its minimum over [0, 1] is at theta = 0 (L = t^2 = 0.2025), while theta = 1 gives
(1 - t)^2 = 0.3025. The two outcomes differ by only 0.1, so the signal is small against the noise of
one sample. Every gradient below is d/dtheta, estimated from ONE sample of b, and compared with the
exact 0.1:

1. REINFORCE (the score function): (b - t)^2 * d/dtheta log p(b; theta). Unbiased at every theta,
   but its variance (0.25 at theta = 0.5, 0.5 at 0.2, 1.8 at 0.05) is 25x-180x the squared signal.
2. Straight-through (Bengio, Leonard & Courville 2013): use the sample b forward and pretend
   db/dtheta = 1 backward (``b + theta - theta.detach()``). Its mean is 2(theta - t), the slope of
   (theta - t)^2, not of L: exact only at theta = 0.5, and zero at theta = t. Gradient descent with
   it settles at theta = 0.45 instead of 0.
3. Gumbel-softmax (Jang et al. 2017; Maddison et al. 2017, the Concrete distribution):
   ``F.gumbel_softmax(logits, tau)`` with logits (log(1 - theta), log theta) gives a relaxed sample
   y in (0, 1), and the gradient of (y - t)^2 is exact for the *relaxed* objective E[(y_tau - t)^2],
   not for L. Large tau: low variance, large bias; small tau: less bias, variance exploding
   (tau = 0.1: 1.4-2.2 at theta in [0.2, 0.8], 4x-5x REINFORCE's; tau = 2: 0.017-0.032). ``hard=True`` (the
   straight-through Gumbel estimator) uses the one-hot sample forward and the soft gradient backward.

The example draws many independent single-sample estimates at a grid of theta values (one
autograd pass over a vector of thetas gives them all), prints mean, bias, variance and the theta at
which each estimator's mean gradient vanishes (where descent with it stops), then runs Adam on
phi (theta = sigmoid(phi), phi = 0 so theta = 0.5 at the start) with one sample per step, for
many independent runs at once (Adam is elementwise, so the entries of one phi vector are
independent runs).

What reproduces (seed 0, full run): REINFORCE's mean is within its standard error of 0.1 at every
theta and its runs end at theta ~ 0.02 (the exact gradient: 0.001); straight-through ends at
theta ~ 0.45, and the Gumbel-softmax runs with tau = 0.5 and 1 end near the zero of their own mean
gradient (theta ~ 0.355 and 0.375; the hard variant ~ 0.43), never at 0. With tau = 0.1 the relaxed
objective is, like L, smallest at theta = 0 (its mean gradient stays positive), but that gradient
fades in proportion to theta (0.04 at theta = 0.2, 0.01 at 0.05) under 5x REINFORCE's variance, so after
1000 steps its runs are still at theta ~ 0.12 (REINFORCE: 0.024). Which of the biased estimators is
"closest" depends on theta: at theta = 0.5 the straight-through mean happens to be exactly 0.1.
Variance reduction (a baseline, REBAR, RELAX: the papers of the toy) is not shown.

Run:  python examples/20_non_differentiable.py [--out nondiff] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
import tinygrad_edu.nn.functional as F  # noqa: E402
from tinygrad_edu import optim, viz  # noqa: E402

TARGET = 0.45                                   # t
THETAS = np.round(np.arange(0.05, 0.951, 0.05), 2)   # where the estimators are measured
TABLE_THETAS = (0.2, 0.5, 0.8)                  # the rows of the printed table
# name -> (kind, tau, hard)
ESTIMATORS = {
    "REINFORCE": ("reinforce", None, False),
    "straight-through": ("straight_through", None, False),
    "Gumbel-softmax tau=0.1": ("gumbel", 0.1, False),
    "Gumbel-softmax tau=0.5": ("gumbel", 0.5, False),
    "Gumbel-softmax tau=1": ("gumbel", 1.0, False),
    "Gumbel-softmax tau=2": ("gumbel", 2.0, False),
    "ST Gumbel-softmax (hard) tau=1": ("gumbel", 1.0, True),
}
OPTIMISED = ("exact", "REINFORCE", "straight-through", "Gumbel-softmax tau=0.1", "Gumbel-softmax tau=0.5",
             "Gumbel-softmax tau=1", "ST Gumbel-softmax (hard) tau=1")


def expected_loss(theta, t: float = TARGET):
    """L(theta) = E[(b - t)^2] for b ~ Bernoulli(theta): theta (1 - t)^2 + (1 - theta) t^2 (works on Tensors)."""
    return theta * (1 - t) ** 2 + (1 - theta) * t ** 2


def surrogate(name: str, theta: tg.Tensor, t: float = TARGET) -> tg.Tensor:
    """A scalar whose gradient with respect to ``theta`` holds one single-sample estimate of dL/dtheta per entry.

    ``theta`` is a vector of probabilities; each entry draws its own sample, so the entries of the
    gradient are independent estimates. ``name`` is ``"exact"`` (the gradient of L itself) or a key of
    ESTIMATORS.
    """
    if name == "exact":
        return expected_loss(theta, t).sum()
    kind, tau, hard = ESTIMATORS[name]
    if kind == "reinforce":
        b = tg.bernoulli(theta.detach())                       # the sample: no gradient flows through it
        log_p = b * theta.log() + (1 - b) * (1 - theta).log()   # log p(b; theta)
        return ((b - t) ** 2 * log_p).sum()                     # f(b) d/dtheta log p(b; theta)
    if kind == "straight_through":
        b = tg.bernoulli(theta.detach())
        b = b + theta - theta.detach()                          # forward: b; backward: db/dtheta := 1
        return ((b - t) ** 2).sum()
    logits = tg.stack([(1 - theta).log(), theta.log()], dim=-1)  # category 1 is b = 1
    y = F.gumbel_softmax(logits, tau=tau, hard=hard)[:, 1]
    return ((y - t) ** 2).sum()


def gradient_samples(name: str, theta: float, n: int) -> np.ndarray:
    """``n`` independent single-sample estimates of dL/dtheta at ``theta`` (float64)."""
    thetas = tg.full((n,), float(theta), dtype=tg.float64, requires_grad=True)
    surrogate(name, thetas).backward()
    return thetas.grad.numpy().copy()


def zero_crossing(thetas: np.ndarray, means: np.ndarray, se: np.ndarray) -> float | None:
    """The theta where the mean gradient turns from negative to positive (linear interpolation).

    None unless the mean is significantly negative somewhere (below -3 standard errors): a mean that is
    small and positive everywhere would otherwise cross zero by noise alone.
    """
    negative = np.flatnonzero(means < -3 * se)
    if len(negative) == 0:
        return None
    for i in range(negative[0], len(thetas) - 1):
        if means[i] <= 0 < means[i + 1]:
            return float(thetas[i] - means[i] * (thetas[i + 1] - thetas[i]) / (means[i + 1] - means[i]))
    return None


def optimise(name: str, runs: int, steps: int, lr: float) -> np.ndarray:
    """Adam on phi (theta = sigmoid(phi), phi = 0 at the start), one sample per step; theta after every step.

    ``runs`` independent runs are the entries of one phi vector (Adam's update is elementwise).
    Returns an array of shape (steps + 1, runs).
    """
    phi = tg.zeros(runs, dtype=tg.float64, requires_grad=True)
    optimizer = optim.Adam([phi], lr=lr)
    path = [1 / (1 + np.exp(-phi.numpy().copy()))]
    for _ in range(steps):
        optimizer.zero_grad()
        surrogate(name, phi.sigmoid()).backward()
        optimizer.step()
        path.append(1 / (1 + np.exp(-phi.numpy().copy())))
    return np.array(path)


def run(out: str, quick: bool = False, seed: int = 0, samples: int = 100_000, runs: int = 64,
        steps: int = 1000, lr: float = 0.05) -> dict:
    """Measure each estimator's bias and variance over a grid of theta, then optimise with each."""
    if quick:
        samples, runs, steps = 10_000, 32, 400
    os.makedirs(out, exist_ok=True)
    t = TARGET
    exact = 1 - 2 * t
    grid = np.linspace(0, 1, 101)
    losses = expected_loss(grid, t)
    print(f"L(theta) = theta (1-t)^2 + (1-theta) t^2 with t = {t}: dL/dtheta = (1-t)^2 - t^2 = 1 - 2t = {exact:.4g}")
    print(f"  L is linear with positive slope, so its minimum on [0, 1] is at theta = {grid[np.argmin(losses)]:.0f} "
          f"(L = t^2 = {losses.min():.4f}; L(1) = (1-t)^2 = {losses[-1]:.4f})")

    tg.manual_seed(seed)
    stats: dict[str, dict] = {}
    for name in ESTIMATORS:
        means, variances = [], []
        for theta in THETAS:
            g = gradient_samples(name, theta, samples)
            means.append(g.mean())
            variances.append(g.var(ddof=1))
        means, variances = np.array(means), np.array(variances)
        se = np.sqrt(variances / samples)
        stats[name] = {"mean": means, "var": variances, "se": se, "bias": means - exact,
                       "stationary": zero_crossing(THETAS, means, se)}

    print(f"\n{samples} single-sample estimates of dL/dtheta per theta (exact: {exact:.4g} everywhere):")
    print(f"  {'estimator':<31}" + "".join(f"  theta={th}: mean (bias)   var  " for th in TABLE_THETAS)
          + "  mean grad = 0 at")
    for name, s in stats.items():
        cells = ""
        for th in TABLE_THETAS:
            i = int(np.argmin(abs(THETAS - th)))
            cells += f"  {s['mean'][i]:+.3f} ({s['bias'][i]:+.3f}) {s['var'][i]:7.3f}   "
        stop = "never" if s["stationary"] is None else f"theta = {s['stationary']:.3f}"
        print(f"  {name:<31}{cells}  {stop}")
    worst = max(abs(stats["REINFORCE"]["bias"] / stats["REINFORCE"]["se"]))
    print(f"  REINFORCE: largest |bias| / standard error over the {len(THETAS)} thetas = {worst:.2f} (unbiased)")

    print(f"\nAdam (lr {lr}) on phi, theta = sigmoid(phi) starting at 0.5, one sample per step, {runs} runs, "
          f"{steps} steps:")
    paths = {}
    for name in OPTIMISED:
        tg.manual_seed(seed + 1)
        paths[name] = optimise(name, runs, steps, lr)
        final = paths[name][-1]
        q1, median, q3 = np.percentile(final, [25, 50, 75])
        stop = stats[name]["stationary"] if name in stats else None
        where = "" if stop is None else f"   (its mean gradient is 0 at theta = {stop:.3f})"
        print(f"  {name:<31} final theta: median {median:.4f}, quartiles {q1:.4f}-{q3:.4f}{where}")

    @viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
    def draw() -> Figure:
        fig = Figure(figsize=(18, 5.4), layout="constrained")
        mean_ax, var_ax, path_ax = fig.subplots(1, 3)
        colors = {name: viz.PALETTE[i] for i, name in enumerate(ESTIMATORS)} | {"exact": "0.55"}
        for name, s in stats.items():
            mean_ax.plot(THETAS, s["mean"], "o-", ms=3, color=colors[name], label=name)
            var_ax.semilogy(THETAS, s["var"], "o-", ms=3, color=colors[name], label=name)
        mean_ax.axhline(exact, color="k", ls="--", label="exact: 1 - 2t (left), theta = t (right)")
        mean_ax.axhline(0, color="grey", lw=0.8)
        mean_ax.set_xlabel("theta")
        mean_ax.set_ylabel("mean of the single-sample estimates")
        mean_ax.set_title("bias: mean estimate\nvs exact dL/dtheta")
        var_ax.set_xlabel("theta")
        var_ax.set_ylabel("variance of one estimate")
        var_ax.set_title("variance")
        steps_axis = np.arange(steps + 1)
        for name, path in paths.items():
            path_ax.plot(steps_axis, np.median(path, axis=1), color=colors[name], label=name,
                         lw=2.5 if name == "exact" else 1.5)
        path_ax.axhline(t, color="k", lw=1.2, ls="--")
        path_ax.set_xlabel("Adam step")
        path_ax.set_ylabel(f"theta (median of {runs} runs)")
        path_ax.set_title("optimising with each estimator\n(minimum at theta = 0)")
        # the same estimators in every panel: one legend for the figure
        handles, labels = mean_ax.get_legend_handles_labels()
        exact_path = [line for line in path_ax.get_lines() if line.get_label() == "exact"]
        fig.legend(handles + exact_path, labels + ["exact gradient (right)"][:len(exact_path)],
                   loc="outside right upper")
        return fig

    fig = draw()
    png = os.path.join(out, "non_differentiable.png")
    viz.save_figure(fig, png, dpi=100)
    return {"t": t, "exact": exact, "minimum": float(grid[np.argmin(losses)]), "thetas": THETAS,
            "samples": samples, "stats": stats, "paths": paths, "steps": steps, "runs": runs, "files": [png]}


def check_claim(r: dict) -> None:
    """REINFORCE is unbiased and finds theta = 0; straight-through and Gumbel-softmax are biased and stop short."""
    reinforce = r["stats"]["REINFORCE"]
    z = np.abs(reinforce["bias"]) / reinforce["se"]
    assert z.max() < 4.5, f"REINFORCE's mean is {z.max():.2f} standard errors from 1 - 2t"
    st = r["stats"]["straight-through"]
    i = int(np.argmin(abs(r["thetas"] - 0.2)))
    assert abs(st["bias"][i]) > 10 * st["se"][i], f"straight-through bias at theta 0.2 is only {st['bias'][i]:.3f}"
    final = {name: float(np.median(path[-1])) for name, path in r["paths"].items()}
    assert final["exact"] < 0.05 and final["REINFORCE"] < 0.1, f"exact/REINFORCE did not approach 0: {final}"
    assert abs(final["straight-through"] - r["t"]) < 0.05, f"straight-through did not stop near t: {final}"
    for name in ("Gumbel-softmax tau=0.5", "Gumbel-softmax tau=1"):
        assert final[name] > 3 * final["REINFORCE"], f"{name} reached theta = 0 like REINFORCE: {final}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="nondiff", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer samples and steps (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.out, args.quick, seed=args.seed)
    check_claim(results)
    final = {name: float(np.median(path[-1])) for name, path in results["paths"].items()}
    print(f"verdict: REINFORCE unbiased and reaches theta = {final['REINFORCE']:.3f}; straight-through stops at "
          f"{final['straight-through']:.3f}, Gumbel-softmax tau=1 at {final['Gumbel-softmax tau=1']:.3f} (biased)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
