"""The engine directory: the contract between the build flow and the runtime.

An engine directory holds ``manifest.json``, ``tokenizer/``, ``model.onnx`` (the graph an engine is compiled from,
or the graph the CPU runtime serves), ``engine.plan`` on TensorRT targets, and ``report.{json,md,png}``. The
manifest names the backend, the template and limits, the token ids and the sha256 of every other file.

ONNX I/O contract: inputs ``input_ids`` and ``attention_mask`` (int64 [batch, seq], right padding, mask 1 on real
tokens); output ``scores`` (float32 [batch], logit("1") - logit("0") at each row's last real token).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerankrt import __version__
from rerankrt.models import sha256_file

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TOKENIZER_DIR = "tokenizer"
ONNX_INPUTS = ("input_ids", "attention_mask")
ONNX_OUTPUT = "scores"
BACKENDS = ("tensorrt", "onnxruntime", "torch")


class ManifestError(ValueError):
    """An engine directory is missing, malformed, tampered with, or does not fit this machine."""


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The parsed manifest; `data` keeps every field, the attributes are the ones the runtime needs."""

    path: Path
    data: dict[str, Any]

    @property
    def backend(self) -> str:
        return self.data["backend"]

    @property
    def template(self) -> str:
        return self.data["template"]

    @property
    def max_length(self) -> int:
        return int(self.data["max_length"])

    @property
    def model_max_length(self) -> int:
        return int(self.data.get("model_max_length", 32768))

    @property
    def allow_special_tokens(self) -> bool:
        return bool(self.data.get("allow_special_tokens", False))

    @property
    def limits(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.data["limits"].items()}

    @property
    def precision(self) -> str:
        return self.data["target"]["precision"]

    @property
    def model_name(self) -> str:
        return str(self.data["model"].get("source", "unknown"))

    def artifact(self, key: str) -> Path | None:
        rel = self.data.get("artifacts", {}).get(key)
        return self.path / rel if rel else None

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / TOKENIZER_DIR


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    }


def write_manifest(engine_dir: str | Path, data: dict[str, Any]) -> Manifest:
    """Write manifest.json into `engine_dir` with format version, creation time and the sha256 of every file."""
    root = Path(engine_dir)
    for key in ("backend", "template", "max_length", "limits", "target", "model", "token_ids"):
        if key not in data:
            raise ManifestError(f"manifest needs {key!r}")
    if data["backend"] not in BACKENDS:
        raise ManifestError(f"backend must be one of {BACKENDS}, got {data['backend']!r}")
    full = {
        "format_version": FORMAT_VERSION,
        "rerankrt_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **data,
        "files": _files(root),
    }
    (root / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    return Manifest(path=root, data=full)


def read_manifest(engine_dir: str | Path, *, verify: bool = True) -> Manifest:
    """Read and check an engine directory's manifest.

    Args:
        engine_dir: The engine directory.
        verify: Check the sha256 of every listed file. Defaults to True.

    Raises:
        ManifestError: Naming the missing, malformed or changed file.
    """
    root = Path(engine_dir)
    file = root / MANIFEST
    if not file.is_file():
        raise ManifestError(f"{root} is not an engine directory: no {MANIFEST} (build one with `rerankrt build`)")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{file} is not valid JSON: {exc}") from exc
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ManifestError(f"{file} has format_version {version!r}; this rerankrt reads {FORMAT_VERSION}")
    if verify:
        for rel, digest in data.get("files", {}).items():
            path = root / rel
            if not path.is_file():
                raise ManifestError(f"{root}: {rel} is listed in the manifest but missing")
            if sha256_file(path) != digest:
                raise ManifestError(f"{root}: {rel} does not match its sha256 in the manifest (changed or corrupt)")
    return Manifest(path=root, data=data)
