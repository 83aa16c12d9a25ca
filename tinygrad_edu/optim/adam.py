"""Adam and AdamW."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_betas, check_number

__all__ = ["Adam", "AdamW", "adam_step", "adamw_step"]


def adam_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-3,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
              amsgrad: bool = False, maximize: bool = False, decoupled: bool = False) -> dict[str, Any]:
    """One step of `Adam` (or, ``decoupled``, `AdamW`) for one parameter, as the docstrings write it.

    ``state`` holds ``'exp_avg'`` (m), ``'exp_avg_sq'`` (v) and, with amsgrad,
    ``'max_exp_avg_sq'`` (zero if absent) and is updated in place. Returns the terms.
    """
    beta1, beta2 = betas
    terms = {}
    g_t = -g if maximize else g
    if decoupled:
        theta = terms["theta_decayed"] = theta * (1 - lr * weight_decay)
    elif weight_decay != 0:
        g_t = g_t + weight_decay * theta
    m_t = beta1 * state.get("exp_avg", 0) + (1 - beta1) * g_t
    v_t = beta2 * state.get("exp_avg_sq", 0) + (1 - beta2) * g_t * g_t
    state["exp_avg"], state["exp_avg_sq"] = m_t, v_t
    terms.update(g_t=g_t, m_t=m_t, v_t=v_t)
    if amsgrad:
        v_t = terms["v_max"] = np.maximum(state.get("max_exp_avg_sq", 0), v_t)
        state["max_exp_avg_sq"] = v_t
    m_hat = m_t / (1 - beta1**t)
    v_hat = v_t / (1 - beta2**t)
    update = lr * m_hat / (np.sqrt(v_hat) + eps)
    return {**terms, "m_hat": m_hat, "v_hat": v_hat, "update": update, "theta": theta - update}


def adamw_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, **hyperparameters: Any
               ) -> dict[str, Any]:
    """One step of `AdamW` for one parameter: `adam_step` with decoupled weight decay.

    Takes `AdamW`'s defaults, so ``weight_decay`` is 1e-2 unless given (``adam_step``'s is 0).
    """
    hyperparameters.setdefault("weight_decay", 1e-2)
    return adam_step(theta, g, state, t, decoupled=True, **hyperparameters)


class Adam(Optimizer):
    r"""Adam, exactly as ``torch.optim.Adam`` (L2 weight decay added to the gradient).

    With ``lr`` = alpha, ``betas`` = (beta1, beta2), ``eps`` = epsilon and
    ``weight_decay`` = lambda, starting from m_0 = v_0 = 0, step t does::

        g_t   <- g_t + lambda * theta                      if weight_decay
        m_t   =  beta1 * m_{t-1} + (1 - beta1) * g_t       first moment (a momentum)
        v_t   =  beta2 * v_{t-1} + (1 - beta2) * g_t^2     second moment (as RMSprop)
        m_hat =  m_t / (1 - beta1^t)                       bias corrections: m, v start at 0
        v_hat =  v_t / (1 - beta2^t)
        theta <- theta - alpha * m_hat / (sqrt(v_hat) + epsilon)

    With ``amsgrad``, v_hat uses the running maximum of v_t instead. Adam keeps
    two values per parameter (m and v): its state is twice the model's size.
    `adam_step` is this rule for one parameter in plain NumPy; the kernel
    ``kernels.adam`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate alpha (default 1e-3).
        betas: (beta1, beta2), each in [0, 1) (default (0.9, 0.999)).
        eps: epsilon, added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty lambda, coupled: scaled by the adaptive step
            like the gradient (use `AdamW` for decoupled decay).
        amsgrad: use the maximum of past second moments (Reddi et al., 2018).
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.Adam([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()   # the first step moves by about lr
        >>> round(w.item(), 4)
        4.9

    Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """

    kernel = "adam"
    rule = staticmethod(adam_step)
    decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("eps", group["eps"])
        check_betas(group["betas"])
        check_number("weight_decay", group["weight_decay"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        shapes = {"exp_avg": p.shape, "exp_avg_sq": p.shape}
        if group["amsgrad"]:
            shapes["max_exp_avg_sq"] = p.shape
        return shapes

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        state = flat.state
        amsgrad = bool(group["amsgrad"])
        if amsgrad and "max_exp_avg_sq" not in state:
            raise ValueError("amsgrad was switched on after the first step; build a new optimizer to use it")
        beta1, beta2 = group["betas"]
        flat.kernel("adam")(flat.param, flat.grad, state["exp_avg"], state["exp_avg_sq"],
                            state.get("max_exp_avg_sq", flat.empty), flat.chunks, active, flat.steps,
                            group["lr"], beta1, beta2, group["eps"], group["weight_decay"], self.decoupled,
                            amsgrad, bool(group["maximize"]))


class AdamW(Adam):
    r"""Adam with decoupled weight decay, exactly as ``torch.optim.AdamW``.

    The same moments as `Adam`, but the decay shrinks the weights directly
    instead of entering the gradient (where Adam's adaptive scaling would
    weaken it for parameters with large gradients)::

        theta <- theta * (1 - alpha * lambda)
        m_t, v_t, m_hat, v_hat as in Adam (from the plain gradient)
        theta <- theta - alpha * m_hat / (sqrt(v_hat) + epsilon)

    Args:
        params, lr, betas, eps, amsgrad, maximize: as `Adam`.
        weight_decay: the decoupled decay lambda (default 1e-2).

    Example:
        >>> import tinygrad_edu as tg
        >>> model = tg.nn.Linear(1, 1)
        >>> opt = tg.optim.AdamW(model.parameters(), lr=0.01)

    Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """

    rule = staticmethod(adamw_step)
    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
