"""Step explanations: the last update of one parameter, term by term, with its numbers.

An optimizer's docstring states its update rule; its kernel carries it out on
flat buffers, all parameters at once, and leaves only the new values behind.
`explain_step` shows the rule happening for one parameter::

    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    opt.record()                      # from now on, each step keeps what it starts from
    loss.backward(); opt.step()
    print(opt.explain(model.weight))  # g_t, m_t, v_t, bias corrections, step size, update, theta

Recording: the numbers of a step are recomputed from the values the step
started with (the parameter, its gradient, the optimizer's state and step
count), so ``step()`` must keep a copy of those. It does so only while
recording is on (``optimizer.record()``, or ``with optimizer.record(): ...``
for one block); otherwise a step pays a single boolean check per parameter
group and nothing else. The recomputation repeats the kernel's arithmetic in
the same order and dtype, so its ``theta_after`` equals the parameter after
the real step bit for bit; the docstring's intermediate symbols (m_hat, v_hat)
are shown as well, computed as the docstring writes them.

Covered: `SGD` (momentum, dampening, Nesterov, weight decay, maximize),
`Momentum`, `RMSprop` (centered, momentum, weight decay), `Adagrad`, `Adam`
and `AdamW` (with AMSGrad), `NAdam` (mu_t, mu_{t+1}, their running product,
coupled or decoupled decay), `RAdam` (rho_t, the rectification or the plain
momentum step), `Lion` and `Adafactor` (factored row and column statistics,
relative step size, update clipping). Others say they are not explained yet.
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._display import FULL_SIZE, format_value, html_table, text_table

__all__ = ["explain_step", "UpdateExplanation", "Term", "Recording", "StepRecord", "remember_step", "EXPLAINERS"]


# ---------------------------------------------------------------------------
# What a recorded step keeps
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    """Copies of what one step of one flat group started from (see `remember_step`)."""

    hyperparameters: dict[str, Any]
    param: np.ndarray
    grad: np.ndarray
    state: dict[str, np.ndarray]
    steps: np.ndarray
    active: np.ndarray


def remember_step(optimizer: Any, group: dict[str, Any], flat: Any, active: np.ndarray) -> None:
    """Keep copies of ``flat``'s values, gradients, state and step counts before its update (while recording)."""
    records = optimizer.__dict__.setdefault("_step_records", {})
    records[id(flat)] = StepRecord(
        hyperparameters={k: v for k, v in group.items() if k != "params"},
        param=flat.param.copy(), grad=flat.grad.copy(),
        state={name: buffer.copy() for name, buffer in flat.state.items()},
        steps=flat.steps.copy(), active=active.copy())


class Recording:
    """The switch `Optimizer.record` returns: on at once; as a context manager, restored on exit."""

    def __init__(self, optimizer: Any, enabled: bool) -> None:
        self.optimizer = optimizer
        self.previous = optimizer._recording
        optimizer._recording = bool(enabled)

    def __enter__(self) -> Any:
        return self.optimizer

    def __exit__(self, *exc: object) -> None:
        self.optimizer._recording = self.previous


# ---------------------------------------------------------------------------
# The explanation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One term of an update: its symbol in the docstring, how it is computed, and its value.

    ``value`` is an array of the parameter's shape, or a number for terms
    shared by the whole parameter (learning rate, bias corrections).
    """

    key: str
    symbol: str
    formula: str
    value: Any
    meaning: str = ""


def _docstring_rule(cls: type) -> list[str]:
    """The update rule block (the ``::`` literal block) of an optimizer's docstring."""
    lines = (inspect.getdoc(cls) or "").splitlines()
    for k, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            block = []
            for body in lines[k + 1:]:
                if body.strip() and not body.startswith(" "):
                    break
                block.append(body.rstrip())
            return [line for line in block if line.strip()]
    return []


