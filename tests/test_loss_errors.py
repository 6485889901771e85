"""Bad input to the losses (SPEC.md's list): a clear error naming the loss and the argument,
raised before anything is written."""

import numpy as np
import pytest

import numact
from numact.operators import LOSSES
from loss_cases import cases, numact_call
from support import to_host, to_target

CASE_OF = {}
for _case in cases():
    CASE_OF.setdefault(_case.op.name, _case)


def target_arrays(name, dtype=np.float64):
    return {k: to_target(v) for k, v in CASE_OF[name].arrays(dtype).items()}


@pytest.mark.parametrize("suffix", ["", "_backward", "_forward_backward"])
@pytest.mark.parametrize("op", LOSSES, ids=lambda op: op.name)
def test_an_unknown_reduction_is_refused(op, suffix):
    case = CASE_OF[op.name]
    lead = (np.float64(1.0),) if suffix == "_backward" else ()
    with pytest.raises(ValueError, match=rf"numact\.{op.name}{suffix}: reduction must be one of .*'avg'"):
        numact_call(case, suffix, target_arrays(op.name), "avg", *lead)


@pytest.mark.parametrize("bad", [5, -1, 7])
@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
def test_a_class_index_out_of_range_is_refused_before_anything_is_written(name, bad):
    x = np.random.default_rng(0).normal(size=(4, 5))
    t = np.array([0, 1, bad, 2])
    out = to_target(np.full(4, 9.0))
    with pytest.raises(ValueError, match=rf"numact\.{name}: target holds class index {bad} at \(2,\), outside \[0, 5\)"):
        getattr(numact, name)(to_target(x), to_target(t), reduction="none", out=out)
    assert (to_host(out) == 9.0).all()
    with pytest.raises(ValueError, match=rf"numact\.{name}_backward: target holds class index {bad}"):
        getattr(numact, f"{name}_backward")(1.0, to_target(x), to_target(t))


def test_ignore_index_is_not_out_of_range():
    x = np.log(np.full((3, 4), 0.25))
    loss = numact.nll_loss(to_target(x), to_target(np.array([1, -7, 2])), ignore_index=-7, reduction="sum")
    assert to_host(loss) == pytest.approx(-2 * np.log(0.25))


@pytest.mark.parametrize("name, target, error, message", [
    ("nll_loss", np.zeros(4), TypeError, r"target has dtype float64; expected integer class indices$"),
    ("nll_loss", np.zeros(4, bool), TypeError, r"target has dtype bool"),
    ("cross_entropy", np.zeros((4, 5), np.complex64), TypeError, r"target has dtype complex64"),
    ("nll_loss", np.zeros(3, np.int64), ValueError, r"target has shape \(3,\); class indices for input of shape \(4, 5\) must have shape \(4,\)"),
    ("cross_entropy", np.zeros((4, 1), np.int64), ValueError, r"target has shape \(4, 1\)"),
    ("cross_entropy", np.zeros((4, 4)), ValueError, r"target has shape \(4, 4\); class probabilities must have input's shape \(4, 5\)"),
])
def test_a_target_of_the_wrong_kind_is_refused(name, target, error, message):
    x = np.zeros((4, 5))
    with pytest.raises(error, match=rf"numact\.{name}: {message}"):
        getattr(numact, name)(to_target(x), to_target(target))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "kl_div", "binary_cross_entropy_with_logits"])
def test_shapes_that_do_not_broadcast_are_refused(name):
    with pytest.raises(ValueError, match=rf"numact\.{name}: the shapes input \(3, 4\), target \(3,\) do not broadcast"):
        getattr(numact, name)(to_target(np.zeros((3, 4))), to_target(np.zeros(3)))


def test_margin_ranking_inputs_that_do_not_broadcast_are_refused():
    with pytest.raises(ValueError, match=r"input1 \(3,\), input2 \(4,\), target \(3,\) do not broadcast"):
        numact.margin_ranking_loss(to_target(np.zeros(3)), to_target(np.zeros(4)), to_target(np.ones(3)))


