"""``tinygrad-edu grade DIR``: the sample submissions (tests/exercises/submissions/) graded into the expected table
and CSV; bad input is one clear line and status 1; a submission that kills or hangs its process is a row, not a
crash. The grading runs one process per student, so the full run is marked slow (about 1 s per student)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import tinygrad_edu.exercises as ex
from tinygrad_edu import cli
from tinygrad_edu.exercises import grade

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
ONLY = ["backward/add", "backward/relu", "optim/adam", "schedule/cosine"]
ERIN = '''"""Erin: the file does not parse."""
import numpy as np


def relu_backward(grad_out, x):
    return (np.where(x > 0, grad_out, 0.0),


def cosine_lr(step, lr, T_max, eta_min=0.0)
    return lr
'''
GINA = '''"""Gina: ends the process at the top level."""
import os

def relu_backward(grad_out, x):
    return (grad_out * (x > 0),)

os._exit(3)
'''

BOB = "backward/add: broadcast_not_reduced; backward/relu: gradient_at_zero_is_one; optim/adam: no_bias_correction"
EXPECTED_TABLE = f"""\
student  passed  failed
alice    4 / 4
bob      1 / 4   {BOB}
carol    1 / 2   backward/add: size_one_axes_not_reduced; not submitted: optim/adam
dave     1 / 2   schedule/cosine: timeout; not submitted: backward/add, optim/adam
erin     0 / 2   backward/relu: error; schedule/cosine: error; not submitted: backward/add, optim/adam
frank    1 / 2   backward/relu: wrong_dtype; not submitted: backward/add, optim/adam
gina     0 / 0   the submission stopped its grading process while loading (exit status 3)

notes on dave:
  dave.py, line 9: stopped after 0.5 s (a loop at the top level?)

notes on erin:
  erin.py does not parse: SyntaxError on line 6: '(' was never closed"""

# (student, exercise, passed, finding, mistake) for every CSV row, in order.
EXPECTED_ROWS = [
    ("alice", "backward/add", "1", "passed", ""),
    ("alice", "backward/relu", "1", "passed", ""),
    ("alice", "optim/adam", "1", "passed", ""),
    ("alice", "schedule/cosine", "1", "passed", ""),
    ("bob", "backward/add", "0", "wrong_shape", "broadcast_not_reduced"),
    ("bob", "backward/relu", "0", "wrong_value", "gradient_at_zero_is_one"),
    ("bob", "optim/adam", "0", "wrong_value", "no_bias_correction"),
    ("bob", "schedule/cosine", "1", "passed", ""),
    ("carol", "backward/add", "0", "wrong_shape", "size_one_axes_not_reduced"),
    ("carol", "backward/relu", "0", "not_implemented", ""),
    ("carol", "optim/adam", "0", "missing", ""),  # assigned (--only), not defined in the submission
    ("carol", "schedule/cosine", "1", "passed", ""),
    ("dave", "backward/add", "0", "missing", ""),
    ("dave", "backward/relu", "1", "passed", ""),
    ("dave", "optim/adam", "0", "missing", ""),
    ("dave", "schedule/cosine", "0", "timeout", ""),
    ("erin", "backward/add", "0", "missing", ""),
    ("erin", "backward/relu", "0", "error", ""),
    ("erin", "optim/adam", "0", "missing", ""),
    ("erin", "schedule/cosine", "0", "error", ""),
    ("frank", "backward/add", "0", "missing", ""),
    ("frank", "backward/relu", "0", "wrong_dtype", ""),
    ("frank", "optim/adam", "0", "missing", ""),
    ("frank", "schedule/cosine", "1", "passed", ""),
    ("gina", "", "0", "error", ""),
]


def _sample_folder(root: Path) -> Path:
    """A copy of the sample submissions plus the two written here (a file that does not parse, one that exits)."""
    folder = root / "submissions"
    shutil.copytree(SUBMISSIONS, folder)
    (folder / "erin.py").write_text(ERIN)
    (folder / "gina.py").write_text(GINA)
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The command run once over the samples, as a teacher runs it: (completed process, CSV text)."""
    root = tmp_path_factory.mktemp("grade")
    folder, table = _sample_folder(root), root / "out" / "grades.csv"
    table.parent.mkdir()
    done = subprocess.run([sys.executable, "-m", "tinygrad_edu.cli", "grade", str(folder), "--timeout", "0.5",
                           "--csv", str(table), "--only", *ONLY], capture_output=True, text=True, timeout=300)
    return done, table.read_text() if table.exists() else None


