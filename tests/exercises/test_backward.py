"""The backward family of `tg.exercises`: references, mistake catalogue, realistic wrong answers, equivalent answers.

For every backward exercise: the hidden reference passes `check` and equals PyTorch's autograd on every case;
every catalogued mistake fails and is named as itself (not as another); a correct answer written differently
from the reference passes; the stub raises NotImplementedError and is reported as not written yet; the same
seed gives the same report. Wrong answers written here, independently of the catalogue, are all caught.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tinygrad_edu.exercises as ex
from tinygrad_edu.exercises import _core

BACKWARD = [name for name in ex.names() if name.startswith("backward/")]

EXPECTED_NAMES = ["backward/add", "backward/mul", "backward/matmul", "backward/sum", "backward/mean",
                  "backward/exp", "backward/log", "backward/relu", "backward/sigmoid", "backward/tanh",
                  "backward/softmax_cross_entropy", "backward/layer_norm", "backward/conv1d"]


def _exercise(name):
    return _core.REGISTRY[name]


def _cases(name, seed=0):
    return _exercise(name).cases(np.random.default_rng(seed))


def test_the_family_is_registered_in_order():
    assert BACKWARD == EXPECTED_NAMES


# ------------------------------------------------------------------------------------------------ the reference

@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_reference_passes(name):
    result = ex.check(name, _exercise(name).reference)
    assert result.passed, result.message
    assert result.finding == "passed" and result.mistake is None
    assert 4 <= result.cases_total <= 10 and result.cases_passed == result.cases_total


def _torch_forward(name, torch):
    """PyTorch's forward of each exercise: f(*differentiable tensors, *other tensors, **options) -> output."""
    functional = torch.nn.functional
    return {
        "backward/add": lambda x, y: x + y,
        "backward/mul": lambda x, y: x * y,
        "backward/matmul": lambda a, b: torch.matmul(a, b),
        "backward/sum": lambda x, dim=None, keepdim=False: torch.sum(x, dim=dim, keepdim=keepdim),
        "backward/mean": lambda x, dim=None, keepdim=False: torch.mean(x, dim=dim, keepdim=keepdim),
        "backward/exp": torch.exp,
        "backward/log": torch.log,
        "backward/relu": torch.relu,
        "backward/sigmoid": torch.sigmoid,
        "backward/tanh": torch.tanh,
        "backward/softmax_cross_entropy": lambda logits, target: functional.cross_entropy(logits, target),
        "backward/layer_norm": lambda x, weight, bias, eps=1e-5: functional.layer_norm(
            x, (x.shape[-1],), weight, bias, eps),
        "backward/conv1d": lambda x, weight, bias, stride=1, padding=0: functional.conv1d(
            x, weight, bias, stride=stride, padding=padding),
    }[name]


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_reference_equals_pytorch_autograd(name, torch):
    exercise = _exercise(name)
    forward = _torch_forward(name, torch)
    for case in _cases(name):
        ours = exercise.run(exercise.reference, case)
        ours = ours if isinstance(ours, tuple) else (ours,)
        grad_out, *inputs = case.args
        leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs[:len(ours)]]
        others = [torch.tensor(a) for a in inputs[len(ours):]]  # the integer targets of cross-entropy
        out = forward(*leaves, *others, **case.kwargs)
        out.backward(torch.tensor(grad_out, dtype=torch.float64))
        for i, (mine, leaf) in enumerate(zip(ours, leaves)):
            mine = np.asarray(mine)
            assert mine.shape == tuple(leaf.shape), (case.label, i)
            np.testing.assert_allclose(mine, leaf.grad.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}, {case.label}, {exercise.output_name(i)}")


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_reference_does_not_modify_its_inputs(name):
    exercise = _exercise(name)
    for case in _cases(name):
        before = [np.array(a, copy=True) for a in case.args]
        exercise.run(exercise.reference, case)
        for a, b in zip(case.args, before):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------- the mistake catalogue

