"""`gristmill ablate` end to end on two runs of the bundled crawl: every run trains on the same number of
tokens with a shared tokenizer and is scored on the same sets, the table is the same when repeated and after
a kill -9 at any step and a rerun, the held-out documents are never trained on, and bad inputs are one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from ablate_factory import ablate_args
from interrupted_run import await_marker, figures, run, start, stop, typed_command
from rich.console import Console

from gristmill.cli import main
from train.eval.command import EvalOptions, evaluate
from train.eval.models import load_model

ROOT = Path(__file__).resolve().parents[3]


def results(output: Path) -> dict:
    return json.loads((output / "results.json").read_text())


def assert_trained_alike(output: Path, reference: Path) -> None:
    """Every run's final weights are the reference's, byte for byte, and its metrics.jsonl holds each step once
    with the reference's figures (wall-clock ones aside)."""

    for name in results(reference)["runs"]:
        ours, theirs = output / "train" / name, reference / "train" / name
        assert (ours / "step-000063/model.safetensors").read_bytes() == (
            theirs / "step-000063/model.safetensors"
        ).read_bytes()
        assert figures(ours) == figures(theirs)


def test_every_run_trains_on_the_budget_and_is_scored_on_the_same_sets(reference: Path):
    found = results(reference)
    assert (
        found["runs"] == ["quickstart", "gopher"] and found["training_tokens"] == 32256 and found["steps"] == 63
    )  # 32,000 rounded up to whole steps
    assert not found["selections"]["quickstart"]["repeated"] and found["selections"]["gopher"]["repeated"]
    for name in found["runs"]:
        manifest = json.loads((reference / "data" / name / "packed" / "manifest.json").read_text())
        assert manifest["train"]["tokens"] == found["selections"][name]["tokens"]
        assert manifest["tokenizer"] == str(reference / "tokenizer")
        assert (reference / "train" / name / "latest").read_text().strip() == "step-000063"
    rows = {(row["set"], row["metric"]): row for row in found["rows"]}
    assert set(rows) == {("held-out", "bits_per_byte"), ("task", "acc"), ("task", "acc_norm")}
    assert 'data-chart="loss"' in (reference / "report.html").read_text()
    model = load_model(str(reference / "train" / "gopher"), device="cpu")  # the table is `gristmill eval`'s
    direct = evaluate(model, EvalOptions([f"held-out={reference / 'held-out.parquet'}"], []), Console(quiet=True))
    assert rows[("held-out", "bits_per_byte")]["values"]["gopher"] == pytest.approx(direct["texts"][0]["bits_per_byte"])


def test_the_files_are_those_docs_formats_describes(reference: Path):
    formats = (ROOT / "docs" / "formats.md").read_text().split("## Ablation folder", 1)[1]
    documented = re.findall(r"^\| `(\w+)(?:\[\])?` \|", formats, re.MULTILINE)
    assert sorted(documented) == sorted(results(reference))
    for name in ("ablation.json", "held-out.parquet", "results.json", "report.html", "tokenizer", "data", "train"):
        assert (reference / name).exists() and name in formats
    selection = json.loads((reference / "data" / "gopher" / "selection.json").read_text())
    assert set(selection) == {"documents", "tokens", "needed", "repeated", "epochs"}
    stored = json.loads((reference / "eval" / "gopher.json").read_text())
    assert set(stored) == {"texts", "tasks", "units", "items"}


def test_held_out_documents_are_never_trained_on(ablation_inputs: Path, reference: Path):
    held = set(pl.read_parquet(reference / "held-out.parquet")["id"])
    assert len(held) <= 10  # 5 per run; a document both runs hold out counts once
    for name in ("quickstart", "gopher"):
        documents = set(pl.read_parquet(ablation_inputs / "runs" / name / "shards" / "*.parquet")["id"])
        assert len(held & documents) >= 5
        assert not held & set(pl.read_parquet(reference / "data" / name / "train.parquet")["id"])


