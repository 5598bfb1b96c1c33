"""The TensorRT backend's logic on the CPU, over fakes of the `tensorrt` module and of cuda-python's runtime.

The fakes keep "device" memory in host buffers and run a batch at enqueue (score = sum of a row's real ids), so
what is checked is the backend's own bookkeeping: one activation pool for every context, addresses bound once,
two slots in flight, non-blocking streams, TensorRT failures as BackendError, health from its own record, close.
The real thing runs in tests/gpu/.
"""

from __future__ import annotations

import ctypes
import enum
import sys
import types

import numpy as np
import pytest

from rerankrt.runtime import cuda
from rerankrt.runtime.backends import tensorrt as trt_backend
from rerankrt.runtime.backends.base import BackendError


class Err(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100
    cudaErrorNotReady = 600
    cudaErrorIllegalAddress = 700


class FakeCudart(types.ModuleType):
    """cuda.bindings.runtime as far as rerankrt.runtime.cuda uses it."""

    cudaStreamNonBlocking = 1
    cudaEventDisableTiming = 2

    def __init__(self, devices: int = 1, count_error: Err = Err.cudaSuccess) -> None:
        super().__init__("fake_cudart")
        self.devices, self.count_error = devices, count_error
        self.memory: dict[int, ctypes.Array] = {}
        self.stream_flags: list[int] = []
        self.stream_error = Err.cudaSuccess
        self.copies_on: list[object] = []
        self.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
        self.cudaDeviceAttr = types.SimpleNamespace(
            cudaDevAttrComputeCapabilityMajor=75, cudaDevAttrComputeCapabilityMinor=76
        )

    def _alloc(self, n):
        buf = (ctypes.c_byte * int(n))()
        self.memory[ctypes.addressof(buf)] = buf
        return Err.cudaSuccess, ctypes.addressof(buf)

    def _free(self, ptr):
        self.memory.pop(int(ptr))
        return (Err.cudaSuccess,)

    cudaMalloc = cudaMallocHost = _alloc
    cudaFree = cudaFreeHost = _free

    def cudaGetDeviceCount(self):
        return (self.count_error,) if self.count_error else (Err.cudaSuccess, self.devices)

    def cudaGetErrorString(self, err):
        return Err.cudaSuccess, b"fake " + err.name.encode()

    def cudaSetDevice(self, d):
        return (Err.cudaSuccess,)

    def cudaDeviceGetAttribute(self, attr, d):
        return Err.cudaSuccess, 9 if attr == 75 else 0

    def cudaGetDeviceProperties(self, d):
        return Err.cudaSuccess, types.SimpleNamespace(name=b"Fake H100\0")

    def cudaStreamCreateWithFlags(self, flags):
        self.stream_flags.append(flags)
        return Err.cudaSuccess, 0x1000 + len(self.stream_flags)  # a cudaStream_t handle; 0 would be stream 0

    def cudaStreamSynchronize(self, s):
        return (self.stream_error,)

    def cudaStreamQuery(self, s):
        return (self.stream_error,)

    def cudaStreamDestroy(self, s):
        return (Err.cudaSuccess,)

    def cudaEventCreateWithFlags(self, flags):
        return Err.cudaSuccess, object()

    def cudaEventRecord(self, e, s):
        return (Err.cudaSuccess,)

    def cudaEventSynchronize(self, e):
        return (self.stream_error,)

    def cudaEventDestroy(self, e):
        return (Err.cudaSuccess,)

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):
        self.copies_on.append(stream)
        ctypes.memmove(dst, src, n)
        return (Err.cudaSuccess,)


