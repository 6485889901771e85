"""numact's direct launch of compiled kernels (numact._launch), which CI cannot run (it needs a
GPU), checked against numba's own launch, which it replaces: for every kind of argument numact
launches with, the same values packed and handed to the same ``cuda.core.launch``, and a
packer for every argument type of every kernel numact launches. The device arrays here stand
over made-up addresses (no GPU): packing reads them, nothing dereferences them."""

import ctypes
import types as module_types

import numpy as np
import pytest

pytestmark = pytest.mark.cpu_only


def _numba():
    """(DeviceNDArray, _Kernel, Purpose, typeof): numba-cuda's real ones, imported in the CPU
    process only (the simulator's process has its own stand-ins)."""
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    from numba.cuda.dispatcher import _Kernel
    from numba.cuda.typing.typeof import Purpose, typeof

    return DeviceNDArray, _Kernel, Purpose, typeof


class _Memory:
    """Device memory at a made-up address."""

    def __init__(self, address):
        self.device_ctypes_pointer = ctypes.c_void_p(address)


def device(shape, strides, dtype, address=1 << 20):
    DeviceNDArray = _numba()[0]
    return DeviceNDArray(shape, strides, np.dtype(dtype), gpu_data=_Memory(address))


def arguments() -> dict:
    return {
        "C-contiguous float32": device((3, 4), (16, 4), np.float32),
        "C-contiguous float64, 3-d": device((2, 3, 4), (96, 32, 8), np.float64, 4096),
        "strided (a column slice)": device((3, 2), (16, 8), np.float32),
        "transposed": device((4, 3), (4, 16), np.float32),
        "negative stride": device((5,), (-8,), np.float64, 1 << 21),
        "broadcast (stride 0)": device((3, 4), (0, 4), np.float32),
        "0-d": device((), (), np.float64, 64),
        "int64 targets": device((7,), (8,), np.int64),
        "bool": device((7,), (1,), np.bool_),
        "float16": device((2, 2), (4, 2), np.float16),
        "int": 3,
        "negative int (ignore_index)": -100,
        "float": 2.5,
        "bool scalar": True,
        "NumPy float32": np.float32(1.5),
        "NumPy float64": np.float64(0.25),
        "NumPy int64": np.int64(5),
        "no parameters": (),
        "float32 parameters": (np.float32(1.0), np.float32(0.5)),
        "float64 parameters": (1.0, 2.0, 3.0),
        "mixed parameters": (-100, 0.1, 0.0),
        "a weight with its channels and inner length": (device((5,), (4,), np.float32), 5, 1),
    }


def numbas_packing(value) -> list:
    """What numba's launch passes for ``value`` (its _Kernel._prepare_args, on a stand-in kernel)."""
    _, _Kernel, Purpose, typeof = _numba()
    stand_in = module_types.SimpleNamespace(extensions=[])
    stand_in._prepare_args = lambda *a: _Kernel._prepare_args(stand_in, *a)
    values: list = []
    stand_in._prepare_args(typeof(value, Purpose.argument), value, 0, [], values)
    return values


def comparable(values: list) -> list:
    """ctypes values as (their type, their value); others as they are."""
    return [(type(v), v.value) if isinstance(v, ctypes._SimpleCData) else (type(v), v) for v in values]


NAMES = ["C-contiguous float32", "C-contiguous float64, 3-d", "strided (a column slice)", "transposed",
         "negative stride", "broadcast (stride 0)", "0-d", "int64 targets", "bool", "float16", "int",
         "negative int (ignore_index)", "float", "bool scalar", "NumPy float32", "NumPy float64", "NumPy int64",
         "no parameters", "float32 parameters", "float64 parameters", "mixed parameters",
         "a weight with its channels and inner length"]


def test_the_names_are_the_arguments():
    assert list(arguments()) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_an_argument_is_packed_as_numba_packs_it(name):
    from numact import _launch

    _, _, Purpose, typeof = _numba()
    value = arguments()[name]
    ours: list = []
    _launch.packer(typeof(value, Purpose.argument))(value, ours)
    assert comparable(ours) == comparable(numbas_packing(value))


def test_the_kind_of_an_argument_decides_its_numba_type():
    """Arguments of one kind are typed alike by numba, so that the compiled version found by
    kind is the one numba's dispatcher would choose."""
    from numact import _launch

    _, _, Purpose, typeof = _numba()
    made = arguments()
    types_by_kind: dict = {}
    for value in made.values():
        types_by_kind.setdefault(_launch.kind(value), set()).add(typeof(value, Purpose.argument))
    assert all(len(found) == 1 for found in types_by_kind.values()), types_by_kind
    assert _launch.kind(made["C-contiguous float32"]) != _launch.kind(made["strided (a column slice)"])


