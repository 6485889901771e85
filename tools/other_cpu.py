"""Run a command with numba compiling for another x86-64 code generation than this host's.

    python tools/other_cpu.py COMMAND ...     # COMMAND under the other code generation
    python tools/other_cpu.py                 # prints what it would set

On an AVX-512 host the other generation is AVX2 code (haswell, every AVX-512 feature off); on an
AVX2 host it is haswell's tuning (cost model, scheduling) with the host's own features, or on a
Haswell host x86-64-v2 (SSE4.2, no FMA). Only code the host can run is chosen.

numba compiles for NUMBA_CPU_NAME with NUMBA_CPU_FEATURES, and where the features are not given
it takes the host's: NUMBA_CPU_NAME=haswell alone on an AVX-512 host still emits AVX-512 code.
So both are set here. Kernels compiled so are cached apart (numba keys its cache by both), and
NUMBA_CACHE_DIR is left as it is.

PyTorch (for ``numact bench``'s comparison) picks its kernels by the host's CPU too; on an
AVX-512 host ATEN_CPU_CAPABILITY=avx2 is set as well (unless already set), so that torch runs
the AVX2 kernels an AVX2 host would run.
"""

import os
import sys

import llvmlite.binding as llvm

NEWER_THAN_AVX2 = ("avx512", "amx", "avxvnni", "avxifma", "avxneconvert", "avx10", "evex512")


def other() -> tuple[str, str]:
    """(NUMBA_CPU_NAME, NUMBA_CPU_FEATURES) of the other code generation for this host."""
    host = llvm.get_host_cpu_name()
    features = llvm.get_host_cpu_features()
    if host == "haswell" and not features.get("avx512f"):
        return "x86-64-v2", "+sse4.2,+popcnt,+cx16,-avx,-avx2,-fma"
    for name in features:
        if name.startswith(NEWER_THAN_AVX2):
            features[name] = False
    return "haswell", features.flatten()


def main(argv: list[str]) -> None:
    name, features = other()
    print(f"numba compiles for {name} (host: {llvm.get_host_cpu_name()}), "
          f"features {', '.join(f for f in features.split(',') if f.startswith('+') and 'avx' in f) or 'no AVX'}",
          file=sys.stderr)
    if argv:
        torch = {"ATEN_CPU_CAPABILITY": "avx2"} if name == "haswell" else {}
        os.execvpe(argv[0], argv, {**torch, **os.environ, "NUMBA_CPU_NAME": name, "NUMBA_CPU_FEATURES": features})


if __name__ == "__main__":
    main(sys.argv[1:])
