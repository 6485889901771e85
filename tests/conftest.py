"""Tests marked cpu_only run in the CPU process, cuda_only under the CUDA simulator only; the
others run in both (see support.TARGET)."""

import sys

from support import TARGET

if TARGET == "cuda":
    # The simulator runs a block as Python threads and polls them at every syncthreads; with
    # Python's default 5 ms thread switch interval each barrier waits for a switch. A 50 µs
    # interval makes the block reductions of the losses about 10× faster to simulate.
    sys.setswitchinterval(5e-5)


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only: runs in the CPU process only")
    config.addinivalue_line("markers", "cuda_only: runs under the CUDA simulator only")


def pytest_collection_modifyitems(config, items):
    other = "cpu_only" if TARGET == "cuda" else "cuda_only"
    deselected = [item for item in items if other in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if other not in item.keywords]
