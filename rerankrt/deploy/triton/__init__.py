"""Serve an engine directory from NVIDIA Triton Inference Server: a model repository with a Python-backend model.

Triton does transport (HTTP/gRPC, KServe v2), model management and metrics; rerankrt's in-flight batcher, templates
and truncation do the scoring. `repository_from_engine_dir` writes the repository (``rerankrt export triton``).
"""

from rerankrt.deploy.triton.config import TritonModelConfig, pbtxt_from_config
from rerankrt.deploy.triton.export import TritonExport, repository_from_engine_dir

__all__ = ["TritonExport", "TritonModelConfig", "pbtxt_from_config", "repository_from_engine_dir"]
