"""The recipe stage `kind = "classifier"`: its scores are those of the library and of `gristmill classifier
score` for the same documents; min_score and keep_label remove what they should, saying why; a model that
is missing, damaged or lacks the recipe's label stops the run before any work, in one line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from gristmill.cli import main
from pipeline.classifier.model import ClassifierModel
from pipeline.classifier.training import TrainingOptions, train_classifier

SAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "samples"
POSITIVE = SAMPLES / "classifier-positive.jsonl.gz"
NEGATIVE = SAMPLES / "classifier-negative.jsonl.gz"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "model"
    train_classifier(
        {"positive": [str(POSITIVE)], "negative": [str(NEGATIVE)]},
        folder,
        TrainingOptions(epochs=5, learning_rate=0.1, buckets=1 << 14),  # short: some documents scored wrongly
    )
    return folder


def run(tmp_path: Path, stage: str, inputs: list[Path]) -> tuple[int, Path]:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f'[executor]\nworkers = 2\n\n[[stage]]\nkind = "ingest"\n\n[[stage]]\nkind = "classifier"\n{stage}\n'
    )
    output = tmp_path / "run"
    arguments = ["run", str(recipe), "--output", str(output)] + [a for i in inputs for a in ("--input", str(i))]
    return main(arguments), output


def rows(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "*.parquet") if folder.is_dir() else pl.DataFrame()


def test_the_stage_the_library_and_the_cli_give_the_same_scores(model: Path, tmp_path: Path, capsys):
    code, output = run(tmp_path, f'model = "{model}"\nkeep_label = "positive"', [POSITIVE])
    assert code == 0
    columns = ["text", "classifier_label", "classifier_score"]
    places = (output / "shards", output / "removed" / "classifier")
    scored = pl.concat([rows(place).select(columns) for place in places])
    assert scored.height == 821
    library = ClassifierModel.load(model).scores(scored["text"].to_list(), "positive")
    assert scored["classifier_score"].to_list() == [score for _, score in library]
    assert scored["classifier_label"].to_list() == [label for label, _ in library]
    capsys.readouterr()
    assert main(["classifier", "score", str(model), "--input", str(POSITIVE), "--label", "positive"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with gzip.open(POSITIVE, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    by_text = {text: (row["label"], row["score"]) for text, row in zip(texts, printed, strict=True)}
    assert [by_text[text] for text in scored["text"].to_list()] == library


def test_min_score_removes_low_scores_with_the_score_and_threshold(model: Path, tmp_path: Path):
    code, output = run(tmp_path, f'model = "{model}"\nkeep_label = "positive"\nmin_score = 0.5', [POSITIVE, NEGATIVE])
    assert code == 0
    kept, removed = rows(output / "shards"), rows(output / "removed" / "classifier")
    assert kept.height + removed.height == 821 + 1200
    assert (kept["classifier_score"] >= 0.5).all() and (removed["classifier_score"] < 0.5).all()
    assert set(removed["removed_by"]) == {"classifier_score"}
    detail = removed["removed_detail"][0]
    assert detail.startswith("classifier: score(positive)=") and detail.endswith("< min_score 0.5")
    assert kept["source"].str.contains("classifier-positive").mean() > 0.9  # what it learned to keep


def test_keep_label_alone_keeps_documents_whose_top_label_it_is(model: Path, tmp_path: Path):
    code, output = run(tmp_path, f'model = "{model}"\nkeep_label = "negative"', [POSITIVE])
    assert code == 0
    kept, removed = rows(output / "shards"), rows(output / "removed" / "classifier")
    assert set(kept["classifier_label"]) <= {"negative"} and set(removed["classifier_label"]) == {"positive"}
    assert set(removed["removed_by"]) == {"classifier_label"}


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ('model = "missing.bin"', "no such file or folder"),
        ('model = "damaged.bin"', "not a readable fastText model"),
        ('model = "MODEL"\nkeep_label = "hq"', "no label 'hq'; its labels:"),
    ],
)
def test_a_bad_model_stops_the_run_before_any_work_in_one_line(
    model: Path, tmp_path: Path, capsys, stage: str, message: str
):
    (tmp_path / "damaged.bin").write_bytes((model / "model.bin").read_bytes()[:4096])
    code, output = run(tmp_path, stage.replace("MODEL", str(model)), [POSITIVE])
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "stage[1] (classifier)" in error
    assert not output.exists()
