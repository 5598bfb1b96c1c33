"""Where TensorRT or a GPU is missing, the compile stage and the TensorRT backend refuse clearly, never crash.

These run on every machine. "TensorRT present but no GPU" and "wrong GPU" are simulated by monkeypatching, with a
fake `tensorrt` module whose builder and runtime fail the test if anything reaches them.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from rerankrt import _device
from rerankrt._optional import MissingDependencyError, available
from rerankrt.build import compile as comp
from rerankrt.build.compile import (
    CompileError,
    CompileOptions,
    Profile,
    TensorRTUnavailable,
    engine_from_onnx,
    tensorrt_status,
)
from rerankrt.runtime import cuda
from rerankrt.runtime.backends.base import BackendError
from rerankrt.runtime.backends.tensorrt import TensorRTBackend

HAS_GPU = cuda.cuda_available()
needs_no_gpu = pytest.mark.skipif(HAS_GPU, reason="a CUDA device is present; this checks the no-GPU path")
LIMITS = {"max_batch_size": 4, "max_seq_len": 64, "max_num_tokens": 256}


def _options(**over) -> CompileOptions:
    kw = {"precision": "fp8", "profiles": (Profile(min=(1, 1), opt=(4, 128), max=(8, 512)),)}
    kw.update(over)
    return CompileOptions(**kw)


def _fake_tensorrt(version: str = "10.9.0") -> types.ModuleType:
    """A stand-in for an installed TensorRT whose every entry point fails the test when used."""

    def forbidden(*args, **kwargs):
        raise AssertionError("TensorRT was used although the build or backend should have refused first")

    fake = types.ModuleType("tensorrt")
    fake.__version__ = version
    fake.Builder = fake.OnnxParser = fake.Runtime = fake.Logger = forbidden
    return fake


@pytest.fixture
def tensorrt_present(monkeypatch):
    fake = _fake_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(_device, "_import_tensorrt", lambda: fake)
    return fake


@pytest.fixture
def tensorrt_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    monkeypatch.setattr(_device, "_import_tensorrt", lambda: None)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(cuda, "cuda_status", lambda device=0: (False, "no CUDA device: simulated"))


# --- tensorrt_status and engine_from_onnx --------------------------------------------------------------------------


def test_status_on_this_machine_is_consistent():
    ok, message = tensorrt_status()
    if not (available("tensorrt") and HAS_GPU):
        assert not ok
        assert "tensorrt" in message.lower() or "gpu" in message.lower()
        assert "pip install 'rerankrt[gpu]'" in message


def test_status_names_every_missing_piece(tensorrt_absent, no_gpu):
    ok, message = tensorrt_status()
    assert not ok
    assert "'tensorrt' Python package is not installed" in message
    assert "no usable CUDA GPU" in message
    assert "pip install 'rerankrt[gpu]'" in message
    assert "https://pypi.nvidia.com" in message


def test_status_with_tensorrt_but_no_gpu(tensorrt_present, no_gpu):
    ok, message = tensorrt_status()
    assert not ok
    assert "not installed" not in message
    assert "no usable CUDA GPU" in message


def test_status_refuses_old_or_lean_tensorrt(monkeypatch, no_gpu):
    monkeypatch.setattr(_device, "_import_tensorrt", lambda: _fake_tensorrt("8.6.1"))
    assert "TensorRT 10 or newer" in tensorrt_status()[1]
    lean = types.ModuleType("tensorrt")
    lean.__version__ = "10.9.0"
    monkeypatch.setattr(_device, "_import_tensorrt", lambda: lean)
    assert "no builder or ONNX parser" in tensorrt_status()[1]


def test_engine_from_onnx_refuses_before_touching_the_onnx(tmp_path, tensorrt_absent, no_gpu):
    engine = tmp_path / "out" / "engine.plan"
    with pytest.raises(TensorRTUnavailable) as info:
        engine_from_onnx(tmp_path / "does-not-exist.onnx", engine, _options())
    assert str(info.value) == tensorrt_status()[1]
    assert "tensorrt" in str(info.value)
    assert not engine.parent.exists()


@needs_no_gpu
def test_engine_from_onnx_refuses_on_this_machine(tmp_path):
    with pytest.raises(TensorRTUnavailable, match="pip install 'rerankrt\\[gpu\\]'"):
        engine_from_onnx(tmp_path / "missing.onnx", tmp_path / "engine.plan", _options())


def test_engine_from_onnx_with_tensorrt_but_no_gpu(tmp_path, tensorrt_present, no_gpu):
    with pytest.raises(TensorRTUnavailable, match="no usable CUDA GPU"):
        engine_from_onnx(tmp_path / "missing.onnx", tmp_path / "engine.plan", _options())


def test_engine_from_onnx_refuses_another_gpu(tmp_path, monkeypatch, tensorrt_present):
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"not parsed: the GPU check comes first")
    monkeypatch.setattr(cuda, "cuda_status", lambda device=0: (True, "1 CUDA device(s)"))
    monkeypatch.setattr(cuda, "device_name", lambda device=0: "NVIDIA A100-SXM4-80GB")
    monkeypatch.setattr(comp, "compute_capability", lambda device=0: (8, 0))
    monkeypatch.setattr(comp, "device_name", lambda device=0: "NVIDIA A100-SXM4-80GB")
    with pytest.raises(CompileError, match=r"compute capability \(9, 0\).*A100.*\(8, 0\)"):
        engine_from_onnx(onnx_path, tmp_path / "engine.plan", _options(compute_capability=(9, 0)), log=lambda _: None)
    with pytest.raises(CompileError, match=r"fp8 needs compute capability >= \(8, 9\)"):
        engine_from_onnx(onnx_path, tmp_path / "engine.plan", _options(), log=lambda _: None)


def test_precision_check_explains_strong_typing():
    assert comp._precision_problem({"fp8"}, "fp8") is None
    assert comp._precision_problem({"fp8", "fp16"}, "fp8") is None
    assert comp._precision_problem({"bf16"}, "bf16") is None
    assert comp._precision_problem(set(), "fp32") is None
    problem = comp._precision_problem(set(), "bf16")
    assert "modelopt.onnx.autocast" in problem and "--low_precision_type bf16" in problem
    assert "only float32 tensors" in comp._precision_problem(set(), "fp8")
    assert "fp8" in comp._precision_problem({"fp8"}, "fp32")


# --- CompileOptions and Profile validation -------------------------------------------------------------------------


def test_options_accept_yaml_shaped_values(tmp_path):
    options = CompileOptions(
        precision="bf16",
        profiles=({"min": [1, 1], "opt": [8, 256], "max": [32, 1024]},),
        timing_cache=str(tmp_path / "timing.cache"),
        compute_capability=[9, 0],
    )
    assert options.profiles[0] == Profile(min=(1, 1), opt=(8, 256), max=(32, 1024))
    assert options.compute_capability == (9, 0)
    assert options.timing_cache == tmp_path / "timing.cache"
    profile = options.profiles[0]  # (32, 1024) is inside the profile, (33, 16) is not
    assert profile.min <= (32, 1024) <= profile.max and not profile.min[0] <= 33 <= profile.max[0]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"precision": "int8"}, "precision"),
        ({"profiles": ()}, "profiles"),
        ({"builder_optimization_level": 7}, "builder_optimization_level"),
        ({"builder_optimization_level": -1}, "builder_optimization_level"),
        ({"workspace_bytes": 0}, "workspace_bytes"),
        ({"compute_capability": (8, 0)}, "compute_capability"),  # fp8 on an A100
        ({"compute_capability": "nine"}, "compute_capability"),
    ],
)
def test_options_errors_name_the_field(over, field):
    with pytest.raises(ValueError, match=field):
        _options(**over)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"min": (4, 64), "opt": (2, 64), "max": (8, 128)}, ("min", "opt", "batch")),
        ({"min": (1, 256), "opt": (1, 128), "max": (1, 512)}, ("min", "opt", "seq")),
        ({"min": (0, 1), "opt": (1, 1), "max": (1, 1)}, ("Profile.min", "positive")),
        ({"min": (1,), "opt": (1, 1), "max": (1, 1)}, ("Profile.min", "pair")),
    ],
)
def test_profile_errors_say_what_is_wrong(kw, words):
    with pytest.raises(ValueError) as info:
        Profile(**kw)
    for word in words:
        assert word in str(info.value)


# --- the TensorRT backend -------------------------------------------------------------------------------------------


def test_backend_without_tensorrt_names_the_extra(tmp_path, tensorrt_absent):
    with pytest.raises(MissingDependencyError, match=r"pip install 'rerankrt\[gpu\]'"):
        TensorRTBackend(tmp_path / "engine.plan", **LIMITS)


def test_backend_with_tensorrt_but_no_gpu_refuses_before_the_runtime(tmp_path, tensorrt_present, no_gpu):
    plan = tmp_path / "engine.plan"
    plan.write_bytes(b"never deserialized")
    with pytest.raises(BackendError, match="needs a CUDA GPU: no CUDA device"):
        TensorRTBackend(plan, **LIMITS)


@needs_no_gpu
def test_backend_with_tensorrt_on_this_machine_refuses(tmp_path, tensorrt_present):
    pytest.importorskip("cuda.bindings.runtime")
    with pytest.raises(BackendError, match="no CUDA device"):
        TensorRTBackend(tmp_path / "engine.plan", **LIMITS)


# --- the CUDA layer without a driver -------------------------------------------------------------------------------


@needs_no_gpu
def test_cuda_layer_reports_no_device():
    assert cuda.cuda_available() is False
    ok, why = cuda.cuda_status()
    assert not ok and why
    for call in (cuda.compute_capability, cuda.device_name, cuda.Stream, lambda: cuda.DeviceBuffer(16)):
        with pytest.raises(cuda.CudaError, match="no CUDA device"):
            call()
    with pytest.raises(cuda.CudaError, match="no CUDA device"):
        cuda.PinnedBuffer((4,), np.int64)


def test_check_unwraps_cudart_tuples():
    rt = pytest.importorskip("cuda.bindings.runtime")
    ok = rt.cudaError_t.cudaSuccess
    assert cuda.check((ok,)) is None
    assert cuda.check((ok, 7)) == 7
    assert cuda.check((ok, 1, 2)) == (1, 2)
    with pytest.raises(cuda.CudaError, match="cudaMalloc failed with cudaErrorMemoryAllocation") as info:
        cuda.check((rt.cudaError_t.cudaErrorMemoryAllocation, None), "cudaMalloc")
    assert info.value.name == "cudaErrorMemoryAllocation" and info.value.code == 2
    with pytest.raises(cuda.CudaError, match="^no CUDA device: "):
        cuda.check((rt.cudaError_t.cudaErrorNoDevice, 0), "cudaGetDeviceCount")
