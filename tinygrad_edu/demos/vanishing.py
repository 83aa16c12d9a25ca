"""Vanishing gradients in a 20-layer network on real data, and the four remedies of the sources.

What it teaches. Backpropagation multiplies one factor per layer, so in a deep
stack the gradient reaching the first layers is the product of many factors.
A sigmoid's derivative is at most 1/4: in a 20-layer sigmoid network the first
layers' gradients are orders of magnitude smaller than the last layer's, and
with plain SGD those layers barely move (Glorot & Bengio, 2010). The sources
name four remedies, each tried here on the same data, with the same optimizer
and the same number of steps:

* a normalised initialisation: Xavier (Glorot) for the sigmoid net;
* ReLU with He (Kaiming) initialisation, std = sqrt(2 / fan_in);
* batch normalisation after every hidden Linear (Ioffe & Szegedy, 2015), for the
  ReLU net and for the sigmoid net;
* residual connections, x + ReLU(BN(W x)) (He et al., 2016).

Every network has 20 Linear layers (64 -> 64 ... -> 10) trained on scikit-learn's
8x8 digits (``tg.datasets.digits``, 1347 training and 450 test images). For
each variant it measures, at initialisation, the norm of each Linear layer's
weight gradient on the whole training set (one batch), and the test accuracy
after every epoch of mini-batch SGD with momentum.

Measured (seed 0, full mode: 8 epochs of batch 64, SGD with momentum 0.9, the
rate cosine-annealed from each of 0.01, 0.03, 0.1, 0.3; first/last is layer 1's
gradient norm over layer 20's; accuracy on the test set at the variant's best rate):

============================  ==========  ========
network                       first/last  accuracy
============================  ==========  ========
sigmoid, default init            1.3e-16    0.11
sigmoid, Xavier init             2.0e-12    0.11
ReLU, default init               2.5e-06    0.11
ReLU, He init                       0.92    0.81
sigmoid + BatchNorm                 0.89    0.78
ReLU, He + BatchNorm                 5.6    0.52
ReLU, He + BN + residual           0.073    0.90
============================  ==========  ========

So: Xavier alone does not rescue a 20-layer *sigmoid* net (it gains four
orders of magnitude, not sixteen); ReLU needs He's init; batch norm rescues the
sigmoid net; in the plain ReLU net batch norm turns vanishing into a gradient
that grows toward the input (Yang et al., 2019) and learns slower at this
budget; the residual net is best (its small first/last comes from its output
layer, whose input, the sum of 18 residual branches, is large; its hidden
layers are within a factor 6.5 of each other). The numbered example
``examples/13_deep_networks.py`` prints and asserts these.

Run:  tinygrad-edu demo vanishing   or   python examples/13_deep_networks.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu._checks import check_int, check_number, check_positive, check_seed
from tinygrad_edu.data import DataLoader, TensorDataset
from tinygrad_edu.demos import output_directory

__all__ = ["DEPTH", "WIDTH", "VARIANTS", "ResidualBlock", "build", "linear_layers", "layer_grad_norms", "accuracy",
           "train", "run"]

#: Linear layers in every network, the input and output layers included.
DEPTH = 20
#: Units of every hidden layer (the digits have 64 pixels, so the input layer is square too).
WIDTH = 64


class ResidualBlock(nn.Module):
    """One residual unit, y = x + ReLU(BN(W x + b)): the identity carries the signal and its gradient past W.

    Args:
        width: features in and out.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.demos.vanishing import ResidualBlock
        >>> ResidualBlock(8)(tg.randn(4, 8)).shape
        (4, 8)
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = nn.BatchNorm1d(width)
        self.activation = nn.ReLU()

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        """x + ReLU(BN(linear(x)))."""
        return x + self.activation(self.norm(self.linear(x)))


def _he(weight: tg.Tensor) -> None:
    nn.init.kaiming_normal_(weight, nonlinearity="relu")


def _xavier(weight: tg.Tensor) -> None:
    nn.init.xavier_uniform_(weight)


#: name -> (Linear layers, activation, init of every Linear weight or None for PyTorch's default, batch norm,
#: residual).
VARIANTS: dict[str, tuple[int, type, Callable | None, bool, bool]] = {
    "sigmoid, default init": (DEPTH, nn.Sigmoid, None, False, False),
    "sigmoid, Xavier init": (DEPTH, nn.Sigmoid, _xavier, False, False),
    "ReLU, default init": (DEPTH, nn.ReLU, None, False, False),
    "ReLU, He init": (DEPTH, nn.ReLU, _he, False, False),
    "sigmoid + BatchNorm": (DEPTH, nn.Sigmoid, None, True, False),
    "ReLU, He + BatchNorm": (DEPTH, nn.ReLU, _he, True, False),
    "ReLU, He + BN + residual": (DEPTH, nn.ReLU, _he, True, True),
}


