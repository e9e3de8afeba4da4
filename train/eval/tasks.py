"""Task files: multiple-choice and cloze items, read from the JSONL form documented in docs/formats.md or from
the files in which HellaSwag, ARC, PIQA, Winogrande and LAMBADA are distributed (JSONL, or Parquet as on the
Hugging Face hub). The format is told by the fields of the first record; the prompts are lm-evaluation-harness's,
so figures compare with it. Nothing is downloaded.

An item is a list of (context, continuation) pairs, one per choice, and the gold choice: most tasks share one
context and differ in the continuation; Winogrande's options differ in the context and share the continuation.

Few-shot examples are drawn as lm-evaluation-harness's default sampler draws them, so a few-shot prompt is the
one it builds from the same files: one `random.Random(1234)` per task, the items in file order, each taking
`sample(pool, K)`. Where the harness's task takes its examples from the split it evaluates, it draws K + 1
and drops the item itself; its HellaSwag, PIQA and Winogrande tasks name no test split and so always count as
that case. Here those three draw so too, as does any task whose `--fewshot-from` is the evaluated file itself,
so an item is never shown as its own example.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gristmill_base.errors import UserError
from gristmill_base.jsonl import json_object
from gristmill_base.named import split_named

FEWSHOT_SEPARATOR = "\n\n"
FEWSHOT_SEED = 1234  # lm-evaluation-harness's default fewshot_random_seed
# the harness's tasks for these name no test split: its sampler takes the few-shot split for the evaluated one
DRAWS_AROUND_THE_ITEM = {"hellaswag", "piqa", "winogrande"}


@dataclass
class Item:
    id: str
    contexts: list[str]
    continuations: list[str]
    gold: int
    lengths: list[int]  # characters of each choice, for the length-normalised accuracy
    cloze: bool = False
    shown: list[str] = field(default_factory=list)  # each example as a solved few-shot example shows it
    row: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # as read: tells the item apart


@dataclass
class Task:
    name: str
    format: str
    items: list[Item]


Reader = Callable[[dict[str, Any], str], Item]


def _choice_item(item_id: str, context: str, choices: list[str], gold: int, where: str) -> Item:
    if not choices or not all(isinstance(choice, str) for choice in choices):
        raise UserError(f"{where}: choices: expected a list of strings")
    if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < len(choices):
        raise UserError(
            f"{where}: gold index {gold!r} is not one of the {len(choices)} choices (0..{len(choices) - 1})"
        )
    continuations = [f" {choice}" for choice in choices]
    return Item(
        item_id,
        [context] * len(choices),
        continuations,
        gold,
        [len(c) for c in choices],
        shown=[f"{context} {choices[gold]}"],
    )


def _field(row: dict[str, Any], name: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if name not in row or row[name] is None:
        raise UserError(f"{where}: no field {name!r}")
    if not isinstance(row[name], kind):
        raise UserError(f"{where}: {name}: expected {getattr(kind, '__name__', 'a value of another type')}")
    return row[name]


def _index(value: Any, count: int, where: str, base: int = 0) -> int:
    """A gold index given as an int or a numeric string, counted from `base`."""
    try:
        index = int(value) - base
    except (TypeError, ValueError):
        raise UserError(f"{where}: gold label {value!r} is not a number") from None
    if not 0 <= index < count:
        raise UserError(f"{where}: gold index {value!r} is not one of the {count} choices")
    return index


def read_choice(row: dict[str, Any], where: str) -> Item:
    """gristmill's form: {"context", "choices", "gold"} (+ "id", "fewshot": solved items shown before it)."""
    item = _choice_item(
        str(row.get("id", where)),
        _field(row, "context", where),
        _field(row, "choices", where, list),
        _field(row, "gold", where, int),
        where,
    )
    fewshot = row.get("fewshot") or []
    if not isinstance(fewshot, list):
        raise UserError(f"{where}: fewshot: expected a list of solved items")
    shots = [read_choice(shot, f"{where} fewshot[{i}]").shown[0] for i, shot in enumerate(fewshot)]
    if shots:
        item.contexts = [FEWSHOT_SEPARATOR.join([*shots, c]) for c in item.contexts]
    return item


