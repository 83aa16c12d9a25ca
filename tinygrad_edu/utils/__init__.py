"""Import-path twins of ``torch.utils``, so PyTorch code runs with only its import changed.

``tg.utils.data`` is ``tg.data``: ``from tinygrad_edu.utils.data import DataLoader`` works as
``from torch.utils.data import DataLoader`` does.
"""

from __future__ import annotations

from . import data

__all__ = ["data"]
