"""Benchmarks of rerankrt against the model authors' reference library (mxbai-rerank) and raw `tokenizers`.

Each module is one benchmark, runnable alone (``python -m benchmarks.bench_tokenization``) and callable as
``run(size=...) -> dict``; ``python -m benchmarks.run_all`` (``make bench``) runs them all and writes the summary.
Results land in the git-ignored ``benchmarks/results/``.
"""
