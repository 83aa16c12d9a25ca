"""makemore, part 2: Bengio et al.'s MLP language model on characters (embedding table C indexed by
context windows, tanh hidden layer, F.cross_entropy, minibatches from torch.randint, a step decay)."""

# ruff: noqa: N801, N803, N806 - the tutorial's own names (X, F, DataLoader, Mnist_CNN) are kept

import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _names import NAMES  # noqa: E402


def main(torch):
    F = torch.nn.functional
    words = list(NAMES)
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}

    block_size = 3

    def build_dataset(words):
        X, Y = [], []
        for w in words:
            context = [0] * block_size
            for ch in w + ".":
                ix = stoi[ch]
                X.append(context)
                Y.append(ix)
                context = context[1:] + [ix]
        X = torch.tensor(X)
        Y = torch.tensor(Y)
        return X, Y

    random.seed(42)
    random.shuffle(words)
    n1 = int(0.9 * len(words))
    Xtr, Ytr = build_dataset(words[:n1])
    Xdev, Ydev = build_dataset(words[n1:])
    out = [f"train {tuple(Xtr.shape)} dev {tuple(Xdev.shape)}"]

    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((27, 10), generator=g)
    W1 = torch.randn((30, 200), generator=g)
    b1 = torch.randn(200, generator=g)
    W2 = torch.randn((200, 27), generator=g)
    b2 = torch.randn(27, generator=g)
    parameters = [C, W1, b1, W2, b2]
    out.append(f"parameters {sum(p.nelement() for p in parameters)}")
    for p in parameters:
        p.requires_grad = True

    torch.manual_seed(42)
    for i in range(1000):
        ix = torch.randint(0, Xtr.shape[0], (32,))
        emb = C[Xtr[ix]]
        h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
        logits = h @ W2 + b2
        loss = F.cross_entropy(logits, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < 700 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        if i % 100 == 0:
            out.append(f"{i} {loss.item():.4f}")

    with torch.no_grad():
        for split, (X, Y) in {"train": (Xtr, Ytr), "dev": (Xdev, Ydev)}.items():
            emb = C[X]
            h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
            logits = h @ W2 + b2
            out.append(f"{split} {F.cross_entropy(logits, Y).item():.4f}")

    g = torch.Generator().manual_seed(2147483647 + 10)
    for _ in range(5):
        name = []
        context = [0] * block_size
        while True:
            emb = C[torch.tensor([context])]
            h = torch.tanh(emb.view(1, -1) @ W1 + b1)
            logits = h @ W2 + b2
            probs = F.softmax(logits, dim=1)
            ix = torch.multinomial(probs, num_samples=1, generator=g).item()
            context = context[1:] + [ix]
            name.append(ix)
            if ix == 0:
                break
        out.append("sample " + "".join(itos[i] for i in name))
    return out
