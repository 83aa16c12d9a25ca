r"""Optimizer exercises: write one update step of SGD, momentum, RMSprop, Adam, AdamW and NAdam by hand.

Each exercise asks for ``fn(theta, g, state, t, **hyperparameters) -> new theta``:
one step for one parameter, NumPy arrays in and out, the moments kept in the
dict ``state`` (empty at t = 1), t counting steps from 1, and PyTorch's
hyperparameter names and defaults. `check` drives the function for
`STEPS` steps on each case, feeding it back its own theta, and compares theta
after every step with the hidden reference. The references are plain NumPy
transcriptions of the algorithm boxes in PyTorch's ``torch.optim`` docstrings
(and of the sources' textbook momentum); the tests hold them to ``torch.optim``
step for step.

Example:
    >>> import tinygrad_edu as tg
    >>> "optim/adam" in tg.exercises.names()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import Case, Exercise, Finding, Mistake, mistake_variant, register

__all__ = ["STEPS"]

#: How many steps `check` runs on every case (theta is compared after each).
STEPS = 6

_OUTPUT_NAMES = tuple(f"theta after step {t}" for t in range(1, STEPS + 1))

_COMMON = f"""
**What to write.** `state` is a dict, empty at $t = 1$: keep in it whatever your rule
needs from one step to the next (PyTorch's names are given above, any keys will do).
`t` counts the steps from 1. `theta` and `g` are NumPy arrays of the same shape
(possibly 0-d). Return the new $\\theta_t$ as an array shaped like `theta`; updating
`theta` in place as well is allowed. `check` runs {STEPS} steps on each case, giving
your function back the theta it returned, and compares theta after every step.
"""


def _run(fn: Callable, case: Case) -> tuple:
    """Drive ``fn`` through the case's gradients; return theta after each step (copies)."""
    theta0, grads = case.args
    theta = np.array(theta0, dtype=float, copy=True)
    state: dict[str, Any] = {}
    thetas = []
    for t, g in enumerate(grads, start=1):
        # Fresh copies in: a student who updates theta in place must not change the theta stored for step t - 1.
        result = fn(theta.copy(), np.array(g, dtype=float, copy=True), state, t, **case.kwargs)
        if result is None:
            raise Finding("wrong_count", f"step {t} returned None: return the new theta, an array of shape "
                                         f"{np.shape(theta0)} (updating theta in place is not enough)")
        theta = np.array(result, copy=True)
        if theta.shape != np.shape(theta0):
            raise Finding("wrong_shape", f"step {t} returned an array of shape {theta.shape}, expected the "
                                         f"shape of theta, {np.shape(theta0)}")
        thetas.append(theta)
    return tuple(thetas)


def _gradients(rng: np.random.Generator, shape: tuple, scale: float = 1.0, zero_entry: bool = False,
               large_entry: bool = False) -> list[np.ndarray]:
    """``STEPS`` gradients of ``shape``; entry 0 (reading order) always zero, entry 1 a thousand times larger."""
    grads = []
    for _ in range(STEPS):
        g = rng.normal(size=shape) * scale
        flat = g.reshape(-1)
        if zero_entry:
            flat[0] = 0.0
        if large_entry:
            flat[1] *= 1e3
        grads.append(g)
    return grads


def _index(shape: tuple, flat: int) -> str:
    """Entry ``flat`` (in reading order) of an array of ``shape``, as the report writes indices: ``[0, 1]``."""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


def _case(rng: np.random.Generator, shape: tuple, hyperparameters: dict[str, Any], scale: float = 1.0,
          zero_entry: bool = False, large_entry: bool = False, theta_scale: float = 1.0, note: str = "") -> Case:
    theta = rng.normal(size=shape) * theta_scale
    grads = _gradients(rng, shape, scale, zero_entry, large_entry)
    words = [f"theta of shape {shape}"]
    words += [f"{key}={value!r}" for key, value in hyperparameters.items()] or ["all defaults"]
    if scale != 1.0:
        words.append(f"gradients of size ~{scale:g}" + (f" ({note})" if note else ""))
        note = ""
    if zero_entry:
        words.append(f"the gradient at {_index(shape, 0)} always 0")
    if large_entry:
        words.append(f"the gradient at {_index(shape, 1)} about 1000x larger")
    if note:
        words.append(note)
    return Case(", ".join(words), (theta, grads), dict(hyperparameters))


def _state_not_kept(reference: Callable, what: str, key: str) -> Mistake:
    """The mistake ``state_not_kept``: the reference given an empty ``state`` at every step, a student who keeps
    nothing between steps (or rebinds ``state = {...}``, a new dict the next step never sees). The hint is
    ``what`` (the quantities to keep, ending in a space) and then where to keep them, ``state[key]``."""
    def wrong(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, **hyperparameters: Any) -> np.ndarray:
        return reference(theta, g, {}, t, **hyperparameters)
    wrong.__name__ = f"{reference.__name__}_state_not_kept"
    return Mistake("state_not_kept", wrong, what + _STATE_NOT_KEPT.format(key=key))


_STATE_NOT_KEPT = ("must be kept in the dict `state` and read back at the next step: write into the dict you "
                   "are given (state[\"{key}\"] = ...; `state = {{...}}` makes a new dict the next step never "
                   "sees).")


# -- SGD with momentum (torch.optim.SGD) ------------------------------------------------------------------


def _sgd(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 1e-3, momentum: float = 0,
         dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, mistake: str = "") -> np.ndarray:
    if weight_decay != 0 and mistake != "weight_decay_after_momentum":
        g = g + weight_decay * theta
    if momentum != 0:
        if t == 1 and mistake != "dampening_on_first_step":
            b = g
        else:
            b = momentum * state.get("momentum_buffer", 0.0) + (1 - dampening) * g
        if mistake != "buffer_not_kept":
            state["momentum_buffer"] = b
        if nesterov and mistake != "nesterov_uses_buffer":
            g = g + momentum * b
        else:
            g = b
    if weight_decay != 0 and mistake == "weight_decay_after_momentum":
        g = g + weight_decay * theta
    return theta - lr * g


def sgd_momentum_reference(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 1e-3,
                           momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                           nesterov: bool = False) -> np.ndarray:
    """``torch.optim.SGD``'s step for one parameter (the reference of ``optim/sgd_momentum``)."""
    return _sgd(theta, g, state, t, lr, momentum, dampening, weight_decay, nesterov)


def _sgd_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(rng, (5,), dict(lr=0.1, momentum=0.9)),
        _case(rng, (3, 4), dict(lr=0.05, momentum=0.9, nesterov=True), zero_entry=True),
        _case(rng, (4,), dict(lr=0.1, momentum=0.5, dampening=0.3), large_entry=True),
        _case(rng, (2, 3), dict(lr=0.1, momentum=0.9, weight_decay=0.1), zero_entry=True),
        _case(rng, (), dict(lr=0.2, momentum=0.8, weight_decay=0.05, nesterov=True)),
        _case(rng, (2, 2, 3), dict(lr=0.1, momentum=0.0)),
        _case(rng, (6,), dict(momentum=0.9), theta_scale=1e-2),
    ]


