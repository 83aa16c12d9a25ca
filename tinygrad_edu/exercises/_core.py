"""The machinery of `tinygrad_edu.exercises`: the registry, and the checker that grades one answer.

An `Exercise` bundles a statement, a stub to fill in, a hidden reference, randomized `Case` s and a
catalogue of `Mistake` s (wrong variants of the reference that students commonly write). `check` runs a
student's function on the cases, compares it with the reference, and when it is wrong runs every mistake on
the same cases to name the one the answer matches, with a hint pointing at the formula.

The checker never crashes on student code: a wrong signature, an exception (``sys.exit`` included), an
infinite loop (a time limit per exercise), a flood of prints, a result of the wrong count, shape or dtype,
or one holding nan, each becomes a `Result` whose ``finding`` says which. Only Ctrl-C
(``KeyboardInterrupt``) goes through, so a teacher can still stop a run.

Example:
    >>> from tinygrad_edu.exercises._core import Case, Exercise, Mistake
    >>> import numpy as np
    >>> def square_backward(grad_out, x):
    ...     return (2 * x * grad_out,)
    >>> toy = Exercise(
    ...     name="toy/square", function="square_backward", title="The backward of x**2",
    ...     statement="$y = x^2$, so the gradient is $2 x g$.",
    ...     stub="def square_backward(grad_out, x):\\n    raise NotImplementedError",
    ...     reference=square_backward,
    ...     cases=lambda rng: [Case("x (3,)", (rng.normal(size=3), rng.normal(size=3)))],
    ...     run=lambda fn, case: fn(*case.args),
    ...     mistakes=(Mistake("forgot_grad_out", lambda g, x: (2 * x,), "Multiply by grad_out."),),
    ...     output_names=("grad x",))
    >>> print(check_exercise(toy, lambda g, x: 2 * x * g))
    toy/square: passed all 1 case (seed 0):
      - x (3,)
    >>> result = check_exercise(toy, lambda g, x: 2 * x)
    >>> result.passed, result.finding, result.mistake
    (False, 'wrong_value', 'forgot_grad_out')
"""

from __future__ import annotations

import ast
import copy
import html
import inspect
import io
import os
import re
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import check_positive

__all__ = ["Case", "Mistake", "Exercise", "Finding", "Result", "REGISTRY", "FINDINGS", "FAMILIES",
           "register", "check", "check_exercise", "names", "show", "stub", "signature"]

#: The families, in the order `names` lists them; other prefixes (a test's toy exercises) come after.
FAMILIES = ("backward", "optim", "schedule", "loop")

#: Every value `Result.finding` takes, from the best to the kinds of wrong answer.
FINDINGS = ("passed", "not_implemented", "wrong_signature", "error", "timeout", "wrong_count", "wrong_shape",
            "wrong_dtype", "not_finite", "wrong_value")

_NAME = re.compile(r"^[a-z][a-z0-9_]*/[a-z0-9_]+$")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_MESSAGE_CHARS = 300    # an exception message is cut to this length in a report
_MAX_WARNINGS = 3       # distinct warnings named in a report


@dataclass(frozen=True)
class Case:
    """One randomized input of an exercise.

    Attributes:
        label: plain words naming the case, e.g. ``"x (3, 4) + y (4,): y broadcast over rows"``.
        args: positional arguments given to `Exercise.run` (arrays, numbers).
        kwargs: options / hyperparameters.
    """

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    """A known wrong variant of an exercise's reference.

    Attributes:
        name: snake_case id, e.g. ``"broadcast_not_reduced"``, ``"no_bias_correction"``.
        fn: the wrong variant, with the reference's signature (it never raises on the cases).
        hint: one or two sentences pointing at the formula in the statement.
    """

    name: str
    fn: Callable
    hint: str


