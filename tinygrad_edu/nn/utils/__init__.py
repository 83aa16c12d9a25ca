"""Utilities for training, as ``torch.nn.utils``: gradient clipping (also importable from ``nn.utils.clip_grad``)."""

from __future__ import annotations

from . import clip_grad
from .clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad", "clip_grad_norm_", "clip_grad_value_"]
