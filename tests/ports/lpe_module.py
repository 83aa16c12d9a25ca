"""Learning PyTorch with Examples, part 6: a custom nn.Module with four scalar Parameters, trained by SGD."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import math


def main(torch):
    class Polynomial3(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.randn(()))
            self.b = torch.nn.Parameter(torch.randn(()))
            self.c = torch.nn.Parameter(torch.randn(()))
            self.d = torch.nn.Parameter(torch.randn(()))

        def forward(self, x):
            return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

        def string(self):
            return (f"y = {self.a.item():.6g} + {self.b.item():.6g} x + {self.c.item():.6g} x^2"
                    f" + {self.d.item():.6g} x^3")

    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    model = Polynomial3()
    out = ["init " + " ".join(f"{name}={p.item()!r}" for name, p in model.named_parameters())]

    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    for t in range(2000):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        if t % 100 == 99:
            out.append(f"{t} {loss.item():.6g}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    out.append(f"Result: {model.string()}")
    return out
