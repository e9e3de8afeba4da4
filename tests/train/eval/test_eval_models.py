"""`gristmill eval` on a real trained checkpoint and on its Hugging Face export: log-likelihoods equal a direct
forward pass of the model (gristmill's GPT, and transformers for the export, within 1e-4), bits per byte on
the checkpoint's own val split equals the trainer's figure, and both backends give the same bits per byte."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
from eval_factory import TASK_ROWS as ROWS
from eval_factory import harness_loglikelihood

from gristmill.cli import main
from gristmill_base.errors import UserError
from pipeline.pack_command import pack
from tokenizer import train_bpe
from train.checkpoint import read_model
from train.eval.command import EvalOptions, evaluate
from train.eval.likelihood import continuation_request
from train.eval.models import load_model
from train.eval.tasks import read_task

transformers = pytest.importorskip("transformers")


def quiet():
    import io

    from rich.console import Console

    return Console(file=io.StringIO())


@pytest.fixture(scope="module")
def task_file(trained: Path) -> Path:
    return trained / "choices.jsonl"


@pytest.fixture(scope="module")
def exported(trained: Path) -> Path:
    assert main(["export", "--checkpoint", str(trained / "out"), "--output", str(trained / "hf")]) == 0
    return trained / "hf"


def direct_loglikelihood(logits_of, tokens: tuple[int, ...], scored: int) -> float:
    """Sum of log-softmax at the scored targets of one unbatched, unpadded sequence."""
    ids = torch.tensor([tokens[:-1]])
    with torch.no_grad():
        logprobs = torch.log_softmax(logits_of(ids)[0].double(), dim=-1)
    targets = tokens[len(tokens) - scored :]
    positions = range(len(tokens) - 1 - scored, len(tokens) - 1)
    return float(sum(logprobs[p, t] for p, t in zip(positions, targets, strict=True)))


def test_gristmill_loglikelihoods_equal_a_direct_forward_pass(trained: Path, task_file: Path):
    model = load_model(str(trained / "out"), device="cpu")
    found = evaluate(model, EvalOptions([], [str(task_file)], batch_size=4), quiet())
    gpt, _, _ = read_model(trained / "out")
    task = read_task(str(task_file))
    for item, record in zip(task.items, found["examples"]["choices"], strict=True):
        for i, (context, continuation) in enumerate(zip(item.contexts, item.continuations, strict=True)):
            request = continuation_request(model, context, continuation)
            assert record["loglikelihoods"][i] == pytest.approx(
                direct_loglikelihood(gpt, request.tokens, request.scored), abs=1e-4
            )


def test_an_exported_model_scores_as_transformers_computes_directly(trained: Path, exported: Path, task_file: Path):
    """The export's tokenizer puts end-of-text first (as the model saw documents start), so by default (the
    harness's rule: the tokenizer's own special tokens) its figures are the checkpoint's; with `never`, contexts
    start with their own first token and the figures move."""
    direct = transformers.AutoModelForCausalLM.from_pretrained(str(exported), dtype=torch.float32).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(exported))
    found = evaluate(load_model(str(exported), device="cpu"), EvalOptions([], [str(task_file)], batch_size=4), quiet())
    for row, record in zip(ROWS, found["examples"]["choices"], strict=True):
        expected = [harness_loglikelihood(direct, tokenizer, row["context"], f" {c}") for c in row["choices"]]
        assert record["loglikelihoods"] == pytest.approx(expected, abs=1e-4)
    gristmill = evaluate(load_model(str(trained / "out"), device="cpu"), EvalOptions([], [str(task_file)]), quiet())
    for ours, exported_record in zip(gristmill["examples"]["choices"], found["examples"]["choices"], strict=True):
        assert ours["loglikelihoods"] == pytest.approx(exported_record["loglikelihoods"], abs=1e-4)
    never = load_model(str(exported), device="cpu", prefix="never")
    theirs = evaluate(never, EvalOptions([], [str(task_file)], batch_size=4), quiet())["examples"]["choices"]
    moved = [abs(a - b) for r, x, y in zip(ROWS, theirs, found["examples"]["choices"], strict=True) if r["context"]
             for a, b in zip(x["loglikelihoods"], y["loglikelihoods"], strict=True)]  # fmt: skip
    assert min(moved) > 1e-3  # the rules differ where there is a context


def test_bits_per_byte_on_the_val_split_equals_the_trainers_figure(trained: Path):
    model = load_model(str(trained / "out"), device="cpu")
    found = evaluate(model, EvalOptions([str(trained / "packed")], [], batch_size=3), quiet())
    trainer = json.loads((trained / "records.json").read_text())[-1]
    (figures,) = found["texts"]
    assert figures["bits_per_byte"] == pytest.approx(trainer["val_bpb"], rel=1e-5)
    assert figures["nats_per_token"] == pytest.approx(trainer["val_loss"], rel=1e-5)


def test_the_val_split_is_scored_after_add_special_and_refused_under_another_tokenizer(trained: Path, tmp_path: Path):
    """`tokenizer add-special` keeps every id, so the packed split still fits the extended tokenizer (the
    README's fine-tune block runs before docs/eval.md's); a tokenizer trained anew does not."""
    extended = Path(shutil.copytree(trained / "tok", tmp_path / "extended"))
    assert main(["tokenizer", "add-special", str(extended), "--chat"]) == 0
    before = evaluate(load_model(str(trained / "out")), EvalOptions([str(trained / "packed")], []), quiet())
    after = evaluate(load_model(str(trained / "out"), str(extended)), EvalOptions([str(trained / "packed")], []),
                     quiet())  # fmt: skip
    assert after["texts"][0]["bits_per_byte"] == before["texts"][0]["bits_per_byte"]
    other = tmp_path / "other"
    train_bpe([trained / "articles.parquet"], 300, ["<|endoftext|>"], workers=1).save(str(other / "tok"))
    pack(str(other / "tok"), [str(trained / "articles.parquet")], str(other / "packed"), 0.2, 1, console=quiet())
    with pytest.raises(UserError, match="packed with another tokenizer than the model's"):
        evaluate(load_model(str(trained / "out")), EvalOptions([str(other / "packed")], []), quiet())


def test_bits_per_byte_of_text_is_the_same_through_both_backends(trained: Path, exported: Path):
    texts = EvalOptions([f"articles={trained / 'articles.parquet'}"], [], limit=10, batch_size=4)
    ours = evaluate(load_model(str(trained / "out"), device="cpu"), texts, quiet())["texts"][0]
    theirs = evaluate(load_model(str(exported), device="cpu"), texts, quiet())["texts"][0]
    assert ours["set"] == "articles" and ours["documents"] == 10
    assert ours["tokens"] == theirs["tokens"] and ours["bytes"] == theirs["bytes"]
    assert ours["bits_per_byte"] == pytest.approx(theirs["bits_per_byte"], rel=1e-5)
    assert 0 < ours["bits_per_byte"] < math.log2(400) * ours["tokens"] / ours["bytes"] + 1e-9


def test_the_command_prints_tables_and_writes_json_and_per_example_lines(
    trained: Path, task_file: Path, tmp_path: Path, capsys
):
    out, examples = tmp_path / "eval.json", tmp_path / "examples.jsonl"
    args = ["eval", str(trained / "out"), "--text", str(trained / "packed"), "--task", str(task_file)]
    assert main([*args, "--json", str(out), "--per-example", str(examples), "--device", "cpu"]) == 0
    screen = capsys.readouterr().out
    assert "bits per byte" in screen and "choices" in screen and "acc_norm" in screen
    figures = json.loads(out.read_text())
    formats = (Path(__file__).parents[3] / "docs" / "formats.md").read_text().split("### `--json`", 1)[1]
    documented = re.findall(r"^\| `(\w+)(?:\[\])?` \|", formats.split("### `--per-example`", 1)[0], re.MULTILINE)
    assert sorted(documented) == sorted(figures)
    for key in ("set", "documents", "tokens", "bytes", "bits_per_byte", "nats_per_token"):
        assert key in figures["texts"][0] and f"`{key}`" in formats
    for key in figures["tasks"][0]:
        assert f"`{key}`" in formats
    assert figures["tasks"][0]["items"] == 3 and figures["texts"][0]["set"] == "packed"
    lines = [json.loads(line) for line in examples.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["m1", "m2", "m3"] and all(
        len(line["loglikelihoods"]) >= 2 for line in lines
    )
    assert lines[0]["contexts"] == ["The old miller"] * 3
    assert lines[0]["continuations"] == [" repaired the mill", " sold the river", " photographed"]


def test_training_scores_the_eval_sets_and_tasks_as_gristmill_eval_does(trained: Path, task_file: Path):
    records = json.loads((trained / "records.json").read_text())
    evaluated = [r for r in records if "eval/packed_bpb" in r]
    assert [r["step"] for r in evaluated] == [6, 12]
    last = evaluated[-1]
    assert last["eval/packed_bpb"] == pytest.approx(last["val_bpb"], rel=1e-5)  # both cover the whole val split
    found = evaluate(load_model(str(trained / "out"), device="cpu"), EvalOptions([], [str(task_file)]), quiet())
    assert last["eval/choices_acc"] == found["tasks"][0]["acc"]
    assert last["eval/choices_acc_norm"] == found["tasks"][0]["acc_norm"]
    logged = [json.loads(line) for line in (trained / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "eval/choices_acc" in r] == [6, 12]
