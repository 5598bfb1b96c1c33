"""What every benchmark shares: the results folder, writers (JSON, markdown, PNG), the environment record, timing,
PASS/FAIL target lines, the models and CPU engine directories the benchmarks build for themselves, and the GPU
roofline (FLOPs per token, peak TFLOP/s).

Results go to ``benchmarks/results/`` (git-ignored); models and engines are cached in ``benchmarks/results/cache/``
so a second run skips the build.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.reference import Timed, reference_versions

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
SIZES = ("tiny", "quick", "full")
"""tiny: seconds, for tests/test_benchmarks.py; quick: ``run_all --quick``; full: ``make bench``."""

_START = time.perf_counter()


# -- output ----------------------------------------------------------------------------------------------------------


def log(message: str) -> None:
    """One progress line on stderr, with seconds since the process started."""
    print(f"[bench {time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    return size


def results_dir(path: str | Path | None = None) -> Path:
    """The results folder (created): `path`, else $RERANKRT_BENCH_RESULTS, else benchmarks/results/."""
    folder = Path(path or os.environ.get("RERANKRT_BENCH_RESULTS") or RESULTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_dir(results: Path) -> Path:
    folder = results / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n")
    return path


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats are printed as given by the caller (format them first)."""
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with `digits` significant digits, thousands grouped; "n/a" for None."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    value = float(value)
    if value != 0 and abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def write_report(folder: Path, name: str, result: dict, markdown: str) -> dict:
    """Write ``<name>.json`` and ``<name>.md`` into `folder`; return `result` with the paths added."""
    result = dict(result)
    result["files"] = sorted({*result.get("files", []), str(folder / f"{name}.json"), str(folder / f"{name}.md")})
    (folder / f"{name}.md").write_text(markdown.rstrip() + "\n")
    write_json(folder / f"{name}.json", result)
    return result


def write_outputs(
    folder: Path,
    name: str,
    result: dict,
    markdown: str,
    *,
    plot: Callable[[Path], None] | None = None,
    lines: Sequence[str] = (),
) -> dict:
    """A benchmark's last step: `plot` draws ``<name>.png`` (listed in ``files``), `write_report` writes the JSON and
    markdown, then each of `lines` (the PASS/FAIL lines) is logged. Returns the written result."""
    if plot is not None:
        png = folder / f"{name}.png"
        plot(png)
        result = {**result, "files": [str(png)]}
    result = write_report(folder, name, result, markdown)
    for line in lines:
        log(line)
    return result


def cli_main(
    argv: list[str] | None,
    doc: str,
    name: str,
    call: Callable[[argparse.Namespace], Any],
    options: Sequence[tuple[str, dict[str, Any]]] = (),
) -> int:
    """A benchmark script's ``main()``: parse ``--size``, `options` and ``--results``, quiet the libraries, run
    `call(args)` and print the ``<name>.md`` it wrote."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="full")
    for flag, kwargs in options:
        parser.add_argument(flag, **kwargs)
    parser.add_argument("--results", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    quiet_libraries()
    call(args)
    print((results_dir(args.results) / f"{name}.md").read_text())
    return 0


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Lay out `fig`, write it to `path` at 110 dpi and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- targets ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One issue target, measured: a PASS/FAIL line in the output with the measured value."""

    name: str
    measured: float | None
    threshold: float
    op: str  # ">=" or "<="
    unit: str = "x"
    detail: str = ""

    @property
    def passed(self) -> bool:
        if self.measured is None or not math.isfinite(self.measured):
            return False
        return self.measured >= self.threshold if self.op == ">=" else self.measured <= self.threshold

    @property
    def line(self) -> str:
        measured = "n/a" if self.measured is None else f"{self.measured:.3g}{self.unit}"
        status = "PASS" if self.passed else "FAIL"
        extra = f" ({self.detail})" if self.detail else ""
        return f"{status}  {self.name}: {measured} (target {self.op} {self.threshold:g}{self.unit}){extra}"

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed, "line": self.line}


# -- timing ----------------------------------------------------------------------------------------------------------


