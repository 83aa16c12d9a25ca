"""Module hooks against PyTorch's: the same script runs on both libraries and must log the same events.

Forward pre-hooks and forward hooks (order, prepend, replaced arguments and outputs, with_kwargs,
always_call, removal), full backward hooks and backward pre-hooks (order across modules, grad_input /
grad_output, replacement, inputs that need no gradient), and errors raised by hooks.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu import nn
from tinygrad_edu.utils.hooks import RemovableHandle

LIBS = {"tg": tg, "torch": torch}


try:  # tests/ is on the path when pytest runs from the repository root
    from helpers_hooks import arr as _arr
    from helpers_hooks import same_logs as _same_logs
except ImportError:  # pragma: no cover - run as a package
    from tests.helpers_hooks import arr as _arr
    from tests.helpers_hooks import same_logs as _same_logs


def _linear(lib, n_in=3, n_out=2, seed=0):
    layer = lib.nn.Linear(n_in, n_out)
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        layer.weight.copy_(lib.tensor(rng.standard_normal((n_out, n_in)).astype(np.float32)))
        layer.bias.copy_(lib.tensor(rng.standard_normal(n_out).astype(np.float32)))
    return layer


X = np.arange(6, dtype=np.float32).reshape(2, 3) / 4 - 0.5


# -- forward pre-hooks and forward hooks --------------------------------------------------------------


def test_forward_hooks_order_and_arguments_as_pytorch():
    def run(lib):
        log = []
        layer = _linear(lib)
        layer.register_forward_pre_hook(lambda m, args: log.append(("pre1", len(args), _arr(args[0]))))
        layer.register_forward_pre_hook(lambda m, args: log.append(("pre2", type(m).__name__)))
        layer.register_forward_hook(lambda m, args, out: log.append(("fwd1", _arr(args[0]), _arr(out))))
        layer.register_forward_hook(lambda m, args, out: log.append(("fwd2", m is layer)))
        layer.register_forward_pre_hook(lambda m, args: log.append(("pre0",)), prepend=True)
        layer.register_forward_hook(lambda m, args, out: log.append(("fwd0",)), prepend=True)
        out = layer(lib.tensor(X))
        log.append(("result", _arr(out)))
        return log

    log = _same_logs(run)
    assert [event[0] for event in log] == ["pre0", "pre1", "pre2", "fwd0", "fwd1", "fwd2", "result"]


def test_replacements_chain_from_hook_to_hook_as_pytorch():
    def run(lib):
        log = []
        layer = _linear(lib)
        layer.register_forward_pre_hook(lambda m, args: args[0] * 2)           # a bare value: wrapped in a tuple
        layer.register_forward_pre_hook(lambda m, args: log.append(_arr(args[0])))
        layer.register_forward_pre_hook(lambda m, args: (args[0] + 1,))
        layer.register_forward_hook(lambda m, args, out: out * 10)
        layer.register_forward_hook(lambda m, args, out: log.append((_arr(args[0]), _arr(out))))
        layer.register_forward_hook(lambda m, args, out: None)                 # None keeps the output
        log.append(_arr(layer(lib.tensor(X))))
        return log

    log = _same_logs(run)
    np.testing.assert_allclose(log[0], X * 2)


def test_with_kwargs_hooks_as_pytorch():
    class Scale:
        @staticmethod
        def make(lib):
            class ScaleModule(lib.nn.Module):
                def forward(self, x, *, factor=1.0):
                    return x * factor
            return ScaleModule()

    def run(lib):
        log = []
        module = Scale.make(lib)
        module.register_forward_pre_hook(lambda m, args, kwargs: (args, {"factor": kwargs["factor"] * 3}),
                                         with_kwargs=True)
        module.register_forward_pre_hook(lambda m, args, kwargs: log.append(("pre", dict(kwargs))),
                                         with_kwargs=True)
        module.register_forward_hook(lambda m, args, kwargs, out: log.append(("fwd", dict(kwargs), _arr(out))),
                                     with_kwargs=True)
        module.register_forward_hook(lambda m, args, kwargs, out: out + kwargs["factor"], with_kwargs=True)
        log.append(_arr(module(lib.tensor(X), factor=2.0)))
        return log

    log = _same_logs(run)
    assert log[0] == ("pre", {"factor": 6.0})


def test_pre_hook_with_kwargs_returning_a_wrong_value_is_refused_as_pytorch():
    for lib in LIBS.values():
        layer = _linear(lib)
        layer.register_forward_pre_hook(lambda m, args, kwargs: args, with_kwargs=True)
        with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kwargs\)"):
            layer(lib.tensor(X))


def test_removal_as_pytorch():
    def run(lib):
        log = []
        layer = _linear(lib)
        h1 = layer.register_forward_hook(lambda m, args, out: log.append("a"))
        h2 = layer.register_forward_pre_hook(lambda m, args: log.append("pre"))
        layer.register_forward_hook(lambda m, args, out: log.append("b"))
        layer(lib.tensor(X))
        h1.remove()
        h1.remove()                        # twice: harmless
        layer(lib.tensor(X))
        h2.remove()
        layer(lib.tensor(X))
        with layer.register_forward_hook(lambda m, args, out: log.append("ctx")):
            layer(lib.tensor(X))
        layer(lib.tensor(X))
        log.append(h1.id < h2.id)
        return log

    assert _same_logs(run) == ["pre", "a", "b", "pre", "b", "b", "b", "ctx", "b", True]


def test_handle_outlives_its_module_and_pickles():
    layer = nn.Linear(2, 2)
    handle = layer.register_forward_hook(lambda m, args, out: None)
    assert isinstance(handle, RemovableHandle)
    assert len(layer._forward_hooks) == 1
    handle.remove()
    assert len(layer._forward_hooks) == 0
    handle = layer.register_forward_hook(print)
    del layer                              # the handle holds the dict weakly
    handle.remove()                        # nothing left to remove: no error
    other = nn.Identity()
    h = other.register_forward_pre_hook(len)
    copy = pickle.loads(pickle.dumps(h))   # as PyTorch: the id survives, the copied dict is another dict
    assert copy.id == h.id
    later = nn.Identity().register_forward_hook(len)
    assert later.id > h.id


def test_always_call_hook_runs_when_forward_raises_as_pytorch():
    def run(lib):
        log = []

        class Boom(lib.nn.Module):
            def forward(self, x):
                raise ValueError("forward failed")

        module = Boom()
        module.register_forward_hook(lambda m, args, out: log.append(("always", out)), always_call=True)
        module.register_forward_hook(lambda m, args, out: log.append("plain"))
        with pytest.raises(ValueError, match="forward failed"):
            module(lib.tensor(X))
        # An always_call hook that raises after forward failed: a warning, and the first error goes on.
        module.register_forward_hook(lambda m, args, out: 1 / 0, always_call=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="forward failed"):
                module(lib.tensor(X))
        log.append(any("always_call=True" in str(w.message) for w in caught))
        return log

    assert _same_logs(run) == [("always", None), ("always", None), True]


def test_hooks_are_not_state_and_modules_without_hooks_stay_plain():
    layer = nn.Linear(2, 3)
    before = layer.state_dict()
    handle = layer.register_forward_hook(lambda m, args, out: None)
    assert list(layer.state_dict()) == list(before)
    assert "register" not in repr(layer)
    handle.remove()
    layer(tg.ones(1, 2))                    # the first call after removal clears the flag
    assert layer._has_hooks is False
    assert nn.Linear(2, 3)._has_hooks is False
    with pytest.raises(TypeError, match="must be callable"):
        layer.register_forward_hook("not a function")


def test_a_forward_hook_that_raises_is_named():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())

    def broken_hook(module, args, out):
        raise KeyError("no such layer")

    model[0].register_forward_hook(broken_hook)
    with pytest.raises(KeyError, match="no such layer") as info:
        model(tg.ones(1, 2))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "forward hook 'broken_hook'" in notes
    assert "Linear(in_features=2, out_features=3, bias=True) ('0' in Sequential)" in notes

    def broken_pre_hook(module, args):
        raise ValueError("bad input")

    model[1].register_forward_pre_hook(broken_pre_hook)
    model[0]._forward_hooks.clear()
    with pytest.raises(ValueError, match="bad input") as info:
        model(tg.ones(1, 2))
    assert "forward pre-hook" in info.value.__notes__[0] and "ReLU() ('1' in Sequential)" in info.value.__notes__[0]


def test_the_note_names_a_module_deep_in_a_model():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
            self.head = nn.Linear(3, 1)

        def forward(self, x):
            return self.head(self.encoder(x))

    net = Net()

    def check_output(module, args, out):
        raise FloatingPointError("nan in the output")

    net.encoder[1].register_forward_hook(check_output)
    with pytest.raises(FloatingPointError) as info:
        net(tg.ones(1, 2))
    assert info.value.__notes__ == ["raised by the forward hook 'check_output' of Tanh() ('encoder.1' in Net)"]


# -- full backward hooks and backward pre-hooks -------------------------------------------------------


def _grads(values):
    return tuple(None if g is None else _arr(g) for g in values)


def _mlp(lib):
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
    rng = np.random.default_rng(1)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    return model


def test_full_backward_hooks_of_an_mlp_as_pytorch():
    def run(lib):
        log = []
        model = _mlp(lib)
        for name, layer in model.named_children():
            layer.register_full_backward_hook(
                lambda m, grad_input, grad_output, name=name: log.append((name, _grads(grad_input),
                                                                          _grads(grad_output))))
            layer.register_full_backward_pre_hook(
                lambda m, grad_output, name=name: log.append(("pre " + name, _grads(grad_output))))
        model.register_full_backward_hook(lambda m, gi, go: log.append(("model", _grads(gi), _grads(go))))
        x = lib.tensor(X, requires_grad=True)
        (model(x) ** 2).sum().backward()
        log.append(("x.grad", _arr(x.grad)))
        log += [_arr(p.grad) for p in model.parameters()]
        return log

    log = _same_logs(run)
    assert [event[0] for event in log[:7]] == ["pre 2", "2", "pre 1", "1", "pre 0", "0", "model"]


def test_a_module_with_two_inputs_one_without_grad_and_a_non_tensor_as_pytorch():
    def run(lib):
        class Mix(lib.nn.Module):
            def forward(self, a, b, scale, c):
                return a * b * scale + c, a.sum()

        log = []
        module = Mix()
        module.register_full_backward_hook(lambda m, gi, go: log.append(("hook", _grads(gi), _grads(go))))
        module.register_full_backward_pre_hook(lambda m, go: log.append(("pre", _grads(go))))
        a = lib.tensor(X, requires_grad=True)
        b = lib.tensor(X + 1)                     # needs no gradient: zeros in grad_input (PyTorch's doc: None)
        c = lib.tensor(X * 2, requires_grad=True)
        first, second = module(a, b, 3.0, c)      # a float argument: None in grad_input
        first.sum().backward()                    # the second output gets no gradient: None in grad_output
        log += [_arr(a.grad), _arr(c.grad)]
        return log

    log = _same_logs(run)
    assert log[0][1][1] is None and log[1][1][2] is None and not log[1][1][1].any()


def test_replacing_grad_input_and_grad_output_as_pytorch():
    def run(lib):
        log = []
        model = _mlp(lib)
        model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
        model[1].register_full_backward_hook(lambda m, gi, go: (gi[0] + 1,))
        model[1].register_full_backward_hook(lambda m, gi, go: log.append(("second hook sees", _grads(gi))))
        model[0].register_full_backward_hook(lambda m, gi, go: log.append(("first layer sees", _grads(go))))
        x = lib.tensor(X, requires_grad=True)
        model(x).sum().backward()
        log += [_arr(x.grad)] + [_arr(p.grad) for p in model.parameters()]
        return log

    _same_logs(run)


def test_backward_hook_removal_and_prepend_as_pytorch():
    def run(lib):
        log = []
        layer = _linear(lib)
        h1 = layer.register_full_backward_hook(lambda m, gi, go: log.append("a"))
        layer.register_full_backward_hook(lambda m, gi, go: log.append("b"))
        layer.register_full_backward_hook(lambda m, gi, go: log.append("first"), prepend=True)
        h2 = layer.register_full_backward_pre_hook(lambda m, go: log.append("pre"))
        x = lib.tensor(X, requires_grad=True)
        layer(x).sum().backward()
        h1.remove()
        h2.remove()
        layer(x).sum().backward()
        log.append(_arr(x.grad))
        return log

    log = _same_logs(run)
    assert log[:4] == ["pre", "first", "a", "b"] and log[4:6] == ["first", "b"]


def test_hooks_fire_with_grad_input_none_when_no_input_needs_grad_as_pytorch():
    def run(lib):
        log = []
        layer = _linear(lib)
        layer.register_full_backward_hook(lambda m, gi, go: log.append((_grads(gi), _grads(go))))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layer(lib.tensor(X)).sum().backward()
        log.append(sum("no inputs require gradients" in str(w.message) for w in caught))
        log.append(_arr(layer.weight.grad))
        layer.register_full_backward_hook(lambda m, gi, go: (lib.ones(2, 3),))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match="should always return None or None for all gradients"):
                layer(lib.tensor(X)).sum().backward()
        return log

    _same_logs(run)


def test_bad_backward_hook_results_are_clear_errors():
    x = tg.tensor(X, requires_grad=True)
    for lib in (tg, torch):
        layer = _linear(lib)
        layer.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        with pytest.raises(RuntimeError, match="Backward hook returned an invalid number of grad_input, got 2, "
                                               "but expected 1"):
            layer(lib.tensor(X, requires_grad=True)).sum().backward()
        layer = _linear(lib)
        layer.register_full_backward_pre_hook(lambda m, go: ())
        with pytest.raises(RuntimeError, match="Backward pre hook returned an invalid number of grad_output, got 0"):
            layer(lib.tensor(X, requires_grad=True)).sum().backward()
    layer = _linear(tg)

    def wrong_shape(module, grad_input, grad_output):
        return (grad_input[0].sum(0),)

    layer.register_full_backward_hook(wrong_shape)
    with pytest.raises(RuntimeError, match=r"'wrong_shape' of Linear\(in_features=3.*grad_input\[0\] of shape \(3,\), "
                                           r"but it must have shape \(2, 3\)"):
        layer(x).sum().backward()
    assert x.grad is None


def test_a_backward_hook_that_raises_is_named():
    layer = nn.Linear(3, 2)

    def broken(module, grad_input, grad_output):
        raise ZeroDivisionError("inside the hook")

    layer.register_full_backward_hook(broken)
    with pytest.raises(ZeroDivisionError, match="inside the hook") as info:
        layer(tg.tensor(X, requires_grad=True)).sum().backward()
    assert "full backward hook 'broken' of Linear(in_features=3, out_features=2, bias=True)" in info.value.__notes__[0]


def test_backward_hooks_leave_forward_values_and_no_grad_calls_alone():
    layer = _linear(tg)
    calls = []
    layer.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    x = tg.tensor(X, requires_grad=True)
    out = layer(x)
    np.testing.assert_array_equal(out.numpy(), X @ layer.weight.numpy().T + layer.bias.numpy())
    with tg.no_grad():
        plain = layer(x)                          # nothing recorded, no identity node
    assert plain.grad_fn is None and not calls


def test_in_place_change_of_a_hooked_output_is_recorded_not_refused():
    # PyTorch refuses it ("Output 0 of BackwardHookFunction is a view and is being modified inplace"); here it
    # is recorded like any in-place change: the hook sees dL/d(output before the change).
    layer = _linear(tg)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append(_arr(go[0])))
    x = tg.tensor(X, requires_grad=True)
    out = layer(x)
    out.mul_(2)
    out.sum().backward()
    np.testing.assert_array_equal(seen[0], np.full((2, 2), 2.0))
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 2.0) @ layer.weight.numpy(), rtol=1e-6)
    # A module whose backward reads its output (Tanh saves it): the version counter catches the change.
    tanh = nn.Tanh()
    tanh.register_full_backward_hook(lambda m, gi, go: None)
    out = tanh(x)
    out.mul_(2)
    with pytest.raises(RuntimeError, match="Tanh needs its output"):
        out.sum().backward()


def test_a_module_used_twice_and_a_residual_as_pytorch():
    def run(lib):
        log = []
        layer = _linear(lib, 3, 3)
        layer.register_full_backward_hook(lambda m, gi, go: log.append(("hook", _grads(gi), _grads(go))))
        layer.register_full_backward_pre_hook(lambda m, go: log.append(("pre", _grads(go))))
        layer.register_forward_hook(lambda m, args, out: log.append(("forward", _arr(out))))
        x = lib.tensor(X, requires_grad=True)
        h = layer(x)
        h.register_hook(lambda g: log.append(("tensor hook on h", _arr(g))))
        out = layer(h.tanh()) + h                 # the same layer twice, and a residual around it
        (out ** 2).sum().backward()
        return log + [_arr(x.grad), _arr(layer.weight.grad)]

    log = _same_logs(run)
    assert [event[0] for event in log[:7]] == ["forward", "forward", "pre", "hook", "tensor hook on h", "pre", "hook"]
