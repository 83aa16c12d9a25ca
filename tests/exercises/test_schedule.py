"""The schedule exercises (tg.exercises, family ``schedule``): references against PyTorch and the library."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.exercises import REGISTRY, check

torch = pytest.importorskip("torch")

NAMES = [name for name in REGISTRY if name.startswith("schedule/")]
SEEDS = (0, 1)


def _cases(name: str, seed: int = 0) -> list:
    return REGISTRY[name].cases(np.random.default_rng(seed))


def _rates(optimizer, scheduler, last_step: int) -> list[float]:
    """The rate at steps 0 .. last_step: read before each update, as a training loop uses it."""
    rates = []
    for _ in range(last_step + 1):
        rates.append(float(scheduler.get_last_lr()[0]))
        optimizer.step()
        scheduler.step()
    return rates


def _scheduler(library, name: str, optimizer, hyperparameters: dict):
    """The scheduler of exercise ``name`` from ``library`` (torch.optim.lr_scheduler or tg's)."""
    rest = {key: value for key, value in hyperparameters.items() if key != "lr"}
    if name == "schedule/step":
        return library.StepLR(optimizer, **rest)
    if name == "schedule/cosine":
        return library.CosineAnnealingLR(optimizer, **rest)
    if name == "schedule/one_cycle":
        return library.OneCycleLR(optimizer, cycle_momentum=False, **rest)
    raise AssertionError(name)


def _torch_warmup_cosine(optimizer, warmup_steps: int, total_steps: int, eta_min: float = 0.0,
                         warmup_start_factor: float = 0.01):
    lr_scheduler = torch.optim.lr_scheduler
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)
    if warmup_steps == 0:
        return cosine
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=warmup_start_factor, total_iters=warmup_steps)
    return lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])


def test_the_family_is_complete() -> None:
    assert NAMES == ["schedule/step", "schedule/cosine", "schedule/warmup_cosine", "schedule/one_cycle"]
    for name in NAMES:
        exercise = REGISTRY[name]
        assert 4 <= len(_cases(name)) <= 10
        assert 2 <= len(exercise.mistakes) <= 6
        assert exercise.stub.startswith(f"def {exercise.function}(step, ")


SCHEDULERS = {"schedule/step": "StepLR", "schedule/cosine": "CosineAnnealingLR", "schedule/one_cycle": "OneCycleLR"}


@pytest.mark.parametrize("name", NAMES)
def test_stub_and_reference_take_the_schedulers_names_and_defaults(name: str) -> None:
    exercise, namespace = REGISTRY[name], {}
    exec(exercise.stub, namespace)  # noqa: S102 - the library's own stub text
    if name in SCHEDULERS:
        owner = getattr(torch.optim.lr_scheduler, SCHEDULERS[name])
    else:
        owner = tg.optim.lr_scheduler.warmup_cosine
    defaults = {key: value.default for key, value in inspect.signature(owner).parameters.items()}
    for fn in (namespace[exercise.function], exercise.reference):
        parameters = list(inspect.signature(fn).parameters.values())
        assert parameters[0].name == "step"
        for parameter in parameters[1:]:
            assert parameter.name == "lr" or parameter.name in defaults, (name, parameter.name)
            # lr is the optimizer's starting rate; total_steps is required here (PyTorch also takes epochs and
            # steps_per_epoch instead)
            if parameter.default is not inspect.Parameter.empty:
                assert parameter.default == defaults[parameter.name], (name, parameter.name)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name: str, seed: int) -> None:
    result = check(name, REGISTRY[name].reference, seed=seed)
    assert result.passed, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_reference_equals_torch_and_the_library(name: str) -> None:
    exercise = REGISTRY[name]
    for seed in SEEDS:
        for case in _cases(name, seed):
            (ours,) = exercise.run(exercise.reference, case)
            lr = case.kwargs.get("lr", 0.1)
            torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
            tg_opt = tg.optim.SGD([tg.zeros(1, requires_grad=True)], lr=lr)
            if name == "schedule/warmup_cosine":
                rest = {key: value for key, value in case.kwargs.items() if key != "lr"}
                torch_scheduler = _torch_warmup_cosine(torch_opt, **rest)
                tg_scheduler = tg.optim.lr_scheduler.warmup_cosine(tg_opt, **rest)
            else:
                torch_scheduler = _scheduler(torch.optim.lr_scheduler, name, torch_opt, case.kwargs)
                tg_scheduler = _scheduler(tg.optim.lr_scheduler, name, tg_opt, case.kwargs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PyTorch's notes on SequentialLR / closed forms
                theirs = _rates(torch_opt, torch_scheduler, case.args[0])
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=f"torch: {case.label}")
            np.testing.assert_allclose(ours, _rates(tg_opt, tg_scheduler, case.args[0]), rtol=1e-9, atol=1e-12,
                                       err_msg=f"library: {case.label}")