def interleaved(candidates: dict[str, Callable[[], Any]], repeats: int, *, label: str = "") -> dict[str, list[float]]:
    """Time each candidate `repeats` times, round-robin, so that machine noise hits all of them alike.

    Returns:
        Seconds per call, per candidate name, in call order.
    """
    calls = {name: (lambda _slice, fn=fn: fn()) for name, fn in candidates.items()}
    return interleaved_slices(calls, repeats, 1, label=label)


def interleaved_slices(
    candidates: dict[str, Callable[[int], Any]], repeats: int, slices: int, *, label: str = ""
) -> dict[str, list[float]]:
    """Round-robin timing over slices of the work: each round runs every candidate on slice 0, then every candidate
    on slice 1, and so on, rotating who goes first; a candidate's round time is its sum over the slices.

    Candidates then run a second apart instead of a whole round apart, so a drift in machine speed (this VM's speed
    moves by tens of percent over tens of seconds) hits them alike and their ratios hold still.

    Returns:
        Seconds per round, per candidate name, in round order.
    """
    names = list(candidates)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        spent = dict.fromkeys(names, 0.0)
        for k in range(slices):
            shift = k % len(names)  # slice k starts with the k-th candidate; one slice keeps the given order
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                seconds = candidates[name](k)
                elapsed = time.perf_counter() - start
                # A worker process times its own work (benchmarks.reference.Timed): the pipe is not charged to it.
                spent[name] += float(seconds) if isinstance(seconds, Timed) else elapsed
        for name in names:
            times[name].append(spent[name])
            log(f"{label}{name}: round {rep + 1}/{repeats} {spent[name]:.3f}s")
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds."""
    if not seconds:
        return {"count": 0}
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {
        "count": int(ms.size),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
    }


# -- environment -----------------------------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def cpu_threads() -> int:
    """CPUs this process may run on (what the benchmarks give each library, and rerankrt's tokenizer uses)."""
    from rerankrt._fastbpe import usable_cpus

    return usable_cpus()


def gpu_name() -> str | None:
    """The first CUDA device's name, or None without a driver and GPU."""
    try:
        from rerankrt.runtime import cuda

        ok, _ = cuda.cuda_status(0)
        return cuda.device_name(0) if ok else None
    except Exception:  # noqa: BLE001 - no cuda-python, no driver: no GPU
        return None


def environment() -> dict[str, Any]:
    """Date, machine, versions and commit: what a reader needs to reproduce or discount a number."""
    import rerankrt

    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = None
    commit = _git("rev-parse", "--short=12", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": cpu_threads(),
        "memory_gib": None if memory is None else round(memory, 1),
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "versions": {
            "rerankrt": rerankrt.__version__,
            "numpy": _version("numpy"),
            "tokenizers": _version("tokenizers"),
            "tiktoken": _version("tiktoken"),
            "transformers": _version("transformers"),
            "torch": _version("torch"),
            "onnxruntime": _version("onnxruntime"),
            # mxbai-rerank runs in the reference venv (benchmarks/reference.py): its versions are those there.
            "mxbai-rerank": reference_versions()["mxbai-rerank"],
            "tensorrt": _version("tensorrt"),
        },
        "reference_venv": dict(reference_versions()),
        "git_commit": None if commit is None else commit + ("-dirty" if dirty else ""),
    }


def quiet_libraries() -> None:
    """Silence the warnings transformers and friends print on every load (they would drown the progress lines).

    It changes process-wide logging levels, so only the command-line entry points call it, never `run()`.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    for name in ("transformers", "transformers.tokenization_utils_base", "rerankrt.build", "httpx", "uvicorn"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    warnings.filterwarnings("ignore", message=".*torch_dtype.*")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="transformers")


# -- models and engines ----------------------------------------------------------------------------------------------

SHAPE_LABEL = {"tiny": "tiny Qwen2 (hidden 64)", "qwen2.5-0.5b": "Qwen2.5-0.5B-shaped"}


def checkpoint(cache: Path, shape: str, layers: int | None = None, *, seed: int = 0) -> Path:
    """A seeded random causal-LM checkpoint (the mixedbread-ai/mxbai-rerank-base-v2 form), written once."""
    from rerankrt.models import SHAPES, write_tiny_model

    layers = int(layers or SHAPES[shape]["num_hidden_layers"])
    folder = cache / f"ckpt-{shape}-L{layers}-s{seed}"
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        log(f"writing a random {SHAPE_LABEL.get(shape, shape)} causal checkpoint with {layers} layers -> {folder}")
        write_tiny_model(folder, form="causal", shape=shape, num_hidden_layers=layers, seed=seed)
    return folder


def cpu_engine(
    cache: Path, shape: str, layers: int | None = None, *, template: str = "mxbai", max_length: int = 512
) -> tuple[Path, Path]:
    """(causal checkpoint, CPU engine directory built from it by ``build(gpu="cpu")``), built once and cached.

    The engine is built from the very checkpoint mxbai-rerank loads, so both libraries run the same weights.
    """
    import rerankrt
    from rerankrt.build.pipeline import build
    from rerankrt.manifest import ManifestError, read_manifest

    ckpt = checkpoint(cache, shape, layers)
    layers = json.loads((ckpt / "config.json").read_text())["num_hidden_layers"]
    from rerankrt.build.config import config_path

    # The config's hash is in the name: a cached engine built under an older rerankrt/configs/cpu.yaml is rebuilt.
    config = hashlib.sha256(config_path("cpu").read_bytes())
    tag = f"v{rerankrt.__version__}-{config.hexdigest()[:8]}"
    out = cache / f"engine-cpu-{shape}-L{layers}-{template}-{max_length}-{tag}"
    try:
        read_manifest(out, verify=True)
        return ckpt, out
    except ManifestError:
        pass
    log(f"building the CPU engine directory {out.name} (build(gpu='cpu', template={template!r}))")
    start = time.perf_counter()
    result = build(
        gpu="cpu",
        model=str(ckpt),
        out=out,
        template=template,
        config_overrides={"max_length": max_length, "max_heldout_pairs": 16, "heldout_min_pairs": 16},
        work_dir=cache / f"{out.name}.work",
    )
    if result.exit_code != 0:
        raise RuntimeError(f"building {out} failed: {result.message}")
    shutil.rmtree(cache / f"{out.name}.work", ignore_errors=True)  # intermediate copies of the weights: gigabytes
    log(f"built {out.name} in {time.perf_counter() - start:.1f}s")
    return ckpt, out


# -- GPU mode: roofline ----------------------------------------------------------------------------------------------

# Dense (no 2:4 sparsity) tensor-core peaks in TFLOP/s, per precision. NVIDIA's datasheets quote "with sparsity"
# figures, twice the dense ones ("Specifications 1/2 lower without sparsity"):
# - H100 SXM5: FP8 3,958 / BF16 1,979 with sparsity -> 1,979 / 989 dense; H100 PCIe: FP8 3,026 / BF16 1,513 with
#   sparsity -> 1,513 / 756 dense (NVIDIA H100 datasheet as tabulated at
#   https://archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html; dense matrix table at
#   https://glennklockwood.com/garden/processors/h100: BF16 989.4, FP8 1978.9). H200 has the H100 SXM5's compute.
# - L4: FP8 485 / FP16-BF16 242 with sparsity -> 242.5 / 121 dense (NVIDIA L4 datasheet, as quoted at
#   https://grokipedia.com/page/NVIDIA_L4_vs_L40S; 250.7 / 125.3 at boost clock in https://hmc-tech.com/gpu/nvidia-l4-vs-nvidia-a100-40gb).
# - A100: BF16 312 dense, no FP8 tensor cores (311.9 in https://hmc-tech.com/gpu/nvidia-l4-vs-nvidia-a100-40gb).
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H100 SXM": {"fp8": 1979.0, "bf16": 989.0, "fp16": 989.0},
    "H100 PCIe": {"fp8": 1513.0, "bf16": 756.0, "fp16": 756.0},
    "H200": {"fp8": 1979.0, "bf16": 989.0, "fp16": 989.0},
    "L4": {"fp8": 242.5, "bf16": 121.0, "fp16": 121.0},
    "A100": {"bf16": 312.0, "fp16": 312.0},
}


def gpu_family(device_name: str | None) -> str | None:
    """The `PEAK_TFLOPS` key for a CUDA device name ("NVIDIA H100 80GB HBM3" -> "H100 SXM"), or None."""
    if not device_name:
        return None
    name = device_name.upper()
    if "H200" in name:
        return "H200"
    if "H100" in name:
        return "H100 PCIe" if "PCIE" in name else ("H100 SXM" if "NVL" not in name else None)
    if "A100" in name:
        return "A100"
    if " L4" in f" {name}" and "L40" not in name:
        return "L4"
    return None


def peak_tflops(device_name: str | None, precision: str) -> float | None:
    """Dense peak TFLOP/s of `device_name` at `precision` ("fp8", "bf16", "fp16"), None when unknown."""
    family = gpu_family(device_name)
    return PEAK_TFLOPS.get(family, {}).get(precision.lower()) if family else None


# Body sizes of the released checkpoints, for engine directories whose checkpoint is not on this machine.
KNOWN_CONFIGS = {
    "mxbai-rerank-base-v2": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2
    ),
    "mxbai-rerank-large-v2": dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2
    ),
}


def model_config(engine_dir: Path, checkpoint_dir: Path | None = None) -> dict[str, int] | None:
    """The transformer sizes of an engine directory's model: its checkpoint's config.json, else a known model."""
    from rerankrt.manifest import read_manifest

    candidates = [checkpoint_dir] if checkpoint_dir else []
    try:
        model = read_manifest(engine_dir, verify=False).model
        local_path, source = model.local_path, model.source
    except Exception:  # noqa: BLE001 - no manifest: nothing to read
        local_path, source = None, ""
    if local_path:
        candidates.append(Path(local_path))
    for folder in candidates:
        if folder and (Path(folder) / "config.json").is_file():
            cfg = json.loads((Path(folder) / "config.json").read_text())
            return {k: int(cfg[k]) for k in KNOWN_CONFIGS["mxbai-rerank-base-v2"] if k in cfg} | {
                "vocab_size": int(cfg.get("vocab_size", 0))
            }
    for name, dims in KNOWN_CONFIGS.items():
        if name in source:
            return dict(dims, vocab_size=151936)
    return None


def matmul_params(config: dict[str, int]) -> int:
    """Weights multiplied per token in the transformer body (attention projections and MLP; not the embedding)."""
    hidden = config["hidden_size"]
    head_dim = hidden // config["num_attention_heads"]
    kv = config["num_key_value_heads"] * head_dim
    per_layer = hidden * hidden * 2 + hidden * kv * 2 + 3 * hidden * config["intermediate_size"]
    return config["num_hidden_layers"] * per_layer


def flops_per_token(config: dict[str, int], seq_len: float) -> float:
    """Forward FLOPs per token: 2 x matmul weights + attention 4 x layers x hidden x seq.

    The attention term counts the full (non-causal) score and value products, as the PaLM paper's model-FLOPs
    utilization does (Chowdhery et al. 2022, appendix B: 6N + 12LHQT for training, a third of it forward).
    """
    return 2.0 * matmul_params(config) + 4.0 * config["num_hidden_layers"] * config["hidden_size"] * float(seq_len)


def engine_backend(engine_dir: str | Path | None) -> str | None:
    """The backend an engine directory's manifest names ("tensorrt", "onnxruntime", ...), None without one."""
    if engine_dir is None:
        return None
    from rerankrt.manifest import read_manifest

    return read_manifest(engine_dir, verify=False).backend


def tensorrt_ready(engine_dir: str | Path) -> tuple[bool, str]:
    """Whether this machine can run a TensorRT engine directory; the reason when it cannot.

    The runtime's own check (`check_engine_fits`: the tensorrt package, a CUDA GPU, the engine's TensorRT version and
    compute capability), with its refusal as the reason.
    """
    try:
        from rerankrt.manifest import read_manifest
        from rerankrt.runtime.backends import check_engine_fits

        check_engine_fits(read_manifest(engine_dir, verify=False))
    except Exception as exc:  # noqa: BLE001 - any refusal is a reason to skip, reported as such
        return False, str(exc)
    return True, ""


def roofline(
    engine_dir: Path, tokens_per_s: float, mean_seq_len: float, *, checkpoint_dir: Path | None = None
) -> dict[str, Any]:
    """Achieved TFLOP/s from the model's FLOPs per token, against the GPU's peak at the engine's precision."""
    from rerankrt.manifest import read_manifest

    manifest = read_manifest(engine_dir, verify=False)
    config = model_config(engine_dir, checkpoint_dir)
    if config is None:
        return {"line": "roofline: model sizes unknown (no config.json and not a known model); skipped"}
    per_token = flops_per_token(config, mean_seq_len)
    achieved = per_token * tokens_per_s / 1e12
    precision = manifest.precision
    device = gpu_name() if manifest.backend == "tensorrt" else None
    peak = peak_tflops(device, precision) if device else None
    out = {
        "flops_per_token": per_token,
        "mean_seq_len": mean_seq_len,
        "achieved_tflops": achieved,
        "device": device or "CPU",
        "precision": precision,
        "peak_tflops": peak,
        "fraction_of_peak": None if not peak else achieved / peak,
    }
    work = f"{per_token / 1e9:.3f} GFLOP/token" if per_token >= 1e7 else f"{per_token / 1e6:.3f} MFLOP/token"
    if peak:
        out["line"] = (
            f"roofline: {achieved:.1f} TFLOP/s achieved = {100 * achieved / peak:.1f}% of {device}'s dense "
            f"{precision.upper()} peak {peak:g} TFLOP/s ({work} at mean length {mean_seq_len:.0f})"
        )
    else:
        where = device or "the CPU"
        out["line"] = (
            f"roofline: {achieved * 1e3:.1f} GFLOP/s achieved on {where} ({work} at mean length "
            f"{mean_seq_len:.0f}); no peak to compare against"
        )
    return out


def gpu_mode_line(engine_dir: str | Path | None) -> dict[str, Any]:
    """Whether the GPU mode runs, and why not: selected by an engine directory whose manifest backend is tensorrt."""
    if engine_dir is None:
        return {
            "ran": False,
            "line": "SKIP  GPU mode: no TensorRT engine directory given (pass --engine DIR of a tensorrt build)",
        }
    backend = engine_backend(engine_dir)
    if backend != "tensorrt":
        return {"ran": False, "line": f"SKIP  GPU mode: {engine_dir} is a {backend} engine directory, not tensorrt"}
    ok, why = tensorrt_ready(engine_dir)
    if not ok:
        return {"ran": False, "line": f"SKIP  GPU mode: {engine_dir} is a TensorRT engine but {why}"}
    return {"ran": True, "line": f"RUN   GPU mode: TensorRT engine {engine_dir} on {gpu_name()}"}


# -- workloads -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One rank request: a query over documents."""

    query: str
    documents: list[str]


def shipped_pairs() -> list:
    """The shipped query-document pairs (hand-written, 11 languages): the realistic text and length mix."""
    from rerankrt.calibration.dataset import load_pairs

    return load_pairs()


def mixed_requests(
    num_pairs: int, *, docs_per_query: int = 100, seed: int = 0, min_fraction: float = 0.2
) -> list[Request]:
    """Rank requests totalling `num_pairs` pairs, drawn from the shipped pairs (several languages, mixed lengths).

    Each document is a shipped document cut at a random point between `min_fraction` and all of its characters, so
    that texts rarely repeat (a tokenizer's word cache would flatter repeated text) and lengths spread further.
    """
    rng = np.random.default_rng(seed)
    pool = shipped_pairs()
    queries = sorted({p.query for p in pool})
    documents = sorted({p.document for p in pool})
    out, left = [], int(num_pairs)
    while left > 0:
        k = min(docs_per_query, left)
        query = queries[int(rng.integers(len(queries)))]
        docs = []
        for j in rng.integers(len(documents), size=k):
            doc = documents[int(j)]
            cut = max(1, int(len(doc) * rng.uniform(min_fraction, 1.0)))
            docs.append(doc[:cut])
        out.append(Request(query, docs))
        left -= k
    return out


def request_sizes_mix(num_requests: int, *, seed: int = 0, sizes=(1, 3, 10, 30, 100, 300, 1000), weights=None):
    """Documents per request for a mixed workload: many small requests, a few very large ones."""
    rng = np.random.default_rng(seed)
    weights = np.asarray(weights or [0.15, 0.3, 0.2, 0.15, 0.12, 0.05, 0.03], dtype=np.float64)
    return [int(s) for s in rng.choice(sizes, size=num_requests, p=weights / weights.sum())]
