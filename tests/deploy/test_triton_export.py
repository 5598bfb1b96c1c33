"""`rerankrt export triton`: the repository layout, and config.pbtxt parsed with Triton's own protobuf schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rerankrt.cli import main
from rerankrt.deploy.triton import TritonModelConfig, pbtxt_from_config, repository_from_engine_dir
from rerankrt.deploy.triton.config import kind_for_backend
from rerankrt.manifest import ManifestError

model_config_pb2 = pytest.importorskip(
    "tritonclient.grpc.model_config_pb2", reason="tritonclient not installed (pip install 'rerankrt[triton]')"
)
from google.protobuf import text_format  # noqa: E402 - after the skip: protobuf comes with tritonclient[grpc]


def parse_config(path: Path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def base_config(**overrides) -> TritonModelConfig:
    values = {
        "name": "rerankrt",
        "kind": "KIND_CPU",
        "engine_dir": "engine",
        "manifest_sha256": "0" * 64,
        "rerankrt_version": "0.1.0",
    }
    return TritonModelConfig(**{**values, **overrides})


def test_export_copies_the_engine_and_writes_a_config_triton_can_parse(cpu_engine_dir, tmp_path):
    result = repository_from_engine_dir(cpu_engine_dir, tmp_path / "repo", instances=2)
    model_dir = tmp_path / "repo" / "rerankrt"
    assert result.model_dir == model_dir
    assert (model_dir / "1" / "model.py").read_text() == Path(
        __import__("rerankrt.deploy.triton.model", fromlist=["x"]).__file__
    ).read_text()
    assert (model_dir / "1" / "engine" / "manifest.json").is_file()

    cfg = parse_config(model_dir / "config.pbtxt")
    assert cfg.name == "rerankrt"
    assert cfg.backend == "python" and not cfg.platform
    # Rows per execute call, not pairs: the dynamic batcher only gathers requests, rerankrt batches their pairs.
    assert cfg.max_batch_size == 64
    assert cfg.HasField("dynamic_batching")
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 2000
    inputs = {i.name: i for i in cfg.input}
    assert set(inputs) == {"query", "documents", "instruction"}
    for i in inputs.values():
        assert i.data_type == model_config_pb2.TYPE_STRING
    assert list(inputs["query"].dims) == [1] and not inputs["query"].optional
    assert list(inputs["documents"].dims) == [-1] and inputs["documents"].allow_ragged_batch
    assert list(inputs["instruction"].dims) == [1] and inputs["instruction"].optional
    outputs = {o.name: o for o in cfg.output}
    assert outputs["scores"].data_type == model_config_pb2.TYPE_FP32 and list(outputs["scores"].dims) == [-1]
    assert outputs["token_count"].data_type == model_config_pb2.TYPE_INT64 and list(outputs["token_count"].dims) == [1]
    assert outputs["ranking"].data_type == model_config_pb2.TYPE_INT64 and list(outputs["ranking"].dims) == [-1]
    [group] = cfg.instance_group
    assert group.kind == model_config_pb2.ModelInstanceGroup.KIND_CPU and group.count == 2

    params = {k: v.string_value for k, v in cfg.parameters.items()}
    assert params["engine_dir"] == "engine"
    digest = hashlib.sha256((cpu_engine_dir / "manifest.json").read_bytes()).hexdigest()
    assert params["manifest_sha256"] == digest
    assert json.loads(params["reranker_options"]) == {}


def test_reference_mode_records_the_absolute_path_and_copies_nothing(cpu_engine_dir, tmp_path):
    result = repository_from_engine_dir(
        cpu_engine_dir, tmp_path / "repo", name="rr-ref", copy=False, reranker_options={"threads": 1}
    )
    assert result.engine_dir == cpu_engine_dir.resolve()
    assert not (tmp_path / "repo" / "rr-ref" / "1" / "engine").exists()
    cfg = parse_config(result.config_path)
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    assert params["engine_dir"] == str(cpu_engine_dir.resolve())
    assert json.loads(params["reranker_options"]) == {"threads": 1}


def test_gpu_kind_and_odd_strings_survive_text_format():
    # A path with quotes, a backslash and non-ASCII text must round-trip through protobuf text format.
    odd = '/data/eng "v2"\\ünï'
    text = pbtxt_from_config(base_config(kind="KIND_GPU", engine_dir=odd, execution_env="/envs/rr.tar.gz"))
    cfg = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert cfg.parameters["engine_dir"].string_value == odd
    assert cfg.parameters["EXECUTION_ENV_PATH"].string_value == "/envs/rr.tar.gz"


def test_kind_follows_the_engine_backend():
    assert kind_for_backend("tensorrt") == "KIND_GPU"
    assert kind_for_backend("onnxruntime") == "KIND_CPU"
    assert kind_for_backend("torch") == "KIND_CPU"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": "a b"}, "name"),
        ({"kind": "KIND_TPU"}, "kind"),
        ({"instances": 0}, "instances"),
        ({"max_requests": True}, "max_requests"),
        ({"queue_delay_us": -1}, "queue_delay_us"),
        ({"engine_dir": ""}, "engine_dir"),
        ({"manifest_sha256": "abc"}, "manifest_sha256"),
        ({"reranker_options": {"x": object()}}, "reranker_options"),
    ],
)
def test_config_validation_names_the_field(override, field):
    with pytest.raises(ValueError, match=field):
        base_config(**override)


def test_export_refuses_a_tampered_engine_and_an_existing_model(cpu_engine_dir, tmp_path):
    import shutil

    engine = tmp_path / "engine"
    shutil.copytree(cpu_engine_dir, engine)
    repository_from_engine_dir(engine, tmp_path / "repo")
    with pytest.raises(FileExistsError, match="force"):
        repository_from_engine_dir(engine, tmp_path / "repo")
    repository_from_engine_dir(engine, tmp_path / "repo", overwrite=True)

    (engine / "tokenizer" / "tokenizer.json").write_text("{}")
    with pytest.raises(ManifestError, match="tokenizer.json"):
        repository_from_engine_dir(engine, tmp_path / "repo2")
    assert not (tmp_path / "repo2").exists()


def test_cli_export_triton(cpu_engine_dir, tmp_path, capsys):
    repo = tmp_path / "repo"
    argv = ["export", "triton", str(cpu_engine_dir), str(repo), "--name", "rr", "--instances", "3", "--reference"]
    assert main([*argv, "--kind", "gpu", "--queue-delay-us", "500", "--option", "max_pending_pairs=1000"]) == 0
    assert "config.pbtxt" in capsys.readouterr().out
    cfg = parse_config(repo / "rr" / "config.pbtxt")
    assert cfg.instance_group[0].count == 3
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 500
    assert json.loads(cfg.parameters["reranker_options"].string_value) == {"max_pending_pairs": 1000}
    # Exists already: a clear message and exit code 2, no traceback.
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
