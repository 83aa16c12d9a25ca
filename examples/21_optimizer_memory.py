"""Optimizer memory: what each optimizer keeps per parameter, and the 70B-parameter arithmetic with ZeRO sharding.

What it teaches:
1. Measured on a real model. A small CNN (two convolutions, a batch norm,
   two linear layers; 6,074 float32 parameters in 10 tensors) takes one step with every optimizer in
   ``optim.REGISTRY`` (new ones are picked up as they are registered), and
   ``optimizer.state_nbytes()`` gives the bytes its state holds. Divided by
   the parameters' bytes (leaving out the step counts, below): SGD keeps no
   values (0.000), momentum, RMSprop, Adagrad, Lion and LARS one per
   parameter (1.000), Adam, AdamW, RAdam and LAMB two (2.000), NAdam two plus
   one number per tensor (2.002), AMSGrad and centered RMSprop with momentum
   three; Adafactor, which keeps only row and column means of each matrix's
   squared gradient (a full one for vectors), 0.186 on this small model (for
   a 4096 x 4096 matrix it would be 2/4096 of Adam's second moment), and CAME
   a full first moment plus factored second moment and instability, 1.354.
   On this small model the factored statistics of the conv kernels (rows and
   columns of 3 x 3 slices) save less than they would on large matrices. On top of
   that this library keeps one float64 step count per parameter tensor (80
   bytes here), counted by ``state_nbytes`` for every optimizer, SGD included.
2. The sources' 70B arithmetic, done exactly (GB = 10^9 bytes):
   weights in fp16: 70e9 x 2 B = 140 GB (as the sources say). Adam's two
   moments in fp32: 70e9 x 2 x 4 B = 560 GB, not 280 GB. The sources' 280 GB is
   70e9 x 4 B: ONE fp32 value per parameter (e.g. a single moment, or an fp32
   master copy of the weights), or two moments kept in 16 bits. Mixed-precision
   Adam as the ZeRO paper counts it (Rajbhandari et al. 2020) keeps K = 12
   bytes of optimizer state per parameter (fp32 master weights, momentum and
   variance) besides 2 bytes of fp16 weights and 2 of fp16 gradients:
   16 x 70e9 = 1,120 GB, before any activation.
3. Sharding over N devices (ZeRO; PyTorch's FSDP is stage 3). With Psi
   parameters, per device:
   stage 0 (data parallel): 2 Psi + 2 Psi + K Psi;
   stage 1 (optimizer state sharded): 2 Psi + 2 Psi + K Psi / N;
   stage 2 (+ gradients): 2 Psi + (2 + K) Psi / N;
   stage 3 (+ weights): (2 + 2 + K) Psi / N.
   The paper's own example (Psi = 7.5B, N = 64) comes out as it prints it:
   120, 31.4, 16.6 and 1.9 GB. For 70B only stage 3 fits on 80 GB devices
   (N >= 14): stages 1 and 2 still hold 280 and 140 GB of unsharded weights
   and gradients on every device, whatever N. The figure draws GB per device
   against N for each stage. Leaner optimizers cut K instead: Lion or
   momentum keep one fp32 value (K = 8 with the master copy), Adafactor
   almost nothing beyond the master copy.

All the numbers of part 1 are exact byte counts; the check compares them with
a count made from the parameter shapes and with PyTorch's optimizer state.

Run:  python examples/21_optimizer_memory.py [--out memory] [--quick]
"""

from __future__ import annotations

import argparse
import math
import os

import matplotlib

matplotlib.use("Agg")  # figures go to files; no window opens

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, optim, viz  # noqa: E402
from tinygrad_edu._checks import (  # noqa: E402
    check_choice,
    check_int,
    check_non_negative,
    check_positive,
    check_seed,
)

GB = 1e9                 # the sources and the ZeRO paper count in decimal gigabytes
STAGES = (0, 1, 2, 3)    # ZeRO stages: 0 = plain data parallelism
DEVICE_GB = 80           # one 80 GB accelerator, for the figure's reference line

