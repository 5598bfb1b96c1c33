"""Deployment targets other than rerankrt's own HTTP server: a Triton model repository (`rerankrt.deploy.triton`).

Each target wraps the public `rerankrt.Reranker` API and keeps its in-flight batcher as the only batcher.
"""
