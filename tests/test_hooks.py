"""Tensor.register_hook against PyTorch's: the same script runs on both libraries and logs the same events.

When hooks run (a leaf's once, on its total gradient; a non-leaf's when its gradient is complete), what
they get, what their replacement changes (.grad, the inputs' gradients, retain_grad), the order of
several hooks and of hooks on several tensors, removal, and the errors (no grad, wrong shape, wrong
dtype, a hook that raises).
"""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu.utils.hooks import RemovableHandle

try:  # tests/ is on the path when pytest runs from the repository root
    from helpers_hooks import arr as _arr
    from helpers_hooks import same_logs as _same_logs
except ImportError:  # pragma: no cover - run as a package
    from tests.helpers_hooks import arr as _arr
    from tests.helpers_hooks import same_logs as _same_logs


def _t(lib, values):
    return lib.tensor(np.asarray(values, dtype=np.float32), requires_grad=True)


def test_leaf_hook_sees_the_total_gradient_once_and_its_result_is_accumulated():
    def run(lib):
        log = []
        x = _t(lib, [1.0, 2.0, -1.0])
        x.register_hook(lambda g: log.append(("hook", _arr(g))))
        x.register_hook(lambda g: g * 10)
        x.register_hook(lambda g: log.append(("after replacement", _arr(g))))
        (x * x + x.exp()).sum().backward()      # three paths into x: summed before the hooks run
        log.append(("grad", _arr(x.grad)))
        (x * 2).sum().backward()                # a second backward: the hook sees only the new gradient
        log.append(("grad", _arr(x.grad)))
        return log

    log = _same_logs(run)
    assert [event[0] for event in log] == ["hook", "after replacement", "grad"] * 2


def test_non_leaf_hook_replacement_flows_on_and_is_what_retain_grad_keeps():
    def run(lib):
        log = []
        x = _t(lib, [1.0, 2.0])
        y = x * 3
        y.retain_grad()                         # before the hook ...
        y.register_hook(lambda g: g * 10)
        w = x * 2
        w.register_hook(lambda g: g + 1)
        w.retain_grad()                         # ... and after: retain_grad keeps the replacement either way
        z = (y * y).sum() + y.sum() + (w * y).sum()
        z.backward()
        log += [_arr(y.grad), _arr(w.grad), _arr(x.grad)]
        return log

    _same_logs(run)


def test_in_place_change_inside_a_hook_counts_as_a_replacement():
    def run(lib):
        x = _t(lib, [1.0, 2.0])
        y = x * 3
        y.register_hook(lambda g: g.mul_(2))
        (y * y).sum().backward()
        leaf = _t(lib, [1.0, 2.0])
        leaf.register_hook(lambda g: g.mul_(2))
        (leaf * leaf).sum().backward()
        return [_arr(x.grad), _arr(leaf.grad)]

    _same_logs(run)


@pytest.mark.parametrize("graph", ["mul_add", "chain", "sum3", "shared", "linear", "root"])
def test_call_order_across_tensors_as_pytorch(graph):
    def run(lib):
        log = []

        def watch(name, t):
            t.register_hook(lambda g: log.append((name, _arr(g))))

        a, b, c = _t(lib, [1.0, 2.0]), _t(lib, [3.0, -1.0]), _t(lib, [0.5, 0.25])
        for name, t in zip("abc", (a, b, c)):
            watch(name, t)
        if graph == "mul_add":
            out = (a * b + c).sum()
        elif graph == "chain":
            out = ((a * b) * c).sum()
        elif graph == "sum3":
            out = (a + b + c).sum()
        elif graph == "shared":
            h = a * 2
            watch("h", h)
            k = h * 3
            watch("k", k)
            out = (k + h + b).sum()
        elif graph == "linear":
            layer = lib.nn.Linear(2, 3)
            with lib.no_grad():
                layer.weight.copy_(lib.tensor(np.arange(6, dtype=np.float32).reshape(3, 2) / 5 - 0.4))
                layer.bias.copy_(lib.tensor(np.array([0.1, -0.2, 0.3], dtype=np.float32)))
            watch("weight", layer.weight)
            watch("bias", layer.bias)
            out = layer(a.reshape(1, 2)).tanh().sum()
            out.backward()
            # PyTorch's addmm lists (bias, input, weight.t()); the library's fused Linear node (input, weight,
            # bias): leaves ready at the same node run in that node's input order, so only the values compare.
            return sorted(log, key=lambda event: event[0])
        else:
            out = (a * b).sum()
            watch("root", out)
        out.backward()
        return log

    _same_logs(run)


