"""Running the app: the uvicorn config, `serve` (``rerankrt serve``) and `BackgroundServer` (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import signal
import socket
import threading
import time
from pathlib import Path

from rerankrt._optional import require
from rerankrt.server.logs import configure_json_logging
from rerankrt.server.settings import ServerSettings

logger = logging.getLogger("rerankrt.server")


def uvicorn_config(app, *, host: str, port: int, settings: ServerSettings, json_logs: bool = True, **kwargs):
    """The uvicorn `Config` the server runs under: no uvicorn access log (the server writes its own), graceful
    shutdown, the connection cap and read timeouts (`rerankrt.server.connections`), keep-alive, header size and TLS.

    Args:
        app: The ASGI app.
        host: Interface to bind.
        port: TCP port.
        settings: For the log level and the graceful-shutdown timeout.
        json_logs: Configure rerankrt's and uvicorn's loggers for JSON lines on stderr (process-wide). Defaults to
            True; False leaves the host process's logging alone.
        **kwargs: More `uvicorn.Config` arguments.
    """
    uvicorn = require("uvicorn", purpose="the HTTP server")
    from rerankrt.server.connections import ConnectionNotes, guarded_protocol

    tls = {"ssl_certfile": settings.ssl_certfile, "ssl_keyfile": settings.ssl_keyfile} if settings.ssl_certfile else {}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(settings, ConnectionNotes()),
        log_config=configure_json_logging(settings.log_level) if json_logs else None,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        # uvicorn's keep-alive timer takes whole seconds (it is only ever passed to call_later).
        timeout_keep_alive=settings.keep_alive_timeout_s,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        **tls,
        **kwargs,
    )


def raise_file_limit(connections: int) -> int:
    """Raise the soft open-files limit (up to the hard one) so that `connections` sockets fit beside the engine's files.

    Returns:
        The soft limit now in force.
    """
    try:
        import resource
    except ImportError:  # not on POSIX: nothing to raise
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
    if soft != resource.RLIM_INFINITY and soft < want:
        logger.warning(
            "open-files limit is low for max_connections",
            extra={"nofile": soft, "max_connections": connections},
        )
    return soft


def serve(
    engine_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServerSettings | None = None,
    backend: str | None = None,
) -> None:
    """Load an engine directory and serve it until SIGINT/SIGTERM (``rerankrt serve``).

    On a signal the server stops accepting connections, finishes the requests in flight (up to
    ``settings.graceful_shutdown_s``), then closes the reranker.

    Args:
        engine_dir: The engine directory to serve.
        host: Interface to bind. Defaults to "127.0.0.1" (use "0.0.0.0" to serve other machines).
        port: TCP port. Defaults to 8000.
        settings: Server limits and names. Defaults to `ServerSettings()`.
        backend: Backend override for `Reranker.load` ("tensorrt", "onnxruntime", "torch"). Defaults to the
            manifest's.
    """
    uvicorn = require("uvicorn", purpose="the HTTP server")
    from rerankrt.runtime.reranker import Reranker
    from rerankrt.server.app import create_app

    settings = settings or ServerSettings()
    logging.config.dictConfig(configure_json_logging(settings.log_level))
    raise_file_limit(settings.max_connections)
    # The directory's name, not its path: log lines leave the host (collectors, tickets) and paths say who runs it.
    name = Path(engine_dir).resolve().name
    logger.info("loading", extra={"engine_dir": name, "backend": backend})
    start = time.perf_counter()
    reranker = Reranker.load(engine_dir, backend=backend, **dict(settings.reranker_options))
    load_s = time.perf_counter() - start
    try:
        app = create_app(reranker, settings)
        server = _server_class(uvicorn)(uvicorn_config(app, host=host, port=port, settings=settings))
        url = server_url(host, port, tls=bool(settings.ssl_certfile))
        server.on_ready = lambda: logger.info(
            "ready",
            extra={
                "url": url,
                "engine_dir": name,
                "backend": reranker.backend.name,
                "load_s": round(load_s, 3),
                "startup_s": round(time.perf_counter() - start, 3),
            },
        )
        server.run()
    finally:
        reranker.close()
    logger.info("stopped", extra={"signals": [signal.Signals(s).name for s in getattr(server, "signals", [])]})


def server_url(host: str, port: int, *, tls: bool = False) -> str:
    """The URL clients use for a bound host and port (IPv6 hosts in brackets)."""
    return f"{'https' if tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"


def _server_class(uvicorn):
    """uvicorn's Server, except that a SIGTERM/SIGINT ends `run()` normally instead of re-raising the signal, and the
    event loop's own errors (e.g. "too many open files" on accept) are counted into one log line, not a traceback each.

    uvicorn re-raises the signal it shut down on, which kills the process before the caller can close the engine;
    here the caller closes the reranker, logs, and the command exits 0 after a graceful stop.
    """

    class GracefulServer(uvicorn.Server):
        signals: list[int]
        on_ready = None  # called once uvicorn's startup completed (sockets bound, app started)

        async def serve(self, sockets=None) -> None:
            notes = getattr(self.config.http, "notes", None)
            if notes is not None:
                asyncio.get_running_loop().set_exception_handler(notes.loop_error)
            await super().serve(sockets)

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started and self.on_ready is not None:
                self.on_ready()

        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                yield
                captured = getattr(self, "_captured_signals", [])
                self.signals = list(captured)
                captured.clear()

    return GracefulServer


class BackgroundServer:
    """Serve an app on a loopback port from a background thread (tests, benchmarks, notebooks).

    Use as a context manager: ``with BackgroundServer(app) as server: httpx.get(server.url + "/health")``.
    Leaving stops the server gracefully (in-flight requests finish).

    Args:
        app: The ASGI app (from `create_app`).
        host: Interface to bind. Defaults to "127.0.0.1".
        port: Port; 0 picks a free one. Defaults to 0.
        settings: For the graceful-shutdown timeout and logs. Defaults to the app's settings.
        start_timeout_s: How long to wait for the server to come up. Defaults to 20.
        json_logs: Reconfigure the process's logging for JSON lines (see `uvicorn_config`). Defaults to False: a
            background server leaves its host's logging alone.
    """

    def __init__(
        self,
        app,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: ServerSettings | None = None,
        start_timeout_s: float = 20.0,
        json_logs: bool = False,
    ) -> None:
        uvicorn = require("uvicorn", purpose="the HTTP server")
        settings = settings or getattr(getattr(app, "state", None), "settings", None) or ServerSettings()
        # proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and a socket made
        # with proto 0 leaves Nagle on, so a response's body waits ~40 ms behind its headers for a delayed ACK.
        # Accepted connections inherit TCP_NODELAY from the listener on Linux; asyncio sets it on them too.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"{'https' if settings.ssl_certfile else 'http'}://{self.host}:{self.port}"
        config = uvicorn_config(app, host=self.host, port=self.port, settings=settings, json_logs=json_logs)
        self.server = _server_class(uvicorn)(config)
        self._start_timeout_s = start_timeout_s
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name=f"rerankrt-server-{self.port}", daemon=True
        )

    def start(self) -> BackgroundServer:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop accepting connections, let in-flight requests finish, and join the thread."""
        self.server.should_exit = True
        self._thread.join(timeout_s)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["BackgroundServer", "raise_file_limit", "serve", "uvicorn_config"]
