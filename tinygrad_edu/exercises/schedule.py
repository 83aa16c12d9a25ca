r"""Learning-rate schedule exercises: step decay, cosine annealing, warmup + cosine, one-cycle.

Each exercise asks for ``fn(step, **hyperparameters) -> lr``: the rate a
PyTorch scheduler gives at ``step`` (its ``last_epoch``, counting from 0: step 0
is the rate before the first ``scheduler.step()``), in closed form. `check`
evaluates the function at every step of a range and compares the list of rates
with the hidden reference; the tests hold the references to
``torch.optim.lr_scheduler`` and to the library's schedulers value for value.

Example:
    >>> import tinygrad_edu as tg
    >>> "schedule/one_cycle" in tg.exercises.names()
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import Case, Exercise, Finding, mistake_variant, register

__all__: list[str] = []

_OUTPUT_NAMES = ("lr by step ([t] = step t)",)

_COMMON = """
**What to write.** A function of the step number alone (a closed form: no state, no loop
over earlier steps needed). `step` counts from 0, like a PyTorch scheduler's `last_epoch`:
step 0 is the rate the optimizer uses for its first update, before any
`scheduler.step()`. Return a Python float (a NumPy float is fine). `check` evaluates your
function at every step of a range and compares the whole list of rates.
"""


def _number(value: Any, step: int) -> float:
    if value is None:
        raise Finding("wrong_count", f"at step {step} it returned None (is a `return` missing?)")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Finding("wrong_dtype", f"at step {step} it returned {type(value).__name__} {value!r:.60}, "
                                     "expected one number (the rate)") from None


def _run(fn: Callable, case: Case) -> tuple:
    """The rates ``fn`` gives at steps 0 .. ``case.args[0]``, as one array."""
    (last_step,) = case.args
    return (np.array([_number(fn(step, **case.kwargs), step) for step in range(last_step + 1)]),)


def _case(last_step: int, **hyperparameters: Any) -> Case:
    words = ", ".join(f"{key}={value!r}" for key, value in hyperparameters.items())
    return Case(f"{words}, steps 0..{last_step}", (last_step,), hyperparameters)


def _rate(rng: np.random.Generator) -> float:
    return round(float(rng.uniform(0.01, 1.0)), 4)


# -- step decay (StepLR) ------------------------------------------------------------------------------------


def _step(step: int, lr: float, step_size: int, gamma: float = 0.1, mistake: str = "") -> float:
    if mistake == "off_by_one":
        periods = (step + 1) // step_size
    elif mistake == "no_floor":
        periods = step / step_size
    elif mistake == "decayed_from_the_start":
        periods = step // step_size + 1
    else:
        periods = step // step_size
    return lr * gamma**periods


def step_reference(step: int, lr: float, step_size: int, gamma: float = 0.1) -> float:
    """``torch.optim.lr_scheduler.StepLR``'s rate at ``step`` (the reference of ``schedule/step``)."""
    return _step(step, lr, step_size, gamma)


def _step_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for step_size, gamma in ((3, 0.5), (2, 0.1), (5, float(round(rng.uniform(0.2, 0.9), 3))), (1, 0.9)):
        cases.append(_case(3 * step_size + int(rng.integers(1, 4)), lr=_rate(rng), step_size=step_size,
                           gamma=gamma))
    cases.append(_case(12, lr=_rate(rng), step_size=4))
    return cases


