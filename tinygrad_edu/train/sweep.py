"""`sweep`: one training per point of a grid, serially or in parallel through joblib (local, Dask or Ray).

The sources compare learning rates, optimizers and batch sizes by training the
same model once per setting and putting the curves side by side. `sweep` is
that loop, written once::

    def train_fn(lr, optimizer):
        ...                          # build, train, and return a History or a dict of numbers
        return history

    rows = tg.train.sweep(train_fn, {"lr": [0.01, 0.1, 1.0], "optimizer": ["SGD", "Adam"]}, n_jobs=2)
    rows.to_dataframe()              # one row per point (pandas)
    tg.viz.plot_sweep(rows, x="lr", y="val_loss", hue="optimizer")

Every point runs the same way wherever it runs: the random generators are
seeded first (see `sweep`'s *Seeds*), so a serial run, a run on two local
processes and a run on a Dask or Ray cluster give the same numbers, bit for
bit. A point that raises is reported in its row (``error``, ``traceback``) and
the other points still run.

joblib is imported only for parallel runs (``pip install "tinygrad-edu[sweep]"``);
a serial sweep needs nothing beyond the library.
"""

from __future__ import annotations

import inspect
import itertools
import pickle
import random
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import check_int, check_seed
from .._display import format_value, text_table
from ..rng import get_rng_state, manual_seed, set_rng_state
from .fit import _progress_bar
from .history import History

__all__ = ["sweep", "SweepResult"]

#: Columns left out of the printed table (long text and whole curves; they stay in the rows).
_HIDDEN_COLUMNS = ("history", "traceback")

#: joblib backends that run the points inside this process (no pickling, shared global state).
_IN_PROCESS = ("sequential", "threading")


