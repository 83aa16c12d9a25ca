"""The library's one random-number generator, so that `manual_seed` governs every draw.

Parameter initialisation, ``randn``/``rand``, dropout masks and data shuffling
all draw from `generator()`; ``tg.manual_seed(n)`` replaces it with a freshly
seeded one, which makes a whole run reproducible.

`get_rng_state` / `set_rng_state` (PyTorch's names) snapshot and restore that
generator, so code that must not disturb the random stream (``lr_find``, a
resumed ``fit``) can put it back exactly::

    state = tg.get_rng_state()
    a = tg.randn(3)
    tg.set_rng_state(state)
    b = tg.randn(3)          # the same numbers as a, bit for bit
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ._checks import check_int, check_seed

__all__ = ["manual_seed", "generator", "initial_seed", "get_rng_state", "set_rng_state"]

_STATE_FORMAT = "tinygrad_edu.rng_state"
# The bit generators a state may name (NumPy's own; PCG64 is what default_rng makes).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")

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
    _seed = check_seed("manual_seed", seed)
    _generator = np.random.default_rng(_seed)
    return _generator


def initial_seed() -> int | None:
    """The seed last given to `manual_seed` (``None`` if it was never called)."""
    return _seed


def generator() -> np.random.Generator:
    """The generator every random draw of the library uses."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """A snapshot of the library's random generator, for `set_rng_state`.

    As ``torch.get_rng_state()``, but the state is plain data (a dict of
    strings and integers) rather than a byte tensor, so ``tg.save`` stores it
    as it is (checkpoints do). Treat it as opaque: its contents may change
    between versions.

    Example:
        >>> import tinygrad_edu as tg
        >>> state = tg.get_rng_state()
        >>> a = tg.rand(2)
        >>> tg.set_rng_state(state)
        >>> bool((tg.rand(2) == a).all())
        True
    """
    return {"format": _STATE_FORMAT, "seed": _seed, "generator": copy.deepcopy(_generator.bit_generator.state)}


def _bit_generator_from(state: Any) -> np.random.BitGenerator:
    """A fresh bit generator holding ``state``; a ValueError saying what is wrong otherwise."""
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT or "generator" not in state \
            or "seed" not in state:
        raise ValueError(f"set_rng_state expects a state returned by tg.get_rng_state() "
                         f"(a dict with 'format', 'seed' and 'generator'), got {_describe(state)}")
    seed = state["seed"]
    if seed is not None:
        check_int("set_rng_state", "the state's seed", seed, minimum=0)
    inner = state["generator"]
    name = inner.get("bit_generator") if isinstance(inner, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"set_rng_state: the state's generator must be a NumPy bit generator state naming one of "
                         f"{list(_BIT_GENERATORS)}, got {_describe(inner)}")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = copy.deepcopy(inner)
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise ValueError(f"set_rng_state: the state's {name} generator state is invalid ({err})") from None
    return bit_generator


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return type(value).__name__


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the library's random generator from a `get_rng_state` snapshot.

    Every draw afterwards (``randn``, init, dropout, shuffling) is what it was
    after the snapshot, bit for bit; `initial_seed` comes back too. The state
    is checked completely before anything changes.

    Raises:
        ValueError: ``state`` is not a state `get_rng_state` made (the message says what it got).
    """
    global _generator, _seed
    bit_generator = _bit_generator_from(state)
    if type(_generator.bit_generator) is type(bit_generator):
        # In place, so a generator object someone holds (manual_seed returns it) follows too.
        _generator.bit_generator.state = bit_generator.state
    else:
        _generator = np.random.Generator(bit_generator)
    _seed = None if state["seed"] is None else int(state["seed"])
