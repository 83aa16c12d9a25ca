"""tg.train.sweep: grid order, rows, seeds, errors per point, and the same numbers serially, on loky, Dask and Ray.

The reference for every sweep is the loop it replaces, written out here: seed
with ``tg.manual_seed``, call ``train_fn(**point)``, take the History's last
values. A parallel run must give that loop's numbers bit for bit.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import sys
import threading
import time

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, optim
from tinygrad_edu.train import History, SweepResult, sweep

# The module, not the function of the same name that tinygrad_edu.train exports.
sweep_module = sys.modules["tinygrad_edu.train.sweep"]


def make_train_fn():
    """A small regression trained with Adam (a numba kernel) on data drawn from the seeded generator.

    Defined inside a function so that worker processes receive it by value
    (cloudpickle), whatever the name pytest imported this file under.
    """

    def train_fn(lr, optimizer="Adam", epochs=15, fail_at=None):
        if fail_at is not None and lr == fail_at:
            raise ValueError(f"lr {lr} is refused on purpose")
        x = tg.randn(32, 2)
        y = x @ tg.tensor([[2.0], [-1.0]]) + 0.5 + 0.1 * tg.randn(32, 1)
        model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = optim.get(optimizer)(model.parameters(), lr=lr)
        return tg.train.fit(model, nn.MSELoss(), opt, (x, y), val=(x[:8], y[:8]), epochs=epochs, progress=False)

    return train_fn


def reference_rows(train_fn, points, seed=0):
    """The loop sweep replaces: seed, train, take the last values (a parameter's namesake as final_<name>)."""
    rows = []
    for point in points:
        tg.manual_seed(point.get("seed", seed))
        try:
            history = train_fn(**point)
        except Exception as err:  # noqa: BLE001
            rows.append({**point, "error": f"{type(err).__name__}: {err}"})
            continue
        row = dict(point)
        for name, values in history.items():
            row[f"final_{name}" if name in point else name] = values[-1]
        row["history"] = {name: list(values) for name, values in history.items()}
        rows.append(row)
    return rows


def comparable(rows):
    """Rows with Histories as plain dicts and without the traceback text (which names files and lines)."""
    out = []
    for row in rows:
        row = {key: value for key, value in row.items() if key != "traceback"}
        if "history" in row:
            row["history"] = {name: list(values) for name, values in row["history"].items()}
        out.append(row)
    return out


GRID = {"lr": [0.001, 0.01, 0.1], "optimizer": ["SGD", "Adam"]}
POINTS = [{"lr": lr, "optimizer": name} for lr in GRID["lr"] for name in GRID["optimizer"]]


# -- grid order, rows, results -----------------------------------------------------------------------


def test_serial_rows_are_the_written_out_loop():
    train_fn = make_train_fn()
    rows = sweep(train_fn, GRID, progress=False)
    assert isinstance(rows, SweepResult) and isinstance(rows, list)
    assert [{"lr": r["lr"], "optimizer": r["optimizer"]} for r in rows] == POINTS  # last key varies fastest
    assert comparable(rows) == reference_rows(train_fn, POINTS)
    # The History is kept (for the curves) and its last values are the row's numbers.
    assert isinstance(rows[0]["history"], History) and len(rows[0]["history"]["train_loss"]) == 15
    assert rows[0]["train_loss"] == rows[0]["history"]["train_loss"][-1]
    # The History's 'lr' does not overwrite the point's: it is the rate used last, stored as final_lr.
    assert rows[2]["lr"] == 0.01 and rows[2]["final_lr"] == pytest.approx(0.01)
    # A point that is really trained: the loss fell from its first epoch (a rate high enough to move).
    assert rows[-1]["train_loss"] < rows[-1]["history"]["train_loss"][0]


def test_list_of_dicts_and_dict_results():
    def train_fn(a, b=10):
        return {"sum": a + b, "draw": float(tg.rand(1).item()), "as_numpy": np.float32(a)}

    rows = sweep(train_fn, [{"a": 1}, {"a": 2, "b": 5}], progress=False)
    tg.manual_seed(0)
    draw = float(tg.rand(1).item())
    assert rows == [{"a": 1, "sum": 11, "draw": draw, "as_numpy": 1.0},
                    {"a": 2, "b": 5, "sum": 7, "draw": draw, "as_numpy": 2.0}]
    assert type(rows[0]["as_numpy"]) is float  # NumPy scalars come back as Python numbers


def test_seed_key_seeds_each_point_and_the_default_seed_is_shared():
    train_fn = make_train_fn()
    rows = sweep(train_fn, {"seed": [0, 1, 2], "lr": [0.05]}, progress=False)
    # train_fn has no `seed` parameter: the grid's seed only seeds the generators (and shows in the row).
    reference = reference_rows(lambda seed, lr: train_fn(lr=lr), [{"seed": s, "lr": 0.05} for s in (0, 1, 2)])
    assert comparable(rows) == reference
    assert len({row["train_loss"] for row in rows}) == 3  # three seeds, three different runs
    # Without a seed key every point starts from the same seed (a controlled comparison), `seed=` chooses it.
    same = sweep(train_fn, [{"lr": 0.05}, {"lr": 0.05}], progress=False, seed=7)
    assert same[0]["train_loss"] == same[1]["train_loss"] == reference_rows(train_fn, [{"lr": 0.05}], 7)[0][
        "train_loss"]


def test_serial_sweep_leaves_the_callers_generators_as_they_were():
    tg.manual_seed(123)
    np.random.seed(4)
    random.seed(5)
    expected = (tg.rand(3).tolist(), np.random.rand(), random.random())
    tg.manual_seed(123)
    np.random.seed(4)
    random.seed(5)
    sweep(make_train_fn(), {"lr": [0.1, 0.2]}, progress=False)
    assert (tg.rand(3).tolist(), np.random.rand(), random.random()) == expected


def test_a_failing_point_is_reported_and_the_others_finish():
    train_fn = make_train_fn()
    rows = sweep(train_fn, {"lr": [0.001, 0.01, 0.1], "fail_at": [0.01]}, progress=False)
    points = [{"lr": lr, "fail_at": 0.01} for lr in (0.001, 0.01, 0.1)]
    assert comparable(rows) == reference_rows(train_fn, points)
    assert rows[1]["error"] == "ValueError: lr 0.01 is refused on purpose"
    assert "Traceback" in rows[1]["traceback"] and "refused on purpose" in rows[1]["traceback"]
    assert "train_loss" not in rows[1] and "error" not in rows[0] and "error" not in rows[2]
    assert rows.failed == [rows[1]]


def test_bad_results_are_that_points_error():
    def train_fn(kind):
        return {"list": [1, 2], "number": 3}[kind]

    rows = sweep(train_fn, {"kind": ["list", "number"]}, progress=False)
    assert [row["error"] for row in rows] == [
        "TypeError: train_fn must return a dict of results or a History, got list",
        "TypeError: train_fn must return a dict of results or a History, got int"]


# -- bad input, refused before anything runs ---------------------------------------------------------


def counting_fn():
    calls = []

    def train_fn(lr, momentum=0.0):
        calls.append(lr)
        return {"loss": lr}

    return train_fn, calls


@pytest.mark.parametrize("grid, error, message", [
    ({"lr": [0.1], "batch": [8]}, ValueError, "the grid has key 'batch', which train_fn() does not accept; "
                                               "its parameters are ['lr', 'momentum']"),
    ([{"lr": 0.1}, {"lr": 0.2, "moment": 0.9}], ValueError, "the grid has key 'moment'"),
    ({"momentum": [0.9]}, ValueError, "gives no value for train_fn()'s required parameter 'lr'"),
    ({"lr": 0.1}, TypeError, "grid['lr'] must be a list of values, got 0.1 (for one value write [0.1])"),
    ({"lr": "0.1"}, TypeError, "grid['lr'] must be a list of values"),
    ({"lr": []}, ValueError, "grid['lr'] is an empty list"),
    ({}, ValueError, "the grid is empty"),
    ([], ValueError, "the grid is an empty list"),
    ([{"lr": 0.1}, 0.2], TypeError, "grid[1] must be a dict of parameters, got float"),
    ("lr", TypeError, "grid must be a dict of lists (every combination is a point) or a list of dicts, got str"),
])
def test_bad_grids_are_refused_before_any_run(grid, error, message):
    train_fn, calls = counting_fn()
    with pytest.raises(error) as info:
        sweep(train_fn, grid, progress=False)
    assert message in str(info.value)
    assert calls == []


def test_a_seed_that_is_not_a_seed_is_refused():
    calls = []

    def train_fn(lr, seed):
        calls.append(lr)

    with pytest.raises(ValueError, match="the seed of point 1 must be an integer >= 0, got 1.5"):
        sweep(train_fn, {"lr": [0.1], "seed": [0, 1.5]}, progress=False)
    assert calls == []


def test_kwargs_train_fn_accepts_any_key():
    rows = sweep(lambda **point: {"n": len(point)}, {"anything": [1, 2], "else": ["x"]}, progress=False)
    assert [row["n"] for row in rows] == [2, 2]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_jobs": 0}, ValueError, "n_jobs must be a number of workers"),
    ({"n_jobs": 1.5}, ValueError, "n_jobs must be an integer, got 1.5"),
    ({"backend": "nonesuch"}, ValueError, "unknown backend 'nonesuch'; joblib knows ["),
    ({"backend": 3}, TypeError, "backend must be a joblib backend name"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0, got -1"),
])
def test_bad_arguments(kwargs, error, message):
    train_fn, calls = counting_fn()
    with pytest.raises(error) as info:
        sweep(train_fn, {"lr": [0.1]}, progress=False, **kwargs)
    assert message in str(info.value)
    assert calls == []


