"""Engine speed, side by side with PyTorch CPU and a hand-written NumPy network.

Run:  python benchmarks/engine.py [--repeats 15]

Prints medians of several repeats (float32):
1. the overhead of one tiny op with its backward, (a * b).sum().backward() on
   10-element tensors — target: no slower than PyTorch;
2. forward + backward (no optimizer step) of an MLP 784-256-10 with ReLU and
   cross-entropy at batch 32 and 256 — target: within 1.25x of the
   hand-written NumPy floor (which is ahead of PyTorch).

These machines are shared and noisy: compare the columns of one run, not runs
with each other.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np

import tinygrad_edu as tg
from tinygrad_edu import nn

try:
    import torch
except ImportError:  # the oracle is optional
    torch = None


def median_time(fn, repeats: int, number: int) -> float:
    """Median over ``repeats`` of the mean time of ``number`` calls, in seconds."""
    fn()  # warm up
    times = timeit.repeat(fn, repeat=repeats, number=number)
    return statistics.median(times) / number


# ---------------------------------------------------------------------------
# 1. tiny op overhead
# ---------------------------------------------------------------------------


def tiny_op(repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal(10, dtype=np.float32), rng.standard_normal(10, dtype=np.float32)
    a = tg.tensor(a_np, requires_grad=True)
    b = tg.tensor(b_np, requires_grad=True)

    def ours():
        a.grad = b.grad = None
        (a * b).sum().backward()

    out = {"tinygrad_edu": median_time(ours, repeats, 2000)}
    if torch is not None:
        ta = torch.tensor(a_np, requires_grad=True)
        tb = torch.tensor(b_np, requires_grad=True)

        def theirs():
            ta.grad = tb.grad = None
            (ta * tb).sum().backward()

        out["torch"] = median_time(theirs, repeats, 2000)
    return out


# ---------------------------------------------------------------------------
# 2. MLP forward + backward
# ---------------------------------------------------------------------------


def hand_numpy_mlp(w1, b1, w2, b2, x, y):
    """The floor: forward and backward of the same network written out by hand."""
    h_pre = x @ w1.T + b1
    h = np.maximum(h_pre, 0)
    logits = h @ w2.T + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    softmax = exp / exp.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(softmax[np.arange(n), y]).mean()
    d_logits = softmax
    d_logits[np.arange(n), y] -= 1
    d_logits /= n
    g_w2 = d_logits.T @ h
    g_b2 = d_logits.sum(axis=0)
    d_h = d_logits @ w2
    d_h *= h_pre > 0
    g_w1 = d_h.T @ x
    g_b1 = d_h.sum(axis=0)
    return loss, g_w1, g_b1, g_w2, g_b2


def mlp(batch: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, 784), dtype=np.float32)
    y_np = rng.integers(0, 10, batch)
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    criterion = nn.CrossEntropyLoss()
    x, y = tg.tensor(x_np), tg.tensor(y_np)

    def ours():
        model.zero_grad()
        criterion(model(x), y).backward()

    out = {"tinygrad_edu": median_time(ours, repeats, 50)}
    weights = [p.data for p in model.parameters()]

    # Check once that the engine and the hand-written network agree.
    ours()
    hand = hand_numpy_mlp(*weights, x_np, y_np)
    for p, g in zip(model.parameters(), hand[1:]):
        np.testing.assert_allclose(p.grad.data, g, rtol=1e-3, atol=1e-6)

    out["hand NumPy"] = median_time(lambda: hand_numpy_mlp(*weights, x_np, y_np), repeats, 50)
    if torch is not None:
        tmodel = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        tcrit = torch.nn.CrossEntropyLoss()
        tx, ty = torch.tensor(x_np), torch.tensor(y_np)

        def theirs():
            tmodel.zero_grad()
            tcrit(tmodel(tx), ty).backward()

        out["torch"] = median_time(theirs, repeats, 50)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"numpy {np.__version__}" + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ", torch not installed"))
    print(f"medians of {args.repeats} repeats, float32\n")

    t = tiny_op(args.repeats)
    print("1. (a * b).sum().backward() on 10 elements")
    for name, sec in t.items():
        print(f"   {name:<14} {sec * 1e6:8.1f} us")
    if "torch" in t:
        ratio = t["tinygrad_edu"] / t["torch"]
        print(f"   ratio tinygrad_edu / torch = {ratio:.2f}  (target <= 1.00: {'met' if ratio <= 1 else 'NOT met'})")

    print("\n2. MLP 784-256-10, ReLU, cross-entropy: forward + backward")
    for batch in (32, 256):
        r = mlp(batch, args.repeats)
        cells = "  ".join(f"{name} {sec * 1e3:.3f} ms" for name, sec in r.items())
        ratio = r["tinygrad_edu"] / r["hand NumPy"]
        line = f"   batch {batch:>3}: {cells}\n             ratio to hand NumPy = {ratio:.2f} (target <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})"
        if "torch" in r:
            line += f", ratio to torch = {r['tinygrad_edu'] / r['torch']:.2f}"
        print(line)


if __name__ == "__main__":
    main()
