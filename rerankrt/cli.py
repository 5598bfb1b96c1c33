"""The `rerankrt` command line: convert, build, serve, rank, info, demo, export.

`rerankrt --help` works with the core install; each command imports what it needs when it runs, and a missing extra
is reported with the pip command that installs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rerankrt import __version__
from rerankrt._device import DEFAULT_MODEL, GPUS
from rerankrt._optional import MissingDependencyError
from rerankrt.prompt import DEFAULT_MAX_LENGTH, TEMPLATES

# The example of the mxbai-rerank-base-v2 model card (its usage snippet), ranked by `rerankrt demo`.
DEMO_QUERY = "Who wrote 'To Kill a Mockingbird'?"
DEMO_DOCUMENTS = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960. It was immediately successful, winning the "
    "Pulitzer Prize, and has become a classic of modern American literature.",
    "The novel 'Moby-Dick' was written by Herman Melville and first published in 1851. It is considered a "
    "masterpiece of American literature and deals with complex themes of obsession, revenge, and the conflict "
    "between good and evil.",
    "Harper Lee, an American novelist widely known for her novel 'To Kill a Mockingbird', was born in 1926 in "
    "Monroeville, Alabama. She received the Pulitzer Prize for Fiction in 1961.",
    "Jane Austen was an English novelist known primarily for her six major novels, which interpret, critique and "
    "comment upon the British landed gentry at the end of the 18th century.",
    "The 'Harry Potter' series, which consists of seven fantasy novels written by British author J.K. Rowling, is "
    "among the most popular and critically acclaimed books of the modern era.",
    "'The Great Gatsby', a novel written by American author F. Scott Fitzgerald, was published in 1925. The story is "
    "set in the Jazz Age and follows the life of millionaire Jay Gatsby and his pursuit of Daisy Buchanan.",
]


# Exit codes of every command (README "Command line" and `rerankrt --help` list the same).
EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_NO_TENSORRT, EXIT_GATE, EXIT_GRAPH, EXIT_PORT = 0, 1, 2, 3, 4, 5, 6
EXIT_INTERRUPTED, EXIT_PIPE = 130, 141
EXIT_CODES_HELP = """exit codes:
  0    success
  1    unexpected internal error (one line; RERANKRT_DEBUG=1 shows the traceback)
  2    bad argument, input file or configuration (e.g. FP8 on A100, an empty documents file)
  3    build: TensorRT or a CUDA GPU missing (the directory is still written; --onnx-only makes this 0)
  4    build: accuracy gate failed
  5    build: graph structure check failed
  6    serve: the host/port cannot be bound (checked before the engine loads)
  130  interrupted (Ctrl-C)
  141  stdout closed early (e.g. piped into head): stops quietly"""


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line on stderr (exit 2), not the usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    """A TCP port number, 0-65535 (0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, got {port}")
    return port


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="rerankrt",
        description="mxbai-rerank v2 as FP8 TensorRT engines, served with in-flight batching.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rerankrt {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("convert", help="causal-LM or 2-label checkpoint -> 1-logit classifier")
    c.add_argument("src", help="checkpoint folder or hub id")
    c.add_argument("out", type=Path, help="folder to write")
    c.add_argument("--yes-token", default="1", help='token meaning relevant (default "1"; "yes" for Qwen3-Reranker)')
    c.add_argument("--no-token", default="0", help='token meaning not relevant (default "0")')
    c.add_argument("--revision", help="hub revision")

    b = sub.add_parser("build", help="checkpoint -> engine directory (quantize, export, gate, compile)")
    b.add_argument("--gpu", default="auto", help=f"target: one of {', '.join((*GPUS, 'auto'))}, or a config YAML path")
    b.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or folder (default {DEFAULT_MODEL})")
    b.add_argument("--out", type=Path, required=True, help="engine directory to write")
    b.add_argument("--calibration", type=Path, help="JSONL of query/document pairs (default: the shipped set)")
    b.add_argument("--template", choices=TEMPLATES, default="seed", help="prompt template (default seed)")
    b.add_argument("--onnx-only", action="store_true", help="stop before TensorRT; succeed without it")
    b.add_argument("--revision", help="hub revision of --model")
    b.add_argument("--max-length", type=int, help=f"prompt token cap (default from the config, {DEFAULT_MAX_LENGTH})")
    b.add_argument("--max-calibration-pairs", type=int, help="use a spread subset of the calibration pairs")

    s = sub.add_parser("serve", help="serve an engine directory over HTTP (TEI, Cohere and /predict routes)")
    s.add_argument("engine_dir", type=Path)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=_port, default=8000)
    s.add_argument("--model-name", help="model name the responses and /info report (default: the manifest's model)")
    s.add_argument("--model-dir", help="classifier checkpoint folder for --backend torch")
    s.add_argument("--workers-config", type=Path, help="YAML of server and scheduler settings")
    s.add_argument("--backend", help="override the manifest's backend (tensorrt, onnxruntime, torch)")
    s.add_argument(
        "--api-key", action="append", help="accept Authorization: Bearer KEY (repeatable; or RERANKRT_API_KEY=k1,k2)"
    )
    s.add_argument("--allow-raw-prompts", action="store_true", help="/predict: score prompts outside the template")
    s.add_argument("--ssl-certfile", help="serve HTTPS with this PEM certificate")
    s.add_argument("--ssl-keyfile", help="the certificate's PEM private key")
    s.add_argument("--ray", action="store_true", help="serve as Ray Serve replicas (needs rerankrt[ray])")
    scale = s.add_mutually_exclusive_group()
    scale.add_argument("--replicas", type=int, help="with --ray: fixed number of replicas (default 1)")
    scale.add_argument("--autoscale", metavar="MIN:MAX", help="with --ray: autoscale between MIN and MAX replicas")

    r = sub.add_parser("rank", help="rank documents for a query with an engine directory")
    r.add_argument("engine_dir", type=Path)
    r.add_argument("--query", "-q", required=True)
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--document", "-d", action="append", help="a document (repeat for more)")
    src.add_argument(
        "--documents", metavar="FILE", help="JSON list, JSONL of strings or {text}, or one per line; - for stdin"
    )
    r.add_argument("--instruction")
    r.add_argument("--top-k", type=int)
    r.add_argument("--normalize", action="store_true", help="sigmoid scores (probabilities)")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.add_argument("--backend", help="override the manifest's backend")
    r.add_argument("--model-dir", help="classifier checkpoint folder for --backend torch")

    i = sub.add_parser("info", help="summarize an engine directory's manifest")
    i.add_argument("engine_dir", type=Path)
    i.add_argument("--json", action="store_true", help="print the whole manifest")

    d = sub.add_parser("demo", help="build a CPU engine of a tiny offline model and rank the model card's example")
    d.add_argument(
        "--out", type=Path, default=Path("engines"), help="where engines/cpu and the model go (default engines)"
    )
    d.add_argument("--rebuild", action="store_true", help="build even when the engine's inputs are unchanged")

    t = sub.add_parser("tiny-model", help="write a seeded random Qwen2 checkpoint with the real tokenizer (offline)")
    t.add_argument("out", type=Path)
    t.add_argument("--form", choices=("causal", "classifier2", "classifier1"), default="causal")
    t.add_argument("--shape", choices=("tiny", "qwen2.5-0.5b"), default="tiny")
    t.add_argument("--layers", type=int, help="override the number of layers")
    t.add_argument("--seed", type=int, default=0)

    e = sub.add_parser("export", help="engine directory -> a deployment target's layout (triton)")
    targets = e.add_subparsers(dest="target", required=True, metavar="TARGET")
    tr = targets.add_parser("triton", help="write a Triton model repository (Python backend, rerankrt batching)")
    tr.add_argument("engine_dir", type=Path, help="engine directory written by `rerankrt build`")
    tr.add_argument("repo_dir", type=Path, help="Triton model repository to write into")
    tr.add_argument("--name", default="rerankrt", help="model name (default rerankrt)")
    tr.add_argument("--instances", type=int, default=1, help="model instances, each with its own engine (default 1)")
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--copy", dest="copy", action="store_true", default=True, help="copy the engine (default)")
    mode.add_argument("--reference", dest="copy", action="store_false", help="reference it by absolute path")
    tr.add_argument("--kind", choices=("auto", "cpu", "gpu"), default="auto", help="instance kind (default: engine's)")
    tr.add_argument("--max-requests", type=int, default=64, help="requests gathered per execute call (default 64)")
    tr.add_argument("--queue-delay-us", type=int, default=2000, help="max gathering delay, microseconds (default 2000)")
    tr.add_argument("--option", action="append", default=[], metavar="KEY=JSON", help="Reranker.load option")
    tr.add_argument("--force", action="store_true", help="replace REPO_DIR/NAME if it exists")
    return p


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


