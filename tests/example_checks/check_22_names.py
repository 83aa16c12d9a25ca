"""Example 22: the bigram baseline is the count-and-normalise model, the MLP and the GRU beat it, samples are names.

References, independent of the library: the bigram table and its NLL counted
again here in plain Python (dictionaries and ``math.log``); the uniform guess
log 27 as the upper reference; the trained MLP's and GRU's NLL recomputed in
PyTorch from their weights on data encoded here; the bigram's samples drawn
again with ``torch.multinomial`` and a ``torch.Generator`` of the same seed
(the library promises PyTorch's random streams).
"""

from __future__ import annotations

import math
import string
from collections import Counter

import numpy as np

import tinygrad_edu as tg

FIGURES = ["names_models.png"]

TOKENS = "." + string.ascii_lowercase      # "." starts and ends a name


def _pairs(words):
    for word in words:
        chars = "." + word + "."
        yield from zip(chars, chars[1:])


def python_bigram_nll(train_words, words, smoothing=1):
    counts = Counter(_pairs(train_words))
    row_totals = Counter()
    for (a, _), n in counts.items():
        row_totals[a] += n
    logs = [math.log((counts[(a, b)] + smoothing) / (row_totals[a] + smoothing * len(TOKENS)))
            for a, b in _pairs(words)]
    return -sum(logs) / len(logs), counts


def torch_nll(r, name, words):
    """The trained model's mean NLL per character on ``words``, recomputed in PyTorch from its weights."""
    try:
        import torch
    except ImportError:
        return None
    weights = {k: torch.tensor(np.asarray(v)) for k, v in r["models"][name].state_dict().items()}
    index = {c: i for i, c in enumerate(TOKENS)}
    if name == "MLP":
        contexts, targets = [], []
        for word in words:
            context = [0, 0, 0]
            for c in word + ".":
                contexts.append(context)
                targets.append(index[c])
                context = context[1:] + [index[c]]
        x = weights["embedding.weight"][torch.tensor(contexts)].flatten(1)
        hidden = torch.tanh(x @ weights["hidden.weight"].T + weights["hidden.bias"])
        logits = hidden @ weights["out.weight"].T + weights["out.bias"]
        return torch.nn.functional.cross_entropy(logits, torch.tensor(targets)).item()
    gru = torch.nn.GRU(16, 64, batch_first=True)
    gru.load_state_dict({k.removeprefix("gru."): v for k, v in weights.items() if k.startswith("gru.")})
    total, count = 0.0, 0
    by_length = {}
    for word in words:   # names of one length form one batch: no padding involved
        by_length.setdefault(len(word), []).append([index[c] for c in "." + word + "."])
    with torch.no_grad():
        for tokens in by_length.values():
            tokens = torch.tensor(tokens)
            states, _ = gru(weights["embedding.weight"][tokens[:, :-1]])
            logits = states @ weights["out.weight"].T + weights["out.bias"]
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, 27), tokens[:, 1:].reshape(-1),
                                                       reduction="sum").item()
            count += tokens[:, 1:].numel()
    return total / count


def torch_bigram_samples(counts, seed, n=10):
    try:
        import torch
    except ImportError:
        return None
    table = np.zeros((27, 27))
    for (a, b), k in counts.items():
        table[TOKENS.index(a), TOKENS.index(b)] = k
    table += 1
    probabilities = torch.tensor((table / table.sum(axis=1, keepdims=True)).astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    names = []
    for _ in range(n):
        name, token = "", 0
        while True:
            token = torch.multinomial(probabilities[token], 1, generator=generator).item()
            name += TOKENS[token]
            if token == 0:
                break
        names.append(name)
    return names


def check(r):
    train, val = r["train_words"], r["val_words"]
    everything = tg.datasets.names()
    assert not set(train) & set(val) and sorted(train + val) == everything and len(val) == round(0.1 * len(everything))

    uniform = math.log(27)
    assert abs(r["uniform_nll"] - uniform) < 1e-12
    for part, words in (("train", train), ("val", val)):
        reference, counts = python_bigram_nll(train, words)
        assert abs(r["nll"]["bigram"][part] - reference) < 1e-10, (part, r["nll"]["bigram"][part], reference)
    assert all(r["counts"][TOKENS.index(a), TOKENS.index(b)] == n for (a, b), n in counts.items())
    assert r["counts"].sum() == sum(counts.values())

    for name in ("MLP", "GRU"):
        for part, words in (("train", train), ("val", val)):
            reference = torch_nll(r, name, words)
            if reference is not None:
                assert abs(r["nll"][name][part] - reference) < 1e-4, (name, part, r["nll"][name][part], reference)

    # The claim: both trained models beat the bigram on held-out names, and everything beats guessing.
    nll = {name: v["val"] for name, v in r["nll"].items()}
    assert max(nll.values()) < uniform and nll["MLP"] < nll["bigram"] and nll["GRU"] < nll["bigram"], nll
    if not r["quick"]:
        assert nll["GRU"] < nll["MLP"] < nll["bigram"] - 0.25, nll    # the full run's margins (see the docstring)

    for name, samples in r["samples"].items():
        assert len(samples) == 10, name
        for s in samples:   # letters, then the end token, once
            assert s.endswith(".") and set(s[:-1]) <= set(string.ascii_lowercase), (name, s)
    expected = torch_bigram_samples(counts, seed=r["seed"])
    if expected is not None:
        assert r["samples"]["bigram"] == expected, (r["samples"]["bigram"], expected)
