"""The pytest-benchmark micro-benchmarks stay runnable: each runs once, untimed."""

import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cpu_only
ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_micro_benchmarks_run():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-disable",
         "microbenchmarks", "-k", "sigmoid or cross_entropy"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout, done.stdout  # sigmoid (2), BCE with logits (3), cross_entropy (3)
