"""F.gumbel_softmax against PyTorch and against the statistics it must have.

What agrees with PyTorch bit for bit after the same ``manual_seed``: the
exponential draws under the noise, and the hard (one-hot) samples. The soft
samples agree to a few float32 ulps only: PyTorch's CPU ``log`` and ``softmax``
are vectorised kernels (MKL/SLEEF on this build) that round the last bits
differently from NumPy; how far that goes is measured below, and the
statistical tests carry the rest: the argmax is an exact categorical sample
(the Gumbel-max trick) for every tau, small tau gives near one-hot samples, and
the mean of the soft samples matches an independent NumPy Monte Carlo estimate.
(The hard/straight-through basics are also in test_embedding_activation_losses.py.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

from tests.test_torch_streams import needs_default_bernoulli  # noqa: E402 - PyTorch's Intel builds draw with MKL

CASES = [  # shape, dim, dtype, tau
    ((10,), 0, "float32", 1.0),
    ((4, 7), -1, "float32", 0.5),
    ((4, 7), 0, "float64", 2.0),
    ((3, 4, 5), 1, "float32", 0.1),
    ((3, 4, 5), 2, "float64", 1.0),
    ((2, 3, 4, 6), -3, "float32", 5.0),
    ((500, 6), 1, "float32", 0.3),
]


def logits_of(shape, dtype, seed=0):
    return np.random.default_rng(seed).normal(0.0, 2.0, size=shape).astype(dtype)


def both(x, seed=7, **kwargs):
    """(ours, PyTorch's) gumbel_softmax of the same logits after the same manual_seed."""
    tg.manual_seed(seed)
    ours = F.gumbel_softmax(tg.from_numpy(x.copy()), **kwargs)
    torch.manual_seed(seed)
    theirs = TF.gumbel_softmax(torch.from_numpy(x.copy()), **kwargs)
    return ours, theirs


@needs_default_bernoulli
@pytest.mark.parametrize("shape, dim, dtype, tau", CASES)
def test_hard_samples_equal_pytorchs_bit_for_bit(shape, dim, dtype, tau):
    ours, theirs = both(logits_of(shape, dtype), tau=tau, hard=True, dim=dim)
    assert ours.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert set(np.unique(ours.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(ours.numpy().sum(axis=dim), 1.0)


@needs_default_bernoulli
@pytest.mark.parametrize("shape, dim, dtype, tau", CASES)
def test_soft_samples_equal_pytorchs_to_the_last_bits(shape, dim, dtype, tau):
    x = logits_of(shape, dtype)
    ours, theirs = both(x, tau=tau, dim=dim)
    a, b = ours.numpy(), theirs.numpy()
    assert a.dtype == b.dtype == np.dtype(dtype)
    # The noise's draws are PyTorch's exactly ...
    tg.manual_seed(7)
    torch.manual_seed(7)
    np.testing.assert_array_equal(tg.empty(*shape, dtype=getattr(tg, dtype)).exponential_().numpy(),
                                  torch.empty(shape, dtype=getattr(torch, dtype)).exponential_().numpy())
    # ... and the log and softmax round differently: an ulp of the noise g is |g| * eps, divided by tau
    # in the exponent, which makes a relative error of about that size in y.
    eps = np.finfo(dtype).eps
    rtol = 64 * eps * max(1.0, 1.0 / tau)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=eps * 1e-3)
    ulps = np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))
    print(f"\n{shape} dim={dim} {dtype} tau={tau}: {np.mean(a != b):.0%} of soft values differ from PyTorch's, "
          f"by at most {ulps.max():.0f} ulps")


def test_soft_and_hard_draw_the_same_noise_and_hard_is_the_soft_argmax():
    x = logits_of((200, 5), "float32")
    tg.manual_seed(3)
    soft = F.gumbel_softmax(tg.from_numpy(x), tau=0.7)
    tg.manual_seed(3)
    hard = F.gumbel_softmax(tg.from_numpy(x), tau=0.7, hard=True)
    expected = np.eye(5, dtype=np.float32)[soft.numpy().argmax(axis=1)]
    np.testing.assert_array_equal(hard.numpy(), expected)


# -- statistics -------------------------------------------------------------------------------------


