"""Decontamination against real text: Python docstrings as the evaluation items, Debian changelog entries as
the documents (both bundled samples). Items planted verbatim or lightly edited are all found; no clean
document (checked by a plain set-of-13-grams oracle) is touched; cut_lines cuts only the matching lines."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import polars as pl
import pytest

from gristmill.cli import main
from pipeline.filters.decontaminate import DecontaminateStage, EvaluationIndex, decontaminate
from pipeline.filters.words import content_words

SAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "samples"


def sample(name: str) -> list[dict]:
    with gzip.open(SAMPLES / name, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def ngrams(text: str, n: int = 13) -> set[tuple[str, ...]]:
    words = [word.casefold() for word in content_words(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def edit_lightly(text: str, how: int) -> str:
    """Case, punctuation or spacing changed: what a scraper or a copy-paste does to a test item."""
    if how == 0:
        return text.upper()
    if how == 1:
        return re.sub(r"[.,;:()'\"]", lambda m: {".": "!", ",": " ,"}.get(m.group(), ""), text)
    return re.sub(r"\s+", lambda m: "\n  " if len(m.group()) == 1 else " ", text)


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("decontaminate")
    items = [row for row in sample("classifier-positive.jsonl.gz") if len(content_words(row["text"])) >= 40][:200]
    evaluation = folder / "eval.jsonl"
    evaluation.write_text("".join(json.dumps({"id": row["id"], "question": row["text"]}) + "\n" for row in items))
    documents = sample("classifier-negative.jsonl.gz")
    rng = random.Random(0)
    planted = {}
    for number, position in enumerate(rng.sample(range(len(documents)), 30)):
        item = items[number]
        piece = " ".join(item["text"].split()[:30])  # a passage of the item, not all of it
        lines = documents[position]["text"].split("\n")
        lines.insert(len(lines) // 2, edit_lightly(piece, number % 3) if number >= 10 else piece)
        documents[position] = {**documents[position], "text": "\n".join(lines)}
        planted[documents[position]["id"]] = item["id"]
    data = folder / "documents.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in documents))
    return folder, evaluation, data, items, documents, planted


def test_planted_items_are_found_and_clean_documents_kept(setting):
    _, evaluation, _, items, documents, planted = setting
    options = DecontaminateStage(evaluations=[str(evaluation)], text_fields=["question"])
    index = EvaluationIndex(options)
    item_grams = set().union(*(ngrams(item["text"]) for item in items))
    removed = {}
    for row in documents:
        verdict = decontaminate(row["text"], index, options)
        if not verdict.kept:
            removed[row["id"]] = verdict.removed_detail
    assert set(planted) <= set(removed)  # every planted item, verbatim or edited
    for document_id, item_id in planted.items():
        assert removed[document_id].startswith(f"eval.jsonl item {item_id}: '")
    clean = [row for row in documents if not ngrams(row["text"]) & item_grams]
    assert len(clean) >= len(documents) - 40
    assert not {row["id"] for row in clean} & set(removed)  # nothing that shares no 13-gram


def test_cut_lines_cuts_the_planted_lines_only(setting):
    _, evaluation, _, _, documents, planted = setting
    options = DecontaminateStage(evaluations=[str(evaluation)], text_fields=["question"], cut_lines=True)
    index = EvaluationIndex(options)
    for row in documents:
        if row["id"] not in planted:
            continue
        verdict = decontaminate(row["text"], index, options)
        assert verdict.kept and verdict.columns["decontaminate_lines_removed"] >= 1
        lost = set(row["text"].split("\n")) - set(verdict.text.split("\n"))
        assert all(ngrams(line) or len(content_words(line)) < 13 for line in lost)
        assert len(verdict.text) < len(row["text"]) and len(verdict.text) > len(row["text"]) // 4


def run(tmp_path: Path, data: Path, stage: str) -> int:
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[[stage]]\nkind = "ingest"\n\n[[stage]]\nkind = "decontaminate"\n{stage}\n')
    return main(["run", str(recipe), "--input", str(data), "--output", str(tmp_path / "run")])


def test_the_stage_in_a_run_removes_with_the_item_and_ngram(setting, tmp_path: Path):
    _, evaluation, data, _, _, planted = setting
    assert run(tmp_path, data, f'evaluations = ["{evaluation}"]\ntext_fields = ["question"]') == 0
    removed = pl.read_parquet(tmp_path / "run" / "removed" / "decontaminate" / "*.parquet")
    assert set(planted) <= set(removed["id"]) and set(removed["removed_by"]) == {"contaminated"}


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ('evaluations = ["EVAL"]\ntext_fields = ["prompt"]', "no field 'prompt' (fields: id, question)"),
        ('evaluations = ["missing.jsonl"]', "evaluation file not found"),
    ],
)
def test_a_bad_evaluation_file_is_one_line_and_exit_2(setting, tmp_path: Path, capsys, stage: str, message: str):
    _, evaluation, data, _, _, _ = setting
    assert run(tmp_path, data, stage.replace("EVAL", str(evaluation))) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_cut_lines_in_a_run_writes_the_count_column(setting, tmp_path: Path):
    _, evaluation, data, _, _, planted = setting
    assert run(tmp_path, data, f'evaluations = ["{evaluation}"]\ntext_fields = ["question"]\ncut_lines = true') == 0
    kept = pl.read_parquet(tmp_path / "run" / "shards" / "*.parquet")
    cut = kept.filter(pl.col("decontaminate_lines_removed") > 0)
    assert set(planted) <= set(cut["id"]) and kept["decontaminate_lines_removed"].null_count() == 0
