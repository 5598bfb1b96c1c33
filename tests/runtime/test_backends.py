"""Backend construction: options as dataclasses, limits under the engine's, refusals before TensorRT loads, and
the one attention mask every backend feeds."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from rerankrt.manifest import ManifestError, read_manifest
from rerankrt.runtime import backends as backends_mod
from rerankrt.runtime.backends import BackendUnavailableError, check_engine_fits, load_backend
from rerankrt.runtime.backends.base import BackendLimits, attention_mask
from rerankrt.runtime.backends.options import (
    LIMIT_NAMES,
    OPTION_NAMES,
    LimitOptions,
    OnnxOptions,
    TensorRTOptions,
    TorchOptions,
    options_from,
)
from tests.fakes import ENGINE_LIMITS as LIMITS
from tests.fakes import write_fake_trt_dir


def test_engine_that_does_not_fit_this_gpu_is_refused(tmp_path, monkeypatch):
    """TensorRT and a GPU are simulated; a version or compute capability mismatch is refused before loading."""
    from rerankrt.runtime import cuda

    manifest = read_manifest(write_fake_trt_dir(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.9.0.34"))
    monkeypatch.setattr(backends_mod, "available", lambda name: True)
    monkeypatch.setattr(cuda, "cuda_status", lambda device=0: (True, "1 CUDA device(s)"))
    monkeypatch.setattr(cuda, "compute_capability", lambda device=0: (8, 9))
    monkeypatch.setattr(cuda, "device_name", lambda device=0: "NVIDIA L4")
    with pytest.raises(ManifestError, match=r"compute capability 9\.0 .* is 8\.9"):
        check_engine_fits(manifest)
    monkeypatch.setattr(cuda, "compute_capability", lambda device=0: (9, 0))
    check_engine_fits(manifest)  # fits
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.13.0"))
    with pytest.raises(ManifestError, match=r"TensorRT 10\.9\.0\.34 .* TensorRT 10\.13\.0"):
        check_engine_fits(manifest)
    monkeypatch.setattr(cuda, "cuda_status", lambda device=0: (False, "no CUDA device: cudaErrorNoDevice"))
    with pytest.raises(BackendUnavailableError, match="no usable CUDA GPU"):
        check_engine_fits(manifest)


def test_load_backend_refuses_bad_names_options_and_limits(torch_engine):
    manifest = read_manifest(torch_engine)
    with pytest.raises(ValueError, match="backend must be one of"):
        load_backend(manifest, "jax")
    with pytest.raises(TypeError, match="unknown option"):
        load_backend(manifest, nonsense=1)  # (`device` is a torch option now)
    with pytest.raises(ValueError, match="max_num_tokens"):
        load_backend(manifest, max_num_tokens=LIMITS["max_num_tokens"] + 1)
    assert load_backend(manifest, max_batch_size=2).limits.max_batch_size == 2


def test_load_backend_routes_options_into_the_backends_dataclass(torch_engine):
    assert load_backend(read_manifest(torch_engine), threads=1, max_seq_len=128).limits.max_seq_len == 128
    limits, options = options_from("onnxruntime", {"threads": 2, "artifact": "onnx_int8", "max_batch_size": 4})
    assert limits == LimitOptions(max_batch_size=4) and options == OnnxOptions(threads=2, artifact="onnx_int8")
    assert options_from("tensorrt", {}) == (LimitOptions(), TensorRTOptions(device=0))
    with pytest.raises(TypeError, match=r"\['artifact'\] for the torch backend; it takes \[.*'model_dir'"):
        options_from("torch", {"artifact": "onnx"})
    assert {"threads", "artifact", "device", "model_dir"} == OPTION_NAMES
    assert {"max_batch_size", "max_seq_len", "max_num_tokens"} == LIMIT_NAMES


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: LimitOptions(max_batch_size=0), "LimitOptions.max_batch_size"),
        (lambda: LimitOptions(max_num_tokens=True), "LimitOptions.max_num_tokens"),
        (lambda: OnnxOptions(threads=-1), "OnnxOptions.threads"),
        (lambda: OnnxOptions(artifact=""), "OnnxOptions.artifact"),
        (lambda: TorchOptions(model_dir=3), "TorchOptions.model_dir"),
        (lambda: TensorRTOptions(device=-1), "TensorRTOptions.device"),
    ],
)
def test_backend_options_are_validated_where_they_are_defined(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_limits_stay_within_the_engines():
    engine = BackendLimits(max_batch_size=8, max_seq_len=256, max_num_tokens=1024)
    assert LimitOptions().within(engine) == engine
    assert LimitOptions(max_seq_len=64).within(engine) == BackendLimits(
        max_batch_size=8, max_seq_len=64, max_num_tokens=1024
    )
    with pytest.raises(ValueError, match=r"max_batch_size=9 must lie in \[1, 8\]"):
        LimitOptions(max_batch_size=9).within(engine)


def test_attention_mask_marks_each_rows_real_tokens():
    mask = attention_mask(np.array([1, 3, 2]), 4)
    assert mask.dtype == np.int64
    np.testing.assert_array_equal(mask, [[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]])


@pytest.mark.skipif(backends_mod.available("tensorrt"), reason="TensorRT is installed here")
def test_tensorrt_engine_without_tensorrt_is_refused_by_load_backend(tmp_path):
    with pytest.raises(BackendUnavailableError, match="'tensorrt' package is not installed"):
        load_backend(read_manifest(write_fake_trt_dir(tmp_path)))
