"""The README's command-line block runs verbatim in bash, in a folder where engines/cpu is the CPU engine directory
(as `make demo` leaves it), with the command `rerankrt` of this interpreter on the PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.readme_snippets import README_CLI

ROOT = Path(__file__).resolve().parent.parent


def test_readme_command_line_block_runs(cpu_engine_dir, tmp_path):
    (tmp_path / "engines").mkdir()
    (tmp_path / "engines" / "cpu").symlink_to(cpu_engine_dir)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "rerankrt"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m rerankrt "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        ["bash", "-e", "-c", README_CLI],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # No pipefail: `| head -3` may close the pipe before rerankrt is done (it then exits 141, quietly; test_cli.py
    # checks that exit on its own), which must not stop the block's later commands.
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
    text = out.stdout
    assert "backend: onnxruntime" in text and "target: cpu no GPU fp32" in text
    assert text.count("rank  index      score  document") == 2
    assert "Herman Melville wrote Moby-Dick." in text
    ranked = json.loads(text[text.rindex("[\n") :])
    assert sorted(r["index"] for r in ranked) == [0, 1]
