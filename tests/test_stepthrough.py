"""Step-through backprop (`tg.backward_steps`) and the per-node gradient check (`tg.gradcheck_nodes`).

The trace must replay ``backward()`` exactly — same order, same numbers to the
last bit — while leaving every ``.grad`` alone; the per-node check must name
exactly the operation whose backward is wrong, inside a larger correct graph.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, ops
from tinygrad_edu.gradcheck import GradcheckError
from tinygrad_edu.stepthrough import BackwardStep, InputGradient, NodeGradcheckError
from tinygrad_edu.tensor import _apply

# -- graphs to replay ----------------------------------------------------------------------------------


def _mlp_loss(dtype):
    tg.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4))
    for p in model.parameters():
        p.data = p.numpy().astype(dtype)
    x = tg.randn(6, 3, dtype=dtype)
    y = tg.tensor([0, 1, 2, 3, 0, 1])
    loss = nn.functional.cross_entropy(model(x), y) + 0.01 * sum((p ** 2).sum() for p in model.parameters())
    return loss, list(model.parameters())


def _broadcast_loss(dtype):
    tg.manual_seed(2)
    x = tg.randn(4, 3, dtype=dtype, requires_grad=True)
    w = tg.randn(3, dtype=dtype, requires_grad=True)
    b = tg.tensor(0.5, dtype=dtype, requires_grad=True)
    col = tg.randn(4, 1, dtype=dtype, requires_grad=True)
    h = (x * w + b).tanh()
    loss = (h * h).mean() + (h * col).sum() + (w ** 2).sum() * 0.1 + x[1:, :2].exp().sum()
    return loss, [x, w, b, col]


def _shared_loss(dtype):
    x = tg.tensor([0.5, -1.0, 2.0], dtype=dtype, requires_grad=True)
    a = x * 2.0
    c = x.exp()
    d = a * c + x  # x reaches d along three paths
    return (d * d).sum(), [x]


GRAPHS = [_mlp_loss, _broadcast_loss, _shared_loss]


@pytest.mark.parametrize("make", GRAPHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_totals_equal_backward_bit_for_bit(make, dtype):
    loss, leaves = make(dtype)
    trace = tg.backward_steps(loss)
    loss.backward()
    assert set(map(id, trace.totals)) == {id(p) for p in leaves if p.grad is not None}
    for p in leaves:
        assert trace.totals[p].dtype == p.grad.numpy().dtype
        np.testing.assert_array_equal(trace.totals[p], p.grad.numpy())


def test_totals_with_a_gradient_argument_and_an_optimizer_buffer():
    tg.manual_seed(3)
    w = tg.randn(3, 2, requires_grad=True)
    tg.optim.Adam([w])  # w's gradient now lands in the optimizer's flat buffer
    out = w.sigmoid() * 3.0
    seed = np.arange(6.0).reshape(3, 2)
    trace = tg.backward_steps(out, gradient=seed)
    out.backward(seed)
    np.testing.assert_array_equal(trace.totals[w], w.grad.numpy())


def test_the_walk_touches_no_grad():
    loss, leaves = _broadcast_loss(np.float64)
    x = leaves[0]
    x.grad = tg.ones(4, 3, dtype=np.float64)
    hidden = loss._ctx.parents[0]
    hidden.retain_grad()
    before = [None if p.grad is None else p.grad.numpy().copy() for p in leaves]
    first = tg.backward_steps(loss)
    second = tg.backward_steps(loss)
    for p, old in zip(leaves, before):
        if old is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad.numpy(), old)
    assert hidden.grad is None
    for p in leaves:  # the same numbers every time: nothing was consumed or changed
        np.testing.assert_array_equal(first.totals[p], second.totals[p])
    loss.backward()  # the graph is still usable, and .grad accumulates on top of what was there
    # (added path by path onto the 1.0 already there, so equal up to the rounding of that order)
    np.testing.assert_allclose(x.grad.numpy(), 1.0 + first.totals[x], rtol=1e-15, atol=0)


def test_steps_follow_backwards_creation_order_once_per_node():
    loss, _ = _mlp_loss(np.float64)
    trace = tg.backward_steps(loss)
    seqs = [step.seq for step in trace]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    assert trace[0].tensor is loss and trace[0].seq == loss._seq
    # every recorded node of the graph is visited
    nodes, stack = set(), [loss]
    while stack:
        t = stack.pop()
        if t._ctx is not None and id(t) not in nodes:
            nodes.add(id(t))
            stack.extend(t._ctx.parents)
    assert {id(step.tensor) for step in trace} == nodes


def test_each_step_records_grad_out_the_rule_and_what_it_sends():
    tg.manual_seed(4)
    x = tg.randn(3, requires_grad=True, dtype=np.float64)
    h = x.tanh()
    h.retain_grad()
    z = h * x
    z.retain_grad()
    loss = z.sum()
    trace = tg.backward_steps(loss, names={"x": x, "h": h, "z": z, "loss": loss})
    loss.backward()
    ops_seen = [step.op for step in trace]
    assert ops_seen == ["Sum", "Mul", "Tanh"]
    mul = trace[1]
    assert isinstance(mul, BackwardStep) and mul.label == "z = Mul#" + str(z._seq)
    np.testing.assert_array_equal(mul.grad_out, z.grad.numpy())
    np.testing.assert_array_equal(trace[2].grad_out, h.grad.numpy())
    np.testing.assert_array_equal(trace.grad_of(h), h.grad.numpy())
    np.testing.assert_array_equal(trace.grad_of("z"), z.grad.numpy())
    assert mul.rule == inspect.getdoc(ops.Mul).splitlines()[0] == "out = a * b;  d/da = b, d/db = a."
    assert [inp.label for inp in mul.inputs] == ["h", "x"]
    assert all(isinstance(inp, InputGradient) for inp in mul.inputs)
    np.testing.assert_array_equal(mul.inputs[0].grad, z.grad.numpy() * x.numpy())  # d/da = b
    np.testing.assert_array_equal(mul.inputs[1].grad, z.grad.numpy() * h.numpy())  # d/db = a


def test_unbroadcast_is_reported_with_its_summed_axes():
    b = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = tg.tensor([[2.0], [3.0]], requires_grad=True)
    x = tg.ones(2, 3)
    trace = tg.backward_steps((x * b + c).sum(), names={"b": b, "c": c})
    add = next(step for step in trace if step.op == "Add")
    sent = {inp.label: inp for inp in add.inputs}
    assert sent["c"].broadcast_shape == (2, 3) and sent["c"].summed_axes == (1,)
    np.testing.assert_array_equal(sent["c"].grad, [[3.0], [3.0]])
    mul = next(step for step in trace if step.op == "Mul")
    to_b = next(inp for inp in mul.inputs if inp.label == "b")
    assert to_b.summed_axes == (0,) and to_b.shape == (3,)
    np.testing.assert_array_equal(to_b.grad, [2.0, 2.0, 2.0])
    assert "unbroadcast: summed axes (0,) of (2, 3) -> (3,)" in to_b.note
    constant = next(inp for inp in mul.inputs if inp.label == "constant")
    assert constant.grad is None and constant.contribution == 0


def test_accumulation_events_show_the_running_total():
    loss, (x,) = _shared_loss(np.float64)
    trace = tg.backward_steps(loss, names={"x": x})
    arrivals = [inp for step in trace for inp in step.inputs if inp.label == "x"]
    assert [inp.contribution for inp in arrivals] == [1, 2, 3]
    np.testing.assert_array_equal(arrivals[1].running_total, arrivals[0].grad + arrivals[1].grad)
    np.testing.assert_array_equal(arrivals[2].running_total, arrivals[1].running_total + arrivals[2].grad)
    np.testing.assert_array_equal(arrivals[2].running_total, trace.totals[x])
    assert "x receives a second contribution; running total = " in arrivals[1].note
    assert "x receives a third contribution" in arrivals[2].note
    # an intermediate tensor used twice (d * d) is reported the same way
    square = trace[1]
    assert square.op == "Mul" and [inp.contribution for inp in square.inputs] == [1, 2]
    assert square.accumulations == [square.inputs[1]]


def test_a_leaf_root_and_the_errors():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    trace = tg.backward_steps(w, gradient=[3.0, 4.0])
    assert len(trace) == 0
    np.testing.assert_array_equal(trace.totals[w], [3.0, 4.0])
    with pytest.raises(RuntimeError, match="scalar"):
        tg.backward_steps(w * 2)
    with pytest.raises(tg.ShapeError, match="gradient has shape"):
        tg.backward_steps(w * 2, gradient=[1.0])
    with pytest.raises(RuntimeError, match="requires grad"):
        tg.backward_steps(tg.tensor([1.0]) * 2)
    with pytest.raises(TypeError, match="names"):
        tg.backward_steps((w * 2).sum(), names={"w": np.ones(2)})
    with pytest.raises(TypeError):
        tg.backward_steps(np.ones(2))
    trace = tg.backward_steps((w * 2).sum())
    with pytest.raises(IndexError, match="2 steps"):
        trace.step(5)
    with pytest.raises(KeyError):
        trace.grad_of("nothing")


def test_iteration_and_one_step_at_a_time():
    loss, _ = _broadcast_loss(np.float32)
    trace = tg.backward_steps(loss)
    assert list(trace) == trace.steps and len(trace) == len(trace.steps) > 5
    assert trace.step(0) is trace[0] and trace.step(-1) is trace[len(trace) - 1]
    assert [step.index for step in trace] == list(range(len(trace)))
    text = str(trace.step(2))
    assert text.startswith("step 2: ") and "grad_out = " in text and "rule: " in text


def test_printing_small_and_large_arrays():
    loss, leaves = _broadcast_loss(np.float64)
    x, w, b, col = leaves
    trace = tg.backward_steps(loss, names={"x": x, "w": w, "b": b, "col": col, "loss": loss})
    text = str(trace)
    assert text.startswith("Backward pass from loss (shape ()), seed dL/dloss = 1")
    assert "w receives a second contribution; running total = [" in text
    assert "unbroadcast: summed axes" in text
    assert "Total gradient of each leaf" in text
    assert "rule: out = tanh(x);  d/dx = 1 - tanh(x)**2 = 1 - out**2." in text
    assert "<BackwardTrace from loss" in repr(trace)
    html = trace._repr_html_()
    assert html.count("<table>") == 2 and "receives a second contribution" in html
    assert "<table>" in trace.step(0)._repr_html_()
    big = tg.randn(50, 40, requires_grad=True)
    big_trace = tg.backward_steps((big * 2.0).sum(), names={"big": big})
    assert "shape (50, 40), mean 2, norm 89.44" in str(big_trace)
    small = str(tg.backward_steps((w * 3.0).sum(), names={"w": w}))
    assert "[3., 3., 3.]" in small


# -- the per-node gradient check --------------------------------------------------------------------


class WrongExp(ops.Exp):
    """out = exp(x);  deliberately wrong: d/dx = 2 exp(x)."""

    def backward(self, grad_out):
        return (2 * grad_out * self.out,)


class WrongMulB(ops.Mul):
    """out = a * b;  deliberately wrong: d/db = a + 1."""

    def backward(self, grad_out):
        need_a, need_b = self.needs_input_grad
        return (grad_out * self.b if need_a else None, grad_out * (self.a + 1) if need_b else None)


def _inputs():
    tg.manual_seed(5)
    x = tg.randn(4, 3, requires_grad=True)
    w = tg.randn(3, 2, requires_grad=True)
    bias = tg.randn(2, requires_grad=True)
    return x, w, bias


def _model(x, w, bias, bad=None):
    h = (x @ w + bias).tanh()
    if bad == "exp":
        e = _apply(WrongExp, h)
    else:
        e = h.exp()
    scaled = _apply(WrongMulB, e, bias) if bad == "mul" else e * bias
    logits = tg.cat([scaled, h[:, :1]], dim=1)
    return nn.functional.cross_entropy(logits, tg.tensor([0, 1, 2, 1])) + (w ** 2).mean() + logits.softmax(-1)[0, 0]


def test_a_correct_graph_passes_at_every_node():
    x, w, bias = _inputs()
    report = tg.gradcheck_nodes(_model, x, w, bias, names={"x": x, "w": w, "bias": bias})
    assert report.ok and report.failed == [] and len(report) >= 10
    assert all(node.ok and node.inputs for node in report)
    assert {"MatMul", "Tanh", "Exp", "Mul", "Cat", "GetItem", "LogSoftmax", "NLLLoss", "Softmax"} <= \
        {node.op for node in report}
    assert [node.seq for node in report] == sorted(node.seq for node in report)  # forward order
    report.raise_if_failed()  # nothing to raise
    assert "all " in report.summary() and " nodes agree with finite differences" in report.summary()
    text = str(report)
    assert "FAILED" not in text and text.count(" ok ") >= len(report) - 1
    matmul = next(node for node in report if node.op == "MatMul")
    assert [inp.label for inp in matmul.inputs] == ["x", "w"]


@pytest.mark.parametrize("bad, op", [("exp", "WrongExp"), ("mul", "WrongMulB")])
def test_a_wrong_backward_is_pinned_to_its_operation(bad, op):
    x, w, bias = _inputs()
    with pytest.raises(GradcheckError):  # the whole-function check only says that something is wrong
        tg.gradcheck(lambda *a: _model(*a, bad=bad), x, w, bias)
    report = tg.gradcheck_nodes(lambda *a: _model(*a, bad=bad), x, w, bias, names={"x": x, "w": w, "bias": bias})
    assert not report.ok
    assert [node.op for node in report.failed] == [op]  # exactly that node; the rest of the graph passes
    assert sum(node.ok for node in report) == len(report) - 1
    failed = report.failed[0]
    if bad == "mul":  # only its second input's rule is wrong
        assert [inp.ok for inp in failed.inputs] == [True, False] and failed.inputs[1].label == "bias"
    worst = [inp for inp in failed.inputs if not inp.ok][0]
    assert abs(worst.analytic - worst.numeric) == pytest.approx(worst.max_error)
    text = str(report)
    assert "FAILED" in text and f"wrong backward in {op}" in text
    with pytest.raises(NodeGradcheckError, match=f"wrong backward in {op} "):
        report.raise_if_failed()
    with pytest.raises(AssertionError, match=op):
        tg.gradcheck_nodes(lambda *a: _model(*a, bad=bad), x, w, bias, raise_on_failure=True)
    assert "FAILED" in report._repr_html_()


def test_the_check_leaves_the_operations_as_they_were():
    originals = {cls: cls.__dict__["forward"] for cls in (ops.Exp, ops.Mul, ops.MatMul, WrongExp)
                 if "forward" in cls.__dict__}
    x, w, bias = _inputs()
    tg.gradcheck_nodes(_model, x, w, bias)

    def broken(x, w, bias):
        x.exp()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        tg.gradcheck_nodes(broken, x, w, bias)
    for cls, forward in originals.items():
        assert cls.__dict__["forward"] is forward
    assert x.grad is None and w.grad is None  # nothing is accumulated into the caller's tensors


def test_nodes_built_outside_fn_are_skipped_and_errors():
    x = tg.randn(3, requires_grad=True)
    outside = x.exp()
    report = tg.gradcheck_nodes(lambda t: (t * outside).sum(), x)
    skipped = [node for node in report if node.skipped]
    assert [node.op for node in skipped] == ["Exp"] and report.ok
    assert "skipped" in str(report)
    with pytest.raises(ValueError, match="no node"):
        tg.gradcheck_nodes(lambda t: t, x)
    with pytest.raises(TypeError, match="must return a Tensor"):
        tg.gradcheck_nodes(lambda t: 1.0, x)
    with pytest.raises(ValueError, match="eps"):
        tg.gradcheck_nodes(lambda t: t.sum(), x, eps=0)
    with pytest.raises(ValueError, match="names"):
        tg.gradcheck_nodes(lambda t: t.sum(), x, names={"y": tg.ones(2)})
