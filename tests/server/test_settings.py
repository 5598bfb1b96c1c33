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


def test_limit_and_security_settings_validate(tmp_path):
    for field, value in [
        ("max_connections", 0),
        ("max_request_tokens", -1),
        ("max_query_document_tokens", 0),
        ("max_query_tokens", 0),
        ("header_timeout_s", 0),
        ("body_timeout_s", -1),
        ("keep_alive_timeout_s", 0.5),
        ("max_header_bytes", 0),
        ("allow_raw_prompts", "yes"),
        ("open_health", 1),
        ("api_keys", "one-key-as-a-string"),
        ("api_keys", ("",)),
        ("ssl_certfile", str(tmp_path / "missing.pem")),
    ]:
        with pytest.raises(ValueError, match=field):
            ServerSettings(**{field: value})
    path = tmp_path / "workers.yaml"
    path.write_text("max_connections: 64\nheader_timeout_s: 2.5\napi_keys: [a, b]\nallow_raw_prompts: true\n")
    settings = ServerSettings.from_yaml(path)
    assert settings.max_connections == 64 and settings.header_timeout_s == 2.5
    assert settings.api_keys == ("a", "b") and settings.allow_raw_prompts
    assert ServerSettings().max_query_tokens is None and ServerSettings().open_health
