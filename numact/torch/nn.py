"""torch.nn modules for every numact operator, with torch.nn's names and constructor arguments,
and ``swap``, which puts them in place of a model's torch.nn modules.

``GELU(approximate='tanh')``, ``ELU(alpha)``, ``Softmax(dim)``, ``PReLU(num_parameters, init)``,
``CrossEntropyLoss(weight, ignore_index=..., reduction=..., label_smoothing=...)``, …: each
takes exactly the arguments of the torch.nn module of the same name (its signature is that
module's) and computes with numact's kernels. Two operators have no torch.nn module: numact's
``linear`` is ``Scale(c)`` and ``sine`` is ``Sine(w0)``.

``inplace=True`` is accepted and computes out of place (the result is the same; the input is
left as it was). The legacy ``size_average`` and ``reduce`` arguments map to ``reduction`` as
torch maps them.
"""

from __future__ import annotations

import inspect

import torch

from .. import torch as _functions
from ..operators import ACTIVATIONS, LOSSES, REQUIRED, Activation, Loss

# numact's operator → the torch.nn module it stands in for (None: a module of numact's own).
TORCH_NAMES = {
    "linear": "Scale", "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "leaky_relu": "LeakyReLU",
    "prelu": "PReLU", "softplus": "Softplus", "elu": "ELU", "celu": "CELU", "selu": "SELU",
    "gelu": "GELU", "relu6": "ReLU6", "hardtanh": "Hardtanh", "hardsigmoid": "Hardsigmoid",
    "threshold": "Threshold", "logsigmoid": "LogSigmoid", "softmin": "Softmin", "softmax": "Softmax",
    "log_softmax": "LogSoftmax", "sine": "Sine",
    "mse_loss": "MSELoss", "l1_loss": "L1Loss", "smooth_l1_loss": "SmoothL1Loss", "huber_loss": "HuberLoss",
    "nll_loss": "NLLLoss", "cross_entropy": "CrossEntropyLoss", "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss", "kl_div": "KLDivLoss",
    "margin_ranking_loss": "MarginRankingLoss", "triplet_margin_loss": "TripletMarginLoss",
    "cosine_embedding_loss": "CosineEmbeddingLoss",
}