@pytest.mark.slow
def test_the_table(graded):
    done, _ = graded
    assert done.returncode == 0, done.stderr
    table, _, wrote = done.stdout.rstrip("\n").rpartition("\n")
    assert table == EXPECTED_TABLE
    assert wrote.startswith("wrote ") and wrote.endswith("grades.csv")
    assert "grading alice (1 of 7)" in done.stderr and "grading gina (7 of 7)" in done.stderr
    assert "debugging" not in done.stdout + done.stderr  # alice's 20000 lines went nowhere


@pytest.mark.slow
def test_the_csv(graded):
    _, text = graded
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(grade.CSV_COLUMNS)
    assert [(r["student"], r["exercise"], r["passed"], r["finding"], r["mistake"]) for r in rows] == EXPECTED_ROWS
    assert all(r["mistake_match"] == ("full" if r["mistake"] else "") for r in rows)  # the samples' are exact
    totals = {name: ex.check(name, ex.REGISTRY[name].reference).cases_total for name in ONLY}
    for row in rows:
        if row["passed"] == "1":
            assert row["cases_passed"] == row["cases_total"] == str(totals[row["exercise"]])
            assert "passed all" in row["message"]
        elif row["finding"] in ("wrong_shape", "wrong_value", "wrong_dtype"):
            assert int(row["cases_passed"]) < int(row["cases_total"]) == totals[row["exercise"]]
            assert "Case " in row["message"]
    bob_adam = next(r for r in rows if r["student"] == "bob" and r["exercise"] == "optim/adam")
    assert "This is the known mistake `no_bias_correction`" in bob_adam["message"] and "Hint:" in bob_adam["message"]
    erin = [r for r in rows if r["student"] == "erin" and r["finding"] == "error"]
    assert all("erin.py does not parse: SyntaxError on line 6" in r["message"] for r in erin)
    missing = [r for r in rows if r["finding"] == "missing"]
    assert all(r["message"] == f"{r['exercise']}: no function {ex.REGISTRY[r['exercise']].function} in the submission"
               and r["cases_total"] == "0" for r in missing)


@pytest.mark.slow
def test_a_process_that_hangs_past_its_budget_is_stopped(tmp_path, monkeypatch):
    # SIGALRM blocked, then a loop: only the parent's total budget can stop this one.
    (tmp_path / "hana.py").write_text(
        "import signal\n\ndef relu_backward(grad_out, x):\n    return (grad_out * (x > 0),)\n\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\nwhile True:\n    pass\n")
    monkeypatch.setattr(grade, "_STARTUP_SECONDS", 4.0)
    monkeypatch.setattr(grade, "_PER_EXERCISE_SECONDS", 0.0)
    rows, notes = grade.grade(tmp_path, timeout=0.25, only=["backward/relu"])
    assert [(r.student, r.exercise, r.finding) for r in rows] == [("hana", "", "error")]
    assert rows[0].message == "grading stopped after 5.25 s while loading the submission"


# --- fast: no grading processes


