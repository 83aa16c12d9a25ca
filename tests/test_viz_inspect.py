"""tg.viz's pictures of inside training: every one draws, with the right series, values, band and errors.

The Inspector pictures are tested on a fake Inspector (a SimpleNamespace with exactly the data attributes of
the spec: layers, kinds, params, steps, activations, gradients, update_ratios, last_activations,
last_gradients), filled with known numbers, so each picture is checked without training; one test draws a
real Inspector's records when ``tg.train.Inspector`` exists. References are independent of the library: the
histograms recomputed with NumPy, feature maps by PyTorch's conv2d, attention weights by a NumPy
transcription of softmax(Q K^T / sqrt(d)) per head.
"""

from __future__ import annotations

import io
import types

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import tinygrad_edu as tg  # noqa: E402
from tinygrad_edu import nn, viz  # noqa: E402

LAYERS = ["1", "3", "5", "6"]
KINDS = {"1": "tanh", "3": "tanh", "5": "relu", "6": "linear"}
PARAMS = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
STEPS = np.array([0, 10, 20, 30])


def fake_inspector(steps=STEPS, seed=0):
    """An object with the Inspector's data attributes, holding known numbers (no training)."""
    rng = np.random.default_rng(seed)
    n = len(steps)
    activations, last_activations = {}, {}
    for i, name in enumerate(LAYERS):
        kind = KINDS[name]
        activations[name] = {"mean": rng.normal(size=n) * 0.1, "std": 0.5 + 0.1 * i + np.zeros(n),
                             "saturated": np.linspace(0.2, 0.05, n) / (i + 1) if kind == "tanh" else np.full(n, np.nan),
                             "dead": np.linspace(0.0, 0.3, n) if kind == "relu" else np.full(n, np.nan)}
        sample = rng.normal(scale=1 + i, size=500)
        last_activations[name] = np.tanh(sample) if kind == "tanh" else np.maximum(sample, 0) if kind == "relu" \
            else sample
    gradients = {name: {"mean": rng.normal(size=n) * 1e-4, "std": np.full(n, 1e-2 * 10 ** -j),
                        "norm": 10.0 ** (-np.arange(n) - 2 * (len(PARAMS) - j))}
                 for j, name in enumerate(PARAMS)}
    update_ratios = {name: -3 + 0.3 * j + np.linspace(-0.5, 0.5, n) for j, name in enumerate(PARAMS)}
    if n:
        update_ratios["2.weight"][0] = -np.inf      # a step that did not move the weight
    last_gradients = {name: rng.normal(scale=10.0 ** -j, size=300) for j, name in enumerate(PARAMS)}
    return types.SimpleNamespace(layers=list(LAYERS), kinds=dict(KINDS), params=list(PARAMS), steps=np.array(steps),
                                 activations=activations, gradients=gradients, update_ratios=update_ratios,
                                 last_activations=last_activations, last_gradients=last_gradients)


