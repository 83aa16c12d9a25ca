"""The library's random numbers: PyTorch's CPU generator and its streams, bit for bit.

PyTorch's CPU generator is a Mersenne Twister (mt19937) seeded exactly as
``std::mt19937(seed)`` seeds it from the low 32 bits of the seed. Every random
function is a fixed recipe over its 32-bit outputs, so the same recipe over the
same outputs gives PyTorch's numbers: after ``tg.manual_seed(0)``,
``tg.rand(3)`` prints what ``torch.rand(3)`` prints after ``torch.manual_seed(0)``.
NumPy's ``MT19937`` bit generator makes the raw 32-bit stream (its
``_legacy_seeding`` is ``std::mt19937``'s seeding); the recipes below turn it
into numbers, vectorised with NumPy. The recipes (PyTorch's, from
``ATen/core/DistributionsHelper.h``, ``TransformationHelper.h`` and
``native/cpu/DistributionTemplates.h``):

- ``random()``: one 32-bit output; ``random64()``: two, the first as the high
  half.
- uniform on [from, to): a float32 takes the low 24 bits of ``random()``, a
  float64 the low 53 bits of ``random64()``: u = bits / 2**digits, then
  ``u * (to - from) + from`` in that dtype.
- an integer in [low, high): ``random() % (high - low) + low``, or
  ``random64()`` when the range is 2**28 or more.
- normal, fewer than 16 elements (the scalar path): Box–Muller over float64
  uniforms u1, u2: r = sqrt(-2 log1p(-u2)), theta = 2 pi u1; the element is
  ``r cos(theta)`` and ``r sin(theta)`` is kept for the next scalar draw
  (PyTorch's cached "next double normal sample").
- normal, 16 or more elements (the vectorised path): a uniform per element in
  the tensor's dtype, then Box–Muller on each block of 16 (u1 = 1 - u[j],
  u2 = u[j + 8] for j < 8, cos into j, sin into j + 8); a tail that is not a
  whole block is redrawn as 16 fresh uniforms written over the last 16 slots.
  float64 uses the C library's log, cos and sin; float32 uses the AVX2 kernel
  that x86 builds of PyTorch run on every CPU with AVX2 (AVX-512 ones too):
  Cephes' single-precision log and sincos polynomials.
- a tensor that is not contiguous (a transposed view) is filled in memory
  order, one draw per element as its strides walk the storage, and normal
  takes the scalar path for it at any size (``Tensor._random_fill``).
- every ``x * scale + shift`` in those kernels is a fused multiply-add (one
  rounding), as PyTorch's compiler contracted it; `_fma` reproduces that.
- exponential: ``-log1p(-u) / rate`` over a float64 uniform; bernoulli (and so
  dropout's mask, ``bernoulli_(1 - p)``): ``u < p`` over a float64 uniform.
- randperm(n): Fisher–Yates, swapping slot i with slot
  ``i + random() % (n - i)`` for i = 0 .. n - 2.
- multinomial: see `multinomial`.

What is exact: all of the above, float32 and float64, every size, checked
against PyTorch 2.13's x86-64 CPU wheel on an AMD CPU with AVX-512 (the tests
in ``tests/test_torch_streams.py``). What is not:

- float32 ``randn``/``normal_`` of 16 or more elements where PyTorch runs
  without AVX2 (``ATEN_CPU_CAPABILITY=default``, ARM builds): it then uses the
  C library's ``logf``/``cosf``/``sinf``, and about a third of the values
  differ from these in the last bits (by under 2e-6).
- ``bernoulli_`` with a number p (and so dropout) on Intel CPUs: PyTorch's
  MKL builds check the CPU's vendor and, on Intel, draw the mask with MKL's
  own generator (seeded from one 32-bit draw) -- so its sources read; that
  path could not be run here, and is not reproduced.
- float16 and other float dtypes are drawn as float32 and rounded, which is
  not PyTorch's half-precision recipe.

`generator()` is the global `Generator` (``torch.default_generator``);
``tg.manual_seed(n)`` reseeds it. A `Generator` object passed as
``generator=`` draws from its own stream and leaves the global one alone.

`get_rng_state` / `set_rng_state` (PyTorch's names) snapshot and restore the
global generator, so code that must not disturb the random stream
(``lr_find``, a resumed ``fit``) can put it back exactly::

    state = tg.get_rng_state()
    a = tg.randn(3)
    tg.set_rng_state(state)
    b = tg.randn(3)          # the same numbers as a, bit for bit

For code that wants NumPy's vocabulary (the synthetic datasets, exercises),
`Generator` also answers ``random``, ``standard_normal``, ``normal``,
``uniform``, ``integers``, ``permutation`` and ``standard_exponential``,
drawing from the same mt19937 stream with PyTorch's recipes (``random`` is
``torch.rand`` in float64, ``permutation`` is ``torch.randperm``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .ops._fast import compiled

__all__ = ["Generator", "manual_seed", "generator", "initial_seed", "seed", "get_rng_state", "set_rng_state",
           "check_generator"]

_STATE_FORMAT = "tinygrad_edu.rng_state"
# PyTorch's range for a seed: negative seeds wrap around modulo 2**64.
_SEED_MIN, _SEED_MAX = -(1 << 63), (1 << 64) - 1
# torch.Generator()'s seed before anyone sets one (c10's default_rng_seed_val).
_DEFAULT_SEED = 67280421310721
_MT_STATE_LEN = 624
# A range of this size or more draws random64() instead of random() (PyTorch's threshold).
_RANDOM64_RANGE = 1 << 28


def _check_seed(who: str, value: Any) -> int:
    """A seed in PyTorch's range [-2**63, 2**64 - 1], mapped into [0, 2**64) as PyTorch maps it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{who}: seed must be an integer in [{_SEED_MIN}, {_SEED_MAX}], got {value!r}")
    value = int(value)
    if not _SEED_MIN <= value <= _SEED_MAX:
        raise ValueError(f"{who}: seed must be an integer in [{_SEED_MIN}, {_SEED_MAX}], got {value!r}")
    return value % (1 << 64)


