"""numact.torch: every operator as a torch operator with autograd, fake implementations, modules
and swap, against torch's own functions and modules."""

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from loss_cases import cases as loss_cases

import numact
import numact.torch as nt
from numact.operators import ACTIVATIONS, LOSSES, param_cases
from numact.torch import _convert
from numact.torch.nn import TORCH_NAMES

pytestmark = pytest.mark.cpu_only  # torch's CPU build: no CUDA tensors to hand numact

ACTIVATION_CASES = [pytest.param(op, params, id=f"{op.name}-{i}")
                    for op in ACTIVATIONS for i, params in enumerate(param_cases(op))]
LOSS_CASES = [pytest.param(case, id=case.id) for case in loss_cases()]


def away_from_kinks(op, params, shape, seed=0):
    """float64 values over ±6, none within 0.01 of a kink (finite differences cross none)."""
    x = np.random.default_rng(seed).normal(0, 3, shape)
    for kink in op.kinks(**params):
        near = np.abs(x - kink) < 0.01
        x[near] = kink + np.where(x[near] >= kink, 0.05, -0.05)
    return torch.tensor(x, requires_grad=True)


def activation_call(op, params):
    """``x, *weight → numact.torch.<op>(...)``, with the softmax family on dim 1."""
    fn = getattr(nt, op.name)
    if op.kind == "rowwise":
        return lambda x: fn(x, 1)
    if op.kind == "channelwise":
        return lambda x, w: fn(x, w)
    return lambda x: fn(x, **params)


def activation_inputs(op, params, dtype=torch.float64, shape=(3, 4)):
    x = away_from_kinks(op, params, shape).detach().to(dtype).requires_grad_()
    if op.kind == "channelwise":
        return x, torch.tensor([0.25, -0.5, 1.5, 0.1], dtype=dtype, requires_grad=True)
    return (x,)


def torch_activation(op, params, x, *weight):
    scope = {"torch": torch, "F": F, "x": x, "axis": 1, **params}
    if weight:
        scope["weight"] = weight[0]
    return eval(op.reference, scope)


# --- autograd -----------------------------------------------------------------------------------

@pytest.mark.parametrize("op, params", ACTIVATION_CASES)
def test_activation_gradcheck(op, params):
    assert torch.autograd.gradcheck(activation_call(op, params), activation_inputs(op, params))


