"""TransformerEncoderLayer and TransformerEncoder against PyTorch; lockstep AdamW training; overfitting a text."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn

torch = pytest.importorskip("torch")

try:  # tests/ is on the path when pytest runs from the repository root
    from helpers_nn import assert_close, t64, tg_of
    from helpers_nn import to_torch as torch_of
except ImportError:  # pragma: no cover - run as a package
    from tests.helpers_nn import assert_close, t64, tg_of
    from tests.helpers_nn import to_torch as torch_of

pytestmark = [pytest.mark.usefixtures("op_path"),  # the compiled kernels and the NumPy form alike
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")]

RNG = np.random.default_rng(1)


def close(actual, expected, rtol=1e-9, atol=1e-10) -> None:
    assert_close(actual, expected, rtol=rtol, atol=atol)


def load_into_torch(ours, theirs) -> None:
    theirs.load_state_dict({name: torch_of(value) for name, value in ours.state_dict().items()})


def layer_pair(d=8, heads=2, ff=16, **kwargs):
    tg.set_default_dtype(np.float64)
    kwargs.setdefault("dropout", 0.0)
    ours = nn.TransformerEncoderLayer(d, heads, ff, **kwargs)
    theirs = torch.nn.TransformerEncoderLayer(d, heads, ff, dtype=torch.float64, **kwargs)
    load_into_torch(ours, theirs)
    return ours, theirs


def compare(ours, theirs, src: np.ndarray, **call) -> None:
    x, x_t = t64(src, True), torch_of(src, True)
    ours_call = {k: (tg_of(v) if isinstance(v, np.ndarray) else v) for k, v in call.items()}
    theirs_call = {k: (torch_of(v) if isinstance(v, np.ndarray) else v) for k, v in call.items()}
    out, out_t = ours(x, **ours_call), theirs(x_t, **theirs_call)
    close(out, out_t)
    g = RNG.standard_normal(out.shape)
    out.backward(t64(g))
    out_t.backward(torch_of(g))
    close(x.grad, x_t.grad)
    theirs_params = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(theirs_params)
    for name, p in ours.named_parameters():
        close(p.grad, theirs_params[name].grad)


def masks(kind: str, batch: int, heads: int, length: int) -> dict:
    if kind == "none":
        return {}
    if kind == "causal float":
        return {"src_mask": np.triu(np.full((length, length), -np.inf), 1)}
    if kind == "causal bool, is_causal":
        return {"src_mask": np.triu(np.ones((length, length), dtype=bool), 1), "is_causal": True}
    if kind == "3-D float":
        m = RNG.standard_normal((batch * heads, length, length))
        return {"src_mask": m}
    if kind == "key padding":
        pad = np.zeros((batch, length), dtype=bool)
        pad[0, -2:] = True
        return {"src_key_padding_mask": pad}
    if kind == "both":
        pad = np.zeros((batch, length), dtype=bool)
        pad[1, -1] = True
        return {"src_mask": np.triu(np.ones((length, length), dtype=bool), 1), "src_key_padding_mask": pad}
    raise AssertionError(kind)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("mask", ["none", "causal float", "causal bool, is_causal", "3-D float", "key padding",
                                  "both"])
def test_encoder_layer_matches_torch(norm_first, activation, mask):
    ours, theirs = layer_pair(norm_first=norm_first, activation=activation, batch_first=True)
    batch, length = 2, 5
    compare(ours, theirs, RNG.standard_normal((batch, length, 8)), **masks(mask, batch, 2, length))


@pytest.mark.parametrize("options", [{"batch_first": False}, {"bias": False}, {"layer_norm_eps": 1e-3},
                                     {"activation": "callable"}])
def test_encoder_layer_options_match_torch(options):
    options = dict(options)
    if options.get("activation") == "callable":
        tg.set_default_dtype(np.float64)
        ours = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=nn.Tanh())
        theirs = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=torch.nn.Tanh(),
                                                  dtype=torch.float64)
        load_into_torch(ours, theirs)
    else:
        ours, theirs = layer_pair(**options)
    compare(ours, theirs, RNG.standard_normal((5, 2, 8)))


def test_encoder_layer_unbatched_matches_torch():
    ours, theirs = layer_pair(norm_first=True)
    compare(ours, theirs, RNG.standard_normal((4, 8)), src_mask=np.triu(np.full((4, 4), -np.inf), 1))


def test_encoder_layer_state_dict_keys_equal_torch():
    for options in ({}, {"bias": False}, {"norm_first": True, "activation": "gelu"}):
        ours = nn.TransformerEncoderLayer(8, 2, 16, **options)
        theirs = torch.nn.TransformerEncoderLayer(8, 2, 16, **options)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert all(tuple(v.shape) == tuple(theirs.state_dict()[k].shape) for k, v in ours.state_dict().items())


def test_encoder_layer_dropout_train_and_eval():
    tg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, batch_first=True)
    x = tg.randn(2, 4, 8)
    layer.eval()
    close(layer(x), layer(x))
    layer.train()
    assert not np.allclose(layer(x).numpy(), layer(x).numpy())


def test_encoder_layer_gradcheck_tiny():
    tg.set_default_dtype(np.float64)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True, norm_first=True, activation="gelu")
    x = t64(RNG.standard_normal((2, 3, 4)), True)
    mask = tg_of(np.triu(np.full((3, 3), -np.inf), 1))
    assert tg.gradcheck(lambda a: layer(a, src_mask=mask), x)


def test_encoder_layer_nodes_pass_gradcheck_nodes_and_step_through():
    """Every node of a Pre-LN layer (the fused attention included) agrees with finite differences on its own."""
    tg.set_default_dtype(np.float64)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True, norm_first=True)
    x = t64(RNG.standard_normal((2, 3, 4)), True)
    mask = tg_of(np.triu(np.full((3, 3), -np.inf), 1))
    report = tg.gradcheck_nodes(lambda: layer(x, src_mask=mask).sum())
    assert "all 16 nodes agree" in str(report)
    steps = tg.backward_steps(layer(x, src_mask=mask).sum())
    rules = [str(step) for step in steps]
    assert any("PackedSelfAttention" in rule for rule in rules)


def test_encoder_layer_bad_input():
    with pytest.raises(ValueError, match="TransformerEncoderLayer: d_model must be divisible by nhead, got "
                                         "d_model=10 and nhead=4"):
        nn.TransformerEncoderLayer(10, 4)
    with pytest.raises(ValueError, match="TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable, "
                                         "got 'tanh'"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(ValueError, match=r"src must have shape \(N, S, E\) or \(S, E\) with E = d_model = 8, "
                                         r"got \(2, 3, 7\)"):
        layer(tg.randn(2, 3, 7))
    with pytest.raises(ValueError, match=r"2-D attn_mask must have shape \(L, S\) = \(3, 3\), got \(4, 4\)"):
        layer(tg.randn(2, 3, 8), src_mask=tg.zeros(4, 4))
    with pytest.raises(TypeError, match="got dtype int64"):
        layer(tg.randn(2, 3, 8), src_mask=tg.tensor(np.zeros((3, 3), dtype=np.int64)))


# ---------------------------------------------------------------------------
# TransformerEncoder
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_norm", [False, True])
def test_encoder_matches_torch(with_norm):
    tg.set_default_dtype(np.float64)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True)
    ours = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8) if with_norm else None)
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True,
                                               dtype=torch.float64)
    theirs = torch.nn.TransformerEncoder(layer_t, 2, norm=torch.nn.LayerNorm(8, dtype=torch.float64)
                                         if with_norm else None, enable_nested_tensor=False)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # The copies start equal but are independent parameters.
    assert ours.layers[0].linear1.weight is not ours.layers[1].linear1.weight
    for p in ours.parameters():
        p.data = t64(RNG.standard_normal(p.shape) * 0.3)
    load_into_torch(ours, theirs)
    compare(ours, theirs, RNG.standard_normal((2, 5, 8)), mask=np.triu(np.full((5, 5), -np.inf), 1))


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def _tiny_gpt(lib, vocab=11, d=16, heads=2, layers=2, block=8, dtype=None):
    nn_ = lib.nn

    class TinyGPT(nn_.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn_.Embedding(vocab, d, dtype=dtype)
            self.pos = nn_.Embedding(block, d, dtype=dtype)
            self.blocks = nn_.ModuleList([
                nn_.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.0, batch_first=True,
                                            norm_first=True, dtype=dtype)
                for _ in range(layers)])
            self.norm = nn_.LayerNorm(d, dtype=dtype)
            self.head = nn_.Linear(d, vocab, dtype=dtype)

        def forward(self, idx, mask):
            x = self.tok(idx) + self.pos(lib.arange(idx.shape[1]))
            for layer in self.blocks:
                x = layer(x, src_mask=mask)
            return self.head(self.norm(x))

    return TinyGPT()


def test_two_layer_pre_ln_transformer_trains_in_lockstep_with_torch():
    tg.set_default_dtype(np.float64)
    tg.manual_seed(0)
    block, vocab = 8, 11
    ours = _tiny_gpt(tg, dtype=tg.float64)
    theirs = _tiny_gpt(torch, dtype=torch.float64)
    load_into_torch(ours, theirs)
    mask = np.triu(np.full((block, block), -np.inf), 1)
    opt = tg.optim.AdamW(ours.parameters(), lr=3e-3)
    opt_t = torch.optim.AdamW(theirs.parameters(), lr=3e-3)
    rng = np.random.default_rng(2)
    for _ in range(5):
        x, y = rng.integers(0, vocab, (4, block)), rng.integers(0, vocab, (4, block))
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(ours(tg.tensor(x), tg_of(mask)).reshape(-1, vocab),
                                              tg.tensor(y).reshape(-1))
        loss.backward()
        opt.step()
        opt_t.zero_grad()
        loss_t = torch.nn.functional.cross_entropy(theirs(torch.tensor(x), torch_of(mask)).reshape(-1, vocab),
                                                   torch.tensor(y).reshape(-1))
        loss_t.backward()
        opt_t.step()
        assert abs(loss.item() - loss_t.item()) < 1e-9
    theirs_sd = theirs.state_dict()
    for name, value in ours.state_dict().items():
        close(value, theirs_sd[name], rtol=1e-7, atol=1e-9)


@pytest.mark.slow
def test_tiny_transformer_overfits_a_short_text():
    text = "to be, or not to be, that is the question."
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    block = 16
    starts = np.arange(len(ids) - block)
    x = np.stack([ids[s:s + block] for s in starts])
    y = np.stack([ids[s + 1:s + block + 1] for s in starts])
    tg.manual_seed(0)
    model = _tiny_gpt(tg, vocab=len(chars), d=32, heads=4, layers=2, block=block)
    mask = tg.triu(tg.full((block, block), float("-inf")), diagonal=1)
    opt = tg.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    xs, ys = tg.tensor(x), tg.tensor(y).reshape(-1)
    first = None
    for _ in range(60):  # the loss is ~0.08 by step 40: what is left is the first positions' short context
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(model(xs, mask).reshape(-1, len(chars)), ys)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert first > 2.0
    assert loss.item() < 0.1
