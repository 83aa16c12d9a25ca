"""RMSprop: gradient descent with per-parameter step sizes from a running mean of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_number

__all__ = ["RMSprop", "rmsprop_step"]


def rmsprop_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, maximize: bool = False) -> dict[str, Any]:
    """One step of `RMSprop` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'square_avg'`` (s), ``'grad_avg'`` (g_bar, if centered) and
    ``'momentum_buffer'`` (b, if momentum), zero if absent, and is updated in place.
    """
    g_t = -g if maximize else g
    if weight_decay != 0:
        g_t = g_t + weight_decay * theta
    s_t = alpha * state.get("square_avg", 0) + (1 - alpha) * g_t * g_t
    state["square_avg"] = s_t
    terms = {"g_t": g_t, "s_t": s_t}
    v_t = s_t
    if centered:
        g_bar = alpha * state.get("grad_avg", 0) + (1 - alpha) * g_t
        state["grad_avg"] = terms["g_bar"] = g_bar
        v_t = terms["v_t"] = s_t - g_bar * g_bar
    if momentum > 0:
        b_t = momentum * state.get("momentum_buffer", 0) + g_t / (np.sqrt(v_t) + eps)
        state["momentum_buffer"] = terms["b_t"] = b_t
        update = lr * b_t
    else:
        update = lr * g_t / (np.sqrt(v_t) + eps)
    return {**terms, "update": update, "theta": theta - update}


class RMSprop(Optimizer):
    r"""RMSprop, exactly as ``torch.optim.RMSprop``.

    With ``lr`` = eta, ``alpha`` = alpha (the sources' rho), ``eps`` = epsilon,
    ``weight_decay`` = lambda and ``momentum`` = mu, starting from
    s_0 = g_bar_0 = b_0 = 0, each step with gradient g_t does::

        g_t   <- -g_t                                        if maximize
        g_t   <- g_t + lambda * theta                        if weight_decay
        s_t   =  alpha * s_{t-1} + (1 - alpha) * g_t^2       running mean of g^2
        g_bar =  alpha * g_bar + (1 - alpha) * g_t           if centered (running mean of g)
        v_t   =  s_t - g_bar^2   if centered,  else  s_t     (a variance estimate)
        b_t   =  mu * b_{t-1} + g_t / (sqrt(v_t) + epsilon)  if momentum
        theta <- theta - eta * b_t                           if momentum
        theta <- theta - eta * g_t / (sqrt(v_t) + epsilon)   otherwise

    Dividing by the root of the recent squared gradients gives every parameter
    a step of about eta, however large or small its gradient: steep directions
    are damped and flat ones sped up. Unlike Adagrad's ever-growing sum, the
    running mean forgets old gradients, so the step size does not shrink to
    nothing. The state is s (and g_bar if centered, b if momentum): one to
    three values per parameter. `rmsprop_step` is this rule for one parameter
    in plain NumPy; the kernel ``kernels.rmsprop`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate eta (default 1e-2).
        alpha: smoothing constant of the running means, in [0, 1] (default 0.99).
        eps: epsilon, added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty lambda, added to the gradient (default 0).
        momentum: momentum factor mu (default 0).
        centered: divide by an estimate of the gradient's variance
            (s - g_bar^2) instead of its raw second moment.
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.RMSprop([w], lr=0.01)
        >>> (w ** 2).sum().backward(); opt.step()   # s = 0.01 * 10^2 = 1, w <- 5 - 0.01 * 10 / 1
        >>> round(w.item(), 6)
        4.9

    Reference: Hinton, Srivastava & Swersky, "Neural Networks for Machine
    Learning", lecture 6e (2012); the centered form from Graves, "Generating
    Sequences With Recurrent Neural Networks", 2013.
    """

    kernel = "rmsprop"
    rule = staticmethod(rmsprop_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("alpha", group["alpha"], 0.0, 1.0)
        check_number("eps", group["eps"])
        check_number("weight_decay", group["weight_decay"])
        check_number("momentum", group["momentum"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        # As PyTorch: the buffers of momentum and centering exist only when those are on.
        shapes = {"square_avg": p.shape}
        if group["momentum"] > 0:
            shapes["momentum_buffer"] = p.shape
        if group["centered"]:
            shapes["grad_avg"] = p.shape
        return shapes

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        state = flat.state
        momentum, centered = group["momentum"], bool(group["centered"])
        if momentum > 0 and "momentum_buffer" not in state:
            raise ValueError("momentum was switched on after the first step; build a new RMSprop to use momentum")
        if centered and "grad_avg" not in state:
            raise ValueError("centered was switched on after the first step; build a new RMSprop to use it")
        empty = flat.empty
        flat.kernel("rmsprop")(flat.param, flat.grad, state["square_avg"], state.get("grad_avg", empty),
                               state.get("momentum_buffer", empty), flat.chunks, active, flat.steps,
                               float(group["lr"]), float(group["alpha"]), float(group["eps"]),
                               float(group["weight_decay"]), float(momentum), centered, bool(group["maximize"]))
