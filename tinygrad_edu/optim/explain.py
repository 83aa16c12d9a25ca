"""Step explanations: the last update of one parameter, term by term, with its numbers.

An optimizer's docstring states its update rule; its numba kernel carries it
out on flat buffers, all parameters at once, and leaves only the new values
behind. Each optimizer also keeps the rule once more in plain NumPy, for one
parameter (``optimizer.rule``: `adam_step`, `sgd_step`, ...), returning every
intermediate term. `explain_step` runs that readable rule on what the last step
started from and shows its terms beside the kernel's result::

    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    opt.record()                      # from now on, each step keeps what it starts from
    loss.backward(); opt.step()
    print(opt.explain(model.weight))  # g_t, m_t, v_t, m_hat, v_hat, update, theta; and the kernel's agreement

Recording: ``step()`` keeps copies of the values it starts from (the parameter,
its gradient, the optimizer's state and step count) and of the kernel's result,
only while recording is on (``optimizer.record()``, or ``with optimizer.record():
...`` for one block); otherwise a step pays a single boolean check per parameter
group and nothing else. The readable rule and the kernel compute the same
formula in different orders, so they agree to rounding: the explanation shows
the gap as a tolerance rather than reproducing the kernel bit for bit.
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._display import FULL_SIZE, format_value, html_table, text_table

__all__ = ["explain_step", "UpdateExplanation", "Term", "Recording", "StepRecord", "remember_step"]

#: Largest relative gap between the readable rule and the kernel after one step, per dtype.
TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


@dataclass
class StepRecord:
    """Copies of what one step of one flat group started from, and the kernel's result (``param_after``)."""

    hyperparameters: dict[str, Any]
    param: np.ndarray
    grad: np.ndarray
    state: dict[str, np.ndarray]
    steps: np.ndarray
    active: np.ndarray
    param_after: np.ndarray | None = None


def remember_step(optimizer: Any, group: dict[str, Any], flat: Any, active: np.ndarray) -> StepRecord:
    """Keep copies of ``flat``'s values, gradients, state and step counts before its update (while recording)."""
    record = StepRecord(hyperparameters={k: v for k, v in group.items() if k != "params"},
                        param=flat.param.copy(), grad=flat.grad.copy(),
                        state={name: buffer.copy() for name, buffer in flat.state.items()},
                        steps=flat.steps.copy(), active=active.copy())
    optimizer.__dict__.setdefault("_step_records", {})[id(flat)] = record
    return record


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


@dataclass(frozen=True)
class Term:
    """One term of an update: its symbol in the docstring, the docstring's line for it, and its value.

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


def _formula(symbol: str, rule: list[str]) -> tuple[str, str]:
    """The docstring's (last) line defining ``symbol``, as (formula, comment): ``m_t = beta1 * m_{t-1} + ...``."""
    found = ("", "")
    for line in rule:
        match = re.match(r"\s*(\S+)\s+(=|<-)\s+(.*)", line)
        if match and match.group(1) == symbol:
            formula, *comment = re.split(r"\s{3,}", match.group(3), maxsplit=1)
            found = (f"{symbol} {match.group(2)} {formula.strip()}", " ".join(comment).strip())
    return found


