"""Tokenization: rerankrt's prompts vs mxbai-rerank's ``prepare_inputs`` vs raw ``tokenizers``, on the same pairs.

Workload: rank requests (one query, 100 documents) drawn from the shipped pairs (11 languages, 88 to 3,300 tokens),
each document cut at a random point so that texts rarely repeat. Every candidate tokenizes request by request:

- ``rerankrt``: `PromptEncoder(template="mxbai").encode(query, documents)`: the token ids the engine runs, the
  reference library's template and truncation exactly (checked id for id below). User text goes through tiktoken's
  BPE core, proven to give `tokenizers`' ids (rerankrt/_fastbpe.py);
- ``mxbai-rerank prepare_inputs``: `MxbaiRerankV2.prepare_inputs` on chunks of 32 pairs, as its ``rank`` calls it.
  It runs in the reference venv (``.venv-ref``, transformers 4.57) as a worker process (benchmarks/reference.py),
  which times its own slices: same machine, same pairs, still interleaved slice by slice;
- ``raw encode_batch``: `tokenizers.Tokenizer.encode_batch_fast` of the (query, document) pairs, no template:
  the bare cost of tokenizing the same text with the library users would call.

For context (no target): rerankrt with its tiktoken path off (``RERANKRT_TOKENIZER=tokenizers``), the "seed"
template (the model card's string, rerankrt's default) and a raw encode of the full templated prompt strings.
Candidates take turns slice by slice (10 slices at full size, so that a drift in machine speed hits them alike),
`repeats` rounds; the median round counts.

    python -m benchmarks.bench_tokenization [--size tiny|quick|full] [--pairs N] [--repeats R]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    Target,
    cache_dir,
    check_size,
    checkpoint,
    cli_main,
    cpu_threads,
    environment,
    fmt,
    interleaved_slices,
    log,
    markdown_table,
    median,
    mixed_requests,
    pyplot,
    results_dir,
    save_figure,
    write_outputs,
)
from benchmarks.reference import ReferenceWorker, Timed

NAME = "tokenization"
PAIRS = {"tiny": 200, "quick": 3000, "full": 10000}
REPEATS = {"tiny": 1, "quick": 3, "full": 3}
SLICES = {"tiny": 1, "quick": 5, "full": 10}  # candidates take turns slice by slice (see interleaved_slices)
MXBAI_CHUNK = 32  # mxbai-rerank's `rank` default batch_size: prepare_inputs sees 32 pairs at a time
TARGET_VS_MXBAI = 10.0
TARGET_VS_RAW = 0.7


def _mxbai_reference(cache: Path) -> ReferenceWorker:
    """mxbai-rerank's MxbaiRerankV2 on a tiny local checkpoint, in the reference venv (its tokenizer is measured)."""
    return ReferenceWorker(checkpoint(cache, "tiny"), threads=cpu_threads())


def _same_ids(encoder, reference: ReferenceWorker, requests, limit: int = 200) -> dict[str, Any]:
    """Compare rerankrt's ids with prepare_inputs' ids (left padding stripped) on up to `limit` pairs."""
    checked = mismatched = 0
    for req in requests:
        docs = req.documents[: max(0, limit - checked)]
        if not docs:
            break
        ours = encoder.encode(req.query, docs).ids
        theirs = reference.input_ids(req.query, docs)
        for ids, mine in zip(theirs, ours, strict=True):
            mismatched += int(not np.array_equal(np.asarray(ids, dtype=np.int64), mine))
        checked += len(docs)
    return {"pairs_checked": checked, "mismatched": mismatched, "identical": mismatched == 0 and checked > 0}


