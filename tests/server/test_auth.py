"""API keys (Authorization: Bearer), JSON-only POST bodies, and TLS through uvicorn's certificate options."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from tests.server.helpers import assert_error  # noqa: E402

BODY = {"query": "q", "texts": ["a"]}


def _assert_401(response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error_type"] == "unauthorized" and body["message"] == body["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_api_keys_guard_every_route_but_an_open_health(scripted):
    r, _ = scripted()
    with TestClient(create_app(r, ServerSettings(api_keys=("key-one", "key-two")))) as c:
        _assert_401(c.post("/rerank", json=BODY))
        _assert_401(c.post("/rerank", json=BODY, headers={"Authorization": "Bearer key-on"}))
        _assert_401(c.post("/rerank", json=BODY, headers={"Authorization": "Basic key-one"}))
        _assert_401(c.get("/metrics"))
        _assert_401(c.get("/info"))
        assert c.get("/health").status_code == 200  # open for probes
        for key in ("key-one", "key-two"):
            ok = c.post("/rerank", json=BODY, headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200, ok.text
        assert c.get("/metrics", headers={"Authorization": "Bearer key-two"}).status_code == 200
    with TestClient(create_app(r, ServerSettings(api_keys=("k",), open_health=False))) as c:
        _assert_401(c.get("/health"))
        assert c.get("/health", headers={"Authorization": "Bearer k"}).status_code == 200


def test_cohere_sdk_sends_its_key_as_bearer(scripted):
    cohere = pytest.importorskip("cohere")
    r, _ = scripted()
    with BackgroundServer(create_app(r, ServerSettings(api_keys=("secret",)))) as server:
        good = cohere.ClientV2(api_key="secret", base_url=server.url, timeout=10)
        assert len(good.rerank(model="m", query="q", documents=["a", "b"]).results) == 2
        bad = cohere.ClientV2(api_key="wrong", base_url=server.url, timeout=10)
        with pytest.raises(cohere.core.api_error.ApiError) as caught:
            bad.rerank(model="m", query="q", documents=["a"])
        assert caught.value.status_code == 401


def test_post_bodies_must_be_json(scripted):
    r, _ = scripted()
    with TestClient(create_app(r)) as c:
        data = b'{"query": "q", "texts": ["a"]}'
        for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}):
            refused = c.post("/rerank", content=data, headers=headers)
            assert_error(refused, 415, "validation", contains="application/json")
        ok = c.post("/rerank", content=data, headers={"Content-Type": "application/json; charset=utf-8"})
        assert ok.status_code == 200, ok.text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_tls_with_a_self_signed_certificate(scripted, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    r, _ = scripted()
    settings = ServerSettings(ssl_certfile=str(cert), ssl_keyfile=str(key))
    with BackgroundServer(create_app(r, settings)) as server:
        assert server.url.startswith("https://")
        assert httpx.post(server.url + "/rerank", json=BODY, verify=str(cert), timeout=10).status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served
            httpx.get(server.url.replace("https", "http") + "/health", timeout=3)
    with pytest.raises(ValueError, match="ssl_certfile"):
        ServerSettings(ssl_certfile=str(tmp_path / "missing.pem"))
