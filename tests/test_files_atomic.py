"""The one atomic file writer (tinygrad_edu/_files.py) behaves as open() does for the people sharing a directory:
permissions from the umask, errors naming the target, recognisable temporaries cleaned after a killed write, and a
kill at any moment leaving the old or the new file, never a mix."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import _files

posix_only = pytest.mark.skipif(os.name != "posix", reason="umask, fork and signals are POSIX's")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- permissions follow the umask, as open() ------------------------------------------------------------------


_UMASK_SCRIPT = """
import os, stat, sys
with_torch = sys.argv[2] == "torch"
if with_torch:
    import torch
import tinygrad_edu as tg
from tinygrad_edu.train import History
for umask in (0o022, 0o027, 0o002, 0o077):
    os.umask(umask)
    d = os.path.join(sys.argv[1], oct(umask))
    os.mkdir(d)
    open(os.path.join(d, "open.txt"), "w").close()
    tg.save({"w": tg.ones(2)}, os.path.join(d, "save.tg"))
    history = History(); history.append(0, {"train_loss": 1.0}); history.to_csv(os.path.join(d, "log.csv"))
    if with_torch:
        torch.save({"w": torch.ones(2)}, os.path.join(d, "torch.pt"))
    for name in sorted(os.listdir(d)):
        print(oct(umask), name, oct(stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode)))