class UpdateExplanation:
    """The last update of one parameter, term by term: ``print`` it, or read the terms.

    ``explanation["m_t"]``-style access goes by a term's key (see ``keys()``);
    ``theta_before``, ``update`` and ``theta_after`` are always there, with
    ``theta_after`` equal to the parameter after the step.

    Arrays of at most ``FULL_SIZE`` elements are printed in full; for a larger
    parameter the table shows one element (``element``, by default the one that
    moved most) beside each term's shape, mean and norm.

    Attributes:
        optimizer: the optimizer's class name; ``label`` the parameter's name;
        shape: the parameter's shape; ``step`` the step number t of the update;
        hyperparameters: the group's hyperparameters used by the step;
        terms: the `Term` list, in the order the rule computes them;
        element: the element shown for a large parameter (a tuple index) or None;
        rule: the update rule as the optimizer's docstring writes it.
    """

    def __init__(self, optimizer: str, label: str, shape: tuple[int, ...], step: int,
                 hyperparameters: dict[str, Any], terms: list[Term], rule: list[str],
                 element: Any = None) -> None:
        self.optimizer = optimizer
        self.label = label
        self.shape = shape
        self.step = step
        self.hyperparameters = hyperparameters
        self.terms = terms
        self.rule = rule
        self._by_key = {term.key: term for term in terms}
        size = int(np.prod(shape)) if shape else 1
        if element is None and size > FULL_SIZE:
            element = int(np.argmax(np.abs(np.asarray(self.theta_after, np.float64) -
                                           np.asarray(self.theta_before, np.float64)).ravel()))
        if element is not None:
            try:
                element = np.unravel_index(element, shape) if isinstance(element, (int, np.integer)) \
                    else tuple(element)
                np.zeros(shape)[element]  # raises IndexError when out of range
            except (IndexError, ValueError, TypeError) as err:
                raise IndexError(f"element {element!r} is not an index of a parameter of shape {shape}") from err
            element = tuple(int(k) for k in element)
        self.element = element

    def __getitem__(self, key: str) -> Any:
        try:
            return self._by_key[key].value
        except KeyError:
            raise KeyError(f"no term {key!r} in this {self.optimizer} step; terms: {list(self._by_key)}") from None

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def keys(self) -> list[str]:
        """The keys of the terms, in order."""
        return list(self._by_key)

    @property
    def theta_before(self) -> np.ndarray:
        """The parameter before the step."""
        return self["theta_before"]

    @property
    def update(self) -> np.ndarray:
        """What the step subtracted (after any decoupled decay): theta_after = theta - update."""
        return self["update"]

    @property
    def theta_after(self) -> np.ndarray:
        """The parameter after the step (equal to the parameter itself, right after ``step()``)."""
        return self["theta_after"]

    def _show(self, value: Any) -> str:
        if self.element is None or np.ndim(value) == 0:
            return format_value(value)
        try:  # a factored statistic (Adafactor's R, C) is shown at the element's row or column
            at = format_value(np.broadcast_to(np.asarray(value), self.shape)[self.element])
        except ValueError:
            return format_value(value)
        return f"{at}   ({format_value(value)})" if np.size(value) > FULL_SIZE else at

    def _rows(self) -> list[list[str]]:
        return [[term.symbol, term.formula, self._show(term.value), term.meaning] for term in self.terms]

    def _title(self) -> str:
        hyper = ", ".join(f"{k}={v}" for k, v in self.hyperparameters.items())
        where = f", element {list(self.element)}" if self.element is not None else ""
        return f"{self.optimizer}, step t = {self.step}, parameter {self.label} (shape {self.shape}{where}); {hyper}"

    def __str__(self) -> str:
        lines = [self._title()]
        if self.rule:
            lines += ["The rule (from the docstring):", *(f"  {line.strip()}" for line in self.rule)]
        lines += ["The numbers of this step:",
                  text_table(["symbol", "computed as", "value", "meaning"], self._rows(), indent="  ")]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<UpdateExplanation: {self.optimizer} step {self.step} of {self.label}; print() it for the table>"

    def _repr_html_(self) -> str:
        rule = "<pre>" + html.escape("\n".join(line.strip() for line in self.rule)) + "</pre>" if self.rule else ""
        return rule + html_table(["symbol", "computed as", "value", "meaning"], self._rows(), caption=self._title())


# ---------------------------------------------------------------------------
# One function per update rule: the kernel's arithmetic, term by term
# ---------------------------------------------------------------------------
# Each repeats its kernel in kernels.py in the same order and dtype (``dtype(...)`` converts a
# hyperparameter as the kernel does), so theta_after is the kernel's result to the last bit.

Explainer = Callable[[dict[str, Any], np.ndarray, np.ndarray, dict[str, np.ndarray], int, Any, Any], list[Term]]


def _new_theta(formula: str, value: Any) -> Term:
    """The last term of every rule: the parameter after the step."""
    return Term("theta_after", "theta (new)", formula, value, "the parameter after the step")


def _gradient_terms(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, dtype: Any,
                    always_add_decay: bool) -> tuple[np.ndarray, list[Term]]:
    """g_t from the gradient: the sign for ``maximize``, then the L2 term lambda * theta."""
    terms = [Term("grad", "g_t", "p.grad", grad, "the gradient of the loss")]
    sign = dtype(-1.0 if h["maximize"] else 1.0)
    wd = dtype(h["weight_decay"])
    g = sign * grad if always_add_decay else (-grad if h["maximize"] else grad)
    if h["maximize"]:
        terms.append(Term("grad_ascent", "g_t", "-g_t", g, "maximize: climb, so the gradient's sign flips"))
    if always_add_decay or wd != 0:
        decay_term = wd * theta
        g = g + decay_term
        if wd != 0:
            terms += [Term("weight_decay_term", "lambda * theta", f"{h['weight_decay']} * theta", decay_term,
                           "L2 weight decay, added to the gradient"),
                      Term("grad_with_decay", "g_t", "g_t + lambda * theta", g, "the gradient the rule uses")]
    return g, terms


def _explain_sgd(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                 dtype: Any, optimizer: Any) -> list[Term]:
    lr, mu = dtype(h["lr"]), dtype(h["momentum"])
    one_minus_tau = dtype(1 - h["dampening"])
    g, terms = _gradient_terms(h, theta, grad, dtype, always_add_decay=False)
    terms.append(Term("lr", "eta", "lr", lr, "the learning rate"))
    if mu != 0:
        b_prev = state["momentum_buffer"]
        if t == 1:
            b = g.copy()
            terms.append(Term("momentum_buffer", "b_t", "g_t  (first step: the buffer starts as the gradient)", b,
                              "the momentum buffer"))
        else:
            b = b_prev * mu + one_minus_tau * g
            terms += [Term("momentum_buffer_before", "b_{t-1}", "state['momentum_buffer']", b_prev,
                           "the momentum buffer before the step"),
                      Term("momentum_buffer", "b_t", f"mu * b_{{t-1}} + (1 - tau) * g_t   (mu={h['momentum']}, "
                           f"tau={h['dampening']})", b, "the momentum buffer")]
        if h["nesterov"]:
            g = g + mu * b
            terms.append(Term("direction", "g_t", "g_t + mu * b_t", g, "Nesterov: look ahead along the buffer"))
        else:
            g = b
            terms.append(Term("direction", "g_t", "b_t", g, "move along the buffer"))
    update = lr * g
    return terms + [Term("update", "eta * g_t", "lr * g_t", update, "the step taken"),
                    _new_theta("theta - eta * g_t", theta - update)]


