"""Backend construction from an engine directory's manifest: which backend, which artifact, which limits.

Each backend module is imported only when chosen, so serving the onnxruntime graph never imports TensorRT or torch.
Before a TensorRT engine is deserialized, `load_backend` checks that this machine can run it (the tensorrt package,
a CUDA GPU, the TensorRT version and the compute capability the engine was built for) and refuses with a message
naming what is missing and what to do instead: a mismatched engine fails to deserialize at best and crashes the
process at worst.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rerankrt._optional import available
from rerankrt.manifest import BACKENDS, Manifest, ManifestError
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, attention_mask, check_batch
from rerankrt.runtime.backends.options import (
    LimitOptions,
    OnnxOptions,
    TensorRTOptions,
    TorchOptions,
    options_from,
)

CPU_HINT = 'pass backend="onnxruntime" to serve this directory\'s model.onnx on the CPU instead'


class BackendUnavailableError(BackendError):
    """The backend an engine needs cannot run on this machine; the message says what is missing."""


def engine_requirements(manifest: Manifest) -> tuple[str | None, tuple[int, int] | None]:
    """(TensorRT version, compute capability) a TensorRT engine directory was built with, as its manifest says."""
    return manifest.target.tensorrt_version, manifest.target.capability


def check_engine_fits(manifest: Manifest, device: int = 0) -> None:
    """Refuse a TensorRT engine this machine cannot run, before TensorRT touches it.

    Raises:
        BackendUnavailableError: Without the tensorrt package or a CUDA GPU.
        ManifestError: When the engine was built by another TensorRT version or for another compute capability.
    """
    from rerankrt.runtime import cuda

    if not available("tensorrt"):
        raise BackendUnavailableError(
            f"{manifest.path} holds a TensorRT engine but the 'tensorrt' package is not installed here "
            f"(pip install 'rerankrt[gpu-cu12]', or 'rerankrt[gpu-cu13]' on driver R580+, on a machine with an NVIDIA "
            f"GPU); or {CPU_HINT}"
        )
    ok, why = cuda.cuda_status(device)
    if not ok:
        raise BackendUnavailableError(
            f"{manifest.path} holds a TensorRT engine but this machine has no usable CUDA GPU ({why}); or {CPU_HINT}"
        )
    import tensorrt

    built_version, built_cc = engine_requirements(manifest)
    here_version = str(getattr(tensorrt, "__version__", "unknown"))
    if built_version is not None and built_version != here_version:
        raise ManifestError(
            f"{manifest.path}: the engine was built with TensorRT {built_version} but TensorRT {here_version} is "
            f"installed; engines only load in the version that built them. Rebuild it here "
            f"(rerankrt build --gpu auto) or install TensorRT {built_version}; or {CPU_HINT}"
        )
    here_cc = cuda.compute_capability(device)
    if built_cc is not None and built_cc != here_cc:
        raise ManifestError(
            f"{manifest.path}: the engine was built for compute capability {built_cc[0]}.{built_cc[1]} but device "
            f"{device} ({cuda.device_name(device)}) is {here_cc[0]}.{here_cc[1]}; rebuild it for this GPU "
            f"(rerankrt build --gpu auto); or {CPU_HINT}"
        )


def _engine_limits(manifest: Manifest) -> BackendLimits:
    limits = manifest.limits.as_dict()
    missing = [k for k in ("max_batch_size", "max_seq_len", "max_num_tokens") if k not in limits]
    if missing:
        raise ManifestError(f"{manifest.path}: manifest limits lack {missing}")
    return BackendLimits(
        max_batch_size=int(limits["max_batch_size"]),
        max_seq_len=int(limits["max_seq_len"]),
        max_num_tokens=int(limits["max_num_tokens"]),
    )


def load_backend(manifest: Manifest, name: str | None = None, **options: Any) -> Backend:
    """Build the backend that serves an engine directory.

    Args:
        manifest: The engine directory's manifest (`rerankrt.manifest.read_manifest`).
        name: "tensorrt", "onnxruntime" or "torch". Defaults to the backend the manifest names.
        **options: ``max_batch_size``, ``max_seq_len``, ``max_num_tokens`` (each at most the manifest's limit);
            onnxruntime: ``threads``, ``artifact`` (the manifest artifact to serve, e.g. "onnx_int8"; defaults to
            "onnx"); tensorrt: ``device`` (defaults to 0); torch: ``threads``, ``model_dir`` (a classifier
            checkpoint; defaults to the manifest's "checkpoint" artifact).

    Returns:
        A ready backend.

    Raises:
        BackendUnavailableError: When the backend cannot run here (TensorRT or a GPU missing), naming what.
        ManifestError: When the engine does not fit this machine or the directory lacks the artifact.
        ValueError, TypeError: For an unknown backend name, an unknown option, or a limit above the engine's.
    """
    name = name or manifest.backend
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    asked, opts = options_from(name, options)
    served = asked.within(_engine_limits(manifest))
    limits = {f.name: getattr(served, f.name) for f in dataclasses.fields(served) if f.name != "model"}  # read at load
    if isinstance(opts, TensorRTOptions):
        engine = manifest.artifact("engine")
        if engine is None or not engine.is_file():
            raise ManifestError(
                f"{manifest.path} has no TensorRT engine (it was built without TensorRT, e.g. --onnx-only or on a "
                f"machine without a GPU); {CPU_HINT}, or rebuild it on the target GPU"
            )
        check_engine_fits(manifest, opts.device)
        from rerankrt.runtime.backends.tensorrt import TensorRTBackend

        return TensorRTBackend(engine, **limits, device=opts.device, precision=manifest.precision)

    if isinstance(opts, OnnxOptions):
        if not available("onnxruntime"):
            raise BackendUnavailableError("the onnxruntime backend needs onnxruntime: pip install 'rerankrt[cpu]'")
        graph = manifest.artifact(opts.artifact)
        if graph is None or not graph.is_file():
            have = sorted(manifest.artifacts.as_dict())
            raise ManifestError(
                f"{manifest.path} has no {opts.artifact!r} artifact to serve with onnxruntime (it has {have})"
            )
        from rerankrt.runtime.backends.onnx import OnnxBackend

        # The manifest names model.onnx's precision (and its digest, verified on read): loading the graph only to
        # read it back costs ~0.1 s per load. Another artifact (e.g. "onnx_int8") is read from its graph.
        precision = manifest.target.graph_precision if opts.artifact == "onnx" else None
        # Its sha256 (checked against the file when `read_manifest` verifies) keys the cache of the graph's sizes.
        digest = manifest.files.get(str(manifest.artifacts.get(opts.artifact)))
        return OnnxBackend(graph, **limits, threads=opts.threads, precision=precision, sha256=digest)

    model_dir = opts.model_dir or manifest.artifact("checkpoint")
    if model_dir is None or not Path(model_dir).is_dir():
        raise ManifestError(
            f"{manifest.path} has no classifier checkpoint for the torch backend; pass model_dir=<checkpoint folder> "
            '(--model-dir on the command line) or use backend="onnxruntime"'
        )
    if not available("torch") or not available("transformers"):
        raise BackendUnavailableError("the torch backend needs torch and transformers: pip install 'rerankrt[build]'")
    from rerankrt.runtime.backends.torch import TorchBackend

    return TorchBackend(model_dir, **limits, threads=opts.threads, device=opts.device)


__all__ = [
    "Backend",
    "BackendError",
    "BackendLimits",
    "BackendUnavailableError",
    "LimitOptions",
    "OnnxOptions",
    "TensorRTOptions",
    "TorchOptions",
    "attention_mask",
    "check_batch",
    "check_engine_fits",
    "engine_requirements",
    "load_backend",
]
