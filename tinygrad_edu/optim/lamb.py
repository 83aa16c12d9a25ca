"""LAMB: layer-wise adaptive moments, Adam's direction with LARS's trust ratio."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .lars import norm
from .optimizer import FlatGroup, Optimizer, check_betas, check_number

__all__ = ["LAMB", "lamb_step"]


def lamb_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-3,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0,
              bias_correction: bool = True, maximize: bool = False) -> dict[str, Any]:
    """One step of `LAMB` for one parameter (one "layer"), as the docstring writes it; returns its terms.

    ``state`` holds ``'exp_avg'`` (m) and ``'exp_avg_sq'`` (v), zero if absent, and is updated in place.
    """
    beta1, beta2 = betas
    g_t = -g if maximize else g
    m_t = beta1 * state.get("exp_avg", 0) + (1 - beta1) * g_t
    v_t = beta2 * state.get("exp_avg_sq", 0) + (1 - beta2) * g_t * g_t
    state["exp_avg"], state["exp_avg_sq"] = m_t, v_t
    m_hat = m_t / (1 - beta1**t) if bias_correction else m_t / 1.0
    v_hat = v_t / (1 - beta2**t) if bias_correction else v_t / 1.0
    r_t = m_hat / (np.sqrt(v_hat) + eps)
    u_t = r_t + weight_decay * theta
    w_norm, u_norm = norm(theta), norm(u_t)
    trust_ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
    update = (lr * trust_ratio) * u_t
    return {"g_t": g_t, "m_t": m_t, "v_t": v_t, "m_hat": m_hat, "v_hat": v_hat, "r_t": r_t, "u_t": u_t,
            "w_norm": w_norm, "u_norm": u_norm, "trust_ratio": trust_ratio, "update": update,
            "theta": theta - update}


class LAMB(Optimizer):
    r"""LAMB (Layer-wise Adaptive Moments for Batch training): Adam's step, rescaled per tensor to ||theta||.

    LARS's idea on top of AdamW: Adam's direction r_t (with decoupled weight
    decay) is rescaled for each tensor (a "layer") so that its length is
    ||theta||, times the learning rate. Each layer then moves by the same
    fraction gamma of its weights' size, whatever the scale of its gradients:
    what let You et al. train BERT with batches of 32k-64k.

    With ``lr`` = gamma, ``betas`` = (beta1, beta2), ``eps`` = epsilon and
    ``weight_decay`` = lambda, starting from m_0 = v_0 = 0, step t with gradient
    g_t of a tensor theta does (Algorithm 2 of the paper, with phi the identity)::

        g_t         <- -g_t                                      if maximize
        m_t         =  beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t         =  beta2 * v_{t-1} + (1 - beta2) * g_t^2
        m_hat       =  m_t / (1 - beta1^t)                       bias corrections (none without bias_correction)
        v_hat       =  v_t / (1 - beta2^t)
        r_t         =  m_hat / (sqrt(v_hat) + epsilon)           Adam's direction
        u_t         =  r_t + lambda * theta                      with decoupled weight decay
        w_norm      =  ||theta||                                 Euclidean norms of the whole tensor
        u_norm      =  ||u_t||
        trust_ratio =  w_norm / u_norm                           1 if either norm is 0
        theta       <- theta - gamma * trust_ratio * u_t

    The step of each tensor is therefore gamma * ||theta|| long (or gamma *
    ||u_t|| for a zero tensor). Conventions (there is no ``torch.optim.LAMB``):
    as optax's ``lamb``, the paper's scaling function phi is the identity and
    the trust ratio is 1 where a norm is 0; NVIDIA apex's FusedLAMB also clips
    the global gradient norm first (``max_grad_norm``), which is left to
    ``nn.utils.clip_grad_norm_`` here. LAMB keeps two values per parameter, as
    Adam. `lamb_step` is this rule for one parameter in plain NumPy; the kernel
    ``kernels.lamb`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate gamma (default 1e-3).
        betas: (beta1, beta2), each in [0, 1) (default (0.9, 0.999)).
        eps: epsilon, added to the denominator (default 1e-6, as the paper's BERT runs).
        weight_decay: decoupled decay lambda, inside the trust ratio (default 0).
        bias_correction: divide the moments by 1 - beta^t (default True, as
            Algorithm 2; the first version of the paper had none).
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([3.0, 4.0], requires_grad=True)
        >>> opt = tg.optim.LAMB([w], lr=0.01)
        >>> (w ** 2).sum().backward(); opt.step()   # u = [1, 1] (Adam's first step): rescaled to 0.01 * ||w||
        >>> [round(x, 4) for x in w.tolist()]
        [2.9646, 3.9646]

    Reference: You et al., "Large Batch Optimization for Deep Learning:
    Training BERT in 76 minutes", ICLR 2020 (Algorithm 2).
    """

    kernel = "lamb"
    rule = staticmethod(lamb_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0, *, bias_correction: bool = True,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, bias_correction=bias_correction, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_betas(group["betas"])
        check_number("eps", group["eps"])
        check_number("weight_decay", group["weight_decay"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"exp_avg": p.shape, "exp_avg_sq": p.shape}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        beta1, beta2 = group["betas"]
        flat.kernel("lamb")(flat.param, flat.grad, flat.state["exp_avg"], flat.state["exp_avg_sq"], flat.chunks,
                            active, flat.steps, group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                            bool(group["bias_correction"]), bool(group["maximize"]))
