"""The recipe stage `kind = "hf_classifier"` with tiny randomly initialised BERT models written to a temporary
folder (a one-output regression head, FineWeb-Edu's shape, and a two-label classifier): the stage's scores
are the library's, min_score and keep_top_fraction keep what they say, and a folder without safetensors
weights, a missing folder or a label the model lacks stop the run before any work, in one line."""

from __future__ import annotations

import contextlib
import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from hf_factory import tiny_bert

from gristmill.cli import main
from gristmill_base.errors import UserError
from pipeline.classifier.hf_model import HfModel

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

SAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "samples"


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("docs") / "docs.jsonl"
    with gzip.open(SAMPLES / "classifier-positive.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle][:120]
    path.write_text("".join(json.dumps({"id": row["id"], "text": row["text"]}) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory, documents: Path) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("hf") / "edu", documents.read_text(), None)


@pytest.fixture(scope="module")
def two_labels(tmp_path_factory: pytest.TempPathFactory, documents: Path) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("hf") / "quality", documents.read_text(), ["bad", "good"])


def run(tmp_path: Path, documents: Path, stage: str) -> tuple[int, Path]:
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[[stage]]\nkind = "ingest"\n\n[[stage]]\nkind = "hf_classifier"\nmax_tokens = 64\n{stage}\n')
    output = tmp_path / "run"
    return main(["run", str(recipe), "--input", str(documents), "--output", str(output)]), output


def rows(documents: Path) -> list[dict]:
    return [json.loads(line) for line in documents.open()]


def test_min_score_on_a_regression_head_keeps_what_scores_at_least_it(regression: Path, documents: Path, tmp_path):
    library = HfModel.load(str(regression), "cpu", 64).scores([row["text"] for row in rows(documents)])
    threshold = sorted(score for _, score in library)[len(library) // 2]
    code, output = run(tmp_path, documents, f'model = "{regression}"\nmin_score = {threshold!r}')
    assert code == 0
    kept = pl.read_parquet(output / "shards" / "*.parquet")
    removed = pl.read_parquet(output / "removed" / "hf_classifier" / "*.parquet")
    assert kept.height + removed.height == 120 and kept.height >= 60
    assert (kept["hf_classifier_score"] >= threshold).all() and (removed["hf_classifier_score"] < threshold).all()
    assert (
        set(removed["removed_by"]) == {"hf_classifier_score"}
        and kept["hf_classifier_label"].null_count() == kept.height
    )
    expected = {row["id"]: score for row, (_, score) in zip(rows(documents), library, strict=True)}
    for document_id, score in zip(kept["id"], kept["hf_classifier_score"], strict=True):
        assert abs(score - expected[document_id]) < 1e-4  # the same model; batches pad differently


def test_keep_top_fraction_with_a_label_keeps_the_exact_share(two_labels: Path, documents: Path, tmp_path: Path):
    code, output = run(tmp_path, documents, f'model = "{two_labels}"\nkeep_label = "good"\nkeep_top_fraction = 0.3')
    assert code == 0
    kept = pl.read_parquet(output / "shards" / "*.parquet")
    removed = pl.read_parquet(output / "removed" / "hf_classifier" / "*.parquet")
    assert kept.height == 36 and removed.height == 84  # round(0.3 x 120)
    assert set(removed["removed_by"]) == {"hf_classifier_rank"}
    assert kept["hf_classifier_score"].min() >= removed["hf_classifier_score"].max()


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ('model = "missing"', "not a Hugging Face model folder"),
        ('model = "PICKLED"', "no .safetensors weights (pickled .bin weights are not read)"),
        ('model = "REGRESSION"\nkeep_label = "good"', "a regression model has no labels"),
        ('model = "TWO"\nkeep_label = "great"', "no label 'great'; its labels: bad, good"),
    ],
)
def test_a_bad_model_stops_the_run_before_any_work_in_one_line(
    regression: Path, two_labels: Path, documents: Path, tmp_path: Path, capsys, stage: str, message: str
):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((regression / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not read")
    stage = (
        stage.replace("PICKLED", str(pickled)).replace("REGRESSION", str(regression)).replace("TWO", str(two_labels))
    )
    code, output = run(tmp_path, documents, stage)
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "(hf_classifier)" in error
    assert not output.exists()


def test_a_folder_that_asks_for_remote_code_is_not_run(regression: Path, tmp_path: Path):
    folder = tmp_path / "remote"
    folder.mkdir()
    for path in regression.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "evil.Model"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text("raise SystemExit('remote code ran')\n")
    with contextlib.suppress(UserError):  # refusing is fine; running evil.py is not
        HfModel.load(str(folder), "cpu")
