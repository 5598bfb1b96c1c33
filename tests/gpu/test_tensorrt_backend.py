"""Compile a tiny graph with the reranker's ONNX I/O contract and check the TensorRT backend against onnxruntime.

The graph mean-pools token embeddings under the attention mask and maps them to one score per row, so it exercises
the same inputs (input_ids, attention_mask int64 [batch, seq]) and output (scores float32 [batch]) as the real model,
and padding must not change a score.
"""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt._optional import available
from rerankrt.runtime import cuda

if not (available("tensorrt") and cuda.cuda_available()):
    pytest.skip("needs TensorRT 10+ and a CUDA device", allow_module_level=True)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from rerankrt.build.compile import CompileError, CompileOptions, Profile, engine_from_onnx  # noqa: E402
from rerankrt.runtime.backends.base import BackendError  # noqa: E402
from rerankrt.runtime.backends.tensorrt import TensorRTBackend  # noqa: E402

pytestmark = pytest.mark.gpu

VOCAB, DIM, HIDDEN = 1000, 16, 8
PROFILES = (
    Profile(min=(1, 1), opt=(4, 16), max=(8, 32)),  # many short rows
    Profile(min=(1, 1), opt=(2, 64), max=(2, 128)),  # few long rows
)
LIMITS = {"max_batch_size": 8, "max_seq_len": 128, "max_num_tokens": 256}


