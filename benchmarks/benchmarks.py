"""The asv suite, generated from the operator table: every operator × size × dtype, numact's
forward, backward and fused passes and the NumPy baselines on the same arrays.

Compilation happens in ``setup`` (a warm-up call, which loads the kernel from numba's on-disk
cache after the first process), so no timed sample includes it. ``NUMACT_ASV_SIZES`` (comma-
separated) narrows the sizes, as ``make asv`` does for a quick pass.
"""

import os

import numpy as np

from numact.bench.workloads import cases
from numact.operators import ACTIVATIONS, LOSSES

SIZES = [int(float(s)) for s in os.environ.get("NUMACT_ASV_SIZES", "1e3,1e5,1e7").split(",")]
DTYPES = ["float32", "float64"]


class _Suite:
    ops = ()
    param_names = ["operator", "size", "dtype"]
    timeout = 300
    side = "numact"  # or "numpy"

    def setup(self, name, size, dtype):
        op = next(op for op in self.ops if op.name == name)
        self.calls = {}
        for case in cases(op, size, np.dtype(dtype).type, np.random.default_rng(0), with_torch=False):
            call = getattr(case, self.side)
            call()  # compile (or load from the cache) and touch the memory: not timed
            self.calls[case.step] = call


class _ActivationSuite(_Suite):
    ops = ACTIVATIONS
    params = [[op.name for op in ACTIVATIONS], SIZES, DTYPES]

    def time_forward(self, *params):
        self.calls["forward"]()

    def time_backward(self, *params):
        self.calls["backward"]()


class _LossSuite(_Suite):
    ops = LOSSES
    params = [[op.name for op in LOSSES], SIZES, DTYPES]

    def time_forward(self, *params):
        self.calls["forward"]()

    def time_backward(self, *params):
        self.calls["backward"]()

    def time_fused(self, *params):
        self.calls["fused"]()

    def peakmem_fused(self, *params):
        self.calls["fused"]()


class Activations(_ActivationSuite):
    side = "numact"


class ActivationsNumPy(_ActivationSuite):
    side = "numpy"


class Losses(_LossSuite):
    side = "numact"


class LossesNumPy(_LossSuite):
    side = "numpy"


class Ufuncs:
    """numact.ufuncs: every element-wise activation's forward and backward ufunc, its parameters
    at their defaults (broadcast scalars), writing into a preallocated output."""

    ops = [op for op in ACTIVATIONS if op.kind in ("elementwise", "channelwise")]
    params = [[op.name for op in ops], SIZES, DTYPES]
    param_names = ["operator", "size", "dtype"]
    timeout = 300

    def setup(self, name, size, dtype):
        import numact.ufuncs as nu
        from numact.operators import param_cases

        op = next(op for op in self.ops if op.name == name)
        dtype = np.dtype(dtype)
        rng = np.random.default_rng(0)
        self.x = rng.normal(0, 3, size).astype(dtype)
        self.g = np.ones(size, dtype)
        self.out = np.empty(size, dtype)
        defaults = param_cases(op)[0]
        self.values = ([dtype.type(0.25)] if op.kind == "channelwise"
                       else [dtype.type(p.kernel_value(name, defaults[p.name])) for p in op.params])
        self.forward, self.backward = getattr(nu, name), getattr(nu, f"{name}_backward")
        self.time_forward(), self.time_backward()  # compile (or load from the cache): not timed

    def time_forward(self, *params):
        self.forward(self.x, *self.values, out=self.out)

    def time_backward(self, *params):
        self.backward(self.g, self.x, *self.values, out=self.out)


class _GPUSuite:
    """numact on the GPU (float32, numba device arrays), each call synchronised; skipped where
    numba sees no GPU (asv counts a NotImplementedError in setup as a skip). The comparison with
    torch's CUDA kernels is ``numact bench --device cuda`` (make bench-gpu)."""

    param_names = ["operator", "size"]
    timeout = 300

    def setup(self, name, size):
        from numba import cuda

        if not cuda.is_available():
            raise NotImplementedError("no GPU")
        import numact
        from numact.bench.workloads import activation_arrays, loss_arrays

        op = next(op for op in self.ops if op.name == name)
        rng = np.random.default_rng(0)
        put = cuda.to_device
        if op in LOSSES:
            arrays, params = loss_arrays(op, size, np.float32, rng)
            arrays = [put(a) for a in arrays]
            self.calls = {"fused": lambda: getattr(numact, f"{name}_forward_backward")(*arrays, **params)}
        else:
            x, g, params = activation_arrays(op, size, np.float32, rng)
            x, g = put(x), put(g)
            params = {k: put(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}
            forward, backward = getattr(numact, name), getattr(numact, f"{name}_backward")
            self.calls = {"forward": lambda: forward(x, **params), "backward": lambda: backward(g, x, **params)}
        self.synchronize = cuda.synchronize
        for call in self.calls.values():  # compile (or load from the cache): not timed
            call()
        self.synchronize()

    def _time(self, step):
        self.calls[step]()
        self.synchronize()


class GPUActivations(_GPUSuite):
    ops = ACTIVATIONS
    params = [[op.name for op in ACTIVATIONS], SIZES]

    def time_forward(self, *params):
        self._time("forward")

    def time_backward(self, *params):
        self._time("backward")


class GPULosses(_GPUSuite):
    ops = LOSSES
    params = [[op.name for op in LOSSES], SIZES]

    def time_fused(self, *params):
        self._time("fused")
