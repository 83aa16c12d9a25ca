"""Example 23: the claim on the --quick run, against references computed here without the library.

* With batch norm a tanh receives, per unit, a batch of 32 normalised to mean 0 and (biased) variance 1:
  the saturated fraction P(|tanh z| > 0.97) of such batches is simulated here with NumPy (3.4 %), and the
  measured fraction at step 0, averaged over the five tanh layers, must be near it.
* Without batch norm the first tanh layer's pre-activations are N(0, (5/3)^2) (Kaiming's tanh gain on
  embeddings of std 1): P(|z| > atanh 0.97) = erfc(atanh(0.97) / (5/3) / sqrt 2) = 20.9 %.
* The final NLLs are recomputed by PyTorch from the trained weights (eval mode: batch norm's running
  statistics) on validation contexts encoded here in plain Python.
* The printed summary numbers are the Inspector's own records.
"""

from __future__ import annotations

import math
import string

import numpy as np

FIGURES = ["activations.png", "saturation.png", "gradients.png", "update_ratios.png"]

TOKENS = "." + string.ascii_lowercase


def _normalised_batch_saturation(batch=32, trials=20_000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(trials, batch))
    z = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    return float(np.mean(np.abs(np.tanh(z)) > 0.97))


def _torch_nll(model, words):
    try:
        import torch
    except ImportError:
        return None
    contexts, targets = [], []
    for word in words:
        context = [0, 0, 0]
        for c in word + ".":
            contexts.append(context)
            targets.append(TOKENS.index(c))
            context = context[1:] + [TOKENS.index(c)]
    layers = []
    for module in model:
        kind = type(module).__name__
        if kind == "Embedding":
            layers.append(torch.nn.Embedding(module.num_embeddings, module.embedding_dim))
        elif kind == "Flatten":
            layers.append(torch.nn.Flatten())
        elif kind == "Linear":
            layers.append(torch.nn.Linear(module.in_features, module.out_features, bias=module.bias is not None))
        elif kind == "BatchNorm1d":
            layers.append(torch.nn.BatchNorm1d(module.num_features))
        elif kind == "Tanh":
            layers.append(torch.nn.Tanh())
        else:
            raise AssertionError(f"unexpected layer {kind}")
    reference = torch.nn.Sequential(*layers)
    state = {k: torch.tensor(np.asarray(v)) for k, v in model.state_dict().items()}
    reference.load_state_dict(state, strict=False)
    assert set(reference.state_dict()) - set(state) <= {k for k in reference.state_dict() if "num_batches" in k}
    reference.eval()
    with torch.no_grad():
        logits = reference(torch.tensor(contexts))
        return torch.nn.functional.cross_entropy(logits, torch.tensor(targets)).item()


def check(r):
    assert r["quick"] and r["steps"] == 300
    assert len(r["inspectors"]) == 2
    for name, insp in r["inspectors"].items():
        assert insp.steps.tolist() == list(range(0, 300, 10))
        tanh = [layer for layer in insp.layers if insp.kinds[layer] == "tanh"]
        assert len(tanh) == 5
        # the summary's numbers are the Inspector's records
        np.testing.assert_array_equal(r["stats"][name]["saturated_first"],
                                      [insp.activations[layer]["saturated"][0] for layer in tanh])
        np.testing.assert_array_equal(r["stats"][name]["saturated_last"],
                                      [insp.activations[layer]["saturated"][-1] for layer in tanh])

    # batch norm's saturation at the start: that of a normalised batch of 32 (NumPy simulation, 3.4 %)
    expected_bn = _normalised_batch_saturation()
    assert abs(expected_bn - 0.034) < 0.002, expected_bn
    measured_bn = float(np.mean(r["stats"]["with BatchNorm"]["saturated_first"]))
    assert abs(measured_bn - expected_bn) < 0.01, (measured_bn, expected_bn)

    # the plain net's first tanh layer: N(0, (5/3)^2) pre-activations, 20.9 % beyond atanh(0.97)
    expected_first = math.erfc(math.atanh(0.97) / (5 / 3) / math.sqrt(2))
    assert abs(expected_first - 0.209) < 0.001
    measured_first = r["stats"]["without BatchNorm"]["saturated_first"][0]
    assert abs(measured_first - expected_first) < 0.04, (measured_first, expected_first)

    # the final NLLs, recomputed by PyTorch from the weights
    for name, model in r["models"].items():
        reference = _torch_nll(model, r["val_words"])
        if reference is not None:
            assert abs(r["final"][name]["val"] - reference) < 1e-4, (name, r["final"][name]["val"], reference)

    # the claim (the example's check_claim has asserted it too): BN saturates less in every layer, evens out
    # the update ratios; both learn
    s_plain, s_bn = r["stats"]["without BatchNorm"], r["stats"]["with BatchNorm"]
    assert s_bn["saturated_first"].max() < s_plain["saturated_first"].min()
    assert s_bn["saturated_last"].max() < s_plain["saturated_last"].min()
    assert s_bn["ratio_spread"] < s_plain["ratio_spread"]
    assert all(v["val"] < math.log(27) for v in r["final"].values()), r["final"]
