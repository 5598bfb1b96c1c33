"""Triton Python-backend model serving a rerankrt engine directory (copied to ``<repo>/<name>/1/model.py``).

``initialize`` opens the engine directory named by the ``engine_dir`` parameter of ``config.pbtxt`` with
`Reranker.load` (which verifies every file's sha256 against the manifest; the manifest's own sha256 is checked against
the one recorded at export). ``async def execute`` scores all requests Triton hands it concurrently through the
Reranker's async API, so their pairs share rerankrt's in-flight batches; a bad request gets an error response that
names the input or parameter at fault, and the others in the call are served. ``finalize`` closes the Reranker.

The Python environment: the stub's interpreter starts isolated (it ignores ``PYTHONPATH``); its ``sys.path`` comes
from the ``python3`` first on ``PATH`` (a virtualenv's ``bin`` there brings that virtualenv's site-packages) or from
``EXECUTION_ENV_PATH``. This file adds the ``PYTHONPATH`` entries itself, so a checkout of rerankrt can be served
without installing it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import site
import sys
from pathlib import Path
from typing import Any


def _add_pythonpath() -> None:
    # addsitedir (not sys.path.insert) so .pth files of an added site-packages (editable installs) are honoured too.
    for entry in reversed([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]):
        full = os.path.abspath(entry)
        if full not in sys.path:
            site.addsitedir(full)  # appends it, then what its .pth files name
            sys.path.remove(full)
            sys.path.insert(0, full)  # before site-packages, as PYTHONPATH would have put it


_add_pythonpath()

from rerankrt import Reranker, __version__  # noqa: E402
from rerankrt.deploy.triton.metrics import StatsCounters  # noqa: E402
from rerankrt.deploy.triton.protocol import (  # noqa: E402
    RequestError,
    error_response,
    outputs_from_results,
    response_from_outputs,
    rows_from_request,
)
from rerankrt.manifest import MANIFEST, read_manifest  # noqa: E402
from rerankrt.prompt import TruncationError  # noqa: E402
from rerankrt.runtime.batching import OverloadedError  # noqa: E402

try:
    import triton_python_backend_utils as pb_utils
except ImportError:  # outside Triton: the pure helpers below still import, and tests set `pb_utils` to a fake
    pb_utils = None


def parameters_from_model_config(config: dict[str, Any]) -> dict[str, str]:
    """Triton's model configuration (the JSON in ``args["model_config"]``) -> its ``parameters`` as plain strings."""
    return {key: str((value or {}).get("string_value", "")) for key, value in (config.get("parameters") or {}).items()}


def engine_dir_from_parameters(params: dict[str, str], version_dir: Path) -> Path:
    """The ``engine_dir`` parameter -> the engine directory: absolute (referenced) or under the version folder (copied).

    Raises:
        ValueError: When the parameter is missing or the directory is not there, naming ``engine_dir``.
    """
    value = params.get("engine_dir", "")
    if not value:
        raise ValueError("engine_dir: config.pbtxt has no engine_dir parameter (run `rerankrt export triton`)")
    path = Path(value)
    path = path if path.is_absolute() else version_dir / path
    if not path.is_dir():
        raise ValueError(f"engine_dir: {path} is not a directory (copy the engine there or export again)")
    return path


def check_manifest_digest(engine_dir: Path, expected: str) -> None:
    """Refuse an engine directory whose ``manifest.json`` is not the one exported (rebuilt or swapped in place).

    Raises:
        ValueError: Naming ``engine_dir`` and both digests.
    """
    if not expected:
        return
    digest = hashlib.sha256((engine_dir / MANIFEST).read_bytes()).hexdigest()
    if digest != expected:
        raise ValueError(
            f"engine_dir: {engine_dir / MANIFEST} has sha256 {digest}, but {expected} was exported; "
            "the engine directory changed since `rerankrt export triton`: export it again"
        )


