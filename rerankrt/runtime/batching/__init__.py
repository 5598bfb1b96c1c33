"""In-flight batching, by role: result and error types, the host-CPU turn lock, the pure batching policy, the
scheduler's config, admission (goodput estimates, intake checks), and the scheduler (its lifecycle, its worker
thread's loop, the wait loop)."""

from rerankrt.runtime.batching.config import SchedulerConfig
from rerankrt.runtime.batching.scheduler import BatchListener, Scheduler
from rerankrt.runtime.batching.turns import TurnLock
from rerankrt.runtime.batching.types import (
    BatchStats,
    CancelledError,
    DeadlineExceededError,
    OverloadedError,
    RequestFuture,
    SchedulerClosedError,
    SchedulerError,
    SchedulerStats,
    ScoreResult,
    WorkerDiedError,
)

__all__ = [
    "BatchListener",
    "BatchStats",
    "CancelledError",
    "DeadlineExceededError",
    "OverloadedError",
    "RequestFuture",
    "Scheduler",
    "SchedulerClosedError",
    "SchedulerConfig",
    "SchedulerError",
    "SchedulerStats",
    "ScoreResult",
    "TurnLock",
    "WorkerDiedError",
]
