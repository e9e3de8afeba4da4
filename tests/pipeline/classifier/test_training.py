"""Training on two real, different sources (bundled: Python standard-library docstrings against Debian
changelog entries) separates held-out documents and spreads their scores to 0 and 1 (fastText's 5 epochs at
lr 0.1 did not: the positives' median was 0.86); the epochs are chosen on a validation share unless given;
one thread and a seed give the same model file twice; the model folder holds what scoring needs; bad input
is one clear error naming the flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gristmill.cli import main
from gristmill_base.errors import UserError
from pipeline.classifier.model import ClassifierModel
from pipeline.classifier.preparation import TextPreparation
from pipeline.classifier.training import TrainingOptions, train_classifier

SAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "samples"
POSITIVE = str(SAMPLES / "classifier-positive.jsonl.gz")
NEGATIVE = str(SAMPLES / "classifier-negative.jsonl.gz")
SMALL = TrainingOptions(buckets=1 << 14)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("models") / "docs-vs-changelogs"
    return train_classifier({"positive": [POSITIVE], "negative": [NEGATIVE]}, folder, SMALL)


def test_held_out_documents_of_two_real_sources_are_separated_and_their_scores_spread(trained):
    metrics = trained.metrics
    assert metrics.roc_auc >= 0.99 and metrics.f1 >= 0.95  # measured: 1.0000 and 0.994
    assert trained.counts["positive"]["held_out"] == trained.counts["negative"]["held_out"] == 82  # balanced
    # >= 90% of the positives score 0.9 or more, >= 90% of the negatives under 0.1 (measured: 80 and 79 of 82)
    assert metrics.positive_histogram[9] >= 0.9 * metrics.positives
    assert metrics.negative_histogram[0] >= 0.9 * (metrics.documents - metrics.positives)


def test_the_epochs_are_chosen_on_a_validation_share_that_is_not_trained_on(trained):
    search = trained.epoch_search
    assert trained.epochs == search.chosen == min(search.validation_log_loss, key=search.validation_log_loss.get)
    assert trained.counts["positive"] == {"read": 821, "trained": 665, "validation": 74, "held_out": 82}


def test_the_model_folder_holds_the_model_its_preparation_and_a_card(trained):
    assert sorted(p.name for p in trained.folder.iterdir()) == ["card.json", "model.bin", "preparation.json"]
    card = json.loads((trained.folder / "card.json").read_text())
    assert card["labels"] == ["negative", "positive"]
    assert card["held_out_metrics"] == json.loads(json.dumps(trained.metrics.as_dict()))
    assert card["epochs"] == trained.epochs and card["epoch_search"]["chosen"] == trained.epochs
    assert card["sources"] == {"positive": [POSITIVE], "negative": [NEGATIVE]}
    assert ClassifierModel.load(trained.folder).labels == ("positive", "negative") or set(
        ClassifierModel.load(trained.folder).labels
    ) == {"positive", "negative"}


def test_one_thread_and_a_seed_train_the_same_model_file(trained, tmp_path: Path):
    again = train_classifier({"positive": [POSITIVE], "negative": [NEGATIVE]}, tmp_path / "again", SMALL)
    assert (again.folder / "model.bin").read_bytes() == (trained.folder / "model.bin").read_bytes()
    assert again.metrics == trained.metrics


def test_given_epochs_are_trained_on_every_training_document_and_the_preparation_is_applied(tmp_path: Path):
    preparation = TextPreparation(lowercase=True, max_chars=500)
    lowercase = TrainingOptions(epochs=3, buckets=1 << 12, preparation=preparation)
    result = train_classifier({"positive": [POSITIVE], "negative": [NEGATIVE]}, tmp_path / "lower", lowercase)
    assert (result.epochs, result.epoch_search) == (3, None)
    assert result.counts["positive"] == {"read": 821, "trained": 739, "validation": 0, "held_out": 82}
    assert json.loads((result.folder / "card.json").read_text())["epoch_search"] is None
    model = ClassifierModel.load(result.folder)
    assert model.preparation == TextPreparation(lowercase=True, max_chars=500)
    text = "Return the number of items in a CONTAINER.\n\nRaises TypeError. " + "See the docs. " * 40
    assert len(text) > 500
    after_the_limit = text.lower() + " urgency=medium; new upstream release" * 20
    assert model.scores([text]) == model.scores([text.lower()]) == model.scores([after_the_limit])


def test_labels_from_a_field_of_the_input_and_the_printed_calibration(tmp_path: Path, capsys):
    rows = [{"text": f"tutorial on sorting lists number {i}", "kind": "good"} for i in range(40)]
    rows += [{"text": f"cheap pills casino bonus click {i}", "kind": "spam"} for i in range(40)]
    rows += [{"text": f"breaking news from the city council {i}", "kind": "news"} for i in range(40)]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    arguments = ["--input", str(data), "--label-field", "kind", "--positive-label", "good", "--buckets", "4096"]
    assert main(["classifier", "train", *arguments, "--output", str(tmp_path / "model")]) == 0
    card = json.loads((tmp_path / "model" / "card.json").read_text())
    assert card["labels"] == ["good", "news", "spam"]
    metrics = card["held_out_metrics"]
    assert metrics["roc_auc"] == 1.0 and metrics["positives"] == 4 and metrics["documents"] == 12
    printed = capsys.readouterr().out
    assert f"epochs: {card['epochs']}, the lowest validation log-loss" in printed
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in printed.splitlines() if "│" in line]
    histogram = {row[0]: row[1:] for row in rows}
    assert histogram["good"] == [str(count) for count in metrics["positive_histogram"]]
    assert histogram["other labels"] == [str(count) for count in metrics["negative_histogram"]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--positive", POSITIVE], "two labels at least (found positive: 821): give --positive and --negative"),
        (["--positive", "/no/such/file", "--negative", NEGATIVE], "--positive /no/such/file: no such file or folder"),
        (["--positive", POSITIVE, "--negative", "/no/such/file"], "--negative /no/such/file: no such file or folder"),
        (["--input", "/no/such/file", "--label-field", "k"], "--input /no/such/file: no such file or folder"),
        (["--positive", POSITIVE, "--negative", "EMPTY"], "--negative EMPTY: no text, JSONL or Parquet files found"),
        (["--input", POSITIVE], "--input needs --label-field"),
        (["--input", POSITIVE, "--label-field", "grade"], "no --label-field 'grade'"),
        (["--positive", POSITIVE, "--negative", NEGATIVE, "--text-field", "body"], "no --text-field 'body'"),
        (["--positive", POSITIVE, "--negative", NEGATIVE, "--positive-label", "good"], "--positive-label 'good'"),
        (["--positive", POSITIVE, "--negative", NEGATIVE, "--held-out", "1.5"], "--held-out must be in [0, 1)"),
        (["--positive", POSITIVE, "--negative", NEGATIVE, "--epochs", "0", "--lr", "0"], "--epochs must be >= 1; --lr"),
        (["--positive", POSITIVE, "--negative", NEGATIVE, "--validation", "0"], "--validation must be in (0, 1)"),
        (["--positive", POSITIVE, "--negative", NEGATIVE, "--max-per-label", "1"], "after --held-out and --validation"),
    ],
)
def test_bad_training_input_is_one_line_naming_the_flag(tmp_path: Path, capsys, arguments: list[str], message: str):
    (tmp_path / "empty").mkdir()
    arguments = [str(tmp_path / "empty") if argument == "EMPTY" else argument for argument in arguments]
    assert main(["classifier", "train", "--output", str(tmp_path / "m"), *arguments]) == 2
    error = capsys.readouterr().err
    assert message.replace("EMPTY", str(tmp_path / "empty")) in error and error.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_a_damaged_or_missing_model_is_a_user_error(trained, tmp_path: Path):
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes((trained.folder / "model.bin").read_bytes()[:5000])
    with pytest.raises(UserError, match="not a readable fastText model"):
        ClassifierModel.load(damaged)
    with pytest.raises(UserError, match="no such file or folder"):
        ClassifierModel.load(tmp_path / "missing.bin")
    with pytest.raises(UserError, match=r"a folder without model\.bin"):
        ClassifierModel.load(tmp_path)


def test_scoring_with_a_label_the_model_lacks_names_the_flag(trained, tmp_path: Path, capsys):
    assert main(["classifier", "score", str(trained.folder), "--input", POSITIVE, "--label", "good"]) == 2
    error = capsys.readouterr().err
    assert "no label 'good'; its labels: " in error and error.endswith("(from --label)\n")