"""


def _modes_under_umasks(tmp_path, with_torch: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", _UMASK_SCRIPT, os.fspath(tmp_path), "torch" if with_torch else "-"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    modes: dict = {}
    for line in out.splitlines():
        umask, name, mode = line.split()
        modes.setdefault(int(umask, 8), {})[name] = mode
    assert sorted(modes) == [0o002, 0o022, 0o027, 0o077]
    return modes


@posix_only
def test_new_files_get_the_permissions_open_gives_them(tmp_path):
    """In a subprocess, under four umasks: tg.save and History.to_csv against open(path, 'w') in the same directory
    (before, every file was 0o600, tempfile.mkstemp's mode)."""
    for umask, modes in _modes_under_umasks(tmp_path, with_torch=False).items():
        assert modes["open.txt"] == oct(0o666 & ~umask)
        assert modes["save.tg"] == modes["log.csv"] == modes["open.txt"], (oct(umask), modes)


@posix_only
@pytest.mark.slow
def test_new_files_get_the_permissions_torch_save_gives_them(tmp_path):
    pytest.importorskip("torch")
    for umask, modes in _modes_under_umasks(tmp_path, with_torch=True).items():
        assert modes["save.tg"] == modes["torch.pt"] == modes["open.txt"], (oct(umask), modes)


@posix_only
def test_an_existing_file_keeps_its_permissions_as_open_keeps_them(tmp_path):
    reference, path = tmp_path / "ref.txt", tmp_path / "model.tg"
    reference.write_text("old")
    tg.save({"a": 1}, path)
    for mode in (0o640, 0o604, 0o600):
        os.chmod(reference, mode)
        os.chmod(path, mode)
        with open(reference, "w") as handle:  # open() truncating an existing file keeps its mode
            handle.write("new")
        tg.save({"a": 2}, path)
        assert _mode(path) == _mode(reference) == mode
    assert tg.load(path) == {"a": 2}


# -- errors name the target -------------------------------------------------------------------------------------


def _as_a_user_who_cannot_write(directory, attempt) -> str:
    """Run ``attempt()`` (returning a report) in a forked child that cannot write ``directory``."""
    if os.geteuid() == 0:
        os.chmod(directory, 0o755)  # root writes anywhere: the child drops to nobody
    else:
        os.chmod(directory, 0o555)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # never returns into pytest
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            os.write(write_end, attempt().encode())
        except BaseException as err:  # reported to the parent, which fails the test with it
            os.write(write_end, f"child failed: {err!r}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    os.chmod(directory, 0o755)
    return b"".join(chunks).decode()


def _attempts(directory, writers) -> dict:
    """For each (name, write(target)) in ``writers``, what a user who cannot write ``directory`` gets."""
    target = os.path.join(directory, "ckpt.tg")

    def attempt() -> str:
        lines = []
        for name, write in writers:
            try:
                write(target)
                lines.append(f"{name} wrote")
            except Exception as err:  # noqa: BLE001 (reported and compared by the parent)
                lines.append(f"{name} {type(err).__name__} {getattr(err, 'errno', None)} "
                             f"{getattr(err, 'filename', None)!r} | {err}")
        return "\n".join(lines)

    # A directory the other user can reach (pytest's own temporary directories are private to root).
    outcomes = {line.split()[0]: line for line in _as_a_user_who_cannot_write(directory, attempt).splitlines()}
    assert set(outcomes) == {name for name, _ in writers}, outcomes
    assert os.listdir(directory) == []
    return outcomes


@pytest.fixture
def shared_directory(tmp_path):
    if os.geteuid() != 0:
        yield os.fspath(tmp_path)
        return
    directory = tempfile.mkdtemp(prefix="tg-shared-")  # under /tmp, which nobody can reach, unlike tmp_path
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@posix_only
def test_a_permission_error_names_the_target_as_open_does(shared_directory):
    outcomes = _attempts(shared_directory, [("open", lambda target: open(target, "wb")),
                                            ("save", lambda target: tg.save({"a": 1}, target))])
    target = os.path.join(shared_directory, "ckpt.tg")
    for line in outcomes.values():
        kind, number, filename = line.split()[1:4]
        assert (kind, number, filename) == ("PermissionError", str(errno.EACCES), repr(target)), line
    assert target in outcomes["save"] and ".tmp" not in outcomes["save"] and "save:" in outcomes["save"]


@posix_only
@pytest.mark.slow
def test_torch_save_refuses_too_but_names_no_file(shared_directory):
    """PyTorch's zip writer raises RuntimeError("... open file failed with strerror: Permission denied") without
    the file's name; tg.save follows open() instead (a PermissionError naming the target)."""
    torch = pytest.importorskip("torch")
    outcomes = _attempts(shared_directory, [("torch", lambda target: torch.save({"a": 1}, target)),
                                            ("save", lambda target: tg.save({"a": 1}, target))])
    assert "Permission denied" in outcomes["torch"] and "wrote" not in outcomes["torch"]
    assert outcomes["save"].split()[1] == "PermissionError"


def test_a_full_disk_names_the_target_and_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.tg"
    tg.save({"a": 1}, path)

    def disk_full(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as caught:
        _files.atomic_write(path, disk_full, who="save")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == os.fspath(path)
    assert "save:" in str(caught.value) and os.fspath(path) in str(caught.value) and ".tmp" not in str(caught.value)
    assert tg.load(path) == {"a": 1} and os.listdir(tmp_path) == ["model.tg"]


def test_an_error_about_another_file_is_left_as_it_is(tmp_path):
    def missing_font(tmp):
        raise FileNotFoundError(errno.ENOENT, "No such file", "/no/such/font.ttf")

    with pytest.raises(FileNotFoundError) as caught:
        _files.atomic_write(tmp_path / "figure.png", missing_font, who="save_figure")
    assert caught.value.filename == "/no/such/font.ttf" and os.listdir(tmp_path) == []


# -- recognisable temporaries, and stale ones cleaned ---------------------------------------------------------------


def test_the_temporary_is_named_after_the_target_and_recognisable(tmp_path):
    seen = []

    def write(tmp):
        seen.append(os.path.basename(tmp))
        with open(tmp, "w") as handle:
            handle.write("x")

    _files.atomic_write(tmp_path / "model.tg", write)
    (name,) = seen
    assert name.startswith(".model.tg.tmp-") and name.endswith(".tg")
    match = _files.temporary_name_pattern(tmp_path / "model.tg").match(name)
    assert match is not None and int(match["pid"]) == os.getpid()
    assert _files.temporary_name_pattern(tmp_path / "other.tg").match(name) is None


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@posix_only
def test_stale_temporaries_of_the_target_are_removed_by_the_next_save(tmp_path):
    host = _files._host()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f".model.tg.tmp-{host}-{_dead_pid()}-0123abcd.tg",  # its writer was killed: removed
            "live": f".model.tg.tmp-{host}-{sleeper.pid}-0123abcd.tg",  # its writer still runs: kept
            "elsewhere": ".model.tg.tmp-otherhost-12345-0123abcd.tg",  # another host's, recent: kept
            "old": ".model.tg.tmp-otherhost-12346-0123abcd.tg",  # another host's, two days old: removed
            "other-target": f".other.tg.tmp-{host}-{_dead_pid()}-0123abcd.tg",  # not this target's: kept
            "not-ours": ".model.tg.backup",  # not a temporary's name: kept
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"partial")
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(tmp_path / names["old"], (two_days_ago, two_days_ago))
        tg.save({"a": 1}, tmp_path / "model.tg")
        left = set(os.listdir(tmp_path))
        assert left == {"model.tg"} | {names[k] for k in ("live", "elsewhere", "other-target", "not-ours")}
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_host_in_the_name_is_this_machines(tmp_path):
    assert _files._host() == "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:32]


# -- killed at random moments -----------------------------------------------------------------------------------


def _version(k: int) -> dict:
    return {"k": k, "w": np.full(40_000, float(k)), "tail": [k] * 50}


@posix_only
@pytest.mark.slow
def test_a_save_killed_at_random_moments_leaves_the_old_or_the_new_file(tmp_path):
    """A forked writer saves versions 0, 1, 2, ... of one file in a loop and is SIGKILLed after a random delay,
    30 times. After each kill the file loads, and to one whole version (never a mix, never older than the last
    one seen); the temporaries a kill leaves are removed by the next save."""
    path = tmp_path / "model.tg"
    tg.save(_version(0), path)
    rng = np.random.default_rng(0)
    last, orphans_seen, k = 0, 0, 1
    pattern = _files.temporary_name_pattern(path)
    for _ in range(30):
        start = k
        pid = os.fork()
        if pid == 0:  # the writer: never returns into pytest
            try:
                for version in range(start, start + 1000):
                    tg.save(_version(version), path)
            finally:
                os._exit(0)
        time.sleep(float(rng.uniform(0.0, 0.03)))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        k = start + 1000
        loaded = tg.load(path)
        assert isinstance(loaded["k"], int) and loaded["k"] >= last
        assert loaded["k"] == 0 or start <= loaded["k"] < start + 1000 or loaded["k"] == last
        assert (loaded["w"] == loaded["k"]).all() and loaded["tail"] == [loaded["k"]] * 50
        last = loaded["k"]
        orphans = [name for name in os.listdir(tmp_path) if pattern.match(name)]
        assert len(orphans) <= 1  # each killed writer left at most its one temporary
        orphans_seen += len(orphans)
    assert orphans_seen > 0  # some kills did land mid-write
    tg.save(_version(k), path)
    assert os.listdir(tmp_path) == ["model.tg"] and tg.load(path)["k"] == k
