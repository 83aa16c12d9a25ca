"""tg.data: Dataset, TensorDataset, Subset, DataLoader and random_split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
from tinygrad_edu.data import DataLoader, Dataset, Subset, TensorDataset, random_split


def _index_dataset(n: int) -> TensorDataset:
    """Sample i is (i as a float row, i as an int64 label), so batches reveal which samples they hold."""
    return TensorDataset(tg.arange(float(n)).reshape(n, 1), tg.arange(n))


def _epoch_indices(loader: DataLoader) -> list[list[int]]:
    return [yb.tolist() for _, yb in loader]


def _expected_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else math.ceil(n / batch_size)


# ---------------------------------------------------------------------------
# batch counts and sizes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("batch_size", range(1, 14))
@pytest.mark.parametrize("n", range(1, 12))
def test_batch_count_and_sizes_for_every_combination(n, batch_size, drop_last):
    loader = DataLoader(_index_dataset(n), batch_size=batch_size, drop_last=drop_last)
    sizes = [xb.shape[0] for xb, _ in loader]
    expected = _expected_batches(n, batch_size, drop_last)
    assert len(loader) == expected
    assert len(sizes) == expected
    full, rest = divmod(n, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest and not drop_last else [])


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, batch_size", [(1, 1), (7, 3), (10, 5), (10, 11), (33, 8), (100, 32)])
def test_len_matches_pytorch(torch, n, batch_size, drop_last):
    torch_loader = torch.utils.data.DataLoader(range(n), batch_size=batch_size, drop_last=drop_last)
    assert len(DataLoader(_index_dataset(n), batch_size=batch_size, drop_last=drop_last)) == len(torch_loader)


def test_batch_stochastic_and_mini_batch_gradient_descent_counts():
    ds = _index_dataset(100)
    assert len(DataLoader(ds, batch_size=len(ds))) == 1  # batch GD: one step per epoch
    assert len(DataLoader(ds, batch_size=1)) == 100  # stochastic GD: one step per sample
    assert len(DataLoader(ds, batch_size=32)) == 4  # mini-batch GD: 32 + 32 + 32 + 4
    assert len(DataLoader(ds, batch_size=32, drop_last=True)) == 3
    (xb, yb), = list(DataLoader(ds, batch_size=100))
    assert xb.shape == (100, 1) and yb.shape == (100,)
    assert all(xb.shape == (1, 1) for xb, _ in DataLoader(ds, batch_size=1))


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 250), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_property_batches_cover_the_data_once(n, batch_size, shuffle, drop_last, seed):
    tg.manual_seed(seed)
    loader = DataLoader(_index_dataset(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    batches = _epoch_indices(loader)
    assert len(batches) == len(loader) == _expected_batches(n, batch_size, drop_last)
    sizes = [len(b) for b in batches]
    assert all(size == batch_size for size in sizes[:-1])
    if batches:
        assert 1 <= sizes[-1] <= batch_size
        if drop_last:
            assert sizes[-1] == batch_size
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen))  # no sample twice in an epoch
    if drop_last:
        assert len(seen) == (n // batch_size) * batch_size
    else:
        assert sorted(seen) == list(range(n))  # every sample exactly once
    if not shuffle:
        assert seen == list(range(len(seen)))  # order preserved


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 60), batch_size=st.integers(1, 70))
def test_property_features_and_labels_stay_paired(n, batch_size):
    loader = DataLoader(_index_dataset(n), batch_size=batch_size, shuffle=True)
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy().astype(np.float32))


# ---------------------------------------------------------------------------
# shuffling and reproducibility
# ---------------------------------------------------------------------------


def test_shuffle_is_reproducible_under_manual_seed():
    loader = DataLoader(_index_dataset(50), batch_size=7, shuffle=True)
    tg.manual_seed(123)
    first = [_epoch_indices(loader) for _ in range(3)]
    tg.manual_seed(123)
    second = [_epoch_indices(loader) for _ in range(3)]
    assert first == second
    tg.manual_seed(124)
    assert [_epoch_indices(loader) for _ in range(3)] != first


def test_shuffle_draws_a_new_permutation_every_epoch():
    tg.manual_seed(0)
    loader = DataLoader(_index_dataset(50), batch_size=50, shuffle=True)
    epochs = [_epoch_indices(loader)[0] for _ in range(4)]
    for order in epochs:
        assert sorted(order) == list(range(50))
    assert len({tuple(order) for order in epochs}) == 4
    assert epochs[0] != list(range(50))


def test_shuffle_draws_from_the_library_generator_as_pytorch():
    torch = pytest.importorskip("torch")
    n = 40
    torch.manual_seed(7)
    expected = [batch.tolist() for batch in torch.utils.data.DataLoader(range(n), batch_size=n, shuffle=True)]
    tg.manual_seed(7)
    assert _epoch_indices(DataLoader(_index_dataset(n), batch_size=n, shuffle=True)) == expected


def test_shuffle_with_own_generator_ignores_library_state():
    loader_a = DataLoader(_index_dataset(30), batch_size=30, shuffle=True, generator=tg.Generator().manual_seed(5))
    loader_b = DataLoader(_index_dataset(30), batch_size=30, shuffle=True, generator=tg.Generator().manual_seed(5))
    tg.manual_seed(1)
    a = _epoch_indices(loader_a)
    tg.manual_seed(2)
    b = _epoch_indices(loader_b)
    assert a == b


def test_no_shuffle_keeps_order_every_epoch():
    loader = DataLoader(_index_dataset(10), batch_size=4)
    assert _epoch_indices(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert _epoch_indices(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_two_iterators_are_independent_epochs():
    tg.manual_seed(0)
    loader = DataLoader(_index_dataset(20), batch_size=5, shuffle=True)
    it1, it2 = iter(loader), iter(loader)
    a = [yb.tolist() for _, yb in it1]
    b = [yb.tolist() for _, yb in it2]
    assert sorted(sum(a, [])) == sorted(sum(b, [])) == list(range(20))
    assert a != b


# ---------------------------------------------------------------------------
# what a batch is
# ---------------------------------------------------------------------------


def test_batches_are_tuples_of_tensors_with_the_right_values_and_dtypes():
    x = tg.randn(10, 3)
    y = tg.arange(10)
    w = tg.randn(10, 2, 2, dtype=tg.float64)
    batches = list(DataLoader(TensorDataset(x, y, w), batch_size=4))
    for k, batch in enumerate(batches):
        assert isinstance(batch, tuple) and len(batch) == 3
        assert all(isinstance(t, tg.Tensor) for t in batch)
        rows = slice(4 * k, 4 * k + 4)
        np.testing.assert_array_equal(batch[0].numpy(), x.numpy()[rows])
        np.testing.assert_array_equal(batch[1].numpy(), y.numpy()[rows])
        np.testing.assert_array_equal(batch[2].numpy(), w.numpy()[rows])
        assert (batch[0].dtype, batch[1].dtype, batch[2].dtype) == (tg.float32, tg.int64, tg.float64)


def test_batches_never_require_grad():
    x = tg.randn(8, 2, requires_grad=True)
    ds = TensorDataset(x, tg.randn(8, 1))
    for shuffle in (False, True):
        for xb, yb in DataLoader(ds, batch_size=3, shuffle=shuffle):
            assert not xb.requires_grad and not yb.requires_grad
            assert xb.is_leaf
    for item in ds[0]:
        assert not item.requires_grad


def test_batches_are_copies():
    x = tg.zeros(6, 2)
    for xb, in DataLoader(TensorDataset(x), batch_size=3):
        xb.numpy()[...] = 1.0
    assert float(x.sum().item()) == 0.0


def test_tensor_dataset_batches_without_per_sample_getitem(monkeypatch):
    ds = _index_dataset(1000)

    def forbidden(self, index):
        raise AssertionError("DataLoader fetched a TensorDataset sample by sample")

    monkeypatch.setattr(TensorDataset, "__getitem__", forbidden)
    tg.manual_seed(0)
    seen = sorted(i for _, yb in DataLoader(ds, batch_size=64, shuffle=True) for i in yb.tolist())
    assert seen == list(range(1000))


# ---------------------------------------------------------------------------
# TensorDataset
# ---------------------------------------------------------------------------


def test_tensor_dataset_items():
    x, y = tg.randn(5, 3), tg.tensor([0, 1, 2, 3, 4])
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    item = ds[2]
    assert isinstance(item, tuple) and len(item) == 2
    assert all(isinstance(t, tg.Tensor) for t in item)
    np.testing.assert_array_equal(item[0].numpy(), x.numpy()[2])
    assert item[1].item() == 2 and item[1].shape == ()
    assert ds[-1][1].item() == 4
    assert ds.tensors[0] is x
    with pytest.raises(IndexError):
        ds[5]


def test_tensor_dataset_length_mismatch_names_both_lengths():
    with pytest.raises(ValueError, match=r"\[5, 4\]"):
        TensorDataset(tg.zeros(5, 2), tg.zeros(4))
    with pytest.raises(ValueError, match=r"\[3, 3, 7\]"):
        TensorDataset(tg.zeros(3), tg.zeros(3, 1), tg.zeros(7, 2))


def test_tensor_dataset_rejects_nothing_and_0d():
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-dimensional"):
        TensorDataset(tg.zeros(3), tg.tensor(1.0))


def test_tensor_dataset_converts_arrays():
    ds = TensorDataset(np.arange(6.0).reshape(3, 2), [0, 1, 1])
    assert isinstance(ds.tensors[0], tg.Tensor) and ds.tensors[0].dtype == tg.get_default_dtype()
    assert ds.tensors[1].dtype == tg.int64


# ---------------------------------------------------------------------------
# DataLoader errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, -32, 1.5, 2.0, True, "4", None])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size") as info:
        DataLoader(_index_dataset(4), batch_size=batch_size)
    assert repr(batch_size) in str(info.value)


def test_numpy_integer_batch_size_is_accepted():
    assert len(DataLoader(_index_dataset(10), batch_size=np.int64(4))) == 3


def test_empty_dataset_as_pytorch():
    """PyTorch: in order, an empty dataset gives no batches; shuffled, its RandomSampler refuses it."""
    torch = pytest.importorskip("torch")
    loader = DataLoader(TensorDataset(tg.zeros(0, 2)), batch_size=1)
    reference = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 2)), batch_size=1)
    assert (len(loader), list(loader)) == (len(reference), list(reference)) == (0, [])
    with pytest.raises(ValueError):
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 2)), shuffle=True)
    with pytest.raises(ValueError, match="length 0"):
        DataLoader(TensorDataset(tg.zeros(0, 2)), batch_size=1, shuffle=True)
    with pytest.raises(ValueError, match="length 0"):
        DataLoader([], batch_size=4, shuffle=True)


# ---------------------------------------------------------------------------
# generic datasets: collation with tg.stack
# ---------------------------------------------------------------------------


class _Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        self.calls += 1
        return tg.tensor([float(i), 2.0 * i]), i * i


def test_generic_dataset_collates_tuples():
    ds = _Squares(7)
    batches = list(DataLoader(ds, batch_size=3))
    assert [xb.shape for xb, _ in batches] == [(3, 2), (3, 2), (1, 2)]
    assert isinstance(batches[0], tuple)
    np.testing.assert_array_equal(batches[1][0].numpy(), [[3, 6], [4, 8], [5, 10]])
    assert batches[1][1].tolist() == [9, 16, 25]
    assert batches[1][1].dtype == tg.int64
    assert ds.calls == 7


def test_generic_dataset_shuffles_every_sample_once():
    tg.manual_seed(3)
    ds = _Squares(23)
    seen = [int(v) for _, yb in DataLoader(ds, batch_size=4, shuffle=True) for v in yb.tolist()]
    assert sorted(seen) == sorted(i * i for i in range(23))
    assert seen != [i * i for i in range(23)]


def test_generic_dataset_tensor_samples_and_dicts_and_lists():
    class Rows(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return tg.full((2,), float(i), requires_grad=True)

    (batch,) = list(DataLoader(Rows(), batch_size=5))
    assert isinstance(batch, tg.Tensor) and batch.shape == (5, 2)
    assert not batch.requires_grad
    np.testing.assert_array_equal(batch.numpy()[:, 0], np.arange(5))

    samples = [{"x": tg.tensor([float(i)]), "y": i} for i in range(4)]
    first = next(iter(DataLoader(samples, batch_size=2)))
    assert set(first) == {"x", "y"}
    assert first["x"].shape == (2, 1) and first["y"].tolist() == [0, 1]

    pairs = [(np.array([i, i + 1.0]), float(i)) for i in range(3)]
    xb, yb = next(iter(DataLoader(pairs, batch_size=3)))
    assert xb.shape == (3, 2) and yb.shape == (3,) and yb.dtype == tg.get_default_dtype()


def test_dataset_base_is_abstract():
    with pytest.raises(NotImplementedError):
        len(Dataset())
    with pytest.raises(NotImplementedError):
        Dataset()[0]


# ---------------------------------------------------------------------------
# Subset and random_split
# ---------------------------------------------------------------------------


def test_subset():
    ds = _index_dataset(10)
    sub = Subset(ds, [7, 2, -1])
    assert len(sub) == 3
    assert [sub[i][1].item() for i in range(3)] == [7, 2, 9]
    assert sub.indices == [7, 2, 9]
    (xb, yb), = list(DataLoader(sub, batch_size=3))
    assert yb.tolist() == [7, 2, 9]
    nested = Subset(sub, [2, 0])
    assert [yb.tolist() for _, yb in DataLoader(nested, batch_size=2)] == [[9, 7]]
    with pytest.raises(IndexError, match="10"):
        Subset(ds, [3, 10])
    assert len(Subset(ds, [])) == 0


def test_subset_of_generic_dataset_collates():
    sub = Subset(_Squares(10), [3, 1])
    (xb, yb), = list(DataLoader(sub, batch_size=2))
    assert yb.tolist() == [9, 1] and xb.shape == (2, 2)


@pytest.mark.parametrize("n, lengths", [(10, [7, 3]), (10, [10, 0]), (17, [5, 5, 7]), (1, [1]), (5, [0, 5])])
def test_random_split_counts(n, lengths):
    tg.manual_seed(0)
    parts = random_split(_index_dataset(n), lengths)
    assert [len(p) for p in parts] == lengths
    assert all(isinstance(p, Subset) for p in parts)
    everything = [i for p in parts for i in p.indices]
    assert sorted(everything) == list(range(n))  # disjoint and covering


@pytest.mark.filterwarnings("ignore:Length of split at index")  # PyTorch's warning about an empty split
@pytest.mark.parametrize("n, fractions", [
    (10, [0.8, 0.2]), (10, [0.5, 0.5]), (7, [0.3, 0.3, 0.4]), (11, [0.25, 0.25, 0.25, 0.25]),
    (3, [0.1, 0.9]), (100, [0.7, 0.15, 0.15]), (5, [1.0]), (4, [1, 0.0]),
])
def test_random_split_fractions_match_pytorch_sizes(torch, n, fractions):
    tg.manual_seed(0)
    parts = random_split(_index_dataset(n), fractions)
    torch_parts = torch.utils.data.random_split(range(n), fractions, generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [len(p) for p in torch_parts]
    assert sorted(i for p in parts for i in p.indices) == list(range(n))


def test_random_split_is_reproducible_and_random():
    ds = _index_dataset(30)
    tg.manual_seed(11)
    a = [p.indices for p in random_split(ds, [20, 10])]
    tg.manual_seed(11)
    b = [p.indices for p in random_split(ds, [20, 10])]
    c = [p.indices for p in random_split(ds, [20, 10])]
    assert a == b
    assert a != c
    assert a[0] != list(range(20))
    own = [p.indices for p in random_split(ds, [20, 10], generator=tg.Generator().manual_seed(4))]
    assert own == [p.indices for p in random_split(ds, [20, 10], generator=tg.Generator().manual_seed(4))]


def test_random_split_subsets_load_the_right_rows():
    tg.manual_seed(0)
    ds = _index_dataset(25)
    train, val = random_split(ds, [0.8, 0.2])
    loaded = sorted(i for _, yb in DataLoader(train, batch_size=6, shuffle=True) for i in yb.tolist())
    assert loaded == sorted(train.indices)
    assert set(train.indices).isdisjoint(val.indices)


@pytest.mark.parametrize("lengths, match", [
    ([5, 4], "sum to 9"),
    ([6, 5], "sum to 11"),
    ([12, -2], "-2"),
    ([0.5, 0.4], "sum to 0.9"),
    ([0.6, 0.6], "sum to 1.2"),
    ([1.5, -0.5], "1.5"),
    ([], "at least one"),
])
def test_random_split_errors(lengths, match):
    with pytest.raises(ValueError, match=match):
        random_split(_index_dataset(10), lengths)