def draws(fig):
    """The figure renders (Agg) to a PNG without error."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    assert buffer.getvalue().startswith(b"\x89PNG")


def labelled_lines(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


# -- the Inspector pictures ------------------------------------------------------------------------------


def test_activations_one_histogram_per_nonlinear_layer_with_stats_in_the_legend():
    insp = fake_inspector()
    fig = viz.plot_activations(insp, bins=20)
    draws(fig)
    ax = fig.axes[0]
    lines = labelled_lines(ax)
    assert [line.get_label().split(" ")[0] for line in lines] == ["1", "3", "5"]      # depth order, no linear layer
    assert all(line.get_drawstyle() == "steps-mid" for line in lines)
    texts = legend_texts(ax)
    assert len(texts) == 3
    assert "saturated 20.0%" not in texts[0] and f"saturated {insp.activations['1']['saturated'][-1]:.1%}" in texts[0]
    assert f"std {insp.activations['3']['std'][-1]:.2f}" in texts[1]
    assert f"dead {insp.activations['5']['dead'][-1]:.1%}" in texts[2] and "saturated" not in texts[2]
    # the curve is the density histogram of the last sample (NumPy, independently)
    sample = insp.last_activations["3"]
    density, edges = np.histogram(sample, bins=20, range=(sample.min(), sample.max()), density=True)
    np.testing.assert_allclose(lines[1].get_ydata(), density)
    np.testing.assert_allclose(lines[1].get_xdata(), (edges[:-1] + edges[1:]) / 2)
    assert "step 30" in ax.get_title()
    # distinct looks for the series
    assert len({(line.get_color(), line.get_linestyle()) for line in lines}) == 3


def test_activations_chosen_layers_and_all_kinds():
    insp = fake_inspector()
    fig = viz.plot_activations(insp, layers=["6", "1"])          # drawn in depth order whatever the order asked
    assert [line.get_label().split(" ")[0] for line in labelled_lines(fig.axes[0])] == ["1", "6"]
    insp.kinds = {name: "other" for name in LAYERS}               # no nonlinearity: every layer is drawn
    assert len(labelled_lines(viz.plot_activations(insp).axes[0])) == 4


def test_activations_into_a_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert viz.plot_activations(fake_inspector(), ax=right) is fig
    assert len(labelled_lines(right)) == 3 and not left.get_lines()
    from tinygrad_edu.viz._style import STYLE

    assert right.xaxis.label.get_size() == right.yaxis.label.get_size() == STYLE["axes.labelsize"]  # projector size


def test_gradients_one_histogram_per_weight_biases_optional():
    insp = fake_inspector()
    fig = viz.plot_gradients(insp)
    draws(fig)
    texts = legend_texts(fig.axes[0])
    assert [t.split(":")[0] for t in texts] == ["0.weight", "2.weight", "4.weight"]
    assert f"std {insp.gradients['2.weight']['std'][-1]:.1e}" in texts[1]
    assert len(labelled_lines(viz.plot_gradients(insp, include_biases=True).axes[0])) == 6
    assert len(labelled_lines(viz.plot_gradients(insp, params="4.bias").axes[0])) == 1


def test_by_default_the_linear_layers_weights():
    insp = fake_inspector()
    insp.layers = ["0", *LAYERS]
    insp.kinds = {**KINDS, "0": "linear", "2": "other"}            # 0: a Linear, 2: a norm layer, 4: unknown
    for plot in (viz.plot_gradients, viz.plot_update_ratios):
        ax = plot(insp).axes[0]
        assert [line.get_label().split(":")[0] for line in labelled_lines(ax)] == ["0.weight"]
        ax = plot(insp, include_biases=True).axes[0]
        assert [line.get_label().split(":")[0] for line in labelled_lines(ax)] == ["0.weight", "0.bias"]
    assert len(viz.plot_gradient_norms(insp).axes[0].get_lines()[0].get_ydata()) == 1


def test_gradient_norms_against_depth_on_a_log_axis():
    insp = fake_inspector()
    fig = viz.plot_gradient_norms(insp)
    draws(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    expected = [insp.gradients[name]["norm"][-1] for name in ("0.weight", "2.weight", "4.weight")]
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.weight", "2.weight", "4.weight"]
    # another recorded step, and the biases
    at_ten = viz.plot_gradient_norms(insp, step=10, include_biases=True).axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(at_ten, [insp.gradients[name]["norm"][1] for name in PARAMS])


def test_gradient_norms_compare_several_inspectors():
    runs = {"sigmoid": fake_inspector(seed=1), "ReLU": fake_inspector(seed=2)}
    runs["ReLU"].gradients["2.weight"]["norm"][-1] = 0.0         # a zero norm is left out of a log axis
    fig = viz.plot_gradient_norms(runs)
    ax = fig.axes[0]
    assert legend_texts(ax) == ["sigmoid (step 30)", "ReLU (step 30)"]
    assert np.isnan(ax.get_lines()[1].get_ydata()[1])
    assert ax.get_lines()[0].get_color() != ax.get_lines()[1].get_color()


def test_gradient_norms_of_recurrent_and_attention_weights_are_drawn():
    # The vanishing picture of an RNN is its weight_ih / weight_hh; attention's first matrix is in_proj_weight.
    class Zoo(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(6, 4)
            self.lstm = nn.LSTM(4, 4, num_layers=2, batch_first=True)
            self.att = nn.MultiheadAttention(4, 2, batch_first=True)
            self.fc = nn.Linear(4, 6)

        def forward(self, x):
            h, _ = self.lstm(self.emb(x))
            return self.fc(self.att(h, h, h)[0])

    tg.manual_seed(0)
    model = Zoo()
    insp = tg.train.Inspector(model, every=1)
    with insp:
        model(tg.tensor([[1, 2, 3, 4]])).sum().backward()
        insp.before_step()
        insp.after_step()
    matrices = ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.weight_ih_l1", "lstm.weight_hh_l1",
                "att.in_proj_weight", "att.out_proj.weight", "fc.weight"]
    ax = viz.plot_gradient_norms(insp).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == matrices            # no embedding, no bias
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(),
                               [np.linalg.norm(dict(model.named_parameters())[p].grad.numpy()) for p in matrices],
                               rtol=1e-5)
    with_biases = viz.plot_gradient_norms(insp, include_biases=True).axes[0]
    labels = [t.get_text() for t in with_biases.get_xticklabels()]
    assert "lstm.bias_hh_l1" in labels and "att.in_proj_bias" in labels and "emb.weight" not in labels
    assert legend_texts(viz.plot_gradients(insp).axes[0])[0].startswith("lstm.weight_ih_l0")


def test_update_ratios_one_line_per_weight_and_the_band_around_minus_three():
    insp = fake_inspector()
    fig = viz.plot_update_ratios(insp)
    draws(fig)
    ax = fig.axes[0]
    lines = labelled_lines(ax)
    assert [line.get_label() for line in lines] == ["0.weight", "2.weight", "4.weight"]
    np.testing.assert_array_equal(lines[0].get_xdata(), STEPS)
    np.testing.assert_allclose(lines[2].get_ydata(), insp.update_ratios["4.weight"])
    assert np.isnan(lines[1].get_ydata()[0])                     # -inf (no move) is not drawn
    (band,) = ax.patches                                         # the shaded band, in data units on y
    corners = band.get_transform().transform(band.get_path().vertices)
    low, high = ax.transData.inverted().transform(corners)[:, 1].min(), \
        ax.transData.inverted().transform(corners)[:, 1].max()
    assert abs(low + 3.5) < 1e-9 and abs(high + 2.5) < 1e-9
    reference = [line for line in ax.get_lines() if line not in lines]
    assert len(reference) == 1 and np.allclose(reference[0].get_ydata(), -3)
    assert any("rule of thumb" in text for text in legend_texts(ax))
    assert len(labelled_lines(viz.plot_update_ratios(insp, include_biases=True).axes[0])) == 6
    plain = viz.plot_update_ratios(insp, band=None).axes[0]
    assert not plain.patches and len(plain.get_lines()) == 3
    narrow = viz.plot_update_ratios(insp, band=(-3.2, -2.8)).axes[0]
    assert "10^-3.2 to 10^-2.8" in legend_texts(narrow)[0]


def test_saturation_over_steps_in_percent():
    insp = fake_inspector()
    fig = viz.plot_saturation(insp)
    draws(fig)
    ax = fig.axes[0]
    lines = labelled_lines(ax)
    assert [line.get_label() for line in lines] == ["1 (tanh, saturated)", "3 (tanh, saturated)", "5 (relu, dead)"]
    np.testing.assert_allclose(lines[0].get_ydata(), 100 * insp.activations["1"]["saturated"])
    np.testing.assert_allclose(lines[2].get_ydata(), 100 * insp.activations["5"]["dead"])
    np.testing.assert_array_equal(lines[1].get_xdata(), STEPS)
    assert ax.get_title() == "saturated / dead units per layer"
    assert len(labelled_lines(viz.plot_saturation(insp, layers=["3"]).axes[0])) == 1


@pytest.mark.parametrize("plot", [viz.plot_activations, viz.plot_gradients, viz.plot_gradient_norms,
                                  viz.plot_update_ratios, viz.plot_saturation])
def test_an_inspector_that_recorded_nothing_is_refused(plot):
    empty = fake_inspector(steps=[])
    with pytest.raises(ValueError, match="recorded nothing"):
        plot(empty)
    with pytest.raises(TypeError, match="expected a tg.train.Inspector"):
        plot({"not": "an inspector"} if plot is not viz.plot_gradient_norms else [1, 2])


def test_bad_arguments_name_what_is_wrong():
    insp = fake_inspector()
    with pytest.raises(KeyError, match="no layer \\['9'\\]"):
        viz.plot_activations(insp, layers=["9"])
    with pytest.raises(KeyError, match="no parameter"):
        viz.plot_update_ratios(insp, params=["fc.weight"])
    with pytest.raises(ValueError, match="bins"):
        viz.plot_gradients(insp, bins=1)
    with pytest.raises(ValueError, match="step 5 was not recorded"):
        viz.plot_gradient_norms(insp, step=5)
    with pytest.raises(ValueError, match="band"):
        viz.plot_update_ratios(insp, band=(-2, -3))
    with pytest.raises(ValueError, match="no tanh, sigmoid or ReLU"):
        viz.plot_saturation(insp, layers=["6"])
    with pytest.raises(ValueError, match="empty"):
        viz.plot_gradient_norms({})
    biases_only = fake_inspector()
    biases_only.params = ["0.bias"]
    with pytest.raises(ValueError, match="include_biases=True"):
        viz.plot_update_ratios(biases_only)


def test_a_real_inspector_is_drawn():
    if not hasattr(tg.train, "Inspector"):
        pytest.skip("tg.train.Inspector is not there yet")
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)
    x, y = tg.randn(32, 4), tg.randn(32, 1)
    insp = tg.train.Inspector(model, every=1)
    with insp:
        for _ in range(3):
            optimizer.zero_grad()
            nn.MSELoss()(model(x), y).backward()
            insp.before_step()
            optimizer.step()
            insp.after_step()
    for plot in (viz.plot_activations, viz.plot_gradients, viz.plot_gradient_norms, viz.plot_update_ratios,
                 viz.plot_saturation):
        draws(plot(insp))
    assert len(labelled_lines(viz.plot_update_ratios(insp).axes[0])) == 3     # the three Linear weights


# -- filters, feature maps, attention --------------------------------------------------------------------


def image_panels(fig):
    return [ax for ax in fig.axes if ax.get_images()]


def test_filters_one_image_per_output_channel():
    tg.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5)
    fig = viz.plot_filters(conv)
    draws(fig)
    panels = image_panels(fig)
    assert len(panels) == 6
    weight = conv.weight.detach().numpy()
    for i, ax in enumerate(panels):
        np.testing.assert_allclose(ax.get_images()[0].get_array(), weight[i, 0])
        assert ax.get_images()[0].get_clim() == panels[0].get_images()[0].get_clim()   # one scale for all
    assert "6 of 6" in fig._suptitle.get_text()


def test_filters_rgb_channel_mean_conv1d_and_arrays():
    tg.manual_seed(0)
    rgb = viz.plot_filters(nn.Conv2d(3, 4, 3))
    draws(rgb)
    first = image_panels(rgb)[0].get_images()[0].get_array()
    assert first.shape == (3, 3, 3) and first.min() == 0 and first.max() == 1
    weight = np.random.default_rng(0).normal(size=(5, 2, 3, 3))
    mean = viz.plot_filters(weight, max_filters=3)
    assert len(image_panels(mean)) == 3
    np.testing.assert_allclose(image_panels(mean)[1].get_images()[0].get_array(), weight[1].mean(axis=0))
    picked = viz.plot_filters(weight, channel=1)
    np.testing.assert_allclose(image_panels(picked)[4].get_images()[0].get_array(), weight[4, 1])
    one_d = viz.plot_filters(nn.Conv1d(2, 3, 4))
    assert [ax.get_images()[0].get_array().shape for ax in image_panels(one_d)] == [(2, 4)] * 3
    with pytest.raises(ValueError, match="shape"):
        viz.plot_filters(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="channel"):
        viz.plot_filters(weight, channel=2)


def test_feature_maps_are_the_convolutions_outputs():
    torch = pytest.importorskip("torch")
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 6, 3))
    model.train()
    running = model[1].running_mean.numpy().copy()
    image = tg.randn(1, 10, 10)
    fig = viz.plot_feature_maps(model, image, max_maps=5)
    draws(fig)
    panels = image_panels(fig)
    assert len(panels) == 1 + 4 + 5                           # the input, 4 maps, the first 5 of 6
    # PyTorch, from the same weights, in eval mode
    w0, b0, w3, b3 = (torch.tensor(p.detach().numpy()) for p in (model[0].weight, model[0].bias, model[3].weight,
                                                                  model[3].bias))
    x = torch.tensor(image.numpy())[None]
    first = torch.nn.functional.conv2d(x, w0, b0)
    normalised = (first - torch.tensor(running)[None, :, None, None]) / np.sqrt(1 + 1e-5)
    second = torch.nn.functional.conv2d(torch.relu(normalised), w3, b3)
    for j in range(4):
        np.testing.assert_allclose(panels[1 + j].get_images()[0].get_array(), first[0, j].numpy(), rtol=1e-5,
                                   atol=1e-6)
    for j in range(5):
        np.testing.assert_allclose(panels[5 + j].get_images()[0].get_array(), second[0, j].numpy(), rtol=1e-4,
                                   atol=1e-5)
    # nothing changed: every module back in training mode, the running statistics untouched, no hook left
    assert all(m.training for m in model.modules())
    np.testing.assert_array_equal(model[1].running_mean.numpy(), running)
    out = model(tg.randn(1, 1, 10, 10))
    assert out.shape == (1, 6, 6, 6)


def test_feature_maps_of_named_layers_and_errors():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    fig = viz.plot_feature_maps(model, np.random.default_rng(0).normal(size=(3, 6, 6)), layers=["1"])
    assert len(image_panels(fig)) == 1 + 2
    with pytest.raises(KeyError, match="no module"):
        viz.plot_feature_maps(model, tg.randn(3, 6, 6), layers=["7"])
    with pytest.raises(ValueError, match="only image"):
        viz.plot_feature_maps(model, tg.randn(3, 6, 6), layers=["3"])
    with pytest.raises(ValueError, match="one image"):
        viz.plot_feature_maps(model, tg.randn(2, 3, 6, 6))
    with pytest.raises(ValueError, match="no Conv2d"):
        viz.plot_feature_maps(nn.Linear(2, 2), tg.randn(1, 2, 2))
    with pytest.raises(TypeError, match="Module"):
        viz.plot_feature_maps(lambda x: x, tg.randn(1, 2, 2))


def _numpy_attention(mha, x):
    """softmax(Q K^T / sqrt(d)) per head, from the module's weights (self-attention, batch first)."""
    e, h = mha.embed_dim, mha.num_heads
    w, b = mha.in_proj_weight.detach().numpy(), mha.in_proj_bias.detach().numpy()
    q, k = x @ w[:e].T + b[:e], x @ w[e:2 * e].T + b[e:2 * e]
    d = e // h
    q = q.reshape(x.shape[0], -1, h, d).transpose(0, 2, 1, 3)
    k = k.reshape(x.shape[0], -1, h, d).transpose(0, 2, 1, 3)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return scores / scores.sum(axis=-1, keepdims=True)