MISTAKES = [(name, mistake.name) for name in EXPECTED_NAMES for mistake in _exercise(name).mistakes]


def test_every_exercise_catalogues_two_to_four_mistakes():
    for name in EXPECTED_NAMES:
        assert 2 <= len(_exercise(name).mistakes) <= 6, name


@pytest.mark.parametrize(("name", "mistake"), MISTAKES, ids=[f"{n}:{m}" for n, m in MISTAKES])
def test_each_mistake_is_caught_and_named_as_itself(name, mistake):
    (wrong,) = [m for m in _exercise(name).mistakes if m.name == mistake]
    result = ex.check(name, wrong.fn)
    assert not result.passed
    assert result.mistake == mistake, result.message
    assert result.mistake_match == "full", result.message
    assert f"`{mistake}`" in result.message and wrong.hint in result.message
    assert result.failed_case is not None and result.failed_case in result.message


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mistakes_are_named_on_other_seeds_too(seed):
    for name in EXPECTED_NAMES:
        assert ex.check(name, _exercise(name).reference, seed=seed).passed, name
        for mistake in _exercise(name).mistakes:
            assert ex.check(name, mistake.fn, seed=seed).mistake == mistake.name, (name, mistake.name, seed)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_hints_point_at_the_statement(name):
    exercise = _exercise(name)
    for mistake in exercise.mistakes:
        assert "Step" in mistake.hint or "forward formula" in mistake.hint, (name, mistake.name)
    steps = [f"{i}. **" for i in range(1, 4)]
    assert all(step in exercise.statement for step in steps), name


def test_unstable_softmax_gives_nan_on_large_logits_and_is_reported_as_not_finite():
    result = ex.check("backward/softmax_cross_entropy",
                      _exercise("backward/softmax_cross_entropy").mistakes[1].fn)
    assert result.finding == "not_finite" and result.mistake == "unstable_softmax"
    assert "1000" in result.failed_case


def test_relu_at_exactly_zero_is_the_named_mistake():
    result = ex.check("backward/relu", lambda grad_out, x: (np.where(x >= 0, grad_out, 0.0),))
    assert result.mistake == "gradient_at_zero_is_one" and "x > 0, not x >= 0" in result.message


# --------------------------------------------------------------------------- realistic wrong answers, written here


def _add_sums_axis_0(grad_out, x, y):
    # "broadcasting adds rows", so a smaller input's gradient is the sum over axis 0
    grad_x = grad_out if x.shape == grad_out.shape else grad_out.sum(axis=0)
    grad_y = grad_out if y.shape == grad_out.shape else grad_out.sum(axis=0)
    return grad_x, grad_y


def _mul_leading_axes_only(grad_out, x, y):
    grad_x, grad_y = grad_out * y, grad_out * x
    while grad_x.ndim > x.ndim:
        grad_x = grad_x.sum(axis=0)
    while grad_y.ndim > y.ndim:
        grad_y = grad_y.sum(axis=0)
    return grad_x, grad_y


def _matmul_dot_t_on_batches(grad_out, a, b):
    return grad_out @ b.T, a.T @ grad_out  # .T reverses every axis of a 3-D array


def _sum_broadcast_without_expanding(grad_out, x, dim=None, keepdim=False):
    return (np.ones_like(x) * grad_out,)


def _mean_divides_by_one_axis(grad_out, x, dim=None, keepdim=False):
    n = x.size if dim is None else x.shape[dim]
    grad = grad_out if keepdim or dim is None else np.expand_dims(grad_out, dim)
    return (np.broadcast_to(grad, x.shape) / n,)


def _exp_in_float32(grad_out, x):
    return ((grad_out * np.exp(x)).astype(np.float32),)


def _relu_sign(grad_out, x):
    return (grad_out * np.sign(x),)


def _sigmoid_square_forgotten(grad_out, x):
    e = np.exp(-x)
    return (grad_out * e / (1 + e),)


def _tanh_square_outside(grad_out, x):
    return (grad_out * (1 - np.tanh(x)) ** 2,)


