"""PyTorch's spellings that teaching programs use, each against PyTorch's own behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg

torch = pytest.importorskip("torch")

from tests.test_torch_streams import needs_default_bernoulli  # noqa: E402 - PyTorch's Intel builds use MKL

DTYPES = [(tg.float32, torch.float32), (tg.float64, torch.float64), (tg.int64, torch.int64),
          (tg.int32, torch.int32), (tg.bool, torch.bool), (tg.uint8, torch.uint8), (tg.half, torch.half),
          (tg.float16, torch.float16), (tg.int8, torch.int8), (tg.int16, torch.int16), (tg.short, torch.short),
          (tg.float, torch.float), (tg.double, torch.double), (tg.long, torch.long), (tg.int, torch.int)]


@pytest.mark.parametrize("ours, theirs", DTYPES)
def test_type_names_as_pytorch(ours, theirs):
    assert tg.zeros(2, dtype=ours).type() == torch.zeros(2, dtype=theirs).type()


def test_type_converts_by_dtype_or_by_name_as_pytorch():
    values = np.array([1.5, -2.25, 3.0])
    ours, theirs = tg.tensor(values), torch.tensor(values, dtype=torch.float32)
    for target_ours, target_theirs in [(tg.float64, torch.float64), ("torch.DoubleTensor", "torch.DoubleTensor"),
                                       (tg.long, torch.long), ("torch.IntTensor", "torch.IntTensor")]:
        converted, expected = ours.type(target_ours), theirs.type(target_theirs)
        assert converted.type() == expected.type()
        np.testing.assert_array_equal(converted.numpy(), expected.numpy())


def test_type_keeps_the_gradient_path():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x.type(tg.float64) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_type_with_an_unknown_name_says_what_it_expected():
    with pytest.raises(ValueError, match=r"'torch.cuda.FloatTensor'.*torch.FloatTensor"):
        tg.zeros(1).type("torch.cuda.FloatTensor")


@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4)])
def test_nelement_numel_and_size_as_pytorch(shape):
    ours, theirs = tg.zeros(shape), torch.zeros(shape)
    assert ours.nelement() == theirs.nelement() == tg.numel(ours)
    assert ours.size() == tuple(theirs.size()) and isinstance(ours.size(), tuple)
    assert ours.size().numel() == theirs.size().numel()
    assert isinstance(ours.size(), tg.Size)
    for dim in range(-len(shape), len(shape)):
        assert ours.size(dim) == theirs.size(dim)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_t_as_pytorch_values_and_gradient(shape):
    values = np.random.default_rng(0).standard_normal(shape)
    x, xt = tg.tensor(values, requires_grad=True, dtype=tg.float64), torch.tensor(values, requires_grad=True)
    out, out_t = x.t(), xt.t()
    np.testing.assert_array_equal(out.numpy(), out_t.detach().numpy())
    np.testing.assert_array_equal(tg.t(x).numpy(), torch.t(xt).detach().numpy())
    weights = np.arange(out_t.numel(), dtype=np.float64).reshape(out_t.shape)
    (out * tg.tensor(weights, dtype=tg.float64)).sum().backward()
    (out_t * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_t_of_three_dimensions_is_an_error_as_in_pytorch():
    with pytest.raises(RuntimeError, match=r"at most 2 dimensions.*\(2, 3, 4\)"):
        tg.zeros(2, 3, 4).t()
    with pytest.raises(RuntimeError):
        torch.zeros(2, 3, 4).t()


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
@pytest.mark.parametrize("other", [0.5, "tensor", "row"])
def test_comparison_methods_and_functions_as_pytorch(name, other):
    rng = np.random.default_rng(1)
    values = rng.integers(-2, 3, (3, 4)).astype(np.float64) / 2
    other_np = {"tensor": rng.integers(-2, 3, (3, 4)) / 2, "row": rng.integers(-2, 3, (4,)) / 2}.get(other, other)
    x, xt = tg.tensor(values, dtype=tg.float64), torch.tensor(values)
    y = tg.tensor(other_np, dtype=tg.float64) if isinstance(other_np, np.ndarray) else other_np
    yt = torch.tensor(other_np) if isinstance(other_np, np.ndarray) else other_np
    expected = getattr(xt, name)(yt).numpy()
    for result in (getattr(x, name)(y), getattr(tg, name)(x, y), getattr(tg, name)(x, other=y)):
        assert result.dtype == np.bool_
        np.testing.assert_array_equal(result.numpy(), expected)


def test_equal_as_pytorch():
    a = [[1.0, 2.0], [3.0, 4.0]]
    for b in ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 5.0]], [1.0, 2.0]):
        assert tg.tensor(a).equal(tg.tensor(b)) == torch.tensor(a).equal(torch.tensor(b))
        assert tg.equal(tg.tensor(a), tg.tensor(b)) == torch.equal(torch.tensor(a), torch.tensor(b))


def test_square_values_and_gradient_as_pytorch():
    values = np.random.default_rng(2).standard_normal(5)
    x, xt = tg.tensor(values, requires_grad=True, dtype=tg.float64), torch.tensor(values, requires_grad=True)
    out, out_t = tg.square(x), torch.square(xt)
    np.testing.assert_array_equal(out.numpy(), out_t.detach().numpy())
    out.sum().backward()
    out_t.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_matmul_takes_pytorchs_keyword_names():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    ours = tg.matmul(input=tg.tensor(a, dtype=tg.float64), other=tg.tensor(b, dtype=tg.float64))
    np.testing.assert_array_equal(ours.numpy(), torch.matmul(input=torch.tensor(a), other=torch.tensor(b)).numpy())


def test_import_path_twins_are_the_same_objects():
    from tinygrad_edu.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
    from tinygrad_edu.utils.data import DataLoader, Dataset, TensorDataset, random_split

    assert clip_grad_norm_ is tg.nn.utils.clip_grad_norm_ and clip_grad_value_ is tg.nn.utils.clip_grad_value_
    assert (DataLoader, Dataset, TensorDataset, random_split) == (
        tg.data.DataLoader, tg.data.Dataset, tg.data.TensorDataset, tg.data.random_split)
    assert tg.utils.data.DataLoader is tg.data.DataLoader


def test_zero_dimensional_tensors_format_and_index_as_pytorch():
    loss, loss_t = tg.tensor(0.123456), torch.tensor(0.123456)
    assert f"{loss:f} {loss:.3f} {loss:.2e}" == f"{loss_t:f} {loss_t:.3f} {loss_t:.2e}"
    classes = ["cat", "dog", "bird"]
    assert classes[tg.tensor([0.1, 0.7, 0.2]).argmax(0)] == classes[torch.tensor([0.1, 0.7, 0.2]).argmax(0)]


# PyTorch's functions called with every argument by keyword, as tutorials sometimes do.
KEYWORD_CALLS = {
    "sum": lambda lib, t: lib.sum(input=t, dim=1, keepdim=True),
    "mean": lambda lib, t: lib.mean(input=t, dim=0),
    "max": lambda lib, t: lib.max(input=t, dim=1)[0],
    "softmax": lambda lib, t: lib.softmax(input=t, dim=1),
    "cat": lambda lib, t: lib.cat(tensors=[t, t], dim=1),
    "stack": lambda lib, t: lib.stack(tensors=[t, t], dim=0),
    "where": lambda lib, t: lib.where(condition=t > 0, input=t, other=t * 2),
    "maximum": lambda lib, t: lib.maximum(input=t, other=t * 2),
    "minimum": lambda lib, t: lib.minimum(input=t, other=t * 2),
    "clamp": lambda lib, t: lib.clamp(input=t, min=-0.5, max=0.5),
    "pow": lambda lib, t: lib.pow(input=t, exponent=2),
    "reshape": lambda lib, t: lib.reshape(input=t, shape=(4, 3)),
    "Tensor.reshape": lambda _lib, t: t.reshape(shape=(2, 6)),
    "Tensor.view": lambda _lib, t: t.view(12),
    "transpose": lambda lib, t: lib.transpose(input=t, dim0=0, dim1=1),
    "permute": lambda lib, t: lib.permute(input=t, dims=(1, 0)),
    "Tensor.expand": lambda _lib, t: t[:1].expand(size=(3, 4)),
    "argmax": lambda lib, t: lib.argmax(input=t, dim=1),
    "matmul": lambda lib, t: lib.matmul(input=t, other=t.T),
    "unsqueeze": lambda lib, t: lib.unsqueeze(input=t, dim=0),
    "flatten": lambda lib, t: lib.flatten(input=t, start_dim=0),
    "var": lambda lib, t: lib.var(input=t, dim=1, correction=0),
    "logsumexp": lambda lib, t: lib.logsumexp(input=t, dim=1),
    "split": lambda lib, t: lib.split(tensor=t, split_size_or_sections=2, dim=1)[1],
    "chunk": lambda lib, t: lib.chunk(input=t, chunks=2, dim=1)[0],
    "gather": lambda lib, t: lib.gather(input=t, dim=1, index=lib.tensor([[0], [1], [2]])),
    "masked_fill": lambda lib, t: lib.masked_fill(input=t, mask=t > 0, value=0.0),
    "cumsum": lambda lib, t: lib.cumsum(input=t, dim=1),
    "tril": lambda lib, t: lib.tril(input=t, diagonal=0),
    "norm": lambda lib, t: lib.norm(input=t, p=2, dim=1),
    "F.cross_entropy": lambda lib, t: lib.nn.functional.cross_entropy(input=t, target=lib.tensor([0, 1, 2])),
    "F.mse_loss": lambda lib, t: lib.nn.functional.mse_loss(input=t, target=t * 0),
    "F.linear": lambda lib, t: lib.nn.functional.linear(input=t, weight=t, bias=None),
    "F.one_hot": lambda lib, t: lib.nn.functional.one_hot(input=lib.argmax(t, dim=1), num_classes=4),
}


@pytest.mark.parametrize("name", list(KEYWORD_CALLS))
def test_functions_take_pytorchs_keyword_names(name):
    values = np.random.default_rng(3).standard_normal((3, 4))
    ours = KEYWORD_CALLS[name](tg, tg.tensor(values, dtype=tg.float64))
    theirs = KEYWORD_CALLS[name](torch, torch.tensor(values))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_sizes_given_twice_or_under_another_keyword_are_named():
    with pytest.raises(TypeError, match="'size'"):
        tg.zeros((2, 3)).reshape(size=(3, 2))
    with pytest.raises(TypeError, match="'shape'"):
        tg.zeros((2, 3)).reshape(3, shape=(3, 2))


def _print_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(3), rng.standard_normal((2, 3)), np.array([1.0, 2.0, 3.0]), np.array([1e-5, 1.0]),
            np.array([1.0, 2000.0]), np.array([np.nan, 1.0, np.inf]), rng.standard_normal(30),
            rng.standard_normal((3, 4, 5)), rng.standard_normal(2000), np.array([0.0, 0.0]), np.array([1.5, -2.0]),
            rng.standard_normal((40, 3)), np.array(3.5), np.array([1e9, 2.0]), rng.integers(0, 100, 20),
            rng.standard_normal((1500, 2)) * 10, np.array([-0.0, 1.0]), np.array([]), np.array([True, False]),
            rng.standard_normal((2, 2, 2, 2)), np.array([True, True]), np.array([[True], [True]]), np.array([False])]


@pytest.mark.parametrize("index", range(len(_print_cases())))
def test_tensors_print_as_pytorch_prints_them(index):
    values = _print_cases()[index]
    values = values.astype(np.float32) if values.dtype.kind == "f" else values
    assert repr(tg.tensor(values)) == repr(torch.tensor(values))


def test_empty_tensors_show_size_and_dtype_as_pytorch():
    assert repr(tg.zeros((0, 3))) == repr(torch.zeros((0, 3))) == "tensor([], size=(0, 3))"
    assert repr(tg.tensor([], dtype=tg.bool)) == "tensor([], dtype=bool)"  # PyTorch: dtype=torch.bool
    assert repr(torch.tensor([], dtype=torch.bool)) == "tensor([], dtype=torch.bool)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 42])
def test_bernoulli_function_and_method_give_pytorchs_draws(dtype, seed):
    probabilities = np.random.default_rng(seed).random((7, 9)).astype(dtype)
    torch.manual_seed(seed)
    expected = torch.bernoulli(torch.tensor(probabilities)).numpy()
    expected_method = torch.tensor(probabilities).bernoulli().numpy()
    tg.manual_seed(seed)
    ours = tg.bernoulli(tg.tensor(probabilities, dtype=dtype))
    np.testing.assert_array_equal(ours.numpy(), expected)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(tg.tensor(probabilities, dtype=dtype).bernoulli().numpy(), expected_method)
    g, gt = tg.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 1)
    np.testing.assert_array_equal(tg.bernoulli(tg.tensor(probabilities, dtype=dtype), generator=g).numpy(),
                                  torch.bernoulli(torch.tensor(probabilities), generator=gt).numpy())


FACTORY_CALLS = {
    "zeros": lambda lib, d: lib.zeros(2, 3, device=d),
    "zeros size=": lambda lib, d: lib.zeros(size=(2, 3), device=d),
    "ones": lambda lib, d: lib.ones((2,), device=d),
    "empty": lambda lib, d: lib.empty(size=(0,), device=d),
    "full": lambda lib, d: lib.full((2,), 7.0, device=d),
    "zeros_like": lambda lib, d: lib.zeros_like(lib.ones(2), device=d),
    "ones_like": lambda lib, d: lib.ones_like(lib.ones(2), device=d),
    "full_like": lambda lib, d: lib.full_like(lib.ones(2), 3.0, device=d),
    "arange": lambda lib, d: lib.arange(5, device=d),
    "linspace": lambda lib, d: lib.linspace(0, 1, 5, device=d),
    "eye": lambda lib, d: lib.eye(3, device=d),
    "tensor": lambda lib, d: lib.tensor([1.0, 2.0], device=d),
    "randn size=": lambda lib, d: lib.randn(size=(4,), device=d),
    "rand": lambda lib, d: lib.rand(3, device=d),
    "randint": lambda lib, d: lib.randint(0, 10, (5,), device=d),
    "randperm": lambda lib, d: lib.randperm(6, device=d),
    "normal": lambda lib, d: lib.normal(0.0, 1.0, (3,), device=d),
}


@pytest.mark.parametrize("name", list(FACTORY_CALLS))
def test_factories_take_device_and_size_as_pytorch(name):
    torch.manual_seed(3)
    expected = FACTORY_CALLS[name](torch, torch.device("cpu")).numpy()
    tg.manual_seed(3)
    ours = FACTORY_CALLS[name](tg, tg.device("cpu"))
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours.numpy(), expected)
    with pytest.raises(RuntimeError, match="'cuda' is not available"):
        FACTORY_CALLS[name](tg, "cuda")


@needs_default_bernoulli
@pytest.mark.parametrize("seed", [3, 42])
def test_dropout_of_a_transposed_view_draws_in_memory_order_as_pytorch(seed):
    for make in (lambda lib: lib.ones(3, 4).t(), lambda lib: lib.ones(2, 3, 4).permute(2, 0, 1),
                 lambda lib: lib.ones(5, 6)[:, ::2]):
        torch.manual_seed(seed)
        expected = torch.nn.functional.dropout(make(torch), 0.5).numpy()
        tg.manual_seed(seed)
        np.testing.assert_array_equal(tg.nn.functional.dropout(make(tg), 0.5).numpy(), expected)


def test_load_takes_pytorchs_map_location_and_weights_only(tmp_path):
    path = tmp_path / "model.tg"
    tg.save({"w": tg.ones(2)}, path)
    for kwargs in ({}, {"weights_only": True}, {"map_location": "cpu"}, {"map_location": tg.device("cpu"),
                                                                          "weights_only": False}):
        np.testing.assert_array_equal(tg.load(path, **kwargs)["w"], [1.0, 1.0])
    with pytest.raises(RuntimeError, match="'cuda' is not available"):
        tg.load(path, map_location="cuda")
    with pytest.raises(TypeError, match="weights_only"):
        tg.load(path, weights_only="yes")


@pytest.mark.parametrize("case", ["value", "src", "add", "graph"])
def test_scatter_in_place_as_pytorch(case):
    rng = np.random.default_rng(0)
    base, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    index = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])

    def run(lib):
        x = lib.tensor(base.copy(), requires_grad=case == "graph", dtype=lib.float64)
        s = lib.tensor(src.copy(), requires_grad=case == "graph", dtype=lib.float64)
        y = x * 1.0 if case == "graph" else x  # a leaf that requires grad cannot change in place
        if case == "value":
            y.scatter_(0, lib.tensor(index), value=2.5)
        elif case == "add":
            y.scatter_add_(0, lib.tensor(index), s)
        else:
            y.scatter_(0, lib.tensor([[0, 1, 2, 0], [1, 2, 0, 1]]), s)
        if case == "graph":
            (y * lib.tensor(np.arange(12.0).reshape(3, 4), dtype=lib.float64)).sum().backward()
            return y.detach().numpy(), x.grad.numpy(), s.grad.numpy()
        return (y.numpy(),)

    for ours, theirs in zip(run(tg), run(torch)):
        np.testing.assert_array_equal(ours, theirs)
