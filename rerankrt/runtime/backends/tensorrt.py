"""The TensorRT backend: a serialized engine (``engine.plan``) turns right-padded token ids into scores on the GPU.

Everything a batch needs is allocated once. One non-blocking CUDA stream runs every batch, so batches never overlap
on the device, and all execution contexts share one activation pool (``USER_MANAGED`` allocation, sized for the
largest profile) instead of one each. The backend is pipelined (``pipeline_depth`` 2): each of two slots owns
pinned and device input/output buffers, one context per optimization profile with its profile chosen and its
tensor addresses bound once, and an event. `submit` fills a slot's pinned buffers, sets the input shapes, queues the
copies and ``execute_async_v3`` and returns; `result` waits on that slot's event only, so the next batch can be
queued while this one runs.

`health()` reads the backend's own record of its last failure and its stream's state (``cudaStreamQuery``), never
``cudaGetLastError`` (per thread, and cleared by whoever reads it). `close()` waits for the batches in flight
before it frees anything.

Needs the `gpu-cu12` or `gpu-cu13` extra (tensorrt, cuda-python) and a CUDA GPU; without them construction refuses
with a clear error before TensorRT touches the GPU (TensorRT's runtime can crash the process when there is no
driver).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np

from rerankrt._optional import require
from rerankrt.manifest import ONNX_INPUTS, ONNX_OUTPUT
from rerankrt.runtime import cuda
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, attention_mask, check_batch

_IDS, _MASK = ONNX_INPUTS
_LOGGER = None  # one TensorRT logger per process: TensorRT ties its runtimes and builders to the first it sees
_LOGGER_LOCK = threading.Lock()


def tensorrt_logger(trt):
    """The process's one ``trt.Logger`` (warnings and errors), made on first use."""
    global _LOGGER
    with _LOGGER_LOCK:
        if _LOGGER is None:
            _LOGGER = trt.Logger(trt.Logger.WARNING)
        return _LOGGER


def activation_bytes(engine) -> int:
    """The activation memory the largest profile needs (TensorRT 10.1+ and 11 names first, then 10.0's)."""
    for method in ("get_device_memory_size_for_profile_v2", "get_device_memory_size_for_profile"):
        per_profile = getattr(engine, method, None)
        if per_profile is not None:
            return max(int(per_profile(k)) for k in range(engine.num_optimization_profiles))
    return int(getattr(engine, "device_memory_size_v2", None) or engine.device_memory_size)


class _Slot:
    """One in-flight batch's buffers: pinned and device tensors, one bound context per profile, an event."""

    def __init__(self) -> None:
        self.host: dict[str, cuda.PinnedBuffer] = {}
        self.dev: dict[str, cuda.DeviceBuffer] = {}
        self.contexts: list = []
        self.event: cuda.Event | None = None
        self.rows: int | None = None  # the batch in flight in this slot, until `result` collects it


