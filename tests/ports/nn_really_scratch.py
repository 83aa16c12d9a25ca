""""What is torch.nn really?", first half: logistic regression from raw tensors on the 8x8 digits.

Weights from randn with Xavier scaling, a hand-written log_softmax and negative log-likelihood, a loop
that slices mini-batches and updates under no_grad; then the same with F.cross_entropy.
"""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import math


def main(torch):
    import numpy as np
    from sklearn.datasets import load_digits

    F = torch.nn.functional

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, y_train, x_valid, y_valid = map(torch.tensor, (x[:1500], y[:1500], x[1500:], y[1500:]))
    n, c = x_train.shape
    out = [f"{n} {c} {y_train.min().item()} {y_train.max().item()}"]

    torch.manual_seed(0)
    weights = torch.randn(64, 10) / math.sqrt(64)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    def accuracy(out, yb):
        preds = torch.argmax(out, dim=1)
        return (preds == yb).float().mean()

    loss_func = nll
    bs = 64
    xb, yb = x_train[0:bs], y_train[0:bs]
    preds = model(xb)
    out.append(f"{preds[0]} {preds.shape}")
    out.append(f"{loss_func(preds, yb)} {accuracy(preds, yb)}")

    lr = 0.5
    epochs = 2
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            with torch.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()
        out.append(f"epoch {epoch} {loss_func(model(xb), yb)} {accuracy(model(xb), yb)}")

    loss_func = F.cross_entropy

    def model2(xb):
        return xb @ weights + bias

    out.append(f"{loss_func(model2(xb), yb)} {accuracy(model2(xb), yb)}")
    out.append(f"valid {loss_func(model2(x_valid), y_valid):.4f} {accuracy(model2(x_valid), y_valid):.4f}")
    return out