DEMO_MODEL = {"form": "causal", "seed": 0}
DEMO_BUILD = {"gpu": "cpu", "template": "seed", "max_calibration_pairs": 64}
DEMO_KEY_FILE = ".demo-inputs"  # in the engine directory; dot files are not hashed by the manifest


def demo_inputs_key(model: Path) -> str:
    """A digest of everything the demo engine is built from: the model's files, the build arguments, the shipped
    CPU config and the rerankrt version. Equal digests: the engine on disk is what a rebuild would write."""
    import hashlib

    from rerankrt.build.config import config_path
    from rerankrt.manifest import sha256_file

    h = hashlib.sha256(json.dumps({"version": __version__, "model": DEMO_MODEL, "build": DEMO_BUILD}).encode())
    h.update(Path(config_path("cpu")).read_bytes())
    for path in sorted(p for p in model.rglob("*") if p.is_file()):
        h.update(f"{path.relative_to(model).as_posix()}={sha256_file(path)}".encode())
    return h.hexdigest()


def _demo_engine(out: Path, rebuild: bool) -> tuple[Path, int]:
    """(engine directory, exit code): the demo engine, built or reused when its inputs are unchanged."""
    from rerankrt.build.pipeline import build
    from rerankrt.manifest import ManifestError, read_manifest
    from rerankrt.models import write_tiny_model

    model, engine = out / "demo-model", out / "cpu"
    if not (model / "config.json").is_file():
        print(f"[demo] writing a tiny random Qwen2 reranker (real Qwen tokenizer, no download) to {model}")
        write_tiny_model(model, **DEMO_MODEL)
    key = demo_inputs_key(model)
    stamp = engine / DEMO_KEY_FILE
    if not rebuild and stamp.is_file() and stamp.read_text().strip() == key:
        try:
            read_manifest(engine)
            print(f"[demo] reusing {engine}: its model, config and rerankrt version are unchanged (--rebuild forces)")
            return engine, EXIT_OK
        except ManifestError as exc:
            print(f"[demo] rebuilding {engine}: {exc}")
    print(f"[demo] building a CPU engine directory in {engine}")
    result = build(model=str(model), out=engine, **DEMO_BUILD)
    if result.exit_code != 0:
        print(result.message, file=sys.stderr)
        return engine, result.exit_code
    stamp.write_text(key + "\n")
    return engine, EXIT_OK


def cmd_demo(args) -> int:
    from rerankrt import Reranker

    _quiet_libraries()
    engine, code = _demo_engine(args.out, args.rebuild)
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
