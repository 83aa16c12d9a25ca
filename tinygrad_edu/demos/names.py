"""A character-level language model of first names, three ways (makemore's path): bigram counts, an MLP, a GRU.

What it teaches: a language model gives every next character a probability,
and its loss is the average negative log-likelihood (NLL) of the characters
that actually come next, in nats per character. Guessing uniformly among the
27 tokens (a-z and the end token ``.``) scores log 27 = 3.296. Each model
here sees more of the past than the one before and scores lower:

1. Bigram counts. Count how often each character follows each other one in
   the training names (a 27 x 27 table, the start and end of a name both
   written ``.``), add 1 to every count (Laplace smoothing, so no pair has
   probability zero) and normalise each row. No gradient descent at all: this
   table is exactly the maximum-likelihood bigram model (up to the smoothing),
   so its NLL is the baseline a model that sees one character can reach.
2. An MLP on the last three characters (Bengio et al. 2003, as in makemore
   part 2): each character is looked up in a learned 10-dimensional
   embedding, the three vectors are concatenated, then a tanh hidden layer
   of 100 units and a linear layer to 27 logits; cross-entropy, Adam (lr
   0.01, cosine-annealed), mini-batches of 128 contexts.
3. A GRU reading the whole name so far (embedding 16, hidden 64), trained on
   padded names (padding ignored by the loss via ``ignore_index=-100``), Adam
   (lr 0.01, cosine-annealed), mini-batches of 32 names.

The data is ``tg.datasets.names()``: 5,163 first names of the 1990 US Census
(makemore's own list has 32,033), split once into 90 % training and 10 %
validation names with a fixed seed. Measured (seed 0; NLL on the training /
validation names): the bigram table 2.343 / 2.350; the MLP 1.894 / 2.008
after 3,000 steps; the GRU 1.894 / 1.975 after 600 steps. Both beat the
bigram on names they never saw, the GRU (which sees the whole name) a little
more than the MLP (which sees three characters), and the gap between their
training and validation NLL is the start of overfitting on so small a data
set. With ``quick`` (300 MLP steps, 60 GRU steps) both still beat the bigram
on the validation names, the GRU only narrowly: MLP 2.197 / 2.215, GRU
2.305 / 2.302. (A GRU step sees 32 names, about 220 characters; an MLP step
128 characters.) makemore, with six times more names, reports about 2.45
for its bigram and 2.1-2.2 for its MLP: this data set is smaller and its
names shorter, so the numbers differ, but the order is the same.

Each model then writes ten names, drawing each next character with
``tg.multinomial`` from a seeded ``tg.Generator`` until it draws the end token.
"""

from __future__ import annotations

import math
import os
import string
from typing import Any

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu._checks import check_int, check_number, check_seed
from tinygrad_edu.demos import output_directory

__all__ = ["VOCAB", "run", "split_words", "encode", "bigram_counts", "bigram_probabilities", "bigram_nll",
           "context_windows", "padded_names", "NameMLP", "NameGRU", "train", "sample"]

#: The tokens: ``.`` (index 0) marks both the start and the end of a name, then a-z (1-26).
VOCAB = "." + string.ascii_lowercase
END = 0
SPLIT_SEED = 42        # the train/validation split is the same for every run seed
VAL_FRACTION = 0.1
IGNORE = -100          # target value the loss skips (padding after a name's end)


def encode(word: str) -> list[int]:
    """The token indices of ``word`` (letters a-z only; ``.`` is 0).

    Raises:
        ValueError: ``word`` holds anything but lowercase letters, naming them.

    Example:
        >>> encode("abz")
        [1, 2, 26]
    """
    bad = sorted(set(word) - set(string.ascii_lowercase))
    if bad:
        raise ValueError(f"encode: names are lowercase a-z, {word!r} has {bad}")
    return [VOCAB.index(c) for c in word]


def split_words(words: list[str], val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED
                ) -> tuple[list[str], list[str]]:
    """A fixed random split: ``(train, val)``, the validation part ``val_fraction`` of the names.

    The order is ``tg.randperm`` with its own seeded ``tg.Generator``, so the
    split does not depend on (or disturb) the global random state.

    Example:
        >>> train_part, val_part = split_words(["ann", "bob", "cy", "dee", "eve"], val_fraction=0.4)
        >>> len(train_part), len(val_part), sorted(train_part + val_part)[0]
        (3, 2, 'ann')
    """
    check_number("split_words", "val_fraction", val_fraction, low=0, high=1, low_inclusive=False, high_inclusive=False)
    check_seed("split_words", seed)
    order = tg.randperm(len(words), generator=tg.Generator().manual_seed(seed)).tolist()
    n_val = int(round(val_fraction * len(words)))
    return [words[i] for i in order[n_val:]], [words[i] for i in order[:n_val]]