def test_attention_heat_maps_are_the_modules_weights_per_head():
    tg.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = tg.randn(2, 5, 8)
    fig = viz.plot_attention(mha, x, tokens=list("hello"), batch=1)
    draws(fig)
    panels = image_panels(fig)
    assert len(panels) == 2 and mha.training                       # one per head; the mode is put back
    _, returned = mha.eval()(x, x, x, need_weights=True, average_attn_weights=False)
    mha.train()
    reference = _numpy_attention(mha, x.numpy().astype(np.float64))
    for head, ax in enumerate(panels):
        drawn = ax.get_images()[0].get_array()
        np.testing.assert_allclose(drawn, returned.numpy()[1, head], rtol=1e-6)
        np.testing.assert_allclose(drawn, reference[1, head], rtol=1e-4, atol=1e-6)
        assert [t.get_text() for t in ax.get_yticklabels()] == list("hello")
        assert [t.get_text() for t in ax.get_xticklabels()] == list("hello")


def test_attention_from_weights_and_cross_attention_labels():
    weights = np.random.default_rng(0).dirichlet(np.ones(4), size=(3, 2))     # (L=3... heads=3, L=2, S=4)
    fig = viz.plot_attention(weights, tokens=["a", "b"], key_tokens=["w", "x", "y", "z"])
    draws(fig)
    panels = image_panels(fig)
    assert len(panels) == 3
    np.testing.assert_allclose(panels[2].get_images()[0].get_array(), weights[2])
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["w", "x", "y", "z"]
    assert len(image_panels(viz.plot_attention(weights[0]))) == 1
    assert len(image_panels(viz.plot_attention(weights[None]))) == 3
    with pytest.raises(ValueError, match="labels for 2 positions"):
        viz.plot_attention(weights, tokens=["a"])
    with pytest.raises(ValueError, match="shape"):
        viz.plot_attention(np.zeros(4))
    with pytest.raises(TypeError, match="query"):
        viz.plot_attention(nn.MultiheadAttention(4, 1))
    with pytest.raises(ValueError, match="batch"):
        viz.plot_attention(weights[None], batch=1)


