"""nn.Module beyond parameters: buffers, named_modules, apply, to, requires_grad_, ModuleDict,
attribute routing, in-place state loading; with PyTorch as the oracle for names, orders and refusals.

Buffers are also followed through everything that saves or restores weights: ModelCheckpoint and
fit(resume_from=), EarlyStopping's restore, and lr_find.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu import datasets, nn, optim
from tinygrad_edu.train import EarlyStopping, ModelCheckpoint, fit, lr_find

# -- twin models: the same tree in tinygrad_edu and in PyTorch ------------------------------------------------


class Norm(nn.Module):
    """BatchNorm's state without its arithmetic: affine parameters, running statistics, an integer counter."""

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(tg.ones(n))
        self.bias = nn.Parameter(tg.zeros(n))
        self.register_buffer("running_mean", tg.zeros(n))
        self.register_buffer("running_var", tg.ones(n))
        self.register_buffer("num_batches_tracked", tg.tensor(0))


class TorchNorm(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.bias = torch.nn.Parameter(torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))
        self.register_buffer("num_batches_tracked", torch.tensor(0))


class Net(nn.Module):
    """Parameters and buffers at several depths, a None buffer, a non-persistent one and a shared child."""

    def __init__(self):
        super().__init__()
        self.register_buffer("steps", tg.zeros(()))
        self.lin = nn.Linear(2, 3)
        self.norm = Norm(3)
        self.register_buffer("scratch", tg.zeros(2), persistent=False)
        self.register_buffer("empty", None)
        self.blocks = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), Norm(3))
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 2, bias=False)})
        self.again = self.norm  # the same module under a second name


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("steps", torch.zeros(()))
        self.lin = torch.nn.Linear(2, 3)
        self.norm = TorchNorm(3)
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.register_buffer("empty", None)
        self.blocks = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU(), TorchNorm(3))
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 1), "b": torch.nn.Linear(3, 2, bias=False)})
        self.again = self.norm


def _names(pairs):
    return [name for name, _ in pairs]


# -- names and orders, against PyTorch --------------------------------------------------------------------


def test_state_dict_keys_and_order_match_pytorch_with_buffers():
    ours, theirs = Net(), TorchNet()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "norm.running_mean" in ours.state_dict() and "blocks.2.num_batches_tracked" in ours.state_dict()
    assert "scratch" not in ours.state_dict() and "empty" not in ours.state_dict()  # non-persistent, None
    assert ours.state_dict()["norm.num_batches_tracked"].dtype == np.int64


def test_named_buffers_parameters_and_modules_match_pytorch():
    ours, theirs = Net(), TorchNet()
    assert _names(ours.named_buffers()) == _names(theirs.named_buffers())
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters())
    assert _names(ours.named_modules()) == _names(theirs.named_modules())
    assert _names(ours.named_modules(remove_duplicate=False)) == _names(theirs.named_modules(remove_duplicate=False))
    assert _names(ours.named_modules(prefix="net")) == _names(theirs.named_modules(prefix="net"))
    assert _names(ours.named_buffers(recurse=False)) == _names(theirs.named_buffers(recurse=False))
    assert _names(ours.named_children()) == _names(theirs.named_children())
    assert len(list(ours.buffers())) == len(list(theirs.buffers()))


def test_apply_visits_children_first_in_pytorchs_order():
    ours, theirs = [], []
    Net().apply(lambda m: ours.append(type(m).__name__))
    TorchNet().apply(lambda m: theirs.append(type(m).__name__.replace("Torch", "")))
    assert ours == theirs
    model = Net()
    assert model.apply(lambda m: None) is model


def test_apply_initialises_weights_as_in_the_tutorials():
    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.ones_(m.weight)

    model = Net().apply(init_weights)
    assert all((m.weight.numpy() == 1).all() for m in model.modules() if isinstance(m, nn.Linear))