def _explain_momentum(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                      dtype: Any, optimizer: Any) -> list[Term]:
    lr, beta = dtype(h["lr"]), dtype(h["beta"])
    one_minus_beta = dtype(1) - beta
    v_prev = state["velocity"]
    v = beta * v_prev + one_minus_beta * grad
    update = lr * v
    return [Term("grad", "g_t", "p.grad", grad, "the gradient of the loss"),
            Term("lr", "alpha", "lr", lr, "the learning rate"),
            Term("velocity_before", "v_{t-1}", "state['velocity']", v_prev, "the velocity before the step (v_0 = 0)"),
            Term("velocity", "v_t", f"beta * v_{{t-1}} + (1 - beta) * g_t   (beta={h['beta']})", v,
                 "an average of recent gradients"),
            Term("update", "alpha * v_t", "lr * v_t", update, "the step taken"),
            _new_theta("theta - alpha * v_t", theta - update)]


def _explain_rmsprop(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                     dtype: Any, optimizer: Any) -> list[Term]:
    alpha, one_minus_alpha = dtype(h["alpha"]), dtype(1 - h["alpha"])
    lr, mu, eps = dtype(h["lr"]), dtype(h["momentum"]), dtype(h["eps"])
    g, terms = _gradient_terms(h, theta, grad, dtype, always_add_decay=True)
    terms.append(Term("lr", "eta", "lr", lr, "the learning rate"))
    s_prev = state["square_avg"]
    s = s_prev * alpha + one_minus_alpha * g * g
    terms += [Term("square_avg_before", "s_{t-1}", "state['square_avg']", s_prev, "running mean of g^2 before"),
              Term("square_avg", "s_t", f"alpha * s_{{t-1}} + (1 - alpha) * g_t^2   (alpha={h['alpha']})", s,
                   "running mean of g^2")]
    v = s
    if h["centered"]:
        g_bar_prev = state["grad_avg"]
        g_bar = g_bar_prev + one_minus_alpha * (g - g_bar_prev)
        v = s - g_bar * g_bar
        terms += [Term("grad_avg_before", "g_bar_{t-1}", "state['grad_avg']", g_bar_prev, "running mean of g before"),
                  Term("grad_avg", "g_bar", "alpha * g_bar + (1 - alpha) * g_t", g_bar, "running mean of g"),
                  Term("variance", "v_t", "s_t - g_bar^2", v, "a variance estimate")]
    else:
        terms.append(Term("variance", "v_t", "s_t", v, "not centered: the raw second moment"))
    denom = np.sqrt(v) + eps
    terms += [Term("denominator", "sqrt(v_t) + epsilon", f"sqrt(v_t) + {h['eps']}", denom, "the gradient's scale"),
              Term("effective_lr", "eta / (sqrt(v_t) + epsilon)", "lr / denominator", lr / denom,
                   "the per-element step size")]
    if mu > 0:
        b_prev = state["momentum_buffer"]
        b = b_prev * mu + g / denom
        update = lr * b
        terms += [Term("momentum_buffer_before", "b_{t-1}", "state['momentum_buffer']", b_prev, "the buffer before"),
                  Term("momentum_buffer", "b_t", f"mu * b_{{t-1}} + g_t / (sqrt(v_t) + epsilon)   "
                       f"(mu={h['momentum']})", b, "the momentum buffer"),
                  Term("update", "eta * b_t", "lr * b_t", update, "the step taken"),
                  _new_theta("theta - eta * b_t", theta - update)]
    else:
        update = lr * g / denom
        terms += [Term("update", "eta * g_t / (sqrt(v_t) + epsilon)", "lr * g_t / denominator", update,
                       "the step taken"),
                  _new_theta("theta - update", theta - update)]
    return terms


def _explain_adagrad(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                     dtype: Any, optimizer: Any) -> list[Term]:
    eps = dtype(h["eps"])
    g, terms = _gradient_terms(h, theta, grad, dtype, always_add_decay=True)
    clr = h["lr"] / (1 + (t - 1) * h["lr_decay"])  # in float64, as the kernel (and PyTorch)
    lr_t = dtype(clr)
    s_prev = state["sum"]
    s = s_prev + g * g
    denom = np.sqrt(s) + eps
    update = lr_t * g / denom
    return terms + [
        Term("lr_t", "eta_t", f"eta / (1 + (t - 1) * delta)   (eta={h['lr']}, delta={h['lr_decay']}, t={t})", lr_t,
             "the decayed learning rate"),
        Term("sum_before", "s_{t-1}", "state['sum']", s_prev,
             f"sum of past g^2 (s_0 = {h['initial_accumulator_value']})"),
        Term("sum", "s_t", "s_{t-1} + g_t^2", s, "sum of squared gradients: it only grows"),
        Term("denominator", "sqrt(s_t) + epsilon", f"sqrt(s_t) + {h['eps']}", denom, "the gradient's scale"),
        Term("effective_lr", "eta_t / (sqrt(s_t) + epsilon)", "eta_t / denominator", lr_t / denom,
             "the per-element step size (keeps shrinking)"),
        Term("update", "eta_t * g_t / (sqrt(s_t) + epsilon)", "eta_t * g_t / denominator", update, "the step taken"),
        _new_theta("theta - update", theta - update)]


