"""Reference-parity tests: rerankrt against the model authors' library, mxbai-rerank 0.1.6.

mxbai-rerank breaks on transformers 5, so these run in their own venv (``.venv-ref``, transformers 4.57), where
``make test`` runs ``pytest --reference tests/reference``. With ``--reference`` a missing mxbai_rerank is an error,
never a skip; without it (the main venv, transformers 5) the tests skip with the reason.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def mxbai_rerank(request):
    """The mxbai_rerank module: required under --reference, else the test skips where it is not installed."""
    if request.config.getoption("--reference"):
        import mxbai_rerank  # an ImportError here fails the test: the reference venv must have it

        return mxbai_rerank
    return pytest.importorskip(
        "mxbai_rerank", reason="mxbai-rerank needs transformers 4: these run in .venv-ref (`make test` does that)"
    )


@pytest.fixture(scope="session")
def transformers_4(request):
    """The transformers module where it is a 4.x (the reference venv's); required under --reference."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    if major >= 5 and not request.config.getoption("--reference"):
        pytest.skip(f"needs transformers 4 (here {transformers.__version__}): runs in .venv-ref")
    assert major == 4, f"the reference venv must run transformers 4.x, it has {transformers.__version__}"
    return transformers
