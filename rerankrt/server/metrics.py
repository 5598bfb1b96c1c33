"""Prometheus metrics of one server: requests, latency, and what the scheduler's batches looked like.

Each app gets its own `CollectorRegistry`, so tests (and processes serving several engines) can make many apps.
Request metrics are recorded by the server; per-batch histograms come from a batch listener
(`Reranker.add_batch_listener`); totals and the queue depth are read from the reranker's stats snapshot at scrape
time, so they always agree with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rerankrt._optional import require

PREFIX = "rerankrt"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_TOKEN_BUCKETS = tuple(2**k for k in range(6, 19))  # 64 .. 262144 padded tokens
EFFICIENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

# Scheduler snapshot fields exported as counters: (snapshot field, metric name without prefix/suffix, help).
SNAPSHOT_COUNTERS = (
    ("batches", "batches", "Backend batches run."),
    ("failed_batches", "failed_batches", "Backend batches that failed."),
    ("real_tokens", "tokens_processed", "Real tokens scored by the backend (no padding)."),
    ("padded_tokens", "padded_tokens", "Tokens the backend computed, padding included."),
    ("pairs_scored", "pairs_scored", "Pairs scored by the backend."),
    ("requests_rejected", "scheduler_rejected", "Requests the scheduler refused as overloaded."),
)
SNAPSHOT_GAUGES = (
    ("pending_pairs", "queue_depth", "Pairs admitted and waiting for a batch."),
    ("pending_requests", "pending_requests", "Requests admitted and not finished."),
    ("running_pairs", "running_pairs", "Pairs in the batch the backend runs now."),
)


class ServerMetrics:
    """The server's metrics in a registry of their own.

    Metric names (all prefixed ``rerankrt_``):

    - ``requests_total{route,status}``: requests answered, by route and HTTP status.
    - ``request_duration_seconds{route}``: time from request to response, a histogram.
    - ``requests_in_flight``: requests being served now.
    - ``documents_total{route}``: query-document pairs (or /predict inputs) scored for requests.
    - ``usage_tokens_total{route}``: tokens reported to callers as usage (template included).
    - ``batch_size``, ``batch_tokens``, ``padding_efficiency``: per backend batch: rows, padded tokens (rows x
      padded length) and real / padded tokens, histograms.
    - ``batches_total``, ``failed_batches_total``, ``tokens_processed_total``, ``padded_tokens_total``,
      ``pairs_scored_total``, ``scheduler_rejected_total``: the scheduler's totals.
    - ``padding_efficiency_ratio``: real / padded tokens over all batches so far.
    - ``truncations_total{reason}``: pairs cut to fit: ``max_length`` (the prompt template's cap, in the
      scheduler), ``max_tokens_per_doc`` (the server's or request's document cap), ``predict_prompt`` (a
      caller-formatted prompt cut in its middle).
    - ``queue_depth``, ``pending_requests``, ``running_pairs``: the scheduler now.
    - ``worker_alive``: 1 while the scheduler's worker runs.

    Args:
        state: Called at scrape time; returns the reranker's stats snapshot (a mapping or dataclass). Defaults to
            None (snapshot metrics are then absent).
    """

    def __init__(self, state: Callable[[], Any] | None = None) -> None:
        prom = require("prometheus_client", purpose="the server's /metrics")
        self._prom = prom
        self.registry = prom.CollectorRegistry(auto_describe=True)
        r = self.registry
        p = PREFIX
        self.requests = prom.Counter(
            f"{p}_requests", "Requests answered, by route and status.", ["route", "status"], registry=r
        )
        self.latency = prom.Histogram(
            f"{p}_request_duration_seconds",
            "Request latency, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = prom.Gauge(f"{p}_requests_in_flight", "Requests being served now.", registry=r)
        self.documents = prom.Counter(
            f"{p}_documents", "Pairs or inputs scored for requests, by route.", ["route"], registry=r
        )
        self.usage_tokens = prom.Counter(
            f"{p}_usage_tokens", "Tokens reported as usage, by route.", ["route"], registry=r
        )
        self.batch_size = prom.Histogram(
            f"{p}_batch_size", "Rows per backend batch.", buckets=BATCH_SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = prom.Histogram(
            f"{p}_batch_tokens", "Padded tokens per backend batch.", buckets=BATCH_TOKEN_BUCKETS, registry=r
        )
        self.padding_efficiency = prom.Histogram(
            f"{p}_padding_efficiency",
            "Real / padded tokens per backend batch.",
            buckets=EFFICIENCY_BUCKETS,
            registry=r,
        )
        self._server_cuts: dict[str, float] = {"max_tokens_per_doc": 0.0, "predict_prompt": 0.0}
        self._state = state
        if state is not None:
            r.register(_SnapshotCollector(self))

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_usage(self, route: str, documents: int, tokens: int) -> None:
        """Count the pairs and tokens one successful request scored."""
        self.documents.labels(route=route).inc(documents)
        self.usage_tokens.labels(route=route).inc(tokens)

    def observe_cut(self, reason: str, count: int) -> None:
        """Count pairs the server cut: ``max_tokens_per_doc``, ``predict_prompt``, or ``max_length`` (pairs the server
        tokenized itself, added to the scheduler's count)."""
        if count:
            self._server_cuts[reason] = self._server_cuts.get(reason, 0.0) + count

    def observe_batch(self, stats: Any) -> None:
        """Record one backend batch (a scheduler `BatchStats`). Safe to call from the scheduler's worker thread."""
        rows = int(_get(stats, "rows", 0))
        padded = int(_get(stats, "padded_tokens", 0))
        real = int(_get(stats, "real_tokens", 0))
        self.batch_size.observe(rows)
        self.batch_tokens.observe(padded)
        if padded > 0:
            self.padding_efficiency.observe(real / padded)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this registry, and its content type."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST

    def snapshot(self) -> Mapping[str, Any]:
        """The reranker's stats as a mapping; empty when there is none or it fails."""
        if self._state is None:
            return {}
        try:
            state = self._state()
        except Exception:  # noqa: BLE001 - a failing snapshot must not fail the scrape
            return {}
        if isinstance(state, Mapping):
            return state
        names = getattr(state, "__dataclass_fields__", None) or vars(state)
        return {name: getattr(state, name) for name in names}


def _get(obj: Any, key: str, default: Any = None) -> Any:
    return obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)


