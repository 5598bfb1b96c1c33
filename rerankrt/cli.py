"""The `rerankrt` command line: convert, build, serve, rank, info, demo, export.

`rerankrt --help` works with the core install; each command imports what it needs when it runs, and a missing extra
is reported with the pip command that installs it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rerankrt._optional import MissingDependencyError
from rerankrt.cli_args import (  # noqa: F401 - the exit codes are part of the command line's interface
    EXIT_CODES_HELP,
    EXIT_GATE,
    EXIT_GRAPH,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NO_TENSORRT,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_PORT,
    EXIT_USAGE,
    _parser,
)


def _read_documents(args) -> list[str]:
    """The documents of `rerankrt rank`: -d values, or a JSON list / JSONL / plain-lines file (- for stdin).

    Raises:
        ValueError: An empty source, an object without "text", or an item that is not a string (exit 2).
    """
    if args.document:
        return list(args.document)
    where = "stdin" if args.documents == "-" else args.documents
    text = sys.stdin.read() if args.documents == "-" else Path(args.documents).read_text(encoding="utf-8")
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            items = json.loads(text)
            if not isinstance(items, list):
                raise ValueError("expected a JSON list")
        elif stripped.startswith(("{", '"')):
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = [line for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ValueError(f"--documents {where}: not valid JSON or JSONL ({exc})") from None
    documents = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            if not isinstance(item.get("text"), str):
                raise ValueError(f'--documents {where}: item {i} has no string "text" field (keys: {sorted(item)})')
            item = item["text"]
        if not isinstance(item, str):
            raise ValueError(f'--documents {where}: item {i} is {type(item).__name__}, not a string or {{"text": ...}}')
        documents.append(item)
    if not documents:
        raise ValueError(f"--documents {where}: no documents in it")
    return documents


def _print_table(results, width: int = 80) -> None:
    print(f"{'rank':>4}  {'index':>5}  {'score':>9}  document")
    for n, r in enumerate(results, 1):
        doc = (r.document or "").replace("\n", " ")
        doc = doc if len(doc) <= width else doc[: width - 1] + "…"
        print(f"{n:>4}  {r.index:>5}  {r.score:>9.4f}  {doc}")


def cmd_convert(args) -> int:
    from rerankrt.models import convert_checkpoint

    record = convert_checkpoint(
        args.src, args.out, yes_token=args.yes_token, no_token=args.no_token, revision=args.revision
    )
    print(json.dumps(record, indent=2))
    return 0


def _quiet_libraries() -> None:
    """Off a terminal: no progress bars from the libraries a build drives (one line per stage instead)."""
    if not sys.stderr.isatty():
        import transformers  # noqa: F401 - loaded now so that its bars can be switched off before they run

        from rerankrt.calibration.loop import quiet_library_progress

        quiet_library_progress()


def cmd_build(args) -> int:
    from rerankrt.build.pipeline import build

    _quiet_libraries()
    overrides = {"max_length": args.max_length} if args.max_length else None
    result = build(
        gpu=args.gpu,
        model=args.model,
        out=args.out,
        calibration=args.calibration,
        template=args.template,
        onnx_only=args.onnx_only,
        revision=args.revision,
        max_calibration_pairs=args.max_calibration_pairs,
        config_overrides=overrides,
    )
    stream = sys.stdout if result.exit_code == 0 else sys.stderr
    print(result.message, file=stream)
    return result.exit_code


class PortUnavailableError(OSError):
    """`rerankrt serve` cannot bind its host and port (exit 6)."""


def check_port_free(host: str, port: int) -> None:
    """Bind `host`:`port` once and let it go, so that a busy port is refused before the engine loads.

    Raises:
        PortUnavailableError: The address is in use, not local, or not permitted.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PortUnavailableError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            sock.bind(address)
        except OSError as exc:
            raise PortUnavailableError(f"cannot bind {host}:{port}: {exc.strerror}") from None


