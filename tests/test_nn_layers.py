"""nn.Module, nn.Parameter, the layers, nn.init and nn.utils, with PyTorch as the oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu import nn

try:
    from helpers_nn import assert_close, copy_linear, to_torch
except ImportError:  # tests/ imported as a package
    from tests.helpers_nn import assert_close, copy_linear, to_torch


F64 = np.float64


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 5, dtype=F64)
        self.act = nn.Tanh()
        self.out = nn.Linear(5, 2, dtype=F64)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


class Nested(nn.Module):
    """A tree: a Parameter of its own, a Sequential, a nested custom module and a ModuleList."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(tg.ones(2, dtype=F64))
        self.encoder = nn.Sequential(nn.Linear(4, 3, dtype=F64), nn.ReLU(), nn.Linear(3, 3, bias=False, dtype=F64))
        self.block = TwoLayer()
        self.heads = nn.ModuleList([nn.Linear(2, 2, dtype=F64), nn.Dropout(0.5)])


NESTED_NAMES = [
    "scale",
    "encoder.0.weight", "encoder.0.bias", "encoder.2.weight",
    "block.hidden.weight", "block.hidden.bias", "block.out.weight", "block.out.bias",
    "heads.0.weight", "heads.0.bias",
]


def randomize(model: nn.Module, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.numpy()[...] = rng.standard_normal(p.shape)


def snapshot(model: nn.Module) -> dict[str, bytes]:
    """Bit patterns of every parameter (compares nan and -0.0 exactly too)."""
    return {name: p.numpy().tobytes() for name, p in model.named_parameters()}


# -- Module: registration and traversal ---------------------------------------------------------


def test_named_parameters_order_and_dotted_names():
    model = Nested()
    names = [name for name, _ in model.named_parameters()]
    assert names == NESTED_NAMES
    params = list(model.parameters())
    assert [id(p) for p in params] == [id(p) for _, p in model.named_parameters()]
    assert all(isinstance(p, nn.Parameter) for p in params)
    assert params[0] is model.scale and params[1] is model.encoder[0].weight


def test_named_parameters_matches_torch_names():
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 3), nn.Tanh()), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh()), torch.nn.Linear(3, 1))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_shared_parameter_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == 3  # Sequential, Linear (once), ReLU


def test_children_are_direct_submodules_only():
    model = Nested()
    children = list(model.children())
    assert [type(c) for c in children] == [nn.Sequential, TwoLayer, nn.ModuleList]
    assert children[0] is model.encoder and children[1] is model.block and children[2] is model.heads
    assert [n for n, _ in model.named_children()] == ["encoder", "block", "heads"]


def test_modules_preorder_includes_self():
    model = Nested()
    modules = list(model.modules())
    assert modules[0] is model
    types = [type(m).__name__ for m in modules]
    assert types == ["Nested", "Sequential", "Linear", "ReLU", "Linear", "TwoLayer", "Linear", "Tanh", "Linear",
                     "ModuleList", "Linear", "Dropout"]
    names = [n for n, _ in model.named_modules()]
    assert names == ["", "encoder", "encoder.0", "encoder.1", "encoder.2", "block", "block.hidden", "block.act",
                     "block.out", "heads", "heads.0", "heads.1"]


def test_reassigning_and_deleting_attributes_updates_registry():
    model = TwoLayer()
    model.out = nn.Linear(5, 4, dtype=F64)
    assert [n for n, _ in model.named_parameters()][-2:] == ["out.weight", "out.bias"]
    assert model.out.weight.shape == (4, 5)
    model.extra = nn.Parameter(np.zeros(3))
    assert "extra" in dict(model.named_parameters())
    del model.extra
    assert "extra" not in dict(model.named_parameters())
    model.out.bias = None  # removing a parameter, as in PyTorch
    assert "out.bias" not in dict(model.named_parameters())


def test_plain_tensor_attribute_is_not_a_parameter():
    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.constant = tg.ones(3)
            self.layer = nn.Linear(3, 1)

    model = WithBuffer()
    assert [n for n, _ in model.named_parameters()] == ["layer.weight", "layer.bias"]


def test_missing_super_init_is_an_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

        def forward(self, x):
            return self.layer(x)

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        Forgetful()

    class ForgetfulParam(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        ForgetfulParam()


def test_forward_not_defined_is_an_error():
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError):
        NoForward()(tg.ones(2))


def test_call_runs_forward():
    class AddOne(nn.Module):
        def forward(self, x, y=0):
            return x + 1 + y

    assert AddOne()(tg.tensor([1.0]), y=2).item() == 4.0


