"""The one way the benchmark scripts time a contender: in a fresh process of their own.

Each script re-runs itself with ``--worker ...``; the worker prints its figures as a JSON object
on its last line. A fresh process per contender keeps PyTorch's OpenMP threads and NumPy's BLAS
threads from sharing the two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_worker(script: str, *args: str, env: dict[str, str] | None = None) -> dict | None:
    """``python script --worker *args`` in a new process: its JSON result, or None if it needed PyTorch
    and PyTorch is not installed (any other failure raises, with the worker's stderr)."""
    done = subprocess.run([sys.executable, script, "--worker", *args], capture_output=True, text=True,
                          env=os.environ.copy() if env is None else env)
    if done.returncode != 0:
        if "No module named 'torch'" in done.stderr:
            return None
        raise RuntimeError(f"the worker {' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
