"""tools/gpu_check.py on the CPU: step selection and skip-on-rerun, the no-GPU exit, summaries, budgets, shapes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))
_spec = importlib.util.spec_from_file_location("gpu_check", TOOLS / "gpu_check.py")
gpu_check = sys.modules["gpu_check"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)
import gpu_check_steps as steps  # noqa: E402

ALL = list(gpu_check.STEP_NAMES)


def _fake(outcomes: dict[str, str] | None = None, calls: list | None = None):
    """An `execute` that records its calls and returns `outcomes[name]` (default ok) without a child process."""

    def execute(step, out, budget):
        if calls is not None:
            calls.append(step.name)
        status = (outcomes or {}).get(step.name, "ok")
        return {"status": status, "headline": f"{step.name} {status}", "seconds": 0.01}

    return execute


def test_no_gpu_exits_zero_and_says_so(tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path)], gpus=[]) == 0
    assert "no NVIDIA GPU here" in capsys.readouterr().out
    record = json.loads((tmp_path / gpu_check.RESULTS).read_text())
    assert record["no_gpu"] and record["steps"] == {} and record["device"] is None
    assert "Nothing was measured" in (tmp_path / gpu_check.SUMMARY).read_text()


def test_the_script_itself_exits_zero_without_nvidia_smi(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no nvidia-smi on this PATH
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "gpu_check.py"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "nothing measured" in proc.stdout
    assert (tmp_path / "o" / gpu_check.SUMMARY).is_file()


def test_out_defaults_to_dollar_out_then_gpu_check(monkeypatch, tmp_path):
    monkeypatch.setenv("OUT", str(tmp_path))
    assert gpu_check.default_out() == tmp_path
    monkeypatch.delenv("OUT")
    assert gpu_check.default_out() == gpu_check.REPO / "gpu-check"


def test_select_steps_skips_what_is_done_and_redoes_on_request():
    assert gpu_check.select_steps({"steps": {}}) == ALL
    record = {"steps": {"versions": {"status": "ok"}, "cuda_layer": {"status": "skipped"},
                        "attention": {"status": "failed"}, "fp8_gemm": {"status": "timeout"}}}  # fmt: skip
    names = gpu_check.select_steps(record)
    assert "versions" not in names and "cuda_layer" not in names
    assert {"attention", "fp8_gemm", "torch_backend"} <= set(names)
    assert gpu_check.select_steps(record, redo=["versions"])[0] == "versions"
    assert gpu_check.select_steps(record, only=["versions", "attention"]) == ["attention"]
    with pytest.raises(ValueError, match="unknown step 'nope'"):
        gpu_check.select_steps(record, only=["nope"])


def test_each_step_is_saved_as_it_finishes_and_a_rerun_continues(tmp_path):
    seen_on_disk = []

    def execute(step, out, budget):
        seen_on_disk.append(sorted(gpu_check.load_record(out)["steps"]))  # what the file held before this step
        return _fake({"attention": "failed"})(step, out, budget)

    record = gpu_check.run_steps({"steps": {}}, ALL, tmp_path, execute=execute)
    assert seen_on_disk[2] == sorted(ALL[:2])  # the first two were on disk when the third began
    assert record["steps"]["attention"]["status"] == "failed"
    again = gpu_check.load_record(tmp_path)
    calls: list[str] = []
    gpu_check.run_steps(again, gpu_check.select_steps(again), tmp_path, execute=_fake(calls=calls))
    assert calls == ["attention"]
    assert gpu_check.load_record(tmp_path)["steps"]["attention"]["status"] == "ok"


def test_main_on_a_gpu_machine_runs_only_the_missing_steps(tmp_path):
    calls: list[str] = []
    gpus = ["GPU 0: NVIDIA H200 (UUID: x)"]
    assert (
        gpu_check.main(["--out", str(tmp_path), "--steps", "versions,attention"], gpus=gpus, execute=_fake(calls=calls))
        == 0
    )
    assert calls == ["versions", "attention"]
    calls.clear()
    assert gpu_check.main(["--out", str(tmp_path)], gpus=gpus, execute=_fake(calls=calls)) == 0
    assert "versions" not in calls and "attention" not in calls and calls
    assert "NVIDIA H200" in (tmp_path / gpu_check.SUMMARY).read_text()


def test_steps_past_the_total_budget_are_left_for_the_rerun(tmp_path):
    now = [0.0]

    def execute(step, out, budget):
        now[0] += 100.0
        return {"status": "ok"}

    record = gpu_check.run_steps({"steps": {}}, ALL, tmp_path, execute=execute, total_budget=250, clock=lambda: now[0])
    statuses = [record["steps"][n]["status"] for n in ALL]
    assert statuses[:3] == ["ok", "ok", "ok"] and set(statuses[3:]) == {"not_run"}
    assert gpu_check.select_steps(record) == ALL[3:]


def test_summary_has_one_line_per_step_and_each_table():
    record = {"date": "2026-12-01", "device": "GPU 0: NVIDIA H200", "steps": {
        "versions": {"status": "ok", "seconds": 1.5, "headline": "H200 sm9.0",
                     "table": {"columns": ["what", "version"], "rows": [["torch", "2.11|cu13"]]}},
        "cuda_layer": {"status": "skipped", "reason": "cuda-python does not import"}}}  # fmt: skip
    text = gpu_check.summary_markdown(record)
    assert "Device: GPU 0: NVIDIA H200" in text and "Date: 2026-12-01" in text
    assert "| versions | ok | 1.5 | H200 sm9.0 |" in text
    assert "| cuda_layer | skipped |  | cuda-python does not import |" in text
    assert "| attention | not run yet | | |" in text
    assert "| what | version |" in text and "| torch | 2.11\\|cu13 |" in text


def test_a_child_past_its_budget_is_killed():
    t0 = time.monotonic()
    rc, _ = gpu_check.run_command([sys.executable, "-c", "import time; time.sleep(60)"], 1.0)
    assert rc is None and time.monotonic() - t0 < 20


def test_a_tensorrt_step_in_a_real_child_is_skipped_without_tensorrt(tmp_path):
    pytest.importorskip("torch")
    if gpu_check.importable("tensorrt"):
        pytest.skip("TensorRT imports here")
    step = next(s for s in gpu_check.STEPS if s.name == "engine_build")
    entry = gpu_check.execute_in_child(step, tmp_path, 30)
    assert entry["status"] == "skipped" and "TensorRT" in entry["reason"]
    assert not list(tmp_path.glob(".*.result.json"))  # merged and removed


def test_a_failing_step_is_recorded_with_why(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    step = next(s for s in gpu_check.STEPS if s.name == "attention")
    entry = gpu_check.execute_in_child(step, tmp_path, 60)
    assert entry["status"] == "failed" and "no CUDA device" in entry["error"]
    assert "step_attention" in entry["traceback"]


def test_shapes_come_from_the_shipped_profiles():
    from rerankrt.build.config import load_config

    shapes = steps.profile_shapes()
    h100 = load_config("h100")
    assert {(p.max[0], p.max[1]) for p in h100.profiles} == {
        (s["rows"], s["seq"]) for s in shapes if "h100" in s["configs"]
    }
    assert [s["seq"] for s in shapes] == sorted((s["seq"] for s in shapes), reverse=True)
    for s in shapes:
        assert all(s["rows"] * s["seq"] <= load_config(g).max_num_tokens for g in s["configs"])
    assert "cpu" not in {g for s in shapes for g in s["configs"]}
    assert h100.max_num_tokens in steps.token_budgets()


def test_attention_and_gemm_rows_at_toy_sizes_on_the_cpu(monkeypatch):
    torch = pytest.importorskip("torch")
    deadline = time.monotonic() + 30
    rows = steps.attention_rows(torch, [{"rows": 2, "seq": 8, "configs": ["x"]}], "cpu", deadline=deadline)
    assert [r[2] for r in rows] == ["fp32_unfused", "bf16_sdpa_mask", "bf16_causal_gqa"]
    assert all(r[3] > 0 and r[6] == "" for r in rows)
    monkeypatch.setattr(steps, "free_bytes", lambda torch, device: 0)
    rows = steps.attention_rows(torch, [{"rows": 2, "seq": 8, "configs": ["x"]}], "cpu", deadline=deadline)
    assert all(r[6].startswith("does not fit") for r in rows)
    gemms = steps.gemm_rows(torch, 16, "cpu", deadline=deadline, fp8=False)
    assert [g[1] for g in gemms] == [name for name, *_ in steps.GEMMS] and all(g[4] >= 0 for g in gemms)


def test_pytest_counts_reads_the_summary_line():
    assert steps.pytest_counts("3 passed, 1 skipped, 2 errors in 2.1s") == {"passed": 3, "skipped": 1, "error": 2}
    assert steps.pytest_counts("") == {}