class Generator:
    """PyTorch's CPU random generator (``torch.Generator``): an mt19937 stream and its seed.

    ``tg.Generator().manual_seed(n)`` passed as ``generator=`` to ``rand``,
    ``randn``, ``randint``, ``randperm``, ``normal``, ``multinomial``,
    ``bernoulli``, ``DataLoader`` or ``random_split`` gives the numbers
    ``torch.Generator().manual_seed(n)`` gives there, and leaves the global
    stream (`manual_seed`) untouched.

    Args:
        device: only ``"cpu"`` (the streams are the CPU's).

    Example:
        >>> import tinygrad_edu as tg
        >>> g = tg.Generator().manual_seed(0)
        >>> tg.rand(2, generator=g)
        tensor([0.4963, 0.7682])
    """

    def __init__(self, device: Any = "cpu") -> None:
        if str(device) != "cpu":
            raise ValueError(f"Generator: only the 'cpu' device is supported, got {device!r}")
        self.device = "cpu"
        self._bits = np.random.MT19937(0)
        self.manual_seed(_DEFAULT_SEED)

    # -- PyTorch's interface ---------------------------------------------------

    def manual_seed(self, seed: int) -> Generator:
        """Reseed: mt19937 from the low 32 bits of ``seed``; returns this generator.

        Raises:
            ValueError: ``seed`` is not an integer in [-2**63, 2**64 - 1] (negative seeds count modulo 2**64).
        """
        self._seed = _check_seed("manual_seed", seed)
        self._bits._legacy_seeding(self._seed & 0xFFFFFFFF)
        self._next_double_normal: float | None = None
        return self

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with (in [0, 2**64))."""
        return self._seed

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        new_seed = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(new_seed)
        return new_seed

    def get_state(self) -> dict[str, Any]:
        """A snapshot of this generator for `set_state`, as plain data (see `get_rng_state`)."""
        state = self._bits.state["state"]
        return {"format": _STATE_FORMAT, "seed": self._seed,
                "generator": {"bit_generator": "MT19937",
                              "state": {"key": [int(k) for k in state["key"]], "pos": int(state["pos"])}},
                "next_double_normal": self._next_double_normal}

    def set_state(self, state: dict[str, Any]) -> Generator:
        """Restore a `get_state` snapshot (checked completely before anything changes); returns this generator.

        Raises:
            ValueError: ``state`` is not a state `get_state` made (the message says what it got).
        """
        seed_value, key, pos, cached = _parse_state(state)
        self._bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
        self._seed = seed_value
        self._next_double_normal = cached
        return self

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed})"

    # -- the raw streams -------------------------------------------------------

    def random(self, size: Any = None, dtype: Any = np.float64) -> Any:
        """Uniform [0, 1) floats (NumPy's name; PyTorch's ``rand`` recipe), a Python float if ``size`` is None."""
        shape = () if size is None else size
        values = uniform(self, np.empty(shape, dtype=np.dtype(dtype)).shape, np.dtype(dtype), 0.0, 1.0)
        return float(values) if size is None else values

    def random32(self, n: int) -> np.ndarray:
        """The next ``n`` 32-bit outputs of mt19937 (PyTorch's ``random()``), as uint64."""
        return self._bits.random_raw(int(n)).astype(np.uint64, copy=False)

    def random64(self, n: int) -> np.ndarray:
        """The next ``n`` 64-bit draws (PyTorch's ``random64()``: two outputs, the first the high half)."""
        raw = self.random32(2 * int(n))
        return (raw[0::2] << np.uint64(32)) | raw[1::2]

    # -- NumPy's vocabulary, over PyTorch's recipes -------------------------------

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> Any:
        """N(0, 1) samples (``torch.randn``'s recipe for this many elements)."""
        shape = () if size is None else size
        values = normal(self, np.empty(shape, dtype=np.dtype(dtype)).shape, np.dtype(dtype), 0.0, 1.0)
        return float(values) if size is None else values

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None) -> Any:
        """N(loc, scale**2) samples in float64 (``Tensor.normal_``'s recipe)."""
        shape = () if size is None else size
        values = normal(self, np.empty(shape).shape, np.dtype(np.float64), float(loc), float(scale))
        return float(values) if size is None else values

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> Any:
        """Uniform [low, high) samples in float64 (``Tensor.uniform_``'s recipe)."""
        shape = () if size is None else size
        values = uniform(self, np.empty(shape).shape, np.dtype(np.float64), float(low), float(high))
        return float(values) if size is None else values

    def integers(self, low: int, high: int | None = None, size: Any = None) -> Any:
        """Integers in [low, high) (``randint``'s recipe); ``integers(high)`` starts at 0."""
        if high is None:
            low, high = 0, low
        shape = () if size is None else size
        values = random_integers(self, np.empty(shape).shape, int(low), int(high))
        return int(values) if size is None else values

    def permutation(self, x: Any) -> np.ndarray:
        """``randperm(x)`` for an integer, else the elements of ``x`` in a random order (along axis 0)."""
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            return randperm(self, int(x))
        array = np.asarray(x)
        return array[randperm(self, len(array))]

    def standard_exponential(self, size: Any = None) -> Any:
        """Exponential(1) samples in float64 (``Tensor.exponential_``'s recipe: -log1p(-u))."""
        shape = () if size is None else size
        values = exponential(self, np.empty(shape).shape, np.dtype(np.float64), 1.0)
        return float(values) if size is None else values

    def exponential(self, scale: float = 1.0, size: Any = None) -> Any:
        """Exponential samples of mean ``scale`` in float64."""
        return self.standard_exponential(size) * scale


