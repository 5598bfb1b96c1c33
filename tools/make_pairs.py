"""Hand-written topics -> ``pairs.jsonl``, the calibration and held-out set that ships with rerankrt.

The text lives beside this script as data: ``calibration_text/NN-*.txt`` (topic blocks, read in file-name order)
and ``calibration_text/layout.json`` (article title suffixes per language and domain, and the long handbooks).
Every query and passage there was written for this project (no public dataset was fetched or copied). Each topic
block gives a query, passages that answer it (``[+]``) and same-topic passages that do not (``[-]``, hard
negatives). The generator adds, deterministically:

* two easy negatives per query: passages of other topics in the same language;
* medium-length articles (``ART: +`` / ``ART: -``): a few paragraphs of the same domain, with or without the
  topic's answer;
* long multi-section handbooks (`LONG_DOCUMENTS`), each built from every paragraph of one domain but one topic,
  so that it is relevant to one query and a long on-topic hard negative for another;
* the split: within each language (and each English domain) a quarter of the groups, ranked by SHA-256 of the
  group name, are held out.

Run ``python tools/make_pairs.py`` to rewrite ``rerankrt/calibration/data/pairs.jsonl`` (``--out FILE`` writes
elsewhere); the output is byte-identical on every run. Block format::

    === group-id | lang | domain
    T: section title used when the topic's paragraphs appear in an article
    Q: the query
    I: an optional instruction
    ART: + or -
    [+] relevant passage (lines that follow, up to the next marker, belong to it: code keeps its newlines)
    [-] hard negative
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXT_DIR = HERE / "calibration_text"
OUTPUT = HERE.parent / "rerankrt" / "calibration" / "data" / "pairs.jsonl"
HELDOUT_FRACTION = 0.25
EASY_NEGATIVES = 2
SHORT_ANSWER_CHARS = 40  # a shorter passage without final punctuation is an answer ("Canberra"), not a paragraph
ARTICLE_EVERY = 3  # besides the explicit ART: flags, about one group in ARTICLE_EVERY gets a medium article


@dataclass
class Topic:
    """One query with its hand-written passages."""

    group: str
    lang: str
    domain: str
    title: str = ""
    query: str = ""
    instruction: str = ""
    article: str = ""
    passages: list[tuple[str, int]] = field(default_factory=list)

    @property
    def paragraphs(self) -> list[str]:
        return [text for text, _ in self.passages if not is_short_answer(text)]


def is_short_answer(text: str) -> bool:
    return len(text) < SHORT_ANSWER_CHARS and not text.endswith((".", "。", "!", "?", "！", "？"))


@dataclass(frozen=True)
class LongDocument:
    """A handbook made of one domain's paragraphs: relevant to `relevant_to`, a hard negative for `negative_for`."""

    title: str
    lang: str
    domain: str
    relevant_to: str
    negative_for: str


def parse(block: str) -> list[Topic]:
    topics: list[Topic] = []
    current: list[str] | None = None
    label = 0

    def close() -> None:
        if current is not None:
            text = "\n".join(current).strip("\n").rstrip()
            if not text.strip():
                raise ValueError(f"empty passage in {topics[-1].group}")
            topics[-1].passages.append((text, label))

    for line in block.split("\n"):
        if line.startswith("=== "):
            close()
            current = None
            group, lang, domain = (part.strip() for part in line[4:].split("|"))
            topics.append(Topic(group=group, lang=lang, domain=domain))
        elif current is None and line.startswith(("T: ", "Q: ", "I: ", "ART: ")):
            key, value = line.split(": ", 1)
            attribute = {"T": "title", "Q": "query", "I": "instruction", "ART": "article"}[key]
            setattr(topics[-1], attribute, value.strip())
        elif line.startswith(("[+]", "[-]")):
            close()
            label = 1 if line.startswith("[+]") else 0
            current = [line[3:].lstrip(" ")]
        elif current is not None:
            current.append(line)
        elif line.strip():
            raise ValueError(f"stray line {line!r}")
    close()
    return topics


def rng_for(*parts: str) -> random.Random:
    seed = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")
    return random.Random(seed)


def rank(group: str) -> bytes:
    return hashlib.sha256(f"0:{group}".encode()).digest()


def stratum(topic: Topic) -> str:
    return f"{topic.lang}/{topic.domain}" if topic.lang == "en" else topic.lang


def heldout_groups(topics: list[Topic]) -> set[str]:
    strata: dict[str, list[str]] = {}
    for topic in topics:
        strata.setdefault(stratum(topic), []).append(topic.group)
    chosen: set[str] = set()
    for groups in strata.values():
        count = int(HELDOUT_FRACTION * len(groups) + 0.5)
        chosen.update(sorted(groups, key=rank)[:count])
    return chosen


def article(title: str, sections: list[tuple[str, list[str]]]) -> str:
    parts = [f"# {title}"]
    for heading, paragraphs in sections:
        parts.append(f"## {heading}" if heading else "")
        parts.extend(paragraphs)
    return "\n\n".join(part for part in parts if part)