class SweepResult(list):
    """The rows of a sweep: a ``list`` of dicts ``{**point, **results}``, in grid order.

    A plain list in every respect (index it, loop over it, pickle it), plus:

    - `to_dataframe` returns the rows as a pandas ``DataFrame`` (pandas is
      optional: ``pip install "tinygrad-edu[sweep]"``);
    - `failed` lists the rows of the points that raised (they hold ``error``
      and ``traceback``);
    - printing it shows a table (without the ``history`` and ``traceback``
      columns, which stay in the rows).

    Example:
        >>> from tinygrad_edu.train import SweepResult
        >>> rows = SweepResult([{"lr": 0.1, "loss": 0.5}, {"lr": 1.0, "error": "ValueError: diverged"}])
        >>> [row["lr"] for row in rows.failed]
        [1.0]
        >>> print(rows)
        lr   loss  error
        ---  ----  --------------------
        0.1  0.5   -
        1    -     ValueError: diverged
    """

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows whose point raised (each has an ``error`` entry)."""
        return [row for row in self if "error" in row]

    @property
    def columns(self) -> list[str]:
        """Every key of every row, in order of first appearance."""
        names: dict[str, None] = {}
        for row in self:
            names.update(dict.fromkeys(row))
        # The error columns go last, wherever the first failing point was.
        return [n for n in names if n not in ("error", "traceback")] + [n for n in ("error", "traceback")
                                                                        if n in names]

    def to_dataframe(self) -> Any:
        """The rows as a pandas ``DataFrame`` (one row per point; a missing entry is ``NaN``/``None``).

        Raises:
            ImportError: pandas is not installed (``pip install "tinygrad-edu[sweep]"``).
        """
        try:
            import pandas
        except ImportError as err:
            raise ImportError('SweepResult.to_dataframe needs pandas: pip install "tinygrad-edu[sweep]"') from err
        return pandas.DataFrame(list(self), columns=self.columns)

    def __repr__(self) -> str:
        names = [n for n in self.columns if n not in _HIDDEN_COLUMNS]
        if not self or not names:
            return f"SweepResult({list.__repr__(self)})"
        cells = [[_cell(row.get(name)) for name in names] for row in self]
        return text_table(names, cells)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value.splitlines()[0] if value else value
    if isinstance(value, float):
        return f"{value:.6g}"
    try:
        return format_value(value)
    except (TypeError, ValueError):
        return type(value).__name__


# -- the grid ---------------------------------------------------------------------------------------


def _points(grid: Any) -> list[dict[str, Any]]:
    """The points of a grid (a dict of lists: every combination; or a list of dicts), checked."""
    who = "sweep"
    if isinstance(grid, Mapping):
        if not grid:
            raise ValueError(f"{who}: the grid is empty; give a dict of lists such as {{'lr': [0.01, 0.1]}}")
        values = []
        for key, options in grid.items():
            if not isinstance(key, str):
                raise TypeError(f"{who}: grid keys must be parameter names (strings), got {key!r}")
            if isinstance(options, (str, bytes, Mapping)) or not isinstance(options, (Sequence, np.ndarray, range)):
                raise TypeError(f"{who}: grid[{key!r}] must be a list of values, got {options!r} "
                                f"(for one value write [{options!r}])")
            options = list(options)
            if not options:
                raise ValueError(f"{who}: grid[{key!r}] is an empty list: the grid would have no points")
            values.append(options)
        return [dict(zip(grid, combination)) for combination in itertools.product(*values)]
    if isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        if not grid:
            raise ValueError(f"{who}: the grid is an empty list: no points to run")
        points = []
        for i, point in enumerate(grid):
            if not isinstance(point, Mapping):
                raise TypeError(f"{who}: grid[{i}] must be a dict of parameters, got {type(point).__name__}")
            bad = [key for key in point if not isinstance(key, str)]
            if bad:
                raise TypeError(f"{who}: grid[{i}] keys must be parameter names (strings), got {bad[0]!r}")
            points.append(dict(point))
        return points
    raise TypeError(f"{who}: grid must be a dict of lists (every combination is a point) or a list of dicts, "
                    f"got {type(grid).__name__}")


def _check_signature(train_fn: Callable[..., Any], points: list[dict[str, Any]]) -> bool:
    """Every point's keys are parameters train_fn accepts, and every required parameter is given.

    Returns whether train_fn takes a ``seed`` argument (a grid's ``seed`` is
    otherwise used only to seed the generators).
    """
    try:
        signature = inspect.signature(train_fn)
    except (TypeError, ValueError):  # a builtin or an extension without a signature: let it decide
        return True
    parameters = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return True
    accepted = [p.name for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                          inspect.Parameter.KEYWORD_ONLY)]
    required = [p.name for p in parameters
                if p.default is inspect.Parameter.empty
                and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    name = getattr(train_fn, "__name__", type(train_fn).__name__)
    for i, point in enumerate(points):
        unknown = [key for key in point if key not in accepted and key != "seed"]
        if unknown:
            raise ValueError(f"sweep: the grid has key {unknown[0]!r}, which {name}() does not accept; "
                             f"its parameters are {accepted}")
        missing = [key for key in required if key not in point]
        if missing:
            raise ValueError(f"sweep: point {i} ({point}) gives no value for {name}()'s required parameter "
                             f"{missing[0]!r}; add it to the grid or give it a default")
    return "seed" in accepted


# -- one point --------------------------------------------------------------------------------------


def _seed_everything(seed: int) -> None:
    """Seed the library's generator, NumPy's global one and Python's ``random`` with ``seed``."""
    manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _plain_number(value: Any) -> Any:
    """A 0-d Tensor or array, or a NumPy scalar, as a Python number; anything else unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "numpy") and hasattr(value, "shape") and tuple(value.shape) == ():
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _results(output: Any, point: Mapping[str, Any]) -> dict[str, Any]:
    """train_fn's output as the results part of a row (a History gives its last values and itself)."""
    if isinstance(output, History) or (isinstance(output, Mapping) and hasattr(output, "epoch")):
        results = {name: (values[-1] if len(values) else float("nan")) for name, values in output.items()}
        results["history"] = output
    elif isinstance(output, Mapping):
        results = dict(output)
        bad = [key for key in results if not isinstance(key, str)]
        if bad:
            raise TypeError(f"train_fn returned a dict with a non-string key {bad[0]!r}; results are named by strings")
    else:
        raise TypeError(f"train_fn must return a dict of results or a History, got {type(output).__name__}")
    # A result named like a parameter (a History's 'lr' when the grid sweeps 'lr') must not hide the point's value.
    return {(f"final_{key}" if key in point else key): _plain_number(value) for key, value in results.items()}


def _run_point(train_fn: Callable[..., Any], point: dict[str, Any], index: int, seed: int, pass_seed: bool,
               check_pickle: bool) -> tuple[int, dict[str, Any]]:
    """Seed, train one point, and return ``(index, row)``; an exception becomes the row's ``error``."""
    _seed_everything(point["seed"] if "seed" in point else seed)
    arguments = point if pass_seed else {key: value for key, value in point.items() if key != "seed"}
    try:
        results = _results(train_fn(**arguments), point)
        if check_pickle:  # fail here, in this row, rather than in joblib's transport for the whole sweep
            try:
                pickle.dumps(results)
            except Exception as err:  # noqa: BLE001 - any pickling failure is reported the same way
                raise TypeError(f"train_fn's results cannot be sent back from a worker process: {err}") from err
    except Exception as err:  # noqa: BLE001 - one failing point must not end the sweep
        results = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    return index, {**point, **results}


# -- backends ---------------------------------------------------------------------------------------


