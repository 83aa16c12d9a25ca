"""PyTorch computes inf and nan silently (sqrt(-1), log(0), 1/0, inf - inf); NumPy warns.

The ops that can meet those values compute inside `quiet()`, which costs about 2 microseconds
a use, so ops that cannot meet them (add, matmul, relu) do without.
"""

from __future__ import annotations

import numpy as np


def quiet() -> np.errstate:
    """A fresh context in which NumPy's floating-point warnings are off (NumPy 2 cannot re-enter one).

    Example:
        >>> import numpy as np
        >>> with quiet():
        ...     float(np.log(np.float64(0.0)))
        -inf
    """
    return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")
