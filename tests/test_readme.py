"""The README's examples are the ones the tests run: each must stand in README.md verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import readme_snippets

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name, snippet",
    [
        ("python api", readme_snippets.README_EXAMPLE),
        ("serve", readme_snippets.README_SERVE),
        ("curl /rerank", readme_snippets.README_CURL_RERANK),
        ("curl /v1/rerank", readme_snippets.README_CURL_V1_RERANK),
        ("cohere", readme_snippets.README_COHERE),
        ("predict", readme_snippets.README_PREDICT),
    ],
)
def test_readme_shows_the_tested_snippet(name, snippet):
    assert snippet.strip() in README, f"the README's {name} example drifted from the one the tests run"


def test_readme_names_the_two_setup_commands():
    assert "make demo" in README and "make test" in README