def cmd_serve(args) -> int:
    import dataclasses
    import os

    from rerankrt.server import ServerSettings, serve

    keys = [*(args.api_key or []), *(k for k in os.environ.get("RERANKRT_API_KEY", "").split(",") if k.strip())]
    flags = {
        "api_keys": tuple(keys) or None,
        "allow_raw_prompts": args.allow_raw_prompts or None,
        "ssl_certfile": args.ssl_certfile,
        "ssl_keyfile": args.ssl_keyfile,
        "model_name": args.model_name,
    }
    if args.workers_config:
        settings = ServerSettings.from_yaml(args.workers_config, **flags)
    else:
        settings = ServerSettings(**{k: v for k, v in flags.items() if v is not None})
    if args.model_dir:
        settings = dataclasses.replace(
            settings, reranker_options={**settings.reranker_options, "model_dir": args.model_dir}
        )
    if args.ray:
        from rerankrt.deploy.ray_serve import RayServeOptions, parse_autoscale, run, settings_to_dict

        autoscale = parse_autoscale(args.autoscale) if args.autoscale else None
        options = RayServeOptions(
            engine_dir=str(args.engine_dir),
            num_replicas=args.replicas or 1,
            autoscale=autoscale,
            backend=args.backend,
            settings=settings_to_dict(settings),
        )
        run(options, host=args.host, port=args.port)
        return 0
    if args.replicas or args.autoscale:
        raise ValueError("--replicas and --autoscale need --ray")
    check_port_free(args.host, args.port)  # before the engine loads: a busy port fails in milliseconds
    serve(args.engine_dir, host=args.host, port=args.port, settings=settings, backend=args.backend)
    return 0


def cmd_rank(args) -> int:
    from rerankrt import Reranker

    documents = _read_documents(args)
    options = {"model_dir": args.model_dir} if args.model_dir else {}
    with Reranker.load(args.engine_dir, backend=args.backend, **options) as reranker:
        results = reranker.rank(
            args.query,
            documents,
            top_k=args.top_k,
            return_documents=True,
            instruction=args.instruction,
            normalize=args.normalize,
        )
    if args.json:
        print(json.dumps([{"index": r.index, "score": r.score, "document": r.document} for r in results], indent=2))
    else:
        _print_table(results)
    return 0


def cmd_info(args) -> int:
    from rerankrt.manifest import read_manifest

    m = read_manifest(args.engine_dir)
    if args.json:
        print(json.dumps({"path": str(m.path), **m.as_dict()}, indent=2))
        return 0
    for k, v in info_rows(m):
        print(f"{k:>16}: {v}")
    return 0


def info_rows(m) -> list[tuple[str, str]]:
    """A manifest -> the (label, value) lines `rerankrt info` prints, each read from a typed field."""
    target, cal, gate = m.target, m.calibration, m.gate
    where = f"sm{target.compute_capability.replace('.', '')}" if target.compute_capability else "no GPU"
    graph = "" if target.graph_precision == target.precision else f" (model.onnx is {target.graph_precision})"
    engine = f"engine.plan, TensorRT {target.tensorrt_version}" if m.artifacts.engine else "no engine in this directory"
    profiles = "; ".join(f"min {p.min} opt {p.opt} max {p.max}".replace(", ", "x") for p in target.profiles)
    size = sum((m.path / rel).stat().st_size for rel in m.files if (m.path / rel).is_file())
    if gate is None:
        verdict = "not run"
    else:
        verdict = f"{'passed' if gate.passed else 'failed'} on the {gate.graph}"
        if "spearman" in gate.metrics:
            verdict += f": spearman {gate.metrics['spearman']:.4f}, top1 {gate.metrics.get('top1', 0):.3f}"
    data = (
        "-"
        if cal is None
        else f"{cal.calibration_pairs} calibration pairs, {cal.heldout_pairs} held-out pairs "
        f"({cal.heldout_groups} queries) from the {cal.source} set"
    )
    return [
        ("engine directory", str(m.path)),
        ("model", f"{m.model_name} ({m.model.revision or 'local'})"),
        ("backend", m.backend),
        ("target", f"{target.gpu} {where} {m.precision}{graph}"),
        ("template", f"{m.template}, max_length {m.max_length}"),
        ("limits", ", ".join(f"{k}={v}" for k, v in m.limits.as_dict().items())),
        ("tensorrt", engine),
        *([("profiles", profiles)] if profiles else []),
        ("calibration", data),
        ("gate", verdict),
        (
            "files",
            f"{', '.join(f'{k} {v}' for k, v in m.artifacts.as_dict().items())}; {len(m.files)} hashed, "
            f"{size / 1e6:.1f} MB",
        ),
        ("built", f"{m.created} by rerankrt {m.rerankrt_version} (format {m.format_version})"),
    ]


