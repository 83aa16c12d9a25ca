"""``torch.utils.data``'s twin: the very objects of `tinygrad_edu.data` under PyTorch's import path.

Example:
    >>> import tinygrad_edu as tg
    >>> from tinygrad_edu.utils.data import DataLoader
    >>> DataLoader is tg.data.DataLoader
    True
"""

from __future__ import annotations

from ..data import DataLoader, Dataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split"]
