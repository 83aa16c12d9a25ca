"""scaled_dot_product_attention and MultiheadAttention against PyTorch, finite differences and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn
from tinygrad_edu.nn import functional as F

torch = pytest.importorskip("torch")

try:  # tests/ is on the path when pytest runs from the repository root
    from helpers_nn import assert_close, t64, tg_of
    from helpers_nn import to_torch as torch_of
except ImportError:  # pragma: no cover - run as a package
    from tests.helpers_nn import assert_close, t64, tg_of
    from tests.helpers_nn import to_torch as torch_of

# PyTorch warns when the two masks differ in type (bool and float); the merged result is still defined.
pytestmark = [pytest.mark.usefixtures("op_path"),  # the compiled kernels and the NumPy form alike
              pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")]

RNG = np.random.default_rng(0)


def close(actual, expected, rtol=1e-9, atol=1e-11) -> None:
    assert_close(actual, expected, rtol=rtol, atol=atol)


def bool_mask(shape: tuple, rng=RNG) -> np.ndarray:
    """A random bool mask of ``shape`` whose last-axis rows each keep position 0 (never all masked)."""
    mask = rng.random(shape) < 0.4
    mask[..., 0] = False
    return mask


def float_mask(shape: tuple, rng=RNG) -> np.ndarray:
    mask = rng.standard_normal(shape)
    mask[bool_mask(shape, rng)] = -np.inf
    return mask


# ---------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------

SDPA_CASES = {
    "plain": {},
    "bool mask 2-D (True = take part)": {"attn_mask": "bool2"},
    "float mask 2-D": {"attn_mask": "float2"},
    "bool mask 4-D": {"attn_mask": "bool4"},
    "float mask broadcast over heads": {"attn_mask": "float_b"},
    "causal": {"is_causal": True},
    "scale": {"scale": 0.3},
}


def _sdpa_mask(kind: str | None, batch: int, heads: int, length: int, source: int):
    if kind is None:
        return None
    if kind == "bool2":
        return ~bool_mask((length, source))  # True = take part: keep column 0 True
    if kind == "float2":
        return float_mask((length, source))
    if kind == "bool4":
        return ~bool_mask((batch, heads, length, source))
    if kind == "float_b":
        return float_mask((batch, 1, length, source))
    raise AssertionError(kind)


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_torch_values_and_grads(case):
    options = dict(SDPA_CASES[case])
    batch, heads, length, source, e, ev = 2, 3, 5, 5 if options.get("is_causal") else 7, 4, 6
    q, k, v = (RNG.standard_normal(s) for s in ((batch, heads, length, e), (batch, heads, source, e),
                                                 (batch, heads, source, ev)))
    mask = _sdpa_mask(options.pop("attn_mask", None), batch, heads, length, source)
    g = RNG.standard_normal((batch, heads, length, ev))
    ours_in = [t64(a, True) for a in (q, k, v)]
    theirs_in = [torch_of(a, True) for a in (q, k, v)]
    ours = F.scaled_dot_product_attention(*ours_in, attn_mask=None if mask is None else tg_of(mask), **options)
    theirs = torch.nn.functional.scaled_dot_product_attention(
        *theirs_in, attn_mask=None if mask is None else torch_of(mask), **options)
    close(ours, theirs)
    ours.backward(t64(g))
    theirs.backward(torch_of(g))
    for a, b in zip(ours_in, theirs_in):
        close(a.grad, b.grad)


def test_sdpa_broadcast_batch_and_3d_inputs():
    q, k, v = RNG.standard_normal((2, 4, 5, 3)), RNG.standard_normal((1, 6, 3)), RNG.standard_normal((6, 2))
    ours_in = [t64(a, True) for a in (q, k, v)]
    theirs_in = [torch_of(a, True) for a in (q, k, v)]
    ours = F.scaled_dot_product_attention(*ours_in)
    theirs = torch.nn.functional.scaled_dot_product_attention(*theirs_in)
    close(ours, theirs)
    g = RNG.standard_normal(ours.shape)
    ours.backward(t64(g))
    theirs.backward(torch_of(g))
    for a, b in zip(ours_in, theirs_in):
        close(a.grad, b.grad)


def test_sdpa_grouped_query_attention():
    q, k, v = RNG.standard_normal((2, 6, 4, 3)), RNG.standard_normal((2, 2, 5, 3)), RNG.standard_normal((2, 2, 5, 3))
    ours_in = [t64(a, True) for a in (q, k, v)]
    theirs_in = [torch_of(a, True) for a in (q, k, v)]
    ours = F.scaled_dot_product_attention(*ours_in, enable_gqa=True)
    theirs = torch.nn.functional.scaled_dot_product_attention(*theirs_in, enable_gqa=True)
    close(ours, theirs)
    g = RNG.standard_normal(ours.shape)
    ours.backward(t64(g))
    theirs.backward(torch_of(g))
    for a, b in zip(ours_in, theirs_in):
        close(a.grad, b.grad)


def test_sdpa_fully_masked_row_is_zero_as_torch():
    q, k, v = RNG.standard_normal((1, 3, 4)), RNG.standard_normal((1, 5, 4)), RNG.standard_normal((1, 5, 4))
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    ours_in = [t64(a, True) for a in (q, k, v)]
    ours = F.scaled_dot_product_attention(*ours_in, attn_mask=tg_of(mask))
    theirs = torch.nn.functional.scaled_dot_product_attention(*(torch_of(a) for a in (q, k, v)),
                                                               attn_mask=torch_of(mask))
    close(ours, theirs)
    assert np.all(ours.numpy()[0, 1] == 0)
    ours.sum().backward()
    assert all(np.isfinite(t.grad.numpy()).all() for t in ours_in)


def test_sdpa_gradcheck_with_mask():
    q, k, v = (t64(RNG.standard_normal(s), True) for s in ((2, 3, 2), (2, 4, 2), (2, 4, 3)))
    mask = tg_of(float_mask((3, 4)))
    assert tg.gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask), q, k, v)


def test_sdpa_gradcheck_with_dropout_fixed_by_seed():
    q, k, v = (t64(RNG.standard_normal(s), True) for s in ((3, 2), (4, 2), (4, 3)))

    def fn(a, b, c):
        tg.manual_seed(5)  # the same dropout draw on every call
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3)

    assert tg.gradcheck(fn, q, k, v)


def test_sdpa_dropout_keeps_expectation_and_zeroes_weights():
    tg.manual_seed(0)
    q = tg.zeros(1, 4, 2)  # uniform weights 1/S
    k = tg.zeros(1, 8, 2)
    v = tg.ones(1, 8, 1)
    outs = np.stack([F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy() for _ in range(400)])
    assert abs(outs.mean() - 1.0) < 0.05
    assert F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy().max() == 0


def test_sdpa_float32_stays_float32():
    q = tg.randn(2, 3, 4)
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=tg.tensor(float_mask((3, 3))))
    assert out.dtype == np.float32


@pytest.mark.parametrize("args, match", [
    (((2, 3, 4), (2, 5, 3), (2, 5, 4)), "query"),
    (((2, 3, 4), (2, 5, 4), (2, 6, 4)), "key"),
    (((2, 3, 4), (3, 5, 4), (3, 5, 4)), "batch"),
])
def test_sdpa_bad_shapes(args, match):
    q, k, v = (tg.randn(*s) for s in args)
    with pytest.raises(ValueError, match=match):
        F.scaled_dot_product_attention(q, k, v)


def test_sdpa_bad_masks():
    q, k = tg.randn(2, 3, 4), tg.randn(2, 5, 4)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(3, 4\)"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=tg.zeros(3, 4))
    with pytest.raises(TypeError, match="attn_mask must be a bool or floating-point tensor, got dtype int64"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=tg.tensor(np.zeros((3, 5), dtype=np.int64)))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=tg.zeros(3, 5), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, k, dropout_p=1.5)


# ---------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------


def pair(embed_dim=8, num_heads=2, **kwargs):
    """(ours, torch's) MultiheadAttention in float64 with the same weights (through state_dict)."""
    tg.set_default_dtype(np.float64)
    ours = nn.MultiheadAttention(embed_dim, num_heads, **kwargs)
    theirs = torch.nn.MultiheadAttention(embed_dim, num_heads, dtype=torch.float64, **kwargs)
    theirs.load_state_dict({name: torch_of(value) for name, value in ours.state_dict().items()})
    return ours, theirs


def compare(ours, theirs, inputs, self_attention=False, **call):
    """Forward both with the same inputs and call options; compare outputs, weights, all gradients."""
    ours_in = [t64(a, True) for a in inputs]
    theirs_in = [torch_of(a, True) for a in inputs]
    if self_attention:
        ours_in, theirs_in = [ours_in[0]] * 3, [theirs_in[0]] * 3
    ours_call = {k: (tg_of(v) if isinstance(v, np.ndarray) else v) for k, v in call.items()}
    theirs_call = {k: (torch_of(v) if isinstance(v, np.ndarray) else v) for k, v in call.items()}
    out, weights = ours(*ours_in, **ours_call)
    out_t, weights_t = theirs(*theirs_in, **theirs_call)
    close(out, out_t)
    assert (weights is None) == (weights_t is None)
    loss = (out * t64(g := RNG.standard_normal(out.shape))).sum()
    loss_t = (out_t * torch_of(g)).sum()
    if weights is not None:
        close(weights, weights_t)
        gw = RNG.standard_normal(weights.shape)
        loss = loss + (weights * t64(gw)).sum()
        loss_t = loss_t + (weights_t * torch_of(gw)).sum()
    loss.backward()
    loss_t.backward()
    for a, b in zip(ours_in[: 1 if self_attention else 3], theirs_in):
        close(a.grad, b.grad)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad)