def run(
    size: str = "full",
    *,
    results: str | Path | None = None,
    num_pairs: int | None = None,
    repeats: int | None = None,
    docs_per_query: int = 100,
) -> dict[str, Any]:
    """Measure pairs/s of the three tokenization paths; write tokenization.{json,md,png}.

    Args:
        size: "tiny", "quick" or "full" (10,000 pairs). Defaults to "full".
        results: Results folder. Defaults to benchmarks/results/.
        num_pairs: Pairs to tokenize. Defaults to the size's.
        repeats: Rounds per candidate (median counts). Defaults to the size's.
        docs_per_query: Documents per rank request. Defaults to 100.

    Returns:
        The result record (also written as JSON), with ``targets`` holding the PASS/FAIL lines.
    """
    from rerankrt.prompt import PromptEncoder, seed_prompt
    from rerankrt.tokenizer import bundled_tokenizer_dir, load_tokenizer

    check_size(size)
    folder = results_dir(results)
    num_pairs = int(num_pairs or PAIRS[size])
    repeats = int(repeats or REPEATS[size])
    requests = mixed_requests(num_pairs, docs_per_query=docs_per_query)
    log(f"{NAME}: {num_pairs} pairs in {len(requests)} requests of up to {docs_per_query} documents")

    tok_dir = bundled_tokenizer_dir()
    encoder = PromptEncoder(tok_dir, template="mxbai")
    reference_encoder = PromptEncoder(tok_dir, template="mxbai")
    reference_encoder._fast = None  # what RERANKRT_TOKENIZER=tokenizers gives (the switch is read once per process)
    seed_encoder = PromptEncoder(tok_dir, template="seed")
    raw = load_tokenizer(tok_dir)
    raw_encode = getattr(raw, "encode_batch_fast", raw.encode_batch)
    reference = _mxbai_reference(cache_dir(folder))
    reference.set_requests([(r.query, r.documents) for r in requests])
    raw_pairs = [[(r.query, d) for d in r.documents] for r in requests]
    prompts = [[seed_prompt(r.query, d) for d in r.documents] for r in requests]
    slices = max(1, min(SLICES[size], len(requests)))
    bounds = np.linspace(0, len(requests), slices + 1).astype(int)
    part = [range(bounds[k], bounds[k + 1]) for k in range(slices)]

    def rerankrt_mxbai(k: int):
        for j in part[k]:
            encoder.encode(requests[j].query, requests[j].documents)

    def rerankrt_tokenizers_path(k: int):
        for j in part[k]:
            reference_encoder.encode(requests[j].query, requests[j].documents)

    def rerankrt_seed(k: int):
        for j in part[k]:
            seed_encoder.encode(requests[j].query, requests[j].documents)

    def mxbai_prepare_inputs(k: int) -> Timed:
        return reference.time_prepare_inputs(list(part[k]), MXBAI_CHUNK)

    def raw_encode_batch(k: int):
        for j in part[k]:
            raw_encode(raw_pairs[j], add_special_tokens=False)

    def raw_full_prompts(k: int):
        for j in part[k]:
            raw_encode(prompts[j], add_special_tokens=False)

    candidates = {
        "rerankrt (mxbai template)": rerankrt_mxbai,
        "mxbai-rerank prepare_inputs": mxbai_prepare_inputs,
        "raw encode_batch (pairs)": raw_encode_batch,
        "rerankrt, tiktoken path off": rerankrt_tokenizers_path,
        "rerankrt (seed template)": rerankrt_seed,
        "raw encode_batch (full prompts)": raw_full_prompts,
    }
    # One untimed pass of the fast paths warms caches and thread pools alike.
    for k in range(slices):
        rerankrt_mxbai(k)
        raw_encode_batch(k)
    times = interleaved_slices(candidates, repeats, slices, label=f"{NAME}: ")
    pairs_per_s = {name: num_pairs / median(t) for name, t in times.items()}
    tokens = int(sum(encoder.encode(r.query, r.documents).lengths.sum() for r in requests))
    same = _same_ids(encoder, reference, requests, limit=1000)
    reference.close()

    ours = pairs_per_s["rerankrt (mxbai template)"]
    vs_mxbai = ours / pairs_per_s["mxbai-rerank prepare_inputs"]
    vs_raw = ours / pairs_per_s["raw encode_batch (pairs)"]
    tiktoken_path = encoder._fast is not None
    off_vs_raw = pairs_per_s["rerankrt, tiktoken path off"] / pairs_per_s["raw encode_batch (pairs)"]
    # The bare tokenizers library over the same text, against prepare_inputs.
    ceiling = pairs_per_s["raw encode_batch (pairs)"] / pairs_per_s["mxbai-rerank prepare_inputs"]
    detail = (
        f"{fmt(ours)} vs {fmt(pairs_per_s['mxbai-rerank prepare_inputs'])} pairs/s; raw encode_batch itself is "
        f"{ceiling:.2f}x prepare_inputs on {cpu_threads()} threads"
    )
    targets = [
        Target("tokenization vs mxbai-rerank prepare_inputs", vs_mxbai, TARGET_VS_MXBAI, ">=", detail=detail),
        Target(
            "tokenization vs raw encode_batch",
            vs_raw,
            TARGET_VS_RAW,
            ">=",
            detail=f"{fmt(ours)} vs {fmt(pairs_per_s['raw encode_batch (pairs)'])} pairs/s",
        ),
    ]
    if not same["identical"]:
        targets.append(Target("tokenization ids equal to prepare_inputs", 0.0, 1.0, ">=", unit="", detail=str(same)))

    result = {
        "benchmark": NAME,
        "size": size,
        "environment": environment(),
        "workload": {
            "pairs": num_pairs,
            "requests": len(requests),
            "docs_per_query": docs_per_query,
            "template_tokens": tokens,
            "mean_tokens_per_pair": tokens / num_pairs,
            "mxbai_chunk": MXBAI_CHUNK,
        },
        "tiktoken_path": tiktoken_path,
        "repeats": repeats,
        "seconds": times,
        "pairs_per_s": pairs_per_s,
        "ratios": {
            "rerankrt_vs_mxbai_prepare_inputs": vs_mxbai,
            "rerankrt_vs_raw_encode_batch": vs_raw,
            "rerankrt_tiktoken_off_vs_raw_encode_batch": off_vs_raw,
            "raw_encode_batch_vs_mxbai_prepare_inputs": ceiling,
        },
        "ids_equal_to_prepare_inputs": same,
        "targets": [t.as_dict() for t in targets],
    }
    rows = [[name, fmt(pps), f"{pps / ours:.2f}"] for name, pps in pairs_per_s.items()]
    markdown = "\n\n".join(
        [
            f"## Tokenization ({num_pairs:,} pairs, {tokens / num_pairs:.0f} tokens per templated pair, "
            f"median of {repeats})",
            markdown_table(["path", "pairs/s", "relative to rerankrt"], rows),
            "prepare_inputs runs one Python loop over the pairs (one core); encode_batch spreads a batch over every "
            f"core ({cpu_threads()} here). Raw encode_batch of the same pairs, no template, is {ceiling:.2f}x "
            "prepare_inputs. "
            + (
                "rerankrt runs user text through tiktoken's BPE core, proven to give the tokenizers library's ids "
                "(rerankrt/_fastbpe.py)"
                if tiktoken_path
                else "rerankrt's tiktoken path was off in this run (not installed or RERANKRT_TOKENIZER=tokenizers)"
            )
            + f"; with that path off it is {off_vs_raw:.2f}x raw encode_batch.",
            f"Token ids equal to prepare_inputs on {same['pairs_checked']} pairs: "
            f"{'yes' if same['identical'] else 'NO (' + str(same['mismatched']) + ' differ)'}.",
            "\n".join(f"- {t.line}" for t in targets),
        ]
    )
    return write_outputs(
        folder,
        NAME,
        result,
        markdown,
        plot=lambda png: _plot(pairs_per_s, png),
        lines=[t.line for t in targets],
    )


def _plot(pairs_per_s: dict[str, float], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    names = list(pairs_per_s)
    ax.barh(names[::-1], [pairs_per_s[n] for n in names[::-1]], color="#4477aa")
    ax.set_xlabel("pairs/s (higher is better)")
    ax.set_title("Tokenization throughput")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        __doc__,
        NAME,
        lambda a: run(a.size, results=a.results, num_pairs=a.pairs, repeats=a.repeats),
        [
            ("--pairs", {"type": int, "default": None, "help": "pairs to tokenize (default: 10,000 at full size)"}),
            ("--repeats", {"type": int, "default": None}),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