register(Exercise(
    name="schedule/step",
    function="step_lr",
    title="Step decay (torch.optim.lr_scheduler.StepLR)",
    statement=r"""
### Step decay (`StepLR`)

The optimizer's rate $\eta_0$ (`lr`) is multiplied by $\gamma$ (`gamma`, default 0.1) every
$k$ steps ($k$ = `step_size`):

$$\eta_t = \eta_0\, \gamma^{\lfloor t / k \rfloor}$$

With `step_size=3`: steps 0, 1, 2 use $\eta_0$, steps 3, 4, 5 use $\gamma\eta_0$, and so on —
the first cut comes at step 3, not before. The sources' milestones (cuts at epochs
30, 60, 90) are this with `step_size=30`, a scheduler stepped once per epoch.

**Signature.** `step_lr(step, lr, step_size, gamma=0.1)` — `lr` is the optimizer's starting
rate, the other names and the default are `StepLR`'s.
""" + _COMMON,
    stub='''def step_lr(step, lr, step_size, gamma=0.1):
    """The rate StepLR gives at `step` (counting from 0), starting from the optimizer's rate `lr`."""
    raise NotImplementedError("write the step-decay rate")
''',
    reference=step_reference,
    cases=_step_cases,
    run=_run,
    mistakes=(
        mistake_variant(_step, "off_by_one",
                        "The rate changes at step = step_size, not one step earlier: the exponent is "
                        "floor(t / step_size) with t counting from 0."),
        mistake_variant(_step, "no_floor",
                        "The decay happens in steps: the exponent is the whole number of periods, floor(t / step_size) "
                        "(Python's t // step_size), not the fraction t / step_size."),
        mistake_variant(_step, "decayed_from_the_start",
                        "Step 0 uses the starting rate itself (gamma^0 = 1); the first cut is at step = step_size."),
    ),
    output_names=_OUTPUT_NAMES,
))


# -- cosine annealing (CosineAnnealingLR) ---------------------------------------------------------------------


def _cosine(step: int, lr: float, T_max: int, eta_min: float = 0.0, mistake: str = "") -> float:  # noqa: N803
    if mistake == "off_by_one":
        step = step + 1
    if mistake == "t_max_minus_one":
        fraction = step / (T_max - 1)
    elif mistake == "integer_division":
        fraction = step // T_max
    else:
        fraction = step / T_max
    if mistake == "eta_min_ignored":
        return lr * (1 + math.cos(math.pi * fraction)) / 2
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * fraction)) / 2


def cosine_reference(step: int, lr: float, T_max: int, eta_min: float = 0.0) -> float:  # noqa: N803
    """``torch.optim.lr_scheduler.CosineAnnealingLR``'s rate at ``step`` (the reference of ``schedule/cosine``)."""
    return _cosine(step, lr, T_max, eta_min)


def _cosine_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for T_max, eta_min in ((10, 0.0), (8, 1e-3), (int(rng.integers(12, 20)), 0.01), (5, 0.0)):  # noqa: N806
        cases.append(_case(T_max, lr=round(_rate(rng) + 0.05, 4), T_max=T_max, eta_min=eta_min))
    cases.append(_case(16, lr=round(_rate(rng) + 0.05, 4), T_max=16))
    return cases


register(Exercise(
    name="schedule/cosine",
    function="cosine_lr",
    title="Cosine annealing (torch.optim.lr_scheduler.CosineAnnealingLR)",
    statement=r"""
### Cosine annealing (`CosineAnnealingLR`)

From the optimizer's rate $\eta_{max}$ (`lr`) down to $\eta_{min}$ (`eta_min`, default 0) along
half a cosine, reaching $\eta_{min}$ at step $T_{max}$ (`T_max`):

$$\eta_t = \eta_{min} + \tfrac12\,(\eta_{max} - \eta_{min})\left(1 + \cos\frac{\pi t}{T_{max}}\right)$$

Step 0 gives $\eta_{max}$, step $T_{max}$ gives $\eta_{min}$ — so there are $T_{max} + 1$ rates
from the top to the bottom, both ends included. (PyTorch computes it recursively from
the previous rate; the values are the same as this closed form.)

**Signature.** `cosine_lr(step, lr, T_max, eta_min=0.0)` — `lr` is the optimizer's starting
rate, the other names and the default are `CosineAnnealingLR`'s.
""" + _COMMON,
    stub='''def cosine_lr(step, lr, T_max, eta_min=0.0):
    """The rate CosineAnnealingLR gives at `step` (counting from 0), starting from the optimizer's rate `lr`."""
    raise NotImplementedError("write the cosine-annealing rate")
''',
    reference=cosine_reference,
    cases=_cosine_cases,
    run=_run,
    mistakes=(
        mistake_variant(_cosine, "off_by_one",
                        "Step 0 is the full rate eta_max: the angle is pi * t / T_max with t counting from 0 "
                        "(cos 0 = 1)."),
        mistake_variant(_cosine, "t_max_minus_one",
                        "The rate reaches eta_min at step T_max itself, so divide by T_max, not T_max - 1 "
                        "(there are T_max + 1 rates, both ends included)."),
        mistake_variant(_cosine, "integer_division",
                        "t / T_max is a fraction between 0 and 1; integer division (t // T_max) keeps it at 0 until "
                        "the very end."),
        mistake_variant(_cosine, "eta_min_ignored",
                        "The cosine runs between eta_max and eta_min: eta_min + (eta_max - eta_min) * (1 + cos(...)) "
                        "/ 2; both the offset eta_min and the amplitude eta_max - eta_min are needed."),
    ),
    output_names=_OUTPUT_NAMES,
))