def _joblib(backend: str | None) -> Any:
    try:
        import joblib
    except ImportError as err:
        raise ImportError(f'sweep: running points in parallel{f" (backend={backend!r})" if backend else ""} '
                          'needs joblib: pip install "tinygrad-edu[sweep]"') from err
    return joblib


def _prepare_backend(backend: str) -> None:
    """Make ``backend`` usable (Dask: a Client must be open; Ray: registered, ``ray.init()`` done)."""
    if backend == "dask":
        try:
            import distributed
        except ImportError as err:
            raise ImportError('sweep: backend="dask" needs dask.distributed: pip install "tinygrad-edu[dask]"') from err
        try:
            distributed.get_client()
        except ValueError:
            raise RuntimeError('sweep: backend="dask" runs on an open dask.distributed Client; create one first, '
                               'e.g. client = dask.distributed.Client(LocalCluster()) or Client("tcp://scheduler:8786")'
                               ) from None
    elif backend == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError as err:
            raise ImportError('sweep: backend="ray" needs ray: pip install "tinygrad-edu[ray]"') from err
        if not ray.is_initialized():
            raise RuntimeError('sweep: backend="ray" runs on a Ray cluster; call ray.init() first '
                               '(ray.init() for this machine, ray.init(address="auto") to join a cluster)')
        register_ray()
    else:
        from joblib.parallel import BACKENDS

        if backend not in BACKENDS:
            known = sorted(set(BACKENDS) | {"dask", "ray"})
            raise ValueError(f"sweep: unknown backend {backend!r}; joblib knows {known}")


def _ordered_outputs(outputs: Any, bar: Any, rows: list[Any]) -> None:
    for index, row in outputs:
        rows[index] = row
        if bar is not None:
            bar.update(1)


# -- the sweep --------------------------------------------------------------------------------------


