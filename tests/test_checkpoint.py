"""Gradient checkpointing (tg.utils.checkpoint): the gradients of the plain graph, bit for bit, in less memory.

Every test builds the same computation twice from the same seed, once plainly
and once checkpointed, and compares every gradient with ``np.array_equal``:
the recomputation runs the same operations on the same values, so nothing but
exact equality is acceptable. PyTorch's own ``torch.utils.checkpoint`` on the
same weights is the outside reference, and the memory saving is measured with
``tracemalloc`` (which sees NumPy's array allocations).
"""

from __future__ import annotations

import contextlib
import doctest
import tracemalloc
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn
from tinygrad_edu.utils import checkpoint as ckpt
from tinygrad_edu.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential

REENTRANT = [False, True]


def mlp(dropout=0.0, width=16, depth=3, seed=0):
    tg.manual_seed(seed)
    layers = [nn.Linear(5, width), nn.Tanh()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, 3))
    return nn.Sequential(*layers)


def grads(model, *tensors):
    """Copies of every parameter's and every given tensor's gradient (None where none arrived)."""
    out = [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()]
    return out + [None if t.grad is None else t.grad.numpy().copy() for t in tensors]


def assert_identical(a, b):
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b)):
        assert (x is None) == (y is None), f"gradient {k}: {x is None} vs {y is None}"
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), f"gradient {k} differs: max {np.max(np.abs(x - y))}"


def run(model, x, middle, seed=1):
    """loss of model(x) with model[2:-1] (the middle) run by ``middle(part, h)``; backward; gradients."""
    tg.manual_seed(seed)
    part = nn.Sequential(*list(model.children())[2:-1])
    h = model[1](model[0](x))
    h = middle(part, h)
    loss = (model[-1](h) ** 2).mean()
    loss.backward()
    return grads(model, x), float(loss.item())


@pytest.mark.parametrize("use_reentrant", REENTRANT)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_mlp_gradients_are_the_plain_ones_bit_for_bit(use_reentrant, dropout):
    x = tg.randn(8, 5, requires_grad=True)
    model = mlp(dropout, depth=4)
    plain, plain_loss = run(model, x, lambda part, h: part(h))
    model.zero_grad()
    x.grad = None
    checked, checked_loss = run(model, x, lambda part, h: checkpoint(part, h, use_reentrant=use_reentrant))
    assert plain_loss == checked_loss
    assert_identical(plain, checked)
    assert all(g is not None for g in checked)


def test_dropout_masks_are_redrawn_without_preserve_rng_state_and_the_rng_goes_on_as_plain():
    x = tg.randn(8, 5, requires_grad=True)
    model = mlp(0.5, depth=4)

    def plain_then_draw():
        result = run(model, x, lambda part, h: part(h))
        return result, tg.rand(3).numpy()

    (plain, _), after_plain = plain_then_draw()
    model.zero_grad()
    x.grad = None
    checked, _ = run(model, x, lambda part, h: checkpoint(part, h, use_reentrant=False))
    # The recomputation restored the saved state, then the state the walk found: later draws are unchanged.
    assert np.array_equal(tg.rand(3).numpy(), after_plain)
    assert_identical(plain, checked)
    model.zero_grad()
    x.grad = None
    redrawn, _ = run(model, x, lambda part, h: checkpoint(part, h, use_reentrant=False, preserve_rng_state=False))
    differs = [not np.array_equal(a, b) for a, b in zip(plain, redrawn)]
    assert any(differs)  # other masks in the backward than in the forward: wrong gradients, as in PyTorch


def test_parameters_get_gradients_without_inputs_that_require_grad():
    x = tg.randn(8, 5)  # data: no gradient wanted
    model = mlp()
    plain, _ = run(model, x, lambda part, h: part(h))
    model.zero_grad()
    inputs_free = lambda part, h: checkpoint(lambda z: part(z), h.detach(), use_reentrant=False)  # noqa: E731
    checked, _ = run(model, x, inputs_free)
    # Only the layers inside the checkpoint and after it get gradients (h was detached), and theirs are exact.
    inside = len(list(model[0].parameters()))
    assert all(g is None for g in checked[:inside])
    assert_identical(plain[inside:-1], checked[inside:-1])
    # PyTorch's reentrant rule: no input requires grad -> a warning and no graph.
    model.zero_grad()
    with pytest.warns(UserWarning, match="requires_grad"):
        out = checkpoint(model, x, use_reentrant=True)
    assert not out.requires_grad


