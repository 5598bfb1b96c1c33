"""The cuda-python layer on a real GPU: pinned and device buffers, async copies on a stream, device queries."""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt.runtime import cuda

if not cuda.cuda_available():
    pytest.skip(f"needs a CUDA device: {cuda.cuda_status()[1]}", allow_module_level=True)

pytestmark = pytest.mark.gpu


@pytest.fixture
def stream():
    with cuda.Stream() as s:
        yield s


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_pinned_round_trip_on_a_stream(stream, dtype):
    rng = np.random.default_rng(0)
    shape = (7, 33)
    data = (rng.integers(0, 151_936, size=shape) if dtype == np.int64 else rng.standard_normal(shape)).astype(dtype)
    with cuda.PinnedBuffer(shape, dtype) as src, cuda.PinnedBuffer(shape, dtype) as dst:
        src.array[...] = data
        dst.array[...] = 0
        with cuda.DeviceBuffer(src.nbytes) as dev:
            cuda.htod_async(dev, src, src.nbytes, stream)
            cuda.dtoh_async(dst, dev, dst.nbytes, stream)
            stream.synchronize()
        np.testing.assert_array_equal(dst.array, data)
        assert dst.array.dtype == dtype and dst.array.shape == shape


def test_numpy_round_trip_and_partial_copy(stream):
    data = np.arange(64, dtype=np.float32)
    out = np.zeros(64, dtype=np.float32)
    with cuda.DeviceBuffer(data.nbytes) as dev:
        cuda.htod_async(dev, data, stream=stream)
        cuda.dtoh_async(out, dev, 16 * 4, stream)
        stream.synchronize()
    np.testing.assert_array_equal(out[:16], data[:16])
    assert not out[16:].any()


def test_copy_size_is_checked(stream):
    with cuda.DeviceBuffer(8) as dev, pytest.raises(ValueError, match="exceeds"):
        cuda.htod_async(dev, np.zeros(4, np.int64), stream=stream)


def test_device_queries():
    major, minor = cuda.compute_capability()
    assert isinstance(major, int) and isinstance(minor, int) and major >= 3
    assert cuda.device_name()
    cuda.set_device(0)
    cuda.check_last_error()


def test_freeing_twice_is_safe():
    dev = cuda.DeviceBuffer(1024)
    pinned = cuda.PinnedBuffer((16,), np.int64)
    s = cuda.Stream()
    for _ in range(2):
        dev.free()
        pinned.free()
        s.destroy()
    with pytest.raises(cuda.CudaError, match="freed"):
        _ = dev.ptr
    with pytest.raises(cuda.CudaError, match="freed"):
        _ = pinned.array
    with pytest.raises(cuda.CudaError, match="destroyed"):
        s.synchronize()


def test_stream_done_after_synchronize(stream):
    stream.synchronize()
    assert stream.done()
