"""Datasets and the `DataLoader` that cuts them into batches, as ``torch.utils.data``.

Gradient descent takes a step after looking at a *batch* of samples. How big
the batch is decides which kind of gradient descent a loop runs:

* ``batch_size=len(dataset)``: **batch gradient descent**. Every step uses the
  whole data set, so the gradient is exact, but each step costs a full pass.
* ``batch_size=1``: **stochastic gradient descent**. Each step looks at one
  sample: cheap, very noisy, and the noise can shake the parameters out of
  saddle points and shallow minima.
* anything between (32 to 256 is usual): **mini-batch gradient descent**, the
  standard. The gradient is a fair estimate, and a batch of rows keeps vector
  hardware busy.

    >>> import tinygrad_edu as tg
    >>> X, y = tg.randn(100, 1), tg.randn(100, 1)
    >>> loader = tg.data.DataLoader(tg.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    >>> len(loader)                       # ceil(100 / 32) batches per epoch
    4
    >>> [xb.shape[0] for xb, yb in loader]
    [32, 32, 32, 4]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import autograd
from . import rng as _rng
from ._checks import check_int, check_probability
from .factories import from_numpy
from .tensor import Tensor, stack

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split"]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


class Dataset:
    """A collection of samples: ``len(dataset)`` of them, the ``i``-th is ``dataset[i]``.

    Subclass it and define ``__len__`` and ``__getitem__``. A sample is usually
    a tuple such as ``(x, y)``; `DataLoader` stacks the samples of a batch
    position by position with ``tg.stack``.

    Example:
        >>> import tinygrad_edu as tg
        >>> class Squares(tg.data.Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         return tg.tensor([float(i)]), tg.tensor([float(i * i)])
        >>> xb, yb = next(iter(tg.data.DataLoader(Squares(), batch_size=4)))
        >>> yb.tolist()
        [[0.0], [1.0], [4.0], [9.0]]
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def _batch(self, indices: np.ndarray) -> tuple[Tensor, ...] | None:
        """The samples at ``indices`` already batched, or ``None`` to let `DataLoader` collate them.

        A dataset that can gather many rows in one NumPy operation overrides
        this; the base class cannot, so the loader falls back to one
        ``dataset[i]`` per sample.
        """
        return None


class TensorDataset(Dataset):
    """Tensors that share their first dimension; sample ``i`` is ``(t[i] for t in tensors)``.

    Args:
        *tensors: one or more Tensors (arrays and lists are converted with
            ``tg.tensor``), all with the same length along dimension 0.

    Raises:
        ValueError: no tensors, a 0-d tensor, or first dimensions that differ
            (the message lists them).

    Example:
        >>> import tinygrad_edu as tg
        >>> ds = tg.data.TensorDataset(tg.zeros(5, 3), tg.arange(5))
        >>> len(ds), [t.shape for t in ds[2]]
        (5, [(3,), ()])
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        for position, t in enumerate(tensors):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {position} is 0-dimensional; samples run along dimension 0")
        lengths = [t.shape[0] for t in tensors]
        if any(length != lengths[0] for length in lengths):
            raise ValueError(
                f"TensorDataset: every tensor must have the same size in dimension 0, got lengths {lengths}"
            )
        self.tensors: tuple[Tensor, ...] = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        # A copy of the row, outside any graph: samples never require grad.
        return tuple(from_numpy(np.array(t.numpy()[index])) for t in self.tensors)

    def _batch(self, indices: np.ndarray) -> tuple[Tensor, ...]:
        # One gather per tensor instead of one Python call per sample; np.take copies,
        # so changing a batch never changes the data set.
        return tuple(from_numpy(np.take(t.numpy(), indices, axis=0)) for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: any `Dataset` (or object with ``len`` and indexing).
        indices: integer positions in ``dataset``; negative ones count from the end.

    Raises:
        IndexError: an index outside ``dataset``.

    Example:
        >>> import tinygrad_edu as tg
        >>> ds = tg.data.TensorDataset(tg.arange(10))
        >>> sub = tg.data.Subset(ds, [7, 2])
        >>> len(sub), sub[0][0].item()
        (2, 7)
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        positions = np.asarray(indices if not isinstance(indices, Tensor) else indices.numpy())
        if positions.size == 0:
            positions = positions.astype(np.int64)
        if positions.ndim != 1 or positions.dtype.kind not in "iu":
            raise ValueError(f"Subset: indices must be a flat sequence of integers, got {indices!r}")
        length = len(dataset)
        out_of_range = positions[(positions >= length) | (positions < -length)]
        if out_of_range.size:
            raise IndexError(f"Subset: index {out_of_range[0]} is out of range for a dataset of length {length}")
        self.dataset = dataset
        self.indices: list[int] = [int(i) % length for i in positions]
        self._positions = np.asarray(self.indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def _batch(self, indices: np.ndarray) -> tuple[Tensor, ...] | None:
        batch = getattr(self.dataset, "_batch", None)
        return batch(self._positions[indices]) if batch is not None else None


def _collate(samples: list[Any]) -> Any:
    """Stack a list of samples position by position: tuples stay tuples, dicts stay dicts."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_collate([s[k] for s in samples]) for k in range(len(first)))
    if isinstance(first, dict):
        return {key: _collate([s[key] for s in samples]) for key in first}
    # Tensors are detached and everything else (numbers, arrays) becomes a Tensor, so the batch needs no grad.
    return stack([s.detach() if isinstance(s, Tensor) else Tensor(s) for s in samples])


class DataLoader:
    """Iterate over a dataset in batches; each pass (each ``iter()``) is one epoch.

    The batch size chooses the flavour of gradient descent:

    * ``batch_size=len(dataset)``: batch GD. One exact gradient per epoch;
      accurate, but every step pays for the whole data set.
    * ``batch_size=1``: stochastic GD. ``len(dataset)`` cheap, noisy steps per
      epoch; the noise can escape saddle points and shallow minima.
    * in between (typically 32 to 256): mini-batch GD, the standard. A decent
      gradient estimate per step, and rows processed together use vector
      hardware well. (Very large batches may generalise worse.)

    Args:
        dataset: a `TensorDataset`, a `Subset`, or any `Dataset`.
        batch_size: samples per batch, a positive integer.
        shuffle: draw a fresh random order of the samples at the start of every
            epoch (from the library generator, so ``tg.manual_seed`` makes it
            reproducible); every sample still appears exactly once per epoch.
            The order is PyTorch's ``RandomSampler``'s for the same seed.
        drop_last: leave out the last batch when it is smaller than ``batch_size``.
        generator: a `tinygrad_edu.Generator` to draw from instead of the global one.

    Random draws, as PyTorch's DataLoader makes them (so the global stream
    after an epoch is where PyTorch's is): each epoch (each ``iter()``) first
    draws a 64-bit "base seed" (for worker processes in PyTorch; unused here),
    shuffled or not. With ``shuffle`` and no ``generator``, the first batch
    then draws a second 64-bit seed, seeds a fresh `Generator` with it and
    takes ``randperm(len(dataset))`` from that; with a ``generator``, the
    ``randperm`` comes from it directly.

    Yields:
        For a `TensorDataset`, a tuple with one batched Tensor per tensor of the
        data set (rows gathered in one NumPy operation, no per-sample Python).
        For another dataset, its samples stacked with ``tg.stack`` position by
        position: tuples of Tensors for tuple samples, a Tensor for Tensor
        samples. Batches never require grad.

    Raises:
        ValueError: an empty dataset with ``shuffle=True`` (as PyTorch; without shuffling an empty
            dataset gives no batches), or ``batch_size`` that is not a positive integer.

    Example:
        >>> import tinygrad_edu as tg
        >>> _ = tg.manual_seed(0)
        >>> X = tg.arange(10.0).reshape(10, 1); y = 3 * X + 1
        >>> ds = tg.data.TensorDataset(X, y)
        >>> len(tg.data.DataLoader(ds, batch_size=10))     # batch GD: 1 step per epoch
        1
        >>> len(tg.data.DataLoader(ds, batch_size=1))      # SGD: 10 steps per epoch
        10
        >>> loader = tg.data.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True)
        >>> [xb.shape for xb, yb in loader]                # mini-batch: 2 full batches
        [(4, 1), (4, 1)]
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, *,
                 generator: _rng.Generator | None = None) -> None:
        batch_size = check_int("DataLoader", "batch_size", batch_size, minimum=1)
        if generator is not None:
            _rng.check_generator("DataLoader", generator)
        if shuffle and len(dataset) == 0:  # as PyTorch's RandomSampler; in order, an empty dataset yields nothing
            raise ValueError(f"DataLoader(shuffle=True) needs a non-empty dataset, got one of length 0 "
                             f"({type(dataset).__name__})")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        gen = _rng.check_generator("DataLoader", self.generator)
        gen.random64(1)  # PyTorch's per-epoch base seed for workers: drawn (and unused) to keep the streams alike
        return self._batches(gen)

    def _order(self, gen: _rng.Generator) -> np.ndarray:
        """This epoch's order: PyTorch's RandomSampler (a fresh Generator seeded from the stream) or 0..n-1."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.generator is None:
            # torch.empty((), dtype=torch.int64).random_(): a 64-bit draw reduced modulo 2**63.
            seed = int(gen.random64(1)[0] % np.uint64(1 << 63))
            gen = _rng.Generator().manual_seed(seed)
        return _rng.randperm(gen, n)

    def _batches(self, gen: _rng.Generator) -> Iterator[Any]:
        order = self._order(gen)  # at the first batch, as PyTorch's sampler draws it
        n = len(order)
        fast = getattr(self.dataset, "_batch", None)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            if start + self.batch_size > n:
                self._sampler_runs_out()  # PyTorch's sampler is exhausted filling this last, partial batch
            indices = order[start:start + self.batch_size]
            batch = fast(indices) if fast is not None else None
            if batch is None:
                with autograd.no_grad():
                    batch = _collate([self.dataset[int(i)] for i in indices])
            yield batch
        if self.drop_last or n % self.batch_size == 0:
            self._sampler_runs_out()  # asked for one batch more, PyTorch's sampler finds itself exhausted

    def _sampler_runs_out(self) -> None:
        """Mirror PyTorch's RandomSampler at its end: it draws one more (unused) ``randperm(n)``.

        Its loop ``yield from randperm(n)[:num_samples % n]`` runs even when that slice is empty. Only a
        ``generator`` the caller holds sees the draw (otherwise it comes from the epoch's private one).
        """
        if self.shuffle and self.generator is not None:
            _rng.randperm(self.generator, len(self.dataset))

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def random_split(dataset: Any, lengths: Sequence[int | float], *,
                 generator: _rng.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping `Subset`\\ s of the given lengths.

    ``lengths`` holds either integers that sum to ``len(dataset)``, or fractions
    that sum to 1. Fractions become ``floor(fraction * len(dataset))`` samples
    each, and what is left over is handed out one sample at a time to the
    splits in order, as PyTorch does. (Integers are always counts here; PyTorch
    would read integer lengths that sum to 1, such as ``[1, 0]``, as fractions.)

    Args:
        dataset: what to split.
        lengths: the sizes of the splits, as counts or as fractions.
        generator: a `tinygrad_edu.Generator`; by default the global one, so
            ``tg.manual_seed`` makes the split reproducible. The split is
            PyTorch's for the same seed: ``randperm(len(dataset))`` cut in order.

    Raises:
        ValueError: empty ``lengths``, a negative count, a fraction outside
            [0, 1], counts that do not sum to ``len(dataset)`` or fractions that
            do not sum to 1.

    Example:
        >>> import tinygrad_edu as tg
        >>> _ = tg.manual_seed(0)
        >>> ds = tg.data.TensorDataset(tg.randn(10, 2))
        >>> train, val = tg.data.random_split(ds, [0.8, 0.2])
        >>> len(train), len(val)
        (8, 2)
    """
    lengths = list(lengths)
    n = len(dataset)
    if not lengths:
        raise ValueError("random_split needs at least one length")
    if all(_is_int(length) for length in lengths):
        counts = [int(length) for length in lengths]
        negative = [c for c in counts if c < 0]
        if negative:
            raise ValueError(f"random_split: lengths must be non-negative, got {negative[0]} in {lengths}")
        if sum(counts) != n:
            raise ValueError(f"random_split: lengths {lengths} sum to {sum(counts)}, "
                             f"but the dataset has {n} samples")
    else:
        for i, fraction in enumerate(lengths):
            check_probability("random_split", f"the fraction at index {i}", fraction)
        total = float(sum(lengths))
        if not (math.isclose(total, 1.0) and total <= 1.0 + 1e-12):
            raise ValueError(f"random_split: fractions {lengths} sum to {total}, not 1")
        counts = [math.floor(n * fraction) for fraction in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    order = _rng.randperm(_rng.check_generator("random_split", generator), n)
    offsets = np.cumsum([0] + counts)
    return [Subset(dataset, order[offsets[i]:offsets[i + 1]]) for i in range(len(counts))]
