"""rerankrt's prompts and float32 scores against mxbai-rerank's on the same weights (runs in .venv-ref)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rerankrt.prompt import PromptEncoder
from tests.samples import pairs, torch_scores


@pytest.mark.parametrize("max_length", [48, 8192])
def test_parity_with_mxbai_rerank(mxbai_rerank, causal_dir, converted_dir, max_length):
    reference = mxbai_rerank.MxbaiRerankV2(
        str(causal_dir), device="cpu", torch_dtype=torch.float32, max_length=max_length
    )
    items = pairs(54 if max_length == 48 else 18)  # the long budget runs full-length rows: fewer of them
    expected = []
    for ins in {p[2] for p in items}:  # the reference takes one instruction per call
        group = [p for p in items if p[2] == ins]
        got = reference.predict([p[0] for p in group], [p[1] for p in group], instruction=ins or None)
        expected += list(zip(group, got.numpy().tolist(), strict=True))
    order = {p: s for p, s in expected}
    encoder = PromptEncoder(converted_dir, template="mxbai", max_length=max_length)
    ours = torch_scores(converted_dir, encoder, items)
    np.testing.assert_allclose(ours, [order[p] for p in items], atol=1e-4, rtol=0)
    enc = encoder.encode([p[0] for p in items], [p[1] for p in items], [p[2] for p in items])
    if max_length == 48:
        assert enc.truncated.sum() >= 10, "the small max_length must exercise truncation"
    # Token for token what the reference feeds its model.
    for ins in {p[2] for p in items}:
        group = [i for i, p in enumerate(items) if p[2] == ins]
        ref = reference.prepare_inputs([items[i][0] for i in group], [items[i][1] for i in group], instruction=ins)
        for row, i in enumerate(group):
            mask = ref["attention_mask"][row].bool()
            assert ref["input_ids"][row][mask].tolist() == enc.ids[i].tolist()


def test_a_transformers_5_config_loads_with_the_same_rope_here(transformers_4, tmp_path):
    """A config.json in transformers 5's layout (rope base only in rope_parameters) reads as written under 4.x."""
    import json

    from rerankrt.models import write_portable_config

    transformers = transformers_4
    config = transformers.Qwen2Config(hidden_size=64, num_attention_heads=4, num_key_value_heads=2).to_dict()
    del config["rope_theta"]
    config["rope_parameters"] = {"rope_theta": 1_000_000.0, "rope_type": "default"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert transformers.AutoConfig.from_pretrained(tmp_path).rope_theta == 10_000.0  # the silent fallback
    write_portable_config(tmp_path)
    assert transformers.AutoConfig.from_pretrained(tmp_path).rope_theta == 1_000_000.0
