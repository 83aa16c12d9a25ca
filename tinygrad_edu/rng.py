"""The library's one random-number generator, so that `manual_seed` governs every draw.

Parameter initialisation, ``randn``/``rand``, dropout masks and data shuffling
all draw from `generator()`; ``tg.manual_seed(n)`` replaces it with a freshly
seeded one, which makes a whole run reproducible.
"""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "generator", "initial_seed"]

_seed: int | None = None
_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every random draw the library makes; returns the new generator.

    Args:
        seed: a non-negative integer.

    Example:
        >>> import tinygrad_edu as tg
        >>> _ = tg.manual_seed(0); a = tg.randn(3)
        >>> _ = tg.manual_seed(0); b = tg.randn(3)
        >>> bool((a == b).all())
        True
    """
    global _generator, _seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)
    return _generator


def initial_seed() -> int | None:
    """The seed last given to `manual_seed` (``None`` if it was never called)."""
    return _seed


def generator() -> np.random.Generator:
    """The generator every random draw of the library uses."""
    return _generator
