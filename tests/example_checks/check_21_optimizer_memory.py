"""Example 21: each optimizer's state bytes are exactly what its rule keeps; the ZeRO arithmetic is the paper's.

References, independent of the library: a count of the values each rule keeps
made here from the parameter shapes (Adam two per parameter, Adafactor a row
and a column per matrix, ...), PyTorch's own optimizer state for the
optimizers PyTorch has (the bytes of every state tensor but ``step``, after one
step on parameters of the same shapes), the ZeRO formulas written out again,
and the numbers the ZeRO paper prints for its 7.5B-parameter example.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

import tinygrad_edu as tg

FIGURES = ["optimizer_memory.png"]

STEP_COUNT_BYTES = 8   # this library keeps one float64 step count per parameter tensor, for every optimizer


def _default(name: str, argument: str):
    return inspect.signature(tg.optim.get(name).__init__).parameters[argument].default


def expected_values(name: str, kwargs: dict, shapes: list[tuple[int, ...]]) -> int:
    """How many numbers the optimizer ``name`` keeps for parameters of these shapes (step counts aside)."""
    full = sum(math.prod(s) for s in shapes)
    option = {**{k: _default(name, k) for k in ("momentum", "centered", "amsgrad")
                 if k in inspect.signature(tg.optim.get(name).__init__).parameters}, **kwargs}
    if name == "SGD":
        return full if option["momentum"] != 0 else 0                   # momentum buffer only when used
    if name in ("Momentum", "Adagrad", "Lion"):
        return full                                                      # velocity / sum of squares / one moment
    if name == "RMSprop":
        return full * (1 + (option["momentum"] > 0) + bool(option["centered"]))
    if name in ("Adam", "AdamW"):
        return full * (2 + bool(option["amsgrad"]))                      # m, v (and max v for AMSGrad)
    if name == "NAdam":
        return 2 * full + len(shapes)                                    # m, v and one mu product per tensor
    if name in ("RAdam", "LAMB"):
        return 2 * full                                                  # m, v
    if name == "LARS":
        return full if option.get("momentum", 0) != 0 else 0             # a momentum buffer (You et al. 2017)
    if name == "Adafactor":   # row means (all dims but the last) + column means (all but the second last)
        return sum(math.prod(s[:-1]) + math.prod(s[:-2]) * s[-1] if len(s) >= 2 else math.prod(s) for s in shapes)
    if name == "CAME":        # m in full; v and the instability U factored as Adafactor's v (Luo et al. 2023)
        return sum(math.prod(s) + (2 * (math.prod(s[:-1]) + math.prod(s[:-2]) * s[-1]) if len(s) >= 2
                                   else math.prod(s)) for s in shapes)
    raise AssertionError(f"no independent count of {name}'s state: add one to this check")


def torch_state_bytes(name: str, kwargs: dict, shapes: list[tuple[int, ...]]) -> int | None:
    """Bytes of PyTorch's state tensors (all but ``step``) after one step, or None where PyTorch lacks it."""
    try:
        import torch
    except ImportError:
        return None
    cls = getattr(torch.optim, name, None)
    if cls is None:
        return None
    torch.manual_seed(0)
    params = [torch.randn(s, requires_grad=True) for s in shapes]
    optimizer = cls(params, lr=1e-3, **kwargs)
    for p in params:
        p.grad = torch.randn(p.shape)
    optimizer.step()
    return sum(v.numel() * v.element_size() for s in optimizer.state.values() for k, v in s.items()
               if k != "step" and torch.is_tensor(v))


def zero_total(psi: float, n: int, stage: int, k: float = 12) -> float:
    """The ZeRO paper's per-device bytes (fp16 weights and gradients, K bytes of state), in GB."""
    return {0: (2 + 2 + k) * psi, 1: (2 + 2) * psi + k * psi / n, 2: 2 * psi + (2 + k) * psi / n,
            3: (2 + 2 + k) * psi / n}[stage] / 1e9


def check(r):
    shapes, itemsize = r["shapes"], r["itemsize"]
    assert r["param_nbytes"] == itemsize * sum(math.prod(s) for s in shapes)
    names = {m["name"] for m in r["measured"].values()}
    assert set(tg.optim.names()) <= names, "every registered optimizer is measured"
    step_bytes = STEP_COUNT_BYTES * len(shapes)
    for label, m in r["measured"].items():
        assert m["finite"], f"one step of {label} made parameters of the small CNN NaN or infinite"
        values = expected_values(m["name"], m["kwargs"], shapes)
        assert m["state_nbytes"] == itemsize * values + step_bytes, (label, m["state_nbytes"], values)
        reference = torch_state_bytes(m["name"], m["kwargs"], shapes)
        if reference is not None:
            assert m["state_nbytes"] - step_bytes == reference, (label, m["state_nbytes"], reference)
    ratio = {label: m["ratio"] for label, m in r["measured"].items()}
    assert abs(ratio["Adam"] - 2) < 0.01 and ratio["SGD"] < 0.01 and ratio["Adafactor"] < 0.25, ratio

    # The sources' figures: 140 GB of fp16 weights is exact; two fp32 moments are 560 GB, 280 GB is one fp32 value.
    a = r["arithmetic"]
    assert a["fp16 weights"] == 140 and a["Adam, two fp32 moments"] == 560
    assert a["one fp32 value per parameter (the sources' 280 GB)"] == 280

    # ZeRO: the paper's printed example (Table 1: 7.5B parameters, N_d = 64), and the formulas for every point drawn.
    np.testing.assert_allclose([r["zero_example"][s] for s in range(4)], [120, 31.4, 16.6, 1.9], atol=0.05)
    for stage, curve in r["curves"].items():
        np.testing.assert_allclose(curve, [zero_total(70e9, int(n), stage) for n in r["shards"]], rtol=1e-12)
    assert r["fits"] == {0: None, 1: None, 2: None, 3: math.ceil(16 * 70e9 / 80e9)}