def mistake_variant(rule: Callable, name: str, hint: str) -> Mistake:
    """The `Mistake` ``name`` of a family whose reference is ``rule`` with the mistake switched off.

    ``rule`` takes the reference's arguments and ``mistake=""``; the variant calls it with ``mistake=name``.

    Example:
        >>> def _double(x, mistake=""):
        ...     return x + x if mistake != "times_three" else 3 * x
        >>> wrong = mistake_variant(_double, "times_three", "Twice, not three times.")
        >>> wrong.fn(2), wrong.fn.__name__
        (6, 'double_times_three')
    """
    def wrong(*args: Any, **kwargs: Any) -> Any:
        return rule(*args, mistake=name, **kwargs)
    wrong.__name__ = f"{rule.__name__.lstrip('_')}_{name}"
    return Mistake(name, wrong, hint)


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to write, the hidden answer, the cases it is checked on, the mistakes it names.

    Attributes:
        name: ``"family/name"``, e.g. ``"backward/add"``.
        function: the stub's function name, e.g. ``"add_backward"``; the grader finds answers by this name.
        title: one line.
        statement: markdown with the math, the signature and what to return.
        stub: source of ``def <function>(...)`` with a docstring and ``raise NotImplementedError``.
        reference: the hidden correct solution.
        cases: ``cases(rng) -> list[Case]``, randomized from a ``np.random.Generator``.
        run: ``run(fn, case) -> tuple`` drives a function on one case and returns the outputs to compare.
        mistakes: the catalogue of known wrong variants.
        output_names: names of the outputs for messages (``("grad x", "grad y")``); default ``output 0``, ...
        rtol: relative tolerance of the comparison (``np.allclose``).
        atol: absolute tolerance of the comparison.
    """

    name: str
    function: str
    title: str
    statement: str
    stub: str
    reference: Callable
    cases: Callable[[np.random.Generator], list]
    run: Callable[[Callable, Case], tuple]
    mistakes: tuple = ()
    output_names: tuple = ()
    rtol: float = 1e-5
    atol: float = 1e-7

    def output_name(self, i: int) -> str:
        """The name of output ``i`` in messages."""
        return self.output_names[i] if i < len(self.output_names) else f"output {i}"


#: Every registered exercise by name, in registration order (see `register`).
REGISTRY: dict[str, Exercise] = {}


class Finding(Exception):  # noqa: N818 - the name is the spec's
    """Raised by an `Exercise.run` for a wrong answer it can only see itself (e.g. a state dict of the wrong form).

    Args:
        kind: one of `FINDINGS` (not ``"passed"``).
        text: plain words, shown in the report.
    """

    def __init__(self, kind: str, text: str) -> None:
        if kind not in FINDINGS or kind == "passed":
            raise ValueError(f"Finding kind must be one of {FINDINGS[1:]}, got {kind!r}")
        super().__init__(text)
        self.kind = kind
        self.text = text


@dataclass
class Result:
    """What `check` found; prints as the report, and is true when the answer passed.

    Attributes:
        name: the exercise.
        passed: whether every case matched the reference.
        mistake: the known mistake the answer matches, or None. Set both when the answer equals the
            mistake on every case (``mistake_match == "full"``) and when it only equals it on the first
            failing case, or its first wrong output (``grad x``) equals the mistake's on every case
            (``"partial"``, reported as "looks like").
        message: the report in plain words.
        finding: one of `FINDINGS`.
        cases_passed: how many cases matched the reference.
        cases_total: how many cases there were.
        seed: the seed the cases were drawn with (the same seed reproduces the same cases).
        failed_case: the label of the first failing case, or None.
        mistake_match: ``"full"``, ``"partial"`` or None (see ``mistake``).
        hint: the matched mistake's hint ("" when none).
        printed_lines: how many lines the student's function printed while being checked.
    """

    name: str
    passed: bool
    mistake: str | None
    message: str
    finding: str
    cases_passed: int
    cases_total: int
    seed: int
    failed_case: str | None = None
    mistake_match: str | None = None
    hint: str = ""
    printed_lines: int = 0

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def __bool__(self) -> bool:
        return self.passed

    def _repr_markdown_(self) -> str:
        """The report in a notebook: the verdict in bold, the details verbatim, the hint as markdown (math)."""
        lines = self.message.splitlines()
        head, body = lines[0], [line for line in lines[1:] if not line.startswith("Hint: ")]
        if self.passed:
            return f"**{html.escape(head)}**\n\n" + "\n".join(html.escape(line.strip()) for line in body)
        parts = [f"**{html.escape(head)}**"]
        if body:
            parts.append("```text\n" + "\n".join(body) + "\n```")
        if self.hint:
            parts.append(f"*Hint:* {self.hint}")
        return "\n\n".join(parts)


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to `REGISTRY` after checking it is well formed; return it.

    Raises:
        ValueError: a duplicate name, a name not ``"family/name"``, a stub that does not define
            ``exercise.function``, or a mistake name that is not snake_case or is repeated.
        TypeError: a reference, cases, run or mistake function that is not callable.
    """
    if not isinstance(exercise, Exercise):
        raise TypeError(f"register takes an Exercise, got {type(exercise).__name__}")
    if not _NAME.match(exercise.name):
        raise ValueError(f"exercise name must look like 'family/name' (lowercase, snake_case), got {exercise.name!r}")
    if exercise.name in REGISTRY:
        raise ValueError(f"exercise {exercise.name!r} is already registered")
    if not exercise.function.isidentifier():
        raise ValueError(f"{exercise.name}: function must be a Python name, got {exercise.function!r}")
    _stub_def(exercise)  # raises ValueError when the stub does not define the function
    for what in ("reference", "cases", "run"):
        if not callable(getattr(exercise, what)):
            raise TypeError(f"{exercise.name}: {what} must be callable")
    seen = set()
    for mistake in exercise.mistakes:
        if not isinstance(mistake, Mistake) or not callable(mistake.fn):
            raise TypeError(f"{exercise.name}: mistakes must be Mistake(name, fn, hint) with a callable fn")
        if not _SNAKE.match(mistake.name) or mistake.name in seen:
            raise ValueError(f"{exercise.name}: mistake names must be distinct snake_case ids, got {mistake.name!r}")
        seen.add(mistake.name)
    REGISTRY[exercise.name] = exercise
    return exercise


