"""The Triton model configuration (``config.pbtxt``) of an exported engine directory.

Why ``max_batch_size`` is not 0 although the model batches itself: in Triton 2.51 (r24.10) a non-decoupled Python
model runs one ``execute`` call at a time per instance (the stub waits for an ``async def execute`` coroutine before it
takes the next call), and with ``max_batch_size: 0`` every call carries exactly one request (the dynamic batcher's size
is ``max(1, max_batch_size)``). Requests would then be scored one after another. So the configuration turns the dynamic
batcher on, but only as a gatherer: it hands every request queued while the instance was busy (up to
``max_batch_size`` request rows, after at most ``max_queue_delay_microseconds``) to one ``execute`` call, and
``allow_ragged_batch`` lets requests with different numbers of documents travel together. The Python backend gives the
model each request's own tensors (nothing is padded or concatenated); rerankrt's scheduler then packs the pairs of all
those requests into token-budgeted backend batches. Decoupled mode would let calls overlap too, but Triton's HTTP
endpoint and gRPC ``ModelInfer`` refuse decoupled models, so every plain client would break.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

KINDS = ("KIND_CPU", "KIND_GPU")
# Backends whose engines run on a GPU; everything else is served on the CPU.
GPU_BACKENDS = frozenset({"tensorrt"})
DEFAULT_MAX_REQUESTS = 64
DEFAULT_QUEUE_DELAY_US = 2000

INPUTS = (
    # name, dims, optional, ragged
    ("query", (1,), False, False),
    ("documents", (-1,), False, True),
    ("instruction", (1,), True, False),
)
OUTPUTS = (
    ("scores", "TYPE_FP32", (-1,)),
    ("token_count", "TYPE_INT64", (1,)),
    ("ranking", "TYPE_INT64", (-1,)),
)


def kind_for_backend(backend: str) -> str:
    """The instance kind an engine directory's backend needs: "KIND_GPU" for TensorRT, else "KIND_CPU"."""
    return "KIND_GPU" if backend in GPU_BACKENDS else "KIND_CPU"


@dataclass(frozen=True, kw_only=True)
class TritonModelConfig:
    """What ``config.pbtxt`` says about one exported model.

    Attributes:
        name: The model name (also the directory under the repository).
        kind: "KIND_CPU" or "KIND_GPU".
        instances: Model instances (each loads the engine once and has its own batcher).
        max_requests: Request rows Triton may hand to one ``execute`` call (its ``max_batch_size``).
        queue_delay_us: How long Triton may hold a request to gather others with it, in microseconds.
        engine_dir: The engine directory, relative to the version folder (copied) or absolute (referenced).
        manifest_sha256: sha256 of the exported ``manifest.json``; the model refuses a directory changed since.
        rerankrt_version: The rerankrt that wrote the repository.
        reranker_options: Keyword options for `Reranker.load` (scheduler knobs, threads, max_length).
        execution_env: Triton's ``EXECUTION_ENV_PATH`` (a conda-pack archive) or "" for the stub's own Python.
    """

    name: str
    kind: str
    instances: int = 1
    max_requests: int = DEFAULT_MAX_REQUESTS
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    engine_dir: str
    manifest_sha256: str
    rerankrt_version: str
    reranker_options: dict = field(default_factory=dict)
    execution_env: str = ""

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name) or self.name.startswith("."):
            raise ValueError(f"name must be letters, digits, '-', '_' or '.', got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for key in ("instances", "max_requests"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
        if isinstance(self.queue_delay_us, bool) or not isinstance(self.queue_delay_us, int) or self.queue_delay_us < 0:
            raise ValueError(f"queue_delay_us must be an integer >= 0, got {self.queue_delay_us!r}")
        if not self.engine_dir:
            raise ValueError("engine_dir must not be empty")
        if len(self.manifest_sha256) != 64:
            raise ValueError(f"manifest_sha256 must be a sha256 hex digest, got {self.manifest_sha256!r}")
        try:
            json.dumps(self.reranker_options)
        except TypeError as exc:
            raise ValueError(f"reranker_options must be JSON data: {exc}") from None

    def parameters(self) -> dict[str, str]:
        """The ``parameters`` block: string values the model reads in ``initialize``."""
        params = {
            "engine_dir": self.engine_dir,
            "manifest_sha256": self.manifest_sha256,
            "rerankrt_version": self.rerankrt_version,
            "reranker_options": json.dumps(self.reranker_options, sort_keys=True),
        }
        if self.execution_env:
            params["EXECUTION_ENV_PATH"] = self.execution_env
        return params


def _quote(text: str) -> str:
    # JSON string escapes (\", \\, \n, \uXXXX for control characters) are valid protobuf text-format escapes for
    # ASCII; non-ASCII is written as UTF-8, which text format accepts in string literals.
    return json.dumps(text, ensure_ascii=False)


def _dims(dims: tuple[int, ...]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def pbtxt_from_config(config: TritonModelConfig, *, source: str = "") -> str:
    """``TritonModelConfig`` -> the text of ``config.pbtxt`` (protobuf text format of Triton's ``ModelConfig``).

    Args:
        config: The model's configuration.
        source: The engine directory it was exported from, for the header comment. Defaults to "".
    """
    origin = f" from {source}" if source else ""
    lines = [
        f"# Written by `rerankrt export triton` (rerankrt {config.rerankrt_version}){origin}.",
        "# max_batch_size counts request rows per execute call: the dynamic batcher only gathers concurrent requests",
        "# (ragged, unpadded); rerankrt's in-flight batcher packs their pairs into backend batches by token budget.",
        f"name: {_quote(config.name)}",
        'backend: "python"',
        f"max_batch_size: {config.max_requests}",
        f"dynamic_batching {{ max_queue_delay_microseconds: {config.queue_delay_us} }}",
        "input [",
    ]
    for i, (name, dims, optional, ragged) in enumerate(INPUTS):
        extra = (" optional: true" if optional else "") + (" allow_ragged_batch: true" if ragged else "")
        comma = "," if i < len(INPUTS) - 1 else ""
        lines.append(f'  {{ name: "{name}" data_type: TYPE_STRING dims: {_dims(dims)}{extra} }}{comma}')
    lines.append("]")
    lines.append("output [")
    for i, (name, dtype, dims) in enumerate(OUTPUTS):
        comma = "," if i < len(OUTPUTS) - 1 else ""
        lines.append(f'  {{ name: "{name}" data_type: {dtype} dims: {_dims(dims)} }}{comma}')
    lines.append("]")
    lines.append(f"instance_group [ {{ kind: {config.kind} count: {config.instances} }} ]")
    lines.append("parameters [")
    params = list(config.parameters().items())
    for i, (key, value) in enumerate(params):
        comma = "," if i < len(params) - 1 else ""
        lines.append(f"  {{ key: {_quote(key)} value: {{ string_value: {_quote(value)} }} }}{comma}")
    lines.append("]")
    return "\n".join(lines) + "\n"
