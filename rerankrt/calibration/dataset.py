"""Query-document pairs for FP8 calibration and accuracy gating: JSONL file -> list of `Pair`.

The shipped set (`SHIPPED_PATH`) was generated for this project by the repository's ``tools/make_pairs.py`` from
the hand-written text in ``tools/calibration_text/`` (neither ships in the wheel): queries and passages in several
languages, with relevance labels, per-query groups and a fixed calibration/held-out split
by group. A user file has the same format; only ``query`` and ``document`` are required::

    {"query": "...", "document": "...", "instruction": "", "label": 1, "group": "q17", "split": "calibration"}

Calibration never falls back to random data: `require_enough` turns a missing or too small set into an error.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED_PATH: Path = Path(__file__).resolve().parent / "data" / "pairs.jsonl"
"""The calibration and held-out pairs that ship with rerankrt."""

SPLITS: tuple[str, ...] = ("calibration", "heldout")
"""The values the ``split`` field and the ``split`` argument may take."""


@dataclass(frozen=True, kw_only=True)
class Pair:
    """One query-document pair, the unit that calibration and accuracy checks consume.

    Attributes:
        query: The search query.
        document: The candidate document (passage, article or code snippet).
        instruction: An optional task instruction placed in the prompt. Defaults to "".
        label: 1 if the document is relevant to the query, 0 if not, None if unknown. Defaults to None.
        group: Identifies the query, so that per-query ranking metrics can be computed. Defaults to "".
        lang: Language code of the query (e.g. "en", "zh"), "" if unknown. Defaults to "".
    """

    query: str
    document: str
    instruction: str = ""
    label: int | None = None
    group: str = ""
    lang: str = ""


def load_pairs(path: str | Path | None = None, *, split: str | None = None) -> list[Pair]:
    """Turns a JSONL file of query-document pairs into a list of `Pair`, in file order.

    Each non-blank line is a JSON object with ``query`` and ``document`` (non-empty strings) and optionally
    ``instruction`` (string or null), ``label`` (0, 1, a bool or null), ``group`` (string; defaults to the query
    text), ``lang`` (string) and ``split`` ("calibration" or "heldout"). Other fields are ignored.

    Args:
        path: The JSONL file. Defaults to the shipped set, `SHIPPED_PATH`.
        split: Keep only this split, "calibration" or "heldout"; None keeps every pair. For a file without
            ``split`` fields the split is derived with `split_pairs` (held-out fraction 0.25, seed 0).
            Defaults to None.

    Returns:
        The pairs of the requested split.

    Raises:
        ValueError: If `split` is not a known split, or a line is not valid JSON, not an object, or has a
            missing or ill-typed field, if only some lines carry a ``split``, or if one group is in both splits.
            The message names the file, the line number and the field.
        FileNotFoundError: If the file does not exist.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    file = Path(path) if path is not None else SHIPPED_PATH
    pairs: list[Pair] = []
    splits: list[str | None] = []
    first_with = first_without = 0
    group_split: dict[str, tuple[str, int]] = {}
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            pair, pair_split = _pair_from_line(line, file, number)
            if pair_split is None:
                first_without = first_without or number
            else:
                first_with = first_with or number
                seen = group_split.setdefault(pair.group, (pair_split, number))
                if seen[0] != pair_split:
                    raise ValueError(
                        f"{file}:{number}: field 'split': group {pair.group!r} is {pair_split!r} here but "
                        f"{seen[0]!r} on line {seen[1]}; a group's pairs must all be in the same split"
                    )
            pairs.append(pair)
            splits.append(pair_split)
    if first_with and first_without:
        raise ValueError(
            f"{file}:{first_without}: field 'split' is missing, but line {first_with} has one; "
            "give every line a split or none"
        )
    if split is None:
        return pairs
    if splits and splits[0] is None:
        calibration, heldout = split_pairs(pairs)
        return calibration if split == "calibration" else heldout
    return [pair for pair, pair_split in zip(pairs, splits, strict=True) if pair_split == split]


