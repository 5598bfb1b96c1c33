"""/predict: labels "0" and "1" of caller-formatted prompts, centred logits, truncation that keeps the template."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from rerankrt.prompt import seed_prompt, sigmoid  # noqa: E402
from rerankrt.server import ServerSettings, create_app  # noqa: E402
from tests.server.helpers import DOCS, QUERY, assert_error  # noqa: E402


def test_predict_labels_single_pair_and_batch(client, reranker):
    prompts = [seed_prompt(QUERY, d) for d in DOCS[:3]]
    raw = reranker.score(QUERY, DOCS[:3])
    one = client.post("/predict", json={"inputs": prompts[0]})
    assert one.status_code == 200, one.text
    labels = one.json()
    assert {p["label"] for p in labels} == {"0", "1"}
    assert labels == sorted(labels, key=lambda p: p["score"], reverse=True)
    by_label = {p["label"]: p["score"] for p in labels}
    assert by_label["1"] == pytest.approx(float(sigmoid(raw[0])), rel=1e-5)
    assert by_label["0"] == pytest.approx(1.0 - by_label["1"], abs=1e-9)

    batch = client.post("/predict", json={"inputs": [[p] for p in prompts], "raw_scores": True}).json()
    assert len(batch) == 3
    for item, s in zip(batch, raw, strict=True):
        logits = {p["label"]: p["score"] for p in item}
        assert logits["1"] - logits["0"] == pytest.approx(s, rel=1e-5, abs=1e-6)
        assert logits["1"] == pytest.approx(-logits["0"])

    # A pair [a, b] is the concatenation of the two strings' ids, as HF's tokenizer makes it.
    split = prompts[0].index("document:")
    pair = client.post("/predict", json={"inputs": [prompts[0][:split], prompts[0][split:]]}).json()
    assert {p["label"]: p["score"] for p in pair}["1"] == pytest.approx(by_label["1"], rel=1e-5)


def test_predict_truncation_keeps_the_template(client, reranker):
    limit = reranker.encoder.max_sequence_length
    long_prompt = seed_prompt(QUERY, "word " * (2 * limit))
    out = client.post("/predict", json={"inputs": long_prompt, "raw_scores": True})
    assert out.status_code == 200, out.text
    assert_error(
        client.post("/predict", json={"inputs": long_prompt, "truncate": False}),
        413,
        "validation",
        contains="truncate is false",
    )
    # A raw prompt is refused unless the server allows raw prompts; then it cannot be cut without its tail.
    assert_error(client.post("/predict", json={"inputs": "word"}), 422, "validation", contains="inputs[0]")
    with TestClient(create_app(reranker, ServerSettings(allow_raw_prompts=True))) as raw_client:
        assert_error(
            raw_client.post("/predict", json={"inputs": "word " * (2 * limit)}),
            413,
            "validation",
            contains="cannot be truncated",
        )
