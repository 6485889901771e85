"""Launching numact's compiled CUDA kernels without numba's dispatcher (on a GPU; under the
simulator numba's own launch runs).

numba's dispatcher types every argument of every launch (``typeof``), looks up the compiled
version, packs the arguments and builds a launch configuration: about 30 µs before a kernel
runs, measured on an H200, where a whole torch call takes 15. A numact kernel is launched with
few kinds of arguments, so here a compiled version is found by the arguments' *kinds* (an
array's numba type, which numba's device arrays keep; a scalar's Python type; a tuple's
elements' kinds), its arguments are packed by packers made once per version, exactly as numba
packs them (``numba.cuda.dispatcher._Kernel._prepare_args``: tests/test_launch.py compares the
two on every kind of argument numact launches with), and the kernel goes to the same
``cuda.core.launch`` numba calls, with a configuration made once per grid.

An array kernel parameter takes (meminfo, parent, size, itemsize, data, *shape, *strides):
numba's array structure, meminfo and parent 0 for arrays numba did not allocate in the kernel.
"""

import ctypes
from functools import lru_cache

from numba.cuda import types
from numba.cuda.typing.typeof import Purpose, typeof


def kind(value):
    """What chooses the compiled version for ``value``: a numba device array's numba type (kept
    by the array), a tuple's elements' kinds, else the value's Python type (numba types a Python
    float as float64, an int as int64, a NumPy scalar as its dtype)."""
    found = getattr(value, "_numba_type_", None)
    if found is not None:
        return found
    if type(value) is tuple:
        return tuple(map(kind, value))
    return type(value)


class Unsupported(TypeError):
    """An argument type the packers below do not pack: numba's own launch takes the kernel."""


def _pack_array(a, values: list) -> None:
    values += (0, 0, a.size, a.dtype.itemsize, a.device_ctypes_pointer.value)
    values += a.shape
    values += a.strides


def packer(ty):
    """A function ``pack(value, values)`` appending what numba's launch passes for an argument
    of numba type ``ty``."""
    if isinstance(ty, types.Array):
        return _pack_array
    if isinstance(ty, types.BaseTuple):
        inner = [packer(t) for t in ty]

        def pack_tuple(value, values):
            for pack, v in zip(inner, value):
                pack(v, values)

        return pack_tuple
    if isinstance(ty, types.Boolean):
        return lambda value, values: values.append(value)
    if isinstance(ty, types.Integer):
        c_type = getattr(ctypes, f"c_{ty}")
    elif ty == types.float64:
        c_type = ctypes.c_double
    elif ty == types.float32:
        c_type = ctypes.c_float
    else:
        raise Unsupported(f"numact's launch does not pack {ty}")
    return lambda value, values: values.append(c_type(value))


@lru_cache(maxsize=4096)
def _config(blocks: int, threads: int):
    from cuda.core import LaunchConfig

    return LaunchConfig(grid=blocks, block=threads, shmem_size=0)


class Direct:
    """``dispatcher``'s kernels launched directly: ``Direct(dispatcher).launch(blocks, threads,
    core_stream, numba_stream, args)`` on the stream the two name (cuda.core's and numba's
    objects for it). A version numba's own launch must take (one compiled for debugging,
    cooperative, or sensitive to its launch configuration, or one with an argument packed here
    by no packer) goes through the dispatcher, on ``numba_stream``."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self.versions: dict = {}

    def _version(self, args: tuple):
        argtypes = tuple(typeof(a, Purpose.argument) for a in args)
        compiled = self.dispatcher.compile(argtypes)  # numba's disk cache, numact's NVVM options
        if compiled.debug or compiled.cooperative or getattr(compiled, "launch_config_sensitive", False):
            return None
        try:
            return compiled, [packer(t) for t in argtypes]
        except Unsupported:
            return None

    def launch(self, blocks: int, threads: int, core_stream, numba_stream, args: tuple) -> None:
        from cuda.core import launch

        key = tuple(map(kind, args))
        version = self.versions.get(key, False)
        if version is False:
            version = self.versions[key] = self._version(args)
        if version is None:
            self.dispatcher[blocks, threads, numba_stream](*args)
            return
        compiled, packers = version
        values: list = []
        for pack, value in zip(packers, args):
            pack(value, values)
        launch(core_stream, _config(blocks, threads), compiled._codelibrary.get_cufunc().kernel, *values)


def direct(dispatcher) -> Direct:
    """The Direct launcher of ``dispatcher``, made once."""
    found = getattr(dispatcher, "_numact_direct", None)
    if found is None:
        found = dispatcher._numact_direct = Direct(dispatcher)
    return found
