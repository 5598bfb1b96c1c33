"""Shared session fixtures: tiny random Qwen2 checkpoints (real tokenizer, seeded, no downloads) and engine
directories built from them once per test session.

- ``tiny_causal_dir``: a causal-LM checkpoint (the ``mixedbread-ai/mxbai-rerank-base-v2`` form), hidden 64, 2 layers.
- ``tiny_classifier_dir``: that checkpoint converted to the 1-logit classifier every later stage uses.
- ``cpu_engine_dir``: ``build(gpu="cpu")`` from the causal checkpoint: the float32 graph served by onnxruntime.
- ``fp8_engine_dir``: ``build(gpu="h100", onnx_only=True)`` from the classifier: the FP8 Q/DQ graph, checked and
  gated, directory served by onnxruntime (no TensorRT here).

For CI speed the builds cap prompts at ``max_length=512`` tokens, calibrate on 64 of the shipped calibration pairs
and gate on whole query groups totalling about 96 held-out pairs: still real templated pairs through the build's
template. A random tiny model spreads its scores far less than a trained reranker, so FP8 rounding moves its
per-query rankings more: measured per-query Spearman 0.94-0.96 (rerankrt/configs/h100.yaml asks 0.95) and top-1
agreement about 0.79 (asks 0.8). The tiny FP8 builds therefore use `TINY_FP8_GATE`; every other threshold is the
config's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# rerankrt caches tokenizer tables and graph sizes per user (rerankrt._cache); the suite, and the subprocesses it
# starts, use a cache of their own instead of the user's ~/.cache/rerankrt.
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="rerankrt-test-cache-"))


def pytest_addoption(parser) -> None:
    # The reference venv's run (make test) passes it: there a missing mxbai_rerank fails instead of skipping.
    parser.addoption(
        "--reference",
        action="store_true",
        help="run tests/reference/ against mxbai-rerank (in .venv-ref); a missing mxbai_rerank is an error",
    )


TINY_OVERRIDES = {"max_length": 512, "max_heldout_pairs": 96}
TINY_CALIBRATION_PAIRS = 64
TINY_FP8_GATE = {"min_spearman": 0.85, "min_kendall": 0.7, "min_top1": 0.6, "min_top5": 0.8}


def _write_causal(tmp_path_factory, name: str, seed: int) -> Path:
    from rerankrt.models import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp(name), form="causal", seed=seed)


def _write_converted(causal: Path, tmp_path_factory, name: str) -> Path:
    from rerankrt.models import convert_checkpoint

    out = tmp_path_factory.mktemp(name)
    convert_checkpoint(causal, out)
    return out


@pytest.fixture(scope="session")
def tiny_causal_dir(tmp_path_factory) -> Path:
    """A seeded random Qwen2ForCausalLM with the real Qwen tokenizer."""
    return _write_causal(tmp_path_factory, "tiny_causal", seed=0)


@pytest.fixture(scope="session")
def tiny_classifier_dir(tiny_causal_dir, tmp_path_factory) -> Path:
    """`tiny_causal_dir` converted to the 1-logit classifier (head row W["1"] - W["0"])."""
    return _write_converted(tiny_causal_dir, tmp_path_factory, "tiny_classifier")


@pytest.fixture(scope="module")
def causal_dir(tmp_path_factory) -> Path:
    """Another seeded random Qwen2ForCausalLM (seed 1), one per module: conversion and reference-parity tests."""
    return _write_causal(tmp_path_factory, "causal", seed=1)


@pytest.fixture(scope="module")
def converted_dir(causal_dir, tmp_path_factory) -> Path:
    """`causal_dir` converted to the 1-logit classifier."""
    return _write_converted(causal_dir, tmp_path_factory, "converted")


@pytest.fixture(scope="session")
def cpu_engine_dir(tiny_causal_dir, tmp_path_factory) -> Path:
    """A CPU engine directory (float32 ONNX, backend onnxruntime) built from the tiny causal checkpoint."""
    from rerankrt.build.pipeline import build

    out = tmp_path_factory.mktemp("engines") / "cpu"
    result = build(gpu="cpu", model=str(tiny_causal_dir), out=out, config_overrides=dict(TINY_OVERRIDES))
    assert result.exit_code == 0, result.message
    return out


@pytest.fixture(scope="session")
def fp8_engine_dir(tiny_classifier_dir, tmp_path_factory) -> Path:
    """An h100 engine directory built with --onnx-only: FP8 Q/DQ model.onnx, backend onnxruntime, no engine.plan."""
    from rerankrt.build.pipeline import build

    out = tmp_path_factory.mktemp("engines") / "h100"
    result = build(
        gpu="h100",
        model=str(tiny_classifier_dir),
        out=out,
        onnx_only=True,
        max_calibration_pairs=TINY_CALIBRATION_PAIRS,
        config_overrides={**TINY_OVERRIDES, "gate": TINY_FP8_GATE},
    )
    assert result.exit_code == 0, result.message
    return out
