"""Every benchmark runs at its tiny size, so that none can rot; speed is not asserted here (machines are noisy),
only that each one measures what it says, writes its files and prints its PASS/FAIL lines.

What is asserted because it is correctness, not speed: rerankrt's token ids equal mxbai-rerank's prepare_inputs',
and rerankrt's scores equal mxbai-rerank's on the same weights to 1e-4. mxbai-rerank runs in the reference venv
(.venv-ref, transformers 4) as a worker process; those two tests skip where that venv does not exist.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")
pytest.importorskip("matplotlib")

from benchmarks import (  # noqa: E402
    bench_goodput,
    bench_offline,
    bench_online,
    bench_pipeline,
    bench_scheduler,
    bench_tokenization,
    run_all,
)
from benchmarks.common import (  # noqa: E402
    KNOWN_CONFIGS,
    Target,
    flops_per_token,
    gpu_mode_line,
    peak_tflops,
)
from benchmarks.reference import ReferenceUnavailable, reference_python  # noqa: E402


@pytest.fixture(scope="module")
def reference_venv():
    """The reference venv's Python (mxbai-rerank on transformers 4); the side-by-side tests skip without it."""
    try:
        return reference_python()
    except ReferenceUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_causal_dir):
    """One results folder for the module: the tiny engine is built once and shared through its cache.

    The session's tiny causal checkpoint is the benchmarks' own tiny checkpoint (same function, shape and seed), so
    the cache starts with it instead of writing it again.
    """
    folder = tmp_path_factory.mktemp("bench_results")
    (folder / "cache").mkdir()
    (folder / "cache" / "ckpt-tiny-L2-s0").symlink_to(tiny_causal_dir, target_is_directory=True)
    return folder


def _files_written(result: dict, name: str, results) -> None:
    for suffix in ("json", "md", "png"):
        assert (results / f"{name}.{suffix}").is_file(), f"{name}.{suffix} missing"
    data = json.loads((results / f"{name}.json").read_text())
    assert data["environment"]["versions"]["rerankrt"] and data["environment"]["date"]
    for t in result["targets"]:
        assert t["line"].startswith(("PASS", "FAIL")) and t["line"] in (results / f"{name}.md").read_text()


def test_tokenization_tiny(results, reference_venv):
    result = bench_tokenization.run("tiny", results=results, num_pairs=120)
    assert result["ids_equal_to_prepare_inputs"]["identical"], result["ids_equal_to_prepare_inputs"]
    assert set(result["pairs_per_s"]) >= {
        "rerankrt (mxbai template)",
        "mxbai-rerank prepare_inputs",
        "raw encode_batch (pairs)",
        "rerankrt, tiktoken path off",
    }
    assert result["tiktoken_path"] is True  # the run measured the path rerankrt serves with
    assert all(v > 0 for v in result["pairs_per_s"].values())
    assert [t["name"] for t in result["targets"]][:2] == [
        "tokenization vs mxbai-rerank prepare_inputs",
        "tokenization vs raw encode_batch",
    ]
    _files_written(result, "tokenization", results)


def test_offline_tiny_scores_match_mxbai(results, reference_venv):
    result = bench_offline.run("tiny", results=results, models=("tiny",))
    (run,) = result["runs"]
    assert run["scores"]["nan"] == 0
    assert run["scores"]["max_abs_diff"] <= bench_offline.TARGET_SCORE_ATOL, run["scores"]
    assert run["scores"]["score_range"][1] - run["scores"]["score_range"][0] > 1e-3  # not two constants
    assert run["rerankrt"]["pairs_per_s"] > 0 and run["mxbai"]["pairs_per_s"] > 0
    assert run["flops_per_token"] < run["mxbai_flops_per_token"]
    assert "roofline" in run["roofline"]["line"]
    assert result["gpu_mode"]["line"].startswith("SKIP  GPU mode")
    _files_written(result, "offline", results)


def test_online_tiny(results):
    result = bench_online.run("tiny", results=results)
    assert result["errors"] == 0
    assert [s["concurrency"] for s in result["sweeps"]] == list(bench_online.CONCURRENCY["tiny"])
    for s in result["sweeps"]:
        assert s["latency"]["p99_ms"] >= s["latency"]["p50_ms"] > 0 and s["requests_per_s"] > 0
    mixed = result["mixed"]
    assert mixed["idle"]["count"] == mixed["loaded"]["count"] > 0 and mixed["large"]["count"] >= 1
    assert mixed["p99_ratio"] > 0
    assert "GFLOP/s achieved on the CPU" in result["roofline"]["line"]
    _files_written(result, "online", results)


def test_scheduler_tiny(results):
    result = bench_scheduler.run("tiny", results=results)
    for name, r in result["limits"].items():
        loop = r["closed_loop"]
        assert 0 < loop["padding_efficiency"] <= 1
        assert loop["padding_efficiency"] == pytest.approx(loop["padding_efficiency_stats"])
        assert loop["requests_completed"] == result["workload"]["requests"], name
        assert loop["rows"]["max"] <= loop["limits"]["max_batch_size"]
        assert loop["padded_tokens"]["max"] <= loop["limits"]["max_num_tokens"]
        assert r["overhead"]["us_per_batch"] > 0 and r["overhead"]["batches"] >= 1
    _files_written(result, "scheduler", results)


def test_goodput_tiny(results):
    result = bench_goodput.run("tiny", results=results)
    w = result["workload"]
    assert w["timeout_s"] == pytest.approx(bench_goodput.TIMEOUT_FACTOR * w["alone_s"])
    for label, cases in result["cases"].items():
        for c in cases:
            assert c["completed"] + c["refused"] + c["timed out"] == c["concurrency"], label
            assert c["small"]["count"] >= 1
    (off,), (on,) = (result["cases"][k] for k in bench_goodput.POLICIES)
    assert off["refused"] == 0  # the policy off admits everything
    _files_written(result, "goodput", results)


