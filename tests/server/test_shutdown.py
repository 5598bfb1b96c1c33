"""SIGTERM on `rerankrt serve`: idle and stalled connections are closed at once, the request in flight is drained,
and the log holds no traceback and no 500 (a subprocess on loopback)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

pytest.importorskip("fastapi")

from tests.server.helpers import free_port, wait_for_health  # noqa: E402


def test_sigterm_closes_stalled_connections_and_drains_real_requests(cpu_engine_dir, tmp_path):
    config = tmp_path / "workers.yaml"
    # The default read timeouts (10 s, 30 s) are beyond the test: only the shutdown may close the stalled connections.
    config.write_text("graceful_shutdown_s: 30\n")
    port = free_port()
    cmd = [sys.executable, "-m", "rerankrt", "serve", str(cpu_engine_dir), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--workers-config", str(config)], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    sockets: list[socket.socket] = []
    try:
        assert wait_for_health(url, proc), "rerankrt serve did not come up"
        stalls = [
            b"",  # connected, silent
            b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Le",  # half a header
            b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n{",
        ]
        for data in stalls * 3:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(data)
            sockets.append(s)
        keep_alive = httpx.Client(base_url=url, timeout=30)
        assert keep_alive.get("/health").status_code == 200  # then idle on keep-alive

        results: list[int] = []
        docs = [f"document number {i} about the harbour and its ships" for i in range(300)]
        worker = threading.Thread(
            target=lambda: results.append(
                httpx.post(url + "/rerank", json={"query": "ships", "texts": docs}, timeout=60).status_code
            )
        )
        worker.start()
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - start
        worker.join(30)
        keep_alive.close()
    finally:
        for s in sockets:
            s.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-3000:]
    assert elapsed < 10, f"shutdown took {elapsed:.1f} s: stalled connections held it"
    assert results == [200]  # the real request was drained
    assert "Traceback" not in err and "CancelledError" not in err, err[-3000:]
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is JSON
    assert not [line for line in lines if line.get("status") == 500]
