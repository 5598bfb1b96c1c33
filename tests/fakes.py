"""Fakes shared by the tests: backends whose speed, failures and scores the test controls."""

from __future__ import annotations

import time

import numpy as np

from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, check_batch


class ScriptedBackend(Backend):
    """A backend whose speed and failures the test sets; its score is a fixed function of each row's ids."""

    name = "scripted"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.fail = False
        self._limits = BackendLimits(max_batch_size=8, max_seq_len=1024, max_num_tokens=8192)

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        check_batch(input_ids, lengths, self._limits)
        time.sleep(self.delay_s)
        if self.fail:
            raise BackendError("scripted failure")
        return np.array([expected_scripted(row[:n]) for row, n in zip(input_ids, lengths, strict=True)], np.float32)


def expected_scripted(ids) -> float:
    ids = np.asarray(ids, dtype=np.int64)
    return float(np.float32(((ids * 31 + np.arange(len(ids))) % 1009).mean() / 100.0 - 5.0))
