"""The tensor operations the model zoo is built on, each checked as `test_tensor_ops.py` checks the core ones.

For each case in ``CASES`` (one operation, one way of calling it, float64):

- the forward value against a NumPy transcription where one is short, and
  against PyTorch (values, shape, dtype);
- the gradient with ``tg.gradcheck`` (central finite differences);
- the gradient against PyTorch's for a random upstream gradient.

Then what only PyTorch defines (ties, zeros in ``prod``, empty split sizes,
uneven chunks, negative dims, dtypes of integer inputs), in-place
``masked_fill_``, ``multinomial``'s law, the factories, and one bad input per
operation, each a clear error naming the operation and the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.nn import functional as F

RNG = np.random.default_rng(1234)


def normal(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def positive(*shape: int) -> np.ndarray:
    return np.abs(RNG.standard_normal(shape)) + 0.2


def with_zeros(*shape: int, count: int = 1) -> np.ndarray:
    x = RNG.standard_normal(shape)
    x.reshape(-1)[RNG.choice(x.size, count, replace=False)] = 0.0
    return x


MASK = RNG.random((3, 4)) > 0.5
INDEX = RNG.integers(0, 3, (2, 2, 4))
SCATTER_INDEX = np.array([[[0, 1, 2, 0]], [[2, 1, 0, 1]]])  # no position written twice


@dataclass
class Case:
    """One way of calling an operation: the library's, PyTorch's (same code where it reads the same), NumPy's."""

    name: str
    fn: Callable[..., Any]
    inputs: list[np.ndarray]
    torch_fn: Callable[..., Any] | None = None  # takes (torch, *tensors); None: ``fn`` reads the same in torch
    numpy_fn: Callable[..., np.ndarray] | None = None
    grad_inputs: list[int] = field(default_factory=list)  # which inputs are differentiable (all if empty)


