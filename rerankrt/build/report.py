"""Gate scores and metrics -> report.json, report.md and report.png (candidate vs reference scatter) on disk."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from rerankrt.build.gate import GateResult

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_PNG = "report.png"


def _clean(value):
    """JSON-safe: inf/nan -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def scatter_png(path: Path, reference: np.ndarray, candidate: np.ndarray, *, title: str, label: str) -> Path:
    """A PNG scatter of candidate vs reference scores with the identity line (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    finite = np.isfinite(candidate)
    ax.scatter(reference[finite], candidate[finite], s=8, alpha=0.6)
    values = np.concatenate([reference, candidate[finite]]) if finite.any() else reference
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linewidth=1, linestyle="--")
    ax.set_xlabel("float32 reference score")
    ax.set_ylabel(f"{label} score")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def report_from_scores(
    out_dir: str | Path,
    *,
    reference: np.ndarray,
    candidate: np.ndarray,
    groups: list[str],
    gate: GateResult,
    label: str,
    meta: dict[str, Any],
    extra_gates: dict[str, GateResult] | None = None,
    estimate: tuple[str, GateResult] | None = None,
) -> dict[str, Any]:
    """Write report.json, report.md and report.png into `out_dir`; return the report dict.

    Args:
        out_dir: Folder to write into.
        reference: float32 reference scores of the held-out pairs.
        candidate: Scores of the graph the build ships.
        groups: Query group per pair.
        gate: The gate verdict on `candidate`.
        label: What `candidate` is, e.g. "FP8 (onnxruntime)".
        meta: Build facts to include (target, model, calibration, checks, timings).
        extra_gates: Other graphs gated in the same build (e.g. the CPU INT8 graph). Defaults to None.
        estimate: (label, verdict) of the CPU estimate of a TensorRT engine's numerics (informational: it is
            scored against the same thresholds but does not fail the build). Defaults to None.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = _clean(
        {
            "label": label,
            "passed": gate.passed,
            "gate": gate.as_dict(),
            "extra_gates": {k: v.as_dict() for k, v in (extra_gates or {}).items()},
            "fidelity": {
                "twin": {"label": label, **gate.metrics},
                "estimate": {"label": estimate[0], **estimate[1].metrics} if estimate else None,
            },
            **meta,
            "scores": {
                "groups": list(groups),
                "reference": [round(float(x), 6) for x in reference],
                "candidate": [round(float(x), 6) if math.isfinite(float(x)) else None for x in candidate],
            },
        }
    )
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    lines = _report_lines(gate, label, meta, extra_gates, estimate)
    m = gate.metrics
    (out_dir / REPORT_MD).write_text("\n".join(lines))
    scatter_png(
        out_dir / REPORT_PNG,
        np.asarray(reference, dtype=np.float64),
        np.asarray(candidate, dtype=np.float64),
        title=f"{label} vs float32 reference ({m.get('pairs')} held-out pairs)",
        label=label,
    )
    return report


def _report_lines(
    gate: GateResult,
    label: str,
    meta: dict[str, Any],
    extra_gates: dict[str, GateResult] | None,
    estimate: tuple[str, GateResult] | None,
) -> list[str]:
    """report.md's lines: the gate table, missed thresholds, the fidelity table, other graphs' gates, build facts."""
    m, t = gate.metrics, gate.thresholds
    rows = [
        ("Spearman (mean per query)", m.get("spearman"), f">= {t['min_spearman']:g}"),
        ("Kendall tau (mean per query)", m.get("kendall"), f">= {t['min_kendall']:g}"),
        ("top-1 agreement", m.get("top1"), f">= {t['min_top1']:g}"),
        ("top-5 overlap", m.get("top5"), f">= {t['min_top5']:g}"),
        ("max abs score error", m.get("max_abs_error"), f"<= {t['max_abs_error']:g}"),
        ("mean abs score error", m.get("mean_abs_error"), f"<= {t['max_mean_abs_error']:g}"),
        ("Pearson", m.get("pearson"), ""),
    ]
    lines = [
        f"# Build report: {label} vs float32 reference",
        "",
        f"**Gate: {'PASSED' if gate.passed else 'FAILED'}** on {m.get('pairs')} held-out pairs in "
        f"{m.get('groups')} query groups (never the calibration pairs).",
        "",
        "| metric | value | threshold |",
        "|---|---|---|",
        *[f"| {name} | {_fmt(value)} | {limit} |" for name, value, limit in rows],
        "",
    ]
    if gate.failures:
        lines += ["## Missed thresholds", "", *[f"- {f}" for f in gate.failures], ""]
    if estimate is not None:
        e = estimate[1].metrics
        lines += [
            "## Fidelity: the gated twin and the estimate of the shipped numerics",
            "",
            "| graph | Spearman | Kendall | top-1 | top-5 | max abs err | mean abs err |",
            "|---|---|---|---|---|---|---|",
            *[
                f"| {name} | {_fmt(x.get('spearman'))} | {_fmt(x.get('kendall'))} | {_fmt(x.get('top1'))} | "
                f"{_fmt(x.get('top5'))} | {_fmt(x.get('max_abs_error'))} | {_fmt(x.get('mean_abs_error'))} |"
                for name, x in ((label + " (gated)", m), (estimate[0] + " (informational)", e))
            ],
            "",
            *[f"- the estimate misses: {f}" for f in estimate[1].failures],
            "",
        ]
    for name, other in (extra_gates or {}).items():
        lines += [
            f"## {name}: {'passed' if other.passed else 'FAILED'}",
            "",
            *[f"- {k}: {_fmt(other.metrics.get(k))}" for k in ("spearman", "kendall", "top1", "max_abs_error")],
            *[f"- missed: {f}" for f in other.failures],
            "",
        ]
    lines += ["## Build", "", "```json", json.dumps(_clean(meta), indent=2), "```", "", f"![scatter]({REPORT_PNG})", ""]
    return lines


def layer_table_markdown(rows: list[dict[str, Any]], verdict: dict[str, Any]) -> str:
    """The engine inspector's layers (name, precision, tactic) -> a report.md section."""
    lines = [
        "## TensorRT layers (engine inspector, DETAILED)",
        "",
        f"FP8 GEMMs {verdict.get('fp8_gemms')} of {verdict.get('body_linears_expected')} body linears; "
        f"fused attention layers {verdict.get('fused_attention')}; "
        f"{'PASSED' if verdict.get('passed') else 'FAILED'}",
        "",
        "| layer | type | precision | tactic |",
        "|---|---|---|---|",
        *[f"| {r['name']} | {r['type']} | {r['precision']} | {r['tactic']} |" for r in rows],
        "",
    ]
    return "\n".join(lines)


def append_layer_table(out_dir: str | Path, rows: list[dict[str, Any]], verdict: dict[str, Any]) -> None:
    """Add the engine's layer table to report.md and report.json (written earlier by the gate stage)."""
    out_dir = Path(out_dir)
    md, js = out_dir / REPORT_MD, out_dir / REPORT_JSON
    if md.is_file():
        md.write_text(md.read_text() + "\n" + layer_table_markdown(rows, verdict))
    if js.is_file():
        data = json.loads(js.read_text())
        data["tensorrt_layers"] = {"verdict": verdict, "layers": rows}
        js.write_text(json.dumps(_clean(data), indent=2) + "\n")
