"""The torch backend's device option: float32 on the CPU (batch invariant), BF16 + SDPA on CUDA (refused without)."""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt.manifest import read_manifest
from rerankrt.runtime.backends import load_backend
from rerankrt.runtime.backends.base import BackendError
from rerankrt.runtime.backends.options import TorchOptions, options_from

torch = pytest.importorskip("torch")


def test_the_device_option_is_validated_and_routed():
    assert TorchOptions().device == "cpu"
    assert TorchOptions(device=1).device == "cuda:1"
    assert TorchOptions(device="cuda").device == "cuda"
    for bad in ("gpu", "cuda:x", -1, True):
        with pytest.raises(ValueError, match="TorchOptions.device"):
            TorchOptions(device=bad)
    assert options_from("torch", {"device": "cuda:0"})[1].device == "cuda:0"


def test_cpu_is_float32_on_the_host_and_batch_invariant_through_submit_and_result(torch_engine):
    backend = load_backend(read_manifest(torch_engine), "torch", threads=1)
    assert (backend.precision, backend.runs_on_host, backend.pipeline_depth) == ("fp32", True, 1)
    rng = np.random.default_rng(3)
    lengths = np.array([17, 5, 32, 9])
    ids = rng.integers(10, 500, (4, 32))
    ids[np.arange(32)[None, :] >= lengths[:, None]] = 0
    together = backend.result(backend.submit(ids, lengths))
    alone = [backend.score(ids[i : i + 1, : lengths[i]], lengths[i : i + 1])[0] for i in range(4)]
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(together, backend.score(ids, lengths))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA: the GPU path runs in tests/gpu")
def test_cuda_without_a_cuda_torch_is_refused_with_what_to_do(torch_engine):
    with pytest.raises(BackendError, match="sees no CUDA device; use device='cpu'"):
        load_backend(read_manifest(torch_engine), "torch", device="cuda")
