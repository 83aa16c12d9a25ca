"""BatchNorm1d/2d, LayerNorm, GroupNorm, RMSNorm and their functional forms against PyTorch and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn
from tinygrad_edu.nn import functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("op_path")  # the compiled kernels and the NumPy form alike


def _randomize(module: nn.Module, rng: np.random.Generator) -> None:
    """Give every parameter random values, so that weight 1 / bias 0 cannot hide a mistake."""
    for p in module.parameters():
        p.numpy()[...] = rng.standard_normal(p.shape)


def _torch_twin(tg_module: nn.Module, torch_module: torch.nn.Module) -> torch.nn.Module:
    """Load ``tg_module``'s state_dict into ``torch_module`` (float64); the keys must be PyTorch's."""
    torch_module = torch_module.double()
    state = {k: torch.tensor(np.array(v)) for k, v in tg_module.state_dict().items()}
    assert set(state) == set(torch_module.state_dict())
    torch_module.load_state_dict(state)
    return torch_module


def _compare(tg_module, torch_module, x_np, rng, steps=1, atol=1e-10):
    """Forward, backward with a random upstream gradient: outputs, input and parameter gradients equal."""
    for _ in range(steps):
        x = tg.tensor(x_np, requires_grad=True)
        xt = torch.tensor(x_np, requires_grad=True)
        out, out_t = tg_module(x), torch_module(xt)
        np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-9, atol=atol)
        grad = rng.standard_normal(out.shape)
        out.backward(tg.tensor(grad))
        out_t.backward(torch.tensor(grad))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=atol)
        params_t = dict(torch_module.named_parameters())
        for name, p in tg_module.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), params_t[name].grad.numpy(), rtol=1e-8, atol=atol,
                                       err_msg=name)
        tg_module.zero_grad()
        torch_module.zero_grad()
        x_np = x_np + 0.5 * rng.standard_normal(x_np.shape)
    for name, buffer in torch_module.named_buffers():
        np.testing.assert_allclose(np.array(dict(tg_module.named_buffers())[name].numpy()), buffer.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.fixture
def rng():
    tg.set_default_dtype(np.float64)
    return np.random.default_rng(0)


# ---------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                        ("BatchNorm2d", (3, 3, 4, 2))])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batchnorm_train_then_eval_matches_torch(rng, cls, shape, momentum):
    ours = getattr(nn, cls)(3, momentum=momentum)
    _randomize(ours, rng)
    theirs = _torch_twin(ours, getattr(torch.nn, cls)(3, momentum=momentum))
    x_np = rng.standard_normal(shape) * 2 + 1
    _compare(ours, theirs, x_np, rng, steps=4)  # running statistics over four training steps
    assert int(ours.num_batches_tracked.numpy()) == 4 and ours.num_batches_tracked.dtype == np.int64
    ours.eval()
    theirs.eval()
    _compare(ours, theirs, x_np, rng, steps=2)
    assert int(ours.num_batches_tracked.numpy()) == 4


@pytest.mark.parametrize("affine, track, bias", [(False, True, True), (True, False, True), (False, False, True),
                                                (True, True, False)])
def test_batchnorm_options_match_torch(rng, affine, track, bias):
    ours = nn.BatchNorm1d(4, affine=affine, track_running_stats=track, eps=1e-3, bias=bias)
    _randomize(ours, rng)
    theirs = _torch_twin(ours, torch.nn.BatchNorm1d(4, affine=affine, track_running_stats=track, eps=1e-3,
                                                    bias=bias))
    x_np = rng.standard_normal((5, 4, 3))
    _compare(ours, theirs, x_np, rng, steps=2)
    ours.eval()
    theirs.eval()
    _compare(ours, theirs, x_np, rng)


def test_batchnorm_state_dict_keys_and_defaults():
    ours, theirs = nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(np.array(ours.state_dict()[key]), value.numpy())
    assert ours.state_dict()["num_batches_tracked"].dtype == np.int64
    assert list(nn.BatchNorm1d(2, affine=False).state_dict()) == list(torch.nn.BatchNorm1d(2, affine=False)
                                                                     .state_dict())
    assert list(nn.BatchNorm1d(2, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert repr(ours) == repr(theirs)


def test_batchnorm_loads_torch_state_dict(rng):
    theirs = torch.nn.BatchNorm1d(3).double()
    theirs(torch.tensor(rng.standard_normal((8, 3))))
    ours = nn.BatchNorm1d(3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_functional_batch_norm_matches_torch(rng):
    x = rng.standard_normal((6, 3, 2))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    rm, rv = tg.tensor(mean.copy()), tg.tensor(var.copy())
    rmt, rvt = torch.tensor(mean.copy()), torch.tensor(var.copy())
    ours = F.batch_norm(tg.tensor(x), rm, rv, tg.tensor(w), tg.tensor(b), training=True, momentum=0.2)
    theirs = torch.nn.functional.batch_norm(torch.tensor(x), rmt, rvt, torch.tensor(w), torch.tensor(b),
                                            training=True, momentum=0.2)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)
    np.testing.assert_allclose(rm.numpy(), rmt.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), rvt.numpy(), rtol=1e-12)
    ours = F.batch_norm(tg.tensor(x), rm, rv, tg.tensor(w), tg.tensor(b))
    theirs = torch.nn.functional.batch_norm(torch.tensor(x), rmt, rvt, torch.tensor(w), torch.tensor(b))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(rng, training):
    x = tg.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    w = tg.tensor(rng.standard_normal(3), requires_grad=True)
    b = tg.tensor(rng.standard_normal(3), requires_grad=True)
    rm, rv = tg.tensor(rng.standard_normal(3)), tg.tensor(rng.random(3) + 0.5)
    upstream = tg.tensor(rng.standard_normal((4, 3, 2)))
    assert tg.gradcheck(lambda x, w, b: F.batch_norm(x, None if training else rm, None if training else rv, w, b,
                                                     training=training) * upstream, x, w, b)


def test_batchnorm_float32_close_to_torch():
    rng = np.random.default_rng(1)
    ours = nn.BatchNorm1d(8)
    theirs = torch.nn.BatchNorm1d(8)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    out = ours(tg.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-5)


def test_batchnorm_bad_input():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\).*3 channels.*\(5, 4\)"):
        bn(tg.randn(5, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d.*\(N, C\) or \(N, C, L\).*4-D"):
        bn(tg.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d.*\(N, C, H, W\).*2-D"):
        nn.BatchNorm2d(3)(tg.randn(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(tg.randn(1, 3))
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(3, momentum=1.5)
    before = bn.running_mean.numpy().copy()
    with pytest.raises(ValueError):
        bn(tg.randn(5, 4))
    np.testing.assert_array_equal(bn.running_mean.numpy(), before)  # nothing computed or updated
    assert int(bn.num_batches_tracked.numpy()) == 0


def test_batchnorm_eval_with_batch_of_one_works():
    bn = nn.BatchNorm1d(3).eval()
    assert bn(tg.randn(1, 3)).shape == (1, 3)


# ---------------------------------------------------------------------------
# LayerNorm, GroupNorm, RMSNorm
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape, normalized", [((4, 5), 5), ((2, 3, 4), (3, 4)), ((3, 2, 6), (6,))])
@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, True)])
def test_layernorm_matches_torch(rng, shape, normalized, affine, bias):
    ours = nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias)
    _randomize(ours, rng)
    theirs = _torch_twin(ours, torch.nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias))
    _compare(ours, theirs, rng.standard_normal(shape) * 3, rng)


@pytest.mark.parametrize("groups, shape", [(1, (3, 4, 5)), (2, (3, 4, 5)), (4, (2, 4)), (2, (2, 4, 3, 2))])
@pytest.mark.parametrize("affine, bias", [(True, True), (False, True), (True, False)])
def test_groupnorm_matches_torch(rng, groups, shape, affine, bias):
    ours = nn.GroupNorm(groups, 4, affine=affine, bias=bias)
    _randomize(ours, rng)
    theirs = _torch_twin(ours, torch.nn.GroupNorm(groups, 4, affine=affine, bias=bias))
    _compare(ours, theirs, rng.standard_normal(shape) + 2, rng)


@pytest.mark.parametrize("shape, normalized", [((4, 5), 5), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("eps, affine", [(None, True), (1e-3, True), (None, False)])
def test_rmsnorm_matches_torch(rng, shape, normalized, eps, affine):
    ours = nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine)
    _randomize(ours, rng)
    theirs = _torch_twin(ours, torch.nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine))
    _compare(ours, theirs, rng.standard_normal(shape), rng)


def test_norm_state_dicts_and_defaults_match_torch():
    pairs = [(nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))), (nn.LayerNorm(3, bias=False),
             torch.nn.LayerNorm(3, bias=False)), (nn.GroupNorm(2, 6), torch.nn.GroupNorm(2, 6)),
             (nn.RMSNorm(5), torch.nn.RMSNorm(5)), (nn.LayerNorm(3, elementwise_affine=False),
             torch.nn.LayerNorm(3, elementwise_affine=False))]
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for key, value in theirs.state_dict().items():
            np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())
            assert ours.state_dict()[key].dtype == np.float32
        assert repr(ours) == repr(theirs)


def test_functional_norms_match_torch(rng):
    x = rng.standard_normal((3, 4, 5))
    w, b = rng.standard_normal(5), rng.standard_normal(5)
    tf = torch.nn.functional
    np.testing.assert_allclose(F.layer_norm(tg.tensor(x), (5,), tg.tensor(w), tg.tensor(b)).numpy(),
                               tf.layer_norm(torch.tensor(x), (5,), torch.tensor(w), torch.tensor(b)).numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(F.rms_norm(tg.tensor(x), [5], tg.tensor(w)).numpy(),
                               tf.rms_norm(torch.tensor(x), [5], torch.tensor(w)).numpy(), rtol=1e-10)
    w4, b4 = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(F.group_norm(tg.tensor(x), 2, tg.tensor(w4), tg.tensor(b4), 1e-3).numpy(),
                               tf.group_norm(torch.tensor(x), 2, torch.tensor(w4), torch.tensor(b4), 1e-3).numpy(),
                               rtol=1e-10)


def test_norm_gradchecks(rng):
    x = tg.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    w3, b3 = (tg.tensor(rng.standard_normal(3), requires_grad=True) for _ in range(2))
    w4, b4 = (tg.tensor(rng.standard_normal(4), requires_grad=True) for _ in range(2))
    w43 = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    up = tg.tensor(rng.standard_normal((2, 4, 3)))
    assert tg.gradcheck(lambda x, w, b: F.layer_norm(x, (3,), w, b) * up, x, w3, b3)
    assert tg.gradcheck(lambda x, w: F.layer_norm(x, (4, 3), w) * up, x, w43)
    assert tg.gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b) * up, x, w4, b4)
    assert tg.gradcheck(lambda x, w: F.rms_norm(x, (3,), w) * up, x, w3)
    assert tg.gradcheck(lambda x: F.rms_norm(x, (4, 3)) * up, x)


def test_norm_bad_input():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4,\)\).*\(\*, 4\).*\(2, 3\)"):
        nn.LayerNorm(4)(tg.randn(2, 3))
    with pytest.raises(ValueError, match=r"LayerNorm.*\(\*, 2, 3\).*\(3, 2\)"):
        nn.LayerNorm((2, 3))(tg.randn(3, 2))
    with pytest.raises(ValueError, match="GroupNorm: num_channels must be divisible by num_groups.*6.*4"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 6\).*\(N, 6, \*\).*\(2, 4\)"):
        nn.GroupNorm(2, 6)(tg.randn(2, 4))
    with pytest.raises(ValueError, match="group_norm.*does not divide"):
        F.group_norm(tg.randn(2, 6), 4)
    with pytest.raises(ValueError, match=r"RMSNorm.*\(\*, 5\).*\(2, 4\)"):
        nn.RMSNorm(5)(tg.randn(2, 4))
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(0)


def test_norm_layers_train_in_lockstep_with_torch(rng):
    """A small MLP with BatchNorm and LayerNorm trained three AdamW steps beside PyTorch."""
    def build(lib):
        lib.manual_seed(0)
        return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.BatchNorm1d(8), lib.nn.ReLU(), lib.nn.Linear(8, 8),
                                 lib.nn.LayerNorm(8), lib.nn.GELU(), lib.nn.Linear(8, 3))
    ours = build(tg)
    theirs = build(torch).double()
    theirs.load_state_dict({k: torch.tensor(np.array(v)) for k, v in ours.state_dict().items()})
    opt, opt_t = tg.optim.AdamW(ours.parameters(), lr=0.01), torch.optim.AdamW(theirs.parameters(), lr=0.01)
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    for _ in range(3):
        for model, optimizer, lib in ((ours, opt, tg), (theirs, opt_t, torch)):
            optimizer.zero_grad()
            lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y)).backward()
            optimizer.step()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(np.array(ours.state_dict()[key]), value.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=key)


def test_stepthrough_tools_cover_the_norm_nodes(rng):
    """gradcheck_nodes re-runs each node alone: BatchNorm's batch statistics must come from its own input."""
    bn, ln, gn, rms = nn.BatchNorm1d(3), nn.LayerNorm(3), nn.GroupNorm(1, 3), nn.RMSNorm(3)
    emb = nn.Embedding(5, 3)  # (a padding row's gradient is 0 by design: finite differences would disagree)
    x = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)

    def fn(x):
        h = rms(gn(F.gelu(ln(bn(x))))) * emb(tg.tensor([0, 1, 2, 4]))
        return F.huber_loss(h, tg.zeros(4, 3)) + F.kl_div(h.log_softmax(1), h.softmax(1), reduction="batchmean")

    report = tg.gradcheck_nodes(fn, x)
    assert "all" in str(report).splitlines()[0] and "agree" in str(report).splitlines()[0]
    for module in (bn, ln, gn, rms):
        module.zero_grad()
    steps = tg.backward_steps(fn(x))
    assert "BatchNorm" in str(steps) and "Embedding" in str(steps)


def test_functional_norms_take_a_bias_without_a_weight(rng):
    x, b3, b4 = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3)
    tf = torch.nn.functional
    np.testing.assert_allclose(F.layer_norm(tg.tensor(x), (3,), None, tg.tensor(b3)).numpy(),
                               tf.layer_norm(torch.tensor(x), (3,), None, torch.tensor(b3)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(F.batch_norm(tg.tensor(x), None, None, None, tg.tensor(b4), True).numpy(),
                               tf.batch_norm(torch.tensor(x), None, None, None, torch.tensor(b4), True).numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(F.group_norm(tg.tensor(x), 3, None, tg.tensor(b3)).numpy(),
                               tf.group_norm(torch.tensor(x), 3, None, torch.tensor(b3)).numpy(), rtol=1e-10)
