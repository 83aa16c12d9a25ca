"""PyTorch computes inf and nan silently (sqrt(-1), log(0), 1/0, inf - inf); NumPy warns.

The ops that can meet those values compute inside `quiet()`. ``np.errstate`` costs about 2 microseconds a
use (a third of a small op's forward and backward), so where NumPy exposes the context variable behind
it (NumPy 2), `quiet` sets that directly, at a third of the cost; otherwise it is ``np.errstate``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # NumPy >= 2: errstate is a context variable holding an "extobj"
    from numpy._core.umath import _extobj_contextvar, _make_extobj

    _IGNORE = _make_extobj(divide="ignore", invalid="ignore", over="ignore", under="ignore")
except (ImportError, TypeError):  # pragma: no cover - older or changed NumPy
    _extobj_contextvar = None


class _Quiet:
    """Context manager: NumPy's floating-point warnings off inside (what ``np.errstate`` does)."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = _extobj_contextvar.set(_IGNORE)

    def __exit__(self, *exc: Any) -> None:
        _extobj_contextvar.reset(self.token)


def quiet() -> Any:
    """A fresh context in which NumPy's floating-point warnings are off (results stay inf and nan).

    Example:
        >>> import numpy as np
        >>> with quiet():
        ...     float(np.log(np.float64(0.0)))
        -inf
    """
    if _extobj_contextvar is None:  # pragma: no cover
        return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")
    return _Quiet()
