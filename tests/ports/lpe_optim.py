"""Learning PyTorch with Examples, part 5: the nn cubic trained by optim.RMSprop."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import math


def main(torch):
    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    loss_fn = torch.nn.MSELoss(reduction="sum")
    out = [f"init {model[0].weight.tolist()!r} {model[0].bias.tolist()!r}"]

    learning_rate = 1e-3
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
    for t in range(2000):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        if t % 100 == 99:
            out.append(f"{t} {loss.item():.6g}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    linear_layer = model[0]
    out.append(
        f"Result: y = {linear_layer.bias.item():.6g} + {linear_layer.weight[:, 0].item():.6g} x"
        f" + {linear_layer.weight[:, 1].item():.6g} x^2 + {linear_layer.weight[:, 2].item():.6g} x^3"
    )
    return out