#: Settings tried besides each registered optimizer's defaults (they change what is kept).
VARIANTS = (("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True}), ("RMSprop", {"momentum": 0.9, "centered": True}))


def training_memory(n_params: float, weight_bytes: float = 2, state_bytes_per_param: float = 12,
                    grad_bytes: float | None = None, shards: int = 1, stage: int = 0) -> dict[str, float]:
    r"""GB per device for the weights, gradients and optimizer state of training, with ZeRO sharding.

    With :math:`\Psi` = ``n_params``, :math:`w` = ``weight_bytes``, :math:`g` =
    ``grad_bytes`` (default: ``weight_bytes``), :math:`K` =
    ``state_bytes_per_param`` and :math:`N` = ``shards`` (Rajbhandari et al.
    2020, "ZeRO: memory optimizations toward training trillion parameter
    models", section 5):

    .. math::
        \text{stage 0: } w\Psi + g\Psi + K\Psi \qquad
        \text{stage 1: } w\Psi + g\Psi + K\Psi/N \qquad
        \text{stage 2: } w\Psi + (g + K)\Psi/N \qquad
        \text{stage 3: } (w + g + K)\Psi/N

    Mixed-precision Adam is :math:`w = g = 2` (fp16) and :math:`K = 12` (fp32
    master weights, momentum and variance). Activations, buffers and
    fragmentation are not counted.

    Args:
        n_params: the number of parameters (> 0).
        weight_bytes: bytes per weight (2 for fp16/bf16, 4 for fp32).
        state_bytes_per_param: bytes of optimizer state per parameter (K).
        grad_bytes: bytes per gradient entry; ``None`` means ``weight_bytes``.
        shards: N, the number of data-parallel devices the state is spread over (>= 1).
        stage: 0 (nothing sharded), 1 (optimizer state), 2 (+ gradients), 3 (+ weights).

    Returns:
        ``{"weights", "gradients", "optimizer_state", "total"}`` in GB (10^9 bytes) per device.

    Raises:
        ValueError: a bad argument, named with the value and the expected form.

    Example:
        >>> m = training_memory(7.5e9, shards=64, stage=1)   # the ZeRO paper's example
        >>> round(m["total"], 1)
        31.4
    """
    who = "training_memory"
    n_params = check_positive(who, "n_params", n_params)
    weight_bytes = check_non_negative(who, "weight_bytes", weight_bytes)
    state_bytes_per_param = check_non_negative(who, "state_bytes_per_param", state_bytes_per_param)
    grad_bytes = weight_bytes if grad_bytes is None else check_non_negative(who, "grad_bytes", grad_bytes)
    shards = check_int(who, "shards", shards, minimum=1)
    stage = check_choice(who, "stage", stage, STAGES)
    state = state_bytes_per_param * n_params / (shards if stage >= 1 else 1)
    grads = grad_bytes * n_params / (shards if stage >= 2 else 1)
    weights = weight_bytes * n_params / (shards if stage >= 3 else 1)
    return {"weights": weights / GB, "gradients": grads / GB, "optimizer_state": state / GB,
            "total": (weights + grads + state) / GB}


def small_cnn() -> nn.Sequential:
    """A small CNN for 8 x 8 one-channel images: 4-D, 2-D and 1-D parameters, as real models have."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))


def measure_state(seed: int = 0) -> tuple[dict[str, dict], list[tuple[int, ...]], int]:
    """One step of each optimizer (the registry's defaults, then `VARIANTS`) on a fresh `small_cnn`.

    Returns:
        ``({label: {"name", "kwargs", "state_nbytes", "ratio", "finite"}}, parameter shapes, parameter
        bytes)``; ``ratio`` is ``state_nbytes`` over the parameters' bytes, ``finite`` whether every
        parameter is still finite after the step.
    """
    settings = [(cls.__name__, {}) for cls in optim.REGISTRY]
    settings += [(name, kwargs) for name, kwargs in VARIANTS if name in optim.names()]
    measured = {}
    shapes, param_nbytes = [], 0
    for name, kwargs in settings:
        tg.manual_seed(seed)
        model = small_cnn()
        optimizer = optim.get(name)(model.parameters(), lr=1e-3, **kwargs)
        x, y = tg.randn(16, 1, 8, 8), tg.randint(0, 10, (16,))   # the state's size does not depend on the data
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        shapes = [tuple(p.shape) for p in model.parameters()]
        param_nbytes = sum(p.numpy().nbytes for p in model.parameters())
        label = name + ("(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")" if kwargs else "")
        nbytes = optimizer.state_nbytes()
        finite = all(bool(np.isfinite(p.numpy()).all()) for p in model.parameters())
        measured[label] = {"name": name, "kwargs": kwargs, "state_nbytes": nbytes, "ratio": nbytes / param_nbytes,
                           "finite": finite}
    return measured, shapes, param_nbytes


def min_devices(n_params: float, stage: int, limit_gb: float, max_shards: int = 1 << 20, **kwargs) -> int | None:
    """The fewest devices whose per-device total fits in ``limit_gb`` at this stage (``None``: no N does)."""
    if training_memory(n_params, shards=max_shards, stage=stage, **kwargs)["total"] > limit_gb:
        return None
    low, high = 1, max_shards       # the total falls as N grows: bisect on N
    while low < high:
        mid = (low + high) // 2
        if training_memory(n_params, shards=mid, stage=stage, **kwargs)["total"] <= limit_gb:
            high = mid
        else:
            low = mid + 1
    return low


def run(out: str, quick: bool = False, seed: int = 0) -> dict:
    """Measure each optimizer's state on a small CNN, do the 70B arithmetic, draw GB per device against N."""
    check_seed("run", seed)
    os.makedirs(out, exist_ok=True)
    measured, shapes, param_nbytes = measure_state(seed)
    n_tensors = len(shapes)
    n_values = sum(math.prod(s) for s in shapes)
    print(f"small CNN: {n_values:,} float32 parameters in {n_tensors} tensors = {param_nbytes:,} bytes")
    print(f"(state_nbytes includes this library's float64 step count per tensor: {8 * n_tensors} bytes)")
    print(f"  {'optimizer':<40} {'state bytes':>12} {'state / params':>15} {'without step counts':>20}")
    for label, m in measured.items():
        values = (m["state_nbytes"] - 8 * n_tensors) / param_nbytes
        warning = "" if m["finite"] else "   <- the step made some parameters NaN/inf"
        print(f"  {label:<40} {m['state_nbytes']:>12,} {m['ratio']:>15.3f} {values:>20.3f}{warning}")

    psi = 70e9
    arithmetic = {
        "fp16 weights": psi * 2 / GB,
        "Adam, two fp32 moments": psi * 2 * 4 / GB,
        "one fp32 value per parameter (the sources' 280 GB)": psi * 4 / GB,
        "Adam, two 16-bit moments": psi * 2 * 2 / GB,
        "mixed-precision Adam state (K = 12: fp32 master + 2 moments)": psi * 12 / GB,
        "fp16 weights + fp16 gradients + K = 12 state": psi * 16 / GB,
    }
    print("70B parameters (GB = 1e9 bytes):")
    for what, gb in arithmetic.items():
        print(f"  {what:<62} {gb:>8,.0f} GB")
    print("  -> the sources' 140 GB of fp16 weights is exact; their 280 GB of 'fp32 Adam state' is one fp32 value "
          "per parameter: Adam's two fp32 moments are 560 GB")

    zero_example = {stage: training_memory(7.5e9, shards=64, stage=stage)["total"] for stage in STAGES}
    print("ZeRO paper's example, 7.5B parameters on 64 devices, K = 12: "
          + ", ".join(f"stage {s} {gb:.1f} GB" for s, gb in zero_example.items()) + " (paper: 120, 31.4, 16.6, 1.9)")

    shards = 2 ** np.arange(0, 9 if quick else 11)
    curves = {stage: np.array([training_memory(psi, shards=int(n), stage=stage)["total"] for n in shards])
              for stage in STAGES}
    fits = {stage: min_devices(psi, stage, DEVICE_GB) for stage in STAGES}
    print("70B, mixed-precision Adam, GB per device (weights + gradients + state; no activations):")
    for stage in STAGES:
        row = ", ".join(f"N={n}: {gb:,.1f}" for n, gb in zip(shards[::2], curves[stage][::2]))
        fit = f"fits in {DEVICE_GB} GB from N = {fits[stage]}" if fits[stage] else f"never fits in {DEVICE_GB} GB"
        print(f"  stage {stage}: {row}  ({fit})")
    print("leaner optimizers cut K instead (fp32 master copy + fp32 state; stage 0, one device):")
    for name, k in (("Adam", 12), ("Lion / SGD momentum", 8), ("SGD, no momentum", 4)):
        total = training_memory(psi, state_bytes_per_param=k)["total"]
        print(f"  K = {k:>2} ({name}): {total:,.0f} GB")

    @viz.styled  # the library's figure style: projector fonts, colour-blind-safe colours
    def draw() -> Figure:
        fig = Figure(figsize=(14, 5.2), layout="constrained")
        left, right = fig.subplots(1, 2)
        labels = list(measured)
        left.barh(labels, [measured[label]["ratio"] for label in labels], color=viz.PALETTE[0])
        left.invert_yaxis()
        left.set_xlabel("optimizer state bytes / parameter bytes")
        left.set_title(f"measured: small CNN ({n_values:,} parameters), one step")
        names = ("stage 0 (data parallel)", "stage 1: state sharded", "stage 2: + gradients", "stage 3: + weights")
        for stage in STAGES:
            right.plot(shards, curves[stage], label=names[stage], **viz.series_style(stage))
        right.set_xscale("log", base=2)
        right.set_yscale("log")
        right.axhline(DEVICE_GB, color="gray", linestyle="--", label=f"{DEVICE_GB} GB device")
        right.set_xlabel("devices N")
        right.set_ylabel("GB per device (weights + gradients + state)")
        right.set_title("70B, mixed-precision Adam (2 + 2 + 12 bytes)")
        viz.place_legend(right)
        return fig

    fig = draw()
    png = os.path.join(out, "optimizer_memory.png")
    viz.save_figure(fig, png, dpi=100)
    return {"measured": measured, "shapes": shapes, "param_nbytes": param_nbytes, "itemsize": 4,
            "arithmetic": arithmetic, "zero_example": zero_example, "shards": shards, "curves": curves,
            "fits": fits, "files": [png]}


def check_claim(results: dict) -> None:
    """Adam keeps two values per parameter, SGD none, Adafactor, CAME and Lion fewer; only stage 3 fits 70B on 80 GB."""
    measured = results["measured"]
    steps = 8 * len(results["shapes"])
    ratio = {label: (m["state_nbytes"] - steps) / results["param_nbytes"] for label, m in measured.items()}
    assert ratio["Adam"] == 2.0 and ratio["SGD"] == 0.0 and ratio["Adafactor"] < 0.5, f"state ratios: {ratio}"
    lean = {name: ratio[name] for name in ("Adafactor", "CAME", "Lion") if name in ratio}
    assert all(v < ratio["Adam"] for v in lean.values()), f"leaner optimizers keep less than Adam's 2.0: {lean}"
    broken = [label for label, m in measured.items() if not m["finite"]]
    assert not broken, f"one step of {broken} made parameters of the small CNN NaN or infinite"
    assert abs(results["arithmetic"]["Adam, two fp32 moments"] - 560) < 1e-9, results["arithmetic"]
    fits = results["fits"]
    assert fits[0] is fits[1] is fits[2] is None and fits[3] == 14, f"fewest devices per stage: {fits}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="memory", help="directory for the figure")
    parser.add_argument("--quick", action="store_true", help="fewer points on the figure (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.out, args.quick, seed=args.seed)
    check_claim(results)
    print("claim holds: Adam's state is 2x the weights, SGD's 0x, Adafactor's, CAME's and Lion's less; "
          "70B in mixed-precision Adam fits 80 GB devices only with stage-3 sharding (N >= 14)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