def test_references_by_hand() -> None:
    ref = {name: REGISTRY[name].reference for name in NAMES}
    assert [ref["schedule/step"](t, lr=1.0, step_size=2, gamma=0.5) for t in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert [round(ref["schedule/cosine"](t, lr=1.0, T_max=4), 4) for t in range(5)] == [1, 0.8536, 0.5, 0.1464, 0]
    # s = 0.01, W = 4: 0.01, 0.2575, 0.505, 0.7525, then the cosine from 1 over T - W = 2 steps: 1, 0.5, 0
    rates = [ref["schedule/warmup_cosine"](t, lr=1.0, warmup_steps=4, total_steps=6) for t in range(7)]
    np.testing.assert_allclose(rates, [0.01, 0.2575, 0.505, 0.7525, 1.0, 0.5, 0.0], atol=1e-12)
    # The docstring example of the library's OneCycleLR: max_lr=1, total_steps=10, the peak at step 2.
    rates = [round(ref["schedule/one_cycle"](t, max_lr=1.0, total_steps=10), 4) for t in range(10)]
    assert rates == [0.04, 0.52, 1.0, 0.9505, 0.8117, 0.6113, 0.3887, 0.1883, 0.0495, 0.0]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NAMES)
def test_every_catalogued_mistake_is_caught_and_named(name: str, seed: int) -> None:
    for mistake in REGISTRY[name].mistakes:
        result = check(name, mistake.fn, seed=seed)
        assert not result.passed, mistake.name
        assert result.mistake == mistake.name and result.mistake_match == "full", (mistake.name, str(result))
        assert mistake.hint in result.message


def test_stubs_report_not_written_yet() -> None:
    for name in NAMES:
        exercise, namespace = REGISTRY[name], {}
        exec(exercise.stub, namespace)  # noqa: S102 - the library's own stub text
        result = check(name, namespace[exercise.function])
        assert result.finding == "not_implemented" and "not written yet" in result.message


# -- answers written independently of the catalogue ---------------------------------------------------------


def step_ceil(step, lr, step_size, gamma=0.1):
    return lr * gamma ** math.ceil(step / step_size)


def step_not_compounded(step, lr, step_size, gamma=0.1):
    """Cuts once at each milestone, but never multiplies the cuts together."""
    return lr * gamma if step >= step_size else lr


def cosine_rising(step, lr, T_max, eta_min=0.0):  # noqa: N803 (PyTorch's name)
    return eta_min + (lr - eta_min) * (1 - math.cos(math.pi * step / T_max)) / 2


def cosine_one_based(step, lr, T_max, eta_min=0.0):  # noqa: N803 (PyTorch's name)
    """Counts steps from 1: the same as an off-by-one."""
    t = step + 1
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def warmup_cosine_no_eta_min(step, lr, warmup_steps, total_steps, eta_min=0.0, warmup_start_factor=0.01):
    if step < warmup_steps:
        return lr * (warmup_start_factor + (1 - warmup_start_factor) * step / warmup_steps)
    return lr * (1 + math.cos(math.pi * (step - warmup_steps) / (total_steps - warmup_steps))) / 2


def warmup_cosine_zero_start(step, lr, warmup_steps, total_steps, eta_min=0.0, warmup_start_factor=0.01):
    """The common "t / W" warmup, written with min(): the same as warming up from 0."""
    if step < warmup_steps:
        return lr * min(1.0, step / warmup_steps)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(math.pi * progress))


def one_cycle_whole_steps(step, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                          final_div_factor=1e4, three_phase=False):
    """Rounds the peak to a whole step, int(p T) - 1 (PyTorch keeps p T - 1 as it is)."""
    initial = max_lr / div_factor
    low = initial / final_div_factor
    peak = int(pct_start * total_steps) - 1
    ends = [(peak, initial, max_lr), (2 * peak, max_lr, initial), (total_steps - 1, initial, low)] if three_phase \
        else [(peak, initial, max_lr), (total_steps - 1, max_lr, low)]
    begin = 0
    for end, a, b in ends:
        if step <= end or end == total_steps - 1:
            x = (step - begin) / (end - begin)
            return a + (b - a) * x if anneal_strategy == "linear" else b + (a - b) * (1 + math.cos(math.pi * x)) / 2
        begin = end
    raise AssertionError


def one_cycle_to_total_steps(step, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                             final_div_factor=1e4, three_phase=False):
    """Ends the cycle at step T instead of T - 1 (two phases written out; three phases too)."""
    initial, peak = max_lr / div_factor, pct_start * total_steps - 1
    low = initial / final_div_factor

    def anneal(a, b, x):
        return a + (b - a) * x if anneal_strategy == "linear" else b + (a - b) * (1 + math.cos(math.pi * x)) / 2

    if step <= peak:
        return anneal(initial, max_lr, step / peak)
    if three_phase:
        if step <= 2 * peak:
            return anneal(max_lr, initial, (step - peak) / peak)
        return anneal(initial, low, (step - 2 * peak) / (total_steps - 2 * peak))
    return anneal(max_lr, low, (step - peak) / (total_steps - peak))