def _softmax_ce_divides_softmax_only(grad_out, logits, target):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    grad = p / len(target)
    grad[np.arange(len(target)), target] -= 1
    return (grad_out * grad,)


def _layer_norm_weight_not_applied(grad_out, x, weight, bias, eps=1e-5):
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    g = grad_out  # forgot: * weight
    grad_x = (g - g.mean(1, keepdims=True) - x_hat * (g * x_hat).mean(1, keepdims=True)) / np.sqrt(var + eps)
    return grad_x, (grad_out * x_hat).sum(0), grad_out.sum(0)


def _layer_norm_eps_outside_sqrt(grad_out, x, weight, bias, eps=1e-5):
    std = x.std(axis=1, keepdims=True) + eps
    x_hat = (x - x.mean(axis=1, keepdims=True)) / std
    g = grad_out * weight
    grad_x = (g - g.mean(1, keepdims=True) - x_hat * (g * x_hat).mean(1, keepdims=True)) / std
    return grad_x, (grad_out * x_hat).sum(0), grad_out.sum(0)


def _conv1d_bias_over_batch_only(grad_out, x, weight, bias, stride=1, padding=0):
    grad_x, grad_weight, _ = _exercise("backward/conv1d").reference(grad_out, x, weight, bias, stride, padding)
    return grad_x, grad_weight, grad_out.sum(axis=0)


def _conv1d_stride_ignored(grad_out, x, weight, bias, stride=1, padding=0):
    k = weight.shape[2]
    x_p = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    grad_x_p, grad_weight = np.zeros_like(x_p), np.zeros_like(weight)
    for pos in range(grad_out.shape[2]):
        g = grad_out[:, :, pos]
        grad_weight += np.einsum("no,nck->ock", g, x_p[:, :, pos:pos + k])  # window start should be pos * stride
        grad_x_p[:, :, pos:pos + k] += np.einsum("no,ock->nck", g, weight)
    return grad_x_p[:, :, padding:padding + x.shape[2]], grad_weight, grad_out.sum(axis=(0, 2))


WRONG = [
    ("backward/add", _add_sums_axis_0),
    ("backward/mul", _mul_leading_axes_only),
    ("backward/matmul", _matmul_dot_t_on_batches),
    ("backward/sum", _sum_broadcast_without_expanding),
    ("backward/mean", _mean_divides_by_one_axis),
    ("backward/exp", _exp_in_float32),
    ("backward/relu", _relu_sign),
    ("backward/sigmoid", _sigmoid_square_forgotten),
    ("backward/tanh", _tanh_square_outside),
    ("backward/softmax_cross_entropy", _softmax_ce_divides_softmax_only),
    ("backward/layer_norm", _layer_norm_weight_not_applied),
    ("backward/layer_norm", _layer_norm_eps_outside_sqrt),
    ("backward/conv1d", _conv1d_bias_over_batch_only),
    ("backward/conv1d", _conv1d_stride_ignored),
]


@pytest.mark.parametrize(("name", "wrong"), WRONG, ids=[fn.__name__.lstrip("_") for _, fn in WRONG])
def test_realistic_wrong_answers_are_caught(name, wrong):
    result = ex.check(name, wrong)
    assert not result.passed, result.message
    assert result.finding != "passed" and result.failed_case is not None
    assert result.failed_case in result.message


def test_a_wrong_value_report_names_the_output_and_the_worst_entry():
    result = ex.check("backward/layer_norm", _layer_norm_weight_not_applied)
    assert result.finding == "wrong_value" and result.mistake == "weight_not_applied"  # written independently
    assert "grad x is wrong" in result.message and "the worst at [" in result.message
    assert "expected" in result.message and "got" in result.message


# ------------------------------------------------------------------ correct answers written differently: they pass


def _add_from_the_left(grad_out, x, y):
    def reduce(grad, shape):
        while grad.ndim > len(shape):
            grad = grad.sum(axis=0)
        for axis, size in enumerate(shape):
            if size == 1:
                grad = grad.sum(axis=axis, keepdims=True)
        return grad
    return [reduce(grad_out, x.shape), reduce(grad_out, y.shape)]  # a list is accepted too


