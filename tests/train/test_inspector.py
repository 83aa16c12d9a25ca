"""tg.train.Inspector: recorded statistics against NumPy and PyTorch by hand, when it records, bounds, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.train import Inspector

torch = pytest.importorskip("torch")

LR = 0.1


def small_net() -> nn.Module:
    """Linear -> Tanh -> Linear -> ReLU -> Linear -> Sigmoid, float64, fixed weights: some tanh units saturated,
    one ReLU unit dead (bias -100), one bias left at zero."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid())
    model.double()
    state = {name: rng.standard_normal(value.shape) for name, value in model.state_dict().items()}
    state["0.weight"] *= 3.0  # pushes some tanh outputs past 0.97
    state["2.bias"][1] = -100.0  # unit 1 of the ReLU is dead for every sample
    state["4.bias"][:] = 0.0  # a zero bias: its update ratio is nan
    model.load_state_dict(state)
    return model


def batch() -> tuple[tg.Tensor, tg.Tensor]:
    rng = np.random.default_rng(1)
    return (tg.tensor(rng.standard_normal((8, 3)), dtype=np.float64),
            tg.tensor(rng.uniform(0, 1, (8, 1)), dtype=np.float64))


def by_hand(model: nn.Module, x: np.ndarray, y: np.ndarray) -> dict:
    """The same statistics from NumPy (activations) and PyTorch (gradients), for one SGD step."""
    w = {name: torch.tensor(value, requires_grad=True) for name, value in model.state_dict().items()}
    xt = torch.tensor(x)
    h0 = xt @ w["0.weight"].T + w["0.bias"]
    a1 = torch.tanh(h0)
    h2 = a1 @ w["2.weight"].T + w["2.bias"]
    a3 = torch.relu(h2)
    h4 = a3 @ w["4.weight"].T + w["4.bias"]
    a5 = torch.sigmoid(h4)
    loss = ((a5 - torch.tensor(y)) ** 2).mean()
    loss.backward()
    outputs = {"0": h0, "1": a1, "2": h2, "3": a3, "4": h4, "5": a5}
    acts = {}
    for name, out in outputs.items():
        v = out.detach().numpy()
        acts[name] = {"mean": v.mean(), "std": v.std(ddof=1),
                      "saturated": (np.mean(np.abs(v) > 0.97) if name == "1" else
                                    np.mean((v < 0.03) | (v > 0.97)) if name == "5" else math.nan),
                      "dead": np.mean(~(v != 0).any(axis=0)) if name == "3" else math.nan}
    grads, ratios = {}, {}
    for name, param in w.items():
        g = param.grad.numpy()
        grads[name] = {"mean": g.mean(), "std": g.std(ddof=1) if g.size > 1 else math.nan,  # torch: nan
                       "norm": np.sqrt((g ** 2).sum())}
        weight = param.detach().numpy()
        ratios[name] = math.log10((LR * g).std() / weight.std()) if weight.std() > 0 else math.nan
    return {"activations": acts, "gradients": grads, "ratios": ratios}


