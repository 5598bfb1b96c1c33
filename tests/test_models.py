"""Checkpoint conversion and the float32 reference, checked against the model authors' library."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rerankrt.models import checkpoint_form, convert_checkpoint, ensure_classifier1, write_tiny_model
from rerankrt.prompt import PromptEncoder, padded_batch
from rerankrt.runtime.backends.torch import TorchBackend

QUERIES = [
    ("Who wrote 'To Kill a Mockingbird'?", ""),
    ("数据库索引是如何工作的？", ""),
    ("Wie funktioniert eine Wärmepumpe?", "You are an expert in building physics."),
    ("¿Cuál es la capital de Australia?", ""),
    ("python read a file line by line", "Prefer documents with code examples."),
    ("東京の人口は？", ""),
]
DOCUMENTS = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960.",
    "The novel 'Moby-Dick' was written by Herman Melville and first published in 1851.",
    "B树索引把键按顺序存放在平衡树中，查询时只需访问少量页面。" * 6,
    "Eine Wärmepumpe entzieht der Umgebung Wärme und hebt sie auf ein höheres Temperaturniveau. " * 12,
    "Canberra es la capital de Australia desde 1913.",
    "with open('data.txt') as f:\n    for line in f:\n        print(line.rstrip())",
    "",
    "東京都の人口は約1400万人です。",
    "A very long unrelated document about the weather in many places and seasons. " * 40,
]


def pairs(n: int = 54):
    out = []
    for i in range(n):
        q, ins = QUERIES[i % len(QUERIES)]
        out.append((q, DOCUMENTS[(i * 5) % len(DOCUMENTS)], ins))
    return out


@pytest.fixture(scope="module")
def causal_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("causal"), form="causal", seed=1)


@pytest.fixture(scope="module")
def converted_dir(causal_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    convert_checkpoint(causal_dir, out)
    return out


def torch_scores(model_dir, encoder: PromptEncoder, items) -> np.ndarray:
    backend = TorchBackend(model_dir)
    scores = []
    for q, d, ins in items:  # one at a time: the reference has no batch to hide behind
        enc = encoder.encode([q], [d], [ins])
        ids, lengths = padded_batch(enc.ids, encoder.pad_id)
        scores.append(backend.score(ids, lengths)[0])
    return np.array(scores)


@pytest.mark.parametrize("max_length", [48, 8192])
def test_parity_with_mxbai_rerank(causal_dir, converted_dir, max_length):
    from mxbai_rerank import MxbaiRerankV2

    reference = MxbaiRerankV2(str(causal_dir), device="cpu", torch_dtype=torch.float32, max_length=max_length)
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


def source_scores(model_dir, form, encoder, items):
    """logit("1") - logit("0") read straight from the unconverted checkpoint."""
    import transformers

    cls = transformers.AutoModelForCausalLM if form == "causal" else transformers.AutoModelForSequenceClassification
    model = cls.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    with torch.inference_mode():
        for q, d, ins in items:
            ids = torch.from_numpy(encoder.encode([q], [d], [ins]).ids[0])[None]
            logits = model(input_ids=ids).logits
            if form == "causal":
                out.append((logits[0, -1, encoder.yes_id] - logits[0, -1, encoder.no_id]).item())
            else:
                out.append((logits[0, 1] - logits[0, 0]).item())
    return np.array(out)


@pytest.mark.parametrize("form", ["causal", "classifier2"])
def test_conversion_preserves_the_score(form, tmp_path):
    src = write_tiny_model(tmp_path / "src", form=form, seed=3)
    record = convert_checkpoint(src, tmp_path / "out")
    assert record["form"] == form and (record["yes_id"], record["no_id"]) == (16, 15)
    assert json.loads((tmp_path / "out" / "conversion.json").read_text()) == record
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["num_labels"] == 1 if "num_labels" in config else len(config["id2label"]) == 1
    assert (tmp_path / "out" / "tokenizer.json").read_bytes() == (src / "tokenizer.json").read_bytes()
    encoder = PromptEncoder(tmp_path / "out", template="seed")
    items = pairs(12)
    np.testing.assert_allclose(
        torch_scores(tmp_path / "out", encoder, items), source_scores(src, form, encoder, items), atol=1e-4
    )


def test_yes_no_tokens_are_configurable(causal_dir, tmp_path):
    record = convert_checkpoint(causal_dir, tmp_path / "yesno", yes_token="yes", no_token="no")
    assert record["yes_token"] == "yes" and record["yes_id"] != 16
    with pytest.raises(ValueError, match="single tokens"):
        convert_checkpoint(causal_dir, tmp_path / "bad", yes_token="relevant indeed")


def test_forms_and_refusals(causal_dir, converted_dir, tmp_path):
    import transformers

    assert checkpoint_form(transformers.AutoConfig.from_pretrained(causal_dir)) == "causal"
    assert checkpoint_form(transformers.AutoConfig.from_pretrained(converted_dir)) == "classifier1"
    assert ensure_classifier1(converted_dir, tmp_path / "unused") == converted_dir
    with pytest.raises(FileNotFoundError, match="no config.json"):
        convert_checkpoint(tmp_path, tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="neither a local folder nor a hub id"):
        convert_checkpoint("not-a-path-or-hub-id", tmp_path / "x")


def test_torch_backend_is_batch_invariant(converted_dir):
    encoder = PromptEncoder(converted_dir)
    items = pairs(16)
    alone = torch_scores(converted_dir, encoder, items)
    enc = encoder.encode([p[0] for p in items], [p[1] for p in items], [p[2] for p in items])
    ids, lengths = padded_batch(enc.ids, encoder.pad_id, multiple_of=8)
    np.testing.assert_allclose(TorchBackend(converted_dir).score(ids, lengths), alone, atol=1e-5)
