"""Engine directory -> Triton model repository (``rerankrt export triton``).

Writes::

    REPO_DIR/<name>/config.pbtxt      backend "python", inputs/outputs, instance_group, parameters (engine_dir, hashes)
    REPO_DIR/<name>/1/model.py        rerankrt.deploy.triton.model, verbatim
    REPO_DIR/<name>/1/engine/         the engine directory (copy mode; reference mode records its absolute path)

The engine directory is checked (every file against its manifest sha256) before anything is written, and the model
checks it again when Triton loads it.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rerankrt import __version__
from rerankrt.deploy.triton.config import (
    DEFAULT_MAX_REQUESTS,
    DEFAULT_QUEUE_DELAY_US,
    KINDS,
    TritonModelConfig,
    kind_for_backend,
    pbtxt_from_config,
)
from rerankrt.manifest import MANIFEST, read_manifest

MODEL_FILE = Path(__file__).with_name("model.py")
VERSION = "1"
ENGINE_SUBDIR = "engine"


@dataclass(frozen=True, kw_only=True)
class TritonExport:
    """What `repository_from_engine_dir` wrote.

    Attributes:
        model_dir: ``REPO_DIR/<name>``.
        config_path: Its ``config.pbtxt``.
        engine_dir: The engine directory the model loads (the copy, or the referenced original).
        config: The configuration written.
    """

    model_dir: Path
    config_path: Path
    engine_dir: Path
    config: TritonModelConfig


def repository_from_engine_dir(
    engine_dir: str | Path,
    repo_dir: str | Path,
    *,
    name: str = "rerankrt",
    instances: int = 1,
    copy: bool = True,
    kind: str | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
    reranker_options: dict[str, Any] | None = None,
    execution_env: str = "",
    overwrite: bool = False,
) -> TritonExport:
    """Write a Triton model repository entry that serves `engine_dir` through rerankrt's Python-backend model.

    Args:
        engine_dir: A directory written by `rerankrt build`.
        repo_dir: The model repository (created if missing; other models in it are left alone).
        name: The model name. Defaults to "rerankrt".
        instances: Model instances; each loads the engine and batches on its own. Defaults to 1.
        copy: Copy the engine directory into the repository (True) or reference it by absolute path. Defaults to True.
        kind: "KIND_CPU" or "KIND_GPU". Defaults to the engine's: KIND_GPU for TensorRT, else KIND_CPU.
        max_requests: Request rows Triton may gather into one ``execute`` call. Defaults to 64.
        queue_delay_us: How long Triton may hold a request to gather others, in microseconds. Defaults to 2000.
        reranker_options: Keyword options for `Reranker.load` in the model. Defaults to None.
        execution_env: Value for Triton's ``EXECUTION_ENV_PATH`` parameter. Defaults to "" (the stub's Python).
        overwrite: Replace an existing ``REPO_DIR/<name>``. Defaults to False.

    Raises:
        ManifestError: For a missing, malformed or tampered engine directory.
        FileExistsError: When ``REPO_DIR/<name>`` exists and `overwrite` is False.
        ValueError: For invalid options, naming the option.
    """
    source = Path(engine_dir).resolve()
    manifest = read_manifest(source, verify=True)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    model_dir = Path(repo_dir) / name
    config = TritonModelConfig(
        name=name,
        kind=kind or kind_for_backend(manifest.backend),
        instances=instances,
        max_requests=max_requests,
        queue_delay_us=queue_delay_us,
        engine_dir=ENGINE_SUBDIR if copy else str(source),
        manifest_sha256=hashlib.sha256((source / MANIFEST).read_bytes()).hexdigest(),
        rerankrt_version=__version__,
        reranker_options=dict(reranker_options or {}),
        execution_env=execution_env,
    )
    if model_dir.exists():
        if not overwrite:
            raise FileExistsError(f"{model_dir} exists; pass overwrite=True (--force) to replace it")
        shutil.rmtree(model_dir)
    version_dir = model_dir / VERSION
    version_dir.mkdir(parents=True)
    shutil.copyfile(MODEL_FILE, version_dir / "model.py")
    served = source
    if copy:
        served = version_dir / ENGINE_SUBDIR
        shutil.copytree(source, served)
        read_manifest(served, verify=True)  # the copy is what Triton will load: check it, not just the source
    config_path = model_dir / "config.pbtxt"
    config_path.write_text(pbtxt_from_config(config, source=str(source)))
    return TritonExport(model_dir=model_dir, config_path=config_path, engine_dir=served, config=config)
