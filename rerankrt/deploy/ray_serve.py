"""Ray Serve: the `rerankrt serve` app as replicas across a cluster, one engine per replica, autoscaled.

Each replica is a Ray actor that loads one engine directory with `Reranker.load` and serves the very FastAPI app
`rerankrt serve` serves (every route, health, metrics, the same errors) through ``@serve.ingress``. rerankrt's
in-flight batcher is the only batcher: no ``@serve.batch`` on top (two queues would wait twice).

How the app reaches ``@serve.ingress``: the app is made from the replica's loaded `Reranker`, so it cannot exist
when the class is decorated. Ray 2.60 supports this directly: ``@serve.ingress()`` with no app, and the class
defines ``__serve_build_asgi_app__``, which Serve calls on the replica after the constructor and whose return value
it serves (``ray/serve/api.py`` `ingress`, ``ray/serve/_private/replica.py`` `_initialize_asgi_callable`). A
zero-argument builder function passed to ``serve.ingress(fn)`` would also run on the replica, but it cannot see the
replica's reranker.

Placement comes from the engine directory's manifest: a TensorRT engine asks ``num_gpus: 1`` (Ray sets
``CUDA_VISIBLE_DEVICES`` so the replica's GPU is device 0, and `Reranker.load` refuses an engine built for another
compute capability or TensorRT version before deserializing it); a CPU engine (onnxruntime, torch) asks
``num_cpus`` and runs that many intra-op threads.

Start it with ``rerankrt serve ENGINE_DIR --ray``, ``serve run rerankrt.deploy.ray_serve:app_builder
engine_dir=...`` or ``serve deploy examples/ray-serve.yaml``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankrt._device import parse_capability
from rerankrt._optional import require
from rerankrt.manifest import read_manifest
from rerankrt.runtime.reranker import Reranker
from rerankrt.server import ServerSettings, create_app  # the one import of the HTTP app

require("ray.serve", extra="ray", purpose="serving on Ray Serve")
from ray import serve  # noqa: E402

logger = logging.getLogger("rerankrt.ray")

# Requests one replica holds at once. Ray's default (5) lets too few requests reach the in-flight batcher to fill
# its token budget, and the rest wait in Serve's router, which backs off while every replica is full. Measured
# (benchmarks/bench_ray.py, tiny CPU engine, 1 replica, 64 clients of 4-document requests, 2 cores): cap 5 -> 29
# pairs/s, p50 9.7 s; 16 -> 50 pairs/s, 5.3 s; 64 -> 361 pairs/s, 0.65 s; 256 -> 357 pairs/s, 0.72 s. Flat from 64
# on: the batcher is fed; past that, rerankrt's own queue (max_pending_pairs, 429 when full) holds the excess.
MAX_ONGOING_REQUESTS = 64
# The autoscaler adds a replica when the mean ongoing requests per replica pass this: half the cap, so a new replica
# starts while the busy ones still have room, not after they turn requests away.
TARGET_FRACTION = 0.5
DEPLOYMENT_NAME = "rerankrt"
REPLICA_HEADER = "x-rerankrt-replica"
GPU_BACKENDS = frozenset({"tensorrt"})


def _positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}.{name} must be a positive int, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class RayServeOptions:
    """How the engine directory is deployed on Ray Serve; validated on creation.

    Attributes:
        engine_dir: The engine directory every replica loads (the same path on every node: a shared or copied folder).
            Empty when `engine_dirs` is given.
        engine_dirs: For a cluster of several GPU classes: compute capability ("9.0", "8.9") -> engine directory
            built for it; each replica loads the one its GPU needs and refuses to start, naming the classes it has,
            on a GPU it has none for. Defaults to none.
        num_replicas: Fixed replica count. Defaults to 1 (ignored when `autoscale` is set).
        autoscale: (min_replicas, max_replicas) to autoscale between instead. Defaults to None.
        max_ongoing_requests: Requests one replica holds at once. Defaults to `MAX_ONGOING_REQUESTS`.
        target_ongoing_requests: Autoscaling target per replica. Defaults to `TARGET_FRACTION` of the cap.
        num_cpus: CPUs per replica. Defaults to 1 for a CPU engine (also its onnxruntime threads), 1 beside a GPU.
        num_gpus: GPUs per replica. Defaults to 1 for a TensorRT engine, else 0.
        resources: Ray custom resources per replica, e.g. {"sm90": 1} to pin an engine to one GPU class.
            Defaults to none.
        backend: Backend override for `Reranker.load`. Defaults to the manifest's.
        settings: `ServerSettings` fields as a plain mapping (``reranker_options`` included). Defaults to none.
        name: The Serve deployment name. Defaults to "rerankrt".
    """

    engine_dir: str = ""
    engine_dirs: Mapping[str, str] = field(default_factory=dict)
    num_replicas: int = 1
    autoscale: tuple[int, int] | None = None
    max_ongoing_requests: int = MAX_ONGOING_REQUESTS
    target_ongoing_requests: float | None = None
    num_cpus: float | None = None
    num_gpus: float | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    backend: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    name: str = DEPLOYMENT_NAME

    def __post_init__(self) -> None:
        owner = "RayServeOptions"
        if not isinstance(self.engine_dirs, Mapping) or not isinstance(self.engine_dir, str | Path):
            raise ValueError(f"{owner}.engine_dir must be a path and {owner}.engine_dirs a mapping")
        if bool(str(self.engine_dir)) == bool(self.engine_dirs):
            raise ValueError(f"{owner} takes engine_dir (one engine) or engine_dirs (one per GPU class), not both")
        if self.engine_dir:
            object.__setattr__(self, "engine_dir", str(Path(self.engine_dir).resolve()))
        dirs = {}
        for cc, path in self.engine_dirs.items():
            try:
                major, minor = parse_capability(cc) or (None, None)
            except ValueError:
                major = minor = None
            if major is None:
                raise ValueError(f"{owner}.engine_dirs keys must be compute capabilities like '9.0', got {cc!r}")
            dirs[f"{major}.{minor}"] = str(Path(path).resolve())
        object.__setattr__(self, "engine_dirs", dirs)
        _positive_int(owner, "num_replicas", self.num_replicas)
        _positive_int(owner, "max_ongoing_requests", self.max_ongoing_requests)
        if self.autoscale is not None:
            low, high = self.autoscale
            if isinstance(low, bool) or not isinstance(low, int) or low < 0 or not isinstance(high, int) or high < 1:
                raise ValueError(f"{owner}.autoscale must be (min >= 0, max >= 1), got {self.autoscale!r}")
            if low > high:
                raise ValueError(f"{owner}.autoscale min {low} exceeds max {high}")
            object.__setattr__(self, "autoscale", (low, high))
        target = self.target_ongoing_requests
        if target is None:
            target = max(1.0, self.max_ongoing_requests * TARGET_FRACTION)
        if (
            isinstance(target, bool)
            or not isinstance(target, int | float)
            or not 0 < target <= self.max_ongoing_requests
        ):
            raise ValueError(
                f"{owner}.target_ongoing_requests must lie in (0, max_ongoing_requests={self.max_ongoing_requests}],"
                f" got {target!r}"
            )
        object.__setattr__(self, "target_ongoing_requests", float(target))
        for name in ("num_cpus", "num_gpus"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise ValueError(f"{owner}.{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.resources, Mapping) or not isinstance(self.settings, Mapping):
            raise ValueError(f"{owner}.resources and {owner}.settings must be mappings")
        ServerSettings(**self.settings)  # refuse bad settings here, on the driver, not in every replica
        object.__setattr__(self, "resources", dict(self.resources))
        object.__setattr__(self, "settings", dict(self.settings))

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> RayServeOptions:
        """Options from ``serve run ... key=value`` arguments or a config file's ``args:`` (strings or YAML values).

        Keys: engine_dir or engine_dirs (a mapping, or "9.0=/e/h100,8.9=/e/l4"), num_replicas, autoscale
        ("MIN:MAX"), max_ongoing_requests, target_ongoing_requests, num_cpus, num_gpus, resources (mapping or
        "name=amount,..."), backend, workers_config (a `rerankrt serve --workers-config` YAML path), settings (a
        mapping), name.

        Raises:
            ValueError: For a missing engine_dir, an unknown key, or a value of the wrong form, naming it.
        """
        args = dict(args)
        known = {f.name for f in dataclasses.fields(cls)} | {"workers_config"}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ValueError(f"unknown rerankrt Ray Serve argument(s) {unknown}; known: {sorted(known)}")
        if not args.get("engine_dir") and not args.get("engine_dirs"):
            raise ValueError("engine_dir=PATH is required (the engine directory every replica loads)")
        engine_dirs = args.get("engine_dirs") or {}
        if isinstance(engine_dirs, str):
            engine_dirs = dict(item.split("=", 1) for item in engine_dirs.split(",") if item)
        out: dict[str, Any] = {"engine_dir": str(args.get("engine_dir") or ""), "engine_dirs": engine_dirs}
        for key, kind in (
            ("num_replicas", int),
            ("max_ongoing_requests", int),
            ("target_ongoing_requests", float),
            ("num_cpus", float),
            ("num_gpus", float),
        ):
            if args.get(key) is not None:
                try:
                    out[key] = kind(args[key])
                except (TypeError, ValueError):
                    raise ValueError(f"{key} must be a {kind.__name__}, got {args[key]!r}") from None
        if args.get("autoscale") is not None:
            out["autoscale"] = parse_autoscale(args["autoscale"])
        resources = args.get("resources") or {}
        if isinstance(resources, str):
            resources = dict(item.split("=", 1) for item in resources.split(",") if item)
        out["resources"] = {str(k): float(v) for k, v in resources.items()}
        settings: dict[str, Any] = {}
        if args.get("workers_config"):
            settings = settings_to_dict(ServerSettings.from_yaml(args["workers_config"]))
        settings.update(args.get("settings") or {})
        out["settings"] = settings
        for key in ("backend", "name"):
            if args.get(key):
                out[key] = str(args[key])
        return cls(**out)


def parse_autoscale(value: Any) -> tuple[int, int]:
    """ "1:4", [1, 4] or (1, 4) -> (1, 4).

    Raises:
        ValueError: For anything else.
    """
    try:
        low, high = value.split(":") if isinstance(value, str) else value
        return int(low), int(high)
    except (TypeError, ValueError):
        raise ValueError(f"autoscale must be MIN:MAX replicas, e.g. 1:4, got {value!r}") from None


def settings_to_dict(settings: ServerSettings) -> dict[str, Any]:
    """`ServerSettings` as a plain dict that pickles to replicas (its options mapping is read-only)."""
    out = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    out["reranker_options"] = dict(out["reranker_options"])
    return out


def engine_dir_for(engine_dirs: Mapping[str, str], capability: tuple[int, int]) -> str:
    """The engine directory built for a GPU of `capability`, from ``{"9.0": dir, ...}``.

    Raises:
        ValueError: Naming the GPU's capability and the ones there are engines for.
    """
    key = f"{capability[0]}.{capability[1]}"
    if key not in engine_dirs:
        raise ValueError(
            f"no engine directory for this GPU (compute capability {key}); engines exist for {sorted(engine_dirs)}:"
            f" build one (rerankrt build --gpu auto on such a GPU) or keep replicas off it with a custom resource"
        )
    return engine_dirs[key]


def placement_for(backend: str, options: RayServeOptions) -> dict[str, Any]:
    """Ray actor options for a replica serving `backend`: a whole GPU for TensorRT, CPUs for a CPU engine."""
    gpu = backend in GPU_BACKENDS
    num_gpus = options.num_gpus if options.num_gpus is not None else (1 if gpu else 0)
    num_cpus = options.num_cpus if options.num_cpus is not None else 1
    actor: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus}
    if options.resources:
        actor["resources"] = dict(options.resources)
    return actor


def deployment_config(options: RayServeOptions, backend: str) -> dict[str, Any]:
    """The `Deployment.options` keyword arguments: replicas or autoscaling, request cap, placement, shutdown."""
    settings = ServerSettings(**options.settings)
    config: dict[str, Any] = {
        "name": options.name,
        "max_ongoing_requests": options.max_ongoing_requests,
        "ray_actor_options": placement_for(backend, options),
        # Serve waits this long for a stopping replica's requests before killing it: ours, not its 20 s default.
        "graceful_shutdown_timeout_s": settings.graceful_shutdown_s,
    }
    if options.autoscale is not None:
        low, high = options.autoscale
        config["autoscaling_config"] = {
            "min_replicas": low,
            "initial_replicas": max(low, 1),
            "max_replicas": high,
            "target_ongoing_requests": options.target_ongoing_requests,
        }
    else:
        config["num_replicas"] = options.num_replicas
    return config


@serve.deployment(name=DEPLOYMENT_NAME, max_ongoing_requests=MAX_ONGOING_REQUESTS)
@serve.ingress()
class RerankrtReplica:
    """One replica: one `Reranker` over one engine directory, behind `rerankrt serve`'s FastAPI app.

    Args:
        engine_dir: The engine directory to load; empty to pick one from `engine_dirs` by this replica's GPU.
        backend: Backend override for `Reranker.load`. Defaults to the manifest's.
        settings: `ServerSettings` fields (see `settings_to_dict`). Defaults to the defaults.
        threads: onnxruntime intra-op threads when no ``threads`` option is given (the replica's CPUs).
        engine_dirs: Compute capability -> engine directory (see `RayServeOptions`). Defaults to none.
    """

    def __init__(
        self,
        engine_dir: str,
        backend: str | None = None,
        settings: Mapping[str, Any] | None = None,
        threads: int | None = None,
        engine_dirs: Mapping[str, str] | None = None,
    ) -> None:
        if not engine_dir:
            from rerankrt.runtime import cuda

            # Ray set CUDA_VISIBLE_DEVICES to this replica's GPU: device 0.
            engine_dir = engine_dir_for(engine_dirs or {}, cuda.compute_capability(0))
        self._settings = ServerSettings(**dict(settings or {}))
        options = dict(self._settings.reranker_options)
        manifest_backend = read_manifest(engine_dir, verify=False).backend
        if threads and (backend or manifest_backend) in ("onnxruntime", "torch"):
            options.setdefault("threads", threads)
        context = serve.get_replica_context()
        self.replica_id = context.replica_id.unique_id
        # A TensorRT engine built for another GPU or TensorRT version is refused here, before deserializing: the
        # replica fails to start with that message and `serve status` shows it.
        self._reranker = Reranker.load(engine_dir, backend=backend, **options)
        logger.info("replica %s loaded %s", self.replica_id, engine_dir)

    def __serve_build_asgi_app__(self):
        """The app `rerankrt serve` serves, plus a header naming this replica (which replica answered)."""
        app = create_app(self._reranker, self._settings)
        app.add_middleware(_ReplicaHeader, replica_id=self.replica_id)
        return app

    def check_health(self) -> None:
        """Serve's health probe: raises when the reranker cannot serve, and Serve then replaces this replica."""
        self._reranker.health()

    def __del__(self) -> None:
        # Serve calls this after the replica's requests drained (or graceful_shutdown_timeout_s passed).
        reranker = getattr(self, "_reranker", None)
        if reranker is not None:
            reranker.close(drain=True, timeout=self._settings.graceful_shutdown_s)


class _ReplicaHeader:
    """ASGI middleware: every response names the replica that made it (``X-Rerankrt-Replica``).

    It also drops the app's ``X-Request-Id``: Serve's proxy puts its request id into the request (the app logs and
    answers with that same id) and adds it to the response itself, so the client would get it twice.
    """

    def __init__(self, app, *, replica_id: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), replica_id.encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_replica(message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*kept, self.header]}
            await send(message)

        await self.app(scope, receive, send_with_replica)


