"""Tensors to numact's arrays and back, sharing memory both ways.

A CPU tensor reaches numact as a NumPy view of its storage (``Tensor.numpy``), a CUDA tensor
through ``__cuda_array_interface__``; numact's result, fresh C-contiguous memory, comes back
as a tensor over that same memory (``torch.from_numpy``, ``torch.as_tensor``). bfloat16, which
NumPy lacks, is computed in float32 and the result rounded to bfloat16, as numact treats
float16.
"""

from __future__ import annotations

import numpy as np
import torch

from .._dtypes import result_dtype

_NUMPY = {
    torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64,
    torch.bool: np.bool_, torch.uint8: np.uint8, torch.int8: np.int8, torch.int16: np.int16,
    torch.int32: np.int32, torch.int64: np.int64,
}
_TORCH = {np.dtype(v): k for k, v in _NUMPY.items()}


def to_array(t: torch.Tensor | None, name: str = "numact"):
    """``t`` as numact takes it, on the same memory (bfloat16: a float32 copy)."""
    if t is None:
        return None
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    if t.device.type == "cpu":
        return t.resolve_conj().resolve_neg().numpy()
    if t.device.type == "cuda":
        return t  # numact reads __cuda_array_interface__ itself
    raise TypeError(f"{name}: tensors on {t.device} are not supported; numact runs on the CPU and CUDA")


def to_tensor(a, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """numact's result ``a`` as a tensor of ``dtype`` on ``like``'s device, on the same memory."""
    if isinstance(a, np.ndarray):
        t = torch.from_numpy(a)
    else:
        t = torch.as_tensor(a, device=like.device)
    return t if t.dtype == dtype else t.to(dtype)


def result_type(name: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype numact returns for a tensor of ``dtype`` (bfloat16 stays bfloat16)."""
    if dtype == torch.bfloat16:
        return dtype
    if dtype not in _NUMPY:
        raise TypeError(f"numact.torch.{name}: tensors of {dtype} are not supported")
    return _TORCH[result_dtype(name, "input", _NUMPY[dtype])]


def promote(name: str, *dtypes: torch.dtype) -> torch.dtype:
    """The result dtype of several inputs: numact's promotion, with bfloat16 kept where every
    input is bfloat16."""
    results = [result_type(name, d) for d in dtypes]
    if all(d == torch.bfloat16 for d in results):
        return torch.bfloat16
    return _TORCH[np.result_type(*(np.float32 if d == torch.bfloat16 else _NUMPY[d] for d in results))]
