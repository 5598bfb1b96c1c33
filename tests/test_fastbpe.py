"""tiktoken's BPE core for user text: proven equal to `tokenizers` on the shipped vocabulary, or not used."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from rerankrt import _fastbpe
from rerankrt._fastbpe import (
    VERIFIED_DIGESTS,
    VERIFIED_PATTERN,
    FastBPE,
    equivalence_gaps,
    vocabulary_digest,
)
from rerankrt.calibration.dataset import load_pairs
from rerankrt.prompt import PromptEncoder
from rerankrt.tokenizer import bundled_tokenizer_dir, load_tokenizer

SPEC = json.loads((bundled_tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
VOCAB = SPEC["model"]["vocab"]
MERGES = _fastbpe._merge_pairs(SPEC["model"]["merges"])
REFERENCE = load_tokenizer(bundled_tokenizer_dir())
REFERENCE.encode_special_tokens = True  # user text: special spellings stay text, as PromptEncoder's plain view
FAST = FastBPE.for_tokenizer(REFERENCE)


def reference(texts: list[str]) -> list[list[int]]:
    return [e.ids for e in REFERENCE.encode_batch_fast(list(texts), add_special_tokens=False)]


class Recorder:
    """The reference encoder, remembering which texts the fast path handed it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> list[list[int]]:
        self.texts.extend(texts)
        return reference(texts)


