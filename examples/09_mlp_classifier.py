"""An MLP classifier on two moons and on three spirals, with its decision boundary.

What it teaches: a hidden layer with a nonlinearity bends the decision
boundary. Neither data set can be split by a straight line; a small
Linear -> ReLU -> Linear -> ReLU -> Linear network trained with Adam and the
cross-entropy loss (the loss that matches a classification task) separates
both. The figure colours a grid of points by the class the model predicts
there, with the training points on top.

Run:  python examples/09_mlp_classifier.py [--out mlp_classifier] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402


def mlp(classes: int, hidden: int = 64) -> nn.Module:
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, classes))


def train(x: tg.Tensor, y: tg.Tensor, classes: int, epochs: int, lr: float = 0.02) -> tuple[nn.Module, dict]:
    """Full-batch Adam on the cross-entropy; return the model and its history (with accuracy)."""
    model = mlp(classes)
    history = tg.train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr), (x, y),
                           epochs=epochs, metrics=["accuracy"], progress=False)
    return model, history


def draw_boundary(ax, model: nn.Module, x: np.ndarray, y: np.ndarray, title: str) -> None:
    """Colour a grid by the predicted class (contourf of the model's outputs), then scatter the data."""
    (x0, y0), (x1, y1) = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    grid = tg.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
    model.eval()
    with tg.no_grad():
        predicted = model(grid).argmax(dim=1).numpy().reshape(gx.shape)
    classes = int(y.max()) + 1
    colors = ListedColormap(viz.PALETTE[:classes])  # colour-blind-safe, one colour per class
    ax.contourf(gx, gy, predicted, levels=np.arange(classes + 1) - 0.5, cmap=colors, alpha=0.3)
    for k in range(classes):  # a marker per class too, so the classes differ without colour
        style = viz.series_style(k)
        ax.scatter(x[y == k, 0], x[y == k, 1], color=style["color"], marker="os^"[k % 3], s=22, edgecolors="k",
                   linewidths=0.4, label=f"class {k}")
    ax.set_title(title)
    viz.place_legend(ax)


@viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
def draw(panels: list) -> Figure:
    """One decision-boundary panel per trained model."""
    fig = Figure(figsize=(11, 5), layout="constrained")
    for ax, panel in zip(fig.subplots(1, len(panels)), panels):
        draw_boundary(ax, *panel)
    return fig


def run(out: str, quick: bool = False, seed: int = 0) -> dict:
    """Train on moons and on spirals; draw both decision boundaries; return the accuracies."""
    epochs = 150 if quick else 400
    os.makedirs(out, exist_ok=True)
    accuracies, panels = {}, []
    for name, (x, y), classes in (("moons", tg.datasets.moons(n=200, noise=0.1, seed=seed), 2),
                                  ("spirals", tg.datasets.spirals(n=300, seed=seed), 3)):
        tg.manual_seed(seed)
        model, history = train(x, y, classes, epochs)
        model.eval()
        with tg.no_grad():
            accuracy = tg.train.accuracy(model(x), y)
        accuracies[name] = accuracy
        print(f"{name:<8} {classes} classes, {len(y)} points: cross-entropy {history['train_loss'][0]:.3f} -> "
              f"{history['train_loss'][-1]:.3f} in {epochs} epochs, training accuracy {accuracy:.3f}")
        panels.append((model, x.numpy(), y.numpy(), f"{name}: training accuracy {accuracy:.2f}"))
    png = os.path.join(out, "decision_boundaries.png")
    viz.save_figure(draw(panels), png, dpi=100)
    return {"accuracy": accuracies, "files": [png]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="mlp_classifier", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
