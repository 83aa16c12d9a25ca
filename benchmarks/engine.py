"""Engine speed, side by side with PyTorch CPU and a hand-written NumPy network.

Run:  python benchmarks/engine.py [--repeats 15]

Prints medians of several repeats (float32):
1. the overhead of one tiny op with its backward, (a * b).sum().backward() on
   10-element tensors — target: no slower than PyTorch;
2. forward + backward (no optimizer step) of an MLP 784-256-10 with ReLU and
   cross-entropy at batch 32 and 256 — target: within 1.25x of the
   hand-written NumPy floor (which is ahead of PyTorch).

These machines are shared and noisy: compare the columns of one run, not runs
with each other. Each contender is timed in its own worker process, so that
PyTorch's OpenMP threads (which keep spinning after each call) cannot steal the
cores from NumPy's BLAS threads, or the other way round; the rounds alternate
between contenders and the median over rounds is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit

import numpy as np
from _worker import run_worker  # benchmarks/_worker.py: one fresh process per contender

import tinygrad_edu as tg
from tinygrad_edu import nn

torch = None  # imported only inside the worker that measures PyTorch


def median_time(fn, repeats: int, number: int) -> float:
    """Median over ``repeats`` of the mean time of ``number`` calls, in seconds."""
    fn()  # warm up
    times = timeit.repeat(fn, repeat=repeats, number=number)
    return statistics.median(times) / number


# ---------------------------------------------------------------------------
# The measurements, one contender per worker process
# ---------------------------------------------------------------------------


def tiny_op(contender: str, repeats: int) -> float:
    """Seconds for (a * b).sum().backward() on 10 elements."""
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal(10, dtype=np.float32), rng.standard_normal(10, dtype=np.float32)
    lib = torch if contender == "torch" else tg
    a = lib.tensor(a_np, requires_grad=True)
    b = lib.tensor(b_np, requires_grad=True)

    def step():
        a.grad = b.grad = None
        (a * b).sum().backward()

    return median_time(step, repeats, 2000)


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


def mlp(contender: str, batch: int, repeats: int) -> float:
    """Seconds for forward + backward of MLP 784-256-10 at ``batch``."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, 784), dtype=np.float32)
    y_np = rng.integers(0, 10, batch)
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    weights = [p.numpy() for p in model.parameters()]
    if contender == "hand NumPy":
        return median_time(lambda: hand_numpy_mlp(*weights, x_np, y_np), repeats, 50)
    if contender == "torch":
        tmodel = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        tcrit = torch.nn.CrossEntropyLoss()
        tx, ty = torch.tensor(x_np), torch.tensor(y_np)

        def step():
            tmodel.zero_grad()
            tcrit(tmodel(tx), ty).backward()

        return median_time(step, repeats, 50)
    criterion = nn.CrossEntropyLoss()
    x, y = tg.tensor(x_np), tg.tensor(y_np)

    def step():
        model.zero_grad()
        criterion(model(x), y).backward()

    # Check once that the engine and the hand-written network agree.
    step()
    hand = hand_numpy_mlp(*weights, x_np, y_np)
    for p, g in zip(model.parameters(), hand[1:]):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-3, atol=1e-6)
    return median_time(step, repeats, 50)


def worker(contender: str, repeats: int) -> None:
    global torch
    if contender == "torch":
        import torch as torch_module

        torch = torch_module
    result = {"mlp32": mlp(contender, 32, repeats), "mlp256": mlp(contender, 256, repeats)}
    if contender != "hand NumPy":
        result["tiny"] = tiny_op(contender, repeats)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats inside each worker")
    parser.add_argument("--rounds", type=int, default=3, help="worker rounds per contender")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.repeats)
        return

    contenders = ["tinygrad_edu", "hand NumPy", "torch"]
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in contenders}
    for _ in range(args.rounds):
        for contender in contenders:
            result = run_worker(__file__, contender, "--repeats", str(args.repeats))
            if result is not None:
                runs[contender].append(result)
    med = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items() if rs}

    print(f"numpy {np.__version__}; medians of {args.rounds} worker rounds x {args.repeats} repeats, float32; "
          f"each contender in its own process\n")
    ours = med["tinygrad_edu"]
    print("1. (a * b).sum().backward() on 10 elements")
    for name in ("tinygrad_edu", "torch"):
        if name in med:
            print(f"   {name:<14} {med[name]['tiny'] * 1e6:8.1f} us")
    if "torch" in med:
        ratio = ours["tiny"] / med["torch"]["tiny"]
        print(f"   ratio tinygrad_edu / torch = {ratio:.2f}  (target <= 1.00: {'met' if ratio <= 1 else 'NOT met'})")

    print("\n2. MLP 784-256-10, ReLU, cross-entropy: forward + backward")
    for batch in (32, 256):
        key = f"mlp{batch}"
        cells = "  ".join(f"{name} {med[name][key] * 1e3:.3f} ms" for name in contenders if name in med)
        ratio = ours[key] / med["hand NumPy"][key]
        line = (f"   batch {batch:>3}: {cells}\n             ratio to hand NumPy = {ratio:.2f} "
                f"(target <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})")
        if "torch" in med:
            line += f", ratio to torch = {ours[key] / med['torch'][key]:.2f}"
        print(line)


if __name__ == "__main__":
    main()