def make_onnx(path, seed: int = 0) -> None:
    """Write the pooled-embedding scorer: scores = tanh(mean_masked(E[ids]) @ W1) @ w2."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = {
        "E": rng.normal(0, 0.5, (VOCAB, DIM)),
        "W1": rng.normal(0, 0.5, (DIM, HIDDEN)),
        "w2": rng.normal(0, 1.0, (HIDDEN, 1)),
    }
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    inits += [numpy_helper.from_array(np.array([a], np.int64), f"axis{a}") for a in (1, 2)]
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "axis2"], ["m3"]),
        helper.make_node("Mul", ["emb", "m3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["m", "axis1"], ["count"], keepdims=1),
        helper.make_node("Div", ["summed", "count"], ["mean"]),
        helper.make_node("MatMul", ["mean", "W1"], ["h"]),
        helper.make_node("Tanh", ["h"], ["ht"]),
        helper.make_node("MatMul", ["ht", "w2"], ["s"]),
        helper.make_node("Squeeze", ["s", "axis1"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_scorer",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def ort_scores(session, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    mask = (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)
    return session.run(["scores"], {"input_ids": ids.astype(np.int64), "attention_mask": mask})[0]


def random_batch(rng, batch: int, seq: int, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(1, seq + 1, size=batch)
    lengths[0] = seq  # at least one full row, as a scheduler's batch has
    ids = rng.integers(1, VOCAB, size=(batch, seq))
    ids[np.arange(seq)[None, :] >= lengths[:, None]] = pad_id
    return ids.astype(np.int64), lengths.astype(np.int64)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("trt")
    onnx_path, engine_path, cache = root / "model.onnx", root / "engine.plan", root / "timing.cache"
    make_onnx(onnx_path)
    options = CompileOptions(
        precision="fp32", profiles=PROFILES, workspace_bytes=1 << 30, builder_optimization_level=2, timing_cache=cache
    )
    info = engine_from_onnx(onnx_path, engine_path, options)
    return {"onnx": onnx_path, "engine": engine_path, "cache": cache, "options": options, "info": info}


@pytest.fixture(scope="module")
def backend(built):
    b = TensorRTBackend(built["engine"], **LIMITS, precision="fp32")
    yield b
    b.close()


@pytest.fixture(scope="module")
def session(built):
    return ort.InferenceSession(str(built["onnx"]), providers=["CPUExecutionProvider"])


def test_build_info_and_timing_cache(built, tmp_path):
    info = built["info"]
    assert info["precision"] == "fp32" and info["strongly_typed"] is True
    assert info["engine_bytes"] == built["engine"].stat().st_size > 0
    assert tuple(info["compute_capability"]) == cuda.compute_capability()
    assert [tuple(p["max"]) for p in info["profiles"]] == [(8, 32), (2, 128)]
    assert built["cache"].stat().st_size > 0
    lines: list[str] = []
    engine_from_onnx(built["onnx"], tmp_path / "again.plan", built["options"], log=lines.append)
    loaded = [line for line in lines if "bytes loaded" in line]
    assert loaded and " 0 bytes" not in loaded[0], lines  # the second build starts from the first one's cache


@pytest.mark.parametrize("shape", [(1, 1), (8, 32), (5, 17), (2, 128), (2, 32), (1, 100)])
def test_scores_match_onnxruntime(backend, session, shape):
    rng = np.random.default_rng(sum(shape))
    ids, lengths = random_batch(rng, *shape)
    got = backend.score(ids, lengths)
    assert got.dtype == np.float32 and got.shape == (shape[0],)
    np.testing.assert_allclose(got, ort_scores(session, ids, lengths), rtol=1e-3, atol=1e-3)


def test_padding_and_neighbours_do_not_change_a_score(backend):
    rng = np.random.default_rng(7)
    ids, lengths = random_batch(rng, 4, 24)
    base = backend.score(ids, lengths)
    noisy = ids.copy()
    noisy[np.arange(24)[None, :] >= lengths[:, None]] = 999  # different padding content
    np.testing.assert_allclose(backend.score(noisy, lengths), base, atol=1e-5)
    alone = backend.score(ids[2:3, : lengths[2]], lengths[2:3])  # the row alone, unpadded
    # Another shape may pick other kernels (TF32 is on for float32 GEMMs), hence not bit-exact.
    np.testing.assert_allclose(alone, base[2:3], atol=2e-3)


def test_engine_dtypes_are_read_from_the_engine(backend):
    assert backend._dtypes["input_ids"] in (np.dtype(np.int64), np.dtype(np.int32))
    assert backend._dtypes["scores"] == np.dtype(np.float32)
    assert backend.name == "tensorrt" and len(backend._contexts) == len(PROFILES)


def test_shapes_outside_every_profile_are_refused(backend):
    ids, lengths = random_batch(np.random.default_rng(1), 3, 64)  # too long for one profile, too many for the other
    with pytest.raises(BackendError, match="no optimization profile holds a \\(3, 64\\) batch"):
        backend.score(ids, lengths)
    ids, lengths = random_batch(np.random.default_rng(1), 9, 4)
    with pytest.raises(ValueError, match="max_batch_size"):
        backend.score(ids, lengths)


def test_limits_beyond_the_profiles_are_refused(built):
    with pytest.raises(BackendError, match="exceed the engine's profiles"):
        TensorRTBackend(built["engine"], max_batch_size=16, max_seq_len=128, max_num_tokens=256)


def test_health_and_close(built):
    b = TensorRTBackend(built["engine"], **LIMITS)
    b.health()
    b.close()
    b.close()
    with pytest.raises(BackendError, match="closed"):
        b.health()
    ids, lengths = random_batch(np.random.default_rng(2), 2, 8)
    with pytest.raises(BackendError, match="closed"):
        b.score(ids, lengths)


def test_bf16_from_a_float32_graph_is_refused(built, tmp_path):
    if cuda.compute_capability() < (8, 0):
        pytest.skip("bf16 needs compute capability 8.0+")
    options = CompileOptions(precision="bf16", profiles=PROFILES, workspace_bytes=1 << 30)
    with pytest.raises(CompileError, match="modelopt.onnx.autocast"):
        engine_from_onnx(built["onnx"], tmp_path / "bf16.plan", options, log=lambda _: None)
    assert not (tmp_path / "bf16.plan").exists()
