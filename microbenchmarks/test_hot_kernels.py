"""pytest-benchmark micro-benchmarks of the hot kernels, for before/after comparisons of a change:

    make bench-pytest                          # times them, saves the run (.benchmarks/)
    make bench-pytest ARGS=--benchmark-compare # times them again against the last saved run

One benchmark per hot operator and pass, on 1,000,000 float32 elements ((1000, 1000) rows
and logits), from the same workloads as ``numact bench``; compilation happens before timing.
"""

import numpy as np
import pytest

from numact.bench.workloads import cases, operators

HOT = ["sigmoid", "tanh", "gelu", "softplus", "relu", "softmax", "log_softmax",
       "mse_loss", "cross_entropy", "binary_cross_entropy_with_logits"]
SIZE = 1_000_000

CASES = [case for op in operators(HOT)
         for case in cases(op, SIZE, np.float32, np.random.default_rng(0), rows=1000, with_torch=False)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op}-{c.step}")
def test_numact(benchmark, case):
    case.numact()  # compile, or load from the on-disk cache
    benchmark.extra_info["bytes"] = case.bytes
    benchmark(case.numact)
