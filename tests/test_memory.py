"""tinygrad_edu.memory: freed blocks kept for reuse instead of faulted back in every step."""

import os
import subprocess
import sys

import pytest

import tinygrad_edu as tg

glibc_only = pytest.mark.skipif(not tg.memory._is_glibc(), reason="mallopt is glibc's")

# A "step" allocates eight arrays of 0.5 to 4 MiB (18 MiB, 4,608 pages) and frees them, like a
# layer's activations and gradients; the script prints the page faults of 20 steps after the first.
# With glibc's defaults the blocks go back to the system and about half the pages fault again.
FAULTS = """
import resource, numpy as np{imports}
def step():
    arrays = [np.ones(k << 17, dtype=np.float32) for k in range(1, 9)]
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(imports: str, **env: str) -> int:
    done = subprocess.run([sys.executable, "-c", FAULTS.format(imports=imports)], capture_output=True, text=True,
                          env={**os.environ, **env}, check=True)
    return int(done.stdout)


@glibc_only
def test_importing_keeps_freed_blocks_so_a_repeated_allocation_does_not_fault():
    plain = _faults("")
    kept = _faults("\nimport tinygrad_edu")
    assert plain > 20 * 1000  # the reference: glibc's defaults fault pages back in every step
    assert kept < 200  # the same steps after the import: the blocks are reused


@glibc_only
def test_the_environment_variable_leaves_malloc_alone():
    assert _faults("\nimport tinygrad_edu", TINYGRAD_EDU_SYSTEM_MALLOC="1") > 20 * 1000


@pytest.mark.parametrize("kwargs", [{"mmap_threshold": -1}, {"trim_threshold": 1.5},
                                    {"mmap_threshold": 64 * 1024 * 1024}, {"trim_threshold": True}])
def test_bad_thresholds_are_named(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        tg.memory.keep_freed_memory(**kwargs)
