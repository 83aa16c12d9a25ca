"""The command line's failures end in one line on stderr and a non-zero status, never a traceback.

Each case is the way a user meets it: an output file that cannot be written
(a directory in its place, a disk that is full, read-only or forbidden),
an output directory under a regular file, Ctrl-C in the middle of a demo, and
a reader that closes the pipe. The reference is what a shell expects of a
command: status 1 for an error, 128 + the signal for a signal (130 for
SIGINT, 141 for SIGPIPE), and the reason in the operating system's own words
(``os.strerror``). Subprocess cases run the real ``python -m tinygrad_edu.cli``.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from tinygrad_edu import cli

COMMAND = [sys.executable, "-u", "-m", "tinygrad_edu.cli", "demo"]


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def _leftovers(directory) -> list[str]:
    """Temporary files of the atomic writer (named after their target, starting with a dot)."""
    return [name for name in os.listdir(directory) if name.startswith(".")]


def test_an_output_file_with_a_directory_in_its_place_is_one_line_and_status_1(tmp_path, capsys):
    blocked = tmp_path / "linear_regression_loss.png"
    blocked.mkdir()
    assert cli.main(["demo", "linear", "--out", str(tmp_path)]) == 1  # in-process: the subprocess cases are below
    err = capsys.readouterr().err
    _no_traceback(err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0] == f"tinygrad-edu: cannot write {str(blocked)!r}: {os.strerror(errno.EISDIR)}"
    assert blocked.is_dir() and not _leftovers(tmp_path)


def test_an_output_directory_under_a_regular_file_is_one_line_and_status_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = subprocess.run([*COMMAND, "linear", "--out", str(blocker / "sub")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1
    _no_traceback(done.stderr)
    assert done.stderr.strip().splitlines() == [
        f"tinygrad-edu: cannot create the output directory {str(blocker / 'sub')!r}: {os.strerror(errno.ENOTDIR)}"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_disk_that_refuses_the_write_is_one_line_naming_the_target(code, tmp_path, monkeypatch, capsys):
    # Running as root, a read-only directory would not stop the write: the refusal is simulated where the
    # atomic writer flushes the file to disk, which is where a full disk or a quota reports itself.
    def refuse(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", refuse)
    assert cli.main(["demo", "linear", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    _no_traceback(captured.err)
    target = tmp_path / "linear_regression_loss.png"
    assert captured.err.strip().splitlines() == [f"tinygrad-edu: cannot write {str(target)!r}: {os.strerror(code)}"]
    assert os.listdir(tmp_path) == []  # neither the target nor a temporary file was left


def test_ctrl_c_in_the_middle_of_a_demo_is_one_line_and_status_130(tmp_path):
    process = subprocess.Popen([*COMMAND, "vanishing", "--out", str(tmp_path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        # The demo prints its header, then trains for a long time: interrupt it there.
        header = process.stdout.readline()
        assert "Linear layers" in header, header
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    _no_traceback(err)
    assert err.strip().splitlines() == ["tinygrad-edu: interrupted (Ctrl-C); files already written are complete"]
    assert not _leftovers(tmp_path)


SWALLOWED = """
import ctypes, os, signal, sys, time
from tinygrad_edu import cli

def callback():          # as llvmlite's object-cache callback while numba compiles: Python drops what it raises
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)      # the KeyboardInterrupt is raised here, inside the callback, and dropped

def command(args):
    ctypes.CFUNCTYPE(None)(callback)()
    for _ in range(100):  # the command runs on: 5 s unless the Ctrl-C reaches it
        time.sleep(0.05)
    return 0

cli._command = command
sys.exit(cli.main(["demo", "--list"]))
"""


def test_ctrl_c_dropped_inside_a_callback_still_stops_the_command():
    """A Ctrl-C landing in a ctypes callback (numba compiling, the first time a model runs) is dropped by Python;
    the command line raises it again until it gets through: one line, status 130, no 'Exception ignored'."""
    done = subprocess.run([sys.executable, "-c", SWALLOWED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == [
        "tinygrad-edu: interrupted (Ctrl-C); files already written are complete"], done.stderr


def test_a_closed_pipe_ends_quietly_with_status_141(tmp_path):
    process = subprocess.Popen([*COMMAND, "--list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the command writes anything (as `| head -0`)
    err = process.stderr.read().decode()
    process.wait(timeout=120)
    process.stderr.close()
    assert process.returncode == 141, err
    assert err == ""


def test_the_entry_point_still_succeeds_and_lists(capsys):
    assert cli.main(["demo", "--list"]) == 0
    assert "linear" in capsys.readouterr().out


@pytest.mark.parametrize("demo", ["vanishing", "warmup", "names"])
def test_a_demo_refuses_an_output_directory_before_it_trains(demo, tmp_path, capsys):
    import importlib

    module = importlib.import_module(f"tinygrad_edu.demos.{demo}")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(NotADirectoryError, match=rf"{demo}.run: cannot create the output directory .*file/sub"):
        module.run(out=str(blocker / "sub"), quick=True)
    assert capsys.readouterr().out == ""  # refused before the first line of the experiment


def test_a_missing_optional_dependency_is_one_line_naming_the_extra(tmp_path):
    # scikit-learn made unimportable in the child (None in sys.modules makes `import sklearn` raise ImportError).
    code = ("import sys; sys.modules['sklearn'] = None; from tinygrad_edu.cli import main; "
            f"sys.exit(main(['demo', 'vanishing', '--out', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    _no_traceback(done.stderr)
    assert done.stderr.strip().splitlines() == [
        'tinygrad-edu: tg.datasets.digits needs scikit-learn, which ships the digits data: '
        'pip install "tinygrad-edu[digits]"']
