"""Each optimizer's readable rule (``cls.rule``, the docstring's math in NumPy) as a lock-step reference.

The tests compare the numba kernels against PyTorch and against these rules; the
rules themselves live beside their optimizers (``optim/adam.py``'s `adam_step`,
...), so the tests keep no copy of any update formula.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import numpy as np

import tinygrad_edu as tg

LR = 0.01


def flag_grid(cls: type):  # noqa: ANN201
    """Every valid combination of ``cls``'s flags: booleans both ways, zero-default numbers also at 0.1.

    Read from the constructor's signature, so an optimizer added to the registry is covered as it is.
    """
    axes = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        default = parameter.default
        if name in ("self", "params", "lr"):
            continue
        if isinstance(default, bool):
            axes[name] = [False, True]
        elif isinstance(default, (int, float)) and default == 0:
            axes[name] = [0.0, 0.1]
    for values in itertools.product(*axes.values()):
        kwargs = dict(zip(axes, values), lr=LR)
        try:
            cls([tg.tensor([1.0], requires_grad=True)], **kwargs)
        except ValueError:
            continue  # (e.g. nesterov without momentum)
        yield kwargs


def hyperparameters(cls: type, **kwargs: Any) -> dict[str, Any]:
    """Every hyperparameter of ``cls`` (its defaults, overridden by ``kwargs``), as a parameter group holds them."""
    group = cls([tg.tensor([1.0], requires_grad=True)], **kwargs).param_groups[0]
    return {k: v for k, v in group.items() if k != "params"}


def rule_reference(cls: type):  # noqa: ANN201
    """``reference(theta, g, state, **kwargs) -> new theta``: one step of ``cls.rule``, counting t in ``state``."""

    def reference(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], **kwargs: Any) -> np.ndarray:
        t = state["t"] = state.get("t", 0) + 1
        rule_state = state.setdefault("rule", {})
        return cls.rule(np.asarray(theta), np.asarray(g, np.asarray(theta).dtype), rule_state, t,
                        **hyperparameters(cls, **kwargs))["theta"]

    return reference


class RuleReference:
    """A list of NumPy parameters stepped by ``cls.rule`` (``step(grads)``, a ``None`` gradient skips one)."""

    def __init__(self, cls: type, theta: list[np.ndarray], dtype: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.theta = [np.array(t, dtype=dtype) for t in theta]
        self.states: list[dict[str, Any]] = [{} for _ in self.theta]
        self.t = [0] * len(self.theta)
        self.hyperparameters = hyperparameters(cls, **kwargs)

    def step(self, grads: list[np.ndarray | None]) -> None:
        for i, g in enumerate(grads):
            if g is None:
                continue
            self.t[i] += 1
            g = np.asarray(g, dtype=self.theta[i].dtype)
            self.theta[i] = self.cls.rule(self.theta[i], g, self.states[i], self.t[i], **self.hyperparameters)["theta"]