_STATE_KEYS = {"format", "seed", "generator", "next_double_normal"}


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _parse_state(state: Any) -> tuple[int, np.ndarray, int, float | None]:
    """The parts of a `Generator.get_state` snapshot; a ValueError saying what is wrong otherwise.

    Everything is checked with its exact type (a key word ``1.5``, ``True`` or ``"7"`` is refused, never
    rounded or parsed), so a damaged checkpoint is this one ValueError and changes nothing.
    """
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT or "generator" not in state \
            or "seed" not in state:
        raise ValueError(f"set_rng_state expects a state returned by tg.get_rng_state() "
                         f"(a dict with 'format', 'seed' and 'generator'), got {_describe(state)}")
    if not set(state) <= _STATE_KEYS:
        raise ValueError(f"set_rng_state: the state has unknown keys {sorted(map(str, set(state) - _STATE_KEYS))}; "
                         f"expected {sorted(_STATE_KEYS)}")
    seed_value = state["seed"]
    if not _is_integer(seed_value) or not 0 <= seed_value < (1 << 64):
        raise ValueError(f"set_rng_state: the state's seed must be an integer in [0, 2**64), got {seed_value!r}")
    inner = state["generator"]
    name = inner.get("bit_generator") if isinstance(inner, dict) else None
    if name != "MT19937":
        raise ValueError(f"set_rng_state: the state's generator must be an MT19937 state (PyTorch's "
                         f"generator; states saved before the streams became PyTorch's held PCG64), "
                         f"got {_describe(inner)}")
    key, pos = _parse_mt19937(inner)
    cached = state.get("next_double_normal")
    if cached is not None and (isinstance(cached, (bool, np.bool_)) or not isinstance(cached, (float, int, np.floating,
                                                                                              np.integer))
                               or not math.isfinite(cached)):
        raise ValueError(f"set_rng_state: the state's next_double_normal must be a finite float or None, "
                         f"got {cached!r}")
    return int(seed_value), key, pos, None if cached is None else float(cached)


