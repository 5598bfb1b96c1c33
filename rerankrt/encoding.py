"""Templated pairs to token ids: `PromptEncoder`, its result `Encoded`, `TruncationError`, and the document caps.

The templates, token spellings and what ``max_length`` means for each are `rerankrt.prompt`'s (the model's
semantics); this module turns them into token ids, token for token, batched through the fast tokenizer.
`rerankrt.prompt` re-exports `PromptEncoder`, `Encoded` and `TruncationError`, so either import works.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rerankrt.prompt import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL_MAX_LENGTH,
    DEFAULT_TEMPLATE,
    MXBAI_PREFIX,
    MXBAI_SEP,
    MXBAI_SUFFIX,
    NO_TOKEN,
    SEED_PREFIX,
    SEED_SUFFIX,
    TASK_PROMPT,
    TEMPLATES,
    YES_TOKEN,
)
from rerankrt.tokenizer import fast_bpe, special_ids, special_view, tokenizer_views


class TruncationError(ValueError):
    """A pair does not fit max_length and truncation is off."""


@dataclass(frozen=True)
class Encoded:
    """Token ids of templated pairs.

    Attributes:
        ids: One int64 array per pair, template included.
        truncated: bool [n], whether each pair lost query or document tokens to max_length.
        cut: bool [n], whether each pair's document was cut to ``max_tokens_per_doc``. Defaults to all False.
    """

    ids: list[np.ndarray]
    truncated: np.ndarray
    cut: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.cut is None:
            object.__setattr__(self, "cut", np.zeros(len(self.ids), dtype=bool))

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    def __len__(self) -> int:
        return len(self.ids)


def _as_list(name: str, value, n: int) -> list[str]:
    if value is None:
        return [""] * n
    if isinstance(value, str):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} pairs")
    return values


def _check_strings(name: str, values: Sequence[str]) -> None:
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(v).__name__}")


class PromptEncoder:
    """Templated pairs to token ids, batched through the fast tokenizer.

    The static pieces of the template are tokenized once; user text goes through one batch call per piece kind, in
    tiktoken's BPE core where it is proven to give `tokenizers`' ids (rerankrt/_fastbpe.py), else ``encode_batch``.
    By default user text cannot spell control tokens (``<|im_end|>`` in a document stays plain text);
    ``allow_special_tokens=True`` parses them as the model card's string template and the reference library do.

    Args:
        tokenizer: A `tokenizers.Tokenizer`, or a folder holding tokenizer.json.
        template: "seed" or "mxbai". Defaults to "seed".
        max_length: Token cap, as the template defines it (see the module docstring). Defaults to 8192.
        model_max_length: The model's position limit. Defaults to 32768.
        allow_special_tokens: Parse special-token spellings in user text. Defaults to False.
    """

    def __init__(
        self,
        tokenizer,
        *,
        template: str = DEFAULT_TEMPLATE,
        max_length: int = DEFAULT_MAX_LENGTH,
        model_max_length: int = DEFAULT_MODEL_MAX_LENGTH,
        allow_special_tokens: bool = False,
    ) -> None:
        if template not in TEMPLATES:
            raise ValueError(f"template must be one of {TEMPLATES}, got {template!r}")
        if not isinstance(tokenizer, str | Path) and not hasattr(tokenizer, "encode_batch"):
            raise TypeError("tokenizer must be a tokenizers.Tokenizer or a folder with tokenizer.json")
        self.template = template
        self.allow_special_tokens = allow_special_tokens
        self.model_max_length = int(model_max_length)
        # Two views of one vocabulary: static pieces parse special tokens, user text may not.
        self._key, self._plain, self._specials = tokenizer_views(tokenizer)
        self._user = self._static if allow_special_tokens else self._plain
        self._fast = fast_bpe(self._key)  # tiktoken's BPE where proven to give the same ids (rerankrt/_fastbpe.py)

        self.yes_id = self._single_token(YES_TOKEN)
        self.no_id = self._single_token(NO_TOKEN)
        self.pad_id = self._special_id("<|endoftext|>")

        if template == "seed":
            self._pre = self._static_ids(SEED_PREFIX)
            self._suf = self._static_ids(SEED_SUFFIX)
            # Truncation path pieces: "user\n" + Q + " \n" + D + " \n" + task, then the suffix.
            self._head = np.concatenate([self._pre, self._static_ids("user\n")])
            self._mid = self._static_ids(" \n")
            self._tail = np.concatenate([self._static_ids(" \n" + TASK_PROMPT), self._suf])
            self.static_length = len(self._head) + len(self._mid) + len(self._tail)
            if max_length > self.model_max_length:
                raise ValueError(f"max_length={max_length} exceeds the model's {self.model_max_length} positions")
            if max_length < self.static_length:
                raise ValueError(
                    f"max_length={max_length} cannot hold the seed template's {self.static_length} static tokens; "
                    f"use max_length >= {self.static_length}"
                )
            self.max_length = int(max_length)
            self.max_sequence_length = self.max_length
        else:
            self._pre = self._static_ids(MXBAI_PREFIX)
            self._sep = self._static_ids(MXBAI_SEP)
            self._task = self._static_ids(TASK_PROMPT)
            self._suf = self._static_ids(MXBAI_SUFFIX)
            self._tail = np.concatenate([self._sep, self._task, self._suf])
            # As the reference's `predefined_length`: prefix + task + suffix + one separator.
            self.static_length = len(self._pre) + len(self._task) + len(self._suf) + len(self._sep)
            if max_length < 4:
                raise ValueError(f"max_length={max_length} is too small for the mxbai template; use at least 4")
            if max_length + self.static_length > self.model_max_length:
                max_length = self.model_max_length - self.static_length
            self.max_length = int(max_length)
            self.max_sequence_length = self.max_length + self.static_length

    # -- token ids -----------------------------------------------------------------------------------------------

    def _single_token(self, text: str) -> int:
        ids = self._plain.encode(text, add_special_tokens=False).ids
        if len(ids) != 1:
            raise ValueError(f"{text!r} must be a single token for the score, the tokenizer gives {ids}")
        return int(ids[0])

    def _special_id(self, text: str) -> int:
        tid = self._plain.token_to_id(text)
        if tid is None:
            raise ValueError(f"the tokenizer has no {text!r} token; it is not a Qwen tokenizer")
        return int(tid)

    @property
    def static_tokenizer(self):
        """The tokenizer as HF runs it: special-token spellings parsed (for caller-formatted prompts)."""
        return self._static

    @property
    def user_tokenizer(self):
        """The tokenizer this encoder runs user text through (plain text unless allow_special_tokens)."""
        return self._user

    @property
    def _static(self):
        """A view that parses special-token spellings, as HF tokenizers do; loaded on first use (~1 s)."""
        return special_view(self._key)

    def _static_ids(self, text: str) -> np.ndarray:
        # Special tokens are hard boundaries for the tokenizer, so the template's text between them can go through
        # the plain view: the same ids as the special-parsing view, without loading a second tokenizer.
        ids: list[int] = []
        for piece in self._specials.split(text):
            if piece in self._special_ids:
                ids.append(self._special_ids[piece])
            elif piece:
                ids.extend(self._plain.encode(piece, add_special_tokens=False).ids)
        return np.asarray(ids, dtype=np.int64)

    @property
    def _special_ids(self) -> dict[str, int]:
        return special_ids(self._key)

    def _encode_user(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        if self._fast is not None:
            return self._fast.encode(texts, self._encode_reference)
        return self._encode_reference(texts)

    def _encode_reference(self, texts: list[str]) -> list[list[int]]:
        encode = getattr(self._user, "encode_batch_fast", self._user.encode_batch)
        return [e.ids for e in encode(texts, add_special_tokens=False)]

    # -- public --------------------------------------------------------------------------------------------------

    def encode(
        self,
        queries: Sequence[str] | str,
        documents: Sequence[str],
        instructions: Sequence[str] | str | None = None,
        *,
        truncate: bool = True,
        max_tokens_per_doc: int | None = None,
        first_index: int = 0,
        truncation_direction: str = "right",
    ) -> Encoded:
        """Token ids for each (query, document, instruction) pair.

        Args:
            queries: One query for all documents, or one per document.
            documents: The documents.
            instructions: None, one instruction for all, or one per pair. Defaults to None.
            truncate: Cut over-long pairs as the template says; False makes them a TruncationError naming the pair.
            max_tokens_per_doc: Keep at most this many tokens of each document, counted as the pair tokenizes it (the
                template's own cap still applies after it); the same tokenization builds the pair, so a document is
                tokenized once. With ``truncate=False`` a longer document is a TruncationError. Defaults to None.
            first_index: The first pair's index in the caller's request, for that name. Defaults to 0.
            truncation_direction: Which end of a document a cut removes: "right" (its end, the default) or "left"
                (its start, TEI's ``Left``). Either way the template, the ``document:`` label and the end of the
                prompt are kept; only document tokens go.

        Returns:
            Encoded ids, truncation and cut flags, in input order.
        """
        documents = list(documents)
        n = len(documents)
        queries = _as_list("queries", queries, n)
        instructions = _as_list("instructions", instructions, n)
        _check_strings("documents", documents)
        _check_strings("queries", queries)
        _check_strings("instructions", instructions)
        if max_tokens_per_doc is not None and (
            isinstance(max_tokens_per_doc, bool) or not isinstance(max_tokens_per_doc, int) or max_tokens_per_doc < 1
        ):
            raise ValueError(f"max_tokens_per_doc must be a positive int or None, got {max_tokens_per_doc!r}")
        if n == 0:
            return Encoded([], np.zeros(0, dtype=bool))
        direction = str(truncation_direction).lower()
        if direction not in ("right", "left"):
            raise ValueError(f"truncation_direction must be 'right' or 'left', got {truncation_direction!r}")
        cap = _DocCap(max_tokens_per_doc, documents, truncate, left=direction == "left", first_index=first_index)
        if self.template == "seed":
            out = self._encode_seed(queries, documents, instructions, cap)
        else:
            out = self._encode_mxbai(queries, documents, instructions, cap)
        if not truncate and out.truncated.any():
            i = int(np.flatnonzero(out.truncated)[0])
            raise TruncationError(
                f"pair {first_index + i} needs more than max_length={self.max_length} tokens "
                f"({self.template} template) and truncate=False"
            )
        return out

    def _encode_pieces(self, texts: list[str], starts: list[int], cap: _DocCap) -> list[list[int]]:
        """User-text pieces to ids, each holding its row's document at ``starts[k]``, that document capped.

        Rows whose document may pass the cap go through the tokenizer that reports offsets (to find the document's
        tokens); the rest take the fast path. Either way each piece is tokenized once.
        """
        rows = cap.rows
        out: list[list[int]] = [None] * len(texts)  # type: ignore[list-item]
        plain = [k for k in range(len(texts)) if k not in rows]
        for k, ids in zip(plain, self._encode_user([texts[k] for k in plain]), strict=True):
            out[k] = ids
        checked = sorted(rows)
        encodings = self._user.encode_batch([texts[k] for k in checked], add_special_tokens=False) if checked else []
        for k, enc in zip(checked, encodings, strict=True):
            start, stop = starts[k], starts[k] + len(cap.documents[k])
            offsets = enc.offsets
            first = next((j for j, (_, end) in enumerate(offsets) if end > start), len(offsets))
            last = next((j for j in range(first, len(offsets)) if offsets[j][0] >= stop), len(offsets))
            out[k] = cap.apply(k, list(enc.ids), first, last - first)
        return out

    def _encode_seed(self, queries: list[str], documents: list[str], instructions: list[str], cap: _DocCap) -> Encoded:
        for i, ins in enumerate(instructions):
            if "\n" in ins:
                raise ValueError(f"instructions[{i}] must be a single line: the seed template forbids newlines")
        lines = [f"instruction: {ins}\n" if ins else "" for ins in instructions]
        heads = [f"user\n{line}query: {q} \ndocument: " for line, q in zip(lines, queries, strict=True)]
        user = [f"{h}{d} \n{TASK_PROMPT}" for h, d in zip(heads, documents, strict=True)]
        body = self._encode_pieces(user, [len(h) for h in heads], cap)
        fixed = len(self._pre) + len(self._suf)
        ids: list[np.ndarray] = [None] * len(body)  # type: ignore[list-item]
        long_rows = []
        for i, u in enumerate(body):
            if cap.cut[i]:  # the document's kept tokens, then the template's own end (task line, assistant turn)
                row = np.concatenate([self._pre, np.asarray(u, dtype=np.int64), self._tail])
                if len(row) <= self.max_length:
                    ids[i] = row
                else:
                    long_rows.append(i)
            elif len(u) + fixed <= self.max_length:
                ids[i] = _join(self._pre, u, len(u), self._suf)
            else:
                long_rows.append(i)
        truncated = np.zeros(len(body), dtype=bool)
        if long_rows:
            q_ids = self._encode_user([f"{lines[i]}query: {queries[i]}" for i in long_rows])
            d_ids = self._encode_pieces(
                [f"document: {documents[i]}" for i in long_rows],
                [len("document: ")] * len(long_rows),
                cap.sub(long_rows),
            )
            budget = self.max_length - self.static_length
            for i, q, d in zip(long_rows, q_ids, d_ids, strict=True):
                q_keep, d_keep = _split_budget(len(q), len(d), budget)
                kept = self._keep_left(d, d_keep) if cap.left else d[:d_keep]
                ids[i] = np.concatenate([self._head, q[:q_keep], self._mid, kept, self._tail]).astype(np.int64)
                truncated[i] = q_keep < len(q) or d_keep < len(d)
        return Encoded(ids, truncated, cap.cut)

    def _encode_mxbai(self, queries: list[str], documents: list[str], instructions: list[str], cap: _DocCap) -> Encoded:
        # Each distinct (instruction, query) is tokenized once: a rank call shares one query over many documents.
        prompts = [
            f"instruction: {ins}{MXBAI_SEP}query: {q}" if ins else f"query: {q}"
            for q, ins in zip(queries, instructions, strict=True)
        ]
        unique = list(dict.fromkeys(prompts))
        q_unique = dict(zip(unique, self._encode_user(unique), strict=True))
        d_all = self._encode_pieces([f"document: {d}" for d in documents], [len("document: ")] * len(documents), cap)
        q_cap = self.max_length * 3 // 4
        sep = len(self._sep)
        heads = {}  # prompt -> (prefix + query ids cut to q_cap + separator, query was cut, most document tokens)
        for p, q in q_unique.items():
            q_len = min(len(q), q_cap)
            # The reference cuts the document to what the model has room for, then tokenizers' "only_second"
            # truncation cuts separator + document to max_length (the query is at most 3/4 of max_length, so the
            # separator always fits).
            limit = min(self.model_max_length - q_len - self.static_length, self.max_length - q_len - sep)
            limit = max(limit, 0)
            head = np.concatenate([self._pre, np.asarray(q[:q_cap], dtype=np.int64), self._sep])
            heads[p] = (head, len(q) > q_cap, limit)
        ids, truncated = [], np.zeros(len(documents), dtype=bool)
        tail = self._tail
        for i, (p, d) in enumerate(zip(prompts, d_all, strict=True)):
            head, cut, limit = heads[p]
            n = len(d)
            if cut or n > limit:
                truncated[i] = True
            if n > limit and cap.left:
                d, n = self._keep_left(d, limit), limit
            ids.append(_join(head, d, n if n <= limit else limit, tail))
        return Encoded(ids, truncated, cap.cut)

    def _keep_left(self, d: list[int], keep: int) -> list[int]:
        """`keep` tokens of a ``document: ...`` piece, cut at its start: the label, then the document's last tokens."""
        label = self._label
        n = len(label) if keep > len(label) and d[: len(label)] == label else 0
        return d[:n] + d[len(d) - (keep - n) :] if keep > n else d[:keep]

    @functools.cached_property
    def _label(self) -> list[int]:
        return self._static_ids("document:").tolist()

    # -- caller-formatted prompts --------------------------------------------------------------------------------

    def raw_ids(self, inputs: Sequence[Sequence[str]], *, truncate: bool = True) -> tuple[list[np.ndarray], int]:
        """Token ids of caller-formatted prompts, special tokens parsed (as HF's tokenizer, add_special_tokens=False).

        An input of two strings is the concatenation of their ids (HF's, for a tokenizer without a pair template).
        A prompt longer than `max_sequence_length` is cut in its middle by `cut_prompt`.

        Args:
            inputs: Each input a list of one or two strings.
            truncate: Cut over-long prompts; False makes them a TruncationError. Defaults to True.

        Returns:
            (ids, how many prompts were cut).

        Raises:
            ValueError: For an input with no tokens, naming it.
            TruncationError: For an over-long prompt with truncate=False, or one that cannot be cut.
        """
        texts = [t for item in inputs for t in item]
        encodings = self._static.encode_batch(texts, add_special_tokens=False) if texts else []
        limit = self.max_sequence_length
        ids, k, cut = [], 0, 0
        for i, item in enumerate(inputs):
            row = np.asarray([t for enc in encodings[k : k + len(item)] for t in enc.ids], dtype=np.int64)
            k += len(item)
            if row.size == 0:
                raise ValueError(f"inputs[{i}] is empty: it has no tokens to score")
            if row.size > limit:
                if not truncate:
                    raise TruncationError(
                        f"inputs[{i}] has {row.size} tokens, more than the engine's {limit}, and truncate is false"
                    )
                row = self.cut_prompt(row, limit, name=f"inputs[{i}]")
                cut += 1
            ids.append(row)
        return ids, cut

    def cut_prompt(self, row: np.ndarray, limit: int, *, name: str = "the prompt") -> np.ndarray:
        """A caller-formatted prompt's ids cut to `limit` in the middle, its protected end kept.

        The protected end is the task line and the assistant turn the score is read after (and the separator token
        before them): a prompt that ends with it can lose its document's end and keep its meaning.

        Raises:
            TruncationError: When the prompt does not end with that tail, or `limit` cannot hold it.
        """
        tail = self._raw_tail
        keep_tail = len(tail) + 1
        if len(row) < keep_tail or not np.array_equal(row[-len(tail) :], tail) or limit <= keep_tail:
            raise TruncationError(
                f"{name} has {len(row)} tokens, more than the engine's {limit}, and does not end with the model "
                "card's task line and assistant turn, so it cannot be truncated without cutting the tokens the score "
                "is read from; shorten it"
            )
        return np.concatenate([row[: limit - keep_tail], row[-keep_tail:]])

    @functools.cached_property
    def _raw_tail(self) -> np.ndarray:
        return self._static_ids(TASK_PROMPT + SEED_SUFFIX)


class _DocCap:
    """A per-document token cap over one `PromptEncoder.encode` call: which rows to check, which were cut.

    Args:
        limit: Tokens kept per document, or None for no cap.
        documents: The call's documents.
        truncate: Cut longer documents; False raises TruncationError instead.
        left: Keep a document's last tokens instead of its first. Defaults to False.
    """

    def __init__(
        self, limit: int | None, documents: list[str], truncate: bool, *, left: bool = False, first_index: int = 0
    ) -> None:
        self.limit = limit
        self.first_index = first_index  # the first row's index in the caller's request, for error messages
        self.documents = documents
        self.truncate = truncate
        self.left = left
        self.cut = np.zeros(len(documents), dtype=bool)
        self._index = list(range(len(documents)))  # row here -> row of the call
        # A token covers at least one UTF-8 byte after NFC normalization, which at most triples a text: documents
        # under a third of the cap in bytes cannot pass it and keep the fast path.
        self.rows = set() if limit is None else {i for i, d in enumerate(documents) if 3 * len(d.encode()) > limit}

    def apply(self, k: int, ids: list[int], first: int, count: int) -> list[int]:
        """Row `k`'s ids, whose document holds `count` tokens from `first`, cut after the cap's last one."""
        if count <= self.limit:
            return ids
        i = self._index[k]
        if not self.truncate:
            raise TruncationError(
                f"documents[{self.first_index + i}] has {count} tokens, more than max_tokens_per_doc={self.limit}, "
                "and truncate is false"
            )
        self.cut[i] = True
        if self.left:  # the tokens after the document are dropped either way: the template's own end replaces them
            return ids[:first] + ids[first + count - self.limit : first + count]
        return ids[: first + self.limit]

    def sub(self, rows: list[int]) -> _DocCap:
        """The same cap over a subset of the rows (sharing the cut flags)."""
        child = _DocCap(
            None, [self.documents[i] for i in rows], self.truncate, left=self.left, first_index=self.first_index
        )
        child.limit, child.cut = self.limit, self.cut
        child._index = [self._index[i] for i in rows]
        child.rows = {k for k, i in enumerate(rows) if i in self.rows}
        return child


def _join(head: np.ndarray, body: list[int], n: int, tail: np.ndarray) -> np.ndarray:
    """head + body[:n] + tail as one int64 array, written in place (the hot path: one allocation per pair)."""
    out = np.empty(len(head) + n + len(tail), dtype=np.int64)
    out[: len(head)] = head
    out[len(head) : len(head) + n] = body if n == len(body) else body[:n]
    out[len(head) + n :] = tail
    return out


def _split_budget(q_len: int, d_len: int, budget: int) -> tuple[int, int]:
    """Tokens kept of query and document under `budget`: the document is cut first, the query beyond 3/4."""
    if q_len + d_len <= budget:
        return q_len, d_len
    q_keep = min(q_len, max(budget * 3 // 4, budget - d_len))
    return q_keep, min(d_len, budget - q_keep)
