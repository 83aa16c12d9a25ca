"""Learning PyTorch with Examples, part 1: fit a cubic to sin(x) with tensors and hand-written gradients."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import math


def main(torch):
    dtype = torch.float
    device = torch.device("cpu")
    torch.manual_seed(0)

    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    a = torch.randn((), device=device, dtype=dtype)
    b = torch.randn((), device=device, dtype=dtype)
    c = torch.randn((), device=device, dtype=dtype)
    d = torch.randn((), device=device, dtype=dtype)
    out = [f"init {a.item()!r} {b.item()!r} {c.item()!r} {d.item()!r}"]

    learning_rate = 1e-6
    for t in range(2000):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        if t % 100 == 99:
            out.append(f"{t} {loss:.6g}")

        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum()
        grad_d = (grad_y_pred * x ** 3).sum()

        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d

    out.append(f"Result: y = {a.item():.6g} + {b.item():.6g} x + {c.item():.6g} x^2 + {d.item():.6g} x^3")
    return out
