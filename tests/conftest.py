"""Tests marked cpu_only run in the CPU process, cuda_only where CUDA is the target (under the
simulator in make test, on a real GPU in make test-gpu); the others run in both (see
support.TARGET)."""

import sys
import threading
import traceback

import numpy as np
from hypothesis import HealthCheck, Phase, settings

from support import GPU, SIMULATOR, TARGET

# Property-based tests (tests/test_properties.py): "ci" for make test, the same examples every
# run; "fuzz" for make fuzz, new random examples, many more. The simulator runs Python per GPU
# thread, so it draws fewer.
_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=80 if TARGET == "cpu" else 12, derandomize=True, deadline=None,
                          suppress_health_check=_QUIET, print_blob=True,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking in CI's time
settings.register_profile("fuzz", max_examples=5000 if TARGET == "cpu" else 300, deadline=None,
                          suppress_health_check=_QUIET, print_blob=True)
settings.load_profile("ci")


def _serialise_simulated_shared_arrays():
    """The simulator's ``cuda.shared.array`` looks up a block's array by call site and creates
    it when missing, with no lock: two threads of one block may each create one, and then
    sum into different arrays (seen as rare wrong block reductions). The same lookup, locked."""
    from numba.cuda import types
    from numba.cuda.np import numpy_support
    from numba.cuda.simulator import kernelapi

    lock = threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory, or the error
            return original(self, shape, dtype, alignment)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = traceback.extract_stack(sys._getframe())[-2][0:2]
        with lock:
            if caller not in self._allocations:
                self._allocations[caller] = np.empty(shape, dtype)
            return self._allocations[caller]

    original = kernelapi.FakeCUDAShared.array
    kernelapi.FakeCUDAShared.array = array


if SIMULATOR:
    # The simulator runs a block as Python threads and polls them at every syncthreads; with
    # Python's default 5 ms thread switch interval each barrier waits for a switch. A 50 µs
    # interval makes the block reductions of the losses about 10× faster to simulate.
    sys.setswitchinterval(5e-5)
    _serialise_simulated_shared_arrays()


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only: runs in the CPU process only")
    config.addinivalue_line("markers", "cuda_only: runs where CUDA is the target (simulator or GPU)")
    config.addinivalue_line("markers", "gpu_only: runs on a real GPU only (make test-gpu): what the simulator lacks")


def pytest_collection_modifyitems(config, items):
    others = {"cpu_only" if TARGET == "cuda" else "cuda_only"} | (set() if GPU else {"gpu_only"})
    deselected = [item for item in items if others & set(item.keywords)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not others & set(item.keywords)]
