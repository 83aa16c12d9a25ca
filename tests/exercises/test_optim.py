"""The optimizer exercises (tg.exercises, family ``optim``): references against PyTorch, mistakes named, answers."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.exercises import REGISTRY, check
from tinygrad_edu.optim import adam, nadam, rmsprop, sgd

torch = pytest.importorskip("torch")

NAMES = [name for name in REGISTRY if name.startswith("optim/")]
SEEDS = (0, 1)

TORCH_CLASSES = {
    "optim/sgd_momentum": torch.optim.SGD,
    "optim/rmsprop": torch.optim.RMSprop,
    "optim/adam": torch.optim.Adam,
    "optim/adamw": torch.optim.AdamW,
    "optim/nadam": torch.optim.NAdam,
}

# The library's plain per-parameter rules (they return a dict of terms; "theta" is the new parameter).
LIBRARY_RULES = {
    "optim/sgd_momentum": sgd.sgd_step,
    "optim/momentum": sgd.momentum_step,
    "optim/rmsprop": rmsprop.rmsprop_step,
    "optim/adam": adam.adam_step,
    "optim/adamw": adam.adamw_step,
    "optim/nadam": nadam.nadam_step,
}


def _cases(name: str, seed: int = 0) -> list:
    return REGISTRY[name].cases(np.random.default_rng(seed))


def test_the_family_is_complete() -> None:
    assert NAMES == ["optim/sgd_momentum", "optim/momentum", "optim/rmsprop", "optim/adam", "optim/adamw",
                     "optim/nadam"]
    for name in NAMES:
        exercise = REGISTRY[name]
        assert 4 <= len(_cases(name)) <= 10
        assert 2 <= len(exercise.mistakes) <= 6
        assert exercise.stub.startswith(f"def {exercise.function}(")
        assert "$$" in exercise.statement


def _stub_function(name: str):
    exercise, namespace = REGISTRY[name], {}
    exec(exercise.stub, namespace)  # noqa: S102 - the library's own stub text
    return namespace[exercise.function]


@pytest.mark.parametrize("name", sorted(TORCH_CLASSES))
def test_stub_and_reference_take_torchs_names_and_defaults(name: str) -> None:
    torch_defaults = {key: value.default for key, value in inspect.signature(TORCH_CLASSES[name]).parameters.items()}
    for fn in (_stub_function(name), REGISTRY[name].reference):
        parameters = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in parameters[:4]] == ["theta", "g", "state", "t"]
        for parameter in parameters[4:]:
            assert parameter.default == torch_defaults[parameter.name], (name, parameter.name)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name: str, seed: int) -> None:
    result = check(name, REGISTRY[name].reference, seed=seed)
    assert result.passed, str(result)
    assert result.finding == "passed" and result.cases_passed == result.cases_total


@pytest.mark.parametrize("name", sorted(TORCH_CLASSES))
def test_reference_equals_torch_step_for_step(name: str) -> None:
    exercise = REGISTRY[name]
    rtol = 1e-6 if name == "optim/nadam" else 1e-10  # NAdam keeps its product of mu's in float32
    for seed in SEEDS:
        for case in _cases(name, seed):
            theta0, grads = case.args
            ours = exercise.run(exercise.reference, case)
            param = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
            opt = TORCH_CLASSES[name]([param], **case.kwargs)
            for step, g in enumerate(grads):
                param.grad = torch.tensor(g, dtype=torch.float64)
                opt.step()
                np.testing.assert_allclose(ours[step], param.detach().numpy(), rtol=rtol, atol=1e-12,
                                           err_msg=f"{name}, {case.label}, step {step + 1}")


@pytest.mark.parametrize("name", NAMES)
def test_reference_equals_the_library_rule(name: str) -> None:
    exercise = REGISTRY[name]
    for case in _cases(name):
        theta0, grads = case.args
        ours = exercise.run(exercise.reference, case)
        theta, state = np.array(theta0), {}
        # adamw_step's own default weight_decay is adam_step's 0; AdamW's (and the exercise's) is 1e-2.
        hyperparameters = {"weight_decay": 1e-2, **case.kwargs} if name == "optim/adamw" else case.kwargs
        for step, g in enumerate(grads, start=1):
            theta = LIBRARY_RULES[name](theta, g, state, step, **hyperparameters)["theta"]
            np.testing.assert_allclose(ours[step - 1], theta, rtol=1e-6, atol=1e-12)


def test_textbook_momentum_by_hand() -> None:
    # v_1 = 0.1 * 2 = 0.2, theta_1 = 1 - 0.5 * 0.2 = 0.9; v_2 = 0.9 * 0.2 + 0.1 * 4 = 0.58, theta_2 = 0.9 - 0.29
    reference, state = REGISTRY["optim/momentum"].reference, {}
    theta = reference(np.array([1.0]), np.array([2.0]), state, 1, lr=0.5)
    np.testing.assert_allclose(theta, [0.9])
    theta = reference(theta, np.array([4.0]), state, 2, lr=0.5)
    np.testing.assert_allclose(theta, [0.61])


def test_textbook_momentum_equals_the_library_optimizer() -> None:
    exercise = REGISTRY["optim/momentum"]
    for case in _cases("optim/momentum"):
        theta0, grads = case.args
        ours = exercise.run(exercise.reference, case)
        param = tg.tensor(theta0, dtype=tg.float64, requires_grad=True)
        opt = tg.optim.Momentum([param], **case.kwargs)
        for step, g in enumerate(grads):
            param.grad = tg.tensor(g, dtype=tg.float64)
            opt.step()
            np.testing.assert_allclose(ours[step], param.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NAMES)
def test_every_catalogued_mistake_is_caught_and_named(name: str, seed: int) -> None:
    for mistake in REGISTRY[name].mistakes:
        result = check(name, mistake.fn, seed=seed)
        assert not result.passed, mistake.name
        assert result.mistake == mistake.name, (mistake.name, str(result))
        assert result.mistake_match == "full"
        assert mistake.hint in result.message


def test_stubs_report_not_written_yet() -> None:
    for name in NAMES:
        result = check(name, _stub_function(name))
        assert not result.passed and result.finding == "not_implemented"
        assert "not written yet" in result.message


# -- answers written independently of the catalogue ---------------------------------------------------------


def sgd_zero_buffer(theta, g, state, t, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
    """A buffer started at zero and updated by the general rule: dampening hits the first step too."""
    g = g + weight_decay * theta
    buf = state.setdefault("buf", np.zeros_like(theta))
    buf[...] = momentum * buf + (1 - dampening) * g
    d = g + momentum * buf if nesterov else buf
    return theta - lr * d


def sgd_ignores_momentum(theta, g, state, t, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
    return theta - lr * (g + weight_decay * theta)


def momentum_lr_in_velocity(theta, g, state, t, lr, beta=0.9):
    """The "v = beta v + lr g; theta -= v" form: the same as leaving out (1 - beta)."""
    state["v"] = beta * state.get("v", 0) + lr * g
    return theta - state["v"]


def rmsprop_wrong_default(theta, g, state, t, lr=1e-2, alpha=0.9, eps=1e-8, weight_decay=0, momentum=0,
                          centered=False):
    """Keras's rho = 0.9 as the default for alpha (PyTorch's is 0.99); otherwise right."""
    g = g + weight_decay * theta
    state["s"] = alpha * state.get("s", 0) + (1 - alpha) * g**2
    denominator = state["s"]
    if centered:
        state["m"] = alpha * state.get("m", 0) + (1 - alpha) * g
        denominator = state["s"] - state["m"] ** 2
    step = g / (np.sqrt(denominator) + eps)
    if momentum > 0:
        state["b"] = momentum * state.get("b", 0) + step
        step = state["b"]
    return theta - lr * step


def adam_own_counter_from_zero(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    """Keeps its own step count, starting at 0: the first bias correction divides by zero."""
    n = state.get("n", 0)
    state["n"] = n + 1
    beta1, beta2 = betas
    g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    with np.errstate(divide="ignore", invalid="ignore"):
        return theta - lr * (state["m"] / (1 - beta1**n)) / (np.sqrt(state["v"] / (1 - beta2**n)) + eps)


def adam_only_first_moment_corrected(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    beta1, beta2 = betas
    g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    return theta - lr * state["m"] / (1 - beta1**t) / (np.sqrt(state["v"]) + eps)


def adamw_decay_twice(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Decays the weights and also adds L2 to the gradient."""
    beta1, beta2 = betas
    g = g + weight_decay * theta
    theta = theta * (1 - lr * weight_decay)
    state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    return theta - lr * state["m"] / (1 - beta1**t) / (np.sqrt(state["v"] / (1 - beta2**t)) + eps)


