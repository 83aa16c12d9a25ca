"""LARS: layer-wise adaptive rate scaling, for training with very large batches."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_number

__all__ = ["LARS", "lars_step", "norm"]


def norm(x: np.ndarray) -> float:
    """The Euclidean norm of a whole tensor, summed in float64 (as the kernels sum it)."""
    return math.sqrt(float(np.sum(np.square(x, dtype=np.float64)))) if np.size(x) else 0.0


def lars_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float,
              momentum: float = 0.9, weight_decay: float = 0, trust_coefficient: float = 0.001,
              eps: float = 1e-8, nesterov: bool = False, lars_exclude: bool = False,
              maximize: bool = False) -> dict[str, Any]:
    """One step of `LARS` for one parameter (one "layer"), as the docstring writes it; returns its terms.

    ``state`` holds ``'momentum_buffer'`` (b_{t-1}) from step 2 on (with momentum) and is updated in place.
    """
    g_t = -g if maximize else g
    terms: dict[str, Any] = {"g_t": g_t}
    if lars_exclude:  # plain momentum SGD for this group: no trust ratio, no weight decay
        local_lr = 1.0
        u_t = g_t
    else:
        w_norm = terms["w_norm"] = norm(theta)
        g_norm = terms["g_norm"] = norm(g_t)
        local_lr = 1.0
        if w_norm > 0 and g_norm > 0:
            local_lr = trust_coefficient * w_norm / (g_norm + weight_decay * w_norm + eps)
        u_t = local_lr * (g_t + weight_decay * theta)
    terms.update(local_lr=local_lr, u_t=u_t)
    d_t = u_t
    if momentum != 0:
        b_t = u_t if t == 1 else momentum * state["momentum_buffer"] + u_t
        state["momentum_buffer"] = terms["b_t"] = b_t
        d_t = terms["d_t"] = u_t + momentum * b_t if nesterov else b_t
    update = lr * d_t
    return {**terms, "update": update, "theta": theta - update}


class LARS(Optimizer):
    r"""LARS (Layer-wise Adaptive Rate Scaling): SGD with momentum, each tensor's step scaled by its trust ratio.

    With a very large batch the learning rate must grow with it, and a single
    rate that suits one layer makes another (whose gradients are large compared
    with its weights) diverge. LARS gives each tensor (a "layer") its own local
    learning rate, proportional to ||theta|| / ||g||, so that every layer's step
    is the same small fraction (about eta) of its weights' size.

    With ``lr`` = gamma, ``momentum`` = mu, ``trust_coefficient`` = eta,
    ``weight_decay`` = lambda and ``eps`` = epsilon, each step with gradient g_t
    of a tensor theta does::

        g_t      <- -g_t                                         if maximize
        w_norm   =  ||theta||                                    Euclidean norms of the whole tensor
        g_norm   =  ||g_t||
        local_lr =  eta * w_norm / (g_norm + lambda * w_norm + epsilon)    the trust ratio (1 if a norm is 0)
        u_t      =  local_lr * (g_t + lambda * theta)
        b_t      =  u_t                                          on the first step
        b_t      =  mu * b_{t-1} + u_t                           afterwards
        d_t      =  u_t + mu * b_t   if nesterov,  else  b_t     (if momentum; else d_t = u_t)
        theta    <- theta - gamma * d_t

    A tensor whose weights or gradient are all zero gets local_lr = 1 (as in
    torchlars, NVIDIA apex's LARC and timm), so that zero-initialised tensors
    can start moving. Biases and normalization weights are commonly left out
    of both the adaptation and the weight decay (SimCLR, Chen et al. 2020; BYOL,
    Grill et al. 2020): put them in a parameter group with
    ``lars_exclude=True`` and that group takes plain momentum steps,
    u_t = g_t (local_lr = 1, lambda = 0)::

        decay, plain = [], []
        for p in model.parameters():
            (plain if p.ndim <= 1 else decay).append(p)
        opt = LARS([{"params": decay}, {"params": plain, "lars_exclude": True}], lr=1.0, weight_decay=5e-4)

    Conventions (there is no ``torch.optim.LARS``): the momentum is kept on the
    scaled gradients and gamma applied after, as PyTorch's SGD does (and
    torchlars, apex's LARC and timm's ``Lars``, which scale the gradient and then
    take an SGD step); You et al.'s Algorithm 1 puts gamma_t inside the
    momentum, v_t = mu v_{t-1} + gamma_t u_t. The two are the same steps while
    gamma is constant, and differ only while a schedule changes it. LARS keeps
    one value per parameter (with momentum), as SGD with momentum. `lars_step`
    is this rule for one parameter in plain NumPy; the kernel ``kernels.lars`` is
    tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: the global learning rate gamma (no default: LARS rates are large,
            e.g. 1 to 10 and more, with warm-up).
        momentum: momentum factor mu (default 0.9; 0 for none).
        weight_decay: L2 penalty lambda, added to the gradient and counted in
            the trust ratio (default 0).
        trust_coefficient: eta, the fraction of ||theta|| one step moves a
            layer by, before gamma (default 0.001).
        eps: epsilon in the trust ratio's denominator (default 1e-8).
        nesterov: Nesterov momentum (needs momentum > 0).
        lars_exclude: take plain momentum steps (no trust ratio, no weight
            decay); meant as a per-group flag for biases and normalization weights.
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([3.0, 4.0], requires_grad=True)
        >>> opt = tg.optim.LARS([w], lr=1.0, trust_coefficient=0.01)
        >>> (w ** 2).sum().backward(); opt.step()   # ||w|| = 5, ||g|| = 10: the step is 0.01 * ||w|| = 0.05 long
        >>> [round(x, 4) for x in w.tolist()]
        [2.97, 3.96]

    Reference: You, Gitman & Ginsburg, "Large Batch Training of Convolutional
    Networks", arXiv:1708.03888, 2017 (Algorithm 1).
    """

    kernel = "lars"
    rule = staticmethod(lars_step)

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.9, weight_decay: float = 0,
                 trust_coefficient: float = 0.001, eps: float = 1e-8, nesterov: bool = False, *,
                 lars_exclude: bool = False, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient,
                        eps=eps, nesterov=nesterov, lars_exclude=lars_exclude, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("momentum", group["momentum"])
        check_number("weight_decay", group["weight_decay"])
        check_number("trust_coefficient", group["trust_coefficient"], low_open=True)
        check_number("eps", group["eps"])
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError(f"Nesterov momentum requires momentum > 0, got momentum={group['momentum']}")

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"momentum_buffer": p.shape} if group["momentum"] != 0 else {}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        buffer = flat.state.get("momentum_buffer", flat.empty)
        if group["momentum"] != 0 and buffer.size != flat.param.size:
            raise ValueError("momentum was switched on after the first step; build a new LARS to use momentum")
        flat.kernel("lars")(flat.param, flat.grad, buffer, flat.chunks, active, flat.steps, group["lr"],
                            group["momentum"], group["weight_decay"], group["trust_coefficient"], group["eps"],
                            bool(group["nesterov"]), bool(group["lars_exclude"]), bool(group["maximize"]))
