"""The command line: `tinygrad-edu demo [NAME] [--out DIR]` and `--list`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tinygrad_edu import cli


def test_list_names_every_demo(capsys):
    assert cli.main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    for name in cli.DEMOS:
        assert name in out


def test_unknown_demo_lists_the_valid_ones(capsys, tmp_path):
    assert cli.main(["demo", "no-such-demo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no-such-demo" in err and all(name in err for name in cli.DEMOS)
    assert not any(tmp_path.iterdir())


def test_an_output_directory_that_cannot_be_made_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit, match="cannot create the output directory"):
        cli.main(["demo", "linear", "--out", str(blocker / "sub")])


@pytest.mark.parametrize("name,files", [
    ("linear", ["linear_regression_loss.png"]),
    ("surface", ["quadratic_contour.png", "quadratic_surface_3d.png"]),
    ("descent-1d", ["descent_1d.png", "descent_1d.gif"]),
    ("sgd-vs-adam", ["sgd_vs_adam.png"]),
])
def test_each_demo_writes_its_pictures(name, files, tmp_path, capsys):
    assert cli.main(["demo", name, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for file in files:
        path = tmp_path / file
        assert path.stat().st_size > 1000
        assert str(path) in out
        with open(path, "rb") as handle:
            head = handle.read(8)
        assert head.startswith(b"\x89PNG") if file.endswith(".png") else head.startswith(b"GIF8")
    assert sorted(os.listdir(tmp_path)) == sorted(files)  # no temporary files left behind


def test_the_main_demo_learns_the_line_and_runs_as_a_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tinygrad_edu.cli", "demo", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("linear regression"))
    w = float(line.split("w = ")[1].split()[0])
    b = float(line.split("b = ")[1].split()[0])
    assert abs(w - 3) < 0.05 and abs(b - 1) < 0.05
    assert {"linear_regression_loss.png", "quadratic_contour.png", "quadratic_surface_3d.png"} <= set(
        os.listdir(tmp_path))


@pytest.mark.parametrize("name", ["vanishing", "warmup", "names"])
def test_claim_demos_run_their_experiment_in_full_mode(name, tmp_path, capsys, monkeypatch):
    """The claim demos hand ``--out`` to `tinygrad_edu.demos.<name>.run` (full mode) and print what it wrote.

    The experiments themselves run (in quick mode, their claims asserted) in tests/test_examples.py."""
    import importlib

    module = importlib.import_module(f"tinygrad_edu.demos.{name}")
    calls = []

    def run(out=None, quick=False, seed=0):
        calls.append((out, quick, seed))
        path = os.path.join(out, f"{name}.png")
        with open(path, "wb") as handle:
            handle.write(b"\x89PNG")
        return {"files": [path]}

    monkeypatch.setattr(module, "run", run)
    assert cli.main(["demo", name, "--out", str(tmp_path)]) == 0
    assert calls == [(str(tmp_path), False, 0)]
    assert str(tmp_path / f"{name}.png") in capsys.readouterr().out