def test_several_outputs_non_tensor_arguments_and_keywords():
    tg.manual_seed(0)
    w = tg.randn(4, 4, requires_grad=True)
    b = tg.randn(4, requires_grad=True)
    x = tg.randn(3, 4, requires_grad=True)

    def function(x, scale, mode, nothing, *, shift=0.0):
        assert nothing is None and mode in ("tanh", "sigmoid")
        h = (x @ w) * scale + shift
        act = h.tanh() if mode == "tanh" else h.sigmoid()
        return act, {"sum": act.sum(dim=1), "unused": h * 2}, 7, [x.argmax(dim=1)]

    def loss_of(result):
        act, extra, seven, (idx,) = result
        assert seven == 7 and idx.dtype.kind == "i" and not idx.requires_grad
        return (act * b).sum() + (extra["sum"] ** 2).sum()

    loss_of(function(x, 0.5, "tanh", None, shift=0.1)).backward()
    plain = [w.grad.numpy().copy(), b.grad.numpy().copy(), x.grad.numpy().copy()]
    w.grad = b.grad = x.grad = None
    result = checkpoint(function, x, 0.5, "tanh", None, shift=0.1, use_reentrant=False)
    assert isinstance(result[1], dict) and isinstance(result[3], list)
    assert result[0].grad_fn is result[1]["sum"].grad_fn  # one node stands for the whole call
    loss_of(result).backward()
    assert_identical(plain, [w.grad.numpy(), b.grad.numpy(), x.grad.numpy()])


def test_tensors_in_keywords_and_containers_get_their_gradients():
    tg.manual_seed(0)
    x = tg.randn(3, 4, requires_grad=True)
    bias = tg.randn(4, requires_grad=True)
    pair = [tg.randn(4, requires_grad=True), tg.randn(4, requires_grad=True)]

    def function(x, pair, *, bias):
        return ((x + bias) * pair[0]).tanh() - pair[1] * x

    results = []
    for checkpointed in (False, True):
        for t in (x, bias, *pair):
            t.grad = None
        y = (checkpoint(function, x, pair, bias=bias, use_reentrant=False) if checkpointed
             else function(x, pair, bias=bias))
        (y ** 2).sum().backward()
        results.append([t.grad.numpy().copy() for t in (x, bias, *pair)])
    assert_identical(*results)


def test_captured_tensors_from_the_surrounding_graph():
    """A tensor made outside and captured inside (not an argument) gets its gradient through the outer walk."""
    tg.manual_seed(0)
    x = tg.randn(6, requires_grad=True)
    w = tg.randn(6, requires_grad=True)
    results = []
    for checkpointed in (False, True):
        x.grad = w.grad = None
        scale = (x * w).exp()  # made outside the checkpoint, used inside and outside

        def inside(a, scale=scale):  # captured, not passed: checkpoint sees only `a`
            return (a * scale).sin() * w

        y = checkpoint(inside, x, use_reentrant=False) if checkpointed else inside(x)
        (y.sum() + scale.sum()).backward()
        results.append([x.grad.numpy().copy(), w.grad.numpy().copy()])
    assert_identical(*results)


def test_nested_checkpoints_and_backward_twice():
    x = tg.randn(8, 5, requires_grad=True)
    model = mlp(0.2, depth=5)

    def nested(part, h):
        inner = nn.Sequential(*list(part.children())[2:5])
        head = nn.Sequential(*list(part.children())[:2])
        tail = nn.Sequential(*list(part.children())[5:])
        return checkpoint(lambda z: tail(checkpoint(inner, head(z), use_reentrant=False)), h, use_reentrant=False)

    plain, _ = run(model, x, lambda part, h: part(h))
    model.zero_grad()
    x.grad = None
    checked, _ = run(model, x, nested)
    assert_identical(plain, checked)
    # The graph is kept (as every graph here): a second backward adds the same gradients again.
    model.zero_grad()
    x.grad = None
    tg.manual_seed(1)
    part = nn.Sequential(*list(model.children())[2:-1])
    loss = (model[-1](nested(part, model[1](model[0](x)))) ** 2).mean()
    loss.backward()
    loss.backward()
    assert_identical([None if g is None else g * 2 for g in plain], grads(model, x))


