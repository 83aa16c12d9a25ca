"""Example 14: the 1/6 baseline, the data, and the vanilla RNN's gradients through time recomputed by PyTorch."""

from __future__ import annotations

import numpy as np

FIGURES = ["rnn_gradients.png"]


def _torch_hidden_grad_norms(reference: dict) -> np.ndarray | None:
    """||dL/dh_t|| of the vanilla RNN at init, by PyTorch from the same weights and batch (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    state = {k: torch.tensor(v) for k, v in reference["state"].items()}
    rnn = torch.nn.RNN(2, state["rnn.weight_hh_l0"].shape[1])
    rnn.load_state_dict({k.removeprefix("rnn."): v for k, v in state.items() if k.startswith("rnn.")})
    x, y = torch.tensor(reference["x"]), torch.tensor(reference["y"])
    h, hidden = None, []
    for t in range(x.shape[0]):
        _, h = rnn(x[t:t + 1], h)
        h.retain_grad()
        hidden.append(h)
    prediction = hidden[-1][0] @ state["head.weight"].T + state["head.bias"]
    torch.nn.functional.mse_loss(prediction, y).backward()
    return np.array([float(torch.linalg.norm(h.grad)) for h in hidden])


def check(r):
    # main() has already asserted the example's claim (check_claim) on these numbers. Here, independently:
    assert tuple(r["lengths"]) == (10, 20) and r["steps"] == 40            # the quick settings
    # 1. The baseline: predicting 1 scores E[(U1 + U2 - 1)^2] = Var(U1) + Var(U2) = 2/12 = 1/6, by Monte Carlo ...
    rng = np.random.default_rng(12345)
    sums = rng.random((2, 1_000_000)).sum(axis=0)
    assert abs(np.mean((sums - 1) ** 2) - 1 / 6) < 1e-3
    # ... and on the example's own validation sets, within 4 standard errors (std of (S - 1)^2 is 0.197)
    for length, mse in r["baselines"].items():
        assert abs(mse - 1 / 6) < 4 * 0.197 / np.sqrt(2000), (length, mse)
    # 2. The data: two markers per sequence, one in each half, and the target their values' sum.
    x, y = r["reference"]["x"], r["reference"]["y"]
    values, markers = x[..., 0], x[..., 1]
    length = x.shape[0]
    assert set(np.unique(markers)) == {0.0, 1.0} and np.all((values >= 0) & (values < 1))
    assert np.all(markers[:length // 2].sum(axis=0) == 1) and np.all(markers[length // 2:].sum(axis=0) == 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0), rtol=1e-6)
    # 3. The vanilla RNN's ||dL/dh_t|| at initialisation, recomputed by PyTorch on the same weights and batch.
    reference = _torch_hidden_grad_norms(r["reference"])
    if reference is not None:
        np.testing.assert_allclose(r["reference"]["norms"], reference, rtol=1e-3)
