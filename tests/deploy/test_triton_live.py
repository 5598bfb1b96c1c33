"""A real tritonserver (2.51, from the nvidia-pytriton wheel in .venv-triton) serving an exported CPU engine.

Run with ``make test-triton`` (it creates .venv-triton with ``make triton-env``). Skips where .venv-triton, its
tritonserver or the Python-backend stub is missing. The server runs with loopback ports only; the model's Python is
.venv-triton's (its ``bin`` first on PATH) and rerankrt comes from this checkout (PYTHONPATH, which model.py adds).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from rerankrt import Reranker
from rerankrt.deploy.triton import repository_from_engine_dir

pytestmark = pytest.mark.triton

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("RERANKRT_TRITON_VENV", ROOT / ".venv-triton"))
QUERY = "what is a panda?"
DOCS = [
    "The giant panda is a bear native to south central China.",
    "Paris is the capital and most populous city of France.",
    "Pandas spend most of the day eating bamboo.",
]
START_TIMEOUT_S = 90


def _tritonserver() -> tuple[Path, Path]:
    found = sorted(VENV.glob("lib/python3*/site-packages/pytriton/tritonserver"))
    if not found:
        pytest.skip(f"no tritonserver: {VENV} has no nvidia-pytriton (run `make triton-env`)")
    root = found[0]
    server, backends = root / "bin" / "tritonserver", root / "backends"
    if not (backends / "python" / "triton_python_backend_stub").is_file():
        pytest.skip(f"{backends}/python has no triton_python_backend_stub (run `make triton-env`)")
    return server, backends


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def _metric(text: str, name: str) -> float:
    values = [float(m.group(1)) for m in re.finditer(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M)]
    return sum(values)


@pytest.fixture(scope="module")
def triton(request, tmp_path_factory):
    """(http url, grpc url, metrics url, log path) of a tritonserver serving the exported tiny CPU engine."""
    pytest.importorskip("tritonclient.http", reason="tritonclient not installed (pip install 'rerankrt[triton]')")
    server, backends = _tritonserver()
    cpu_engine_dir = request.getfixturevalue("cpu_engine_dir")  # built only once the server is known to exist
    repo = tmp_path_factory.mktemp("triton") / "repo"
    # A wide gathering window makes "concurrent requests share one execute call" deterministic on a slow CI box.
    repository_from_engine_dir(cpu_engine_dir, repo, queue_delay_us=100_000, reranker_options={"threads": 1})
    http, grpc, metrics = _free_ports(3)
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    log = repo.parent / "tritonserver.log"
    cmd = [
        str(server),
        f"--model-repository={repo}",
        f"--backend-directory={backends}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        f"--http-port={http}",
        f"--grpc-port={grpc}",
        f"--metrics-port={metrics}",
        "--exit-timeout-secs=5",
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _get(f"http://127.0.0.1:{http}/v2/health/ready")[0] != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tritonserver did not become ready (exit {proc.poll()}):\n{log.read_text()[-4000:]}")
            time.sleep(0.25)
        yield f"127.0.0.1:{http}", f"127.0.0.1:{grpc}", f"http://127.0.0.1:{metrics}/metrics", log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def reference(triton, request):
    # After `triton`, and not as an argument: a session fixture argument would build the engine before the skip.
    with Reranker.load(request.getfixturevalue("cpu_engine_dir"), threads=1) as reranker:
        yield reranker


def _inputs(module, query=QUERY, docs=DOCS):
    q = module.InferInput("query", [1, 1], "BYTES")
    q.set_data_from_numpy(np.array([[query.encode()]], dtype=object))
    d = module.InferInput("documents", [1, len(docs)], "BYTES")
    d.set_data_from_numpy(np.array([[doc.encode() for doc in docs]], dtype=object).reshape(1, len(docs)))
    return [q, d]


def test_http_scores_match_the_reranker(triton, reference):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(triton[0])
    result = client.infer("rerankrt", _inputs(httpclient))
    expected = reference.score_request(QUERY, DOCS)
    np.testing.assert_allclose(result.as_numpy("scores")[0], expected.scores, atol=1e-5)
    assert result.as_numpy("token_count").tolist() == [[expected.num_tokens]]
    assert result.as_numpy("ranking")[0].tolist() == np.argsort(-expected.scores, kind="stable").tolist()

    ranked = client.infer("rerankrt", _inputs(httpclient), parameters={"top_n": 2, "normalize": "sigmoid"})
    np.testing.assert_allclose(ranked.as_numpy("scores")[0], reference.score(QUERY, DOCS, normalize=True), atol=1e-5)
    assert ranked.as_numpy("ranking").shape == (1, 2)


def test_grpc_scores_match_the_reranker_with_an_instruction(triton, reference):
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton[1])
    inputs = _inputs(grpcclient)
    instruction = grpcclient.InferInput("instruction", [1, 1], "BYTES")
    instruction.set_data_from_numpy(np.array([[b"Find passages about animals."]], dtype=object))
    result = client.infer("rerankrt", [*inputs, instruction])
    expected = reference.score(QUERY, DOCS, instruction="Find passages about animals.")
    np.testing.assert_allclose(result.as_numpy("scores")[0], expected, atol=1e-5)


def test_concurrent_requests_share_backend_batches(triton, reference):
    import tritonclient.http as httpclient

    n = 8
    before = _get(triton[2])[1]
    client = httpclient.InferenceServerClient(triton[0], concurrency=n)
    barrier = threading.Barrier(n)
    docs = [[f"{doc} ({i})" for doc in DOCS[: 1 + i % 3]] for i in range(n)]

    def one(i):
        barrier.wait()
        return client.infer("rerankrt", _inputs(httpclient, docs=docs[i])).as_numpy("scores")[0]

    with ThreadPoolExecutor(n) as pool:
        got = list(pool.map(one, range(n)))
    for i in range(n):
        np.testing.assert_allclose(got[i], reference.score(QUERY, docs[i]), atol=1e-5)
    after = _get(triton[2])[1]
    requests = _metric(after, "nv_inference_request_success") - _metric(before, "nv_inference_request_success")
    calls = _metric(after, "nv_inference_exec_count") - _metric(before, "nv_inference_exec_count")
    batches = _metric(after, "rerankrt_batches_total") - _metric(before, "rerankrt_batches_total")
    print(f"\n{n} concurrent requests -> {calls:g} execute calls -> {batches:g} rerankrt backend batches")
    assert requests == n
    # Triton gathered the concurrent requests into fewer execute calls, and rerankrt scored them in fewer batches.
    assert calls < n, (calls, batches)
    assert 1 <= batches < n, (calls, batches)


def test_bad_requests_get_errors_naming_the_field_and_the_server_stays_healthy(triton):
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(triton[0])
    empty = httpclient.InferInput("documents", [1, 0], "BYTES")
    empty.set_data_from_numpy(np.zeros((1, 0), dtype=object))
    wrong = httpclient.InferInput("query", [1, 1], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 1), dtype=np.float32))
    bad = [
        ("documents: at least one", [_inputs(httpclient)[0], empty], None),
        ("query", [_inputs(httpclient)[1]], None),  # Triton itself refuses a missing required input
        ("query", [wrong, _inputs(httpclient)[1]], None),  # and a wrong datatype
        ("top_n: must be an integer", _inputs(httpclient), {"top_n": 0}),
        ("parameters: unknown parameter", _inputs(httpclient), {"topn": 3}),
    ]
    for field, inputs, parameters in bad:
        with pytest.raises(InferenceServerException, match=field) as caught:
            client.infer("rerankrt", inputs, parameters=parameters)
        print(f"\n{field!r} -> {caught.value}")

    assert _get(f"http://{triton[0]}/v2/health/ready")[0] == 200
    assert _get(f"http://{triton[0]}/v2/models/rerankrt/ready")[0] == 200
    assert client.infer("rerankrt", _inputs(httpclient)).as_numpy("scores").shape == (1, len(DOCS))
