"""Argument checks shared by the whole library: one place, one wording.

Every check takes ``who`` (the function or class being called, as the user
wrote it), ``name`` (the argument) and the value, returns the value in its
plain Python form, and otherwise raises an error that names all three and the
expected form::

    >>> from tinygrad_edu._checks import check_int
    >>> check_int("fit", "epochs", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: fit: epochs must be an integer >= 1, got 0

``bool`` is never accepted as a number (``True`` is an ``int`` to Python, but
``epochs=True`` is a mistake, not a request for one epoch).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = ["check_int", "check_number", "check_positive", "check_non_negative", "check_probability",
           "check_choice", "check_seed"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(who: str, name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int``, if it is an integer within ``[minimum, maximum]`` (each bound optional).

    Raises:
        ValueError: naming ``who``, ``name``, the expected form and the value.
    """
    if minimum is not None and maximum is not None:
        expected = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"
    if not _is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{who}: {name} must be {expected}, got {value!r}")
    return int(value)


def check_number(who: str, name: str, value: Any, low: float | None = None, high: float | None = None,
                 low_inclusive: bool = True, high_inclusive: bool = True, finite: bool = True) -> float:
    """``value`` as a ``float``, if it is a real number in the interval given (each bound optional).

    Args:
        who, name, value: what is checked, for the message.
        low, high: the bounds (``None``: unbounded on that side).
        low_inclusive, high_inclusive: whether each bound itself is allowed.
        finite: refuse ``inf`` and ``nan``.

    Raises:
        ValueError: naming ``who``, ``name``, the interval and the value.
    """
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high}")
    expected = ("a finite number" if finite else "a number") + (" " + " and ".join(parts) if parts else "")
    ok = _is_real(value)
    if ok:
        number = float(value)
        if math.isnan(number) or (finite and not math.isfinite(number)):
            ok = False
        elif low is not None and (number < low or (not low_inclusive and number == low)):
            ok = False
        elif high is not None and (number > high or (not high_inclusive and number == high)):
            ok = False
    if not ok:
        raise ValueError(f"{who}: {name} must be {expected}, got {value!r}")
    return float(value)


def check_positive(who: str, name: str, value: Any) -> float:
    """``value`` as a ``float``, if it is a finite number > 0."""
    return check_number(who, name, value, low=0, low_inclusive=False)


def check_non_negative(who: str, name: str, value: Any) -> float:
    """``value`` as a ``float``, if it is a finite number >= 0."""
    return check_number(who, name, value, low=0)


def check_probability(who: str, name: str, value: Any, include_one: bool = True) -> float:
    """``value`` as a ``float``, if it lies in ``[0, 1]`` (``[0, 1)`` with ``include_one=False``)."""
    return check_number(who, name, value, low=0, high=1, high_inclusive=include_one)


def check_choice(who: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` itself, if it is one of ``choices``.

    Raises:
        ValueError: naming the value and listing the valid choices.
    """
    choices = list(choices)
    try:
        valid = value in choices
    except TypeError:  # e.g. an unhashable or array-like value compared with strings
        valid = False
    if not valid or isinstance(value, bool) and not any(c is value for c in choices):
        if len(choices) == 2:
            listed = f"{choices[0]!r} or {choices[1]!r}"
        else:
            listed = "one of " + ", ".join(repr(c) for c in choices)
        raise ValueError(f"{who}: {name} must be {listed}, got {value!r}")
    return value


def check_seed(who: str, value: Any) -> int:
    """A random seed: an integer >= 0."""
    return check_int(who, "seed", value, minimum=0)
