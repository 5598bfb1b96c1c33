"""Checkpoint conversion and the float32 reference (parity with the model authors' library: tests/reference/)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rerankrt.models import checkpoint_form, convert_checkpoint, ensure_classifier1, write_tiny_model
from rerankrt.prompt import PromptEncoder
from rerankrt.runtime.backends.torch import TorchBackend
from rerankrt.tokenizer import padded_batch
from tests.samples import pairs, torch_scores


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


@pytest.mark.parametrize("writer", ["tiny", "converted"])
def test_saved_configs_keep_the_legacy_rope_key(writer, causal_dir, converted_dir):
    """transformers 5 saves the rope base only in rope_parameters, which 4.x ignores (it would use 10000)."""
    config = json.loads(((causal_dir if writer == "tiny" else converted_dir) / "config.json").read_text())
    assert config["rope_theta"] == 1_000_000.0
    assert config.get("rope_parameters", {}).get("rope_theta", 1_000_000.0) == 1_000_000.0
