"""Linear regression twice: in pure NumPy with hand-derived gradients, and in tinygrad_edu.

What it teaches: what ``loss.backward()`` computes. For the model
y_hat = w x + b and the loss L = mean((y_hat - y)²), calculus gives

    dL/dw = 2 * mean((y_hat - y) * x)        dL/db = 2 * mean(y_hat - y)

The script trains the same model from the same starting weights with
full-batch gradient descent twice, once with those two formulas written in
NumPy and once with autograd and ``optim.SGD``, and checks that the two
trajectories of (w, b, loss) are the same up to float rounding.

Run:  python examples/04_numpy_vs_tinygrad.py [--out numpy_vs_tinygrad] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402


def train_numpy(x: np.ndarray, y: np.ndarray, w: float, b: float, lr: float, epochs: int) -> np.ndarray:
    """Gradient descent with the gradients derived by hand; rows (w, b, loss) before each step."""
    w, b = np.float32(w), np.float32(b)
    rows = []
    for _ in range(epochs):
        error = w * x + b - y                     # y_hat - y
        loss = np.mean(error**2)
        grad_w = 2 * np.mean(error * x)           # dL/dw
        grad_b = 2 * np.mean(error)               # dL/db
        rows.append((w, b, loss))
        w, b = w - np.float32(lr) * grad_w, b - np.float32(lr) * grad_b
    return np.array(rows, dtype=np.float64)


def train_tinygrad(model: nn.Linear, x: tg.Tensor, y: tg.Tensor, lr: float, epochs: int) -> np.ndarray:
    """The same descent with autograd and optim.SGD; rows (w, b, loss) before each step."""
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr)
    rows = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        rows.append((model.weight.item(), model.bias.item(), loss.item()))
        loss.backward()
        optimizer.step()
    return np.array(rows, dtype=np.float64)


def run(out: str, quick: bool = False, lr: float = 0.1, epochs: int = 50, seed: int = 0) -> dict:
    """Train both ways from the same init; assert and print that they agree; plot the trajectories."""
    if quick:
        epochs = 20
    os.makedirs(out, exist_ok=True)
    tg.manual_seed(seed)
    x, y = tg.datasets.linear(n=100, seed=seed)
    model = nn.Linear(1, 1)
    w0, b0 = model.weight.item(), model.bias.item()

    by_hand = train_numpy(x.numpy(), y.numpy(), w0, b0, lr, epochs)
    autograd = train_tinygrad(model, x, y, lr, epochs)
    gap = float(np.abs(by_hand - autograd).max())
    assert np.allclose(by_hand, autograd, rtol=1e-5, atol=1e-6), f"trajectories differ by {gap}"

    print(f"start: w = {w0:+.4f}, b = {b0:+.4f}; {epochs} full-batch steps of lr {lr}")
    for k in (0, epochs // 2, epochs - 1):
        print(f"step {k:2d}  NumPy w={by_hand[k, 0]:+.6f} b={by_hand[k, 1]:+.6f} loss={by_hand[k, 2]:.6f}   "
              f"tinygrad_edu w={autograd[k, 0]:+.6f} b={autograd[k, 1]:+.6f} loss={autograd[k, 2]:.6f}")
    print(f"the two trajectories are identical up to float rounding: largest difference {gap:.1e}")

    png = os.path.join(out, "numpy_vs_tinygrad.png")
    viz.save_figure(draw(by_hand, autograd), png, dpi=100)
    return {"numpy": by_hand, "tinygrad": autograd, "files": [png]}


@viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
def draw(by_hand: np.ndarray, autograd: np.ndarray) -> Figure:
    """w, b and the loss per step, by hand and by autograd, one panel each."""
    fig = Figure(figsize=(12, 4), layout="constrained")
    for ax, column, name in zip(fig.subplots(1, 3), range(3), ("w", "b", "loss")):
        ax.plot(by_hand[:, column], "o", color=viz.PALETTE[3], markersize=7, label="NumPy, by hand")
        ax.plot(autograd[:, column], "-", color=viz.PALETTE[0], label="tinygrad_edu autograd")
        ax.set_xlabel("step")
        ax.set_title(f"{name}: by hand vs autograd")
    viz.place_legend(ax)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="numpy_vs_tinygrad", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer steps (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
