"""A thin layer over cuda-python's runtime API: devices, streams, device and pinned buffers, async copies.

cudart calls return tuples ``(error, value...)``; `check` turns them into the value or a `CudaError` carrying the
error's name. Without a driver or a device cudart returns an error (35, ``cudaErrorInsufficientDriver``, or 100,
``cudaErrorNoDevice``) instead of crashing, and this module reports it as ``CudaError("no CUDA device: ...")``;
error 35 on a machine that has a GPU means the driver is older than the CUDA build of cuda-python (the CUDA 13
wheels need driver R580+), and says which extra to install instead.

Streams are non-blocking (they never synchronize with the legacy default stream) and every copy names its stream:
nothing here queues work on stream 0.

Buffers and streams are freed explicitly (``free()``, ``destroy()`` or ``with``), never by the garbage collector:
freeing from ``__del__`` at interpreter exit races the CUDA runtime's own teardown.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import shutil
from types import ModuleType

import numpy as np

from rerankrt._optional import MissingDependencyError

# cudart errors that mean "there is no usable GPU here", as opposed to a failure on a working GPU.
_NO_DEVICE = {
    "cudaErrorInsufficientDriver",
    "cudaErrorNoDevice",
    "cudaErrorInvalidDevice",
    "cudaErrorDevicesUnavailable",
    "cudaErrorSystemDriverMismatch",
    "cudaErrorCompatNotSupportedOnDevice",
    "cudaErrorInitializationError",
}


# What error 35 means where a GPU is present: the CUDA 12 builds run on R535+ drivers, the CUDA 13 builds need R580+.
DRIVER_TOO_OLD = "driver too old for this CUDA build; install rerankrt[gpu-cu12]"


class CudaError(RuntimeError):
    """A CUDA runtime call failed; `name` is cudart's error name (e.g. ``cudaErrorNoDevice``), `code` its number."""

    def __init__(self, message: str, *, name: str = "", code: int = -1) -> None:
        super().__init__(message)
        self.name = name
        self.code = code


def _cudart() -> ModuleType:
    """Return cuda-python's runtime module (``cuda.bindings.runtime``; ``cuda.cudart`` on cuda-python < 12.6)."""
    for module in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    raise MissingDependencyError(
        "'cuda.bindings.runtime' is not installed (needed for CUDA memory and streams); "
        "install it with: pip install 'rerankrt[gpu-cu12]' (driver R535+) or 'rerankrt[gpu-cu13]' (R580+)"
    )


def check(result: tuple | object, what: str = "CUDA call"):
    """Unwrap a cudart result tuple ``(error, *values)``.

    Args:
        result: What a ``cuda.bindings.runtime`` function returned.
        what: The call, named in the error message.

    Returns:
        None for ``(error,)``, the value for ``(error, value)``, a tuple for more values.

    Raises:
        CudaError: When the error is not ``cudaSuccess``; the message starts "no CUDA device:" when the error
            means there is no usable GPU.
    """
    values = result if isinstance(result, tuple) else (result,)
    err, rest = values[0], values[1:]
    code = int(err)
    if code != 0:
        name = getattr(err, "name", f"cudaError {code}")
        desc = ""
        try:
            ok, text = _cudart().cudaGetErrorString(err)
            desc = f": {text.decode() if isinstance(text, bytes) else text}" if int(ok) == 0 else ""
        except Exception:  # noqa: BLE001 - the description is a courtesy; the name is enough
            pass
        prefix = "no CUDA device: " if name in _NO_DEVICE else ""
        raise CudaError(f"{prefix}{what} failed with {name} ({code}){desc}", name=name, code=code)
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else tuple(rest)


