"""``tinygrad-edu gallery``: every example's figures on one page, with what each printed."""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path

import pytest

from tinygrad_edu import cli
from tinygrad_edu.gallery import build_gallery, find_examples

ROOT = Path(__file__).resolve().parents[1]

DRAWS = '''
"""Draws one square & says so."""
import argparse, os
import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure
parser = argparse.ArgumentParser()
parser.add_argument("--out")
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
fig = Figure(figsize=(1, 1))
fig.add_subplot().plot([0, 1], [0, 1])
fig.savefig(os.path.join(args.out, "square.png"))
open(os.path.join(args.out, "numbers.json"), "w").write("{}")
print("final loss 0.125 <b>quick</b>" if args.quick else "full run")
'''

FAILS = '''
"""Fails on purpose."""
print("started")
raise SystemExit("something broke")
'''


@pytest.fixture()
def examples(tmp_path):
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "01_draws.py").write_text(textwrap.dedent(DRAWS))
    (folder / "02_fails.py").write_text(textwrap.dedent(FAILS))
    (folder / "helpers.py").write_text("# not an example\n")
    return folder


def test_gallery_page_shows_each_figure_and_caption_and_the_failure(examples, tmp_path, capsys):
    out = tmp_path / "gallery"
    status = cli.main(["gallery", "--out", str(out), "--examples", str(examples)])
    assert status == 1  # one example failed: said, and the page is still written
    printed = capsys.readouterr().out
    assert "1 failed: 02_fails" in printed and "index.html" in printed
    page = (out / "index.html").read_text()
    assert (out / "01_draws" / "square.png").read_bytes().startswith(b"\x89PNG")
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images == ["01_draws/square.png"] and all((out / image).is_file() for image in images)
    assert html.escape("final loss 0.125 <b>quick</b>") in page and "<b>quick</b>" not in page  # ran --quick, escaped
    assert "Draws one square &amp; says so." in page
    assert 'href="01_draws/numbers.json"' in page  # other files are links
    failed = page.split('id="02_fails"')[1]
    assert "this example failed" in failed and "something broke" in failed and "started" in failed
    assert "helpers" not in page


def test_gallery_only_and_full(examples, tmp_path):
    runs = build_gallery(tmp_path / "g", examples, quick=False, only=["01"], verbose=False)
    assert [run.name for run in runs] == ["01_draws"] and runs[0].caption == "full run" and runs[0].error is None
    with pytest.raises(ValueError, match="matches no example"):
        build_gallery(tmp_path / "g", examples, only=["99"], verbose=False)


def test_gallery_without_examples_says_where_it_looked_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "gallery"
    assert cli.main(["gallery", "--out", str(out), "--examples", str(tmp_path / "missing")]) == 2
    assert "no examples folder" in capsys.readouterr().err and not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no numbered example"):
        find_examples(empty)


def test_gallery_of_a_real_example(tmp_path):
    runs = build_gallery(tmp_path, ROOT / "examples", only=["02"], verbose=False)
    (run,) = runs
    assert run.error is None and run.pictures == ["02_descent_1d/descent_1d.gif", "02_descent_1d/descent_1d.png"]
    assert run.caption and run.caption in html.unescape((tmp_path / "index.html").read_text())