register(Exercise(
    name="optim/sgd_momentum",
    function="sgd_momentum_step",
    title="SGD with momentum, dampening, Nesterov and weight decay (torch.optim.SGD)",
    statement=r"""
### SGD with momentum (`torch.optim.SGD`)

With learning rate $\gamma$ (`lr`), momentum $\mu$ (`momentum`), dampening $\tau$
(`dampening`), weight decay $\lambda$ (`weight_decay`) and the flag `nesterov`,
one step on a parameter $\theta$ with gradient $g_t$ is (PyTorch's algorithm box):

$$g_t \leftarrow g_t + \lambda\,\theta_{t-1} \qquad\text{(only if } \lambda \ne 0\text{)}$$

If $\mu \ne 0$, a momentum buffer $b$ (PyTorch's `state["momentum_buffer"]`):

$$b_t = \begin{cases} g_t & t = 1 \quad\text{(no dampening on the first step)}\\
\mu\, b_{t-1} + (1-\tau)\, g_t & t > 1 \end{cases}$$

$$g_t \leftarrow \begin{cases} g_t + \mu\, b_t & \text{nesterov} \\ b_t & \text{otherwise} \end{cases}$$

and then

$$\theta_t = \theta_{t-1} - \gamma\, g_t .$$

Weight decay is added to the gradient *before* the momentum; with Nesterov the
step uses the fresh (decayed) gradient plus $\mu$ times the new buffer.

**Signature.** `sgd_momentum_step(theta, g, state, t, lr=1e-3, momentum=0, dampening=0,
weight_decay=0, nesterov=False)` — PyTorch's names and defaults.
""" + _COMMON,
    stub='''def sgd_momentum_step(theta, g, state, t, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
    """One step of torch.optim.SGD for one parameter; returns the new theta.

    Args:
        theta: the parameter before the step (a NumPy array).
        g: its gradient at this step (same shape).
        state: a dict, empty at t = 1, for the momentum buffer between steps.
        t: the step number, counting from 1.
        lr, momentum, dampening, weight_decay, nesterov: as torch.optim.SGD.
    """
    raise NotImplementedError("write the SGD step")
''',
    reference=sgd_momentum_reference,
    cases=_sgd_cases,
    run=_run,
    mistakes=(
        mistake_variant(_sgd, "dampening_on_first_step",
                        "At t = 1 the buffer is the gradient itself, b_1 = g_1: dampening (1 - tau) only applies from "
                        "t = 2 on (see the cases of b_t in the statement)."),
        mistake_variant(_sgd, "nesterov_uses_buffer",
                        "With nesterov=True the step direction is g_t + mu * b_t, the gradient plus momentum times the "
                        "new buffer, not the buffer b_t alone."),
        mistake_variant(_sgd, "weight_decay_after_momentum",
                        "Weight decay is added to the gradient first, g_t <- g_t + lambda * theta, and that decayed "
                        "gradient goes into the momentum buffer; it is not added to the step afterwards."),
        mistake_variant(_sgd, "buffer_not_kept",
                        "The buffer b_t must be kept in `state` and reused at the next step: b_t = mu * b_{t-1} + "
                        "(1 - tau) * g_t needs the previous step's buffer."),
    ),
    output_names=_OUTPUT_NAMES,
))


