"""ServerMetrics: its own registry per app, request/usage/cut/batch observations, the stats snapshot at scrape time."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("prometheus_client")

from rerankrt.server.metrics import ServerMetrics  # noqa: E402


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the exposition:\n{text}")


def test_observations_show_in_the_exposition():
    m = ServerMetrics()
    m.observe_request("/rerank", 200, 0.02)
    m.observe_request("/rerank", 429, 0.001)
    m.observe_usage("/rerank", documents=3, tokens=120)
    m.observe_batch(SimpleNamespace(rows=4, padded_tokens=400, real_tokens=300))
    payload, content_type = m.render()
    text = payload.decode()
    assert content_type.startswith("text/plain")
    assert _value(text, 'rerankrt_requests_total{route="/rerank",status="200"}') == 1
    assert _value(text, 'rerankrt_requests_total{route="/rerank",status="429"}') == 1
    assert _value(text, 'rerankrt_documents_total{route="/rerank"}') == 3
    assert _value(text, 'rerankrt_usage_tokens_total{route="/rerank"}') == 120
    assert _value(text, 'rerankrt_batch_size_bucket{le="4.0"}') == 1
    assert _value(text, 'rerankrt_padding_efficiency_bucket{le="0.8"}') == 1
    assert _value(text, 'rerankrt_padding_efficiency_bucket{le="0.7"}') == 0


def test_snapshot_totals_and_cuts_are_read_at_scrape_time():
    state = {"batches": 2, "real_tokens": 300, "padded_tokens": 400, "pending_pairs": 5, "worker_alive": True}
    state["truncated_pairs"] = 1
    m = ServerMetrics(lambda: dict(state))
    m.observe_cut("max_tokens_per_doc", 2)
    m.observe_cut("max_length", 3)  # cut outside the scheduler: added to its count
    m.observe_cut("predict_prompt", 0)
    text = m.render()[0].decode()
    assert _value(text, "rerankrt_batches_total") == 2
    assert _value(text, "rerankrt_queue_depth") == 5
    assert _value(text, "rerankrt_worker_alive") == 1
    assert _value(text, "rerankrt_padding_efficiency_ratio") == pytest.approx(0.75)
    assert _value(text, 'rerankrt_truncations_total{reason="max_length"}') == 4
    assert _value(text, 'rerankrt_truncations_total{reason="max_tokens_per_doc"}') == 2
    assert _value(text, 'rerankrt_truncations_total{reason="predict_prompt"}') == 0
    state["batches"] = 7
    assert _value(m.render()[0].decode(), "rerankrt_batches_total") == 7


def test_a_failing_snapshot_does_not_fail_the_scrape_and_registries_are_separate():
    def broken():
        raise RuntimeError("closed")

    a, b = ServerMetrics(broken), ServerMetrics()
    a.observe_request("/health", 200, 0.001)
    text = a.render()[0].decode()
    assert "rerankrt_batches_total" not in text and 'status="200"' in text
    assert 'status="200"' not in b.render()[0].decode()
