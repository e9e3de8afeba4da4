"""Two real runs of different recipes over one small multi-language JSONL crawl, shared by the report tests.

The input is built so that every kind of rule fires: languages that are not kept, too-short and repetitive
pages, exact and near copies, and a page whose text is HTML markup (for escaping).
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from crawl_factory import PARAGRAPHS
from rich.console import Console
from text_factory import article

from pipeline.prepared import prepare_run
from pipeline.runner import execute

MARKUP = '<script>alert("x")</script> & <b>bold</b>'
RECIPE = """
[executor]
workers = 2

[[stage]]
kind = "ingest"
inputs = ["{input}"]

[[stage]]
kind = "langid"
keep = ["en", "fr", "de"]
route = true

[[stage]]
kind = "gopher_repetition"
max_top_ngram_chars = {{}}        # the generated articles draw on a small vocabulary
max_duplicate_ngram_chars = {{ "10" = 0.1 }}

[[stage]]
kind = "gopher_quality"
min_words = {min_words}
min_stop_words = false

[[stage]]
kind = "exact_dedup"

[[stage]]
kind = "minhash_dedup"

[[stage]]
kind = "shard"
shuffle = true
"""


def crawl_rows() -> list[dict]:
    rows = []
    for i in range(40):
        text = "\n\n".join(article(i, paragraphs=3 + i % 9))
        rows.append({"id": f"en-{i}", "text": text, "url": f"https://www.news{i % 4}.example/a/{i}"})
    for i in range(5):  # near copies: one paragraph of twelve changed
        paragraphs = article(100 + i, paragraphs=12)
        rows.append({"id": f"orig-{i}", "text": "\n\n".join(paragraphs), "url": f"https://blog.example/{i}"})
        paragraphs[3] = article(900 + i, paragraphs=1)[0]
        rows.append({"id": f"near-{i}", "text": "\n\n".join(paragraphs), "url": f"https://mirror.example/{i}"})
    for i in range(3):  # exact copies, differing only in case and spacing
        rows.append(
            {"id": f"copy-{i}", "text": "\n\n".join(article(500, 7)).upper(), "url": f"https://copy.example/{i}"}
        )
    for i in range(4):
        rows.append({"id": f"short-{i}", "text": f"{MARKUP} A short note number {i}.", "url": None})
    for i in range(3):
        rows.append(
            {
                "id": f"spam-{i}",
                "text": "Buy cheap flour now and save money today.\n" * 30,
                "url": "https://spam.example/",
            }
        )
    for lang in ("fr", "de", "ru", "ja"):
        for i in range(3):
            rng = random.Random(f"{lang}-{i}")
            words = PARAGRAPHS[lang].rstrip(".。").split()
            lines = [" ".join(rng.sample(words, len(words))) + "." for _ in range(12)]
            rows.append({"id": f"{lang}-{i}", "text": "\n".join(lines), "url": f"https://{lang}.example/{i}"})
    return rows


def make_run(folder: Path, name: str, min_words: int) -> Path:
    crawl = folder / "crawl.jsonl"
    if not crawl.exists():
        crawl.write_text("".join(json.dumps(row) + "\n" for row in crawl_rows()), encoding="utf-8")
    recipe = folder / f"{name}.toml"
    recipe.write_text(RECIPE.format(input=crawl, min_words=min_words))
    result = execute(prepare_run(recipe, output=folder / name), Console(file=io.StringIO(), width=140))
    assert result.complete
    return folder / name


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("report-crawl"), "lenient", min_words=50)


@pytest.fixture(scope="session")
def strict_run(report_run: Path) -> Path:
    """The same input with a higher word minimum: some documents the lenient run keeps, this one removes."""
    return make_run(report_run.parent, "strict", min_words=300)