def test_not_callable():
    with pytest.raises(TypeError, match="train_fn must be a function"):
        sweep("train", {"lr": [0.1]})


def test_missing_packages_name_the_extra(monkeypatch):
    train_fn, calls = counting_fn()
    monkeypatch.setitem(sys.modules, "joblib", None)  # `import joblib` now raises ImportError
    with pytest.raises(ImportError, match=r'needs joblib: pip install "tinygrad-edu\[sweep\]"'):
        sweep(train_fn, {"lr": [0.1]}, n_jobs=2, progress=False)
    assert sweep(train_fn, {"lr": [0.1]}, progress=False) == [{"lr": 0.1, "loss": 0.1}]  # serial needs no joblib
    monkeypatch.undo()
    pytest.importorskip("joblib")
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[dask\]"'):
        sweep(train_fn, {"lr": [0.1]}, backend="dask", progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-edu\[ray\]"'):
        sweep(train_fn, {"lr": [0.1]}, backend="ray", progress=False)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r'to_dataframe needs pandas: pip install "tinygrad-edu\[sweep\]"'):
        SweepResult([{"lr": 0.1}]).to_dataframe()
    assert calls == [0.1]


def test_dask_without_a_client_and_ray_before_init():
    pytest.importorskip("joblib")
    distributed = pytest.importorskip("distributed")
    train_fn, calls = counting_fn()
    try:
        distributed.get_client()
        pytest.skip("a Dask client is open in this process")
    except ValueError:
        pass
    with pytest.raises(RuntimeError, match="open dask.distributed Client; create one first"):
        sweep(train_fn, {"lr": [0.1]}, backend="dask", progress=False)
    ray = sys.modules.get("ray")
    if ray is not None and not ray.is_initialized():  # only when something already imported ray (it is slow)
        with pytest.raises(RuntimeError, match=r"call ray.init\(\) first"):
            sweep(train_fn, {"lr": [0.1]}, backend="ray", progress=False)
    assert calls == []


