"""docs/formats.md against the code: every column, key and file gristmill writes is documented there.

The artefacts are built once from a small JSONL crawl (run, tokenizer, pack, two training steps, HF export),
so a column, key or file that the code starts to write without the doc fails here, and so does a doc entry
for something the code no longer writes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from crawl_factory import PARAGRAPHS
from text_factory import article

from gristmill.cli import main
from pipeline.filters.decontaminate import DecontaminateStage
from pipeline.jobs import columns_of
from pipeline.recipe import STAGE_KINDS, load_recipe
from pipeline.schema import DOCUMENT_SCHEMA, document_schema, removed_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
EOS = "<|endoftext|>"
TOKENIZER_FLAGS = ["--vocab-size", "300", "--special-token", EOS, "--workers", "1"]
PACK_FLAGS = ["--val-fraction", "0.3", "--workers", "1"]
FOOTER = "Subscribe to the mill newsletter for the weekly flour prices and the river news."
RECIPE = """
[run]
keep_intermediate = true

[executor]
workers = 1

[[stage]]
kind = "ingest"
inputs = ["{crawl}"]

[[stage]]
kind = "langid"
keep = ["en"]

[[stage]]
kind = "exact_dedup"

[[stage]]
kind = "minhash_dedup"

[[stage]]
kind = "line_dedup"
max_documents = 5

[[stage]]
kind = "pii"

[[stage]]
kind = "shard"
shuffle = true
"""
TRAIN = """
[model]
preset = "tiny"
kernels = "torch"
overrides = {{ d_model = 32, n_layers = 1, n_heads = 2, n_kv_heads = 1 }}

[data]
path = "{packed}"
seq_len = 16
micro_batch = 2
global_batch = 2

[run]
steps = 2
output = "{output}"
log_every = 1
eval_sequences = 2
"""


@dataclass(frozen=True)
class Built:
    """Every artefact of the pipeline, made from one small crawl."""

    recipe: Path
    run: Path
    tokenizer: Path
    packed: Path
    train: Path
    hf: Path


def crawl_lines() -> list[str]:
    """English articles sharing a footer (line dedup), an exact and a near copy, a record read twice (a repeated
    id), other languages (langid), contact data (pii) and one broken line (an ingest removal)."""
    rows = [
        {
            "id": f"article-{seed}",
            "text": "\n".join([*article(seed, paragraphs=3), f"Write to miller{seed}@example.org.", FOOTER]),
            "url": f"https://mill.example.org/{seed}",
            "date": "2024-05-06T07:08:09Z",
        }
        for seed in range(12)
    ]
    rows.append({**rows[0], "id": "exact-copy"})
    rows.append({**rows[1], "id": "near-copy", "text": rows[1]["text"].replace("the", "a", 1)})
    rows.append(rows[2])
    rows += [{"id": f"lang-{lang}", "text": text} for lang, text in PARAGRAPHS.items()]
    return [json.dumps(row) for row in rows] + ["{not json"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("formats")
    (root / "crawl.jsonl").write_text("\n".join(crawl_lines()) + "\n", encoding="utf-8")
    recipe = root / "recipe.toml"
    recipe.write_text(RECIPE.format(crawl=root / "crawl.jsonl"))
    out = Built(recipe, root / "run", root / "tok", root / "packed", root / "train", root / "hf")
    (root / "train.toml").write_text(TRAIN.format(packed=out.packed, output=out.train))
    commands = [
        ["run", str(recipe), "--output", str(out.run)],
        ["tokenizer", "train", "--input", str(out.run), "--output", str(out.tokenizer), *TOKENIZER_FLAGS],
        ["pack", "--tokenizer", str(out.tokenizer), "--input", str(out.run), "--output", str(out.packed), *PACK_FLAGS],
        ["train", str(root / "train.toml")],
        ["export", "--checkpoint", str(out.train), "--format", "hf", "--output", str(out.hf)],
    ]
    for command in commands:
        assert main(command) == 0, command
    return out


# --- reading the doc ---------------------------------------------------------------------------------------


def section(heading: str) -> str:
    """The text under `heading` (any level) up to the next heading of the same or a higher level; headings
    are how the tests find what the doc says about each format."""
    lines, fenced, found, level, body = DOC.read_text(encoding="utf-8").splitlines(), False, False, 0, []
    for line in lines:
        fenced ^= line.startswith("```")
        match = None if fenced or line.startswith("```") else re.match(r"(#+) (.*)", line)
        if found and match and len(match.group(1)) <= level:
            break
        if found:
            body.append(line)
        elif match and match.group(2) == heading:
            found, level = True, len(match.group(1))
    assert found, f"docs/formats.md has no heading {heading!r}"
    return "\n".join(body)


def table(heading: str) -> dict[str, list[str]]:
    """The rows of the tables under `heading`, by the backquoted name in their first cell."""
    rows = {}
    for line in section(heading).splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        name = re.fullmatch(r"`([^`]+)`", cells[0])
        if name:
            rows[name.group(1)] = cells[1:]
    return rows


def first_code(cell: str) -> str:
    """The first backquoted text of a cell: the Arrow type in `float` (32-bit)."""
    match = re.search(r"`([^`]+)`", cell)
    assert match, f"no backquoted value in {cell!r}"
    return match.group(1)


def documented_columns(heading: str) -> dict[str, tuple[str, bool]]:
    """Column -> (Arrow type, nullable) as a column table of the doc gives them."""
    return {name: (first_code(cells[0]), cells[1] == "yes") for name, cells in table(heading).items()}


def key_paths(value: Any, maps: set[str], prefix: str = "") -> set[str]:
    """Dotted paths of the keys of a JSON value (`shards[].file`); the keys of a documented map are data."""
    paths = {prefix} if prefix and not prefix.endswith("[]") else set()
    if prefix in maps:
        return paths
    if isinstance(value, dict):
        for key, item in value.items():
            paths |= key_paths(item, maps, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for item in value:
            paths |= key_paths(item, maps, f"{prefix}[]")
    return paths


def assert_keys_documented(data: Any, heading: str, both_ways: bool = True, nested: bool = True) -> None:
    """Every key written is in the heading's table; with `both_ways`, every key there is written."""
    rows = table(heading)
    maps = {name for name, cells in rows.items() if cells and cells[0].startswith("map")}
    written = key_paths(data, maps) if nested else set(data)
    assert not written - set(rows), f"{heading}: keys written but not documented: {sorted(written - set(rows))}"
    if both_ways:
        assert not set(rows) - written, f"{heading}: keys documented but not written: {sorted(set(rows) - written)}"