MASKS = ["none", "bool 2-D", "float 2-D", "bool 3-D", "float 3-D", "key_padding bool", "key_padding float",
         "both", "causal hint"]


def _mha_masks(kind: str, batch: int, heads: int, length: int, source: int) -> dict:
    if kind == "none":
        return {}
    if kind == "bool 2-D":
        return {"attn_mask": bool_mask((length, source))}
    if kind == "float 2-D":
        return {"attn_mask": float_mask((length, source))}
    if kind == "bool 3-D":
        return {"attn_mask": bool_mask((batch * heads, length, source))}
    if kind == "float 3-D":
        return {"attn_mask": float_mask((batch * heads, length, source))}
    if kind == "key_padding bool":
        return {"key_padding_mask": bool_mask((batch, source))}
    if kind == "key_padding float":
        return {"key_padding_mask": float_mask((batch, source))}
    if kind == "both":
        return {"attn_mask": float_mask((length, source)), "key_padding_mask": bool_mask((batch, source))}
    if kind == "causal hint":
        return {"attn_mask": np.triu(np.ones((length, source), dtype=bool), 1), "is_causal": True}
    raise AssertionError(kind)


@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("mask", MASKS)
def test_mha_self_attention_matches_torch(mask, need_weights, average):
    ours, theirs = pair(8, 2, batch_first=True)
    batch, length = 3, 5
    x = RNG.standard_normal((batch, length, 8))
    compare(ours, theirs, [x], self_attention=True, need_weights=need_weights, average_attn_weights=average,
            **_mha_masks(mask, batch, 2, length, length))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mask", ["none", "bool 2-D", "float 3-D", "both"])