def same(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda torch, *ts: fn(*ts)


CASES = [
    Case(
        "masked_fill",
        lambda a: a.masked_fill(tg.tensor(MASK), -1.5),
        [normal(2, 3, 4)],
        lambda torch, a: a.masked_fill(torch.tensor(MASK), -1.5),
        lambda a: np.where(MASK, -1.5, a),
    ),
    Case(
        "masked_fill_neg_inf_function",
        lambda a: tg.masked_fill(a, tg.tensor(MASK), float("-inf")).exp(),
        [normal(3, 4)],
        lambda torch, a: torch.masked_fill(a, torch.tensor(MASK), float("-inf")).exp(),
    ),
    Case(
        "masked_fill_value_tensor",
        lambda a, v: a.masked_fill(tg.tensor(MASK), v),
        [normal(2, 3, 4), normal()],
        lambda torch, a, v: a.masked_fill(torch.tensor(MASK), v),
    ),
    Case(
        "masked_fill_mask_broadcasts_input",
        lambda a: a.masked_fill(tg.tensor(MASK), 2.0),
        [normal(4)],
        lambda torch, a: a.masked_fill(torch.tensor(MASK), 2.0),
    ),
    Case("tril", lambda a: a.tril(), [normal(2, 3, 4)], numpy_fn=np.tril),
    Case(
        "tril_diagonal_function",
        lambda a: tg.tril(a, diagonal=2),
        [normal(3, 5)],
        lambda torch, a: torch.tril(a, diagonal=2),
        lambda a: np.tril(a, 2),
    ),
    Case("triu", lambda a: a.triu(), [normal(4, 3)], numpy_fn=np.triu),
    Case(
        "triu_negative_diagonal_function",
        lambda a: tg.triu(a, -1),
        [normal(2, 4, 4)],
        lambda torch, a: torch.triu(a, -1),
        lambda a: np.triu(a, -1),
    ),
    Case(
        "split_int",
        lambda a: tg.cat([t * (i + 1) for i, t in enumerate(a.split(3, -1))], -1),
        [normal(2, 3, 7)],
        lambda torch, a: torch.cat([t * (i + 1) for i, t in enumerate(a.split(3, -1))], -1),
    ),
    Case(
        "split_sizes_with_empty",
        lambda a: tg.cat([t * (i + 1) for i, t in enumerate(tg.split(a, [1, 0, 2], 1))], 1),
        [normal(2, 3, 4)],
        lambda torch, a: torch.cat([t * (i + 1) for i, t in enumerate(torch.split(a, [1, 0, 2], 1))], 1),
    ),
    Case(
        "chunk_uneven",
        lambda a: tg.cat([t * (i + 1) for i, t in enumerate(a.chunk(3, dim=-1))], -1),
        [normal(2, 5)],
        lambda torch, a: torch.cat([t * (i + 1) for i, t in enumerate(a.chunk(3, dim=-1))], -1),
    ),
    Case(
        "chunk_function_one_piece_unused",
        lambda a: tg.chunk(a, 2, 0)[1] * 3,
        [normal(4, 2)],
        lambda torch, a: torch.chunk(a, 2, 0)[1] * 3,
        lambda a: a[2:] * 3,
    ),
    Case(
        "gather_repeated_indices",
        lambda a: a.gather(1, tg.tensor(INDEX)),
        [normal(2, 3, 4)],
        lambda torch, a: a.gather(1, torch.tensor(INDEX)),
        lambda a: np.take_along_axis(a[:, :, :], INDEX, axis=1),
    ),
    Case(
        "gather_smaller_index_negative_dim",
        lambda a: tg.gather(a, -1, tg.tensor(INDEX[:1, :, :2])),
        [normal(2, 3, 4)],
        lambda torch, a: torch.gather(a, -1, torch.tensor(INDEX[:1, :, :2])),
    ),
    Case(
        "scatter",
        lambda a, s: a.scatter(1, tg.tensor(SCATTER_INDEX), s),
        [normal(2, 3, 4), normal(2, 1, 4)],
        lambda torch, a, s: a.scatter(1, torch.tensor(SCATTER_INDEX), s),
    ),
    Case(
        "scatter_value",
        lambda a: tg.scatter(a, 1, tg.tensor(INDEX), value=2.0),
        [normal(2, 3, 4)],
        lambda torch, a: torch.scatter(a, 1, torch.tensor(INDEX), value=2.0),
    ),
    Case(
        "scatter_add_repeated",
        lambda a, s: a.scatter_add(1, tg.tensor(INDEX), s),
        [normal(2, 3, 4), normal(2, 2, 4)],
        lambda torch, a, s: a.scatter_add(1, torch.tensor(INDEX), s),
    ),
    Case(
        "pad_constant",
        lambda a: F.pad(a, (1, 2, 0, 1)),
        [normal(2, 3, 4)],
        lambda torch, a: torch.nn.functional.pad(a, (1, 2, 0, 1)),
        lambda a: np.pad(a, ((0, 0), (0, 1), (1, 2))),
    ),
    Case(
        "pad_constant_value_and_crop",
        lambda a: F.pad(a, (-1, 2, 1, -1), value=3.0),
        [normal(2, 3, 4)],
        lambda torch, a: torch.nn.functional.pad(a, (-1, 2, 1, -1), value=3.0),
    ),
    Case(
        "pad_reflect_2d",
        lambda a: F.pad(a, (2, 1, 1, 2), mode="reflect"),
        [normal(2, 3, 4)],
        lambda torch, a: torch.nn.functional.pad(a, (2, 1, 1, 2), mode="reflect"),
        lambda a: np.pad(a, ((0, 0), (1, 2), (2, 1)), mode="reflect"),
    ),
    Case(
        "pad_reflect_1d_crop",
        lambda a: F.pad(a, (-1, 2), mode="reflect"),
        [normal(2, 4)],
        lambda torch, a: torch.nn.functional.pad(a, (-1, 2), mode="reflect"),
    ),
    Case(
        "pad_replicate_3d",
        lambda a: F.pad(a, (1, 1, 2, 0, 1, 1), mode="replicate"),
        [normal(1, 2, 3, 2)],
        lambda torch, a: torch.nn.functional.pad(a, (1, 1, 2, 0, 1, 1), mode="replicate"),
        lambda a: np.pad(a, ((0, 0), (1, 1), (2, 0), (1, 1)), mode="edge"),
    ),
    Case(
        "pad_circular",
        lambda a: F.pad(a, (3, 1), mode="circular"),
        [normal(2, 2, 4)],
        lambda torch, a: torch.nn.functional.pad(a, (3, 1), mode="circular"),
        lambda a: np.pad(a, ((0, 0), (0, 0), (3, 1)), mode="wrap"),
    ),
    Case("repeat", lambda a: a.repeat(2, 1, 3), [normal(3, 2)], numpy_fn=lambda a: np.tile(a, (2, 1, 3))),
    Case("repeat_tuple", lambda a: a.repeat((2, 2)), [normal(2, 3)], numpy_fn=lambda a: np.tile(a, (2, 2))),
    Case("unfold_overlapping", lambda a: a.unfold(2, 3, 1), [normal(2, 3, 5)]),
    Case("unfold_strided_negative_dim", lambda a: a.unfold(-2, 2, 2), [normal(5, 3)]),
    Case(
        "as_strided_overlapping_windows",
        lambda a: a.as_strided((2, 3, 2, 2), (4, 1, 4, 1)),
        [normal(3, 4)],
        numpy_fn=lambda a: np.lib.stride_tricks.as_strided(a, (2, 3, 2, 2), (32, 8, 32, 8)),
    ),
    Case(
        "as_strided_function_transposed_input",
        lambda a: tg.as_strided(a.T, (2, 3), (1, 2)),
        [normal(3, 4)],
        lambda torch, a: torch.as_strided(a.T.contiguous(), (2, 3), (1, 2)),
    ),
    Case(
        "einsum_attention_scores",
        lambda q, k: tg.einsum("bhqd,bhkd->bhqk", q, k),
        [normal(2, 2, 3, 4), normal(2, 2, 5, 4)],
        lambda torch, q, k: torch.einsum("bhqd,bhkd->bhqk", q, k),
        lambda q, k: np.einsum("bhqd,bhkd->bhqk", q, k),
    ),
    Case(
        "einsum_attention_values",
        lambda p, v: tg.einsum("bhqk,bhkd->bhqd", p, v),
        [normal(2, 2, 3, 5), normal(2, 2, 5, 4)],
        lambda torch, p, v: torch.einsum("bhqk,bhkd->bhqd", p, v),
        lambda p, v: np.einsum("bhqk,bhkd->bhqd", p, v),
    ),
    Case(
        "einsum_implicit_ellipsis_broadcast",
        lambda a, b: tg.einsum("...ij,...jk", a, b),
        [normal(2, 3, 4), normal(4, 2)],
        lambda torch, a, b: torch.einsum("...ij,...jk", a, b),
    ),
    Case(
        "einsum_three_operands",
        lambda a, b, c: tg.einsum("ij,jk,kl->il", a, b, c),
        [normal(2, 3), normal(3, 4), normal(4, 2)],
        lambda torch, a, b, c: torch.einsum("ij,jk,kl->il", a, b, c),
    ),
    Case(
        "einsum_trace", lambda a: tg.einsum("ii", a), [normal(3, 3)], lambda torch, a: torch.einsum("ii", a), np.trace
    ),
    Case(
        "einsum_diagonal",
        lambda a: tg.einsum("ii->i", a),
        [normal(3, 3)],
        lambda torch, a: torch.einsum("ii->i", a),
        np.diag,
    ),
    Case(
        "einsum_summed_in_one_operand",
        lambda a, b: tg.einsum("ij,k->j", a, b),
        [normal(3, 4), normal(5)],
        lambda torch, a, b: torch.einsum("ij,k->j", a, b),
    ),
    Case(
        "einsum_outer_list",
        lambda a, b: tg.einsum("i,j->ij", [a, b]),
        [normal(3), normal(4)],
        lambda torch, a, b: torch.einsum("i,j->ij", [a, b]),
        np.outer,
    ),
    Case("cumsum", lambda a: a.cumsum(1), [normal(2, 4, 3)], numpy_fn=lambda a: np.cumsum(a, 1)),
    Case(
        "cumsum_negative_dim_function",
        lambda a: tg.cumsum(a, dim=-1),
        [normal(3, 4)],
        lambda torch, a: torch.cumsum(a, dim=-1),
        lambda a: np.cumsum(a, -1),
    ),
    Case("prod_all", lambda a: a.prod(), [normal(2, 3)], numpy_fn=np.prod),
    Case("prod_all_one_zero", lambda a: a.prod(), [with_zeros(2, 3)], numpy_fn=np.prod),
    Case("prod_dim_zeros", lambda a: a.prod(1), [with_zeros(3, 4, count=4)], numpy_fn=lambda a: np.prod(a, 1)),
    Case(
        "prod_keepdim_function",
        lambda a: tg.prod(a, -1, keepdim=True),
        [with_zeros(3, 4, count=2)],
        lambda torch, a: torch.prod(a, -1, keepdim=True),
        lambda a: np.prod(a, -1, keepdims=True),
    ),
    Case("norm_default_fro", lambda a: a.norm(), [normal(3, 4)], numpy_fn=lambda a: np.sqrt((a * a).sum())),
    Case("norm_2_dim", lambda a: a.norm(2, dim=1), [normal(3, 4)], numpy_fn=lambda a: np.linalg.norm(a, axis=1)),
    Case("norm_1_dims_keepdim", lambda a: a.norm(p=1, dim=(0, 2), keepdim=True), [normal(2, 3, 4)]),
    Case(
        "norm_inf_function",
        lambda a: tg.norm(a, float("inf"), dim=-1),
        [normal(3, 4)],
        lambda torch, a: torch.norm(a, float("inf"), dim=-1),
        lambda a: np.abs(a).max(-1),
    ),
    Case("norm_neg_inf", lambda a: a.norm(float("-inf")), [normal(3, 4)]),
    Case("norm_3", lambda a: a.norm(3, dim=0), [normal(3, 4)]),
    Case("norm_half", lambda a: a.norm(0.5), [normal(3, 4)]),
    Case("std", lambda a: a.std(1, keepdim=True), [normal(3, 4)], numpy_fn=lambda a: a.std(1, ddof=1, keepdims=True)),
    Case(
        "std_correction_0_function",
        lambda a: tg.std(a, correction=0),
        [normal(3, 4)],
        lambda torch, a: torch.std(a, correction=0),
        np.std,
    ),
    Case("log10", lambda a: a.log10(), [positive(3, 4)], numpy_fn=np.log10),
    Case("log2_function", lambda a: tg.log2(a), [positive(3, 4)], lambda torch, a: torch.log2(a), np.log2),
    Case("exp2_function", lambda a: tg.exp2(a), [normal(3, 4)], lambda torch, a: torch.exp2(a), np.exp2),
    Case("log1p", lambda a: tg.log1p(a), [positive(3)], lambda torch, a: torch.log1p(a), np.log1p),
    Case("pow_method", lambda a, b: a.pow(b), [positive(3, 4), normal(4)], numpy_fn=np.power),
    Case(
        "pow_function_scalar_base",
        lambda a: tg.pow(2.0, a),
        [normal(3)],
        lambda torch, a: torch.pow(2.0, a),
        lambda a: 2.0**a,
    ),
    Case(
        "type_as_contiguous_view",
        lambda a: a.type_as(a).contiguous().view(4, 3),
        [normal(3, 4)],
        numpy_fn=lambda a: a.reshape(4, 3),
    ),
]


def _tg_inputs(case: Case) -> list[tg.Tensor]:
    return [
        tg.tensor(a, dtype=tg.float64, requires_grad=not case.grad_inputs or i in case.grad_inputs)
        for i, a in enumerate(case.inputs)
    ]


@pytest.mark.parametrize("case", [c for c in CASES if c.numpy_fn is not None], ids=lambda c: c.name)
def test_forward_against_numpy(case: Case) -> None:
    out = case.fn(*_tg_inputs(case))
    np.testing.assert_allclose(out.numpy(), case.numpy_fn(*case.inputs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gradient_against_finite_differences(case: Case) -> None:
    assert tg.gradcheck(case.fn, *_tg_inputs(case))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_against_pytorch(case: Case, torch: Any) -> None:
    inputs = _tg_inputs(case)
    torch_inputs = [
        torch.tensor(a, dtype=torch.float64, requires_grad=t.requires_grad) for a, t in zip(case.inputs, inputs)
    ]
    out = case.fn(*inputs)
    expected = (case.torch_fn or same(case.fn))(torch, *torch_inputs)
    assert out.shape == tuple(expected.shape)
    assert str(out.dtype) == str(expected.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(upstream, dtype=tg.float64))
    expected.backward(torch.tensor(upstream))
    for mine, theirs in zip(inputs, torch_inputs):
        if theirs.requires_grad:
            np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# What only PyTorch defines: ties, zeros, integer dtypes, empty pieces
# ---------------------------------------------------------------------------


def test_norm_gradient_at_zero_is_zero_and_inf_ties_share_evenly(torch: Any) -> None:
    for p in (2, 3, float("inf")):
        x = tg.tensor([[0.0, 0.0], [1.0, -1.0]], dtype=tg.float64, requires_grad=True)
        t = torch.tensor(x.numpy(), requires_grad=True)
        x.norm(p, dim=1).sum().backward()
        t.norm(p, dim=1).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_norm_below_1_has_no_gradient_at_zero_entries(torch: Any) -> None:
    x = tg.tensor([0.0, 1.0, -2.0], dtype=tg.float64, requires_grad=True)
    t = torch.tensor(x.numpy(), requires_grad=True)
    x.norm(0.5).backward()
    t.norm(0.5).backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_prod_gradient_with_two_zeros_is_zero_and_exact_with_one() -> None:
    x = tg.tensor([0.0, 2.0, 0.0, 3.0], dtype=tg.float64, requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 0.0])
    y = tg.tensor([0.0, 2.0, 5.0, 3.0], dtype=tg.float64, requires_grad=True)
    y.prod().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [30.0, 0.0, 0.0, 0.0])


def test_integer_inputs_follow_pytorch_dtypes(torch: Any) -> None:
    ints = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    pairs = [
        (tg.tensor(ints).cumsum(1), torch.tensor(ints).cumsum(1)),
        (tg.tensor(ints).prod(), torch.tensor(ints).prod()),
        (tg.tensor(ints > 2).cumsum(0), torch.tensor(ints > 2).cumsum(0)),
        (tg.tensor(ints).log10(), torch.tensor(ints).log10()),
        (tg.tensor(ints).exp2(), torch.tensor(ints).exp2()),
        (
            tg.tensor(ints).masked_fill(tg.tensor(ints > 3), 1.7),
            torch.tensor(ints).masked_fill(torch.tensor(ints > 3), 1.7),
        ),
        (F.pad(tg.tensor(ints), (1, 1), value=2.5), torch.nn.functional.pad(torch.tensor(ints), (1, 1), value=2.5)),
        (
            tg.einsum("ij,kj", tg.tensor(ints), tg.tensor(ints)),
            torch.einsum("ij,kj", torch.tensor(ints), torch.tensor(ints)),
        ),
        (tg.tensor(ints).repeat(1, 2), torch.tensor(ints).repeat(1, 2)),
        (tg.tensor(ints).tril(), torch.tensor(ints).tril()),
    ]
    for mine, theirs in pairs:
        assert str(mine.dtype) == str(theirs.dtype).removeprefix("torch."), (mine, theirs)
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-6)


