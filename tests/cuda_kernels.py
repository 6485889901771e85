"""Every CUDA kernel numact launches, with the argument types it is launched with, and a build
check that needs no GPU: run as a script, it builds them all as a chosen kind of host would and
reports what a real GPU would see.

    python tests/cuda_kernels.py --host avx512 [--ops gelu,softmax] [--cache]

prints one JSON line per kernel: its name, the LLVM intrinsics its IR (as handed to NVVM)
calls, whether its float32 code widens float32 values to float64, and the nvJitLink error of
assembling its PTX to machine code for each of CCS, if any. The host kind is simulated where
numact reads the host: its CPU features are reported as those of an AVX-512 host (avx512f) or
of an AVX2 host (none of AVX-512) while numact._bits decides what it compiles for the host.
numba-cuda keeps the device functions it has built for the process, so each host kind needs a
process of its own (tests/test_cuda_compile.py runs one for each).
"""

import argparse
import json
import re
import sys
from types import SimpleNamespace

CCS = ((8, 0), (9, 0))  # A100, H100/H200: the oldest and newest architectures checked

# The LLVM intrinsics the NVVM of CUDA 12.0 lowers (the NVVM IR specification's list), and
# NVVM's own. Any other (llvm.ldexp, llvm.maximum, llvm.minnum, llvm.fabs, ...) reaches ptxas
# as a call it cannot parse on some toolkit.
NVVM_LOWERS = re.compile(
    r"llvm\.(nvvm\..*|memcpy\..*|memmove\..*|memset\..*|sqrt\.f(32|64)|fma\.f(32|64)|fmuladd\.f(32|64)"
    r"|bswap\..*|ctpop\..*|ctlz\..*|cttz\..*|[su](add|sub|mul)\.with\.overflow\..*|lifetime\..*"
    r"|invariant\..*|var\.annotation|ptr\.annotation.*|annotation\..*|expect\..*|donothing|trap|debugtrap"
    r"|stacksave|stackrestore|assume)"
)


def _types():
    from numba import types
    return types


def kernels(op, ft):
    """(name, launcher, argument types) for every CUDA kernel of an activation."""
    from numact import _cuda
    types = _types()
    n_args = len(op.params) + len(op.fixed)
    args = types.UniTuple(ft, n_args) if n_args else types.Tuple(())
    flat, cube = ft[::1], ft[:, :, ::1]
    if op.kind == "elementwise":
        return [("forward", _cuda.map_unary(op.forward, n_args), (flat, flat, args)),
                ("backward", _cuda.map_binary(op.backward, n_args), (flat, flat, flat, args))]
    if op.kind == "rowwise":
        return [("forward", _cuda.map_rows(op.forward, n_args), (cube, cube, cube, types.int64, args)),
                ("backward", _cuda.map_rows_binary(op.backward, n_args), (cube, cube, cube, types.int64, args))]
    channel_args = types.Tuple((flat, types.int64, types.int64))  # the weight, channels, inner
    weight = _cuda.sum_channels(op.weight_backward)
    sums = (types.float64[:, ::1], cube, cube)
    return [("forward", _cuda.map_channels(op.forward), (flat, flat, channel_args)),
            ("backward", _cuda.map_channels_binary(op.backward), (flat, flat, flat, channel_args)),
            ("weight backward", weight, sums),
            ("weight backward by columns", SimpleNamespace(kernel=weight.by_columns), sums)]