@pytest.mark.parametrize("op, params", ACTIVATION_CASES)
def test_activation_forward_and_gradient_are_numacts_and_match_torch(op, params):
    inputs = activation_inputs(op, params, torch.float32)
    y = activation_call(op, params)(*inputs)
    arrays = [t.detach().numpy() for t in inputs]
    call = {"rowwise": {"axis": 1}, "channelwise": {}, "elementwise": params}[op.kind]
    assert np.array_equal(y.detach().numpy(), getattr(numact, op.name)(*arrays, **call), equal_nan=True)
    g = torch.linspace(-1, 1, y.numel()).reshape(y.shape)
    grads = torch.autograd.grad(y, inputs, g)
    ours = getattr(numact, f"{op.name}_backward")(g.numpy(), *arrays, **call)
    ours = ours if isinstance(ours, tuple) else (ours,)
    for got, want in zip(grads, ours):
        assert np.array_equal(got.numpy(), want, equal_nan=True)
    reference = [t.detach().clone().requires_grad_() for t in inputs]
    y_ref = torch_activation(op, params, *reference)
    torch.testing.assert_close(y, y_ref.detach(), rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, torch.autograd.grad(y_ref, reference, g)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def loss_tensors(case, dtype=torch.float64, grad=None):
    arrays = case.arrays(np.float64, smooth=True)
    grad = case.op.inputs if grad is None else grad
    return {k: torch.tensor(v, dtype=dtype if v.dtype.kind == "f" else None, requires_grad=k in grad)
            for k, v in arrays.items()}


def loss_function(case, tensors, reduction):
    fn = getattr(nt, case.op.name)
    others = {w: tensors[w] for w in case.op.weights if w in tensors}

    def call(*inputs):
        given = dict(tensors, **dict(zip(case.op.inputs, inputs)))
        return fn(*(given[a] for a in case.op.arrays), **others, **case.params, reduction=reduction)

    return call


@pytest.mark.parametrize("case", LOSS_CASES)
def test_loss_gradcheck(case):
    """Every reduction: the fused pass's saved gradient (reduced) and the backward op ('none')."""
    tensors = loss_tensors(case)
    for reduction in case.op.reductions:
        inputs = tuple(tensors[a] for a in case.op.inputs)
        assert torch.autograd.gradcheck(loss_function(case, tensors, reduction), inputs), reduction


@pytest.mark.parametrize("case", LOSS_CASES)
def test_loss_and_gradient_match_torch(case):
    tensors = loss_tensors(case, torch.float32)
    reference = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in tensors.items()}
    for reduction in case.op.reductions:
        ours = loss_function(case, tensors, reduction)(*(tensors[a] for a in case.op.inputs))
        positional = [reference[a] for a in case.op.arrays]
        weights = {w: reference[w] for w in case.op.weights if w in reference}
        theirs = getattr(F, case.op.name)(*positional, **weights, **case.params, reduction=reduction)
        torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)
        g = torch.rand(ours.shape)
        got = torch.autograd.grad(ours, [tensors[a] for a in case.op.inputs], g)
        want = torch.autograd.grad(theirs, [reference[a] for a in case.op.inputs], g)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_reduced_loss_backward_scales_the_gradient_of_the_fused_pass():
    """One pass over the logits: the backward multiplies the saved gradient, it calls no
    numact kernel."""
    x = torch.randn(8, 5, requires_grad=True)
    t = torch.randint(0, 5, (8,))
    loss = nt.cross_entropy(x, t)
    assert loss.grad_fn is not None
    _, expected = numact.cross_entropy_forward_backward(x.detach().numpy(), t.numpy())
    (3 * loss).backward()
    assert np.array_equal(x.grad.numpy(), expected * np.float32(3))


@pytest.mark.parametrize("call", [
    lambda x: nt.gelu(x), lambda x: nt.softmax(x, 1), lambda x: nt.mse_loss(x, torch.zeros(3, 4, dtype=torch.float64)),
    lambda x: nt.mse_loss(x, torch.zeros(3, 4, dtype=torch.float64), reduction="none"),
], ids=["activation", "rowwise", "reduced-loss", "loss-none"])
def test_double_backward_is_a_clear_error(call):
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="no second derivative"):
        torch.autograd.gradgradcheck(call, (x,))


def test_requires_grad_on_any_subset_of_the_inputs():
    a, b, n = (torch.randn(5, 4, dtype=torch.float64) for _ in range(3))
    for wanted in ([True, False, False], [False, True, True], [False, False, True]):
        tensors = [t.clone().requires_grad_(w) for t, w in zip((a, b, n), wanted)]
        loss = nt.triplet_margin_loss(*tensors)
        grads = torch.autograd.grad(loss, [t for t in tensors if t.requires_grad])
        reference = [t.detach().clone().requires_grad_(w) for t, w in zip((a, b, n), wanted)]
        expected = torch.autograd.grad(F.triplet_margin_loss(*reference), [t for t in reference if t.requires_grad])
        for got, want in zip(grads, expected):
            torch.testing.assert_close(got, want)
    x = torch.randn(4, 3, dtype=torch.float64)
    assert nt.cross_entropy(x, torch.tensor([0, 1, 2, 1])).grad_fn is None  # nothing requires grad


def test_a_target_or_weight_that_requires_grad_is_a_clear_error():
    x = torch.randn(4, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="target requires grad"):
        nt.mse_loss(x, torch.randn(4, 3, requires_grad=True))
    with pytest.raises(RuntimeError, match="weight requires grad"):
        nt.cross_entropy(x, torch.tensor([0, 1, 2, 1]), weight=torch.ones(3, requires_grad=True))


