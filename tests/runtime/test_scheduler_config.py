"""SchedulerConfig: every knob validated where it is defined, resolved against the backend's limits."""

from __future__ import annotations

import pytest

from rerankrt.runtime.batching import SchedulerConfig
from rerankrt.runtime.batching.config import OPTION_NAMES
from tests.fakes import FakeBackend


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_batch_size", 0),
        ("max_num_tokens", -1),
        ("batch_tokens", 0),
        ("max_pending_pairs", 0),
        ("pad_multiple", 0),
        ("tokenize_chunk", 1.5),
        ("max_pending_pairs", True),
        ("fill_ratio", 1.5),
        ("fill_ratio", "0.8"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(field, value):
    with pytest.raises(ValueError, match=f"SchedulerConfig.{field} "):
        SchedulerConfig(**{field: value})


def test_options_by_name_refuse_unknown_ones_listing_the_valid():
    assert SchedulerConfig.from_options({"pad_multiple": 8}) == SchedulerConfig(pad_multiple=8)
    with pytest.raises(TypeError, match=r"\['max_pending'\]; the scheduler takes \[.*'max_pending_pairs'"):
        SchedulerConfig.from_options({"max_pending": 1})
    assert "on_batch" not in OPTION_NAMES
    with pytest.raises(TypeError):
        SchedulerConfig(8)  # keyword-only


def test_the_shape_never_exceeds_the_backends_limits():
    backend = FakeBackend(max_batch_size=8, max_seq_len=64, max_num_tokens=256)
    shape = SchedulerConfig(max_batch_size=100, max_num_tokens=10_000, batch_tokens=128).shape_for(backend, 64)
    assert (shape.max_batch_size, shape.max_num_tokens, shape.batch_tokens, shape.longest_row) == (8, 256, 128, 64)
    default = SchedulerConfig().shape_for(backend, 64)
    assert (default.max_batch_size, default.batch_tokens) == (8, 256)
    with pytest.raises(ValueError, match="max_seq_len=64"):
        SchedulerConfig().shape_for(backend, 65)
    with pytest.raises(ValueError, match="max_num_tokens=32 cannot hold one sequence of 64 tokens"):
        SchedulerConfig(max_num_tokens=32).shape_for(backend, 64)
