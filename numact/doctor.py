"""``numact doctor`` (or ``python -m numact doctor``): whether numact's GPU path works here.

Prints the versions numact's GPU path stands on (NumPy, numba, numba-cuda), the NVIDIA driver
and the newest CUDA it supports, the CUDA toolkit numba-cuda found (its runtime, NVVM and
nvJitLink), every GPU with its compute capability; then compiles three kernels (gelu forward
and backward, sigmoid backward, float32), runs them on 4,099 values on the first GPU, and checks
that each result has the CPU's bits. The exit status is 0 when every step worked.
"""

import sys

import numpy as np

CHECKED = ("gelu", "gelu_backward", "sigmoid_backward")


def _step(what: str, run) -> bool:
    try:
        found = run()
    except Exception as error:  # noqa: BLE001 - a report: every failure is printed, none raised
        print(f"  {what}: FAILED: {type(error).__name__}: {' '.join(str(error).split())}")
        return False
    print(f"  {what}: {found}")
    return True


def _versions() -> str:
    import numba
    from importlib.metadata import PackageNotFoundError, version

    try:
        numba_cuda = version("numba-cuda")
    except PackageNotFoundError:
        numba_cuda = "not installed (pip install 'numact[cu12]' or 'numact[cu13]')"
    if not hasattr(np, "row_stack"):
        raise RuntimeError(f"NumPy {np.__version__} has no np.row_stack, which numba-cuda 0.30 needs: "
                           "pip install 'numpy<2.5'")
    return f"NumPy {np.__version__}, numba {numba.__version__}, numba-cuda {numba_cuda}"


def _driver() -> str:
    from numba.cuda.cudadrv.driver import driver

    major, minor = driver.get_version()
    return f"supports CUDA up to {major}.{minor}"


def _toolkit() -> str:
    from numba import cuda
    from numba.cuda.cudadrv import nvvm

    runtime = ".".join(map(str, cuda.runtime.get_version()))
    parts = [f"runtime {runtime}", f"NVVM {'.'.join(map(str, nvvm.NVVM().get_version()))}"]
    try:
        from cuda.bindings import nvjitlink

        parts.append(f"nvJitLink {'.'.join(map(str, nvjitlink.version()))}")
    except Exception as error:  # noqa: BLE001
        parts.append(f"nvJitLink not found ({type(error).__name__})")
    return ", ".join(parts)


def _gpus() -> str:
    from numba import cuda

    if not cuda.is_available():
        raise RuntimeError("no CUDA GPU is available (is the driver installed, and CUDA_VISIBLE_DEVICES set?)")
    return "; ".join(f"{d.id}: {d.name.decode() if isinstance(d.name, bytes) else d.name}, "
                     f"compute capability {d.compute_capability[0]}.{d.compute_capability[1]}"
                     for d in cuda.list_devices())


def _same_bits(name: str) -> str:
    from numba import cuda

    import numact

    x = np.concatenate([np.linspace(-12, 12, 4096), [0.0, -0.0, np.nan]]).astype(np.float32)
    g = np.full_like(x, 0.75)
    fn = getattr(numact, name)
    arrays = (g, x) if name.endswith("_backward") else (x,)
    cpu = fn(*arrays)
    gpu = fn(*(cuda.to_device(a) for a in arrays)).copy_to_host()
    differ = np.flatnonzero(~((gpu == cpu) | (np.isnan(gpu) & np.isnan(cpu))))
    if differ.size:
        k = differ[0]
        raise AssertionError(f"{differ.size} of {x.size} values differ from the CPU's; the first at x = {x[k]!r}: "
                             f"GPU {gpu[k]!r}, CPU {cpu[k]!r}")
    return f"the CPU's bits on {x.size:,} float32 values"


def main(argv=None) -> int:
    print("numact doctor: numact's GPU path on this machine")
    ok = _step("versions", _versions)
    ok = _step("NVIDIA driver", _driver) and ok
    ok = _step("CUDA toolkit", _toolkit) and ok
    if not _step("GPUs", _gpus):
        print("numact doctor: no GPU to check; numact runs on the CPU")
        return 1
    for name in CHECKED:
        ok = _step(f"numact.{name} compiled and run", lambda name=name: _same_bits(name)) and ok
    print("numact doctor: " + ("the GPU path works" if ok else "the GPU path does NOT work: see FAILED above"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
