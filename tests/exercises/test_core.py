"""tg.exercises' checker on a toy exercise registered here: every kind of finding, the mistake matching, the
copies of the inputs, the time limit, the captured prints and the seed.

The toy is the backward of ``y = x ** 2``: ``grad x = 2 * x * grad_out`` (by hand), with two catalogued mistakes.
"""

from __future__ import annotations

import dataclasses
import sys
import threading

import numpy as np
import pytest

import tinygrad_edu.exercises as ex
from tinygrad_edu.exercises import _core

STUB = '''def square_backward(grad_out, x):
    """The gradient of y = x ** 2: return grad x."""
    raise NotImplementedError
'''


def _reference(grad_out, x):
    return (2 * x * grad_out,)


def _cases(rng):
    return [
        _core.Case("x (3,), grad_out ones", (np.ones(3), rng.normal(size=3))),
        _core.Case("x (2, 3)", (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))),
        _core.Case("x (4,) with a zero", (rng.normal(size=4), np.array([0.0, 1.5, -2.0, 0.5]))),
    ]


def _run(fn, case):
    return fn(*case.args, **case.kwargs)


TOY = _core.Exercise(
    name="toy/square", function="square_backward", title="The backward of x ** 2",
    statement="$y = x^2$: $\\partial L/\\partial x = 2x \\cdot g$ where $g$ is `grad_out`.", stub=STUB,
    reference=_reference, cases=_cases, run=_run,
    mistakes=(_core.Mistake("forgot_grad_out", lambda grad_out, x: (2 * x,), "Multiply by grad_out (chain rule)."),
              _core.Mistake("forgot_two", lambda grad_out, x: (x * grad_out,), "d(x^2)/dx is 2x, not x.")),
    output_names=("grad x",))


@pytest.fixture
def toy():
    """TOY registered under its name for the test, removed after."""
    ex.register(TOY)
    yield TOY.name
    ex.REGISTRY.pop(TOY.name)


def _check(fn, **kwargs):
    return _core.check_exercise(TOY, fn, **kwargs)


# --- passing


def test_reference_and_a_different_correct_answer_pass(toy):
    result = ex.check(toy, _reference)
    assert result and result.passed and result.finding == "passed" and result.mistake is None
    assert (result.cases_passed, result.cases_total, result.seed) == (3, 3, 0)
    labels = [case.label for case in _cases(np.random.default_rng(0))]
    assert str(result) == "toy/square: passed all 3 cases (seed 0):\n  - " + "\n  - ".join(labels)

    def written_differently(grad_out, x):  # a bare array, a list of floats, and x + x for 2x
        return grad_out * (x + x)

    assert ex.check(toy, written_differently).passed
    assert ex.check(toy, lambda g, x: [(x * g * 2).tolist()][0] if x.ndim == 1 else (x * g * 2,)).passed


def test_names_show_stub_and_unknown_names(toy):
    assert toy in ex.names()
    assert ex.names().index(toy) == len(ex.names()) - 1  # not a family: after the families
    assert ex.show(toy) == TOY.statement and ex.stub(toy) == STUB
    assert ex.signature(toy) == "def square_backward(grad_out, x)"
    for call in (ex.show, ex.stub, lambda n: ex.check(n, _reference)):
        with pytest.raises(KeyError, match="unknown exercise 'toy/cube'; valid names: .*toy/square"):
            call("toy/cube")
    with pytest.raises(TypeError, match="got int"):
        ex.check(toy, 3)


def test_register_refuses_duplicates_and_malformed(toy):
    with pytest.raises(ValueError, match="already registered"):
        ex.register(TOY)
    import dataclasses

    for change, match in (({"name": "square"}, "family/name"),
                          ({"name": "toy/other", "stub": "def other(): pass"}, "does not define"),
                          ({"name": "toy/x", "mistakes": (TOY.mistakes[0], TOY.mistakes[0])}, "distinct")):
        with pytest.raises(ValueError, match=match):
            ex.register(dataclasses.replace(TOY, **change))


# --- the findings, one by one


def test_not_implemented_is_not_written_yet():
    namespace = {}
    exec(STUB, namespace)
    result = _check(namespace["square_backward"])
    assert (result.passed, result.finding, result.mistake) == (False, "not_implemented", None)
    assert "not written yet" in result.message