def _hellaswag_text(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def read_hellaswag(row: dict[str, Any], where: str) -> Item:
    """HellaSwag (rowanz/hellaswag JSONL, or the hub's Parquet): activity label, context and four endings."""
    endings = _field(row, "endings", where, list)
    context = f"{_field(row, 'ctx_a', where)} {_field(row, 'ctx_b', where).capitalize()}"
    query = _hellaswag_text(f"{row.get('activity_label', '')}: {context}")
    gold = _index(_field(row, "label", where, (int, str)), len(endings), where)
    return _choice_item(str(row.get("ind", where)), query, [_hellaswag_text(e) for e in endings], gold, where)


def read_arc(row: dict[str, Any], where: str) -> Item:
    """ARC: AI2's JSONL ({"question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}) or the hub's
    Parquet ({"question", "choices": {"text", "label"}, "answerKey"})."""
    question = _field(row, "question", where, (str, dict))
    if isinstance(question, dict):
        stem, options = _field(question, "stem", where), _field(question, "choices", where, list)
        texts, labels = [o.get("text") for o in options], [o.get("label") for o in options]
    else:
        choices = _field(row, "choices", where, dict)
        stem, texts, labels = question, list(choices.get("text") or []), list(choices.get("label") or [])
    answer = _field(row, "answerKey", where)
    if answer not in labels:
        raise UserError(f"{where}: answerKey {answer!r} is not one of the labels {labels}")
    return _choice_item(str(row.get("id", where)), f"Question: {stem}\nAnswer:", texts, labels.index(answer), where)


def read_piqa(row: dict[str, Any], where: str) -> Item:
    """PIQA: {"goal", "sol1", "sol2"} with "label" (the hub's form, or added from the `-labels.lst` file)."""
    choices = [_field(row, "sol1", where), _field(row, "sol2", where)]
    gold = _index(_field(row, "label", where, (int, str)), 2, where)
    return _choice_item(
        str(row.get("id", where)), f"Question: {_field(row, 'goal', where)}\nAnswer:", choices, gold, where
    )


def read_winogrande(row: dict[str, Any], where: str) -> Item:
    """Winogrande: the blank `_` filled by each option ends the context; the rest of the sentence is the
    continuation both options are scored on (lm-evaluation-harness's partial scoring)."""
    sentence = _field(row, "sentence", where)
    if "_" not in sentence:
        raise UserError(f"{where}: sentence has no blank '_'")
    options = [_field(row, "option1", where), _field(row, "option2", where)]
    gold = _index(_field(row, "answer", where, (int, str)), 2, where, base=1)
    blank = sentence.index("_")
    rest = " " + sentence[blank + 1 :].strip()
    contexts = [sentence[:blank] + option for option in options]
    shown = [contexts[gold] + rest]
    return Item(str(row.get("qID", where)), contexts, [rest, rest], gold, [len(rest)] * 2, shown=shown)


def read_cloze(row: dict[str, Any], where: str) -> Item:
    """LAMBADA-style: {"text"} whose last word (after the last space, as lm-evaluation-harness splits it) is the
    target, or {"context", "target"}. A solved example shows the context, a space and the target, which
    begins with its own space (the harness's target delimiter and LAMBADA target, both kept)."""
    if "target" in row:
        context, target = _field(row, "context", where), _field(row, "target", where)
        target = target if target.startswith(" ") else f" {target}"
    else:
        text = _field(row, "text", where)
        if " " not in text:
            raise UserError(f"{where}: text has no last word to predict")
        context, last = text.rsplit(" ", 1)
        target = f" {last}"
    shown = [f"{context} {target}"]
    return Item(str(row.get("id", where)), [context], [target], 0, [len(target)], cloze=True, shown=shown)


FORMATS: dict[str, tuple[Reader, Callable[[dict[str, Any]], bool]]] = {
    "hellaswag": (read_hellaswag, lambda r: "ctx_a" in r and "endings" in r),
    "arc": (read_arc, lambda r: "question" in r and "answerKey" in r),
    "piqa": (read_piqa, lambda r: "goal" in r and "sol1" in r),
    "winogrande": (read_winogrande, lambda r: "sentence" in r and "option1" in r),
    "choice": (read_choice, lambda r: "context" in r and "choices" in r),
    "cloze": (read_cloze, lambda r: "text" in r or ("context" in r and "target" in r)),
}


def read_task(
    spec: str, limit: int | None = None, shots: int = 0, fewshot_from: str | None = None, seed: int = FEWSHOT_SEED
) -> Task:
    """`NAME=PATH` or `PATH` (named after the file): its items, `shots` solved examples from `fewshot_from`
    shown before each (drawn as the module's docstring says, never the item itself)."""
    name, path = named_path(spec)
    format_name, items = _read_items(path, limit)
    if shots:
        if not fewshot_from:
            raise UserError(f"--shots: give --fewshot-from FILE or {name}=FILE, the solved examples to show "
                            "(e.g. a train split)")  # fmt: skip
        pool_format, pool = _read_items(Path(fewshot_from), None)
        if pool_format != format_name:
            raise UserError(f"--fewshot-from {fewshot_from}: a {pool_format} file, but {path} is {format_name}")
        around_the_item = format_name in DRAWS_AROUND_THE_ITEM or Path(fewshot_from).resolve() == path.resolve()
        _add_shots(items, pool, shots, random.Random(seed), around_the_item)
    return Task(name, format_name, items)


def named_path(spec: str) -> tuple[str, Path]:
    """`NAME=PATH` -> (NAME, PATH); `PATH` -> (the file's name up to its first dot, PATH): a task's or text
    set's name."""
    name, path_text = split_named(spec)
    path = Path(path_text)
    return name or path.name.split(".")[0], path


def _read_items(path: Path, limit: int | None) -> tuple[str, list[Item]]:
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise UserError(f"{path}: no items")
    format_name = next((n for n, (_, looks) in FORMATS.items() if looks(first)), None)
    if format_name is None:
        raise UserError(
            f"{path}: not a task file this reads: the first record has fields {sorted(first)}; see "
            "docs/formats.md (gristmill's {context, choices, gold}, or HellaSwag, ARC, PIQA, Winogrande, "
            "LAMBADA)"
        )
    reader = FORMATS[format_name][0]
    items = []
    for number, row in enumerate(_chain(first, rows), 1):
        if limit is not None and number > limit:
            break
        item = reader(row, f"{path}:{number}")
        item.row = row
        items.append(item)
    return format_name, items


def _add_shots(items: list[Item], pool: list[Item], shots: int, draw: random.Random, around_the_item: bool) -> None:
    """`shots` examples before each item, drawn in turn from one generator (the harness's sampler); drawing
    `around_the_item`, one more is drawn and the item itself dropped (all of it, should the pool repeat it)."""
    needed = shots + int(around_the_item)
    if len(pool) < needed:
        raise UserError(f"--fewshot-from: {len(pool)} examples, fewer than the {needed} each item draws")
    everyone = range(len(pool))
    for item in items:
        if not around_the_item:
            chosen = draw.sample(everyone, shots)
        else:
            chosen = [i for i in draw.sample(everyone, shots + 1) if pool[i].row != item.row][:shots]
            if len(chosen) < shots:
                others = [i for i in everyone if pool[i].row != item.row]
                if len(others) < shots:
                    raise UserError(f"--fewshot-from: fewer than --shots {shots} examples besides item {item.id}")
                chosen = draw.sample(others, shots)
        shown = [pool[i].shown[0] for i in chosen]
        item.contexts = [FEWSHOT_SEPARATOR.join([*shown, context]) for context in item.contexts]


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if path.name.endswith(".parquet"):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
        return
    labels = _piqa_labels(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json_object(line, f"{path}:{number}")
            if labels is not None:
                if number > len(labels):
                    raise UserError(f"{path}:{number}: no label in {path.with_name(path.stem + '-labels.lst')}")
                row.setdefault("label", labels[number - 1])
            yield row


def _piqa_labels(path: Path) -> list[str] | None:
    """PIQA's labels come in a file beside the items: valid.jsonl and valid-labels.lst."""
    beside = path.with_name(path.name.split(".")[0] + "-labels.lst")
    return beside.read_text(encoding="utf-8").split() if beside.is_file() else None