# -- Parameter -------------------------------------------------------------------------------------


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.array([1.0, 2.0]))
    assert isinstance(p, tg.Tensor)
    assert p.requires_grad and p.is_leaf and p.grad is None
    assert p.dtype == np.dtype(np.float32)  # float data becomes the default float dtype
    assert nn.Parameter(tg.zeros(2, dtype=F64)).dtype == np.dtype(F64)
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad


def test_parameter_from_tensor_shares_data_and_is_differentiable():
    t = tg.tensor([1.0, 2.0, 3.0], dtype=F64)
    p = nn.Parameter(t)
    assert p.numpy() is t.numpy()
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), 2 * t.numpy())


def test_parameter_from_list_copies():
    data = np.array([1.0, 2.0])
    p = nn.Parameter(data)
    data[0] = 100.0
    assert p.numpy()[0] == 1.0


def test_integer_parameter_that_requires_grad_is_refused():
    with pytest.raises(TypeError):
        nn.Parameter(np.array([1, 2]))
    with pytest.raises(TypeError):
        nn.Parameter(tg.tensor([1, 2]))


def test_assigning_a_plain_tensor_over_a_parameter_is_refused():
    layer = nn.Linear(2, 2)
    weight = layer.weight
    with pytest.raises(TypeError, match="weight"):
        layer.weight = tg.ones(2, 2)
    with pytest.raises(TypeError, match="weight"):
        layer.weight = np.ones((2, 2))
    # the refused assignment changed nothing
    assert layer.weight is weight
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


# -- zero_grad, train / eval -----------------------------------------------------------------------


def _backward_once(model):
    x = tg.tensor(np.random.default_rng(1).standard_normal((4, 3)), dtype=F64)
    model(x).sum().backward()


def test_zero_grad_set_to_none():
    model = TwoLayer()
    _backward_once(model)
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_zero_grad_to_zeros_in_place():
    model = TwoLayer()
    _backward_once(model)
    grads = {n: p.grad for n, p in model.named_parameters()}
    arrays = {n: p.grad.numpy() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=False)
    for n, p in model.named_parameters():
        assert p.grad is grads[n] and p.grad.numpy() is arrays[n]
        assert p.grad.shape == p.shape
        assert not p.grad.numpy().any()
    # and accumulation starts again from zero
    _backward_once(model)
    fresh = TwoLayer()
    fresh.load_state_dict(model.state_dict())
    _backward_once(fresh)
    for (_, a), (_, b) in zip(model.named_parameters(), fresh.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_train_eval_propagate_to_all_submodules():
    model = Nested()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())
    model.block.train()
    assert model.block.act.training and model.block.hidden.training and not model.training


def test_eval_mode_turns_dropout_off_inside_a_model():
    model = nn.Sequential(nn.Linear(8, 8, dtype=F64), nn.Dropout(0.5))
    x = tg.tensor(np.random.default_rng(0).standard_normal((16, 8)), dtype=F64)
    model.eval()
    expected = x.numpy() @ model[0].weight.numpy().T + model[0].bias.numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-12)
    model.train()
    tg.manual_seed(0)
    assert (model(x).numpy() == 0).any()


# -- state_dict / load_state_dict ---------------------------------------------------------------


def test_state_dict_returns_copies_in_order():
    model = Nested()
    sd = model.state_dict()
    assert list(sd) == NESTED_NAMES
    for name, p in model.named_parameters():
        assert isinstance(sd[name], np.ndarray)
        assert sd[name] is not p.numpy() and not np.shares_memory(sd[name], p.numpy())
        np.testing.assert_array_equal(sd[name], p.numpy())
        assert sd[name].dtype == p.dtype
    before = snapshot(model)
    for value in sd.values():
        value[...] = 123.0
    assert snapshot(model) == before


def test_load_state_dict_success_copies_values_into_same_arrays():
    source, target = Nested(), Nested()
    randomize(source, 1)
    randomize(target, 2)
    params = {n: p for n, p in target.named_parameters()}
    arrays = {n: p.numpy() for n, p in target.named_parameters()}
    sd = source.state_dict()
    result = target.load_state_dict(sd)
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    for name, p in target.named_parameters():
        assert p is params[name] and p.numpy() is arrays[name]
        np.testing.assert_array_equal(p.numpy(), sd[name])
    # the loaded values are copies: changing the dict afterwards does not reach the model
    sd["scale"][...] = -7.0
    assert not (target.scale.numpy() == -7.0).any()


def test_load_state_dict_accepts_tensors_and_castable_dtypes():
    model = nn.Linear(2, 2)  # float32
    sd = {"weight": tg.tensor(np.full((2, 2), 0.5), dtype=F64), "bias": np.array([1.0, 2.0], dtype=F64)}
    model.load_state_dict(sd)
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.numpy(), np.full((2, 2), 0.5, dtype=np.float32))
    np.testing.assert_array_equal(model.bias.numpy(), np.array([1.0, 2.0], dtype=np.float32))