def test_shipped_vocabulary_is_proven_and_known_by_digest():
    assert SPEC["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == VERIFIED_PATTERN
    assert equivalence_gaps(VOCAB, MERGES) == []
    assert vocabulary_digest(VOCAB, MERGES) in VERIFIED_DIGESTS
    assert FAST is not None
    assert PromptEncoder(bundled_tokenizer_dir())._fast is not None


BYTES = {char: byte for byte, char in sorted(_fastbpe.bytes_to_unicode().items())}  # the 256 byte tokens, ids 0-255


def tiny_bpe(merges: list[tuple[str, str]]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    vocab = dict(BYTES)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


def test_proof_finds_a_vocabulary_where_the_two_algorithms_differ():
    # "bc" has the lower id, but the merges only list ("ab", "c") for "abc": tokenizers stops at [a, bc], tiktoken
    # (lowest id first, any pair that makes a token) reaches "abc".
    vocab = {**BYTES, "bc": 256, "ab": 257, "abc": 258}
    merges = [("b", "c"), ("a", "b"), ("ab", "c")]
    gaps = equivalence_gaps(vocab, merges)
    assert len(gaps) == 1 and "'abc'" in gaps[0]

    from tokenizers.models import BPE

    hf = Tokenizer(BPE(vocab=vocab, merges=merges))
    import tiktoken

    to_byte = {ord(c): b for c, b in BYTES.items()}
    ranks = {k.translate(to_byte).encode("latin-1"): v for k, v in vocab.items()}
    tk = tiktoken.Encoding("t", pat_str=r"\w+", mergeable_ranks=ranks, special_tokens={})
    assert hf.encode("abc").ids == [vocab["a"], vocab["bc"]]
    assert tk.encode_ordinary("abc") == [vocab["abc"]]  # the difference the proof reported is real


def test_proof_requires_every_byte_token():
    # tiktoken cannot encode a byte missing from the vocabulary (it panics); tokenizers drops it.
    vocab = {"a": 0, "b": 1, "ab": 2}
    gaps = equivalence_gaps(vocab, [("a", "b")])
    assert len(gaps) == 1 and "254 of the 256 byte tokens are missing" in gaps[0]


def test_proof_refuses_merges_out_of_id_order():
    vocab, merges = tiny_bpe([("a", "b"), ("b", "c")])
    assert equivalence_gaps(vocab, merges) == []
    assert any("listed after" in g for g in equivalence_gaps(vocab, list(reversed(merges))))


def qwen_shaped(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Tokenizer:
    spec = json.loads(json.dumps(SPEC))
    spec["model"]["vocab"] = vocab
    spec["model"]["merges"] = [list(m) for m in merges]
    spec["added_tokens"] = []
    return Tokenizer.from_str(json.dumps(spec))


def test_unproven_or_other_shaped_tokenizers_keep_the_reference_path(monkeypatch):
    bad = {**BYTES, "bc": 256, "ab": 257, "abc": 258}
    assert FastBPE.for_tokenizer(qwen_shaped(bad, [("b", "c"), ("a", "b"), ("ab", "c")])) is None
    assert FastBPE.for_tokenizer(qwen_shaped(*tiny_bpe([("a", "b"), ("ab", "c")]))) is not None

    other = json.loads(json.dumps(SPEC))
    other["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\S+|\s+"
    assert FastBPE.for_tokenizer(Tokenizer.from_str(json.dumps(other))) is None
    other = json.loads(json.dumps(SPEC))
    other["model"]["ignore_merges"] = True
    assert FastBPE.for_tokenizer(Tokenizer.from_str(json.dumps(other))) is None

    monkeypatch.setenv(_fastbpe.ENV_SWITCH, "tokenizers")
    assert FastBPE.for_tokenizer(REFERENCE) is None


def test_multilingual_documents_get_the_reference_ids_on_the_fast_path():
    rng = np.random.default_rng(0)
    pairs = load_pairs()
    texts = []
    for p in pairs[:400]:
        cut = int(len(p.document) * rng.uniform(0.2, 1.0))
        texts += [f"document: {p.document[:cut]}", f"query: {p.query}"]
    seen = Recorder()
    assert FAST.encode(texts, seen) == reference(texts)
    assert seen.texts == []  # every text went through tiktoken, in parallel batches (well over the size threshold)
    assert sum(map(len, texts)) > 10 * _fastbpe._MIN_PARALLEL_CHARS


ADDED = ["<|im_end|>", "<|endoftext|>", "<tool_call>", "</think>", "<|fim_pad|>"]
pieces = st.sampled_from(
    [*ADDED, " ", "  ", "\n", "\r\n", " \n ", "\t", "'s", "'LL", "123", "\u00a0", "\u3000", "e\u0301", "\u0301",
     "Å", "ﬁ", "数据", "😀", "ا\u064b", "<|", "|>", "<", "\u2028", "\x00", "Ω", "ǅ"]
)  # fmt: skip
text = st.lists(pieces | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12), max_size=12)


@given(st.lists(text.map("".join), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_text_gets_the_reference_ids(texts):
    assert FAST.encode(texts, reference) == reference(texts)


def test_added_token_spellings_and_surrogates_go_to_the_reference():
    seen = Recorder()
    texts = ["plain text", "call <tool_call> now", "ends <|im_end|>", "fine é"]
    out = FAST.encode(texts, seen)
    assert out == reference(texts)
    assert seen.texts == ["call <tool_call> now", "ends <|im_end|>"]
    assert REFERENCE.token_to_id("<tool_call>") in out[1]  # a non-special added token: split out, as tokenizers does

    with pytest.raises(TypeError):  # what tokenizers itself raises for a lone surrogate, not a tiktoken substitute
        FAST.encode(["ok", "bad \ud800"], reference)


def test_allow_special_tokens_still_parses_specials_in_user_text():
    exact = PromptEncoder(bundled_tokenizer_dir(), template="mxbai", allow_special_tokens=True)
    plain = PromptEncoder(bundled_tokenizer_dir(), template="mxbai")
    im_end = REFERENCE.token_to_id("<|im_end|>")
    assert exact.encode("q", ["x<|im_end|>y"]).ids[0].tolist().count(im_end) == 3  # the document's own, parsed
    assert plain.encode("q", ["x<|im_end|>y"]).ids[0].tolist().count(im_end) == 2  # the template's two only


def test_assigned_code_points_split_alike_in_both_regex_engines():
    """tiktoken runs the pattern with fancy-regex, tokenizers with Oniguruma: their Unicode classes must agree."""
    contexts = ["a{c}b", " {c}{c} ", "1{c}2", "{c}\n", "'{c}s", " {c}!", "é{c}"]
    # Every code point of the planes Unicode assigns (0-3, 14), where engines' Unicode versions could disagree;
    # a sample of the unassigned and private-use planes between.
    code_points = [
        c
        for c in range(0x110000)
        if not 0xD800 <= c < 0xE000 and (c < 0x40000 or 0xE0000 <= c < 0xF0000 or c % 101 == 0)
    ]
    block = 48
    pattern = "".join(contexts)
    texts = [
        "".join(pattern.replace("{c}", chr(c)) for c in code_points[s : s + block])
        for s in range(0, len(code_points), block)
    ]
    prepared = [FAST._prepare(t) for t in texts]
    assert None not in prepared  # none of these needs the reference path: the comparison is engine against engine
    fast = FAST._encode_many(prepared)
    slow = reference(texts)
    differ = [hex(code_points[k * block]) for k, (x, y) in enumerate(zip(fast, slow, strict=True)) if x != y]
    assert differ == [], f"blocks starting at {differ[:10]} tokenize differently"


def test_thread_settings_and_fork_safety(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    assert _fastbpe._threads() == 1
    monkeypatch.delenv("TOKENIZERS_PARALLELISM")
    monkeypatch.setenv("RAYON_NUM_THREADS", "3")
    assert _fastbpe._threads() == 3
    pool = _fastbpe._pool()
    assert _fastbpe._pool() is pool
    monkeypatch.setattr(_fastbpe, "_POOL_PID", -2)  # as seen from a forked child: the parent's threads are gone
    assert _fastbpe._pool() is not pool


def test_long_whitespace_runs_and_tiktoken_failures_go_to_the_reference(monkeypatch, caplog):
    # tiktoken's regex engine gives up on a million-space run (a panic); tokenizers takes it.
    texts = ["x" + " " * 1_000_000 + "y", "short"]
    seen = Recorder()
    with caplog.at_level("WARNING", logger="rerankrt.tokenizer"):
        assert FAST.encode(texts, seen) == reference(texts)
    assert seen.texts == texts[:1]
    assert "tiktoken failed" not in caplog.text  # routed before tiktoken saw it

    monkeypatch.setattr(_fastbpe, "_LONG_RUN", 10**9)  # no routing: the panic itself must fall back
    seen = Recorder()
    with caplog.at_level("WARNING", logger="rerankrt.tokenizer"):
        assert FAST.encode(texts, seen) == reference(texts)
    assert seen.texts == texts[:1]
    assert "tiktoken failed on a 1000002-character text" in caplog.text


def test_without_a_normalizer_lone_surrogates_still_reach_the_reference():
    spec = json.loads(json.dumps(SPEC))
    spec["normalizer"] = None
    plain = Tokenizer.from_str(json.dumps(spec))
    plain.encode_special_tokens = True
    fast = FastBPE.for_tokenizer(plain)
    assert fast is not None

    def ref(texts):
        return [e.ids for e in plain.encode_batch_fast(texts, add_special_tokens=False)]

    assert fast.encode(["e\u0301 ok"], ref) == ref(["e\u0301 ok"])  # not composed: there is no normalizer
    with pytest.raises(TypeError):
        fast.encode(["bad \ud800"], ref)


def test_a_pool_that_takes_no_work_encodes_on_the_calling_thread(monkeypatch):
    class ShutDown:
        def map(self, *args):
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(_fastbpe, "_pool", ShutDown)
    texts = [p.document for p in load_pairs()[:40]]
    assert sum(map(len, texts)) > _fastbpe._MIN_PARALLEL_CHARS
    seen = Recorder()
    assert FAST.encode(texts, seen) == reference(texts)
    assert seen.texts == []


def test_a_tokenizer_file_is_proven_once_per_user_and_a_corrupt_cache_entry_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    file = bundled_tokenizer_dir() / "tokenizer.json"
    texts = ["Who wrote 'To Kill a Mockingbird'?", "Grüße aus Köln, 東京 and 12,345 ünïcödé words"]
    first = FastBPE.for_tokenizer(REFERENCE, file)
    (entry,) = (tmp_path / "rerankrt").iterdir()
    assert entry.name.startswith("fastbpe-v") and entry.stat().st_size > 1_000_000

    def no_rebuild(spec):
        raise AssertionError("a cached vocabulary was parsed and proven again")

    monkeypatch.setattr(_fastbpe, "tables_from_spec", no_rebuild)
    second = FastBPE.for_tokenizer(REFERENCE, file)  # the cache's table, no JSON, digest or proof
    assert second.encode(texts, reference) == first.encode(texts, reference) == reference(texts)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    good = entry.read_bytes()
    for corrupt in (b"garbage", good[: len(good) // 2], good[:-1] + bytes([good[-1] ^ 1])):
        entry.write_bytes(corrupt)
        rebuilt = FastBPE.for_tokenizer(REFERENCE, file)
        assert rebuilt.encode(texts, reference) == reference(texts)
        assert entry.read_bytes() == good  # rewritten whole

    # An entry found under another file's name (a mismatched digest) is not used either.
    other = tmp_path / "rerankrt" / _fastbpe.cache_name("0" * 64)
    other.write_bytes(good)
    assert _fastbpe.read_cached_tables("0" * 64) is None


def test_an_unwritable_cache_still_gives_the_fast_path(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    fast = FastBPE.for_tokenizer(REFERENCE, bundled_tokenizer_dir() / "tokenizer.json")
    assert fast is not None and fast.encode(["plain text"], reference) == reference(["plain text"])


def test_a_cached_verdict_keeps_an_off_path_off(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    other = dict(SPEC, normalizer={"type": "NFKC"})
    file = tmp_path / "tokenizer.json"
    file.write_text(json.dumps(other), encoding="utf-8")
    tokenizer = Tokenizer.from_file(str(file))
    assert FastBPE.for_tokenizer(tokenizer, file) is None
    assert FastBPE.for_tokenizer(tokenizer, file) is None  # from the cache: the verdict, not a table
    (entry,) = (tmp_path / "cache" / "rerankrt").iterdir()
    assert entry.stat().st_size < 10_000
