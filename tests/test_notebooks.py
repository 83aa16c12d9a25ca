"""The teaching notebooks: each is stored without outputs, explains before it runs, and executes cleanly.

Executed with nbclient on the ``python3`` kernel. ipykernel's kernel spec
starts ``python``, which jupyter_client maps to the interpreter running the
tests, so the notebooks run in this environment without registering a kernel.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

_ROOT = Path(__file__).resolve().parent.parent / "notebooks"
# The tutorials, then the exercise notebooks handed to students (notebooks/exercises/: stubs and checks).
NOTEBOOKS = sorted(_ROOT.glob("*.ipynb")) + sorted((_ROOT / "exercises").glob("*.ipynb"))
IDS = [p.relative_to(_ROOT).as_posix() for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5, IDS
    assert any(name.startswith("exercises/") for name in IDS), IDS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs_and_explained(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    previous = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} is stored with outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} is stored with an execution count"
            assert previous == "markdown", f"{path.name}: code cell {i} is not preceded by a markdown cell"
        previous = cell.cell_type
    assert nb.cells and nb.cells[0].cell_type == "markdown", f"{path.name} must open with markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_executes(path, tmp_path, monkeypatch):
    # The kernel inherits this environment: a non-interactive backend, and no thread oversubscription.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # As conftest does for the workers: one BLAS thread per kernel while another worker runs beside it.
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(cwd=str(tmp_path))  # raises CellExecutionError naming the failing cell
    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.get("output_type") == "error"]
    assert not errors, errors