def _bad_state_dicts():
    good = Nested().state_dict()
    randomize_sd = {k: v + 1.0 for k, v in good.items()}
    last = NESTED_NAMES[-1]

    bad_shape_last = dict(randomize_sd)
    bad_shape_last[last] = np.zeros((3,))
    missing = dict(randomize_sd)
    del missing[last]
    unexpected = dict(randomize_sd)
    unexpected["heads.5.weight"] = np.zeros((2, 2))
    bad_dtype_last = dict(randomize_sd)
    bad_dtype_last[last] = randomize_sd[last].astype(np.complex128)
    bad_shape_first = dict(randomize_sd)
    bad_shape_first["scale"] = np.zeros((2, 1))
    return {
        "bad shape in last key": bad_shape_last,
        "bad shape in first key": bad_shape_first,
        "missing key": missing,
        "unexpected key": unexpected,
        "bad dtype in last key": bad_dtype_last,
    }


@pytest.mark.parametrize("case", list(_bad_state_dicts()))
def test_failed_load_changes_nothing(case):
    bad = _bad_state_dicts()[case]
    model = Nested()
    randomize(model, 5)
    before = snapshot(model)
    arrays = {n: p.numpy() for n, p in model.named_parameters()}
    with pytest.raises(RuntimeError):
        model.load_state_dict(bad)
    assert snapshot(model) == before
    assert all(p.numpy() is arrays[n] for n, p in model.named_parameters())


def test_failed_load_names_the_problem_keys():
    model = Nested()
    cases = _bad_state_dicts()
    with pytest.raises(RuntimeError, match="heads.0.bias"):
        model.load_state_dict(cases["bad shape in last key"])
    with pytest.raises(RuntimeError, match="heads.0.bias"):
        model.load_state_dict(cases["missing key"])
    with pytest.raises(RuntimeError, match=r"heads\.5\.weight"):
        model.load_state_dict(cases["unexpected key"])


def test_load_state_dict_non_strict_reports_missing_and_unexpected():
    model = Nested()
    randomize(model, 3)
    before = snapshot(model)
    sd = {"encoder.0.weight": np.full((3, 4), 2.0), "nonsense": np.zeros(1)}
    result = model.load_state_dict(sd, strict=False)
    assert list(result.missing_keys) == [n for n in NESTED_NAMES if n != "encoder.0.weight"]
    assert list(result.unexpected_keys) == ["nonsense"]
    missing, unexpected = result  # a named pair, as in PyTorch
    assert unexpected == result.unexpected_keys and missing == result.missing_keys
    np.testing.assert_array_equal(model.encoder[0].weight.numpy(), np.full((3, 4), 2.0))
    after = snapshot(model)
    assert all(after[n] == before[n] for n in NESTED_NAMES if n != "encoder.0.weight")


def test_load_state_dict_non_strict_still_refuses_bad_shape():
    model = Nested()
    before = snapshot(model)
    with pytest.raises(RuntimeError):
        model.load_state_dict({"scale": np.zeros(2), "encoder.0.weight": np.zeros((4, 3))}, strict=False)
    assert snapshot(model) == before


def test_load_state_dict_restores_exact_outputs():
    a, b = TwoLayer(), TwoLayer()
    x = tg.tensor(np.random.default_rng(0).standard_normal((7, 3)), dtype=F64)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


# -- Linear ------------------------------------------------------------------------------------


def test_linear_layout_and_shapes():
    layer = nn.Linear(3, 5)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (5,)
    assert layer.in_features == 3 and layer.out_features == 5
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    wide = nn.Linear(3, 5, dtype=np.float64)
    assert wide.weight.dtype == np.float64 and wide.bias.dtype == np.float64
    assert wide.weight.requires_grad and wide.bias.requires_grad
    assert nn.Linear(3, 5, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 5, bias=False).named_parameters()] == ["weight"]
    assert layer(tg.randn(2, 4, 3)).shape == (2, 4, 5)


def test_linear_wrong_input_width_is_an_error():
    with pytest.raises(ValueError, match="3"):
        nn.Linear(3, 5)(tg.randn(2, 4))


@pytest.mark.parametrize("in_features,out_features", [(1, 1), (3, 7), (400, 300)])
def test_linear_default_init_bounds(in_features, out_features):
    tg.manual_seed(0)
    layer = nn.Linear(in_features, out_features)
    bound = 1 / math.sqrt(in_features)
    for p in (layer.weight, layer.bias):
        assert np.all(np.abs(p.numpy()) <= bound)


