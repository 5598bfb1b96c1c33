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


# -- the TensorRT graph's attention ----------------------------------------------------------------------------

ATTENTION_OPSET = 23  # ONNX Attention (is_causal, GQA on 4-D inputs) is new in opset 23
_UNREPEAT = ("Reshape", "Expand", "Unsqueeze")  # transformers' repeat_kv: [B, Nkv, S, D] -> [B, Nkv * g, S, D]


def fused_attention_model(model):
    """float32-remainder graph (opset 19, decomposed SDPA) -> the same network with one ONNX ``Attention`` per layer.

    Why this form (the evidence, as of TensorRT 10.14 / 11.0):

    - TensorRT's "Fused Attention" guide (docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/
      transformers-fused-attention.html) names two ways to trigger fusion: "Method 1 (recommended)": the
      ``IAttention`` API, and "Method 2": MatMul/Softmax primitives. It takes Q [B, N_q, S, H] and K/V
      [B, N_kv, S, H] and states that GQA (N_q % N_kv == 0) fusion is supported, so repeat_kv's 7x K/V copies
      are not needed. ``IAttention`` (``INetworkDefinition.add_attention`` with a causal flag) is new in TensorRT
      10.14.1 (release notes, "Added IAttention API ... runs a fused attention kernel").
    - The ONNX parser maps the ONNX ``Attention`` op onto it: onnx/onnx-tensorrt ``builtin_op_importers.cpp``,
      ``DEFINE_BUILTIN_OP_IMPORTER(Attention)`` reads ``is_causal`` and calls
      ``ctx->network()->addAttention(query, key, value, normOp, isCausal)``, masks are optional, ``past_key`` /
      ``past_value`` are refused; ``AttentionHelpers.hpp`` applies sqrt(scale) to Q and to K itself (the numeric
      rule of the fused-attention guide). The parser's 10.14 GA release: "Added support for the Attention operator".
    - The TorchScript exporter this project must use for ModelOpt's quantizers stops at opset 20
      (``torch.onnx._constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET``), so the op cannot come from the exporter:
      this rewrite writes it into the exported graph.

    What changes, per layer: ``MatMul(Q * a, Transpose(repeat_kv(K)) * b) + mask -> Softmax -> MatMul(., repeat_kv(V))``
    becomes ``Attention(Q, K, V, is_causal=1, scale=a * b)`` on the un-repeated [B, N_kv, S, D] K and V. The shared
    [1, 1, S, S] additive mask, repeat_kv's Expand/Reshape and their shape arithmetic fall out as dead nodes.

    Why a causal flag alone is exact here: the engine's inputs are right padded and `scorer_module` reads each
    row's score at its last real token (``attention_mask.sum(1) - 1``). Under causal attention a real token at
    position i sees positions 0..i, all real; padding only ever sees earlier positions, and no real token or the
    pooled one reads a padded position's state. The exported mask is that same causal mask (it is built from the
    sequence length alone, never from ``attention_mask``; this function checks that), so the rewrite changes no
    real token's arithmetic.

    Raises:
        ValueError: A Softmax does not sit in the exported SDPA pattern, its mask depends on ``attention_mask``,
            or a Q/DQ sits on the attention path (the fused form would silently drop it).
    """
    onnx = require("onnx", purpose="the fused-attention graph")

    graph = model.graph
    index = _SdpaGraph(graph)
    replaced = {id(node): index.attention_for(node) for node in graph.node if node.op_type == "Softmax"}
    if not replaced:
        raise ValueError("no attention (Softmax) found in the graph")
    # Each Attention takes the place of its PV MatMul (the node that wrote the attention output).
    by_output = {index.consumer_matmul(id_): node for id_, node in replaced.items()}
    nodes = [by_output.get(id(n), n) for n in graph.node]
    _keep_live(graph, nodes)
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = max(opset.version, ATTENTION_OPSET)
    onnx.checker.check_model(model)
    return model


