"""A tokenizer trained once on small real-format multilingual text, shared by the tokenizer tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from crawl_factory import PARAGRAPHS
from text_factory import article

from tokenizer import Tokenizer, train_bpe

SPECIAL = "<|endoftext|>"
SAMPLES = [
    *PARAGRAPHS.values(),
    "我们的磨坊在河边，已经有三百年的历史了。水车每天转动，把小麦磨成面粉。",
    "def grind(sacks: list[int]) -> int:\n    return sum(s * 2 for s in sacks if s > 0)  # flour\n",
    "Emoji: 🙂👍🏽👨‍👩‍👧 and flags 🇫🇷🇯🇵, math ∑∫√, arrows → ⇒.",
    "Contractions: I'm, you're, we'll, they've, she'd, it's, DON'T, Can't.",
    "Digits 1234567890 and 3.14159, 1,000,000 and 2024-11-28T21:00:00Z.",
    "Whitespace:   three spaces,\ttab,\n\n\nthree newlines,  \n trailing   ",
    "",
]


def corpus() -> list[str]:
    texts = ["\n\n".join(article(seed, paragraphs=4)) for seed in range(60)]
    return texts + SAMPLES * 20


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t + SPECIAL}) + "\n" for t in corpus()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained(corpus_file: Path) -> Tokenizer:
    return train_bpe([corpus_file], vocab_size=700, special_tokens=[SPECIAL], workers=1)
