"""Embedding, one_hot, the smooth activations, gumbel_softmax and the zoo's losses against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn
from tinygrad_edu.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@pytest.fixture
def rng():
    tg.set_default_dtype(np.float64)
    return np.random.default_rng(0)


def _check_pointwise(ours_fn, torch_fn, arrays, rng, grad_of=None, rtol=1e-8, atol=1e-12):
    """ours_fn(*tg tensors) and torch_fn(*torch tensors): equal values and gradients (random upstream)."""
    grad_of = range(len(arrays)) if grad_of is None else grad_of
    ours_in = [tg.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    theirs_in = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    out, out_t = ours_fn(*ours_in), torch_fn(*theirs_in)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    upstream = rng.standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    out_t.backward(torch.tensor(upstream))
    for i in grad_of:
        np.testing.assert_allclose(ours_in[i].grad.numpy(), theirs_in[i].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"input {i}")


# ---------------------------------------------------------------------------
# Embedding and one_hot
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_embedding_matches_torch(rng, padding_idx, scale_grad_by_freq):
    ours = nn.Embedding(7, 4, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    theirs = torch.nn.Embedding(7, 4, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq).double()
    theirs.load_state_dict({k: torch.tensor(np.array(v)) for k, v in ours.state_dict().items()})
    idx = rng.integers(0, 7, (5, 3))
    idx[0, :2] = 3  # repeats, and the padding row when padding_idx = 3
    out, out_t = ours(tg.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy())
    upstream = rng.standard_normal(out.shape)
    out.backward(tg.tensor(upstream))
    out_t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert repr(ours) == repr(theirs)


def test_embedding_init_padding_and_state_dict():
    tg.manual_seed(0)
    emb = nn.Embedding(1000, 50, padding_idx=2)
    weight = emb.weight.numpy()
    assert list(emb.state_dict()) == list(torch.nn.Embedding(3, 2).state_dict()) == ["weight"]
    assert weight.dtype == np.float32 and emb.weight.requires_grad
    np.testing.assert_array_equal(weight[2], 0)
    rest = np.delete(weight, 2, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01  # N(0, 1), PyTorch's default
    out = emb(tg.tensor([[2, 1], [2, 2]]))
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[2], 0)  # the padding row gets no gradient
    np.testing.assert_array_equal(emb.weight.grad.numpy()[1], 1)


def test_embedding_max_norm_matches_torch(rng):
    ours = nn.Embedding(6, 3, max_norm=1.0)
    ours.weight.numpy()[...] = rng.standard_normal((6, 3)) * 2
    theirs = torch.nn.Embedding(6, 3, max_norm=1.0).double()
    theirs.load_state_dict({k: torch.tensor(np.array(v)) for k, v in ours.state_dict().items()})
    idx = np.array([[0, 1], [1, 4]])
    out, out_t = ours(tg.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)  # renormed in place


def test_embedding_from_pretrained_and_functional(rng):
    table = rng.standard_normal((5, 2))
    emb = nn.Embedding.from_pretrained(tg.tensor(table))
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(tg.tensor([4, 0])).numpy(), table[[4, 0]])
    weight = tg.tensor(table, requires_grad=True)
    idx = np.array([[1, 1, 3]])
    _check_pointwise(lambda w: F.embedding(tg.tensor(idx), w, padding_idx=3),
                     lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=3), [table], rng)
    assert tg.gradcheck(lambda w: F.embedding(tg.tensor(idx), w) * 2.0, weight)


def test_embedding_bad_input():
    emb = nn.Embedding(10, 3)
    with pytest.raises(IndexError, match=r"Embedding\(10, 3\): index 10 is out of range.*\[0, 9\]"):
        emb(tg.tensor([1, 10]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        emb(tg.tensor([-1]))
    with pytest.raises(TypeError, match=r"Embedding\(10, 3\): indices must be an integer tensor.*float"):
        emb(tg.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(10, 3, sparse=True)


def test_one_hot_matches_torch(rng):
    idx = rng.integers(0, 5, (3, 4))
    np.testing.assert_array_equal(F.one_hot(tg.tensor(idx)).numpy(), TF.one_hot(torch.tensor(idx)).numpy())
    np.testing.assert_array_equal(F.one_hot(tg.tensor(idx), 7).numpy(), TF.one_hot(torch.tensor(idx), 7).numpy())
    assert F.one_hot(tg.tensor(idx)).dtype == np.int64
    with pytest.raises(IndexError, match="out of range"):
        F.one_hot(tg.tensor([0, 3]), 3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(tg.tensor([0.0]))


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

ACTIVATIONS = [
    (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    (lambda: nn.GELU(approximate="tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    (lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
    (lambda: nn.ELU(), lambda: torch.nn.ELU()),
    (lambda: nn.ELU(alpha=0.5), lambda: torch.nn.ELU(alpha=0.5)),
    (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    (lambda: nn.Softplus(beta=2.0, threshold=5.0), lambda: torch.nn.Softplus(beta=2.0, threshold=5.0)),
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda: nn.LogSoftmax(dim=0), lambda: torch.nn.LogSoftmax(dim=0)),
]


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS)
def test_activation_modules_match_torch(rng, ours, theirs):
    x = rng.standard_normal((4, 5)) * 4
    x[0, :3] = [0.0, 30.0, -30.0]  # the kinks, and far beyond the softplus threshold
    _check_pointwise(ours(), theirs(), [x], rng)
    assert repr(ours()) == repr(theirs())


@pytest.mark.parametrize("fn", [lambda x: F.gelu(x), lambda x: F.gelu(x, approximate="tanh"), F.silu, F.elu,
                                lambda x: F.softplus(x, beta=0.5, threshold=3.0), lambda x: F.elu(x, 2.0)])
def test_activation_gradchecks(rng, fn):
    x = tg.tensor(rng.standard_normal((3, 4)) * 2, requires_grad=True)
    assert tg.gradcheck(fn, x)


def test_activation_functionals_match_torch(rng):
    x = rng.standard_normal(10) * 3
    for ours, theirs in [(F.gelu, TF.gelu), (F.silu, TF.silu), (F.elu, TF.elu), (F.softplus, TF.softplus)]:
        _check_pointwise(ours, theirs, [x], rng)


def test_gelu_float32_and_bad_arguments():
    x = np.linspace(-5, 5, 11, dtype=np.float32)
    out = F.gelu(tg.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), TF.gelu(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="fast")
    with pytest.raises(ValueError, match="beta"):
        nn.Softplus(beta=0)


def test_gumbel_softmax():
    tg.manual_seed(0)
    logits = tg.tensor(np.log(np.array([[0.7, 0.2, 0.1]] * 4000)), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.numpy().sum(-1), 1.0, rtol=1e-6)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    assert set(np.unique(hard.numpy())) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.numpy().sum(-1), 1.0)
    frequencies = hard.numpy().mean(0)
    np.testing.assert_allclose(frequencies, [0.7, 0.2, 0.1], atol=0.03)  # samples the categorical distribution
    hard.backward(tg.tensor(np.random.default_rng(0).standard_normal(hard.shape)))
    assert logits.grad is not None and np.isfinite(logits.grad.numpy()).all()
    tg.manual_seed(3)
    first = F.gumbel_softmax(tg.zeros(2, 5), dim=0).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(first, F.gumbel_softmax(tg.zeros(2, 5), dim=0).numpy())
    np.testing.assert_allclose(first.sum(0), 1.0, rtol=1e-6)


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(rng, reduction):
    x, t = rng.standard_normal((4, 3)) * 2, rng.standard_normal((4, 3)) * 2
    p, y = rng.random((4, 3)), rng.random((4, 3))
    p[0, :2] = [0.0, 1.0]  # PyTorch's clamps: a loss of 100 and a finite gradient
    w = rng.random((4, 3))
    cases = [
        (nn.BCELoss(reduction=reduction), torch.nn.BCELoss(reduction=reduction), [p, y]),
        (nn.BCELoss(weight=tg.tensor(w), reduction=reduction),
         torch.nn.BCELoss(weight=torch.tensor(w), reduction=reduction), [p, y]),
        (nn.HuberLoss(reduction=reduction), torch.nn.HuberLoss(reduction=reduction), [x, t]),
        (nn.HuberLoss(reduction=reduction, delta=0.5), torch.nn.HuberLoss(reduction=reduction, delta=0.5), [x, t]),
        (nn.SmoothL1Loss(reduction=reduction), torch.nn.SmoothL1Loss(reduction=reduction), [x, t]),
        (nn.SmoothL1Loss(reduction=reduction, beta=2.0), torch.nn.SmoothL1Loss(reduction=reduction, beta=2.0),
         [x, t]),
        (nn.SmoothL1Loss(reduction=reduction, beta=0.0), torch.nn.SmoothL1Loss(reduction=reduction, beta=0.0),
         [x, t]),
    ]
    for ours, theirs, arrays in cases:
        _check_pointwise(ours, theirs, arrays, rng, grad_of=(0,) if ours.__class__ is nn.BCELoss else None)
        assert repr(ours).split("(")[0] == repr(theirs).split("(")[0]


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(rng, reduction, log_target):
    log_q = np.log(rng.dirichlet(np.ones(5), size=3))
    target = rng.dirichlet(np.ones(5), size=3)
    target = np.log(target) if log_target else target
    with pytest.warns(UserWarning) if reduction == "mean" else _no_warning():
        _check_pointwise(nn.KLDivLoss(reduction=reduction, log_target=log_target),
                         torch.nn.KLDivLoss(reduction=reduction, log_target=log_target), [log_q, target], rng)


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


def test_kl_div_zero_target_is_zero_loss(rng):
    log_q = np.log(np.array([[0.5, 0.5]]))
    loss = F.kl_div(tg.tensor(log_q, requires_grad=True), tg.tensor([[1.0, 0.0]]), reduction="sum")
    np.testing.assert_allclose(loss.item(), TF.kl_div(torch.tensor(log_q), torch.tensor([[1.0, 0.0]]),
                                                      reduction="sum").item())


def test_nll_loss_module_matches_torch(rng):
    logp = np.log(rng.dirichlet(np.ones(4), size=6))
    target = rng.integers(0, 4, 6)
    target[0] = -100
    w = rng.random(4)
    for kwargs_ours, kwargs_theirs in [({}, {}), ({"weight": tg.tensor(w)}, {"weight": torch.tensor(w)}),
                                       ({"reduction": "sum"}, {"reduction": "sum"})]:
        _check_pointwise(lambda x, kw=kwargs_ours: nn.NLLLoss(**kw)(x, tg.tensor(target)),
                         lambda x, kw=kwargs_theirs: torch.nn.NLLLoss(**kw)(x, torch.tensor(target)), [logp], rng)


def test_loss_gradchecks(rng):
    x = tg.tensor(rng.standard_normal((3, 4)) * 2, requires_grad=True)
    t = tg.tensor(rng.standard_normal((3, 4)) * 2, requires_grad=True)
    p = tg.tensor(rng.random((3, 4)) * 0.8 + 0.1, requires_grad=True)
    y = tg.tensor(rng.random((3, 4)), requires_grad=True)
    q = tg.tensor(rng.random((3, 4)) + 0.1, requires_grad=True)
    assert tg.gradcheck(lambda a, b: F.huber_loss(a, b, reduction="sum", delta=0.7), x, t)
    assert tg.gradcheck(lambda a, b: F.smooth_l1_loss(a, b, reduction="sum", beta=1.5), x, t)
    assert tg.gradcheck(lambda a, b: F.binary_cross_entropy(a, b), p, y)
    assert tg.gradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"), x, q)
    assert tg.gradcheck(lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True), x, t)


def test_loss_bad_input():
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        F.binary_cross_entropy(tg.tensor([1.5]), tg.tensor([1.0]))
    with pytest.raises(ValueError, match=r"target shape \(2,\) must equal input shape \(3,\)"):
        F.huber_loss(tg.zeros(3), tg.zeros(2))
    with pytest.raises(ValueError, match="reduction"):
        nn.KLDivLoss(reduction="average")
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match="beta"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(ValueError, match="deprecated"):
        F.smooth_l1_loss(tg.zeros(2), tg.zeros(2), True)
    x, t = np.array([0.5, 3.0]), np.zeros(2)  # PyTorch's positional order: size_average, reduce, reduction
    assert F.smooth_l1_loss(tg.tensor(x), tg.tensor(t), None, None, "sum").item() == \
        TF.smooth_l1_loss(torch.tensor(x), torch.tensor(t), None, None, "sum").item()
    assert F.binary_cross_entropy(tg.tensor([0.5]), tg.tensor([1.0]), None, None, None, "sum").item() == \
        pytest.approx(TF.binary_cross_entropy(torch.tensor([0.5]), torch.tensor([1.0]), None, None, None,
                                              "sum").item())


def test_makemore_mlp_trains_in_lockstep_with_torch(rng):
    """Embedding -> Linear -> tanh -> Linear, three AdamW steps beside PyTorch: the same weights after."""
    def build(lib):
        lib.manual_seed(0)
        return lib.nn.Sequential(lib.nn.Embedding(27, 10), lib.nn.Flatten(), lib.nn.Linear(30, 64),
                                 lib.nn.Tanh(), lib.nn.Linear(64, 27))
    ours, theirs = build(tg), build(torch).double()
    theirs.load_state_dict({k: torch.tensor(np.array(v)) for k, v in ours.state_dict().items()})
    opt, opt_t = tg.optim.AdamW(ours.parameters(), lr=0.01), torch.optim.AdamW(theirs.parameters(), lr=0.01)
    x, y = rng.integers(0, 27, (32, 3)), rng.integers(0, 27, 32)
    for _ in range(3):
        for model, optimizer, lib in ((ours, opt, tg), (theirs, opt_t, torch)):
            optimizer.zero_grad()
            lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y)).backward()
            optimizer.step()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(np.array(ours.state_dict()[key]), value.numpy(), rtol=1e-8, atol=1e-10)
