"""The model zoo's whole training steps, side by side with PyTorch CPU (default and fused AdamW).

Run:  python benchmarks/zoo.py [--repeats 5] [--rounds 3] [--only cnn_digits char_lstm]

A step is zero_grad, forward, cross-entropy, backward and an AdamW step, in
float32 with a fixed batch. The same builder makes each model for both
libraries (the APIs are the same), each contender runs in its own worker
process (PyTorch's OpenMP threads must not share the cores with NumPy's BLAS
threads). A model's contenders run back to back, in an order that alternates
between rounds, and the ratio PyTorch fused / ours is taken per round and its
median reported: 1.0 or more means ours is no slower, the target. (These
machines' speed drifts by up to 2x over minutes; times taken seconds apart
compare, times taken minutes apart do not.) Also forward + backward of ``conv2d`` alone on the two CNNs' shapes.

These machines are shared and noisy: compare the columns of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import timeit

import numpy as np
from _worker import run_worker  # benchmarks/_worker.py: one fresh process per contender

MODELS = ["mlp_moons", "makemore_mlp", "deep_bn", "cnn_digits", "cnn_mnist", "char_rnn", "char_lstm", "tiny_gpt"]


# ---------------------------------------------------------------------------
# The models, written once against either library
# ---------------------------------------------------------------------------


def _tiny_gpt(lib, vocab: int = 27, d: int = 64, heads: int = 4, layers: int = 2, block: int = 32):
    nn = lib.nn

    class TinyGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, d)
            self.pos = nn.Embedding(block, d)
            self.blocks = nn.ModuleList([
                nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.0, batch_first=True,
                                           norm_first=True)
                for _ in range(layers)])
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab)
            mask = lib.triu(lib.full((block, block), float("-inf")), diagonal=1)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, idx):
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(lib.arange(t))
            for layer in self.blocks:
                x = layer(x, src_mask=self.mask[:t, :t])
            return self.head(self.norm(x))

    return TinyGPT()


def _recurrent(lib, cell: str):
    nn = lib.nn

    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(27, 32)
            self.rnn = getattr(nn, cell)(32, 128, batch_first=True)
            self.head = nn.Linear(128, 27)

        def forward(self, idx):
            out, _ = self.rnn(self.emb(idx))
            return self.head(out)

    return CharModel()


def build(lib, name: str):
    """(model, input, target) for ``name``, built with ``lib`` (torch or tinygrad_edu), seeded."""
    nn = lib.nn
    lib.manual_seed(0)
    rng = np.random.default_rng(0)
    if name == "mlp_moons":
        model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
        x, y = rng.standard_normal((32, 2)).astype(np.float32), rng.integers(0, 2, 32)
    elif name == "makemore_mlp":
        model = nn.Sequential(nn.Embedding(27, 10), nn.Flatten(), nn.Linear(30, 200), nn.Tanh(), nn.Linear(200, 27))
        x, y = rng.integers(0, 27, (32, 3)), rng.integers(0, 27, 32)
    elif name == "deep_bn":
        layers = []
        for _ in range(20):
            layers += [nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(64, 10))
        x, y = rng.standard_normal((64, 64)).astype(np.float32), rng.integers(0, 10, 64)
    elif name == "cnn_digits":
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(128, 10))
        x, y = rng.standard_normal((64, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 64)
    elif name == "cnn_mnist":
        model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(400, 10))
        x, y = rng.standard_normal((64, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 64)
    elif name in ("char_rnn", "char_lstm"):
        model = _recurrent(lib, "RNN" if name == "char_rnn" else "LSTM")
        x, y = rng.integers(0, 27, (32, 16)), rng.integers(0, 27, (32, 16))
    elif name == "tiny_gpt":
        model = _tiny_gpt(lib)
        x, y = rng.integers(0, 27, (32, 32)), rng.integers(0, 27, (32, 32))
    else:
        raise ValueError(f"unknown model {name!r}; choose from {MODELS}")
    return model, lib.tensor(x), lib.tensor(y)


def step_seconds(contender: str, name: str, repeats: int) -> float:
    """Median seconds of one whole training step of ``name`` for ``contender``."""
    if contender.startswith("torch"):
        import torch as lib

        torch_kwargs = {"fused": True} if contender == "torch fused" else {"foreach": False}
    else:
        import tinygrad_edu as lib

        torch_kwargs = {}
    model, x, y = build(lib, name)
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-3, **torch_kwargs)
    criterion = lib.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        logits = model(x)
        loss = criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        optimizer.step()

    step()
    number = max(3, int(0.2 / max(timeit.timeit(step, number=1), 1e-6)))
    return statistics.median(timeit.repeat(step, repeat=repeats, number=number)) / number


def conv_seconds(contender: str, shape: str, repeats: int) -> float:
    """Forward + backward of conv2d alone on a CNN's first-layer shape."""
    if contender.startswith("torch"):
        import torch as lib
    else:
        import tinygrad_edu as lib
    rng = np.random.default_rng(0)
    if shape == "digits":
        x_np, w_np = rng.standard_normal((64, 16, 4, 4)), rng.standard_normal((32, 16, 3, 3))
        padding = 1
    else:
        x_np, w_np = rng.standard_normal((64, 1, 28, 28)), rng.standard_normal((8, 1, 3, 3))
        padding = 0
    x = lib.tensor(x_np.astype(np.float32), requires_grad=True)
    w = lib.tensor(w_np.astype(np.float32), requires_grad=True)

    def run():
        x.grad = w.grad = None
        lib.nn.functional.conv2d(x, w, padding=padding).sum().backward()

    run()
    return statistics.median(timeit.repeat(run, repeat=repeats, number=20)) / 20