def test_attention_refuses_none_weights_and_a_model_with_a_hint():
    # need_weights=False gives None (TransformerEncoderLayer calls its attention so): say so, not "shape ()".
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = tg.randn(1, 3, 4)
    _, weights = mha(x, x, x, need_weights=False)
    assert weights is None
    with pytest.raises(TypeError, match="need_weights=False"):
        viz.plot_attention(weights)
    layer = nn.TransformerEncoderLayer(4, 2, 8, batch_first=True)
    with pytest.raises(TypeError, match=r"TransformerEncoderLayer; its attention is self_attn"):
        viz.plot_attention(layer, x)
    assert len(image_panels(viz.plot_attention(layer.self_attn, x))) == 2


def test_attention_of_an_unbatched_sequence():
    tg.manual_seed(1)
    mha = nn.MultiheadAttention(6, 3)
    x = tg.randn(4, 6)                                            # (L, E): no batch dimension
    panels = image_panels(viz.plot_attention(mha, x))
    _, returned = mha(x, x, x, average_attn_weights=False)        # (heads, L, S)
    assert len(panels) == 3
    for head, ax in enumerate(panels):
        np.testing.assert_allclose(ax.get_images()[0].get_array(), returned.numpy()[head], rtol=1e-6)


# -- text big enough to read when projected (the style's sizes, as tests/test_viz_readable.py checks) ------------

