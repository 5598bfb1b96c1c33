"""The README's Python example runs, as written, against the CPU engine directory the build writes.

`README_EXAMPLE` (tests/readme_snippets.py) is the snippet the README shows; only the engine directory's path is
swapped for the test's.
"""

from __future__ import annotations

import contextlib
import io

from tests.readme_snippets import README_EXAMPLE


def test_readme_example_runs(cpu_engine_dir):
    code = README_EXAMPLE.replace('"engines/cpu"', repr(str(cpu_engine_dir)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    hits = [line.split("  ", 2) for line in lines[:2]]
    assert all(0.0 <= float(score) <= 1.0 for _, score, _ in hits)
    assert float(hits[0][1]) >= float(hits[1][1])
    backend, n_scores, n_pairs, order = lines[2].split(" ", 3)
    assert (backend, n_scores, n_pairs) == ("onnxruntime", "3", "2")
    assert order.startswith(f"[{hits[0][0]}, {hits[1][0]}")
