"""1-logit classifier checkpoint -> float32 ONNX graph with the engine directory's fixed I/O contract.

The graph takes ``input_ids`` and ``attention_mask`` (int64 [batch, seq], right padding) and returns ``scores``
(float32 [batch]): the head's single logit, logit("1") - logit("0"), read at each row's last real token.

Why the body sees only a causal mask: with right padding every real token sits at positions 0..len-1 and, under
the causal mask, attends only to earlier positions, all real. The padding mask therefore cannot change any real
token's hidden state, and the body runs with one [1, 1, seq, seq] causal mask shared by the batch (built in the
graph from the sequence length). ``attention_mask`` picks each row's last real token. This keeps the graph free of
transformers' mask-building code (which the TorchScript exporter cannot trace) and of per-row masks that would
cost batch x seq x seq memory on the GPU.

The legacy TorchScript exporter is used: the dynamo exporter cannot trace ModelOpt's quantizers and gains nothing
here. Squeezes are written as index selections so that the graph has no ``If`` nodes on dynamic shapes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from rerankrt._optional import require
from rerankrt.manifest import ONNX_INPUTS, ONNX_OUTPUT

OPSET = 19  # FP8 QuantizeLinear/DequantizeLinear (FLOAT8E4M3FN) need opset 19
PROTOBUF_LIMIT = 2_000_000_000  # bytes; larger graphs keep their weights in an external data file
DYNAMIC_AXES = {
    ONNX_INPUTS[0]: {0: "batch", 1: "seq"},
    ONNX_INPUTS[1]: {0: "batch", 1: "seq"},
    ONNX_OUTPUT: {0: "batch"},
}


def scorer_module(classifier):
    """A torch module ``(input_ids, attention_mask) -> scores`` around a 1-logit sequence classifier.

    Args:
        classifier: A transformers ``*ForSequenceClassification`` with ``num_labels == 1`` (the converted form).

    Returns:
        A `torch.nn.Module` whose forward returns float32 [batch] scores.
    """
    torch = require("torch", purpose="ONNX export")
    if int(classifier.config.num_labels) != 1:
        raise ValueError(
            f"export needs the converted 1-logit classifier, got {classifier.config.num_labels} labels "
            "(run rerankrt.models.ensure_classifier1 first)"
        )

    class RerankScorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = classifier.base_model
            self.score = classifier.score

        def forward(self, input_ids, attention_mask):
            seq = input_ids.shape[1]
            pos = torch.arange(seq, device=input_ids.device)
            # The mask takes the body's dtype (a BF16 copy runs the same module), and BF16's most negative
            # finite value, which float32 represents exactly: the BF16 TensorRT graph keeps a finite mask.
            dtype = self.body.embed_tokens.weight.dtype
            masked = torch.tensor(torch.finfo(torch.bfloat16).min, dtype=dtype)
            causal = torch.where(pos[None, :] <= pos[:, None], torch.zeros((), dtype=dtype), masked)[None, None]
            hidden = self.body(input_ids=input_ids, attention_mask=causal, use_cache=False).last_hidden_state
            last = attention_mask.sum(dim=1, keepdim=True) - 1  # [batch, 1]
            index = last.unsqueeze(-1).expand(-1, 1, hidden.shape[-1])
            pooled = torch.gather(hidden, 1, index).select(1, 0)  # [batch, hidden]
            return self.score(pooled).select(1, 0).float()

    return RerankScorer().eval()


def load_classifier(model_dir: str | Path):
    """The converted 1-logit classifier in float32 with the SDPA attention path, in eval mode."""
    torch = require("torch", purpose="ONNX export")
    transformers = require("transformers", purpose="ONNX export")
    return transformers.AutoModelForSequenceClassification.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="sdpa"
    ).eval()


def sample_inputs(pad_id: int, *, batch: int = 2, seq: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded example inputs for tracing: rows of different lengths, so nothing is specialised to one."""
    rng = np.random.default_rng(0)
    ids = rng.integers(100, 1000, size=(batch, seq), dtype=np.int64)
    lengths = np.linspace(seq, max(seq // 2, 1), batch).astype(np.int64)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    ids[mask == 0] = pad_id
    return ids, mask


def onnx_from_module(module, out_path: str | Path, *, pad_id: int, opset: int = OPSET) -> Path:
    """Export a scorer module (float32 or ModelOpt-quantized) to ONNX with dynamic batch and sequence axes.

    Args:
        module: A module built by `scorer_module`.
        out_path: The .onnx file to write. Weights over 2 GB go to ``<name>.data`` beside it.
        pad_id: Padding token id, for the tracing example.
        opset: ONNX opset. Defaults to 19.

    Returns:
        `out_path`.
    """
    torch = require("torch", purpose="ONNX export")
    onnx = require("onnx", purpose="ONNX export")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ids, mask = sample_inputs(pad_id)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.from_numpy(ids), torch.from_numpy(mask)),
            str(out_path),
            input_names=list(ONNX_INPUTS),
            output_names=[ONNX_OUTPUT],
            dynamic_axes=DYNAMIC_AXES,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    # Re-save: one file below the protobuf limit, else weights in one external file with a predictable name.
    model = onnx.load(str(out_path))
    save_onnx(model, out_path)
    return out_path


def save_onnx(model, out_path: str | Path) -> Path:
    """Write an ONNX ModelProto: one file below 2 GB, else the weights in ``<name>.data`` beside it."""
    onnx = require("onnx", purpose="writing ONNX")
    out_path = Path(out_path)
    data = out_path.with_name(out_path.name + ".data")
    for stale in out_path.parent.glob("onnx__*"):  # tensors the exporter spilled one per file
        stale.unlink()
    if data.exists():
        data.unlink()
    if model.ByteSize() < PROTOBUF_LIMIT:
        onnx.save_model(model, str(out_path))
    else:
        onnx.save_model(
            model, str(out_path), save_as_external_data=True, all_tensors_to_one_file=True, location=data.name
        )
    return out_path


def onnx_files(onnx_path: str | Path) -> list[Path]:
    """The files that make up a graph: the .onnx and, where the weights are external, its .data file."""
    onnx_path = Path(onnx_path)
    data = onnx_path.with_name(onnx_path.name + ".data")
    return [onnx_path, data] if data.is_file() else [onnx_path]


def onnx_from_checkpoint(model_dir: str | Path, out_path: str | Path, *, opset: int = OPSET) -> Path:
    """1-logit classifier folder -> float32 ONNX graph (``input_ids``, ``attention_mask`` -> ``scores``).

    Args:
        model_dir: The converted classifier (see `rerankrt.models.ensure_classifier1`).
        out_path: The .onnx file to write.
        opset: ONNX opset. Defaults to 19.

    Returns:
        `out_path`.
    """
    classifier = load_classifier(model_dir)
    pad_id = int(classifier.config.pad_token_id)
    return onnx_from_module(scorer_module(classifier), out_path, pad_id=pad_id, opset=opset)