def application_from_options(options: RayServeOptions):
    """The Serve application (a bound deployment) for `options`: placement read from the engine's manifest."""
    dirs = [options.engine_dir] if options.engine_dir else list(options.engine_dirs.values())
    backends = {options.backend or read_manifest(d, verify=False).backend for d in dirs}
    if len(backends) != 1:
        raise ValueError(f"engine_dirs must all have one backend, got {sorted(backends)}")
    backend = backends.pop()
    config = deployment_config(options, backend)
    threads = None if backend in GPU_BACKENDS else max(1, math.floor(config["ray_actor_options"]["num_cpus"]))
    return RerankrtReplica.options(**config).bind(
        options.engine_dir, options.backend, dict(options.settings), threads, dict(options.engine_dirs)
    )


def app_builder(args: dict[str, Any]):
    """Application builder for ``serve run rerankrt.deploy.ray_serve:app_builder engine_dir=... num_replicas=2``
    and for a ``serve deploy`` config's ``import_path`` (its ``args:`` mapping); see `RayServeOptions.from_args`."""
    return application_from_options(RayServeOptions.from_args(args))


def run(
    options: RayServeOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve `options` on Ray Serve until SIGINT/SIGTERM (``rerankrt serve --ray``), then shut Serve down gracefully.

    Joins the Ray cluster at `address` (or ``RAY_ADDRESS``), else starts a local one on this machine.

    Args:
        options: What to deploy.
        host: Interface Serve's HTTP proxy binds. Defaults to "127.0.0.1".
        port: The proxy's port. Defaults to 8000.
        address: Ray cluster address. Defaults to ``RAY_ADDRESS`` or a new local cluster.
        stop: Set it to stop (tests); signals set it too. Defaults to a new event.
    """
    import ray

    settings = ServerSettings(**options.settings)
    stop = stop or threading.Event()
    ray.init(address=address, ignore_reinit_error=True)
    try:
        serve.start(
            http_options={"host": host, "port": port, "request_timeout_s": settings.request_timeout_s + 5},
        )
        serve.run(application_from_options(options), name=options.name, route_prefix="/")
        what = options.engine_dir or options.engine_dirs
        logger.info("serving %s on Ray Serve at http://%s:%s", what, host, port)
        print(f"rerankrt: serving {what} on Ray Serve at http://{host}:{port} (Ctrl-C stops)")
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        stop.wait()
    finally:
        shutdown_gracefully(options.name)
        ray.shutdown()


def shutdown_gracefully(name: str = DEPLOYMENT_NAME) -> None:
    """Delete the application, letting its in-flight requests finish, then shut Serve down.

    In Ray 2.60 a bare `serve.shutdown()` kills the HTTP proxy at once and drops the connections of requests in
    flight (measured: tests/deploy/test_ray_serve.py). Deleting the application first keeps the proxy up while each
    replica stops taking requests and finishes its own (up to graceful_shutdown_timeout_s).
    """
    if name in serve.status().applications:
        serve.delete(name)
    serve.shutdown()


__all__ = [
    "MAX_ONGOING_REQUESTS",
    "RayServeOptions",
    "RerankrtReplica",
    "app_builder",
    "application_from_options",
    "deployment_config",
    "engine_dir_for",
    "parse_autoscale",
    "placement_for",
    "run",
    "shutdown_gracefully",
]