def _mul_by_broadcast_strides(grad_out, x, y):
    # Sum the product over every output position that read each input entry, via np.add.at on broadcast indices.
    def gather(grad, shape):
        if shape == ():
            return grad.sum()
        total = np.zeros(shape)
        index = np.indices(grad.shape)[grad.ndim - len(shape):]
        index = tuple(np.where(size == 1, 0, i) for i, size in zip(index, shape))
        np.add.at(total, index, grad)
        return total
    return gather(y * grad_out, x.shape), gather(x * grad_out, y.shape)


def _matmul_einsum_and_stacked_rows(grad_out, a, b):
    grad_a = np.einsum("...nm,km->...nk", grad_out, b)
    k, m = b.shape
    grad_b = a.reshape(-1, k).T @ grad_out.reshape(-1, m)  # the batch's rows stacked: one (k, m) product
    return grad_a, grad_b


def _sum_by_reshape(grad_out, x, dim=None, keepdim=False):
    dims = range(x.ndim) if dim is None else [d % x.ndim for d in np.atleast_1d(dim)]
    kept = [1 if axis in dims else size for axis, size in enumerate(x.shape)]
    return (np.reshape(grad_out, kept) * np.ones_like(x),)


def _mean_by_counting(grad_out, x, dim=None, keepdim=False):
    (grad,) = _sum_by_reshape(grad_out, x, dim, keepdim)
    return grad / (x.size / np.size(grad_out))


def _exp_from_the_output(grad_out, x):
    y = np.exp(x)
    return y * grad_out  # a bare array for a one-input exercise


def _log_reciprocal(grad_out, x):
    return (np.reciprocal(x) * grad_out,)


def _relu_times_mask(grad_out, x):
    return grad_out * (x > 0)  # a bare array; -0.0 where grad_out < 0 is masked, equal to 0


def _sigmoid_via_tanh(grad_out, x):
    s = 0.5 * (1 + np.tanh(x / 2))
    return (grad_out * (s - s * s),)


def _tanh_via_cosh(grad_out, x):
    return (grad_out / np.cosh(x) ** 2,)


def _softmax_ce_logsumexp(grad_out, logits, target):
    top = logits.max(axis=1, keepdims=True)
    logsumexp = top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    grad = np.exp(logits - logsumexp)
    grad[np.arange(len(target)), target] -= 1.0
    return (grad * (grad_out / len(target)),)


def _layer_norm_staged(grad_out, x, weight, bias, eps=1e-5):
    # The step-by-step (computational graph) form: through x_hat, then the variance, then the mean.
    d = x.shape[1]
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    var = (xc**2).sum(axis=1, keepdims=True) / d
    std = np.sqrt(var + eps)
    x_hat = xc / std
    d_x_hat = grad_out * weight
    d_var = (d_x_hat * xc).sum(axis=1, keepdims=True) * -0.5 * std**-3
    d_mu = -d_x_hat.sum(axis=1, keepdims=True) / std - 2 * d_var * xc.mean(axis=1, keepdims=True)
    grad_x = d_x_hat / std + d_var * 2 * xc / d + d_mu / d
    return grad_x, np.einsum("nd,nd->d", grad_out, x_hat), np.einsum("nd->d", grad_out)


def _conv1d_by_dilated_correlation(grad_out, x, weight, bias, stride=1, padding=0):
    # The gradient of a correlation is a (full) convolution with grad_out, dilated by the stride.
    n, c_in, length = x.shape
    c_out, _, k = weight.shape
    x_p = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    dilated = np.zeros((n, c_out, (grad_out.shape[2] - 1) * stride + 1))
    dilated[:, :, ::stride] = grad_out
    grad_x_p = np.zeros_like(x_p)
    grad_weight = np.zeros_like(weight)
    for i in range(n):
        for o in range(c_out):
            for c in range(c_in):
                full = np.convolve(dilated[i, o], weight[o, c], mode="full")
                grad_x_p[i, c, :full.size] += full
                grad_weight[o, c] += np.correlate(x_p[i, c], dilated[i, o], mode="valid")[:k]
    return grad_x_p[:, :, padding:padding + length], grad_weight, grad_out.sum(axis=(0, 2))


