"""What starts a context, on tiny Hugging Face models whose tokenizer puts its BOS first or adds nothing: each
choice's log-likelihood equals transformers' own computation under lm-evaluation-harness 0.4's rule, written
out here from its documented behaviour (the tokenizer loaded as the harness loads it, with `add_bos_token`
unset, True or False, encoding the context and the whole text; an empty context is the BOS id); the figures
say which rule was used; a bad task or text file is reported before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from eval_factory import harness_loglikelihood, tiny_hf_model
from text_factory import article

from gristmill.cli import main
from train.eval.command import EvalOptions, evaluate, run_eval
from train.eval.models import load_model

transformers = pytest.importorskip("transformers")

ROWS = [
    {"id": "c1", "context": "The old miller", "choices": ["repaired the mill", "sold the river"], "gold": 0},
    {"id": "c2", "context": "Question: Where is bread baked?\nAnswer:", "choices": ["in an oven", "at sea"], "gold": 0},
    {"id": "c3", "context": "The baker said ", "choices": ["yes", "no, never"], "gold": 1},  # the space moves
    {"id": "c4", "context": "", "choices": ["the shepherd", "a weaver from the hills"], "gold": 1},
]
WINOGRANDE = {"qID": "w1", "sentence": "The trophy does not fit in the suitcase because _ is too big.",
              "option1": "the trophy", "option2": "the suitcase", "answer": "1"}  # fmt: skip


def quiet():
    import io

    from rich.console import Console

    return Console(file=io.StringIO())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hf")
    texts = ["\n\n".join(article(i, paragraphs=3)) for i in range(40)]
    return {name: tiny_hf_model(folder / name, texts, adds_bos=name == "adds-bos") for name in ("adds-bos", "plain")}


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("tasks")
    (folder / "choices.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    (folder / "dev.jsonl").write_text(json.dumps(WINOGRANDE) + "\n")
    return [str(folder / "choices.jsonl"), str(folder / "dev.jsonl")]


def expected(folder: Path, pairs: list[tuple[str, str]], add_bos_token: bool | None) -> list[float]:
    model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    kwargs = {} if add_bos_token is None else {"add_bos_token": add_bos_token}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), **kwargs)
    return [harness_loglikelihood(model, tokenizer, c, k) for c, k in pairs]


def scored(folder: Path, tasks: list[str], prefix: str) -> tuple[list[tuple[str, str]], list[float]]:
    """Every choice's (context, continuation) strings, from --per-example, and its log-likelihood."""
    found = evaluate(load_model(str(folder), device="cpu", prefix=prefix), EvalOptions([], tasks), quiet())
    records = [record for name in found["examples"] for record in found["examples"][name]]
    pairs = [pair for r in records for pair in zip(r["contexts"], r["continuations"], strict=True)]
    return pairs, [ll for r in records for ll in r["loglikelihoods"]]


@pytest.mark.parametrize("name", ["adds-bos", "plain"])
@pytest.mark.parametrize(("prefix", "add_bos_token"), [("auto", None), ("always", True), ("never", False)])
def test_each_choice_is_scored_as_the_harness_scores_it(
    models: dict[str, Path], tasks: list[str], name: str, prefix: str, add_bos_token: bool | None
):
    pairs, lls = scored(models[name], tasks, prefix)
    assert pairs[:2] == [("The old miller", " repaired the mill"), ("The old miller", " sold the river")]
    assert pairs[-2:] == [("The trophy does not fit in the suitcase because the trophy", " is too big."),
                          ("The trophy does not fit in the suitcase because the suitcase", " is too big.")]  # fmt: skip
    assert lls == pytest.approx(expected(models[name], pairs, add_bos_token), abs=1e-4)


def test_the_rule_changes_the_figures(models: dict[str, Path], tasks: list[str]):
    """So the test above can tell the rules apart: a BOS more or less moves every log-likelihood."""
    with_bos, without = scored(models["adds-bos"], tasks, "auto")[1], scored(models["adds-bos"], tasks, "never")[1]
    contexts = [pair[0] for pair in scored(models["adds-bos"], tasks, "auto")[0]]
    moved = [abs(a - b) for a, b, c in zip(with_bos, without, contexts, strict=True) if c]
    assert min(moved) > 1e-3
    empty = [(a, b) for a, b, c in zip(with_bos, without, contexts, strict=True) if not c]
    assert len(empty) == 2 and all(a == pytest.approx(b, abs=1e-9) for a, b in empty)  # the BOS alone, always


@pytest.mark.parametrize(
    ("name", "prefix", "rule", "token"),
    [
        ("adds-bos", "auto", "tokenizer", "<s>"),
        ("plain", "auto", "tokenizer", None),
        ("plain", "always", "always", "<s>"),
        ("adds-bos", "never", "never", None),
    ],
)
def test_the_figures_say_what_started_each_context(
    models: dict[str, Path], tasks: list[str], tmp_path: Path, name: str, prefix: str, rule: str, token: str | None
):
    console = quiet()
    summary = run_eval(
        str(models[name]), EvalOptions([], tasks[:1]), None, "cpu", "auto", None, None, None, console, prefix
    )
    assert summary["context_prefix"] == {"rule": rule, "token": token}
    assert f"contexts start with {token or 'their own first token'}" in console.file.getvalue()


def test_the_command_takes_the_rule_and_writes_it(models: dict[str, Path], tasks: list[str], tmp_path: Path):
    out = tmp_path / "eval.json"
    command = ["eval", str(models["adds-bos"]), "--task", tasks[0], "--prefix-token", "never", "--json", str(out)]
    assert main([*command, "--device", "cpu"]) == 0
    assert json.loads(out.read_text())["context_prefix"] == {"rule": "never", "token": None}


def test_a_gristmill_checkpoint_starts_contexts_after_end_of_text(trained: Path, tmp_path: Path):
    summary = run_eval(str(trained / "out"), EvalOptions([], [str(trained / "choices.jsonl")]), None, "cpu",
                       "auto", None, None, None, quiet())  # fmt: skip
    assert summary["context_prefix"] == {"rule": "always", "token": "<|endoftext|>"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "{bad}"], "bad.jsonl:2: gold index 5 is not one of the 2 choices"),
        (["--text", "{missing}"], "no such file or folder"),
        (["--task", "{good}", "--shots", "1", "--fewshot-from", "{bad}"], "bad.jsonl:2: gold index 5"),
    ],
)
def test_bad_files_are_reported_before_the_model_loads(tmp_path: Path, capsys, args: list[str], message: str):
    """The model path does not exist: the file's error, not the model's, shows that the files came first."""
    bad, good = tmp_path / "bad.jsonl", tmp_path / "good.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({**ROWS[1], "gold": 5}) + "\n")
    good.write_text(json.dumps(ROWS[0]) + "\n")
    values = {"bad": str(bad), "good": str(good), "missing": str(tmp_path / "nope.jsonl")}
    command = ["eval", str(tmp_path / "no-model"), *[a.format(**values) for a in args], "--device", "cpu"]
    assert main(command) == 2
    error = capsys.readouterr().err
    assert message in error and "no-model" not in error and error.count("\n") == 1