def generalised(name: str, stages: set[str]) -> str:
    """A file or folder name as the doc's trees write it: `<stage>`, `lang=<code>`, N for each digit."""
    if name in stages:
        return "<stage>"
    if name.startswith("lang="):
        return "lang=<code>"
    return re.sub(r"\d", "N", name)


def names_in(text: str, name: str) -> bool:
    """Whether `name` is written in `text` as a whole path component: `NNNNN.json` is not in `task-NNNNN.json`,
    nor `stats` in `stats.json`."""
    return re.search(rf"(?<![\w.<>=-]){re.escape(name)}(?![\w.<>=-])", text) is not None


def assert_tree_documented(folder: Path, heading: str, skip: tuple[str, ...] = ()) -> None:
    """Every name under `folder` (generalised) appears in the doc's section on it."""
    text = section(heading)
    stages = set(STAGE_KINDS)
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if parts[0] in skip:
            continue
        for part in parts:
            name = generalised(part, stages)
            assert names_in(text, name), f"{heading}: {path.relative_to(folder)} ({name}) undocumented"


def test_a_name_counts_only_as_a_whole_path_component():
    text = "  stats/<stage>/task-NNNNN.json   counters\n  a/b.parquet, c.npy;  d/"
    assert names_in(text, "task-NNNNN.json") and names_in(text, "<stage>") and names_in(text, "stats")
    assert names_in(text, "b.parquet") and names_in(text, "c.npy") and names_in(text, "d")
    assert not names_in(text, "NNNNN.json") and not names_in(text, "task") and not names_in(text, "stage")
    assert not names_in(text, "parquet") and not names_in(text, "b")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- document shards and removed documents -----------------------------------------------------------------


def every_stage_column() -> list[pa.Field]:
    """The columns of every stage kind a recipe can name, in the registry's order."""
    kinds = [cls for kind, cls in STAGE_KINDS.items() if kind not in ("ingest", "shard")]
    # defaults without validation (a classifier needs no model file here); cut_lines adds decontaminate's column
    options = [
        cls.model_construct(cut_lines=True) if cls is DecontaminateStage else cls.model_construct() for cls in kinds
    ]
    return [column for stage in options for column in columns_of(stage)]


def test_every_document_column_is_documented_with_its_type() -> None:
    schema = document_schema(every_stage_column())
    expected = {field.name: (str(field.type), field.nullable) for field in schema}
    assert documented_columns("Document columns") == expected