# -- 1. bigram counts ---------------------------------------------------------------------------------


def _pairs(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every (previous, next) token pair of the names, ``.`` before the first letter and after the last."""
    previous, following = [], []
    for word in words:
        tokens = [END] + encode(word) + [END]
        previous += tokens[:-1]
        following += tokens[1:]
    return np.array(previous, dtype=np.int64), np.array(following, dtype=np.int64)


def bigram_counts(words: list[str]) -> np.ndarray:
    """``N[i, j]``: how many times token j follows token i in ``words`` (27 x 27 integers).

    Example:
        >>> counts = bigram_counts(["ab", "a"])      # .a ab b.  and  .a a.
        >>> int(counts[0, 1]), int(counts[1, 2]), int(counts[1, 0]), int(counts.sum())
        (2, 1, 1, 5)
    """
    counts = np.zeros((len(VOCAB), len(VOCAB)), dtype=np.int64)
    np.add.at(counts, _pairs(words), 1)
    return counts


def bigram_probabilities(counts: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    r"""Row-normalised smoothed counts: :math:`P[i, j] = (N[i, j] + s) / \sum_k (N[i, k] + s)` (float64).

    Example:
        >>> P = bigram_probabilities(bigram_counts(["ab", "a"]))
        >>> bool(abs(P.sum(axis=1) - 1).max() < 1e-12), round(float(P[0, 1]), 4)    # (2 + 1) / (2 + 27)
        (True, 0.1034)
    """
    smoothed = counts + smoothing
    return smoothed / smoothed.sum(axis=1, keepdims=True)


def bigram_nll(probabilities: np.ndarray, words: list[str]) -> float:
    r"""Average negative log-likelihood per token: :math:`-\frac{1}{T}\sum_t \log P[x_{t-1}, x_t]` over all names.

    Example:
        >>> import math
        >>> uniform = np.full((27, 27), 1 / 27)
        >>> bool(abs(bigram_nll(uniform, ["anna"]) - math.log(27)) < 1e-12)
        True
    """
    previous, following = _pairs(words)
    return float(-np.mean(np.log(probabilities[previous, following])))


# -- 2. the MLP on a fixed context --------------------------------------------------------------------


def context_windows(words: list[str], block: int = 3) -> tuple[tg.Tensor, tg.Tensor]:
    """Inputs ``(n, block)``: the ``block`` tokens before each target (``.``-padded); targets ``(n,)``."""
    contexts, targets = [], []
    for word in words:
        context = [END] * block
        for token in encode(word) + [END]:
            contexts.append(context)
            targets.append(token)
            context = context[1:] + [token]
    return tg.tensor(np.array(contexts, dtype=np.int64)), tg.tensor(np.array(targets, dtype=np.int64))


class NameMLP(nn.Module):
    """Bengio et al. (2003): embed the last ``block`` characters, concatenate, a tanh layer, 27 logits."""

    def __init__(self, block: int = 3, embedding_dim: int = 10, hidden: int = 100) -> None:
        super().__init__()
        self.block = block
        self.embedding = nn.Embedding(len(VOCAB), embedding_dim)
        self.hidden = nn.Linear(block * embedding_dim, hidden)
        self.out = nn.Linear(hidden, len(VOCAB))

    def forward(self, contexts: tg.Tensor) -> tg.Tensor:
        """Logits ``(n, 27)`` of the next character after each context ``(n, block)``."""
        return self.out(self.hidden(self.embedding(contexts).flatten(1)).tanh())


# -- 3. the GRU on the whole name so far --------------------------------------------------------------


def padded_names(words: list[str], length: int) -> tuple[tg.Tensor, tg.Tensor]:
    """Inputs ``(n, length)``: ``.`` then the name (0-padded); targets: the name then ``.`` (-100-padded)."""
    inputs = np.zeros((len(words), length), dtype=np.int64)
    targets = np.full((len(words), length), IGNORE, dtype=np.int64)
    for i, word in enumerate(words):
        tokens = [END] + encode(word) + [END]
        inputs[i, :len(tokens) - 1] = tokens[:-1]
        targets[i, :len(tokens) - 1] = tokens[1:]
    return tg.tensor(inputs), tg.tensor(targets)


class NameGRU(nn.Module):
    """Embedding, a one-layer ``nn.GRU`` (batch first), and a linear layer to 27 logits at every position."""

    def __init__(self, embedding_dim: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(VOCAB), embedding_dim)
        self.gru = nn.GRU(embedding_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, len(VOCAB))

    def forward(self, tokens: tg.Tensor, h: tg.Tensor | None = None) -> tuple[tg.Tensor, tg.Tensor]:
        """Logits ``(n, length, 27)`` and the last hidden state, from tokens ``(n, length)``."""
        states, h = self.gru(self.embedding(tokens), h)
        return self.out(states), h


def _nll(model: nn.Module, inputs: tg.Tensor, targets: tg.Tensor) -> tg.Tensor:
    """Mean cross-entropy per (non-padding) character: the NLL in nats the bigram's is compared with."""
    logits = model(inputs)
    if isinstance(logits, tuple):  # the GRU: logits at every position
        logits = logits[0].reshape(-1, len(VOCAB))
        targets = targets.reshape(-1)
    return nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE)


