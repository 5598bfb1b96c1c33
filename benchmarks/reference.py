"""The reference side of the side-by-side benchmarks: mxbai-rerank in its own venv, driven over a pipe.

mxbai-rerank 0.1.6 breaks on transformers 5 (``Qwen2Tokenizer has no attribute prepare_for_model``), while rerankrt's
main environment runs transformers 5. So the reference library lives in ``.venv-ref`` (transformers 4.57, made by
``make setup``) and runs there as a worker process: ``python -m benchmarks.reference`` reads one JSON command per
line on stdin and answers one JSON line on stdout.

Why the comparison stays honest: both sides run on the same machine, with the same thread count, on the same
requests, and the benchmark still interleaves them slice by slice (`benchmarks.common.interleaved_slices`). The
worker blocks on its pipe while rerankrt runs, and rerankrt waits while the worker runs, so they never compete for
the CPU. The worker times its own work with ``perf_counter`` and reports the seconds (`Timed`): the pipe round
trip and JSON (de)serialisation are not charged to mxbai-rerank.

This module imports only the standard library at the top: the worker side runs in a venv without rerankrt's extras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON_ENV = "RERANKRT_REFERENCE_PYTHON"
REFERENCE_DISTS = ("mxbai-rerank", "transformers", "torch")


class Timed(float):
    """Seconds a worker measured itself; `interleaved_slices` counts these instead of its own wall clock."""


class ReferenceUnavailable(RuntimeError):
    """No reference venv to run mxbai-rerank in."""


def reference_python() -> Path:
    """The interpreter of the reference venv: $RERANKRT_REFERENCE_PYTHON, else ``.venv-ref/bin/python``.

    Raises:
        ReferenceUnavailable: Neither exists.
    """
    configured = os.environ.get(REFERENCE_PYTHON_ENV)
    path = Path(configured) if configured else ROOT / ".venv-ref" / "bin" / "python"
    if not path.is_file():
        raise ReferenceUnavailable(
            f"mxbai-rerank runs in its own venv, and {path} does not exist: run `make setup` "
            f"(or set {REFERENCE_PYTHON_ENV} to a Python with mxbai-rerank 0.1.6 and transformers 4.5x)"
        )
    return path


@lru_cache(maxsize=1)
def reference_versions() -> dict[str, str | None]:
    """Versions of mxbai-rerank, transformers and torch in the reference venv (all None where there is none)."""
    try:
        python = reference_python()
    except ReferenceUnavailable:
        return dict.fromkeys(REFERENCE_DISTS)
    code = (
        "import json, importlib.metadata as m\n"
        "def v(d):\n    try: return m.version(d)\n    except m.PackageNotFoundError: return None\n"
        f"print(json.dumps({{d: v(d) for d in {list(REFERENCE_DISTS)!r}}}))"
    )
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True)
        return json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return dict.fromkeys(REFERENCE_DISTS)


class ReferenceWorker:
    """mxbai-rerank's `MxbaiRerankV2` in the reference venv, loaded once, called over a pipe.

    Args:
        checkpoint: The causal-LM folder both libraries load.
        threads: torch intra-op threads, the same count rerankrt gets.
        max_length: The reference's max_length. Defaults to its own default.
        device: "cpu" or "cuda". Defaults to "cpu".
    """

    def __init__(
        self, checkpoint: str | Path, *, threads: int, max_length: int | None = None, device: str = "cpu"
    ) -> None:
        python = reference_python()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._proc = subprocess.Popen(
            [str(python), "-m", "benchmarks.reference"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.call("load", path=str(checkpoint), threads=int(threads), max_length=max_length, device=device)

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one command, return its answer; a failure in the worker is raised here with its message."""
        if self._proc.poll() is not None:
            raise RuntimeError(f"the mxbai-rerank worker exited with code {self._proc.returncode}")
        self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the mxbai-rerank worker died during {op!r} (its stderr is above)")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"mxbai-rerank worker, {op!r}: {answer['error']}")
        return answer

    def set_requests(self, requests: list[tuple[str, list[str]]]) -> None:
        """Send the workload once, so that timed commands carry only indices."""
        self.call("set_requests", requests=[[q, list(docs)] for q, docs in requests])

    def time_prepare_inputs(self, indices: list[int], chunk: int) -> Timed:
        """Seconds `prepare_inputs` takes over the stored requests `indices`, `chunk` documents per call."""
        return Timed(self.call("time_prepare_inputs", indices=list(indices), chunk=int(chunk))["seconds"])

    def time_rank(self, batch_size: int) -> tuple[Timed, list[list[float]]]:
        """Seconds `rank` takes over every stored request, and its scores in document order per request."""
        answer = self.call("time_rank", batch_size=int(batch_size))
        return Timed(answer["seconds"]), answer["scores"]

    def input_ids(self, query: str, documents: list[str]) -> list[list[int]]:
        """The token ids `prepare_inputs` feeds the model, padding stripped, one list per document."""
        return self.call("input_ids", query=query, documents=list(documents))["ids"]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> ReferenceWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- the worker side (runs in the reference venv) ---------------------------------------------------------------


class _Worker:
    def __init__(self) -> None:
        self.model = None
        self.requests: list[tuple[str, list[str]]] = []

    def load(self, path: str, threads: int, max_length: int | None, device: str) -> dict[str, Any]:
        import torch
        from mxbai_rerank import MxbaiRerankV2

        torch.set_num_threads(threads)
        kwargs = {} if max_length is None else {"max_length": max_length}
        self.model = MxbaiRerankV2(path, device=device, torch_dtype=torch.float32, **kwargs)
        return {}

    def set_requests(self, requests: list[list]) -> dict[str, Any]:
        self.requests = [(q, docs) for q, docs in requests]
        return {}

    def time_prepare_inputs(self, indices: list[int], chunk: int) -> dict[str, Any]:
        start = time.perf_counter()
        for j in indices:
            query, docs = self.requests[j]
            for i in range(0, len(docs), chunk):
                part = docs[i : i + chunk]
                self.model.prepare_inputs([query] * len(part), part)
        return {"seconds": time.perf_counter() - start}

    def time_rank(self, batch_size: int) -> dict[str, Any]:
        start = time.perf_counter()
        ranked = [
            self.model.rank(q, docs, top_k=len(docs), batch_size=batch_size, return_documents=False)
            for q, docs in self.requests
        ]
        seconds = time.perf_counter() - start
        scores = []
        for (_, docs), results in zip(self.requests, ranked, strict=True):
            row = [float("nan")] * len(docs)
            for r in results:
                row[int(r.index)] = float(r.score)
            scores.append(row)
        return {"seconds": seconds, "scores": scores}

    def input_ids(self, query: str, documents: list[str]) -> dict[str, Any]:
        inputs = self.model.prepare_inputs([query] * len(documents), documents)
        rows = zip(inputs["input_ids"], inputs["attention_mask"], strict=True)
        return {"ids": [row[mask.bool()].tolist() for row, mask in rows]}


def main() -> int:
    """Serve commands from stdin until it closes; answer each with one JSON line (``{"error": ...}`` on failure)."""
    worker = _Worker()
    out = sys.stdout
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.pop("op")
        try:
            answer = getattr(worker, op)(**command)
        except Exception as exc:  # noqa: BLE001 - reported to the driver, which raises it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