def split_pairs(pairs: list[Pair], heldout_fraction: float = 0.25, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """Turns pairs into a (calibration, held-out) split by group, the same on every run and machine.

    Groups are ranked by the SHA-256 of ``f"{seed}:{group}"`` (not Python's per-process randomized `hash`); the
    first ``round(heldout_fraction * n_groups)`` groups, at least one and at most ``n_groups - 1`` when there are
    two or more groups, are held out. A group's pairs always land in the same split; order within each split
    follows the input order.

    Args:
        pairs: The pairs to split.
        heldout_fraction: Fraction of the groups to hold out, strictly between 0 and 1. Defaults to 0.25.
        seed: Changes the assignment while keeping it deterministic. Defaults to 0.

    Returns:
        The calibration pairs and the held-out pairs.

    Raises:
        ValueError: If `heldout_fraction` is not strictly between 0 and 1.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be strictly between 0 and 1, got {heldout_fraction}")
    groups = sorted({pair.group for pair in pairs}, key=lambda group: _group_rank(group, seed))
    if not groups:
        return [], []
    count = int(heldout_fraction * len(groups) + 0.5)
    if len(groups) >= 2:
        count = min(max(count, 1), len(groups) - 1)
    heldout_groups = set(groups[:count])
    calibration = [pair for pair in pairs if pair.group not in heldout_groups]
    heldout = [pair for pair in pairs if pair.group in heldout_groups]
    return calibration, heldout


def dataset_sha256(path: str | Path | None = None) -> str:
    """Turns a pairs file into the hex SHA-256 of its bytes, to record which data calibrated an engine.

    Args:
        path: The JSONL file. Defaults to the shipped set, `SHIPPED_PATH`.

    Returns:
        The 64-character lowercase hex digest.
    """
    file = Path(path) if path is not None else SHIPPED_PATH
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(pairs: list[Pair]) -> dict[str, Any]:
    """Turns pairs into summary statistics for logs and manifests.

    Args:
        pairs: The pairs to describe.

    Returns:
        A dict with ``count`` (pairs), ``groups`` (distinct groups), ``languages`` (pairs per language, only
        for pairs that carry one), ``labels`` (pairs per label: "0", "1", "unlabeled"), ``with_instruction``
        (pairs with a non-empty instruction) and ``document_chars`` (min, median and max document length).
    """
    labels = Counter("unlabeled" if pair.label is None else str(pair.label) for pair in pairs)
    languages = Counter(pair.lang for pair in pairs if pair.lang)
    lengths = sorted(len(pair.document) for pair in pairs)
    summary: dict[str, Any] = {
        "count": len(pairs),
        "groups": len({pair.group for pair in pairs}),
        "labels": dict(sorted(labels.items())),
        "with_instruction": sum(1 for pair in pairs if pair.instruction),
    }
    if languages:
        summary["languages"] = dict(sorted(languages.items(), key=lambda item: (-item[1], item[0])))
    if lengths:
        summary["document_chars"] = {"min": lengths[0], "median": lengths[len(lengths) // 2], "max": lengths[-1]}
    return summary


def require_enough(pairs: list[Pair], minimum: int, *, what: str, source: str | Path | None = None) -> None:
    """Turns a too-small pair set into an error, so that calibration never runs on nothing or on noise.

    Args:
        pairs: The pairs about to be used.
        minimum: The least number of pairs acceptable, at least 1.
        what: The consumer, for the message (e.g. "calibration").
        source: Where the pairs came from, for the message. Defaults to None (not named).

    Raises:
        ValueError: If `minimum` is below 1 or there are fewer than `minimum` pairs.
    """
    if minimum < 1:
        raise ValueError(f"minimum must be at least 1, got {minimum}")
    if len(pairs) < minimum:
        origin = f" from {source}" if source is not None else ""
        raise ValueError(
            f"{what} needs at least {minimum} pairs, got {len(pairs)}{origin}; never calibrate on random data: "
            f"pass a JSONL file of real query-document pairs (see {SHIPPED_PATH.name} for the format)"
        )


def _pair_from_line(line: str, file: Path, number: int) -> tuple[Pair, str | None]:
    """Turns one JSONL line into a `Pair` and its split, or raises a `ValueError` naming file, line and field."""
    where = f"{file}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: invalid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    texts: dict[str, str] = {}
    for field in ("query", "document"):
        value = record.get(field)
        if not isinstance(value, str):
            raise ValueError(f"{where}: field {field!r} must be a string, got {_kind(value, field in record)}")
        if not value.strip():
            raise ValueError(f"{where}: field {field!r} is empty")
        texts[field] = value
    optional: dict[str, str] = {}
    for field in ("instruction", "group", "lang", "split"):
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}: field {field!r} must be a string, got {type(value).__name__}")
        optional[field] = value or ""
    label = record.get("label")
    if isinstance(label, bool):
        label = int(label)
    elif label is not None and (not isinstance(label, int) or label not in (0, 1)):
        raise ValueError(f"{where}: field 'label' must be 0, 1, true, false or null, got {label!r}")
    pair_split = record.get("split")
    if pair_split is not None and pair_split not in SPLITS:
        raise ValueError(f"{where}: field 'split' must be one of {SPLITS}, got {pair_split!r}")
    pair = Pair(
        query=texts["query"],
        document=texts["document"],
        instruction=optional["instruction"],
        label=label,
        group=optional["group"] or texts["query"],
        lang=optional["lang"],
    )
    return pair, pair_split


def _kind(value: object, present: bool) -> str:
    """Names what was found instead of a string, for error messages."""
    return type(value).__name__ if present else "nothing (the field is missing)"


def _group_rank(group: str, seed: int) -> bytes:
    """Turns a group name into a sort key that is the same in every process (unlike the built-in `hash`)."""
    return hashlib.sha256(f"{seed}:{group}".encode()).digest()