def _explain_adam(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                  dtype: Any, optimizer: Any) -> list[Term]:
    lr = h["lr"]
    beta1, beta2 = h["betas"]
    decoupled = bool(getattr(optimizer, "decoupled", False))
    terms = [Term("theta_before", "theta", "p.data before the step", theta, "the parameter before the step"),
             Term("grad", "g_t", "p.grad", grad, "the gradient of the loss"),
             Term("lr", "alpha", "lr", dtype(lr), "the learning rate")]
    theta_decayed, g = _decay_and_gradient(h, theta, grad, dtype, decoupled, terms)
    m_prev, v_prev = state["exp_avg"], state["exp_avg_sq"]
    m = m_prev + dtype(1 - beta1) * (g - m_prev)
    v = v_prev * dtype(beta2) + dtype(1 - beta2) * g * g
    terms += [Term("exp_avg_before", "m_{t-1}", "state['exp_avg']", m_prev, "first moment before (m_0 = 0)"),
              Term("exp_avg", "m_t", f"beta1 * m_{{t-1}} + (1 - beta1) * g_t   (beta1={beta1})", m,
                   "first moment: a momentum"),
              Term("exp_avg_sq_before", "v_{t-1}", "state['exp_avg_sq']", v_prev, "second moment before (v_0 = 0)"),
              Term("exp_avg_sq", "v_t", f"beta2 * v_{{t-1}} + (1 - beta2) * g_t^2   (beta2={beta2})", v,
                   "second moment, as RMSprop's")]
    v_used = v
    if h["amsgrad"]:
        v_max_prev = state["max_exp_avg_sq"]
        v_used = np.maximum(v_max_prev, v)
        terms += [Term("max_exp_avg_sq_before", "v_max_{t-1}", "state['max_exp_avg_sq']", v_max_prev,
                       "largest second moment so far"),
                  Term("max_exp_avg_sq", "v_max_t", "max(v_max_{t-1}, v_t)", v_used, "AMSGrad: v_hat uses this")]
    bias_correction1 = 1 - beta1 ** float(t)  # t as a float, as the kernel's step count
    bias_correction2 = 1 - beta2 ** float(t)
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    denom = np.sqrt(v_used) * dtype(1 / bias_correction2_sqrt) + dtype(h["eps"])
    update = dtype(step_size) * m / denom
    v_name = "v_max_t" if h["amsgrad"] else "v_t"
    return terms + [
        Term("bias_correction1", "1 - beta1^t", f"1 - {beta1}^{t}", bias_correction1, "m started at 0: undo that"),
        Term("bias_correction2", "1 - beta2^t", f"1 - {beta2}^{t}", bias_correction2, "v started at 0: undo that"),
        Term("m_hat", "m_hat", "m_t / (1 - beta1^t)", m / dtype(bias_correction1), "the corrected first moment"),
        Term("v_hat", "v_hat", f"{v_name} / (1 - beta2^t)", v_used / dtype(bias_correction2),
             "the corrected second moment"),
        Term("step_size", "alpha / (1 - beta1^t)", f"{lr} / {bias_correction1:.6g}", step_size,
             "the effective step size (for m_t)"),
        Term("denominator", "sqrt(v_hat) + epsilon", f"sqrt({v_name}) / sqrt(1 - beta2^t) + {h['eps']}", denom,
             "the gradient's scale"),
        Term("update", "alpha * m_hat / (sqrt(v_hat) + epsilon)", "step_size * m_t / denominator", update,
             "the step taken"),
        _new_theta("theta - update", theta_decayed - update)]


def _decay_and_gradient(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, dtype: Any, decoupled: bool,
                        terms: list[Term]) -> tuple[np.ndarray, np.ndarray]:
    """Adam's handling of maximize and weight decay (decoupled or L2), as the adam-family kernels do it.

    Returns the decayed parameter and the gradient the moments use; appends their terms to ``terms``.
    """
    lr, weight_decay = h["lr"], h["weight_decay"]
    sign = dtype(-1.0 if h["maximize"] else 1.0)
    decay = dtype(1 - lr * weight_decay) if decoupled else dtype(1)
    l2 = dtype(0) if decoupled else dtype(weight_decay)
    theta_decayed = theta * decay
    if decoupled and weight_decay != 0:
        terms += [Term("decay_factor", "1 - alpha * lambda", f"1 - {lr} * {weight_decay}", decay,
                       "decoupled weight decay: shrink the weights directly"),
                  Term("theta_decayed", "theta (decayed)", "theta * (1 - alpha * lambda)", theta_decayed,
                       "the parameter after the decay")]
    g = sign * grad + l2 * theta_decayed
    if h["maximize"]:
        terms.append(Term("grad_ascent", "g_t", "-g_t", sign * grad, "maximize: climb, so the gradient's sign flips"))
    if not decoupled and weight_decay != 0:
        terms += [Term("weight_decay_term", "lambda * theta", f"{weight_decay} * theta", l2 * theta_decayed,
                       "L2 weight decay, added to the gradient (coupled: scaled like it)"),
                  Term("grad_with_decay", "g_t", "g_t + lambda * theta", g, "the gradient the moments use")]
    return theta_decayed, g


