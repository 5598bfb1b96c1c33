"""`rerankrt demo`: the model card's example, a tiny offline model, and an engine rebuilt when its inputs change."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rerankrt import __version__

# The example of the mxbai-rerank-base-v2 model card (its usage snippet), ranked by `rerankrt demo`.
DEMO_QUERY = "Who wrote 'To Kill a Mockingbird'?"
DEMO_DOCUMENTS = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960. It was immediately successful, winning the "
    "Pulitzer Prize, and has become a classic of modern American literature.",
    "The novel 'Moby-Dick' was written by Herman Melville and first published in 1851. It is considered a "
    "masterpiece of American literature and deals with complex themes of obsession, revenge, and the conflict "
    "between good and evil.",
    "Harper Lee, an American novelist widely known for her novel 'To Kill a Mockingbird', was born in 1926 in "
    "Monroeville, Alabama. She received the Pulitzer Prize for Fiction in 1961.",
    "Jane Austen was an English novelist known primarily for her six major novels, which interpret, critique and "
    "comment upon the British landed gentry at the end of the 18th century.",
    "The 'Harry Potter' series, which consists of seven fantasy novels written by British author J.K. Rowling, is "
    "among the most popular and critically acclaimed books of the modern era.",
    "'The Great Gatsby', a novel written by American author F. Scott Fitzgerald, was published in 1925. The story is "
    "set in the Jazz Age and follows the life of millionaire Jay Gatsby and his pursuit of Daisy Buchanan.",
]


DEMO_MODEL = {"form": "causal", "seed": 0}
DEMO_BUILD = {"gpu": "cpu", "template": "seed", "max_calibration_pairs": 64}
DEMO_KEY_FILE = ".demo-inputs"  # in the engine directory; dot files are not hashed by the manifest


def demo_inputs_key(model: Path) -> str:
    """A digest of everything the demo engine is built from: the model's files, the build arguments, the shipped
    CPU config and the rerankrt version. Equal digests: the engine on disk is what a rebuild would write."""
    import hashlib

    from rerankrt.build.config import config_path
    from rerankrt.manifest import sha256_file

    h = hashlib.sha256(json.dumps({"version": __version__, "model": DEMO_MODEL, "build": DEMO_BUILD}).encode())
    h.update(Path(config_path("cpu")).read_bytes())
    for path in sorted(p for p in model.rglob("*") if p.is_file()):
        h.update(f"{path.relative_to(model).as_posix()}={sha256_file(path)}".encode())
    return h.hexdigest()


def demo_engine(out: Path, rebuild: bool) -> tuple[Path, int]:
    """(engine directory, exit code): the demo engine, built or reused when its inputs are unchanged."""
    from rerankrt.build.pipeline import build
    from rerankrt.manifest import ManifestError, read_manifest
    from rerankrt.models import write_tiny_model

    model, engine = out / "demo-model", out / "cpu"
    if not (model / "config.json").is_file():
        print(f"[demo] writing a tiny random Qwen2 reranker (real Qwen tokenizer, no download) to {model}")
        write_tiny_model(model, **DEMO_MODEL)
    key = demo_inputs_key(model)
    stamp = engine / DEMO_KEY_FILE
    if not rebuild and stamp.is_file() and stamp.read_text().strip() == key:
        try:
            read_manifest(engine)
            print(f"[demo] reusing {engine}: its model, config and rerankrt version are unchanged (--rebuild forces)")
            return engine, 0
        except ManifestError as exc:
            print(f"[demo] rebuilding {engine}: {exc}")
    print(f"[demo] building a CPU engine directory in {engine}")
    result = build(model=str(model), out=engine, **DEMO_BUILD)
    if result.exit_code != 0:
        print(result.message, file=sys.stderr)
        return engine, result.exit_code
    stamp.write_text(key + "\n")
    return engine, 0