def test_requires_grad_freezes_and_unfreezes_like_pytorch():
    ours, theirs = Net(), TorchNet()
    assert ours.requires_grad_(False) is ours
    theirs.requires_grad_(False)
    assert [p.requires_grad for p in ours.parameters()] == [p.requires_grad for p in theirs.parameters()]
    assert not any(p.requires_grad for p in ours.parameters())
    ours.lin.requires_grad_()
    theirs.lin.requires_grad_()
    assert [p.requires_grad for p in ours.parameters()] == [p.requires_grad for p in theirs.parameters()]
    assert all(not b.requires_grad for b in ours.buffers())


def test_get_submodule():
    model = Net()
    assert model.get_submodule("blocks.2") is model.blocks[2]
    assert model.get_submodule("heads.a") is model.heads["a"]
    assert model.get_submodule("") is model
    with pytest.raises(AttributeError, match="nope"):
        model.get_submodule("blocks.nope")


# -- attribute routing and registration refusals, as PyTorch -----------------------------------------------


def test_assigning_a_tensor_to_a_buffer_name_replaces_the_buffer():
    model = Net()
    model.steps = tg.tensor(5.0)
    assert model.state_dict()["steps"] == 5.0
    assert [b for name, b in model.named_buffers() if name == "steps"][0] is model.steps
    model.steps = None  # an empty slot: dropped from state_dict, as in PyTorch
    assert "steps" not in model.state_dict() and "steps" in dict(Net().state_dict())


def test_refused_assignments_and_registrations_match_pytorch():
    ours, theirs = Net(), TorchNet()
    for target, value in ((ours, 3), (theirs, 3)):
        with pytest.raises(TypeError, match="buffer 'steps'"):
            target.steps = value
    with pytest.raises(TypeError, match="parameter 'weight'"):
        ours.lin.weight = tg.zeros(3, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        theirs.lin.weight = torch.zeros(3, 2)
    with pytest.raises(TypeError, match="child module 'lin'"):
        ours.lin = 3
    for target, make in ((ours, tg.zeros), (theirs, torch.zeros)):
        with pytest.raises(KeyError, match="already exists"):
            target.register_buffer("lin", make(1))  # a child module's name
        target.plain = 5
        with pytest.raises(KeyError, match="already exists"):
            target.register_buffer("plain", make(1))
        with pytest.raises(KeyError):
            target.register_buffer("a.b", make(1))
        with pytest.raises(TypeError):
            target.register_buffer("c", 5)
    # nothing was changed by the refusals
    assert list(ours.state_dict()) == list(TorchNet().state_dict())


def test_a_parameter_assigned_to_a_buffer_name_becomes_a_parameter_as_in_pytorch():
    ours, theirs = nn.Module(), torch.nn.Module()
    ours.register_buffer("b", tg.zeros(2))
    theirs.register_buffer("b", torch.zeros(2))
    ours.b = nn.Parameter(tg.ones(2))
    theirs.b = torch.nn.Parameter(torch.ones(2))
    for target in (ours, theirs):
        assert _names(target.named_parameters()) == ["b"] and _names(target.named_buffers()) == []
    del ours.b
    assert _names(ours.named_parameters()) == [] and "b" not in ours.state_dict()


# -- loading state ------------------------------------------------------------------------------------------


def test_a_pytorch_state_dict_with_buffers_loads_and_values_go_into_the_same_arrays():
    theirs = TorchNet()
    with torch.no_grad():
        for i, tensor in enumerate(theirs.state_dict().values()):
            tensor.copy_(torch.full_like(tensor, i + 1))
    ours = Net()
    optimizer = optim.SGD(ours.parameters(), lr=0.1)
    arrays = {name: t.numpy() for name, t in ours.named_parameters()}
    arrays.update({name: t.numpy() for name, t in ours.named_buffers()})
    result = ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert result == ([], [])
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, theirs.state_dict()[name].numpy(), err_msg=name)
    for name, tensor in [*ours.named_parameters(), *ours.named_buffers()]:  # in place, as PyTorch's copy_
        assert tensor.numpy() is arrays[name], name
    assert ours.norm.num_batches_tracked.dtype == np.int64
    assert optimizer.param_groups[0]["params"][0] is ours.lin.weight