def names() -> list[str]:
    """The registered exercises as ``"family/name"``: backward, optim, schedule, loop, each in registration order.

    Example:
        >>> all("/" in name for name in names())
        True
    """
    def family_rank(name: str) -> int:
        family = name.split("/")[0]
        return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)

    return sorted(REGISTRY, key=family_rank)  # sorted is stable: registration order within a family


def _get(name: str) -> Exercise:
    if not isinstance(name, str) or name not in REGISTRY:
        valid = ", ".join(names()) or "(none registered)"
        guess = _guess(name) if isinstance(name, str) else []
        hint = f"did you mean {' or '.join(map(repr, guess))}? " if guess else ""
        raise KeyError(f"unknown exercise {name!r}; {hint}valid names: {valid}")
    return REGISTRY[name]


def _guess(name: str) -> list[str]:
    """The registered names a mistyped one may mean: the same short name, or the exercise's function name."""
    short = name.strip().rsplit("/", 1)[-1].lower()
    return [full for full, exercise in REGISTRY.items()
            if short in (full.split("/", 1)[1], exercise.function.lower())]


def show(name: str) -> str:
    """The statement of exercise ``name``: markdown with the math (``$...$``, ``$$...$$``).

    Raises:
        KeyError: an unknown name (the message lists the valid ones).
    """
    return _get(name).statement


def stub(name: str) -> str:
    """The source of the function to fill in for exercise ``name`` (its body raises NotImplementedError).

    Raises:
        KeyError: an unknown name (the message lists the valid ones).
    """
    return _get(name).stub


def _stub_def(exercise: Exercise) -> ast.FunctionDef:
    try:
        tree = ast.parse(exercise.stub)
    except SyntaxError as err:
        raise ValueError(f"{exercise.name}: the stub does not parse: {err}") from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == exercise.function:
            return node
    raise ValueError(f"{exercise.name}: the stub does not define {exercise.function}()")


def signature(name: str) -> str:
    """The signature to write for exercise ``name``, as ``def function(arguments)``, read from its stub."""
    exercise = _get(name)
    return _signature_text(exercise)


def _signature_text(exercise: Exercise) -> str:
    return f"def {exercise.function}({ast.unparse(_stub_def(exercise).args)})"


# ---------------------------------------------------------------------------------------------------------
# Running student code: captured output, a time limit, exceptions turned into words


class _Timeout(BaseException):
    """Raised inside student code when its time is up (a BaseException, so `except Exception` cannot eat it)."""


