"""The rule of tests/gpu/conftest.py: a GPU that is there but unusable fails the GPU tests; none skips them."""

from __future__ import annotations

from rerankrt._device import visible_gpus
from tests.gpu.conftest import UNUSABLE, unusable_gpu_reason


def test_no_gpu_or_a_working_one_is_not_a_failure():
    assert unusable_gpu_reason([], (False, "no CUDA device: cudaErrorNoDevice")) is None
    assert unusable_gpu_reason(["GPU 0: NVIDIA H100 (UUID: x)"], (True, "1 CUDA device(s)")) is None


def test_a_present_gpu_that_cuda_cannot_use_is_named():
    why = unusable_gpu_reason(["GPU 0: NVIDIA L4 (UUID: x)"], (False, "driver too old for this CUDA build; ..."))
    assert "nvidia-smi lists 1 GPU(s) (GPU 0: NVIDIA L4" in why and "driver too old" in why


def test_this_machine():
    """Runs everywhere: fails (through the conftest's rule) exactly where a listed GPU is unusable."""
    assert UNUSABLE is None, UNUSABLE
    assert isinstance(visible_gpus(), list)