def _array(ptr: int, n: int, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    return np.frombuffer((ctypes.c_byte * (n * dtype.itemsize)).from_address(ptr), dtype=dtype)


class FakeContext:
    def __init__(self, engine, strategy) -> None:
        self.engine, self.strategy = engine, strategy
        self.memory = None
        self.profile = None
        self.addresses: dict[str, int] = {}
        self.address_calls = 0
        self.shape = None

    def set_device_memory(self, ptr, size):
        self.memory = (ptr, size)

    def set_optimization_profile_async(self, k, stream):
        if self.engine.refuse_profile:
            raise RuntimeError("profile index out of range")  # what TensorRT's binding does; never False
        self.profile = k
        return True

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr
        self.address_calls += 1
        return True

    def set_input_shape(self, name, shape):
        self.shape = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        return (self.shape[0],)

    def execute_async_v3(self, stream):
        if self.engine.fail_execute:
            return False
        batch, seq = self.shape
        ids = _array(self.addresses["input_ids"], batch * seq, np.int64).reshape(batch, seq)
        mask = _array(self.addresses["attention_mask"], batch * seq, np.int64).reshape(batch, seq)
        _array(self.addresses["scores"], batch, np.float32)[:] = (ids * mask).sum(axis=1)
        self.engine.executed.append((self.profile, batch, seq))
        return True


def fake_tensorrt() -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.9.0.34"
    trt.TensorIOMode = types.SimpleNamespace(INPUT="in", OUTPUT="out")
    trt.DataType = types.SimpleNamespace(INT64="i64", INT32="i32", FLOAT="f32", HALF="f16")
    trt.ExecutionContextAllocationStrategy = types.SimpleNamespace(USER_MANAGED="user", STATIC="static")
    trt.loggers = []

    class Logger:
        WARNING = 2

        def __init__(self, level):
            trt.loggers.append(self)

    class Engine:
        num_io_tensors = 3
        # (min, opt, max) per profile: short rows in big batches, long rows in small ones.
        profiles = [((1, 1), (8, 64), (16, 128)), ((1, 129), (2, 256), (4, 512))]
        memory = [1000, 5000]

        def __init__(self):
            self.contexts: list[FakeContext] = []
            self.executed: list = []
            self.refuse_profile = False
            self.fail_execute = False

        num_optimization_profiles = property(lambda self: len(self.profiles))

        def get_tensor_name(self, i):
            return ("input_ids", "attention_mask", "scores")[i]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.OUTPUT if name == "scores" else trt.TensorIOMode.INPUT

        def get_tensor_dtype(self, name):
            return trt.DataType.FLOAT if name == "scores" else trt.DataType.INT64

        def get_tensor_profile_shape(self, name, k):
            return self.profiles[k]

        def get_device_memory_size_for_profile_v2(self, k):
            return self.memory[k]

        def create_execution_context(self, strategy="static"):
            ctx = FakeContext(self, strategy)
            self.contexts.append(ctx)
            return ctx

    class Runtime:
        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, data):
            trt.engine = Engine()
            trt.engine.refuse_profile = trt.refuse_profile
            return trt.engine

    trt.Logger, trt.Runtime, trt.refuse_profile = Logger, Runtime, False
    return trt


@pytest.fixture
def fakes(monkeypatch, tmp_path):
    rt, trt = FakeCudart(), fake_tensorrt()
    monkeypatch.setattr(cuda, "_cudart", lambda: rt)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(trt_backend, "_LOGGER", None)
    monkeypatch.setattr(trt_backend, "require", lambda module, **kw: trt if module == "tensorrt" else rt)
    plan = tmp_path / "engine.plan"
    plan.write_bytes(b"plan")

    def make(**limits):
        limits = {"max_batch_size": 16, "max_seq_len": 512, "max_num_tokens": 2048} | limits
        return trt_backend.TensorRTBackend(plan, **limits)

    return types.SimpleNamespace(rt=rt, trt=trt, make=make)


def _batch(rows: int, seq: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, seq + 1, rows)
    lengths[0] = seq
    ids = rng.integers(1, 1000, (rows, seq))
    ids[np.arange(seq)[None, :] >= lengths[:, None]] = 0
    return ids.astype(np.int64), lengths.astype(np.int64)


def test_one_activation_pool_sized_for_the_largest_profile_serves_every_context(fakes):
    backend = fakes.make()
    contexts = fakes.trt.engine.contexts
    assert len(contexts) == 2 * 2  # two slots x two profiles
    assert {c.strategy for c in contexts} == {"user"}
    assert len({c.memory for c in contexts}) == 1 and contexts[0].memory[1] == 5000
    assert [c.profile for c in contexts] == [0, 1, 0, 1]
    backend.close()


