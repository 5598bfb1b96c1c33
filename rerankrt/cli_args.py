"""The `rerankrt` command line's arguments and exit codes: one parser, one `_add_<command>` per subcommand."""

from __future__ import annotations

import argparse
from pathlib import Path

from rerankrt import __version__
from rerankrt._device import DEFAULT_MODEL, GPUS
from rerankrt.prompt import DEFAULT_MAX_LENGTH, TEMPLATES

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
  7    build: the TensorRT engine does not run at the target's precision (TensorRT's layer information)
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
    for add in (_add_convert, _add_build, _add_serve, _add_rank, _add_info, _add_demo, _add_tiny_model, _add_export):
        add(sub)
    return p


def _add_convert(sub) -> None:
    c = sub.add_parser("convert", help="causal-LM or 2-label checkpoint -> 1-logit classifier")
    c.add_argument("src", help="checkpoint folder or hub id")
    c.add_argument("out", type=Path, help="folder to write")
    c.add_argument("--yes-token", default="1", help='token meaning relevant (default "1"; "yes" for Qwen3-Reranker)')
    c.add_argument("--no-token", default="0", help='token meaning not relevant (default "0")')
    c.add_argument("--revision", help="hub revision")


def _add_build(sub) -> None:
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


def _add_serve(sub) -> None:
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


def _add_rank(sub) -> None:
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


def _add_info(sub) -> None:
    i = sub.add_parser("info", help="summarize an engine directory's manifest")
    i.add_argument("engine_dir", type=Path)
    i.add_argument("--json", action="store_true", help="print the whole manifest")


def _add_demo(sub) -> None:
    d = sub.add_parser("demo", help="build a CPU engine of a tiny offline model and rank the model card's example")
    d.add_argument(
        "--out", type=Path, default=Path("engines"), help="where engines/cpu and the model go (default engines)"
    )
    d.add_argument("--rebuild", action="store_true", help="build even when the engine's inputs are unchanged")


def _add_tiny_model(sub) -> None:
    t = sub.add_parser("tiny-model", help="write a seeded random Qwen2 checkpoint with the real tokenizer (offline)")
    t.add_argument("out", type=Path)
    t.add_argument("--form", choices=("causal", "classifier2", "classifier1"), default="causal")
    t.add_argument("--shape", choices=("tiny", "qwen2.5-0.5b"), default="tiny")
    t.add_argument("--layers", type=int, help="override the number of layers")
    t.add_argument("--seed", type=int, default=0)


def _add_export(sub) -> None:
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
