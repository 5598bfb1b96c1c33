"""The command line and the core-only install: `import rerankrt` and `rerankrt --help` need no extra."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from rerankrt._optional import MissingDependencyError, require
from rerankrt.cli import main

HEAVY = ("torch", "transformers", "modelopt", "onnx", "onnxruntime", "tensorrt", "fastapi", "uvicorn", "cuda")


def test_core_import_and_help_need_no_extra():
    # A meta-path finder refuses every heavy package, as on a core-only install.
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {HEAVY!r}:
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import rerankrt, rerankrt.cli, rerankrt.prompt, rerankrt.manifest
        from rerankrt.prompt import PromptEncoder
        from rerankrt.tokenizer import bundled_tokenizer_dir
        PromptEncoder(bundled_tokenizer_dir()).encode("q", ["d"])
        try:
            rerankrt.cli.main(["--help"])
        except SystemExit as exit:
            assert exit.code == 0
        print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: rerankrt" in out.stdout and "loaded: []" in out.stdout


def test_missing_extra_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'rerankrt\[gpu\]'"):
        require("tensorrt_not_installed_here", extra="gpu")
    with pytest.raises(MissingDependencyError, match=r"rerankrt\[serve\]"):
        require("fastapi.not_a_module")


def test_convert_and_tiny_model_commands(tmp_path, capsys):
    assert main(["tiny-model", str(tmp_path / "m"), "--form", "classifier2"]) == 0
    assert main(["convert", str(tmp_path / "m"), str(tmp_path / "c")]) == 0
    record = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert record["form"] == "classifier2"
    assert (tmp_path / "c" / "conversion.json").is_file()


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "neither a local folder nor a hub id" in capsys.readouterr().err
    assert main(["info", str(tmp_path)]) == 2
    assert "not an engine directory" in capsys.readouterr().err


def test_rank_and_info_on_an_engine_directory(cpu_engine_dir, tmp_path, capsys, monkeypatch):
    import io

    from rerankrt import Reranker

    docs = ["Harper Lee wrote it.", "Moby-Dick is by Melville.", ""]
    with Reranker.load(cpu_engine_dir) as reranker:
        expected = reranker.rank("who wrote it?", docs)
    assert (
        main(["rank", str(cpu_engine_dir), "-q", "who wrote it?", *sum((["-d", d] for d in docs), []), "--json"]) == 0
    )
    got = json.loads(capsys.readouterr().out)
    assert [r["index"] for r in got] == [r.index for r in expected]
    assert [r["score"] for r in got] == pytest.approx([r.score for r in expected], abs=1e-6)
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    assert main(["rank", str(cpu_engine_dir), "-q", "who wrote it?", "--documents", str(tmp_path / "docs.jsonl")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["rank", "index", "score", "document"] and len(table) == 4
    monkeypatch.setattr("sys.stdin", io.StringIO("one\ntwo\n"))
    assert main(["rank", str(cpu_engine_dir), "-q", "q", "--documents", "-", "--top-k", "1", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["info", str(cpu_engine_dir)]) == 0
    info = capsys.readouterr().out
    fields = dict(line.strip().split(": ", 1) for line in info.splitlines())
    assert fields["backend"] == "onnxruntime" and fields["gate"].startswith("passed")
    # Every line reads a typed field (issue 17: wrong keys printed "-", "smNone" and a version that did not exist).
    assert fields["gate"].startswith("passed on the float32 graph model.fp32.onnx (onnxruntime): spearman")
    assert fields["target"] == "cpu no GPU fp32" and fields["tensorrt"] == "no engine in this directory"
    data = r"0 calibration pairs, \d+ held-out pairs \(\d+ queries\) from the shipped set"
    assert re.fullmatch(data, fields["calibration"])
    assert "None" not in info and fields["built"].endswith("(format 2)")
    assert main(["info", str(cpu_engine_dir), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["format_version"] == 2 and whole["limits"]["max_seq_len"] > 0 and whole["files"]