# -- linear warmup, then cosine (tg.optim.lr_scheduler.warmup_cosine) -----------------------------------------


def _warmup_cosine(step: int, lr: float, warmup_steps: int, total_steps: int, eta_min: float = 0.0,
                   warmup_start_factor: float = 0.01, mistake: str = "") -> float:
    start = warmup_start_factor
    if step < warmup_steps:
        if mistake == "warmup_from_zero":
            return lr * step / warmup_steps
        if mistake == "warmup_off_by_one":
            return lr * (start + (1 - start) * (step + 1) / warmup_steps)
        return lr * (start + (1 - start) * step / warmup_steps)
    if mistake == "cosine_over_total_steps":
        fraction = (step - warmup_steps) / total_steps
    elif mistake == "cosine_not_shifted":
        fraction = step / total_steps
    else:
        fraction = (step - warmup_steps) / (total_steps - warmup_steps)
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * fraction)) / 2


def warmup_cosine_reference(step: int, lr: float, warmup_steps: int, total_steps: int, eta_min: float = 0.0,
                            warmup_start_factor: float = 0.01) -> float:
    """``tg.optim.lr_scheduler.warmup_cosine``'s rate at ``step`` (the reference of ``schedule/warmup_cosine``)."""
    return _warmup_cosine(step, lr, warmup_steps, total_steps, eta_min, warmup_start_factor)


def _warmup_cosine_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(20, lr=round(_rate(rng) + 0.05, 4), warmup_steps=5, total_steps=20),
        _case(16, lr=round(_rate(rng) + 0.05, 4), warmup_steps=4, total_steps=16, eta_min=1e-3),
        _case(30, lr=round(_rate(rng) + 0.05, 4), warmup_steps=int(rng.integers(6, 10)), total_steps=30,
              warmup_start_factor=0.1),
        _case(12, lr=round(_rate(rng) + 0.05, 4), warmup_steps=3, total_steps=12, eta_min=0.01,
              warmup_start_factor=float(round(rng.uniform(0.2, 0.5), 3))),
        _case(10, lr=round(_rate(rng) + 0.05, 4), warmup_steps=0, total_steps=10),
        _case(8, lr=round(_rate(rng) + 0.05, 4), warmup_steps=1, total_steps=8),
    ]