def test_linear_default_init_fills_the_range_uniformly():
    """PyTorch's kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)); check the whole distribution."""
    tg.manual_seed(1)
    in_features, out_features = 256, 1000
    layer = nn.Linear(in_features, out_features)
    bound = 1 / math.sqrt(in_features)
    w = layer.weight.numpy().astype(F64).ravel()
    assert w.min() >= -bound and w.max() <= bound
    assert w.min() < -0.999 * bound and w.max() > 0.999 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    # each tenth of the range holds about a tenth of the values
    counts, _ = np.histogram(w, bins=10, range=(-bound, bound))
    assert np.all(np.abs(counts / w.size - 0.1) < 0.01)
    b = layer.bias.numpy().astype(F64)
    assert b.min() < -0.95 * bound and b.max() > 0.95 * bound
    assert np.all(np.abs(b) <= bound)
    # the same scale as PyTorch's own layer
    theirs = torch.nn.Linear(in_features, out_features).weight.detach().numpy().ravel()
    assert w.std() == pytest.approx(theirs.std(), rel=0.02)


def test_linear_init_reproducible_under_manual_seed():
    tg.manual_seed(42)
    a = nn.Linear(10, 20)
    tg.manual_seed(42)
    b = nn.Linear(10, 20)
    tg.manual_seed(43)
    c = nn.Linear(10, 20)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert not np.array_equal(a.weight.numpy(), c.weight.numpy())
    assert not np.array_equal(a.weight.numpy(), a.weight.numpy().T.T[::-1])  # not a constant fill


def _compare_module(ours, theirs, x: np.ndarray, dtype=F64, upstream_seed: int = 7):
    """Forward and backward through both modules; compare outputs, input grads and parameter grads."""
    xt = tg.tensor(x.copy(), requires_grad=True, dtype=dtype)
    xr = to_torch(x.astype(dtype), requires_grad=True)
    out = ours(xt)
    ref = theirs(xr)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.dtype(dtype)
    assert_close(out, ref, dtype)
    upstream = np.random.default_rng(upstream_seed).standard_normal(out.shape).astype(dtype)
    out.backward(tg.tensor(upstream, dtype=dtype))
    ref.backward(to_torch(upstream))
    assert_close(xt.grad, xr.grad, dtype)
    ours_params = dict(ours.named_parameters())
    theirs_params = dict(theirs.named_parameters())
    assert list(ours_params) == list(theirs_params)
    for name, p in ours_params.items():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape and p.grad.dtype == p.dtype
        assert_close(p.grad, theirs_params[name].grad, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_against_torch(dtype, bias):
    ours = nn.Linear(4, 3, bias=bias, dtype=dtype)
    theirs = torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    copy_linear(ours, theirs)
    x = np.random.default_rng(0).standard_normal((6, 4))
    _compare_module(ours, theirs, x, dtype)


def test_linear_on_3d_input_against_torch():
    ours = nn.Linear(4, 3, dtype=F64)
    theirs = torch.nn.Linear(4, 3, dtype=torch.float64)
    copy_linear(ours, theirs)
    _compare_module(ours, theirs, np.random.default_rng(1).standard_normal((2, 5, 4)))


def _activation_input():
    x = np.random.default_rng(3).standard_normal((5, 6)) * 3
    x[0, :3] = 0.0  # the kinks: relu'(0) = 0, leaky'(0) = slope, as in PyTorch
    x[1, 0] = -0.0
    return x


@pytest.mark.parametrize("make_ours,make_theirs", [
    (nn.ReLU, torch.nn.ReLU),
    (nn.Tanh, torch.nn.Tanh),
    (nn.Sigmoid, torch.nn.Sigmoid),
    (nn.LeakyReLU, torch.nn.LeakyReLU),
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (nn.Identity, torch.nn.Identity),
    (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda: nn.Softmax(dim=0), lambda: torch.nn.Softmax(dim=0)),
    (lambda: nn.Softmax(dim=-1), lambda: torch.nn.Softmax(dim=-1)),
    (lambda: nn.LogSoftmax(dim=1), lambda: torch.nn.LogSoftmax(dim=1)),
    (lambda: nn.LogSoftmax(dim=0), lambda: torch.nn.LogSoftmax(dim=0)),
], ids=["relu", "tanh", "sigmoid", "leaky", "leaky0.2", "identity", "softmax1", "softmax0", "softmax-1",
        "logsoftmax1", "logsoftmax0"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_against_torch(make_ours, make_theirs, dtype):
    _compare_module(make_ours(), make_theirs(), _activation_input(), dtype)


def test_activations_at_extreme_inputs_against_torch():
    x = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    for ours, theirs in [(nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()),
                         (nn.Softmax(1), torch.nn.Softmax(1)), (nn.LogSoftmax(1), torch.nn.LogSoftmax(1))]:
        _compare_module(ours, theirs, x)
        assert np.all(np.isfinite(ours(tg.tensor(x, dtype=F64)).numpy()))


@pytest.mark.parametrize("start_dim,end_dim", [(1, -1), (0, -1), (1, 2), (2, 3), (-2, -1), (0, 0)])
def test_flatten_against_torch(start_dim, end_dim):
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 5))
    _compare_module(nn.Flatten(start_dim, end_dim), torch.nn.Flatten(start_dim, end_dim), x)


def test_flatten_default_keeps_batch_dimension():
    assert nn.Flatten()(tg.zeros(2, 3, 4)).shape == (2, 12)


def test_sequential_mlp_against_torch():
    ours = nn.Sequential(nn.Linear(4, 8, dtype=F64), nn.ReLU(), nn.Linear(8, 8, dtype=F64), nn.Tanh(),
                         nn.Linear(8, 6, dtype=F64), nn.LeakyReLU(0.1), nn.Linear(6, 3, dtype=F64), nn.Sigmoid(),
                         nn.Identity())
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 6), torch.nn.LeakyReLU(0.1), torch.nn.Linear(6, 3),
                                 torch.nn.Sigmoid(), torch.nn.Identity()).double()
    for a, b in zip(ours, theirs, strict=True):
        if isinstance(a, nn.Linear):
            copy_linear(a, b)
    _compare_module(ours, theirs, np.random.default_rng(5).standard_normal((10, 4)))


