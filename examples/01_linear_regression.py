"""Linear regression by gradient descent: learn w = 3, b = 1 from noisy points.

What it teaches: the training loop of the sources, step by step —
take the data, run the model forward, measure the loss, backpropagate, update
the parameters, repeat — on y = 3x + 1 + noise with a single Linear(1, 1)
neuron and the mean squared error. The loop is written exactly as in PyTorch:
only the import differs.

Run:  python examples/01_linear_regression.py [--epochs 100] [--lr 0.1] [--seed 0]
"""

from __future__ import annotations

import argparse

import tinygrad_edu as tg
from tinygrad_edu import nn, optim


def train(epochs: int = 100, lr: float = 0.1, seed: int = 0, verbose: bool = True) -> tuple[float, float, float]:
    """Train Linear(1, 1) on y = 3x + 1 + 0.1 noise; return (w, b, final loss)."""
    tg.manual_seed(seed)
    model = nn.Linear(1, 1)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr)

    x = tg.randn(100, 1)
    y = 3 * x + 1 + 0.1 * tg.randn(100, 1)

    for epoch in range(epochs):
        optimizer.zero_grad()              # 1. forget the previous step's gradients
        loss = criterion(model(x), y)      # 2. forward pass and loss
        loss.backward()                    # 3. backpropagation: d loss / d parameters
        optimizer.step()                   # 4. theta <- theta - lr * gradient
        if verbose and epoch % 10 == 0:
            print(f"Epoch {epoch}: Loss = {loss.item():.4f}")

    w, b = model.weight.item(), model.bias.item()
    if verbose:
        print(f"learned w = {w:.4f} (true 3), b = {b:.4f} (true 1), final loss = {loss.item():.5f}")
    return w, b, loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.epochs, args.lr, args.seed)


if __name__ == "__main__":
    main()