def _relative_difference(rule_theta: Any, kernel_theta: Any) -> float:
    """max |a - b| / max(1, max |b|): the gap between the readable rule's result and the kernel's."""
    if kernel_theta is None:
        return 0.0
    a, b = np.asarray(rule_theta, np.float64), np.asarray(kernel_theta, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


class UpdateExplanation:
    """The last update of one parameter, term by term: ``print`` it, or read the terms.

    ``explanation["m_t"]``-style access goes by a term's key, the symbol of the
    docstring (see ``keys()``); ``theta_before``, ``update`` and ``theta_after``
    are always there. The terms are those of the optimizer's readable rule
    (``optimizer.rule``, e.g. `adam_step`); ``kernel_theta`` is what the numba
    kernel actually wrote and ``difference`` the largest gap between the two,
    relative to the parameter's size (``agrees``: within the dtype's tolerance).

    Arrays of at most ``FULL_SIZE`` elements are printed in full; for a larger
    parameter the table shows one element (``element``, by default the one that
    moved most) beside each term's shape, mean and norm.

    Attributes:
        optimizer: the optimizer's class name; ``label`` the parameter's name;
        shape: the parameter's shape; ``step`` the step number t of the update;
        hyperparameters: the group's hyperparameters used by the step;
        terms: the `Term` list, in the order the rule computes them;
        element: the element shown for a large parameter (a tuple index) or None;
        rule: the update rule as the optimizer's docstring writes it;
        kernel_theta, difference, tolerance, agrees: the kernel's result and its agreement.
    """

    def __init__(self, optimizer: str, label: str, shape: tuple[int, ...], step: int,
                 hyperparameters: dict[str, Any], terms: list[Term], rule: list[str],
                 element: Any = None, kernel_theta: Any = None, tolerance: float = 0.0) -> None:
        self.optimizer = optimizer
        self.label = label
        self.shape = shape
        self.step = step
        self.hyperparameters = hyperparameters
        self.terms = terms
        self.rule = rule
        self._by_key = {term.key: term for term in terms}
        self.kernel_theta = kernel_theta
        self.tolerance = tolerance
        self.difference = _relative_difference(self.theta_after, kernel_theta)
        self.agrees = self.difference <= tolerance
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
                  text_table(["symbol", "computed as", "value", "meaning"], self._rows(), indent="  "),
                  self._agreement()]
        return "\n".join(lines)

    def _agreement(self) -> str:
        verdict = "agrees" if self.agrees else "DIFFERS"
        return (f"The numba kernel {verdict}: largest |theta (rule) - theta (kernel)| = {self.difference:.2e} "
                f"of max |theta| (tolerance {self.tolerance:.0e} for {np.asarray(self.theta_after).dtype})")

    def __repr__(self) -> str:
        return f"<UpdateExplanation: {self.optimizer} step {self.step} of {self.label}; print() it for the table>"

    def _repr_html_(self) -> str:
        rule = "<pre>" + html.escape("\n".join(line.strip() for line in self.rule)) + "</pre>" if self.rule else ""
        return rule + html_table(["symbol", "computed as", "value", "meaning"], self._rows(),
                                 caption=self._title()) + f"<p>{html.escape(self._agreement())}</p>"


def explain_step(optimizer: Any, param: Any, element: Any = None, name: str | None = None) -> UpdateExplanation:
    """Explain the last update of ``param``: each term of the optimizer's rule, with its numbers.

    The step must have been recorded: switch recording on before ``step()``
    with ``optimizer.record()`` (or ``with optimizer.record(): optimizer.step()``).
    The terms come from the optimizer's readable rule (``optimizer.rule``) run
    on the values the step started from; the kernel's result is shown beside it.

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
        NotImplementedError: the optimizer has no readable rule.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.SGD([w], lr=0.1)
        >>> with opt.record():
        ...     (w ** 2).sum().backward(); opt.step()
        >>> explanation = opt.explain(w)
        >>> explanation["g_t"], explanation["update"], explanation["theta_after"], explanation.agrees
        (array([10.], dtype=float32), array([1.], dtype=float32), array([4.], dtype=float32), True)
    """
    cls = type(optimizer)
    rule = getattr(cls, "rule", None)
    if rule is None:
        raise NotImplementedError(f"explain: {cls.__name__} has no readable rule (a `rule` function) to explain")
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
            state[key] = buffer[offsets[i]:offsets[i + 1]].reshape(state_shapes.get(key, shape)).copy()
    values = rule(theta.copy(), grad.copy(), state, t, **record.hyperparameters)
    lines = _docstring_rule(cls)
    terms = [Term("theta_before", "theta", "the parameter before the step", theta),
             Term("grad", "g", "p.grad", grad, "the gradient of the loss")]
    for key, value in values.items():
        key = "theta_after" if key == "theta" else key
        symbol = "theta (new)" if key == "theta_after" else key
        formula, comment = _formula("theta" if key == "theta_after" else key, lines)
        terms.append(Term(key, symbol, formula, value, "the step taken" if key == "update" else comment))
    kernel_theta = None if record.param_after is None else record.param_after[lo:hi].reshape(shape)
    if name is None:
        position = next(k for k, p in enumerate(optimizer._indexed_params()) if p is param)
        name = f"param {position}"
    return UpdateExplanation(cls.__name__, name, shape, t, record.hyperparameters, terms, lines, element=element,
                             kernel_theta=kernel_theta, tolerance=TOLERANCE.get(flat.dtype, 1e-5))
