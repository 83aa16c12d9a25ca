"""Every in-place path bumps the version counter, in every grad mode, exactly as PyTorch's does (issue 13).

A tensor saved for backward and then changed in place must make ``backward()`` raise instead of returning a
wrong gradient. Each case below runs the same scenario in PyTorch (the oracle) and in the library: whether
backward raises, how much ``_version`` moved, and (where PyTorch does not raise) the gradient itself.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg

X0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def _index(lib):
    return lib.tensor([[0, 1, 0]])


# name -> mutate(lib, t): one in-place change of t (shape (2, 3), float64).
CASES = {
    "imul": lambda lib, t: t.__imul__(10),
    "iadd": lambda lib, t: t.__iadd__(1),
    "isub": lambda lib, t: t.__isub__(1),
    "itruediv": lambda lib, t: t.__itruediv__(2),
    "iadd_tensor": lambda lib, t: t.__iadd__(lib.ones(3, dtype=lib.float64)),
    "add_": lambda lib, t: t.add_(1),
    "add_alpha": lambda lib, t: t.add_(lib.ones(2, 3, dtype=lib.float64), alpha=2),
    "sub_": lambda lib, t: t.sub_(1),
    "mul_": lambda lib, t: t.mul_(2),
    "div_": lambda lib, t: t.div_(2),
    "copy_": lambda lib, t: t.copy_(lib.ones(2, 3, dtype=lib.float64)),
    "fill_": lambda lib, t: t.fill_(3.0),
    "zero_": lambda lib, t: t.zero_(),
    "setitem": lambda lib, t: t.__setitem__(0, 1.0),
    "setitem_slice": lambda lib, t: t.__setitem__((slice(None), 1), 7.0),
    "clamp_": lambda lib, t: t.clamp_(0.0, 1.0),
    "clip_": lambda lib, t: t.clip_(min=0.0),
    "normal_": lambda lib, t: t.normal_(),
    "uniform_": lambda lib, t: t.uniform_(),
    "exponential_": lambda lib, t: t.exponential_(),
    "bernoulli_": lambda lib, t: t.bernoulli_(0.5),
    "random_": lambda lib, t: t.random_(0, 5),
    "masked_fill_": lambda lib, t: t.masked_fill_(lib.tensor([True, False, True]), 0.0),
    "scatter_": lambda lib, t: t.scatter_(0, _index(lib), value=9.0),
    "scatter_add_": lambda lib, t: t.scatter_add_(0, _index(lib), lib.ones(1, 3, dtype=lib.float64)),
    "set_": lambda lib, t: t.set_(lib.ones(2, 3, dtype=lib.float64)),
    # Through views: they share the base's version counter (PyTorch's rule).
    "view_slice_imul": lambda lib, t: t[0:1].__imul__(10),
    "view_row_add_": lambda lib, t: t[1].add_(1),
    "view_reshape_mul_": lambda lib, t: t.reshape(-1).mul_(2),
    "view_view_fill_": lambda lib, t: t.view(3, 2).fill_(0.0),
    "view_transpose_zero_": lambda lib, t: t.T.zero_(),
    "view_unsqueeze_add_": lambda lib, t: t.unsqueeze(0).add_(1),
    "view_of_view_mul_": lambda lib, t: t[0][1:].mul_(5),
    "detach_mul_": lambda lib, t: t.detach().mul_(10),
    # Not tracked, in PyTorch as here: `.data` is a new tensor with its own counter.
    "data_mul_": lambda lib, t: t.data.mul_(10),
    "data_iadd": lambda lib, t: t.data.__iadd__(1),
}

# Recorded in-place changes of a view: PyTorch rewrites the base's graph (CopySlices); the library raises at once.
VIEW_CASES = {name for name in CASES if name.startswith("view_")}


def _scenario(lib, case, mode):
    """Save ``t`` for backward, change it with ``case`` in ``mode``, backward; what happened."""
    lib.manual_seed(0)
    mutate = CASES[case]
    x = lib.tensor(X0, requires_grad=True, dtype=lib.float64)
    t = x if mode == "leaf_no_grad" else x * 1.0
    loss = (t * t).sum()  # Mul saves t
    before = t._version
    if mode == "nonleaf_recorded":
        mutate(lib, t)
    else:
        with lib.no_grad():
            mutate(lib, t)
    delta = t._version - before
    try:
        loss.backward()
    except RuntimeError:
        return {"raised": True, "delta": delta, "grad": None}
    return {"raised": False, "delta": delta, "grad": x.grad.numpy().copy()}


@pytest.mark.parametrize("mode", ["leaf_no_grad", "nonleaf_no_grad", "nonleaf_recorded"])
@pytest.mark.parametrize("case", list(CASES))
def test_in_place_change_after_save_as_pytorch(torch, case, mode):
    if mode == "nonleaf_recorded" and case in ("setitem", "setitem_slice"):
        pytest.skip("item assignment into a tensor of the graph is refused at once (covered below)")
    expected = _scenario(torch, case, mode)
    if mode == "nonleaf_recorded" and case in VIEW_CASES:
        assert expected["raised"]  # PyTorch raises at backward ...
        with pytest.raises(RuntimeError, match="view of another"):  # ... the library at the change itself
            _scenario(tg, case, mode)
        return
    got = _scenario(tg, case, mode)
    assert got["raised"] == expected["raised"], (case, mode, expected, got)
    assert got["delta"] == expected["delta"], (case, mode, expected, got)
    if not expected["raised"]:
        np.testing.assert_allclose(got["grad"], expected["grad"].numpy() if hasattr(expected["grad"], "numpy")
                                   else expected["grad"], rtol=1e-12)


def test_issue_examples_raise_as_pytorch(torch):
    """The issue's two examples: ``x *= 10`` / ``y += 1`` under no_grad after x, y were saved."""
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        z = (x * x).sum()
        with lib.no_grad():
            x *= 10
        with pytest.raises(RuntimeError):
            z.backward()
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        y = w * 3
        z = (y * y).sum()
        with lib.no_grad():
            y += 1
        with pytest.raises(RuntimeError):
            z.backward()


