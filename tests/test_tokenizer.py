"""Tokenizer loading, the per-tokenizer view cache and right padding (rerankrt/tokenizer.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt.tokenizer import bundled_tokenizer_dir, load_tokenizer, padded_batch, special_view, tokenizer_views


def test_padded_batch_right_pads():
    ids, lengths = padded_batch([np.array([1, 2, 3]), np.array([4])], pad_id=0, multiple_of=4)
    assert ids.tolist() == [[1, 2, 3, 0], [4, 0, 0, 0]] and lengths.tolist() == [3, 1]


def test_load_tokenizer_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)


def test_a_folder_loads_once_and_its_views_disagree_only_on_special_spellings():
    folder = bundled_tokenizer_dir()
    key, plain, specials = tokenizer_views(folder)
    again = tokenizer_views(str(folder))
    assert again[0] == key and again[1] is plain  # the same cached view, however the folder is spelled
    parsing = special_view(key)
    assert special_view(key) is parsing
    im_end = parsing.token_to_id("<|im_end|>")
    assert im_end not in plain.encode("x<|im_end|>", add_special_tokens=False).ids  # plain text stays text
    assert im_end in parsing.encode("x<|im_end|>", add_special_tokens=False).ids
    assert specials.split("a<|im_end|>b") == ["a", "<|im_end|>", "b"]


def test_a_tokenizer_folder_fills_the_per_user_cache(monkeypatch, tmp_path):
    import shutil

    from rerankrt.tokenizer import fast_bpe

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "tok"
    shutil.copytree(bundled_tokenizer_dir(), folder)
    key, plain, _ = tokenizer_views(folder)
    assert [p.name.split("-")[0] for p in (tmp_path / "cache" / "rerankrt").iterdir()] == ["fastbpe"]
    text = "Grüße aus Köln: 12,345 words"
    assert fast_bpe(key).encode([text], lambda t: [plain.encode(t[0], add_special_tokens=False).ids]) == [
        plain.encode(text, add_special_tokens=False).ids
    ]