def test_split_and_chunk_pieces_match_pytorch(torch: Any) -> None:
    for shape, args, method in [
        ((0, 2), (0,), "split"),
        ((0, 2), (2,), "split"),
        ((3, 4), (10,), "split"),
        ((5,), (4,), "chunk"),
        ((6,), (4,), "chunk"),
        ((0,), (3,), "chunk"),
        ((3, 7), (3, -1), "split"),
        ((2, 5), (2, 1), "chunk"),
    ]:
        mine = getattr(tg.zeros(shape), method)(*args)
        theirs = getattr(torch.zeros(shape), method)(*args)
        assert isinstance(mine, tuple)
        assert [t.shape for t in mine] == [tuple(t.shape) for t in theirs], (shape, args, method)


def test_argmax_argmin_keepdim_match_pytorch(torch: Any) -> None:
    x = RNG.standard_normal((3, 4))
    for dim in (None, 0, -1):
        for keepdim in (False, True):
            for name in ("argmax", "argmin"):
                mine = getattr(tg.tensor(x), name)(dim=dim, keepdim=keepdim)
                theirs = getattr(torch.tensor(x), name)(dim=dim, keepdim=keepdim)
                assert mine.shape == tuple(theirs.shape)
                np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
                assert not mine.requires_grad


def test_argmax_argmin_ties_pick_the_first_as_pytorch(torch: Any) -> None:
    x = np.array([[1.0, 3.0, 3.0], [0.0, 0.0, -1.0], [2.0, 2.0, 2.0]])
    for name in ("argmax", "argmin"):
        for dim in (None, 0, 1):
            mine = getattr(tg.tensor(x), name)(dim)
            np.testing.assert_array_equal(mine.numpy(), getattr(torch.tensor(x), name)(dim).numpy())


