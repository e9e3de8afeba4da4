"""Every stage function on hostile text: no crash, and the same answer every time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hf_factory import tiny_bert

from pipeline.classifier.training import TrainingOptions, train_classifier
from pipeline.filters.c4 import c4_filter
from pipeline.filters.chain import FILTER_STAGES, FilterChain, build_runner
from pipeline.filters.classifier import ClassifierStage
from pipeline.filters.decontaminate import DecontaminateStage
from pipeline.filters.fineweb import fineweb_filter
from pipeline.filters.gopher import gopher_quality, gopher_repetition
from pipeline.filters.hf_classifier import HfClassifierStage
from pipeline.filters.langid import identify_language
from pipeline.filters.length import LengthStage, length_filter
from pipeline.filters.pii import mask_pii
from pipeline.filters.urls import UrlFilterStage
from pipeline.filters.verdict import Verdict

FUNCTIONS: dict[str, Callable[[str], Verdict]] = {
    "gopher_quality": gopher_quality,
    "gopher_repetition": gopher_repetition,
    "c4": c4_filter,
    "fineweb": fineweb_filter,
    "length": lambda text: length_filter(text, LengthStage(min_chars=1, min_words=1, min_lines=1)),
    "pii": mask_pii,
    "langid": identify_language,
}
SAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "samples"
HOSTILE = {
    "empty": "",
    "whitespace": " \t\n\r\n  \u00a0\u2003\n",
    "controls": "\x00\x01\x02\x1b[31m\x7f\x0c\x0b",
    "lone_surrogates": "start \ud800 middle \udfff end.\n\udbff",
    "mixed_scripts": "English, Русский, 日本語、中文。 עברית العربية ไทย 한국어 ελληνικά!\n" * 3,
    "ten_mb_line": ("word another thing. " * 600_000)[:10_000_000],
    "ten_mb_one_word": "x" * 10_000_000,
}


@pytest.mark.parametrize("text_name", HOSTILE)
@pytest.mark.parametrize("function_name", FUNCTIONS)
def test_no_crash_and_deterministic(function_name: str, text_name: str) -> None:
    function, text = FUNCTIONS[function_name], HOSTILE[text_name]
    first = function(text)
    assert isinstance(first, Verdict)
    assert first == function(text)
    if first.removed_by:
        assert first.removed_detail


@pytest.fixture(scope="module")
def with_files(tmp_path_factory: pytest.TempPathFactory) -> dict[type, object]:
    """The stages that read files, with real ones: a small trained classifier and an evaluation set."""
    folder = tmp_path_factory.mktemp("stage-files")
    sources = {"positive": [str(SAMPLES / "classifier-positive.jsonl.gz")]}
    sources["negative"] = [str(SAMPLES / "classifier-negative.jsonl.gz")]
    train_classifier(sources, folder / "model", TrainingOptions(buckets=1 << 12, max_per_label=200))
    evaluation = folder / "eval.jsonl"
    evaluation.write_text(json.dumps({"text": "word another thing. " * 10}) + "\n")
    tiny_bert(folder / "hf", "word another thing " * 10, ["bad", "good"])
    return {
        UrlFilterStage: UrlFilterStage(default_lists=False),
        HfClassifierStage: HfClassifierStage(model=str(folder / "hf"), keep_label="good", max_tokens=64),
        ClassifierStage: ClassifierStage(model=str(folder / "model"), keep_label="positive"),
        DecontaminateStage: DecontaminateStage(evaluations=[str(evaluation)], cut_lines=True),
    }


@pytest.mark.parametrize("text_name", HOSTILE)
@pytest.mark.parametrize("kind", [ClassifierStage, HfClassifierStage, DecontaminateStage])
def test_stages_with_files_take_hostile_text(with_files: dict[type, object], kind: type, text_name: str) -> None:
    runner = build_runner(with_files[kind])  # type: ignore[arg-type]
    first = runner(HOSTILE[text_name], None)
    assert isinstance(first, Verdict) and first == runner(HOSTILE[text_name], None)
    if first.removed_by:
        assert first.removed_detail


def test_the_whole_chain_takes_hostile_text(with_files: dict[type, object]) -> None:
    stages = [with_files.get(cls) or cls() for cls in FILTER_STAGES]
    texts = list(HOSTILE.values())
    chain = FilterChain(stages)
    first = chain.apply(texts, [None, "", "http://[::1", "\ud800", "not a url", "http://x.example/", None])
    second = FilterChain(stages).apply(
        texts, [None, "", "http://[::1", "\ud800", "not a url", "http://x.example/", None]
    )
    assert first == second
    assert not any(o.removed_by and o.removed_by.endswith("_error") for o in first)
