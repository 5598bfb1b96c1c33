"""Checkpoints: locate them, convert them to a 1-logit classifier, and make tiny offline ones for tests.

A reranker checkpoint comes in one of three forms:

- causal LM (``mixedbread-ai/mxbai-rerank-base-v2``): the score is logit(yes) - logit(no) of the LM head at the last
  position;
- 2-label classifier (``michaelfeil/mxbai-rerank-base-v2-seq``): rows "0" and "1" of the head are the LM rows;
- 1-logit classifier: the converted form every later stage uses, whose single head row is W[yes] - W[no].

Needs the `build` extra (torch, transformers).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rerankrt._optional import require
from rerankrt.prompt import NO_TOKEN, YES_TOKEN
from rerankrt.tokenizer import bundled_tokenizer_dir, load_tokenizer

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
)
CONVERSION_RECORD = "conversion.json"
FORMS = ("causal", "classifier2", "classifier1")


def resolve_checkpoint(src: str | Path, *, revision: str | None = None) -> Path:
    """A local folder for `src`: the folder itself, or a hub id downloaded into the Hugging Face cache.

    Args:
        src: A folder with config.json, or a hub id such as "michaelfeil/mxbai-rerank-base-v2-seq".
        revision: Hub revision (branch, tag or commit). Defaults to the hub's default branch.
    """
    path = Path(src).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a Hugging Face checkpoint folder")
        return path
    if str(src).count("/") != 1:
        raise FileNotFoundError(f"{src} is neither a local folder nor a hub id of the form owner/name")
    hub = require("huggingface_hub", extra="build", purpose=f"downloading {src}")
    return Path(
        hub.snapshot_download(
            repo_id=str(src),
            revision=revision,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.bin"],
        )
    )


def checkpoint_form(config) -> str:
    """ "causal", "classifier2" or "classifier1" from a transformers config."""
    archs = list(getattr(config, "architectures", None) or [])
    if any(a.endswith("ForCausalLM") for a in archs):
        return "causal"
    if any(a.endswith("ForSequenceClassification") for a in archs):
        labels = int(getattr(config, "num_labels", 2))
        if labels == 1:
            return "classifier1"
        if labels == 2:
            return "classifier2"
        raise ValueError(f"a reranker classifier has 1 or 2 labels; this one has {labels}")
    raise ValueError(f"unsupported architectures {archs}: expected a *ForCausalLM or *ForSequenceClassification")


def _label_rows(config) -> tuple[int, int]:
    """Rows (yes, no) of a 2-label head: labels named "1"/"0" if the config names them, else index 1 and 0."""
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    names = {v: k for k, v in id2label.items()}
    if YES_TOKEN in names and NO_TOKEN in names:
        return names[YES_TOKEN], names[NO_TOKEN]
    return 1, 0


def convert_checkpoint(
    src: str | Path,
    out: str | Path,
    *,
    yes_token: str = YES_TOKEN,
    no_token: str = NO_TOKEN,
    revision: str | None = None,
) -> dict:
    """Write a 1-logit sequence classifier whose head row is W[yes] - W[no], computed in float32.

    Args:
        src: Causal-LM or classifier checkpoint, local folder or hub id.
        out: Folder to write (config, float32 weights, tokenizer files, conversion.json).
        yes_token: Token whose logit means relevant. Defaults to "1" (mxbai); Qwen3-Reranker style models use "yes".
        no_token: Token whose logit means not relevant. Defaults to "0".
        revision: Hub revision when `src` is a hub id.

    Returns:
        The conversion record, also written to out/conversion.json.
    """
    torch = require("torch", purpose="checkpoint conversion")
    transformers = require("transformers", purpose="checkpoint conversion")
    path = resolve_checkpoint(src, revision=revision)
    out = Path(out)
    config = transformers.AutoConfig.from_pretrained(path)
    form = checkpoint_form(config)
    tokenizer = load_tokenizer(path)
    yes_ids = tokenizer.encode(yes_token, add_special_tokens=False).ids
    no_ids = tokenizer.encode(no_token, add_special_tokens=False).ids
    if len(yes_ids) != 1 or len(no_ids) != 1:
        raise ValueError(f"yes/no tokens must be single tokens: {yes_token!r}->{yes_ids}, {no_token!r}->{no_ids}")
    yes_id, no_id = yes_ids[0], no_ids[0]

    if form == "causal":
        source = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        head = source.get_output_embeddings().weight
        row = head[yes_id].double() - head[no_id].double()
        body_state = source.base_model.state_dict()
    else:
        source = transformers.AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32)
        head = source.score.weight
        if form == "classifier2":
            yes_row, no_row = _label_rows(config)
            row = head[yes_row].double() - head[no_row].double()
        else:
            row = head[0].double()
        body_state = source.base_model.state_dict()

    target_config = transformers.AutoConfig.from_pretrained(path)
    target_config.architectures = [_classifier_arch(config)]
    target_config.num_labels = 1
    target_config.id2label = {0: "score"}
    target_config.label2id = {"score": 0}
    target_config.pad_token_id = tokenizer.token_to_id("<|endoftext|>")
    target_config.dtype = "float32"  # transformers >= 4.56 names it dtype (torch_dtype is deprecated in 5)
    target = transformers.AutoModelForSequenceClassification.from_config(target_config, dtype=torch.float32)
    missing, unexpected = target.base_model.load_state_dict(body_state, strict=False)
    missing = [k for k in missing if "rotary" not in k]
    if missing or unexpected:
        raise ValueError(f"body weights do not match: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        target.score.weight.copy_(row.float().unsqueeze(0))
    out.mkdir(parents=True, exist_ok=True)
    target.save_pretrained(out, safe_serialization=True)
    write_portable_config(out)
    copy_tokenizer_files(path, out)
    record = {
        "source": str(src),
        "source_path": str(path),
        "revision": revision,
        "form": form,
        "yes_token": yes_token,
        "no_token": no_token,
        "yes_id": int(yes_id),
        "no_id": int(no_id),
        "architecture": target_config.architectures[0],
        "score": "logit(yes) - logit(no), folded into one head row in float32",
    }
    (out / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record


def write_portable_config(folder: str | Path) -> dict:
    """Make a saved config.json read the same under transformers 4 and 5; returns the config written.

    transformers 5 saves the rotary base only inside ``rope_parameters``; transformers 4 does not read that key and
    silently falls back to ``rope_theta=10000`` (Qwen2.5 uses 1e6), a different model with no error. Writing the
    legacy ``rope_theta`` (and ``rope_scaling`` for a non-default rope) beside it keeps one checkpoint folder
    loadable by both majors: 5 reads ``rope_parameters`` first, 4 reads the legacy keys.
    """
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text())
    rope = config.get("rope_parameters")
    if isinstance(rope, dict) and "rope_theta" in rope:
        config.setdefault("rope_theta", rope["rope_theta"])
        if rope.get("rope_type", "default") != "default":
            config.setdefault("rope_scaling", {k: v for k, v in rope.items() if k != "rope_theta"})
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return config


def _classifier_arch(config) -> str:
    for arch in getattr(config, "architectures", None) or []:
        for suffix in ("ForCausalLM", "ForSequenceClassification"):
            if arch.endswith(suffix):
                return arch[: -len(suffix)] + "ForSequenceClassification"
    raise ValueError("cannot name the classifier architecture")


def copy_tokenizer_files(src: str | Path, dst: str | Path) -> list[str]:
    """Copy the tokenizer files that exist in `src` into `dst` byte for byte (transformers 4 and 5 both read them)."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
            copied.append(name)
    if "tokenizer.json" not in copied:
        raise FileNotFoundError(f"{src} has no tokenizer.json (a fast tokenizer is required)")
    return copied


