"""On a GPU with TensorRT: build an FP8 engine directory from the tiny model and check TensorRT against onnxruntime.

``--gpu auto`` reads this GPU's compute capability and picks its config (h100 on sm90, l4 on sm89); on a GPU
without FP8 the build must refuse with exit 2. Profiles are shrunk for test speed; everything else is the config's.
"""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt._optional import available
from rerankrt.runtime import cuda

if not (available("tensorrt") and cuda.cuda_available()):
    pytest.skip("needs TensorRT 10+ and a CUDA device", allow_module_level=True)

from rerankrt.build import pipeline  # noqa: E402
from rerankrt.build.compile import tensorrt_status  # noqa: E402
from rerankrt.build.config import has_fp8  # noqa: E402
from rerankrt.calibration.dataset import load_pairs  # noqa: E402
from rerankrt.manifest import read_manifest  # noqa: E402
from rerankrt.prompt import PromptEncoder  # noqa: E402
from rerankrt.runtime.backends.onnx import OnnxBackend  # noqa: E402
from rerankrt.runtime.backends.tensorrt import TensorRTBackend  # noqa: E402
from rerankrt.tokenizer import padded_batch  # noqa: E402
from tests.conftest import TINY_CALIBRATION_PAIRS, TINY_FP8_GATE, TINY_OVERRIDES  # noqa: E402

pytestmark = pytest.mark.gpu
if not tensorrt_status()[0]:
    pytest.skip(f"TensorRT cannot build here: {tensorrt_status()[1]}", allow_module_level=True)

CC = cuda.compute_capability()
SMALL_ENGINE = {
    "max_batch_size": 16,
    "max_seq_len": 1024,
    "max_num_tokens": 4096,
    "workspace_bytes": 2 << 30,
    "builder_optimization_level": 2,
    "min_profile_fill": 0.0,  # two hand-set profiles for a small engine, not the budget-filling ladder
    "profiles": [
        {"min": [1, 1], "opt": [8, 128], "max": [16, 256]},
        {"min": [1, 1], "opt": [2, 512], "max": [4, 1024]},
    ],
}
LIMITS = {k: SMALL_ENGINE[k] for k in ("max_batch_size", "max_seq_len", "max_num_tokens")}


@pytest.fixture(scope="module")
def trt_engine_dir(tiny_classifier_dir, tmp_path_factory):
    if not has_fp8(CC):
        pytest.skip(f"sm{CC[0]}{CC[1]} has no FP8: see test_auto_refuses_fp8_without_fp8")
    out = tmp_path_factory.mktemp("trt") / "engine"
    result = pipeline.build(
        gpu="auto",
        model=str(tiny_classifier_dir),
        out=out,
        max_calibration_pairs=TINY_CALIBRATION_PAIRS,
        config_overrides={**TINY_OVERRIDES, **SMALL_ENGINE, "gate": TINY_FP8_GATE},
    )
    assert result.exit_code == 0, result.message
    assert result.engine_built
    return out


def test_auto_builds_a_tensorrt_directory(trt_engine_dir):
    manifest = read_manifest(trt_engine_dir)
    assert manifest.backend == "tensorrt"
    assert manifest.artifacts.engine == "engine.plan" and (trt_engine_dir / "engine.plan").stat().st_size > 0
    assert manifest.target.compute_capability == f"{CC[0]}.{CC[1]}"
    assert manifest.target.precision == "fp8" and manifest.target.tensorrt_version
    assert manifest.details["tensorrt"]["tensorrt_version"] == manifest.target.tensorrt_version
    assert manifest.target.gpu == ("h100" if CC >= (9, 0) else "l4")


def test_tensorrt_scores_match_onnxruntime_fp8(trt_engine_dir):
    encoder = PromptEncoder(trt_engine_dir / "tokenizer", template="seed", max_length=512)
    pairs = load_pairs(split="heldout")[:24]
    encoded = encoder.encode([p.query for p in pairs], [p.document for p in pairs], [p.instruction for p in pairs])
    ids, lengths = padded_batch(encoded.ids, encoder.pad_id)
    chunks = [(ids[i : i + 4], lengths[i : i + 4]) for i in range(0, len(ids), 4)]  # 4 x 512: the second profile
    backend = TensorRTBackend(trt_engine_dir / "engine.plan", **LIMITS)
    try:
        trt_scores = np.concatenate([backend.score(*chunk) for chunk in chunks])
    finally:
        backend.close()
    reference = OnnxBackend(trt_engine_dir / "model.onnx", **LIMITS)
    ort_scores = np.concatenate([reference.score(*chunk) for chunk in chunks])
    assert np.isfinite(trt_scores).all()
    # Same Q/DQ semantics; kernels differ in accumulation order and fusion, FP8 rounding can flip at ties.
    assert np.corrcoef(trt_scores, ort_scores)[0, 1] > 0.99
    np.testing.assert_allclose(trt_scores, ort_scores, atol=0.05 + 0.05 * np.abs(ort_scores).max())


def test_auto_refuses_fp8_without_fp8(tiny_classifier_dir, tmp_path):
    if has_fp8(CC):
        pytest.skip("this GPU has FP8")
    result = pipeline.build(gpu="h100", model=str(tiny_classifier_dir), out=tmp_path / "e")
    assert result.exit_code == pipeline.EXIT_CONFIG and "no FP8" in result.message
