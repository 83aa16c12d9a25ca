"""Every optimizer of tinygrad_edu racing on three classic surfaces: Rosenbrock, a ravine, a saddle.

What it teaches: how the update rules differ in practice.
- Rosenbrock's curved, flat-bottomed valley: plain SGD must use a tiny rate
  (the walls are steep) and then crawls along the floor; heavy-ball momentum and most adaptive
  methods get much further in the same number of steps.
- The ravine 0.5 (x² + 100 y²), a hundred times steeper across than along:
  SGD's rate is capped by the steep direction (eta < 2/100), so it creeps
  along x; heavy-ball momentum and per-parameter scaling (RMSprop, Adam)
  fix this.
- The saddle x² - y², started almost exactly on the x axis: the gradient
  there points at the saddle point; every method is eventually carried
  away along y, the ones with momentum or per-parameter scaling fastest.
Each optimizer gets a rate that suits it (printed in the legend): a rate is
part of the optimizer, not a constant to share.

Eleven paths on one contour plot hide each other, so each race is drawn as
small multiples (``tg.viz.plot_race``): one panel per optimizer with the same
contours and axes, and a last panel with every loss against the step.

Run:  python examples/06_optimizer_race.py [--out optimizer_race] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402

from tinygrad_edu import optim, surfaces, viz  # noqa: E402  (after choosing the backend)

OPTIMIZERS = {
    "SGD": lambda lr: lambda p: optim.SGD(p, lr=lr),
    "SGD+momentum": lambda lr: lambda p: optim.SGD(p, lr=lr, momentum=0.9),
    "Momentum (EMA)": lambda lr: lambda p: optim.Momentum(p, lr=lr, beta=0.9),
    "RMSprop": lambda lr: lambda p: optim.RMSprop(p, lr=lr),
    "Adagrad": lambda lr: lambda p: optim.Adagrad(p, lr=lr),
    "Adam": lambda lr: lambda p: optim.Adam(p, lr=lr),
    "AdamW": lambda lr: lambda p: optim.AdamW(p, lr=lr),
    "NAdam": lambda lr: lambda p: optim.NAdam(p, lr=lr),
    "RAdam": lambda lr: lambda p: optim.RAdam(p, lr=lr),
    "Adafactor": lambda lr: lambda p: optim.Adafactor(p, lr=lr),
    "Lion": lambda lr: lambda p: optim.Lion(p, lr=lr),
}

# surface: (start, steps, {optimizer: rate}) -- rates picked by hand so that no method blows up.
RACES = {
    "rosenbrock": ((-1.5, 2.0), 500, {"SGD": 1e-3, "SGD+momentum": 1e-3, "Momentum (EMA)": 2e-3, "RMSprop": 0.02,
                                      "Adagrad": 1.0, "Adam": 0.05, "AdamW": 0.05, "NAdam": 0.05, "RAdam": 0.01,
                                      "Adafactor": 0.05, "Lion": 0.01}),
    "ravine": ((-8.0, 2.0), 100, {"SGD": 0.018, "SGD+momentum": 0.01, "Momentum (EMA)": 0.018, "RMSprop": 0.05,
                                  "Adagrad": 1.0, "Adam": 0.5, "AdamW": 0.5, "NAdam": 0.5, "RAdam": 0.005,
                                  "Adafactor": 0.05, "Lion": 0.05}),
    "saddle": ((-1.5, 1e-3), 50, {"SGD": 0.1, "SGD+momentum": 0.05, "Momentum (EMA)": 0.1, "RMSprop": 0.1,
                                  "Adagrad": 0.1, "Adam": 0.1, "AdamW": 0.1, "NAdam": 0.1, "RAdam": 0.1,
                                  "Adafactor": 0.02, "Lion": 0.02}),
}


def run(out: str, quick: bool = False) -> dict:
    """Race every optimizer on each surface; one figure of small multiples per surface; return the paths."""
    os.makedirs(out, exist_ok=True)
    results, files = {}, []
    for name, (start, steps, rates) in RACES.items():
        if quick:
            steps = min(steps, 150)
        surface = surfaces.get(name)
        paths = [surfaces.descend(surface, OPTIMIZERS[opt](lr), start, steps, label=f"{opt} (lr {lr:g})")
                 for opt, lr in rates.items()]
        results[name] = {path.name.split(" (")[0]: path for path in paths}
        print(f"{name}: {surface.formula}, start {start}, {steps} steps")
        for path in sorted(paths, key=lambda p: p.losses[-1] if np.isfinite(p.losses[-1]) else np.inf):
            x, y = path.points[-1]
            print(f"  {path.name:<28} ends at ({x:+9.3f}, {y:+9.3f})  loss {path.losses[-1]:+.4g}")
        png = os.path.join(out, f"race_{name}.png")
        figure = viz.plot_race(surface, *paths, bounds=surface.bounds,
                               title=f"{name}: {surface.formula}, {len(paths)} optimizers, {steps} steps from {start}")
        viz.save_figure(figure, png, dpi=100)
        files.append(png)
    return {"paths": results, "files": files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="optimizer_race", help="directory for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer steps on Rosenbrock (for the tests)")
    args = parser.parse_args(argv)
    run(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
