"""HTTP edges a newcomer meets first (issue 17): offline /docs, the served model's name, /info without host paths,
HEAD, trailing slashes, gzip bodies, instructions with any line break, error texts that read once."""

from __future__ import annotations

import gzip
import json
import sys
import types

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from rerankrt.runtime.batching import OverloadedError  # noqa: E402
from rerankrt.server import ServerSettings, create_app  # noqa: E402
from rerankrt.server.errors import api_error_from  # noqa: E402

BODY = {"query": "who wrote it?", "texts": ["Harper Lee wrote it.", "Melville wrote Moby-Dick."]}


@pytest.fixture(scope="module")
def plain(reranker):
    """The app with no model_name configured: the default name comes from the manifest."""
    with TestClient(create_app(reranker, ServerSettings(max_body_bytes=4096))) as c:
        yield c


def test_the_default_model_name_is_the_manifests_not_a_path(plain, reranker):
    source = reranker.manifest.model.source
    expected = source.rstrip("/").rsplit("/", 1)[-1]  # a local folder: its name, never the build path
    got = plain.post("/v1/rerank", json={"query": "q", "documents": ["d"]}).json()["model"]
    assert got == expected and "/" not in got
    assert plain.get("/info").json()["model"] == expected


def test_model_name_overrides(client):
    assert client.post("/v1/rerank", json={"query": "q", "documents": ["d"]}).json()["model"] == "tiny-mxbai"


def test_info_does_not_leak_host_paths(plain, reranker):
    text = plain.get("/info").text
    assert "engine_dir" not in text
    assert str(reranker.manifest.path) not in text and str(reranker.manifest.path.resolve()) not in text


@pytest.mark.parametrize("path", ["/health", "/info", "/metrics", "/openapi.json", "/docs", "/v1/models"])
def test_head_works_where_get_does(plain, path):
    get, head = plain.get(path), plain.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert "x-request-id" in head.headers


def test_trailing_slashes_resolve(plain):
    plain_answer = plain.post("/rerank", json=BODY)
    slashed = plain.post("/rerank/", json=BODY, follow_redirects=False)
    assert slashed.status_code == 200 and slashed.json() == plain_answer.json()
    assert plain.get("/health/", follow_redirects=False).status_code == 200


def test_docs_work_offline_without_the_bundle(reranker, monkeypatch):
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", None)  # as if the package were not installed
    with TestClient(create_app(reranker)) as c:
        page = c.get("/docs")
    assert page.status_code == 200 and "http" not in page.text.replace("/openapi.json", "")
    assert "/rerank" in page.text and "/v1/rerank" in page.text


def test_docs_use_the_installed_swagger_bundle_offline(reranker):
    pytest.importorskip("swagger_ui_bundle")
    with TestClient(create_app(reranker)) as c:
        page = c.get("/docs").text
        assert "cdn" not in page and "/docs-assets/swagger-ui-bundle.js" in page
        assert c.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_docs_serve_swagger_ui_from_local_files(reranker, tmp_path, monkeypatch):
    (tmp_path / "swagger-ui-bundle.js").write_text("// swagger")
    (tmp_path / "swagger-ui.css").write_text("/* css */")
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", types.SimpleNamespace(swagger_ui_path=tmp_path))
    with TestClient(create_app(reranker)) as c:
        page = c.get("/docs").text
        assert "cdn" not in page and "/docs-assets/swagger-ui-bundle.js" in page
        assert c.get("/docs-assets/swagger-ui-bundle.js").text == "// swagger"


def test_gzip_bodies_are_decoded(plain):
    expected = plain.post("/rerank", json=BODY).json()
    body = gzip.compress(json.dumps(BODY).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    answer = plain.post("/rerank", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json() == expected


def test_a_gzip_bomb_is_a_413_and_other_encodings_a_415(plain):
    bomb = gzip.compress(json.dumps({"query": "q", "texts": ["a" * 100_000]}).encode())
    assert len(bomb) < 4096  # under max_body_bytes as sent; over it once decoded
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    refused = plain.post("/rerank", content=bomb, headers=headers)
    assert refused.status_code == 413 and "once decoded" in refused.json()["error"]
    headers["Content-Encoding"] = "br"
    assert plain.post("/rerank", content=b"xx", headers=headers).status_code == 415
    headers["Content-Encoding"] = "gzip"
    assert plain.post("/rerank", content=b"not gzip", headers=headers).status_code == 400


@pytest.mark.parametrize("brk", ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_instructions_refuse_every_line_break(plain, brk):
    for path, body in (
        ("/rerank", {**BODY, "instruction": f"be{brk}strict"}),
        ("/v1/rerank", {"query": "q", "documents": ["d"], "instruction": f"be{brk}strict"}),
    ):
        answer = plain.post(path, json=body)
        assert answer.status_code == 422 and "single line" in answer.text, (path, repr(brk))


def test_the_overloaded_text_reads_once():
    message = "overloaded: 10 pairs are queued and this request adds 5, over max_pending_pairs=12; retry later"
    error = api_error_from(OverloadedError(message), ServerSettings())
    assert error.status == 429 and error.error.count("overloaded") == 1
