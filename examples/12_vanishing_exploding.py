"""Vanishing and exploding gradients, and two remedies: ReLU with Kaiming init, and gradient clipping.

What it teaches:
1. Vanishing. Backpropagation multiplies one factor per layer. A sigmoid's
   derivative is at most 1/4, so in a 10-layer sigmoid network the gradient
   reaching the first layer is many orders of magnitude smaller than at the
   last: the early layers barely learn. The same network with ReLU and
   Kaiming (He) initialisation, std = sqrt(2 / fan_in), keeps every layer's
   gradient norm within a factor of about 20 of the others (against 10^9). The figure plots the norm of each
   layer's weight gradient on a log scale: a ``tg.train.Inspector`` records the gradients during the pass
   and ``tg.viz.plot_gradient_norms`` draws them against depth in one call (the norms computed by hand
   from ``.grad`` are the same numbers).
2. Exploding. Initialise the ReLU network 1.5x too large and the signal grows
   by about 1.5 per layer; the first SGD step is so big that the next loss
   overflows to inf and then NaN. `nn.utils.clip_grad_norm_(params, 1.0)`
   rescales the gradient to norm 1 before every step (it returns the norm
   before clipping), so the same rate trains without blowing up.

Run:  python examples/12_vanishing_exploding.py [--out gradients] [--quick]
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

DEPTH, WIDTH = 10, 32


def deep_net(activation: type, init=None) -> nn.Sequential:
    """DEPTH hidden layers of WIDTH units with the given activation; ``init(weight)`` if given (biases 0)."""
    layers: list[nn.Module] = []
    for i in range(DEPTH):
        linear = nn.Linear(WIDTH if i else 2, WIDTH)
        if init is not None:
            init(linear.weight)
            nn.init.zeros_(linear.bias)
        layers += [linear, activation()]
    layers.append(nn.Linear(WIDTH, 1))
    return nn.Sequential(*layers)


def layer_grad_norms(model: nn.Sequential, x: tg.Tensor, y: tg.Tensor) -> tuple[np.ndarray, tg.train.Inspector]:
    """One forward and backward pass, watched by an Inspector; the norm of each Linear layer's weight gradient
    (first layer first, computed from ``.grad``) and the Inspector, which recorded the same pass."""
    inspector = tg.train.Inspector(model, every=1)
    with inspector:
        model.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        inspector.before_step()          # records the gradients; no optimizer step follows here
        inspector.after_step()
    return np.array([np.linalg.norm(m.weight.grad.numpy()) for m in model if isinstance(m, nn.Linear)]), inspector


def train_losses(model: nn.Module, x: tg.Tensor, y: tg.Tensor, steps: int, lr: float,
                 clip: float | None) -> tuple[list[float], list[float]]:
    """Plain SGD; with ``clip`` the gradient norm is clipped before each step. Returns losses and norms."""
    optimizer = optim.SGD(model.parameters(), lr=lr)
    losses, norms = [], []
    with np.errstate(over="ignore", invalid="ignore"):   # overflow is the point of the unclipped run
        for _ in range(steps):
            optimizer.zero_grad()
            loss = nn.MSELoss()(model(x), y)
            loss.backward()
            if clip is not None:
                norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)))
            optimizer.step()
            losses.append(loss.item())
            if not np.isfinite(losses[-1]):
                break
    return losses, norms


def run(out: str, quick: bool = False, steps: int = 100, seed: int = 0) -> dict:
    """Measure per-layer gradient norms; train the exploding net with and without clipping; plot both."""
    if quick:
        steps = 50
    os.makedirs(out, exist_ok=True)
    tg.manual_seed(seed)
    x = tg.randn(128, 2)
    y = x[:, :1] * x[:, 1:2]                     # a target a deep net can fit: the product of the inputs

    tg.manual_seed(seed)
    sigmoid_norms, sigmoid_inspector = layer_grad_norms(deep_net(nn.Sigmoid), x, y)
    tg.manual_seed(seed)
    relu_norms, relu_inspector = layer_grad_norms(
        deep_net(nn.ReLU, lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")), x, y)
    inspectors = {"sigmoid, default init": sigmoid_inspector, "ReLU, Kaiming init": relu_inspector}
    recorded = [[i.gradients[p]["norm"][0] for p in i.params if p.endswith("weight")] for i in inspectors.values()]
    agree = np.allclose(recorded, [sigmoid_norms, relu_norms], rtol=1e-5)
    print(f"{DEPTH}-layer networks, norm of each layer's weight gradient (first -> last):")
    print("  sigmoid, default init: " + " ".join(f"{v:.1e}" for v in sigmoid_norms))
    print("  ReLU, Kaiming init:    " + " ".join(f"{v:.1e}" for v in relu_norms))
    print(f"  first layer / last layer: sigmoid {sigmoid_norms[0] / sigmoid_norms[-1]:.1e}, "
          f"ReLU {relu_norms[0] / relu_norms[-1]:.1e}")
    print(f"  the Inspector's records {'equal' if agree else 'DIFFER FROM'} these norms (drawn by plot_gradient_norms)")

    def too_large(w):
        return nn.init.normal_(w, std=1.5 * np.sqrt(2 / w.shape[1]))   # 1.5x the Kaiming std

    runs = {}
    for name, clip in (("no clipping", None), ("clip_grad_norm_(1.0)", 1.0)):
        tg.manual_seed(seed)
        runs[name] = train_losses(deep_net(nn.ReLU, too_large), x, y, steps, lr=0.01, clip=clip)
        losses = runs[name][0]
        print(f"exploding net, SGD lr 0.01, {name:<20}: loss {losses[0]:.4g} -> {losses[-1]:.4g} "
              f"after {len(losses)} step(s)")
    norms = runs["clip_grad_norm_(1.0)"][1]
    print(f"  gradient norm before clipping: {norms[0]:.3g} at the first step, {norms[-1]:.3g} at the last")

    fig = draw(inspectors, runs)
    png = os.path.join(out, "vanishing_exploding.png")
    viz.save_figure(fig, png, dpi=100)
    return {"sigmoid_norms": sigmoid_norms, "relu_norms": relu_norms, "inspectors": inspectors, "runs": runs,
            "files": [png]}


@viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
def draw(inspectors: dict, runs: dict) -> Figure:
    """The vanishing picture (each Linear weight's gradient norm by depth) beside the exploding losses."""
    fig = Figure(figsize=(13, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    viz.plot_gradient_norms(inspectors, ax=left, title="vanishing gradients")   # each Linear weight, by depth
    for i, (name, (losses, _)) in enumerate(runs.items()):
        finite = [v if np.isfinite(v) else np.nan for v in losses]
        right.semilogy(np.arange(1, len(losses) + 1), finite, linewidth=2, label=name,
                       **viz.series_style(i, points=len(losses)))
    right.set_xlabel("step")
    right.set_ylabel("loss (NaN/inf not drawn)")
    right.set_title("exploding gradients, init 1.5x too large")
    viz.place_legend(right)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gradients", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer training steps (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.quick, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
