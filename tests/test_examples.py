"""The example scripts run and learn what they claim to teach."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

import tinygrad_edu as tg

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_regression_example_reaches_least_squares_solution():
    example = _load("01_linear_regression")
    w, b, loss = example.train(epochs=300, lr=0.1, seed=0, verbose=False)
    # The same data, solved exactly by least squares: gradient descent must land there.
    tg.manual_seed(0)
    tg.nn.Linear(1, 1)  # the example draws the layer's init first; keep the stream aligned
    x = tg.randn(100, 1).numpy().astype(np.float64)
    y = 3 * x + 1 + 0.1 * tg.randn(100, 1).numpy()
    design = np.hstack([x, np.ones_like(x)])
    (w_ls, b_ls), *_ = np.linalg.lstsq(design, y[:, 0], rcond=None)
    assert abs(w - w_ls) < 1e-4 and abs(b - b_ls) < 1e-4
    assert abs(w - 3) < 0.05 and abs(b - 1) < 0.05
    residual = design @ np.array([w_ls, b_ls]) - y[:, 0]
    assert abs(loss - np.mean(residual**2)) < 1e-5


def test_linear_regression_example_runs_as_a_script():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "01_linear_regression.py"), "--epochs", "20"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Epoch 0: Loss = ")
    assert len([line for line in lines if line.startswith("Epoch ")]) == 2
    assert "learned w =" in lines[-1]