def train(model: nn.Module, data: tuple[tg.Tensor, tg.Tensor], val: tuple[tg.Tensor, tg.Tensor], steps: int,
          batch_size: int, lr: float, generator: tg.Generator, evaluations: int = 10) -> dict[str, Any]:
    """Adam with a cosine-annealed rate on random mini-batches of rows of ``data``; returns the curves.

    Returns:
        ``{"batch_loss": [...] per step, "val_steps": [...], "val_loss": [...]}`` (the validation NLL
        ``evaluations`` times, evenly spaced, the last after the last step).
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("evaluations", evaluations)):
        check_int("train", name, value, minimum=1)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    inputs, targets = data
    every = max(1, steps // evaluations)
    curves: dict[str, list] = {"batch_loss": [], "val_steps": [], "val_loss": []}
    for step in range(1, steps + 1):
        rows = tg.randint(0, len(targets), (batch_size,), generator=generator)
        loss = _nll(model, inputs[rows], targets[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        curves["batch_loss"].append(loss.item())
        if step % every == 0 or step == steps:
            with tg.no_grad():
                curves["val_steps"].append(step)
                curves["val_loss"].append(_nll(model, *val).item())
    return curves


# -- sampling -----------------------------------------------------------------------------------------


@tg.no_grad()
def sample(model: Any, n: int, generator: tg.Generator, max_length: int = 50) -> list[str]:
    """``n`` names drawn one character at a time until the end token; each returned with its final ``.``.

    ``model`` is a bigram probability table (a 27 x 27 array), a `NameMLP` or a
    `NameGRU`. Each next character is ``tg.multinomial(p, 1, generator=generator)``
    from the model's distribution ``p`` given what was drawn so far.
    """
    check_int("sample", "n", n, minimum=0)
    check_int("sample", "max_length", max_length, minimum=1)
    names = []
    for _ in range(n):
        tokens: list[int] = []
        context = [END] * getattr(model, "block", 1)
        h = None
        while len(tokens) < max_length:
            if isinstance(model, np.ndarray):
                p = tg.tensor(model[context[-1]].astype(np.float32))
            elif isinstance(model, NameGRU):
                logits, h = model(tg.tensor(np.array([[context[-1]]], dtype=np.int64)), h)
                p = logits[0, -1].softmax(dim=-1)
            else:
                p = model(tg.tensor(np.array([context], dtype=np.int64)))[0].softmax(dim=-1)
            token = tg.multinomial(p, 1, generator=generator).item()
            tokens.append(token)
            if token == END:
                break
            context = context[1:] + [token] if len(context) > 1 else [token]
        names.append("".join(VOCAB[t] for t in tokens))
    return names


# -- the experiment -----------------------------------------------------------------------------------


def run(out: str | None = None, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Fit the bigram table, train the MLP and the GRU, print train/val NLL and samples, draw the figure.

    Args:
        out: directory for ``names_models.png`` (created); ``None`` writes nothing.
        quick: 300 MLP steps and 60 GRU steps instead of 3,000 and 600 (a few seconds).
        seed: seeds the models' initialisation, the mini-batches and the sampling (not the split).

    Returns:
        ``{"train_words", "val_words", "counts", "nll": {model: {"train", "val"}}, "uniform_nll",
        "curves": {model: ...}, "samples": {model: [names]}, "models", "steps", "quick", "seed", "files"}``.

    Raises:
        ImportError: the ``names`` extra is missing (``pip install "tinygrad-edu[names]"``).
    """
    check_seed("names.run", seed)
    if out is not None:
        out = output_directory("names.run", out)  # before minutes of training, not after
    words = tg.datasets.names()
    train_words, val_words = split_words(words)
    uniform = math.log(len(VOCAB))
    print(f"{len(words):,} names: {len(train_words):,} to train on, {len(val_words):,} held out; "
          f"uniform guess over {len(VOCAB)} tokens: NLL log {len(VOCAB)} = {uniform:.3f}")
    nll: dict[str, dict[str, float]] = {}

    counts = bigram_counts(train_words)
    table = bigram_probabilities(counts)
    nll["bigram"] = {"train": bigram_nll(table, train_words), "val": bigram_nll(table, val_words)}

    steps = {"MLP": 300 if quick else 3000, "GRU": 60 if quick else 600}
    tg.manual_seed(seed)
    mlp = NameMLP()
    length = max(len(w) for w in words) + 1
    data = {"MLP": (context_windows(train_words), context_windows(val_words)),
            "GRU": (padded_names(train_words, length), padded_names(val_words, length))}
    batches = tg.Generator().manual_seed(seed)
    curves = {"MLP": train(mlp, *data["MLP"], steps["MLP"], batch_size=128, lr=0.01, generator=batches)}
    tg.manual_seed(seed)
    gru = NameGRU()
    curves["GRU"] = train(gru, *data["GRU"], steps["GRU"], batch_size=32, lr=0.01, generator=batches)
    models = {"bigram": table, "MLP": mlp, "GRU": gru}
    with tg.no_grad():
        for name in ("MLP", "GRU"):
            nll[name] = {"train": _nll(models[name], *data[name][0]).item(),
                         "val": _nll(models[name], *data[name][1]).item()}

    samples = {}
    for name, model in models.items():
        samples[name] = sample(model, 10, tg.Generator().manual_seed(seed))
    print(f"  {'model':<8} {'steps':>6} {'train NLL':>10} {'val NLL':>8}   ten samples")
    for name in models:
        beats = "" if name == "bigram" else ("  (beats the bigram)" if nll[name]["val"] < nll["bigram"]["val"]
                                            else "  (does NOT beat the bigram at this budget)")
        print(f"  {name:<8} {steps.get(name, '--'):>6} {nll[name]['train']:>10.3f} {nll[name]['val']:>8.3f}   "
              + " ".join(s.rstrip(".") for s in samples[name]) + beats)

    files = []
    if out is not None:
        os.makedirs(out, exist_ok=True)
        files.append(_draw(os.path.join(out, "names_models.png"), counts, nll, curves, uniform))
    return {"train_words": train_words, "val_words": val_words, "counts": counts, "nll": nll,
            "uniform_nll": uniform, "curves": curves, "samples": samples, "models": models, "steps": steps,
            "quick": quick, "seed": seed, "files": files}