def test_sequential_with_flatten_and_log_softmax_against_torch():
    ours = nn.Sequential(nn.Flatten(), nn.Linear(12, 5, dtype=F64), nn.ReLU(), nn.Linear(5, 4, dtype=F64),
                         nn.LogSoftmax(dim=1))
    theirs = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.ReLU(),
                                 torch.nn.Linear(5, 4), torch.nn.LogSoftmax(dim=1)).double()
    copy_linear(ours[1], theirs[1])
    copy_linear(ours[3], theirs[3])
    _compare_module(ours, theirs, np.random.default_rng(6).standard_normal((3, 3, 4)))


def test_sequential_container_behaviour():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3
    assert list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    sliced = model[1:]
    assert isinstance(sliced, nn.Sequential) and list(sliced) == layers[1:]
    model.append(nn.Sigmoid())
    assert len(model) == 4 and [n for n, _ in model.named_children()] == ["0", "1", "2", "3"]
    with pytest.raises(TypeError):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_sequential_from_ordered_dict_uses_the_names():
    from collections import OrderedDict

    model = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU()), ("head", nn.Linear(3, 1))]))
    assert [n for n, _ in model.named_parameters()] == ["fc.weight", "fc.bias", "head.weight", "head.bias"]


def test_module_list_against_torch():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(4, 4, dtype=F64) for _ in range(3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x).tanh()
            return x

    class TorchStack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4).double() for _ in range(3)])

        def forward(self, x):
            for layer in self.layers:
                x = torch.tanh(layer(x))
            return x

    ours, theirs = Stack(), TorchStack()
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        copy_linear(a, b)
    assert len(ours.layers) == 3 and ours.layers[1] is list(ours.layers)[1]
    _compare_module(ours, theirs, np.random.default_rng(8).standard_normal((5, 4)))


def test_module_list_registers_parameters_a_plain_list_does_not():
    class WithList(nn.Module):
        def __init__(self):
            super().__init__()
            self.good = nn.ModuleList([nn.Linear(2, 2)])
            self.plain = [nn.Linear(2, 2)]

    model = WithList()
    assert [n for n, _ in model.named_parameters()] == ["good.0.weight", "good.0.bias"]
    model.good.append(nn.Linear(2, 1))
    assert [n for n, _ in model.named_parameters()][-2:] == ["good.1.weight", "good.1.bias"]


# -- Dropout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_dropout_train_zero_fraction_and_scaling(p):
    tg.manual_seed(0)
    layer = nn.Dropout(p)
    x = tg.tensor(np.random.default_rng(0).uniform(1.0, 2.0, (200, 500)), requires_grad=True, dtype=F64)
    out = layer(x)
    zeros = out.numpy() == 0
    n = zeros.size
    # the zero count is Binomial(n, p): allow 5 standard deviations
    assert abs(zeros.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(out.numpy()[~zeros], x.numpy()[~zeros] / (1 - p), rtol=1e-12)
    # the gradient flows through the same mask with the same scale
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() == 0, zeros)
    np.testing.assert_allclose(x.grad.numpy()[~zeros], 1 / (1 - p), rtol=1e-12)


