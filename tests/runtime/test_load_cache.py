"""What `Reranker.load` no longer redoes on each call: model.onnx's precision comes from the manifest, and the graph's
sizes from the per-user cache keyed by the graph's sha256 (so a second load never imports onnx)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")

from rerankrt import Reranker  # noqa: E402
from rerankrt.manifest import read_manifest  # noqa: E402
from rerankrt.runtime.backends import onnx as onnx_backend  # noqa: E402

_PROBE = """
import json, sys
from rerankrt import Reranker
r = Reranker.load(sys.argv[1])
shape = r.backend.limits.model
print(json.dumps({"onnx": "onnx" in sys.modules, "precision": r.backend.precision,
                  "shape": [shape.layers, shape.hidden, shape.heads]}))
"""


def _probe(engine_dir, cache) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(engine_dir)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.splitlines()[-1])


def test_a_second_load_reads_no_graph_and_imports_no_onnx(cpu_engine_dir, tmp_path):
    first = _probe(cpu_engine_dir, tmp_path)
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "rerankrt").iterdir())
    assert names == ["fastbpe", "graph"]
    second = _probe(cpu_engine_dir, tmp_path)
    assert second["onnx"] is False
    assert second == {**first, "onnx": False}
    assert second["precision"] == read_manifest(cpu_engine_dir).target.graph_precision


def test_precision_comes_from_the_manifest_and_a_corrupt_shape_entry_is_reread(cpu_engine_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def no_graph(path):
        raise AssertionError("the graph was loaded to read its precision")

    monkeypatch.setattr(onnx_backend, "graph_precision", no_graph)
    first = Reranker.load(cpu_engine_dir)
    shape = first.backend.limits.model
    first.close()
    fields = {"layers": shape.layers, "hidden": shape.hidden, "heads": shape.heads}
    (entry,) = (tmp_path / "rerankrt").glob("graph-shape-*.json")
    for corrupt in ("{", '{"sha256": "other", "shape": null}', '{"sha256": 1}'):
        entry.write_text(corrupt)
        again = Reranker.load(cpu_engine_dir)
        assert again.backend.limits.model == shape
        again.close()
        assert json.loads(entry.read_text())["shape"] == fields
