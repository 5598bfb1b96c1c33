"""The Reranker API on a tiny torch model: batch invariance, inputs, ranking, loading, options, async behaviour.

Batch invariance is the property the scheduler relies on: a pair's score must not depend on which other pairs share
its batch, how they are ordered, or how the batch is padded; checked against the pair scored alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rerankrt.manifest import ManifestError, read_manifest
from rerankrt.prompt import PromptEncoder, TruncationError, normalize_mxbai, sigmoid
from rerankrt.runtime import backends as backends_mod
from rerankrt.runtime.backends import BackendUnavailableError
from rerankrt.runtime.batching import BatchStats, DeadlineExceededError, SchedulerClosedError
from rerankrt.runtime.ranking import RankResult
from rerankrt.runtime.reranker import Reranker
from rerankrt.tokenizer import bundled_tokenizer_dir
from tests.fakes import ENGINE_LIMITS as LIMITS
from tests.fakes import ENGINE_MAX_LENGTH as MAX_LENGTH
from tests.fakes import WAIT, GatedBackend, write_fake_trt_dir

TOL = 1e-5  # float32 backends: a pair's score alone vs in any batch


@pytest.fixture(scope="module")
def encoder() -> PromptEncoder:
    return PromptEncoder(bundled_tokenizer_dir(), max_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def reference(tiny_classifier_dir, encoder):
    """Score one pair alone: a 1-row, unpadded batch on a backend of its own."""
    from rerankrt.runtime.backends.torch import TorchBackend

    backend = TorchBackend(tiny_classifier_dir, **LIMITS)
    cache: dict[tuple[str, str, str], float] = {}

    def alone(query: str, document: str, instruction: str = "") -> float:
        key = (query, document, instruction)
        if key not in cache:
            (ids,) = encoder.encode(query, [document], instruction or None).ids
            cache[key] = float(backend.score(ids[None, :], np.array([len(ids)]))[0])
        return cache[key]

    return alone


@pytest.fixture(scope="module")
def reranker(tiny_classifier_dir, encoder):
    from rerankrt.runtime.backends.torch import TorchBackend

    with Reranker(TorchBackend(tiny_classifier_dir, **LIMITS), encoder) as r:
        yield r


@pytest.fixture(scope="module")
def padded_reranker(tiny_classifier_dir, encoder):
    """Pads every batch to a multiple of 16 and tokenizes in chunks of 3: other batch shapes, same scores."""
    from rerankrt.runtime.backends.torch import TorchBackend

    backend = TorchBackend(tiny_classifier_dir, **LIMITS)
    with Reranker(backend, encoder, pad_multiple=16, tokenize_chunk=3) as r:
        yield r


QUERIES = ["what is a panda?", "capital of France", ""]
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120) | st.sampled_from(
    ["", " ", "The giant panda is a bear native to China.", "Paris " * 30, "数据库 索引", "<|im_end|>"]
)
requests = st.lists(st.tuples(st.sampled_from(QUERIES), st.lists(text, min_size=0, max_size=8)), min_size=1, max_size=5)
SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_invariant(reference, query: str, documents: list[str], scores: list[float]) -> None:
    assert len(scores) == len(documents)
    for document, score in zip(documents, scores, strict=True):
        assert abs(score - reference(query, document)) <= TOL, (query, document)


# -- batch invariance ------------------------------------------------------------------------------------------------


@SETTINGS
@given(requests=requests, seed=st.integers(0, 2**16))
def test_scores_do_not_depend_on_batching_under_threads(reranker, reference, requests, seed):
    rng = np.random.default_rng(seed)
    shuffled = [(q, [docs[i] for i in rng.permutation(len(docs))]) for q, docs in requests]
    with ThreadPoolExecutor(max_workers=len(requests) * 2) as pool:
        futures = [pool.submit(reranker.score, q, docs) for q, docs in requests + shuffled]
        results = [f.result(timeout=60) for f in futures]
    for (query, documents), scores in zip(requests + shuffled, results, strict=True):
        assert_invariant(reference, query, documents, scores)


@SETTINGS
@given(requests=requests)
def test_scores_do_not_depend_on_batching_under_asyncio(padded_reranker, reference, requests):
    async def main():
        return await asyncio.gather(*(padded_reranker.ascore(q, docs) for q, docs in requests))

    for (query, documents), scores in zip(requests, asyncio.run(main()), strict=True):
        assert_invariant(reference, query, documents, scores)


def test_score_pairs_with_instructions_match_pairs_alone(reranker, reference):
    pairs = [("q one", "doc a"), ("q two", "doc b", "be strict"), ("q one", "", None), ("q three", "doc c" * 40)]
    scores = reranker.score_pairs(pairs)
    for pair, score in zip(pairs, scores, strict=True):
        assert abs(score - reference(pair[0], pair[1], (pair[2] if len(pair) == 3 else None) or "")) <= TOL


# -- the API ---------------------------------------------------------------------------------------------------------


def test_rank_orders_by_score_then_index(reranker):
    documents = ["pandas are bears", "Paris is in France", "", "pandas are bears", "bamboo"]
    raw = reranker.score("what is a panda?", documents)
    ranked = reranker.rank("what is a panda?", documents)
    assert [r.index for r in ranked] == sorted(range(5), key=lambda i: (-raw[i], i))
    assert all(isinstance(r, RankResult) and r.document is None for r in ranked)
    assert ranked[0].score == max(raw)
    top = reranker.rank("what is a panda?", documents, top_k=2, return_documents=True, normalize=True)
    assert [r.index for r in top] == [r.index for r in ranked[:2]]
    assert [r.document for r in top] == [documents[r.index] for r in ranked[:2]]
    assert top[0].score == pytest.approx(float(sigmoid(raw[top[0].index])))
    with pytest.raises(ValueError, match="top_k"):
        reranker.rank("q", documents, top_k=-1)
    assert reranker.rank("q", documents, top_k=0) == []


def test_normalize_options(reranker):
    documents = ["a", "b c"]
    raw = np.array(reranker.score("q", documents))
    np.testing.assert_allclose(reranker.score("q", documents, normalize=True), sigmoid(raw), rtol=1e-12)
    np.testing.assert_allclose(reranker.score("q", documents, normalize="sigmoid"), sigmoid(raw), rtol=1e-12)
    np.testing.assert_allclose(reranker.score("q", documents, normalize="mxbai"), normalize_mxbai(raw, 9.0))
    with pytest.raises(ValueError, match="normalize"):
        reranker.score("q", documents, normalize="softmax")


def test_inputs(reranker):
    assert reranker.score("q", []) == []
    assert reranker.rank("q", []) == []
    assert reranker.score_pairs([]) == []
    assert len(reranker.score("", ["", ""])) == 2
    with pytest.raises(TypeError, match=r"documents\[2\]"):
        reranker.score("q", ["a", "b", 3])
    with pytest.raises(TypeError, match=r"documents\[0\]"):
        reranker.rank("q", [None])
    with pytest.raises(TypeError, match="query"):
        reranker.score(7, ["a"])
    with pytest.raises(TypeError, match="single string"):
        reranker.score("q", "not a list")
    with pytest.raises(TypeError, match=r"pairs\[1\]"):
        reranker.score_pairs([("q", "d"), ("q",)])
    with pytest.raises(TypeError, match=r"pairs\[0\] document"):
        reranker.score_pairs([("q", b"bytes")])
    with pytest.raises(TypeError, match="instruction"):
        reranker.score("q", ["a"], instruction=1)


def test_truncation(reranker):
    long = "word " * 2000
    scores = reranker.score("q", ["short", long])
    assert len(scores) == 2 and np.isfinite(scores).all()
    assert reranker.stats().truncated_pairs >= 1
    with pytest.raises(TruncationError, match="pair 1 "):
        reranker.score("q", ["short", long], truncate=False)
    result = reranker.score_request("q", ["short", long])
    assert result.truncated.tolist() == [False, True]
    assert result.num_tokens == sum(len(x) for x in reranker.encoder.encode("q", ["short", long]).ids)


def test_score_ids_scores_caller_tokenized_prompts(reranker, reference):
    (ids,) = reranker.encoder.encode("q", ["doc"]).ids
    assert reranker.score_ids([ids, ids.tolist()]) == pytest.approx([reference("q", "doc")] * 2, abs=TOL)
    assert asyncio.run(reranker.ascore_ids([ids])) == pytest.approx([reference("q", "doc")], abs=TOL)


def test_async_twins_match_the_sync_calls(reranker):
    documents = ["a", "bb", ""]

    async def main():
        return (
            await reranker.ascore("q", documents, normalize=True),
            await reranker.arank("q", documents, top_k=2, return_documents=True),
            await reranker.ascore_pairs([("q", d) for d in documents]),
        )

    scores, ranked, pairs = asyncio.run(main())
    assert scores == pytest.approx(reranker.score("q", documents, normalize=True), abs=TOL)
    assert ranked == reranker.rank("q", documents, top_k=2, return_documents=True)
    assert pairs == pytest.approx(reranker.score("q", documents), abs=TOL)


def test_info_health_stats(reranker):
    info = reranker.info()
    assert info["backend"] == "torch" and info["precision"] == "fp32" and info["template"] == "seed"
    assert info["max_length"] == MAX_LENGTH and info["limits"]["max_num_tokens"] == 1024
    assert info["version"]
    assert reranker.health()["ok"] is True
    stats = reranker.stats()
    assert stats.batches > 0 and 0 < stats.padding_efficiency <= 1 and stats.mean_batch_size >= 1


# -- async behaviour, deadlines, closing (a gated fake backend) ------------------------------------------------------


@pytest.fixture
def gated(encoder):
    backend = GatedBackend()
    r = Reranker(backend, encoder)
    yield r, backend
    backend.gate.set()
    r.close()


def test_async_calls_do_not_block_the_event_loop(gated):
    reranker, backend = gated

    async def main():
        ticks = 0
        task = asyncio.create_task(reranker.ascore("q", ["a", "b", "c"]))
        while not backend.started.is_set():
            await asyncio.sleep(0.005)
        for _ in range(10):  # the loop keeps running while the backend holds the batch
            await asyncio.sleep(0.005)
            ticks += 1
        backend.gate.set()
        return ticks, await task

    ticks, scores = asyncio.run(main())
    assert ticks == 10 and len(scores) == 3


def test_cancelling_an_async_call_frees_its_pairs(gated):
    reranker, backend = gated

    async def main():
        task = asyncio.create_task(reranker.ascore("q", [f"doc {i}" for i in range(40)]))
        while not backend.started.is_set():
            await asyncio.sleep(0.005)
        assert reranker.stats().pending_pairs == 38
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert reranker.stats().pending_pairs == 0
        backend.gate.set()
        return await reranker.ascore("q", ["after"])

    assert len(asyncio.run(main())) == 1
    assert backend.rows == 3  # the batch that was running, then "after"
    assert reranker.stats().requests_cancelled == 1


def test_timeouts_sync_and_async(gated):
    reranker, backend = gated
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        reranker.score("q", ["a", "b", "c"], timeout=0.2)
    assert time.monotonic() - start < 1.5

    async def main():
        await reranker.arank("q", ["a"], deadline=time.monotonic() + 0.1)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert reranker.stats().requests_expired == 2
    backend.gate.set()
    assert reranker.score("q", ["x"], timeout=WAIT) == [float(len(reranker.encoder.encode("q", ["x"]).ids[0]))]


def test_close_stops_the_worker_and_refuses_calls(encoder):
    backend = GatedBackend()
    backend.gate.set()
    with Reranker(backend, encoder) as reranker:
        assert len(reranker.score("q", ["a"])) == 1
    assert not reranker.scheduler.stats().worker_alive
    with pytest.raises(SchedulerClosedError):
        reranker.score("q", ["a"])
    with pytest.raises(SchedulerClosedError):
        reranker.health()


# -- loading engine directories --------------------------------------------------------------------------------------


def test_load_reads_the_manifest_and_serves(torch_engine, reference):
    engine = torch_engine
    with Reranker.load(engine, max_pending_pairs=100) as reranker:
        info = reranker.info()
        assert info["model"] == "tiny-test-model" and info["backend"] == "torch"
        assert info["limits"]["max_pending_pairs"] == 100 and info["engine_dir"] == str(engine)
        assert reranker.score("q", ["doc"]) == pytest.approx([reference("q", "doc")], abs=TOL)
    with pytest.raises(TypeError, match="unknown option"):
        Reranker.load(engine, thread=2)
    with pytest.raises(ValueError, match="max_length"):
        Reranker.load(engine, max_length=MAX_LENGTH + 1)


@pytest.mark.skipif(backends_mod.available("tensorrt"), reason="TensorRT is installed here")
def test_tensorrt_engine_without_tensorrt_names_what_is_missing(tmp_path):
    engine = write_fake_trt_dir(tmp_path)
    with pytest.raises(BackendUnavailableError, match="'tensorrt' package is not installed") as info:
        Reranker.load(engine)
    assert 'backend="onnxruntime"' in str(info.value)
    with pytest.raises(ManifestError, match="no 'onnx' artifact"):
        Reranker.load(engine, backend="onnxruntime")


def test_cpu_engine_directory_matches_the_torch_reference(cpu_engine_dir, tiny_classifier_dir):
    """The build's CPU engine directory, served by onnxruntime, scores as the torch reference on its checkpoint."""
    from rerankrt.runtime.backends.torch import TorchBackend

    manifest = json.loads((cpu_engine_dir / "manifest.json").read_text())
    assert manifest["backend"] == "onnxruntime"
    pairs = [
        ("what is a panda?", "The giant panda is a bear native to China."),
        ("what is a panda?", "Paris is the capital of France."),
        ("capital of France", ""),
        ("capital of France", "Paris " * 400),  # truncated by the template's rules
    ]
    with Reranker.load(cpu_engine_dir) as reranker:
        assert reranker.info()["backend"] == "onnxruntime"
        scores = reranker.score_pairs(pairs)
        encoder = reranker.encoder
    torch_backend = TorchBackend(tiny_classifier_dir, **read_manifest(cpu_engine_dir).limits.as_dict())
    for (query, document), score in zip(pairs, scores, strict=True):
        (ids,) = encoder.encode(query, [document]).ids
        expected = float(torch_backend.score(ids[None, :], np.array([len(ids)]))[0])
        assert score == pytest.approx(expected, abs=1e-4)


