"""What the HTTP layer accepts and how it runs: `ServerSettings`, validated on creation, loadable from YAML."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

logger = logging.getLogger("rerankrt.server")


def _reranker_options() -> tuple[str, ...]:
    """What a workers config may pass to `Reranker.load`: scheduler knobs, backend limits and options, prompt cap.

    The runtime owns the list; this is the one place the server reads it.
    """
    from rerankrt.runtime.reranker import Reranker

    return tuple(sorted(Reranker.OPTIONS))


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """What the HTTP layer accepts and how it runs; validated on creation.

    Attributes:
        model_name: The name the server reports (``model`` in /v1/rerank, /info). Defaults to the engine's model.
        max_documents: Most documents per rerank request and most inputs per /predict batch. Defaults to 1000.
        max_body_bytes: Largest request body, in bytes. Defaults to 8 MiB.
        max_tokens_per_doc: Server cap on tokens per document; longer documents are cut to it (or refused with 413
            under ``truncate: false``). A request's ``max_tokens_per_doc`` may lower it, never raise it. Defaults to
            None: only the engine's max_length applies.
        truncate: What a request's ``truncate: null`` means. Defaults to True.
        request_timeout_s: Longest a request may take before a 504. Defaults to 60.
        retry_after_s: The ``Retry-After`` seconds sent with a 429. Defaults to 1.
        graceful_shutdown_s: How long shutdown waits for in-flight requests. Defaults to 30.
        log_level: Level of rerankrt's and uvicorn's JSON logs. Defaults to "info".
        reranker_options: Keyword options for `Reranker.load` (scheduler knobs such as the queue limit), as read from
            a workers config. Defaults to none.
        max_query_tokens: Most tokens in a request's query line (instruction + query); more is a 413. Defaults to
            None: 3/4 of the engine's max_length, the share mxbai-rerank gives the query.
        max_request_tokens: Most tokens of a request's templated pairs, counted after tokenization and before any
            scoring; more is a 413. Defaults to 1,048,576.
        max_query_document_tokens: Most query tokens times documents per request (the query is repeated in every
            pair), checked before the documents are tokenized; more is a 413. Defaults to 262,144.
        allow_raw_prompts: Let /predict score prompts that do not follow the model card's template, tokenized as
            given (their text may then spell control tokens). Defaults to False: such prompts are a 422.
        max_connections: Most open connections; one more is answered 503 and closed. Defaults to 512.
        header_timeout_s: Longest a connection may take to send a request's headers (from its first byte, or from
            connecting); then it is answered 408 and closed. Defaults to 10.
        body_timeout_s: Longest a request may take to send its body once its headers are in; then 408 and closed.
            Defaults to 30.
        keep_alive_timeout_s: How long an idle keep-alive connection stays open. Defaults to 5.
        max_header_bytes: Largest request line plus headers; more is a 400. Defaults to 16 KiB.
        api_keys: Keys accepted as ``Authorization: Bearer <key>``; none means no auth. Defaults to none.
        open_health: Answer /health without a key (for probes). Defaults to True. /metrics, /info and /docs need
            the key when keys are set.
        ssl_certfile: TLS certificate (PEM); with it the server speaks HTTPS only. Defaults to None.
        ssl_keyfile: TLS private key (PEM), when not inside the certificate file. Defaults to None.
    """

    model_name: str | None = None
    max_documents: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024
    max_tokens_per_doc: int | None = None
    truncate: bool = True
    request_timeout_s: float = 60.0
    retry_after_s: int = 1
    graceful_shutdown_s: float = 30.0
    log_level: str = "info"
    reranker_options: Mapping[str, Any] = field(default_factory=dict)
    max_query_tokens: int | None = None
    max_request_tokens: int = 1_048_576
    max_query_document_tokens: int = 262_144
    allow_raw_prompts: bool = False
    max_connections: int = 512
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_timeout_s: float = 5.0
    max_header_bytes: int = 16 * 1024
    api_keys: tuple[str, ...] = ()
    open_health: bool = True
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def __post_init__(self) -> None:
        def positive_int(name: str, value) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServerSettings.{name} must be a positive int, got {value!r}")

        positive_int("max_documents", self.max_documents)
        positive_int("max_body_bytes", self.max_body_bytes)
        positive_int("retry_after_s", self.retry_after_s)
        for name in ("max_request_tokens", "max_query_document_tokens", "max_connections", "max_header_bytes"):
            positive_int(name, getattr(self, name))
        for name in ("max_tokens_per_doc", "max_query_tokens"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        self._check_security()
        for name in ("request_timeout_s", "graceful_shutdown_s", "header_timeout_s", "body_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"ServerSettings.{name} must be a positive number of seconds, got {value!r}")
        value = self.keep_alive_timeout_s
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
            raise ValueError(f"ServerSettings.keep_alive_timeout_s must be at least 1 second, got {value!r}")
        for name in ("truncate", "allow_raw_prompts", "open_health"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ServerSettings.{name} must be true or false, got {getattr(self, name)!r}")
        if self.model_name is not None and (not isinstance(self.model_name, str) or not self.model_name):
            raise ValueError(f"ServerSettings.model_name must be a non-empty string, got {self.model_name!r}")
        if str(self.log_level).lower() not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError(
                f"ServerSettings.log_level must be one of critical/error/warning/info/debug, got {self.log_level!r}"
            )
        if not isinstance(self.reranker_options, Mapping):
            raise ValueError("ServerSettings.reranker_options must be a mapping of Reranker.load options")
        known = _reranker_options()
        unknown = sorted(set(self.reranker_options) - set(known))
        if unknown:
            raise ValueError(f"unknown Reranker.load option(s) {unknown}; known: {list(known)}")
        object.__setattr__(self, "reranker_options", MappingProxyType(dict(self.reranker_options)))

    def _check_security(self) -> None:
        keys = self.api_keys
        if isinstance(keys, str) or not all(isinstance(k, str) and k.strip() for k in keys or ()):
            raise ValueError("ServerSettings.api_keys must be a list of non-empty strings")
        object.__setattr__(self, "api_keys", tuple(k.strip() for k in keys or ()))
        for name in ("ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, str | Path) or not Path(value).is_file():
                    raise ValueError(f"ServerSettings.{name} must be an existing file, got {value!r}")
                object.__setattr__(self, name, str(value))
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ServerSettings.ssl_keyfile needs ssl_certfile")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> ServerSettings:
        """Settings from a YAML file (``rerankrt serve --workers-config``), then `overrides` on top.

        The file maps the fields above; a ``reranker:`` (or ``scheduler:``) mapping holds the `Reranker.load`
        options (``max_pending_pairs``, ``max_batch_size``, ``threads``, ...). The fields may also sit under a
        ``server:`` mapping. Unknown keys are an error naming them. Example::

            max_documents: 1000
            max_tokens_per_doc: 4096
            request_timeout_s: 30
            reranker:
              max_pending_pairs: 8192

        Args:
            path: The YAML file.
            **overrides: Fields that win over the file (the command line's flags); None values are ignored.

        Raises:
            ValueError: Naming the file and the key that is wrong.
        """
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read the workers config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of server settings, got {type(data).__name__}")
        data = dict(data)
        if isinstance(data.get("server"), dict):
            data = {**data.pop("server"), **data}
        options = dict(data.get("reranker_options") or {})
        for section in ("reranker", "scheduler"):
            value = data.pop(section, None) or {}
            if not isinstance(value, dict):
                raise ValueError(f"{path}: {section} must be a mapping of Reranker.load options")
            options.update(value)
        data["reranker_options"] = options
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown server settings {unknown}; known: {sorted(known)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc


__all__ = ["ServerSettings"]
