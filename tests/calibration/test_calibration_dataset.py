"""Tests for rerankrt.calibration.dataset and the shipped calibration set it loads."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from rerankrt.calibration.dataset import (
    SHIPPED_PATH,
    Pair,
    dataset_sha256,
    describe,
    load_pairs,
    require_enough,
    split_pairs,
)

# Changing the shipped set changes what calibrates every engine: update this pin deliberately, together with
# tools/make_pairs.py and tools/calibration_text/ (the test below checks that the generator reproduces the file).
SHIPPED_SHA256 = "4447c41c3a12cdcd75cbd6d746eedb54849a1fd0ca340bdf65532eb578acad0a"

REPO = Path(__file__).resolve().parents[2]

CODE_MARKERS = {
    "python": re.compile(r"^\s*(def |import |from \S+ import )", re.M),
    "javascript": re.compile(r"\b(function\s*\w*\s*\(|const \w+ = |=> )"),
    "sql": re.compile(r"^\s*SELECT\b", re.M),
    "go": re.compile(r"\bfunc\b|:= "),
}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    lines = SHIPPED_PATH.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def groups(records: list[dict]) -> dict[str, list[dict]]:
    by_group: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_group[record["group"]].append(record)
    return dict(by_group)


def write_jsonl(path: Path, lines: list[object]) -> Path:
    """Writes each item as one line: dicts as JSON, strings verbatim."""
    text = "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped set ----------------------------------------------------------------------------------------------


def test_shipped_file_is_small_utf8_jsonl_with_the_documented_schema(records: list[dict]) -> None:
    assert SHIPPED_PATH.is_file()
    assert SHIPPED_PATH.stat().st_size < 2_000_000
    assert len(records) >= 600
    allowed = {"query", "document", "instruction", "label", "lang", "split", "group"}
    for record in records:
        assert set(record) <= allowed
        assert {"query", "document", "label", "lang", "split", "group"} <= set(record)
        assert isinstance(record["query"], str) and record["query"].strip()
        assert isinstance(record["document"], str) and record["document"].strip()
        assert record["label"] in (0, 1) and not isinstance(record["label"], bool)
        assert record["split"] in ("calibration", "heldout")
        assert isinstance(record.get("instruction", ""), str)


def test_shipped_set_loads_into_pairs_that_match_the_file(records: list[dict]) -> None:
    pairs = load_pairs()
    assert len(pairs) == len(records)
    for pair, record in zip(pairs, records, strict=True):
        assert pair.query == record["query"]
        assert pair.document == record["document"]
        assert pair.label == record["label"]
        assert pair.group == record["group"]
        assert pair.lang == record["lang"]
        assert pair.instruction == record.get("instruction", "")


def test_shipped_set_covers_at_least_eight_languages_with_english_the_majority(records: list[dict]) -> None:
    languages = Counter(record["lang"] for record in records)
    assert len(languages) >= 8
    assert {"en", "zh"} <= set(languages)
    assert languages["en"] > len(records) / 2
    assert all(count >= 12 for count in languages.values()), languages
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert all(cjk.search(record["query"]) for record in records if record["lang"] == "zh")


def test_every_group_is_one_query_with_at_least_four_documents_and_both_labels(groups: dict[str, list[dict]]) -> None:
    assert len(groups) >= 100
    for name, members in groups.items():
        assert len(members) >= 4, name
        assert {member["label"] for member in members} == {0, 1}, name
        assert len({member["query"] for member in members}) == 1, name
        assert len({member["lang"] for member in members}) == 1, name
        assert len({member.get("instruction", "") for member in members}) == 1, name
        assert len({member["document"] for member in members}) == len(members), f"{name} repeats a document"


def test_groups_have_more_negatives_than_positives_overall(records: list[dict]) -> None:
    labels = Counter(record["label"] for record in records)
    assert 0.2 < labels[1] / len(records) < 0.5


def test_document_lengths_range_from_a_few_words_to_multi_section_articles(records: list[dict]) -> None:
    documents = {record["document"] for record in records}
    lengths = sorted(len(document) for document in documents)
    assert sum(1 for document in documents if len(document.split()) <= 3) >= 5
    assert sum(1 for length in lengths if length > 8_000) >= 6
    assert sum(1 for length in lengths if 1_200 <= length <= 4_000) >= 20  # roughly 300-1000 tokens
    assert 100 <= lengths[len(lengths) // 2] <= 1_200  # most documents are passages of 20-300 tokens
    for document in (document for document in documents if len(document) > 8_000):
        paragraphs = [paragraph for paragraph in document.split("\n\n") if len(paragraph) > 80]
        assert len(paragraphs) >= 15
        assert len(set(paragraphs)) == len(paragraphs), "a long document repeats a paragraph"
        assert document.count("\n## ") >= 5, "a long document has sections"


def test_code_search_slice_has_several_programming_languages(groups: dict[str, list[dict]]) -> None:
    code_groups = {name: members for name, members in groups.items() if "-code-" in name}
    assert len(code_groups) >= 10
    relevant_code = [member["document"] for members in code_groups.values() for member in members if member["label"]]
    found = {language for language, marker in CODE_MARKERS.items() if any(marker.search(d) for d in relevant_code)}
    assert found == set(CODE_MARKERS)
    assert sum(1 for document in relevant_code if "\n" in document) >= 20


def test_a_few_queries_carry_an_instruction(groups: dict[str, list[dict]]) -> None:
    instructed = [name for name, members in groups.items() if members[0].get("instruction")]
    assert 0.03 <= len(instructed) / len(groups) <= 0.15
    assert any("-code-" in name for name in instructed)
    assert len({groups[name][0]["lang"] for name in instructed}) >= 2


def test_split_is_by_group_and_the_heldout_part_is_large_enough(groups: dict[str, list[dict]]) -> None:
    split_of = {}
    for name, members in groups.items():
        splits = {member["split"] for member in members}
        assert len(splits) == 1, f"{name} is in both splits"
        split_of[name] = splits.pop()
    heldout = [name for name, split in split_of.items() if split == "heldout"]
    heldout_pairs = sum(len(groups[name]) for name in heldout)
    assert len(heldout) >= 25
    assert heldout_pairs >= 120
    assert 0.2 <= len(heldout) / len(groups) <= 0.32
    assert {groups[name][0]["lang"] for name in heldout} >= {"en", "zh"}
    assert any("-code-" in name for name in heldout)


def test_load_pairs_split_filter_partitions_the_shipped_set(records: list[dict]) -> None:
    calibration = load_pairs(split="calibration")
    heldout = load_pairs(split="heldout")
    assert len(calibration) + len(heldout) == len(records)
    assert len(heldout) == sum(1 for record in records if record["split"] == "heldout")
    assert not {pair.group for pair in calibration} & {pair.group for pair in heldout}


def test_shipped_hash_is_pinned_and_matches_the_file_bytes() -> None:
    assert dataset_sha256() == SHIPPED_SHA256
    assert dataset_sha256(SHIPPED_PATH) == hashlib.sha256(SHIPPED_PATH.read_bytes()).hexdigest()


def test_generator_reproduces_the_shipped_file_byte_for_byte(tmp_path: Path) -> None:
    """tools/make_pairs.py regenerates pairs.jsonl from its text files, byte for byte (compared by sha256)."""
    script = REPO / "tools" / "make_pairs.py"
    out = tmp_path / "pairs.jsonl"
    run = subprocess.run(
        [sys.executable, str(script), "--out", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHIPPED_SHA256 == dataset_sha256(SHIPPED_PATH)
    assert "932 pairs" in run.stdout


def test_generator_and_its_text_live_outside_the_package() -> None:
    """The package ships the pairs, not the 1,900 lines of text they were made from."""
    package = SHIPPED_PATH.parents[2]
    assert not list(package.rglob("make_pairs.py"))
    assert sorted(p.name for p in (REPO / "tools" / "calibration_text").glob("*.txt"))[0] == "01-en-science.txt"


def test_describe_summarises_the_shipped_set(records: list[dict]) -> None:
    summary = describe(load_pairs())
    assert summary["count"] == len(records)
    assert summary["groups"] == len({record["group"] for record in records})
    assert summary["languages"]["en"] == sum(1 for record in records if record["lang"] == "en")
    assert summary["labels"] == {"0": summary["count"] - summary["labels"]["1"], "1": summary["labels"]["1"]}
    assert summary["with_instruction"] == sum(1 for record in records if record.get("instruction"))
    assert summary["document_chars"]["max"] > 8_000


# --- user files ---------------------------------------------------------------------------------------------------


def test_minimal_user_file_defaults_group_to_query_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"query": "q1", "document": "d1"},
            "",
            "   ",
            {"query": "q1", "document": "d2", "label": True, "instruction": None},
            {"query": "q2", "document": "d3", "label": 0, "group": "g2", "lang": "de"},
            {"query": "q2", "document": "d4", "label": None, "extra": [1, 2]},
        ],
    )
    pairs = load_pairs(path)
    assert pairs == [
        Pair(query="q1", document="d1", group="q1"),
        Pair(query="q1", document="d2", label=1, group="q1"),
        Pair(query="q2", document="d3", label=0, group="g2", lang="de"),
        Pair(query="q2", document="d4", group="q2"),
    ]
    assert type(pairs[1].label) is int
    assert load_pairs(str(path)) == pairs


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"document": "d"}, "query"),
        ({"query": "q"}, "document"),
        ({"query": 3, "document": "d"}, "query"),
        ({"query": "q", "document": ["d"]}, "document"),
        ({"query": "  ", "document": "d"}, "query"),
        ({"query": "q", "document": ""}, "document"),
        ({"query": "q", "document": "d", "label": 2}, "label"),
        ({"query": "q", "document": "d", "label": "1"}, "label"),
        ({"query": "q", "document": "d", "label": 0.5}, "label"),
        ({"query": "q", "document": "d", "instruction": 7}, "instruction"),
        ({"query": "q", "document": "d", "group": 12}, "group"),
        ({"query": "q", "document": "d", "lang": ["en"]}, "lang"),
        ({"query": "q", "document": "d", "split": "train"}, "split"),
    ],
)
def test_bad_field_error_names_file_line_and_field(tmp_path: Path, record: dict, field: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"query": "ok", "document": "ok"}, "", record])
    with pytest.raises(ValueError) as raised:
        load_pairs(path)
    message = str(raised.value)
    assert f"{path}:3:" in message
    assert f"'{field}'" in message


def test_invalid_json_error_names_the_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "broken.jsonl", [{"query": "q", "document": "d"}, '{"query": "q", "document": '])
    with pytest.raises(ValueError, match=r"broken\.jsonl:2: invalid JSON"):
        load_pairs(path)


def test_a_line_that_is_not_an_object_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "list.jsonl", [["q", "d"]])
    with pytest.raises(ValueError, match=r"list\.jsonl:1: expected a JSON object, got list"):
        load_pairs(path)


def test_split_on_some_lines_only_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"query": "q1", "document": "d1", "split": "heldout"},
            {"query": "q2", "document": "d2"},
        ],
    )
    with pytest.raises(ValueError, match=r"mixed\.jsonl:2: field 'split' is missing, but line 1 has one"):
        load_pairs(path)


def test_group_in_both_splits_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "leak.jsonl",
        [
            {"query": "q", "document": "d1", "group": "g", "split": "calibration"},
            {"query": "q", "document": "d2", "group": "g", "split": "heldout"},
        ],
    )
    with pytest.raises(ValueError, match=r"leak\.jsonl:2: field 'split': group 'g'"):
        load_pairs(path)


def test_split_filter_uses_the_file_split_when_present(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "split.jsonl",
        [
            {"query": "a", "document": "d1", "split": "calibration"},
            {"query": "b", "document": "d2", "split": "heldout"},
            {"query": "a", "document": "d3", "split": "calibration"},
        ],
    )
    assert [pair.document for pair in load_pairs(path, split="calibration")] == ["d1", "d3"]
    assert [pair.document for pair in load_pairs(path, split="heldout")] == ["d2"]
    assert len(load_pairs(path)) == 3


def test_split_filter_on_a_file_without_splits_derives_them_by_group(tmp_path: Path) -> None:
    lines = [{"query": f"query {g}", "document": f"document {g}.{d}"} for g in range(20) for d in range(3)]
    path = write_jsonl(tmp_path / "nosplit.jsonl", lines)
    everything = load_pairs(path)
    assert len(everything) == 60
    calibration, heldout = split_pairs(everything)
    assert load_pairs(path, split="calibration") == calibration
    assert load_pairs(path, split="heldout") == heldout
    assert len({pair.group for pair in heldout}) == 5


def test_unknown_split_argument_is_rejected(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"query": "q", "document": "d"}])
    with pytest.raises(ValueError, match="split must be one of"):
        load_pairs(path, split="train")


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_pairs(tmp_path / "absent.jsonl")


def test_dataset_sha256_of_a_user_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"query": "q", "document": "d"}])
    before = dataset_sha256(path)
    assert before == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset_sha256(str(path)) == before
    path.write_text(path.read_text() + "\n")  # a blank line loads the same pairs but is a different file
    assert dataset_sha256(path) != before
    assert load_pairs(path) == [Pair(query="q", document="d", group="q")]


# --- split_pairs, describe, require_enough ------------------------------------------------------------------------


def _pairs(groups: int, per_group: int = 3) -> list[Pair]:
    return [
        Pair(query=f"q{g}", document=f"d{g}.{d}", group=f"group-{g}") for g in range(groups) for d in range(per_group)
    ]


def test_split_pairs_is_group_pure_exhaustive_and_sized_by_fraction() -> None:
    pairs = _pairs(100)
    calibration, heldout = split_pairs(pairs, heldout_fraction=0.25)
    assert len(calibration) + len(heldout) == len(pairs)
    assert not {pair.group for pair in calibration} & {pair.group for pair in heldout}
    assert len({pair.group for pair in heldout}) == 25
    assert heldout == [pair for pair in pairs if pair.group in {p.group for p in heldout}]  # input order kept
    assert len({pair.group for pair in split_pairs(pairs, heldout_fraction=0.1)[1]}) == 10


def test_split_pairs_is_deterministic_across_processes_and_seeded() -> None:
    pairs = _pairs(40)
    heldout = sorted({pair.group for pair in split_pairs(pairs, seed=0)[1]})
    assert heldout == sorted({pair.group for pair in split_pairs(list(pairs), seed=0)[1]})
    assert heldout != sorted({pair.group for pair in split_pairs(pairs, seed=1)[1]})
    code = (
        "from rerankrt.calibration.dataset import Pair, split_pairs\n"
        "pairs = [Pair(query=f'q{g}', document='d', group=f'group-{g}') for g in range(40)]\n"
        "print(','.join(sorted({p.group for p in split_pairs(pairs)[1]})))\n"
    )
    root = Path(__file__).resolve().parents[1]
    for hash_seed in ("1", "987"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env={"PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)},
        )
        assert result.stdout.strip().split(",") == heldout


def test_split_pairs_edge_cases() -> None:
    assert split_pairs([]) == ([], [])
    one = _pairs(1)
    assert split_pairs(one) == (one, [])
    calibration, heldout = split_pairs(_pairs(2), heldout_fraction=0.01)
    assert len({p.group for p in calibration}) == 1 and len({p.group for p in heldout}) == 1
    calibration, heldout = split_pairs(_pairs(3), heldout_fraction=0.99)
    assert len({p.group for p in calibration}) == 1
    for fraction in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="heldout_fraction"):
            split_pairs(_pairs(4), heldout_fraction=fraction)


def test_describe_counts_labels_languages_and_instructions() -> None:
    pairs = [
        Pair(query="q", document="abc", label=1, group="g1", lang="en", instruction="Be brief."),
        Pair(query="q", document="abcdef", label=0, group="g1", lang="en"),
        Pair(query="p", document="a", group="g2"),
    ]
    assert describe(pairs) == {
        "count": 3,
        "groups": 2,
        "labels": {"0": 1, "1": 1, "unlabeled": 1},
        "with_instruction": 1,
        "languages": {"en": 2},
        "document_chars": {"min": 1, "median": 3, "max": 6},
    }
    assert describe([]) == {"count": 0, "groups": 0, "labels": {}, "with_instruction": 0}


def test_require_enough_refuses_too_little_or_no_data() -> None:
    with pytest.raises(ValueError) as raised:
        require_enough(_pairs(1), 512, what="calibration", source="/data/my.jsonl")
    message = str(raised.value)
    assert "calibration needs at least 512 pairs, got 3 from /data/my.jsonl" in message
    assert "never calibrate on random data" in message
    with pytest.raises(ValueError, match="got 0"):
        require_enough([], 1, what="calibration")
    with pytest.raises(ValueError, match="minimum must be at least 1"):
        require_enough(_pairs(1), 0, what="calibration")
    require_enough(_pairs(1), 3, what="calibration")  # exactly enough is fine
    require_enough(load_pairs(split="calibration"), 512, what="calibration", source=SHIPPED_PATH)


def test_pair_is_frozen_and_keyword_only() -> None:
    pair = Pair(query="q", document="d")
    assert (pair.instruction, pair.label, pair.group, pair.lang) == ("", None, "", "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.query = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Pair("q", "d")  # type: ignore[misc]
