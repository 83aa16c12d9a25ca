"""makemore, part 1: the bigram character model, counted and then learned by a one-layer network.

Counts in an int32 table, normalised rows, names sampled with torch.multinomial from a seeded Generator,
the average negative log-likelihood; then one-hot inputs, a 27x27 weight matrix and gradient descent.
"""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _names import NAMES  # noqa: E402


def main(torch):
    F = torch.nn.functional
    words = NAMES
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    out = [f"{len(words)} words, {len(stoi)} characters"]

    N = torch.zeros((27, 27), dtype=torch.int32)
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            N[stoi[ch1], stoi[ch2]] += 1
    out.append(f"N[0] {N[0].tolist()}")

    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)

    g = torch.Generator().manual_seed(2147483647)
    for _ in range(5):
        name = []
        ix = 0
        while True:
            p = P[ix]
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            name.append(itos[ix])
            if ix == 0:
                break
        out.append("sample " + "".join(name))

    log_likelihood = 0.0
    n = 0
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            prob = P[stoi[ch1], stoi[ch2]]
            log_likelihood += torch.log(prob)
            n += 1
    nll = -log_likelihood
    out.append(f"{nll=}")
    out.append(f"{nll / n}")

    xs, ys = [], []
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    xs = torch.tensor(xs)
    ys = torch.tensor(ys)
    num = xs.nelement()
    out.append(f"number of examples: {num}")

    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((27, 27), generator=g, requires_grad=True)
    for k in range(50):
        xenc = F.one_hot(xs, num_classes=27).float()
        logits = xenc @ W
        counts = logits.exp()
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W ** 2).mean()
        if k % 10 == 0 or k == 49:
            out.append(f"{k} {loss.item():.6f}")
        W.grad = None
        loss.backward()
        W.data += -50 * W.grad

    g = torch.Generator().manual_seed(2147483647)
    for _ in range(5):
        name = []
        ix = 0
        while True:
            xenc = F.one_hot(torch.tensor([ix]), num_classes=27).float()
            logits = xenc @ W
            counts = logits.exp()
            p = counts / counts.sum(1, keepdims=True)
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            name.append(itos[ix])
            if ix == 0:
                break
        out.append("nn sample " + "".join(name))
    return out