def test_unfold_and_gather_on_0d_tensors(torch: Any) -> None:
    assert tg.tensor(2.0).unfold(0, 1, 1).shape == tuple(torch.tensor(2.0).unfold(0, 1, 1).shape)
    assert tg.tensor(2.0).gather(0, tg.tensor(0)).item() == 2.0


def test_einsum_runs_attention_through_one_matmul_each_way() -> None:
    q = tg.randn(2, 4, 8, 16, requires_grad=True)
    k = tg.randn(2, 4, 8, 16, requires_grad=True)
    scores = tg.einsum("bhqd,bhkd->bhqk", q, k)
    np.testing.assert_allclose(scores.numpy(), (q @ k.transpose(-2, -1)).numpy(), rtol=1e-5, atol=1e-5)
    assert scores.dtype == np.float32
    scores.sum().backward()
    assert q.grad.dtype == np.float32 and q.grad.shape == q.shape


# ---------------------------------------------------------------------------
# In place, random draws, factories, function forms
# ---------------------------------------------------------------------------


def test_masked_fill_in_place_records_the_graph_and_follows_leaf_rules() -> None:
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * 2
    out = y.masked_fill_(tg.tensor([True, False, False]), 0.0)
    assert out is y
    np.testing.assert_array_equal(y.numpy(), [0.0, 4.0, 6.0])
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 2.0, 2.0])
    with pytest.raises(RuntimeError, match="masked_fill_: a leaf tensor"):
        w.masked_fill_(tg.tensor([True, False, False]), 0.0)
    with tg.no_grad():
        w.masked_fill_(tg.tensor([True, False, False]), 0.0)
    np.testing.assert_array_equal(w.numpy(), [0.0, 2.0, 3.0])