def build(name: str, depth: int | None = None, width: int = WIDTH, inputs: int = 64,
          classes: int = 10) -> nn.Sequential:
    """The network of one variant of `VARIANTS`: ``depth`` Linear layers (the variant's own if None), ``width`` wide.

    Plain: Linear -> [BN] -> activation, repeated depth - 1 times, then the output
    Linear. Residual: the first hidden layer as plain, then depth - 2 `ResidualBlock`s,
    then the output Linear. Weights get the variant's init (biases 0) or PyTorch's default.

    Example:
        >>> from tinygrad_edu.demos.vanishing import build
        >>> net = build("sigmoid, default init", depth=3, width=4)
        >>> [type(m).__name__ for m in net]
        ['Linear', 'Sigmoid', 'Linear', 'Sigmoid', 'Linear']
    """
    if name not in VARIANTS:
        raise ValueError(f"vanishing.build: unknown variant {name!r}; expected one of {list(VARIANTS)}")
    own_depth, activation, init, batch_norm, residual = VARIANTS[name]
    depth = own_depth if depth is None else depth
    layers: list[nn.Module] = []
    for i in range(depth - 1):
        if residual and i > 0:
            layers.append(ResidualBlock(width))
            continue
        layers.append(nn.Linear(inputs if i == 0 else width, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(activation())
    layers.append(nn.Linear(width, classes))
    model = nn.Sequential(*layers)
    if init is not None:
        for module in model.modules():
            if isinstance(module, nn.Linear):
                init(module.weight)
                nn.init.zeros_(module.bias)
    return model


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's Linear layers in forward order (the input layer first).

    Example:
        >>> from tinygrad_edu.demos.vanishing import build, linear_layers
        >>> len(linear_layers(build("ReLU, He + BN + residual", depth=5, width=8)))
        5
    """
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def layer_grad_norms(model: nn.Module, x: tg.Tensor, y: tg.Tensor) -> np.ndarray:
    """One forward and backward pass of the cross-entropy; ||dL/dW|| (Frobenius) of each Linear layer, first first.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.demos.vanishing import build, layer_grad_norms
        >>> net = build("sigmoid, default init", depth=6, width=16)
        >>> norms = layer_grad_norms(net, tg.rand(32, 64), tg.randint(0, 10, (32,)))
        >>> norms.shape, bool(norms[0] < norms[-1])
        ((6,), True)
    """
    model.zero_grad()
    nn.CrossEntropyLoss()(model(x), y).backward()
    return np.array([np.linalg.norm(m.weight.grad.numpy()) for m in linear_layers(model)])


def accuracy(model: nn.Module, x: tg.Tensor, y: tg.Tensor) -> float:
    """Fraction of ``x`` classified right, in evaluation mode (batch norm uses its running statistics).

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.demos.vanishing import accuracy, build
        >>> net = build("ReLU, He + BatchNorm", depth=3, width=8)
        >>> 0.0 <= accuracy(net, tg.rand(20, 64), tg.randint(0, 10, (20,))) <= 1.0
        True
    """
    model.eval()
    with tg.no_grad():
        predicted = model(x).numpy().argmax(axis=1)
    model.train()
    return float(np.mean(predicted == y.numpy()))


def train(model: nn.Module, x_train: tg.Tensor, y_train: tg.Tensor, x_test: tg.Tensor, y_test: tg.Tensor,
          epochs: int, batch_size: int, lr: float, momentum: float, seed: int) -> list[float]:
    """Mini-batch SGD with momentum, the rate cosine-annealed from ``lr`` to 0 over the budget; test accuracy per epoch.

    Returns the test accuracy before training and after each epoch (``epochs + 1`` numbers).

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu.demos.vanishing import build, train
        >>> x, y = tg.rand(64, 64), tg.randint(0, 10, (64,))
        >>> len(train(build("ReLU, He init", depth=3, width=8), x, y, x, y, epochs=2, batch_size=32, lr=0.01,
        ...           momentum=0.9, seed=0))
        3
    """
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True,
                        generator=tg.Generator().manual_seed(seed))     # the same batches for every variant
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()
    curve = [accuracy(model, x_test, y_test)]
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
            schedule.step()
        curve.append(accuracy(model, x_test, y_test))
    return curve


def _figure(norms: dict, curves: dict, best: dict, path: str) -> str:
    from tinygrad_edu import viz  # only the demo's figure needs matplotlib

    return viz.save_figure(viz.styled(_picture)(norms, curves, best), path, dpi=100)


def _picture(norms: dict, curves: dict, best: dict) -> Any:
    from matplotlib.figure import Figure

    from tinygrad_edu import viz

    fig = Figure(figsize=(15, 5.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    for i, (name, curve) in enumerate(curves.items()):
        look = viz.series_style(i)
        left.semilogy(np.arange(1, DEPTH + 1), norms[name], markersize=4, label=name, **look)
        right.plot(np.arange(len(curve)), curve, markersize=4, label=f"{name} (lr {best[name]})", **look)
    left.set_xticks([1, 5, 10, 15, DEPTH])
    left.set_xlabel("Linear layer (1 = nearest the input)")
    left.set_ylabel("‖dL/dW‖ at initialisation")
    left.set_title(f"{DEPTH} Linear layers on the digits:\neach layer's weight gradient")
    viz.place_legend(left)
    right.axhline(0.1, color="grey", linestyle="--", linewidth=0.8, label="chance (10 classes)")
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy")
    right.set_ylim(0, 1)
    right.set_title("each network at its best rate of one grid")
    viz.place_legend(right)
    return fig


def run(out: str | None = None, quick: bool = False, seed: int = 0, epochs: int = 8, batch_size: int = 64,
        rates: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3), momentum: float = 0.9) -> dict[str, Any]:
    """Measure every variant's per-layer gradient norms at initialisation, train each, report test accuracy.

    Every variant is trained once per rate in ``rates`` (the same grid, batches and budget for all) and
    judged at its best rate, so that no network fails for want of a rate that suits it.

    Args:
        out: directory for the figure ``deep_networks.png`` (created); ``None`` writes nothing.
        quick: 2 epochs and the rates 0.01 and 0.3 only (the tests); the gradient norms are the same.
        seed: seeds the initial weights (each variant draws from ``tg.manual_seed(seed)``), the split and
            the batches.
        epochs, batch_size, rates, momentum: the budget and optimizer every variant gets (`train`).

    Returns:
        ``norms`` (name -> per-layer ||dL/dW||, input layer first), ``ratio`` (name -> first / last),
        ``finals`` (name -> {rate: test accuracy after the budget}), ``best_rate`` and ``final`` (name ->
        the best rate and its accuracy), ``accuracy`` (name -> test accuracy before training and after each
        epoch at the best rate), ``reference`` (the initial weights of ``"sigmoid, default init"`` and the
        training set, to recompute its norms independently), the settings, and ``files``.

    Example:
        >>> from tinygrad_edu.demos import vanishing
        >>> results = vanishing.run(quick=True)  # doctest: +SKIP
        >>> results["ratio"]["sigmoid, default init"] < 1e-10  # doctest: +SKIP
        True
    """
    check_seed("vanishing.run", seed)
    epochs = check_int("vanishing.run", "epochs", epochs, minimum=1)
    batch_size = check_int("vanishing.run", "batch_size", batch_size, minimum=1)
    check_number("vanishing.run", "momentum", momentum, low=0, high=1, high_inclusive=False)
    if isinstance(rates, (str, bytes)) or not hasattr(rates, "__len__") or len(rates) == 0:
        raise ValueError(f"vanishing.run: rates must be a non-empty sequence of learning rates, got {rates!r}")
    for lr in rates:
        check_positive("vanishing.run", "each of rates", lr)
    if out is not None:
        out = output_directory("vanishing.run", out)  # before minutes of training, not after
    if quick:
        epochs, rates = 2, (0.01, 0.3)
    x_train, y_train, x_test, y_test = tg.datasets.digits(seed=seed)
    norms, ratios, curves, finals, best, reference = {}, {}, {}, {}, {}, {}
    print(f"{DEPTH} Linear layers, {WIDTH} wide, on the digits ({len(y_train)} train / {len(y_test)} test images); "
          f"SGD, momentum {momentum}, batch {batch_size}, {epochs} epochs, rate cosine-annealed from each of "
          f"{', '.join(map(str, rates))}")
    print(f"{'':<27}||dL/dW|| at init: layer 1  layer 10  layer {DEPTH}  first/last   test accuracy at each rate")
    for name in VARIANTS:
        runs = {}
        for lr in rates:
            tg.manual_seed(seed)
            model = build(name)
            if name not in norms:
                initial = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
                norms[name] = layer_grad_norms(model, x_train, y_train)   # the whole training set as one batch
                ratios[name] = float(norms[name][0] / norms[name][-1])
                model.load_state_dict(initial)      # undo the batch-norm statistics that measuring updated
                if name == "sigmoid, default init":
                    reference = {"variant": name, "state": initial, "x": x_train.numpy().copy(),
                                 "y": y_train.numpy().copy()}
            with np.errstate(over="ignore", invalid="ignore"):    # a rate too large for a network may diverge
                runs[lr] = train(model, x_train, y_train, x_test, y_test, epochs, batch_size, lr, momentum, seed)
        finals[name] = {lr: curve[-1] for lr, curve in runs.items()}
        best[name] = max(rates, key=lambda lr: finals[name][lr])
        curves[name] = runs[best[name]]
        print(f"  {name:<25}{norms[name][0]:9.1e} {norms[name][9]:9.1e} {norms[name][-1]:9.1e}  {ratios[name]:9.1e}   "
              + "  ".join(f"{lr}: {acc:.2f}" for lr, acc in finals[name].items()))
    files = []
    if out is not None:
        os.makedirs(out, exist_ok=True)
        files.append(_figure(norms, curves, best, os.path.join(out, "deep_networks.png")))
    return {"norms": norms, "ratio": ratios, "finals": finals, "best_rate": best,
            "final": {n: finals[n][best[n]] for n in VARIANTS}, "accuracy": curves, "reference": reference,
            "epochs": epochs, "batch_size": batch_size, "rates": rates, "momentum": momentum, "files": files}
