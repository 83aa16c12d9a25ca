"""Claim check for examples/19_weight_averaging.py, against references computed here in NumPy.

- The optimum: ``np.linalg.lstsq`` on the example's own data (x, y), recomputed here.
- The noise floor of SGD with replacement, exactly (to every order in lr): with e = w - w_ls, a_i the rows
  of the design [x, 1], r_i the residuals at w_ls and a batch of B indices drawn uniformly with replacement,
  e' = (I - 2 lr H_batch) e + 2 lr xi_batch, so at stationarity (E[e] = 0) the second moment M = E[e e^T]
  solves the linear equation
      2 lr (H M + M H) = 4 lr^2 [F(M) / B + (1 - 1/B) H M H + S / B],
  H = mean a a^T, F(M) = mean a a^T M a a^T, S = mean r^2 a a^T; the floor is trace(M). Every measured floor
  must be within 8 % of it (the example averages 32 independent runs: its Monte Carlo error is about 1 %),
  and floor / lr constant within 20 %. Reshuffled epochs: lower, and floor / lr not constant.
- The averages: EMA (w_ema <- decay w_ema + (1 - decay) w, the first update a copy) and the equal-weight mean
  from the start step, transcribed in NumPy over the recorded weights, must equal AveragedModel's at every
  step; the SWA average ends far below the floor, within reach of Polyak & Juditsky's asymptotic
  variance trace(H^-1 S H^-1) / (B T), and keeps improving.
- The MLP: the EMA recomputed in NumPy from every recorded step's weights equals the AveragedModel's final
  weights; a NumPy forward pass (ReLU MLP, log-softmax cross-entropy) of the EMA's and the model's last
  weights on the validation set reproduces the last validation losses; the EMA's curve is smoother.
"""

from __future__ import annotations

import numpy as np

FIGURES = ["weight_averaging.png"]


def _exact_floor(design: np.ndarray, residual: np.ndarray, lr: float, batch: int) -> float:
    n, p = design.shape
    outer = np.einsum("ni,nj->nij", design, design)                  # a a^T per row
    h = outer.mean(axis=0)
    s = (residual[:, None, None] ** 2 * outer).mean(axis=0)
    eye = np.eye(p)
    # Linear map on vec(M) (row-major): L(M) = 2 lr (H M + M H) - 4 lr^2 [F(M)/B + (1 - 1/B) H M H].
    # vec(A M C) = kron(A, C^T) vec(M) for row-major vec.
    f_matrix = np.einsum("nij,nkl->iljk", outer, outer).reshape(p * p, p * p) / n
    operator = (2 * lr * (np.kron(h, eye) + np.kron(eye, h.T))
                - 4 * lr ** 2 * (f_matrix / batch + (1 - 1 / batch) * np.kron(h, h.T)))
    m = np.linalg.solve(operator, (4 * lr ** 2 / batch * s).reshape(-1)).reshape(p, p)
    return float(np.trace(m))


def _ema(weights: np.ndarray, decay: float) -> np.ndarray:
    out = np.empty_like(weights, dtype=np.float64)
    out[0] = weights[0]
    for k in range(1, len(weights)):
        out[k] = decay * out[k - 1] + (1 - decay) * weights[k]
    return out