def test_wrong_signature_names_the_expected_one():
    result = _check(lambda x: 2 * x)
    assert result.finding == "wrong_signature"
    assert "def square_backward(grad_out, x)" in result.message and "2 positional" in result.message


def test_raising_shows_the_students_line():
    def square_backward(grad_out, x):
        return 2 * x * grad_out / 0 if False else 1 // 0  # the line the report shows

    result = _check(square_backward)
    assert result.finding == "error" and result.failed_case == "x (3,), grad_out ones"
    assert "raised ZeroDivisionError: integer division or modulo by zero" in result.message
    assert "at test_core.py, line" in result.message and "in square_backward: return 2 * x" in result.message


def test_math_functions_on_arrays_get_a_pointer_to_numpy():
    import math

    def square_backward(grad_out, x):
        return 2 * math.sqrt(x * x) * grad_out  # one number only: fails on the arrays

    result = _check(square_backward)
    assert result.finding == "error" and "raised TypeError: only" in result.message
    assert "(math.sqrt, math.exp, math.cos and float() take one number: on arrays use np.sqrt" in result.message

    def divides_by_zero(grad_out, x):
        return grad_out / 0 if False else 1 // 0

    other = _check(divides_by_zero).message  # another error: no such pointer
    assert "ZeroDivisionError" in other and "np." not in other


def test_sys_exit_is_a_finding_not_an_exit():
    result = _check(lambda g, x: sys.exit(3))
    assert result.finding == "error" and "called sys.exit(3)" in result.message


def test_infinite_loop_times_out():
    def square_backward(grad_out, x):
        while True:
            pass

    result = _check(square_backward, timeout=0.5)
    assert result.finding == "timeout" and not result.passed
    assert "did not finish within 0.5 s" in result.message and "case 1 of 3" in result.message


def test_infinite_loop_that_swallows_the_interruption_still_times_out():
    def square_backward(grad_out, x):
        while True:
            try:
                while True:
                    pass
            except BaseException:  # noqa: BLE001 - what a careless student writes
                pass

    assert _check(square_backward, timeout=0.3).finding == "timeout"


def test_the_time_limit_never_stops_library_code_midway():
    """Time running out during ``backward()`` lets the backward finish; the student's next line is where it
    stops. (An exception at any bytecode of the library could leave its gradient lock held between acquire and
    ``with``, CPython's bpo-29988, hanging every later backward of the process.)"""
    import tinygrad_edu as tg

    w = tg.tensor(np.ones(3), requires_grad=True)
    y = w
    for _ in range(40_000):  # a backward of ~0.1 s, well past the 0.01 s limit
        y = y * 1.0
    loss = y.sum()

    def square_backward(grad_out, x):
        loss.backward(retain_graph=True)  # the leaf's .grad is written at the end of the walk
        while True:
            pass

    result = _check(square_backward, timeout=0.01)
    assert result.finding == "timeout"
    np.testing.assert_array_equal(w.grad.numpy(), np.ones(3))  # the backward ran to its end
    v = tg.tensor([1.0, 2.0], requires_grad=True)
    (v * v).sum().backward()  # the process's backward still works
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 4.0])


def test_time_limit_outside_the_main_thread():
    box = {}
    worker = threading.Thread(target=lambda: box.update(r=_check(lambda g, x: [0 for _ in iter(int, 1)],
                                                                 timeout=0.3)))
    worker.start()
    worker.join(10)
    assert box["r"].finding == "timeout"


def test_a_flood_of_prints_is_counted_not_shown(capsys):
    printed = []

    def square_backward(grad_out, x):
        if not printed:
            for i in range(100_000):
                print("step", i)
            printed.append(True)
        return 2 * x * grad_out

    result = _check(square_backward)
    assert result.passed and result.printed_lines == 100_000
    assert "printed 100000 lines while being checked; not shown" in result.message
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_wrong_count():
    result = _check(lambda g, x: (2 * x * g, g))
    assert result.finding == "wrong_count" and "returned 2 outputs, expected 1 (grad x)" in result.message
    assert _check(lambda g, x: None).finding == "wrong_count"


def test_wrong_shape():
    result = _check(lambda g, x: (2 * x * g)[None])
    assert result.finding == "wrong_shape" and "grad x has shape (1, 3), expected (3,)" in result.message


