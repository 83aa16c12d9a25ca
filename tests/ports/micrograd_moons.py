"""micrograd's demo notebook written with PyTorch: a 2-16-16-1 MLP on the two moons, SVM max-margin loss
with L2 regularisation, full-batch SGD with a linearly decaying learning rate."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import numpy as np


def make_moons(n_samples, noise, rng):
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    X = np.vstack([
        np.column_stack([np.cos(outer), np.sin(outer)]),
        np.column_stack([1 - np.cos(inner), 1 - np.sin(inner) - 0.5]),
    ])
    y = np.hstack([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    X += rng.normal(scale=noise, size=X.shape)
    return X, y


def main(torch):
    nn = torch.nn

    rng = np.random.default_rng(1337)
    X, y = make_moons(n_samples=100, noise=0.1, rng=rng)
    y = y * 2 - 1
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)

    torch.manual_seed(1337)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    out = [f"number of parameters {sum(p.numel() for p in model.parameters())}"]

    def loss():
        scores = model(Xt).squeeze(1)
        losses = (1 + -yt * scores).relu()
        data_loss = losses.mean()
        alpha = 1e-4
        reg_loss = alpha * sum((p * p).sum() for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = ((yt > 0) == (scores > 0)).float().mean()
        return total_loss, accuracy

    for k in range(100):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        with torch.no_grad():
            for p in model.parameters():
                p -= learning_rate * p.grad
        if k % 10 == 0 or k == 99:
            out.append(f"step {k} loss {total_loss.item():.6f}")
            out.append(f"accuracy at step {k}: {acc.item() * 100}%")

    xx, yy = np.meshgrid(np.arange(-2.0, 3.0, 0.25), np.arange(-1.5, 2.0, 0.25))
    grid = torch.tensor(np.c_[xx.ravel(), yy.ravel()], dtype=torch.float32)
    with torch.no_grad():
        Z = (model(grid).squeeze(1) > 0).long()
    out.append("decision " + "".join(str(v) for v in Z.tolist()))
    return out