# --- memory, dtypes, layouts --------------------------------------------------------------------

def test_tensors_reach_numact_and_come_back_without_copies():
    x = torch.randn(6, 8)[::2, 1::3]  # not contiguous
    a = _convert.to_array(x)
    assert a.ctypes.data == x.data_ptr() and a.strides == tuple(s * 4 for s in x.stride())
    y = numact.gelu(a)
    t = _convert.to_tensor(y, x, torch.float32)
    assert t.data_ptr() == y.ctypes.data


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_every_float_dtype_keeps_its_dtype(dtype):
    x = torch.linspace(-4, 4, 12).reshape(3, 4).to(dtype).requires_grad_()
    y = nt.gelu(x)
    assert y.dtype == dtype
    computed_in = torch.float64 if dtype == torch.float64 else torch.float32
    torch.testing.assert_close(y.detach(), F.gelu(x.detach().to(computed_in)).to(dtype))
    y.sum().backward()
    assert x.grad.dtype == dtype
    t = torch.tensor([0, 1, 2])
    loss = nt.cross_entropy(x, t)
    assert loss.dtype == dtype
    torch.testing.assert_close(loss.detach(), F.cross_entropy(x.detach().to(computed_in), t).to(dtype))


def test_layouts_zero_d_and_empty_tensors():
    base = torch.randn(5, 6, dtype=torch.float64)
    for x in (base.T, base[::2, 1::2], base.expand(2, 5, 6), base[0, 0]):
        assert torch.equal(nt.elu(x, 0.5), nt.elu(x.contiguous(), 0.5))
        assert torch.equal(nt.softmax(x, -1), nt.softmax(x.contiguous(), -1)) if x.dim() else True
    for shape in ((), (0,), (3, 0)):
        x = torch.randn(shape, requires_grad=True)
        y = nt.tanh(x)
        assert y.shape == x.shape
        y.sum().backward()
        assert x.grad.shape == x.shape
    assert nt.mse_loss(torch.zeros(0), torch.zeros(0), reduction="sum").item() == 0.0


def test_bad_arguments_are_numacts_errors():
    x = torch.randn(3)
    with pytest.raises(ValueError, match="approximate"):
        nt.gelu(x, approximate="fast")
    with pytest.raises(TypeError, match="alpha"):
        nt.elu(x, alpha="1")
    with pytest.raises(ValueError, match="reduction"):
        nt.mse_loss(x, x, reduction="avg")
    with pytest.raises(TypeError, match="missing the parameter 'threshold'"):
        nt.threshold(x)
    with pytest.raises(ValueError, match="class index 3"):
        nt.cross_entropy(torch.randn(2, 3), torch.tensor([0, 3]))


def test_importing_numact_does_not_import_torch():
    code = "import sys, numact; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- modules and swap ---------------------------------------------------------------------------

MODULE_CASES = [pytest.param(op, params, id=f"{op.name}-{i}")
                for op in ACTIVATIONS for i, params in enumerate(param_cases(op))]


@pytest.mark.parametrize("op, params", MODULE_CASES)
def test_activation_module_is_torch_nns(op, params):
    name = TORCH_NAMES[op.name]
    ours_cls = getattr(nt.nn, name)
    theirs_cls = getattr(torch.nn, name, None)
    kwargs = {"dim": 1} if op.kind == "rowwise" else {"num_parameters": 4} if op.kind == "channelwise" else params
    ours = ours_cls(**kwargs)
    x = away_from_kinks(op, params, (3, 4)).float()  # modules' parameters are float32
    if theirs_cls is None:  # Scale, Sine: numact's own
        expected = torch_activation(op, params, x)
    else:
        theirs = theirs_cls(**kwargs)
        expected = theirs(x)
        swapped = torch.nn.Sequential(theirs)
        assert nt.swap(swapped) == 1 and type(swapped[0]) is ours_cls
        torch.testing.assert_close(swapped[0](x), expected)
    torch.testing.assert_close(ours(x), expected)