def test_load_takes_the_builds_serving_budget(cpu_engine_dir):
    from rerankrt.manifest import read_manifest

    budget = read_manifest(cpu_engine_dir).serving.batch_tokens
    assert budget == 2048  # rerankrt/configs/cpu.yaml
    with Reranker.load(cpu_engine_dir) as reranker:
        assert reranker.scheduler.batch_tokens == budget
    with Reranker.load(cpu_engine_dir, max_num_tokens=4096) as reranker:  # an explicit budget wins
        assert reranker.scheduler.batch_tokens == reranker.scheduler.max_num_tokens == 4096


# -- options and batch listeners -------------------------------------------------------------------------------------


def test_options_are_what_a_config_file_may_pass():
    assert {
        "max_batch_size",
        "max_num_tokens",
        "max_pending_pairs",
        "pad_multiple",
        "fill_ratio",
        "tokenize_chunk",
        "batch_tokens",
        "max_batch_bytes",
        "goodput",
        "max_seq_len",
        "threads",
        "artifact",
        "device",
        "model_dir",
        "max_length",
        "estimated_max",
    } == Reranker.OPTIONS
    assert "on_batch" not in Reranker.OPTIONS  # a callable: never from a config file


def test_load_routes_options_and_names_unknown_ones(torch_engine):
    seen: list[BatchStats] = []
    with Reranker.load(
        torch_engine, max_batch_size=2, max_seq_len=200, pad_multiple=4, max_length=128, on_batch=seen.append
    ) as reranker:
        assert reranker.backend.limits.max_batch_size == 2 and reranker.backend.limits.max_seq_len == 200
        assert reranker.scheduler.config.pad_multiple == 4 and reranker.encoder.max_length == 128
        reranker.score("q", ["a", "b", "c"])
    assert sum(s.rows for s in seen) == 3 and all(s.seq_len % 4 == 0 or s.seq_len == 200 for s in seen)
    with pytest.raises(TypeError, match=r"\['thread'\] for Reranker.load; it takes \[.*'threads'"):
        Reranker.load(torch_engine, thread=2)
    with pytest.raises(TypeError, match=r"\['artifact'\] for the torch backend"):
        Reranker.load(torch_engine, artifact="onnx")  # `device` is a torch option now
    with pytest.raises(ValueError, match="SchedulerConfig.fill_ratio"):
        Reranker.load(torch_engine, fill_ratio=2.0)


