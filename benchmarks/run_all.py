"""Run every benchmark, write benchmarks/results/summary.{json,md,png}, and print the summary table.

    python -m benchmarks.run_all [--quick] [--only tokenization,offline,online,scheduler] [--engine DIR]

``make bench`` runs the full size (about 10 minutes on 2 cores, no GPU); ``--quick`` is a smaller, noisier run.
``--engine DIR`` of a TensorRT build turns on the GPU mode of the offline and online benchmarks (skipped, with a line
saying why, where TensorRT or a GPU is missing). A benchmark that crashes is reported and the others still run; the
exit status is 1 when one crashed (a FAIL target does not change it: targets are measurements, not tests).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import bench_goodput, bench_offline, bench_online, bench_pipeline, bench_scheduler, bench_tokenization
from benchmarks.common import (
    environment,
    gpu_mode_line,
    log,
    markdown_table,
    pyplot,
    quiet_libraries,
    results_dir,
    save_figure,
    write_json,
)

BENCHMARKS = {
    "tokenization": bench_tokenization,
    "offline": bench_offline,
    "online": bench_online,
    "scheduler": bench_scheduler,
    "goodput": bench_goodput,
    "pipeline": bench_pipeline,
}
ENGINE_AWARE = ("offline", "online")


def run(
    size: str = "full",
    *,
    results: str | Path | None = None,
    only: tuple[str, ...] | None = None,
    engine: str | Path | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Run the chosen benchmarks at `size` and write the summary; returns the summary record."""
    folder = results_dir(results)
    names = tuple(only or BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"unknown benchmarks {unknown}; choose from {list(BENCHMARKS)}")
    started = time.perf_counter()
    outcomes: dict[str, Any] = {}
    for name in names:
        log(f"=== {name} ({size}) ===")
        start = time.perf_counter()
        kwargs: dict[str, Any] = {"results": folder}
        if engine is not None and name in ENGINE_AWARE:
            kwargs["engine"] = engine
        try:
            result = BENCHMARKS[name].run(size, **kwargs)
            outcomes[name] = {"ok": True, "seconds": time.perf_counter() - start, "result": result}
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others' numbers
            log(f"{name} crashed: {exc!r}")
            outcomes[name] = {
                "ok": False,
                "seconds": time.perf_counter() - start,
                "error": repr(exc),
                "traceback": traceback.format_exc(),
            }
    total = time.perf_counter() - started
    summary = _summary(folder, size, outcomes, engine, total, command or _command(size, names, engine))
    write_json(folder / "summary.json", summary)
    (folder / "summary.md").write_text(summary["markdown"])
    _plot(summary, folder / "summary.png")
    return summary


def _command(size: str, names: tuple[str, ...], engine) -> str:
    parts = ["python -m benchmarks.run_all"]
    if size == "quick":
        parts.append("--quick")
    elif size != "full":
        parts.append(f"--size {size}")
    if tuple(names) != tuple(BENCHMARKS):
        parts.append("--only " + ",".join(names))
    if engine is not None:
        parts.append(f"--engine {engine}")
    return " ".join(parts) if parts != ["python -m benchmarks.run_all"] else "make bench"


