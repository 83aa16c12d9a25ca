"""Writing files atomically: the one implementation every writer of the library uses.

``tg.save``, ``History.to_csv`` (and so ``CSVLogger``), ``tg.viz.save_figure``,
``tg.viz.save_gif`` and the command line all write through `atomic_write`:
the content goes to a temporary file in the target's own directory, is
flushed to disk (``fsync``), and only then renamed over the target with
``os.replace``, which is atomic on POSIX and Windows. So a reader (or a crash)
never sees half a file, and a failed write leaves whatever was at the path
before untouched; the temporary file is removed on any error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]


def _fsync(path: str) -> None:
    """Flush ``path``'s data to disk (a writer given only a path may have left it in the OS cache)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any], who: str = "write",
                 suffix: str | None = None) -> str:
    """Call ``write(temporary_path)``, flush it to disk, then rename it onto ``path``; return ``path``.

    Args:
        path: the file to write (its directory must exist).
        write: writes the whole content to the path it is given (the
            temporary file, already created and empty).
        who: the public function doing the write, for error messages.
        suffix: how the temporary file's name ends (writers that pick the
            format from the name need the right one); by default ``path``'s own.

    Raises:
        FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError:
            if ``path`` cannot be written; the message names it. Anything
            ``write`` raises propagates, after the temporary file is removed.
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
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, who: str = "write") -> str:
    """Write ``data`` to ``path`` atomically (see `atomic_write`)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    return atomic_write(path, write, who=who)


def atomic_write_text(path: str | os.PathLike, text: str, who: str = "write", encoding: str = "utf-8") -> str:
    """Write ``text`` to ``path`` atomically, with no newline translation (see `atomic_write`)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding=encoding, newline="") as handle:
            handle.write(text)

    return atomic_write(path, write, who=who)