def _moment_terms(h: dict[str, Any], g: np.ndarray, state: dict[str, np.ndarray], dtype: Any,
                  terms: list[Term]) -> tuple[np.ndarray, np.ndarray]:
    """m_t and v_t as the adam-family kernels compute them (m by lerp); appends their terms."""
    beta1, beta2 = h["betas"]
    m_prev, v_prev = state["exp_avg"], state["exp_avg_sq"]
    m = m_prev + dtype(1 - beta1) * (g - m_prev)
    v = v_prev * dtype(beta2) + dtype(1 - beta2) * g * g
    terms += [Term("exp_avg_before", "m_{t-1}", "state['exp_avg']", m_prev, "first moment before (m_0 = 0)"),
              Term("exp_avg", "m_t", f"beta1 * m_{{t-1}} + (1 - beta1) * g_t   (beta1={beta1})", m,
                   "first moment: a momentum"),
              Term("exp_avg_sq_before", "v_{t-1}", "state['exp_avg_sq']", v_prev, "second moment before (v_0 = 0)"),
              Term("exp_avg_sq", "v_t", f"beta2 * v_{{t-1}} + (1 - beta2) * g_t^2   (beta2={beta2})", v,
                   "second moment, as RMSprop's")]
    return m, v


def _explain_nadam(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                   dtype: Any, optimizer: Any) -> list[Term]:
    lr, psi = h["lr"], h["momentum_decay"]
    beta1, beta2 = h["betas"]
    terms = [Term("theta_before", "theta", "p.data before the step", theta, "the parameter before the step"),
             Term("grad", "g_t", "p.grad", grad, "the gradient of the loss"),
             Term("lr", "alpha", "lr", dtype(lr), "the learning rate")]
    theta_decayed, g = _decay_and_gradient(h, theta, grad, dtype, bool(h["decoupled_weight_decay"]), terms)
    tf = float(t)  # t as a float, as the kernel's step count
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (tf * psi))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((tf + 1) * psi))
    product_prev = state["mu_product"]
    product_array = product_prev * dtype(mu)  # kept in the parameters' dtype, as the kernel does
    product = float(product_array)
    terms += [Term("mu_t", "mu_t", f"beta1 * (1 - 0.5 * 0.96^(t * psi))   (psi={psi}, t={t})", mu,
                   "this step's momentum factor, warming up to beta1"),
              Term("mu_next", "mu_{t+1}", "beta1 * (1 - 0.5 * 0.96^((t + 1) * psi))", mu_next,
                   "the next step's momentum factor (Nesterov: look ahead)"),
              Term("mu_product_before", "P_{t-1}", "state['mu_product']", product_prev,
                   "product of the momentum factors so far (P_0 = 1)"),
              Term("mu_product", "P_t", "P_{t-1} * mu_t", product_array, "the product, this step included")]
    m, v = _moment_terms(h, g, state, dtype, terms)
    bias_correction2 = 1 - beta2 ** tf
    denom = np.sqrt(v / dtype(bias_correction2)) + dtype(h["eps"])
    grad_coefficient = lr * (1.0 - mu) / (1.0 - product)  # the kernel's coefficients are these negated (exact)
    avg_coefficient = (lr * mu_next) / (1.0 - product * mu_next)
    grad_step = dtype(grad_coefficient) * g / denom
    theta_mid = theta_decayed - grad_step
    momentum_step = dtype(avg_coefficient) * m / denom
    theta_new = theta_mid - momentum_step
    return terms + [
        Term("bias_correction2", "1 - beta2^t", f"1 - {beta2}^{t}", bias_correction2, "v started at 0: undo that"),
        Term("v_hat", "v_hat", "v_t / (1 - beta2^t)", v / dtype(bias_correction2), "the corrected second moment"),
        Term("denominator", "sqrt(v_hat) + epsilon", f"sqrt(v_t / (1 - beta2^t)) + {h['eps']}", denom,
             "the gradient's scale"),
        Term("grad_coefficient", "alpha * (1 - mu_t) / (1 - P_t)", f"{lr} * (1 - mu_t) / (1 - P_t)", grad_coefficient,
             "the step size for the current gradient"),
        Term("grad_step", "alpha (1 - mu_t) / (1 - P_t) * g_t / (sqrt(v_hat) + epsilon)",
             "grad_coefficient * g_t / denominator", grad_step, "the gradient's part of the step"),
        Term("momentum_coefficient", "alpha * mu_{t+1} / (1 - P_t * mu_{t+1})",
             f"{lr} * mu_{{t+1}} / (1 - P_t * mu_{{t+1}})", avg_coefficient,
             "the step size for the momentum, one step ahead"),
        Term("momentum_step", "alpha mu_{t+1} / (1 - P_t mu_{t+1}) * m_t / (sqrt(v_hat) + epsilon)",
             "momentum_coefficient * m_t / denominator", momentum_step, "the momentum's part of the step"),
        Term("update", "grad_step + momentum_step", "grad_step + momentum_step", grad_step + momentum_step,
             "the step taken (the two parts are subtracted one after the other)"),
        _new_theta("theta - grad_step - momentum_step", theta_new)]