register(Exercise(
    name="schedule/warmup_cosine",
    function="warmup_cosine_lr",
    title="Linear warmup, then cosine annealing (tg.optim.lr_scheduler.warmup_cosine)",
    statement=r"""
### Linear warmup, then cosine (`tg.optim.lr_scheduler.warmup_cosine`)

With the optimizer's rate $\eta_{max}$ (`lr`), $W$ warmup steps (`warmup_steps`), $T$ steps in
all (`total_steps`), the final rate $\eta_{min}$ (`eta_min`) and the starting fraction $s$
(`warmup_start_factor`, default 0.01):

$$\eta_t = \eta_{max}\left(s + (1-s)\,\frac{t}{W}\right) \qquad 0 \le t < W$$

$$\eta_t = \eta_{min} + \tfrac12\,(\eta_{max}-\eta_{min})\left(1 + \cos\frac{\pi\,(t - W)}{T - W}\right)
\qquad W \le t \le T$$

The warmup starts at $s\,\eta_{max}$ (not at 0: a zero rate would waste a step) and
reaches $\eta_{max}$ at step $W$, where the cosine starts; the cosine lasts the remaining
$T - W$ steps and reaches $\eta_{min}$ at step $T$. With $W = 0$ it is a plain cosine.
This is PyTorch's `SequentialLR([LinearLR(start_factor=s, total_iters=W),
CosineAnnealingLR(T_max=T - W, eta_min=eta_min)], milestones=[W])`. (The sources suggest
warming up for about 5 % of the steps.)

**Signature.** `warmup_cosine_lr(step, lr, warmup_steps, total_steps, eta_min=0.0,
warmup_start_factor=0.01)` — the library's names and defaults.
""" + _COMMON,
    stub='''def warmup_cosine_lr(step, lr, warmup_steps, total_steps, eta_min=0.0, warmup_start_factor=0.01):
    """The rate of a linear warmup then cosine annealing at `step` (counting from 0); `lr` is the peak rate."""
    raise NotImplementedError("write the warmup + cosine rate")
''',
    reference=warmup_cosine_reference,
    cases=_warmup_cosine_cases,
    run=_run,
    mistakes=(
        mistake_variant(_warmup_cosine, "warmup_from_zero",
                        "The warmup starts at s * eta_max (warmup_start_factor), not at 0: "
                        "eta_t = eta_max * (s + (1 - s) * t / W)."),
        mistake_variant(_warmup_cosine, "warmup_off_by_one",
                        "Step 0 is the first warmup step, at s * eta_max; the full rate is reached at step W "
                        "(use t / W with t counting from 0, not (t + 1) / W)."),
        mistake_variant(_warmup_cosine, "cosine_over_total_steps",
                        "After the warmup only T - W steps remain: the angle is pi * (t - W) / (T - W), so that the "
                        "rate reaches eta_min at step T."),
        mistake_variant(_warmup_cosine, "cosine_not_shifted",
                        "The cosine starts where the warmup ends: measure its angle from step W, "
                        "pi * (t - W) / (T - W), so that it starts at eta_max."),
    ),
    output_names=_OUTPUT_NAMES,
))


# -- one cycle (OneCycleLR) ---------------------------------------------------------------------------------


def _one_cycle(step: int, max_lr: float, total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
               div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
               mistake: str = "") -> float:
    initial_lr = max_lr / div_factor
    min_lr = initial_lr if mistake == "final_div_factor_ignored" else initial_lr / final_div_factor
    shift = 0 if mistake in ("phase_end_off_by_one", "every_phase_end_off_by_one") else 1
    last = total_steps if mistake in ("last_phase_end_off_by_one", "every_phase_end_off_by_one") else total_steps - 1
    whole = int if mistake == "phase_ends_rounded" else float  # int(p * T): the boundary cut to a whole step
    if three_phase:
        phases = [(whole(pct_start * total_steps) - shift, initial_lr, max_lr),
                  (whole(2 * pct_start * total_steps) - 2 * shift, max_lr, initial_lr),
                  (last, initial_lr, min_lr)]
    else:
        phases = [(whole(pct_start * total_steps) - shift, initial_lr, max_lr), (last, max_lr, min_lr)]
    start_step = 0.0
    for i, (end_step, start, end) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            fraction = (step - start_step) / (end_step - start_step)
            if anneal_strategy == "cos" or mistake == "anneal_strategy_ignored":
                return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)
            return start + (end - start) * fraction
        start_step = end_step
    raise AssertionError("unreachable: the last phase always matches")


def one_cycle_reference(step: int, max_lr: float, total_steps: int, pct_start: float = 0.3,
                        anneal_strategy: str = "cos", div_factor: float = 25.0, final_div_factor: float = 1e4,
                        three_phase: bool = False) -> float:
    """``torch.optim.lr_scheduler.OneCycleLR``'s rate at ``step`` (the reference of ``schedule/one_cycle``)."""
    return _one_cycle(step, max_lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor,
                      three_phase)