def one_step(model, insp, x, y, optimizer):
    loss = nn.MSELoss()(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    insp.before_step()
    optimizer.step()
    insp.after_step()


# -- the statistics, by hand -----------------------------------------------------------------------------


def test_recorded_statistics_match_numpy_and_pytorch_by_hand():
    model = small_net()
    x, y = batch()
    expected = by_hand(model, x.numpy(), y.numpy())
    insp = Inspector(model, every=1)
    with insp:
        one_step(model, insp, x, y, optim.SGD(model.parameters(), lr=LR))
    assert insp.steps.tolist() == [0]
    assert insp.layers == ["0", "1", "2", "3", "4", "5"]
    assert insp.kinds == {"0": "linear", "1": "tanh", "2": "linear", "3": "relu", "4": "linear", "5": "sigmoid"}
    assert insp.params == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    for layer, stats in expected["activations"].items():
        for stat, value in stats.items():
            got = insp.activations[layer][stat]
            assert got.shape == (1,)
            np.testing.assert_allclose(got[0], value, rtol=1e-12, atol=1e-15, err_msg=f"{layer} {stat}")
    # The fixed weights do what they were set up to do: the rules are exercised, not just nan == nan.
    assert 0 < insp.activations["1"]["saturated"][0] < 1
    assert insp.activations["3"]["dead"][0] >= 0.25  # unit 1 of 4, at least
    for param, stats in expected["gradients"].items():
        for stat, value in stats.items():
            np.testing.assert_allclose(insp.gradients[param][stat][0], value, rtol=1e-10, err_msg=f"{param} {stat}")
    for param, value in expected["ratios"].items():
        got = insp.update_ratios[param][0]
        if math.isnan(value):
            assert math.isnan(got) and param == "4.bias"  # std(weight) == 0: documented nan
        else:
            np.testing.assert_allclose(got, value, rtol=1e-9, err_msg=param)


def test_last_samples_hold_the_last_output_and_gradient():
    model = small_net()
    x, y = batch()
    expected = by_hand(model, x.numpy(), y.numpy())
    w = model.state_dict()
    tanh = np.tanh(x.numpy() @ w["0.weight"].T + w["0.bias"])
    insp = Inspector(model, every=1)
    with insp:
        one_step(model, insp, x, y, optim.SGD(model.parameters(), lr=LR))
    np.testing.assert_allclose(insp.last_activations["1"], tanh.ravel(), rtol=1e-12)  # 40 values <= 4096: all
    assert set(insp.last_gradients) == set(insp.params)
    assert insp.last_gradients["2.weight"].shape == (20,)
    np.testing.assert_allclose(np.linalg.norm(insp.last_gradients["2.weight"]),
                               expected["gradients"]["2.weight"]["norm"], rtol=1e-10)


def test_a_sample_is_bounded_strided_and_visits_every_column():
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU())
    insp = Inspector(model, every=1, sample=100)
    x = tg.randn(50, 4)
    with insp:
        out = model(x)
        insp.after_step()
    values = out.numpy()
    sample = insp.last_activations["1"]
    assert 0 < sample.size <= 100
    stride = -(-values.size // 100)  # 32: shares factors with 64 columns, so it is moved to 33
    assert stride == 32
    np.testing.assert_array_equal(sample, values.reshape(-1)[::33])
    assert len(set(np.arange(0, values.size, 33) % 64)) > 32  # not 2 columns out of 64
    assert sample.dtype == values.dtype  # float32: a float sample keeps its dtype


# -- when it records ---------------------------------------------------------------------------------------


def test_every_k_steps_records_steps_0_k_2k_and_skips_the_others(monkeypatch):
    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=3)
    calls = []
    original = insp._record_activation
    monkeypatch.setattr(insp, "_record_activation", lambda i, out: (calls.append(insp._step), original(i, out)))
    optimizer = optim.SGD(model.parameters(), lr=LR)
    hooked = []
    with insp:
        for _ in range(7):
            hooked.append(len(model[1]._forward_hooks))  # the hooks are there only for a recorded step
            one_step(model, insp, x, y, optimizer)
    assert hooked == [1, 0, 0, 1, 0, 0, 1]
    assert len(model[1]._forward_hooks) == 0
    assert insp.steps.tolist() == [0, 3, 6]
    assert sorted(set(calls)) == [0, 3, 6]  # the hooks did nothing on the other steps
    assert insp.update_ratios["0.weight"].shape == (3,)
    assert np.isfinite(insp.gradients["0.weight"]["norm"]).all()


def test_eval_and_no_grad_forwards_are_not_recorded():
    model = small_net()
    x, y = batch()
    reference = Inspector(model, every=1)
    with reference:
        model(x)
        reference.after_step()
    insp = Inspector(model, every=1)
    with insp:
        model(x)
        with tg.no_grad():
            model(x * 10)
        model.eval()
        model(x * 10)
        model.train()
        insp.after_step()
    for layer in insp.layers:
        np.testing.assert_array_equal(insp.activations[layer]["mean"], reference.activations[layer]["mean"])


def test_in_fit_validation_is_not_mixed_in_and_accumulated_batches_are_pooled():
    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=1)
    train = [(x[:4], y[:4]), (x[4:], y[4:])]
    history = tg.train.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.0), train, val=(x * 5, y),
                           accumulate=2, callbacks=[insp], progress=False)
    assert insp.steps.tolist() == [0]  # one optimizer step from two batches
    h = x.numpy() @ model[0].weight.numpy().T + model[0].bias.numpy()  # lr 0: the weights did not move
    np.testing.assert_allclose(insp.activations["0"]["mean"][0], h.mean(), rtol=1e-12)
    np.testing.assert_allclose(insp.activations["0"]["std"][0], h.std(ddof=1), rtol=1e-12)
    assert insp.update_ratios["0.weight"][0] == -math.inf  # the weight did not move
    assert history.inspector is insp


