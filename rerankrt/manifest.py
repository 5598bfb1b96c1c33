"""The engine directory: the contract between the build flow and the runtime.

An engine directory holds ``manifest.json``, ``tokenizer/``, ``model.onnx`` (the graph an engine is compiled from,
or the graph the CPU runtime serves), ``engine.plan`` on TensorRT targets, and ``report.{json,md,png}``. The
manifest names the backend, the template and limits, the token ids and the sha256 of every other file.

One writer (`write_manifest`, used by the build) and one reader (`read_manifest`, used by everything else) turn the
typed `Manifest` into JSON and back; the reader names the first malformed field. The file hashes are not optional:
a manifest that lists no files, or that names an artifact it does not hash, is refused.

ONNX I/O contract: inputs ``input_ids`` and ``attention_mask`` (int64 [batch, seq], right padding, mask 1 on real
tokens); output ``scores`` (float32 [batch], logit("1") - logit("0") at each row's last real token).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankrt import __version__
from rerankrt._manifest_sections import (
    PRECISIONS,
    Artifacts,
    Calibration,
    Gate,
    Limits,
    ModelInfo,
    Serving,
    Target,
    TokenIds,
    as_mapping,
    check_int,
    check_str,
    relative_path,
)

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
TOKENIZER_DIR = "tokenizer"
ONNX_INPUTS = ("input_ids", "attention_mask")
ONNX_OUTPUT = "scores"
BACKENDS = ("tensorrt", "onnxruntime", "torch")
REBUILD = "rebuild it with `rerankrt build` (or `make engine`)"


class ManifestError(ValueError):
    """An engine directory is missing, malformed, tampered with, or does not fit this machine."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# -- the manifest ----------------------------------------------------------------------------------------------

_SECTIONS = {
    "model": ModelInfo,
    "target": Target,
    "limits": Limits,
    "token_ids": TokenIds,
    "artifacts": Artifacts,
    "calibration": Calibration,
    "gate": Gate,
    "serving": Serving,
}


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """An engine directory's manifest, typed.

    Attributes:
        path: The engine directory (not written: the manifest lives in it).
        backend: "tensorrt", "onnxruntime" or "torch": what `Reranker.load` starts by default.
        template: The prompt template ("seed" or "mxbai").
        max_length: The prompt token cap the engine was built and gated with.
        model_max_length: The model's position limit.
        max_sequence_length: Longest row the template makes at `max_length`, template included.
        allow_special_tokens: Whether user text may spell special tokens.
        model, target, limits, token_ids, artifacts, calibration, gate, serving: The typed sections.
        notes: Lines for people: what was not built and why.
        details: Provenance for people (quantization, structure check, TensorRT build record, timings); no code
            reads it.
        files: Relative path -> sha256 of every file in the directory but the manifest; filled by `write_manifest`.
        format_version, rerankrt_version, created: Filled by `write_manifest`.
    """

    path: Path
    backend: str
    template: str
    max_length: int
    limits: Limits
    target: Target
    model: ModelInfo
    token_ids: TokenIds
    artifacts: Artifacts
    model_max_length: int = 32768
    max_sequence_length: int | None = None
    allow_special_tokens: bool = False
    calibration: Calibration | None = None
    gate: Gate | None = None
    serving: Serving = field(default_factory=Serving)
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    rerankrt_version: str = __version__
    created: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        check_str("backend", self.backend, choices=BACKENDS)
        check_str("template", self.template)
        check_int("max_length", self.max_length)
        check_int("model_max_length", self.model_max_length)
        check_int("max_sequence_length", self.max_sequence_length, optional=True)
        if not isinstance(self.allow_special_tokens, bool):
            raise ValueError(f"allow_special_tokens must be true or false, got {self.allow_special_tokens!r}")
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if not (isinstance(value, cls) or (value is None and name in ("calibration", "gate"))):
                raise ValueError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
        if isinstance(self.notes, str) or not all(isinstance(n, str) for n in self.notes):
            raise ValueError("notes must be a list of strings")
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "details", as_mapping("details", self.details))
        files = as_mapping("files", self.files)
        for rel, digest in files.items():
            relative_path(f"files[{rel!r}]", rel)
            if not isinstance(digest, str) or len(digest) != 64:
                raise ValueError(f"files[{rel!r}] must be a hex sha256, got {digest!r}")
        object.__setattr__(self, "files", files)
        if self.backend == "tensorrt" and self.artifacts.engine is None:
            raise ValueError("artifacts.engine is required for backend 'tensorrt'")

    # The attributes the runtime reads.
    @property
    def precision(self) -> str:
        return self.target.precision

    @property
    def model_name(self) -> str:
        return self.model.name

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / TOKENIZER_DIR

    def artifact(self, key: str) -> Path | None:
        """The absolute path of an artifact ("onnx", "engine", "onnx_int8", "checkpoint"), None when absent."""
        rel = self.artifacts.get(key)
        return self.path / rel if rel else None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form `write_manifest` writes (everything but `path`)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "path":
                continue
            value = getattr(self, f.name)
            if f.name == "artifacts":
                value = value.as_dict()
            elif f.name == "target":
                value = {**dataclasses.asdict(value), "profiles": [p.as_dict() for p in value.profiles]}
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, path: str | Path, data: Any) -> Manifest:
        """Parsed manifest JSON -> `Manifest`, checking every field's type.

        Raises:
            ManifestError: Naming the missing, unknown or malformed field.
        """
        where = Path(path) / MANIFEST
        if not isinstance(data, Mapping):
            raise ManifestError(f"{where} must hold a JSON object, got {type(data).__name__}; {REBUILD}")
        known = {f.name for f in dataclasses.fields(cls)} - {"path"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ManifestError(f"{where}: unknown fields {unknown}")
        kwargs = dict(data)
        try:
            for name, section in _SECTIONS.items():
                if name not in kwargs or (kwargs[name] is None and name in ("calibration", "gate")):
                    continue
                kwargs[name] = _section(name, section, kwargs[name])
            return cls(path=Path(path), **kwargs)
        except TypeError as exc:  # a missing required field or section
            raise ManifestError(f"{where}: {_missing(exc)}") from None
        except ValueError as exc:
            raise ManifestError(f"{where}: {exc}") from None


def _section(name: str, cls: type, value: Any) -> Any:
    value = as_mapping(name, value)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"{name}: unknown fields {unknown}")
    try:
        return cls(**value)
    except TypeError as exc:
        raise ValueError(f"{name}: {_missing(exc)}") from None