def test_dropout_float32_keeps_dtype_and_scale():
    tg.manual_seed(1)
    x = tg.ones(100, 100)
    out = nn.Dropout(0.25)(x)
    assert out.dtype == np.float32
    survivors = out.numpy()[out.numpy() != 0]
    np.testing.assert_allclose(survivors, 1 / 0.75, rtol=1e-6)


def test_dropout_eval_is_identity():
    layer = nn.Dropout(0.5).eval()
    x = tg.tensor(np.random.default_rng(2).standard_normal((50, 40)), requires_grad=True, dtype=F64)
    out = layer(x)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((50, 40)))
    np.testing.assert_array_equal(nn.functional.dropout(x, 0.5, training=False).numpy(), x.numpy())


def test_dropout_p_zero_and_one():
    x = tg.tensor(np.random.default_rng(3).standard_normal((20, 20)), dtype=F64)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    out = nn.Dropout(1.0)(x)
    assert np.all(out.numpy() == 0) and out.shape == x.shape
    assert torch.all(torch.nn.Dropout(1.0)(to_torch(x.numpy())) == 0)


def test_dropout_reproducible_under_manual_seed():
    x = tg.ones(30, 30)
    tg.manual_seed(7)
    a = nn.Dropout(0.5)(x).numpy()
    tg.manual_seed(7)
    b = nn.Dropout(0.5)(x).numpy()
    c = nn.Dropout(0.5)(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


@pytest.mark.parametrize("p", [-0.1, 1.1, 2, float("nan")])
def test_dropout_invalid_p(p):
    with pytest.raises(ValueError, match="p"):
        nn.Dropout(p)
    with pytest.raises(ValueError):
        nn.functional.dropout(tg.ones(3), p)


# -- nn.init --------------------------------------------------------------------------------------


BIG = (500, 400)  # fan_out = 500, fan_in = 400


def _check_in_place(fn, *args, shape=BIG, dtype=np.float32, **kwargs):
    t = tg.zeros(*shape, dtype=dtype)
    array = t.numpy()
    result = fn(t, *args, **kwargs)
    assert result is t and t.numpy() is array
    assert t.dtype == np.dtype(dtype) and t.shape == shape
    return t.numpy().astype(F64)


def _torch_fans(shape):
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_zeros_and_ones_in_place():
    tg.manual_seed(0)
    for dtype in (np.float32, np.float64):
        t = tg.randn(3, 4, dtype=dtype)
        array = t.numpy()
        assert nn.init.zeros_(t) is t and t.numpy() is array
        np.testing.assert_array_equal(t.numpy(), np.zeros((3, 4)))
        assert nn.init.ones_(t) is t and t.numpy() is array and t.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(t.numpy(), np.ones((3, 4)))


def test_init_of_a_parameter_keeps_it_registered_and_trainable():
    layer = nn.Linear(3, 2)
    weight, array = layer.weight, layer.weight.numpy()
    nn.init.ones_(layer.weight)
    assert layer.weight is weight and layer.weight.numpy() is array and layer.weight.requires_grad
    np.testing.assert_array_equal(layer.state_dict()["weight"], np.ones((2, 3)))


def test_normal_statistics():
    tg.manual_seed(0)
    values = _check_in_place(nn.init.normal_, mean=2.0, std=3.0)
    n = values.size
    assert abs(values.mean() - 2.0) < 5 * 3.0 / math.sqrt(n)
    assert values.std() == pytest.approx(3.0, rel=0.01)
    default = _check_in_place(nn.init.normal_)
    assert abs(default.mean()) < 0.02 and default.std() == pytest.approx(1.0, rel=0.01)


def test_uniform_statistics():
    tg.manual_seed(1)
    values = _check_in_place(nn.init.uniform_, a=-2.0, b=5.0)
    assert values.min() >= -2.0 and values.max() <= 5.0
    assert values.min() < -1.99 and values.max() > 4.99
    assert values.mean() == pytest.approx(1.5, abs=0.03)
    assert values.std() == pytest.approx(7 / math.sqrt(12), rel=0.01)
    default = _check_in_place(nn.init.uniform_)
    assert default.min() >= 0 and default.max() <= 1 and default.mean() == pytest.approx(0.5, abs=0.01)


def _check_uniform(values, bound):
    assert values.min() >= -bound * (1 + 1e-6) and values.max() <= bound * (1 + 1e-6)
    assert values.min() < -0.99 * bound and values.max() > 0.99 * bound
    assert abs(values.mean()) < 0.01 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


def _check_normal(values, std):
    assert abs(values.mean()) < 5 * std / math.sqrt(values.size)
    assert values.std() == pytest.approx(std, rel=0.01)


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_uniform_statistics(gain):
    tg.manual_seed(2)
    fan_in, fan_out = _torch_fans(BIG)
    values = _check_in_place(nn.init.xavier_uniform_, gain=gain)
    _check_uniform(values, gain * math.sqrt(6.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_xavier_normal_statistics(gain):
    tg.manual_seed(3)
    fan_in, fan_out = _torch_fans(BIG)
    values = _check_in_place(nn.init.xavier_normal_, gain=gain)
    _check_normal(values, gain * math.sqrt(2.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("kwargs", [
    {}, {"mode": "fan_out"}, {"nonlinearity": "relu"}, {"a": math.sqrt(5)}, {"a": 0.2, "mode": "fan_out"},
    {"nonlinearity": "tanh"},
])
def test_kaiming_uniform_statistics(kwargs):
    tg.manual_seed(4)
    fan_in, fan_out = _torch_fans(BIG)
    fan = fan_out if kwargs.get("mode") == "fan_out" else fan_in
    gain = torch.nn.init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0))
    values = _check_in_place(nn.init.kaiming_uniform_, **kwargs)
    _check_uniform(values, gain * math.sqrt(3.0 / fan))


@pytest.mark.parametrize("kwargs", [{}, {"mode": "fan_out"}, {"nonlinearity": "relu"}, {"a": 0.1}])
def test_kaiming_normal_statistics(kwargs):
    tg.manual_seed(5)
    fan_in, fan_out = _torch_fans(BIG)
    fan = fan_out if kwargs.get("mode") == "fan_out" else fan_in
    gain = torch.nn.init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0))
    values = _check_in_place(nn.init.kaiming_normal_, **kwargs)
    _check_normal(values, gain / math.sqrt(fan))


def test_fans_of_a_4d_tensor_match_torch():
    """Conv-shaped (out, in, kh, kw): fans include the receptive field, as in PyTorch."""
    shape = (64, 32, 3, 3)
    fan_in, fan_out = _torch_fans(shape)
    tg.manual_seed(6)
    values = _check_in_place(nn.init.xavier_uniform_, shape=shape)
    _check_uniform(values, math.sqrt(6.0 / (fan_in + fan_out)))
    values = _check_in_place(nn.init.kaiming_normal_, shape=shape, nonlinearity="relu")
    _check_normal(values, math.sqrt(2.0 / fan_in))


def test_fan_based_init_needs_two_dimensions():
    for fn in (nn.init.xavier_uniform_, nn.init.xavier_normal_, nn.init.kaiming_uniform_, nn.init.kaiming_normal_):
        with pytest.raises(ValueError):
            fn(tg.zeros(5))


def test_kaiming_invalid_mode():
    with pytest.raises(ValueError, match="fan_avg"):
        nn.init.kaiming_uniform_(tg.zeros(3, 3), mode="fan_avg")


def test_init_reproducible_under_manual_seed():
    results = []
    for _ in range(2):
        tg.manual_seed(11)
        t = tg.zeros(20, 10)
        nn.init.xavier_normal_(t)
        results.append(t.numpy().copy())
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize("nonlinearity,param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
    ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("selu", None),
])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_calculate_gain_unknown_nonlinearity():
    with pytest.raises(ValueError, match="swish"):
        nn.init.calculate_gain("swish")


