"""The per-user cache: ``$XDG_CACHE_HOME/rerankrt`` (else ``~/.cache/rerankrt``), entries keyed by content digests.

Entries are derived data (a tokenizer's fast-BPE table, a graph's sizes), each named by the sha256 of what it was
derived from, so a stale entry cannot be found by a changed input. Readers treat an unreadable or corrupt entry as
missing and rebuild it; a cache that cannot be written (read-only home) is skipped with one info line.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("rerankrt")


def cache_dir() -> Path:
    """Where rerankrt caches per-user data: ``$XDG_CACHE_HOME/rerankrt``, else ``~/.cache/rerankrt``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rerankrt"


def read_entry(name: str) -> bytes | None:
    """The bytes of cache entry `name`, or None when there is none (or it cannot be read)."""
    try:
        return (cache_dir() / name).read_bytes()
    except OSError:
        return None


def write_entry(name: str, data: bytes) -> None:
    """Store cache entry `name` atomically (readers see the old entry or the whole new one); skip on failure."""
    target = cache_dir() / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as error:
        log.info("not caching %s in %s: %s", name, target.parent, error)
