"""rerankrt's batch counters as Triton custom metrics (served on Triton's ``/metrics`` port next to its own).

Triton counts requests and ``execute`` calls (``nv_inference_request_success``, ``nv_inference_exec_count``); these
counters add what happens inside the model: backend batches and how full they were. Fewer ``rerankrt_batches_total``
than requests means concurrent requests shared batches.
"""

from __future__ import annotations

from typing import Any

# metric name -> (SchedulerStats attribute, description)
COUNTERS = {
    "rerankrt_batches_total": ("batches", "Backend calls made by rerankrt's in-flight batcher"),
    "rerankrt_batch_rows_total": ("batch_rows", "Pairs over all backend calls"),
    "rerankrt_real_tokens_total": ("real_tokens", "Real tokens over all backend calls"),
    "rerankrt_padded_tokens_total": ("padded_tokens", "Padded tokens (rows x padded length) over all backend calls"),
    "rerankrt_failed_batches_total": ("failed_batches", "Backend calls that raised"),
}


class StatsCounters:
    """Mirrors cumulative `Reranker.stats()` counters into Triton COUNTER metrics, by increments.

    Args:
        pb: The ``triton_python_backend_utils`` module (or a fake).
        labels: Labels on every metric, e.g. ``{"model": ..., "instance": ...}``.
    """

    def __init__(self, pb: Any, labels: dict[str, str]) -> None:
        self._families = []
        self._metrics = {}
        for name, (attr, description) in COUNTERS.items():
            family = pb.MetricFamily(name=name, description=description, kind=pb.MetricFamily.COUNTER)
            self._families.append(family)  # a family must outlive its metrics
            self._metrics[attr] = family.Metric(labels=dict(labels))
        self._seen = dict.fromkeys(self._metrics, 0)

    def update(self, stats: Any) -> None:
        """Add what each counter of `stats` (a `SchedulerStats`) gained since the last update."""
        for attr, metric in self._metrics.items():
            value = int(getattr(stats, attr, 0) or 0)
            delta = value - self._seen[attr]
            if delta > 0:
                metric.increment(delta)
                self._seen[attr] = value

    def close(self) -> None:
        """Drop the metrics before their families, as Triton requires."""
        self._metrics.clear()
        self._families.clear()