def _one_cycle_cases(rng: np.random.Generator) -> list[Case]:
    def case(total_steps: int, **hyperparameters: Any) -> Case:
        return _case(total_steps - 1, max_lr=round(_rate(rng) + 0.05, 4), total_steps=total_steps, **hyperparameters)
    return [
        case(20),
        case(int(rng.integers(25, 40)), anneal_strategy="linear"),
        case(30, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
        case(24, three_phase=True),
        case(40, pct_start=float(round(rng.uniform(0.2, 0.4), 3)), anneal_strategy="linear", three_phase=True),
        case(15, pct_start=0.4, final_div_factor=10.0),
    ]


register(Exercise(
    name="schedule/one_cycle",
    function="one_cycle_lr",
    title="The one-cycle policy (torch.optim.lr_scheduler.OneCycleLR)",
    statement=r"""
### One cycle (`OneCycleLR`)

With $T$ = `total_steps`, $p$ = `pct_start`, the peak $\eta_{max}$ = `max_lr`, $d$ = `div_factor`,
$f$ = `final_div_factor` and

$$\eta_{initial} = \frac{\eta_{max}}{d},\qquad \eta_{min} = \frac{\eta_{initial}}{f}$$

the rate moves through phases, each from a value $a$ to a value $b$ as the fraction
$x$ of the phase done goes from 0 to 1:

$$\text{cos:}\quad b + \frac{a - b}{2}\,(1 + \cos \pi x)\qquad\qquad
\text{linear:}\quad a + (b - a)\,x$$

Two phases (`three_phase=False`, the default):

| phase | steps | rate |
|---|---|---|
| 1 | $0 \le t \le pT - 1$ | $\eta_{initial} \to \eta_{max}$ |
| 2 | $pT - 1 < t \le T - 1$ | $\eta_{max} \to \eta_{min}$ |

Three phases (`three_phase=True`): $\eta_{initial} \to \eta_{max}$ until $pT - 1$, back to
$\eta_{initial}$ at $2pT - 2$, then down to $\eta_{min}$ at $T - 1$.

A phase from step $s_0$ (the previous phase's end, 0 for the first) to its end $s_1$ has
$x = (t - s_0) / (s_1 - s_0)$. The boundaries are PyTorch's exactly: the *last* step is
$T - 1$ (steps count from 0), so the peak is at $pT - 1$ — they need not be whole numbers.

**Signature.** `one_cycle_lr(step, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
div_factor=25.0, final_div_factor=1e4, three_phase=False)` — `OneCycleLR`'s names and defaults
(the momentum cycling is left out).
""" + _COMMON,
    stub='''def one_cycle_lr(step, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                 final_div_factor=1e4, three_phase=False):
    """The rate OneCycleLR gives at `step` (counting from 0, up to total_steps - 1)."""
    raise NotImplementedError("write the one-cycle rate")
''',
    reference=one_cycle_reference,
    cases=_one_cycle_cases,
    run=_run,
    mistakes=(
        mistake_variant(_one_cycle, "phase_end_off_by_one",
                        "Steps count from 0, so the warmup phase ends (the peak) at step p * T - 1, not p * T "
                        "(and, with three phases, the second ends at 2 p T - 2)."),
        mistake_variant(_one_cycle, "last_phase_end_off_by_one",
                        "The last step is T - 1 (steps count from 0): the final phase ends there, at eta_min."),
        mistake_variant(_one_cycle, "every_phase_end_off_by_one",
                        "Steps count from 0, so every boundary is one step earlier than p * T and T: the peak is at "
                        "p * T - 1 (with three phases the second phase ends at 2 p T - 2) and the last step is T - 1."),
        mistake_variant(_one_cycle, "phase_ends_rounded",
                        "The boundaries are PyTorch's exactly, real numbers: the peak is at p * T - 1 (0.3 * 32 - 1 "
                        "= 8.6), not at a whole step; do not round or int() p * T (nor 2 p T)."),
        mistake_variant(_one_cycle, "final_div_factor_ignored",
                        "The cycle ends far below where it started: eta_min = eta_initial / final_div_factor."),
        mistake_variant(_one_cycle, "anneal_strategy_ignored",
                        "With anneal_strategy='linear' each phase moves in a straight line, a + (b - a) * x; "
                        "the cosine is only for 'cos'."),
    ),
    output_names=_OUTPUT_NAMES,
))
