"""Stochastic gradient descent, and momentum in its textbook form."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_number

__all__ = ["SGD", "Momentum", "sgd_step", "momentum_step"]


def sgd_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-3,
             momentum: float = 0, dampening: float = 0, weight_decay: float = 0, nesterov: bool = False,
             maximize: bool = False) -> dict[str, Any]:
    """One step of `SGD` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'momentum_buffer'`` (b_{t-1}) from step 2 on and is updated in place.
    """
    g_t = -g if maximize else g
    if weight_decay != 0:
        g_t = g_t + weight_decay * theta
    terms = {"g_t": g_t}
    d_t = g_t
    if momentum != 0:
        b_t = g_t if t == 1 else momentum * state["momentum_buffer"] + (1 - dampening) * g_t
        state["momentum_buffer"] = terms["b_t"] = b_t
        d_t = terms["d_t"] = g_t + momentum * b_t if nesterov else b_t
    update = lr * d_t
    return {**terms, "update": update, "theta": theta - update}


def momentum_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float,
                  beta: float = 0.9) -> dict[str, Any]:
    """One step of `Momentum` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'velocity'`` (v_{t-1}, zero if absent) and is updated in place.
    """
    v_t = beta * state.get("velocity", 0) + (1 - beta) * g
    state["velocity"] = v_t
    update = lr * v_t
    return {"g_t": g, "v_t": v_t, "update": update, "theta": theta - update}


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum, exactly as ``torch.optim.SGD``.

    With ``lr`` = eta, ``momentum`` = mu, ``dampening`` = tau and
    ``weight_decay`` = lambda, each step with gradient g_t does::

        g_t   <- -g_t                                  if maximize
        g_t   <- g_t + lambda * theta                  if weight_decay
        b_t   =  g_t                                   on the first step
        b_t   =  mu * b_{t-1} + (1 - tau) * g_t        afterwards
        d_t   =  g_t + mu * b_t   if nesterov,  else  b_t          (if momentum; else d_t = g_t)
        theta <- theta - eta * d_t

    With ``momentum=0`` this is plain gradient descent, theta <- theta - eta * grad,
    the update rule the sources start from. `sgd_step` is this rule for one
    parameter in plain NumPy; the kernel ``kernels.sgd`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate eta (default 1e-3).
        momentum: momentum factor mu (default 0).
        dampening: dampening tau of the momentum (default 0).
        weight_decay: L2 penalty lambda, added to the gradient (default 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.SGD([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()   # w <- 5 - 0.1 * 10
        >>> round(w.item(), 6)
        4.0

    Reference: Sutskever et al., "On the importance of initialization and
    momentum in deep learning", ICML 2013 (the momentum form PyTorch uses).
    """

    kernel = "sgd"
    rule = staticmethod(sgd_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("momentum", group["momentum"])
        check_number("weight_decay", group["weight_decay"])
        check_number("dampening", group["dampening"], low=-np.inf)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"Nesterov momentum requires momentum > 0 and zero dampening, got momentum={group['momentum']}, "
                f"dampening={group['dampening']}"
            )

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"momentum_buffer": p.shape} if group["momentum"] != 0 else {}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        buffer = flat.state.get("momentum_buffer", flat.empty)
        if group["momentum"] != 0 and buffer.size != flat.param.size:
            raise ValueError("momentum was switched on after the first step; build a new SGD to use momentum")
        flat.kernel("sgd")(flat.param, flat.grad, buffer, flat.chunks, active, flat.steps, group["lr"],
                           group["momentum"], group["dampening"], group["weight_decay"], bool(group["nesterov"]),
                           bool(group["maximize"]))


class Momentum(Optimizer):
    r"""Gradient descent with momentum in the textbook (exponential moving average) form.

    With ``lr`` = alpha and ``beta`` = beta, starting from v_0 = 0::

        v_t   = beta * v_{t-1} + (1 - beta) * g_t
        theta = theta - alpha * v_t

    The velocity v is an average of recent gradients: steps that agree add up
    (faster along a ravine's floor) and steps that zig-zag across it cancel.
    PyTorch's ``SGD(momentum=mu)`` differs in two ways: it does not scale the
    gradient by (1 - mu), and its first step copies the gradient. `momentum_step`
    is this rule in plain NumPy.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate alpha.
        beta: the averaging factor, in [0, 1) (default 0.9).

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.Momentum([w], lr=0.1, beta=0.9)
        >>> (w ** 2).sum().backward(); opt.step()   # v = 0.1 * 10 = 1, w <- 5 - 0.1 * 1
        >>> round(w.item(), 6)
        4.9

    Reference: Polyak, "Some methods of speeding up the convergence of
    iteration methods", 1964; the EMA form as taught by Ng's Deep Learning course.
    """

    kernel = "momentum"
    rule = staticmethod(momentum_step)

    def __init__(self, params: Iterable[Any], lr: float, beta: float = 0.9) -> None:
        super().__init__(params, dict(lr=lr, beta=beta))

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("beta", group["beta"], 0.0, 1.0, high_open=True)

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"velocity": p.shape}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        flat.kernel("momentum")(flat.param, flat.grad, flat.state["velocity"], flat.chunks, active, flat.steps,
                                group["lr"], group["beta"])
