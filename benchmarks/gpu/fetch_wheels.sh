#!/usr/bin/env bash
# Fills .whl (ignored by git: .git/info/exclude) with the wheels device_run.sh installs on a lent
# GPU machine, which reaches no registry: its python3 is CPython 3.12 on x86-64 with torch,
# numba 0.68.0, numba-cuda, CuPy, pytest and hypothesis, but NumPy 2.5 (which numba-cuda 0.30
# cannot launch with) and no dask (../shared/gpu/H200-2026-12-04.md). Run here, from the
# repository's root, before the device call that names .whl in its carry:
#   bash benchmarks/gpu/fetch_wheels.sh
set -eu
WHEELS=(
    numpy==2.4.6 numba==0.68.1 numba-cuda==0.30.4
    # test_dask's dask.distributed cluster, and what it needs that the machine lacks
    dask==2026.8.0 distributed==2026.8.0 cloudpickle==3.1.3 toolz==1.2.0 partd==1.4.2
    fsspec==2026.9.0 locket==1.0.0 msgpack==1.2.4 psutil==7.2.2 sortedcontainers==2.4.0
    tblib==3.2.2 tornado==6.6.1 zict==3.0.0 click==8.5.1 pyyaml==6.0.4 importlib-metadata==10.2.0
    zipp
)
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
du -sh .whl