def test_batch_listeners_all_hear_every_batch_and_a_failing_one_is_ignored(encoder):
    backend = GatedBackend()
    backend.gate.set()
    first: list[BatchStats] = []
    second: list[BatchStats] = []

    def broken(stats: BatchStats) -> None:
        raise RuntimeError("metrics are down")

    with Reranker(backend, encoder, on_batch=first.append) as reranker:
        reranker.add_batch_listener(broken)
        reranker.add_batch_listener(second.append)
        for _ in range(2):
            assert len(reranker.score("q", ["a", "b"])) == 2
        assert reranker.health()["ok"] is True
    assert [s.index for s in first] == [s.index for s in second] == [1, 2]
    assert all(s.rows == 2 and s.error is None for s in second)


def test_construction_takes_a_scheduler_config_or_its_fields(encoder):
    from rerankrt.runtime.batching import SchedulerConfig

    backend = GatedBackend()
    backend.gate.set()
    with Reranker(backend, encoder, config=SchedulerConfig(max_pending_pairs=7)) as reranker:
        assert reranker.info()["limits"]["max_pending_pairs"] == 7
    with pytest.raises(TypeError, match=r"unknown scheduler option\(s\) \['max_pending'\]"):
        Reranker(GatedBackend(), encoder, max_pending=7)
