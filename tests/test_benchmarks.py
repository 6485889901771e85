"""The benchmark report: every operator has a NumPy baseline that computes the same thing,
and the report runs."""

import numpy as np
import pytest

from benchmarks import report
from benchmarks.numpy_baselines import BASELINES
from benchmarks.numpy_loss_baselines import LOSS_BASELINES
from numact.operators import ACTIVATIONS, LOSSES, param_cases

pytestmark = pytest.mark.cpu_only


@pytest.mark.parametrize("op", ACTIVATIONS, ids=lambda op: op.name)
def test_the_numpy_baseline_computes_what_numact_computes(op):
    x, g, params = report.workload(op, 4000, np.float64, np.random.default_rng(0))
    forward, backward = BASELINES[op.name]
    np.testing.assert_allclose(forward(x, **params), report.numact_call(op, False)(x, **params), rtol=1e-9, atol=1e-12)
    ours = report.numact_call(op, True)(g, x, **params)
    theirs = backward(g, x, **params)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("op", LOSSES, ids=lambda op: op.name)
def test_the_numpy_loss_baseline_computes_what_numact_computes(op):
    arrays, params = report.loss_workload(op, 4000, np.float64, np.random.default_rng(0))
    np_params = dict(param_cases(op)[0], **params)
    forward, backward = LOSS_BASELINES[op.name]
    np.testing.assert_allclose(forward(*arrays, **np_params), getattr(report.numact, op.name)(*arrays, **params), rtol=1e-9)
    ours = getattr(report.numact, f"{op.name}_backward")(1.5, *arrays, **params)
    theirs = backward(1.5, *arrays, **np_params)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_the_report_prints_a_row_per_operator(capsys):
    report.main(["--size", "4000", "--repeat", "1", "--ops", "sigmoid,softmax,prelu,mse_loss,cross_entropy"])
    table = capsys.readouterr().out
    for name in ("sigmoid", "softmax", "prelu", "mse_loss", "cross_entropy"):
        assert f"| {name} |" in table
    assert "geometric mean speed-up over NumPy" in table and "import numact" in table
    assert "geometric mean speed-up of the losses over NumPy" in table