def test_integer_dtype():
    result = _check(lambda g, x: (2 * x * g).astype(np.int64))
    assert result.finding == "wrong_dtype" and "integer dtype (int64)" in result.message


def test_lower_precision_and_non_numbers():
    assert _check(lambda g, x: (2 * x * g).astype(np.float32)).finding == "wrong_dtype"
    result = _check(lambda g, x: ("two x g",))
    assert result.finding == "wrong_dtype" and "not numbers" in result.message


def test_nan_is_not_finite():
    def square_backward(grad_out, x):
        out = 2 * x * grad_out
        out[1] = np.nan
        return out

    result = _check(square_backward)
    assert result.finding == "not_finite"
    assert "1 non-finite entry where the answer is finite; first at [1]" in result.message


def test_wrong_value_names_the_worst_entry():
    case = _cases(np.random.default_rng(0))[0]
    expected = 2 * case.args[1] * case.args[0]
    got = expected.copy()
    got[2] += 5.0
    got[0] += 0.1

    result = _check(lambda g, x: got.copy())
    assert result.finding == "wrong_value" and result.mistake is None
    assert f"2 of 3 entries differ; the worst at [2]: expected {expected[2]:.6g}, got {got[2]:.6g}" in result.message


# --- mistakes


@pytest.mark.parametrize("mistake", TOY.mistakes, ids=[m.name for m in TOY.mistakes])
def test_every_catalogued_mistake_is_named(mistake):
    result = _check(mistake.fn)
    assert (result.passed, result.finding, result.mistake, result.mistake_match) == (
        False, "wrong_value", mistake.name, "full")
    assert f"This is the known mistake `{mistake.name}`" in result.message
    assert result.message.endswith(f"Hint: {mistake.hint}") and result.hint == mistake.hint


def test_an_independent_wrong_answer_matching_a_mistake():
    # Written as a student would, not copied from the catalogue: the derivative of x^2 taken as x.
    assert _check(lambda grad_out, x: np.multiply(x, grad_out)).mistake == "forgot_two"


def test_looks_like_when_the_mistake_matches_the_failing_case_only():
    def square_backward(grad_out, x):
        if x.ndim == 2:
            return 2 * x              # forgot grad_out here...
        return 2 * x * grad_out + (x.size == 4)   # ...and something else on the last case

    result = _check(square_backward)
    assert result.cases_passed == 1 and result.failed_case == "x (2, 3)"
    assert (result.mistake, result.mistake_match) == ("forgot_grad_out", "partial")
    assert "looks like the known mistake `forgot_grad_out`" in result.message


def test_mutating_the_inputs_does_not_leak():
    def square_backward(grad_out, x):
        answer = 2 * x * grad_out
        x[...] = 0.0
        grad_out[...] = 1e9
        return answer

    assert _check(square_backward).passed

    def wrong_and_mutating(grad_out, x):
        answer = 2 * x.copy()
        x[...] = 0.0
        grad_out[...] = 0.0
        return answer

    # The mistakes run after the student, on their own copies: still recognised.
    assert _check(wrong_and_mutating).mistake == "forgot_grad_out"


def test_seed_reproduces_and_changes_the_cases():
    wrong = TOY.mistakes[1].fn
    a, b, c = _check(wrong, seed=7), _check(wrong, seed=7), _check(wrong, seed=8)
    assert a.message == b.message and a.seed == 7 and "(seed 7)" in a.message
    assert a.message != c.message


def test_result_displays_in_a_notebook():
    result = _check(TOY.mistakes[0].fn)
    markdown = result._repr_markdown_()
    assert markdown.startswith("**toy/square: failed (seed 0)") and "*Hint:* Multiply by grad_out" in markdown
    assert repr(result) == str(result) == result.message
    assert not result


def test_bad_arguments():
    with pytest.raises(ValueError, match="timeout"):
        _check(_reference, timeout=0)
    with pytest.raises(ValueError, match="timeout"):  # not an OverflowError from the interval timer
        _check(_reference, timeout=float("inf"))
    with pytest.raises(TypeError, match="seed"):
        _check(_reference, seed=1.5)


