"""Devices: this library runs on the CPU, and says so clearly when asked for anything else.

``tg.device("cpu")``, ``device=`` on factories, ``.to(device)``, ``.cpu()``,
``tg.cuda.is_available()`` and ``tg.accelerator.is_available()`` exist so that
device-agnostic PyTorch code (``device = "cuda" if torch.cuda.is_available()
else "cpu"``) runs unchanged. Asking for any other device is an error naming it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["device", "check_device", "parse_to_args", "cuda", "accelerator"]


class device:  # noqa: N801 - PyTorch's name
    """A device, as ``torch.device``: only ``"cpu"`` (or ``"cpu:0"``) exists here.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.device("cpu")
        device(type='cpu')
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 - PyTorch's name
        if isinstance(type, device):
            type, index = type.type, type.index  # noqa: A001
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name, _, number = type.partition(":")
        if number:
            if not number.isdigit():
                raise ValueError(f"device: invalid device string {type!r} (expected 'cpu' or 'cpu:0')")
            index = int(number)
        if name != "cpu":
            raise RuntimeError(
                f"device {type!r} is not available: tinygrad_edu runs on the CPU only. Use 'cpu' "
                f"(tg.cuda.is_available() and tg.accelerator.is_available() are False, so the usual "
                f"`'cuda' if torch.cuda.is_available() else 'cpu'` picks it)"
            )
        if index not in (None, 0):
            raise RuntimeError(f"device 'cpu:{index}' does not exist: there is one CPU device, 'cpu' (or 'cpu:0')")
        self.type, self.index = "cpu", index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in ("cpu", "cpu:0")
        return isinstance(other, device)

    def __hash__(self) -> int:
        return hash("cpu")

    def __repr__(self) -> str:
        return "device(type='cpu')" if self.index is None else f"device(type='cpu', index={self.index})"

    def __str__(self) -> str:
        return "cpu" if self.index is None else f"cpu:{self.index}"


def check_device(value: Any) -> None:
    """Accept ``None``, ``"cpu"`` or a `device`; anything else is a clear error."""
    if value is not None:
        device(value)


def _is_device(value: Any) -> bool:
    return isinstance(value, (str, device))


def parse_to_args(args: tuple, kwargs: dict, caller: str = "to") -> np.dtype | None:
    """The dtype that ``.to(...)`` asks for (``None`` if only a device), with every device checked.

    Takes PyTorch's spellings: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
    ``to(other_tensor)`` (its dtype), and ``device=``, ``dtype=``, ``non_blocking=``, ``copy=``.
    """
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"{caller}() got unexpected keyword argument(s) {sorted(unknown)}")
    if len(args) > 2:
        raise TypeError(f"{caller}() takes at most a device and a dtype, got {len(args)} positional arguments")
    dtype = kwargs.get("dtype")
    check_device(kwargs.get("device"))
    for arg in args:
        if _is_device(arg):
            check_device(arg)
        elif not isinstance(arg, type) and hasattr(arg, "dtype") and hasattr(arg, "shape"):  # to(other_tensor)
            dtype = arg.dtype
        elif arg is not None:
            dtype = arg
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{caller}(): {dtype!r} is neither a device ('cpu') nor a dtype (tg.float32, ...)") from None


def _false() -> bool:
    return False


#: ``tg.cuda.is_available()`` is False: there is no GPU here.
cuda = SimpleNamespace(is_available=_false, device_count=lambda: 0,
                       manual_seed=lambda seed: None, manual_seed_all=lambda seed: None)
#: ``tg.accelerator.is_available()`` is False (PyTorch 2.6+'s device-agnostic spelling).
accelerator = SimpleNamespace(is_available=_false, device_count=lambda: 0)