def test_several_hooks_chain_in_order_and_removal_as_pytorch():
    def run(lib):
        log = []
        x = _t(lib, [1.0, 2.0])
        y = x * 1
        h1 = y.register_hook(lambda g: g + 1)
        y.register_hook(lambda g: log.append(("second", _arr(g))))
        h3 = y.register_hook(lambda g: g * 3)
        y.sum().backward(retain_graph=True)
        log.append(("grad", _arr(x.grad)))
        h1.remove()
        h1.remove()
        x.grad = None
        y.sum().backward(retain_graph=True)
        log.append(("grad", _arr(x.grad)))
        with x.register_hook(lambda g: g * 0):
            pass                                  # removed at once
        h3.remove()
        x.grad = None
        y.sum().backward()
        log.append(("grad", _arr(x.grad)))
        return log

    _same_logs(run)


def test_a_non_leaf_hook_outlives_its_tensor_as_pytorch():
    def run(lib):
        log = []
        x = _t(lib, [1.0, 2.0])
        y = x * 2
        y.register_hook(lambda g: log.append("hook ran") or g * 5)
        z = y.sum()
        del y
        gc.collect()
        z.backward()
        return log + [_arr(x.grad)]

    assert _same_logs(run)[0] == "hook ran"


def test_a_node_with_two_outputs():
    def run(lib):
        class Split(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2 + g2 * 3

        log = []
        x = _t(lib, [1.0, 2.0])
        first, second = Split.apply(x)
        second.register_hook(lambda g: log.append(("second", _arr(g))) or g * 100)
        first.register_hook(lambda g: log.append(("first", _arr(g))))
        ((first * first).sum() + second.sum()).backward()
        return log + [_arr(x.grad)]

    _same_logs(run)


def test_the_hook_gets_a_gradient_of_its_own():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    kept = []
    x.register_hook(lambda g: kept.append(g))
    y = x * 1
    y.register_hook(lambda g: kept.append(g))
    (y + y).sum().backward()                      # Add passes grad_out straight through to both paths
    assert not np.shares_memory(kept[-1].numpy(), x.grad.numpy())
    (y + y).sum().backward()                      # .grad += ... must not change what the hooks kept
    np.testing.assert_array_equal(kept[0].numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(kept[1].numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])
    assert kept[0].requires_grad is False


def test_a_leaf_whose_gradient_comes_partly_as_none_still_runs_its_hook_once():
    class HalfNone(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return grad, None                     # says nothing for y, though y needs a gradient

    x, y = tg.tensor([1.0, 2.0], requires_grad=True), tg.tensor([3.0, 4.0], requires_grad=True)
    calls = []
    y.register_hook(lambda g: calls.append(g.numpy().copy()))
    (HalfNone.apply(x, y) + y).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [1.0, 1.0])


def test_bad_registrations_and_bad_results_are_clear_errors():
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
            lib.tensor([1.0]).register_hook(lambda g: g)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="must be callable"):
        x.register_hook(3)

    def sums(g):
        return g.sum()

    y = x * 3
    y.register_hook(sums)
    with pytest.raises(RuntimeError, match=r"hook 'sums' has changed the size of value: "
                                           r"expected shape \(2,\), got \(\)"):
        y.sum().backward()
    leaf = tg.tensor([1.0, 2.0], requires_grad=True)
    leaf.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match=r"hook '<lambda>' has changed the type of value \(was "
                                           r"torch.FloatTensor got torch.DoubleTensor\)"):
        (leaf * 2).sum().backward()
    assert leaf.grad is None                      # validated before anything is accumulated
    other = tg.tensor([1.0], requires_grad=True)
    other.register_hook(lambda g: 5)
    with pytest.raises(TypeError, match="returned int"):
        (other * 2).sum().backward()


def test_a_hook_that_raises_is_named_in_a_note():
    x = tg.tensor([1.0, 2.0], requires_grad=True)

    def explode(grad):
        raise ValueError("hook failed")

    y = x * 3
    y.register_hook(explode)
    with pytest.raises(ValueError, match="hook failed") as info:
        y.sum().backward()
    assert "'explode'" in info.value.__notes__[0]
    assert "the tensor made by Mul#" in info.value.__notes__[0]
    x.register_hook(explode)
    with pytest.raises(ValueError) as info:
        x.sum().backward()
    assert "a leaf tensor of shape (2,)" in info.value.__notes__[0]


def test_handles_are_removable_handles():
    x = tg.tensor([1.0], requires_grad=True)
    handle = x.register_hook(lambda g: None)
    assert isinstance(handle, RemovableHandle) and "registered" in repr(handle)
    handle.remove()
    assert "removed" in repr(handle) and not x._backward_hooks


