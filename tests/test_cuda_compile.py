"""Every CUDA kernel builds for a real GPU, as an AVX-512 host and as an AVX2 host would build
it, whatever CI's own CPU, with no GPU: the LLVM IR handed to NVVM calls only intrinsics that
the NVVM of the oldest supported toolkit (CUDA 12.0) lowers, float32 element-wise kernels do not
widen float32 to float64 (``cvt.f64.f32``; libdevice's own float64 steps convert from integers
and are not counted), and nvJitLink assembles every kernel's PTX to machine code for sm_80 and
sm_90. The builds run in a process per host kind (``tests/cuda_kernels.py``): numba-cuda keeps
the device functions it built for the process.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from numba import cuda, types

from numact.operators import ACTIVATIONS

pytestmark = pytest.mark.cpu_only

SCRIPT = pathlib.Path(__file__).with_name("cuda_kernels.py")
ELEMENTWISE = {op.name for op in ACTIVATIONS if op.kind == "elementwise"}
WIDENED_BY_DESIGN = {"sine"}  # float32 sin is computed in float64 and rounded once, as on the CPU


@pytest.mark.parametrize("host", ["avx512", "avx2"])
def test_every_kernel_builds_for_the_oldest_toolkit_and_assembles_for_sm80_and_sm90(host):
    run = subprocess.run([sys.executable, str(SCRIPT), "--host", host], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    reports = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(reports) > 150  # every operator's kernels, both dtypes, and the shared ones
    problems = []
    for r in reports:
        where = f"{r['operator']} {r['dtype']} {r['kernel']} (built as on an {host} host)"
        if r["not_lowered"]:
            problems.append(f"{where}: calls {r['not_lowered']}, which CUDA 12.0's NVVM does not lower")
        for arch, error in r["assembly_errors"].items():
            problems.append(f"{where}: nvJitLink could not assemble it for {arch}: {error[:300]}")
        if (r["widened"] and r["dtype"] == "float32" and r["operator"] in ELEMENTWISE
                and r["operator"] not in WIDENED_BY_DESIGN):
            problems.append(f"{where}: float32 widened to float64: {r['widened']}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def no_driver_needed(monkeypatch):
    """Compiling a call to a @jit device function asks the current device for its compute
    capability; with no GPU here, answer for an H100/H200."""
    import numba.cuda.dispatcher

    class Hopper:
        compute_capability = (9, 0)

    monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device", lambda: Hopper())


@pytest.mark.parametrize("name", __import__("numact.ufuncs").ufuncs.__all__)
def test_every_ufuncs_scalar_function_compiles_for_cuda(name, no_driver_needed):
    """numact.ufuncs.cuda(name) is numba-cuda's vectorize of this function: it compiles (float32)."""
    from numact import _cuda, ufuncs

    spec = ufuncs._SPECS[name]
    with _cuda.nvvm_options():
        ptx, _ = cuda.compile_ptx(spec.function(), (types.float32,) * len(spec.inputs), device=True, cc=(9, 0))
    assert ".func" in ptx


def test_numact_kernels_compile_without_contraction_and_other_kernels_as_numba_compiles_them(no_driver_needed):
    """NVVM contracts a·b + c into an FMA by default: numact's kernels are compiled with -fma=0
    (the math core fuses where it says so), and only numact's."""
    from numact import _cuda

    def kernel(out, a, b, c):
        out[0] = a[0] * b[0] + c[0]

    f32 = types.float32[::1]
    _, ours = _cuda.build(cuda.jit(kernel), (f32,) * 4, ((9, 0),))
    theirs, _ = cuda.compile_ptx(kernel, (f32,) * 4, cc=(9, 0))
    assert "fma.rn.f32" not in ours[(9, 0)] and "mul.rn.f32" in ours[(9, 0)]
    assert "fma.rn.f32" in theirs


# One operator for each of the launchers' kernel shapes: tiles of one and two operands, rows
# split between threads, channels and their sums, element-wise losses, class losses (with their
# checks), vector losses; the shared kernels (sums, checks, copies) come with them.
EACH_KERNEL_SHAPE = "gelu,softmax,prelu,mse_loss,cross_entropy,triplet_margin_loss"


def test_a_second_process_loads_every_cuda_kernel_from_the_disk_cache(tmp_path):
    """A kernel compiled as numact's launch compiles it (numba's dispatcher, numact's NVVM
    options; here for a stand-in H100/H200, with no GPU) is written to numba's disk cache, and a
    new process loads it from there instead of compiling it again: the first call of an
    operator in a new process then costs no NVVM nor ptxas."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = []
    for _ in range(2):
        run = subprocess.run([sys.executable, str(SCRIPT), "--host", "avx2", "--ops", EACH_KERNEL_SHAPE, "--cache"],
                             capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr[-4000:]
        runs.append([json.loads(line) for line in run.stdout.splitlines()])
    first, second = runs
    assert len(first) == len(second) > 40 and {r["operator"] for r in first} >= set(EACH_KERNEL_SHAPE.split(",")) | {"shared"}
    assert all(r["compiled"] and not r["loaded"] for r in first), [r for r in first if not r["compiled"]]
    assert all(r["loaded"] and not r["compiled"] for r in second), [r["kernel"] for r in second if r["compiled"]]
