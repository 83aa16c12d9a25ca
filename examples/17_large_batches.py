"""Large batches on digits: steps and test accuracy against batch size, for SGD (linear scaling + warmup), LARS, LAMB.

What it teaches: the sources' large-batch facts. A bigger batch takes fewer steps
for the same number of epochs (ceil(n / B) per epoch) and each step does more
work at once, so an epoch takes less time (better use of vector hardware); but
with a fixed epoch budget the model gets fewer updates, and large batches may
generalise worse. The usual remedies: raise the rate with the batch (the linear
scaling rule, Goyal et al. 2017: lr = lr_32 * B / 32) and warm it up from the
small-batch rate so the first steps do not blow up; LARS (You et al. 2017) and
LAMB (You et al. 2019) rescale each layer's step to its weights' size so very
large rates stay stable. Nado et al. 2021 found well-tuned Nesterov momentum and
Adam match LARS and LAMB, so the adaptive layer-wise scaling is not magic.

The protocol, fixed before the large-batch runs:

- data: scikit-learn's digits (1,347 train / 450 test); an MLP 64-64-10 (ReLU),
  cross-entropy; batch sizes 32, 64, 128, 256, 512 and 1,347 (the full batch);
  the same budget of 30 epochs for every batch size (``--quick``: 32, 256, 1,347
  and 10 epochs), seeds 0-2 (``--quick``: 0).
- the rate at B = 32 of each optimizer: the best of a three-point sweep at
  B = 32 only (two seeds, 30 epochs, cosine decay; run once when this example
  was written): SGD momentum 0.9 {0.01, 0.03, 0.1} -> 0.1 (test accuracy 0.96,
  0.98, 0.99); LARS (trust coefficient 0.001, momentum 0.9) {1, 3, 10} -> 3
  (0.97, 0.98, 0.98); LAMB (betas 0.9, 0.999) {0.003, 0.01, 0.03} -> 0.01
  (0.97, 0.99, diverged).
- the rate at batch B: linear scaling lr_32 * B / 32 for SGD and LARS (LARS is
  SGD with the trust ratio, made to keep linear scaling stable), square-root
  scaling lr_32 * sqrt(B / 32) for LAMB (You et al. 2019's rule).
- the schedule, the same shape for all (PyTorch's ``SequentialLR``): a linear
  warmup over the first 5 epochs (``--quick``: 2) from the B = 32 rate up to the
  scaled rate (``LinearLR(start_factor=lr_32 / lr_B)``, Goyal et al.'s gradual
  warmup), then cosine decay to 0 (``CosineAnnealingLR``) over the other steps;
  plus SGD with the linearly scaled rate and the cosine but no warmup.
- Nado et al.'s question, at the full batch only: Nesterov momentum (0.9) and Adam
  with their rate *tuned at that batch* on a five-point grid (Nesterov 0.03-3,
  Adam 0.001-0.1, the same warmup from lr * 32 / B and cosine), picked by the
  lowest final training loss (the test set is never used to choose).

One change after the first run, said here: the sweep at B = 32 was run with
LARS's biases excluded from the trust ratio (``lars_exclude``, as the LARS
authors did on ImageNet). At the linearly scaled rates (24 to 126) the excluded
biases then take plain SGD steps of 24-126 times their gradient, and every LARS
run from B = 256 on blew up (test accuracy 0.10-0.16). That tests the biases'
plain SGD, not LARS, so here every tensor gets the trust ratio (rate 3 kept).

What came out (seeds 0-2, 30 epochs; mean final test accuracy, the rate after warmup in brackets):

    batch  steps  s/epoch  SGD lin.+warmup  SGD lin., no warmup  LARS lin.+warmup  LAMB sqrt+warmup
       32   1290   0.031    0.984 (0.1)      0.988 (0.1)          0.987 (3)         0.993 (0.01)
       64    660   0.018    0.985 (0.2)      0.985 (0.2)          0.990 (6)         0.990 (0.014)
      128    330   0.013    0.986 (0.4)      0.985 (0.4)          0.991 (12)        0.990 (0.02)
      256    180   0.008    0.981 (0.8)      0.986 (0.8)          0.991 (24)        0.985 (0.028)
      512     90   0.007    0.827 (1.6)      0.961 (1.6)          0.989 (48)        0.972 (0.04)
     1347     30   0.0013   0.187 (4.2)      0.210 (4.2)          0.972 (126)       0.887 (0.065)
    tuned at B = 1347: Nesterov lr 0.3 -> 0.933, Adam lr 0.03 -> 0.955

- Fewer, bigger steps: 1,290 steps at B = 32, 30 at the full batch; an epoch of
  training takes about 25x less time at the full batch (one BLAS thread; a shared
  machine, so only the ratio means much): the hardware is used better.
- With the same epochs, every method ends lower at the full batch than at B = 32
  (30 updates instead of 1,290), so this budget cannot separate "fewer steps"
  from a generalisation gap of sharp minima; that part is not shown here.
- SGD's linear scaling holds up to B = 256 and breaks beyond: rates 1.6 and 4.2
  with momentum 0.9 end at 0.83 (B = 512) and near chance (the full batch).
  Warmup did NOT help here; it hurt at B = 512 (0.83 against 0.96, in each of
  the 3 seeds): with warmup the loss falls at the low early rates (to 0.7-1.0
  after 4 epochs) and then jumps to 3.4-3.7 when the rate reaches 1.6, and it
  recovers only partly; without warmup it jumps at once (epoch 3) and then
  settles lower. A toy-scale result, not a general one.
- LARS, with the very same linear rule (a global rate of 126 at the full batch),
  stays at 0.97: the trust ratio keeps every layer's step a fixed fraction of its
  weights. LAMB with the square-root rule degrades more (0.89).
- Nado et al.: Nesterov and Adam with their rate tuned at the full batch reach
  0.93 and 0.96, above LAMB with its rule and within 0.02-0.04 of LARS: the
  large-batch optimizers' edge here is mostly that their rule extrapolates
  without retuning. The check counts "match" as within 0.05 (22 of 450 test images).
(``--quick``, seed 0, 10 epochs: SGD 0.984 / 0.960 / 0.240 at B = 32 / 256 / 1,347;
LARS 0.967 / 0.967 / 0.918; LAMB 0.976 / 0.902 / 0.769; tuned Nesterov 0.907, Adam 0.802.)

Run:  python examples/17_large_batches.py [--out large_batches] [--quick] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import time

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402
from tinygrad_edu.data import DataLoader, TensorDataset  # noqa: E402
from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR  # noqa: E402

BASE_BATCH = 32
#: name -> (optimizer, its rate at B = 32, scaling rule, warmup): fixed before the large-batch runs (see above).
METHODS = {
    "SGD, linear scaling + warmup": ("SGD", 0.1, "linear", True),
    "SGD, linear scaling, no warmup": ("SGD", 0.1, "linear", False),
    "LARS, linear scaling + warmup": ("LARS", 3.0, "linear", True),
    "LAMB, sqrt scaling + warmup": ("LAMB", 0.01, "sqrt", True),
}
#: Nado et al.'s question, at the full batch only: name -> (optimizer, the grid of rates tuned over).
TUNED = {
    "Nesterov, tuned at the full batch": ("Nesterov", (0.03, 0.1, 0.3, 1.0, 3.0)),
    "Adam, tuned at the full batch": ("Adam", (0.001, 0.003, 0.01, 0.03, 0.1)),
}


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def scaled_lr(base_lr: float, batch_size: int, rule: str) -> float:
    """The rate at ``batch_size``: ``base_lr`` times B/32 (linear) or sqrt(B/32) (square root)."""
    ratio = batch_size / BASE_BATCH
    return base_lr * (ratio if rule == "linear" else math.sqrt(ratio))


def make_optimizer(name: str, model: nn.Module, lr: float) -> optim.Optimizer:
    if name == "SGD":
        return optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    if name == "LARS":
        # Every tensor, biases too, gets the trust ratio (see the module docstring for why not excluded).
        return optim.LARS(model.parameters(), lr=lr, momentum=0.9)
    if name == "Nesterov":
        return optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
    if name == "Adam":
        return optim.Adam(model.parameters(), lr=lr)
    if name == "LAMB":
        return optim.LAMB(model.parameters(), lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def make_schedule(optimizer: optim.Optimizer, start_factor: float, warmup_steps: int,
                  total_steps: int) -> optim.lr_scheduler.LRScheduler:
    """Linear warmup from ``start_factor * lr`` to ``lr`` over ``warmup_steps`` steps, then cosine to 0
    over the rest; with ``warmup_steps = 0``, just the cosine."""
    if warmup_steps == 0:
        return CosineAnnealingLR(optimizer, T_max=total_steps)
    warmup = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup_steps)
    cosine = CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps)
    return SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])


class Recorder(tg.train.Callback):
    """The rate of every step, and the seconds each epoch's training part took (no validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []
        self.epoch_seconds: list[float] = []
        self._start = 0.0
        self._last = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self._start = time.perf_counter()

    def on_batch_end(self, batch: int, logs: dict) -> None:
        self.lrs.append(logs["lr"])
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epoch_seconds.append(self._last - self._start)


