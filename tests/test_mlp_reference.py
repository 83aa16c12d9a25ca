"""A whole MLP's gradients against the same network differentiated by hand in NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn


def hand_mlp_gradients(w1, b1, w2, b2, x, y):
    """Forward and backward of Linear-ReLU-Linear-CrossEntropy, derived on paper."""
    h_pre = x @ w1.T + b1
    h = np.maximum(h_pre, 0)
    logits = h @ w2.T + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(x)
    loss = -np.log(p[np.arange(n), y]).mean()
    d_logits = p.copy()
    d_logits[np.arange(n), y] -= 1          # d loss / d logits = softmax - one_hot, over n
    d_logits /= n
    d_h = (d_logits @ w2) * (h_pre > 0)     # ReLU passes gradient only where its input was > 0
    return loss, (d_h.T @ x, d_h.sum(0), d_logits.T @ h, d_logits.sum(0))


@pytest.mark.parametrize("batch", [1, 7, 32])
def test_mlp_gradients_match_hand_derivation(batch):
    tg.set_default_dtype(np.float64)
    try:
        tg.manual_seed(batch)
        model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
        rng = np.random.default_rng(batch)
        x = rng.standard_normal((batch, 20))
        y = rng.integers(0, 5, batch)
        loss = nn.CrossEntropyLoss()(model(tg.tensor(x)), tg.tensor(y))
        loss.backward()
        ref_loss, ref_grads = hand_mlp_gradients(*[p.numpy() for p in model.parameters()], x, y)
        assert loss.item() == pytest.approx(ref_loss, rel=1e-12)
        for p, g in zip(model.parameters(), ref_grads):
            np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-10, atol=1e-12)
    finally:
        tg.set_default_dtype(np.float32)