class _Sink(io.TextIOBase):
    """Stands in for stdout/stderr while student code runs: counts what is printed, keeps nothing."""

    def __init__(self) -> None:
        self.lines = 0
        self.chars = 0
        self.warnings: list[str] = []  # distinct warning messages (see `_Captured`)

    def writable(self) -> bool:
        return True

    def write(self, text: Any) -> int:
        text = str(text)
        self.chars += len(text)
        self.lines += text.count("\n")
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Captured:
    """Swap sys.stdout and sys.stderr for one `_Sink` inside the block, and collect the warnings raised there.

    A warning (NumPy's "overflow encountered in exp") is not something the student printed: the first few
    distinct ones are kept in ``sink.warnings``, named in the report.
    """

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink

    def __enter__(self) -> _Sink:
        self.saved = sys.stdout, sys.stderr
        self.catching = warnings.catch_warnings()
        self.catching.__enter__()
        warnings.simplefilter("default")  # once per place (changing the filters forgets what was shown before)
        warnings.showwarning = self._keep
        sys.stdout = sys.stderr = self.sink
        return self.sink

    def _keep(self, message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
        if text not in self.sink.warnings and len(self.sink.warnings) < _MAX_WARNINGS:
            self.sink.warnings.append(text)

    def __exit__(self, *exc: Any) -> None:
        sys.stdout, sys.stderr = self.saved
        self.catching.__exit__(*exc)


def _can_use_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


# Where the library, NumPy and the standard library live: code the time limit never interrupts.
_LIBRARY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SYSTEM_ROOTS = tuple(sorted({os.path.abspath(p) + os.sep for p in
                              (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}))


def _in_student_code(frame: Any) -> bool:
    """Whether ``frame`` runs the student's code (a notebook cell, a script, a submission), where the time limit
    may stop it: never inside the library, NumPy or the standard library.

    An exception forced into library code can skip a ``with`` block's cleanup and leave a lock held: raised
    between the acquire and the block (CPython's bpo-29988), or by the line trace on the ``with`` line itself
    as the block unwinds. Interrupting ``backward()`` so hung every later backward of the process. Stopped
    only between the student's own lines, a library call always finishes (or fails) as a whole.
    """
    filename = frame.f_code.co_filename
    if filename.startswith("<"):  # "<string>", "<ipython-input-...>": code compiled from text, the student's;
        return not filename.startswith("<frozen ")  # "<frozen posixpath>": the standard library's
    path = os.path.abspath(filename)
    return not (path.startswith(_LIBRARY_ROOT) or path.startswith(_SYSTEM_ROOTS))


def _call_with_time_limit(work: Callable[[], Any], seconds: float) -> Any:
    """Return ``work()``, raising `_Timeout` when it runs past ``seconds``.

    In the main thread (a script, a notebook kernel, the grader) a SIGALRM timer interrupts the work, and from
    then on every line of student code raises again (a trace function), so code that swallows the interruption
    with a bare ``except:`` still stops. Elsewhere
    (a thread, Windows) the work runs in a daemon thread that is asked to stop (an asynchronous exception)
    and abandoned when it does not finish in time.
    """
    if _can_use_alarm():
        armed = [True]
        tracing = sys.gettrace()

        def stop_every_line(frame: Any, event: str, arg: Any) -> Any:
            # Once time is up, the next line of student code raises again: a bare `except:` inside a loop that
            # caught the interruption cannot keep the loop alive. (Python drops a trace function that raises;
            # the next alarm, 50 ms on, sets it again.) Library frames run on (see _in_student_code).
            if armed[0] and event == "line" and _in_student_code(frame):
                raise _Timeout
            return stop_every_line

        def interrupt(signum: int, frame: Any) -> None:
            if armed[0]:
                in_student_code = _in_student_code(frame)  # asked before tracing starts: the call is not traced
                sys.settrace(stop_every_line)
                while frame is not None:
                    frame.f_trace = stop_every_line
                    frame = frame.f_back
                if in_student_code:
                    raise _Timeout
                # In library code: it runs to its end, and the student's next line raises (stop_every_line).

        previous = signal.signal(signal.SIGALRM, interrupt)
        started = time.monotonic()
        their_delay, their_interval = signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3), 0.05)
        try:
            return work()
        finally:
            armed[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            sys.settrace(tracing)
            if their_delay > 0:  # a timer of the caller's (pytest-timeout, a notebook extension) runs on
                remaining = their_delay - (time.monotonic() - started)
                signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-3), their_interval)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread as it is
            box["error"] = err

    worker = threading.Thread(target=target, name="tinygrad_edu-exercise-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        try:
            import ctypes

            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(_Timeout))
        except Exception:  # noqa: BLE001 - best effort: an abandoned daemon thread is the fallback
            pass
        raise _Timeout
    if "error" in box:
        raise box["error"]
    return box["value"]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _student_frame(tb: Any) -> traceback.FrameSummary | None:
    """The last frame of a traceback in the student's code: not the library, not NumPy or the standard library."""
    library_dirs = [_PACKAGE_DIR, os.path.dirname(np.__file__), os.path.dirname(os.__file__)]
    frames = traceback.extract_tb(tb)
    for frame in reversed(frames):
        path = os.path.abspath(frame.filename) if not frame.filename.startswith("<") else frame.filename
        if not any(path.startswith(d + os.sep) for d in library_dirs):
            return frame
    return None


def _describe_exception(err: BaseException) -> str:
    try:
        text = str(err).strip().replace("\n", " ")
    except Exception:  # noqa: BLE001 - a student's exception class whose __str__ itself fails
        text = "(its message cannot be shown)"
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS] + "..."
    if isinstance(err, SystemExit):
        what = f"called sys.exit({err.code!r})" if err.code is not None else "called sys.exit()"
    else:
        what = f"raised {type(err).__name__}" + (f": {text}" if text else "")
        if isinstance(err, TypeError) and re.search(r"only (length-1|size-1|0-dimensional) arrays", text):
            what += (" (math.sqrt, math.exp, math.cos and float() take one number: on arrays use np.sqrt, np.exp, "
                     "np.cos)")
    try:
        frame = _student_frame(err.__traceback__)
    except Exception:  # noqa: BLE001 - the report goes on without the line
        frame = None
    if frame is not None:
        where = f"\n  at {os.path.basename(frame.filename)}, line {frame.lineno}, in {frame.name}"
        if frame.line:
            where += f": {frame.line.strip()}"
        what += where
    return what