def _missing(exc: TypeError) -> str:
    """ "__init__() missing 1 required keyword-only argument: 'backend'" -> "missing field 'backend'"."""
    text = str(exc)
    return "missing field " + text.split(":", 1)[1].strip() if "missing" in text and ":" in text else text


def _listed(manifest: Manifest) -> None:
    """Every file a backend loads is hashed: the artifacts and the tokenizer, each in `files`."""
    files = manifest.files
    if not files:
        raise ManifestError(f"{manifest.path / MANIFEST}: files is missing or empty: nothing is hashed; {REBUILD}")
    wanted = {f"artifacts.{k}": v for k, v in manifest.artifacts.as_dict().items()}
    wanted["tokenizer"] = TOKENIZER_DIR
    for name, rel in wanted.items():
        if rel not in files and not any(p.startswith(rel + "/") for p in files):
            raise ManifestError(f"{manifest.path / MANIFEST}: {name} ({rel}) is not listed in files, so unhashed")


def _on_disk(root: Path, rel: str) -> list[str]:
    """The files a backend may open for one artifact: the file, its external ONNX weights, or a folder's files."""
    path = root / rel
    if path.is_dir():
        return [p.relative_to(root).as_posix() for p in sorted(path.rglob("*")) if p.is_file()]
    extra = path.with_name(path.name + ".data")
    return [rel] + ([extra.relative_to(root).as_posix()] if extra.is_file() else [])


def _verify(manifest: Manifest) -> None:
    root = manifest.path
    resolved = root.resolve()
    for rel, digest in manifest.files.items():
        path = root / rel
        if resolved not in path.resolve().parents:
            raise ManifestError(f"{root}: files[{rel!r}] leaves the engine directory (a link?)")
        if not path.is_file():
            raise ManifestError(f"{root}: {rel} is listed in the manifest but missing")
        if sha256_file(path) != digest:
            raise ManifestError(f"{root}: {rel} does not match its sha256 in the manifest (changed or corrupt)")
    for rel in [*manifest.artifacts.as_dict().values(), TOKENIZER_DIR]:
        for name in _on_disk(root, rel):
            if name not in manifest.files:
                raise ManifestError(f"{root}: {name} is loaded by the backend but not hashed in the manifest")


def _hash_files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    }


def write_manifest(manifest: Manifest) -> Manifest:
    """The one writer: hash every file in ``manifest.path``, stamp version and time, write manifest.json.

    Returns:
        The manifest as written (with `files`, `format_version`, `rerankrt_version` and `created`).

    Raises:
        ManifestError: When an artifact the manifest names is missing from the directory.
    """
    root = manifest.path
    full = dataclasses.replace(
        manifest,
        files=_hash_files(root),
        format_version=FORMAT_VERSION,
        rerankrt_version=__version__,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )
    _listed(full)
    (root / MANIFEST).write_text(full.to_json())
    return full


def read_manifest(engine_dir: str | Path, *, verify: bool = True) -> Manifest:
    """The one reader: read and check an engine directory's manifest.

    Args:
        engine_dir: The engine directory.
        verify: Check on disk that every listed file has its sha256 and every file a backend loads is listed.
            Defaults to True. (The manifest's own structure is checked either way.)

    Raises:
        ManifestError: Naming the missing, malformed, changed or unlisted file or field.
    """
    root = Path(engine_dir)
    file = root / MANIFEST
    if not file.is_file():
        raise ManifestError(f"{root} is not an engine directory: no {MANIFEST} (build one with `rerankrt build`)")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{file} is not valid JSON: {exc}; {REBUILD}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{file} must hold a JSON object, got {type(data).__name__}; {REBUILD}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        age = (
            "older than"
            if isinstance(version, int) and not isinstance(version, bool) and version < FORMAT_VERSION
            else "not"
        )
        raise ManifestError(
            f"{file} has format_version {version!r}, {age} the format this rerankrt {__version__} reads "
            f"({FORMAT_VERSION}); {REBUILD}"
            + ("" if age == "older than" else ", or install the rerankrt version that wrote it")
        )
    manifest = Manifest.from_dict(root, data)
    _listed(manifest)
    if verify:
        _verify(manifest)
    return manifest


__all__ = [
    "BACKENDS",
    "FORMAT_VERSION",
    "MANIFEST",
    "ONNX_INPUTS",
    "ONNX_OUTPUT",
    "PRECISIONS",
    "TOKENIZER_DIR",
    "Artifacts",
    "Calibration",
    "Gate",
    "Limits",
    "Manifest",
    "ManifestError",
    "ModelInfo",
    "Serving",
    "Target",
    "TokenIds",
    "read_manifest",
    "sha256_file",
    "write_manifest",
]