def test_bad_input_is_one_line_and_status_1(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err == f"tinygrad-edu grade: no such folder: {str(tmp_path / 'missing')!r}\n"
    (tmp_path / "notes.txt").write_text("not a submission")
    assert cli.main(["grade", str(tmp_path)]) == 1
    assert "no submissions in" in capsys.readouterr().err
    (tmp_path / "a.py").write_text("")
    assert cli.main(["grade", str(tmp_path), "--only", "backward/nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinygrad-edu grade: unknown exercise 'backward/nope'; valid names: backward/add")
    assert err.count("\n") == 1
    assert cli.main(["grade", str(tmp_path / "a.py")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert cli.main(["grade", str(tmp_path), "--timeout", "inf"]) == 1
    assert capsys.readouterr().err == ("tinygrad-edu grade: --timeout must be a positive finite number of seconds, "
                                       "got inf\n")


def test_which_files_are_submissions(tmp_path):
    for name in ("alice.py", "alice.ipynb", "bob.ipynb", "notes.txt", ".hidden.py", "_helper.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "b.py").write_text("")
    (tmp_path / "carol" / "a.ipynb").write_text("")
    (tmp_path / "empty").mkdir()
    (tmp_path / "__pycache__").mkdir()
    found = {student: [p.name for p in files] for student, files in grade.find_submissions(tmp_path).items()}
    assert found == {"alice.ipynb": ["alice.ipynb"], "alice.py": ["alice.py"], "bob": ["bob.ipynb"],
                     "carol": ["a.ipynb", "b.py"]}


def test_notebook_cells_leave_out_magics(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# x"),
                nbformat.v4.new_code_cell("%matplotlib inline\nx = 1\nif x:\n    !ls\n"),
                nbformat.v4.new_code_cell("%%bash\necho hi"),
                nbformat.v4.new_code_cell("%%time\ny = 2")]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    assert grade._notebook_cells(path) == [("n.ipynb, cell 2", "pass\nx = 1\nif x:\n    pass"),
                                           ("n.ipynb, cell 4", "\ny = 2")]


def test_csv_text_and_quoting():
    rows = [grade.Row("a", "backward/add", False, "wrong_value", "m", 1, 6, 'line one\nsays "x", y', "partial")]
    text = grade.to_csv(rows)
    assert list(csv.reader(io.StringIO(text))) == [list(grade.CSV_COLUMNS),
                                                   ["a", "backward/add", "0", "wrong_value", "m", "partial", "1", "6",
                                                    'line one\nsays "x", y']]


def test_the_worker_grades_in_process(tmp_path, monkeypatch):
    # The worker itself, without a process: a top-level sys.exit and a failing statement are notes, and the
    # student's own check() call returns at once.
    (tmp_path / "s.py").write_text(
        "import sys\nimport tinygrad_edu.exercises as ex\n\n"
        "def relu_backward(grad_out, x):\n    return (grad_out * (x > 0),)\n\n"
        "assert ex.check('backward/relu', relu_backward)\nsys.exit(2)\nrelu_later = 1\n")
    monkeypatch.setattr(ex._core, "_grading", False)
    out = tmp_path / "out.jsonl"
    grade._worker(str(out), [str(tmp_path / "s.py")], ["backward/relu"], 2.0, 0)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["kind"] == "loaded" and records[0]["attempted"] == ["backward/relu"]
    assert records[0]["notes"] == ["s.py, line 7: raised AssertionError; at s.py, line 7, in <module>: "
                                   "assert ex.check('backward/relu', relu_backward)",
                                   "s.py, line 8: called sys.exit(2); at s.py, line 8, in <module>: sys.exit(2)"]
    assert (records[1]["exercise"], records[1]["passed"]) == ("backward/relu", True)


def test_a_function_named_almost_like_an_exercise_is_noted(tmp_path, monkeypatch):
    (tmp_path / "s.py").write_text("def add_backwards(grad_out, x, y):\n    return grad_out, grad_out\n\n"
                                   "def adam_step(theta, g, state, t, lr=1e-3):\n    return theta\n\n"
                                   "def helper(x):\n    return x\n")
    monkeypatch.setattr(ex._core, "_grading", False)  # restored after the worker sets it
    out = tmp_path / "out.jsonl"
    grade._worker(str(out), [str(tmp_path / "s.py")], ["backward/add", "optim/adam", "optim/adamw"], 2.0, 0)
    loaded = json.loads(out.read_text().splitlines()[0])
    assert loaded["attempted"] == ["optim/adam"]
    # adam_step is an exercise's own function: not taken for a misspelt adamw_step.
    assert loaded["notes"] == ["defines add_backwards(), not add_backward() (backward/add): not graded, the grader "
                               "looks for the exact name"]


def test_table_of_a_student_who_attempted_nothing():
    rows = [grade.Row("zoe", "backward/add", False, "not_implemented", "", 0, 6, "not written yet"),
            grade.Row("yan", "backward/add", False, "wrong_value", "m", 2, 6, "...", "partial")]
    assert grade.format_table(rows) == ("student  passed  failed\n"
                                        "zoe      0 / 0   (nothing attempted: every function still raises "
                                        "NotImplementedError)\n"
                                        "yan      0 / 1   backward/add: m?")