def test_a_module_called_twice_is_pooled_over_its_calls():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.b = nn.Linear(4, 4)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.b(self.act(self.a(x))))

    tg.manual_seed(0)
    model = Shared().double()
    model.a.bias.data.fill_(-100.0)  # the first call's output is all zero: 4 dead units of 8
    x, _ = batch()
    insp = Inspector(model, every=1, layers=["act"])
    with insp:
        model(x)
        insp.after_step()
    first = np.maximum(x.numpy() @ model.a.weight.numpy().T + model.a.bias.numpy(), 0)
    second = np.maximum(first @ model.b.weight.numpy().T + model.b.bias.numpy(), 0)
    both = np.concatenate([first.ravel(), second.ravel()])
    np.testing.assert_allclose(insp.activations["act"]["mean"][0], both.mean(), rtol=1e-12)
    np.testing.assert_allclose(insp.activations["act"]["std"][0], both.std(ddof=1), rtol=1e-12)
    dead = (~(first != 0).any(axis=0)).sum() + (~(second != 0).any(axis=0)).sum()
    assert insp.activations["act"]["dead"][0] == dead / 8 and dead >= 4


def test_layers_follow_the_forward_call_order_and_params_follow_them():
    class Backwards(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(4, 1)  # registered first, called last
            self.body = nn.Linear(3, 4)

        def forward(self, x):
            return self.head(self.body(x).tanh())

    model = Backwards()
    insp = Inspector(model, every=1)
    assert insp.layers == ["head", "body"] and insp.params[0] == "head.weight"  # before any forward
    with insp:
        nn.MSELoss()(model(tg.randn(5, 3)), tg.randn(5, 1)).backward()
        insp.before_step()
        insp.after_step()
    assert insp.layers == ["body", "head"]
    assert insp.params == ["body.weight", "body.bias", "head.weight", "head.bias"]
    assert list(insp.activations) == ["body", "head"] and list(insp.gradients) == insp.params


def test_a_layer_holding_others_comes_before_them_as_its_call_begins():
    # MultiheadAttention holds in_proj_weight (used first) and out_proj (used last); its forward hook fires last.
    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 4)
            self.att = nn.MultiheadAttention(4, 2, batch_first=True)
            self.fc = nn.Linear(4, 5)

        def forward(self, x):
            e = self.emb(x)
            return self.fc(self.att(e, e, e, need_weights=False)[0])

    model = Attend()
    insp = Inspector(model, every=1)
    with insp:
        model(tg.tensor([[1, 2, 3]])).sum().backward()
        insp.before_step()
        insp.after_step()
    assert insp.layers == ["emb", "att", "att.out_proj", "fc"]
    assert insp.params == ["emb.weight", "att.in_proj_weight", "att.in_proj_bias", "att.out_proj.weight",
                           "att.out_proj.bias", "fc.weight", "fc.bias"]
    out, _ = model.att(model.emb(tg.tensor([[1, 2, 3]])), *[model.emb(tg.tensor([[1, 2, 3]]))] * 2)
    np.testing.assert_allclose(insp.activations["att"]["mean"][0], out.numpy().mean(), rtol=1e-6)


def test_the_ring_keeps_the_last_history_steps_in_order():
    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=1, history=3)
    optimizer = optim.SGD(model.parameters(), lr=LR)
    norms = []
    with insp:
        for _ in range(7):
            one_step(model, insp, x, y, optimizer)
            norms.append(insp.gradients["4.weight"]["norm"][-1])
    assert insp.steps.tolist() == [4, 5, 6]
    np.testing.assert_array_equal(insp.gradients["4.weight"]["norm"], norms[4:])
    assert insp._act.shape[0] == 3  # bounded: the ring, not a list growing with the steps


