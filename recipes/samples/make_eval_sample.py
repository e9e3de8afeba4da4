"""Writes eval-sample.jsonl: a small evaluation set for the classifier recipe's decontamination stage, so the
demo has something to find. 30 items with a `question` field:

- 5 passages of 40 words from English pages of quickstart.warc.gz (the Debian Installation Guide and
  Handbook), as if a benchmark had been built from those pages: the crawl is "contaminated" with them
  (and with the copies of those pages it holds);
- 25 passages of 40 words from the positive classifier sample (Python docstrings), which the crawl does
  not contain.

    python recipes/samples/make_eval_sample.py
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from pipeline.extract import html_to_text
from pipeline.inputs import resolve_inputs
from pipeline.readers import ReaderOptions, read_records

HERE = Path(__file__).resolve().parent
WORDS = 40


def passage(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if len(words) < WORDS * 2:
        return None
    start = rng.randrange(0, len(words) - WORDS)
    return " ".join(words[start : start + WORDS])


def crawl_pages() -> list[tuple[str, str]]:
    (file,) = resolve_inputs([str(HERE / "quickstart.warc.gz")])
    pages = []
    for record in read_records(file, ReaderOptions()):
        if record.html is not None and record.url and "/en/" in record.url:
            text, _ = html_to_text(record.html, record.charset, "resiliparse", True)
            pages.append((record.url, text))
    return sorted(pages)


def docstrings() -> list[tuple[str, str]]:
    with gzip.open(HERE / "classifier-positive.jsonl.gz", "rt", encoding="utf-8") as handle:
        return sorted((row["id"], row["text"]) for row in map(json.loads, handle))


def main() -> None:
    rng = random.Random(0)
    items = []
    for origin, sources, count in (("crawl", crawl_pages(), 5), ("docstring", docstrings(), 25)):
        chosen = 0
        for name, text in rng.sample(sources, len(sources)):
            if chosen < count and (piece := passage(text, rng)):
                items.append({"id": f"{origin}-{chosen:02d}", "source": name, "question": piece})
                chosen += 1
    path = HERE / "eval-sample.jsonl"
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
    print(f"{path.name}: {len(items)} items")


if __name__ == "__main__":
    main()