def sweep(train_fn: Callable[..., Any], grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
          n_jobs: int | None = None, backend: str | None = None, progress: bool = True, *,
          seed: int = 0) -> SweepResult:
    """Train once per point of a grid, serially or in parallel, and return one row of results per point.

    A *point* is a dict of keyword arguments: ``train_fn(**point)`` trains with
    them and returns either a dict of results (``{"val_loss": 0.12, ...}``) or
    a ``History`` (what ``tg.train.fit`` returns), of which the last value of
    every list is taken and the History itself is kept under ``"history"``
    (for ``tg.viz.plot_sweep``'s curves). The row of a point is
    ``{**point, **results}``; a result named like one of the point's keys (a
    History's ``lr`` when the grid sweeps ``lr``) is stored as ``final_<name>``,
    so the point's own value is never overwritten.

    Grids:
        - a dict of lists, ``{"lr": [0.01, 0.1], "batch_size": [16, 64]}``:
          every combination is a point, in the order of nested loops over the
          keys as written (the last key varies fastest);
        - a list of dicts, ``[{"optimizer": "SGD", "lr": 0.1}, {"optimizer": "Adam", "lr": 0.01}]``:
          exactly these points, in this order.

    Seeds:
        Before each point, the library's generator (``tg.manual_seed``),
        NumPy's global generator and Python's ``random`` are seeded with the
        point's ``"seed"`` if the grid has that key, otherwise with ``seed``.
        So by default every point starts from the same initial weights and
        the same shuffling, and the points differ only by their
        hyperparameters (a controlled comparison); put ``"seed": [0, 1, 2]``
        in the grid to repeat every setting with other seeds (``train_fn``
        receives ``seed`` only if it has a parameter of that name or
        ``**kwargs``; the row always shows it). Because the
        seed depends only on the point, never on which worker runs it or
        when, a parallel or cluster run gives the serial run's numbers bit
        for bit. (``backend="threading"`` runs the points in threads that
        share those global generators: only a ``train_fn`` that draws from
        its own ``tg.Generator`` is reproducible there.) After a serial or
        threaded sweep the caller's generator states are put back as they were.

    Where the points run:
        - ``n_jobs=None`` or ``1`` and no ``backend``: here, one after the other,
          without joblib (so a debugger can step into ``train_fn``);
        - ``n_jobs=k`` (``-1``: one per core): ``k`` worker processes through
          joblib's default ``"loky"`` backend;
        - ``backend=``: any joblib backend name: ``"loky"``, ``"threading"``,
          ``"multiprocessing"``, ``"dask"`` (a ``dask.distributed.Client`` must
          be open: the points run on its cluster), ``"ray"`` (after
          ``ray.init()``). With a backend, ``n_jobs=None`` means all its workers.

        In worker processes the optimizer kernels are not compiled again:
        numba loads them from its on-disk cache. ``train_fn`` and the grid's
        values are sent to the workers with cloudpickle (lambdas and local
        functions work); the results come back pickled, and a result that
        cannot be pickled is reported as that point's error.

    Args:
        train_fn: called as ``train_fn(**point)``; returns a dict of results
            (string keys) or a ``History``.
        grid: a dict of lists or a list of dicts (above).
        n_jobs: how many points run at once (``-1``: as many as the backend has workers).
        backend: a joblib backend name, or ``None``.
        progress: show a progress bar counting finished points (tqdm; shown
            only in a terminal or a notebook). joblib's Ray backend returns
            all results at once, so there the bar fills at the end.
        seed: the seed of every point whose grid has no ``"seed"`` key (>= 0).

    Returns:
        A `SweepResult`: a list of rows, one per point in grid order. The row
        of a point that raised holds ``error`` (``"TypeName: message"``) and
        ``traceback`` (the formatted traceback) instead of results; the other
        points are unaffected. (A point that kills its worker process, a
        crash rather than an exception, ends the sweep with joblib's error.)
        ``.to_dataframe()`` gives a pandas DataFrame and ``.failed`` the failing rows.

    Raises:
        TypeError, ValueError: a malformed grid, a grid key ``train_fn`` does not
            accept (the message names it and lists the accepted parameters), a
            required parameter no point gives, a bad ``n_jobs``, ``seed`` or
            backend name — all before anything runs.
        ImportError: joblib (``sweep`` extra), dask.distributed (``dask``) or
            ray (``ray``) is needed and missing; the message names the extra.
        RuntimeError: ``backend="dask"`` without an open Client, ``"ray"`` before ``ray.init()``.

    Example:
        >>> import tinygrad_edu as tg
        >>> from tinygrad_edu import nn, optim
        >>> def train_fn(lr, epochs=20):
        ...     X = tg.randn(64, 1); y = 3 * X + 1
        ...     model = nn.Linear(1, 1)
        ...     return tg.train.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=lr),
        ...                         (X, y), epochs=epochs, progress=False)
        >>> rows = tg.train.sweep(train_fn, {"lr": [0.001, 0.1, 3.0]}, progress=False)
        >>> [f"{row['lr']}: {row['train_loss']:.2g}" for row in rows]
        ['0.001: 7.7', '0.1: 0.00043', '3.0: 1.7e+30']
        >>> len(rows[0]["history"]["train_loss"])
        20
    """
    if not callable(train_fn):
        raise TypeError(f"sweep: train_fn must be a function train_fn(**point), got {type(train_fn).__name__}")
    points = _points(grid)
    pass_seed = _check_signature(train_fn, points)
    seed = check_seed("sweep", seed)
    for i, point in enumerate(points):
        if "seed" in point:
            check_int("sweep", f"the seed of point {i}", point["seed"], minimum=0)
    if n_jobs is not None:
        n_jobs = check_int("sweep", "n_jobs", n_jobs)
        if n_jobs == 0:
            raise ValueError("sweep: n_jobs must be a number of workers (-1: all of them, -2: all but one), got 0")
    if backend is not None and not isinstance(backend, str):
        raise TypeError(f"sweep: backend must be a joblib backend name (a string) or None, got {backend!r}")

    serial = backend is None and n_jobs in (None, 1)
    joblib = None
    if not serial:
        joblib = _joblib(backend)
        if backend is not None:
            _prepare_backend(backend)
    in_process = serial or backend in _IN_PROCESS
    rows: list[Any] = [None] * len(points)
    bar = _progress_bar(progress, len(points), 0, "run")
    saved = (get_rng_state(), np.random.get_state(), random.getstate()) if in_process else None
    try:
        if serial:
            _ordered_outputs((_run_point(train_fn, point, i, seed, pass_seed, False) for i, point in enumerate(points)),
                             bar, rows)
        else:
            # Unordered: the bar counts runs as they finish; each output carries its index back to its place.
            unordered = "generator_unordered" if _joblib_at_least(joblib, (1, 4)) else "generator"
            tasks = (joblib.delayed(_run_point)(train_fn, point, i, seed, pass_seed, not in_process)
                     for i, point in enumerate(points))
            with joblib.parallel_config(backend=backend or "loky"):
                workers = -1 if n_jobs is None else n_jobs
                try:
                    parallel = joblib.Parallel(n_jobs=workers, return_as=unordered)
                except ValueError:  # a backend without generators (Ray's): the bar then fills at the end
                    parallel = joblib.Parallel(n_jobs=workers, return_as="list")
                _ordered_outputs(parallel(tasks), bar, rows)
    finally:
        if bar is not None:
            bar.close()
        if saved is not None:
            set_rng_state(saved[0])
            np.random.set_state(saved[1])
            random.setstate(saved[2])
    return SweepResult(rows)


def _joblib_at_least(joblib: Any, version: tuple[int, int]) -> bool:
    try:
        major, minor = (int(part) for part in joblib.__version__.split(".")[:2])
    except ValueError:
        return True
    return (major, minor) >= version