def _summary(folder: Path, size: str, outcomes: dict[str, Any], engine, total_s: float, command: str) -> dict[str, Any]:
    env = environment()
    targets = [t for o in outcomes.values() if o["ok"] for t in o["result"].get("targets", [])]
    gpu = gpu_mode_line(engine)
    rows = [
        [
            t["name"],
            "n/a" if t["measured"] is None else f"{t['measured']:.3g}{t['unit']}",
            f"{t['op']} {t['threshold']:g}{t['unit']}",
            "PASS" if t["passed"] else "**FAIL**",
            t["detail"],
        ]
        for t in targets
    ]
    for name, o in outcomes.items():
        if not o["ok"]:
            rows.append([f"{name} benchmark", "crashed", "", "**ERROR**", o["error"][:200]])
    versions = env["versions"]
    env_line = (
        f"{env['date'][:10]}, {env['cpu']} ({env['threads']} threads, {env['memory_gib']} GiB), GPU: "
        f"{env['gpu'] or 'none'}; Python {env['python']}, torch {versions['torch']}, onnxruntime "
        f"{versions['onnxruntime']}, tokenizers {versions['tokenizers']}, tiktoken {versions['tiktoken']}, "
        f"transformers {versions['transformers']}, "
        f"mxbai-rerank {versions['mxbai-rerank']} (own venv, transformers "
        f"{env.get('reference_venv', {}).get('transformers')}); rerankrt {versions['rerankrt']} at {env['git_commit']}"
    )
    table = markdown_table(["target", "measured", "target", "result", "detail"], rows)
    snippet = "\n\n".join(
        [
            "### Benchmarks",
            f"Measured {env_line}. Reproduce with `{command}` (results in `benchmarks/results/`).",
            table,
        ]
    )
    sections = [
        f"# rerankrt benchmarks ({size})",
        f"Command: `{command}`; {total_s / 60:.1f} minutes.",
        markdown_table(
            ["", ""],
            [
                ["date", env["date"]],
                ["machine", f"{env['machine']}: {env['cpu']}, {env['threads']} threads, {env['memory_gib']} GiB"],
                ["GPU", env["gpu"] or "none"],
                ["versions", ", ".join(f"{k} {v}" for k, v in {"python": env["python"], **versions}.items() if v)],
                ["commit", env["git_commit"]],
            ],
        ),
        "## Targets",
        table,
        f"- {gpu['line']}",
    ]
    folder_md = []
    for name, o in outcomes.items():
        if o["ok"]:
            md = folder / f"{name}.md"
            if md.is_file():
                folder_md.append(md.read_text().strip())
        else:
            folder_md.append(f"## {name}\n\nCRASHED: {o['error']}\n\n```\n{o['traceback']}\n```")
    sections += folder_md
    sections += ["## README snippet", snippet]
    markdown = "\n\n".join(sections) + "\n"
    return {
        "size": size,
        "command": command,
        "total_s": total_s,
        "environment": env,
        "gpu_mode": gpu,
        "targets": targets,
        "benchmarks": {
            name: {k: v for k, v in o.items() if k != "result"} | ({"result": o["result"]} if o["ok"] else {})
            for name, o in outcomes.items()
        },
        "readme_snippet": snippet,
        "markdown": markdown,
    }


def _plot(summary: dict[str, Any], path: Path) -> None:
    """Each target as measured / required (log scale; right of 1 is a pass for >= targets, left for <=)."""
    targets = [t for t in summary["targets"] if t["measured"] not in (None, 0) and t["threshold"]]
    if not targets:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(targets) + 1.2))
    names = [textwrap.fill(t["name"], 48) for t in targets][::-1]
    margins = [
        (t["measured"] / t["threshold"]) if t["op"] == ">=" else (t["threshold"] / t["measured"]) for t in targets
    ][::-1]
    colors = ["#228833" if t["passed"] else "#cc3311" for t in targets][::-1]
    ax.barh(names, margins, color=colors)
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("margin over the target (>1 passes)")
    ax.set_title("rerankrt targets")
    ax.tick_params(axis="y", labelsize=7)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a few minutes; noisier)")
    parser.add_argument("--size", choices=("tiny", "quick", "full"), default=None, help="overrides --quick")
    parser.add_argument("--only", default=None, help="comma-separated subset of: " + ",".join(BENCHMARKS))
    parser.add_argument("--engine", default=None, help="engine directory for offline/online (tensorrt: GPU mode)")
    parser.add_argument("--results", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    quiet_libraries()
    size = args.size or ("quick" if args.quick else "full")
    only = tuple(n for n in args.only.split(",") if n) if args.only else None
    summary = run(size, results=args.results, only=only, engine=args.engine)
    print(summary["markdown"])
    crashed = [n for n, o in summary["benchmarks"].items() if not o["ok"]]
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