def _to_array(value: Any) -> np.ndarray:
    """A returned value as an array: NumPy arrays, numbers, lists, and tensors (this library's or PyTorch's)."""
    if hasattr(value, "detach") and callable(value.detach):
        value = value.detach()
    if hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.generic | np.ndarray):
        value = value.numpy()
    return np.asarray(value)


def _outputs(raw: Any, count: int | None) -> tuple:
    """What ``run`` returned as a tuple of arrays (or `Finding`): a bare array counts as one output.

    ``count`` is the reference's number of outputs (None for the reference itself). An element that cannot be
    read as numbers is kept as a `Finding`, compared as such.
    """
    if raw is None:
        raise Finding("wrong_count", "returned None (is a `return` missing?)")
    if isinstance(raw, tuple | list) and not (count == 1 and isinstance(raw, list) and len(raw) != 1
                                              and _is_flat_numbers(raw)):
        items = tuple(raw)
    else:
        items = (raw,)
    out = []
    for item in items:
        if item is None:
            out.append(Finding("wrong_shape", "is None"))
            continue
        try:
            array = _to_array(item)
        except Exception as err:  # noqa: BLE001 - a student's object that NumPy cannot read
            out.append(Finding("wrong_dtype", f"is a {type(item).__name__} that NumPy cannot read as numbers "
                                              f"({type(err).__name__})"))
            continue
        if array.dtype.kind not in "biufc":
            out.append(Finding("wrong_dtype", f"is not numbers (a {type(item).__name__}, NumPy dtype {array.dtype})"))
            continue
        out.append(array)
    return tuple(out)


def _is_flat_numbers(items: list) -> bool:
    """A list of plain numbers: one output written as a list, not a list of outputs."""
    return all(isinstance(item, int | float | np.number) for item in items)


# ---------------------------------------------------------------------------------------------------------
# Comparing


def _format_index(index: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]" if index else "(the scalar)"


def _fmt(value: Any) -> str:
    return f"{complex(value) if np.iscomplexobj(value) else float(value):.6g}"


def _compare(exercise: Exercise, expected: tuple, got: tuple) -> tuple[str, str] | None:
    """None when ``got`` matches ``expected``; else (finding, what is wrong in plain words)."""
    if len(got) != len(expected):
        names = ", ".join(exercise.output_name(i) for i in range(len(expected)))
        return "wrong_count", (f"returned {len(got)} output{'s' * (len(got) != 1)}, expected {len(expected)} "
                               f"({names})")
    for i, (want, have) in enumerate(zip(expected, got)):
        label = exercise.output_name(i)
        if isinstance(have, Finding):
            return have.kind, f"{label} {have.text}"
        if have.shape != want.shape:
            return "wrong_shape", f"{label} has shape {tuple(have.shape)}, expected {tuple(want.shape)}" + (
                _order_note(exercise, expected, got))
        if want.dtype.kind in "fc" and have.dtype.kind in "biu":
            return "wrong_dtype", (f"{label} has an integer dtype ({have.dtype}), expected floats ({want.dtype}): "
                                   "integer arithmetic drops the fractions")
        if want.dtype.kind == "f" and have.dtype.kind == "c":
            return "wrong_dtype", f"{label} is complex ({have.dtype}), expected real floats ({want.dtype})"
        if want.dtype.kind == "f" and have.dtype.kind == "f" and have.dtype.itemsize < want.dtype.itemsize:
            return "wrong_dtype", (f"{label} has dtype {have.dtype}, expected {want.dtype}: the lower precision "
                                   "loses digits")
        want_f, have_f = want.astype(np.complex128 if want.dtype.kind == "c" else np.float64), have
        have_f = have.astype(np.complex128 if have.dtype.kind == "c" else np.float64)
        bad = ~np.isfinite(have_f) & np.isfinite(want_f)
        if bad.any():
            index = tuple(np.argwhere(bad)[0]) if have_f.ndim else ()
            return "not_finite", (f"{label} has {int(bad.sum())} non-finite entr{'y' if bad.sum() == 1 else 'ies'} "
                                  f"where the answer is finite; first at {_format_index(index)}: expected "
                                  f"{_fmt(want_f[index])}, got {_fmt(have_f[index])}")
        close = np.isclose(have_f, want_f, rtol=exercise.rtol, atol=exercise.atol, equal_nan=True)
        if not close.all():
            with np.errstate(invalid="ignore", over="ignore"):
                excess = np.abs(have_f - want_f) - (exercise.atol + exercise.rtol * np.abs(want_f))
            excess = np.where(close, -np.inf, np.nan_to_num(excess, nan=np.inf))
            flat = int(np.argmax(excess))
            index = np.unravel_index(flat, have_f.shape) if have_f.ndim else ()
            off = int((~close).sum())
            return "wrong_value", (f"{label} is wrong: {off} of {close.size} entr{'y' if close.size == 1 else 'ies'} "
                                   f"differ; the worst at {_format_index(index)}: expected {_fmt(want_f[index])}, "
                                   f"got {_fmt(have_f[index])}")
    return None