@pytest.mark.parametrize("batch_first", [False, True])
def test_a_relu_rnn_counts_its_hidden_units_as_the_units(batch_first):
    # Dimension 0 of an RNN's output is time unless batch_first: a unit is a hidden unit, dead when zero for every
    # sample at every step. Unit 0 never fires (bias -100); unit 1 fires only for samples 4-7 (x0 > 0): alive.
    tg.manual_seed(0)
    rnn = nn.RNN(3, 5, nonlinearity="relu", batch_first=batch_first)
    with tg.no_grad():
        rnn.bias_ih_l0.data[0] = -100.0
        rnn.weight_ih_l0.data[1] = np.array([10.0, 0.0, 0.0], dtype=np.float32)
        rnn.weight_hh_l0.data[1] = 0.0
        rnn.bias_ih_l0.data[1] = rnn.bias_hh_l0.data[1] = 0.0
    x = np.abs(np.random.default_rng(0).standard_normal((6, 8, 3))).astype(np.float32)   # (T, N, 3)
    x[:, :4, 0] *= -1
    if batch_first:
        x = x.transpose(1, 0, 2).copy()
    insp = Inspector(rnn, every=1)
    with insp:
        out, _ = rnn(tg.tensor(x))
        out.sum().backward()
        insp.before_step()
        insp.after_step()
    values = out.numpy()
    expected = np.mean(~(values.reshape(-1, 5) != 0).any(axis=0))
    per_sample_entries = np.mean(~(values.reshape(values.shape[0], -1) != 0).any(axis=0))   # the generic rule
    assert insp.kinds[""] == "relu" and expected == 0.2 and per_sample_entries > expected
    assert insp.activations[""]["dead"][0] == expected


def test_a_parameter_without_gradient_and_a_tuple_output():
    class WithRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(3, 4, batch_first=True)
            self.unused = nn.Linear(2, 2)
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    model = WithRNN()
    insp = Inspector(model, every=1)
    assert insp.kinds["rnn"] == "tanh"
    x = tg.randn(2, 5, 3)
    with insp:
        model(x).sum().backward()
        insp.before_step()
        insp.after_step()
    out, _ = model.rnn(x)
    np.testing.assert_allclose(insp.activations["rnn"]["mean"][0], out.numpy().mean(), rtol=1e-5)
    assert math.isnan(insp.gradients["unused.weight"]["norm"][0])
    assert math.isnan(insp.activations["unused"]["mean"][0])
    assert insp.layers[-1] == "unused"  # never called: after the others


def test_a_dict_output_is_recorded_on_its_first_tensor():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return {"step": 1, "logits": self.fc(x), "other": x}

    model = Head()
    insp = Inspector(model, every=1, layers=[""])
    x = tg.randn(4, 3)
    with insp:
        model(x)["logits"].sum().backward()
        insp.before_step()
        insp.after_step()
    np.testing.assert_allclose(insp.activations[""]["mean"][0], model.fc(x).numpy().mean(), rtol=1e-6)


def test_hooks_are_removed_after_fit_after_an_exception_and_after_with(monkeypatch):
    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=1)
    calls = []
    original = insp._record_activation
    monkeypatch.setattr(insp, "_record_activation", lambda i, out: (calls.append(i), original(i, out)))
    tg.train.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=LR), (x, y), epochs=2, callbacks=[insp],
                 progress=False)
    recorded = len(calls)
    assert recorded == 2 * 6 and insp.steps.tolist() == [0, 1]
    model(x)
    assert len(calls) == recorded  # the hooks are gone

    def failing(output, target):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        tg.train.fit(model, failing, optim.SGD(model.parameters(), lr=LR), (x, y), callbacks=[insp], progress=False)
    recorded = len(calls)
    model(x)
    assert len(calls) == recorded
    with insp:
        model(x)
    model(x)
    assert len(calls) == recorded + 6


def test_a_second_fit_continues_the_step_count_and_history_saving_is_unaffected(tmp_path):
    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=2)
    opt = optim.SGD(model.parameters(), lr=LR)
    tg.train.fit(model, nn.MSELoss(), opt, (x, y), epochs=3, callbacks=[insp], progress=False)
    history = tg.train.fit(model, nn.MSELoss(), opt, (x, y), epochs=3, callbacks=[insp], progress=False)
    assert insp.steps.tolist() == [0, 2, 4]
    assert history.inspector is insp
    assert set(history.state_dict()) == {"epoch", "logs"}
    history.to_csv(tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == "epoch,train_loss,lr"
    assert tg.train.History().inspector is None


# -- choosing layers, bad input ------------------------------------------------------------------------------


def test_a_history_holding_an_inspector_pickles_as_a_sweep_worker_sends_it_back():
    import pickle

    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=1)
    history = tg.train.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=LR), (x, y), epochs=3,
                           callbacks=[insp], progress=False)
    back = pickle.loads(pickle.dumps(history))                      # the optimizer (in fit's trainer) stays behind
    copy = back.inspector
    assert copy.trainer is None and insp.trainer is not None
    assert copy.steps.tolist() == [0, 1, 2] and copy.layers == insp.layers
    np.testing.assert_array_equal(copy.gradients["0.weight"]["norm"], insp.gradients["0.weight"]["norm"])
    assert tg.train.diagnose(back).kinds == tg.train.diagnose(history).kinds
    with copy:                                                      # and it still records, on its own model
        one_step(copy.model, copy, x, y, optim.SGD(copy.model.parameters(), lr=LR))
    assert copy.steps.tolist() == [0, 1, 2, 3] and insp.steps.tolist() == [0, 1, 2]
    assert np.isfinite(copy.activations["1"]["mean"][-1])