def test_a_repeated_ablation_gives_the_same_table_and_restart_moves_the_earlier_aside(ablation_inputs: Path,
                                                                                     reference: Path):  # fmt: skip
    again = ablation_inputs / "again"
    again.mkdir()  # an earlier ablation of other inputs, which --restart moves aside whole
    recorded = json.loads((reference / "ablation.json").read_text()) | {"tokens": 1}
    (again / "ablation.json").write_text(json.dumps(recorded))
    assert main(ablate_args(ablation_inputs, again, "--restart")) == 0
    (moved,) = ablation_inputs.glob("again.replaced-*")
    assert sorted(p.name for p in moved.iterdir()) == [".lock", "ablation.json"]  # .lock: gristmill_base.folder_lock
    assert json.loads((moved / "ablation.json").read_text()) == recorded
    assert results(again)["rows"] == results(reference)["rows"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "marker",
    ["tokenizer/tokenizer.json", "data/gopher/selection.json", "train/quickstart/latest", "eval/quickstart.json"],
)
def test_a_kill_9_at_any_step_then_a_rerun_gives_the_same_table(ablation_inputs: Path, reference: Path,
                                                               marker: str):  # fmt: skip
    output = ablation_inputs / f"killed-{marker.replace('/', '-')}"
    command = [sys.executable, "-m", "gristmill", *ablate_args(ablation_inputs, output)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (output / marker).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the ablation ended before the kill point"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (output / "results.json").exists()
    assert main(ablate_args(ablation_inputs, output)) == 0
    assert results(output)["rows"] == results(reference)["rows"]
    assert_trained_alike(output, reference)


@pytest.mark.slow
def test_a_ctrl_c_while_training_then_the_printed_command_gives_the_same_table(ablation_inputs: Path,
                                                                             reference: Path, capsys):  # fmt: skip
    output = ablation_inputs / "interrupted"
    marker = ablation_inputs / "interrupted-held"
    args = ablate_args(ablation_inputs, output)
    first = start(args, "metrics", 20, marker, ROOT)  # held in the first run's training, at step 20
    await_marker(first, marker)
    assert main(args) == 2  # the same command from another terminal meanwhile
    error = capsys.readouterr().err
    assert f"{output} is in use by another gristmill ablate (pid {first.pid}: " in error and error.count("\n") == 1
    _, err = stop(first, marker, signal.SIGINT)
    checkpoint = output / "train" / "quickstart" / "step-000018"
    assert f"interrupted after step 20 of 63; the last complete checkpoint is {checkpoint}" in err
    command = typed_command(err)
    assert command[1:] == ["-m", "gristmill", *args]
    again = run(command, ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" in again.stdout and "step-000018 of 63 steps" in " ".join(again.stdout.split())
    assert results(output)["rows"] == results(reference)["rows"]
    assert_trained_alike(output, reference)


def test_bad_inputs_are_one_line_and_exit_2(ablation_inputs: Path, tmp_path: Path, capsys):
    empty = tmp_path / "empty-run"
    empty.mkdir()
    quickstart, gopher = str(ablation_inputs / "runs" / "quickstart"), str(ablation_inputs / "runs" / "gopher")
    cases = [
        (["ablate", quickstart, str(empty), "--output", str(tmp_path / "a"), "--tokens", "8k"], "no shards"),
        (["ablate", quickstart, "--output", str(tmp_path / "b"), "--tokens", "8k"], "at least two run folders"),
        (["ablate", quickstart, gopher, "--output", str(tmp_path / "c"), "--tokens", "lots"], "--tokens 'lots'"),
        (ablate_args(ablation_inputs, tmp_path / "d", repeat=False), "--allow-repeat"),
        (ablate_args(ablation_inputs, ablation_inputs / "again", "--seed", "3"), "holds an ablation of other inputs"),
    ]
    for args, message in cases:
        assert main(args) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, (args, error)


def test_a_restart_that_cannot_move_the_folder_or_would_move_an_input_is_one_line(ablation_inputs: Path,
                                                                                 tmp_path: Path, capsys):  # fmt: skip
    long = tmp_path / ("x" * 240)  # its .replaced-<time> name is longer than a file name may be
    inside = tmp_path / "holder"
    for output in (long, inside):
        output.mkdir()
        (output / "ablation.json").write_text("{}")
    cases = [
        (ablate_args(ablation_inputs, long, "--restart"), f"--restart: {long} cannot be moved aside: "),
        (ablate_args(ablation_inputs, inside, "--restart", "--tokenizer", str(inside / "tokenizer")),
         f"--restart would move {inside} aside, and --tokenizer {inside / 'tokenizer'} lies inside it"),
    ]  # fmt: skip
    for args, message in cases:
        assert main(args) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, (args, error)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([long.name, inside.name])  # nothing moved