def _order_note(exercise: Exercise, expected: tuple, got: tuple) -> str:
    """A note when the outputs' shapes are the expected ones in another order (``return grad_b, grad_a``)."""
    shapes = [getattr(have, "shape", None) for have in got]
    wanted = [want.shape for want in expected]
    if shapes != wanted and sorted(map(str, shapes)) == sorted(map(str, wanted)):
        order = ", ".join(exercise.output_name(i) for i in range(len(expected)))
        return f" (the shapes you returned are the expected ones in another order: return them as ({order}))"
    return ""


def _same(exercise: Exercise, a: tuple, b: tuple) -> bool:
    """Whether two answers agree: the same count, shapes, and values within the exercise's tolerance."""
    return len(a) == len(b) and all(_same_output(exercise, x, y) for x, y in zip(a, b))


def _same_output(exercise: Exercise, x: Any, y: Any) -> bool:
    """Whether two outputs (arrays) agree: the same shape, and values within the exercise's tolerance."""
    if isinstance(x, Finding) or isinstance(y, Finding) or x.shape != y.shape:
        return False
    try:
        return bool(np.allclose(x, y, rtol=exercise.rtol, atol=exercise.atol, equal_nan=True))
    except (TypeError, ValueError):
        return False


def _copied(case: Case) -> Case:
    return Case(case.label, copy.deepcopy(case.args), copy.deepcopy(case.kwargs))


def _run_trusted(exercise: Exercise, fn: Callable, case: Case) -> tuple:
    with _Captured(_Sink()):
        return _outputs(exercise.run(fn, _copied(case)), None)


# ---------------------------------------------------------------------------------------------------------
# check


def check(name: str, fn: Callable, seed: int = 0, timeout: float = 10.0) -> Result:
    """Check a student's answer to exercise ``name`` against the hidden reference; name the mistake if known.

    The function runs on the exercise's cases, drawn from ``seed`` (the same seed gives the same cases, so a
    failure reproduces), each with fresh copies of the inputs. The first failing case is reported: which
    output, the worst entry (index, expected, got) or what is wrong with its count, shape or dtype; then the
    known mistake the answer matches, with a hint pointing at the formula in the statement (`show`).

    A mistake is reported when the answer equals that wrong variant of the reference on every case
    (``result.mistake_match == "full"``); failing that, when it equals one on the first failing case, or
    its first wrong output equals that mistake's on every case (``"partial"``, the report says "looks like").
    ``result.mistake`` holds the name in both cases. Notes follow: outputs in the wrong order, defaults that
    differ from the stub's, how much the function printed, the warnings NumPy raised.

    Args:
        name: the exercise, ``"family/name"`` (see `names`).
        fn: the student's function, with the stub's signature (see `stub`).
        seed: seeds the random cases.
        timeout: seconds the student's function may run over all cases together.

    Returns:
        A `Result`: ``print(result)`` reads as the report; ``bool(result)`` is ``result.passed``.

    Raises:
        KeyError: an unknown exercise (the message lists the valid names).
        TypeError: ``fn`` is not callable, or ``seed`` is not an int.
        ValueError: ``timeout`` is not a finite number > 0.
    """
    if callable(name) and isinstance(fn, str):
        raise TypeError(f"check takes the exercise's name first, then your function: check({fn!r}, "
                        f"{getattr(name, '__name__', 'your_function')})")
    exercise = _get(name)
    if _grading:
        return Result(name, False, None, f"{name}: check() does not run while a submission is being graded; "
                      "the grader checks every exercise itself.", "not_implemented", 0, 0, seed)
    return check_exercise(exercise, fn, seed, timeout)


_grading = False  # set by the grader in its worker: the students' own check() calls then return at once