def test_run_all_writes_the_summary(results, monkeypatch):
    monkeypatch.setitem(bench_scheduler.REQUESTS, "tiny", 6)
    summary = run_all.run("tiny", results=results, only=("scheduler",))
    assert summary["benchmarks"]["scheduler"]["ok"]
    for suffix in ("json", "md", "png"):
        assert (results / f"summary.{suffix}").is_file()
    md = (results / "summary.md").read_text()
    assert "README snippet" in md and "padding efficiency" in md and summary["environment"]["cpu"]
    assert "SKIP  GPU mode" in md


def _write_tensorrt_manifest(folder, **extra) -> None:
    """A manifest of an H100 FP8 TensorRT build of mxbai-rerank-base-v2 (a placeholder engine: nothing runs it)."""
    from rerankrt.manifest import Manifest, write_manifest

    (folder / "engine.plan").write_bytes(b"placeholder, never deserialized")
    (folder / "tokenizer").mkdir(exist_ok=True)
    (folder / "tokenizer" / "tokenizer.json").write_text("{}")
    data = {
        "backend": "tensorrt",
        "template": "seed",
        "max_length": 512,
        "limits": {"max_batch_size": 8, "max_seq_len": 1024, "max_num_tokens": 4096},
        "target": {"gpu": "h100", "precision": "fp8", "compute_capability": "9.0"},
        "model": {"source": "mixedbread-ai/mxbai-rerank-base-v2"},
        "token_ids": {"yes": 16, "no": 15, "pad": 151643},
        "artifacts": {"engine": "engine.plan"},  # a TensorRT manifest names its engine
        **extra,
    }
    write_manifest(Manifest.from_dict(folder, data))


def test_gpu_mode_is_selected_by_a_tensorrt_manifest_and_skips_cleanly(results, tmp_path):
    engine = tmp_path / "trt"
    engine.mkdir()
    _write_tensorrt_manifest(engine, artifacts={"engine": "engine.plan"})
    line = gpu_mode_line(engine)
    assert not line["ran"] and line["line"].startswith("SKIP  GPU mode") and "TensorRT engine" in line["line"]
    online = bench_online.run("tiny", results=tmp_path / "r", engine=engine)
    assert online["skipped"].startswith("SKIP  GPU mode") and online["targets"] == []
    offline = bench_offline.run("tiny", results=tmp_path / "r", engine=engine)
    assert offline["runs"] == [] and offline["gpu_mode"]["line"].startswith("SKIP")
    cpu_engines = sorted((results / "cache").glob("engine-cpu-tiny-*[0-9]"))
    if cpu_engines:  # a CPU directory is not a GPU engine: said so, not crashed on
        assert "not tensorrt" in gpu_mode_line(cpu_engines[0])["line"]


def test_roofline_numbers():
    base = dict(KNOWN_CONFIGS["mxbai-rerank-base-v2"])
    # Qwen2.5-0.5B: about 0.72 GFLOP of matrix work per token (2 x 358M non-embedding matrix weights) + attention.
    assert flops_per_token(base, 0) == pytest.approx(0.7157e9, rel=1e-3)
    assert flops_per_token(base, 1000) - flops_per_token(base, 0) == pytest.approx(4 * 24 * 896 * 1000)
    assert peak_tflops("NVIDIA H100 80GB HBM3", "fp8") == 1979.0
    assert peak_tflops("NVIDIA H100 PCIe", "bf16") == 756.0
    assert peak_tflops("NVIDIA L4", "fp8") == 242.5
    assert peak_tflops("NVIDIA L40S", "fp8") is None
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "fp8") is None


def test_roofline_line_against_a_gpu_peak(tmp_path, monkeypatch):
    from benchmarks import common

    _write_tensorrt_manifest(tmp_path)
    monkeypatch.setattr(common, "gpu_name", lambda: "NVIDIA H100 80GB HBM3")
    line = common.roofline(tmp_path, tokens_per_s=1e6, mean_seq_len=300)
    expected = flops_per_token(KNOWN_CONFIGS["mxbai-rerank-base-v2"], 300) * 1e6 / 1e12
    assert line["achieved_tflops"] == pytest.approx(expected)
    assert line["peak_tflops"] == 1979.0 and line["fraction_of_peak"] == pytest.approx(expected / 1979.0)
    assert "of NVIDIA H100 80GB HBM3's dense FP8 peak 1979 TFLOP/s" in line["line"]


def test_target_lines():
    assert Target("x", 2.0, 1.5, ">=").line.startswith("PASS  x: 2x (target >= 1.5x)")
    assert Target("y", 4.0, 3.0, "<=").line.startswith("FAIL")
    assert Target("z", None, 1.0, ">=").line.startswith("FAIL  z: n/a")


def test_pipeline_tiny(results):
    """Depth 1 and 2 side by side over the simulated device: busy fractions, pairs/s, the PASS/FAIL line."""
    result = bench_pipeline.run("tiny", results=results, seconds=0.4)
    assert set(result["depths"]) == {"1", "2"}
    for r in result["depths"].values():
        assert 0 < r["device_busy_fraction"] <= 1.0 and r["pairs_per_s"] > 0 and r["batches"] > 0
    assert [t["name"] for t in result["targets"]] == ["device busy fraction, pipelined (depth 2), simulated GPU"]
    _files_written(result, "pipeline", results)
