"""examples/17_large_batches.py: steps and test accuracy against batch size, SGD (linear scaling + warmup), LARS, LAMB.

Checked against independent references: the steps as epochs * ceil(n / B); each run's rate at batch B
from the scaling rules written out here; every step's rate against PyTorch's own ``LinearLR`` +
``CosineAnnealingLR`` in a ``SequentialLR`` (or the bare cosine) driving PyTorch's ``SGD``; the final
test loss and accuracy recomputed with PyTorch from the test logits; the tuned rate as the arg-min of the
final training losses. Then the claims, as they came out (see the example's docstring).
"""

from __future__ import annotations

import math

import numpy as np
import torch

FIGURES = ["large_batches.png"]


def _torch_rates(lr: float, start_factor: float, warmup_steps: int, total_steps: int) -> np.ndarray:
    """The rate of each step under PyTorch's schedulers, built as the example describes them."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr)
    if warmup_steps == 0:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    else:
        warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=start_factor, end_factor=1.0,
                                                   total_iters=warmup_steps)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps)
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        param.grad = torch.zeros(1)
        optimizer.step()
        scheduler.step()
    return np.array(rates)


def _check_run(run: dict, lr: float, start_factor: float, warmup: bool, batch_size: int, r: dict,
               y_test: torch.Tensor) -> None:
    steps_per_epoch = math.ceil(1347 / batch_size)
    assert run["steps_per_epoch"] == steps_per_epoch and run["steps"] == r["epochs"] * steps_per_epoch
    assert math.isclose(run["lr"], lr, rel_tol=1e-12) and math.isclose(run["start_factor"], start_factor,
                                                                        rel_tol=1e-12)
    warmup_steps = r["warmup_epochs"] * steps_per_epoch if warmup else 0
    assert run["warmup_steps"] == warmup_steps
    expected = _torch_rates(lr, start_factor, warmup_steps, run["steps"])
    np.testing.assert_allclose(run["lrs"], expected, rtol=1e-9, atol=1e-15)
    if warmup:   # the warmup starts at start_factor * lr and reaches lr when it ends
        assert math.isclose(run["lrs"][0], start_factor * lr, rel_tol=1e-9)
        assert math.isclose(run["lrs"][warmup_steps], lr, rel_tol=1e-9)
    logits = torch.as_tensor(run["logits"], dtype=torch.float64)
    if np.all(np.isfinite(run["logits"])):
        loss = torch.nn.functional.cross_entropy(logits, y_test).item()
        assert abs(run["test_loss"] - loss) <= 1e-5 * max(1.0, loss), (run["test_loss"], loss)
    accuracy = (logits.argmax(dim=1) == y_test).double().mean().item()
    assert run["test_accuracy"] == accuracy
    assert run["train_loss"] == run["history"]["train_loss"][-1]


def check(r):
    y_test = torch.as_tensor(r["y_test"])
    batch_sizes, epochs = r["batch_sizes"], r["epochs"]
    assert batch_sizes[0] == 32 and batch_sizes[-1] == 1347 and len(batch_sizes) >= 3
    small, full = batch_sizes[0], batch_sizes[-1]

    for method, (_, base_lr, rule, warmup) in r["methods"].items():
        for b in batch_sizes:
            lr = base_lr * (b / 32 if rule == "linear" else math.sqrt(b / 32))
            assert len(r["runs"][method][b]) == len(r["seeds"])
            for run in r["runs"][method][b]:
                _check_run(run, lr, base_lr / lr, warmup, b, r, y_test)
            mean = np.mean([run["test_accuracy"] for run in r["runs"][method][b]])
            assert abs(r["accuracy"][(method, b)] - mean) < 1e-12
    for method, (_, grid) in r["tuned_grids"].items():
        by_lr = r["tuned"][method]
        assert sorted(by_lr) == sorted(grid)
        for lr, runs in by_lr.items():
            for run in runs:
                _check_run(run, lr, 32 / full, True, full, r, y_test)
        train_losses = [np.mean([run["train_loss"] for run in by_lr[lr]]) for lr in grid]
        assert r["chosen"][method] == grid[int(np.argmin(train_losses))]     # picked on training loss only
        mean = np.mean([run["test_accuracy"] for run in by_lr[r["chosen"][method]]])
        assert abs(r["accuracy"][(method, full)] - mean) < 1e-12

    # The claims, as they came out (--quick: seed 0, 10 epochs, B = 32, 256, 1347).
    accuracy = r["accuracy"]
    sgd = r["runs"]["SGD, linear scaling + warmup"]
    assert [sgd[b][0]["steps"] for b in batch_sizes] == [epochs * math.ceil(1347 / b) for b in batch_sizes]
    # an epoch takes less time in fewer, bigger steps (timings on a shared machine: a loose factor)
    assert sgd[full][0]["seconds_per_epoch"] * 3 < sgd[small][0]["seconds_per_epoch"]
    # the same epochs give every method fewer updates at the full batch, and a lower test accuracy
    for method in r["methods"]:
        assert accuracy[(method, full)] < accuracy[(method, small)], method
    assert all(accuracy[(method, small)] > 0.95 for method in r["methods"])
    # SGD's linear scaling breaks down at the full batch; LARS with the same rule holds
    sgd_full = accuracy[("SGD, linear scaling + warmup", full)]
    lars_full = accuracy[("LARS, linear scaling + warmup", full)]
    lamb_full = accuracy[("LAMB, sqrt scaling + warmup", full)]
    assert sgd_full < 0.5 and lars_full > 0.85 and lamb_full > 0.5, (sgd_full, lars_full, lamb_full)
    # Nado et al.: Nesterov/Adam with their rate tuned at the full batch match LARS/LAMB (within 0.05)
    best_tuned = max(accuracy[(method, full)] for method in r["tuned_grids"])
    assert best_tuned > max(lars_full, lamb_full) - 0.05 and best_tuned > sgd_full + 0.3