def test_numpy_warnings_are_named_not_counted_as_prints():
    def square_backward(grad_out, x):
        np.exp(np.array([1000.0]))  # overflows: NumPy warns on stderr
        return 2 * x * grad_out + np.float64(0.0) / np.float64(0.0) * (x.size == 4)

    result = _check(square_backward)
    assert result.finding == "not_finite" and result.printed_lines == 0 and "printed" not in result.message
    assert result.message.endswith("(NumPy or Python warned while your function ran: overflow encountered in exp; "
                                   "invalid value encountered in scalar divide.)")
    with __import__("warnings").catch_warnings(record=True) as caught:  # the caller's warning state is restored
        __import__("warnings").simplefilter("always")
        np.exp(np.array([1000.0]))
    assert len(caught) == 1


# A toy with two outputs, the backward of x * y (same shapes): (grad_out * y, grad_out * x).
TWO = _core.Exercise(
    name="toy/mul", function="mul_backward", title="The backward of x * y",
    statement="$z = x y$", stub="def mul_backward(grad_out, x, y):\n    raise NotImplementedError\n",
    reference=lambda g, x, y: (g * y, g * x),
    cases=lambda rng: [_core.Case(f"x {shape}", tuple(rng.normal(size=shape) for _ in range(3)))
                       for shape in ((3,), (2, 3), (4,))],
    run=_run, output_names=("grad x", "grad y"),
    mistakes=(_core.Mistake("forgot_grad_out", lambda g, x, y: (y, x), "Multiply by grad_out."),))


def test_a_mistake_made_in_one_output_only_is_named():
    result = _core.check_exercise(TWO, lambda g, x, y: (y, g * x))  # grad x forgot grad_out; grad y is right
    assert (result.finding, result.mistake, result.mistake_match) == ("wrong_value", "forgot_grad_out", "partial")
    assert ("Your grad x looks like the known mistake `forgot_grad_out`: it equals that mistake's grad x on every "
            "case.") in result.message
    # On one case only is a coincidence, not a mistake: nothing named.
    assert _core.check_exercise(TWO, lambda g, x, y: (y if x.ndim == 2 else y + 1, g * x)).mistake is None


def test_outputs_in_the_wrong_order_are_pointed_out():
    def three(grad_out, a, b):
        return grad_out @ b.T, a.T @ grad_out

    matmul = _core.Exercise(
        name="toy/matmul", function="three", title="t", statement="s", stub="def three(grad_out, a, b):\n    pass",
        reference=three, run=_run, output_names=("grad a", "grad b"),
        cases=lambda rng: [_core.Case("a (3, 4) @ b (4, 5)", (rng.normal(size=(3, 5)), rng.normal(size=(3, 4)),
                                                               rng.normal(size=(4, 5))))])
    result = _core.check_exercise(matmul, lambda g, a, b: three(g, a, b)[::-1])
    assert result.message.endswith("grad a has shape (4, 5), expected (3, 4) (the shapes you returned are the "
                                   "expected ones in another order: return them as (grad a, grad b)).")
    result = _core.check_exercise(matmul, lambda g, a, b: (three(g, a, b)[0].T, three(g, a, b)[1]))
    assert result.message.endswith("grad a has shape (4, 3), expected (3, 4).")  # transposed, not swapped: no note


def test_a_default_that_differs_from_the_stubs_is_pointed_out():
    toy = dataclasses.replace(TOY, stub="def square_backward(grad_out, x, scale=2.0, flag=False):\n    pass",
                              reference=lambda g, x, scale=2.0, flag=False: (scale * x * g,))
    result = _core.check_exercise(toy, lambda grad_out, x, scale=1, flag=0: (scale * x * grad_out,))
    assert result.message.endswith("\nNote: your defaults differ from the exercise's (PyTorch's): scale=1 where the "
                                   "exercise has scale=2.0; flag=0 where the exercise has flag=False. A case that "
                                   "leaves it out expects the exercise's value.")
    assert "Note:" not in _core.check_exercise(toy, lambda grad_out, x, scale=2, flag=False: (x,)).message
    toy = dataclasses.replace(toy, stub="def square_backward(grad_out, x, betas=(0.9, 0.999)):\n    pass",
                              reference=lambda g, x, betas=(0.9, 0.999): (2 * x * g,))
    assert "Note:" not in _core.check_exercise(toy, lambda grad_out, x, betas=[0.9, 0.999]: (x,)).message


