"""Whether an op should take its compiled fast path (`ops.kernels`), without importing numba before it is needed."""

from __future__ import annotations

import types

#: Elementwise ops take a kernel only from this many elements on: below it, NumPy's ufunc call is
#: as fast, and a small model never needs numba for them.
ELEMENTWISE_THRESHOLD = 1 << 14


def compiled() -> types.ModuleType | None:
    """The module of compiled loops, or None where the op's readable NumPy form should run.

    None with ``NUMBA_DISABLE_JIT=1`` (a debugger then steps through array
    code) or when a test sets ``ops.kernels.ENABLED = False``. The first call
    imports numba; later calls (one per op) only read the module kept here.
    """
    global _kernels
    if _kernels is None:
        from . import kernels

        _kernels = kernels
    return _kernels if _kernels.ENABLED else None


_kernels: types.ModuleType | None = None