def _draw(path: str, counts: np.ndarray, nll: dict, curves: dict, uniform: float) -> str:
    """Loss curves against the bigram and uniform baselines, and the bigram count table; returns the path."""
    from .. import viz  # only the picture needs matplotlib

    return viz.save_figure(viz.styled(_picture)(counts, nll, curves, uniform), path, dpi=100)


def _picture(counts: np.ndarray, nll: dict, curves: dict, uniform: float) -> Any:
    from matplotlib.figure import Figure

    from .. import viz

    fig = Figure(figsize=(15, 5.4), layout="constrained")
    curve_ax, bars, table_ax = fig.subplots(1, 3, width_ratios=(1.2, 0.8, 1))
    for name, colour in (("MLP", viz.PALETTE[1]), ("GRU", viz.PALETTE[2])):
        batch = np.array(curves[name]["batch_loss"])
        window = max(1, len(batch) // 30)
        smooth = np.convolve(batch, np.ones(window) / window, mode="valid")
        curve_ax.plot(np.arange(window, len(batch) + 1), smooth, color=colour, alpha=0.5, label=f"{name} train batches")
        curve_ax.plot(curves[name]["val_steps"], curves[name]["val_loss"], "o-", color=colour, label=f"{name} val")
    curve_ax.axhline(nll["bigram"]["val"], color=viz.PALETTE[0], linestyle="--", label="bigram val")
    curve_ax.axhline(uniform, color="gray", linestyle=":", label="uniform, log 27")
    curve_ax.set_xscale("log")
    curve_ax.set_xlabel("step")
    curve_ax.set_ylabel("NLL per character (nats)")
    curve_ax.set_title("training: MLP and GRU against the bigram")
    viz.place_legend(curve_ax)
    names = list(nll)
    x = np.arange(len(names))
    bars.bar(x - 0.2, [nll[n]["train"] for n in names], 0.4, color=viz.PALETTE[0], label="train")
    bars.bar(x + 0.2, [nll[n]["val"] for n in names], 0.4, color=viz.PALETTE[3], hatch="//", label="val")
    bars.set_xticks(x, names)
    bars.set_ylim(1.5, uniform)
    bars.set_ylabel("NLL per character (nats)")
    bars.set_title("final NLL")
    viz.place_legend(bars)
    table_ax.imshow(np.log1p(counts), cmap="Blues")
    table_ax.set_xticks(range(len(VOCAB)), list(VOCAB), fontsize=9)  # 27 letters: the one place below 12 pt
    table_ax.set_yticks(range(len(VOCAB)), list(VOCAB), fontsize=9)
    table_ax.set_xlabel("next character")
    table_ax.set_ylabel("previous character")
    table_ax.set_title("bigram counts (log scale)")
    return fig