def test_backward_steps_shows_where_a_hook_changed_a_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([0.5, -1.0], requires_grad=True)
    w.register_hook(lambda g: g * 0)              # a leaf: its total is replaced
    h = x * 3
    h.register_hook(lambda g: g * 10)             # an intermediate result: the replacement flows on
    h.register_hook(lambda g: None)
    y = (h * w).sum()
    trace = tg.backward_steps(y, names={"h": h, "x": x, "w": w})
    assert [len(step.hooks) for step in trace] == [0, 1, 1]
    leaf_change, node_change = trace[1].hooks[0], trace[2].hooks[0]
    assert (leaf_change.label, leaf_change.is_leaf, node_change.label, node_change.is_leaf) == ("w", True, "h", False)
    np.testing.assert_array_equal(leaf_change.before, [3.0, 6.0])     # dL/dw = h = 3x
    np.testing.assert_array_equal(leaf_change.after, [0.0, 0.0])
    np.testing.assert_array_equal(node_change.before, [0.5, -1.0])   # dL/dh = w
    np.testing.assert_array_equal(node_change.after, [5.0, -10.0])
    np.testing.assert_array_equal(trace[2].grad_out, [5.0, -10.0])   # what the rule used
    assert leaf_change.changed and "norm 6.708 -> 0" in leaf_change.note
    assert trace.hooks == [leaf_change, node_change]
    text = str(trace)
    assert "hook on h changed its gradient: [ 0.5, -1. ] -> [ 5., -10.] (norm 1.118 -> 11.18)" in text
    assert "hook: [3., 6.] -> [0., 0.]" in text and "hook on w changed its gradient" in trace._repr_html_()
    # The totals are what backward() puts in .grad, hooks included; backward_steps touched no .grad.
    assert x.grad is None and w.grad is None
    y.backward()
    np.testing.assert_array_equal(trace.totals[x], x.grad.numpy())
    np.testing.assert_array_equal(trace.totals[w], w.grad.numpy())
    same = tg.backward_steps((x * 2).sum(), names={"x": x})   # a hook returning None: no line, no column
    assert not same.hooks and "hook" not in str(same)
    x.register_hook(lambda g: None)
    unchanged = tg.backward_steps((x * 2).sum(), names={"x": x})
    assert unchanged.hooks[0].note == "hook on x: gradient unchanged"


def test_a_hooked_parameter_inside_a_checkpoint_runs_its_hook_once():
    def run(lib):
        import torch.utils.checkpoint  # noqa: F401 - makes torch.utils.checkpoint an attribute

        log = []
        layer = lib.nn.Linear(2, 2)
        with lib.no_grad():
            layer.weight.copy_(lib.tensor(np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)))
            layer.bias.copy_(lib.tensor(np.array([0.1, -0.3], dtype=np.float32)))
        layer.weight.register_hook(lambda g: log.append(_arr(g)) or g * 2)
        x = _t(lib, [[1.0, 2.0], [3.0, -1.0]])
        out = lib.utils.checkpoint.checkpoint(lambda t: layer(t).tanh(), x, use_reentrant=False)
        out.sum().backward()
        return log + [_arr(layer.weight.grad), _arr(x.grad)]

    assert len(_same_logs(run)) == 3


def test_backward_from_a_leaf_runs_its_hooks_as_pytorch():
    def run(lib):
        log = []
        x = _t(lib, [1.0, -2.0])
        x.register_hook(lambda g: log.append(_arr(g)) or g * 3)
        x.backward(lib.tensor(np.array([0.5, 2.0], dtype=np.float32)))
        return log + [_arr(x.grad)]

    assert len(_same_logs(run)) == 2


def test_copies_of_a_tensor_leave_its_hooks_behind_as_pytorch():
    # copy.deepcopy and pickle: PyTorch's copies have no tensor hooks; a module's own hooks are kept.
    import copy
    import pickle

    def run(lib):
        log = []
        x = lib.ones(2, requires_grad=True)
        x.register_hook(lambda g: log.append("x"))
        layer = lib.nn.Linear(2, 1)
        layer.weight.register_hook(lambda g: log.append("weight"))
        layer.register_forward_hook(lambda m, args, out: log.append("forward"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # torch warns that the hook is not pickled
            y = pickle.loads(pickle.dumps(x))
        (copy.deepcopy(x) * 2 + y).sum().backward()
        twin = copy.deepcopy(layer)
        twin(lib.ones(1, 2)).sum().backward()
        return log, y.grad is not None, y.requires_grad

    assert run(tg) == run(torch) == (["forward"], True, True)


def test_backward_steps_name_the_backward_hooks_node_by_its_own_docstring():
    # A module with full backward hooks passes its tensors through an identity node: the trace says so,
    # not the generic "graph node of one call of a Function".
    layer = tg.nn.Linear(2, 1)
    layer.register_full_backward_hook(lambda module, grad_input, grad_output: None)
    loss = layer(tg.ones(1, 2, requires_grad=True)).sum()
    rules = {step.label.split("#")[0]: step.rule for step in tg.backward_steps(loss).steps}
    assert rules["_BackwardHookFunction"].startswith("The identity on a module's tensors, whose backward runs")

    class Double(tg.autograd.Function):
        """out = 2 x;  dL/dx = 2 g."""

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    class Bare(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad

    steps = tg.backward_steps(Bare.apply(Double.apply(tg.ones(2, requires_grad=True))).sum()).steps
    rules = {step.label.split("#")[0]: step.rule for step in steps}
    assert rules["Double"] == "out = 2 x;  dL/dx = 2 g." and rules["Bare"].startswith("The graph node of one call")
