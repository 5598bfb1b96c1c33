"""Real clients, unmodified, against a live server on loopback: the Cohere Python SDK, httpx, curl.

Results must equal `Reranker.rank` on the same engine directory. The README's `rerankrt serve` examples
(tests/readme_snippets.py, kept verbatim) run against ``rerankrt serve`` started as a subprocess, so they cannot drift.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys

import httpx
import pytest

pytest.importorskip("fastapi")
cohere = pytest.importorskip("cohere")

from rerankrt.prompt import seed_prompt  # noqa: E402
from rerankrt.runtime.reranker import Reranker  # noqa: E402
from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from tests.readme_snippets import (  # noqa: E402
    README_COHERE,
    README_CURL_RERANK,
    README_CURL_V1_RERANK,
    README_PREDICT,
    README_SERVE,
)
from tests.server.helpers import DOCS, QUERY, free_port, wait_for_health  # noqa: E402

DOCUMENTS = DOCS[:4]


@pytest.fixture(scope="module")
def server(cpu_engine_dir):
    with Reranker.load(cpu_engine_dir) as r, BackgroundServer(create_app(r, ServerSettings())) as s:
        yield s


def test_cohere_sdk_v2_rerank(server, reference):
    co = cohere.ClientV2(api_key="unused", base_url=server.url, timeout=30)
    response = co.rerank(model="mxbai-rerank-base-v2", query=QUERY, documents=DOCUMENTS, top_n=3)
    expected = reference.rank(QUERY, DOCUMENTS, top_k=3, normalize=True)
    assert [r.index for r in response.results] == [r.index for r in expected]
    assert [r.relevance_score for r in response.results] == pytest.approx(
        [r.score for r in expected], rel=1e-5, abs=1e-6
    )
    assert response.id
    tokens = int(reference.encoder.encode(QUERY, DOCUMENTS).lengths.sum())
    assert response.meta.billed_units.input_tokens == tokens


def test_cohere_sdk_v1_rerank_with_documents(server, reference):
    co = cohere.Client(api_key="unused", base_url=server.url, timeout=30)
    response = co.rerank(model="m", query=QUERY, documents=DOCUMENTS, return_documents=True)
    expected = reference.rank(QUERY, DOCUMENTS, normalize=True)
    assert [r.index for r in response.results] == [r.index for r in expected]
    assert [r.document.text for r in response.results] == [DOCUMENTS[r.index] for r in expected]


async def _async_rerank(url: str):
    co = cohere.AsyncClientV2(api_key="unused", base_url=url, timeout=30)
    return await co.rerank(model="m", query=QUERY, documents=DOCUMENTS)


def test_cohere_async_sdk(server, reference):
    import asyncio

    response = asyncio.run(_async_rerank(server.url))
    expected = reference.rank(QUERY, DOCUMENTS, normalize=True)
    assert [r.index for r in response.results] == [r.index for r in expected]


def test_cohere_sdk_sees_errors_as_its_own_exceptions(server):
    co = cohere.ClientV2(api_key="unused", base_url=server.url, timeout=30)
    with pytest.raises(cohere.core.api_error.ApiError) as caught:
        co.rerank(model="m", query=QUERY, documents=[])
    assert caught.value.status_code == 400


def test_httpx_rerank_and_predict(server, reference):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        ranks = http.post("/rerank", json={"query": QUERY, "texts": DOCUMENTS, "raw_scores": True}).json()
        expected = reference.rank(QUERY, DOCUMENTS)
        assert [r["index"] for r in ranks] == [r.index for r in expected]
        assert [r["score"] for r in ranks] == pytest.approx([r.score for r in expected], rel=1e-5, abs=1e-6)

        prompts = [[seed_prompt(QUERY, d)] for d in DOCUMENTS]
        labels = http.post("/predict", json={"inputs": prompts}).json()
        probabilities = reference.score(QUERY, DOCUMENTS, normalize=True)
        got = [{p["label"]: p["score"] for p in item}["1"] for item in labels]
        assert got == pytest.approx(probabilities, rel=1e-5, abs=1e-6)


# -- the README's examples against `rerankrt serve` -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_server(cpu_engine_dir):
    """`rerankrt serve ENGINE_DIR --port P` in a subprocess (the README's command), stopped with SIGTERM."""
    port = free_port()
    cmd = [sys.executable, "-m", "rerankrt", *README_SERVE.split()[1:]]
    cmd[cmd.index("engines/cpu")] = str(cpu_engine_dir)
    cmd[cmd.index("8000")] = str(port)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    if not wait_for_health(url, proc):
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"rerankrt serve did not come up: {err[-2000:]}")
    state = {"url": url, "proc": proc}
    yield state
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=10)


def _run_shell(snippet: str, url: str) -> str:
    out = subprocess.run(
        ["bash", "-c", snippet.replace("http://localhost:8000", url)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _run_python(snippet: str, url: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run(
        [sys.executable, "-c", snippet.replace("http://localhost:8000", url)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_examples(cli_server, reference):
    ranks = json.loads(_run_shell(README_CURL_RERANK, cli_server["url"]))
    texts = ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is a novel by Herman Melville."]
    expected = reference.rank("Who wrote To Kill a Mockingbird?", texts, normalize=True)
    assert [r["index"] for r in ranks] == [r.index for r in expected]
    assert [r["text"] for r in ranks] == [texts[r.index] for r in expected]

    cohere_style = json.loads(_run_shell(README_CURL_V1_RERANK, cli_server["url"]))
    assert [r["index"] for r in cohere_style["results"]] == [expected[0].index]
    assert cohere_style["results"][0]["relevance_score"] == pytest.approx(expected[0].score, rel=1e-5)
    assert cohere_style["results"][0]["document"] == {"text": texts[expected[0].index]}
    assert cohere_style["usage"]["total_tokens"] > 0


def test_readme_python_examples(cli_server, reference):
    texts = ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is a novel by Herman Melville."]
    expected = reference.rank("Who wrote To Kill a Mockingbird?", texts, normalize=True)
    lines = _run_python(README_COHERE, cli_server["url"]).split()
    assert [int(x) for x in lines[0::2]] == [r.index for r in expected]
    assert [float(x) for x in lines[1::2]] == pytest.approx([round(r.score, 4) for r in expected], abs=1e-4)

    labels = ast.literal_eval(_run_python(README_PREDICT, cli_server["url"]).strip())
    probability = reference.score("Who wrote To Kill a Mockingbird?", texts[:1], normalize=True)[0]
    assert {p["label"]: p["score"] for p in labels}["1"] == pytest.approx(probability, rel=1e-5)


def test_rerankrt_serve_stops_gracefully_with_json_logs(cli_server):
    """Last in this module: SIGTERM stops the CLI server; its log lines are JSON with request ids."""
    proc = cli_server["proc"]
    httpx.post(cli_server["url"] + "/rerank", json={"query": "q", "texts": ["a"]}, headers={"X-Request-Id": "cli-1"})
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert lines, err[-2000:]
    access = [line for line in lines if line.get("msg") == "request" and line.get("request_id") == "cli-1"]
    assert access and access[0]["status"] == 200
