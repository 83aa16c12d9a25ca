"""Writing files atomically: the one implementation every writer of the library uses.

``tg.save``, ``History.to_csv`` (and so ``CSVLogger``), ``tg.viz.save_figure``,
``tg.viz.save_gif`` and the command line all write through `atomic_write`:
the content goes to a temporary file in the target's own directory, is
flushed to disk (``fsync``), and only then renamed over the target with
``os.replace``, which is atomic on POSIX and Windows. So a reader (or a crash)
never sees half a file, and a failed write leaves whatever was at the path
before untouched; the temporary file is removed on any error.

Three details make it behave like a plain ``open(path, "w")`` to the people
sharing a directory:

- Permissions: a new file gets ``0o666`` less the umask, exactly as ``open()``
  creates it (the temporary is created with ``os.open(..., 0o666)``, so the
  kernel applies the umask and any default ACL); a file that already exists
  keeps its permission bits, as ``open()`` keeps them when it truncates.
  (Python's ``tempfile.mkstemp`` would make every file ``0o600``.)
- Temporaries are recognisable: ``.<name>.tmp-<host>-<pid>-<8 hex digits><suffix>``
  beside ``<name>``. A process killed mid-write (``SIGKILL``, power loss) leaves
  one behind; the next write of the same target removes those whose process is
  gone (same host, process id no longer running) or that are over a day old.
  A temporary of a live writer is never touched, so two processes saving the
  same file do not break each other.
- Errors name the target, not the temporary: a ``PermissionError`` or a full
  disk (``OSError``) reads ``[Errno 13] save: Permission denied: 'ckpt.tg'``,
  as ``open()`` words it, with ``filename`` set to the target. (PyTorch's
  ``torch.save`` follows the umask too, being ``open()``, but a refused write
  is a ``RuntimeError`` from its zip writer that names no file.)
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable
from typing import Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "temporary_name_pattern"]

# A temporary older than this is stale whoever made it (a process on another host sharing the directory).
STALE_AFTER_S = 24 * 3600


def _host() -> str:
    """This machine's name with only letters, digits and dashes (the temporaries' names carry it)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def temporary_name_pattern(path: str | os.PathLike) -> re.Pattern:
    """The names `atomic_write` gives the temporaries of ``path`` (groups: host, pid)."""
    name = os.path.basename(os.fspath(path))
    return re.compile(r"\." + re.escape(name) + r"\.tmp-(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)-[0-9a-f]{8}(\.[^/]*)?\Z")


def _process_is_gone(pid: int) -> bool:
    """True if no process ``pid`` runs on this machine (POSIX only: on Windows os.kill would terminate it)."""
    if os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, under another user
        return False
    return False


def _remove_stale_temporaries(path: str) -> None:
    """Remove the temporaries of ``path`` that no running writer owns; never fails the write."""
    directory = os.path.dirname(os.path.abspath(path))
    pattern, host, now = temporary_name_pattern(path), _host(), time.time()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        full = os.path.join(directory, name)
        try:
            pid = int(match["pid"])
            mine = match["host"] == host and pid != os.getpid()
            if (mine and _process_is_gone(pid)) or now - os.lstat(full).st_mtime > STALE_AFTER_S:
                os.unlink(full)
        except OSError:  # gone already (another writer cleaned it), or not ours to remove
            continue


def _create_temporary(path: str, suffix: str) -> str:
    """Create an empty temporary beside ``path`` with the permissions ``open(path, 'w')`` would leave."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}.tmp-{_host()}-{os.getpid()}-"
    try:
        existing = stat.S_IMODE(os.stat(path).st_mode) if os.path.isfile(path) else None
    except OSError:
        existing = None
    for _ in range(100):
        tmp = os.path.join(directory, prefix + secrets.token_hex(4) + suffix)
        try:
            # 0o666 less the umask, as open() creates files (mkstemp would force 0o600).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        try:
            if existing is not None:  # open() keeps an existing file's permissions; so does the replacement
                os.chmod(tmp, existing)
        finally:
            os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path!r}")


def _naming_the_target(err: OSError, who: str, path: str) -> OSError:
    """``err`` again (same class and errno), its message naming ``path`` instead of the temporary file."""
    # As open() words it, "[Errno 13] save: Permission denied: 'ckpt.tg'", with the filename attribute set.
    return type(err)(err.errno, f"{who}: {err.strerror or err}", path)


def _fsync(path: str) -> None:
    """Flush ``path``'s data to disk (a writer given only a path may have left it in the OS cache)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: str) -> None:
    """Flush the rename itself (POSIX); skipped where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any], who: str = "write",
                 suffix: str | None = None) -> str:
    """Call ``write(temporary_path)``, flush it to disk, then rename it onto ``path``; return ``path``.

    The new file's permissions are those ``open(path, "w")`` would give: ``0o666``
    less the umask for a new file, the old permission bits for an existing one.
    Stale temporaries of ``path`` (left by a killed writer) are removed first.

    Args:
        path: the file to write (its directory must exist).
        write: writes the whole content to the path it is given (the
            temporary file, already created and empty).
        who: the public function doing the write, for error messages.
        suffix: how the temporary file's name ends (writers that pick the
            format from the name need the right one); by default ``path``'s own.

    Raises:
        FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError, OSError:
            if ``path`` cannot be written (a full disk included); the message
            names ``path``, never the temporary. Anything else ``write`` raises
            propagates, after the temporary file is removed.

    Example:
        >>> import os, tempfile
        >>> from tinygrad_edu._files import atomic_write
        >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
        >>> def write(tmp):
        ...     with open(tmp, "w") as handle:
        ...         _ = handle.write("hello")
        >>> atomic_write(path, write) == path
        True
        >>> open(path).read()
        'hello'
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
    _remove_stale_temporaries(path)
    try:
        tmp = _create_temporary(path, suffix)
    except OSError as err:
        raise _naming_the_target(err, who, path) from err
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        # An OSError about the temporary (or with no file named: a full disk) is the target's failure.
        if isinstance(err, OSError) and err.filename in (None, tmp, path) and err.filename2 in (None, path):
            raise _naming_the_target(err, who, path) from err
        raise
    _fsync_directory(directory)
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
