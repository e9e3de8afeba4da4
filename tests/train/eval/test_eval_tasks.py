"""Task files in the forms they are distributed in (HellaSwag, ARC in AI2's JSONL and the hub's Parquet,
PIQA with its labels file, Winogrande, LAMBADA) and gristmill's own form become the prompts
lm-evaluation-harness builds; few-shot examples come from another file, seeded, never the item itself; every
bad file is one line and exit status 2."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.cli import main
from gristmill_base.errors import UserError
from train.eval.command import EvalOptions, read_inputs
from train.eval.tasks import read_task


def jsonl(path: Path, *rows: dict) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


HELLASWAG = {
    "ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
    "endings": ["is using wrap to wrap a pair of skis.", "starts pulling up roofing [title] Done [step] now",
                "is ripping level tiles off.", "is holding a rubik's cube."],
    "label": 3, "split": "val",
}  # fmt: skip
ARC_AI2 = {
    "id": "Mercury_7175875",
    "question": {"stem": "An astronomer observes that a planet rotates faster after a meteorite impact. Which is "
                 "the most likely effect?", "choices": [{"text": "Planetary density will decrease.", "label": "A"},
                 {"text": "Planetary days will become shorter.", "label": "B"}]},
    "answerKey": "B",
}  # fmt: skip


def test_hellaswag_is_read_with_its_context_and_cleaned_endings(tmp_path: Path):
    task = read_task(jsonl(tmp_path / "hellaswag_val.jsonl", HELLASWAG))
    (item,) = task.items
    assert task.format == "hellaswag" and task.name == "hellaswag_val"
    assert item.contexts[0] == "Roof shingle removal: A man is sitting on a roof. He"
    assert item.continuations[1] == " starts pulling up roofing. Done now"
    assert item.gold == 3 and item.id == "24"


def test_arc_reads_the_same_from_ai2_jsonl_and_hub_parquet(tmp_path: Path):
    question = ARC_AI2["question"]
    hub = {"id": ARC_AI2["id"], "question": question["stem"], "answerKey": "B",
           "choices": {"text": [c["text"] for c in question["choices"]], "label": ["A", "B"]}}  # fmt: skip
    pq.write_table(pa.Table.from_pylist([hub]), tmp_path / "arc.parquet")
    ai2, parquet = read_task(jsonl(tmp_path / "arc.jsonl", ARC_AI2)), read_task(str(tmp_path / "arc.parquet"))
    assert ai2.items == parquet.items and ai2.format == parquet.format == "arc"
    (item,) = ai2.items
    assert item.contexts[0].startswith("Question: An astronomer") and item.contexts[0].endswith("\nAnswer:")
    assert item.continuations == [" Planetary density will decrease.", " Planetary days will become shorter."]
    assert item.gold == 1


def test_piqa_takes_its_labels_from_the_file_beside_it(tmp_path: Path):
    first = {"goal": "Dry wet shoes", "sol1": "Stuff them with paper.", "sol2": "Freeze them."}
    path = jsonl(tmp_path / "valid.jsonl", first, {"goal": "Open a jar", "sol1": "Tap the lid.", "sol2": "Paint it."})
    (tmp_path / "valid-labels.lst").write_text("0\n0\n")
    task = read_task(path)
    assert task.format == "piqa" and [i.gold for i in task.items] == [0, 0]
    assert task.items[0].contexts[0] == "Question: Dry wet shoes\nAnswer:"


def test_winogrande_options_fill_the_blank_and_share_the_rest(tmp_path: Path):
    row = {"qID": "w1", "sentence": "The trophy does not fit in the suitcase because _ is too big.",
           "option1": "the trophy", "option2": "the suitcase", "answer": "1"}  # fmt: skip
    (item,) = read_task(jsonl(tmp_path / "dev.jsonl", row)).items
    assert item.contexts == ["The trophy does not fit in the suitcase because the trophy",
                             "The trophy does not fit in the suitcase because the suitcase"]  # fmt: skip
    assert item.continuations == [" is too big."] * 2 and item.gold == 0


def test_lambada_predicts_the_last_word(tmp_path: Path):
    (item,) = read_task(jsonl(tmp_path / "lambada_test.jsonl", {"text": "she handed him the old key"})).items
    assert item.cloze and item.contexts == ["she handed him the old"] and item.continuations == [" key"]


def test_few_shot_examples_are_seeded_and_never_the_item_itself(tmp_path: Path):
    rows = [{"id": f"q{i}", "context": f"Q{i}?", "choices": ["yes", "no"], "gold": i % 2} for i in range(6)]
    path = jsonl(tmp_path / "mc.jsonl", *rows)
    first = read_task(path, shots=2, fewshot_from=path)
    assert [i.contexts for i in first.items] == [i.contexts for i in read_task(path, shots=2, fewshot_from=path).items]
    for index, item in enumerate(first.items):
        shots = item.contexts[0].split("\n\n")
        assert len(shots) == 3 and shots[-1] == f"Q{index}?" and f"Q{index}? " not in "\n\n".join(shots[:2])
        assert all(shot.endswith((" yes", " no")) for shot in shots[:2])
    with pytest.raises(UserError, match="a hellaswag file, but"):
        read_task(path, shots=1, fewshot_from=jsonl(tmp_path / "h.jsonl", HELLASWAG, HELLASWAG))
    inline = {
        "context": "Q?",
        "choices": ["a", "b"],
        "gold": 0,
        "fewshot": [{"context": "P?", "choices": ["c", "d"], "gold": 1}],
    }
    (item,) = read_task(jsonl(tmp_path / "inline.jsonl", inline)).items
    assert item.contexts == ["P? d\n\nQ?"] * 2


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"context": "Q?", "choices": ["a", "b"]}], "no field 'gold'"),
        ([{"context": "Q?", "choices": ["a", "b"], "gold": 2}], "gold index 2 is not one of the 2 choices"),
        ([{**HELLASWAG, "label": "7"}], "gold index '7' is not one of the 4 choices"),
        ([{**ARC_AI2, "answerKey": "E"}], "answerKey 'E' is not one of the labels"),
        ([{"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"}], "no blank"),
        ([{"prompt": "x"}], "not a task file this reads"),
    ],
)
def test_a_bad_task_file_is_one_line_and_exit_2(trained: Path, tmp_path: Path, capsys, rows: list[dict], message: str):
    path = jsonl(tmp_path / "bad.jsonl", *rows)
    with pytest.raises(UserError, match=r"bad\.jsonl"):
        read_task(path)
    assert main(["eval", str(trained / "out"), "--task", path, "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "{missing}"], "--text: " + "{missing}: no such file or folder"),
        (["--task", "{missing}"], "no such file"),
        ([], "nothing to evaluate"),
        (["--task", "{good}", "--shots", "2"], "--fewshot-from"),
    ],
)
def test_bad_requests_are_one_line(trained: Path, tmp_path: Path, capsys, args: list[str], message: str):
    good = jsonl(tmp_path / "good.jsonl", {"context": "Q?", "choices": ["a", "b"], "gold": 0})
    values = {"missing": str(tmp_path / "nope.jsonl"), "good": good}
    assert main(["eval", str(trained / "out"), *[a.format(**values) for a in args], "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert message.format(**values) in error and error.count("\n") == 1


def arc(number: int) -> dict:
    return {"id": f"a{number}", "question": f"Question {number}?", "answerKey": "B",
            "choices": {"text": [f"no {number}", f"yes {number}"], "label": ["A", "B"]}}  # fmt: skip


def hellaswag(number: int) -> dict:
    return {**HELLASWAG, "ind": number, "ctx_a": f"Scene {number}.", "label": number % 4}


@pytest.mark.parametrize(("make", "drawn_around_the_item"), [(arc, False), (hellaswag, True)])
def test_few_shot_examples_are_drawn_as_the_harness_samples_them(tmp_path: Path, make, drawn_around_the_item: bool):
    """lm-evaluation-harness's default sampler: one random.Random(1234) for the task, items in order, each taking
    sample(pool, 2), or sample(pool, 3) less the item itself where its task evaluates the few-shot split
    (HellaSwag's names no test split, so it always counts as that case)."""
    pool = [make(n) for n in range(10)]
    task = read_task(jsonl(tmp_path / "test.jsonl", *[make(n) for n in range(7, 12)]), shots=2,
                     fewshot_from=jsonl(tmp_path / "train.jsonl", *pool))  # fmt: skip
    shown = read_task(jsonl(tmp_path / "pool.jsonl", *pool)).items
    draw = random.Random(1234)
    for item, row in zip(task.items, [make(n) for n in range(7, 12)], strict=True):
        chosen = [x for x in draw.sample(pool, 3) if x != row][:2] if drawn_around_the_item else draw.sample(pool, 2)
        examples = [shown[pool.index(x)].shown[0] for x in chosen]
        alone = read_task(jsonl(tmp_path / "one.jsonl", row)).items[0].contexts[0]
        assert item.contexts[0] == "\n\n".join([*examples, alone])


def test_solved_examples_show_what_the_harness_shows(tmp_path: Path):
    winogrande = {"qID": "w", "sentence": "He thanked _, who smiled.", "option1": "Ann", "option2": "Bo", "answer": "2"}
    (item,) = read_task(jsonl(tmp_path / "dev.jsonl", winogrande)).items
    assert item.shown == ["He thanked Bo , who smiled."]  # the option, a space, the rest
    (cloze,) = read_task(jsonl(tmp_path / "lambada.jsonl", {"text": "she handed him the key"})).items
    assert cloze.shown == ["she handed him the  key"]  # the target delimiter and the target's own space


def test_each_task_draws_from_its_own_fewshot_file(tmp_path: Path):
    rows = [{"context": f"Q{i}?", "choices": ["yes", "no"], "gold": 0} for i in range(3)]
    pool_a = jsonl(tmp_path / "pool_a.jsonl", *[{**row, "context": f"A{i}?"} for i, row in enumerate(rows)])
    pool_b = jsonl(tmp_path / "pool_b.jsonl", *[{**row, "context": f"B{i}?"} for i, row in enumerate(rows)])
    tasks = [f"first={jsonl(tmp_path / 'a.jsonl', *rows)}", jsonl(tmp_path / "second.jsonl", *rows)]
    inputs = read_inputs(EvalOptions([], tasks, shots=1, fewshot_from=[f"second={pool_b}", pool_a]))
    assert [t.name for t in inputs.tasks] == ["first", "second"]
    assert all(i.contexts[0].startswith("A") for i in inputs.tasks[0].items)
    assert all(i.contexts[0].startswith("B") for i in inputs.tasks[1].items)
    with pytest.raises(UserError, match="no task is named third"):
        read_inputs(EvalOptions([], tasks, shots=1, fewshot_from=[f"third={pool_b}"]))
    with pytest.raises(UserError, match="first=FILE"):
        read_inputs(EvalOptions([], tasks, shots=1, fewshot_from=[f"second={pool_b}"]))