# -- momentum in the sources' form (EMA) -------------------------------------------------------------------


def _momentum(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float, beta: float = 0.9,
              mistake: str = "") -> np.ndarray:
    v = state.get("velocity", 0.0)
    if mistake == "velocity_not_kept":
        v = 0.0
    if mistake == "missing_one_minus_beta":
        v = beta * v + g
    elif mistake == "weights_swapped":
        v = (1 - beta) * v + beta * g
    else:
        v = beta * v + (1 - beta) * g
    state["velocity"] = v
    if mistake == "sign_flipped":
        return theta + lr * v
    return theta - lr * v


def momentum_reference(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float,
                       beta: float = 0.9) -> np.ndarray:
    """The sources' momentum for one parameter (the reference of ``optim/momentum``)."""
    return _momentum(theta, g, state, t, lr, beta)


def _momentum_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(rng, (5,), dict(lr=0.1)),
        _case(rng, (3, 4), dict(lr=0.5, beta=0.9), zero_entry=True),
        _case(rng, (4,), dict(lr=0.1, beta=0.5), large_entry=True),
        _case(rng, (), dict(lr=1.0, beta=0.8)),
        _case(rng, (2, 2, 3), dict(lr=0.3, beta=0.99)),
    ]


register(Exercise(
    name="optim/momentum",
    function="momentum_step",
    title="Momentum as the sources write it (an exponential moving average of the gradients)",
    statement=r"""
### Momentum, the sources' (textbook) form

With learning rate $\alpha$ (`lr`) and $\beta$ (`beta`, about 0.9), starting from
$v_0 = 0$ (the library's `tg.optim.Momentum`):

$$v_t = \beta\, v_{t-1} + (1-\beta)\, g_t$$

$$\theta_t = \theta_{t-1} - \alpha\, v_t$$

The velocity $v$ is an exponential moving average of the gradients: it damps the
zig-zag across a ravine and builds up speed along a direction the gradients
agree on. (PyTorch's `SGD(momentum=...)` is a different form, $b_t = \mu b_{t-1} + g_t$ with
$b_1 = g_1$, without the $(1-\beta)$. Here the first step is not special: $v_0 = 0$, so
$v_1 = (1-\beta)\, g_1$.)

**Signature.** `momentum_step(theta, g, state, t, lr, beta=0.9)` — `lr` has no default,
as in `tg.optim.Momentum`; keep $v$ in `state` (the library calls it `"velocity"`).
""" + _COMMON,
    stub='''def momentum_step(theta, g, state, t, lr, beta=0.9):
    """One step of the sources' momentum (an EMA of the gradients) for one parameter; returns the new theta.

    Args:
        theta: the parameter before the step (a NumPy array).
        g: its gradient at this step (same shape).
        state: a dict, empty at t = 1, for the velocity between steps.
        t: the step number, counting from 1.
        lr: the learning rate alpha.
        beta: the momentum coefficient.
    """
    raise NotImplementedError("write the momentum step")
''',
    reference=momentum_reference,
    cases=_momentum_cases,
    run=_run,
    mistakes=(
        mistake_variant(_momentum, "missing_one_minus_beta",
                        "The sources' velocity is an average: v_t = beta * v_{t-1} + (1 - beta) * g_t. Without the "
                        "(1 - beta) it is PyTorch's SGD buffer, about 1 / (1 - beta) times larger."),
        mistake_variant(_momentum, "velocity_not_kept",
                        "v_{t-1} is the previous step's velocity: store v_t in `state` and read it back at the next "
                        "step (start from 0 only at t = 1)."),
        mistake_variant(_momentum, "weights_swapped",
                        "beta weighs the old velocity and (1 - beta) the new gradient: v_t = beta * v_{t-1} + "
                        "(1 - beta) * g_t."),
        mistake_variant(_momentum, "sign_flipped",
                        "Step against the velocity: theta_t = theta_{t-1} - alpha * v_t (the gradient points uphill)."),
    ),
    output_names=_OUTPUT_NAMES,
))