@pytest.mark.parametrize("case", ["missing buffer", "unexpected key", "bad buffer shape"])
def test_a_refused_load_changes_nothing_not_even_buffers(case):
    source = Net()
    for tensor in source.buffers():
        tensor.numpy()[...] = 7
    state = source.state_dict()
    if case == "missing buffer":
        del state["norm.running_var"]
    elif case == "unexpected key":
        state["norm.extra"] = np.zeros(3)
    else:
        state["blocks.2.running_mean"] = np.zeros(4)
    target = Net()
    before = target.state_dict()
    with pytest.raises(RuntimeError, match="nothing was changed"):
        target.load_state_dict(state)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_non_strict_load_reports_missing_buffers_like_pytorch():
    ours, theirs = Net(), TorchNet()
    state = {k: v for k, v in ours.state_dict().items() if not k.endswith("running_var")}
    torch_state = {k: v for k, v in theirs.state_dict().items() if not k.endswith("running_var")}
    missing, unexpected = ours.load_state_dict(state, strict=False)
    torch_result = theirs.load_state_dict(torch_state, strict=False)
    assert missing == torch_result.missing_keys and unexpected == torch_result.unexpected_keys == []


# -- dtypes and devices ------------------------------------------------------------------------------------------


def test_to_dtype_converts_floating_parameters_and_buffers_only_like_pytorch():
    ours, theirs = Net(), TorchNet()
    params = list(ours.parameters())
    optimizer = optim.SGD(params, lr=0.1)
    assert ours.to(tg.float64) is ours
    theirs.to(torch.float64)
    assert [str(b.dtype) for b in ours.buffers()] == [str(b.dtype).replace("torch.", "") for b in theirs.buffers()]
    assert [str(p.dtype) for p in ours.parameters()] == ["float64"] * len(params)
    assert all(a is b for a, b in zip(ours.parameters(), params))  # the same Parameter objects
    assert optimizer.param_groups[0]["params"][0] is ours.lin.weight
    out = ours.lin(tg.randn(4, 2, dtype=tg.float64))
    assert out.dtype == np.float64
    assert ours.float() is ours and ours.lin.weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        ours.to(tg.int64)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_to_another_device_is_a_clear_error(device):
    model = Net()
    with pytest.raises(RuntimeError, match="CPU"):
        model.to(device)
    with pytest.raises(RuntimeError, match="CPU"):
        model.to(device=device)


def test_to_the_cpu_and_cpu_return_the_module_unchanged():
    model = Net()
    before = model.state_dict()
    for moved in (model.to("cpu"), model.to(tg.device("cpu")), model.to(device="cpu"), model.cpu(),
                  model.to("cpu", tg.float32)):
        assert moved is model
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


# -- ModuleDict -----------------------------------------------------------------------------------------------


def test_module_dict_behaves_like_pytorchs():
    ours = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.Linear(1, 2)})
    theirs = torch.nn.ModuleDict({"b": torch.nn.Linear(1, 1), "a": torch.nn.Linear(1, 2)})
    assert list(ours) == list(theirs) == ["b", "a"]  # insertion order, not sorted
    ours["c"] = nn.ReLU()
    theirs["c"] = torch.nn.ReLU()
    ours.update([("d", nn.Tanh())])
    theirs.update([("d", torch.nn.Tanh())])
    assert list(ours.keys()) == list(theirs.keys())
    assert _names(ours.named_parameters()) == _names(theirs.named_parameters())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert isinstance(ours.pop("c"), nn.ReLU) and "c" not in ours and len(ours) == 3
    del ours["d"]
    assert list(ours) == ["b", "a"] and [k for k, _ in ours.items()] == ["b", "a"]
    with pytest.raises(TypeError, match="not a Module"):
        ours["x"] = 3


# -- buffers through everything that saves or restores weights ---------------------------------------------------