def test_a_mistyped_name_or_swapped_arguments_get_a_suggestion(toy):
    for wrong in ("square", "square_backward", "other/square"):
        with pytest.raises(KeyError, match=f"unknown exercise '{wrong}'; did you mean 'toy/square'\\? valid names"):
            ex.check(wrong, _reference)
    with pytest.raises(TypeError, match=r"name first, then your function: check\('toy/square', _reference\)"):
        ex.check(_reference, toy)


# --- every registered exercise keeps the checker's promises (the families test their own exercises in depth)


@pytest.mark.parametrize("name", ex.names())
def test_registered_exercise_is_well_formed(name):
    exercise = ex.REGISTRY[name]
    namespace = {"np": np}
    exec(exercise.stub, namespace)
    stub_result = ex.check(name, namespace[exercise.function])
    assert stub_result.finding == "not_implemented", stub_result.message  # the stub's signature fits the calls
    assert ex.check(name, exercise.reference, seed=3).passed
    assert 4 <= ex.check(name, exercise.reference).cases_total <= 10
    for mistake in exercise.mistakes:
        result = ex.check(name, mistake.fn)
        assert (result.mistake, result.mistake_match) == (mistake.name, "full"), result.message
        assert mistake.hint in result.message


def test_the_teachers_guide_catalogue_is_the_generated_one():
    """The catalogue in docs/exercises.md is exactly what the registry generates: a stale hint fails too."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "exercises.md").read_text(encoding="utf-8")
    assert page.count(_core._CATALOGUE_START) == 1 and page.count(_core._CATALOGUE_END) == 1
    start = page.index(_core._CATALOGUE_START) + len(_core._CATALOGUE_START)
    on_page = page[start:page.index(_core._CATALOGUE_END)]
    assert all(name.split("/")[0] in _core.FAMILIES for name in _core.REGISTRY), "a toy exercise is registered"
    generated = "\n\n" + _core.catalogue_markdown() + "\n"
    if on_page != generated:
        import difflib

        diff = "".join(list(difflib.unified_diff(on_page.splitlines(True), generated.splitlines(True),
                                                 "docs/exercises.md", "generated", n=0))[:40])
        pytest.fail("docs/exercises.md's catalogue of mistakes differs from the registry's; regenerate it with\n"
                    "    python -c \"from tinygrad_edu.exercises import _core; "
                    "_core._write_catalogue('docs/exercises.md')\"\n" + diff)
    for name in ex.names():  # and it lists everything (a guard on catalogue_markdown itself)
        assert f"**`{name}`**" in on_page
        assert all(f"- `{m.name}`: {m.hint}" in on_page for m in ex.REGISTRY[name].mistakes)
    assert "catalogue_markdown" not in page and _core.catalogue_markdown().startswith("### backward\n")


def test_the_exercise_notebooks_hand_out_every_stub_as_registered():
    """Each registered stub appears verbatim in notebooks/exercises/, followed somewhere by its check(...)."""
    import json
    from pathlib import Path

    code = ""
    for path in sorted((Path(__file__).resolve().parents[2] / "notebooks" / "exercises").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code += "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code") + "\n"
    stale = [name for name in ex.names() if ex.stub(name).strip() not in code]
    unchecked = [name for name in ex.names() if f'check("{name}"' not in code and f"check('{name}'" not in code]
    assert not stale and not unchecked, (f"notebooks/exercises/ lack the current stub of {stale} or a check of "
                                         f"{unchecked}: rebuild the notebooks")


def test_tensors_are_read_as_arrays():
    import tinygrad_edu as tg

    f64 = tg.float64
    assert _check(lambda g, x: tg.tensor(2 * x * g, dtype=f64)).passed
    assert _check(lambda g, x: (tg.tensor(x, dtype=f64, requires_grad=True) * 2 * tg.tensor(g, dtype=f64),)).passed
    # float32, the default dtype: its precision is reported, and no mistake is guessed from the values
    result = _check(lambda g, x: tg.tensor(2 * x * g))
    assert (result.finding, result.mistake) == ("wrong_dtype", None)
    assert "grad x has dtype float32, expected float64" in result.message


def test_a_timer_of_the_callers_survives_a_check():
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.4)
        assert _check(_reference).passed
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.4
        signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_an_exception_that_cannot_be_printed():
    class OddError(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def square_backward(grad_out, x):
        raise OddError

    result = _check(square_backward)
    assert result.finding == "error" and "raised OddError: (its message cannot be shown)" in result.message