def test_mha_cross_attention_matches_torch(batch_first, mask):
    ours, theirs = pair(6, 3, batch_first=batch_first)
    batch, length, source = 2, 4, 5
    shape = (lambda n: (batch, n, 6)) if batch_first else (lambda n: (n, batch, 6))
    inputs = [RNG.standard_normal(shape(length)), RNG.standard_normal(shape(source)),
              RNG.standard_normal(shape(source))]
    compare(ours, theirs, inputs, **_mha_masks(mask, batch, 3, length, source))


@pytest.mark.parametrize("options", [
    {"kdim": 3, "vdim": 5},
    {"bias": False},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True, "kdim": 3, "vdim": 5},
])
@pytest.mark.parametrize("mask", ["none", "both"])
def test_mha_options_match_torch(options, mask):
    ours, theirs = pair(8, 4, **options)
    batch, length, source = 2, 3, 4
    inputs = [RNG.standard_normal((length, batch, 8)), RNG.standard_normal((source, batch, options.get("kdim", 8))),
              RNG.standard_normal((source, batch, options.get("vdim", 8)))]
    compare(ours, theirs, inputs, **_mha_masks(mask, batch, 4, length, source))


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_unbatched_matches_torch(need_weights):
    ours, theirs = pair(8, 2)
    x = RNG.standard_normal((5, 8))
    compare(ours, theirs, [x, RNG.standard_normal((6, 8)), RNG.standard_normal((6, 8))], need_weights=need_weights,
            key_padding_mask=bool_mask((6,)), attn_mask=float_mask((5, 6)))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mask", ["none", "float 3-D", "both"])