def test_addresses_are_bound_once_and_two_batches_can_be_in_flight(fakes):
    backend = fakes.make()
    first, second = _batch(8, 64, seed=1), _batch(3, 300, seed=2)
    h1 = backend.submit(*first)
    h2 = backend.submit(*second)
    with pytest.raises(BackendError, match="in flight"):
        backend.submit(*first)
    np.testing.assert_array_equal(backend.result(h1), first[0].sum(axis=1).astype(np.float32))
    np.testing.assert_array_equal(backend.result(h2), second[0].sum(axis=1).astype(np.float32))
    for _ in range(3):
        backend.score(*first)
    assert all(c.address_calls == 3 for c in fakes.trt.engine.contexts)  # at construction only
    assert [e[0] for e in fakes.trt.engine.executed[:2]] == [0, 1]  # the tightest profile for each shape
    assert fakes.rt.stream_flags == [1]  # one stream, cudaStreamNonBlocking
    assert all(s is not None and s != 0 for s in fakes.rt.copies_on)
    backend.close()


def test_one_logger_for_every_backend_in_the_process(fakes):
    a, b = fakes.make(), fakes.make()
    assert len(fakes.trt.loggers) == 1
    a.close()
    b.close()


def test_a_refused_profile_is_a_backend_error_and_frees_what_was_allocated(fakes):
    fakes.trt.refuse_profile = True
    with pytest.raises(BackendError, match="refused optimization profile 0"):
        fakes.make()
    assert fakes.rt.memory == {}


def test_a_failed_enqueue_fails_the_batch_and_health_until_a_batch_succeeds(fakes):
    backend = fakes.make()
    backend.health()
    fakes.trt.engine.fail_execute = True
    with pytest.raises(BackendError, match="failed to enqueue"):
        backend.submit(*_batch(2, 16))
    with pytest.raises(BackendError, match="last batch failed"):
        backend.health()
    fakes.trt.engine.fail_execute = False
    backend.score(*_batch(2, 16))
    backend.health()
    backend.close()


def test_health_reads_the_stream_state_and_a_failed_batch(fakes):
    backend = fakes.make()
    handle = backend.submit(*_batch(2, 16))
    fakes.rt.stream_error = Err.cudaErrorNotReady
    backend.health()  # busy is healthy
    fakes.rt.stream_error = Err.cudaErrorIllegalAddress
    with pytest.raises(BackendError, match="cudaErrorIllegalAddress"):
        backend.health()
    with pytest.raises(BackendError, match="CUDA failed on a batch"):
        backend.result(handle)
    fakes.rt.stream_error = Err.cudaSuccess
    with pytest.raises(BackendError, match="last batch failed"):
        backend.health()
    backend.close()


def test_close_frees_everything_and_refuses_afterwards(fakes):
    backend = fakes.make()
    handle = backend.submit(*_batch(2, 16))
    backend.close()
    assert fakes.rt.memory == {}
    with pytest.raises(BackendError, match="closed"):
        backend.result(handle)
    with pytest.raises(BackendError, match="closed"):
        backend.submit(*_batch(2, 16))
    with pytest.raises(BackendError, match="closed"):
        backend.health()
    backend.close()  # idempotent


def test_a_copy_without_a_stream_is_refused(fakes):
    buf = cuda.DeviceBuffer(8)
    with pytest.raises(ValueError, match="needs a cuda.Stream"):
        cuda.htod_async(buf, np.zeros(1, np.int64))
    buf.free()


def test_error_35_with_a_driver_present_says_the_driver_is_too_old(monkeypatch):
    rt = FakeCudart(count_error=Err.cudaErrorInsufficientDriver)
    monkeypatch.setattr(cuda, "_cudart", lambda: rt)
    monkeypatch.setattr(cuda, "nvidia_driver_present", lambda: True)
    ok, why = cuda.cuda_status()
    assert not ok and why.startswith("driver too old for this CUDA build; install rerankrt[gpu-cu12]")
    with pytest.raises(cuda.CudaError, match="driver too old") as info:
        cuda.set_device(0)
    assert info.value.code == 35
    monkeypatch.setattr(cuda, "nvidia_driver_present", lambda: False)
    assert cuda.cuda_status()[1].startswith("no CUDA device")
