"""Learning PyTorch with Examples, part 2: the same cubic, gradients from autograd, updates under no_grad."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import math


def main(torch):
    dtype = torch.float
    device = "cpu"
    torch.manual_seed(0)

    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype, device=device)
    y = torch.sin(x)

    a = torch.randn((), dtype=dtype, device=device, requires_grad=True)
    b = torch.randn((), dtype=dtype, device=device, requires_grad=True)
    c = torch.randn((), dtype=dtype, device=device, requires_grad=True)
    d = torch.randn((), dtype=dtype, device=device, requires_grad=True)
    out = [f"init {a.item()!r} {b.item()!r} {c.item()!r} {d.item()!r}"]

    learning_rate = 1e-6
    for t in range(2000):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            out.append(f"{t} {loss.item():.6g}")
        loss.backward()

        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    out.append(f"Result: y = {a.item():.6g} + {b.item():.6g} x + {c.item():.6g} x^2 + {d.item():.6g} x^3")
    return out
