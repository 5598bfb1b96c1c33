"""Fixtures of the runtime tests: an engine directory the torch backend serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import write_torch_engine_dir


@pytest.fixture(scope="session")
def torch_engine(tmp_path_factory, tiny_classifier_dir) -> Path:
    """An engine directory served by the torch backend, from the tiny classifier checkpoint."""
    return write_torch_engine_dir(tmp_path_factory.mktemp("torch_engine"), tiny_classifier_dir)