def _mlp_loss(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    h = x.astype(np.float64)
    layers = [(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    for k, (w, b) in enumerate(layers):
        h = h @ w.astype(np.float64).T + b.astype(np.float64)
        if k < len(layers) - 1:
            h = np.maximum(h, 0)
    log_p = h - h.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def check(r):
    x, y = r["x"].astype(np.float64), r["y"].astype(np.float64)[:, 0]
    design = np.hstack([x, np.ones((len(x), 1))])
    w_ls = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(r["w_ls"], w_ls, atol=1e-12)
    residual = y - design @ w_ls
    assert abs(r["s2"] - np.mean(residual ** 2)) < 1e-12
    batch = 10

    # The floor: measured (mean over the runs and the steps after the burn-in) against the exact stationary
    # value, and proportional to the rate (the exact floor / lr grows by 5 % from lr 0.01 to 0.04).
    measured = r["floors"]["with replacement"]
    for lr, floor in measured.items():
        exact = _exact_floor(design, residual, lr, batch)
        assert abs(floor - exact) < 0.08 * exact, f"lr {lr}: measured floor {floor:.5f}, exact {exact:.5f}"
    ratios = [floor / lr for lr, floor in measured.items()]
    assert max(ratios) < 1.2 * min(ratios), ratios
    # Reshuffling (each point once per epoch) has a lower floor, not proportional to the rate.
    reshuffled = r["floors"]["reshuffled epochs"]
    assert all(reshuffled[lr] < 0.9 * measured[lr] for lr in measured), (reshuffled, measured)
    shuffled_ratios = [floor / lr for lr, floor in reshuffled.items()]
    assert max(shuffled_ratios) > 1.5 * min(shuffled_ratios), shuffled_ratios

    # The averages: NumPy transcriptions over the recorded iterates (equal up to float64 rounding: the
    # library, as PyTorch, computes them as lerps and running means, in another order).
    main, decay, start = r["main"], r["ema_decay"], r["swa_start"]
    assert main["weights"].shape == (r["steps"], r["runs"], design.shape[1])
    np.testing.assert_allclose(main["ema"], _ema(main["weights"], decay), rtol=1e-8, atol=1e-8)
    tail = main["weights"][start:]
    swa = np.cumsum(tail, axis=0) / np.arange(1, len(tail) + 1)[:, None, None]
    np.testing.assert_allclose(main["swa"][start:], swa, rtol=1e-8, atol=1e-8)
    assert np.all(np.isnan(main["swa"][:start]))
    steps = r["steps"]
    last = np.sum((main["weights"] - w_ls) ** 2, axis=-1).mean(axis=1)       # mean over the runs
    swa_distance = np.sum((swa - w_ls) ** 2, axis=-1).mean(axis=1)
    ema_distance = np.sum((main["ema"] - w_ls) ** 2, axis=-1).mean(axis=1)
    floor = last[steps // 2:].mean()
    assert abs(floor - _exact_floor(design, residual, r["main_rate"], batch)) < 0.08 * floor
    # Polyak & Juditsky: the average of T iterates has E||w_bar - w_ls||^2 -> trace(H^-1 Sigma H^-1) / T with
    # the loss's Hessian 2H and the gradient noise covariance Sigma = 4 S / B, i.e. trace(H^-1 S H^-1) / (B T):
    # the mean over the runs follows it at a quarter, half and all of the steps (it keeps improving as 1/T).
    h_inverse = np.linalg.inv(design.T @ design / len(design))
    s = (residual[:, None, None] ** 2 * np.einsum("ni,nj->nij", design, design)).mean(axis=0)
    for t in (steps // 4, steps // 2, steps):
        polyak = np.trace(h_inverse @ s @ h_inverse) / batch / (t - start)
        assert 0.7 * polyak < swa_distance[t - start - 1] < 1.4 * polyak, (t, swa_distance[t - start - 1], polyak)
    assert swa_distance[-1] < floor / 10, (swa_distance[-1], floor)
    assert ema_distance[steps // 2:].mean() < floor / 3

    # The MLP: its EMA recomputed, and both validation losses recomputed by a NumPy forward pass.
    mlp = r["mlp"]
    ema_final = [_ema(w, decay)[-1] for w in mlp["weights"]]
    for ours, theirs in zip(ema_final, mlp["ema_final"]):
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5)
    x_val, y_val = mlp["x_val"], mlp["y_val"]
    assert abs(_mlp_loss(ema_final, x_val, y_val) - mlp["val_loss"]["EMA"][-1]) < 1e-4
    assert abs(_mlp_loss([w[-1] for w in mlp["weights"]], x_val, y_val) - mlp["val_loss"]["model"][-1]) < 1e-4
    n_last = r["last"]
    spread = {name: np.std(v[-n_last:]) for name, v in mlp["val_loss"].items()}
    assert spread["EMA"] < spread["model"] / 3, spread     # 9x-34x over seeds 0-7, full and quick
    assert np.mean(mlp["val_loss"]["EMA"][-n_last:]) < np.mean(mlp["val_loss"]["model"][-n_last:])
