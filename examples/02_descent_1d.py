"""Gradient descent in one dimension: L(x) = x² + 2x + 1 from x = 5, step 0.2, 15 steps.

What it teaches: the update x <- x - eta * L'(x) with L'(x) = 2x + 2, on the
sources' first picture. Each step multiplies the distance to the minimum
x = -1 by (1 - 2 * eta) = 0.6, so the walk takes big steps far away and
small ones near the bottom. The figure shows the curve with the steps on it,
and a GIF replays them at 2 frames per second.

Run:  python examples/02_descent_1d.py [--out descent_1d] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

from tinygrad_edu import optim, surfaces, viz  # noqa: E402  (after choosing the backend)


def run(out: str, quick: bool = False, lr: float = 0.2, steps: int = 15) -> dict:
    """Descend the parabola from x = 5; write the picture and the GIF; return the path and file names."""
    if quick:
        steps = min(steps, 8)
    os.makedirs(out, exist_ok=True)
    path = surfaces.descend(surfaces.parabola, lambda p: optim.SGD(p, lr=lr), start=5.0, steps=steps,
                            label=f"SGD (lr {lr})")
    for k in range(0, steps + 1, max(1, steps // 5)):
        print(f"step {k:2d}: x = {path.points[k, 0]:+.5f}, L(x) = {path.losses[k]:.6f}")
    print(f"after {steps} steps x = {path.points[-1, 0]:.5f} (minimum at -1; "
          f"predicted -1 + 6 * {1 - 2 * lr:.1f}^{steps} = {-1 + 6 * (1 - 2 * lr) ** steps:.5f})")
    png = os.path.join(out, "descent_1d.png")
    viz.save_figure(viz.plot_path_1d(surfaces.parabola, path), png, dpi=100)
    gif = viz.save_gif(viz.animate_path(surfaces.parabola, path, fps=2), os.path.join(out, "descent_1d.gif"))
    return {"path": path, "lr": lr, "steps": steps, "files": [png, gif]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="descent_1d", help="directory for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer steps (for the tests)")
    args = parser.parse_args(argv)
    run(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