@pytest.mark.parametrize("segments", [1, 2, 3, 4, 9])
@pytest.mark.parametrize("as_list", [False, True])
def test_checkpoint_sequential(segments, as_list):
    tg.manual_seed(0)
    layers = []
    for _ in range(3):
        layers += [nn.Linear(6, 6), nn.Tanh(), nn.Dropout(0.25)]
    model = nn.Sequential(*layers)
    x = tg.randn(4, 6, requires_grad=True)
    tg.manual_seed(5)
    (model(x) ** 2).sum().backward()
    plain = grads(model, x)
    model.zero_grad()
    x.grad = None
    tg.manual_seed(5)
    functions = list(model.children()) if as_list else model
    (checkpoint_sequential(functions, segments, x, use_reentrant=False) ** 2).sum().backward()
    assert_identical(plain, grads(model, x))


def test_against_pytorch_checkpoint():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint as torch_checkpoint

    model = mlp(width=12, depth=4)
    reference = torch.nn.Sequential(*[torch.nn.Linear(m.in_features, m.out_features) if isinstance(m, nn.Linear)
                                      else (torch.nn.Tanh() if isinstance(m, nn.Tanh) else torch.nn.ReLU())
                                      for m in model.children()])
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    data = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    x = tg.tensor(data, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    for use_reentrant in REENTRANT:
        model.zero_grad()
        reference.zero_grad()
        x.grad = xt.grad = None
        ours = checkpoint_sequential(model, 3, x, use_reentrant=use_reentrant)
        theirs = torch.utils.checkpoint.checkpoint_sequential(reference, 3, xt, use_reentrant=use_reentrant)
        mid = checkpoint(lambda a: a.tanh() * 2, ours, use_reentrant=use_reentrant)
        mid_t = torch_checkpoint(lambda a: a.tanh() * 2, theirs, use_reentrant=use_reentrant)
        (mid ** 2).sum().backward()
        (mid_t ** 2).sum().backward()
        np.testing.assert_allclose(mid.numpy(), mid_t.detach().numpy(), rtol=1e-5, atol=1e-6)
        for p, q in zip(list(model.parameters()) + [x], list(reference.parameters()) + [xt]):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_against_pytorch_checkpoint_with_dropout():
    """Dropout inside both libraries' checkpoints: the same masks in forward and recomputation, the same gradients."""
    torch = pytest.importorskip("torch")
    from tests.test_torch_streams import _intel_cpu

    if _intel_cpu():
        pytest.skip("PyTorch uses MKL's bernoulli on Intel CPUs")
    model = mlp(dropout=0.4, width=12, depth=3)
    reference = torch.nn.Sequential(*[
        torch.nn.Linear(m.in_features, m.out_features) if isinstance(m, nn.Linear)
        else torch.nn.Dropout(m.p) if isinstance(m, nn.Dropout)
        else torch.nn.Tanh() if isinstance(m, nn.Tanh) else torch.nn.ReLU() for m in model.children()])
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    data = np.random.default_rng(1).normal(size=(9, 5)).astype(np.float32)
    for use_reentrant in REENTRANT:
        model.zero_grad()
        reference.zero_grad()
        x, xt = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        tg.manual_seed(4)
        torch.manual_seed(4)
        ours = checkpoint_sequential(model, 2, x, use_reentrant=use_reentrant)
        theirs = torch.utils.checkpoint.checkpoint_sequential(reference, 2, xt, use_reentrant=use_reentrant)
        (ours ** 2).sum().backward()
        (theirs ** 2).sum().backward()
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
        for p, q in zip(list(model.parameters()) + [x], list(reference.parameters()) + [xt]):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)
        # Both libraries' generators went on from the same place.
        np.testing.assert_array_equal(tg.rand(4).numpy(), torch.rand(4).numpy())


def test_context_fn_and_no_grad():
    entered = []

    @contextlib.contextmanager
    def mark(name):
        entered.append(name)
        yield

    x = tg.randn(3, requires_grad=True)
    y = checkpoint(lambda a: a.exp(), x, use_reentrant=False,
                   context_fn=lambda: (mark("forward"), mark("recompute")))
    assert entered == ["forward"]
    y.sum().backward()
    assert entered == ["forward", "recompute"]
    np.testing.assert_array_equal(x.grad.numpy(), x.exp().numpy())
    with tg.no_grad():
        z = checkpoint(lambda a: a.exp(), x, use_reentrant=False)
    assert not z.requires_grad and z.grad_fn is None


