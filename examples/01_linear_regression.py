"""Linear regression by gradient descent: learn w = 3, b = 1 from noisy points.

What it teaches: the training loop of the sources, step by step —
take the data, run the model forward, measure the loss, backpropagate, update
the parameters, repeat — on y = 3x + 1 + noise with a single Linear(1, 1)
neuron and the mean squared error. The loop is written exactly as in PyTorch:
only the import differs. Gradient descent lands on the least-squares line
(w close to 3, b close to 1) and the loss falls to the noise floor
(0.1² = 0.01). The figure shows the loss curve and the fitted line through
the points.

Run:  python examples/01_linear_regression.py [--out linear_regression] [--quick]
          [--epochs 100] [--lr 0.1] [--seed 0]
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


def fit_line(epochs: int = 100, lr: float = 0.1, seed: int = 0, verbose: bool = True) -> dict:
    """Train Linear(1, 1) on y = 3x + 1 + 0.1 noise; return the data, the model and the loss per epoch."""
    tg.manual_seed(seed)
    model = nn.Linear(1, 1)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr)

    x = tg.randn(100, 1)
    y = 3 * x + 1 + 0.1 * tg.randn(100, 1)

    losses = []
    for epoch in range(epochs):
        optimizer.zero_grad()              # 1. forget the previous step's gradients
        loss = criterion(model(x), y)      # 2. forward pass and loss
        loss.backward()                    # 3. backpropagation: d loss / d parameters
        optimizer.step()                   # 4. theta <- theta - lr * gradient
        losses.append(loss.item())
        if verbose and epoch % 10 == 0:
            print(f"Epoch {epoch}: Loss = {loss.item():.4f}")

    w, b = model.weight.item(), model.bias.item()
    if verbose:
        print(f"learned w = {w:.4f} (true 3), b = {b:.4f} (true 1), final loss = {loss.item():.5f}")
    return {"x": x, "y": y, "model": model, "w": w, "b": b, "loss": loss.item(), "losses": losses}


def train(epochs: int = 100, lr: float = 0.1, seed: int = 0, verbose: bool = True) -> tuple[float, float, float]:
    """Train Linear(1, 1) on y = 3x + 1 + 0.1 noise; return (w, b, final loss)."""
    result = fit_line(epochs, lr, seed, verbose)
    return result["w"], result["b"], result["loss"]


def run(out: str, quick: bool = False, epochs: int = 100, lr: float = 0.1, seed: int = 0) -> dict:
    """Train, then draw the loss curve and the fitted line; return the numbers and the figure's path."""
    if quick:
        epochs = min(epochs, 60)
    os.makedirs(out, exist_ok=True)
    result = fit_line(epochs, lr, seed)
    png = os.path.join(out, "linear_regression.png")
    viz.save_figure(draw(result, lr), png, dpi=100)
    return {**result, "epochs": epochs, "lr": lr, "files": [png]}


@viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
def draw(result: dict, lr: float) -> Figure:
    """The loss curve and the fitted line beside the data."""
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    curve_ax, line_ax = fig.subplots(1, 2)
    viz.plot_history({"train_loss": result["losses"]}, ax=curve_ax, log_y=True,
                     title=f"MSE per epoch (SGD, lr {lr})")
    x, y = result["x"].numpy()[:, 0], result["y"].numpy()[:, 0]
    grid = np.linspace(x.min(), x.max(), 2)
    line_ax.scatter(x, y, s=14, alpha=0.6, color=viz.PALETTE[0], label="data: y = 3x + 1 + noise")
    line_ax.plot(grid, result["w"] * grid + result["b"], color=viz.PALETTE[1],
                 label=f"learned: y = {result['w']:.3f}x + {result['b']:.3f}")
    line_ax.plot(grid, 3 * grid + 1, color="black", linestyle=":", label="true: y = 3x + 1")
    line_ax.set_xlabel("x")
    line_ax.set_ylabel("y")
    line_ax.set_title("the fitted line against the true one")
    viz.place_legend(line_ax)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="linear_regression", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for the tests)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, args.epochs, args.lr, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
