"""The engine-directory contract: one typed writer, one reader that names the bad field, hashes that cannot be
switched off by the manifest, and a format version that refuses old directories with what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankrt._device import Profile
from rerankrt.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    Artifacts,
    Limits,
    Manifest,
    ManifestError,
    ModelInfo,
    Serving,
    Target,
    TokenIds,
    read_manifest,
    write_manifest,
)


def _engine_dir(root: Path, **over) -> Manifest:
    """A tiny engine directory written the way the build writes it (placeholder graph bytes: nothing runs it)."""
    (root / "tokenizer").mkdir(parents=True, exist_ok=True)
    (root / "tokenizer" / "tokenizer.json").write_text('{"model": "placeholder"}')
    (root / "model.onnx").write_bytes(b"placeholder graph")
    fields = {
        "path": root,
        "backend": "onnxruntime",
        "template": "seed",
        "max_length": 512,
        "limits": Limits(max_batch_size=8, max_seq_len=1024, max_num_tokens=4096),
        "target": Target(gpu="cpu", precision="fp32"),
        "model": ModelInfo(source="tiny-test-model"),
        "token_ids": TokenIds(yes=16, no=15, pad=151643),
        "artifacts": Artifacts(onnx="model.onnx"),
        "serving": Serving(batch_tokens=2048),
        **over,
    }
    return write_manifest(Manifest(**fields))


def _rewrite(root: Path, change) -> None:
    data = json.loads((root / MANIFEST).read_text())
    change(data)
    (root / MANIFEST).write_text(json.dumps(data))


def test_manifest_round_trips_through_the_one_writer_and_reader(tmp_path):
    written = _engine_dir(tmp_path)
    read = read_manifest(tmp_path)
    assert read == written
    assert read.format_version == FORMAT_VERSION == 2 and read.created
    assert set(read.files) == {"model.onnx", "tokenizer/tokenizer.json"}
    assert read.limits.as_dict() == {"max_batch_size": 8, "max_seq_len": 1024, "max_num_tokens": 4096}
    assert read.serving.batch_tokens == 2048 and read.precision == "fp32" and read.model_name == "tiny-test-model"
    assert read.artifact("onnx") == tmp_path / "model.onnx" and read.artifact("engine") is None
    assert read.tokenizer_dir == tmp_path / "tokenizer"
    assert read.calibration is None and read.gate is None


def test_manifest_target_types_profiles_and_capability(tmp_path):
    target = Target(
        gpu="h100",
        precision="fp8",
        compute_capability="sm90",
        tensorrt_version="10.9.0.34",
        profiles=({"min": [1, 1], "opt": [4, 128], "max": [8, 1024]},),
    )
    (tmp_path / "engine.plan").write_bytes(b"placeholder engine")
    _engine_dir(
        tmp_path, backend="tensorrt", target=target, artifacts=Artifacts(onnx="model.onnx", engine="engine.plan")
    )
    read = read_manifest(tmp_path)
    assert read.target.compute_capability == "9.0" and read.target.capability == (9, 0)
    assert read.target.profiles == (Profile(min=(1, 1), opt=(4, 128), max=(8, 1024)),)
    assert read.target.graph_precision == "fp8" and read.target.tensorrt_version == "10.9.0.34"


def test_tampered_file_is_refused_naming_it(tmp_path):
    _engine_dir(tmp_path)
    (tmp_path / "tokenizer" / "tokenizer.json").write_text('{"model": "changed"}')
    with pytest.raises(ManifestError, match=r"tokenizer/tokenizer.json does not match its sha256"):
        read_manifest(tmp_path)
    read_manifest(tmp_path, verify=False)  # the caller may skip the disk, the structure is still checked


@pytest.mark.parametrize("files", [{}, None, "missing"])
def test_hash_checks_cannot_be_switched_off_by_the_manifest(tmp_path, files):
    _engine_dir(tmp_path)

    def change(data):
        if files == "missing":
            del data["files"]
        else:
            data["files"] = files

    _rewrite(tmp_path, change)
    with pytest.raises(ManifestError, match="files"):
        read_manifest(tmp_path)
    with pytest.raises(ManifestError, match="files"):
        read_manifest(tmp_path, verify=False)


def test_every_file_a_backend_loads_must_be_listed(tmp_path):
    _engine_dir(tmp_path)
    (tmp_path / "engine.plan").write_bytes(b"slipped in after the build")
    _rewrite(tmp_path, lambda d: d["artifacts"].update(engine="engine.plan"))
    with pytest.raises(ManifestError, match=r"artifacts.engine \(engine.plan\) is not listed in files"):
        read_manifest(tmp_path)
    _engine_dir(tmp_path)
    (tmp_path / "tokenizer" / "added_tokens.json").write_text("{}")  # the tokenizer would read it
    with pytest.raises(ManifestError, match="tokenizer/added_tokens.json is loaded by the backend but not hashed"):
        read_manifest(tmp_path)
    (tmp_path / "tokenizer" / "added_tokens.json").unlink()
    (tmp_path / "model.onnx.data").write_bytes(b"external weights onnxruntime would load")
    with pytest.raises(ManifestError, match="model.onnx.data is loaded by the backend but not hashed"):
        read_manifest(tmp_path)


def test_writer_refuses_an_artifact_the_directory_lacks(tmp_path):
    with pytest.raises(ManifestError, match=r"artifacts.onnx_int8 \(model.int8.onnx\) is not listed"):
        _engine_dir(tmp_path, artifacts=Artifacts(onnx="model.onnx", onnx_int8="model.int8.onnx"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["artifacts"].update(onnx="../outside.onnx"), "artifacts.onnx must be a path inside"),
        (lambda d: d["artifacts"].update(onnx="/etc/passwd"), "artifacts.onnx must be a path inside"),
        (lambda d: d["files"].update({"../secret": "0" * 64}), r"files\['../secret'\] must be a path inside"),
        (lambda d: d.pop("backend"), "missing field 'backend'"),
        (lambda d: d.pop("limits"), "missing field 'limits'"),
        (lambda d: d["limits"].pop("max_seq_len"), r"limits: missing field 'max_seq_len'"),
        (lambda d: d["limits"].update(max_batch_size="8"), "limits.max_batch_size must be an int"),
        (lambda d: d.update(limits=[8, 1024, 4096]), "limits must be a JSON object"),
        (lambda d: d.update(backend="jax"), "backend must be one of"),
        (lambda d: d["target"].update(compute_capability="nine"), "target.compute_capability"),
        (lambda d: d["target"].update(precision="int4"), "target.precision must be one of"),
        (lambda d: d["serving"].update(batch_tokens=0), "serving.batch_tokens"),
        (lambda d: d["token_ids"].pop("pad"), r"token_ids: missing field 'pad'"),
        (lambda d: d.update(tensorrt={"version": "10.9"}), r"unknown fields \['tensorrt'\]"),
        (lambda d: d["target"].update(tensorrt="10.9"), r"target: unknown fields \['tensorrt'\]"),
        (lambda d: d.update(allow_special_tokens="no"), "allow_special_tokens must be true or false"),
    ],
)
def test_malformed_manifest_names_the_field(tmp_path, change, field):
    _engine_dir(tmp_path)
    _rewrite(tmp_path, change)
    with pytest.raises(ManifestError, match=field):
        read_manifest(tmp_path)


@pytest.mark.parametrize("content", ["[]", '"manifest"', "{not json"])
def test_a_manifest_that_is_not_an_object_is_refused(tmp_path, content):
    _engine_dir(tmp_path)
    (tmp_path / MANIFEST).write_text(content)
    with pytest.raises(ManifestError, match="JSON object|not valid JSON") as info:
        read_manifest(tmp_path)
    assert "rerankrt build" in str(info.value)


def test_older_and_unknown_formats_are_refused_with_what_to_do(tmp_path):
    _engine_dir(tmp_path)
    _rewrite(tmp_path, lambda d: d.update(format_version=1))
    with pytest.raises(ManifestError, match=r"format_version 1, older than .*\(2\); rebuild it with `rerankrt build`"):
        read_manifest(tmp_path)
    _rewrite(tmp_path, lambda d: d.update(format_version=99))
    with pytest.raises(ManifestError, match=r"format_version 99, not the format .*install the rerankrt version"):
        read_manifest(tmp_path)
    _rewrite(tmp_path, lambda d: d.pop("format_version"))
    with pytest.raises(ManifestError, match="format_version None"):
        read_manifest(tmp_path)


def test_no_manifest_is_not_an_engine_directory(tmp_path):
    with pytest.raises(ManifestError, match="not an engine directory.*rerankrt build"):
        read_manifest(tmp_path)


def test_tensorrt_backend_needs_an_engine_artifact(tmp_path):
    _engine_dir(tmp_path)
    _rewrite(tmp_path, lambda d: d.update(backend="tensorrt"))
    with pytest.raises(ManifestError, match="artifacts.engine is required for backend 'tensorrt'"):
        read_manifest(tmp_path)


def test_dataclasses_validate_where_they_are_defined():
    with pytest.raises(ValueError, match="limits.max_num_tokens"):
        Limits(max_batch_size=1, max_seq_len=1, max_num_tokens=0)
    with pytest.raises(ValueError, match="limits.max_batch_size"):
        Limits(max_batch_size=True, max_seq_len=1, max_num_tokens=1)
    with pytest.raises(ValueError, match="artifacts.engine must be a path inside"):
        Artifacts(engine="a/../../b.plan")
    with pytest.raises(ValueError, match="token_ids.yes"):
        TokenIds(yes=-1, no=0, pad=0)


def test_load_refuses_a_tampered_directory(tmp_path):
    from rerankrt.runtime.reranker import Reranker
    from tests.fakes import write_fake_trt_dir

    engine = write_fake_trt_dir(tmp_path)
    with open(engine / "engine.plan", "ab") as f:
        f.write(b" ")
    with pytest.raises(ManifestError, match="engine.plan does not match its sha256"):
        Reranker.load(engine)
