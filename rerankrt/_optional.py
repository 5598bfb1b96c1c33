"""Lazy imports of heavy optional dependencies, with errors that name the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

_EXTRA_OF = {
    "torch": "build",
    "transformers": "build",
    "modelopt": "build",
    "onnx": "build",
    "onnxruntime": "cpu",
    "tensorrt": "gpu",
    "cuda": "gpu",
    "fastapi": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "matplotlib": "build",
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def require(module: str, *, extra: str | None = None, purpose: str = "") -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the pip extra that installs it.

    Args:
        module: Dotted module name, e.g. "onnxruntime" or "cuda.bindings.runtime".
        extra: The rerankrt extra that provides it. Defaults to the table above, by top-level package.
        purpose: What the caller needs it for, shown in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = extra or _EXTRA_OF.get(top, "dev")
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"{module!r} is not installed{why}; install it with: pip install 'rerankrt[{extra}]'"
        ) from exc


def available(module: str) -> bool:
    """Return True when `module` can be imported (without raising on broken installs)."""
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a broken install counts as unavailable
        return False
    return True
