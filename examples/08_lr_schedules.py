"""Learning-rate schedules, drawn: step decay, cosine, warmup + cosine, one-cycle, reduce-on-plateau.

What it teaches: the shapes of the sources' schedules over 100 steps from a
base rate of 0.1.
- StepLR: x0.1 at steps 30, 60, 90 (here every 30 steps).
- CosineAnnealingLR: eta_t = eta_min + (eta_max - eta_min)(1 + cos(pi t / T)) / 2.
- warmup_cosine: a linear warmup over the first 5 % of the steps, then cosine.
- OneCycleLR: up to a maximum (here 10x the base rate) and back down.
- ReduceLROnPlateau: x0.1 whenever the monitored loss stops improving for
  `patience` steps; it reacts to a (here synthetic) loss curve, shown dotted.
Each scheduler is stepped once per optimizer step, exactly as in training.

Run:  python examples/08_lr_schedules.py [--out lr_schedules] [--quick]
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import optim, viz  # noqa: E402
from tinygrad_edu.optim import lr_scheduler  # noqa: E402

BASE_LR = 0.1


def schedules(steps: int) -> dict:
    """The schedules to draw, as factories optimizer -> scheduler."""
    return {
        "StepLR (every 30 steps, x0.1)": lambda opt: lr_scheduler.StepLR(opt, step_size=30, gamma=0.1),
        "CosineAnnealingLR": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=steps),
        "warmup_cosine (5 % warmup)": lambda opt: lr_scheduler.warmup_cosine(
            opt, warmup_steps=max(1, steps // 20), total_steps=steps),
        "OneCycleLR (max 10x)": lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=10 * BASE_LR, total_steps=steps),
        "ReduceLROnPlateau (patience 5)": lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=5),
    }


def plateau_losses(steps: int) -> np.ndarray:
    """A made-up loss curve that falls, stalls, falls again and stalls: what reduce-on-plateau watches."""
    t = np.arange(steps)
    return 1.0 / (1 + 0.2 * np.minimum(t, steps // 3)) + 0.3 * (t < steps // 2)


def rates(factory, steps: int, metrics: np.ndarray | None = None) -> np.ndarray:
    """The rate used at each step: read it, step the optimizer, step the scheduler."""
    optimizer = optim.SGD([tg.zeros(1, requires_grad=True)], lr=BASE_LR)
    scheduler = factory(optimizer)
    used = []
    for t in range(steps):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if metrics is not None:
            scheduler.step(metrics[t])
        else:
            scheduler.step()
    return np.array(used)


@viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
def draw(steps: int, losses: np.ndarray) -> Figure:
    """One panel per schedule, in two rows so the titles stay readable."""
    fig = Figure(figsize=(15, 7.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, (name, factory) in zip(axes, schedules(steps).items()):
        metrics = losses if "Plateau" in name else None
        viz.plot_lr_schedule(factory, steps, lr=BASE_LR, metrics=metrics, ax=ax,
                             title=name if metrics is None else f"{name}\ndotted: the monitored loss (right)")
        if metrics is not None:
            loss_ax = ax.twinx()
            loss_ax.plot(losses, ":", color="0.4")
            loss_ax.set_ylabel("monitored loss")
    for ax in axes[len(schedules(steps)):]:
        ax.set_axis_off()
    return fig


def run(out: str, quick: bool = False, steps: int = 100) -> dict:
    """Draw every schedule in one figure; print a few rates; return the rate arrays."""
    os.makedirs(out, exist_ok=True)
    losses = plateau_losses(steps)
    table = {}
    for name, factory in schedules(steps).items():
        table[name] = rates(factory, steps, losses if "Plateau" in name else None)
    png = os.path.join(out, "lr_schedules.png")
    viz.save_figure(draw(steps, losses), png, dpi=100)
    marks = (0, 5, 30, 50, 75, steps - 1)
    print("rate at step " + "".join(f"{t:>10d}" for t in marks))
    for name, lr in table.items():
        print(f"{name:<32}" + "".join(f"{lr[t]:10.4g}" for t in marks))
    return {"rates": table, "files": [png]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="lr_schedules", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity; the run is already quick")
    args = parser.parse_args(argv)
    run(args.out, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