@pytest.mark.parametrize("arg, value", [("input", 1.5), ("input", -0.1), ("input", np.nan), ("target", 2.0), ("target", -1e-9),
                                        ("target", np.nan)])
def test_binary_cross_entropy_refuses_probabilities_outside_0_1(arg, value):
    arrays = {"input": np.full((2, 3), 0.5), "target": np.full((2, 3), 0.5)}
    arrays[arg][1, 2] = value
    out = to_target(np.full((2, 3), 7.0))
    with pytest.raises(ValueError, match=rf"numact\.binary_cross_entropy: {arg} holds {value} at \(1, 2\); probabilities must be in \[0, 1\]"):
        numact.binary_cross_entropy(to_target(arrays["input"]), to_target(arrays["target"]), reduction="none", out=out)
    assert (to_host(out) == 7.0).all()


@pytest.mark.parametrize("call", [
    lambda: numact.mse_loss(to_target(np.zeros(0)), to_target(np.zeros(0))),
    lambda: numact.binary_cross_entropy(to_target(np.zeros((0, 3))), to_target(np.zeros((0, 3)))),
    lambda: numact.nll_loss(to_target(np.zeros((2, 3))), to_target(np.array([-100, -100]))),
    lambda: numact.cross_entropy(to_target(np.zeros((2, 3))), to_target(np.array([-100, -100]))),
    lambda: numact.cross_entropy(to_target(np.zeros((0, 3))), to_target(np.zeros((0, 3)))),
    lambda: numact.triplet_margin_loss(*(to_target(np.zeros((0, 4))),) * 3),
], ids=["mse", "bce", "nll all ignored", "cross_entropy all ignored", "cross_entropy probs", "triplet"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator divides by 0 in Python
def test_mean_over_no_elements_is_nan(call):
    assert np.isnan(to_host(call()))


@pytest.mark.parametrize("name, params, error, message", [
    ("smooth_l1_loss", {"beta": -1.0}, ValueError, r"beta must be in \[0.0, inf\], got -1.0"),
    ("huber_loss", {"delta": 0.0}, ValueError, r"delta must be in \(0.0, inf\], got 0.0"),
    ("cross_entropy", {"label_smoothing": 1.5}, ValueError, r"label_smoothing must be in \[0.0, 1.0\]"),
    ("nll_loss", {"ignore_index": 1.5}, TypeError, r"ignore_index must be an integer, got 1.5"),
    ("kl_div", {"log_target": "yes"}, TypeError, r"log_target must be True or False, got 'yes'"),
    ("triplet_margin_loss", {"p": 0.0}, ValueError, r"p must be in \(0.0, inf\), got 0.0"),
    ("triplet_margin_loss", {"p": float("inf")}, ValueError, r"p must be in \(0.0, inf\), got inf"),
    ("margin_ranking_loss", {"margin": "1"}, TypeError, r"margin must be a real number, got '1'"),
    ("triplet_margin_loss", {"margin": 0.0}, ValueError, r"margin must be greater than 0.0, got 0.0"),
    ("triplet_margin_loss", {"margin": -1}, ValueError, r"margin must be greater than 0.0, got -1"),
])
def test_bad_parameters_are_refused(name, params, error, message):
    case = CASE_OF[name]
    with pytest.raises(error, match=rf"numact\.{name}: {message}"):
        getattr(numact, name)(*[target_arrays(name)[a] for a in case.op.arrays], **params)


def test_ignore_index_does_not_apply_to_class_probabilities():
    with pytest.raises(ValueError, match=r"numact\.cross_entropy: ignore_index \(0\) does not apply to class-probability targets"):
        numact.cross_entropy(to_target(np.zeros((2, 3))), to_target(np.full((2, 3), 1 / 3)), ignore_index=0)


def test_a_class_weight_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"numact\.nll_loss: weight has shape \(4,\), expected \(5,\): one per class"):
        numact.nll_loss(to_target(np.zeros((2, 5))), to_target(np.array([0, 1])), weight=to_target(np.ones(4)))


def test_a_complex_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"numact\.mse_loss: input has dtype complex128"):
        numact.mse_loss(to_target(np.zeros(3, complex)), to_target(np.zeros(3)))


