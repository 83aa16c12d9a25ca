"""SGD (lr 0.05) against Adam (lr 0.01) on the sources' linear regression.

What it teaches: two optimizers, one problem. X ~ N(0, 1), 200 points,
y = 3X + 1 + 0.1 noise, a Linear(1, 1) neuron, mean squared error, 50
full-batch epochs from the same starting weights. Plain SGD's step is
lr * gradient, large while the error is large; Adam's step is about lr per
parameter whatever the gradient's size, so with lr 0.01 it moves at most
about 0.01 per step and needs many more steps to travel from the initial
weights to w = 3. The comparison is of settings, not of algorithms: a rate
is only good or bad for a given optimizer and problem.

Run:  python examples/05_sgd_vs_adam.py [--out sgd_vs_adam] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402


def run(out: str, quick: bool = False, epochs: int = 50, seed: int = 0) -> dict:
    """Train once with each optimizer; plot both loss curves on one figure; return the histories."""
    os.makedirs(out, exist_ok=True)
    x, y = tg.datasets.linear(n=200, seed=seed)
    runs = {}
    for name, make in (("SGD (lr 0.05)", lambda p: optim.SGD(p, lr=0.05)),
                       ("Adam (lr 0.01)", lambda p: optim.Adam(p, lr=0.01))):
        tg.manual_seed(seed)                      # the same initial weights for both
        model = nn.Linear(1, 1)
        history = tg.train.fit(model, nn.MSELoss(), make(model.parameters()), (x, y), epochs=epochs,
                               progress=False)
        runs[name] = history
        print(f"{name:<15} loss {history['train_loss'][0]:.4f} -> {history['train_loss'][-1]:.4f}, "
              f"w = {model.weight.item():.3f}, b = {model.bias.item():.3f} (true 3, 1)")
    png = os.path.join(out, "sgd_vs_adam.png")
    viz.save_figure(viz.compare_losses(runs, log_y=True, title="SGD vs Adam: 50 full-batch epochs"), png, dpi=100)
    return {"runs": runs, "files": [png]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="sgd_vs_adam", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity; 50 epochs are already quick")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