@pytest.mark.parametrize("op", LOSSES, ids=lambda op: op.name)
def test_loss_module_is_torch_nns(op):
    case = [c for c in loss_cases() if c.op is op and bool(c.weights) == bool(op.weights) and not c.probs][-1]
    tensors = loss_tensors(case)
    name = TORCH_NAMES[op.name]
    weights = {w: tensors[w] for w in op.weights if w in tensors}
    theirs = getattr(torch.nn, name)(**weights, **case.params, reduction="sum")
    model = torch.nn.ModuleDict({"loss": theirs})
    assert nt.swap(model) == 1
    ours = model["loss"]
    assert type(ours) is getattr(nt.nn, name) and ours.reduction == "sum"
    arrays = [tensors[a] for a in op.arrays]
    torch.testing.assert_close(ours(*arrays), theirs(*arrays))


def test_module_arguments_are_torch_nns():
    assert nt.nn.Hardtanh(-2, 2).max_val == 2 and nt.nn.Threshold(0.1, 20).value == 20
    assert nt.nn.MSELoss(size_average=False).reduction == "sum"  # torch's legacy arguments
    assert nt.nn.CrossEntropyLoss(None, None, 3).ignore_index == 3
    with pytest.raises(TypeError):
        nt.nn.ELU(beta=2)
    prelu = nt.nn.PReLU(3, init=0.1, dtype=torch.float64)
    assert isinstance(prelu.weight, torch.nn.Parameter) and prelu.weight.dtype == torch.float64
    assert torch.equal(prelu.weight.detach(), torch.full((3,), 0.1, dtype=torch.float64))
    relu6 = torch.nn.Sequential(torch.nn.ReLU6(), torch.nn.Hardtanh(), torch.nn.Linear(2, 2))
    assert nt.swap(relu6) == 2 and isinstance(relu6[0], nt.nn.ReLU6) and isinstance(relu6[1], nt.nn.Hardtanh)


def test_swap_keeps_prelus_parameter_for_the_optimizer():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.PReLU(4), torch.nn.Softmax(dim=None))
    weight = model[1].weight
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert nt.swap(model) == 2
    assert model[1].weight is weight
    x = torch.randn(5, 3)
    model(x).pow(2).sum().backward()
    before = weight.detach().clone()
    optimizer.step()
    assert not torch.equal(weight.detach(), before)


# --- training and torch.compile -----------------------------------------------------------------