def test_in_place_masked_fill_after_a_save_is_caught() -> None:
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    y = w * 1.0
    z = y.exp()
    y.masked_fill_(tg.tensor([True, False]), 0.0)
    z.sum().backward()  # exp saved its output, not y: still fine
    y2 = w * 1.0
    z2 = y2 * y2
    y2.masked_fill_(tg.tensor([True, False]), 0.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        z2.sum().backward()


def test_einsum_checks_only_the_operands_a_gradient_needs() -> None:
    x = tg.ones(2, 3)
    w = tg.ones(3, 4, requires_grad=True)
    y = tg.einsum("ij,jk->ik", x, w)
    with tg.no_grad():
        w.mul_(2.0)  # w's own gradient does not read w
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 4), 2.0))
    y = tg.einsum("ij,jk->ik", x, w)
    x.mul_(2.0)  # but it reads x
    with pytest.raises(RuntimeError, match="Einsum needs its input 0"):
        y.sum().backward()


def test_multinomial_law_and_reproducibility() -> None:
    weights = tg.tensor([0.0, 1.0, 3.0])
    tg.manual_seed(0)
    draws = weights.multinomial(20000, replacement=True)
    assert draws.dtype == np.int64 and draws.shape == (20000,)
    frequencies = np.bincount(draws.numpy(), minlength=3) / 20000
    np.testing.assert_allclose(frequencies, [0.0, 0.25, 0.75], atol=0.015)
    tg.manual_seed(0)
    np.testing.assert_array_equal(tg.multinomial(weights, 20000, True).numpy(), draws.numpy())
    rows = tg.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 5.0, 1.0]]).multinomial(4)
    assert rows.shape == (2, 4)
    for row in rows.numpy():
        assert sorted(row) == [0, 1, 2, 3]  # without replacement: each category once
    assert set(rows.numpy()[1, 2:]) == {0, 1}  # zero weights come last
    first = [tg.tensor([1.0, 9.0]).multinomial(1, generator=tg.Generator().manual_seed(s)).item() for s in range(400)]
    assert 0.85 < np.mean(first) < 0.95


