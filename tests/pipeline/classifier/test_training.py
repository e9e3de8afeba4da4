"""Training on two real, different sources (bundled: Python standard-library docstrings against Debian
changelog entries) separates held-out documents; one thread and a seed give the same model file twice; the
model folder holds what scoring needs; bad input is one clear error."""

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


def test_held_out_documents_of_two_real_sources_are_separated(trained):
    assert trained.metrics.roc_auc >= 0.95
    assert trained.metrics.f1 >= 0.9
    assert trained.counts["positive"]["held_out"] == trained.counts["negative"]["held_out"] > 50  # balanced


def test_the_model_folder_holds_the_model_its_preparation_and_a_card(trained):
    assert sorted(p.name for p in trained.folder.iterdir()) == ["card.json", "model.bin", "preparation.json"]
    card = json.loads((trained.folder / "card.json").read_text())
    assert card["labels"] == ["negative", "positive"]
    assert card["held_out_metrics"]["roc_auc"] == trained.metrics.roc_auc
    assert card["sources"] == {"positive": [POSITIVE], "negative": [NEGATIVE]}
    assert ClassifierModel.load(trained.folder).labels == ("positive", "negative") or set(
        ClassifierModel.load(trained.folder).labels
    ) == {"positive", "negative"}


def test_one_thread_and_a_seed_train_the_same_model_file(trained, tmp_path: Path):
    again = train_classifier({"positive": [POSITIVE], "negative": [NEGATIVE]}, tmp_path / "again", SMALL)
    assert (again.folder / "model.bin").read_bytes() == (trained.folder / "model.bin").read_bytes()
    assert again.metrics == trained.metrics


def test_the_preparation_is_saved_and_applied_when_scoring(tmp_path: Path):
    lowercase = TrainingOptions(buckets=1 << 12, preparation=TextPreparation(lowercase=True, max_chars=500))
    result = train_classifier({"positive": [POSITIVE], "negative": [NEGATIVE]}, tmp_path / "lower", lowercase)
    model = ClassifierModel.load(result.folder)
    assert model.preparation == TextPreparation(lowercase=True, max_chars=500)
    text = "Return the number of items in a CONTAINER.\n\nRaises TypeError. " + "See the docs. " * 40
    assert len(text) > 500
    after_the_limit = text.lower() + " urgency=medium; new upstream release" * 20
    assert model.scores([text]) == model.scores([text.lower()]) == model.scores([after_the_limit])


def test_labels_from_a_field_of_the_input(tmp_path: Path):
    rows = [{"text": f"tutorial on sorting lists number {i}", "kind": "good"} for i in range(40)]
    rows += [{"text": f"cheap pills casino bonus click {i}", "kind": "spam"} for i in range(40)]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = train_classifier({}, tmp_path / "model", SMALL, input_paths=[str(data)], label_field="kind",
                              positive_label="good")  # fmt: skip
    assert set(result.counts) == {"good", "spam"}
    assert result.metrics.roc_auc == 1.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--positive", POSITIVE], "needs documents of two labels"),
        (["--positive", POSITIVE, "--negative", "/no/such/file"], "no such file or folder"),
        (["--input", POSITIVE], "--input needs --label-field"),
        (["--input", POSITIVE, "--label-field", "grade"], "no field 'grade'"),
        (["--positive", POSITIVE, "--negative", NEGATIVE, "--held-out", "1.5"], "held-out share must be in [0, 1)"),
    ],
)
def test_bad_training_input_is_one_line_and_exit_2(tmp_path: Path, capsys, arguments: list[str], message: str):
    assert main(["classifier", "train", "--output", str(tmp_path / "m"), *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
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
