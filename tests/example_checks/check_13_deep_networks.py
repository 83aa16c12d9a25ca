"""Example 13: the claim on the --quick run, and the sigmoid net's gradient norms recomputed by PyTorch."""

from __future__ import annotations

import numpy as np

FIGURES = ["deep_networks.png"]


def _torch_norms(reference: dict) -> np.ndarray | None:
    """||dL/dW|| of every Linear layer of the sigmoid stack, from its initial weights, by PyTorch (None without it)."""
    try:
        import torch
    except ImportError:
        return None
    state = reference["state"]
    pairs = [(state[k], state[k[:-len("weight")] + "bias"]) for k in state if k.endswith("weight")]
    weights = [torch.tensor(w, requires_grad=True) for w, _ in pairs]
    h = torch.tensor(reference["x"])
    for i, (w, (_, b)) in enumerate(zip(weights, pairs)):
        h = h @ w.T + torch.tensor(b)
        if i < len(weights) - 1:
            h = torch.sigmoid(h)
    torch.nn.functional.cross_entropy(h, torch.tensor(reference["y"])).backward()
    return np.array([float(torch.linalg.norm(w.grad)) for w in weights])


def check(r):
    # main() has already asserted the example's claim (check_claim) on these numbers. Here: the quick settings ...
    assert r["epochs"] == 2 and tuple(r["rates"]) == (0.01, 0.3)
    # ... and the gradient norms of the 20-layer sigmoid stack at initialisation, recomputed by PyTorch from the same
    # weights and data (an independent forward and backward pass): the 1e-16 ratio is not an artefact.
    norms = r["norms"]["sigmoid, default init"]
    assert len(norms) == 20 and np.all(np.diff(np.log10(norms[:-1])) > 0)   # growing layer by layer to the output
    reference = _torch_norms(r["reference"])
    if reference is not None:
        np.testing.assert_allclose(norms, reference, rtol=1e-3)
    # A sigmoid's slope is at most 1/4 and these weights (U(-1/8, 1/8), 64 x 64) have a spectral norm near 1.1:
    # backwards from layer 19 to layer 2 the norm falls by more than 4 per layer on average (measured: about 7).
    per_layer = (norms[18] / norms[1]) ** (1 / 17)
    assert per_layer > 4, per_layer
