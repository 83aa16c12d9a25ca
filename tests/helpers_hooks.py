"""Shared helpers for the hook tests: one script run on tinygrad_edu and on PyTorch, the two logs compared."""

from __future__ import annotations

import numpy as np
import torch

import tinygrad_edu as tg


def arr(t):
    """A copy of a tensor's values (either library's), ``None`` kept."""
    if t is None:
        return None
    return t.detach().numpy().copy() if hasattr(t, "detach") else t.numpy().copy()


def same_logs(run):
    """Run ``run(lib)`` on tinygrad_edu and on PyTorch; the two logs must agree (arrays to float32 precision)."""
    ours, theirs = run(tg), run(torch)
    assert len(ours) == len(theirs), (ours, theirs)
    for a, b in zip(ours, theirs):
        assert_same(a, b)
    return ours


def assert_same(a, b):
    """Equal events: lists and tuples entry by entry, ``None`` only against ``None``, arrays to 1e-5."""
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif a is None or b is None:
        assert a is None and b is None, (a, b)
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                                   rtol=1e-5, atol=1e-6)
    else:
        assert a == b, (a, b)
