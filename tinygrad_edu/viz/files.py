"""Writing pictures to disk, atomically: a temporary file beside the target, then a rename.

A reader (or a crash) never sees half a picture, and a failed write leaves
whatever was at the path before untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure

__all__ = ["atomic_write", "save_figure"]


def atomic_write(who: str, path: str | os.PathLike, write: Callable[[str], Any], suffix: str | None = None) -> str:
    """Call ``write(temporary_path)``, then rename the result onto ``path``; return ``path``.

    ``suffix`` ends the temporary file's name (writers that pick the format
    from it need the right one); by default, ``path``'s own.

    Raises:
        FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError:
            if ``path`` cannot be written; the message names it.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: cannot write to {path!r}: it is a directory")
    if not os.path.exists(directory):
        raise FileNotFoundError(f"{who}: cannot write {path!r}: the directory {directory!r} does not exist")
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"{who}: cannot write {path!r}: {directory!r} is not a directory")
    suffix = os.path.splitext(path)[1] if suffix is None else suffix
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=suffix)
    except OSError as err:
        raise type(err)(err.errno, f"{who}: cannot write {path!r} ({err.strerror})") from err
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_figure(figure: Figure, path: str | os.PathLike, dpi: float | None = None) -> str:
    """Write a Figure to ``path`` atomically; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).

    Example:
        >>> import tinygrad_edu as tg, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "curve.png")
        >>> fig = tg.viz.plot_path_1d(tg.surfaces.parabola)
        >>> tg.viz.save_figure(fig, path) == path
        True
    """
    if not isinstance(figure, Figure):
        raise TypeError(f"save_figure: expected a matplotlib Figure, got {type(figure).__name__}")
    extension = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    return atomic_write("save_figure", path, lambda tmp: figure.savefig(tmp, format=extension, dpi=dpi))
