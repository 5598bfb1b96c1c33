"""The README's Python example runs, as written, against the CPU engine directory the build writes.

`README_EXAMPLE` is the snippet the README shows; only the engine directory's path is swapped for the test's.
"""

from __future__ import annotations

import contextlib
import io

README_EXAMPLE = """
import asyncio

from rerankrt import Reranker

query = "Who wrote 'To Kill a Mockingbird'?"
documents = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960.",
    "The novel 'Moby-Dick' was written by Herman Melville.",
    "Harper Lee was an American novelist.",
]

with Reranker.load("engines/cpu") as reranker:  # the backend the manifest names; or backend="onnxruntime"
    # Best first; score is the raw logit, normalize=True gives sigmoid(score) = P(relevant).
    for hit in reranker.rank(query, documents, top_k=2, return_documents=True, normalize=True):
        print(f"{hit.index}  {hit.score:.3f}  {hit.document}")

    scores = reranker.score(query, documents)  # raw scores, in input order
    pairs = reranker.score_pairs([(query, documents[0]), ("Who wrote Moby-Dick?", documents[1])])
    # From asyncio: the same calls with an "a", awaited; concurrent calls share batches.
    ranked = asyncio.run(reranker.arank(query, documents, timeout=30.0))
    print(reranker.info()["backend"], len(scores), len(pairs), [hit.index for hit in ranked])
"""


def test_readme_example_runs(cpu_engine_dir):
    code = README_EXAMPLE.replace('"engines/cpu"', repr(str(cpu_engine_dir)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    hits = [line.split("  ", 2) for line in lines[:2]]
    assert all(0.0 <= float(score) <= 1.0 for _, score, _ in hits)
    assert float(hits[0][1]) >= float(hits[1][1])
    backend, n_scores, n_pairs, order = lines[2].split(" ", 3)
    assert (backend, n_scores, n_pairs) == ("onnxruntime", "3", "2")
    assert order.startswith(f"[{hits[0][0]}, {hits[1][0]}")
