"""Batch, mini-batch and stochastic gradient descent on the same linear regression.

What it teaches: how many examples feed each step. Batch GD uses all n
points per step (one accurate, costly step per epoch); stochastic GD uses one
point (n cheap, noisy steps per epoch); mini-batch GD sits between (here 32
points, ceil(n / 32) steps per epoch) and is the standard. With the same
rate, the smaller the batch the more steps an epoch takes, so after one
epoch the stochastic run is far ahead in loss per epoch, but its loss keeps
jittering, while the full batch moves smoothly and slowly. The loss plotted
is measured on all the data after each epoch.

Run:  python examples/07_batch_sizes.py [--out batch_sizes] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens


import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402
from tinygrad_edu.data import DataLoader, TensorDataset  # noqa: E402


def run(out: str, quick: bool = False, n: int = 256, lr: float = 0.02, epochs: int = 15, seed: int = 0) -> dict:
    """Train Linear(1, 1) with batch sizes n, 32 and 1; plot the full-data loss per epoch."""
    if quick:
        epochs = 4
    os.makedirs(out, exist_ok=True)
    x, y = tg.datasets.linear(n=n, seed=seed)
    runs, steps_per_epoch = {}, {}
    for label, batch_size in ((f"batch (b = {n})", n), ("mini-batch (b = 32)", 32), ("stochastic (b = 1)", 1)):
        tg.manual_seed(seed)                                  # the same initial weights for every run
        model = nn.Linear(1, 1)
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                            generator=tg.Generator().manual_seed(seed))
        steps_per_epoch[label] = len(loader)
        history = tg.train.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=lr), loader,
                               val=(x, y), epochs=epochs, progress=False)
        runs[label] = history
        print(f"{label:<20} {len(loader):3d} steps/epoch; loss on all data after epoch 1: "
              f"{history['val_loss'][0]:.4f}, after epoch {epochs}: {history['val_loss'][-1]:.4f}; "
              f"w = {model.weight.item():.3f}, b = {model.bias.item():.3f}")
    png = os.path.join(out, "batch_sizes.png")
    figure = viz.compare_losses(runs, key="val_loss", log_y=True,
                                title=f"loss on all {n} points after each epoch (lr {lr})")
    viz.save_figure(figure, png, dpi=100)
    assert steps_per_epoch == {label: math.ceil(n / b) for label, b in zip(runs, (n, 32, 1))}
    return {"runs": runs, "steps_per_epoch": steps_per_epoch, "files": [png]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="batch_sizes", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