def loss_kernels(op, ft):
    """(name, launcher, argument types) for a loss's CUDA kernels, as numact._loss_api launches them."""
    from numact import _cuda
    types = _types()
    flat, cube, f64 = ft[::1], ft[:, :, ::1], types.float64[::1]
    one, one64 = types.Array(ft, 0, "C"), types.Array(types.float64, 0, "C")  # 0-d: one value for all
    n = types.int64
    if op.kind == "elementwise":
        args = types.UniTuple(ft, len(op.params)) if op.params else types.Tuple(())
        return [
            (f"writes {writes}", _cuda.map_loss(op.math, writes), (f64, flat, flat, flat, flat, flat, one, one, one, one64, n, args, f64))
            for writes in [(True, False, 0), (False, True, 0), (False, False, 2), (True, False, 1)]
        ]
    writes = [(True, False), (False, True)]
    if op.kind == "class":
        args = types.Tuple((types.int64,) + (types.float64,) * (len(op.params) - 1))
        maths = [("indices", op.math, types.int64[:, :, ::1])]
        maths += [("probabilities", op.probs_math, cube)] if op.probs_math else []
        return [  # split between a group of threads a row (_cuda._split_row_loss)
            (f"{target} writes {w}", _cuda.map_row_loss(math, w), (f64, flat, cube, cube, t, cube, flat, one64, n, n, args, f64))
            for target, math, t in maths for w in writes
        ]
    args = types.UniTuple(types.float64, len(op.params))
    return [  # split between a group of threads a row (_cuda._split_vector_loss)
        (f"writes {w}", _cuda.map_row_loss(op.math, w), (f64, flat, cube, cube, cube, cube, cube, cube, cube, cube, one, one64, n, n, args, f64))
        for w in writes
    ]


def helper_kernels():
    """(name, kernel, argument types) for the kernels every operator shares."""
    from numact import _cuda
    types = _types()
    f64, f32, i64 = types.float64[::1], types.float32[::1], types.int64[::1]
    found = [
        ("sum_partials", _cuda._sum_partials, (f32, f64, types.Array(types.float64, 0, "C"))),
        ("sum_parts", _cuda._sum_parts, (f64, types.float64[:, ::1])),
        ("check_classes", _cuda._check_classes, (f64, f64, types.int64, i64, f32, types.int64, types.int64)),
        ("first_outside", _cuda._first_outside, (f64, types.int64, f32, types.float64, types.float64)),
    ]
    for ndim in (1, 2, 3, 5):
        for src, dst in (("float16", "float32"), ("bool", "float16"), ("float64", "float64")):
            signature = (types.Array(getattr(types, dst), ndim, "A"), types.Array(getattr(types, src), ndim, "A"))
            found.append((f"copy {ndim}-d {src} to {dst}", _cuda._copy_kernel(ndim), signature))
    return found


def every_kernel(names=None, shared=None):
    """(operator or "shared", dtype name, kernel name, kernel, argument types), for every kernel
    (of the operators ``names``, and the shared ones where ``shared`` or no names are given)."""
    from numact.operators import ACTIVATIONS, LOSSES
    types = _types()
    shared = not names if shared is None else shared
    for op in ACTIVATIONS + LOSSES:
        if names and op.name not in names:
            continue
        for dtype in ("float32", "float64"):
            make = loss_kernels if op in LOSSES else kernels
            for name, launcher, signature in make(op, getattr(types, dtype)):
                yield op.name, dtype, name, launcher.kernel, signature
    if shared:
        for name, kernel, signature in helper_kernels():
            yield "shared", "", name, kernel, signature


def simulate_host(kind: str) -> None:
    """Report the CPU features of ``kind`` ("avx512", "avx2") while numact._bits reads them."""
    import llvmlite.binding

    real = llvmlite.binding.get_host_cpu_features

    def features():
        found = real()
        for name in [k for k in found if k.startswith("avx512")]:
            found[name] = False
        if kind == "avx512":
            found.update({"avx512f": True, "avx512bw": True, "avx512dq": True, "avx512vl": True})
        return found

    llvmlite.binding.get_host_cpu_features = features
    try:
        import numact._bits  # noqa: F401 - decides here, once, what the host gets
    finally:
        llvmlite.binding.get_host_cpu_features = real


