"""Learning PyTorch with Examples, part 7: a dynamic graph (a random number of reused layers each forward)."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import math
import random


def main(torch):
    class DynamicNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.randn(()))
            self.b = torch.nn.Parameter(torch.randn(()))
            self.c = torch.nn.Parameter(torch.randn(()))
            self.d = torch.nn.Parameter(torch.randn(()))
            self.e = torch.nn.Parameter(torch.randn(()))

        def forward(self, x):
            y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
            for exp in range(4, random.randint(4, 6)):
                y = y + self.e * x ** exp
            return y

        def string(self):
            return (f"y = {self.a.item():.5g} + {self.b.item():.5g} x + {self.c.item():.5g} x^2"
                    f" + {self.d.item():.5g} x^3 + {self.e.item():.5g} x^4 ? + {self.e.item():.5g} x^5 ?")

    torch.manual_seed(0)
    random.seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    model = DynamicNet()
    out = ["init " + " ".join(f"{name}={p.item()!r}" for name, p in model.named_parameters())]

    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    for t in range(3000):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        if t % 300 == 299:
            out.append(f"{t} {loss.item():.6g}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    out.append(f"Result: {model.string()}")
    return out