def worker(contender: str, repeats: int, names: list[str]) -> None:
    """Print a JSON object: seconds per step of each name, for ``contender`` ("tinygrad_edu" or "torch").

    The torch worker times both of PyTorch's AdamW settings, fused and default (for-loop), one after
    the other; names ``conv2d_digits`` and ``conv2d_mnist`` time conv2d alone.
    """
    settings = ["torch fused", "torch default"] if contender == "torch" else [contender]
    results = {}
    for name in names:
        for setting in settings:
            key = f"{setting}|{name}"
            if name.startswith("conv2d_") and setting == "torch default":
                continue  # no optimizer in it: the same as fused
            try:
                if name.startswith("conv2d_"):
                    results[key] = conv_seconds(setting, name.removeprefix("conv2d_"), repeats)
                else:
                    results[key] = step_seconds(setting, name, repeats)
            except Exception as err:  # noqa: BLE001 - a missing layer is reported, not fatal
                results[key] = f"{type(err).__name__}: {err}"[:120]
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per model (medians over rounds)")
    parser.add_argument("--only", nargs="+", default=MODELS, help="models to run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.repeats, args.only)
        return
    # Each model's contenders run back to back (the machine's speed drifts over minutes), in an order
    # that alternates between rounds; a round's ratio compares times taken seconds apart.
    names = [*args.only, "conv2d_digits", "conv2d_mnist"]
    times: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    for round_ in range(args.rounds):
        for name in names:
            merged: dict = {}
            for contender in (["tinygrad_edu", "torch"] if round_ % 2 == 0 else ["torch", "tinygrad_edu"]):
                merged.update(run_worker(__file__, contender, "--repeats", str(args.repeats), "--only", name,
                                         env=dict(os.environ, OMP_NUM_THREADS="2")) or {})
            for key, value in merged.items():
                if isinstance(value, float):
                    times.setdefault(key, []).append(value)
                else:
                    errors[key] = value
            ours, fused = merged.get(f"tinygrad_edu|{name}"), merged.get(f"torch fused|{name}")
            if isinstance(ours, float) and isinstance(fused, float):
                ratios.setdefault(name, []).append(fused / ours)

    def cell(key: str) -> str:
        return f"{statistics.median(times[key]) * 1e3:.3f}" if key in times else "-"

    print(f"Whole training steps (AdamW), float32, ms: medians of {args.rounds} rounds x {args.repeats} repeats;")
    print("the ratio is the median over rounds of (PyTorch fused / ours) measured back to back")
    print(f"{'model':14s} {'ours':>9s} {'torch fused':>12s} {'torch default':>14s}   fused / ours (each round)")
    for name in args.only:
        if f"tinygrad_edu|{name}" not in times:
            print(f"{name:14s} not run: {errors.get(f'tinygrad_edu|{name}')}")
            continue
        cells = [cell(f"{c}|{name}") for c in ("tinygrad_edu", "torch fused", "torch default")]
        line = f"{name:14s} {cells[0]:>9s} {cells[1]:>12s} {cells[2]:>14s}"
        if name in ratios:
            ratio = statistics.median(ratios[name])
            verdict = "met" if ratio >= 1.0 else "NOT met"
            each = " ".join(f"{r:.2f}" for r in ratios[name])
            line += f"   {ratio:5.2f} (target >= 1.00: {verdict}; {each})"
        print(line)
    print("\nconv2d forward + backward alone, ms")
    for shape in ("digits", "mnist"):
        name = f"conv2d_{shape}"
        if name in ratios:
            print(f"  {shape:7s} ours {cell(f'tinygrad_edu|{name}')}  torch {cell(f'torch fused|{name}')}  "
                  f"torch / ours {statistics.median(ratios[name]):.2f}")
        else:
            print(f"  {shape:7s} not run: {errors.get(f'tinygrad_edu|{name}')}")


if __name__ == "__main__":
    main()