class _StandInKernel:
    """What numba's dispatcher compiles, as far as a launch reads it."""

    debug = False
    cooperative = False
    launch_config_sensitive = False
    extensions: list = []

    def __init__(self, argument_types):
        self.argument_types = argument_types
        function = module_types.SimpleNamespace(kernel="the compiled kernel's handle")
        self._codelibrary = module_types.SimpleNamespace(get_cufunc=lambda: function)

    def _prepare_args(self, *a):
        return _numba()[1]._prepare_args(self, *a)


class _StandInDispatcher:
    def __init__(self, **kernel_flags):
        self.compiled, self.launched, self.kernel_flags = [], [], kernel_flags

    def compile(self, argtypes):
        self.compiled.append(argtypes)
        kernel = _StandInKernel(argtypes)
        kernel.__dict__.update(self.kernel_flags)
        return kernel

    def __getitem__(self, configuration):
        """numba's own launch: dispatcher[blocks, threads, stream](*args)."""
        return lambda *args: self.launched.append((configuration, args))


def test_a_direct_launch_hands_cuda_core_what_numbas_launch_hands_it(monkeypatch):
    import cuda.core
    import numba.cuda.dispatcher

    from numact import _launch

    _, _Kernel, Purpose, typeof = _numba()
    made = arguments()
    seen = {"numba": [], "numact": []}
    monkeypatch.setattr(numba.cuda.dispatcher, "launch", lambda *a: seen["numba"].append(a))
    monkeypatch.setattr(cuda.core, "launch", lambda *a: seen["numact"].append(a))
    stream = "the call's cuda.core stream"
    dispatcher = _StandInDispatcher()
    calls = [
        (made["C-contiguous float32"], made["strided (a column slice)"], made["float32 parameters"]),
        (made["C-contiguous float32"], made["strided (a column slice)"], made["float32 parameters"]),
        (made["C-contiguous float64, 3-d"], made["0-d"], 7, made["mixed parameters"], made["int64 targets"]),
    ]
    launcher = _launch.Direct(dispatcher)
    for blocks, args in zip((1, 4096, 33), calls):
        _Kernel.launch(_StandInKernel(tuple(typeof(a, Purpose.argument) for a in args)), args, blocks, 256, stream)
        launcher.launch(blocks, 256, stream, 0, args)
    assert len(dispatcher.compiled) == 2  # a version per kind of arguments, compiled once
    assert len(seen["numact"]) == len(seen["numba"]) == 3
    for ours, numbas in zip(seen["numact"], seen["numba"]):
        assert ours[0] == numbas[0] == stream
        assert (ours[1].grid, ours[1].block, ours[1].shmem_size) == (numbas[1].grid, numbas[1].block, numbas[1].shmem_size)
        assert ours[1].is_cooperative == numbas[1].is_cooperative is False
        assert ours[2] == numbas[2]
        assert comparable(list(ours[3:])) == comparable(list(numbas[3:]))


def test_every_kernel_numact_launches_has_its_arguments_packed_by_numacts_launch():
    """No kernel falls back to numba's dispatcher on a GPU: every argument type of every kernel
    (tests/cuda_kernels.py, the CUDA build check's list) has a packer."""
    import cuda_kernels

    from numact import _launch

    kernels = list(cuda_kernels.every_kernel())
    assert len(kernels) > 150
    for op, dtype, name, _kernel, signature in kernels:
        for ty in signature:
            _launch.packer(ty)  # raises Unsupported where it has none


@pytest.mark.parametrize("flag", ["debug", "cooperative", "launch_config_sensitive"])
def test_a_kernel_numbas_launch_must_take_goes_through_numbas_dispatcher(flag, monkeypatch):
    import cuda.core

    from numact import _launch

    direct_launches = []
    monkeypatch.setattr(cuda.core, "launch", lambda *a: direct_launches.append(a))
    dispatcher = _StandInDispatcher(**{flag: True})
    args = (arguments()["C-contiguous float32"], 2.5)
    _launch.Direct(dispatcher).launch(3, 256, "cuda.core's stream", "numba's stream", args)
    assert not direct_launches and dispatcher.launched == [((3, 256, "numba's stream"), args)]



def test_the_launch_cost_script_runs(capsys):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu" / "launch_cost.py"
    spec = importlib.util.spec_from_file_location("launch_cost", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--repeat", "1"]) == 0
    report = capsys.readouterr().out
    assert "| element-wise (out, x, 2 parameters) |" in report and "| loss (13 arguments) |" in report