def test_mha_packed_self_attention_matches_torch(batch_first, mask):
    """Self-attention without weights runs as one PackedSelfAttention node, in either row order."""
    ours, theirs = pair(8, 2, batch_first=batch_first)
    batch, length = 3, 4
    x = RNG.standard_normal((batch, length, 8) if batch_first else (length, batch, 8))
    compare(ours, theirs, [x], self_attention=True, need_weights=False, **_mha_masks(mask, batch, 2, length, length))


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_packed_self_attention_gradcheck(batch_first):
    tg.set_default_dtype(np.float64)
    mha = nn.MultiheadAttention(4, 2, batch_first=batch_first)
    x = t64(RNG.standard_normal((2, 3, 4) if batch_first else (3, 2, 4)), True)
    mask = tg_of(float_mask((3, 3)))
    padding = tg_of(bool_mask((2, 3)))
    assert tg.gradcheck(lambda a: mha(a, a, a, attn_mask=mask, key_padding_mask=padding, need_weights=False)[0], x)


def test_mha_packed_self_attention_dropout_gradcheck():
    tg.set_default_dtype(np.float64)
    mha = nn.MultiheadAttention(4, 2, dropout=0.4, batch_first=True)
    x = t64(RNG.standard_normal((2, 3, 4)), True)

    def fn(a):
        tg.manual_seed(3)  # the same dropout draw on every call
        return mha(a, a, a, need_weights=False)[0]

    assert tg.gradcheck(fn, x)


def test_mha_self_attention_same_as_separate_inputs():
    """The packed fast path (query is key is value) computes what three equal inputs compute."""
    tg.set_default_dtype(np.float64)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = tg.randn(2, 4, 8)
    close(mha(x, x, x)[0], mha(x, x.clone(), x.clone())[0])


def test_mha_state_dict_keys_and_shapes_equal_torch():
    for options in ({}, {"kdim": 3, "vdim": 5}, {"bias": False}, {"add_bias_kv": True}):
        ours = nn.MultiheadAttention(8, 2, **options)
        theirs = torch.nn.MultiheadAttention(8, 2, **options)
        ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
        assert list(ours_sd) == list(theirs_sd)
        assert {k: tuple(v.shape) for k, v in ours_sd.items()} == {k: tuple(v.shape) for k, v in theirs_sd.items()}


def test_mha_default_init():
    tg.manual_seed(0)
    mha = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    w = mha.in_proj_weight.numpy()
    bound = np.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ on (3E, E)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.all(mha.in_proj_bias.numpy() == 0) and np.all(mha.out_proj.bias.numpy() == 0)
    assert np.abs(mha.out_proj.weight.numpy()).max() <= 1 / np.sqrt(64)  # Linear's default
    assert mha.bias_k.shape == (1, 1, 64) and mha.bias_k.numpy().std() > 0


def test_mha_dropout_only_in_training():
    mha = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = tg.randn(2, 5, 8)
    mha.eval()
    a, b = mha(x, x, x)[0], mha(x, x, x)[0]
    close(a, b)
    mha.train()
    tg.manual_seed(1)
    c, w = mha(x, x, x, average_attn_weights=False)
    assert (w.numpy() == 0).any()
    assert not np.allclose(c.numpy(), a.numpy())


