"""The TensorRT backend: a serialized engine (``engine.plan``) turns right-padded token ids into scores on the GPU.

Everything a batch needs is allocated once: pinned host buffers and device buffers sized for `max_num_tokens`
(input_ids, attention_mask) and `max_batch_size` (scores), one CUDA stream, and one execution context per
optimization profile. Per batch: fill the pinned buffers, pick the tightest profile that holds the shape, set the
input shapes and tensor addresses, copy in, ``execute_async_v3``, copy out, synchronize.

Needs the `gpu` extra (tensorrt, cuda-python) and a CUDA GPU; without them construction refuses with a clear error
before TensorRT touches the GPU (TensorRT's runtime can crash the process when there is no driver).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from rerankrt._optional import require
from rerankrt.manifest import ONNX_INPUTS, ONNX_OUTPUT
from rerankrt.runtime import cuda
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, attention_mask, check_batch

_IDS, _MASK = ONNX_INPUTS


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
        self._contexts: list = []
        self._buffers: list = []
        self._stream = None
        trt = require("tensorrt", purpose="the TensorRT backend")
        require("cuda.bindings.runtime", extra="gpu", purpose="the TensorRT backend")
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
            self._logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(self._logger)
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
        except cuda.CudaError as exc:
            self._release(quiet=True)
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
        sizes = {_IDS: limits.max_num_tokens, _MASK: limits.max_num_tokens, ONNX_OUTPUT: limits.max_batch_size}
        self._host: dict[str, cuda.PinnedBuffer] = {}
        self._dev: dict[str, cuda.DeviceBuffer] = {}
        for name, count in sizes.items():
            self._host[name] = cuda.PinnedBuffer((count,), self._dtypes[name], dev)
            self._buffers.append(self._host[name])
            self._dev[name] = cuda.DeviceBuffer(count * self._dtypes[name].itemsize, dev)
            self._buffers.append(self._dev[name])
        for k in range(len(self._profiles)):
            ctx = self._new_context(trt)
            if ctx is None:
                raise BackendError(f"TensorRT could not create an execution context for profile {k} (out of memory?)")
            # Each context serves one profile for its whole life; a fresh context starts on profile 0.
            if not ctx.set_optimization_profile_async(k, self._stream.handle):
                raise BackendError(f"TensorRT refused optimization profile {k}")
            self._contexts.append(ctx)
        self._stream.synchronize()

    def _new_context(self, trt):
        # ON_PROFILE_CHANGE sizes each context's activation memory for its own profile; the default (STATIC) gives
        # every context the memory of the largest profile.
        strategy = getattr(getattr(trt, "ExecutionContextAllocationStrategy", None), "ON_PROFILE_CHANGE", None)
        if strategy is not None:
            try:
                return self._engine.create_execution_context(strategy)
            except TypeError:
                pass  # a binding without the strategy argument
        return self._engine.create_execution_context()

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

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        check_batch(input_ids, lengths, self._limits)
        if self._closed:
            raise BackendError("the TensorRT backend is closed")
        batch, seq = input_ids.shape
        ctx = self._contexts[self._pick_profile(batch, seq)]
        n = batch * seq
        ids = self._host[_IDS].array[:n].reshape(batch, seq)
        if self._dtypes[_IDS] == np.int32 and (input_ids.min() < 0 or input_ids.max() > np.iinfo(np.int32).max):
            raise ValueError("input_ids do not fit the engine's int32 input")
        np.copyto(ids, input_ids, casting="unsafe")
        mask = self._host[_MASK].array[:n].reshape(batch, seq)
        np.copyto(mask, attention_mask(lengths, seq), casting="unsafe")
        stream = self._stream
        try:
            # The current device is per thread, and the scheduler's worker is not the thread that built us.
            cuda.set_device(self._device)
            for name in ONNX_INPUTS:
                if not ctx.set_input_shape(name, (batch, seq)):
                    raise BackendError(f"TensorRT rejected shape ({batch}, {seq}) for {name!r}")
            out_shape = tuple(ctx.get_tensor_shape(ONNX_OUTPUT))
            if int(np.prod(out_shape)) != batch:
                raise BackendError(f"engine output {ONNX_OUTPUT!r} has shape {out_shape} for a batch of {batch}")
            for name, buf in self._dev.items():
                if not ctx.set_tensor_address(name, buf.ptr):
                    raise BackendError(f"TensorRT refused the address of {name!r}")
            for name in ONNX_INPUTS:
                cuda.htod_async(self._dev[name], self._host[name], n * self._dtypes[name].itemsize, stream)
            if not ctx.execute_async_v3(stream.handle):
                raise BackendError(f"TensorRT failed to enqueue a ({batch}, {seq}) batch; see TensorRT's log")
            out = self._host[ONNX_OUTPUT]
            cuda.dtoh_async(out, self._dev[ONNX_OUTPUT], batch * out.dtype.itemsize, stream)
            stream.synchronize()
        except cuda.CudaError as exc:
            raise BackendError(f"CUDA failed on a ({batch}, {seq}) batch: {exc}") from exc
        # Copy out of the pinned buffer: the next batch overwrites it.
        return self._host[ONNX_OUTPUT].array[:batch].astype(np.float32)

    def health(self) -> None:
        if self._closed:
            raise BackendError("the TensorRT backend is closed")
        try:
            cuda.set_device(self._device)
            cuda.check_last_error("the last TensorRT batch")
            self._stream.done()
        except cuda.CudaError as exc:
            raise BackendError(f"the GPU is not healthy: {exc}") from exc

    def close(self) -> None:
        self._closed = True
        self._release()

    def _release(self, quiet: bool = False) -> None:
        """Free in dependency order (contexts, engine, runtime, then memory); every step is safe to repeat."""
        if self._stream is not None:
            with contextlib.suppress(cuda.CudaError):  # a failed stream still has to be freed
                self._stream.synchronize()
        self._contexts.clear()
        for attr in ("_engine", "_runtime"):
            if hasattr(self, attr):
                delattr(self, attr)
        errors = []
        for buf in self._buffers:
            try:
                buf.free()
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
