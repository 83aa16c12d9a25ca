"""The random streams are PyTorch's CPU streams: the same seed and calls give the same numbers, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg

torch = pytest.importorskip("torch")

SEEDS = [0, 1, 42, 2147483647]
SIZES = [1, 3, 15, 16, 17, 100, 1000, (7, 9)]
DTYPES = [(tg.float32, torch.float32), (tg.float64, torch.float64)]


def _shape(size):
    return size if isinstance(size, tuple) else (size,)


def _same(ours, theirs):
    a, b = np.asarray(ours.numpy()), theirs.numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), f"{np.count_nonzero(a != b)} of {a.size} differ"


@pytest.fixture(autouse=True)
def _restore_streams():
    state, torch_state = tg.get_rng_state(), torch.get_rng_state()
    yield
    tg.set_rng_state(state)
    torch.set_rng_state(torch_state)


# -- the generator ---------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS + [2**32 + 5, 2**64 - 1, -1, -(2**63)])
def test_the_raw_stream_and_initial_seed_are_pytorchs(seed):
    g, tg_g = torch.Generator().manual_seed(seed), tg.Generator().manual_seed(seed)
    assert tg_g.initial_seed() == g.initial_seed()
    _same(tg.randint(0, 2**27, (50,), generator=tg_g), torch.randint(0, 2**27, (50,), generator=g))
    assert tg.manual_seed(seed) is tg.rng.generator()
    torch.manual_seed(seed)
    assert tg.initial_seed() == torch.initial_seed()


def test_a_new_generator_has_pytorchs_default_seed():
    assert tg.Generator().initial_seed() == torch.Generator().initial_seed()
    _same(tg.rand(5, generator=tg.Generator()), torch.rand(5, generator=torch.Generator()))


@pytest.mark.parametrize("bad", [2**64, -(2**63) - 1, 1.5, "3", True, None])
def test_a_seed_outside_pytorchs_range_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=f"got {bad!r}"):
        tg.manual_seed(bad)
    with pytest.raises(ValueError, match="seed"):
        tg.Generator().manual_seed(bad)


def test_seed_gives_a_fresh_seed_that_initial_seed_reports():
    g = tg.Generator()
    new = g.seed()
    assert g.initial_seed() == new and 0 <= new < 2**64
    assert tg.rng.seed() == tg.initial_seed()


@pytest.mark.parametrize("bad", [np.random.default_rng(0), 3, "cpu"])
def test_a_generator_of_the_wrong_type_is_a_clear_error(bad):
    for call in (lambda: tg.rand(3, generator=bad), lambda: tg.randn(3, generator=bad),
                 lambda: tg.randint(0, 5, (3,), generator=bad), lambda: tg.randperm(4, generator=bad),
                 lambda: tg.zeros(3).normal_(generator=bad), lambda: tg.zeros(3).uniform_(generator=bad)):
        with pytest.raises(TypeError, match=type(bad).__name__):
            call()


def test_generator_state_round_trips_and_is_independent_of_the_global_stream():
    tg.manual_seed(7)
    torch.manual_seed(7)
    g, tg_g = torch.Generator().manual_seed(3), tg.Generator().manual_seed(3)
    tg.randn(3, generator=tg_g)  # leaves a cached second normal sample, which the state must keep
    torch.randn(3, generator=g)
    state, torch_state = tg_g.get_state(), g.get_state()
    first = tg.randn(5, generator=tg_g)
    _same(first, torch.randn(5, generator=g))
    assert tg_g.set_state(state) is tg_g
    _same(tg.randn(5, generator=tg_g), torch.randn(5, generator=g.set_state(torch_state)))
    # the global stream was never touched by the generator's draws
    _same(tg.rand(4), torch.rand(4))


# -- uniform, integers, permutations -------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
def test_rand_and_uniform_(seed, size, dtypes):
    ours, theirs = dtypes
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    _same(tg.rand(*_shape(size), dtype=ours), torch.rand(*_shape(size), dtype=theirs))
    _same(tg.zeros(*_shape(size), dtype=ours).uniform_(-2.5, 3.7),
          torch.zeros(*_shape(size), dtype=theirs).uniform_(-2.5, 3.7))
    g, tg_g = torch.Generator().manual_seed(seed + 1), tg.Generator().manual_seed(seed + 1)
    _same(tg.zeros(*_shape(size), dtype=ours).uniform_(0.1, 0.2, generator=tg_g),
          torch.zeros(*_shape(size), dtype=theirs).uniform_(0.1, 0.2, generator=g))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("low, high", [(0, 10), (-3, 5), (0, 2**28 - 1), (0, 2**28), (-2**40, 2**40),
                                       (-2**63, 2**63 - 1)])
def test_randint(seed, size, low, high):
    g, tg_g = torch.Generator().manual_seed(seed), tg.Generator().manual_seed(seed)
    _same(tg.randint(low, high, _shape(size), generator=tg_g), torch.randint(low, high, _shape(size), generator=g))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 15, 16, 17, 100, 1000, 60000])
def test_randperm(seed, n):
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    _same(tg.randperm(n), torch.randperm(n))


# -- normal ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
def test_randn_normal__and_normal(seed, size, dtypes):
    # float32 from 16 elements on is PyTorch's AVX2 kernel (Cephes polynomials): see rng's docstring
    ours, theirs = dtypes
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    shape = _shape(size)
    _same(tg.randn(*shape, dtype=ours), torch.randn(*shape, dtype=theirs))
    _same(tg.zeros(*shape, dtype=ours).normal_(0.3, 2.7), torch.zeros(*shape, dtype=theirs).normal_(0.3, 2.7))
    _same(tg.normal(-1.0, 0.5, shape, dtype=ours), torch.normal(-1.0, 0.5, shape, dtype=theirs))
    g, tg_g = torch.Generator().manual_seed(seed), tg.Generator().manual_seed(seed)
    _same(tg.randn(*shape, dtype=ours, generator=tg_g), torch.randn(*shape, dtype=theirs, generator=g))


def test_a_million_float32_normals():
    tg.manual_seed(80085)
    torch.manual_seed(80085)
    _same(tg.randn(1000, 1000), torch.randn(1000, 1000))


def test_normal_with_tensor_mean_and_std():
    tg.manual_seed(3)
    torch.manual_seed(3)
    mean, std = np.linspace(-1, 1, 20, dtype=np.float32), np.linspace(0.1, 2, 20, dtype=np.float32)
    _same(tg.normal(tg.tensor(mean), tg.tensor(std)), torch.normal(torch.tensor(mean), torch.tensor(std)))
    _same(tg.normal(tg.tensor(mean[:5]), 2.0), torch.normal(torch.tensor(mean[:5]), 2.0))


def test_the_scalar_paths_cached_sample_carries_from_one_call_to_the_next():
    tg.manual_seed(5)
    torch.manual_seed(5)
    for size in (3, 1, 2, 100, 5, 16):  # odd sizes leave a cached sine; the >= 16 path neither uses nor clears it
        _same(tg.randn(size, dtype=tg.float64), torch.randn(size, dtype=torch.float64))


@pytest.mark.parametrize("seed", SEEDS)
def test_interleaved_calls(seed):
    def run(lib, seed_fn):
        seed_fn(seed)
        out = [lib.rand(5), lib.randn(3, dtype=lib.float64), lib.randint(0, 7, (4,)), lib.randperm(9),
               lib.zeros(20, dtype=lib.float64).normal_(1.0, 2.0), lib.rand(2, 2, dtype=lib.float64),
               lib.randn(2, dtype=lib.float32), lib.zeros(6).uniform_(-1.0, 1.0), lib.randint(-5, 5, (17,))]
        return [t.numpy() for t in out]
    for a, b in zip(run(tg, tg.manual_seed), run(torch, torch.manual_seed)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_the_global_state_round_trip_keeps_the_cached_normal():
    tg.manual_seed(9)
    tg.randn(1, dtype=tg.float64)  # caches the sine of the pair
    state = tg.get_rng_state()
    a = tg.randn(3, dtype=tg.float64).numpy()
    tg.manual_seed(0)
    tg.set_rng_state(state)
    assert tg.randn(3, dtype=tg.float64).numpy().tobytes() == a.tobytes()


# -- nn.init and the layers' default initialisation -------------------------------------------

INITS = [("uniform_", (-0.3, 0.7)), ("normal_", (0.1, 0.5)), ("xavier_uniform_", ()), ("xavier_normal_", (2.0,)),
         ("kaiming_uniform_", ()), ("kaiming_normal_", (0.0, "fan_out", "relu")), ("trunc_normal_", ()),
         ("trunc_normal_", (0.0, 0.02, -0.04, 0.04)), ("trunc_normal_", (1.0, 1.0, 0.0, 0.2))]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, args", INITS, ids=[f"{n}{a}" for n, a in INITS])
@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
def test_init_functions(seed, name, args, dtypes):
    ours, theirs = dtypes
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    _same(getattr(tg.nn.init, name)(tg.zeros(20, 30, dtype=ours), *args),
          getattr(torch.nn.init, name)(torch.zeros(20, 30, dtype=theirs), *args))
    g, tg_g = torch.Generator().manual_seed(seed), tg.Generator().manual_seed(seed)
    _same(getattr(tg.nn.init, name)(tg.zeros(7, 3, dtype=ours), *args, generator=tg_g),
          getattr(torch.nn.init, name)(torch.zeros(7, 3, dtype=theirs), *args, generator=g))


LAYERS = [("Linear", (37, 23)), ("Conv1d", (2, 3, 5)), ("Conv2d", (3, 4, 3)), ("Embedding", (10, 4)),
          ("RNN", (3, 5)), ("LSTM", (3, 5)), ("GRU", (3, 5)), ("MultiheadAttention", (8, 2))]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name, args", LAYERS, ids=[n for n, _ in LAYERS])
def test_every_layers_default_init_is_pytorchs(seed, name, args):
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    ours, theirs = getattr(tg.nn, name)(*args), getattr(torch.nn, name)(*args)
    ours_params = dict(ours.named_parameters())
    for key, value in theirs.named_parameters():
        _same(ours_params[key], value.detach())
    _same(tg.rand(3), torch.rand(3))  # and the stream goes on alike


# -- bernoulli, dropout, exponential ------------------------------------------------------------
# PyTorch's default CPU kernels (u < p over float64 uniforms). PyTorch builds with MKL take MKL's
# bernoulli on Intel CPUs instead; skip there rather than compare different algorithms.

def _intel_cpu():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return "GenuineIntel" in cpuinfo.read(4096)
    except OSError:
        return False


needs_default_bernoulli = pytest.mark.skipif(_intel_cpu(), reason="PyTorch uses MKL's bernoulli on Intel CPUs")


@needs_default_bernoulli
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
def test_bernoulli_dropout_and_exponential(seed, size, dtypes):
    ours, theirs = dtypes
    shape = _shape(size)
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    _same(tg.zeros(*shape, dtype=ours).bernoulli_(0.3), torch.zeros(*shape, dtype=theirs).bernoulli_(0.3))
    _same(tg.nn.functional.dropout(tg.ones(*shape, dtype=ours) * 1.7, 0.3),
          torch.nn.functional.dropout(torch.ones(*shape, dtype=theirs) * 1.7, 0.3))
    layer = tg.nn.Dropout(0.5)
    _same(layer(tg.ones(*shape, dtype=ours)), torch.nn.Dropout(0.5)(torch.ones(*shape, dtype=theirs)))
    _same(tg.zeros(*shape, dtype=ours).exponential_(2.0), torch.zeros(*shape, dtype=theirs).exponential_(2.0))
    g, tg_g = torch.Generator().manual_seed(seed), tg.Generator().manual_seed(seed)
    _same(tg.zeros(*shape, dtype=ours).bernoulli_(0.7, generator=tg_g),
          torch.zeros(*shape, dtype=theirs).bernoulli_(0.7, generator=g))
    _same(tg.rand(2), torch.rand(2))


@needs_default_bernoulli
@pytest.mark.parametrize("is_causal", [False, True])
def test_attention_dropout_draws_pytorchs_mask(is_causal):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    tg.manual_seed(1)
    torch.manual_seed(1)
    ours = tg.nn.functional.scaled_dot_product_attention(*(tg.tensor(t.numpy()) for t in (q, k, v)), dropout_p=0.4,
                                                         is_causal=is_causal)
    theirs = torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.4, is_causal=is_causal)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    _same(tg.rand(3), torch.rand(3))  # the same number of draws was taken


# -- multinomial ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (3, 10), (5, 1000)])
@pytest.mark.parametrize("num_samples, replacement", [(1, False), (1, True), (3, False), (6, False), (3, True),
                                                      (50, True)])
def test_multinomial(seed, dtypes, shape, num_samples, replacement):
    ours, theirs = dtypes
    weights = np.random.default_rng(seed).random(shape)
    weights[..., 1] = 0  # a category that can never come (while others remain)
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    _same(tg.tensor(weights, dtype=ours).multinomial(num_samples, replacement),
          torch.tensor(weights, dtype=theirs).multinomial(num_samples, replacement))
    _same(tg.rand(2), torch.rand(2))
    g, tg_g = torch.Generator().manual_seed(seed), tg.Generator().manual_seed(seed)
    _same(tg.multinomial(tg.tensor(weights, dtype=ours), num_samples, replacement, generator=tg_g),
          torch.multinomial(torch.tensor(weights, dtype=theirs), num_samples, replacement, generator=g))


# -- DataLoader and random_split --------------------------------------------------------------------

@pytest.mark.parametrize("n, batch_size", [(1, 1), (10, 3), (10, 5), (100, 7), (1000, 64)])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("own_generator", [False, True])
def test_dataloader_orders_and_streams_are_pytorchs(n, batch_size, drop_last, shuffle, own_generator):
    tg.manual_seed(0)
    torch.manual_seed(0)
    g, tg_g = (torch.Generator().manual_seed(5), tg.Generator().manual_seed(5)) if own_generator else (None, None)
    ours = tg.data.DataLoader(tg.data.TensorDataset(tg.arange(n)), batch_size=batch_size, shuffle=shuffle,
                              drop_last=drop_last, generator=tg_g)
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n)), batch_size=batch_size,
                                         shuffle=shuffle, drop_last=drop_last, generator=g)
    for _ in range(3):  # epochs
        assert [b[0].numpy().tolist() for b in ours] == [b[0].tolist() for b in theirs]
        _same(tg.rand(2), torch.rand(2))  # the global stream moved alike (a base seed per epoch, shuffled or not)
        if own_generator:
            _same(tg.rand(2, generator=tg_g), torch.rand(2, generator=g))


def test_dataloader_rejects_a_numpy_generator():
    with pytest.raises(TypeError, match="Generator"):
        tg.data.DataLoader(tg.data.TensorDataset(tg.arange(4)), shuffle=True, generator=np.random.default_rng(0))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lengths", [[0.7, 0.3], [97, 3], [0.5, 0.25, 0.25]])
def test_random_split(seed, lengths):
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    ours = tg.data.random_split(tg.data.TensorDataset(tg.arange(100)), lengths)
    theirs = torch.utils.data.random_split(torch.utils.data.TensorDataset(torch.arange(100)), lengths)
    assert [list(map(int, s.indices)) for s in ours] == [list(s.indices) for s in theirs]
    g, tg_g = torch.Generator().manual_seed(seed), tg.Generator().manual_seed(seed)
    ours = tg.data.random_split(tg.data.TensorDataset(tg.arange(100)), lengths, generator=tg_g)
    theirs = torch.utils.data.random_split(torch.utils.data.TensorDataset(torch.arange(100)), lengths, generator=g)
    assert [list(map(int, s.indices)) for s in ours] == [list(s.indices) for s in theirs]


@needs_default_bernoulli
@pytest.mark.parametrize("seed", SEEDS)
def test_a_tutorials_sequence_of_draws(seed):
    def run(lib):
        lib.manual_seed(seed)
        layer = lib.nn.Linear(6, 4)
        x = lib.randn(5, 6)
        hidden = lib.nn.functional.dropout(layer(x), 0.25)
        picks = lib.multinomial(lib.rand(3, 8, dtype=lib.float64), 4)
        loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(lib.arange(12)), batch_size=5, shuffle=True)
        order = [b[0] for b in loader]
        return [layer.weight, layer.bias, x, hidden, picks, *order, lib.randperm(7), lib.randint(0, 3, (4,)),
                lib.normal(0.0, 2.0, (20,))]
    ours, theirs = run(tg), run(torch)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if i == 3:  # the dropped-out hidden layer: its mask is exact, the matmul's rounding may differ
            np.testing.assert_array_equal(a.numpy() == 0, b.detach().numpy() == 0)
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
        else:
            _same(a, b.detach())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "uint8", "float32", "float64", "bool"])
@pytest.mark.parametrize("bounds", [(), (10,), (3, 17)])
def test_random_(seed, dtype, bounds):
    if dtype == "bool" and bounds:
        pytest.skip("PyTorch accepts only random_() for bool")
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    _same(tg.zeros(40, dtype=np.dtype(dtype)).random_(*bounds),
          torch.zeros(40, dtype=getattr(torch, dtype)).random_(*bounds))
    _same(tg.rand(2), torch.rand(2))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(50,), (4, 50)])
def test_bernoulli_with_a_tensor_of_probabilities(seed, dtypes, shape):
    ours, theirs = dtypes
    p = np.linspace(0, 1, 50)
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    _same(tg.zeros(*shape).bernoulli_(tg.tensor(p, dtype=ours)),
          torch.zeros(*shape).bernoulli_(torch.tensor(p, dtype=theirs)))
    _same(tg.rand(2), torch.rand(2))


def test_randints_argument_forms_are_pytorchs():
    tg.manual_seed(0)
    torch.manual_seed(0)
    _same(tg.randint(10, (3,)), torch.randint(10, (3,)))
    _same(tg.randint(3, 10, (2, 2)), torch.randint(3, 10, (2, 2)))
    _same(tg.randint(5, size=(4,)), torch.randint(5, size=(4,)))
    with pytest.raises(TypeError, match="5.0"):
        tg.randint(0, 5.0, (2,))
    with pytest.raises(ValueError, match="low=4, high=4"):
        tg.randint(4, 4, (2,))


@needs_default_bernoulli
@pytest.mark.parametrize("shape", [(5, 4), (6, 9), (20, 3)])
@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("fill", ["normal_", "uniform_", "exponential_", "bernoulli_", "random_"])
def test_a_strided_view_is_filled_in_memory_order_as_pytorch_fills_it(shape, dtypes, fill):
    ours, theirs = dtypes
    args = (0, 9) if fill == "random_" else ()
    for view in (lambda t: t.t(), lambda t: t[:, ::2]):
        tg.manual_seed(0)
        torch.manual_seed(0)
        a, b = tg.zeros(*shape, dtype=ours), torch.zeros(*shape, dtype=theirs)
        getattr(view(a), fill)(*args)
        getattr(view(b), fill)(*args)
        _same(a, b)
        _same(tg.rand(2), torch.rand(2))
