"""The dtype policy: which float type an operator computes in and returns."""

import numpy as np

NATIVE = (np.dtype(np.float32), np.dtype(np.float64))  # computed as they are


def result_dtype(op_name: str, arg_name: str, dtype) -> np.dtype:
    """The dtype of the result for an input of ``dtype``.

    float32 and float64 are kept; float16 too (computed in float32); integers and bool are
    promoted as NumPy promotes them for ``np.exp``. Anything else is a TypeError.
    """
    dtype = np.dtype(dtype)
    if dtype in NATIVE or dtype == np.float16:
        return dtype
    if dtype.kind in "biu":
        return np.promote_types(dtype, np.float16)
    raise TypeError(
        f"numact.{op_name}: {arg_name} has dtype {dtype}, which numact does not compute with; "
        "expected float16, float32, float64, an integer or bool dtype"
    )


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the kernels run in for a result of ``dtype``: float16 runs in float32."""
    return dtype if dtype in NATIVE else np.dtype(np.float32)