def test_layers_by_name_and_by_class():
    model = small_net()
    insp = Inspector(model, layers=["2", nn.Tanh])
    assert insp.layers == ["1", "2"] and insp.params == ["2.weight", "2.bias"]
    assert Inspector(model, layers=nn.Sigmoid).layers == ["5"] and Inspector(model, layers=nn.Sigmoid).params == []
    whole = Inspector(model, layers=[""])
    assert whole.layers == [""] and len(whole.params) == 6  # the model's output, every parameter


def test_default_layers_skip_containers_and_parameterless_modules_and_frozen_parameters():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.1), nn.LeakyReLU(), nn.Flatten(), nn.BatchNorm1d(3),
                          nn.Sequential(nn.Linear(3, 1), nn.GELU()))
    model[0].bias.requires_grad_(False)
    insp = Inspector(model)
    assert insp.layers == ["0", "2", "4", "5.0", "5.1"]
    assert insp.kinds == {"0": "linear", "2": "other", "4": "other", "5.0": "linear", "5.1": "other"}
    assert insp.params == ["0.weight", "4.weight", "4.bias", "5.0.weight", "5.0.bias"]


def test_bad_input_is_refused_with_the_reason():
    model = small_net()
    with pytest.raises(ValueError, match="no layer to inspect"):
        Inspector(nn.Sequential(nn.Flatten(), nn.Dropout(0.5)))
    with pytest.raises(ValueError, match=r"'7', which is not a module of the model.*'0', '1'"):
        Inspector(model, layers=["7"])
    with pytest.raises(ValueError, match="no module of the model matches"):
        Inspector(model, layers=[nn.Conv2d])
    with pytest.raises(TypeError, match="module names .* or module classes"):
        Inspector(model, layers=[3])
    with pytest.raises(TypeError, match="must be a tg.nn.Module"):
        Inspector(lambda x: x)
    for name in ("every", "history", "sample"):
        with pytest.raises(ValueError, match=name):
            Inspector(model, **{name: 0})


def test_infinite_values_give_inf_and_nan_statistics_silently(recwarn):
    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=1)
    model[0].bias.data.fill_(np.inf)  # layer 0's outputs are inf, the tanh's are 1
    with insp:
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        model[0].weight.grad.data.fill_(np.inf)
        insp.before_step()
        with tg.no_grad():
            model[0].weight.fill_(np.inf)
        insp.after_step()
    assert insp.gradients["0.weight"]["norm"][0] == np.inf
    assert not np.isfinite(insp.activations["0"]["std"][0])
    assert math.isnan(insp.update_ratios["0.weight"][0])  # inf - finite weights: no finite ratio
    assert not [w for w in recwarn if w.filename.endswith("inspector.py")]
    finding = tg.train.diagnose(None, inspector=insp)[0]
    assert finding.kind == "exploding_gradients" and "'0.weight' overflowed to infinity at step 0" in finding.message


def test_steps_recorded_without_attach_warn_once_that_activations_are_not():
    model = small_net()
    x, y = batch()
    insp = Inspector(model, every=1)
    optimizer = optim.SGD(model.parameters(), lr=LR)
    with pytest.warns(UserWarning, match=r"without watching the forward passes.*`with insp:`") as caught:
        for _ in range(3):
            one_step(model, insp, x, y, optimizer)                # no `with insp:`: no forward hooks
    assert len(caught) == 1 and caught[0].filename == __file__    # once, pointing at the caller's line
    assert insp.steps.tolist() == [0, 1, 2] and not insp.last_activations
    assert np.isnan(insp.activations["1"]["mean"]).all() and np.isfinite(insp.gradients["0.weight"]["norm"]).all()
    with pytest.raises(ValueError, match="watched only inside `with insp:`"):
        tg.viz.plot_activations(insp)
