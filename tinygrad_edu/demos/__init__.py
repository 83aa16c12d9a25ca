"""Experiments behind the command line's claim demos (``tinygrad-edu demo vanishing``, ``warmup``, ``names``).

Each module measures one claim of the sources on a laptop-sized problem and
returns its numbers (and writes its figures when given a directory); the
numbered example scripts print and assert them, and the ``demo`` command runs
them. Imported only by the command line and the examples, never by the library.

Each ``run(out=...)`` makes its output directory before it trains, so a
directory that cannot be made is reported in the first second, not after
minutes of training.
"""

from __future__ import annotations

import os


def output_directory(who: str, out: str | os.PathLike) -> str:
    """Make ``out`` (and its parents) if needed and return it; an error naming it if that cannot be done.

    Raises:
        TypeError: ``out`` is not a path.
        NotADirectoryError, FileExistsError, PermissionError, OSError: the
            directory cannot be made; the message names ``who`` and ``out``.

    Example:
        >>> import tempfile, os
        >>> from tinygrad_edu.demos import output_directory
        >>> path = output_directory("demo", os.path.join(tempfile.mkdtemp(), "pictures"))
        >>> os.path.isdir(path)
        True
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"{who}: out must be a directory path (str or os.PathLike) or None, got {type(out).__name__}")
    path = os.fspath(out)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise type(err)(err.errno, f"{who}: cannot create the output directory {path!r} "
                                   f"({err.strerror or err})") from None
    return path

