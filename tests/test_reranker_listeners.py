"""Reranker.add_batch_listener: every listener sees every backend call; one that raises stops nothing."""

from __future__ import annotations

from rerankrt.prompt import PromptEncoder
from rerankrt.runtime.reranker import Reranker
from rerankrt.tokenizer import bundled_tokenizer_dir
from tests.fakes import ScriptedBackend


def test_batch_listeners_all_see_every_batch_and_a_raising_one_is_ignored():
    encoder = PromptEncoder(bundled_tokenizer_dir(), template="seed", max_length=1024)
    from_option, first, second = [], [], []

    def broken(stats):
        raise RuntimeError("listener bug")

    with Reranker(ScriptedBackend(), encoder, max_batch_size=2, on_batch=from_option.append) as reranker:
        reranker.add_batch_listener(first.append)
        reranker.add_batch_listener(broken)
        reranker.add_batch_listener(second.append)
        scores = reranker.score("q", ["a", "b", "c"])
        assert len(scores) == 3
        assert reranker.health()["ok"]
    assert sum(s.rows for s in first) == 3 and len(first) >= 2
    assert first == second == from_option
