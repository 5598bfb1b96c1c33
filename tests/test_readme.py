"""The README's examples are the ones the tests run: each must stand in README.md verbatim, and every bash or
python block is either one of them or marked ``<!-- not run here: why -->`` right above it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import readme_snippets

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
TESTED = {
    "python api": readme_snippets.README_EXAMPLE,
    "serve": readme_snippets.README_SERVE,
    "curl /rerank": readme_snippets.README_CURL_RERANK,
    "curl /v1/rerank": readme_snippets.README_CURL_V1_RERANK,
    "cohere": readme_snippets.README_COHERE,
    "predict": readme_snippets.README_PREDICT,
    "command line": readme_snippets.README_CLI,
}
NOT_RUN = re.compile(r"<!-- not run here: [^>]+ -->\n$")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("name, snippet", list(TESTED.items()))
def test_readme_shows_the_tested_snippet(name, snippet):
    assert snippet.strip() in README, f"the README's {name} example drifted from the one the tests run"


def test_every_code_block_is_tested_or_marked():
    tested = {s.strip() for s in TESTED.values()}
    unaccounted = []
    for match in BLOCK.finditer(README):
        lang, body = match.group(1), match.group(2).strip()
        if lang == "" and body.startswith(("rerankrt ", "curl ", "make ", "pip ")):
            unaccounted.append(f"untyped block of commands: {body[:60]!r} (mark it ```bash)")
        if lang not in ("bash", "python", "sh", "shell"):
            continue
        rest = body
        for snippet in sorted(tested, key=len, reverse=True):  # a block may hold several tested snippets
            rest = rest.replace(snippet, "")
        if rest.strip() and not NOT_RUN.search(README[: match.start()]):
            unaccounted.append(body.splitlines()[0])
    assert not unaccounted, f"README blocks neither run by a test nor marked '<!-- not run here: -->': {unaccounted}"


def test_readme_names_the_two_setup_commands():
    assert "make demo" in README and "make test" in README


def test_the_examples_use_the_path_the_demo_writes():
    from rerankrt.cli import _parser

    out = _parser().parse_args(["demo"]).out
    assert (out / "cpu").as_posix() == "engines/cpu"
    for snippet in (readme_snippets.README_EXAMPLE, readme_snippets.README_SERVE, readme_snippets.README_CLI):
        assert "engines/cpu" in snippet and "engines/demo" not in snippet
