"""The learning-rate finder: sweep the rate upwards for a few steps, then train with its suggestion.

What it teaches: the range test. Starting from a tiny rate, the rate is
multiplied by a constant factor every step (1e-6 up to 10 in 100 steps here)
while the loss is recorded. At first the loss hardly moves (the rate is too
low), then it falls fast, then it blows up (the rate is too high). A good
rate is where the smoothed loss falls fastest; `tg.train.lr_find` reports it
and leaves the model and optimizer as they were. The script then trains an
MLP on the two-moons classification task with the suggested rate and, for
comparison, with rates 100x lower and 100x higher.

Run:  python examples/11_lr_finder.py [--out lr_finder] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))


def run(out: str, quick: bool = False, epochs: int = 100, seed: int = 0) -> dict:
    """Run the range test, plot it, then train with the suggestion and two other rates."""
    if quick:
        epochs = 40
    os.makedirs(out, exist_ok=True)
    x, y = tg.datasets.moons(n=200, noise=0.15, seed=seed)
    criterion = nn.CrossEntropyLoss()

    tg.manual_seed(seed)
    model = mlp()
    before = [p.numpy().copy() for p in model.parameters()]
    finder = tg.train.lr_find(model, criterion, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), (x, y),
                              start_lr=1e-6, end_lr=10, num_iter=100)
    unchanged = all(np.array_equal(a, p.numpy()) for a, p in zip(before, model.parameters()))
    suggestion = finder.suggestion
    print(f"range test: {len(finder.lrs)} steps from lr {finder.lrs[0]:.0e} to {finder.lrs[-1]:.2g}"
          f"{' (stopped: the loss blew up)' if finder.diverged else ''}; suggestion lr = {suggestion:.3g}; "
          f"model left unchanged: {unchanged}")
    finder_png = os.path.join(out, "lr_find.png")
    viz.save_figure(finder.plot(), finder_png, dpi=100)

    runs, final = {}, {}
    for lr in (suggestion / 100, suggestion, suggestion * 100):
        tg.manual_seed(seed)                                  # the same initial weights for every run
        model = mlp()
        history = tg.train.fit(model, criterion, optim.SGD(model.parameters(), lr=lr, momentum=0.9), (x, y),
                               epochs=epochs, metrics=["accuracy"], progress=False)
        name = f"lr {lr:.2g}" + (" (suggested)" if lr == suggestion else "")
        runs[name] = history
        final[lr] = history["train_loss"][-1]
        print(f"{name:<24} loss {history['train_loss'][0]:.3f} -> {history['train_loss'][-1]:.4g}, "
              f"accuracy {history['accuracy'][-1]:.3f}")
    curves_png = os.path.join(out, "lr_find_training.png")
    figure = viz.compare_losses(runs, log_y=True, title=f"SGD+momentum, {epochs} full-batch epochs")
    viz.save_figure(figure, curves_png, dpi=100)
    return {"finder": finder, "unchanged": unchanged, "final_loss": final, "files": [finder_png, curves_png]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="lr_finder", help="directory for the figures")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