def cmd_tiny_model(args) -> int:
    from rerankrt.models import write_tiny_model

    path = write_tiny_model(args.out, form=args.form, shape=args.shape, num_hidden_layers=args.layers, seed=args.seed)
    print(path)
    return 0


def cmd_demo(args) -> int:
    from rerankrt import Reranker
    from rerankrt.demo import DEMO_DOCUMENTS, DEMO_QUERY, demo_engine

    _quiet_libraries()
    engine, code = demo_engine(args.out, args.rebuild)
    if code != EXIT_OK:
        return code
    print(f"[demo] loading {engine} and ranking the model card's example (random weights: the order is arbitrary)")
    with Reranker.load(engine) as reranker:
        results = reranker.rank(DEMO_QUERY, DEMO_DOCUMENTS, return_documents=True)
        info = reranker.info()
    print(f"query: {DEMO_QUERY}")
    _print_table(results)
    print(f"[demo] backend={info.get('backend')} precision={info.get('precision')} template={info.get('template')}")
    print(f"[demo] engine directory: {engine}; try next:")
    for command in (
        f"rerankrt info {engine}",
        f'rerankrt rank {engine} -q "Who wrote Moby-Dick?" -d "Herman Melville wrote it." -d "Jane Austen did not."',
        f"rerankrt serve {engine} --port 8000",
    ):
        print(f"  {command}")
    return EXIT_OK


def cmd_export(args) -> int:
    from rerankrt.deploy.triton import repository_from_engine_dir

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--option must be KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    result = repository_from_engine_dir(
        args.engine_dir,
        args.repo_dir,
        name=args.name,
        instances=args.instances,
        copy=args.copy,
        kind=None if args.kind == "auto" else f"KIND_{args.kind.upper()}",
        max_requests=args.max_requests,
        queue_delay_us=args.queue_delay_us,
        reranker_options=options,
        overwrite=args.force,
    )
    print(f"wrote {result.config_path} ({result.config.kind}, engine {result.engine_dir})")
    print(f"serve: tritonserver --model-repository {Path(args.repo_dir).resolve()}")
    return 0


COMMANDS = {
    "convert": cmd_convert,
    "build": cmd_build,
    "serve": cmd_serve,
    "rank": cmd_rank,
    "info": cmd_info,
    "demo": cmd_demo,
    "tiny-model": cmd_tiny_model,
    "export": cmd_export,
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; every expected failure is one line on stderr and an exit code of `EXIT_CODES_HELP`."""
    import os

    args = _parser().parse_args(argv)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush from raising again.
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return EXIT_PIPE
    except KeyboardInterrupt:
        print(f"rerankrt {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PortUnavailableError as exc:
        print(f"rerankrt {args.command}: {exc}", file=sys.stderr)
        return EXIT_PORT
    except (
        MissingDependencyError,
        FileNotFoundError,
        FileExistsError,
        IsADirectoryError,
        ValueError,
        TypeError,
    ) as exc:
        print(f"rerankrt {args.command}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a command line answers in one line; the traceback is opt-in
        if os.environ.get("RERANKRT_DEBUG"):
            raise
        print(
            f"rerankrt {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)} "
            "(RERANKRT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