def test_removal_columns_are_documented_and_stage_columns_nullable_there() -> None:
    columns = every_stage_column()
    removed, document = removed_schema(columns), document_schema(columns)
    extra = {f.name: (str(f.type), f.nullable) for f in removed if f.name not in document.names}
    assert documented_columns("Removal columns") == extra
    for field in document:
        base = field.name in DOCUMENT_SCHEMA.names
        assert removed.field(field.name).nullable == (field.nullable if base else True), field.name


def test_run_shards_have_the_documented_columns_in_recipe_order(built: Built) -> None:
    documented = documented_columns("Document columns")
    stages = load_recipe(built.recipe).stage[1:-1]
    order = [*DOCUMENT_SCHEMA.names, *(c.name for stage in stages for c in columns_of(stage))]
    manifest = read_json(built.run / "shards" / "manifest.json")
    for path in sorted((built.run / "shards").rglob("part-*.parquet")):
        schema = pq.read_schema(path)
        assert schema.names == order
        assert {f.name: (str(f.type), f.nullable) for f in schema} == {n: documented[n] for n in order}
        assert manifest["schema"] == [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def test_removed_files_share_the_documented_schema_and_match_the_counters(built: Built) -> None:
    documented = {**documented_columns("Document columns"), **documented_columns("Removal columns")}
    removal = set(table("Removal columns"))
    summary = read_json(built.run / "stats" / "summary.json")
    schemas = set()
    for stage in summary["stages"]:
        files = sorted((built.run / "removed" / stage["stage"]).glob("part-*.parquet"))
        assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == sum(stage["removed"].values())
        for path in files:
            schema = pq.read_schema(path)
            schemas.add(tuple(schema.names))
            for field in schema:
                kind, nullable = documented[field.name]
                stage_column = field.name not in removal and field.name not in DOCUMENT_SCHEMA.names
                assert (str(field.type), field.nullable) == (kind, nullable or stage_column), (path, field.name)
    assert len(schemas) == 1, "every file of removed/ has one schema"
    assert {"ingest", "langid", "exact_dedup", "minhash_dedup"} <= {p.name for p in (built.run / "removed").iterdir()}


def test_ids_are_unique_and_a_repeated_record_names_the_kept_source(built: Built) -> None:
    files = [path for folder in ("shards", "removed") for path in (built.run / folder).rglob("part-*.parquet")]
    ids = [i for path in files for i in pq.read_table(path, columns=["id"]).column("id").to_pylist()]
    assert len(ids) == len(set(ids))
    removed = pq.read_table(built.run / "removed" / "ingest").to_pylist()
    (repeat,) = [row for row in removed if row["removed_by"] == "repeated_record"]
    assert f"{built.recipe.parent / 'crawl.jsonl'}:3" in repeat["removed_detail"]


# --- the run folder ----------------------------------------------------------------------------------------


def test_run_folder_names_are_in_the_layout(built: Built) -> None:
    assert_tree_documented(built.run, "Layout")


@pytest.mark.parametrize(
    ("relative", "heading"),
    [
        ("shards/manifest.json", "`shards/manifest.json`"),
        ("inputs.json", "`inputs.json`"),
        ("stats/ingest/task-00000.json", "`stats/<stage>/task-NNNNN.json`"),
        ("stats/summary.json", "`stats/summary.json`"),
        ("stats/exact_dedup/clusters.json", "`stats/<stage>/clusters.json`"),
    ],
)
def test_run_json_keys_are_documented(built: Built, relative: str, heading: str) -> None:
    assert_keys_documented(read_json(built.run / relative), heading)


def test_attempts_and_recipe_additions_are_documented(built: Built) -> None:
    for line in read_jsonl(built.run / "stats" / "attempts.jsonl"):
        assert_keys_documented(line, "`stats/attempts.jsonl`")
    recipe_text = (built.run / "recipe.toml").read_text(encoding="utf-8")
    gristmill = re.search(r"^\[gristmill\]\n((?:\w+ = .*\n)+)", recipe_text, re.MULTILINE)
    assert gristmill, "recipe.toml has a [gristmill] table"
    keys = {f"gristmill.{line.split(' = ')[0]}" for line in gristmill.group(1).splitlines()}
    assert keys == set(table("`recipe.toml`"))


# --- tokenizer, packed shards, checkpoints, export ---------------------------------------------------------


def test_tokenizer_folder_files_and_keys_are_documented(built: Built, tmp_path: Path) -> None:
    assert {p.name for p in built.tokenizer.iterdir()} == set(table("Tokenizer files"))
    extended = tmp_path / "chat-tokenizer"
    assert main(["tokenizer", "add-special", str(built.tokenizer), "--chat", "--output", str(extended)]) == 0
    plain, chat = (read_json(folder / "gristmill.json") for folder in (built.tokenizer, extended))
    assert_keys_documented(plain, "`gristmill.json`", both_ways=False)
    assert_keys_documented(chat, "`gristmill.json`")
    assert_keys_documented(read_json(built.tokenizer / "tokenizer.json"), "`tokenizer.json`", nested=False)


def test_packed_folder_and_manifest_are_documented(built: Built) -> None:
    assert_tree_documented(built.packed, "Packed token shards (`gristmill pack`)", skip=(".pack",))
    assert_keys_documented(read_json(built.packed / "manifest.json"), "Packed `manifest.json`")


def test_packed_parts_follow_the_documented_layout(built: Built) -> None:
    """dtype, EOS after every document and end offsets, as the doc describes them."""
    manifest = read_json(built.packed / "manifest.json")
    assert manifest["dtype"] == ("uint16" if manifest["vocab_size"] <= 65536 else "uint32")
    for split in ("train", "val"):
        for part in manifest[split]["shards"]:
            tokens = np.fromfile(built.packed / part["bin"], dtype="<" + np.dtype(manifest["dtype"]).str[1:])
            ends = np.fromfile(built.packed / part["idx"], dtype="<i8")
            assert len(ends) == part["documents"] and len(tokens) == part["tokens"]
            assert (ends[-1] if len(ends) else 0) == len(tokens)
            assert all(tokens[end - 1] == manifest["eos_id"] for end in ends)
    assert manifest["val"]["documents"] > 0, "the test data should fill both splits"


def test_checkpoint_files_and_keys_are_documented(built: Built) -> None:
    assert_tree_documented(built.train, "Checkpoints (`gristmill train`)")
    assert (built.train / "latest").read_text() == "step-000002\n"
    step = built.train / "step-000002"
    assert {p.name for p in step.iterdir()} == set(table("Step folder files"))
    assert_keys_documented(read_json(step / "config.json"), "Checkpoint `config.json`")
    assert_keys_documented(read_json(step / "state.json"), "Checkpoint `state.json`", both_ways=False)
    for line in read_jsonl(built.train / "metrics.jsonl"):
        assert_keys_documented(line, "`metrics.jsonl`", both_ways=False)


def test_hf_export_files_and_keys_are_documented(built: Built) -> None:
    files = table("Export files")
    assert {p.name for p in built.hf.iterdir()} == set(files)
    assert_keys_documented(read_json(built.hf / "config.json"), "Export `config.json`", both_ways=False, nested=False)
    for name in ("generation_config.json", "tokenizer_config.json"):
        for key in read_json(built.hf / name):
            assert f"`{key}`" in files[name][0], f"{name}: {key} undocumented"


def test_fine_tuning_files_and_keys_are_documented(tmp_path: Path) -> None:
    from chat_factory import CONVERSATIONS, PREFERENCES, base_model, finetune_config

    _, base = base_model(tmp_path)
    bad = tmp_path / "chat.jsonl"
    bad.write_text(CONVERSATIONS.read_text() + '{"messages": [{"role": "tool", "content": "x"}]}\n')
    assert main(["finetune", "sft", str(finetune_config(tmp_path, "sft", base, bad, run={"steps": 1}))]) == 0
    dpo = finetune_config(tmp_path, "dpo", tmp_path / "sft", PREFERENCES, run={"steps": 1})
    assert main(["finetune", "dpo", str(dpo)]) == 0
    written = {}
    for kind in ("sft", "dpo"):
        run = tmp_path / kind
        assert_tree_documented(run, "Fine-tuning data and runs (`gristmill finetune sft | dpo`)")
        step = read_json(run / "step-000001" / "config.json")
        assert_keys_documented(step, "Fine-tuning checkpoint `config.json`", both_ways=False, nested=False)
        written |= step
        for line in read_jsonl(run / "metrics.jsonl"):
            extra = {k: v for k, v in line.items() if k not in table("`metrics.jsonl`")}
            assert_keys_documented(extra, "Fine-tuning `metrics.jsonl`", both_ways=False, nested=False)
    assert_keys_documented(written, "Fine-tuning checkpoint `config.json`", nested=False)
    skipped = read_jsonl(tmp_path / "sft" / "skipped.jsonl")
    assert [row["reason"] for row in skipped][-1] == "unknown role 'tool'"
    for row in skipped:
        assert_keys_documented(row, "`skipped.jsonl`")
    documented = section("`skipped.jsonl`")
    for row in skipped:
        general = re.sub(r"\d+", "<n>", row["reason"]).replace("'tool'", "'<role>'")
        assert f"`{general}`" in documented