def _explain_radam(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                   dtype: Any, optimizer: Any) -> list[Term]:
    lr = h["lr"]
    beta1, beta2 = h["betas"]
    terms = [Term("theta_before", "theta", "p.data before the step", theta, "the parameter before the step"),
             Term("grad", "g_t", "p.grad", grad, "the gradient of the loss"),
             Term("lr", "alpha", "lr", dtype(lr), "the learning rate")]
    theta_decayed, g = _decay_and_gradient(h, theta, grad, dtype, bool(h["decoupled_weight_decay"]), terms)
    m, v = _moment_terms(h, g, state, dtype, terms)
    tf = float(t)
    rho_inf = 2 / (1 - beta2) - 1
    bias_correction1 = 1 - beta1 ** tf
    bias_correction2 = 1 - beta2 ** tf
    bias_correction2_sqrt = bias_correction2 ** 0.5
    rho_t = rho_inf - 2 * tf * beta2 ** tf / bias_correction2
    rectified = bool(rho_t > 5.0)
    m_hat = m / dtype(bias_correction1)
    lr_ = dtype(lr)
    terms += [
        Term("bias_correction1", "1 - beta1^t", f"1 - {beta1}^{t}", bias_correction1, "m started at 0: undo that"),
        Term("m_hat", "m_hat", "m_t / (1 - beta1^t)", m_hat, "the corrected first moment"),
        Term("rho_inf", "rho_inf", f"2 / (1 - beta2) - 1   (beta2={beta2})", rho_inf,
             "the longest moving average v_t can approximate"),
        Term("rho_t", "rho_t", "rho_inf - 2 t beta2^t / (1 - beta2^t)", rho_t,
             "how many gradients v_t averages so far"),
        Term("rectified", "rho_t > 5", f"{rho_t:.6g} > 5", rectified,
             "the variance of v_t is tractable: take the adaptive step" if rectified
             else "too few gradients in v_t: take a plain momentum step")]
    if rectified:
        r_t = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive_lr = dtype(1) / (np.sqrt(v) + dtype(h["eps"])) * dtype(bias_correction2_sqrt)
        update = m_hat * lr_ * adaptive_lr * dtype(r_t)
        terms += [
            Term("bias_correction2", "1 - beta2^t", f"1 - {beta2}^{t}", bias_correction2, "v started at 0: undo that"),
            Term("adaptive_lr", "l_t", f"sqrt(1 - beta2^t) / (sqrt(v_t) + {h['eps']})", adaptive_lr,
                 "the adaptive step size, 1 / sqrt(v_hat) as Adam's"),
            Term("r_t", "r_t", "sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))", r_t,
                 "the rectification: scales the adaptive step down while v_t is young"),
            Term("update", "alpha * m_hat * l_t * r_t", "m_hat * lr * l_t * r_t", update, "the step taken")]
    else:
        update = m_hat * lr_
        terms.append(Term("update", "alpha * m_hat", "m_hat * lr", update, "the step taken: momentum, un-adapted"))
    return terms + [_new_theta("theta - update", theta_decayed - update)]


def _explain_lion(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], t: int,
                  dtype: Any, optimizer: Any) -> list[Term]:
    lr, weight_decay = h["lr"], h["weight_decay"]
    beta1, beta2 = h["betas"]
    terms = [Term("theta_before", "theta", "p.data before the step", theta, "the parameter before the step"),
             Term("grad", "g_t", "p.grad", grad, "the gradient of the loss"),
             Term("lr", "eta", "lr", dtype(lr), "the learning rate")]
    sign = dtype(-1.0 if h["maximize"] else 1.0)
    g = sign * grad
    if h["maximize"]:
        terms.append(Term("grad_ascent", "g_t", "-g_t", g, "maximize: climb, so the gradient's sign flips"))
    m_prev = state["exp_avg"]
    c = dtype(beta1) * m_prev + dtype(1 - beta1) * g
    direction = np.sign(c)
    terms += [Term("exp_avg_before", "m_{t-1}", "state['exp_avg']", m_prev, "the momentum before (m_0 = 0)"),
              Term("interpolation", "c_t", f"beta1 * m_{{t-1}} + (1 - beta1) * g_t   (beta1={beta1})", c,
                   "momentum and gradient, interpolated"),
              Term("sign", "sign(c_t)", "sign(c_t)", direction, "only the sign is used: every coordinate moves by eta")]
    decay = dtype(1 - lr * weight_decay)
    theta_decayed = theta * decay
    if weight_decay != 0:
        terms += [Term("decay_factor", "1 - eta * lambda", f"1 - {lr} * {weight_decay}", decay,
                       "decoupled weight decay: shrink the weights directly"),
                  Term("theta_decayed", "theta (decayed)", "theta * (1 - eta * lambda)", theta_decayed,
                       "the parameter after the decay")]
    update = dtype(lr) * direction
    m = dtype(beta2) * m_prev + dtype(1 - beta2) * g
    return terms + [
        Term("update", "eta * sign(c_t)", "lr * sign(c_t)", update, "the step taken"),
        _new_theta("theta - eta * sign(c_t)", theta_decayed - update),
        Term("exp_avg", "m_t", f"beta2 * m_{{t-1}} + (1 - beta2) * g_t   (beta2={beta2})", m,
             "then the momentum is updated, with its own beta")]