def test_setitem_into_graph_tensor_while_recording_is_refused(torch):
    """PyTorch records ``y[0] = 1`` (and backward then raises, y being saved); the library refuses it at once."""
    x = torch.tensor(X0, requires_grad=True)
    y = x * 1.0
    loss = (y * y).sum()
    y[0] = 1.0
    with pytest.raises(RuntimeError):
        loss.backward()
    x = tg.tensor(X0, requires_grad=True, dtype=tg.float64)
    y = x * 1.0
    with pytest.raises(RuntimeError, match="item assignment"):
        y[0] = 1.0


def test_requires_grad_and_data_assignment_leave_the_version_as_pytorch(torch):
    for lib in (torch, tg):
        x = lib.tensor(X0, dtype=lib.float64)
        x.requires_grad_()
        x.requires_grad = False
        x.requires_grad_(True)
        assert x._version == 0
        x.data = lib.ones(2, 3, dtype=lib.float64)
        assert x._version == 0


def test_view_made_under_no_grad_shares_the_counter(torch):
    """A view made inside no_grad still shares its base's counter; a later change through it is caught."""
    for lib in (torch, tg):
        x = lib.tensor(X0, requires_grad=True, dtype=lib.float64)
        y = x * 1.0
        loss = (y * y).sum()
        with lib.no_grad():
            v = y[:, :2]
            v.mul_(3)
        assert y._version == v._version == 1
        with pytest.raises(RuntimeError):
            loss.backward()


def test_each_in_place_op_bumps_exactly_once(torch):
    """Version arithmetic matches PyTorch's over a sequence of changes (not just 'changed or not')."""
    versions = {}
    for lib in (torch, tg):
        lib.manual_seed(0)
        t = lib.zeros(2, 3, dtype=lib.float64)
        seen = []
        for name in ("add_", "fill_", "setitem", "view_row_add_", "uniform_", "data_mul_", "detach_mul_"):
            CASES[name](lib, t)
            seen.append(t._version)
        versions[lib.__name__] = seen
    assert versions["tinygrad_edu"] == versions["torch"]


@pytest.mark.parametrize("case", ["add_", "mul_", "clamp_", "copy_", "fill_", "setitem", "normal_", "zero_"])
def test_in_place_change_of_an_expanded_tensor_raises_clearly(torch, case):
    """Elements of an ``expand()`` share memory. PyTorch refuses arithmetic/clamp in place there and lets
    fill_/copy_/item assignment/random fills through; the library refuses every one (stricter, documented),
    with a RuntimeError saying why, the version left alone and the random stream untouched."""
    torch.manual_seed(0)
    error = _error_of(lambda: CASES[case](torch, torch.zeros(1, 3, dtype=torch.float64).expand(2, 3)))
    assert error is None or isinstance(error, RuntimeError)
    tg.manual_seed(0)
    base = tg.zeros(1, 3, dtype=tg.float64)
    expanded = base.expand(2, 3)
    with pytest.raises(RuntimeError, match="memory cannot be written"):
        CASES[case](tg, expanded)
    assert base._version == 0
    np.testing.assert_array_equal(base.numpy(), 0)
    torch.manual_seed(0)
    np.testing.assert_array_equal(tg.randn(3).numpy(), torch.randn(3).numpy())


def _error_of(call):
    try:
        call()
    except Exception as err:  # noqa: BLE001 - the oracle's outcome, whatever it is
        return err
    return None


def test_function_returning_its_input_shares_the_counter_as_pytorch(torch):
    """A custom Function whose forward returns its input: the output shares the input's version counter."""
    seen = {}
    for lib in (torch, tg):
        class Identity(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, grad):
                return grad

        x = lib.ones(2, requires_grad=True)
        y = x * 1.0
        z = Identity.apply(y)
        loss = (y * y).sum()
        with lib.no_grad():
            z.mul_(3)
        seen[lib.__name__] = (_error_of(loss.backward) is not None, y._version, z._version)
    assert seen["tinygrad_edu"] == seen["torch"] == (True, 1, 1)
