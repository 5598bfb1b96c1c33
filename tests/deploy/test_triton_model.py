"""The Triton model's pure parts and its execute path, on the CPU without Triton (a small fake of pb_utils)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from rerankrt import Reranker
from rerankrt.deploy.triton import model as triton_model
from rerankrt.deploy.triton import repository_from_engine_dir
from rerankrt.deploy.triton.metrics import StatsCounters
from rerankrt.deploy.triton.protocol import (
    RequestError,
    outputs_from_results,
    parameters_from_json,
    ranking_from_scores,
    rows_from_arrays,
)
from rerankrt.prompt import sigmoid

QUERY = "what is a panda?"
DOCS = ["The giant panda is a bear native to China.", "Paris is the capital of France.", "Pandas eat bamboo."]


# -- a fake of triton_python_backend_utils -------------------------------------------------------------------------


class FakeTensor:
    def __init__(self, name, array):
        self._name, self._array = name, np.asarray(array)

    def name(self):
        return self._name

    def as_numpy(self):
        return self._array


class FakeRequest:
    def __init__(self, inputs: dict, parameters: dict | None = None):
        self.inputs = {k: FakeTensor(k, v) for k, v in inputs.items()}
        self._parameters = json.dumps(parameters or {})

    def parameters(self):
        return self._parameters


class FakeError:
    INTERNAL, INVALID_ARG, UNAVAILABLE = "INTERNAL", "INVALID_ARG", "UNAVAILABLE"

    def __init__(self, message, code="INTERNAL"):
        self._message, self._code = message, code

    def message(self):
        return self._message

    def code(self):
        return self._code


class FakeResponse:
    def __init__(self, output_tensors=None, error=None):
        self.outputs = {t.name(): t.as_numpy() for t in output_tensors or []}
        self.error = error


class FakeMetric:
    def __init__(self, labels):
        self.labels, self.value = labels, 0

    def increment(self, delta):
        self.value += delta


class FakeFamily:
    COUNTER = "counter"
    families: dict = {}

    def __init__(self, name, description, kind):
        self.name, self.metrics = name, []
        FakeFamily.families[name] = self

    def Metric(self, labels):  # noqa: N802 - Triton's name
        metric = FakeMetric(labels)
        self.metrics.append(metric)
        return metric


class FakeLogger:
    lines: list = []

    @classmethod
    def log_info(cls, message):
        cls.lines.append(("info", message))

    @classmethod
    def log_warn(cls, message):
        cls.lines.append(("warn", message))


def fake_pb():
    return SimpleNamespace(
        Tensor=FakeTensor,
        InferenceResponse=FakeResponse,
        TritonError=FakeError,
        MetricFamily=FakeFamily,
        Logger=FakeLogger,
        get_input_tensor_by_name=lambda request, name: request.inputs.get(name),
    )


def text(rows):
    return np.array([[s.encode() for s in row] for row in rows], dtype=object)


def good_request(docs=DOCS, query=QUERY, **params):
    return FakeRequest({"query": text([[query]]), "documents": text([docs])}, params)


# -- pure parts ----------------------------------------------------------------------------------------------------


def test_rows_from_arrays_decodes_rows_and_parameters():
    rows = rows_from_arrays(
        text([["q1"], ["q2"]]), text([["a", "b"], ["c", "d"]]), text([["i1"], ["i2"]]), '{"top_n": 1}'
    )
    assert [(r.query, r.documents, r.instruction, r.top_n) for r in rows] == [
        ("q1", ("a", "b"), "i1", 1),
        ("q2", ("c", "d"), "i2", 1),
    ]
    # numpy bytes arrays (dtype S) are text too, as tritonclient may send them.
    [row] = rows_from_arrays(np.array([[b"q"]]), np.array([[b"x", b"y"]]))
    assert row.documents == ("x", "y") and row.normalize is False and row.truncate is True


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((None, text([["d"]])), "query: missing"),
        ((text([["q"]]), None), "documents: missing"),
        ((text([["q"]]), np.zeros((1, 0), dtype=object)), "documents: at least one"),
        ((np.array([[1.0]], dtype=np.float32), text([["d"]])), "query: must be BYTES"),
        ((text([["q"]]), np.array([[1, 2]], dtype=np.int32)), "documents: must be BYTES"),
        ((text([["q"]]), np.array([[b"ok", b"\xff"]], dtype=object)), r"documents\[1\]: not valid UTF-8"),
        ((text([["q", "r"]]), text([["d"]])), "query: expected one query per row"),
        ((text([["q"]]), text([["d"], ["e"]])), "documents: 2 rows for 1 queries"),
        ((text([["q"]]), text([["d"]]), text([["i"], ["j"]])), "instruction: expected shape"),
        ((np.array(["q"], dtype=object), text([["d"]])), r"query: expected shape \[batch, n\]"),
    ],
)
def test_bad_inputs_name_the_field(args, field):
    with pytest.raises(RequestError, match=field):
        rows_from_arrays(*args)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ('{"top_n": 0}', "top_n"),
        ('{"top_n": "3"}', "top_n"),
        ('{"top_n": true}', "top_n"),
        ('{"normalize": "softmax"}', "normalize"),
        ('{"normalize": 1}', "normalize"),
        ('{"truncate": "no"}', "truncate"),
        ('{"topn": 3}', "unknown parameter"),
        ("[1]", "parameters: not a JSON object"),
    ],
)
def test_bad_parameters_name_the_parameter(params, field):
    with pytest.raises(RequestError, match=field):
        rows_from_arrays(text([["q"]]), text([["d"]]), None, params)


def test_parameters_accept_what_triton_clients_send():
    assert parameters_from_json("") == {}
    assert parameters_from_json('{"normalize": "True", "top_n": 2, "truncate": false}') == {
        "normalize": True,
        "top_n": 2,
        "truncate": False,
    }
    assert parameters_from_json('{"normalize": "mxbai"}') == {"normalize": "mxbai"}


def test_outputs_keep_input_order_and_rank_with_stable_ties():
    rows = rows_from_arrays(text([["q"]]), text([["a", "b", "c", "d"]]), None, '{"top_n": 3, "normalize": true}')
    raw = np.array([0.5, 2.0, 0.5, -1.0], dtype=np.float32)
    out = outputs_from_results(rows, [(raw, 42)], estimated_max=9.0)
    np.testing.assert_allclose(out["scores"], [sigmoid(raw)], rtol=1e-6)
    assert out["scores"].dtype == np.float32 and out["scores"].shape == (1, 4)
    assert out["token_count"].tolist() == [[42]] and out["token_count"].dtype == np.int64
    assert out["ranking"].tolist() == [[1, 0, 2]] and out["ranking"].dtype == np.int64
    assert ranking_from_scores(raw, None).tolist() == [1, 0, 2, 3]


def test_stats_counters_add_increments_only():
    counters = StatsCounters(fake_pb(), {"model": "m"})
    counters.update(SimpleNamespace(batches=3, batch_rows=10, real_tokens=100, padded_tokens=120, failed_batches=0))
    counters.update(SimpleNamespace(batches=5, batch_rows=12, real_tokens=150, padded_tokens=180, failed_batches=0))
    [metric] = FakeFamily.families["rerankrt_batches_total"].metrics
    assert metric.value == 5 and metric.labels == {"model": "m"}
    assert FakeFamily.families["rerankrt_padded_tokens_total"].metrics[0].value == 180


def test_engine_dir_parameter_resolution_and_digest(cpu_engine_dir, tmp_path):
    assert triton_model.engine_dir_from_parameters({"engine_dir": str(cpu_engine_dir)}, tmp_path) == cpu_engine_dir
    (tmp_path / "engine").mkdir()
    assert triton_model.engine_dir_from_parameters({"engine_dir": "engine"}, tmp_path) == tmp_path / "engine"
    with pytest.raises(ValueError, match="engine_dir: .* is not a directory"):
        triton_model.engine_dir_from_parameters({"engine_dir": "nowhere"}, tmp_path)
    with pytest.raises(ValueError, match="engine_dir: config.pbtxt has no"):
        triton_model.engine_dir_from_parameters({}, tmp_path)
    digest = hashlib.sha256((cpu_engine_dir / "manifest.json").read_bytes()).hexdigest()
    triton_model.check_manifest_digest(cpu_engine_dir, digest)
    with pytest.raises(ValueError, match="changed since"):
        triton_model.check_manifest_digest(cpu_engine_dir, "0" * 64)
    assert triton_model.load_options_from_parameters(
        {"reranker_options": '{"threads": 1}'}, backend="tensorrt", kind="GPU", device_id="2"
    ) == {"threads": 1, "device": 2}
    assert triton_model.load_options_from_parameters({}, backend="onnxruntime", kind="GPU", device_id="2") == {}


# -- the model, over a real CPU engine -----------------------------------------------------------------------------


@pytest.fixture
def served(cpu_engine_dir, tmp_path, monkeypatch):
    """A TritonPythonModel initialized as Triton would, from an exported repository, with the fake pb_utils."""
    monkeypatch.setattr(triton_model, "pb_utils", fake_pb())
    export = repository_from_engine_dir(cpu_engine_dir, tmp_path / "repo", reranker_options={"threads": 1})
    from google.protobuf import json_format, text_format

    pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
    config = text_format.Parse(export.config_path.read_text(), pb2.ModelConfig())
    args = {
        "model_config": json_format.MessageToJson(config, preserving_proto_field_name=True),
        "model_instance_kind": "CPU",
        "model_instance_device_id": "0",
        "model_instance_name": "rerankrt_0_0",
        "model_name": "rerankrt",
    }
    # Triton imports model.py from the version folder: it resolves engine_dir against that file's folder.
    monkeypatch.setattr(triton_model, "__file__", str(export.model_dir / "1" / "model.py"))
    model = triton_model.TritonPythonModel()
    model.initialize(args)
    yield model
    model.finalize()


def test_execute_matches_reranker_and_isolates_bad_requests(served, cpu_engine_dir):
    requests = [
        good_request(),
        good_request(docs=[]),  # bad: empty documents
        good_request(top_n=2, normalize="sigmoid"),
        FakeRequest({"documents": text([DOCS])}),  # bad: no query
        good_request(docs=DOCS[:1], query="bamboo"),
    ]
    responses = asyncio.run(served.execute(requests))
    assert len(responses) == len(requests)
    assert responses[1].error.code() == "INVALID_ARG" and responses[1].error.message().startswith("documents:")
    assert responses[3].error.message().startswith("query:")
    with Reranker.load(cpu_engine_dir, threads=1) as reference:
        expected = reference.score_request(QUERY, DOCS)
        other = reference.score("bamboo", DOCS[:1])
    np.testing.assert_allclose(responses[0].outputs["scores"][0], expected.scores, atol=1e-5)
    assert responses[0].outputs["token_count"].tolist() == [[expected.num_tokens]]
    np.testing.assert_allclose(responses[2].outputs["scores"][0], sigmoid(expected.scores), atol=1e-6)
    assert responses[2].outputs["ranking"][0].tolist() == np.argsort(-expected.scores, kind="stable")[:2].tolist()
    np.testing.assert_allclose(responses[4].outputs["scores"][0], other, atol=1e-5)
    # One execute call with three good requests: their pairs shared backend batches.
    stats = served.reranker.stats()
    assert stats.batches < 3
    assert FakeFamily.families["rerankrt_batches_total"].metrics[-1].value == stats.batches


def test_model_refuses_an_engine_changed_after_export(cpu_engine_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(triton_model, "pb_utils", fake_pb())
    engine = tmp_path / "engine"
    shutil.copytree(cpu_engine_dir, engine)
    export = repository_from_engine_dir(engine, tmp_path / "repo", copy=False)
    manifest = json.loads((engine / "manifest.json").read_text())
    manifest["created"] = "2000-01-01T00:00:00+00:00"
    (engine / "manifest.json").write_text(json.dumps(manifest))
    # The model reads the parameters config.pbtxt recorded: the manifest's digest at export time.
    params = {key: {"string_value": value} for key, value in export.config.parameters().items()}
    with pytest.raises(ValueError, match="engine_dir: .*changed since"):
        triton_model.TritonPythonModel().initialize({"model_config": json.dumps({"parameters": params})})