class _SnapshotCollector:
    """Exports the reranker's stats snapshot at scrape time."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snap = self._metrics.snapshot()
        p = PREFIX
        for key, name, doc in SNAPSHOT_COUNTERS:
            if key in snap:
                yield CounterMetricFamily(f"{p}_{name}", doc, value=float(snap[key]))
        for key, name, doc in SNAPSHOT_GAUGES:
            if key in snap:
                yield GaugeMetricFamily(f"{p}_{name}", doc, value=float(snap[key]))
        if "worker_alive" in snap:
            yield GaugeMetricFamily(
                f"{p}_worker_alive", "1 while the scheduler's worker runs.", value=float(bool(snap["worker_alive"]))
            )
        real, padded = snap.get("real_tokens"), snap.get("padded_tokens")
        if real is not None and padded:
            yield GaugeMetricFamily(
                f"{p}_padding_efficiency_ratio",
                "Real / padded tokens over all batches so far.",
                value=float(real) / float(padded),
            )
        cuts = CounterMetricFamily(f"{p}_truncations", "Pairs cut to fit a token limit, by reason.", labels=["reason"])
        server_cuts = dict(self._metrics._server_cuts)
        # The scheduler counts the max_length cuts of the pairs it tokenizes; the server adds those it tokenized.
        cuts.add_metric(["max_length"], float(snap.get("truncated_pairs", 0)) + server_cuts.pop("max_length", 0.0))
        for reason, count in server_cuts.items():
            cuts.add_metric([reason], count)
        yield cuts