# -- RMSprop (torch.optim.RMSprop) --------------------------------------------------------------------------


def _rmsprop(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 1e-2,
             alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
             centered: bool = False, mistake: str = "") -> np.ndarray:
    if weight_decay != 0:
        g = g + weight_decay * theta
    if mistake == "no_one_minus_alpha":
        s = alpha * state.get("square_avg", 0.0) + g * g
    elif mistake == "weights_swapped":
        s = (1 - alpha) * state.get("square_avg", 0.0) + alpha * g * g
    else:
        s = alpha * state.get("square_avg", 0.0) + (1 - alpha) * g * g
    state["square_avg"] = s
    v = s
    if centered:
        g_bar = alpha * state.get("grad_avg", 0.0) + (1 - alpha) * g
        state["grad_avg"] = g_bar
        v = s - g_bar * g_bar
    if mistake == "eps_inside_sqrt":
        denominator = np.sqrt(v + eps)
    elif mistake == "sqrt_missing":
        denominator = v + eps
    else:
        denominator = np.sqrt(v) + eps
    if momentum > 0:
        b = momentum * state.get("momentum_buffer", 0.0) + g / denominator
        state["momentum_buffer"] = b
        return theta - lr * b
    return theta - lr * g / denominator


def rmsprop_reference(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 1e-2,
                      alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                      centered: bool = False) -> np.ndarray:
    """``torch.optim.RMSprop``'s step for one parameter (the reference of ``optim/rmsprop``)."""
    return _rmsprop(theta, g, state, t, lr, alpha, eps, weight_decay, momentum, centered)


def _rmsprop_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(rng, (5,), dict(lr=0.01)),
        _case(rng, (3, 4), dict(lr=0.01, alpha=0.9), zero_entry=True, large_entry=True),
        _case(rng, (4,), dict(lr=0.01, alpha=0.9, eps=1e-3), scale=1e-2, zero_entry=True),
        _case(rng, (2, 3), dict(lr=0.01, alpha=0.99), scale=1e-4, note="squares near eps"),
        _case(rng, (6,), dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
        _case(rng, (), dict(lr=0.02, alpha=0.95, centered=True)),
        _case(rng, (2, 2, 2), dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5), zero_entry=True),
        _case(rng, (5,), {}, theta_scale=0.1),
    ]


