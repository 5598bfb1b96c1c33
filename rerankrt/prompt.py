"""Model semantics of mxbai-rerank v2, in one place: prompt templates, token ids, truncation and the score.

Two templates are served, each exactly:

- ``"seed"``: the model card's string template (``seed_prompt``). Without truncation, the token ids equal
  ``tokenizer(seed_prompt(q, d, i), add_special_tokens=False)["input_ids"]``.
- ``"mxbai"``: what the reference library mxbai-rerank v2 (``MxbaiRerankV2.prepare_inputs``) builds, token for token,
  its truncation rules included.

``max_length`` means what each template's origin means by it. For ``"seed"`` it caps the whole sequence. For
``"mxbai"`` it caps the query + document tokens (as in the reference library); the static template adds
``static_length`` more. ``PromptEncoder.max_sequence_length`` is the longest sequence an encoder can produce.

The score is logit("1") - logit("0") at the last position; its sigmoid is P(relevant). Classification answers use
the labels "0" and "1" (`LABELS`); the folded head keeps only the logits' difference, so `centred_logits` reports the
pair as +s/2 and -s/2, which keeps their difference and softmax exact.

Caller-formatted prompts (``/predict``) go through `PromptEncoder.raw_ids`, which cuts an over-long prompt in its middle
and keeps the task line and assistant turn the score is read after. `PromptEncoder.encode`'s ``max_tokens_per_doc`` caps
each document at its first tokens, in the same tokenization that builds the pair.

This module says what the prompts and scores are; `rerankrt.encoding` holds the encoder that turns pairs into their
token ids (`PromptEncoder`, `Encoded`, `TruncationError`), re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # for type checkers; at run time `__getattr__` below resolves them
    from rerankrt.encoding import Encoded as Encoded
    from rerankrt.encoding import PromptEncoder as PromptEncoder
    from rerankrt.encoding import TruncationError as TruncationError

TEMPLATES = ("seed", "mxbai")
DEFAULT_TEMPLATE = "seed"
DEFAULT_MAX_LENGTH = 8192
DEFAULT_MODEL_MAX_LENGTH = 32768  # Qwen2.5-0.5B max_position_embeddings

SYSTEM_PROMPT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
TASK_PROMPT = (
    "You are a search relevance expert who evaluates how well documents match search queries. "
    "For each query-document pair, carefully analyze the semantic relationship between them, then provide your "
    "binary relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:"
)
YES_TOKEN = "1"
NO_TOKEN = "0"
LABELS = (NO_TOKEN, YES_TOKEN)  # the 2-label classification form, in label-id order

# The reference library's pieces (mxbai_rerank/mxbai_rerank_v2.py).
MXBAI_PREFIX = f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n"
MXBAI_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"
MXBAI_SEP = "\n"

# The model card's string template, split where special tokens cut the text, so that tokenizing the pieces and
# concatenating equals tokenizing the whole string (special tokens are hard boundaries for the pre-tokenizer).
SEED_PREFIX = f"<|endoftext|><|im_start|>system\n{SYSTEM_PROMPT}\n<|im_end|>\n<|im_start|>"
SEED_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"

# Estimated maximum raw score per model, for the reference library's `normalize=True`.
ESTIMATED_MAX = {"mixedbread-ai/mxbai-rerank-base-v2": 9.0, "mixedbread-ai/mxbai-rerank-large-v2": 12.0}


def seed_prompt(query: str, document: str, instruction: str = "") -> str:
    """Render the model card's prompt string (``create_mxbai_v2_reranker_prompt_template``) exactly.

    Args:
        query: The search query.
        document: The document to judge.
        instruction: Optional instruction, one line. Defaults to "" (none).

    Returns:
        The templated prompt string, special tokens spelled out.

    Raises:
        ValueError: Where the model card asserts: a non-string query or document, or an instruction with a newline.
    """
    if not isinstance(query, str):
        raise ValueError(f"query must be a str, got {type(query).__name__}")
    if not isinstance(document, str):
        raise ValueError(f"document must be a str, got {type(document).__name__}")
    if not isinstance(instruction, str):
        raise ValueError(f"instruction must be a str, got {type(instruction).__name__}")
    instruction_line = f"instruction: {instruction}\n" if instruction else ""
    # The card asserts `"\n" not in instruction_line[:-1]`: with an instruction, no newline may stand in it; with
    # none, the empty slice passes.
    if "\n" in instruction_line[:-1]:
        raise ValueError("instruction must be a single line: the seed template forbids newlines in it")
    return (
        f"<|endoftext|><|im_start|>system\n{SYSTEM_PROMPT}\n"
        "<|im_end|>\n"
        "<|im_start|>user\n"
        f"{instruction_line}"
        f"query: {query} \n"
        f"document: {document} \n"
        f"{TASK_PROMPT}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


_SEED_HEAD = f"<|endoftext|><|im_start|>system\n{SYSTEM_PROMPT}\n<|im_end|>\n<|im_start|>user\n"
_SEED_TAIL = f" \n{TASK_PROMPT}<|im_end|>\n<|im_start|>assistant\n"


def parse_seed_prompt(prompt: str) -> tuple[str, str, str] | None:
    """(query, document, instruction) of a prompt string `seed_prompt` renders, or None for any other string.

    The first ``" \ndocument: "`` ends the query, so a document may hold anything, control-token spellings included;
    tokenizing the parts with `PromptEncoder.encode` keeps them plain text (what /predict does with such a prompt).
    The parts always render back to `prompt` exactly.
    """
    if not isinstance(prompt, str) or not (prompt.startswith(_SEED_HEAD) and prompt.endswith(_SEED_TAIL)):
        return None
    body = prompt[len(_SEED_HEAD) : len(prompt) - len(_SEED_TAIL)]
    instruction = ""
    if body.startswith("instruction: "):
        line, _, body = body.partition("\n")
        instruction = line[len("instruction: ") :]
    if not body.startswith("query: "):
        return None
    query, sep, document = body[len("query: ") :].partition(" \ndocument: ")
    if not sep:
        return None
    try:
        same = seed_prompt(query, document, instruction) == prompt
    except ValueError:
        return None
    return (query, document, instruction) if same else None


def sigmoid(scores: np.ndarray | Sequence[float] | float) -> np.ndarray:
    """P("1") from raw scores: the logistic function, computed without overflow."""
    x = np.asarray(scores, dtype=np.float64)
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def centred_logits(score: float) -> tuple[float, float]:
    """(logit("1"), logit("0")) of a folded score s = logit("1") - logit("0"): the centred pair (+s/2, -s/2).

    The folded head keeps only the difference, so the pair is known up to a shared offset; centring it keeps the
    difference and the pair's softmax exact.
    """
    return score / 2.0, -score / 2.0


def label_scores(score: float, *, logits: bool = False) -> list[tuple[str, float]]:
    """The labels "1" and "0" of one raw score, best first: P(label), or the centred logits when `logits`."""
    if logits:
        yes, no = centred_logits(score)
    else:
        yes = float(sigmoid(score))
        no = 1.0 - yes
    return sorted([(YES_TOKEN, yes), (NO_TOKEN, no)], key=lambda p: p[1], reverse=True)


def normalize_mxbai(scores: np.ndarray | Sequence[float], estimated_max: float = 9.0) -> np.ndarray:
    """The reference library's ``normalize=True``: ``sigmoid(score - estimated_max / 2)``."""
    return sigmoid(np.asarray(scores, dtype=np.float64) - estimated_max / 2)


# The encoder lives in rerankrt/encoding.py (it imports this module's templates); resolved on first use so that
# `from rerankrt.prompt import PromptEncoder` keeps working without an import cycle.
_ENCODING_NAMES = frozenset({"Encoded", "PromptEncoder", "TruncationError"})


def __getattr__(name: str):
    if name in _ENCODING_NAMES:
        from rerankrt import encoding

        return getattr(encoding, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