def test_factories_and_new_tensors() -> None:
    assert tg.empty(2, 3).shape == (2, 3) and tg.empty(2, 3).dtype == tg.get_default_dtype()
    assert tg.empty((2,), dtype=tg.int64).dtype == np.int64
    assert tg.Tensor.empty(4).shape == (4,)
    x = tg.ones(2, 2, dtype=tg.float64)
    assert tg.empty_like(x).dtype == np.float64 and tg.empty_like(x).shape == (2, 2)
    assert tg.full_like(x, 7).numpy().tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert x.new_zeros(3).dtype == np.float64 and x.new_zeros((3, 1)).shape == (3, 1)
    assert x.new_ones(2, dtype=tg.int64).numpy().tolist() == [1, 1]
    assert x.new_full((2,), 5.0).numpy().tolist() == [5.0, 5.0]
    assert x.new_empty(1, requires_grad=True).requires_grad
    assert tg.arange(3).type_as(x).dtype == np.float64
    assert x.contiguous() is x


def test_function_forms_equal_the_methods() -> None:
    x = tg.tensor(RNG.standard_normal((3, 4)))
    p = tg.tensor(np.abs(RNG.standard_normal((3, 4))) + 0.1)
    pairs = [
        (tg.tril(x), x.tril()),
        (tg.triu(x, 1), x.triu(1)),
        (tg.cumsum(x, 0), x.cumsum(0)),
        (tg.prod(x, 1), x.prod(1)),
        (tg.norm(x), x.norm()),
        (tg.log10(p), p.log10()),
        (tg.log2(p), p.log2()),
        (tg.exp2(x), x.exp2()),
        (tg.gather(x, 1, tg.tensor([[0], [1], [2]])), x.gather(1, tg.tensor([[0], [1], [2]]))),
        (tg.split(x, 2, 1)[1], x.split(2, 1)[1]),
        (tg.chunk(x, 2)[0], x.chunk(2)[0]),
        (tg.masked_fill(x, x > 0, 0.0), x.masked_fill(x > 0, 0.0)),
    ]
    for function_form, method_form in pairs:
        np.testing.assert_array_equal(function_form.numpy(), method_form.numpy())
    assert tg.nn.functional.pad is tg.functions.pad