# -- nn.utils: gradient clipping -------------------------------------------------------------------


def _params_with_grads(dtype=F64, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2), ()]
    ours, theirs = [], []
    for shape in shapes:
        value = rng.standard_normal(shape)
        grad = rng.standard_normal(shape) * scale
        p = nn.Parameter(tg.tensor(value, dtype=dtype))
        assert p.dtype == np.dtype(dtype)
        p.grad = tg.tensor(grad.astype(dtype), dtype=dtype)
        q = to_torch(value.astype(dtype), requires_grad=True)
        q.grad = to_torch(grad.astype(dtype))
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0, 2])
@pytest.mark.parametrize("max_norm", [0.5, 1.0])
def test_clip_grad_norm_against_torch(norm_type, max_norm):
    ours, theirs = _params_with_grads(scale=3.0)
    values = [p.numpy().copy() for p in ours]
    arrays = [p.grad.numpy() for p in ours]
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    assert float(total) > max_norm  # the clipping did happen
    for p, q, array, value in zip(ours, theirs, arrays, values, strict=True):
        assert p.grad.numpy() is array  # in place
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(p.numpy(), value)  # parameters themselves untouched
    # after clipping, the norm is max_norm (up to the 1e-6 in the denominator)
    clipped = np.concatenate([p.grad.numpy().ravel() for p in ours])
    ord_ = np.inf if math.isinf(norm_type) else norm_type
    assert np.linalg.norm(clipped, ord=ord_) == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_returns_norm_before_clipping():
    ours, _ = _params_with_grads(scale=10.0, seed=3)
    flat = np.concatenate([p.grad.numpy().ravel() for p in ours])
    total = nn.utils.clip_grad_norm_(ours, 1.0)
    assert isinstance(total, tg.Tensor)
    assert float(total) == pytest.approx(np.linalg.norm(flat), rel=1e-12)
    assert float(total) > 1.0


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_below_max_leaves_grads_unchanged(norm_type):
    ours, theirs = _params_with_grads(scale=0.01, seed=1)
    before = [p.grad.numpy().copy() for p in ours]
    total = nn.utils.clip_grad_norm_(ours, 100.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 100.0, norm_type=norm_type)
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    for p, b in zip(ours, before, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), b)