def nadam_as_adam(theta, g, state, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3):
    beta1, beta2 = betas
    g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    return theta - lr * state["m"] / (1 - beta1**t) / (np.sqrt(state["v"] / (1 - beta2**t)) + eps)


def adam_in_place_without_return(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    """Right update, in place, but no `return`."""
    beta1, beta2 = betas
    g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    theta -= lr * state["m"] / (1 - beta1**t) / (np.sqrt(state["v"] / (1 - beta2**t)) + eps)


def adam_state_rebound(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    """Rebinds `state` to a new dict: the caller's stays empty, so every step starts from m = v = 0."""
    beta1, beta2 = betas
    g = g + weight_decay * theta
    state = {"m": beta1 * state.get("m", 0) + (1 - beta1) * g, "v": beta2 * state.get("v", 0) + (1 - beta2) * g * g}
    return theta - lr * state["m"] / (1 - beta1**t) / (np.sqrt(state["v"] / (1 - beta2**t)) + eps)


def rmsprop_no_memory(theta, g, state, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                      centered=False):
    """Uses this step's square only (s_{t-1} taken as 0 every step); momentum and centered written right."""
    g = g + weight_decay * theta
    s = (1 - alpha) * g**2
    if centered:
        s = s - ((1 - alpha) * g) ** 2
    step = g / (np.sqrt(s) + eps)
    if momentum > 0:
        state["b"] = momentum * state.get("b", 0) + step if t > 1 else step
        step = state["b"]
    return theta - lr * step


def adam_missing_weight_decay_argument(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return theta


WRONG = [
    ("optim/sgd_momentum", sgd_zero_buffer, "dampening_on_first_step"),
    ("optim/sgd_momentum", sgd_ignores_momentum, None),
    ("optim/momentum", momentum_lr_in_velocity, "missing_one_minus_beta"),
    ("optim/rmsprop", rmsprop_wrong_default, None),
    ("optim/adam", adam_own_counter_from_zero, None),
    ("optim/adam", adam_only_first_moment_corrected, None),
    ("optim/adamw", adamw_decay_twice, None),
    ("optim/nadam", nadam_as_adam, None),
    ("optim/adam", adam_state_rebound, "state_not_kept"),
    ("optim/rmsprop", rmsprop_no_memory, "state_not_kept"),  # "looks like": its momentum buffer is kept
]


@pytest.mark.parametrize(("name", "fn", "mistake"), WRONG, ids=[fn.__name__ for _, fn, _ in WRONG])
def test_realistic_wrong_answers_are_caught(name: str, fn, mistake: str | None) -> None:
    result = check(name, fn)
    assert not result.passed, fn.__name__
    assert result.cases_passed < result.cases_total
    assert result.failed_case is not None and result.failed_case in result.message
    if mistake is not None:
        assert result.mistake == mistake, str(result)


def test_a_wrong_default_is_pointed_out() -> None:
    result = check("optim/rmsprop", rmsprop_wrong_default)
    assert "Note: your default differs from the exercise's (PyTorch's): alpha=0.9 where the exercise has " \
           "alpha=0.99." in result.message


def test_counter_from_zero_reports_non_finite_values() -> None:
    result = check("optim/adam", adam_own_counter_from_zero)
    assert result.finding == "not_finite", str(result)
    assert "theta after step 1" in result.message


def test_missing_return_and_missing_argument_are_reported() -> None:
    result = check("optim/adam", adam_in_place_without_return)
    assert not result.passed and result.finding == "wrong_count" and "None" in result.message
    result = check("optim/adam", adam_missing_weight_decay_argument)
    assert not result.passed and result.finding == "wrong_signature"
    assert "weight_decay" in result.message


# -- correct answers written differently from the references ------------------------------------------------


def sgd_in_place(theta, g, state, t, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
    """Updates theta and g in place, the buffer created on first use, and returns theta."""
    if weight_decay:
        g += weight_decay * theta
    if momentum:
        if "buf" not in state:
            state["buf"] = g.copy()
        else:
            state["buf"] *= momentum
            state["buf"] += (1 - dampening) * g
        direction = g + momentum * state["buf"] if nesterov else state["buf"]
    else:
        direction = g
    theta -= lr * direction
    return theta


def momentum_lerp(theta, g, state, t, lr, beta=0.9):
    v = state.get("v", np.zeros_like(theta))
    v = v + (1 - beta) * (g - v)  # the moving average written as a step towards g
    state["v"] = v
    return theta - lr * v


def rmsprop_lerp(theta, g, state, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
    g = g + weight_decay * theta
    s = state.setdefault("s", np.zeros_like(theta))
    s += (1 - alpha) * (g * g - s)
    mean_square = s
    if centered:
        mean = state.setdefault("mean", np.zeros_like(theta))
        mean += (1 - alpha) * (g - mean)
        mean_square = s - mean * mean
    step = g / (mean_square**0.5 + eps)
    if momentum > 0:
        state["buf"] = momentum * state.get("buf", 0.0) + step
        step = state["buf"]
    return theta - lr * step


def adam_folded(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    """PyTorch's implementation order: the bias corrections folded into the step size and the denominator."""
    beta1, beta2 = betas
    g = g + weight_decay * theta
    m = state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    step_size = lr / (1 - beta1**t)
    denominator = np.sqrt(v) / np.sqrt(1 - beta2**t) + eps
    return theta - step_size * m / denominator


def adamw_in_one_line(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    beta1, beta2 = betas
    m = state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    return theta - lr * (weight_decay * theta + m / (1 - beta1**t) / (np.sqrt(v / (1 - beta2**t)) + eps))


def nadam_mixed_moment(theta, g, state, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                       momentum_decay=4e-3):
    """One Nesterov-mixed moment, with the mu's product recomputed from scratch every step."""
    beta1, beta2 = betas
    g = g + weight_decay * theta

    def mu(i):
        return beta1 * (1 - 0.5 * 0.96 ** (i * momentum_decay))

    product = np.prod([mu(i) for i in range(1, t + 1)])
    m = state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g * g
    mixed = (1 - mu(t)) / (1 - product) * g + mu(t + 1) / (1 - product * mu(t + 1)) * m
    return theta - lr * mixed / (np.sqrt(v / (1 - beta2**t)) + eps)


CORRECT = [
    ("optim/sgd_momentum", sgd_in_place),
    ("optim/momentum", momentum_lerp),
    ("optim/rmsprop", rmsprop_lerp),
    ("optim/adam", adam_folded),
    ("optim/adamw", adamw_in_one_line),
    ("optim/nadam", nadam_mixed_moment),
]


@pytest.mark.parametrize(("name", "fn"), CORRECT, ids=[fn.__name__ for _, fn in CORRECT])
def test_equivalent_correct_answers_pass(name: str, fn) -> None:
    for seed in SEEDS:
        result = check(name, fn, seed=seed)
        assert result.passed, str(result)


def test_a_failure_names_the_step_and_the_worst_entry() -> None:
    result = check("optim/adam", REGISTRY["optim/adam"].mistakes[0].fn)  # no_bias_correction
    assert "theta after step 1" in result.message
    assert "worst" in result.message and "expected" in result.message
