"""Input checks, normalization and ranking (rerankrt/runtime/ranking.py), and the asyncio twins they serve."""

from __future__ import annotations

import inspect
import time

import numpy as np
import pytest

import rerankrt
from rerankrt.prompt import normalize_mxbai, sigmoid
from rerankrt.runtime import reranker as reranker_mod
from rerankrt.runtime.ranking import (
    RankResult,
    check_documents,
    check_normalize,
    check_request,
    check_top_k,
    deadline_of,
    normalized_scores,
    pair_columns,
    rank_results,
)
from rerankrt.runtime.reranker import Reranker


def test_rank_results_breaks_ties_by_index():
    ranked = rank_results([1.0, 2.0, 1.0, 2.0], ["a", "b", "c", "d"], return_documents=True)
    assert [(r.index, r.document) for r in ranked] == [(1, "b"), (3, "d"), (0, "a"), (2, "c")]
    with pytest.raises(AttributeError):
        ranked[0].score = 0.0  # frozen
    assert [r.index for r in rank_results([float("nan"), 0.5, -1.0], ["a", "b", "c"], top_k=2)] == [1, 2]


def test_rank_result_is_one_class_wherever_it_is_imported_from():
    assert rerankrt.RankResult is RankResult is reranker_mod.RankResult


def test_input_checks_name_what_is_wrong():
    assert check_request("q", ("a", "b"), None) == ("q", ["a", "b"], None)
    with pytest.raises(TypeError, match="query must be a str"):
        check_request(1, ["a"], None)
    with pytest.raises(TypeError, match="instruction must be a str"):
        check_request("q", ["a"], 2)
    with pytest.raises(TypeError, match="not a single string"):
        check_documents("abc")
    with pytest.raises(TypeError, match=r"documents\[1\] must be a str"):
        check_documents(["a", None])
    assert pair_columns([("q", "d"), ("q2", "d2", "ins"), ("q3", "d3", None)]) == (
        ["q", "q2", "q3"],
        ["d", "d2", "d3"],
        ["", "ins", ""],
    )
    with pytest.raises(TypeError, match=r"pairs\[0\] must be"):
        pair_columns([("only",)])
    with pytest.raises(TypeError, match=r"pairs\[0\] document must be a str"):
        pair_columns([("q", 3)])
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="top_k"):
            check_top_k(bad)
    check_top_k(np.int64(3))
    with pytest.raises(ValueError, match="normalize"):
        check_normalize("softmax")


def test_normalized_scores_as_asked():
    raw = np.array([-2.0, 0.0, 3.0])
    assert normalized_scores(raw, False, 9.0) == raw.tolist() == normalized_scores(raw, None, 9.0)
    np.testing.assert_allclose(normalized_scores(raw, True, 9.0), sigmoid(raw))
    np.testing.assert_allclose(normalized_scores(raw, "sigmoid", 9.0), sigmoid(raw))
    np.testing.assert_allclose(normalized_scores(raw, "mxbai", 12.0), normalize_mxbai(raw, 12.0))


def test_deadline_of_takes_the_earlier_limit():
    assert deadline_of(None, None) is None and deadline_of(None, 5.0) == 5.0
    soon = deadline_of(10.0, None)
    assert time.monotonic() < soon <= time.monotonic() + 10.0
    assert deadline_of(10.0, 1.0) == 1.0
    with pytest.raises(ValueError, match="timeout must be positive"):
        deadline_of(0, None)


@pytest.mark.parametrize("name", ["score_request", "score_ids", "score", "score_pairs", "rank"])
def test_each_async_twin_has_its_sync_methods_signature(name):
    sync, twin = getattr(Reranker, name), getattr(Reranker, f"a{name}")
    assert inspect.iscoroutinefunction(twin) and twin.__name__ == f"a{name}"
    assert inspect.signature(twin) == inspect.signature(sync)
    assert twin.__doc__.startswith(f"`{name}` for asyncio")