def load_options_from_parameters(params: dict[str, str], *, backend: str, kind: str, device_id: str) -> dict:
    """``reranker_options`` and the instance placement -> keyword options for `Reranker.load`."""
    try:
        options = json.loads(params.get("reranker_options") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"reranker_options: not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise ValueError(f"reranker_options: must be a JSON object, got {options!r}")
    if kind == "GPU" and backend == "tensorrt":
        # Triton places each KIND_GPU instance on one device; the engine must run there.
        options.setdefault("device", int(device_id or 0))
    return options


class TritonPythonModel:
    """One model instance: one Reranker (one engine, one in-flight batcher) shared by all its requests."""

    def initialize(self, args: dict[str, str]) -> None:
        if pb_utils is None:
            raise RuntimeError("triton_python_backend_utils is not importable: this file runs inside Triton")
        params = parameters_from_model_config(json.loads(args["model_config"]))
        engine_dir = engine_dir_from_parameters(params, Path(__file__).resolve().parent)
        check_manifest_digest(engine_dir, params.get("manifest_sha256", ""))
        backend = read_manifest(engine_dir, verify=False).backend
        options = load_options_from_parameters(
            params,
            backend=backend,
            kind=args.get("model_instance_kind", "CPU"),
            device_id=args.get("model_instance_device_id", "0"),
        )
        exported_by = params.get("rerankrt_version", "")
        if exported_by and exported_by != __version__:
            self._log("warn", f"repository written by rerankrt {exported_by}, served by rerankrt {__version__}")
        self.reranker = Reranker.load(engine_dir, **options)
        self.counters = None
        labels = {"model": args.get("model_name", ""), "instance": args.get("model_instance_name", "")}
        try:
            self.counters = StatsCounters(pb_utils, labels)
        except Exception as exc:  # noqa: BLE001 - metrics off (--allow-metrics=false) must not stop serving
            self._log("warn", f"rerankrt batch metrics disabled: {exc}")
        self._log("info", f"rerankrt serving {engine_dir} ({self.reranker!r}, options {sorted(options)})")

    @staticmethod
    def _log(level: str, message: str) -> None:
        logger = getattr(pb_utils, "Logger", None)
        if logger is not None:
            getattr(logger, f"log_{level}")(message)
        else:
            print(f"[rerankrt] {message}", file=sys.stderr, flush=True)

    async def _score(self, rows) -> list[tuple[Any, int]]:
        results = await asyncio.gather(
            *(
                self.reranker.ascore_request(row.query, list(row.documents), row.instruction, truncate=row.truncate)
                for row in rows
            )
        )
        return [(result.scores, result.num_tokens) for result in results]

    async def _respond(self, request: Any) -> Any:
        try:
            rows = rows_from_request(request, pb_utils)
            results = await self._score(rows)
            return response_from_outputs(outputs_from_results(rows, results, self.reranker.estimated_max), pb_utils)
        except RequestError as exc:
            return error_response(str(exc), pb_utils)
        except TruncationError as exc:
            return error_response(f"documents: {exc}", pb_utils)
        except OverloadedError as exc:
            return error_response(f"overloaded: {exc}", pb_utils, code="UNAVAILABLE")
        except (TypeError, ValueError) as exc:
            return error_response(str(exc), pb_utils)
        except Exception as exc:  # noqa: BLE001 - one failed request must not fail the others in the call
            return error_response(f"{type(exc).__name__}: {exc}", pb_utils, code="INTERNAL")

    async def execute(self, requests: list) -> list:
        """Score every request of this call concurrently; one response per request, in order."""
        responses = await asyncio.gather(*(self._respond(request) for request in requests))
        if self.counters is not None:
            self.counters.update(self.reranker.stats())
        return list(responses)

    def finalize(self) -> None:
        if getattr(self, "counters", None) is not None:
            self.counters.close()
        reranker = getattr(self, "reranker", None)
        if reranker is not None:
            reranker.close()
