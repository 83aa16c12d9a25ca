"""Freed memory kept for the next step, instead of returned to the system and faulted back in.

A training step allocates the same arrays every time: a convolution's
columns, each layer's activations, their gradients. glibc's ``malloc`` hands
any block larger than its *mmap threshold* straight back to the operating
system when it is freed, and returns the top of its heap above a *trim
threshold*; the next step then asks for the same memory again and pays a page
fault per 4 KiB page, plus the zeroing, before the first byte is used. On
these machines that was half of a small CNN's or transformer's step (measured
in ``benchmarks/zoo.py``: 1,800 page faults per step of the MNIST CNN, 14.8 ms
against 8.9 ms without them).

`keep_freed_memory` raises both thresholds through glibc's ``mallopt``, so
blocks up to 32 MiB come from the heap and up to 256 MiB of freed heap is
kept for reuse. It is called once when ``tinygrad_edu`` is imported, on Linux
with glibc only (elsewhere it does nothing and says so). The cost is memory
the process keeps after it is done with it, bounded by the trim threshold.
Set the environment variable ``TINYGRAD_EDU_SYSTEM_MALLOC=1`` before the
import to leave ``malloc`` as it is.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["keep_freed_memory"]

# glibc's <malloc.h> parameter numbers
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc accepts an mmap threshold of at most HEAP_MAX_SIZE / 2: 32 MiB on 64-bit systems
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024


def keep_freed_memory(mmap_threshold: int = MAX_MMAP_THRESHOLD, trim_threshold: int = 256 * 1024 * 1024) -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse; True if it applied (Linux with glibc), else False.

    Args:
        mmap_threshold: blocks smaller than this many bytes come from the heap, whose freed memory is
            reused (at most 32 MiB, glibc's limit).
        trim_threshold: freed memory at the top of the heap is returned to the system only beyond
            this many bytes.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.memory.keep_freed_memory() in (True, False)
        True
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int (bytes), got {value!r}")
    if mmap_threshold > MAX_MMAP_THRESHOLD:
        raise ValueError(f"mmap_threshold must be at most {MAX_MMAP_THRESHOLD} bytes (glibc's limit), "
                         f"got {mmap_threshold}")
    if not _is_glibc():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    trim_threshold = min(trim_threshold, 2**31 - 1)
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not a glibc system (macOS, Windows, musl)
        return False


def _keep_on_import() -> None:
    if os.environ.get("TINYGRAD_EDU_SYSTEM_MALLOC", "") not in ("", "0"):
        return
    keep_freed_memory()


_keep_on_import()