def one_cycle_from_one(step, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                       final_div_factor=1e4, three_phase=False):
    """Counts the steps as if from 1: the peak at p T and the end at T (every boundary one step late)."""
    initial = max_lr / div_factor
    ends = [pct_start * total_steps, total_steps]
    rates = [initial, max_lr, initial / final_div_factor]
    if three_phase:
        ends.insert(1, 2 * pct_start * total_steps)
        rates.insert(2, initial)
    begin = 0.0
    for i, end in enumerate(ends):
        if step <= end or i == len(ends) - 1:
            x = (step - begin) / (end - begin)
            if anneal_strategy == "linear":
                return rates[i] + (rates[i + 1] - rates[i]) * x
            return rates[i + 1] + (rates[i] - rates[i + 1]) * (1 + math.cos(math.pi * x)) / 2
        begin = end
    raise AssertionError


def returns_nothing(step, lr, step_size, gamma=0.1):
    lr * gamma ** (step // step_size)


def returns_a_list(step, lr, step_size, gamma=0.1):
    return [lr * gamma ** (step // step_size)]


WRONG = [
    ("schedule/step", step_ceil, None),
    ("schedule/step", step_not_compounded, None),
    ("schedule/cosine", cosine_rising, None),
    ("schedule/cosine", cosine_one_based, "off_by_one"),
    ("schedule/warmup_cosine", warmup_cosine_no_eta_min, None),
    ("schedule/warmup_cosine", warmup_cosine_zero_start, "warmup_from_zero"),
    ("schedule/one_cycle", one_cycle_whole_steps, "phase_ends_rounded"),
    ("schedule/one_cycle", one_cycle_from_one, "every_phase_end_off_by_one"),
    ("schedule/one_cycle", one_cycle_to_total_steps, "last_phase_end_off_by_one"),
]


@pytest.mark.parametrize(("name", "fn", "mistake"), WRONG, ids=[fn.__name__ for _, fn, _ in WRONG])
def test_realistic_wrong_answers_are_caught(name: str, fn, mistake: str | None) -> None:
    result = check(name, fn)
    assert not result.passed and result.finding == "wrong_value", str(result)
    assert result.failed_case in result.message and "worst" in result.message
    if mistake is not None:
        assert result.mistake == mistake, str(result)


def test_answers_that_are_not_one_number() -> None:
    result = check("schedule/step", returns_nothing)
    assert result.finding == "wrong_count" and "None" in result.message, str(result)
    result = check("schedule/step", returns_a_list)
    assert not result.passed, str(result)


# -- correct answers written differently from the references ------------------------------------------------


def step_by_int_of_division(step, lr, step_size, gamma=0.1):
    return lr * gamma ** int(step / step_size)


def cosine_squared(step, lr, T_max, eta_min=0.0):  # noqa: N803 (PyTorch's name)
    """(1 + cos a) / 2 = cos(a / 2) ** 2."""
    return eta_min + (lr - eta_min) * math.cos(math.pi * step / (2 * T_max)) ** 2


def warmup_cosine_interp(step, lr, warmup_steps, total_steps, eta_min=0.0, warmup_start_factor=0.01):
    if step < warmup_steps:
        return float(np.interp(step, [0, warmup_steps], [warmup_start_factor * lr, lr]))
    angle = math.pi * (step - warmup_steps) / (total_steps - warmup_steps)
    return eta_min + (lr - eta_min) * math.cos(angle / 2) ** 2


def one_cycle_by_phase_table(step, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                             final_div_factor=1e4, three_phase=False):
    start = max_lr / div_factor
    points = [(0.0, start), (pct_start * total_steps - 1, max_lr)]
    if three_phase:
        points.append((2 * pct_start * total_steps - 2, start))
    points.append((total_steps - 1.0, start / final_div_factor))
    for (s0, a), (s1, b) in zip(points, points[1:]):
        if step <= s1 or s1 == total_steps - 1:
            x = (step - s0) / (s1 - s0)
            weight = x if anneal_strategy == "linear" else (1 - math.cos(math.pi * x)) / 2
            return a + (b - a) * weight
    raise AssertionError


CORRECT = [
    ("schedule/step", step_by_int_of_division),
    ("schedule/cosine", cosine_squared),
    ("schedule/warmup_cosine", warmup_cosine_interp),
    ("schedule/one_cycle", one_cycle_by_phase_table),
]


@pytest.mark.parametrize(("name", "fn"), CORRECT, ids=[fn.__name__ for _, fn in CORRECT])
def test_equivalent_correct_answers_pass(name: str, fn) -> None:
    for seed in SEEDS:
        result = check(name, fn, seed=seed)
        assert result.passed, str(result)