def check_exercise(exercise: Exercise, fn: Callable, seed: int = 0, timeout: float = 10.0) -> Result:
    """`check` for an `Exercise` object, registered or not (tests check their own toy exercises with it)."""
    if not callable(fn):
        raise TypeError(f"check needs the function you wrote for {exercise.name} ({exercise.function}), "
                        f"got {type(fn).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {seed!r}")
    timeout = check_positive("check", "timeout", timeout)  # seconds; inf would overflow the timer
    seed = int(seed)
    cases = list(exercise.cases(np.random.default_rng(seed)))
    total = len(cases)

    def result(passed: bool, finding: str, message: str, cases_passed: int = 0, failed_case: str | None = None,
               mistake: Mistake | None = None, match: str | None = None, printed: int = 0) -> Result:
        return Result(exercise.name, passed, mistake.name if mistake else None, message, finding, cases_passed,
                      total, seed, failed_case, match if mistake else None, mistake.hint if mistake else "", printed)

    # The reference, once per case; every call it receives shows how the student's function will be called.
    calls: set[tuple[int, tuple[str, ...]]] = set()

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.add((len(args), tuple(sorted(kwargs))))
        return exercise.reference(*args, **kwargs)

    expected = [_run_trusted(exercise, recording, case) for case in cases]

    head = f"{exercise.name}: failed (seed {seed})"
    problem = _signature_problem(fn, calls)
    if problem is not None:
        return result(False, "wrong_signature",
                      f"{head}: {exercise.function} cannot be called the way the exercise calls it: {problem}.\n"
                      f"Write it as: {_signature_text(exercise)}")

    # The student's function, all cases under one time limit; its prints counted, not shown.
    sink = _Sink()
    outcomes: list[Any] = []
    current = [0]

    def work() -> None:
        for i, case in enumerate(cases):
            current[0] = i
            try:
                raw = exercise.run(fn, _copied(case))
                outcomes.append(_outputs(raw, len(expected[i])))
            except Finding as finding:
                outcomes.append(finding)
            except (_Timeout, KeyboardInterrupt):
                raise
            except BaseException as err:  # noqa: BLE001 - student code: SystemExit included
                outcomes.append(err)
                if isinstance(err, NotImplementedError):
                    return

    try:
        with _Captured(sink):
            _call_with_time_limit(work, timeout)
    except _Timeout:
        case = cases[current[0]] if cases else None
        return result(False, "timeout", f"{head}: did not finish within {timeout:g} s (an infinite loop? a loop "
                      f"whose condition never changes?); stopped during case {current[0] + 1} of {total}"
                      + (f", {case.label!r}" if case else "") + "." + _printed_note(sink),
                      failed_case=case.label if case else None, printed=sink.lines)

    if outcomes and isinstance(outcomes[-1], NotImplementedError):
        return result(False, "not_implemented", f"{exercise.name}: not written yet ({exercise.function} raises "
                      "NotImplementedError). Write its body, then check again." + _printed_note(sink),
                      printed=sink.lines)

    verdicts: list[tuple[str, str] | None] = []
    for want, got in zip(expected, outcomes):
        if isinstance(got, Finding):
            verdicts.append((got.kind, got.text))
        elif isinstance(got, BaseException):
            verdicts.append(("error", "your function " + _describe_exception(got)))
        else:
            verdicts.append(_compare(exercise, want, got))
    passed = sum(v is None for v in verdicts)
    if passed == total:
        labels = "".join(f"\n  - {case.label}" for case in cases)
        return result(True, "passed", f"{exercise.name}: passed all {total} case{'s' * (total != 1)} (seed {seed}):"
                      f"{labels}" + _printed_note(sink), passed, printed=sink.lines)

    first = next(i for i, v in enumerate(verdicts) if v is not None)
    finding, what = verdicts[first]
    case = cases[first]
    message = (f"{head}: {passed} of {total} cases passed.\n"
               f"Case {first + 1} of {total}, {case.label!r}: {what}.")
    mistake, match, output = _match_mistake(exercise, cases, expected, outcomes, first)
    if mistake is not None:
        if match == "full":
            message += f"\nThis is the known mistake `{mistake.name}`: your answer equals it on every case."
        elif output is None:
            message += (f"\nThis looks like the known mistake `{mistake.name}`: your answer equals it on this case "
                        "(not on every case).")
        else:
            name = exercise.output_name(output)
            message += (f"\nYour {name} looks like the known mistake `{mistake.name}`: it equals that mistake's "
                        f"{name} on every case.")
        message += f"\nHint: {mistake.hint}"
    message += _defaults_note(exercise, fn) + _printed_note(sink)
    return result(False, finding, message, passed, case.label, mistake, match, sink.lines)


def _signature_problem(fn: Callable, calls: set) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin or C function without a readable signature: let the call itself decide
    for count, keywords in sorted(calls):
        try:
            sig.bind(*([None] * count), **dict.fromkeys(keywords))
        except TypeError as err:
            return f"{err} (it is called with {count} positional argument{'s' * (count != 1)}" + (
                f" and {', '.join(keywords)}=..." if keywords else "") + ")"
    return None