# ---------------------------------------------------------------------------
# Bad input: a clear error naming the operation, the value and the expected form
# ---------------------------------------------------------------------------

X = tg.zeros(3, 4)
BAD = [
    (
        lambda: X.masked_fill(tg.zeros(3, 4), 1.0),
        TypeError,
        r"masked_fill: mask must be a bool tensor, got dtype float32",
    ),
    (
        lambda: X.masked_fill(X > 0, tg.ones(2)),
        ValueError,
        r"masked_fill: value must be a number or a 0-d tensor.*\(2,\)",
    ),
    (
        lambda: X.masked_fill(tg.ones(2, dtype=tg.bool_).bool(), 1.0),
        tg.ShapeError,
        r"masked_fill: a mask of shape \(2,\)",
    ),
    (lambda: tg.zeros(3).tril(), tg.ShapeError, r"tril: needs a tensor of at least 2 dimensions.*\(3,\)"),
    (lambda: X.triu(1.5), TypeError, r"triu: diagonal must be an integer, got 1.5"),
    (lambda: X.split(0), ValueError, r"split: split_size must be a positive integer, got 0"),
    (lambda: X.split([1, 1]), ValueError, r"split: split sizes \[1, 1\] must .* sum to the length of dim 0, 3"),
    (lambda: X.split(2, dim=2), IndexError, r"split: dim 2 is out of range"),
    (lambda: X.chunk(0), ValueError, r"chunk: chunks must be a positive integer, got 0"),
    (lambda: X.gather(1, tg.tensor([[4]])), IndexError, r"gather: index 4 is out of range for dimension 1 of size 4"),
    (lambda: X.gather(1, tg.tensor([1])), tg.ShapeError, r"gather: index must have as many dimensions as the tensor"),
    (lambda: X.gather(1, tg.tensor([[0.0]])), TypeError, r"gather: index must be an integer tensor.*float32"),
    (lambda: X.gather(1, tg.zeros(4, 1, dtype=tg.int64)), tg.ShapeError, r"gather: index of shape \(4, 1\) is larger"),
    (lambda: X.scatter(1, tg.tensor([[5]]), 1.0), IndexError, r"scatter: index 5 is out of range"),
    (lambda: X.scatter(1, tg.tensor([[0]])), TypeError, r"scatter: give exactly one of src"),
    (lambda: X.scatter_add(1, tg.tensor([[0]]), tg.ones(1)), tg.ShapeError, r"scatter_add: src must have as many"),
    (lambda: F.pad(X, (1,)), ValueError, r"pad: the padding \(1,\) must have an even length"),
    (lambda: F.pad(X, (1, 1, 1, 1, 1, 1)), ValueError, r"pad: the padding .* pads 3 dimensions, but the input"),
    (lambda: F.pad(X, (-5, 1)), ValueError, r"pad: the padding \(-5, 1\) crops more than there is"),
    (lambda: F.pad(X, (1, 1), mode="mirror"), ValueError, r"pad: mode must be one of .* got 'mirror'"),
    (lambda: F.pad(X[None], (4, 4), mode="reflect"), ValueError, r"pad: mode 'reflect' needs widths at most 3"),
    (
        lambda: F.pad(X, (1, 1, 1, 1), mode="replicate"),
        tg.ShapeError,
        r"pad: mode 'replicate' with 2 padded .* 3-d or 4-d",
    ),
    (lambda: F.pad(X[None], (-2, -2), mode="replicate"), ValueError, r"pad: mode 'replicate' .* leaves no element"),
    (lambda: F.pad(X, (1, 1), mode="circular", value=2.0), ValueError, r"pad: value= is only used by mode='constant'"),
    (lambda: X.repeat(2), ValueError, r"repeat: needs at least one size per dimension \(2\), got sizes \(2,\)"),
    (lambda: X.repeat(-1, 2), ValueError, r"sizes must be non-negative integers"),
    (lambda: X.unfold(1, 5, 1), ValueError, r"unfold: size 5 must be between 0 and the length of dimension 1, 4"),
    (lambda: X.unfold(1, 2, 0), ValueError, r"unfold: step must be positive, got 0"),
    (lambda: tg.einsum("ij,jk", X, X), tg.ShapeError, r"einsum: subscript 'j' has size 4 in one operand and 3"),
    (lambda: tg.einsum("ij,jk", X), ValueError, r"einsum: the equation 'ij,jk' has 2 operand\(s\), but 1"),
    (lambda: tg.einsum("ijk", X), ValueError, r"einsum: operand 0 has 2 dimension\(s\), but its subscripts .* 'ijk'"),
    (lambda: tg.einsum("ij->iz", X), ValueError, r"einsum: output subscript\(s\) \['z'\] .* appear in no operand"),
    (lambda: tg.einsum(X, "ij"), TypeError, r"einsum: the first argument is the equation"),
    (lambda: X.cumsum(2), IndexError, r"cumsum: dim 2 is out of range"),
    (
        lambda: X.as_strided((2, 2), (11, 1)),
        ValueError,
        r"as_strided: size \(2, 2\), stride \(11, 1\) .* reach element 12",
    ),
    (lambda: X.as_strided((2,), (1, 1)), ValueError, r"as_strided: size \(2,\) and stride \(1, 1\) must have"),
    (lambda: X.prod((0, 1)), TypeError, r"prod: dim must be one integer"),
    (lambda: X.norm("nuc"), ValueError, r"norm: p must be 'fro' or a number, got 'nuc'"),
    (lambda: tg.tensor([3, 4]).norm(), TypeError, r"norm: needs a floating-point tensor.*int64"),
    (lambda: tg.zeros(0).norm(float("inf")), RuntimeError, r"norm: the inf norm of an empty tensor"),
    (
        lambda: tg.tensor([-1.0, 1.0]).multinomial(1),
        ValueError,
        r"multinomial: weights must be finite and non-negative",
    ),
    (
        lambda: tg.tensor([0.0, 0.0]).multinomial(1),
        ValueError,
        r"multinomial: every row of weights must have a positive",
    ),
    (
        lambda: tg.tensor([1.0, 1.0]).multinomial(3),
        ValueError,
        r"multinomial: cannot draw 3 samples without replacement",
    ),
    (lambda: tg.tensor([1.0, 1.0]).multinomial(0), ValueError, r"multinomial: num_samples must be a positive integer"),
    (lambda: tg.zeros(2, 2, 2).multinomial(1), ValueError, r"multinomial: needs a 1-d or 2-d floating tensor"),
    (lambda: X.new_zeros(2, dtype=tg.int64, requires_grad=True), TypeError, r"new_zeros: only floating-point"),
]


@pytest.mark.parametrize(
    "call, error, message", BAD, ids=[m.split(":")[0].strip("\\ r") + str(i) for i, (_, _, m) in enumerate(BAD)]
)
def test_bad_input_is_a_clear_error(call: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()