def _sequential_sum(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """A float64 sum taken element after element, as the kernel's loops take it (np.sum adds pairwise).

    (The kernel's ``float(x) * float(x)`` squares in the parameters' dtype once compiled: numba's
    ``float()`` keeps a float32 a float32. So the callers square first, then sum in float64.)
    """
    values = np.asarray(values, np.float64)
    return np.add.accumulate(values, axis=axis).take(-1, axis=axis)


def _lerp_both_forms(start: np.ndarray, end: np.ndarray, weight: Any, one_minus_weight: Any) -> np.ndarray:
    """The kernel's ``lerp_both_forms``: PyTorch's lerp, whose form depends on the (whole-parameter) weight."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * one_minus_weight


def _explain_adafactor(h: dict[str, Any], theta: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                       t: int, dtype: Any, optimizer: Any) -> list[Term]:
    lr, tau, d, weight_decay = h["lr"], h["beta2_decay"], h["d"], h["weight_decay"]
    eps1, eps2 = h["eps"]
    if eps1 is None:
        eps1 = float(np.finfo(dtype).eps)
    one, eps1_, eps1_squared = dtype(1), dtype(eps1), dtype(eps1 * eps1)
    sign = dtype(-1.0 if h["maximize"] else 1.0)
    n = max(1, theta.size)
    tf = float(t)
    terms = [Term("theta_before", "theta", "p.data before the step", theta, "the parameter before the step"),
             Term("grad", "G_t", "p.grad", grad, "the gradient of the loss")]
    g = sign * grad
    if h["maximize"]:
        terms.append(Term("grad_ascent", "G_t", "-G_t", g, "maximize: climb, so the gradient's sign flips"))
    weight = dtype(tf ** tau)                                    # 1 - beta2_t
    one_minus_weight = one - weight                              # beta2_t
    rho_t = min(lr, 1 / tf ** 0.5)
    theta_rms = np.sqrt(_sequential_sum((theta * theta).ravel(), axis=0)) / n ** 0.5
    alpha = max(eps2, theta_rms) * rho_t
    terms += [Term("beta2_t", "beta2_t", f"1 - t^tau   (tau={tau}, t={t})", one_minus_weight,
                   "how much of the old second moment is kept (grows towards 1)"),
              Term("rho_t", "rho_t", f"min(gamma, 1 / sqrt(t))   (gamma={lr})", rho_t, "the relative step size"),
              Term("theta_rms", "RMS(theta)", "sqrt(mean(theta^2))", theta_rms, "the size of the weights"),
              Term("alpha_t", "alpha_t", f"max(eps2, RMS(theta)) * rho_t   (eps2={eps2})", alpha,
                   "the step size, relative to the weights' size")]
    if theta.ndim >= 2:
        rows, cols = theta.shape[-2], theta.shape[-1]
        g2 = grad * grad
        row_target = np.sqrt(_sequential_sum(g2, axis=-1)).astype(dtype)[..., None]
        row_target = row_target * row_target / dtype(cols)
        col_target = np.sqrt(_sequential_sum(g2, axis=-2)).astype(dtype)[..., None, :]
        col_target = col_target * col_target / dtype(rows)
        r_prev, c_prev = state["row_var"], state["col_var"]
        r = _lerp_both_forms(r_prev, row_target, weight, one_minus_weight)
        c = _lerp_both_forms(c_prev, col_target, weight, one_minus_weight)
        row_mean = np.maximum((_sequential_sum(r, axis=-2) / rows).astype(dtype)[..., None], eps1_)
        v_hat = r * c / row_mean
        terms += [Term("row_var_before", "R_{t-1}", "state['row_var']", r_prev, "row means of G^2 before (R_0 = 0)"),
                  Term("row_var", "R_t", "beta2_t * R_{t-1} + (1 - beta2_t) * mean(G_t^2 over each row)", r,
                       f"one number per row ({rows} per matrix)"),
                  Term("col_var_before", "C_{t-1}", "state['col_var']", c_prev,
                       "column means of G^2 before (C_0 = 0)"),
                  Term("col_var", "C_t", "beta2_t * C_{t-1} + (1 - beta2_t) * mean(G_t^2 over each column)", c,
                       f"one number per column ({cols} per matrix)"),
                  Term("row_mean", "max(mean(R_t), eps1)", f"max(mean(R_t), {eps1:.3g})", row_mean,
                       "the rescaling of the outer product"),
                  Term("v_hat", "V_hat", "R_t C_t / max(mean(R_t), eps1)", v_hat,
                       "the second moment, rebuilt from rows and columns")]
    else:
        v_prev = state["variance"]
        v_hat = _lerp_both_forms(v_prev, grad * grad, weight, one_minus_weight)
        terms += [Term("variance_before", "V_{t-1}", "state['variance']", v_prev, "the second moment before (V_0 = 0)"),
                  Term("variance", "V_t", "beta2_t * V_{t-1} + (1 - beta2_t) * G_t^2", v_hat,
                       "not factored (fewer than 2 dimensions): the full second moment; V_hat = V_t")]
    u = one / np.sqrt(np.maximum(v_hat, eps1_squared)) * g
    u_norm = np.sqrt(_sequential_sum((u * u).ravel(), axis=0))
    u_rms = u_norm / n ** 0.5
    clip = max(1.0, u_norm / (n ** 0.5 * d))  # as the kernel: sqrt(sum) / (sqrt(n) * d)
    step = alpha / clip
    update = dtype(step) * u
    decay = dtype(1 - lr * weight_decay)
    theta_decayed = theta * decay
    terms += [Term("u", "U_t", "G_t / sqrt(max(V_hat, eps1^2))", u, "the gradient, scaled by its second moment"),
              Term("u_rms", "RMS(U_t)", "sqrt(mean(U_t^2))", u_rms, "the size of the scaled gradient"),
              Term("clip", "max(1, RMS(U_t) / d)", f"max(1, RMS(U_t) / {d})", clip,
                   "update clipping: a step larger than d is scaled down" if clip > 1
                   else "update clipping: not needed"),
              Term("step_size", "alpha_t / max(1, RMS(U_t) / d)", "alpha_t / clip", step, "the step size")]
    if weight_decay != 0:
        terms += [Term("decay_factor", "1 - gamma * lambda", f"1 - {lr} * {weight_decay}", decay,
                       "decoupled weight decay: shrink the weights directly"),
                  Term("theta_decayed", "theta (decayed)", "theta * (1 - gamma * lambda)", theta_decayed,
                       "the parameter after the decay")]
    return terms + [Term("update", "alpha_t * U_t / max(1, RMS(U_t) / d)", "step_size * U_t", update,
                         "the step taken"),
                    _new_theta("theta - update", theta_decayed - update)]


#: Kernel name (``Optimizer.kernel``) -> its explanation. AdamW shares Adam's (``decoupled``).
EXPLAINERS: dict[str, Explainer] = {
    "sgd": _explain_sgd,
    "momentum": _explain_momentum,
    "rmsprop": _explain_rmsprop,
    "adagrad": _explain_adagrad,
    "adam": _explain_adam,
    "nadam": _explain_nadam,
    "radam": _explain_radam,
    "lion": _explain_lion,
    "adafactor": _explain_adafactor,
}


def explain_step(optimizer: Any, param: Any, element: Any = None, name: str | None = None) -> UpdateExplanation:
    """Explain the last update of ``param``: each term of the optimizer's rule, with its numbers.

    The step must have been recorded: switch recording on before ``step()``
    with ``optimizer.record()`` (or ``with optimizer.record(): optimizer.step()``).

    Args:
        optimizer: the optimizer that made the step.
        param: one of its parameters.
        element: for a large parameter, the element to show (a flat index or
            an index tuple); by default the one that moved most. Small
            parameters are shown in full unless an element is given.
        name: the parameter's name in the printout (default ``param <k>``,
            its position as in ``state_dict()``).

    Returns:
        An `UpdateExplanation`; ``print`` it for the table.

    Raises:
        RuntimeError: the step was not recorded, the parameter had no gradient
            in it, or it was updated again since without recording.
        NotImplementedError: the optimizer's rule is not explained yet.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.SGD([w], lr=0.1)
        >>> with opt.record():
        ...     (w ** 2).sum().backward(); opt.step()
        >>> explanation = opt.explain(w)
        >>> explanation["grad"], explanation["update"], explanation["theta_after"]
        (array([10.], dtype=float32), array([1.], dtype=float32), array([4.], dtype=float32))
    """
    cls = type(optimizer)
    explainer = EXPLAINERS.get(getattr(cls, "kernel", ""))
    if explainer is None:
        covered = "SGD, Momentum, RMSprop, Adagrad, Adam, AdamW, NAdam, RAdam, Lion and Adafactor"
        raise NotImplementedError(f"explain: {cls.__name__} is not explained yet (explained: {covered})")
    try:
        flat, i = optimizer._flat_of(param)
    except KeyError:
        raise ValueError("explain: this tensor is not one of the optimizer's parameters") from None
    record = optimizer.__dict__.get("_step_records", {}).get(id(flat))
    if record is None:
        raise RuntimeError("explain: no recorded step for this parameter; switch recording on before step() with "
                           "optimizer.record() (or `with optimizer.record(): optimizer.step()`)")
    if not record.active[i]:
        raise RuntimeError("explain: the parameter had no gradient in the last recorded step of its group, "
                           "so that step did not update it")
    t = int(record.steps[i]) + 1
    if flat.steps[i] != t:
        raise RuntimeError(f"explain: the parameter was updated again after the last recorded step (its step "
                           f"count is {int(flat.steps[i])}, the recorded step was {t}); record the step to explain")
    lo, hi = int(flat.offsets[i]), int(flat.offsets[i + 1])
    shape = param.shape
    theta = record.param[lo:hi].reshape(shape)
    grad = record.grad[lo:hi].reshape(shape)
    state = {}
    state_shapes = optimizer._state_shapes(record.hyperparameters, param)  # (NAdam's mu_product: one number)
    for key, buffer in record.state.items():
        offsets = flat.state_offsets[key]
        if offsets[i + 1] > offsets[i]:
            state[key] = buffer[offsets[i]:offsets[i + 1]].reshape(state_shapes.get(key, shape))
    dtype = flat.dtype.type
    terms = explainer(record.hyperparameters, theta, grad, state, t, dtype, optimizer)
    if terms[0].key != "theta_before":
        terms.insert(0, Term("theta_before", "theta", "p.data before the step", theta, "the parameter before the step"))
    if name is None:
        position = next(k for k, p in enumerate(optimizer._indexed_params()) if p is param)
        name = f"param {position}"
    return UpdateExplanation(cls.__name__, name, shape, t, record.hyperparameters, terms,
                             _docstring_rule(cls), element=element)