# -- the table ---------------------------------------------------------------------------------------


def test_dataframe_and_printed_table():
    pandas = pytest.importorskip("pandas")
    rows = SweepResult([{"lr": 0.1, "loss": 0.25, "history": {"loss": [1.0, 0.25]}},
                        {"lr": 1.0, "error": "ValueError: diverged", "traceback": "Traceback ...\nValueError"}])
    frame = rows.to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["lr", "loss", "history", "error", "traceback"]
    assert frame["lr"].tolist() == [0.1, 1.0] and frame["loss"][0] == 0.25 and math.isnan(frame["loss"][1])
    assert frame["error"].tolist()[1] == "ValueError: diverged"
    assert repr(rows).splitlines() == ["lr   loss  error", "---  ----  --------------------",
                                       "0.1  0.25  -", "1    -     ValueError: diverged"]
    assert pickle.loads(pickle.dumps(rows)) == rows


# -- progress ----------------------------------------------------------------------------------------


class CountingBar:
    def __init__(self, total):
        self.total, self.n, self.closed = total, 0, False

    def update(self, k):
        self.n += k

    def close(self):
        self.closed = True


def test_progress_bar_counts_finished_runs(monkeypatch):
    bars = []

    def fake_bar(progress, total, initial, unit):
        if not progress:
            return None
        bars.append(CountingBar(total))
        return bars[-1]

    monkeypatch.setattr(sweep_module, "_progress_bar", fake_bar)
    train_fn, _ = counting_fn()
    sweep(train_fn, {"lr": [1, 2, 3, 4]})
    sweep(train_fn, {"lr": [1, 2, 3]}, progress=False)
    assert [(bar.total, bar.n, bar.closed) for bar in bars] == [(4, 4, True)]
    pytest.importorskip("joblib")
    sweep(train_fn, {"lr": [1, 2, 3]}, backend="threading", n_jobs=2)
    assert (bars[-1].total, bars[-1].n, bars[-1].closed) == (3, 3, True)