def digits_mlp_losses(swap: bool, epochs=4):
    """An MLP 64-32-32-10 (GELU, ELU) on scikit-learn's bundled digits, float64, trained with
    SGD in batches of 128; the loss of every step."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0)
    y = torch.tensor(data.target)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.GELU(), torch.nn.Linear(32, 32), torch.nn.ELU(0.5),
        torch.nn.Linear(32, 10),
    ).double()
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    if swap:
        assert nt.swap(model) == 2
        loss_fn = nt.nn.CrossEntropyLoss(label_smoothing=0.05)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    losses = []
    for _ in range(epochs):
        for start in range(0, len(x), 128):
            optimizer.zero_grad()
            loss = loss_fn(model(x[start:start + 128]), y[start:start + 128])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return np.array(losses)


def test_training_an_mlp_gives_torchs_loss_trajectory():
    theirs, ours = digits_mlp_losses(False), digits_mlp_losses(True)
    assert theirs[-1] < 0.5 * theirs[0]  # it learns
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_torch_compile_fullgraph_gives_the_eager_results():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), nt.nn.GELU(), torch.nn.Linear(16, 16), nt.nn.ELU(0.5),
                                nt.nn.PReLU(), torch.nn.Linear(16, 4), nt.nn.LogSoftmax(1)).double()
    loss_fn = nt.nn.NLLLoss()
    x, t = torch.randn(32, 8, dtype=torch.float64), torch.randint(0, 4, (32,))

    def step(x, t):
        return loss_fn(model(x), t)

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")  # fullgraph: a graph break raises
    results = []
    for fn in (step, compiled):
        model.zero_grad()
        loss = fn(x, t)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (loss0, grads0), (loss1, grads1) = results
    torch.testing.assert_close(loss1, loss0, rtol=0, atol=0)
    for a, b in zip(grads1, grads0):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def op_cases():
    """Every op of torch.ops.numact with arguments: activations, their backward, losses,
    their backward and fused ops, each at its default parameters."""
    result = []
    for op in ACTIVATIONS:
        params = param_cases(op)[-1]
        x, *weight = activation_inputs(op, params)
        rest = [1] if op.kind == "rowwise" else weight if op.kind == "channelwise" else list(params.values())
        result.append(pytest.param(op.name, (x, *rest), id=op.name))
        result.append(pytest.param(f"{op.name}_backward", (torch.ones_like(x), x, *rest), id=f"{op.name}_backward"))
    for op in LOSSES:  # with its weights where it has some
        case = next(c for c in loss_cases() if c.op is op and bool(c.weights) == bool(op.weights) and not c.probs)
        tensors = loss_tensors(case)
        weights = {w: tensors.get(w) for w in op.weights}
        for reduction in (op.reductions[0], "none"):
            args = [tensors[a] for a in op.arrays] + list(weights.values()) + list(case.params.values()) + [reduction]
            loss = getattr(nt, op.name)(*(tensors[a] for a in op.arrays), **weights, **case.params, reduction=reduction)
            for suffix, lead in (("", ()), ("_backward", (torch.ones_like(loss),)), ("_forward_backward", ())):
                result.append(pytest.param(op.name + suffix, (*lead, *args), id=f"{op.name}{suffix}-{reduction}"))
    return result


@pytest.mark.parametrize("name, args", op_cases())
def test_every_op_has_a_schema_and_a_fake_implementation_that_agree_with_it(name, args):
    """torch's own checks of the op: its schema, and its fake tensor's shape, dtype and strides
    against the real result's."""
    torch.library.opcheck(nt.ops[name], args, test_utils=("test_schema", "test_faketensor"))


def test_opcheck_with_autograd_and_aot_dispatch():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(nt.ops["gelu"], (x, "tanh"))
    torch.library.opcheck(nt.ops["prelu"], (x, torch.rand(4, dtype=torch.float64, requires_grad=True)))
    torch.library.opcheck(nt.ops["cross_entropy_forward_backward"], (x, torch.tensor([0, 1, 3]), None, -100, 0.1, "mean"))


def test_the_training_step_benchmark_runs(capsys):
    from numact.bench import torch_step

    torch_step.main(["--batch", "16", "--widths", "8,16,16,3", "--repeats", "1", "--activations", "GELU"])
    report = capsys.readouterr().out
    assert "| training step, GELU" in report and "| CrossEntropyLoss alone" in report


def test_vmap_of_an_elementwise_activation_and_its_backward():
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    g = torch.randn(3, 4, dtype=torch.float64)
    assert torch.equal(torch.vmap(lambda r: nt.elu(r, 0.5), in_dims=1)(x), nt.elu(x, 0.5).movedim(1, 0))
    backward = nt.ops["elu_backward"]
    assert torch.equal(torch.vmap(backward, in_dims=(None, 0, None))(g, x, 0.5), backward(g.expand(5, 3, 4), x, 0.5))


def test_torch_func_grad_of_an_activation_and_a_loss():
    x = torch.randn(4, 5, dtype=torch.float64)
    t = torch.tensor([0, 4, 2, 1])
    assert torch.equal(torch.func.grad(lambda v: nt.gelu(v).sum())(x), nt.ops["gelu_backward"](torch.ones_like(x), x, "none"))
    _, expected = numact.cross_entropy_forward_backward(x.numpy(), t.numpy())
    assert np.array_equal(torch.func.grad(lambda v: nt.cross_entropy(v, t))(x).numpy(), expected)
