#!/usr/bin/env bash
# The GPU checks of a session lent an NVIDIA GPU through the device tool, as one script run from
# the repository's root there:
#   1. numact doctor (driver, toolkit, GPU; three kernels against the CPU's bits);
#   2. make test-gpu: the whole suite with the GPU as the CUDA target;
#   3. benchmarks/gpu/check.py: every kernel against the CPU, and its bandwidth beside a copy's;
#   4. make bench-gpu (numact bench --device cuda): numact beside torch's CUDA kernels, into
#      $OUT/gpu-speed.json (the format of docs/data/gpu-*.json: copy it there, named for the GPU
#      and the date) and $OUT/gpu-speed.png.
# Such a machine reaches no registry, and its NumPy (2.5) breaks numba-cuda 0.30: the wheels in
# .whl (numpy 2.4.6, numba 0.68.1, numba-cuda 0.30.4, dask and distributed with what they need
# there; benchmarks/gpu/fetch_wheels.sh fetches them here) are carried and put first on the path.
# Everything it prints also lands in $OUT.
#   SUITE_SECONDS=330 CHECK_SIZE=16777216 SPEED_SECONDS=240 bash benchmarks/gpu/device_run.sh
set -u
OUT=${OUT:-/tmp/numact-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import numpy, numba, numba_cuda, torch; print('numpy', numpy.__version__, 'numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, 'torch', torch.__version__)" | tee -a "$OUT/gpu.txt"

# make's targets call $(BIN)/python: a folder where that name is this machine's python3
bin=/tmp/numact-bin
mkdir -p "$bin" && ln -sf "$(command -v python3)" "$bin/python"
status=0
echo "=== make test-gpu" | tee "$OUT/test-gpu.txt"
timeout "${SUITE_SECONDS:-330}" make --no-print-directory test-gpu GPU_SETUP= BIN="$bin" GPU_WORKERS="${GPU_WORKERS:-14}" \
    ARGS="${SUITE_ARGS:-}" 2>&1 | tee -a "$OUT/test-gpu.txt" | tail -n 60
status=$(( status || PIPESTATUS[0] ))

echo "=== benchmarks/gpu/check.py" | tee "$OUT/check.txt"
timeout "${CHECK_SECONDS:-150}" python3 benchmarks/gpu/check.py --size "${CHECK_SIZE:-16777216}" --repeat 10 \
    ${CHECK_ARGS:-} 2>&1 | tee -a "$OUT/check.txt"
status=$(( status || PIPESTATUS[0] ))
echo "=== make bench-gpu" | tee "$OUT/speed.txt"
timeout "${SPEED_SECONDS:-240}" make --no-print-directory bench-gpu GPU_SETUP= BIN="$bin" \
    ARGS="--repeat 10 --json $OUT/gpu-speed.json --plot $OUT/gpu-speed.png ${SPEED_ARGS:-}" 2>&1 | tee -a "$OUT/speed.txt"
status=$(( status || PIPESTATUS[0] ))
echo "device_run: exit $status"
exit $status
