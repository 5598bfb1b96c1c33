"""The engine-directory manifest: reading it refuses a tampered directory."""

from __future__ import annotations

import pytest

from rerankrt.manifest import ManifestError, read_manifest
from rerankrt.runtime.reranker import Reranker
from tests.fakes import write_fake_trt_dir


def test_load_refuses_a_tampered_directory(tmp_path):
    engine = write_fake_trt_dir(tmp_path)
    with open(engine / "engine.plan", "ab") as f:
        f.write(b" ")
    with pytest.raises(ManifestError, match="engine.plan does not match its sha256"):
        Reranker.load(engine)
    with pytest.raises(ManifestError, match="engine.plan does not match its sha256"):
        read_manifest(engine, verify=True)
