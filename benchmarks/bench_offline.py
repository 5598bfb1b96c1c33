"""Offline throughput: `Reranker` on a CPU engine directory vs mxbai-rerank's ``rank`` on the same weights and threads.

For each model, one seeded random causal-LM checkpoint (the ``mixedbread-ai/mxbai-rerank-base-v2`` form) is written,
and a CPU engine directory is built from that very folder (``build(gpu="cpu", template="mxbai")``: the reference
library's template and truncation, float32 ONNX on onnxruntime). mxbai-rerank loads the same folder
(``MxbaiRerankV2(path, device="cpu", torch_dtype=torch.float32)``) in the reference venv (``.venv-ref``, transformers
4.57; it breaks on transformers 5), as a worker process that times its own rounds (benchmarks/reference.py). Both get
the same thread count and the same rank requests (one query, many documents, drawn from the shipped pairs), and both
cap query + document at ``max_length`` tokens. The two run round-robin on the same machine, never at once; the
median round counts. Scores of both are compared pair by pair, so speed never hides a difference in results.

Models: ``tiny`` (hidden 64, 2 layers, real vocabulary) and ``qwen`` (Qwen2.5-0.5B widths cut to a few layers).
Note on the ratio: mxbai-rerank computes the full LM head (151,936 x hidden) at every position and reads one
position; rerankrt's engine runs the body and one folded head row. That fixed cost weighs more the fewer layers a
model has, so the ratio on a cut model overstates the ratio on the 24-layer model; the report gives the FLOPs of
both per token so the reader can scale it.

GPU mode: ``--engine DIR`` of a TensorRT build (manifest backend "tensorrt") runs the same requests on it and prints
achieved TFLOP/s against the GPU's dense peak; without TensorRT or a GPU it is skipped with a line saying why.

    python -m benchmarks.bench_offline [--size tiny|quick|full] [--models tiny,qwen] [--layers 2] [--engine DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    SHAPE_LABEL,
    Request,
    Target,
    cache_dir,
    check_size,
    cli_main,
    cpu_engine,
    cpu_threads,
    environment,
    flops_per_token,
    fmt,
    gpu_mode_line,
    interleaved,
    log,
    markdown_table,
    median,
    mixed_requests,
    model_config,
    pyplot,
    results_dir,
    roofline,
    save_figure,
    write_outputs,
)
from benchmarks.reference import ReferenceWorker, Timed

NAME = "offline"
MODELS = {"tiny": "tiny", "qwen": "qwen2.5-0.5b"}
# (requests, documents per request) per model and size.
WORKLOAD = {
    "tiny": {"tiny": (1, 3), "quick": (1, 8), "full": (1, 24)},
    "qwen": {"tiny": (1, 4), "quick": (1, 4), "full": (1, 16)},
}
REPEATS = {"tiny": 1, "quick": 2, "full": 3}
SIZE_MODELS = {"tiny": ("tiny",), "quick": ("tiny", "qwen"), "full": ("tiny", "qwen")}
DEFAULT_LAYERS = 2
MAX_LENGTH = 512
# mxbai-rerank materializes [batch, seq, 151936] float32 logits: 32 x 600 tokens would be 11.7 GB. 8 keeps a batch
# under 3 GB; its own default (32) is only faster where memory allows it.
MXBAI_BATCH_SIZE = 8
TARGET_SPEEDUP = 1.5
TARGET_SCORE_ATOL = 1e-4


def _tokens(encoder, requests: list[Request]) -> tuple[int, float]:
    lengths = np.concatenate([encoder.encode(r.query, r.documents).lengths for r in requests])
    return int(lengths.sum()), float(lengths.mean())


def _scores_by_index(results, n: int) -> np.ndarray:
    out = np.full(n, np.nan, dtype=np.float64)
    for r in results:
        out[int(r.index)] = float(r.score)
    return out


def _compare_model(
    label: str,
    ckpt: Path | None,
    engine: Path,
    requests: list[Request],
    repeats: int,
    threads: int,
    *,
    reference_device: str = "cpu",
    warm_up: bool = True,
) -> dict[str, Any]:
    """Time rerankrt (and mxbai-rerank when `ckpt` is given) on `requests`; compare their scores."""
    import torch

    from rerankrt.runtime.reranker import Reranker

    torch.set_num_threads(threads)
    load_options = {"threads": threads} if _backend_of(engine) == "onnxruntime" else {}
    reranker = Reranker.load(engine, **load_options)
    reference = None
    if ckpt is not None:
        reference = ReferenceWorker(
            ckpt, threads=threads, max_length=reranker.encoder.max_length, device=reference_device
        )
    n_pairs = sum(len(r.documents) for r in requests)
    tokens, mean_len = _tokens(reranker.encoder, requests)
    ours: list[np.ndarray] = []
    theirs: list[np.ndarray] = []

    def run_rerankrt():
        ours[:] = [_scores_by_index(reranker.rank(r.query, r.documents), len(r.documents)) for r in requests]

    def run_mxbai() -> Timed:
        seconds, scores = reference.time_rank(MXBAI_BATCH_SIZE)
        theirs[:] = [np.asarray(row, dtype=np.float64) for row in scores]
        return seconds

    candidates = {"rerankrt": run_rerankrt}
    if reference is not None:
        candidates["mxbai-rerank"] = run_mxbai
    if warm_up:  # an untimed call each: session and thread-pool start-up is not throughput
        warm = Request(requests[0].query, requests[0].documents[:2])
        reranker.rank(warm.query, warm.documents)
        if reference is not None:
            reference.set_requests([(warm.query, warm.documents)])
            reference.time_rank(MXBAI_BATCH_SIZE)
    if reference is not None:
        reference.set_requests([(r.query, r.documents) for r in requests])
    times = interleaved(candidates, repeats, label=f"{NAME} [{label}]: ")
    stats = reranker.stats()
    reranker.close()
    out: dict[str, Any] = {
        "model": label,
        "backend": reranker.backend.name,
        "precision": getattr(reranker.backend, "precision", None),
        "pairs": n_pairs,
        "requests": len(requests),
        "tokens": tokens,
        "mean_tokens_per_pair": mean_len,
        "threads": threads,
        "seconds": times,
        "rerankrt": {
            "pairs_per_s": n_pairs / median(times["rerankrt"]),
            "tokens_per_s": tokens / median(times["rerankrt"]),
            "batches": stats.batches,
            "mean_batch_size": stats.mean_batch_size,
            "padding_efficiency": stats.padding_efficiency,
        },
    }
    if reference is not None:
        a, b = np.concatenate(ours), np.concatenate(theirs)
        diff = np.abs(a - b)
        out["mxbai"] = {
            "pairs_per_s": n_pairs / median(times["mxbai-rerank"]),
            "tokens_per_s": tokens / median(times["mxbai-rerank"]),
            "batch_size": MXBAI_BATCH_SIZE,
        }
        out["speedup"] = out["rerankrt"]["pairs_per_s"] / out["mxbai"]["pairs_per_s"]
        out["scores"] = {
            "max_abs_diff": float(np.nanmax(diff)),
            "mean_abs_diff": float(np.nanmean(diff)),
            "score_range": [float(np.min(b)), float(np.max(b))],
            "same_top1_per_request": all(
                int(np.argmax(x)) == int(np.argmax(y)) for x, y in zip(ours, theirs, strict=True)
            ),
            "nan": int(np.isnan(diff).sum()),
        }
        reference.close()
    return out


def _backend_of(engine: Path) -> str:
    from rerankrt.manifest import read_manifest

    return read_manifest(engine, verify=False).backend


def run(
    size: str = "full",
    *,
    results: str | Path | None = None,
    models: tuple[str, ...] | None = None,
    layers: int = DEFAULT_LAYERS,
    repeats: int | None = None,
    threads: int | None = None,
    engine: str | Path | None = None,
) -> dict[str, Any]:
    """Measure pairs/s and tokens/s of rerankrt vs mxbai-rerank; write offline.{json,md,png}.

    Args:
        size: "tiny", "quick" or "full". Defaults to "full".
        results: Results folder. Defaults to benchmarks/results/.
        models: Any of "tiny", "qwen". Defaults to the size's (tiny only at size tiny).
        layers: Layers of the Qwen2.5-0.5B-shaped model. Defaults to 2.
        repeats: Rounds per candidate. Defaults to the size's.
        threads: Threads for both libraries. Defaults to the CPUs this process may use.
        engine: An engine directory to benchmark instead of the built ones (GPU mode when its backend is tensorrt).

    Returns:
        The result record (also written as JSON), with ``targets`` holding the PASS/FAIL lines.
    """
    check_size(size)
    folder = results_dir(results)
    cache = cache_dir(folder)
    threads = int(threads or cpu_threads())
    repeats = int(repeats or REPEATS[size])
    models = tuple(models or SIZE_MODELS[size])
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {sorted(MODELS)}")

    runs: list[dict[str, Any]] = []
    targets: list[Target] = []
    gpu = gpu_mode_line(engine) if engine is not None else gpu_mode_line(None)
    if engine is not None:
        engine = Path(engine)
        if gpu["ran"] or _backend_of(engine) != "tensorrt":
            runs.append(_engine_run(engine, size, repeats, threads))
    else:
        for key in models:
            shape = MODELS[key]
            n_layers = layers if key == "qwen" else None
            ckpt, built = cpu_engine(cache, shape, n_layers, template="mxbai", max_length=MAX_LENGTH)
            n_req, per_req = WORKLOAD[key][size]
            requests = mixed_requests(n_req * per_req, docs_per_query=per_req, seed=1)
            label = f"{key} ({SHAPE_LABEL[shape]}, {model_config(built, ckpt)['num_hidden_layers']} layers)"
            log(f"{NAME}: {label}: {n_req} request(s) x {per_req} documents, {threads} threads")
            record = _compare_model(label, ckpt, built, requests, repeats, threads, warm_up=size != "tiny")
            record.update(_flops(built, ckpt, record))
            runs.append(record)
    for record in runs:
        # The targets are the CPU float32 ones; a GPU engine's FP8 scores and speed are reported, not judged.
        if "speedup" in record and record["backend"] == "onnxruntime" and record["precision"] == "fp32":
            targets.append(
                Target(
                    f"offline CPU speedup vs mxbai-rerank [{record['model']}]",
                    record["speedup"],
                    TARGET_SPEEDUP,
                    ">=",
                    detail=f"{fmt(record['rerankrt']['pairs_per_s'])} vs {fmt(record['mxbai']['pairs_per_s'])} "
                    f"pairs/s, {threads} threads each",
                )
            )
            targets.append(
                Target(
                    f"offline scores equal to mxbai-rerank [{record['model']}]",
                    record["scores"]["max_abs_diff"],
                    TARGET_SCORE_ATOL,
                    "<=",
                    unit="",
                    detail="largest absolute score difference over all pairs, float32 logits",
                )
            )

    result = {
        "benchmark": NAME,
        "size": size,
        "environment": environment(),
        "threads": threads,
        "max_length": MAX_LENGTH,
        "gpu_mode": gpu,
        "runs": runs,
        "targets": [t.as_dict() for t in targets],
    }
    return write_outputs(
        folder,
        NAME,
        result,
        _markdown(result, targets),
        plot=(lambda png: _plot(runs, png)) if any("mxbai" in r for r in runs) else None,
        lines=[f"{r['model']}: {r['roofline']['line']}" for r in runs if "roofline" in r]
        + [t.line for t in targets]
        + [gpu["line"]],
    )


def _flops(engine: Path, ckpt: Path | None, record: dict[str, Any]) -> dict[str, Any]:
    config = model_config(engine, ckpt)
    if config is None:
        return {}
    mean_len = record["mean_tokens_per_pair"]
    ours = flops_per_token(config, mean_len)
    lm_head = 2.0 * config["vocab_size"] * config["hidden_size"]
    line = roofline(engine, record["rerankrt"]["tokens_per_s"], mean_len, checkpoint_dir=ckpt)
    return {
        "flops_per_token": ours,
        "mxbai_flops_per_token": ours + lm_head,
        "roofline": line,
    }


def _engine_run(engine: Path, size: str, repeats: int, threads: int) -> dict[str, Any]:
    """Rerankrt alone on a given engine directory (GPU mode, or a CPU directory), with its roofline line."""
    from rerankrt.manifest import read_manifest

    manifest = read_manifest(engine, verify=False)
    ckpt = Path(manifest.model.local_path) if manifest.model.local_path else None
    # mxbai-rerank runs its own template on a causal checkpoint: compare only where the engine has both.
    comparable = manifest.template == "mxbai" and manifest.model.form == "causal"
    reference = ckpt if comparable and ckpt is not None and ckpt.is_dir() else None
    device = "cpu"
    if manifest.backend == "tensorrt":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        reference = reference if device == "cuda" else None
    n_req, per_req = {"tiny": (1, 16), "quick": (4, 64), "full": (8, 128)}[size]
    requests = mixed_requests(n_req * per_req, docs_per_query=per_req, seed=1)
    label = f"{engine.name} ({manifest.backend}, {manifest.precision})"
    log(f"{NAME}: {label}: {n_req} request(s) x {per_req} documents")
    record = _compare_model(label, reference, engine, requests, repeats, threads, reference_device=device)
    record.update(_flops(engine, ckpt, record))
    return record


def _markdown(result: dict[str, Any], targets: list[Target]) -> str:
    if not result["runs"]:
        return "\n\n".join(["## Offline throughput", f"- {result['gpu_mode']['line']}"])
    rows = []
    for r in result["runs"]:
        mx = r.get("mxbai", {})
        rows.append(
            [
                r["model"],
                f"{r['pairs']} ({r['mean_tokens_per_pair']:.0f} tok)",
                fmt(r["rerankrt"]["pairs_per_s"]),
                fmt(mx.get("pairs_per_s")),
                f"{r['speedup']:.2f}x" if "speedup" in r else "n/a",
                fmt(r["rerankrt"]["tokens_per_s"]),
                fmt(mx.get("tokens_per_s")),
                f"{r['scores']['max_abs_diff']:.2e}" if "scores" in r else "n/a",
                f"{r['rerankrt']['padding_efficiency']:.3f}",
            ]
        )
    parts = [
        f"## Offline throughput ({result['threads']} threads each, max_length {result['max_length']}, "
        f"median of {len(result['runs'][0]['seconds']['rerankrt'])})",
        markdown_table(
            [
                "model",
                "pairs (mean tokens)",
                "rerankrt pairs/s",
                "mxbai pairs/s",
                "speedup",
                "rerankrt tokens/s",
                "mxbai tokens/s",
                "max abs Δscore",
                "padding eff.",
            ],
            rows,
        ),
    ]
    flops = [r for r in result["runs"] if "flops_per_token" in r]
    if flops:
        parts.append(
            "FLOPs per token (body + attention at the mean length; mxbai-rerank adds its full LM head at every "
            "position): "
            + "; ".join(
                f"{r['model']}: rerankrt {r['flops_per_token'] / 1e6:.1f} MFLOP, mxbai-rerank "
                f"{r['mxbai_flops_per_token'] / 1e6:.1f} MFLOP"
                for r in flops
            )
            + "."
        )
        parts.append("\n".join(f"- {r['model']}: {r['roofline']['line']}" for r in flops if "roofline" in r))
    parts.append("\n".join(f"- {t.line}" for t in targets) + f"\n- {result['gpu_mode']['line']}")
    return "\n\n".join(parts)


def _plot(runs: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    runs = [r for r in runs if "mxbai" in r]
    x = np.arange(len(runs))
    ax.bar(x - 0.2, [r["rerankrt"]["tokens_per_s"] for r in runs], 0.4, label="rerankrt", color="#4477aa")
    ax.bar(x + 0.2, [r["mxbai"]["tokens_per_s"] for r in runs], 0.4, label="mxbai-rerank", color="#cc6677")
    ax.set_xticks(x, [r["model"].split(" (")[0] for r in runs])
    ax.set_yscale("log")
    ax.set_ylabel("tokens/s (log)")
    ax.set_title("Offline throughput, CPU, same weights and threads")
    ax.legend()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        __doc__,
        NAME,
        lambda a: run(
            a.size,
            results=a.results,
            models=tuple(m for m in a.models.split(",") if m) if a.models else None,
            layers=a.layers,
            repeats=a.repeats,
            threads=a.threads,
            engine=a.engine,
        ),
        [
            ("--models", {"default": None, "help": "comma-separated: tiny,qwen (default: the size's)"}),
            ("--layers", {"type": int, "default": DEFAULT_LAYERS, "help": "layers of the Qwen2.5-0.5B-shaped model"}),
            ("--repeats", {"type": int, "default": None}),
            ("--threads", {"type": int, "default": None}),
            ("--engine", {"default": None, "help": "benchmark this engine directory (tensorrt: GPU mode)"}),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