def train_one(optimizer_name: str, lr: float, start_factor: float, warmup: bool, batch_size: int, seed: int,
              data: tuple, epochs: int, warmup_epochs: int) -> dict:
    """Train the MLP with one optimizer and rate at one batch size; its steps, rates, time and test numbers."""
    x_train, y_train, x_test, y_test = data
    tg.manual_seed(seed)                                    # the same initial weights for every run
    model = mlp()
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True,
                        generator=tg.Generator().manual_seed(seed))
    optimizer = make_optimizer(optimizer_name, model, lr)
    total_steps = epochs * len(loader)
    warmup_steps = warmup_epochs * len(loader) if warmup else 0
    scheduler = make_schedule(optimizer, start_factor, warmup_steps, total_steps)
    recorder = Recorder()
    criterion = nn.CrossEntropyLoss()
    history = tg.train.fit(model, criterion, optimizer, loader, val=(x_test, y_test), epochs=epochs,
                           scheduler=scheduler, scheduler_interval="batch", callbacks=[recorder],
                           metrics=["accuracy"], progress=False)
    model.eval()
    with tg.no_grad():
        logits = model(x_test)
        loss = criterion(logits, y_test).item()
    accuracy = float(np.mean(logits.numpy().argmax(axis=1) == y_test.numpy()))
    return {"lr": lr, "start_factor": start_factor, "warmup_steps": warmup_steps,
            "steps_per_epoch": len(loader), "steps": len(recorder.lrs), "lrs": np.array(recorder.lrs),
            "seconds_per_epoch": float(np.median(recorder.epoch_seconds)), "history": history,
            "train_loss": history["train_loss"][-1], "logits": logits.numpy().copy(), "test_loss": loss,
            "test_accuracy": accuracy}


