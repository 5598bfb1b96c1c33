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


# -- issue 17: every bad argument or input is one line on stderr and a documented exit code ----------------------


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize(
    "content, expected",
    [
        ('[{"txt": "a document"}]', 'item 0 has no string "text" field'),
        ("", "no documents in it"),
        ("\n\n", "no documents in it"),
        ("[1, 2]", "item 0 is int"),
        ('[{"text": "a"', "not valid JSON"),
    ],
)
def test_rank_refuses_bad_documents_files_in_one_line(tmp_path, capsys, content, expected):
    (tmp_path / "docs.json").write_text(content)
    # The documents are read before the engine loads: tmp_path need not be an engine directory.
    assert main(["rank", str(tmp_path), "-q", "q", "--documents", str(tmp_path / "docs.json")]) == 2
    assert expected in _one_line_error(capsys)


def test_a_bad_port_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["serve", "engines/cpu", "--port", "70000"])
    assert exit.value.code == 2
    assert "port must be between 0 and 65535, got 70000" in _one_line_error(capsys)


def test_a_busy_port_has_its_own_code_before_the_engine_loads(tmp_path, capsys):
    import socket
    import time

    from rerankrt.cli import EXIT_PORT

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        start = time.perf_counter()
        # tmp_path is no engine directory: loading it would exit 2, so 6 proves the port was checked first.
        assert main(["serve", str(tmp_path), "--port", str(busy.getsockname()[1])]) == EXIT_PORT == 6
        assert time.perf_counter() - start < 2
    assert "cannot bind 127.0.0.1:" in _one_line_error(capsys)


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "130", "141"):
        assert f"\n  {code}" in out


def test_a_closed_stdout_is_quiet(tmp_path):
    from tests.fakes import write_fake_trt_dir

    engine = write_fake_trt_dir(tmp_path)
    # stdout is a pipe whose reader is gone, as in `rerankrt info DIR --json | head -1` once head has exited.
    code = textwrap.dedent(
        f"""
        import os, sys
        r, w = os.pipe()
        os.close(r)
        os.dup2(w, 1)
        from rerankrt.cli import main
        code = main(["info", {str(engine)!r}, "--json"])
        print("exit", code, file=sys.stderr)
        sys.exit(code)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 141 and out.stderr.strip() == "exit 141", out.stderr


def test_the_torch_backend_hint_names_a_flag_that_exists(cpu_engine_dir, capsys):
    assert main(["rank", str(cpu_engine_dir), "-q", "q", "-d", "doc", "--backend", "torch"]) == 2
    line = _one_line_error(capsys)
    assert "--model-dir" in line
    with pytest.raises(SystemExit):  # and the flag it names is accepted
        main(["rank", "--help"])
    assert "--model-dir" in capsys.readouterr().out


def test_an_unexpected_error_is_one_line(monkeypatch, capsys):
    import rerankrt.cli as cli

    def boom(args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setitem(cli.COMMANDS, "info", boom)
    assert main(["info", "x"]) == 1
    assert "internal error: RuntimeError: something broke" in _one_line_error(capsys)


def _engine_of_kind(cpu_engine_dir, out, *, target: dict, gate: dict | None = None, engine: bool = False):
    """The CPU engine directory re-labelled as another kind of build (the manifest as the build writes it)."""
    import shutil

    from rerankrt.manifest import Manifest, read_manifest, write_manifest

    shutil.copytree(cpu_engine_dir, out)
    data = read_manifest(out).as_dict()
    data["target"] = {**data["target"], **target}
    if gate:
        data["gate"] = {**data["gate"], **gate}
    if engine:
        (out / "engine.plan").write_bytes(b"not a real engine")
        data["artifacts"] = {**data["artifacts"], "engine": "engine.plan"}
        data["backend"] = "tensorrt"
    for key in ("files", "format_version", "rerankrt_version", "created"):
        data.pop(key, None)
    write_manifest(Manifest.from_dict(out, data))
    return out


def test_info_renders_every_kind_of_engine_directory(cpu_engine_dir, tmp_path, capsys):
    profile = {"min": [1, 8], "opt": [8, 256], "max": [32, 512]}
    fp8_gate = {"graph": "model.fp8.onnx (FP8 Q/DQ, onnxruntime)", "precision": "fp8"}
    kinds = {
        "cpu": cpu_engine_dir,
        "fp8 onnx-only": _engine_of_kind(
            cpu_engine_dir,
            tmp_path / "h100",
            target={
                "gpu": "h100",
                "precision": "fp8",
                "graph_precision": "fp8",
                "compute_capability": "9.0",
                "profiles": [profile],
            },
            gate=fp8_gate,
        ),
        "a100 bf16": _engine_of_kind(
            cpu_engine_dir,
            tmp_path / "a100",
            target={"gpu": "a100", "precision": "bf16", "graph_precision": "fp32", "compute_capability": "8.0"},
        ),
        "tensorrt": _engine_of_kind(
            cpu_engine_dir,
            tmp_path / "trt",
            target={
                "gpu": "h100",
                "precision": "fp8",
                "compute_capability": "9.0",
                "tensorrt_version": "10.9.0.34",
                "profiles": [profile],
            },
            gate=fp8_gate,
            engine=True,
        ),
    }
    rendered = {}
    for kind, path in kinds.items():
        assert main(["info", str(path)]) == 0, kind
        text = capsys.readouterr().out
        assert "None" not in text and "smNone" not in text and ": -" not in text, (kind, text)
        rendered[kind] = dict(line.strip().split(": ", 1) for line in text.splitlines())
    cpu, fp8, a100, trt = (rendered[k] for k in kinds)
    assert cpu["target"] == "cpu no GPU fp32" and "profiles" not in cpu
    assert fp8["target"] == "h100 sm90 fp8" and fp8["tensorrt"] == "no engine in this directory"
    assert fp8["profiles"] == "min (1x8) opt (8x256) max (32x512)"
    assert fp8["gate"].startswith("passed on the model.fp8.onnx (FP8 Q/DQ, onnxruntime): spearman")
    assert a100["target"] == "a100 sm80 bf16 (model.onnx is fp32)"
    assert a100["gate"].startswith("passed on the float32 graph")
    assert trt["backend"] == "tensorrt" and trt["tensorrt"] == "engine.plan, TensorRT 10.9.0.34"
    assert trt["files"].startswith("onnx model.onnx, engine engine.plan; ") and " hashed, " in trt["files"]
    for fields in rendered.values():
        assert re.fullmatch(
            r"\d+ calibration pairs, \d+ held-out pairs \(\d+ queries\) from the shipped set", fields["calibration"]
        )


def test_demo_logs_are_clean_off_a_terminal_and_a_rerun_reuses_the_engine(tmp_path):
    """`rerankrt demo` with stdout/stderr piped: no bar garble, no library noise, the next commands; then reused."""

    def demo() -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "rerankrt", "demo", "--out", str(tmp_path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    first = demo()
    assert first.returncode == 0, first.stderr
    both = first.stdout + first.stderr
    assert "\r" not in both and "Inserted" not in both and "deprecated" not in both.lower(), both
    assert f"engine directory: {tmp_path / 'cpu'}" in first.stdout
    assert f"rerankrt serve {tmp_path / 'cpu'}" in first.stdout
    assert "batches in" in first.stderr  # one line per stage instead of a bar
    second = demo()
    assert second.returncode == 0 and "[demo] reusing" in second.stdout and "building" not in second.stdout
