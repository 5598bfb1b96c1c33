"""Server test fixtures: the CPU engine behind a TestClient, and Rerankers over a scripted backend."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from rerankrt.prompt import PromptEncoder  # noqa: E402
from rerankrt.runtime.reranker import Reranker  # noqa: E402
from rerankrt.server import ServerSettings, create_app  # noqa: E402
from rerankrt.tokenizer import bundled_tokenizer_dir  # noqa: E402
from tests.fakes import ScriptedBackend  # noqa: E402


@pytest.fixture(scope="module")
def encoder() -> PromptEncoder:
    return PromptEncoder(bundled_tokenizer_dir(), template="seed", max_length=1024)


@pytest.fixture(scope="module")
def reranker(cpu_engine_dir):
    with Reranker.load(cpu_engine_dir) as r:
        yield r


@pytest.fixture(scope="module")
def reference(reranker):
    """The in-process Reranker a served answer is checked against (the same engine as the server's)."""
    return reranker


@pytest.fixture(scope="module")
def client(reranker):
    app = create_app(reranker, ServerSettings(model_name="tiny-mxbai"))
    with TestClient(app) as c:
        yield c


@pytest.fixture()
def scripted(encoder):
    """A Reranker over a ScriptedBackend, closed after the test."""
    made = []

    def make(delay_s: float = 0.0, **options) -> tuple[Reranker, ScriptedBackend]:
        backend = ScriptedBackend(delay_s)
        r = Reranker(backend, encoder, **options)
        made.append(r)
        return r, backend

    yield make
    for r in made:
        r.close()