def cuda_status(device: int = 0) -> tuple[bool, str]:
    """Say whether CUDA `device` can be used here, and if not, why. Never raises.

    Returns:
        (True, "<n> CUDA device(s)") or (False, a reason naming what is missing).
    """
    try:
        rt = _cudart()
    except ImportError as exc:
        return False, str(exc)
    try:
        count = check(rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
    except CudaError as exc:
        if exc.name == "cudaErrorInsufficientDriver" and nvidia_driver_present():
            # A GPU and its driver are here, but the driver predates the CUDA runtime cuda-python was built for.
            return False, f"{DRIVER_TOO_OLD} (CUDA 12 builds need driver R535+, CUDA 13 builds R580+): {exc}"
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken install counts as no device
        return False, f"no CUDA device: cudaGetDeviceCount raised {exc!r}"
    if count <= device:
        return False, f"no CUDA device: device {device} requested, {count} visible (check CUDA_VISIBLE_DEVICES)"
    return True, f"{count} CUDA device(s)"


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA kernel driver loaded (whatever its version), without touching CUDA."""
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def cuda_available(device: int = 0) -> bool:
    """Return True when a driver and CUDA `device` are present; False, never raising, otherwise."""
    return cuda_status(device)[0]


def _require_device(device: int) -> ModuleType:
    ok, why = cuda_status(device)
    if not ok:
        if why.startswith(DRIVER_TOO_OLD):
            raise CudaError(why, name="cudaErrorInsufficientDriver", code=35)
        if why.startswith("no CUDA device"):
            raise CudaError(why, name="cudaErrorNoDevice")
        raise CudaError(f"no CUDA device: {why}", name="cudaErrorNoDevice")
    return _cudart()


def set_device(device: int = 0) -> None:
    """Make `device` current for the calling thread (CUDA's current device is per thread)."""
    rt = _require_device(device)
    check(rt.cudaSetDevice(device), f"cudaSetDevice({device})")


def compute_capability(device: int = 0) -> tuple[int, int]:
    """Return the (major, minor) compute capability of `device`, e.g. (9, 0) on an H100."""
    rt = _require_device(device)
    attr = rt.cudaDeviceAttr
    major = check(rt.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute")
    minor = check(rt.cudaDeviceGetAttribute(attr.cudaDevAttrComputeCapabilityMinor, device), "cudaDeviceGetAttribute")
    return int(major), int(minor)


def device_name(device: int = 0) -> str:
    """Return the marketing name of `device`, e.g. "NVIDIA H100 80GB HBM3"."""
    rt = _require_device(device)
    props = check(rt.cudaGetDeviceProperties(device), f"cudaGetDeviceProperties({device})")
    name = props.name
    if isinstance(name, bytes | bytearray):
        name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
    return str(name).strip()


def check_last_error(what: str = "a previous CUDA call") -> None:
    """Raise CudaError if an earlier asynchronous CUDA call failed (``cudaGetLastError``, which also resets it)."""
    rt = _cudart()
    check(rt.cudaGetLastError(), f"cudaGetLastError after {what}")


class Stream:
    """A non-blocking CUDA stream: ``synchronize()``, ``done()``, ``destroy()`` (idempotent), or use ``with``.

    Non-blocking (``cudaStreamNonBlocking``): its work never waits for, nor serializes with, the legacy default
    stream that other libraries in the process (torch, cupy) may use.
    """

    def __init__(self, device: int = 0) -> None:
        self._rt = _require_device(device)
        check(self._rt.cudaSetDevice(device), f"cudaSetDevice({device})")
        flags = getattr(self._rt, "cudaStreamNonBlocking", 1)
        self._stream = check(self._rt.cudaStreamCreateWithFlags(flags), "cudaStreamCreateWithFlags(NonBlocking)")

    @property
    def raw(self):
        """The cuda-python ``cudaStream_t`` object."""
        if self._stream is None:
            raise CudaError("the stream was destroyed", name="cudaErrorInvalidResourceHandle")
        return self._stream

    @property
    def handle(self) -> int:
        """The ``cudaStream_t`` as an int, the form TensorRT's ``execute_async_v3`` takes."""
        return int(self.raw)

    def synchronize(self) -> None:
        """Block until all work queued on the stream has finished; raise CudaError if any of it failed."""
        check(self._rt.cudaStreamSynchronize(self.raw), "cudaStreamSynchronize")

    def done(self) -> bool:
        """Return True when all queued work has finished, False while some is still running."""
        err = self._rt.cudaStreamQuery(self.raw)[0]
        if getattr(err, "name", "") == "cudaErrorNotReady":
            return False
        check((err,), "cudaStreamQuery")
        return True

    def destroy(self) -> None:
        """Destroy the stream; calling it again does nothing."""
        stream, self._stream = self._stream, None
        if stream is not None:
            check(self._rt.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


class Event:
    """A CUDA event without timing: ``record(stream)`` marks a point in a stream; ``synchronize()`` waits for it.

    One batch of a pipelined backend waits on its own event, not on the whole stream (which also holds the next
    batch).
    """

    def __init__(self, device: int = 0) -> None:
        self._rt = _require_device(device)
        flags = getattr(self._rt, "cudaEventDisableTiming", 2)
        self._event = check(self._rt.cudaEventCreateWithFlags(flags), "cudaEventCreateWithFlags")

    @property
    def raw(self):
        if self._event is None:
            raise CudaError("the event was destroyed", name="cudaErrorInvalidResourceHandle")
        return self._event

    def record(self, stream: Stream) -> None:
        check(self._rt.cudaEventRecord(self.raw, stream.raw), "cudaEventRecord")

    def synchronize(self) -> None:
        """Block until the work before the recorded point has finished; raise CudaError if any of it failed."""
        check(self._rt.cudaEventSynchronize(self.raw), "cudaEventSynchronize")

    def destroy(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            check(self._rt.cudaEventDestroy(event), "cudaEventDestroy")


class DeviceBuffer:
    """`nbytes` of device memory (``cudaMalloc``); ``.ptr`` is its address, ``free()`` is idempotent."""

    def __init__(self, nbytes: int, device: int = 0) -> None:
        if int(nbytes) <= 0:
            raise ValueError(f"DeviceBuffer needs nbytes > 0, got {nbytes}")
        self._rt = _require_device(device)
        check(self._rt.cudaSetDevice(device), f"cudaSetDevice({device})")
        self.nbytes = int(nbytes)
        self._ptr: int | None = int(check(self._rt.cudaMalloc(self.nbytes), f"cudaMalloc({self.nbytes})"))

    @property
    def ptr(self) -> int:
        if self._ptr is None:
            raise CudaError("the device buffer was freed", name="cudaErrorInvalidValue")
        return self._ptr

    def free(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            check(self._rt.cudaFree(ptr), "cudaFree")

    def __enter__(self) -> DeviceBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.free()


class PinnedBuffer:
    """Page-locked host memory (``cudaMallocHost``) seen as a numpy array of `shape` and `dtype`.

    Copies from and to pinned memory can run asynchronously on a stream; ``.array`` is the numpy view (valid until
    ``free()``), ``.ptr`` the host address.
    """

    def __init__(self, shape: int | tuple[int, ...], dtype: np.dtype | type = np.float32, device: int = 0) -> None:
        self.shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        if self.nbytes <= 0:
            raise ValueError(f"PinnedBuffer needs a non-empty shape, got {self.shape}")
        self._rt = _require_device(device)
        self._ptr: int | None = int(check(self._rt.cudaMallocHost(self.nbytes), f"cudaMallocHost({self.nbytes})"))
        raw = (ctypes.c_byte * self.nbytes).from_address(self._ptr)
        self._array: np.ndarray | None = np.frombuffer(raw, dtype=self.dtype).reshape(self.shape)

    @property
    def ptr(self) -> int:
        if self._ptr is None:
            raise CudaError("the pinned buffer was freed", name="cudaErrorInvalidValue")
        return self._ptr

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            raise CudaError("the pinned buffer was freed", name="cudaErrorInvalidValue")
        return self._array

    def free(self) -> None:
        ptr, self._ptr, self._array = self._ptr, None, None
        if ptr is not None:
            check(self._rt.cudaFreeHost(ptr), "cudaFreeHost")

    def __enter__(self) -> PinnedBuffer:
        return self

    def __exit__(self, *exc) -> None:
        self.free()


def _host(buf: PinnedBuffer | np.ndarray, *, writable: bool) -> tuple[int, int]:
    """Return (address, nbytes) of a pinned buffer or a C-contiguous numpy array."""
    if isinstance(buf, PinnedBuffer):
        return buf.ptr, buf.nbytes
    if not isinstance(buf, np.ndarray) or not buf.flags.c_contiguous:
        raise ValueError("host side must be a PinnedBuffer or a C-contiguous numpy array")
    if writable and not buf.flags.writeable:
        raise ValueError("destination numpy array is read-only")
    return int(buf.ctypes.data), int(buf.nbytes)


def _copy(dst: int, src: int, nbytes: int, kind_name: str, stream: Stream | None) -> None:
    if not isinstance(stream, Stream):
        # Stream 0 would serialize with every other library's work in the process, and hide which stream a batch's
        # copies belong to.
        raise ValueError(f"a copy needs a cuda.Stream, got {stream!r}")
    rt = _cudart()
    kind = getattr(rt.cudaMemcpyKind, kind_name)
    check(rt.cudaMemcpyAsync(dst, src, nbytes, kind, stream.raw), f"cudaMemcpyAsync({kind_name}, {nbytes} bytes)")


def htod_async(
    dst: DeviceBuffer, src: PinnedBuffer | np.ndarray, nbytes: int | None = None, stream: Stream | None = None
) -> None:
    """Queue a host-to-device copy of `nbytes` (defaults to all of `src`) on `stream` (required).

    From pageable numpy memory CUDA stages the data before returning, so `src` may be reused at once; from a
    PinnedBuffer the copy is truly asynchronous and `src` must stay untouched until the stream is synchronized.
    """
    src_ptr, src_bytes = _host(src, writable=False)
    nbytes = src_bytes if nbytes is None else int(nbytes)
    if nbytes > src_bytes or nbytes > dst.nbytes:
        raise ValueError(f"copy of {nbytes} bytes exceeds the source ({src_bytes}) or destination ({dst.nbytes})")
    if nbytes:
        _copy(dst.ptr, src_ptr, nbytes, "cudaMemcpyHostToDevice", stream)


def dtoh_async(
    dst: PinnedBuffer | np.ndarray, src: DeviceBuffer, nbytes: int | None = None, stream: Stream | None = None
) -> None:
    """Queue a device-to-host copy of `nbytes` (defaults to all of `dst`) on `stream` (required).

    The data is in `dst` only after the stream is synchronized.
    """
    dst_ptr, dst_bytes = _host(dst, writable=True)
    nbytes = dst_bytes if nbytes is None else int(nbytes)
    if nbytes > dst_bytes or nbytes > src.nbytes:
        raise ValueError(f"copy of {nbytes} bytes exceeds the source ({src.nbytes}) or destination ({dst_bytes})")
    if nbytes:
        _copy(dst_ptr, src.ptr, nbytes, "cudaMemcpyDeviceToHost", stream)