def article_kind(topic: Topic) -> str:
    if topic.article:
        return topic.article
    digest = hashlib.sha256(f"article:{topic.group}".encode()).digest()
    if digest[0] % ARTICLE_EVERY:
        return ""
    return "+" if digest[1] % 2 == 0 else "-"


def medium_article(topic: Topic, topics: list[Topic]) -> tuple[str, int]:
    rng = rng_for("article", topic.group)
    others = [t for t in topics if t.domain == topic.domain and t.lang == topic.lang and t.group != topic.group]
    if len(others) < 3:  # small languages: a magazine-style page mixing the language's other topics
        others = [t for t in topics if t.lang == topic.lang and t.group != topic.group]
    rng.shuffle(others)
    relevant = article_kind(topic) == "+"
    chosen = others[: rng.randint(3, 5)]
    sections = [(t.title, t.paragraphs[: rng.randint(1, 2)]) for t in chosen]
    if relevant:
        sections.insert(rng.randint(0, len(sections)), (topic.title, topic.paragraphs[:1]))
    heading = topic.title if relevant else sections[0][0]
    suffix = DOMAIN_TITLES.get((topic.lang, topic.domain)) or DOMAIN_TITLES.get((topic.lang, "*"))
    return article(f"{heading}: {suffix}" if suffix else heading, sections), int(relevant)


def long_article(spec: LongDocument, topics: list[Topic]) -> str:
    members = [
        t for t in topics if t.lang == spec.lang and spec.domain in ("*", t.domain) and t.group != spec.negative_for
    ]
    return article(spec.title, [(t.title, t.paragraphs) for t in members])


def build(topics: list[Topic]) -> list[dict[str, object]]:
    by_group = {topic.group: topic for topic in topics}
    if len(by_group) != len(topics):
        raise ValueError("duplicate group ids")
    extra: dict[str, list[tuple[str, int]]] = {topic.group: [] for topic in topics}
    for spec in LONG_DOCUMENTS:
        text = long_article(spec, topics)
        extra[spec.relevant_to].append((text, 1))
        extra[spec.negative_for].append((text, 0))
    heldout = heldout_groups(topics)
    rows: list[dict[str, object]] = []
    for topic in topics:
        documents = list(topic.passages) + extra[topic.group]
        if article_kind(topic):
            documents.append(medium_article(topic, topics))
        rng = rng_for("negatives", topic.group)
        pool = [
            text
            for other in topics
            if other.lang == topic.lang
            and other.group != topic.group
            and (other.domain != topic.domain or topic.domain == "code")
            for text in other.paragraphs
        ]
        documents.extend((text, 0) for text in rng.sample(pool, EASY_NEGATIVES))
        rng.shuffle(documents)
        for text, label in documents:
            row: dict[str, object] = {"query": topic.query, "document": text}
            if topic.instruction:
                row["instruction"] = topic.instruction
            row.update(
                label=label,
                lang=topic.lang,
                split="heldout" if topic.group in heldout else "calibration",
                group=topic.group,
            )
            rows.append(row)
    return rows


def check(topics: list[Topic]) -> None:
    for topic in topics:
        labels = {label for _, label in topic.passages}
        if not topic.query or not topic.title or labels != {0, 1}:
            raise ValueError(f"{topic.group}: needs T:, Q:, and both [+] and [-] passages")
        if topic.article not in ("", "+", "-"):
            raise ValueError(f"{topic.group}: ART: must be + or -")


def load_blocks(text_dir: Path = TEXT_DIR) -> list[str]:
    """The topic blocks, one file each, in file-name order (the order fixes the output's row order)."""
    files = sorted(text_dir.glob("[0-9][0-9]-*.txt"))
    if not files:
        raise FileNotFoundError(f"no topic files (NN-*.txt) in {text_dir}")
    # newline="" keeps the bytes as written: the output is pinned by its sha256.
    return [_read_exact(f) for f in files]


def _read_exact(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as f:
        return f.read()


def load_layout(text_dir: Path = TEXT_DIR) -> tuple[dict[tuple[str, str], str], list[LongDocument]]:
    """layout.json -> (article title suffix per (lang, domain), the long handbooks)."""
    data = json.loads((text_dir / "layout.json").read_text(encoding="utf-8"))
    titles = {(lang, domain): title for lang, domain, title in data["domain_titles"]}
    return titles, [LongDocument(**spec) for spec in data["long_documents"]]


DOMAIN_TITLES, LONG_DOCUMENTS = load_layout()


def render() -> str:
    """The topic files -> the text of ``pairs.jsonl`` (UTF-8, one object per line)."""
    topics = [topic for block in load_blocks() for topic in parse(block)]
    check(topics)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in build(topics))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"file to write (default {OUTPUT})")
    out = parser.parse_args(argv).out
    text = render()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text.encode("utf-8"))
    print(f"wrote {text.count(chr(10))} pairs to {out}")


if __name__ == "__main__":
    main()
