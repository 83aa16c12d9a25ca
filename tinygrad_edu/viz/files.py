"""Writing pictures to disk, atomically, through the library's one `atomic_write`.

A reader (or a crash) never sees half a picture, and a failed write leaves
whatever was at the path before untouched.
"""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from .._files import atomic_write

__all__ = ["save_figure"]


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
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format=extension, dpi=dpi), who="save_figure")