def _defaults_note(exercise: Exercise, fn: Callable) -> str:
    """A note naming the student's default values that differ from the stub's (PyTorch's), e.g. weight_decay=0."""
    try:
        parameters = inspect.signature(fn).parameters
        node = _stub_def(exercise).args
    except (TypeError, ValueError):
        return ""
    positional = node.posonlyargs + node.args
    pairs = [*zip(positional[len(positional) - len(node.defaults):], node.defaults),
             *((arg, d) for arg, d in zip(node.kwonlyargs, node.kw_defaults) if d is not None)]
    differ = []
    for arg, default in pairs:
        parameter = parameters.get(arg.arg)
        if parameter is None or parameter.default is inspect.Parameter.empty:
            continue
        try:
            value = ast.literal_eval(default)
            theirs = list(parameter.default) if isinstance(parameter.default, tuple | list) else parameter.default
            if bool(theirs == (list(value) if isinstance(value, tuple) else value)) and (
                    isinstance(parameter.default, bool) == isinstance(value, bool)):
                continue
        except Exception:  # noqa: BLE001 - a default that is not a literal, or that cannot be compared
            continue
        differ.append(f"{arg.arg}={parameter.default!r} where the exercise has {arg.arg}={value!r}")
    if not differ:
        return ""
    return (f"\nNote: your default{'s' * (len(differ) > 1)} differ{'s' * (len(differ) == 1)} from the exercise's "
            f"(PyTorch's): {'; '.join(differ)}. A case that leaves it out expects the exercise's value.")


def _printed_note(sink: _Sink) -> str:
    note = ""
    if sink.chars:
        lines = sink.lines or 1
        note += f"\n(Your function printed {lines} line{'s' * (lines != 1)} while being checked; not shown.)"
    if sink.warnings:
        note += f"\n(NumPy or Python warned while your function ran: {'; '.join(sink.warnings)}.)"
    return note


def _match_mistake(exercise: Exercise, cases: list, expected: list, outcomes: list,
                   first: int) -> tuple[Mistake | None, str | None, int | None]:
    """(mistake, "full" or "partial", output index or None): the catalogued mistake the answer equals on every
    case; else one it equals on the first failing case; else one that gives the answer's first wrong output
    (e.g. grad x) on every case (the outputs are separate pieces of work: a mistake may be made in one only)."""
    ours = outcomes[first]
    if not exercise.mistakes or not isinstance(ours, tuple):
        return None, None, None
    want = expected[first]
    wrong_output = next((i for i, (x, y) in enumerate(zip(ours, want)) if not _same_output(exercise, x, y)), None)
    partial = in_output = None
    for mistake in exercise.mistakes:
        try:
            theirs = [_run_trusted(exercise, mistake.fn, case) for case in cases]
        except Exception:  # noqa: BLE001 - a broken catalogue entry must not hide the student's report
            continue
        same = [isinstance(answer, tuple) and _same(exercise, answer, wrong)
                for answer, wrong in zip(outcomes, theirs)]
        if all(same) and len(same) == len(cases):
            return mistake, "full", None
        if partial is None and same[first] and not _same(exercise, want, theirs[first]):
            partial = mistake  # (a mistake that agrees with the reference on this case says nothing about it)
        if in_output is None and wrong_output is not None and all(
                isinstance(answer, tuple) and len(answer) == len(wrong) == len(want)
                and _same_output(exercise, answer[wrong_output], wrong[wrong_output])
                for answer, wrong in zip(outcomes, theirs)):
            in_output = mistake
    if partial is not None:
        return partial, "partial", None
    return (in_output, "partial", wrong_output) if in_output is not None else (None, None, None)



# ---------------------------------------------------------------------------------------------------------
# The catalogue of mistakes, for the teacher's guide (docs/exercises.md)

_CATALOGUE_START = ("<!-- catalogue: generated by python -c \"from tinygrad_edu.exercises import _core; "
                    "_core._write_catalogue('docs/exercises.md')\" -->")
_CATALOGUE_END = "<!-- catalogue end -->"


def catalogue_markdown() -> str:
    """Every registered exercise with its signature and its catalogued mistakes and hints, as Markdown."""
    parts = []
    family = None
    for name in names():
        exercise = REGISTRY[name]
        if name.split("/")[0] != family:
            family = name.split("/")[0]
            parts.append(f"### {family}\n")
        parts.append(f"**`{name}`**: {exercise.title}. Write `{_signature_text(exercise)[4:]}`.\n")
        parts += [f"- `{mistake.name}`: {mistake.hint}" for mistake in exercise.mistakes]
        parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"


def _write_catalogue(path: str) -> None:
    """Replace the catalogue between its two marker lines in the page at ``path``."""
    from .._files import atomic_write_text

    with open(path, encoding="utf-8") as handle:
        page = handle.read()
    start, end = page.index(_CATALOGUE_START) + len(_CATALOGUE_START), page.index(_CATALOGUE_END)
    atomic_write_text(path, page[:start] + "\n\n" + catalogue_markdown() + "\n" + page[end:], who="catalogue")