def _one_blas_thread():
    """One BLAS thread while timing: on a small shared machine, threaded BLAS spins on the busy core and
    makes large batches look slow (measured here: 0.10 s instead of 0.004 s per full-batch epoch)."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn, which digits needs
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run(out: str, quick: bool = False, seed: int = 0, seeds: int = 3, epochs: int = 30, warmup_epochs: int = 5,
        batch_sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1347)) -> dict:
    """Every method at every batch size for the same epochs, then the tuned baselines at the full batch."""
    if quick:
        seeds, epochs, warmup_epochs, batch_sizes = 1, 10, 2, (32, 256, 1347)
    os.makedirs(out, exist_ok=True)
    data = tg.datasets.digits()
    n_train = len(data[1].numpy())
    batch_sizes = tuple(min(b, n_train) for b in batch_sizes)
    full = batch_sizes[-1]
    seed_list = list(range(seed, seed + seeds))
    print(f"digits: {n_train} train / {len(data[3].numpy())} test, MLP 64-64-10; {epochs} epochs for every batch "
          f"size (warmup {warmup_epochs} epochs), seeds {seed_list}")
    runs: dict[str, dict[int, list[dict]]] = {method: {b: [] for b in batch_sizes} for method in METHODS}
    tuned: dict[str, dict[float, list[dict]]] = {name: {} for name in TUNED}
    with _one_blas_thread():
        for method, (name, base_lr, rule, warmup) in METHODS.items():
            for b in batch_sizes:
                lr = scaled_lr(base_lr, b, rule)
                for s in seed_list:
                    runs[method][b].append(train_one(name, lr, base_lr / lr, warmup, b, s, data, epochs,
                                                     warmup_epochs))
        for method, (name, grid) in TUNED.items():
            for lr in grid:
                tuned[method][lr] = [train_one(name, lr, BASE_BATCH / full, True, full, s, data, epochs,
                                               warmup_epochs) for s in seed_list]

    accuracy = {}
    sgd = runs["SGD, linear scaling + warmup"]
    print("final test accuracy (mean over seeds), and the rate each reaches after warmup:")
    print(f"{'batch':>6} {'steps':>6} {'s/epoch':>8}  " + "  ".join(f"{m:>30}" for m in METHODS))
    for b in batch_sizes:
        cells = []
        for method in METHODS:
            results = runs[method][b]
            accuracy[(method, b)] = float(np.mean([r["test_accuracy"] for r in results]))
            cells.append(f"{accuracy[(method, b)]:.3f} (lr {results[0]['lr']:.3g})".rjust(30))
        seconds = float(np.mean([r["seconds_per_epoch"] for r in sgd[b]]))
        print(f"{b:>6} {sgd[b][0]['steps']:>6} {seconds:>8.4f}  " + "  ".join(cells))
    chosen = {}
    for method, by_lr in tuned.items():
        losses = {lr: float(np.mean([r["train_loss"] for r in results])) for lr, results in by_lr.items()}
        chosen[method] = min(losses, key=losses.get)            # picked on the training loss, never the test set
        accuracy[(method, full)] = float(np.mean([r["test_accuracy"] for r in by_lr[chosen[method]]]))
        grid = ", ".join(f"{lr:g}: {np.mean([r['test_accuracy'] for r in by_lr[lr]]):.3f}" for lr in by_lr)
        print(f"{method} (B = {full}): lr {chosen[method]:g} (lowest final training loss) -> test accuracy "
              f"{accuracy[(method, full)]:.3f}   [grid, test accuracy: {grid}]")

    files = [_plot(runs, tuned, chosen, batch_sizes, epochs, out)]
    return {"batch_sizes": list(batch_sizes), "seeds": seed_list, "epochs": epochs, "warmup_epochs": warmup_epochs,
            "n_train": n_train, "methods": dict(METHODS), "tuned_grids": dict(TUNED), "runs": runs, "tuned": tuned,
            "chosen": chosen, "accuracy": accuracy, "y_test": data[3].numpy().copy(), "files": files}


def _plot(runs: dict, tuned: dict, chosen: dict, batch_sizes: tuple[int, ...], epochs: int, out: str) -> str:
    figure = _draw(runs, tuned, chosen, batch_sizes, epochs)
    return viz.save_figure(figure, os.path.join(out, "large_batches.png"), dpi=100)


@viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
def _draw(runs: dict, tuned: dict, chosen: dict, batch_sizes: tuple[int, ...], epochs: int):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(17, 6), layout="constrained")
    accuracy_ax, steps_ax, rates_ax = figure.subplots(1, 3)
    full = batch_sizes[-1]
    for i, (method, by_batch) in enumerate(runs.items()):
        accuracy = [np.mean([r["test_accuracy"] for r in by_batch[b]]) for b in batch_sizes]
        accuracy_ax.plot(batch_sizes, accuracy, label=method, **viz.series_style(i))
        rates = by_batch[full][0]["lrs"]
        rates_ax.plot(np.arange(1, len(rates) + 1), rates, markersize=4, label=method,
                      **viz.series_style(i, points=len(rates)))
    for j, ((method, by_lr), marker) in enumerate(zip(tuned.items(), ("*", "P"))):
        results = by_lr[chosen[method]]
        color = viz.series_style(len(runs) + j)["color"]
        accuracy_ax.plot([full], [np.mean([r["test_accuracy"] for r in results])], marker, markersize=14,
                         color=color, linestyle="none", label=f"{method} (lr {chosen[method]:g})")
        rates_ax.plot(np.arange(1, len(results[0]["lrs"]) + 1), results[0]["lrs"], "--", color=color, label=method)
    sgd = runs["SGD, linear scaling + warmup"]
    steps = [sgd[b][0]["steps"] for b in batch_sizes]
    seconds = [np.mean([r["seconds_per_epoch"] for r in sgd[b]]) for b in batch_sizes]
    steps_ax.plot(batch_sizes, steps, "o-", color="black", label=f"optimizer steps in {epochs} epochs")
    steps_ax.set_ylabel("steps")
    time_ax = steps_ax.twinx()
    time_ax.plot(batch_sizes, seconds, "s--", color="0.5", label="seconds per epoch (SGD; shared CPU)")
    time_ax.set_ylabel("seconds per epoch")
    for ax in (accuracy_ax, steps_ax):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size (log scale)")
    steps_ax.set_yscale("log")
    time_ax.set_yscale("log")
    steps_ax.legend(loc="upper right")
    time_ax.legend(loc="lower left")
    accuracy_ax.set_ylabel("final test accuracy")
    accuracy_ax.set_title(f"the same {epochs} epochs\nat every batch size")

    steps_ax.set_title("fewer, bigger steps\n(and seconds per epoch)")
    rates_ax.set_yscale("log")
    rates_ax.set_xlabel("step")
    rates_ax.set_ylabel("learning rate (log scale)")
    rates_ax.set_title(f"the rates at the full batch\n(B = {full})")
    # the same methods in the accuracy and rate panels: one legend for both, beside the figure
    figure.legend(*accuracy_ax.get_legend_handles_labels(), loc="outside right upper")
    return figure


def check_claim(results: dict) -> str:
    """The claims, on the numbers ``run`` returned (see the module docstring); returns the verdict line."""
    batch_sizes, epochs, accuracy = results["batch_sizes"], results["epochs"], results["accuracy"]
    small, full = batch_sizes[0], batch_sizes[-1]
    sgd = results["runs"]["SGD, linear scaling + warmup"]
    steps = [sgd[b][0]["steps"] for b in batch_sizes]
    expected = [epochs * math.ceil(results["n_train"] / b) for b in batch_sizes]
    assert steps == expected, f"steps per batch size {steps}, expected epochs * ceil(n / B) = {expected}"
    seconds = {b: float(np.mean([r["seconds_per_epoch"] for r in sgd[b]])) for b in (small, full)}
    assert seconds[full] < seconds[small] / 3, f"an epoch should take far less time at the full batch: {seconds}"
    for method in results["methods"]:
        assert accuracy[(method, full)] < accuracy[(method, small)], (
            f"{method}: with the same epochs the full batch ({steps[-1]} steps) should end below B = {small} "
            f"({steps[0]} steps): {accuracy[(method, full)]:.3f} vs {accuracy[(method, small)]:.3f}")
    sgd_full = accuracy[("SGD, linear scaling + warmup", full)]
    lars_full = accuracy[("LARS, linear scaling + warmup", full)]
    lamb_full = accuracy[("LAMB, sqrt scaling + warmup", full)]
    assert sgd_full < 0.5 and lars_full > 0.85, (
        f"with the same linear rule at the full batch, SGD should break down and LARS hold: "
        f"SGD {sgd_full:.3f}, LARS {lars_full:.3f}")
    best_tuned = max(accuracy[(method, full)] for method in results["tuned_grids"])
    assert best_tuned > max(lars_full, lamb_full) - 0.05, (
        f"Nesterov/Adam tuned at the full batch should match LARS/LAMB within 0.05: {best_tuned:.3f} vs "
        f"LARS {lars_full:.3f}, LAMB {lamb_full:.3f}")
    return (f"{steps[0]} steps at B = {small} vs {steps[-1]} at B = {full} "
            f"({seconds[small] / seconds[full]:.0f}x less time per epoch); at the full batch SGD (linear "
            f"scaling) {sgd_full:.3f}, LARS {lars_full:.3f}, LAMB {lamb_full:.3f}, best tuned Nesterov/Adam "
            f"{best_tuned:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="large_batches", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="3 batch sizes, 10 epochs, one seed (for the tests)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    args = parser.parse_args(argv)
    results = run(args.out, args.quick, seed=args.seed)
    print("verdict:", check_claim(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
