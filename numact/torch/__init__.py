"""numact inside PyTorch: every operator as a torch operator with autograd, nn modules, swap.

    >>> import torch, numact.torch
    >>> x = torch.randn(4, 3, requires_grad=True)
    >>> numact.torch.gelu(x).sum().backward()
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.GELU(), torch.nn.Linear(8, 2))
    >>> numact.torch.swap(model)
    1

``numact.torch.<name>`` for every activation and loss of ``numact.operators``: activations
take ``(x, params…)`` (the softmax family ``dim``, PReLU ``weight``), losses their tensors and
numact's keywords. Each calls ``torch.ops.numact.<name>``, an operator registered with
``torch.library.custom_op``, with autograd and a fake implementation, so ``torch.compile``
(``fullgraph=True``) and ``torch.func.grad`` see one op. CPU tensors reach numact's kernels as
NumPy views of their memory, CUDA tensors through ``__cuda_array_interface__``; results are
tensors on the memory numact wrote.

``numact.torch.nn`` holds a module for every operator, with torch.nn's names and constructor
arguments; ``numact.torch.swap(model)`` puts them in place of a model's torch.nn modules.

Importing this module imports torch; ``import numact`` does not.
"""

from ._ops import build as _build

_functions, ops = _build()
globals().update(_functions)

from . import nn
from .nn import swap

__all__ = sorted(_functions) + ["nn", "ops", "swap"]  # noqa: PLE0605 - built from the table
