"""The host's share of a kernel launch, numact's direct launch beside numba's dispatcher, with no
GPU: what each does in Python before ``cuda.core.launch`` for the same arguments (device arrays
over made-up addresses, as tests/test_launch.py makes them).

    python benchmarks/gpu/launch_cost.py [--repeat R]

numba: pack every argument (``_Kernel._prepare_args``), as its launch does after the dispatcher
has typed the arguments and found the version (not counted: the dispatcher's typing, its lookup
and the launch configuration it builds); numact: find the version by the arguments' kinds and
pack with its packers (numact._launch), all it does before ``cuda.core.launch``. Medians of R rounds of 1,000
launches' worth, in µs a launch. The whole launch on a GPU, which this cannot time, is
``numact bench --device cuda``'s small calls.
"""

import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests"))

import test_launch  # noqa: E402 - the tests' device arrays over made-up addresses

from numact import _launch  # noqa: E402


def per_launch(work, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(1000):
            work()
        times.append((time.perf_counter() - start) / 1000)
    return statistics.median(times) * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    _, kernel, purpose, typeof = test_launch._numba()
    made = test_launch.arguments()
    flat = made["C-contiguous float32"]
    launches = {
        "element-wise (out, x, 2 parameters)": (flat, flat, made["float32 parameters"]),
        "loss (13 arguments)": (flat, flat, flat, flat, made["C-contiguous float64, 3-d"], made["int64 targets"],
                                flat, flat, made["0-d"], made["0-d"], 7, made["mixed parameters"], flat),
    }
    print("| launch | numba: _prepare_args alone, µs | numact: kind + packers, µs |")
    print("|---|---:|---:|")
    for name, values in launches.items():
        stand_in = test_launch._StandInKernel(None)

        argtypes = [typeof(v, purpose.argument) for v in values]

        def numba_side():
            packed: list = []
            for t, v in zip(argtypes, values):
                kernel._prepare_args(stand_in, t, v, 0, [], packed)

        versions = {tuple(map(_launch.kind, values)): [_launch.packer(typeof(v, purpose.argument)) for v in values]}

        def numact_side():
            packers = versions[tuple(map(_launch.kind, values))]
            packed: list = []
            for pack, v in zip(packers, values):
                pack(v, packed)

        print(f"| {name} | {per_launch(numba_side, args.repeat):.2f} | {per_launch(numact_side, args.repeat):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