def softmax_np(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("dim", [0, 1])
def test_argmax_frequencies_are_the_softmax_probabilities(tau, dim):
    """Gumbel-max: P(argmax = k) = softmax(logits)_k whatever tau; each frequency within a binomial bound."""
    logits = np.array([1.5, 0.2, -1.0, 0.7, -0.3], dtype=np.float64)
    p = softmax_np(logits)
    n = 20000
    batch = np.tile(logits, (n, 1)) if dim == 1 else np.tile(logits[:, None], (1, n))
    tg.manual_seed(11)
    hard = F.gumbel_softmax(tg.from_numpy(batch), tau=tau, hard=True, dim=dim).numpy()
    counts = hard.sum(axis=1 - dim)
    assert counts.sum() == n
    frequency = counts / n
    bound = 4.5 * np.sqrt(p * (1 - p) / n)  # a false failure in about 1 in 150,000 per category
    print(f"\ntau={tau}: frequencies {np.round(frequency, 4)}, softmax {np.round(p, 4)}, bound {np.round(bound, 4)}")
    assert np.all(np.abs(frequency - p) <= bound), (frequency, p, bound)
    # A chi-square test of all five together: 4 degrees of freedom, 0.9999 quantile 23.5.
    chi2 = np.sum((counts - n * p) ** 2 / (n * p))
    assert chi2 < 23.5, chi2


def test_small_tau_approaches_one_hot_and_large_tau_uniform():
    logits = np.tile(np.array([0.5, 0.0, -0.5, 1.0], dtype=np.float32), (5000, 1))
    distance = {}
    for tau in (10.0, 1.0, 0.3, 0.1, 0.03, 0.01):
        tg.manual_seed(2)
        y = F.gumbel_softmax(tg.from_numpy(logits), tau=tau).numpy()
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
        distance[tau] = float(np.mean(1.0 - y.max(axis=1)))  # 0 for a one-hot sample
    print(f"\nmean distance from one-hot, 1 - max y: {distance}")
    taus = sorted(distance)
    assert all(distance[a] < distance[b] for a, b in zip(taus, taus[1:]))
    assert distance[0.01] < 0.01
    # Large tau: y = softmax((l + g) / tau) -> 1/K.
    tg.manual_seed(2)
    y = F.gumbel_softmax(tg.from_numpy(logits), tau=1000.0).numpy()
    assert np.max(np.abs(y - 0.25)) < 0.01


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_mean_of_soft_samples_matches_an_independent_monte_carlo(tau):
    """E[y] estimated from our samples and from NumPy's own Gumbel noise agree within their sampling error."""
    logits = np.array([1.0, 0.0, -0.5], dtype=np.float64)
    n = 40000
    tg.manual_seed(5)
    ours = F.gumbel_softmax(tg.from_numpy(np.tile(logits, (n, 1))), tau=tau).numpy()
    g = np.random.default_rng(123).gumbel(size=(n, 3))
    reference = softmax_np((logits + g) / tau, axis=1)
    error = np.sqrt(ours.var(axis=0) / n + reference.var(axis=0) / n)
    difference = ours.mean(axis=0) - reference.mean(axis=0)
    print(f"\ntau={tau}: mean {np.round(ours.mean(axis=0), 4)} vs NumPy {np.round(reference.mean(axis=0), 4)}")
    assert np.all(np.abs(difference) < 4.5 * error), (difference, error)
    # Equal logits: by symmetry E[y_k] = 1/K for every tau.
    tg.manual_seed(6)
    equal = F.gumbel_softmax(tg.zeros(n, 3, dtype=tg.float64), tau=tau).numpy()
    assert np.all(np.abs(equal.mean(axis=0) - 1 / 3) < 4.5 * np.sqrt(equal.var(axis=0) / n))


# -- the straight-through gradient ------------------------------------------------------------------


def straight_through_grads(x, upstream, hard):
    logits = tg.from_numpy(x.copy()).requires_grad_()
    tg.manual_seed(9)
    F.gumbel_softmax(logits, tau=0.8, hard=hard).backward(tg.from_numpy(upstream))
    return logits.grad.numpy().copy()


def test_straight_through_gradient_is_the_soft_samples():
    x = logits_of((6, 5), "float64", seed=1)
    upstream = np.random.default_rng(2).normal(size=(6, 5))
    hard = straight_through_grads(x, upstream, hard=True)
    np.testing.assert_array_equal(hard, straight_through_grads(x, upstream, hard=False))  # the same noise
    # The soft sample's Jacobian by central differences in float64, with the noise held fixed (same seed).

    def soft(values):
        tg.manual_seed(9)
        return float((F.gumbel_softmax(tg.from_numpy(values), tau=0.8).numpy() * upstream).sum())

    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (soft(x + step) - soft(x - step)) / 2e-6
    np.testing.assert_allclose(hard, numeric, rtol=1e-6, atol=1e-8)


@needs_default_bernoulli
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_straight_through_gradient_matches_pytorchs(dtype):
    x = logits_of((6, 5), dtype, seed=1)
    upstream = np.random.default_rng(2).normal(size=(6, 5)).astype(dtype)
    ours = straight_through_grads(x, upstream, hard=True)
    theirs = torch.from_numpy(x.copy()).requires_grad_()
    torch.manual_seed(9)
    TF.gumbel_softmax(theirs, tau=0.8, hard=True).backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-4 if dtype == "float32" else 1e-12,
                               atol=1e-6 if dtype == "float32" else 1e-14)


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0, -1.0, float("nan"), float("inf"), "1"])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        F.gumbel_softmax(tg.zeros(2, 3), tau=tau)


@pytest.mark.parametrize("dim", [2, -3, 1.5])
def test_bad_dim(dim):
    with pytest.raises(ValueError, match="dim"):
        F.gumbel_softmax(tg.zeros(2, 3), dim=dim)


def test_integer_logits_and_eps():
    with pytest.raises(TypeError, match="floating"):
        F.gumbel_softmax(tg.tensor([1, 2, 3]))
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(tg.zeros(3), eps=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.gumbel_softmax(tg.zeros(3))


def test_the_hard_sample_does_not_depend_on_tau():
    """Dividing by tau > 0 keeps the order of logits + g: the same noise gives the same one-hot for every tau."""
    x = logits_of((300, 4), "float64", seed=4)
    samples = []
    for tau in (0.05, 1.0, 20.0):
        tg.manual_seed(8)
        samples.append(F.gumbel_softmax(tg.from_numpy(x), tau=tau, hard=True).numpy())
    np.testing.assert_array_equal(samples[0], samples[1])
    np.testing.assert_array_equal(samples[1], samples[2])