def test_mha_gradcheck_tiny():
    tg.set_default_dtype(np.float64)
    mha = nn.MultiheadAttention(4, 2, add_bias_kv=True, batch_first=True)
    x = t64(RNG.standard_normal((2, 3, 4)), True)
    mask = tg_of(bool_mask((3, 3)))
    assert tg.gradcheck(lambda a: mha(a, a, a, attn_mask=mask, need_weights=False)[0], x)
    assert tg.gradcheck(lambda a: mha(a, a, a, attn_mask=mask)[1], x)


def test_mha_bad_input():
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim must be divisible by num_heads, "
                                         r"got embed_dim=10 and num_heads=3"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="MultiheadAttention: dropout"):
        nn.MultiheadAttention(8, 2, dropout=2.0)
    mha = nn.MultiheadAttention(8, 2)
    x = tg.randn(5, 3, 8)
    with pytest.raises(ValueError, match=r"query must have shape \(L, N, E\) .* E = embed_dim = 8, got \(5, 3, 7\)"):
        mha(tg.randn(5, 3, 7), x, x)
    with pytest.raises(ValueError, match="key and value must end in kdim = 8"):
        mha(x, tg.randn(5, 3, 4), x)
    with pytest.raises(ValueError, match="must have the same length"):
        mha(x, x, tg.randn(6, 3, 8))
    with pytest.raises(ValueError, match="same batch size"):
        mha(x, tg.randn(5, 2, 8), tg.randn(5, 2, 8))
    with pytest.raises(ValueError, match=r"2-D attn_mask must have shape \(L, S\) = \(5, 5\), got \(5, 4\)"):
        mha(x, x, x, attn_mask=tg.zeros(5, 4))
    with pytest.raises(ValueError, match=r"3-D attn_mask must have shape \(N\*num_heads, L, S\) = \(6, 5, 5\)"):
        mha(x, x, x, attn_mask=tg.zeros(3, 5, 5))
    with pytest.raises(TypeError, match="attn_mask must be a bool or floating-point tensor, got dtype int64"):
        mha(x, x, x, attn_mask=tg.tensor(np.zeros((5, 5), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, S\) = \(3, 5\), got \(5, 3\)"):
        mha(x, x, x, key_padding_mask=tg.tensor(np.zeros((5, 3), dtype=bool)))
    with pytest.raises(ValueError, match="is_causal"):
        mha(x, x, x, is_causal=True)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("self_attention", [False, True])
def test_mha_output_is_laid_out_as_pytorchs(batch_first, need_weights, self_attention):
    """PyTorch's output lies in memory as (L, N, E), a transposed view when batch-first; a dropout after it
    draws its mask in memory order, so the layout is part of reproducing PyTorch's numbers."""
    ours, theirs = pair(8, 2, batch_first=batch_first)
    x = RNG.standard_normal((3, 4, 8))
    inputs = [x] * 3 if self_attention else [x, RNG.standard_normal((3, 4, 8)), RNG.standard_normal((3, 4, 8))]
    ours_in = [t64(a) for a in inputs]
    theirs_in = [torch_of(a) for a in inputs]
    if self_attention:
        ours_in, theirs_in = [ours_in[0]] * 3, [theirs_in[0]] * 3
    out = ours(*ours_in, need_weights=need_weights)[0]
    out_t = theirs(*theirs_in, need_weights=need_weights)[0]
    close(out, out_t)
    assert out.stride() == out_t.stride()
    assert out.is_contiguous() == out_t.is_contiguous()


@pytest.mark.parametrize("shape, dims", [((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((5,), (0,))])
def test_stride_is_contiguous_and_contiguous_match_torch(shape, dims):
    a = RNG.standard_normal(shape)
    leaf, leaf_t = t64(a, True), torch_of(a, True)
    ours, theirs = leaf.permute(*dims), leaf_t.permute(*dims)
    assert ours.stride() == theirs.stride() and ours.stride(-1) == theirs.stride(-1)
    assert ours.is_contiguous() == theirs.is_contiguous()
    made, made_t = ours.contiguous(), theirs.contiguous()
    assert made.is_contiguous() and made.stride() == made_t.stride()
    close(made, made_t)
    g = RNG.standard_normal(made.shape)
    (made * t64(g)).sum().backward()
    (made_t * torch_of(g)).sum().backward()
    close(leaf.grad, leaf_t.grad)