register(Exercise(
    name="optim/rmsprop",
    function="rmsprop_step",
    title="RMSprop with PyTorch's options (torch.optim.RMSprop)",
    statement=r"""
### RMSprop (`torch.optim.RMSprop`)

With learning rate $\gamma$ (`lr`), smoothing constant $\alpha$ (`alpha`), $\epsilon$
(`eps`), weight decay $\lambda$, momentum $\mu$ and the flag `centered`, starting from
$s_0 = 0$, $\bar g_0 = 0$, $b_0 = 0$:

$$g_t \leftarrow g_t + \lambda\,\theta_{t-1} \qquad\text{(only if } \lambda \ne 0\text{)}$$

$$s_t = \alpha\, s_{t-1} + (1-\alpha)\, g_t^2$$

$$\tilde s_t = \begin{cases} s_t - \bar g_t^{\,2},\quad \bar g_t = \alpha\, \bar g_{t-1} + (1-\alpha)\, g_t
 & \text{centered}\\ s_t & \text{otherwise}\end{cases}$$

$$\text{if } \mu > 0:\quad b_t = \mu\, b_{t-1} + \frac{g_t}{\sqrt{\tilde s_t} + \epsilon},\qquad
\theta_t = \theta_{t-1} - \gamma\, b_t$$

$$\text{otherwise:}\quad \theta_t = \theta_{t-1} - \gamma\, \frac{g_t}{\sqrt{\tilde s_t} + \epsilon}$$

(PyTorch keeps $s$, $\bar g$ and $b$ as `state["square_avg"]`, `state["grad_avg"]` and
`state["momentum_buffer"]`.)

Note where $\epsilon$ goes: *outside* the square root. The running mean of squared
gradients gives every entry its own step size (the sources: it fixes Adagrad's
ever-shrinking rate).

**Signature.** `rmsprop_step(theta, g, state, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0,
momentum=0, centered=False)` — PyTorch's names and defaults.
""" + _COMMON,
    stub='''def rmsprop_step(theta, g, state, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False):
    """One step of torch.optim.RMSprop for one parameter; returns the new theta.

    Args:
        theta: the parameter before the step (a NumPy array).
        g: its gradient at this step (same shape).
        state: a dict, empty at t = 1, for the running averages between steps.
        t: the step number, counting from 1.
        lr, alpha, eps, weight_decay, momentum, centered: as torch.optim.RMSprop.
    """
    raise NotImplementedError("write the RMSprop step")
''',
    reference=rmsprop_reference,
    cases=_rmsprop_cases,
    run=_run,
    mistakes=(
        mistake_variant(_rmsprop, "eps_inside_sqrt",
                        "epsilon is added after the square root: divide by sqrt(s_t) + eps, not sqrt(s_t + eps)."),
        mistake_variant(_rmsprop, "no_one_minus_alpha",
                        "s_t is a moving average: s_t = alpha * s_{t-1} + (1 - alpha) * g_t^2 (the new square is "
                        "weighted by 1 - alpha)."),
        mistake_variant(_rmsprop, "weights_swapped",
                        "alpha weighs the old average and (1 - alpha) the new squared gradient: "
                        "s_t = alpha * s_{t-1} + (1 - alpha) * g_t^2."),
        mistake_variant(_rmsprop, "sqrt_missing",
                        "Divide by the root mean square, sqrt(s_t) + eps, not by the mean square s_t itself."),
        _state_not_kept(rmsprop_reference, "s_t is a moving average of all the squared gradients so far: s_{t-1} ",
                        "square_avg"),
    ),
    output_names=_OUTPUT_NAMES,
))


# -- Adam and AdamW (torch.optim.Adam, torch.optim.AdamW) ----------------------------------------------------


def _adam(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 1e-3,
          betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
          decoupled: bool = False, mistake: str = "") -> np.ndarray:
    """Adam (L2 weight decay on the gradient) or, ``decoupled``, AdamW (decay applied to theta)."""
    beta1, beta2 = betas
    if decoupled and mistake != "coupled_weight_decay":
        if mistake == "decay_not_multiplied_by_lr":
            theta = theta * (1 - weight_decay)
        elif mistake != "decay_after_update":
            theta = theta * (1 - lr * weight_decay)
    elif mistake == "decoupled_weight_decay":
        theta = theta * (1 - lr * weight_decay)
    elif weight_decay != 0:
        g = g + weight_decay * theta
    m = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * g
    v = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    if mistake == "no_bias_correction":
        m_hat, v_hat = m, v
    elif mistake == "bias_correction_off_by_one":
        m_hat, v_hat = m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1))
    else:
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    if mistake == "eps_inside_sqrt":
        theta = theta - lr * m_hat / np.sqrt(v_hat + eps)
    else:
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    if mistake == "decay_after_update":
        theta = theta * (1 - lr * weight_decay)
    return theta


def adam_reference(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 1e-3,
                   betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                   weight_decay: float = 0) -> np.ndarray:
    """``torch.optim.Adam``'s step for one parameter (the reference of ``optim/adam``)."""
    return _adam(theta, g, state, t, lr, betas, eps, weight_decay)


def adamw_reference(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 1e-3,
                    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                    weight_decay: float = 1e-2) -> np.ndarray:
    """``torch.optim.AdamW``'s step for one parameter (the reference of ``optim/adamw``)."""
    return _adam(theta, g, state, t, lr, betas, eps, weight_decay, decoupled=True)


