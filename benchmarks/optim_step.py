"""Optimizer speed, side by side with PyTorch CPU and the machine's memory bandwidth.

Run:  python benchmarks/optim_step.py [--quick]

Prints, measured in one run (medians of several repeats, float32):

1. the memory bandwidth: an in-place update ``a += s * b`` (the access pattern
   of an optimizer step, no write-allocate traffic) and a STREAM triad
   ``c = a + s * b``, on one core and on both;
2. ns per parameter of ``step()`` for SGD with momentum, Adam and AdamW: one
   tensor of 1e4, 1e5, 1e6 and 1e7 parameters, 100 tensors of 1e4 and 1,000
   tensors of 100, the gradients being where ``backward()`` left them,
   against PyTorch's best setting (``fused=True``); at 1e6 and above, the
   achieved bandwidth as a share of the measured limit (Adam moves 28 bytes per
   float32 parameter, SGD with momentum 20). Targets: 1,000 tensors of 100 at
   least 10x faster than PyTorch fused; 1e6/1e7 at 70 %+ of the bandwidth;
3. whole training steps: the sources' loop (Linear(1, 1), MSE, 100 points,
   AdamW) and an MLP 784-256-10 (batch 32 and 256, Adam), against PyTorch's
   default and fused optimizers (targets: the sources' loop at least 2x faster
   than PyTorch, the MLP faster than PyTorch); here every step's gradients are
   fresh arrays (``zero_grad()`` sets them to None), which ``step()`` copies into
   its flat buffer;
4. cold start: the first-ever compile, and with the cache warm, a fresh
   process's ``import tinygrad_edu`` plus its first Adam step, beyond
   ``import numba`` itself.

Each contender runs in its own worker process, so PyTorch's spinning OpenMP
threads never share the two cores with NumPy's BLAS threads or ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import timeit

import numpy as np
from _worker import run_worker  # benchmarks/_worker.py: one fresh process per contender

SIZES = {
    "1e4": [10_000],
    "1e5": [100_000],
    "1e6": [1_000_000],
    "1e7": [10_000_000],
    "100 x 1e4": [10_000] * 100,
    "1000 x 100": [100] * 1000,
}
BYTES_PER_PARAM = {"SGD-momentum": 20, "Adam": 28, "AdamW": 28}
OPTIMIZERS = ("SGD-momentum", "Adam", "AdamW")


def median_time(fn, repeats: int, number: int) -> float:
    fn()
    return statistics.median(timeit.repeat(fn, repeat=repeats, number=number)) / number


def number_for(total: int) -> int:
    return max(1, min(200, 2_000_000 // max(total, 1)))


# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------


def worker_bandwidth(repeats: int) -> dict[str, float]:
    import numba

    @numba.njit(error_model="numpy")
    def inplace_serial(a, b, s):
        for i in range(a.size):
            a[i] += s * b[i]

    @numba.njit(error_model="numpy", parallel=True)
    def inplace_parallel(a, b, s):
        for i in numba.prange(a.size):
            a[i] += s * b[i]

    @numba.njit(error_model="numpy")
    def triad_serial(c, a, b, s):
        for i in range(a.size):
            c[i] = a[i] + s * b[i]

    @numba.njit(error_model="numpy", parallel=True)
    def triad_parallel(c, a, b, s):
        for i in numba.prange(a.size):
            c[i] = a[i] + s * b[i]

    n = 50_000_000  # 200 MB per array: far beyond the caches
    a, b, c = (np.ones(n, dtype=np.float32) for _ in range(3))
    s = np.float32(1e-7)
    out = {}
    for name, fn, args in (("in-place, 1 core", inplace_serial, (a, b, s)),
                           ("in-place, 2 cores", inplace_parallel, (a, b, s)),
                           ("triad, 1 core", triad_serial, (c, a, b, s)),
                           ("triad, 2 cores", triad_parallel, (c, a, b, s))):
        seconds = median_time(lambda: fn(*args), repeats, 3)  # noqa: B023
        out[name] = 12 * n / seconds / 1e9  # read a, b; write a (or c): 12 bytes per element
    return out


def _torch_optimizer(name: str, params, fused: bool | None):
    import torch

    extra = {"fused": True} if fused else {}
    if name == "SGD-momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, **extra)
    if name == "Adam":
        return torch.optim.Adam(params, lr=1e-3, **extra)
    return torch.optim.AdamW(params, lr=1e-3, **extra)


def _our_optimizer(name: str, params):
    from tinygrad_edu import optim

    if name == "SGD-momentum":
        return optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "Adam":
        return optim.Adam(params, lr=1e-3)
    return optim.AdamW(params, lr=1e-3)


def worker_steps(contender: str, repeats: int, sizes: list[str]) -> dict[str, dict[str, float]]:
    """ns per parameter of step(), gradients as backward() leaves them."""
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        shapes = SIZES[size]
        total = sum(shapes)
        values = [rng.standard_normal(n, dtype=np.float32) for n in shapes]
        for name in OPTIMIZERS:
            if contender == "torch":
                import torch

                params = [torch.tensor(v, requires_grad=True) for v in values]
                optimizer = _torch_optimizer(name, params, fused=True)
                sum((p * 1.5).sum() for p in params).backward()
            else:
                import tinygrad_edu as tg

                params = [tg.tensor(v, requires_grad=True) for v in values]
                optimizer = _our_optimizer(name, params)
                sum((p * 1.5).sum() for p in params).backward()
            seconds = median_time(optimizer.step, repeats, number_for(total))
            out.setdefault(size, {})[name] = seconds / total * 1e9
            del params, optimizer
    return out


def worker_training(contender: str, repeats: int) -> dict[str, float]:
    """Whole steps: zero_grad, forward, loss, backward, step."""
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((100, 1), dtype=np.float32)
    y1 = (3 * x1 + 1 + 0.1 * rng.standard_normal((100, 1))).astype(np.float32)
    mlp_data = {b: (rng.standard_normal((b, 784), dtype=np.float32), rng.integers(0, 10, b)) for b in (32, 256)}
    out = {}
    if contender == "tinygrad_edu":
        import tinygrad_edu as tg
        from tinygrad_edu import nn, optim

        variants = {"": None}
        lib_linear = lambda: nn.Linear(1, 1)  # noqa: E731
        lib_mlp = lambda: nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))  # noqa: E731
        make_adamw = lambda p, fused: optim.AdamW(p, lr=0.01)  # noqa: E731
        make_adam = lambda p, fused: optim.Adam(p, lr=1e-3)  # noqa: E731
        mse, ce, tensor = nn.MSELoss(), nn.CrossEntropyLoss(), tg.tensor
    else:
        import torch

        variants = {" (default)": None, " (fused)": True}
        lib_linear = lambda: torch.nn.Linear(1, 1)  # noqa: E731
        lib_mlp = lambda: torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),  # noqa: E731
                                              torch.nn.Linear(256, 10))
        make_adamw = lambda p, fused: torch.optim.AdamW(p, lr=0.01, **({"fused": True} if fused else {}))  # noqa: E731
        make_adam = lambda p, fused: torch.optim.Adam(p, lr=1e-3, **({"fused": True} if fused else {}))  # noqa: E731
        mse, ce, tensor = torch.nn.MSELoss(), torch.nn.CrossEntropyLoss(), torch.tensor

    for suffix, fused in variants.items():
        model = lib_linear()
        optimizer = make_adamw(model.parameters(), fused)
        x, y = tensor(x1), tensor(y1)

        def sources_step(model=model, optimizer=optimizer, x=x, y=y):
            optimizer.zero_grad()
            mse(model(x), y).backward()
            optimizer.step()

        out["sources loop" + suffix] = median_time(sources_step, repeats, 200)
        for batch, (xb, yb) in mlp_data.items():
            model = lib_mlp()
            optimizer = make_adam(model.parameters(), fused)
            x, y = tensor(xb), tensor(yb)

            def mlp_step(model=model, optimizer=optimizer, x=x, y=y):
                optimizer.zero_grad()
                ce(model(x), y).backward()
                optimizer.step()

            out[f"MLP batch {batch}" + suffix] = median_time(mlp_step, repeats, 30)
    return out


COLD_CODE = """
import time
t0 = time.perf_counter()
import tinygrad_edu as tg
w = tg.randn(1000, requires_grad=True)
opt = tg.optim.Adam([w], lr=1e-3)
(w * w).sum().backward()
opt.step()
print(time.perf_counter() - t0)
"""
NUMBA_CODE = "import time\nt0 = time.perf_counter()\nimport numba\nprint(time.perf_counter() - t0)"


def cold_start(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}

        def timed(code: str) -> float:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
            return float(done.stdout.strip().splitlines()[-1])

        first = timed(COLD_CODE)  # empty cache: compiles the kernel
        warm = statistics.median(timed(COLD_CODE) for _ in range(rounds))
        numba_only = statistics.median(timed(NUMBA_CODE) for _ in range(rounds))
    return {"first-ever import + compile + step": first, "warm import + first step": warm, "import numba": numba_only}


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="worker rounds per contender (medians over rounds)")
    parser.add_argument("--quick", action="store_true", help="skip 1e7 and use fewer repeats")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "bandwidth":
            result = worker_bandwidth(args.repeats)
        elif kind == "steps":
            result = worker_steps(rest[0], args.repeats, rest[1:])
        else:
            result = worker_training(rest[0], args.repeats)
        print(json.dumps(result))
        return

    if args.quick:
        args.repeats, args.rounds = 3, 1
    sizes = [s for s in SIZES if not (args.quick and s == "1e7")]

    def median_of_rounds(*worker_args: str):
        runs = [run_worker(__file__, *worker_args, "--repeats", str(args.repeats)) for _ in range(args.rounds)]
        runs = [r for r in runs if r]
        if not runs:
            return None
        if isinstance(next(iter(runs[0].values())), dict):
            return {k: {n: statistics.median(r[k][n] for r in runs) for n in runs[0][k]} for k in runs[0]}
        return {k: statistics.median(r[k] for r in runs) for k in runs[0]}

    print(f"numpy {np.__version__}; medians of {args.rounds} worker rounds x {args.repeats} repeats; float32\n")
    bandwidth = median_of_rounds("bandwidth")
    print("1. Memory bandwidth (GB/s)")
    for name, value in bandwidth.items():
        print(f"   {name:<18} {value:6.1f}")
    limit = max(bandwidth["in-place, 1 core"], bandwidth["in-place, 2 cores"])
    print(f"   limit used below: {limit:.1f} GB/s (the better in-place figure)\n")

    ours = median_of_rounds("steps", "tinygrad_edu", *sizes)
    theirs = median_of_rounds("steps", "torch", *sizes)
    print("2. step(), ns per parameter (torch: fused=True)")
    header = f"   {'size':<12}" + "".join(f"{name:>34}" for name in OPTIMIZERS)
    print(header)
    print(f"   {'':<12}" + "".join(f"{'ours   torch  speed-up  of-limit':>34}" for _ in OPTIMIZERS))
    for size in sizes:
        cells = []
        for name in OPTIMIZERS:
            mine = ours[size][name]
            other = theirs[size][name] if theirs else float("nan")
            achieved = BYTES_PER_PARAM[name] / mine  # bytes per ns = GB/s
            share = f"{achieved / limit:6.0%}" if size in ("1e6", "1e7") else "      "
            cells.append(f"{mine:7.2f} {other:7.2f} {other / mine:7.1f}x {share:>8}")
        print(f"   {size:<12}" + "".join(f"{c:>34}" for c in cells))
    verdicts = []
    for name in OPTIMIZERS:
        if theirs:
            many = theirs["1000 x 100"][name] / ours["1000 x 100"][name]
            verdicts.append(f"{name}: 1000 x 100 >= 10x faster than torch fused: {'met' if many >= 10 else 'NOT met'} "
                            f"({many:.1f}x)")
        share = min(BYTES_PER_PARAM[name] / ours[s][name] / limit for s in sizes if s in ("1e6", "1e7"))
        verdicts.append(f"{name}: 1e6/1e7 >= 70% of bandwidth: {'met' if share >= 0.7 else 'NOT met'} "
                        f"(worst {share:.0%})")
        # (information: what the per-tensor checks of a step cost beside one big tensor's kernel)
        per_tensor = (ours["1000 x 100"][name] - ours["1e5"][name]) * 100
        verdicts.append(f"{name}: per-tensor cost of a step (1000 x 100 beyond 1e5): {per_tensor:.0f} ns per tensor")
    print("   " + "\n   ".join(verdicts) + "\n")

    mine = median_of_rounds("training", "tinygrad_edu")
    other = median_of_rounds("training", "torch")
    print("3. Whole training step (ms): zero_grad + forward + loss + backward + step")
    for task in ("sources loop", "MLP batch 32", "MLP batch 256"):
        line = f"   {task:<14} ours {mine[task] * 1e3:7.3f}"
        if other:
            default, fused = other[task + " (default)"], other[task + " (fused)"]
            best = min(default, fused)
            line += (f"   torch default {default * 1e3:7.3f}  fused {fused * 1e3:7.3f}"
                     f"   speed-up vs torch's best {best / mine[task]:.2f}x")
        print(line)
    if other:
        loop = min(other["sources loop (default)"], other["sources loop (fused)"]) / mine["sources loop"]
        print(f"   sources loop >= 2x faster than torch: {'met' if loop >= 2 else 'NOT met'} ({loop:.2f}x)")
        for batch in (32, 256):
            task = f"MLP batch {batch}"
            ratio = min(other[task + " (default)"], other[task + " (fused)"]) / mine[task]
            print(f"   {task} faster than torch: {'met' if ratio > 1 else 'NOT met'} ({ratio:.2f}x)")

    cold = cold_start(rounds=max(3, args.rounds))
    print("\n4. Cold start (s)")
    for name, value in cold.items():
        print(f"   {name:<36} {value:6.3f}")
    extra = cold["warm import + first step"] - cold["import numba"]
    print(f"   beyond import numba: {extra:.3f} s (target <= 0.3: {'met' if extra <= 0.3 else 'NOT met'})")


if __name__ == "__main__":
    main()