def _own_signature(op: Activation) -> inspect.Signature:
    """The constructor of a module torch.nn lacks: the operator's parameters."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=inspect.Parameter.empty if p.default is REQUIRED else p.default)
        for p in op.params
    ]
    return inspect.Signature(params)


class _Module(torch.nn.Module):
    """What every numact module shares: the torch.nn constructor's arguments bound and kept as
    attributes of the same names."""

    op: Activation | Loss
    keep: tuple[str, ...] = ()  # the attributes forward passes on, as keywords
    _signature: inspect.Signature

    def __init__(self, *args, **kwargs):
        super().__init__()
        bound = self._signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        if arguments.get("size_average") is not None or arguments.get("reduce") is not None:
            from torch.nn import _reduction

            arguments["reduction"] = _reduction.legacy_get_string(arguments["size_average"], arguments["reduce"])
        for legacy, name in (("min_value", "min_val"), ("max_value", "max_val")):  # Hardtanh's old names
            if arguments.get(legacy) is not None:
                arguments[name] = arguments[legacy]
        self.inplace = bool(arguments.get("inplace", False))
        self._setup(arguments)

    def _setup(self, arguments):
        for name in self.keep:
            setattr(self, name, arguments[name])

    @classmethod
    def from_torch(cls, module: torch.nn.Module) -> _Module:
        """This module in place of torch.nn's ``module``: the same parameters (PReLU: the same
        ``nn.Parameter``, so an optimizer holding it still trains it), the same mode."""
        new = cls(**{name: getattr(module, name) for name in cls.keep})
        new.train(module.training)
        return new

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in self.keep if not isinstance(getattr(self, name), torch.Tensor))


def _activation_module(op: Activation, name: str, base) -> type:
    function = getattr(_functions, op.name)
    if op.kind == "rowwise":
        keep = ("dim",)

        def forward(self, x):
            return function(x, self.dim)
    elif op.kind == "channelwise":
        return PReLU
    else:
        keep = tuple(p.name for p in op.params)

        def forward(self, x):
            return function(x, *(getattr(self, k) for k in keep))

    doc = (f"numact's {op.name} as a module{f' in place of torch.nn.{name}' if base else ''}: {op.summary}\n\n"
           f"y = {op.formula}. Computed by numact.torch.{op.name}; autograd keeps x (no copy).")
    return type(name, (_Module,), {
        "op": op, "keep": keep, "forward": forward, "__doc__": doc, "__module__": __name__,
        "_signature": inspect.signature(base.__init__) if base else _own_signature(op),
    })


class PReLU(_Module):
    """numact's prelu as a module in place of torch.nn.PReLU: x if x ≥ 0 else weight·x, with
    ``weight`` an ``nn.Parameter`` of ``num_parameters`` values (1, or one per channel, axis 1)
    initialised to ``init``. Autograd keeps x and the weight (no copies)."""

    op = next(op for op in ACTIVATIONS if op.kind == "channelwise")
    _signature = inspect.signature(torch.nn.PReLU.__init__)

    def _setup(self, arguments):
        self.num_parameters = arguments["num_parameters"]
        self.init = arguments["init"]
        self.weight = torch.nn.Parameter(torch.empty(self.num_parameters, device=arguments["device"],
                                                     dtype=arguments["dtype"]).fill_(self.init))

    def forward(self, x):
        return _functions.prelu(x, self.weight)

    @classmethod
    def from_torch(cls, module):
        new = cls(module.num_parameters, dtype=module.weight.dtype, device=module.weight.device)
        new.weight = module.weight
        new.train(module.training)
        return new

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


def _loss_module(op: Loss, name: str, base) -> type:
    function = getattr(_functions, op.name)
    keep = tuple(p.name for p in op.params) + ("reduction",)

    def setup(self, arguments):
        for weight in op.weights:
            self.register_buffer(weight, arguments[weight])
        for k in keep:
            setattr(self, k, arguments[k])

    def forward(self, *tensors):
        return function(*tensors, **{w: getattr(self, w) for w in op.weights}, **{k: getattr(self, k) for k in keep})

    def from_torch(cls, module):
        new = cls(**{k: getattr(module, k) for k in keep + op.weights})
        new.train(module.training)
        return new

    doc = (f"numact's {op.name} as a module in place of torch.nn.{name}: {op.summary}\n\n"
           f"loss = {op.formula}, reduced by ``reduction``. Called with ({', '.join(op.arrays)}).\n\n"
           "In memory for the backward: with a reduced loss, the gradient of each input that requires "
           "grad, computed by the forward's single fused pass (the size of that input; the backward "
           "only scales it by grad_output); with reduction='none', references to the tensors.")
    return type(name, (_Module,), {
        "op": op, "keep": keep, "forward": forward, "_setup": setup, "__doc__": doc, "__module__": __name__,
        "from_torch": classmethod(from_torch), "_signature": inspect.signature(base.__init__),
    })


def _build() -> dict[str, type]:
    modules = {}
    for op in ACTIVATIONS + LOSSES:
        name = TORCH_NAMES[op.name]
        base = getattr(torch.nn, name, None)
        make = _activation_module if isinstance(op, Activation) else _loss_module
        modules[name] = make(op, name, base)
    return modules


MODULES = _build()
globals().update(MODULES)

# torch.nn's module classes → numact's; exact types only (ReLU6 is a subclass of Hardtanh).
REPLACES = {getattr(torch.nn, name): cls for name, cls in MODULES.items() if hasattr(torch.nn, name)}


def swap(model: torch.nn.Module) -> int:
    """Replace, in place, every torch.nn activation and loss module inside ``model`` by numact's
    module of the same name and arguments; returns how many were replaced.

    Only submodules are replaced (a model that is itself, say, a ``torch.nn.GELU`` is left as
    it is: wrap it, or build ``numact.torch.nn.GELU`` directly). PReLU keeps its
    ``nn.Parameter``, so an optimizer made before the swap still trains it.
    """
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            cls = REPLACES.get(type(child))
            if cls is not None:
                setattr(parent, name, cls.from_torch(child))
                replaced += 1
    return replaced


__all__ = sorted(MODULES) + ["MODULES", "REPLACES", "TORCH_NAMES", "swap"]  # noqa: PLE0605 - built from the table