def _parse_mt19937(inner: dict) -> tuple[np.ndarray, int]:
    """The key (624 words of 32 bits, as uint32) and position of an MT19937 state, checked exactly."""
    expected = f"{{'key': {_MT_STATE_LEN} integers in [0, 2**32), 'pos': an integer in [0, {_MT_STATE_LEN}]}}"
    body = inner.get("state")
    if set(inner) != {"bit_generator", "state"} or not isinstance(body, dict) or set(body) != {"key", "pos"}:
        raise ValueError(f"set_rng_state: the state's MT19937 generator state is invalid: expected {expected}, "
                         f"got {_describe(body)}")
    key, pos = body["key"], body["pos"]
    if isinstance(key, np.ndarray):
        words_ok = key.dtype.kind in "iu" and key.shape == (_MT_STATE_LEN,)
    else:
        # The distinct types of the words, not each word, are checked: 624 isinstance calls cost 5x more.
        words_ok = isinstance(key, (list, tuple)) and len(key) == _MT_STATE_LEN \
            and all(issubclass(kind, (int, np.integer)) and not issubclass(kind, (bool, np.bool_))
                    for kind in set(map(type, key)))
    if not words_ok:
        raise ValueError(f"set_rng_state: the state's MT19937 generator state is invalid: its key must be "
                         f"{_MT_STATE_LEN} integers in [0, 2**32), got {_describe(key)}")
    try:
        words = np.array(key, dtype=np.int64)  # an unsigned word past 2**63 wraps to a negative one: refused below
    except OverflowError:
        words = None
    if words is None or (words < 0).any() or (words >= 1 << 32).any():
        bad = next(int(word) for word in key if not 0 <= int(word) < 1 << 32)
        raise ValueError(f"set_rng_state: the state's MT19937 generator state is invalid: its key holds {bad}, "
                         f"outside [0, 2**32)")
    if not _is_integer(pos) or not 0 <= pos <= _MT_STATE_LEN:
        raise ValueError(f"set_rng_state: the state's MT19937 generator state is invalid: its pos must be an "
                         f"integer in [0, {_MT_STATE_LEN}], got {pos!r}")
    key = words.astype(np.uint32)
    if not (key[0] & 0x80000000) and not key[1:].any():
        # The one state mt19937 never reaches from a seed: it would draw zeros forever.
        raise ValueError("set_rng_state: the state's MT19937 generator state is invalid: its key is all zeros")
    return key, int(pos)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(item).__name__ for item in value})
        return f"a {type(value).__name__} of {len(value)} items ({', '.join(kinds) or 'empty'})"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:120]


def check_generator(who: str, gen: Any) -> Generator:
    """``gen``, or the global generator for ``None``; a TypeError naming anything else."""
    if gen is None:
        return _global
    if not isinstance(gen, Generator):
        raise TypeError(f"{who}: generator must be a tg.Generator (or None for the global one), "
                        f"got {type(gen).__name__}: {gen!r}")
    return gen


# -- the recipes ------------------------------------------------------------------

def _unit_floats(gen: Generator, n: int, dtype: np.dtype) -> np.ndarray:
    """``n`` uniforms on [0, 1): 24 bits of random() for float32, 53 bits of random64() for float64."""
    if dtype == np.float64:
        return (gen.random64(n) & np.uint64((1 << 53) - 1)).astype(np.float64) * 2.0 ** -53
    bits = gen.random32(n) & np.uint64((1 << 24) - 1)
    return bits.astype(np.float32) * np.float32(2.0 ** -24)