# -- in parallel ---------------------------------------------------------------------------------------


def test_threading_backend_runs_in_this_process():
    pytest.importorskip("joblib")
    seen = set()

    def train_fn(lr):
        seen.add(threading.get_ident())
        return {"loss": lr * 2}

    rows = sweep(train_fn, {"lr": [1, 2, 3, 4]}, backend="threading", n_jobs=2, progress=False)
    assert rows == [{"lr": lr, "loss": 2 * lr} for lr in (1, 2, 3, 4)]


def test_loky_processes_give_the_serial_numbers_bit_for_bit():
    pytest.importorskip("joblib")
    train_fn = make_train_fn()
    grid = {"lr": [0.001, 0.01, 0.1], "optimizer": ["SGD", "Adam"], "fail_at": [0.01]}
    serial = sweep(train_fn, grid, progress=False)
    parallel = sweep(train_fn, grid, n_jobs=2, progress=False)
    assert comparable(parallel) == comparable(serial)
    assert [row.get("error") for row in parallel] == [None, None, "ValueError: lr 0.01 is refused on purpose",
                                                      "ValueError: lr 0.01 is refused on purpose", None, None]


def test_unpicklable_results_are_that_points_error_in_a_worker():
    pytest.importorskip("joblib")

    def train_fn(kind):
        return {"lock": threading.Lock()} if kind == "lock" else {"value": 1.0}

    rows = sweep(train_fn, {"kind": ["value", "lock", "value"]}, n_jobs=2, progress=False)
    assert rows[0] == rows[2] == {"kind": "value", "value": 1.0}
    assert rows[1]["error"].startswith("TypeError: train_fn's results cannot be sent back from a worker process")


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("joblib")
    distributed = pytest.importorskip("distributed")
    # Processes, not threads: threads would share the library's global generator between points.
    start = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    client.startup_seconds = time.perf_counter() - start
    yield client
    client.close()
    cluster.close()


def test_dask_local_cluster_gives_the_serial_numbers_bit_for_bit(dask_client):
    train_fn = make_train_fn()
    grid = {"lr": [0.003, 0.03, 0.3], "optimizer": ["SGD", "Adam"]}  # 6 points
    serial = sweep(train_fn, grid, progress=False)
    start = time.perf_counter()
    on_dask = sweep(train_fn, grid, backend="dask", progress=False)
    print(f"dask: cluster start {dask_client.startup_seconds:.2f} s, 6-point sweep {time.perf_counter() - start:.2f} s")
    assert len(on_dask) == 6 and not on_dask.failed
    assert comparable(on_dask) == comparable(serial) == reference_rows(train_fn, [
        {"lr": lr, "optimizer": name} for lr in grid["lr"] for name in grid["optimizer"]])
    # The points really ran in the cluster's worker processes.
    pids = sweep(lambda lr: {"pid": os.getpid()}, {"lr": [1, 2, 3, 4]}, backend="dask", progress=False)
    assert os.getpid() not in {row["pid"] for row in pids}


def test_dask_failing_point_is_reported_and_the_others_finish(dask_client):
    train_fn = make_train_fn()
    grid = {"lr": [0.003, 0.03, 0.3], "fail_at": [0.03]}
    rows = sweep(train_fn, grid, backend="dask", n_jobs=2, progress=False)
    assert rows[1]["error"] == "ValueError: lr 0.03 is refused on purpose" and "Traceback" in rows[1]["traceback"]
    assert comparable(rows) == reference_rows(train_fn, [{"lr": lr, "fail_at": 0.03} for lr in grid["lr"]])


@pytest.mark.slow
def test_ray_gives_the_serial_numbers_bit_for_bit():
    pytest.importorskip("joblib")
    ray = pytest.importorskip("ray")
    train_fn = make_train_fn()
    grid = {"lr": [0.003, 0.03, 0.3], "optimizer": ["SGD", "Adam"]}
    serial = sweep(train_fn, grid, progress=False)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        started = time.perf_counter()
        on_ray = sweep(train_fn, grid, backend="ray", progress=False)
        print(f"ray: init {started - start:.2f} s, 6-point sweep {time.perf_counter() - started:.2f} s")
    finally:
        ray.shutdown()
    assert comparable(on_ray) == comparable(serial)
