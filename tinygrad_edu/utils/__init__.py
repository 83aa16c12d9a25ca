"""Import-path twins of ``torch.utils``, so PyTorch code runs with only its import changed.

``tg.utils.data`` is ``tg.data``: ``from tinygrad_edu.utils.data import DataLoader`` works as
``from torch.utils.data import DataLoader`` does. ``tg.utils.checkpoint`` is gradient checkpointing,
as ``torch.utils.checkpoint``: ``tg.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False)``.
``tg.utils.hooks.RemovableHandle`` is what every ``register_*_hook`` returns, as ``torch.utils.hooks``'.
"""

from __future__ import annotations

from . import checkpoint, data, hooks

__all__ = ["data", "checkpoint", "hooks"]