def test_clip_grad_norm_float32_against_torch():
    ours, theirs = _params_with_grads(dtype=np.float32, scale=5.0, seed=2)
    total = nn.utils.clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert float(total) == pytest.approx(float(expected), rel=1e-5)
    for p, q in zip(ours, theirs, strict=True):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_skips_params_without_grad_and_takes_a_single_tensor():
    ours, theirs = _params_with_grads(scale=4.0, seed=4)
    ours[1].grad = None
    theirs[1].grad = None
    total = nn.utils.clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    assert ours[1].grad is None
    single, single_t = _params_with_grads(scale=4.0, seed=5)
    total = nn.utils.clip_grad_norm_(single[0], 0.1)
    expected = torch.nn.utils.clip_grad_norm_(single_t[0], 0.1)
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    np.testing.assert_allclose(single[0].grad.numpy(), single_t[0].grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_on_model_parameters_generator():
    model = TwoLayer()
    x = tg.tensor(np.random.default_rng(0).standard_normal((8, 3)) * 50, dtype=F64)
    (model(x) ** 2).sum().backward()
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    total = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    flat = np.concatenate([g.ravel() for g in grads.values()])
    assert float(total) == pytest.approx(np.linalg.norm(flat), rel=1e-12)
    coef = 0.5 / (np.linalg.norm(flat) + 1e-6)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[n] * coef, rtol=1e-12)


def test_clip_grad_norm_invalid_arguments():
    ours, _ = _params_with_grads()
    with pytest.raises(ValueError, match="max_norm"):
        nn.utils.clip_grad_norm_(ours, -1.0)


@pytest.mark.parametrize("clip_value", [0.1, 0.5, 10.0])
def test_clip_grad_value_against_torch(clip_value):
    ours, theirs = _params_with_grads(seed=6)
    arrays = [p.grad.numpy() for p in ours]
    result = nn.utils.clip_grad_value_(ours, clip_value)
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert result is None
    for p, q, array in zip(ours, theirs, arrays, strict=True):
        assert p.grad.numpy() is array
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
        assert np.all(np.abs(p.grad.numpy()) <= clip_value)


def test_clip_grad_value_invalid():
    ours, _ = _params_with_grads()
    with pytest.raises(ValueError, match="clip_value"):
        nn.utils.clip_grad_value_(ours, -0.5)


@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 4, 5), (2, 1, 3, 5)])
def test_linear_any_leading_shape_against_finite_differences(shape):
    w = tg.randn(3, 5, requires_grad=True, dtype=tg.float64)
    b = tg.randn(3, requires_grad=True, dtype=tg.float64)
    x = tg.randn(*shape, requires_grad=True, dtype=tg.float64)
    assert tg.nn.functional.linear(x, w, b).shape == shape[:-1] + (3,)
    assert tg.gradcheck(lambda a, c, d: tg.nn.functional.linear(a, c, d), x, w, b)


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("cls", ["Softmax", "LogSoftmax"])
def test_softmax_without_dim_takes_torchs_implicit_dim_and_warns(cls, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        ours = getattr(nn, cls)()(tg.tensor(x, dtype=tg.float64)).numpy()
    with pytest.warns(UserWarning, match="Implicit dimension"):
        theirs = getattr(torch.nn, cls)()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_activations_accept_torchs_inplace_flag():
    x = tg.tensor([-1.0, 2.0])
    np.testing.assert_array_equal(nn.ReLU(inplace=True)(x).numpy(), [0.0, 2.0])
    np.testing.assert_array_equal(nn.LeakyReLU(0.5, inplace=True)(x).numpy(), [-0.5, 2.0])
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