def assemble(ptx: str, cc: tuple) -> str:
    """nvJitLink's error log for assembling ``ptx`` to a cubin for ``cc``; "" where it assembled."""
    from cuda.bindings import nvjitlink

    handle = nvjitlink.create(2, [f"-arch=sm_{cc[0]}{cc[1]}", "-O3"])
    try:
        data = ptx.encode()
        try:
            nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "numact")
            nvjitlink.complete(handle)
        except nvjitlink.nvJitLinkError as error:
            log = bytearray(nvjitlink.get_error_log_size(handle))
            nvjitlink.get_error_log(handle, log)
            return log.decode(errors="replace").strip() or str(error)
        return "" if nvjitlink.get_linked_cubin_size(handle) else "empty cubin"
    finally:
        nvjitlink.destroy(handle)


def check(kernel, signature) -> dict:
    from numact import _cuda
    ir, ptxes = _cuda.build(kernel, signature, CCS)
    called = sorted(set(re.findall(r"declare [^@]*@\"?(llvm\.[\w.]+)", ir)))
    return {
        "intrinsics": called,
        "not_lowered": [name for name in called if not NVVM_LOWERS.fullmatch(name)],
        "widened": re.findall(r"cvt\.\w*\.?f64\.f32.*", ptxes[max(CCS)])[:3],
        "assembly_errors": {f"sm_{cc[0]}{cc[1]}": error for cc in CCS if (error := assemble(ptxes[cc], cc))},
    }


def _no_driver_needed() -> None:
    """Compiling a call to a device function asks the current device for its compute capability;
    with no GPU, answer for the newest architecture checked."""
    import numba.cuda.dispatcher

    class Device:
        compute_capability = max(CCS)

    numba.cuda.dispatcher.get_current_device = lambda: Device()


def _stand_in_gpu() -> None:
    """Compile, cache and bind kernels as numba does for a launch, with no GPU: a stand-in
    context for an H100/H200 (compute capability 9.0) whose module load keeps nothing. The
    machine code is nvJitLink's, as on a GPU; the disk cache is numba's own."""
    import types as namespaces

    import numba.cuda.cudadrv.devices

    module = namespaces.SimpleNamespace(initialized=True)  # loaded: nothing to set up
    context = namespaces.SimpleNamespace(
        device=namespaces.SimpleNamespace(compute_capability=max(CCS), id=0),
        create_module_image=lambda image, setup, teardown: namespaces.SimpleNamespace(
            get_function=lambda name: namespaces.SimpleNamespace(name=name, module=module)))
    numba.cuda.cudadrv.devices.get_context = lambda devnum=None: context
    _no_driver_needed()


def cache_report(names) -> None:
    """Each kernel of the operators ``names`` and the shared ones compiled as numact's launch
    compiles it (``dispatcher.compile``: numba's disk cache, NUMBA_CACHE_DIR), one JSON line
    each: whether numba loaded it from the cache, and the seconds it took."""
    import time

    _stand_in_gpu()
    for op, dtype, name, kernel, signature in every_kernel(names, shared=True):
        start = time.perf_counter()
        kernel.compile(signature)
        seconds = time.perf_counter() - start
        loaded, compiled = (signature in counts for counts in (kernel.stats.cache_hits, kernel.stats.cache_misses))
        print(json.dumps({"operator": op, "dtype": dtype, "kernel": name, "loaded": loaded, "compiled": compiled,
                          "seconds": seconds}), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", choices=("avx512", "avx2"), required=True)
    parser.add_argument("--ops", default="")
    parser.add_argument("--cache", action="store_true",
                        help="compile through numba's disk cache instead (cache_report); no build check")
    args = parser.parse_args(argv)
    simulate_host(args.host)
    names = set(filter(None, args.ops.split(",")))
    if args.cache:
        cache_report(names)
        return 0
    _no_driver_needed()
    for op, dtype, name, kernel, signature in every_kernel(names):
        report = {"operator": op, "dtype": dtype, "kernel": name, **check(kernel, signature)}
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