class _SdpaGraph:
    """A graph's producer/consumer index and the pattern steps of `fused_attention_model`."""

    def __init__(self, graph) -> None:
        self.graph = graph
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self._pv: dict[int, int] = {}  # id(Softmax) -> id(its PV MatMul)

    def constant(self, name: str) -> float | None:
        from onnx import numpy_helper

        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            value = numpy_helper.to_array(node.attribute[0].t)
        else:
            init = next((t for t in self.graph.initializer if t.name == name), None)
            value = None if init is None else numpy_helper.to_array(init)
        return float(value) if value is not None and value.size == 1 else None

    def unscale(self, name: str) -> tuple[str, float]:
        node = self.producer.get(name)
        if node is not None and node.op_type == "Mul":
            for i, j in ((0, 1), (1, 0)):
                factor = self.constant(node.input[j])
                if factor is not None:
                    return node.input[i], factor
        return name, 1.0

    def unrepeat(self, name: str) -> str:
        chain, source, node = [], name, self.producer.get(name)
        while node is not None and node.op_type in _UNREPEAT and len(chain) < len(_UNREPEAT):
            chain.append(node.op_type)
            source, node = node.input[0], self.producer.get(node.input[0])
        if chain and chain != list(_UNREPEAT):
            raise ValueError(f"K/V path {chain} above {name!r} is not repeat_kv (Unsqueeze -> Expand -> Reshape)")
        return source

    def depends_on(self, name: str, target: str) -> bool:
        seen, stack = set(), [name]
        while stack:
            tensor = stack.pop()
            if tensor == target:
                return True
            node = self.producer.get(tensor)
            if node is not None and id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.input)
        return False

    def consumer_matmul(self, softmax_id: int) -> int:
        return self._pv[softmax_id]

    def attention_for(self, softmax):
        """The ``Attention`` node that replaces `softmax`'s SDPA (its PV MatMul's place is recorded)."""
        from onnx import helper

        producer = self.producer
        add = producer.get(softmax.input[0])
        qk = next((producer.get(i) for i in (add.input if add is not None else []) if i in producer), None)
        if add is None or add.op_type != "Add" or qk is None or qk.op_type != "MatMul":
            raise ValueError(f"Softmax {softmax.name!r} is not fed by MatMul + mask: not the exported SDPA")
        mask = next(i for i in add.input if i != qk.output[0])
        if self.depends_on(mask, ONNX_INPUTS[1]):
            raise ValueError(
                f"the mask of {softmax.name!r} depends on {ONNX_INPUTS[1]!r}: a causal flag cannot replace it"
            )
        pv = [c for c in self.consumers.get(softmax.output[0], []) if c.op_type == "MatMul"]
        if len(pv) != 1:
            raise ValueError(f"Softmax {softmax.name!r} does not feed exactly one MatMul")
        pv = pv[0]
        q, q_scale = self.unscale(qk.input[0])
        kt, k_scale = self.unscale(qk.input[1])
        transpose = producer.get(kt)
        perm = next((list(a.ints) for a in transpose.attribute if a.name == "perm"), None) if transpose else None
        if transpose is None or transpose.op_type != "Transpose" or perm != [0, 1, 3, 2]:
            raise ValueError(f"K of {qk.name!r} is not a [0, 1, 3, 2] Transpose")
        k, v = self.unrepeat(transpose.input[0]), self.unrepeat(pv.input[1])
        for tensor in (q, k, v):
            if producer.get(tensor) is not None and producer[tensor].op_type == "DequantizeLinear":
                raise ValueError(f"{tensor!r} reads a DequantizeLinear: FP8 attention inputs are not supported")
        # The exporter reads the output's shape off the repeated V; Q has that shape ([B, N_q, S, D]), so the
        # Shape nodes read Q and the repeated copies die with the rest of repeat_kv.
        for repeated in {transpose.input[0], pv.input[1]} - {k, v}:
            for user in self.consumers.get(repeated, []):
                if user.op_type == "Shape":
                    user.input[0] = q
        self._pv[id(softmax)] = id(pv)
        prefix = softmax.name.rsplit("/", 1)[0]
        return helper.make_node(
            "Attention", [q, k, v], [pv.output[0]], name=f"{prefix}/Attention", is_causal=1, scale=q_scale * k_scale
        )


def _keep_live(graph, nodes: list) -> None:
    """Replace the graph's nodes by the ones the outputs still need (the mask and repeat_kv fall away)."""
    producer = {out: node for node in nodes for out in node.output}
    live, stack = set(), [o.name for o in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in live:
            live.add(id(node))
            stack.extend(node.input)
    kept = [n for n in nodes if id(n) in live]
    del graph.node[:]
    graph.node.extend(kept)
    names = {t for n in kept for t in (*n.input, *n.output)}
    infos = [v for v in graph.value_info if v.name in names]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    inits = [t for t in graph.initializer if t.name in names]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def fused_attention_onnx(src: str | Path, out_path: str | Path) -> Path:
    """An ONNX file -> `fused_attention_model` of it, written with `save_onnx` (weights loaded and rewritten)."""
    onnx = require("onnx", purpose="the fused-attention graph")
    return save_onnx(fused_attention_model(onnx.load(str(src))), out_path)
