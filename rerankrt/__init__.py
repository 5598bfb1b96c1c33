"""rerankrt: mxbai-rerank v2 as FP8 TensorRT engines, served with in-flight batching.

`import rerankrt` needs only the core install; heavy pieces are imported when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["RankResult", "Reranker", "__version__"]


def __getattr__(name: str):
    if name == "Reranker":
        from rerankrt.runtime.reranker import Reranker

        return Reranker
    if name == "RankResult":
        from rerankrt.runtime.ranking import RankResult

        return RankResult
    raise AttributeError(f"module 'rerankrt' has no attribute {name!r}")
