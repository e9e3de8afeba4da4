"""Writes small real evaluation tasks for `gristmill eval`, from the Python docstrings of
classifier-positive.jsonl.gz (PSF license), which the walkthrough's model never trained on:

- eval-choice.jsonl (60 items) and eval-choice-shots.jsonl (20, the solved examples `--shots` draws from):
  gristmill's multiple-choice form {"id", "context", "choices", "gold"}: the first words of a sentence, and
  four ways it could go on, the sentence's own and the endings of three other sentences;
- eval-cloze.jsonl (60) and eval-cloze-shots.jsonl (20): LAMBADA's form {"id", "text"}: a sentence and the
  next one of the same docstring, whose last word is to be predicted (final punctuation dropped).

No item shares a sentence with another item or file. Deterministic (seeded):

    python recipes/samples/make_eval_tasks.py
"""

from __future__ import annotations

import gzip
import json
import random
import re
from itertools import pairwise
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "classifier-positive.jsonl.gz"
# short enough that an item fits the walkthrough model's 128-token context whole (its tokenizer takes about
# one token per 2.5 characters of this text)
MAX_CHARACTERS = 120


def docstring_sentences() -> list[list[str]]:
    """Each docstring's sentences (8 words or more, at most MAX_CHARACTERS, ending in . ! or ?), in the file's
    order, whitespace folded."""
    found = []
    with gzip.open(SOURCE, "rt", encoding="utf-8") as handle:
        for row in map(json.loads, handle):
            parts = re.split(r"(?<=[.!?])\s+", " ".join(row["text"].split()))
            found.append([s for s in parts if len(s.split()) >= 8 and len(s) <= MAX_CHARACTERS and s[-1] in ".!?"])
    return found


def sentences() -> list[str]:
    """Every distinct sentence, sorted."""
    return sorted({sentence for group in docstring_sentences() for sentence in group})


def cut(sentence: str, rng: random.Random) -> tuple[str, str]:
    """The sentence's first words and the rest, cut somewhere after the third word and before the last two."""
    words = sentence.split()
    at = rng.randrange(3, len(words) - 2)
    return " ".join(words[:at]), " ".join(words[at:])


def choice_items(count: int, rng: random.Random, used: set[str]) -> list[dict]:
    pool = rng.sample(sentences(), count * 4)
    used.update(pool)
    items = []
    for number in range(count):
        own, *others = pool[number * 4 : number * 4 + 4]
        context, ending = cut(own, rng)
        choices = [ending, *(cut(other, rng)[1] for other in others)]
        rng.shuffle(choices)
        items.append(
            {"id": f"choice-{number:03d}", "context": context, "choices": choices, "gold": choices.index(ending)}
        )
    return items


def cloze_items(count: int, rng: random.Random, used: set[str]) -> list[dict]:
    pairs = sorted({(a, b) for group in docstring_sentences() for a, b in pairwise(group) if a != b})
    items = []
    for a, b in rng.sample(pairs, len(pairs)):
        if len(items) < count and a not in used and b not in used:
            used.update((a, b))
            items.append({"id": f"cloze-{len(items):03d}", "text": f"{a} {b.rstrip('.!?')}"})
    return items


def main() -> None:
    rng = random.Random(0)
    files = {}
    used: set[str] = set()
    choices = choice_items(80, rng, used)
    files["eval-choice.jsonl"], files["eval-choice-shots.jsonl"] = choices[:60], choices[60:]
    cloze = cloze_items(80, rng, used)
    files["eval-cloze.jsonl"], files["eval-cloze-shots.jsonl"] = cloze[:60], cloze[60:]
    for name, rows in files.items():
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (HERE / name).write_text(lines, encoding="utf-8")
        print(f"{name}: {len(rows)} items")


if __name__ == "__main__":
    main()
