"""Device facts shared by the build and the runtime: targets, compute capabilities, TensorRT profiles, and whether
TensorRT can build an engine here.

Light on purpose: nothing here imports TensorRT, CUDA or onnx at import time, so the manifest reader, the config
loader and the CLI can use it on any machine.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from dataclasses import dataclass
from types import ModuleType
from typing import Any

GPUS = ("h100", "l4", "a100", "cpu")
DEFAULT_MODEL = "michaelfeil/mxbai-rerank-base-v2-seq"
FP8_MIN_CAPABILITY = (8, 9)  # Ada (sm89) and Hopper (sm90) onwards have FP8 tensor cores
# ONNX TensorProto names of the FP8 element types (read by the graph check and the onnxruntime backend).
FP8_TYPES = ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ")
INSTALL_HINT = (
    "Engine builds need an NVIDIA GPU with its driver and TensorRT 10 or newer: on such a machine run "
    "pip install 'rerankrt[gpu]' (tensorrt>=10.14 and cuda-python; the tensorrt wheels pull their libraries from "
    "NVIDIA's index, so https://pypi.nvidia.com must be reachable, or pass --extra-index-url https://pypi.nvidia.com), "
    "or build inside an NGC TensorRT container (nvcr.io/nvidia/tensorrt)."
)
_CAPABILITY_FORM = "is not of the form '9.0', 'sm90' or [9, 0]"


def parse_capability(value: Any) -> tuple[int, int] | None:
    """ "9.0", 9.0, "sm90", "sm_90", 90 or (9, 0) / [9, 0] -> (9, 0); None or "" -> None.

    Raises:
        ValueError: For anything else (booleans, one digit, three numbers, text).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"compute capability {value!r} {_CAPABILITY_FORM}")
    if isinstance(value, tuple | list):
        if len(value) != 2 or any(isinstance(v, bool) for v in value):
            raise ValueError(f"compute capability {value!r} {_CAPABILITY_FORM}")
        major, minor = value
    else:
        text = str(value).strip().lower().removeprefix("sm_").removeprefix("sm")
        if "." in text:
            major, minor = text.split(".", 1)
        elif text.isdigit() and len(text) >= 2:
            major, minor = text[:-1], text[-1]
        else:
            raise ValueError(f"compute capability {value!r} {_CAPABILITY_FORM}")
    try:
        return int(major), int(minor)
    except (TypeError, ValueError):
        raise ValueError(f"compute capability {value!r} {_CAPABILITY_FORM}") from None


def capability_str(cc: tuple[int, int] | None) -> str | None:
    """(9, 0) -> "9.0"; None stays None."""
    return None if cc is None else f"{cc[0]}.{cc[1]}"


def has_fp8(cc: tuple[int, int]) -> bool:
    """Whether a compute capability has FP8 tensor cores (sm89 and later)."""
    return tuple(cc) >= FP8_MIN_CAPABILITY


def _pair(value: Any, field: str) -> tuple[int, int]:
    try:
        a, b = value
        if isinstance(a, bool) or isinstance(b, bool):
            raise TypeError
        return int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a pair of ints [batch, seq], got {value!r}") from None


@dataclass(frozen=True, kw_only=True)
class Profile:
    """One TensorRT optimization profile over (batch, seq) of both inputs.

    Attributes:
        min: Smallest (batch, seq).
        opt: The shape TensorRT tunes kernels for.
        max: Largest (batch, seq).
    """

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]

    def __post_init__(self) -> None:
        for field in ("min", "opt", "max"):
            pair = _pair(getattr(self, field), f"Profile.{field}")
            if min(pair) < 1:
                raise ValueError(f"Profile.{field} (batch, seq) must be positive, got {pair}")
            object.__setattr__(self, field, pair)
        for axis, name in enumerate(("batch", "seq")):
            if not self.min[axis] <= self.opt[axis] <= self.max[axis]:
                raise ValueError(
                    f"Profile needs min <= opt <= max on {name}, got min={self.min}, opt={self.opt}, max={self.max}; "
                    f"raise max or lower min"
                )

    @classmethod
    def from_dict(cls, data: Any) -> Profile:
        """``{"min": [b, s], "opt": [b, s], "max": [b, s]}`` -> `Profile`.

        Raises:
            ValueError: A missing key or a malformed pair, named.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a profile must be a mapping with min, opt and max as [batch, seq], got {data!r}")
        missing = [k for k in ("min", "opt", "max") if k not in data]
        if missing or set(data) - {"min", "opt", "max"}:
            raise ValueError(f"a profile needs exactly min, opt and max as [batch, seq], got keys {sorted(data)}")
        return cls(min=data["min"], opt=data["opt"], max=data["max"])

    def as_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def _import_tensorrt() -> ModuleType | None:
    try:
        return importlib.import_module("tensorrt")
    except Exception:  # noqa: BLE001 - a broken install is as good as none
        return None


def tensorrt_status(device: int = 0) -> tuple[bool, str]:
    """The one "can TensorRT build an engine here" check: (True, what is here) or (False, what is missing and how
    to install it). Never raises.

    Checks the tensorrt package (10 or newer, with its builder and ONNX parser) and a usable CUDA device.
    """
    from rerankrt.runtime import cuda  # lazily: cuda-python is optional, and tests replace these functions

    missing = []
    trt = _import_tensorrt()
    if trt is None:
        missing.append("the 'tensorrt' Python package is not installed")
    else:
        version = str(getattr(trt, "__version__", "0"))
        major = version.split(".")[0]
        if not (hasattr(trt, "Builder") and hasattr(trt, "OnnxParser")):
            missing.append(f"the installed 'tensorrt' {version} has no builder or ONNX parser (a lean runtime?)")
        elif not major.isdigit() or int(major) < 10:
            missing.append(f"'tensorrt' {version} is too old (TensorRT 10 or newer is needed)")
    ok, why = cuda.cuda_status(device)
    if not ok:
        missing.append(f"no usable CUDA GPU ({why})")
    if not missing:
        try:
            return True, f"TensorRT {trt.__version__} on {cuda.device_name(device)}"
        except Exception as exc:  # noqa: BLE001 - a device that cannot even name itself is not usable
            missing.append(f"no usable CUDA GPU ({exc})")
    return False, f"Cannot build a TensorRT engine here: {'; '.join(missing)}. {INSTALL_HINT}"


def detected_capability() -> tuple[int, int] | None:
    """The local GPU's compute capability, or None without cuda-python, a driver or a device."""
    try:
        from rerankrt.runtime import cuda
    except ImportError:
        return None
    try:
        return cuda.compute_capability() if cuda.cuda_available() else None
    except Exception:  # noqa: BLE001 - any CUDA failure means "no usable GPU" for planning purposes
        return None


def visible_gpus() -> list[str]:
    """The GPUs ``nvidia-smi -L`` lists (empty without nvidia-smi or when it fails); touches no CUDA library."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().startswith("GPU ")]
