"""The fused chain: order, first removal wins, rewritten text flows on, per-stage accounting."""

from __future__ import annotations

import pytest

from pipeline.filters import chain as chain_module
from pipeline.filters.c4 import C4Stage
from pipeline.filters.chain import FilterChain, stage_columns
from pipeline.filters.gopher import GopherQualityStage
from pipeline.filters.langid import LangIdStage
from pipeline.filters.length import LengthStage
from pipeline.filters.pii import PiiStage
from pipeline.filters.verdict import Verdict

LINES = [
    "The miller writes to the council at miller@example.org every week.",
    "The wheel turns with the water and the farmers bring their grain to it.",
    "A heading without punctuation",
    "The stones were cut from a quarry in the hills and carried down on carts.",
    "Children from the school visit in spring to learn how flour is made.",
    "A small museum beside the mill shows the tools of the first millers.",
]
ARTICLE = "\n".join(LINES)


def test_text_rewritten_by_one_stage_is_what_the_next_sees() -> None:
    chain = FilterChain([C4Stage(min_sentences=3), PiiStage(), LengthStage(max_lines=5)])
    [outcome] = chain.apply([ARTICLE])
    assert outcome.kept
    assert "A heading without punctuation" not in outcome.text
    assert "<EMAIL>" in outcome.text
    assert outcome.columns == {"c4_lines_removed": 1, "pii_email": 1, "pii_ip": 0, "pii_phone": 0}


def test_first_removal_wins_and_later_stages_do_not_see_the_document() -> None:
    chain = FilterChain([LengthStage(min_words=5), LangIdStage(keep=["fr"]), PiiStage()])
    outcomes = chain.apply(["two words", ARTICLE, "Le meunier écrit au conseil chaque semaine, sans faute."])
    assert [o.stage for o in outcomes] == ["length", "langid", None]
    assert outcomes[0].removed_by == "length_words" and outcomes[0].columns == {}
    assert outcomes[1].removed_by == "lang_not_kept" and outcomes[1].columns["lang"] == "en"
    assert outcomes[2].kept and outcomes[2].columns["lang"] == "fr" and "pii_email" in outcomes[2].columns
    counts = {kind: (c.docs_in, c.kept, dict(c.removed)) for kind, c in chain.counters.items()}
    assert counts == {
        "length": (3, 2, {"length_words": 1}),
        "langid": (2, 1, {"lang_not_kept": 1}),
        "pii": (1, 1, {}),
    }


def test_a_rule_that_fails_removes_only_that_document(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(text: str, options: object) -> Verdict:
        if "boom" in text:
            raise ValueError("cannot measure")
        return Verdict(text)

    monkeypatch.setattr(chain_module, "gopher_quality", explode)
    chain = FilterChain([GopherQualityStage()])
    outcomes = chain.apply(["boom", ARTICLE])
    assert (outcomes[0].removed_by, outcomes[0].removed_detail) == (
        "gopher_quality_error",
        "ValueError: cannot measure",
    )
    assert outcomes[1].kept


def test_columns_are_declared_in_recipe_order() -> None:
    stages = [PiiStage(), LangIdStage(), C4Stage(), GopherQualityStage()]
    assert [f.name for s in stages for f in stage_columns(s)] == [
        "pii_email",
        "pii_ip",
        "pii_phone",
        "lang",
        "lang_score",
        "c4_lines_removed",
    ]
    assert [f.name for f in FilterChain(stages).columns][:3] == ["pii_email", "pii_ip", "pii_phone"]


def test_empty_batch() -> None:
    assert FilterChain([LengthStage()]).apply([]) == []
