"""GPU tests skip where there is no GPU, and FAIL where a GPU is there but CUDA cannot use it.

A driver older than the CUDA build of cuda-python (error 35), a missing device node, a broken install: each would
make every GPU test skip "for want of a GPU" on a GPU machine, and a green run would prove nothing. When
``nvidia-smi -L`` lists a GPU but `rerankrt.runtime.cuda.cuda_status` says no, every skip of a module or test under
tests/gpu becomes a failure that says why. Missing TensorRT alone still skips: a GPU machine may run without it.
"""

from __future__ import annotations

import pytest

from rerankrt._device import visible_gpus


def unusable_gpu_reason(gpus: list[str], status: tuple[bool, str]) -> str | None:
    """Why present GPUs cannot be used (a message for the failure), or None when there is none or CUDA works."""
    ok, why = status
    if not gpus or ok:
        return None
    return f"nvidia-smi lists {len(gpus)} GPU(s) ({gpus[0]}) but CUDA cannot use them: {why}"


def _reason() -> str | None:
    from rerankrt.runtime import cuda

    return unusable_gpu_reason(visible_gpus(), cuda.cuda_status())


UNUSABLE = _reason()


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if UNUSABLE and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"GPU present but unusable, so this GPU test module fails instead of skipping: {UNUSABLE}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if UNUSABLE and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"GPU present but unusable, so this GPU test fails instead of skipping: {UNUSABLE}"
