"""English-like articles for dedup tests: distinct per seed, deterministic, long enough for 5-gram shingles."""

from __future__ import annotations

import json
import random
from pathlib import Path

SUBJECTS = [
    "the old miller",
    "a young baker",
    "the village council",
    "our neighbour",
    "the river pilot",
    "a travelling merchant",
    "the school teacher",
    "the blacksmith",
    "a careful farmer",
    "the harbour master",
    "the night watchman",
    "a visiting scholar",
    "the town clerk",
    "the shepherd",
    "a weaver from the hills",
]
VERBS = [
    "repaired",
    "described",
    "painted",
    "measured",
    "carried",
    "inspected",
    "praised",
    "questioned",
    "sold",
    "borrowed",
    "photographed",
    "rebuilt",
    "counted",
    "remembered",
    "ignored",
]
OBJECTS = [
    "the broken wheel",
    "a basket of apples",
    "the stone bridge",
    "the winter stores",
    "an iron gate",
    "the ledger of debts",
    "a map of the valley",
    "the chapel roof",
    "the wooden cart",
    "a crate of tiles",
    "the flooded cellar",
    "the market stalls",
    "a letter from the coast",
    "the signal lamp",
    "the copper kettle",
]
PLACES = [
    "before the autumn fair",
    "near the eastern ford",
    "after the long storm",
    "during the spring thaw",
    "beside the granary",
    "at the edge of the forest",
    "under a grey sky",
    "while the bells rang",
    "on the morning of the vote",
    "behind the customs house",
    "as the tide turned",
    "in front of the inn",
]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)}."


def paragraph(rng: random.Random, sentences: int = 4) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def article(seed: int, paragraphs: int = 20) -> list[str]:
    rng = random.Random(seed)
    return [paragraph(rng) for _ in range(paragraphs)]


def write_jsonl(path: Path, documents: list[tuple[str, str]]) -> Path:
    """(id, text) pairs as a JSONL file the ingest stage reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for doc_id, text in documents:
            handle.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    return path
