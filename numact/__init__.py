"""numact: fast activation and loss kernels for NumPy arrays (CPU) and CUDA arrays (GPU).

    >>> import numpy as np, numact
    >>> x = np.linspace(-4, 4, 9, dtype=np.float32)
    >>> y = numact.gelu(x)
    >>> dx = numact.gelu_backward(np.ones_like(x), x)

Every operator of ``numact.operators.ACTIVATIONS`` is a function ``numact.<name>(x, ...)`` with
a backward ``numact.<name>_backward(grad_output, x, ...)``. Every loss of
``numact.operators.LOSSES`` has ``numact.<name>(input, target, ...)``, its backward
``numact.<name>_backward(grad_output, input, target, ...)`` and the fused
``numact.<name>_forward_backward(input, target, ...) -> (loss, grad)``:

    >>> logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]], np.float32)
    >>> loss, grad = numact.cross_entropy_forward_backward(logits, np.array([0, 2]))
    >>> print(loss.dtype, grad.shape)
    float32 (2, 3)
"""

from ._public import build as _build
from .operators import ACTIVATIONS, LOSSES, OPERATORS

globals().update(_build())

__all__ = sorted(
    [name for op in ACTIVATIONS for name in (op.name, f"{op.name}_backward")]
    + [name for op in LOSSES for name in (op.name, f"{op.name}_backward", f"{op.name}_forward_backward")]
) + ["ACTIVATIONS", "LOSSES", "OPERATORS"]
__version__ = "0.1.0"
