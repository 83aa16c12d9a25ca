"""Grad mode and the recording modes are per thread, as in PyTorch (issue 13).

Each test runs the same scenario in PyTorch (the oracle) and checks the library does what PyTorch does.
Threads are synchronised with barriers/events, so every interleaving claimed is the one that happens.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import autograd


def _run_threads(*targets):
    errors = []

    def guard(target):
        def run():
            try:
                target()
            except BaseException as err:  # noqa: BLE001 - reported to the main thread
                errors.append(err)
        return run

    threads = [threading.Thread(target=guard(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def _no_grad_elsewhere(lib):
    """While another thread sits inside no_grad, the main thread records: what does it see?"""
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def other():
        with lib.no_grad():
            seen["other"] = lib.is_grad_enabled()
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    w = lib.ones(3, requires_grad=True)
    seen["main"] = lib.is_grad_enabled()
    seen["records"] = (w * 2).requires_grad
    release.set()
    thread.join(10)
    return seen


def test_no_grad_in_another_thread_leaves_this_thread_recording(torch):
    expected = _no_grad_elsewhere(torch)
    assert expected == {"other": False, "main": True, "records": True}  # PyTorch: grad mode is per thread
    assert _no_grad_elsewhere(tg) == expected


def _overlapping_blocks(lib):
    """Two threads' no_grad blocks overlap (A enters, B enters, A exits, B exits): the mode after both."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with lib.no_grad():
            a_in.set()
            assert b_in.wait(10)
        a_out.set()
        seen["a_after"] = lib.is_grad_enabled()

    def b():
        assert a_in.wait(10)
        with lib.no_grad():
            b_in.set()
            assert a_out.wait(10)
            seen["b_inside_after_a_left"] = lib.is_grad_enabled()
        seen["b_after"] = lib.is_grad_enabled()

    _run_threads(a, b)
    seen["main"] = lib.is_grad_enabled()
    return seen


def test_overlapping_no_grad_blocks_in_two_threads_restore_each_threads_mode(torch):
    expected = _overlapping_blocks(torch)
    assert expected == {"a_after": True, "b_inside_after_a_left": False, "b_after": True, "main": True}
    assert _overlapping_blocks(tg) == expected
    w = tg.ones(2, requires_grad=True)
    assert (w * 2).requires_grad  # recording is on for the rest of the process


def _new_thread_mode(lib):
    """A thread started from inside no_grad: PyTorch starts every new thread with grad enabled."""
    seen = {}

    def child():
        seen["child"] = lib.is_grad_enabled()
        seen["child_records"] = (lib.ones(2, requires_grad=True) * 2).requires_grad

    with lib.no_grad():
        _run_threads(child)
        seen["parent"] = lib.is_grad_enabled()
    return seen


def test_new_thread_starts_with_grad_enabled(torch):
    expected = _new_thread_mode(torch)
    assert expected == {"child": True, "child_records": True, "parent": False}
    assert _new_thread_mode(tg) == expected


def test_set_grad_enabled_call_switches_only_this_thread(torch):
    def run(lib):
        seen = {}

        def off():
            lib.set_grad_enabled(False)  # a plain call, never undone in that thread
            seen["off_thread"] = lib.is_grad_enabled()

        _run_threads(off)
        seen["main"] = lib.is_grad_enabled()
        return seen

    expected = run(torch)
    assert expected == {"off_thread": False, "main": True}
    assert run(tg) == expected


def test_set_grad_enabled_rejects_non_bool_as_pytorch(torch):
    for bad in (1, 0, None, "yes", 1.0):
        with pytest.raises(TypeError):
            torch.set_grad_enabled(bad)
        with pytest.raises(TypeError, match="must be a bool"):
            tg.set_grad_enabled(bad)
    assert tg.is_grad_enabled()


def test_many_threads_training_while_others_evaluate_get_pytorchs_gradients(torch):
    """Four threads compute gradients while four others loop inside no_grad; every gradient is exact."""
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 3)) for _ in range(4)]
    w0 = rng.standard_normal(3)
    expected = []
    for x in xs:
        w = torch.tensor(w0, requires_grad=True)
        torch.tanh(torch.tensor(x) @ w).pow(2).sum().backward()
        expected.append(w.grad.numpy())
    barrier = threading.Barrier(8)
    results: dict[int, np.ndarray] = {}

    def trainer(k):
        def run():
            barrier.wait(10)
            for _ in range(30):
                w = tg.tensor(w0, requires_grad=True, dtype=tg.float64)
                (tg.tensor(xs[k], dtype=tg.float64) @ w).tanh().pow(2).sum().backward()
                results.setdefault(k, w.grad.numpy().copy())
                np.testing.assert_allclose(w.grad.numpy(), expected[k], rtol=1e-12, atol=1e-12)
        return run

    def evaluator():
        barrier.wait(10)
        for _ in range(30):
            with tg.no_grad():
                y = tg.tensor(xs[0]) @ tg.tensor(w0, requires_grad=True)
                assert not y.requires_grad

    _run_threads(*[trainer(k) for k in range(4)], *[evaluator for _ in range(4)])
    assert sorted(results) == [0, 1, 2, 3]
    assert tg.is_grad_enabled()


