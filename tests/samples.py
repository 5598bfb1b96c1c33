"""Shared sample pairs and the one-pair-at-a-time torch scorer (used by tests/test_models.py and tests/reference/)."""

from __future__ import annotations

import numpy as np

from rerankrt.prompt import PromptEncoder
from rerankrt.runtime.backends.torch import TorchBackend
from rerankrt.tokenizer import padded_batch

QUERIES = [
    ("Who wrote 'To Kill a Mockingbird'?", ""),
    ("数据库索引是如何工作的？", ""),
    ("Wie funktioniert eine Wärmepumpe?", "You are an expert in building physics."),
    ("¿Cuál es la capital de Australia?", ""),
    ("python read a file line by line", "Prefer documents with code examples."),
    ("東京の人口は？", ""),
]
DOCUMENTS = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960.",
    "The novel 'Moby-Dick' was written by Herman Melville and first published in 1851.",
    "B树索引把键按顺序存放在平衡树中，查询时只需访问少量页面。" * 6,
    "Eine Wärmepumpe entzieht der Umgebung Wärme und hebt sie auf ein höheres Temperaturniveau. " * 12,
    "Canberra es la capital de Australia desde 1913.",
    "with open('data.txt') as f:\n    for line in f:\n        print(line.rstrip())",
    "",
    "東京都の人口は約1400万人です。",
    "A very long unrelated document about the weather in many places and seasons. " * 40,
]


def pairs(n: int = 54):
    out = []
    for i in range(n):
        q, ins = QUERIES[i % len(QUERIES)]
        out.append((q, DOCUMENTS[(i * 5) % len(DOCUMENTS)], ins))
    return out


def torch_scores(model_dir, encoder: PromptEncoder, items) -> np.ndarray:
    backend = TorchBackend(model_dir)
    scores = []
    for q, d, ins in items:  # one at a time: the reference has no batch to hide behind
        enc = encoder.encode([q], [d], [ins])
        ids, lengths = padded_batch(enc.ids, encoder.pad_id)
        scores.append(backend.score(ids, lengths)[0])
    return np.array(scores)
