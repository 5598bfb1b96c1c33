"""ServerSettings: validation on creation, loading from a workers config."""

from __future__ import annotations

import pytest

from rerankrt.server import ServerSettings


def test_settings_validate_and_load_from_yaml(tmp_path):
    with pytest.raises(ValueError, match="max_documents"):
        ServerSettings(max_documents=0)
    with pytest.raises(ValueError, match="request_timeout_s"):
        ServerSettings(request_timeout_s=-1)
    with pytest.raises(TypeError):
        ServerSettings(1000)  # keyword-only
    path = tmp_path / "workers.yaml"
    path.write_text("max_documents: 50\nmax_tokens_per_doc: 512\nreranker:\n  max_pending_pairs: 128\n")
    settings = ServerSettings.from_yaml(path, model_name="m")
    assert settings.max_documents == 50 and settings.max_tokens_per_doc == 512 and settings.model_name == "m"
    assert dict(settings.reranker_options) == {"max_pending_pairs": 128}
    path.write_text("server:\n  request_timeout_s: 5\nscheduler:\n  max_batch_size: 8\n")
    nested = ServerSettings.from_yaml(path)
    assert nested.request_timeout_s == 5 and dict(nested.reranker_options) == {"max_batch_size": 8}
    path.write_text("max_documnets: 5\n")
    with pytest.raises(ValueError, match="max_documnets"):
        ServerSettings.from_yaml(path)
    path.write_text("reranker:\n  max_pendng_pairs: 5\n")
    with pytest.raises(ValueError, match="max_pendng_pairs"):
        ServerSettings.from_yaml(path)
