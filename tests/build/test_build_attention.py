"""The TensorRT graph's attention: one causal GQA ONNX ``Attention`` per layer, no [1, 1, S, S] mask, no repeat_kv.

The twin (onnxruntime's graph) keeps the exported decomposed attention; the rewrite must compute the same scores
(onnxruntime 1.32 runs Attention-23 on the CPU), and `check_fused_attention` must tell the two forms apart.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def graphs(tiny_classifier_dir, tmp_path_factory):
    from rerankrt.build.export import fused_attention_onnx, onnx_from_checkpoint

    work = tmp_path_factory.mktemp("attention")
    twin = onnx_from_checkpoint(tiny_classifier_dir, work / "model.onnx")
    return twin, fused_attention_onnx(twin, work / "model.attention.onnx")


def _scores(path, ids, mask):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def test_fused_graph_has_causal_gqa_attention_and_no_mask_or_repeat_kv(graphs):
    from rerankrt.build.check import check_fused_attention

    twin, fused = (onnx.load(str(p)) for p in graphs)
    verdict = check_fused_attention(fused)
    assert verdict.passed, verdict.failures
    assert verdict.details == {"attention_ops": 2, "softmax": 0, "opset": 23}
    # K and V enter un-repeated: 2 KV heads against 4 query heads (the tiny model's GQA), read off a run.
    from rerankrt.build.export import sample_inputs

    probe = onnx.load(str(graphs[1]))
    attention = [n for n in probe.graph.node if n.op_type == "Attention"]
    assert all({a.name: a.i for a in n.attribute if a.name == "is_causal"} == {"is_causal": 1} for n in attention)
    probe.graph.output.extend(onnx.ValueInfoProto(name=name) for name in attention[0].input)
    ids, mask = sample_inputs(0, batch=2, seq=7)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    q, k, v = session.run(list(attention[0].input), {"input_ids": ids, "attention_mask": mask})
    assert q.shape == (2, 4, 7, 16) and k.shape == v.shape == (2, 2, 7, 16)
    # The exported twin is what the check exists to catch: Softmax with a runtime mask, repeat_kv's Expand.
    old = check_fused_attention(twin)
    assert not old.passed
    assert any("Softmax" in f for f in old.failures) and any("Expand" in f for f in old.failures)
    assert not any(n.op_type == "Attention" for n in twin.graph.node)


def test_fused_graph_scores_match_the_twin_with_right_padding(graphs):
    from rerankrt.build.export import sample_inputs

    twin, fused = graphs
    ids, mask = sample_inputs(0, batch=4, seq=29)
    mask[3, 3:] = 0
    ids[3, 3:] = 0
    np.testing.assert_allclose(_scores(fused, ids, mask), _scores(twin, ids, mask), atol=1e-4)
    # Causal attention alone never reads padding: each padded row scores as its unpadded self.
    for row in range(4):
        length = int(mask[row].sum())
        alone = _scores(fused, ids[row : row + 1, :length], mask[row : row + 1, :length])
        np.testing.assert_allclose(_scores(fused, ids, mask)[row], alone[0], atol=1e-4)


def test_a_mask_built_from_attention_mask_is_refused(graphs):
    from rerankrt.build.export import fused_attention_model

    model = onnx.load(str(graphs[0]))
    add = next(n for n in model.graph.node if n.op_type == "Softmax").input[0]
    node = next(n for n in model.graph.node if add in n.output)
    model.graph.node.append(onnx.helper.make_node("Cast", ["attention_mask"], ["padding_mask"], to=1))
    node.input[1] = "padding_mask"
    with pytest.raises(ValueError, match="depends on 'attention_mask'"):
        fused_attention_model(model)


def test_bf16_trt_graph_carries_the_fused_attention(graphs, tmp_path):
    pytest.importorskip("modelopt.onnx.autocast")
    from rerankrt.build.check import check_trt_graph
    from rerankrt.build.export import sample_inputs
    from rerankrt.build.precision import trt_graph_from_twin

    ids, mask = sample_inputs(0, batch=2, seq=16)
    out, info = trt_graph_from_twin(graphs[0], tmp_path / "model.trt.onnx", {"input_ids": ids, "attention_mask": mask})
    verdict = check_trt_graph(out, body="bf16", quantized=False)
    assert verdict.passed, verdict.failures
    assert verdict.details["types"]["attention_ops"] == 2 and verdict.details["attention"]["softmax"] == 0
    assert "is_causal=1" in info["attention"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.trt.onnx"]  # the float32 step is cleaned up