def test_a_reduced_loss_takes_a_scalar_grad_output():
    x = to_target(np.zeros(3))
    with pytest.raises(ValueError, match=r"numact\.mse_loss_backward: grad_output has shape \(3,\); a reduced loss takes a scalar"):
        numact.mse_loss_backward(to_target(np.ones(3)), x, x)


def test_grad_output_of_an_unreduced_loss_must_broadcast_to_the_loss():
    x = to_target(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"numact\.mse_loss_backward: grad_output has shape \(2,\)"):
        numact.mse_loss_backward(to_target(np.ones(2)), x, x, reduction="none")


def test_a_wrong_out_is_refused_before_anything_is_written():
    x, y = to_target(np.ones(4)), to_target(np.zeros(4))
    out = to_target(np.full(3, 5.0))
    with pytest.raises(ValueError, match=r"numact\.mse_loss: out has shape \(3,\), expected \(4,\)"):
        numact.mse_loss(x, y, reduction="none", out=out)
    with pytest.raises(ValueError, match=r"numact\.mse_loss: out has shape \(3,\), expected \(\)"):
        numact.mse_loss(x, y, out=out)
    grad1 = to_target(np.full(4, 5.0))
    with pytest.raises(ValueError, match=r"numact\.margin_ranking_loss_backward: out\[1\] has dtype float32, expected float64"):
        numact.margin_ranking_loss_backward(1.0, x, y, x, out=(grad1, to_target(np.zeros(4, np.float32))))
    assert (to_host(grad1) == 5.0).all()
    with pytest.raises(ValueError, match=r"out must be a tuple of 2 arrays .* input1, input2"):
        numact.margin_ranking_loss_backward(1.0, x, y, x, out=grad1)


def test_a_missing_array_is_a_type_error():
    with pytest.raises(TypeError, match=r"numact\.mse_loss: target must be an array, got None"):
        numact.mse_loss(to_target(np.zeros(3)), None)


def test_a_cosine_label_per_vector():
    x = to_target(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"numact\.cosine_embedding_loss: target has shape \(3,\); expected one label per vector, shape \(4,\)"):
        numact.cosine_embedding_loss(x, x, to_target(np.ones(3)))


@pytest.mark.cuda_only
@pytest.mark.parametrize("bad", [False, True])
@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy"])
def test_the_gpu_checks_values_without_a_round_trip_before_the_loss_kernel(monkeypatch, name, bad):
    """On the GPU the checks of class indices and probabilities run on the device and the loss
    kernel is launched without waiting for them: the host reads what they found once, after
    the loss kernel (it copies nothing back before), and a refused call writes nothing."""
    from numact import _cuda

    events = []

    def recorded(what, real):
        def call(*args, **kwargs):
            events.append(what)
            return real(*args, **kwargs)
        return call

    for factory in ("map_loss", "map_row_loss"):
        real_factory = getattr(_cuda, factory)
        monkeypatch.setattr(_cuda, factory, lambda f, writes, real=real_factory: recorded("loss kernel", real(f, writes)))
    monkeypatch.setattr(_cuda.DeviceArray, "copy_to_host", recorded("copy to host", _cuda.DeviceArray.copy_to_host))
    if name == "cross_entropy":
        x, t = np.zeros((4, 5)), np.array([0, 1, 7 if bad else 2, 3])
        expected = [r"target holds class index 7 at \(2,\)"]
    else:
        x, t = np.full((2, 3), 0.5), np.full((2, 3), 0.25)
        t[1, 1] = 1.5 if bad else 0.75
        expected = [r"target holds 1.5 at \(1, 1\)"]
    out = to_target(np.full(x.shape[:1] if name == "cross_entropy" else x.shape, 9.0))
    call = lambda: getattr(numact, name)(to_target(x), to_target(t), reduction="none", out=out)  # noqa: E731
    if bad:
        with pytest.raises(ValueError, match=expected[0]):
            call()
    else:
        call()
    assert events[:2] == ["loss kernel", "copy to host"], events
    assert (to_host(out) == 9.0).all() == bad
