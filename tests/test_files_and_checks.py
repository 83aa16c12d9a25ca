"""The two cross-cutting helpers: one atomic file write used by every writer, one module of argument checks."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import _checks, _files
from tinygrad_edu.train import History

# -- atomic writes ----------------------------------------------------------------------------------------


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    assert _files.atomic_write_text(path, "new", who="test") == os.fspath(path)
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_a_failed_write_leaves_the_old_file_untouched_and_cleans_up(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def half_then_fail(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        _files.atomic_write(path, half_then_fail, who="test")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]


def test_errors_name_the_writer_and_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="test: cannot write .*missing"):
        _files.atomic_write_bytes(tmp_path / "missing" / "x", b"", who="test")
    with pytest.raises(IsADirectoryError, match="test: cannot write"):
        _files.atomic_write_bytes(tmp_path, b"", who="test")


def test_every_writer_of_the_library_goes_through_the_one_implementation(tmp_path, monkeypatch):
    """tg.save, History.to_csv, viz.save_figure and viz.save_gif all flush through _files (one fsync each)."""
    from tinygrad_edu import surfaces, viz

    synced = []
    real = _files._fsync
    monkeypatch.setattr(_files, "_fsync", lambda path: (synced.append(os.path.basename(path)), real(path)))
    tg.save({"w": tg.ones(2)}, tmp_path / "a.tg")
    history = History()
    history.append(0, {"train_loss": 1.0})
    history.to_csv(tmp_path / "b.csv")
    viz.save_figure(history.plot(), tmp_path / "c.png")
    path = surfaces.descend(surfaces.parabola, lambda p: tg.optim.SGD(p, lr=0.1), start=(2.0,), steps=2)
    viz.save_gif(viz.animate_path(surfaces.parabola, path, figsize=(2, 2)), tmp_path / "d.gif")
    assert [name.split(".")[1] for name in synced] == ["a", "b", "c", "d"]  # the temporaries of a..d
    assert sorted(os.listdir(tmp_path)) == ["a.tg", "b.csv", "c.png", "d.gif"]


def test_save_refusing_an_object_leaves_the_file_untouched(tmp_path):
    path = tmp_path / "m.tg"
    tg.save({"x": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        tg.save({"x": object()}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.tg"]


# -- argument checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "3", None])
def test_check_int_names_the_value_and_the_expected_form(value):
    with pytest.raises(ValueError, match=rf"fit: epochs must be an integer >= 1, got {value!r}"):
        _checks.check_int("fit", "epochs", value, minimum=1)


def test_check_int_accepts_numpy_integers_and_returns_plain_ints():
    assert _checks.check_int("f", "n", np.int64(3), minimum=0) == 3
    assert type(_checks.check_int("f", "n", np.int64(3))) is int
    with pytest.raises(ValueError, match=r"in \[0, 5\]"):
        _checks.check_int("f", "n", 6, minimum=0, maximum=5)


@pytest.mark.parametrize("check, value, message", [
    (_checks.check_positive, 0.0, "must be a finite number > 0, got 0.0"),
    (_checks.check_positive, float("inf"), "must be a finite number > 0, got inf"),
    (_checks.check_non_negative, -1e-9, "must be a finite number >= 0, got -1e-09"),
    (_checks.check_non_negative, float("nan"), "must be a finite number >= 0, got nan"),
    (_checks.check_probability, 1.5, r"must be a finite number >= 0 and <= 1, got 1.5"),
    (_checks.check_positive, True, "must be a finite number > 0, got True"),
])
def test_number_checks(check, value, message):
    with pytest.raises(ValueError, match=rf"who: x {message}"):
        check("who", "x", value)


def test_number_checks_return_floats_and_respect_open_bounds():
    assert _checks.check_probability("f", "p", 1) == 1.0 and type(_checks.check_probability("f", "p", 1)) is float
    with pytest.raises(ValueError, match="< 1"):
        _checks.check_probability("f", "p", 1.0, include_one=False)
    assert _checks.check_number("f", "lr", np.float32(0.5), low=0, low_inclusive=False) == 0.5


def test_check_choice_lists_the_choices():
    assert _checks.check_choice("fit", "mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match="fit: mode must be 'min' or 'max', got 'auto'"):
        _checks.check_choice("fit", "mode", "auto", ("min", "max"))
    with pytest.raises(ValueError, match="one of 'a', 'b', 'c', got 1"):
        _checks.check_choice("f", "kind", 1, ("a", "b", "c"))
    with pytest.raises(ValueError):
        _checks.check_choice("f", "flag", True, (1, 2))  # True is not 1 here
    with pytest.raises(ValueError):
        _checks.check_choice("f", "kind", ["a"], ("a", "b"))  # unhashable is refused, not a crash