def _fma(a: Any, b: Any, c: Any, dtype: np.dtype) -> np.ndarray:
    """``a * b + c`` rounded once, in ``dtype``: the fused multiply-add PyTorch's compiler makes of it.

    PyTorch's CPU kernels are compiled with FMA contraction, so ``x * scale + shift`` there is
    rounded once, not twice. float32: the product is exact in float64 and the sum's rounding error
    is known (TwoSum), which settles the one case where rounding twice differs (a float64 sum that
    falls exactly halfway between two float32 values): exact. float64: Dekker's exact product and
    TwoSum, their two error terms added before the last rounding -- which can still differ from a
    true fused multiply-add when those terms land the sum near a halfway point; no case was found
    in 15 million draws against PyTorch.
    """
    if dtype == np.float32:
        a, b, c = (np.asarray(v, dtype=np.float32).astype(np.float64) for v in (a, b, c))
        product = a * b  # exact: 24 + 24 bits
        total = np.asarray(product + c)
        # Halfway between two float32 values: the 29 float64 mantissa bits float32 drops are 1000...0
        # (for float32's normal range; anything smaller is checked the same careful way).
        dropped = total.view(np.uint64) & np.uint64((1 << 29) - 1)
        suspect = (dropped == np.uint64(1 << 28)) | ((np.abs(total) < 2.0 ** -126) & (total != 0))
        rounded = total.astype(np.float32)
        if suspect.any():
            where = np.nonzero(suspect)
            product_s, c_s = np.broadcast_to(product, total.shape)[where], np.broadcast_to(c, total.shape)[where]
            total_s = total[where]
            error = _two_sum_error(product_s, c_s, total_s)
            back = total_s.astype(np.float32).astype(np.float64)
            neighbour = np.nextafter(total_s.astype(np.float32),
                                     np.where(total_s > back, np.inf, -np.inf).astype(np.float32))
            halfway = (back != total_s) & ((back + neighbour.astype(np.float64)) * 0.5 == total_s) & (error != 0)
            nudged = np.where(halfway, np.nextafter(total_s, np.where(error > 0, np.inf, -np.inf)), total_s)
            rounded[where] = nudged.astype(np.float32)
        return rounded
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    product = a * b
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    product_error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    total = product + c
    return total + (_two_sum_error(product, c, total) + product_error)


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split of float64 ``x`` into a high and a low half of 26 bits each."""
    scaled = 134217729.0 * x  # 2**27 + 1
    high = scaled - (scaled - x)
    return high, x - high


def _two_sum_error(a: np.ndarray, b: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The exact rounding error of ``total = a + b`` (Knuth's TwoSum)."""
    b_virtual = total - a
    return (a - (total - b_virtual)) + (b - b_virtual)


def _libm_log(x: np.ndarray) -> np.ndarray:
    """float64 log by the C library (PyTorch's std::log); NumPy's own SIMD log differs in the last bit."""
    return _libm(math.log, x)


def _libm(function: Any, x: np.ndarray) -> np.ndarray:
    """``function`` (one of `math`'s, which are the C library's) over every element of float64 ``x``."""
    return np.fromiter(map(function, x.ravel().tolist()), dtype=np.float64, count=x.size).reshape(x.shape)


