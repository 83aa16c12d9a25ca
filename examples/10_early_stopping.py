"""Early stopping: catch an overfitting model at its best validation loss and keep those weights.

What it teaches: the sources' third recipe step. A big MLP (two hidden
layers of 128) learns y = sin(x) from only 12 noisy points; the training
loss keeps falling while the loss on 200 held-out points turns round and
rises: overfitting. `EarlyStopping(monitor="val_loss", patience=20,
min_delta=1e-4, restore_best_weights=True)` stops the run once the validation
loss has not improved for 20 epochs and puts back the weights of the best
epoch. The same model trained without it shows the full overfitting curve,
and `tg.train.diagnose` reads both histories the way the sources' table does.

Run:  python examples/10_early_stopping.py [--out early_stopping] [--quick]
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
from tinygrad_edu.train import EarlyStopping  # noqa: E402


def noisy_sine(n: int, rng: np.random.Generator) -> tuple[tg.Tensor, tg.Tensor]:
    x = rng.uniform(-3, 3, size=(n, 1)).astype(np.float32)
    y = (np.sin(x) + 0.4 * rng.standard_normal((n, 1))).astype(np.float32)
    return tg.tensor(x), tg.tensor(y)


def big_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(1, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))


def val_loss(model: nn.Module, data: tuple[tg.Tensor, tg.Tensor]) -> float:
    model.eval()
    with tg.no_grad():
        return nn.MSELoss()(model(data[0]), data[1]).item()


def run(out: str, quick: bool = False, epochs: int = 500, seed: int = 0) -> dict:
    """Train with and without early stopping; plot both histories; print the diagnoses."""
    if quick:
        epochs = 250
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    train, val = noisy_sine(12, rng), noisy_sine(200, rng)

    runs = {}
    for name, callbacks in (("without early stopping", []),
                            ("with early stopping", [EarlyStopping(patience=20, min_delta=1e-4)])):
        tg.manual_seed(seed)                                  # the same initial weights for both
        model = big_mlp()
        history = tg.train.fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=0.005), train, val=val,
                               epochs=epochs, callbacks=callbacks, progress=False)
        runs[name] = {"history": history, "model": model, "stop": callbacks[0] if callbacks else None}
        best = history.epoch[int(np.argmin(history["val_loss"]))]  # epochs are numbered from 0, as in Keras
        print(f"{name}: {len(history['train_loss'])} epochs; train loss {history['train_loss'][-1]:.4f}; "
              f"best val loss {min(history['val_loss']):.4f} at epoch {best} (counted from 0); "
              f"val loss of the final model {val_loss(model, val):.4f}")
        print(tg.train.diagnose(history))

    stop = runs["with early stopping"]["stop"]
    print(f"EarlyStopping stopped after epoch {stop.stopped_epoch} and restored epoch {stop.best_epoch} "
          f"(val loss {stop.best:.4f}; epochs counted from 0, as the History's x axis)")

    png = os.path.join(out, "early_stopping.png")
    viz.save_figure(draw(runs, stop.best_epoch), png, dpi=100)
    return {"runs": runs, "val": val, "files": [png]}


@viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
def draw(runs: dict, best_epoch: int) -> Figure:
    """Each run's history side by side; the restored epoch marked on the early-stopped one."""
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    for ax, (name, result) in zip(fig.subplots(1, 2), runs.items()):
        viz.plot_history(result["history"], ax=ax, log_y=True, title=name)
    ax.axvline(best_epoch, color=viz.PALETTE[2], linestyle=":", linewidth=2.5, label="restored epoch")
    viz.place_legend(ax)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="early_stopping", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