PICTURES = {
    "plot_activations": lambda: viz.plot_activations(fake_inspector()),
    "plot_gradients": lambda: viz.plot_gradients(fake_inspector()),
    "plot_gradient_norms": lambda: viz.plot_gradient_norms({"a": fake_inspector(), "b": fake_inspector(seed=1)}),
    "plot_update_ratios": lambda: viz.plot_update_ratios(fake_inspector()),
    "plot_saturation": lambda: viz.plot_saturation(fake_inspector()),
    "plot_filters": lambda: viz.plot_filters(np.ones((12, 1, 3, 3))),
    "plot_feature_maps": lambda: viz.plot_feature_maps(nn.Conv2d(1, 3, 3), np.ones((1, 6, 6))),
    "plot_attention": lambda: viz.plot_attention(np.full((2, 3, 3), 1 / 3), tokens=["a", "b", "c"]),
}


@pytest.mark.parametrize("name", list(PICTURES))
def test_text_is_big_enough_to_read_when_projected(name):
    from tinygrad_edu.viz._style import MIN_FONT_PT

    fig = PICTURES[name]()
    draws(fig)
    texts = [t for sub in [fig, *fig.subfigs] for t in ([sub._suptitle] if sub._suptitle else [])]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    texts = [t for t in texts if t.get_text()]
    assert texts
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_FONT_PT]
    assert not small, small