def _floating(who: str, dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{who}: PyTorch's streams are reproduced for float32 and float64, got dtype {dtype}")
    return dtype


def uniform(gen: Generator, shape: tuple, dtype: Any, low: float, high: float) -> np.ndarray:
    """Uniform [low, high) samples of ``shape``: ``Tensor.uniform_``'s recipe (one draw per element)."""
    dtype = _floating("uniform_", dtype)
    u = _unit_floats(gen, math.prod(shape), dtype)
    low_, high_ = dtype.type(low), dtype.type(high)
    return _fma(u, high_ - low_, low_, dtype).reshape(shape)


def random_integers(gen: Generator, shape: tuple, low: int, high: int) -> np.ndarray:
    """Integers in [low, high) as int64: ``random() % range + low``, random64() for a range >= 2**28."""
    span = high - low
    if span <= 0:
        raise ValueError(f"randint: needs low < high, got low={low}, high={high}")
    if span >= 1 << 64:
        raise ValueError(f"randint: the range high - low must be below 2**64, got {span}")
    n = math.prod(shape)
    draws = gen.random64(n) if span >= _RANDOM64_RANGE else gen.random32(n)
    # (draw % span + low) wraps modulo 2**64 in C++ and is then read as int64.
    values = (draws % np.uint64(span)) + np.uint64(low % (1 << 64))
    return values.view(np.int64).reshape(shape)


def random_fill(gen: Generator, shape: tuple, dtype: Any, low: int = 0, high: int | None = None) -> np.ndarray:
    """``Tensor.random_``'s values of ``dtype``: integers in [low, high), by default [0, 2**mantissa or max].

    With ``high`` given: `random_integers`' recipe. Without (and ``low`` 0): one draw reduced modulo
    max + 1 for integers (random64() for int64, random() otherwise; a bool takes the low bit), or
    modulo 2**digits + 1 for floats (random64() for float64, random() for float32). With only ``low``,
    the range ends at the dtype's largest value (2**digits for floats).
    """
    dtype = np.dtype(dtype)
    n = math.prod(shape)
    if dtype == np.bool_:
        top = 2
    elif dtype.kind == "f":
        top = (1 << np.finfo(dtype).nmant + 1) + 1
    else:
        top = int(np.iinfo(dtype).max) + 1
    if high is None and low == 0:
        wide = dtype in (np.int64, np.float64)
        draws = gen.random64(n) if wide else gen.random32(n)
        values = draws & np.uint64(1) if dtype == np.bool_ else draws % np.uint64(top)
        return values.astype(dtype).reshape(shape)
    if high is None:
        high = top
    return random_integers(gen, shape, int(low), int(high)).astype(dtype)


def _normal_scalar(gen: Generator, n: int, mean: float, std: float) -> np.ndarray:
    """``n`` float64 normals by PyTorch's scalar path (Box–Muller pairs, the sine cached for the next draw)."""
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        if gen._next_double_normal is not None:
            value, gen._next_double_normal = gen._next_double_normal, None
        else:
            u1, u2 = _unit_floats(gen, 2, np.dtype(np.float64))
            # math's functions are the C library's, as PyTorch's std::log1p, std::cos and std::sin.
            radius = math.sqrt(-2.0 * math.log1p(-float(u2)))
            theta = 2.0 * math.pi * float(u1)
            gen._next_double_normal = radius * math.sin(theta)
            value = radius * math.cos(theta)
        out[i] = _fma(value, std, mean, np.dtype(np.float64))
    return out


def _box_muller_blocks(u: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Box–Muller on blocks of 16 uniforms (rows of ``u``): cos into slots 0-7, sin into 8-15.

    float64 is PyTorch's ``normal_fill_16`` (the C library's log, cos and sin). float32 is its
    ``normal_fill_16_AVX2``, which x86 builds run on any CPU with AVX2 (AVX-512 ones included):
    Cephes' single-precision log and sincos polynomials (``avx_mathfun.h``) instead of the C
    library's, compiled with fused multiply-adds -- reproduced here operation by operation.
    """
    if u.dtype == np.float64:
        u1 = 1.0 - u[:, :8]
        radius = np.sqrt(-2.0 * _libm_log(u1))
        theta = 2.0 * math.pi * u[:, 8:]
        cos, sin = np.cos(theta), np.sin(theta)  # NumPy's float64 cos and sin agree with the C library's
    else:
        u1 = np.float32(1) - u[:, :8]
        radius = np.sqrt(np.float32(-2) * _cephes_log(u1))
        sin, cos = _cephes_sincos(np.float32(2 * math.pi) * u[:, 8:])
    return np.concatenate([_fma(radius * cos, std, mean, u.dtype), _fma(radius * sin, std, mean, u.dtype)], axis=1)


_F32 = np.dtype(np.float32)


def _fma32(a: Any, b: Any, c: Any) -> np.ndarray:
    return _fma(a, b, c, _F32)


def _cephes_log(x: np.ndarray) -> np.ndarray:
    """Cephes' float32 log for x in (0, 1] as PyTorch's AVX2 build computes it (``log256_ps``).

    x = m * 2**e with m in [sqrt(1/2), sqrt(2)); log x = e log 2 + log(1 + f), f = m - 1, by a
    degree-9 polynomial in f, with log 2 split into two parts for accuracy.
    """
    f32 = np.float32
    bits = x.view(np.uint32)
    exponent = (bits >> np.uint32(23)).astype(np.int32) - 127
    mantissa = ((bits & np.uint32(~0x7F800000 & 0xFFFFFFFF)) | f32(0.5).view(np.uint32)).view(np.float32)
    e = exponent.astype(np.float32) + f32(1)
    small = mantissa < f32(0.707106781186547524)
    f = (mantissa - f32(1)) + np.where(small, mantissa, f32(0))
    e = e - np.where(small, f32(1), f32(0))
    z = f * f
    y = np.full_like(f, f32(7.0376836292e-2))
    for coefficient in (-1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                        -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1):
        y = _fma32(y, f, f32(coefficient))
    y = y * f
    y = _fma32(y, z, e * f32(-2.12194440e-4))
    y = _fma32(z, f32(-0.5), y)
    return _fma32(e, f32(0.693359375), f + y)


def _cephes_sincos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cephes' float32 sin and cos for x >= 0 as PyTorch's AVX2 build computes them (``sincos256_ps``).

    x is reduced by the multiple j of pi/4 nearest above (an even j), in three parts of pi/4 for
    accuracy; one polynomial gives sin, another cos, on the reduced argument; j picks and signs them.
    """
    f32 = np.float32
    j = (x * f32(1.27323954473516)).astype(np.int32)  # 4/pi, truncated as cvttps does
    j = (j + 1) & ~1
    quadrant = j.astype(np.float32)
    flip_sin = (j & 4) != 0
    flip_cos = (~(j - 2) & 4) != 0
    use_sine_polynomial = (j & 2) == 0
    for part in (-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8):
        x = _fma32(quadrant, f32(part), x)
    z = x * x
    cos_poly = _fma32(f32(2.443315711809948e-5), z, f32(-1.388731625493765e-3))
    cos_poly = _fma32(cos_poly, z, f32(4.166664568298827e-2)) * z
    cos_poly = _fma32(cos_poly, z, -(z * f32(0.5))) + f32(1)
    sin_poly = _fma32(f32(-1.9515295891e-4), z, f32(8.3321608736e-3))
    sin_poly = _fma32(sin_poly, z, f32(-1.6666654611e-1)) * z
    sin_poly = _fma32(sin_poly, x, x)
    sin = np.where(use_sine_polynomial, sin_poly, cos_poly)
    cos = np.where(use_sine_polynomial, cos_poly, sin_poly)
    return np.where(flip_sin, -sin, sin), np.where(flip_cos, -cos, cos)


def normal(gen: Generator, shape: tuple, dtype: Any, mean: float, std: float, contiguous: bool = True) -> np.ndarray:
    """N(mean, std**2) samples of ``shape``: ``Tensor.normal_``'s recipe for that many elements.

    ``contiguous=False`` (a strided view being filled) takes the scalar path at every size, as PyTorch.
    """
    dtype = _floating("normal_", dtype)
    n = math.prod(shape)
    if n < 16 or not contiguous:
        return _normal_scalar(gen, n, float(mean), float(std)).astype(dtype).reshape(shape)
    u = _unit_floats(gen, n, dtype)
    whole = n - n % 16
    out = np.empty(n, dtype=dtype)
    out[:whole] = _box_muller_blocks(u[:whole].reshape(-1, 16), mean, std).reshape(-1)
    if whole != n:
        # The tail: 16 fresh uniforms over the last 16 slots, transformed as one more block.
        tail = _unit_floats(gen, 16, dtype)
        out[n - 16:] = _box_muller_blocks(tail.reshape(1, 16), mean, std).reshape(-1)
    return out.reshape(shape)


def exponential(gen: Generator, shape: tuple, dtype: Any, rate: float) -> np.ndarray:
    """Exponential(rate) samples: ``-1/rate * log1p(-u)`` over float64 uniforms, one per element."""
    dtype = _floating("exponential_", dtype)
    u = _unit_floats(gen, math.prod(shape), np.dtype(np.float64))
    return (-1.0 / rate * _libm(math.log1p, -u)).astype(dtype).reshape(shape)


def bernoulli(gen: Generator, shape: tuple, p: Any) -> np.ndarray:
    """Booleans that are True with probability ``p``: ``u < p``, one uniform u per element.

    A number ``p`` compares float64 uniforms. An array of probabilities (broadcast to ``shape``)
    compares uniforms of its own precision, as PyTorch's kernel does: float64 ones for float64
    probabilities, float32 ones (24 bits of one 32-bit draw) for any other dtype.
    """
    if isinstance(p, np.ndarray):
        precision = np.dtype(np.float64) if p.dtype == np.float64 else np.dtype(np.float32)
        probabilities = np.broadcast_to(p.astype(precision, copy=False), shape)
        return _unit_floats(gen, math.prod(shape), precision).reshape(shape) < probabilities
    return (_unit_floats(gen, math.prod(shape), np.dtype(np.float64)) < p).reshape(shape)


def multinomial(gen: Generator, weights: np.ndarray, num_samples: int, replacement: bool) -> np.ndarray:
    """Category indices drawn by PyTorch's CPU ``multinomial`` from rows of non-negative ``weights`` (2-d).

    Without replacement, or for one sample: q = exponential_(1) per weight in the weights' dtype, and
    the indices of the ``num_samples`` largest w / q per row, largest first (the exponential race,
    a draw one after another proportional to the remaining weights). With replacement: per row the
    running sum of the weights in their dtype, divided by the total, the last set to 1; per sample
    one float64 uniform u and the first index whose cumulative weight is >= u.
    """
    dtype = weights.dtype if weights.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    weights = weights.astype(dtype, copy=False)
    if not replacement or num_samples == 1:
        q = exponential(gen, weights.shape, dtype, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            keys = weights / q
        # Largest first; among equal keys (weights of 0) the lower index first.
        order = np.argsort(-keys, axis=1, kind="stable")
        return order[:, :num_samples].astype(np.int64)
    samples = np.empty((weights.shape[0], num_samples), dtype=np.int64)
    for row, row_weights in enumerate(weights):
        cumulative = np.cumsum(row_weights, dtype=dtype)  # sequential, in the weights' dtype, as PyTorch's loop
        cumulative = cumulative / cumulative[-1]
        cumulative[-1] = 1
        u = _unit_floats(gen, num_samples, np.dtype(np.float64))
        samples[row] = np.searchsorted(cumulative.astype(np.float64), u, side="left")
    return samples


def randperm(gen: Generator, n: int) -> np.ndarray:
    """``torch.randperm(n)``: 0..n-1 shuffled by PyTorch's Fisher–Yates (int64)."""
    if n < (2 ** 32 - 1) // 20:
        # For i = 0 .. n-2: swap slot i with slot i + random() % (n - i).
        offsets = gen.random32(max(n - 1, 0)) % np.arange(n, 1, -1, dtype=np.uint64)
        fast = compiled() if n > 1000 else None  # a DataLoader's shuffle of 60,000: 60 ms in Python, 1 in numba
        if fast is not None:
            order = np.arange(n, dtype=np.int64)
            fast.fisher_yates(order, offsets.astype(np.int64))
            return order
        order = list(range(n))
        for i, offset in enumerate(offsets.tolist()):
            j = i + offset
            order[i], order[j] = order[j], order[i]
        return np.asarray(order, dtype=np.int64)
    # PyTorch's large-n branch: the "inside-out" shuffle with random64() % (i + 1).
    picks = (gen.random64(n) % np.arange(1, n + 1, dtype=np.uint64)).astype(np.int64)
    order = np.empty(n, dtype=np.int64)
    fast = compiled()
    if fast is not None:
        fast.inside_out(order, picks)
        return order
    for i in range(n):
        z = int(picks[i])
        order[i] = order[z]
        order[z] = i
    return order


# -- the global generator -------------------------------------------------------------

_global = Generator()
_global.seed()  # like torch.default_generator: unseeded runs differ until manual_seed is called


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (every random draw of the library); returns it.

    Args:
        seed: an integer in [-2**63, 2**64 - 1], as PyTorch accepts; negative seeds count modulo 2**64.
            Only the low 32 bits reach mt19937, as in PyTorch.

    Raises:
        ValueError: ``seed`` is out of that range or not an integer (the message names it).

    Example:
        >>> import tinygrad_edu as tg
        >>> _ = tg.manual_seed(0); a = tg.randn(3)
        >>> _ = tg.manual_seed(0); b = tg.randn(3)
        >>> bool((a == b).all())
        True
    """
    return _global.manual_seed(seed)


def seed() -> int:
    """Seed the global generator from the operating system's entropy; returns the seed (``torch.seed``)."""
    return _global.seed()


def initial_seed() -> int:
    """The seed the global generator was last seeded with (``torch.initial_seed``)."""
    return _global.initial_seed()


def generator() -> Generator:
    """The global generator every random draw of the library uses unless given ``generator=``."""
    return _global


def get_rng_state() -> dict[str, Any]:
    """A snapshot of the global generator, for `set_rng_state`.

    As ``torch.get_rng_state()``, but the state is plain data (a dict of
    strings, integers, a list of integers and a float or None) rather than a
    byte tensor, so ``tg.save`` stores it as it is (checkpoints do). Treat it
    as opaque: its contents may change between versions.

    Example:
        >>> import tinygrad_edu as tg
        >>> state = tg.get_rng_state()
        >>> a = tg.rand(2)
        >>> tg.set_rng_state(state)
        >>> bool((tg.rand(2) == a).all())
        True
    """
    return _global.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the global generator from a `get_rng_state` snapshot.

    Every draw afterwards (``randn``, init, dropout, shuffling) is what it was
    after the snapshot, bit for bit; `initial_seed` comes back too. The state
    is checked completely before anything changes. The global generator stays
    the same object, so one someone holds (`manual_seed` returns it) follows.

    Raises:
        ValueError: ``state`` is not a state `get_rng_state` made (the message says which part is
            wrong and what it got). Every part is checked with its exact type -- a key word ``1.5``,
            ``True`` or ``"7"``, a ``pos`` of ``"3"``, an all-zero key, a non-finite cached normal
            are refused, never rounded or parsed -- so a damaged checkpoint cannot restore a
            different stream. PyTorch, whose state is a byte tensor, raises ``TypeError`` or
            ``RuntimeError`` for a damaged one; here it is always this ``ValueError``.
    """
    _global.set_state(state)