class CountingLinear(nn.Module):
    """A Linear(1, 1) that counts its training-mode forward calls in a buffer (and in a non-persistent one)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.register_buffer("calls", tg.zeros(()))
        self.register_buffer("scratch_calls", tg.zeros(()), persistent=False)

    def forward(self, x):
        if self.training:
            with tg.no_grad():
                self.calls += 1
                self.scratch_calls += 1
        return self.lin(x)


def _line():
    return datasets.linear(n=32, seed=0)


def test_a_buffer_changed_in_place_during_training_is_in_every_state_dict():
    tg.manual_seed(0)
    model = CountingLinear()
    x, y = _line()
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3, progress=False)
    assert model.state_dict()["calls"] == 3.0 and model.scratch_calls.item() == 3.0
    assert list(model.state_dict()) == ["calls", "lin.weight", "lin.bias"]


def test_checkpoints_save_buffers_and_resuming_restores_them(tmp_path):
    path = tmp_path / "ckpt.tg"
    tg.manual_seed(0)
    x, y = _line()
    model = CountingLinear()
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
        callbacks=[ModelCheckpoint(path, monitor="train_loss")], progress=False)
    assert tg.load(path)["model"]["calls"] == 2.0
    tg.manual_seed(5)
    resumed = CountingLinear()
    fit(resumed, nn.MSELoss(), optim.SGD(resumed.parameters(), lr=0.1), (x, y), epochs=5, resume_from=path,
        progress=False)
    assert resumed.calls.item() == 5.0  # two from the checkpoint, three more


def test_early_stopping_restores_the_buffers_of_the_best_epoch():
    class Scripted:
        """MSE in training; a fixed validation curve, best at epoch 1 (counted from 0)."""

        def __init__(self, model):
            self.model, self.curve = model, iter([1.0, 0.5, 0.9, 0.9, 0.9])

        def __call__(self, output, target):
            return nn.MSELoss()(output, target) if self.model.training else tg.tensor(next(self.curve))

    tg.manual_seed(0)
    x, y = _line()
    model = CountingLinear()
    stop = EarlyStopping(patience=2, min_delta=0.0)
    history = fit(model, Scripted(model), optim.SGD(model.parameters(), lr=0.1), (x, y), val=(x, y), epochs=5,
                  callbacks=[stop], progress=False)
    assert history.epoch == [0, 1, 2, 3] and stop.best_epoch == 1
    assert model.calls.item() == 2.0  # the count after the best epoch, not after the last (4)


def test_lr_find_restores_persistent_and_non_persistent_buffers():
    tg.manual_seed(0)
    x, y = _line()
    model = CountingLinear()
    model.calls.fill_(10.0)
    before = {name: b.numpy().copy() for name, b in model.named_buffers()}
    result = lr_find(model, nn.MSELoss(), optim.SGD(model.parameters()), (x, y), num_iter=30)
    assert len(result.lrs) > 5  # the sweep did run forward passes ...
    for name, b in model.named_buffers():  # ... and every buffer is back
        np.testing.assert_array_equal(b.numpy(), before[name], err_msg=name)


def test_state_dict_keep_vars_gives_the_tensors_themselves_like_pytorch():
    ours, theirs = Net(), TorchNet()
    kept = ours.state_dict(keep_vars=True)
    assert list(kept) == list(theirs.state_dict(keep_vars=True))
    assert kept["lin.weight"] is ours.lin.weight and kept["norm.running_mean"] is ours.norm.running_mean
    assert list(ours.state_dict(prefix="net.")) == ["net." + key for key in kept]


def test_fit_hands_back_each_modules_own_mode():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.Dropout(0.5), nn.Linear(4, 1))
    model.train()
    model[1].eval()  # a frozen dropout inside a training model
    x, y = _line()
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), (x, y), val=(x, y), epochs=1, progress=False)
    assert [m.training for m in model.modules()] == [True, True, False, True]


@pytest.mark.parametrize("value", [[[1.0, 2.0]], "weights", None, np.array([["a", "b"]])])
def test_load_state_dict_refuses_values_that_are_not_numeric_arrays_and_changes_nothing(value):
    """PyTorch's copy_ takes only a Tensor: a list, a string, None or an array of text is refused, by name."""
    model = tg.nn.Linear(2, 1)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="(?s)nothing was changed.*'weight'"):
        model.load_state_dict({"weight": value, "bias": np.zeros(1, np.float32)})
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