def test_keep_forward_inputs_is_per_thread():
    """A recording mode in one thread does not make another thread's nodes keep their inputs."""
    inside, release = threading.Event(), threading.Event()
    kept = {}

    def other():
        with autograd.keep_forward_inputs():
            y = tg.ones(2, requires_grad=True) * 3
            kept["inside"] = y.grad_fn.forward_call is not None
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    y = tg.ones(2, requires_grad=True) * 3
    kept["main"] = y.grad_fn.forward_call is not None
    release.set()
    thread.join(10)
    assert kept == {"inside": True, "main": False}
    assert autograd._mode.recorder is None


def test_old_module_level_names_still_read_this_threads_mode():
    """``autograd._grad_enabled`` / ``autograd._recorder`` (read by Module.__call__, checkpointing) follow the
    per-thread modes: ``_recorder`` is None while no thread records, else answers for the calling thread."""
    assert autograd._grad_enabled is True and autograd._recorder is None
    inside, release = threading.Event(), threading.Event()
    other = {}

    def elsewhere():
        assert inside.wait(10)
        other["grad"] = autograd._grad_enabled
        other["module_names"] = autograd._recorder.module_names
        other["path"] = autograd._recorder.path
        release.set()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    with tg.no_grad(), autograd.record_scopes({1: "layer"}) as recorder:
        assert autograd._grad_enabled is False
        assert autograd._recorder.module_names == recorder.module_names == {1: "layer"}
        inside.set()
        assert release.wait(10)
    thread.join(10)
    assert other == {"grad": True, "module_names": None, "path": ()}
    assert autograd._grad_enabled is True and autograd._recorder is None


def test_trace_modules_in_one_thread_leaves_another_threads_modules_untraced():
    """record_scopes in one thread: a model run meanwhile in another thread records no scopes."""
    model = tg.nn.Sequential(tg.nn.Linear(2, 2), tg.nn.Tanh())
    names = {id(m): name for name, m in model.named_modules()}
    inside, release = threading.Event(), threading.Event()
    scopes = {}

    def other():
        assert inside.wait(10)
        y = model(tg.ones(1, 2))
        scopes["other"] = y.grad_fn.scope
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    with autograd.record_scopes(names):
        inside.set()
        assert release.wait(10)
        y = model(tg.ones(1, 2))
        scopes["tracing"] = y.grad_fn.scope
    thread.join(10)
    assert scopes["other"] == ()
    assert scopes["tracing"] and scopes["tracing"][-1][1] == "Tanh"


def test_one_no_grad_instance_entered_by_two_threads_restores_each_threads_mode():
    """``NO_GRAD = tg.no_grad()`` shared by threads: each block restores the mode its own thread had before.

    (PyTorch keeps the previous mode on the instance, so there the second thread's entry overwrites the
    first's; the library keeps it per thread.) The reference is the contract itself: the mode after a
    block equals the mode before it, in each thread.
    """
    shared = tg.no_grad()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():  # recording on before the block
        with shared:
            a_in.set()
            assert b_in.wait(10)
        a_out.set()
        seen["a"] = tg.is_grad_enabled()

    def b():  # recording off before the block
        tg.set_grad_enabled(False)
        assert a_in.wait(10)
        with shared:
            b_in.set()
            assert a_out.wait(10)
        seen["b"] = tg.is_grad_enabled()

    _run_threads(a, b)
    assert seen == {"a": True, "b": False}


def test_backward_in_several_threads_into_a_shared_leaf_loses_nothing(torch):
    """Four threads backpropagate into the same weight at once: PyTorch's .grad gets every gradient; so
    does the library's (NumPy's += lets go of the GIL on large arrays: without a lock, updates were lost)."""
    def run(lib, size=200_000, steps=50, threads=4):
        w = lib.zeros(size, requires_grad=True)

        def work():
            for _ in range(steps):
                (w * 1.0).sum().backward()

        _run_threads(*[work] * threads)
        return np.asarray(w.grad.numpy())

    expected = run(torch)
    assert (expected == 200).all()
    np.testing.assert_array_equal(run(tg), expected)