def _adam_rule(decoupled: bool) -> Callable:
    def rule(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, mistake: str = "",
             **hyperparameters: Any) -> np.ndarray:
        if decoupled:
            hyperparameters.setdefault("weight_decay", 1e-2)
        return _adam(theta, g, state, t, decoupled=decoupled, mistake=mistake, **hyperparameters)
    rule.__name__ = "adamw" if decoupled else "adam"
    return rule


def _adam_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(rng, (5,), dict(lr=0.1)),
        _case(rng, (3, 4), dict(lr=0.05, betas=(0.8, 0.99)), zero_entry=True, large_entry=True),
        _case(rng, (4,), dict(lr=0.1, eps=1e-8), scale=1e-4, note="squares near eps"),
        _case(rng, (2, 3), dict(lr=0.1, weight_decay=0.1), zero_entry=True),
        _case(rng, (), dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.5)),
        _case(rng, (2, 2, 3), {}, theta_scale=1e-2),
    ]


def _adamw_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(rng, (5,), dict(lr=0.1)),
        _case(rng, (3, 4), dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1), zero_entry=True, large_entry=True),
        _case(rng, (4,), dict(lr=0.1, weight_decay=0.5), scale=1e-4, note="squares near eps"),
        _case(rng, (2, 3), dict(lr=0.2, weight_decay=0.0), zero_entry=True),
        _case(rng, (), dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3, weight_decay=1.0)),
        _case(rng, (2, 2, 3), {}, theta_scale=1e-2),
    ]


# Adam's and AdamW's moments are the same: so are two of their mistakes' hints.
_ADAM_NO_BIAS_CORRECTION = ("Divide the moments by their bias corrections before the step: m_hat = m_t / "
                            "(1 - beta1^t), v_hat = v_t / (1 - beta2^t).")
_ADAM_STATE = "m_t and v_t are moving averages of all the steps so far: m_{t-1} and v_{t-1} "

_ADAM_MOMENTS = r"""
$$m_t = \beta_1\, m_{t-1} + (1-\beta_1)\, g_t$$

$$v_t = \beta_2\, v_{t-1} + (1-\beta_2)\, g_t^2$$

$$\hat m_t = \frac{m_t}{1-\beta_1^{\,t}},\qquad \hat v_t = \frac{v_t}{1-\beta_2^{\,t}}
\qquad\text{(bias corrections, } t \text{ counting from 1)}$$

(PyTorch keeps $m$ and $v$ as `state["exp_avg"]` and `state["exp_avg_sq"]`.)
"""

register(Exercise(
    name="optim/adam",
    function="adam_step",
    title="Adam with bias correction and L2 weight decay (torch.optim.Adam)",
    statement=r"""
### Adam (`torch.optim.Adam`)

With learning rate $\gamma$ (`lr`), $(\beta_1, \beta_2)$ (`betas`), $\epsilon$ (`eps`) and weight
decay $\lambda$ (`weight_decay`), starting from $m_0 = v_0 = 0$:

$$g_t \leftarrow g_t + \lambda\,\theta_{t-1} \qquad\text{(only if } \lambda \ne 0\text{: L2, added to the gradient)}$$
""" + _ADAM_MOMENTS + r"""
$$\theta_t = \theta_{t-1} - \gamma\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$$

$\epsilon$ goes *outside* the square root. Without the bias corrections the first
steps would be far too small ($m_1 = (1-\beta_1) g_1$).

**Signature.** `adam_step(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)`
— PyTorch's names and defaults (`amsgrad` and `maximize` are left out).
""" + _COMMON,
    stub='''def adam_step(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
    """One step of torch.optim.Adam for one parameter; returns the new theta.

    Args:
        theta: the parameter before the step (a NumPy array).
        g: its gradient at this step (same shape).
        state: a dict, empty at t = 1, for the two moments between steps.
        t: the step number, counting from 1.
        lr, betas, eps, weight_decay: as torch.optim.Adam.
    """
    raise NotImplementedError("write the Adam step")
''',
    reference=adam_reference,
    cases=_adam_cases,
    run=_run,
    mistakes=(
        mistake_variant(_adam_rule(False), "no_bias_correction", _ADAM_NO_BIAS_CORRECTION),
        mistake_variant(_adam_rule(False), "eps_inside_sqrt",
                        "epsilon is added after the square root: divide by sqrt(v_hat) + eps, not sqrt(v_hat + eps)."),
        mistake_variant(_adam_rule(False), "bias_correction_off_by_one",
                        "t already counts from 1: the corrections are 1 - beta1^t and 1 - beta2^t with the t you are "
                        "given (not t + 1)."),
        mistake_variant(_adam_rule(False), "decoupled_weight_decay",
                        "Adam's weight_decay is L2: add lambda * theta to the gradient, g_t <- g_t + lambda * theta, "
                        "before the moments. Shrinking theta directly is AdamW."),
        _state_not_kept(adam_reference, _ADAM_STATE, "exp_avg"),
    ),
    output_names=_OUTPUT_NAMES,
))