EQUIVALENT = {
    "backward/add": _add_from_the_left,
    "backward/mul": _mul_by_broadcast_strides,
    "backward/matmul": _matmul_einsum_and_stacked_rows,
    "backward/sum": _sum_by_reshape,
    "backward/mean": _mean_by_counting,
    "backward/exp": _exp_from_the_output,
    "backward/log": _log_reciprocal,
    "backward/relu": _relu_times_mask,
    "backward/sigmoid": _sigmoid_via_tanh,
    "backward/tanh": _tanh_via_cosh,
    "backward/softmax_cross_entropy": _softmax_ce_logsumexp,
    "backward/layer_norm": _layer_norm_staged,
    "backward/conv1d": _conv1d_by_dilated_correlation,
}


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_a_correct_answer_written_differently_passes(name):
    result = ex.check(name, EQUIVALENT[name])
    assert result.passed, result.message
    assert result.message.startswith(f"{name}: passed all {result.cases_total} cases")


def test_a_student_who_mutates_grad_out_in_place_still_passes():
    def relu_backward(grad_out, x):
        grad_out[x <= 0] = 0.0
        return (grad_out,)
    assert ex.check("backward/relu", relu_backward).passed


# --------------------------------------------------------------------------------------- the stub and the statement


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_stub_raises_not_implemented_and_is_reported_as_not_written(name):
    exercise = _exercise(name)
    namespace = {}
    exec(ex.stub(name), namespace)  # noqa: S102 - the stub is our own source
    fn = namespace[exercise.function]
    case = _cases(name)[0]
    with pytest.raises(NotImplementedError):
        fn(*case.args, **case.kwargs)
    result = ex.check(name, fn)
    assert not result.passed and result.finding == "not_implemented"
    assert "not written yet" in result.message
    # The stub's parameters are the reference's, names and defaults.
    assert inspect.signature(fn) == inspect.signature(exercise.reference)
    assert fn.__doc__ and "Returns:" in fn.__doc__


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_statement_names_the_function_and_what_to_return(name):
    exercise = _exercise(name)
    statement = ex.show(name)
    assert f"`{exercise.function}(" in statement
    assert "return" in statement.lower() and "$" in statement
    assert exercise.output_names and len(exercise.output_names) == len(
        exercise.run(exercise.reference, _cases(name)[0]))


# ----------------------------------------------------------------------------------------------------- the seeds


@pytest.mark.parametrize("name", ["backward/add", "backward/layer_norm", "backward/conv1d"])
def test_the_same_seed_gives_the_same_report_another_seed_other_cases(name):
    wrong = _exercise(name).mistakes[0].fn
    first, again = ex.check(name, wrong, seed=5), ex.check(name, wrong, seed=5)
    assert first.message == again.message and first.seed == 5
    a, b = _cases(name, seed=5), _cases(name, seed=6)
    assert [c.label for c in a] == [c.label for c in b]
    assert not all(np.array_equal(x, y) for ca, cb in zip(a, b) for x, y in zip(ca.args, cb.args))


def test_cases_are_float64_with_integer_targets():
    for name in EXPECTED_NAMES:
        for case in _cases(name):
            for arg in case.args:
                arg = np.asarray(arg)
                assert arg.dtype == np.float64 or (name.endswith("cross_entropy") and arg.dtype == np.int64), name


def test_case_labels_are_distinct_and_free_of_semicolons():
    # The pass message joins the labels with "; ".
    for name in EXPECTED_NAMES:
        labels = [case.label for case in _cases(name)]
        assert len(set(labels)) == len(labels) and not any(";" in label for label in labels), name
