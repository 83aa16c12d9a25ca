"""Grade a folder of submissions: ``tinygrad-edu grade DIR [--csv PATH] [--timeout SECONDS] [--only NAME ...]``.

A submission is one student's work: a ``.py`` file or a ``.ipynb`` notebook directly in ``DIR`` (the student
is the file's stem), or a subfolder of ``DIR`` (the student is the folder's name) whose ``.py`` and ``.ipynb``
files, in name order, make one submission together. Names starting with ``.`` or ``_`` are skipped.

Each submission runs in its own Python process, so that a student's code cannot stop the run: an infinite
loop at the top level, ``sys.exit``, a flood of prints, a crash. Inside it:

- the code is executed one top-level statement at a time (a notebook: its code cells in order, IPython's
  ``%magic`` and ``!shell`` lines left out); a statement that raises or runs past ``--timeout`` seconds is
  noted and skipped, the rest still runs; code under ``if __name__ == "__main__":`` does not run;
- the student's own calls to `check` return at once (the grader checks every exercise itself);
- every registered exercise whose function (`Exercise.function`, e.g. ``add_backward``) the submission
  defines is checked with `check` at ``--seed`` (default 0) and ``--timeout`` per exercise.

The table lists, per student, the exercises passed out of those attempted (a function still raising
NotImplementedError is not attempted) and each failed one with the mistake found (``name?`` when it only
"looks like" it) or else the kind of finding. ``--csv PATH`` writes one row per (student, exercise).
With ``--only`` (the exercises assigned), an assigned exercise whose function a submission does not define
at all is listed as "not submitted" and gets a CSV row with the finding ``missing``.

This is not a sandbox: the students' code runs with your permissions. Grade in a throwaway account or
container when the submissions are not trusted.
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import linecache
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["Row", "GradeError", "find_submissions", "grade", "format_table", "to_csv", "main", "CSV_COLUMNS"]

#: The columns of ``--csv``, in order.
CSV_COLUMNS = ("student", "exercise", "passed", "finding", "mistake", "mistake_match", "cases_passed", "cases_total",
               "message")

_STARTUP_SECONDS = 60.0      # a fresh Python importing the library, on a busy machine
_PER_EXERCISE_SECONDS = 10.0  # the reference and the mistakes beside the student's function
_KEEP_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
_WORKER_START = ("import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
                 "from tinygrad_edu.exercises.grade import _worker_main; _worker_main(sys.argv[1:])")


class GradeError(Exception):
    """Bad input to the grader (a missing folder, no submissions, an unknown exercise): one clear line."""


@dataclass
class Row:
    """One (student, exercise) result; ``exercise`` is ``""`` for a submission with nothing gradable."""

    student: str
    exercise: str
    passed: bool
    finding: str
    mistake: str
    cases_passed: int
    cases_total: int
    message: str
    mistake_match: str = ""

    def csv_row(self) -> list[Any]:
        """The row as `CSV_COLUMNS` (``passed`` as 1 or 0)."""
        values = dict(zip([f.name for f in fields(self)], astuple(self)))
        values["passed"] = int(self.passed)
        return [values[column] for column in CSV_COLUMNS]


# ---------------------------------------------------------------------------------------------------------
# Finding the submissions


def _gradable(path: Path) -> bool:
    return path.is_file() and path.suffix in (".py", ".ipynb") and not path.name.startswith((".", "_"))


def find_submissions(directory: str | os.PathLike) -> dict[str, list[Path]]:
    """The students in ``directory`` and their files: a file each, or a subfolder each (see the module docstring).

    Raises:
        GradeError: ``directory`` is missing, not a folder, or holds no submission.
    """
    root = Path(directory)
    if not root.exists():
        raise GradeError(f"no such folder: {str(directory)!r}")
    if not root.is_dir():
        raise GradeError(f"not a folder: {str(directory)!r} (give the folder holding the submissions)")
    entries = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            files = sorted(p for p in entry.iterdir() if _gradable(p))
            if files:
                entries.append((entry.name, files))
        elif _gradable(entry):
            entries.append((entry.stem, [entry]))
    if not entries:
        raise GradeError(f"no submissions in {str(directory)!r}: expected .py files, .ipynb notebooks, or one "
                         "subfolder of them per student")
    stems = [name for name, _ in entries]
    submissions = {}
    for name, files in entries:
        if stems.count(name) > 1:  # alice.py beside alice.ipynb: two submissions, named by their files
            name = files[0].name if len(files) == 1 and files[0].parent == root else name + "/"
        submissions[name] = files
    return submissions


# ---------------------------------------------------------------------------------------------------------
# The parent: one process per student


def grade(directory: str | os.PathLike, timeout: float = 5.0, only: list[str] | None = None, seed: int = 0,
          progress: Any = None) -> tuple[list[Row], dict[str, list[str]]]:
    """Grade every submission in ``directory``; return the rows and, per student, notes on loading their code.

    Args:
        directory: the folder of submissions.
        timeout: seconds each exercise's checks (and each top-level statement) may take per student.
        only: exercise names to grade (default: all registered).
        seed: the seed of the cases, the same for every student.
        progress: a text stream for one line per student as they are graded (None: quiet).

    Raises:
        GradeError: bad input (see `find_submissions`; an unknown name in ``only``).
    """
    from . import REGISTRY, names

    if not 0 < timeout < float("inf"):  # inf would overflow the time limit's timer
        raise GradeError(f"--timeout must be a positive finite number of seconds, got {timeout!r}")
    exercises = names()
    if only:
        unknown = [name for name in only if name not in exercises]
        if unknown:
            raise GradeError(f"unknown exercise {', '.join(map(repr, unknown))}; valid names: {', '.join(exercises)}")
        exercises = [name for name in exercises if name in only]
    submissions = find_submissions(directory)
    rows: list[Row] = []
    notes: dict[str, list[str]] = {}
    for i, (student, files) in enumerate(submissions.items()):
        if progress is not None:
            print(f"grading {student} ({i + 1} of {len(submissions)})", file=progress, flush=True)
        student_rows, student_notes = _grade_one(student, files, exercises, timeout, seed)
        graded = {row.exercise for row in student_rows}
        if only and "" not in graded:  # the exercises assigned: one not defined at all gets its row too
            student_rows += [Row(student, name, False, "missing", "", 0, 0,
                                 f"{name}: no function {REGISTRY[name].function} in the submission")
                             for name in exercises if name not in graded]
            order = {name: i for i, name in enumerate(exercises)}
            student_rows.sort(key=lambda row: order.get(row.exercise, -1))
        rows += student_rows
        if student_notes:
            notes[student] = student_notes
    return rows, notes


def _grade_one(student: str, files: list[Path], exercises: list[str], timeout: float,
               seed: int) -> tuple[list[Row], list[str]]:
    budget = _STARTUP_SECONDS + 4 * timeout + len(exercises) * (timeout + _PER_EXERCISE_SECONDS)
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="tinygrad_edu_grade_") as scratch:
        out, err = Path(scratch) / "results.jsonl", Path(scratch) / "stderr.txt"
        # Not `python -m`: that puts the submission's folder first on sys.path, and a student's file named
        # like a module (random.py, copy.py) would replace it for the grader too.
        command = [sys.executable, "-c", _WORKER_START, "--worker", str(out),
                   "--timeout", repr(timeout), "--seed", str(seed), "--only", *exercises, "--files",
                   *[str(f.resolve()) for f in files]]
        killed = False
        with open(err, "wb") as stderr:
            process = subprocess.Popen(command, cwd=files[0].parent, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
            try:
                process.wait(timeout=budget)
            except subprocess.TimeoutExpired:
                killed = True
                _kill(process)
            except BaseException:
                _kill(process)
                raise
        records = _read_records(out)
        tail = _tail(err)
    loaded = next((r for r in records if r.get("kind") == "loaded"), None)
    if loaded is None:
        why = (f"grading stopped after {budget:g} s while loading the submission" if killed else
               f"the submission stopped its grading process while loading (exit status {process.returncode})"
               + (f": {tail}" if tail else ""))
        return [Row(student, "", False, "error", "", 0, 0, why)], []
    rows = [Row(student, r["exercise"], r["passed"], r["finding"], r["mistake"] or "", r["cases_passed"],
                r["cases_total"], r["message"], r.get("mistake_match") or "")
            for r in records if r.get("kind") == "result"]
    done = {row.exercise for row in rows}
    for name in loaded["attempted"]:
        if name not in done:
            why = (f"grading stopped after {budget:g} s (the submission's process ran past its total time)" if killed
                   else f"the submission stopped its grading process (exit status {process.returncode})"
                   + (f": {tail}" if tail else ""))
            rows.append(Row(student, name, False, "timeout" if killed else "error", "", 0, 0, why))
    if not rows:
        functions = ", ".join(loaded["functions"][:4]) + (", ..." if len(loaded["functions"]) > 4 else "")
        rows.append(Row(student, "", False, "not_implemented", "", 0, 0,
                        f"no exercise function found (looked for {functions})"))
    return rows, loaded["notes"]


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, 9)  # the student's own child processes too (start_new_session)
    except (OSError, AttributeError):
        process.kill()
    process.wait()


def _read_records(path: Path) -> list[dict]:
    records = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return records
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # a line cut short by a kill
    return records


def _tail(path: Path, chars: int = 300) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 4000))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:chars] if lines else ""


# ---------------------------------------------------------------------------------------------------------
# The report


def _failure(row: Row) -> str:
    if row.mistake:
        return f"{row.exercise}: {row.mistake}" + ("?" if row.mistake_match == "partial" else "")
    return f"{row.exercise}: {row.finding}" if row.exercise else row.message.splitlines()[0]


def format_table(rows: list[Row], notes: dict[str, list[str]] | None = None) -> str:
    """The table: per student, exercises passed out of attempted, and the failed ones with the mistake found.

    A ``?`` after a mistake means the answer only looks like it (it matches on the failing case, not on every
    case); without a known mistake the kind of finding is shown (``wrong_shape``, ``timeout``, ...).

    Example:
        >>> rows = [Row("alice", "backward/add", True, "passed", "", 6, 6, "ok"),
        ...         Row("bob", "backward/add", False, "wrong_shape", "broadcast_not_reduced", 3, 6, "...", "full"),
        ...         Row("bob", "optim/adam", False, "not_implemented", "", 0, 6, "...")]
        >>> print(format_table(rows))
        student  passed  failed
        alice    1 / 1
        bob      0 / 1   backward/add: broadcast_not_reduced
    """
    students: dict[str, list[Row]] = {}
    for row in rows:
        students.setdefault(row.student, []).append(row)
    lines = [("student", "passed", "failed")]
    for student, own in students.items():
        attempted = [r for r in own if r.exercise and r.finding not in ("not_implemented", "missing")]
        passed = sum(r.passed for r in attempted)
        failed = [_failure(r) for r in own if not r.passed and r.finding != "missing"
                  and (r.finding != "not_implemented" or not r.exercise)]
        missing = [r.exercise for r in own if r.finding == "missing"]
        if missing:
            failed.append(f"not submitted: {', '.join(missing)}")
        if not failed and not attempted:
            failed = ["(nothing attempted: every function still raises NotImplementedError)"]
        lines.append((student, f"{passed} / {len(attempted)}", "; ".join(failed)))
    width = [max(len(line[i]) for line in lines) for i in range(2)]
    text = "\n".join(f"{a:<{width[0]}}  {b:<{width[1]}}  {c}".rstrip() for a, b, c in lines)
    for student, student_notes in (notes or {}).items():
        text += f"\n\nnotes on {student}:\n" + "\n".join(f"  {note}" for note in student_notes)
    return text


def to_csv(rows: list[Row]) -> str:
    """The rows as CSV text with the header `CSV_COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(row.csv_row() for row in rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """``tinygrad-edu grade``'s arguments after the subcommand; the exit status (0: graded, 1: bad input)."""
    parser = argparse.ArgumentParser(prog="tinygrad-edu grade", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``grade`` subcommand's arguments (the command line's subparser uses this)."""
    parser.add_argument("dir", help="folder of submissions: .py files, .ipynb notebooks, or a subfolder per student")
    parser.add_argument("--csv", metavar="PATH", help="also write one row per (student, exercise) to PATH")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="time per exercise per student (default 5)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="grade only these exercises (the ones assigned: a missing one is listed as not submitted)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cases, the same for everyone (default 0)")


def run(args: argparse.Namespace) -> int:
    """Grade as ``args`` say, print the table (and write the CSV); return the exit status."""
    try:
        rows, notes = grade(args.dir, timeout=args.timeout, only=args.only, seed=args.seed, progress=sys.stderr)
    except GradeError as err:
        print(f"tinygrad-edu grade: {err}", file=sys.stderr)
        return 1
    print(format_table(rows, notes))
    if args.csv:
        from .._files import atomic_write_text

        try:
            atomic_write_text(args.csv, to_csv(rows), who="tinygrad-edu grade")
        except OSError as err:
            print(f"tinygrad-edu grade: cannot write the CSV {args.csv!r}: {err.strerror or err}", file=sys.stderr)
            return 1
        print(f"wrote {args.csv}")
    sys.stdout.flush()
    return 0


# ---------------------------------------------------------------------------------------------------------
# The worker: runs in the student's process


def _notebook_cells(path: Path) -> list[tuple[str, str]]:
    """A notebook's code cells as (label, source), IPython's magics and shell lines left out."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        lines = source.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            if not lines[0].lstrip().startswith(_KEEP_CELL_MAGICS):
                continue  # %%bash, %%writefile, ...: not Python
            lines = [""] + lines[1:]
        # A magic or shell line becomes `pass` (same indentation), so the line numbers and blocks stay as written.
        lines = [line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
                 for line in lines]
        cells.append((f"{path.name}, cell {number}", "\n".join(lines)))
    return cells


def _sources(files: list[Path]) -> list[tuple[str, str]]:
    chunks = []
    for path in files:
        if path.suffix == ".ipynb":
            chunks += _notebook_cells(path)
        else:
            chunks.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
    return chunks


def _worker(out: str, files: list[str], exercises: list[str], timeout: float, seed: int) -> None:
    from . import REGISTRY, _core

    _core._grading = True
    results = open(out, "a", encoding="utf-8")

    def record(**fields: Any) -> None:
        results.write(json.dumps(fields) + "\n")
        results.flush()

    functions = {REGISTRY[name].function: name for name in exercises}
    namespace: dict[str, Any] = {"__name__": "__submission__", "__builtins__": __builtins__}
    notes: list[str] = []
    broken: dict[str, str] = {}  # a function whose definition did not load: why
    paths = [Path(f) for f in files]
    try:
        chunks = _sources(paths)
    except (OSError, ValueError) as err:
        chunks = []
        notes.append(f"cannot read the submission: {err}")
    load_budget = 3 * timeout
    started = time.monotonic()
    for label, source in chunks:
        namespace["__file__"] = str(paths[0])
        # Under its label ("carol.ipynb, cell 4"), so that tracebacks in the reports quote the student's line.
        linecache.cache[label] = (len(source), None, source.splitlines(True), label)
        try:
            tree = ast.parse(source, filename=label)
        except SyntaxError as err:
            why = f"{label} does not parse: SyntaxError on line {err.lineno}: {err.msg}"
            notes.append(why)
            for name in re.findall(r"^\s*def\s+(\w+)\s*\(", source, flags=re.M):
                if name in functions:
                    broken[name] = why
            continue
        for node in tree.body:
            spent = time.monotonic() - started
            definition = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import
                                    | ast.ImportFrom)
            if spent > load_budget and not definition:
                notes.append(f"{label}, line {node.lineno}: not run (the top-level code already took {spent:.0f} s)")
                continue
            code = compile(ast.Module([node], type_ignores=[]), label, "exec")
            sink = _core._Sink()
            try:
                with _core._Captured(sink):
                    _core._call_with_time_limit(lambda code=code: exec(code, namespace), timeout)  # noqa: S102
            except _core._Timeout:
                notes.append(f"{label}, line {node.lineno}: stopped after {timeout:g} s (a loop at the top level?)")
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # noqa: BLE001 - student code, SystemExit included
                notes.append(f"{label}, line {node.lineno}: " + _core._describe_exception(err).replace("\n  ", "; "))
            if isinstance(node, ast.FunctionDef):
                broken.pop(node.name, None)
    attempted = [name for function, name in functions.items() if function in namespace or function in broken]
    notes += _misnamed(namespace, functions, broken)
    record(kind="loaded", attempted=attempted, notes=notes, functions=list(functions))
    for function, name in functions.items():
        if function in namespace:
            fn = namespace[function]
            if not callable(fn):
                record(kind="result", exercise=name, passed=False, finding="wrong_signature", mistake=None,
                       cases_passed=0, cases_total=0, mistake_match=None,
                       message=f"{name}: {function} is a {type(fn).__name__}, not a function")
                continue
            try:
                result = _core.check_exercise(REGISTRY[name], fn, seed=seed, timeout=timeout)
            except Exception as err:  # noqa: BLE001 - a fault of the checker's: the other exercises still run
                record(kind="result", exercise=name, passed=False, finding="error", mistake=None, cases_passed=0,
                       cases_total=0, mistake_match=None,
                       message=f"{name}: the checker itself failed ({type(err).__name__}: {err}); please report it")
                continue
            record(kind="result", exercise=name, passed=result.passed, finding=result.finding,
                   mistake=result.mistake, cases_passed=result.cases_passed, cases_total=result.cases_total,
                   mistake_match=result.mistake_match, message=result.message)
        elif function in broken:
            record(kind="result", exercise=name, passed=False, finding="error", mistake=None, cases_passed=0,
                   cases_total=0, mistake_match=None, message=f"{name}: {broken[function]}")
    results.close()


def _misnamed(namespace: dict[str, Any], functions: dict[str, str], broken: dict[str, str]) -> list[str]:
    """Notes on functions whose names are close to an exercise's function the submission lacks (``add_backwards``
    for ``add_backward``): the grader looks for the exact name, so such an answer is not graded."""
    import difflib
    import types

    from . import REGISTRY

    missing = [f for f in functions if f not in namespace and f not in broken]
    every = {exercise.function for exercise in REGISTRY.values()}
    notes = []
    for defined, value in namespace.items():
        if isinstance(value, types.FunctionType) and defined not in every and not defined.startswith("_"):
            close = difflib.get_close_matches(defined, missing, n=1, cutoff=0.8)
            if close:
                notes.append(f"defines {defined}(), not {close[0]}() ({functions[close[0]]}): not graded, the "
                             "grader looks for the exact name")
    return notes


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="tinygrad_edu.exercises.grade --worker")
    parser.add_argument("--worker", required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--files", nargs="+", required=True)
    args = parser.parse_args(argv)
    _worker(args.worker, args.files, args.only, args.timeout, args.seed)
    os._exit(0)  # do not wait for threads a student left running


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