register(Exercise(
    name="optim/adamw",
    function="adamw_step",
    title="AdamW: Adam with decoupled weight decay (torch.optim.AdamW)",
    statement=r"""
### AdamW (`torch.optim.AdamW`)

As Adam, but the weight decay $\lambda$ (`weight_decay`, default $10^{-2}$) is applied
directly to the weights, scaled by the learning rate, *before* the step; it never
enters the gradient or the moments (inside them Adam's adaptive scaling would
weaken it):

$$\theta_{t-1} \leftarrow \theta_{t-1}\,(1 - \gamma\lambda)$$
""" + _ADAM_MOMENTS + r"""
$$\theta_t = \theta_{t-1} - \gamma\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$$

(the $\theta_{t-1}$ here is the decayed one).

**Signature.** `adamw_step(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)`
— PyTorch's names and defaults (`amsgrad` and `maximize` are left out).
""" + _COMMON,
    stub='''def adamw_step(theta, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """One step of torch.optim.AdamW for one parameter; returns the new theta.

    Args:
        theta: the parameter before the step (a NumPy array).
        g: its gradient at this step (same shape).
        state: a dict, empty at t = 1, for the two moments between steps.
        t: the step number, counting from 1.
        lr, betas, eps, weight_decay: as torch.optim.AdamW.
    """
    raise NotImplementedError("write the AdamW step")
''',
    reference=adamw_reference,
    cases=_adamw_cases,
    run=_run,
    mistakes=(
        mistake_variant(_adam_rule(True), "coupled_weight_decay",
                        "That is Adam's L2 decay (lambda * theta added to the gradient). AdamW decays the "
                        "weights directly: theta <- theta * (1 - lr * lambda), and the gradient goes into the moments "
                        "unchanged."),
        mistake_variant(_adam_rule(True), "decay_not_multiplied_by_lr",
                        "The decay is scaled by the learning rate: theta <- theta * (1 - gamma * lambda), "
                        "not theta * (1 - lambda)."),
        mistake_variant(_adam_rule(True), "decay_after_update",
                        "Decay theta_{t-1} first, then subtract the Adam step from the decayed weights; decaying after "
                        "the step also shrinks the step."),
        mistake_variant(_adam_rule(True), "no_bias_correction", _ADAM_NO_BIAS_CORRECTION),
        _state_not_kept(adamw_reference, _ADAM_STATE, "exp_avg"),
    ),
    output_names=_OUTPUT_NAMES,
))


# -- NAdam (torch.optim.NAdam) ------------------------------------------------------------------------------


def _nadam(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 2e-3,
           betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
           momentum_decay: float = 4e-3, mistake: str = "") -> np.ndarray:
    beta1, beta2 = betas
    if weight_decay != 0:
        g = g + weight_decay * theta
    mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    if mistake == "mu_next_replaced_by_mu":
        mu_next = mu
    mu_product = state.get("mu_product", 1.0) * mu
    state["mu_product"] = mu_product
    if mistake == "mu_product_forgotten":
        mu_product = mu
    m = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * g
    v = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = m, v
    v_hat = v if mistake == "no_bias_correction" else v / (1 - beta2**t)
    denominator = np.sqrt(v_hat + eps) if mistake == "eps_inside_sqrt" else np.sqrt(v_hat) + eps
    return (theta - lr * (1 - mu) / (1 - mu_product) * g / denominator
            - lr * mu_next / (1 - mu_product * mu_next) * m / denominator)


def nadam_reference(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, lr: float = 2e-3,
                    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                    momentum_decay: float = 4e-3) -> np.ndarray:
    """``torch.optim.NAdam``'s step for one parameter (the reference of ``optim/nadam``)."""
    return _nadam(theta, g, state, t, lr, betas, eps, weight_decay, momentum_decay)


