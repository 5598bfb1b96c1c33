"""Held-out pairs -> candidate and reference scores -> ranking and error metrics -> a verdict naming each miss.

The gate compares the graph a build ships (the FP8 Q/DQ graph on TensorRT targets, run in onnxruntime; the
float32 or INT8 graph on the CPU target) with the float32 torch reference, on the held-out split only: the
calibration pairs set the FP8 scales and would flatter the result. Ranking metrics are computed per query group and
averaged; error metrics over all pairs, in raw score (logit) units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rerankrt.build.config import GateThresholds
from rerankrt.calibration.loop import length_batches, progress
from rerankrt.prompt import Encoded

TOP_K = 5


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict.

    Attributes:
        passed: Whether every threshold was met.
        metrics: The measured metrics (see `metrics_from_scores`).
        thresholds: The thresholds applied.
        failures: One line per missed threshold.
    """

    passed: bool
    metrics: dict[str, Any]
    thresholds: dict[str, float]
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scores_from_backend(
    backend, encoded: Encoded, pad_id: int, *, max_tokens: int, max_batch: int, desc: str = "scoring"
) -> np.ndarray:
    """Encoded pairs -> float32 scores in input order, through any `Backend`, in length-bucketed batches.

    Args:
        backend: A `rerankrt.runtime.backends.base.Backend`.
        encoded: Templated token ids.
        pad_id: Padding token id.
        max_tokens: Padded tokens per batch.
        max_batch: Rows per batch.
        desc: Progress bar label. Defaults to "scoring".
    """
    out = np.zeros(len(encoded), dtype=np.float32)
    batches = length_batches(encoded.ids, pad_id, max_tokens=max_tokens, max_batch=max_batch)
    for batch in progress(batches, total=len(batches), desc=desc):
        out[batch.index] = backend.score(batch.input_ids, batch.lengths)
    return out


def _groups(groups: Sequence[str]) -> list[np.ndarray]:
    index: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(g, []).append(i)
    return [np.asarray(v) for v in index.values()]


def metrics_from_scores(reference: np.ndarray, candidate: np.ndarray, groups: Sequence[str]) -> dict[str, Any]:
    """Reference and candidate scores of the same pairs -> per-query ranking agreement and score errors.

    Args:
        reference: float32 [n] reference scores.
        candidate: float32 [n] scores of the graph under test.
        groups: The query group of each pair.

    Returns:
        ``spearman`` and ``kendall`` (means over groups with 2+ pairs and non-constant reference scores),
        ``top1`` (fraction of groups whose candidate top pair has the reference's top score), ``top5`` (mean
        overlap of the top-5 sets, over groups with more than 5 pairs; None where no group has), ``max_abs_error``,
        ``mean_abs_error``, ``pearson`` and counts. A non-finite candidate score makes every metric fail.
    """
    from scipy import stats

    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape or reference.ndim != 1 or len(groups) != len(reference):
        raise ValueError("reference, candidate and groups must be 1-D and of one length")
    finite = bool(np.isfinite(candidate).all())
    error = np.abs(candidate - reference)
    spearman, kendall, top1, top5 = [], [], [], []
    for idx in _groups(groups):
        ref, cand = reference[idx], candidate[idx]
        if len(idx) < 2:
            continue
        if finite and np.ptp(ref) > 0:
            if np.ptp(cand) > 0:
                spearman.append(stats.spearmanr(ref, cand).statistic)
                kendall.append(stats.kendalltau(ref, cand).statistic)
            else:  # a collapsed candidate ranks nothing
                spearman.append(0.0)
                kendall.append(0.0)
        top1.append(float(finite and ref[int(np.argmax(cand))] == ref.max()))
        if len(idx) > TOP_K:
            ref_top = set(np.argsort(-ref, kind="stable")[:TOP_K].tolist())
            cand_top = set(np.argsort(-cand, kind="stable")[:TOP_K].tolist())
            top5.append(len(ref_top & cand_top) / TOP_K if finite else 0.0)

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    pearson = float(np.corrcoef(reference, candidate)[0, 1]) if finite and np.ptp(candidate) > 0 else 0.0
    return {
        "pairs": len(reference),
        "groups": len(_groups(groups)),
        "groups_ranked": len(spearman),
        "groups_top5": len(top5),
        "finite": finite,
        "spearman": mean(spearman),
        "kendall": mean(kendall),
        "top1": mean(top1),
        "top5": mean(top5),
        "max_abs_error": float(error.max()) if finite else math.inf,
        "mean_abs_error": float(error.mean()) if finite else math.inf,
        "pearson": pearson,
        "reference_std": float(reference.std()),
        "candidate_std": float(candidate.std()) if finite else math.nan,
    }


_CHECKS = (
    # (metric, threshold field, direction)
    ("spearman", "min_spearman", "min"),
    ("kendall", "min_kendall", "min"),
    ("top1", "min_top1", "min"),
    ("top5", "min_top5", "min"),
    ("max_abs_error", "max_abs_error", "max"),
    ("mean_abs_error", "max_mean_abs_error", "max"),
)


def gate_from_metrics(metrics: dict[str, Any], thresholds: GateThresholds) -> GateResult:
    """Metrics and thresholds -> `GateResult`; each miss is written as "metric value < min threshold (short by d)".

    A metric that could not be measured (None: e.g. no group with more than 5 pairs for top-5) is not held
    against the build, except Spearman, which must be measured on at least one group.
    """
    failures = []
    if not metrics.get("finite", True):
        failures.append("scores: the candidate graph produced NaN or infinite scores")
    for metric, key, direction in _CHECKS:
        value = metrics.get(metric)
        limit = getattr(thresholds, key)
        if value is None:
            if metric == "spearman":
                failures.append("spearman: no held-out group has 2+ pairs with distinct reference scores")
            continue
        if direction == "min" and not value >= limit:
            failures.append(f"{metric} {value:.4f} < min {limit:g} (short by {limit - value:.4f})")
        elif direction == "max" and not value <= limit:
            failures.append(f"{metric} {value:.4g} > max {limit:g} (over by {value - limit:.4g})")
    return GateResult(passed=not failures, metrics=metrics, thresholds=asdict(thresholds), failures=failures)
