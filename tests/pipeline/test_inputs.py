"""pipeline.inputs: user paths -> a fixed, sorted list of input files, and files -> tasks."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill_base.errors import UserError
from pipeline.inputs import InputFile, assign_files_to_tasks, detect_format, resolve_inputs
from pipeline.readers import ReaderOptions, read_records


def touch(path: Path, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def names(files: list[InputFile], root: Path) -> list[tuple[str, str]]:
    return [(os.path.relpath(f.path, root), f.format) for f in files]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.warc", "warc"),
        ("CC-MAIN-1.warc.gz", "warc"),
        ("x.warc.wet.gz", "warc"),
        ("x.wet", "warc"),
        ("X.WARC.GZ", "warc"),
        ("d.jsonl", "jsonl"),
        ("d.jsonl.zst", "jsonl"),
        ("d.ndjson.gz", "jsonl"),
        ("d.json.gz", "jsonl"),
        ("t.parquet", "parquet"),
        ("s3://bucket/dir/t.parquet", "parquet"),
        ("https://host/a/b.jsonl.gz", "jsonl"),
        ("notes.txt", "txt"),
        ("notes.md", None),
        ("data.json", None),
        ("archive.tar.gz", None),
    ],
)
def test_detect_format_from_the_name(name: str, expected: str | None):
    assert detect_format(name) == expected


def test_folder_is_walked_recursively_sorted_and_hidden_entries_skipped(tmp_path: Path):
    for name in [
        "b.jsonl",
        "a.warc.gz",
        "sub/c.txt",
        "sub/deeper/d.jsonl.zst",
        "README.md",
        ".hidden.txt",
        ".git/x.txt",
    ]:
        touch(tmp_path / "in" / name)
    files = resolve_inputs([str(tmp_path / "in")])
    assert names(files, tmp_path / "in") == [
        ("a.warc.gz", "warc"),
        ("b.jsonl", "jsonl"),
        ("sub/c.txt", "txt"),
        ("sub/deeper/d.jsonl.zst", "jsonl"),
    ]
    assert all(os.path.isabs(f.path) for f in files)
    assert files[0].size == 10


def test_folder_with_a_pattern_keeps_only_matching_names(tmp_path: Path):
    for name in ["a.warc.gz", "b.warc.gz", "c.jsonl", "sub/d.warc.gz"]:
        touch(tmp_path / name)
    files = resolve_inputs([str(tmp_path)], pattern="*.warc.gz")
    assert names(files, tmp_path) == [("a.warc.gz", "warc"), ("b.warc.gz", "warc"), ("sub/d.warc.gz", "warc")]


def test_forced_format_applies_to_unknown_names(tmp_path: Path):
    touch(tmp_path / "page.html")
    (file,) = resolve_inputs([str(tmp_path / "page.html")], fmt="txt")
    assert file.format == "txt"


def test_glob_patterns_expand_to_matching_files(tmp_path: Path):
    for name in ["x/1.warc.gz", "x/2.warc.gz", "x/y/3.warc.gz", "x/4.jsonl"]:
        touch(tmp_path / name)
    flat = resolve_inputs([str(tmp_path / "x" / "*.warc.gz")])
    assert names(flat, tmp_path) == [("x/1.warc.gz", "warc"), ("x/2.warc.gz", "warc")]
    deep = resolve_inputs([str(tmp_path / "x" / "**" / "*.warc.gz")])
    assert [n for n, _ in names(deep, tmp_path)] == ["x/1.warc.gz", "x/2.warc.gz", "x/y/3.warc.gz"]


def test_same_file_given_twice_is_listed_once(tmp_path: Path):
    path = touch(tmp_path / "a.jsonl")
    files = resolve_inputs([str(path), str(tmp_path), str(tmp_path / "*.jsonl")])
    assert [f.path for f in files] == [str(path)]


def test_result_does_not_depend_on_the_order_given(tmp_path: Path):
    paths = [str(touch(tmp_path / f"{n}.jsonl")) for n in "dcab"]
    assert resolve_inputs(paths) == resolve_inputs(sorted(paths))


@pytest.mark.parametrize("compressed", [False, True], ids=["paths", "paths.gz"])
def test_paths_file_lists_inputs_relative_to_itself(tmp_path: Path, compressed: bool):
    touch(tmp_path / "crawl" / "a.warc.gz")
    absolute = touch(tmp_path / "elsewhere" / "b.jsonl")
    listing = f"# Common Crawl style listing\ncrawl/a.warc.gz\n\n  {absolute}  \n".encode()
    paths_file = tmp_path / ("warc.paths.gz" if compressed else "warc.paths")
    paths_file.write_bytes(gzip.compress(listing) if compressed else listing)
    files = resolve_inputs([str(paths_file)])
    assert [(f.path, f.format) for f in files] == [
        (str(tmp_path / "crawl" / "a.warc.gz"), "warc"),
        (str(absolute), "jsonl"),
    ]


def test_paths_file_with_a_prefix(tmp_path: Path):
    touch(tmp_path / "mirror" / "crawl-data" / "a.warc.gz")
    paths_file = tmp_path / "list.paths"
    paths_file.write_text("crawl-data/a.warc.gz\n")
    (file,) = resolve_inputs([str(paths_file)], paths_prefix=f"{tmp_path}/mirror/")
    assert file.path == f"{tmp_path}/mirror/crawl-data/a.warc.gz"


def test_paths_file_with_a_url_prefix_lists_remote_files_without_a_request_each(tmp_path: Path):
    fs = fsspec.filesystem("memory")
    fs.pipe("/gristmill-test/crawl-data/a.warc.gz", b"x" * 33)
    paths_file = tmp_path / "remote.paths"
    paths_file.write_text("crawl-data/a.warc.gz\ncrawl-data/missing.warc.gz\n")
    files = resolve_inputs([str(paths_file)], paths_prefix="memory://gristmill-test/")
    assert [(f.path, f.format, f.size, f.fingerprint) for f in files] == [
        ("memory://gristmill-test/crawl-data/a.warc.gz", "warc", None, "listed"),
        ("memory://gristmill-test/crawl-data/missing.warc.gz", "warc", None, "listed"),
    ]
    records = list(read_records(files[1], ReaderOptions()))  # unreachable: recorded when its task reads it
    assert [(r.removed_by, r.document) for r in records] == [("read_error", True)]
    assert records[0].source == "memory://gristmill-test/crawl-data/missing.warc.gz@0"


def _user_error(paths: list[str], **kwargs) -> str:
    with pytest.raises(UserError) as caught:
        resolve_inputs(paths, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_inputs_are_user_errors_naming_the_path(tmp_path: Path):
    missing = tmp_path / "nope.warc.gz"
    assert _user_error([str(missing)]) == f"input {missing}: no such file or folder"
    assert _user_error([str(tmp_path / "*.warc.gz")]) == f"input {tmp_path}/*.warc.gz: no file matches this pattern"
    assert _user_error([]).startswith("no inputs")
    (tmp_path / "empty").mkdir()
    assert "holds no input files" in _user_error([str(tmp_path / "empty")])
    assert "paths file not found" in _user_error([str(tmp_path / "gone.paths")])


def test_paths_file_problems_are_user_errors(tmp_path: Path):
    listing = tmp_path / "bad.paths"
    listing.write_text("missing.warc.gz\n")
    assert _user_error([str(listing)]) == f"input {listing}: listed file {tmp_path / 'missing.warc.gz'} does not exist"
    blank = tmp_path / "blank.paths"
    blank.write_text("# only a comment\n\n")
    assert _user_error([str(blank)]) == f"input {blank}: the paths file lists no files"
    not_gzip = tmp_path / "plain.paths.gz"
    not_gzip.write_text("a.warc.gz\n")
    assert "paths file is not valid gzip" in _user_error([str(not_gzip)])


def test_unknown_format_is_a_user_error_that_says_how_to_fix_it(tmp_path: Path):
    path = touch(tmp_path / "notes.md")
    message = _user_error([str(path)])
    assert message.startswith(f"input {path}: cannot tell its format")
    assert "stage[0].format" in message


def test_parquet_inputs_must_have_the_text_column(tmp_path: Path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"content": ["a"], "id": ["1"]}), good)
    (file,) = resolve_inputs([str(good)], text_field="content")
    assert file.format == "parquet"
    message = _user_error([str(good)])
    assert message == f"input {good}: no column 'text' for stage[0].text_field; columns: content, id"


def test_unreadable_parquet_is_a_user_error(tmp_path: Path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not really parquet")
    assert _user_error([str(broken)]).startswith(f"input {broken}: not a readable Parquet file")


def test_fingerprint_changes_when_the_file_changes(tmp_path: Path):
    path = touch(tmp_path / "a.jsonl", 10)
    (before,) = resolve_inputs([str(path)])
    touch(path, 20)
    (after,) = resolve_inputs([str(path)])
    assert before.fingerprint != after.fingerprint
    assert (before.size, after.size) == (10, 20)


def _files(sizes: list[int | None]) -> list[InputFile]:
    return [InputFile(f"/in/f{i:02d}", "warc", size, "") for i, size in enumerate(sizes)]


def test_every_file_goes_to_exactly_one_task_and_bytes_are_balanced():
    rng = random.Random(3)
    sizes = [rng.randint(1, 1000) for _ in range(40)]
    files = _files(sizes)
    plan = assign_files_to_tasks(files, 6)
    assert len(plan) == 6
    assert sorted(i for task in plan for i in task) == list(range(40))
    loads = [sum(sizes[i] for i in task) for task in plan]
    assert max(loads) <= sum(sizes) / 6 + max(sizes)  # the bound for consecutive runs
    assert [i for task in plan for i in task] == list(range(40))  # consecutive runs, in input order


def test_plan_is_deterministic_and_independent_of_listing_order():
    rng = random.Random(5)
    files = _files([rng.choice([10, 20, 30, None]) for _ in range(25)])
    plan = assign_files_to_tasks(files, 4)
    assert assign_files_to_tasks(files, 4) == plan
    shuffled = files[:]
    rng.shuffle(shuffled)
    by_path = [{files[i].path for i in task} for task in plan]
    assert [{shuffled[i].path for i in task} for task in assign_files_to_tasks(shuffled, 4)] == by_path


def test_task_count_is_clamped_to_the_files():
    files = _files([5, 5, 5])
    assert assign_files_to_tasks(files, 10) == [[0], [1], [2]]
    assert assign_files_to_tasks(files, 0) == [[0], [1], [2]]  # 0: one task per file
    assert assign_files_to_tasks(files, 1) == [[0, 1, 2]]


def test_one_huge_file_gets_a_task_of_its_own():
    files = _files([1000, 10, 10, 10, 10])
    plan = assign_files_to_tasks(files, 2)
    assert [0] in plan
    assert [1, 2, 3, 4] in plan


def test_unknown_sizes_count_as_a_typical_file():
    files = _files([100, None, 100, None])
    plan = assign_files_to_tasks(files, 2)
    assert sorted(len(task) for task in plan) == [2, 2]


def test_file_urls_are_local_paths(tmp_path: Path):
    (tmp_path / "a.warc.gz").write_bytes(b"x")
    (file,) = resolve_inputs([f"file://{tmp_path / 'a.warc.gz'}"])
    assert (file.path, file.format, file.size) == (str(tmp_path / "a.warc.gz"), "warc", 1)


def test_unreadable_paths_files_and_broken_links_are_one_line_errors(tmp_path: Path):
    (tmp_path / "bad.paths").write_bytes(b"a.warc.gz\n\xff\xfe\n")
    assert "not UTF-8 text" in _user_error([str(tmp_path / "bad.paths")])
    (tmp_path / "folder.paths").mkdir()
    assert "cannot read the paths file" in _user_error([str(tmp_path / "folder.paths")])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "gone.warc.gz").symlink_to(tmp_path / "nowhere.warc.gz")
    assert "gone.warc.gz: cannot be read" in _user_error([str(tmp_path / "in")])