def _nadam_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _case(rng, (5,), dict(lr=0.1)),
        _case(rng, (3, 4), dict(lr=0.05, betas=(0.8, 0.99)), zero_entry=True, large_entry=True),
        _case(rng, (4,), dict(lr=0.1, momentum_decay=0.1), scale=1e-4, note="squares near eps"),
        _case(rng, (2, 3), dict(lr=0.1, weight_decay=0.1, momentum_decay=0.5), zero_entry=True),
        _case(rng, (), dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3)),
        _case(rng, (2, 2, 3), {}, theta_scale=1e-2),
    ]


register(Exercise(
    name="optim/nadam",
    function="nadam_step",
    title="NAdam: Adam with Nesterov momentum (torch.optim.NAdam)",
    statement=r"""
### NAdam (`torch.optim.NAdam`)

With learning rate $\gamma$ (`lr`), $(\beta_1, \beta_2)$ (`betas`), $\epsilon$ (`eps`), weight
decay $\lambda$ and momentum decay $\psi$ (`momentum_decay`, default $4\cdot 10^{-3}$),
starting from $m_0 = v_0 = 0$ and $\mu$-product $P_0 = 1$:

$$g_t \leftarrow g_t + \lambda\,\theta_{t-1} \qquad\text{(only if } \lambda \ne 0\text{)}$$

$$\mu_t = \beta_1\left(1 - \tfrac12\, 0.96^{\,t\psi}\right),\qquad
\mu_{t+1} = \beta_1\left(1 - \tfrac12\, 0.96^{\,(t+1)\psi}\right)$$

$$P_t = P_{t-1}\,\mu_t = \prod_{i=1}^{t} \mu_i$$

$$m_t = \beta_1\, m_{t-1} + (1-\beta_1)\, g_t,\qquad v_t = \beta_2\, v_{t-1} + (1-\beta_2)\, g_t^2,
\qquad \hat v_t = \frac{v_t}{1-\beta_2^{\,t}}$$

$$\theta_t = \theta_{t-1}
 - \gamma\,\frac{1-\mu_t}{1-P_t}\,\frac{g_t}{\sqrt{\hat v_t}+\epsilon}
 - \gamma\,\frac{\mu_{t+1}}{1-P_t\,\mu_{t+1}}\,\frac{m_t}{\sqrt{\hat v_t}+\epsilon}$$

The two terms are the Nesterov look-ahead: the fresh gradient with the current
$\mu_t$, and the momentum with the *next* $\mu_{t+1}$, each bias-corrected by the
product of all the $\mu$ so far (PyTorch keeps $P$ as `state["mu_product"]`, $m$ and $v$ as
`state["exp_avg"]` and `state["exp_avg_sq"]`).

**Signature.** `nadam_step(theta, g, state, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
momentum_decay=4e-3)` — PyTorch's names and defaults (`decoupled_weight_decay` and `maximize` left out).
""" + _COMMON,
    stub='''def nadam_step(theta, g, state, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
               momentum_decay=4e-3):
    """One step of torch.optim.NAdam for one parameter; returns the new theta.

    Args:
        theta: the parameter before the step (a NumPy array).
        g: its gradient at this step (same shape).
        state: a dict, empty at t = 1, for the moments and the product of the mu's between steps.
        t: the step number, counting from 1.
        lr, betas, eps, weight_decay, momentum_decay: as torch.optim.NAdam.
    """
    raise NotImplementedError("write the NAdam step")
''',
    reference=nadam_reference,
    cases=_nadam_cases,
    run=_run,
    mistakes=(
        mistake_variant(_nadam, "mu_product_forgotten",
                        "The bias corrections use the product of all the mu's so far, P_t = mu_1 * ... * mu_t "
                        "(kept in `state`), not mu_t alone: 1 - P_t and 1 - P_t * mu_{t+1}."),
        mistake_variant(_nadam, "mu_next_replaced_by_mu",
                        "The momentum term looks one step ahead: it uses mu_{t+1} = "
                        "beta1 * (1 - 0.5 * 0.96^((t+1) psi)), in the numerator and in 1 - P_t * mu_{t+1}."),
        mistake_variant(_nadam, "no_bias_correction",
                        "Correct the second moment before the square root: v_hat = v_t / (1 - beta2^t)."),
        mistake_variant(_nadam, "eps_inside_sqrt",
                        "epsilon is added after the square root: sqrt(v_hat) + eps, not sqrt(v_hat + eps)."),
        _state_not_kept(nadam_reference, "m_t, v_t and the product of the mu's carry over from step to step: they ",
                        "exp_avg"),
    ),
    output_names=_OUTPUT_NAMES,
))
