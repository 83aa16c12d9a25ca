"""Gradient descent on a 2-D surface: L(x, y) = x² + y² + xy + 2x + 3y + 5 from (4, 4).

What it teaches: with two parameters the gradient is a vector,
(2x + y + 2, 2y + x + 3), and each step moves against it. The script walks
30 steps of size 0.1 with tinygrad_edu's autograd, repeats the walk with the
hand-written gradient in plain Python to show they agree, and draws the path
on the contour lines and on the surface in 3-D. The minimum is where both
partial derivatives vanish: (-1/3, -4/3).

Run:  python examples/03_surface_2d.py [--out surface_2d] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402

from tinygrad_edu import optim, surfaces, viz  # noqa: E402  (after choosing the backend)


def by_hand(start: tuple[float, float], lr: float, steps: int) -> np.ndarray:
    """The same walk with the gradient derived on paper: (2x + y + 2, 2y + x + 3)."""
    x, y = start
    points = [(x, y)]
    for _ in range(steps):
        gx, gy = 2 * x + y + 2, 2 * y + x + 3
        x, y = x - lr * gx, y - lr * gy
        points.append((x, y))
    return np.array(points)


def run(out: str, quick: bool = False, lr: float = 0.1, steps: int = 30) -> dict:
    """Descend the quadratic from (4, 4); write contour and 3-D figures; return the numbers."""
    os.makedirs(out, exist_ok=True)
    start = (4.0, 4.0)
    path = surfaces.descend(surfaces.quadratic, lambda p: optim.SGD(p, lr=lr), start, steps, label=f"SGD (lr {lr})")
    hand = by_hand(start, lr, steps)
    minimum = np.array(surfaces.quadratic.minima[0])
    for k in (0, 1, 2, 5, 10, steps):
        x, y = path.points[k]
        print(f"step {k:2d}: ({x:+.4f}, {y:+.4f})  L = {path.losses[k]:.4f}")
    gap = float(np.abs(path.points - hand).max())
    print(f"autograd path vs hand-derived gradient: largest difference {gap:.2e}")
    print(f"distance to the minimum ({minimum[0]:.4f}, {minimum[1]:.4f}): "
          f"{np.linalg.norm(path.points[0] - minimum):.3f} -> {np.linalg.norm(path.points[-1] - minimum):.4f}")
    contour = os.path.join(out, "surface_contour.png")
    surface3d = os.path.join(out, "surface_3d.png")
    viz.save_figure(viz.plot_contour(surfaces.quadratic, path), contour, dpi=100)
    viz.save_figure(viz.plot_surface_3d(surfaces.quadratic, path, bounds=((-5, 5), (-5, 5))), surface3d, dpi=100)
    return {"path": path, "hand": hand, "minimum": minimum, "files": [contour, surface3d]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="surface_2d", help="directory for the figures")
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity; the run is already quick")
    args = parser.parse_args(argv)
    run(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
