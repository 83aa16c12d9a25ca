"""Exercises that grade themselves and name the mistake: backward rules, optimizer steps, schedules, a loop.

A teacher assigns an exercise by name; a student reads its statement, fills in the stub and checks it::

    import tinygrad_edu.exercises as ex
    ex.names()                      # ['backward/add', ..., 'optim/adam', ..., 'schedule/cosine', ...]
    print(ex.show("backward/add"))  # the statement: the math, the signature, what to return
    print(ex.stub("backward/add"))  # the function to fill in

    def add_backward(grad_out, x, y):
        ...
    ex.check("backward/add", add_backward)   # prints as a report: the failing case, the mistake, a hint

``tinygrad-edu grade DIR`` grades a folder of submissions (see `tinygrad_edu.exercises.grade`).

Example:
    >>> import tinygrad_edu.exercises as ex
    >>> names = ex.names()
    >>> all(ex.show(name) and ex.stub(name).startswith("def ") for name in names)
    True
"""

from __future__ import annotations

from ._core import (
    FAMILIES,
    FINDINGS,
    REGISTRY,
    Case,
    Exercise,
    Finding,
    Mistake,
    Result,
    check,
    names,
    register,
    show,
    signature,
    stub,
)

__all__ = ["Case", "Mistake", "Exercise", "Finding", "Result", "REGISTRY", "FINDINGS", "FAMILIES", "register",
           "check", "names", "show", "stub", "signature"]

# The families register their exercises on import, in the order of FAMILIES.
from . import backward, loop, optim, schedule  # noqa: E402,F401  (order of names() comes from FAMILIES)