def test_in_place_changes_before_backward_are_refused():
    x = tg.randn(4, requires_grad=True)
    h = x * 1.0
    w = tg.randn(4, requires_grad=True)
    y = checkpoint(lambda a: (a * w).tanh(), h, use_reentrant=False)
    with tg.no_grad():
        w.add_(1.0)  # an optimizer step before backward: the recomputation would use the new weights
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()
    y = checkpoint(lambda a: (a * w).tanh(), h, use_reentrant=True)
    h.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_a_recomputation_that_differs_is_caught():
    calls = []

    def moody(a):
        calls.append(1)
        return a[: len(calls) + 1] * 2  # a different shape each time it runs

    x = tg.randn(5, requires_grad=True)
    y = checkpoint(moody, x, use_reentrant=False, debug=True)
    with pytest.raises(CheckpointError, match="recomputation"):
        y.sum().backward()
    count = []

    def drifting(a):  # the same shapes, other values each run: only values change, which no check sees
        count.append(1)
        return a * float(len(count))

    y = checkpoint(drifting, x, use_reentrant=False, determinism_check="none")
    y.sum().backward()
    assert y.numpy().tolist() == x.numpy().tolist()  # the forward ran with factor 1
    assert x.grad.numpy().tolist() == [2.0] * 5  # the gradient is the recomputation's: factor 2 (PyTorch's warning)


def test_bad_arguments():
    x = tg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="keyword"):
        checkpoint(lambda a, k=1: a * k, x, k=2, use_reentrant=True)
    with pytest.raises(ValueError, match="context_fn"):
        checkpoint(lambda a: a, x, use_reentrant=True, context_fn=lambda: (contextlib.nullcontext(),) * 2)
    with pytest.raises(ValueError, match="context_fn"):
        checkpoint(lambda a: a, x, use_reentrant=True, debug=True)
    with pytest.raises(ValueError, match="determinism_check"):
        checkpoint(lambda a: a, x, use_reentrant=False, determinism_check="strict")
    with pytest.raises(TypeError, match="callable"):
        checkpoint(3, x, use_reentrant=False)
    with pytest.warns(UserWarning, match="use_reentrant"):
        checkpoint(lambda a: a * 2, x)
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    for segments in (0, 3, 1.5):
        with pytest.raises(ValueError, match="segments"):
            checkpoint_sequential(model, segments, x, use_reentrant=False)
    with pytest.raises(ValueError, match="keyword"):
        checkpoint_sequential(model, 1, x, use_reentrant=False, debug=True)
    with pytest.raises(TypeError, match="callable"):
        checkpoint_sequential([model, 4], 1, x, use_reentrant=False)


# -- memory ----------------------------------------------------------------------------------------


def _measure(step):
    """(bytes held after the forward pass, peak bytes during forward + backward), NumPy arrays included."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        loss = step()
        held = tracemalloc.get_traced_memory()[0] - base
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return held, peak


def test_checkpointing_measurably_saves_graph_memory():
    depth, batch, width = 32, 512, 64  # activations (128 KiB a layer) dominate the weights (16 KiB)
    tg.manual_seed(0)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    model = nn.Sequential(*layers)
    x = tg.randn(batch, width)
    for p in model.parameters():  # gradients allocated up front, so both runs start alike
        p.grad = tg.zeros_like(p)

    def plain():
        return (model(x) ** 2).mean()

    def checkpointed():
        return (checkpoint_sequential(model, 8, x, use_reentrant=False) ** 2).mean()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain_held, plain_peak = _measure(plain)
        plain_grads = [p.grad.numpy().copy() for p in model.parameters()]
        model.zero_grad(set_to_none=False)
        ckpt_held, ckpt_peak = _measure(checkpointed)
    activation = batch * width * 4
    print(f"\ngraph memory of a {depth}-layer tanh MLP, batch {batch}, width {width} "
          f"(one activation = {activation / 1024:.0f} KiB):\n"
          f"  held after forward: plain {plain_held / 2**20:.2f} MiB, checkpointed (8 segments) "
          f"{ckpt_held / 2**20:.2f} MiB, ratio {plain_held / ckpt_held:.1f}\n"
          f"  peak forward+backward: plain {plain_peak / 2**20:.2f} MiB, checkpointed "
          f"{ckpt_peak / 2**20:.2f} MiB, ratio {plain_peak / ckpt_peak:.1f}")
    # Plain keeps about two activations per layer (the matmul's input, tanh's output); checkpointed keeps the
    # 7 segment inputs and the last segment's graph (4 layers).
    assert plain_held > 1.5 * depth * activation
    assert plain_held > 3 * ckpt_held
    assert plain_peak > 2 * ckpt_peak
    assert_identical(plain_grads, [p.grad.numpy() for p in model.parameters()])


def test_docstring_examples():
    result = doctest.testmod(ckpt, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
    assert tg.utils.checkpoint.checkpoint is checkpoint
