"""rerankrt on a real local Ray cluster: two replicas of the tiny CPU engine behind Serve's HTTP proxy on loopback.

One cluster per test session (``ray.init(num_cpus=2)``); one application for the module, redeployed only where a
test takes it down. Each replica asks half a CPU, so a replacement never waits for resources. Skips where ray is
not installed (it is the ``rerankrt[ray]`` extra).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from rerankrt._optional import available
from rerankrt.prompt import sigmoid
from rerankrt.runtime.reranker import Reranker
from tests.server.helpers import DOCS, QUERY

if available("ray.serve") and available("cohere"):
    import cohere
    import ray
    from ray import serve

    from rerankrt.deploy import ray_serve
requires_ray = pytest.mark.skipif(
    not (available("ray.serve") and available("cohere")), reason="ray[serve] (rerankrt[ray]) or cohere not installed"
)

APP = "rerankrt"
DOCUMENTS = DOCS[:4]
# A request that keeps a replica busy for a while (tenths of a second on the tiny model), so kills and shutdowns
# find it in flight.
SLOW_DOCUMENTS = [f"document {i}: " + "words about novels and their authors " * 40 for i in range(96)]
REQUEST_TIMEOUT_S = 20.0  # the server's request_timeout_s; the proxy's is 5 s more
FIVE_XX = range(500, 600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_ray_without_ray_names_the_extra(tmp_path):
    """Where ray is missing, `rerankrt serve --ray` says which extra to install; `import rerankrt` never needs it."""
    hide = "import sys; sys.modules['ray'] = None; sys.modules['ray.serve'] = None; "
    run = f"from rerankrt.cli import main; sys.exit(main(['serve', {str(tmp_path)!r}, '--ray']))"
    out = subprocess.run([sys.executable, "-c", hide + run], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "pip install 'rerankrt[ray]'" in out.stderr
    bare = subprocess.run(
        [sys.executable, "-c", hide + "import rerankrt, rerankrt.cli; rerankrt.cli._parser().parse_args(['--help'])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.returncode == 0 and "serve" in bare.stdout, bare.stderr


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster with Serve's proxy on a free loopback port; the base URL."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": REQUEST_TIMEOUT_S + 5})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


def _deploy(engine_dir, replicas: int = 2):
    app = ray_serve.app_builder(
        {
            "engine_dir": str(engine_dir),
            "num_replicas": replicas,
            "num_cpus": 0.5,
            "settings": {"request_timeout_s": REQUEST_TIMEOUT_S, "graceful_shutdown_s": 15},
        }
    )
    serve.run(app, name=APP, route_prefix="/")


@pytest.fixture(scope="module")
def served(ray_cluster, cpu_engine_dir):
    _deploy(cpu_engine_dir)
    yield ray_cluster
    serve.shutdown()  # idempotent: the last test may have shut Serve down already


@pytest.fixture(scope="module")
def local(cpu_engine_dir):
    """The same engine directory in this process: the reference scores."""
    with Reranker.load(cpu_engine_dir) as reranker:
        yield reranker


def _replica(response: httpx.Response) -> str:
    replica = response.headers.get(ray_serve.REPLICA_HEADER)
    assert replica, f"no {ray_serve.REPLICA_HEADER} header: {dict(response.headers)}"
    return replica


def _rerank(client: httpx.Client, url: str, documents=DOCUMENTS) -> httpx.Response:
    return client.post(f"{url}/rerank", json={"query": QUERY, "texts": documents, "raw_scores": True})


def _running_replicas() -> int:
    status = serve.status().applications.get(APP)
    if status is None or status.status != "RUNNING":
        return 0
    return status.deployments[ray_serve.DEPLOYMENT_NAME].replica_states.get("RUNNING", 0)


@requires_ray
def test_placement_follows_the_manifest(cpu_engine_dir):
    """A CPU engine asks CPUs and no GPU; a TensorRT engine a whole GPU; autoscaling targets half the cap."""
    options = ray_serve.RayServeOptions.from_args({"engine_dir": str(cpu_engine_dir), "autoscale": "1:4"})
    config = ray_serve.deployment_config(options, "onnxruntime")
    assert config["ray_actor_options"] == {"num_cpus": 1, "num_gpus": 0}
    assert config["max_ongoing_requests"] == ray_serve.MAX_ONGOING_REQUESTS > 5
    assert config["autoscaling_config"]["target_ongoing_requests"] == ray_serve.MAX_ONGOING_REQUESTS / 2
    assert (config["autoscaling_config"]["min_replicas"], config["autoscaling_config"]["max_replicas"]) == (1, 4)
    gpu = ray_serve.deployment_config(options, "tensorrt")["ray_actor_options"]
    assert gpu["num_gpus"] == 1
    with pytest.raises(ValueError, match="unknown rerankrt Ray Serve argument"):
        ray_serve.RayServeOptions.from_args({"engine_dir": str(cpu_engine_dir), "replicas": 2})
    with pytest.raises(ValueError, match="autoscale"):
        ray_serve.RayServeOptions.from_args({"engine_dir": str(cpu_engine_dir), "autoscale": "4"})


@requires_ray
def test_cohere_sdk_and_tei_match_the_reranker_in_process(served, local):
    expected = np.asarray(local.score(QUERY, DOCUMENTS), dtype=np.float64)
    co = cohere.ClientV2(api_key="unused", base_url=served, timeout=30)
    response = co.rerank(model="mxbai-rerank-base-v2", query=QUERY, documents=DOCUMENTS)
    got = {r.index: r.relevance_score for r in response.results}
    assert sorted(got) == list(range(len(DOCUMENTS)))
    np.testing.assert_allclose([got[i] for i in range(len(DOCUMENTS))], sigmoid(expected), rtol=0, atol=1e-5)

    with httpx.Client(timeout=30) as client:
        tei = _rerank(client, served)
        assert tei.status_code == 200, tei.text
        assert [r["index"] for r in tei.json()] == list(np.argsort(-expected, kind="stable"))
        np.testing.assert_allclose(
            [r["score"] for r in sorted(tei.json(), key=lambda r: r["index"])], expected, rtol=0, atol=1e-5
        )
        assert tei.headers["x-request-id"].count(",") == 0, "one request id, not the proxy's and the app's"
        for route in ("/health", "/info", "/metrics", "/openapi.json"):
            assert client.get(served + route).status_code == 200, route


@requires_ray
def test_concurrent_requests_spread_over_both_replicas(served):
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: _rerank(client, served), range(24)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    per_replica: dict[str, int] = {}
    for r in responses:
        per_replica[_replica(r)] = per_replica.get(_replica(r), 0) + 1
    assert len(per_replica) == 2, per_replica


@requires_ray
def test_a_replica_killed_under_load(served, local):
    """In flight on the killed replica: a 5xx within the timeout. Then the survivor serves, Serve replaces the dead
    replica, and a client that retries on 5xx gets every answer right."""
    expected_top = int(np.argmax(local.score(QUERY, DOCUMENTS)))
    with httpx.Client(timeout=REQUEST_TIMEOUT_S + 10) as client:
        replicas = {_replica(_rerank(client, served)) for _ in range(20)}
    assert len(replicas) == 2
    victim = sorted(replicas)[0]
    handle = ray.get_actor(f"SERVE_REPLICA::{APP}#{ray_serve.DEPLOYMENT_NAME}#{victim}", namespace="serve")

    once: list[tuple[int, float, str | None]] = []  # (status, seconds, replica) of requests sent once, no retry
    bodies: list[str] = []
    retried: list[bool] = []  # per logical request of the retrying clients: answered right in the end
    stop = threading.Event()

    def send_once(client: httpx.Client) -> None:
        start = time.monotonic()
        try:
            r = _rerank(client, served, SLOW_DOCUMENTS)
            once.append((r.status_code, time.monotonic() - start, r.headers.get(ray_serve.REPLICA_HEADER)))
        except httpx.HTTPError:  # a dropped connection counts as a failure that did not hang
            once.append((599, time.monotonic() - start, None))
            return
        if r.status_code != 200:
            bodies.append(r.text[:200])

    def retrying_client() -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_S + 10) as client:
            while not stop.is_set():
                for _ in range(20):
                    try:
                        r = _rerank(client, served)
                    except httpx.HTTPError:
                        continue
                    if r.status_code not in FIVE_XX:
                        break
                    time.sleep(0.1)
                retried.append(r.status_code == 200 and r.json()[0]["index"] == expected_top)

    threads = [threading.Thread(target=retrying_client) for _ in range(2)]
    for t in threads:
        t.start()
    with httpx.Client(timeout=REQUEST_TIMEOUT_S + 10) as client, ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(send_once, client) for _ in range(6)]
        time.sleep(0.3)  # the slow requests reach both replicas
        ray.kill(handle, no_restart=True)
        killed_at = time.monotonic()
        for f in futures:
            f.result(timeout=REQUEST_TIMEOUT_S + 15)
        # New requests right after the kill: the router drops the dead replica; the survivor answers.
        after = [_rerank(client, served) for _ in range(6)]
    assert all(seconds < REQUEST_TIMEOUT_S + 10 for _, seconds, _ in once), once
    assert {s for s, _, _ in once} <= {200, *FIVE_XX}, once
    assert all(replica != victim for s, _, replica in once if s == 200 and replica), once
    assert any(s in FIVE_XX for s, _, _ in once), f"no request was in flight on the killed replica: {once}"
    late = [r for r in after if r.status_code == 200]
    assert late and all(_replica(r) != victim for r in late), [(r.status_code, r.text[:80]) for r in after]

    deadline = killed_at + 60
    while _running_replicas() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert _running_replicas() == 2, serve.status()
    assert retried and all(retried), f"{retried.count(False)} of {len(retried)} retried requests lost"
    # The proxy learns of the replacement a moment after it runs; concurrent requests then reach it too.
    now: set[str] = set()
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        while len(now - replicas) == 0 and time.monotonic() < deadline + 20:
            now |= {_replica(r) for r in pool.map(lambda _: _rerank(client, served), range(16))}
    assert victim not in now and now - replicas, (replicas, now)
    print(f"once: {once} {bodies}; retried: {len(retried)} logical requests, all right")


@requires_ray
def test_graceful_shutdown_drains_in_flight_requests(served):
    """`shutdown_gracefully` (what Ctrl-C or SIGTERM on ``rerankrt serve --ray`` does) lets in-flight requests finish
    before the replicas and the proxy go away. (A bare `serve.shutdown()` kills the proxy first and drops them: Ray
    2.60.) Runs last: it takes Serve down (teardown tolerates that)."""
    results: list[int] = []

    def send(client: httpx.Client) -> None:
        results.append(_rerank(client, served, SLOW_DOCUMENTS).status_code)

    with httpx.Client(timeout=REQUEST_TIMEOUT_S + 10) as client, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(send, client) for _ in range(4)]
        time.sleep(0.3)
        ray_serve.shutdown_gracefully(APP)
        for f in futures:
            f.result(timeout=REQUEST_TIMEOUT_S + 15)
    assert results == [200] * 4


@requires_ray
@pytest.mark.parametrize("name", ["ray-serve.yaml", "ray-serve-heterogeneous.yaml"])
def test_shipped_config_examples_are_valid_serve_configs(name, cpu_engine_dir):
    """The examples parse as Ray's own `serve deploy` schema, and their args build an application."""
    import yaml
    from ray.serve.schema import ServeDeploySchema

    path = Path(__file__).resolve().parents[2] / "examples" / name
    config = ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))
    (app,) = config.applications
    assert app.import_path == "rerankrt.deploy.ray_serve:app_builder"
    args = dict(app.args)
    if "engine_dirs" in args:
        options = ray_serve.RayServeOptions.from_args(args)
        assert set(options.engine_dirs) == {"9.0", "8.9"}
        args = {k: v for k, v in args.items() if k != "engine_dirs"}
    ray_serve.app_builder({**args, "engine_dir": str(cpu_engine_dir)})


@requires_ray
def test_a_replica_picks_the_engine_built_for_its_gpu():
    dirs = {"9.0": "/e/h100", "8.9": "/e/l4"}
    assert ray_serve.engine_dir_for(dirs, (8, 9)) == "/e/l4"
    with pytest.raises(ValueError, match=r"compute capability 8\.0\); engines exist for \['8\.9', '9\.0'\]"):
        ray_serve.engine_dir_for(dirs, (8, 0))
    with pytest.raises(ValueError, match="not both"):
        ray_serve.RayServeOptions(engine_dir="/e/h100", engine_dirs=dirs)