def ensure_classifier1(src: str | Path, work: str | Path, *, revision: str | None = None, **kwargs) -> Path:
    """The 1-logit classifier for `src`: `src` itself when it already is one, else a conversion into `work`."""
    transformers = require("transformers", purpose="reading the checkpoint")
    path = resolve_checkpoint(src, revision=revision)
    if checkpoint_form(transformers.AutoConfig.from_pretrained(path)) == "classifier1":
        return path
    convert_checkpoint(path, work, revision=revision, **kwargs)
    return Path(work)


# -- tiny offline models ----------------------------------------------------------------------------------------

SHAPES = {
    # A few-layer stand-in with the real vocabulary: seconds to build, export and quantize on 2 cores.
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    # Qwen2.5-0.5B's widths (mxbai-rerank-base-v2), cut to `num_hidden_layers` for benchmarks.
    "qwen2.5-0.5b": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2
    ),
}


def write_tiny_model(
    out: str | Path,
    *,
    form: str = "causal",
    shape: str = "tiny",
    num_hidden_layers: int | None = None,
    seed: int = 0,
    init_std: float = 0.08,
) -> Path:
    """Write a seeded random Qwen2 checkpoint with the real Qwen tokenizer, as an ordinary HF folder. No network.

    Args:
        out: Folder to write.
        form: "causal" (Qwen2ForCausalLM), "classifier2" (2 labels "0"/"1") or "classifier1". Defaults to "causal".
        shape: "tiny" or "qwen2.5-0.5b". Defaults to "tiny".
        num_hidden_layers: Override the shape's layer count.
        seed: Seed for the weights. Defaults to 0.
        init_std: Weight init scale; larger than HF's 0.02 so that random scores spread out. Defaults to 0.08.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {sorted(SHAPES)}, got {shape!r}")
    torch = require("torch", purpose="making a tiny model")
    transformers = require("transformers", purpose="making a tiny model")
    dims = dict(SHAPES[shape])
    if num_hidden_layers is not None:
        dims["num_hidden_layers"] = int(num_hidden_layers)
    tok_dir = bundled_tokenizer_dir()
    tokenizer = load_tokenizer(tok_dir)
    pad_id = tokenizer.token_to_id("<|endoftext|>")
    config = transformers.Qwen2Config(
        vocab_size=151936,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        initializer_range=init_std,
        pad_token_id=pad_id,
        bos_token_id=pad_id,
        eos_token_id=tokenizer.token_to_id("<|im_end|>"),
        dtype="float32",
        **dims,
    )
    torch.manual_seed(seed)
    if form == "causal":
        config.architectures = ["Qwen2ForCausalLM"]
        model = transformers.Qwen2ForCausalLM(config)
    else:
        config.num_labels = 2 if form == "classifier2" else 1
        if form == "classifier2":
            config.id2label = {0: NO_TOKEN, 1: YES_TOKEN}
            config.label2id = {NO_TOKEN: 0, YES_TOKEN: 1}
        config.architectures = ["Qwen2ForSequenceClassification"]
        model = transformers.Qwen2ForSequenceClassification(config)
    model.eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    write_portable_config(out)
    copy_tokenizer_files(tok_dir, out)
    return out