class TensorRTBackend(Backend):
    """Scores batches with a TensorRT engine compiled by `rerankrt.build.compile.engine_from_onnx`.

    Args:
        engine_path: The serialized engine.
        max_batch_size: Most rows per call; sizes the scores buffers.
        max_seq_len: Longest padded row per call.
        max_num_tokens: Most padded tokens (batch * seq) per call; sizes the input buffers.
        device: CUDA device index. Defaults to 0.
        precision: What the engine was built as, for reports. Defaults to "fp8".

    Raises:
        MissingDependencyError: Without the tensorrt or cuda-python packages.
        BackendError: Without a CUDA GPU, for an engine that does not deserialize here, or one whose inputs, outputs
            or profiles do not fit the limits asked for.
    """

    name = "tensorrt"
    precision = "fp8"
    pipeline_depth = 2

    def __init__(
        self,
        engine_path: str | Path,
        *,
        max_batch_size: int,
        max_seq_len: int,
        max_num_tokens: int,
        device: int = 0,
        precision: str | None = None,
    ) -> None:
        self._closed = True  # until fully built, so close() and health() behave on a half-made object
        self._slots: list[_Slot] = []
        self._buffers: list = []  # everything to free, in allocation order
        self._stream = None
        self._lock = threading.Lock()
        self._thread = threading.local()
        self._next = 0
        self._last_failure: str | None = None
        trt = require("tensorrt", purpose="the TensorRT backend")
        require("cuda.bindings.runtime", extra="gpu-cu12", purpose="the TensorRT backend")
        ok, why = cuda.cuda_status(device)
        if not ok:
            raise BackendError(f"the TensorRT backend needs a CUDA GPU: {why}")
        path = Path(engine_path)
        if not path.is_file():
            raise BackendError(f"TensorRT engine not found: {path}")
        self._device = int(device)
        if precision:
            self.precision = precision
        self._limits = BackendLimits(
            max_batch_size=int(max_batch_size), max_seq_len=int(max_seq_len), max_num_tokens=int(max_num_tokens)
        )
        try:
            cuda.set_device(self._device)
            self._runtime = trt.Runtime(tensorrt_logger(trt))
            self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self._engine is None:
                cc = cuda.compute_capability(self._device)
                raise BackendError(
                    f"TensorRT {trt.__version__} could not deserialize {path}: it was built by another TensorRT "
                    f"version or for another GPU than {cuda.device_name(self._device)} (compute capability "
                    f"{cc[0]}.{cc[1]}); rebuild the engine on this machine"
                )
            self._read_io(trt, path)
            self._profiles = self._read_profiles()
            self._allocate(trt)
        except (cuda.CudaError, RuntimeError) as exc:
            self._release(quiet=True)
            if isinstance(exc, BackendError):
                raise
            raise BackendError(f"the TensorRT backend could not start on device {device}: {exc}") from exc
        except BaseException:
            self._release(quiet=True)
            raise
        self._closed = False

    def _read_io(self, trt, path: Path) -> None:
        """Check the engine's tensors against the ONNX contract and read their dtypes from the engine."""
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = {n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT}
        if inputs != set(ONNX_INPUTS) or set(names) - inputs != {ONNX_OUTPUT}:
            raise BackendError(f"{path} has tensors {names}; expected inputs {list(ONNX_INPUTS)} and {ONNX_OUTPUT!r}")
        int_types = {trt.DataType.INT64: np.int64, trt.DataType.INT32: np.int32}
        float_types = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16}
        self._dtypes: dict[str, np.dtype] = {}
        for name in names:
            dtype = self._engine.get_tensor_dtype(name)
            table = float_types if name == ONNX_OUTPUT else int_types
            if dtype not in table:
                allowed = ", ".join(str(d) for d in table)
                raise BackendError(f"{path}: tensor {name!r} is {dtype}; this backend handles {allowed}")
            self._dtypes[name] = np.dtype(table[dtype])

    def _read_profiles(self) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """Return each profile's (min, max) (batch, seq) that both inputs accept; check the limits fit in them."""
        profiles = []
        for k in range(self._engine.num_optimization_profiles):
            shapes = [self._engine.get_tensor_profile_shape(n, k) for n in ONNX_INPUTS]
            lo = tuple(max(int(s[0][axis]) for s in shapes) for axis in range(2))
            hi = tuple(min(int(s[2][axis]) for s in shapes) for axis in range(2))
            profiles.append((lo, hi))
        if not profiles:
            raise BackendError("the engine has no optimization profile")
        top_batch = max(hi[0] for _, hi in profiles)
        top_seq = max(hi[1] for _, hi in profiles)
        if self._limits.max_batch_size > top_batch or self._limits.max_seq_len > top_seq:
            raise BackendError(
                f"limits max_batch_size={self._limits.max_batch_size}, max_seq_len={self._limits.max_seq_len} exceed "
                f"the engine's profiles (largest batch {top_batch}, largest seq {top_seq}); lower the limits or "
                f"rebuild the engine with larger profiles"
            )
        return profiles

    def _allocate(self, trt) -> None:
        dev, limits = self._device, self._limits
        self._stream = cuda.Stream(dev)
        self._thread.device_set = True
        strategy = getattr(getattr(trt, "ExecutionContextAllocationStrategy", None), "USER_MANAGED", None)
        self._pool = None
        if strategy is not None:
            # Contexts never run at once (one stream): one pool, sized for the largest profile, serves them all.
            self._pool = cuda.DeviceBuffer(max(activation_bytes(self._engine), 1), dev)
            self._buffers.append(self._pool)
        sizes = {_IDS: limits.max_num_tokens, _MASK: limits.max_num_tokens, ONNX_OUTPUT: limits.max_batch_size}
        for _ in range(self.pipeline_depth):
            slot = _Slot()
            for name, count in sizes.items():
                slot.host[name] = cuda.PinnedBuffer((count,), self._dtypes[name], dev)
                slot.dev[name] = cuda.DeviceBuffer(count * self._dtypes[name].itemsize, dev)
                self._buffers += [slot.host[name], slot.dev[name]]
            slot.event = cuda.Event(dev)
            self._buffers.append(slot.event)
            slot.contexts = [self._new_context(strategy, k, slot) for k in range(len(self._profiles))]
            self._slots.append(slot)
        self._stream.synchronize()

    def _new_context(self, strategy, k: int, slot: _Slot):
        """A context for profile `k` on the shared pool, its profile chosen and `slot`'s addresses bound, once."""
        ctx = (
            self._engine.create_execution_context()
            if strategy is None
            else self._engine.create_execution_context(strategy)
        )
        if ctx is None:
            raise BackendError(f"TensorRT could not create an execution context for profile {k} (out of memory?)")
        if self._pool is not None:
            if hasattr(ctx, "set_device_memory"):
                ctx.set_device_memory(self._pool.ptr, self._pool.nbytes)
            else:  # TensorRT 10.0
                ctx.device_memory = self._pool.ptr
        try:
            # Raises RuntimeError on failure (it never returns False).
            ctx.set_optimization_profile_async(k, self._stream.handle)
        except RuntimeError as exc:
            raise BackendError(f"TensorRT refused optimization profile {k}: {exc}") from exc
        for name, buf in slot.dev.items():
            if not ctx.set_tensor_address(name, buf.ptr):
                raise BackendError(f"TensorRT refused the address of {name!r} for profile {k}")
        return ctx

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def max_rows(self, seq_len: int) -> int:
        """Most rows at `seq_len` that one profile holds whole (the limits alone would allow shapes none holds)."""
        fitting = [hi[0] for lo, hi in self._profiles if lo[1] <= seq_len <= hi[1]]
        return min(super().max_rows(seq_len), max(fitting, default=0))

    def _pick_profile(self, batch: int, seq: int) -> int:
        """The profile that holds (batch, seq) with the smallest max shape, whose kernels fit the batch best."""
        fitting = [
            (hi[0] * hi[1], k)
            for k, (lo, hi) in enumerate(self._profiles)
            if lo[0] <= batch <= hi[0] and lo[1] <= seq <= hi[1]
        ]
        if not fitting:
            ranges = "; ".join(f"{lo}..{hi}" for lo, hi in self._profiles)
            raise BackendError(
                f"no optimization profile holds a ({batch}, {seq}) batch; profiles (batch, seq): {ranges}"
            )
        return min(fitting)[1]

    def _enter_device(self) -> None:
        """Make our device current in this thread, once per thread (CUDA's current device is per thread)."""
        if not getattr(self._thread, "device_set", False):
            cuda.set_device(self._device)
            self._thread.device_set = True

    def _failed(self, message: str, exc: BaseException | None = None) -> BackendError:
        self._last_failure = message
        error = BackendError(message)
        error.__cause__ = exc
        return error

    def submit(self, input_ids: np.ndarray, lengths: np.ndarray) -> _Slot:
        """Queue a batch on the stream and return its slot; `result(slot)` waits for its scores."""
        check_batch(input_ids, lengths, self._limits)
        batch, seq = input_ids.shape
        with self._lock:
            if self._closed:
                raise BackendError("the TensorRT backend is closed")
            slot = self._slots[self._next]
            if slot.rows is not None:
                raise BackendError(f"{self.pipeline_depth} batches are in flight; collect the oldest first")
            ctx = slot.contexts[self._pick_profile(batch, seq)]
            if self._dtypes[_IDS] == np.int32 and (input_ids.min() < 0 or input_ids.max() > np.iinfo(np.int32).max):
                raise ValueError("input_ids do not fit the engine's int32 input")
            n = batch * seq
            np.copyto(slot.host[_IDS].array[:n].reshape(batch, seq), input_ids, casting="unsafe")
            np.copyto(slot.host[_MASK].array[:n].reshape(batch, seq), attention_mask(lengths, seq), casting="unsafe")
            try:
                self._enter_device()
                for name in ONNX_INPUTS:
                    if not ctx.set_input_shape(name, (batch, seq)):
                        raise BackendError(f"TensorRT rejected shape ({batch}, {seq}) for {name!r}")
                out_shape = tuple(ctx.get_tensor_shape(ONNX_OUTPUT))
                if int(np.prod(out_shape)) != batch:
                    raise BackendError(f"engine output {ONNX_OUTPUT!r} has shape {out_shape} for a batch of {batch}")
                for name in ONNX_INPUTS:
                    cuda.htod_async(slot.dev[name], slot.host[name], n * self._dtypes[name].itemsize, self._stream)
                if not ctx.execute_async_v3(self._stream.handle):
                    raise self._failed(f"TensorRT failed to enqueue a ({batch}, {seq}) batch; see TensorRT's log")
                out = slot.host[ONNX_OUTPUT]
                cuda.dtoh_async(out, slot.dev[ONNX_OUTPUT], batch * out.dtype.itemsize, self._stream)
                slot.event.record(self._stream)
            except (cuda.CudaError, RuntimeError) as exc:
                if isinstance(exc, BackendError):
                    raise
                raise self._failed(f"CUDA/TensorRT failed to queue a ({batch}, {seq}) batch: {exc}", exc) from exc
            slot.rows = batch
            self._next = (self._next + 1) % len(self._slots)
        return slot

    def result(self, handle: _Slot) -> np.ndarray:
        if not isinstance(handle, _Slot) or handle.rows is None:
            raise TypeError("TensorRTBackend.result takes a slot its submit returned, once")
        if self._closed:  # its event and buffers are gone (close waited for the batch first)
            handle.rows = None
            raise BackendError("the TensorRT backend was closed before this batch was collected")
        try:
            handle.event.synchronize()  # this batch only: the next one may already be queued behind it
        except cuda.CudaError as exc:
            with self._lock:
                handle.rows = None
            raise self._failed(f"CUDA failed on a batch: {exc}", exc) from exc
        with self._lock:
            rows, handle.rows = handle.rows, None
            if self._closed:
                raise BackendError("the TensorRT backend was closed while a batch ran")
            self._last_failure = None
            # Copy out of the pinned buffer: the batch after next overwrites it.
            return handle.host[ONNX_OUTPUT].array[:rows].astype(np.float32)

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.result(self.submit(input_ids, lengths))

    def health(self) -> None:
        if self._closed:
            raise BackendError("the TensorRT backend is closed")
        if self._last_failure is not None:
            raise BackendError(f"the last batch failed on the GPU: {self._last_failure}")
        try:
            self._enter_device()
            self._stream.done()  # cudaStreamQuery: busy is fine, a failed stream is not
        except cuda.CudaError as exc:
            raise BackendError(f"the GPU is not healthy: {exc}") from exc

    def close(self) -> None:
        """Wait for the batches in flight, then free everything; idempotent."""
        with self._lock:
            self._closed = True
        self._release()

    def _release(self, quiet: bool = False) -> None:
        """Free in dependency order (contexts, engine, runtime, then memory); every step is safe to repeat."""
        if self._stream is not None:
            with contextlib.suppress(cuda.CudaError):  # a failed stream still has to be freed
                self._stream.synchronize()  # nothing is freed under a running batch
        with self._lock:
            for slot in self._slots:
                slot.contexts.clear()
            self._slots.clear()
            for attr in ("_engine", "_runtime"):
                if hasattr(self, attr):
                    delattr(self, attr)
            errors = []
            for buf in reversed(self._buffers):
                try:
                    buf.destroy() if isinstance(buf, cuda.Event) else buf.free()
                except cuda.CudaError as exc:
                    errors.append(str(exc))
            self._buffers.clear()
            stream, self._stream = self._stream, None
            if stream is not None:
                try:
                    stream.destroy()
                except cuda.CudaError as exc:
                    errors.append(str(exc))
        if errors and not quiet:
            raise BackendError("freeing TensorRT backend memory failed: " + "; ".join(errors))
