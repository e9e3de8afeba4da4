"""Turn the paths a user gave into a fixed, sorted list of input files, before any work starts.

Inputs may be local files, folders (searched recursively), glob patterns, fsspec URLs, or paths
files (`*.paths` / `*.paths.gz`, one path or URL per line, like Common Crawl's `warc.paths.gz`).
A missing input is a `UserError` here, not a failure deep inside a worker.
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import gzip
import os
from dataclasses import dataclass

import fsspec
import pyarrow.parquet as pq

from gristmill_base.errors import UserError

FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "warc": (".warc", ".warc.gz", ".warc.zst", ".warc.lz4", ".wet", ".wet.gz", ".arc.gz"),
    "jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".ndjson.gz", ".json.gz", ".json.zst"),
    "parquet": (".parquet",),
    "txt": (".txt",),
}
PATHS_FILE_SUFFIXES = (".paths", ".paths.gz")


@dataclass(frozen=True)
class InputFile:
    """One input file; `fingerprint` changes when the file's content may have changed."""

    path: str
    format: str
    size: int | None
    fingerprint: str


def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def without_file_scheme(path: str) -> str:
    """`file:///data/x.warc.gz` is the local path `/data/x.warc.gz`."""
    return path[len("file://") :] if path.startswith("file://") else path


def detect_format(path: str) -> str | None:
    name = path.lower().rsplit("/", 1)[-1]
    for fmt, suffixes in FORMAT_SUFFIXES.items():
        if name.endswith(suffixes):
            return fmt
    return None


def resolve_inputs(
    paths: list[str],
    fmt: str = "auto",
    pattern: str | None = None,
    paths_prefix: str | None = None,
    text_field: str = "text",
) -> list[InputFile]:
    """Expand `paths` into input files, each with its format; raise UserError for anything missing."""
    if not paths:
        raise UserError("no inputs: give stage[0].inputs in the recipe or --input on the command line")
    found: dict[str, InputFile] = {}
    for given in paths:
        listed = given.lower().endswith(PATHS_FILE_SUFFIXES)
        for path in _expand(given, fmt, pattern, paths_prefix):
            if path in found:
                continue
            file_format = fmt if fmt != "auto" else detect_format(path)
            if file_format is None:
                raise UserError(
                    f"input {path}: cannot tell its format from the name; set stage[0].format "
                    f"(one of: {', '.join(FORMAT_SUFFIXES)})"
                )
            if listed and is_url(path):
                # a paths file may list 100,000 URLs: no request per file before work starts;
                # an unreachable one is recorded as read_error when its task reads it
                found[path] = InputFile(path, file_format, None, "listed")
            else:
                found[path] = _describe_file(path, file_format)
    files = sorted(found.values(), key=lambda f: f.path)
    remote_checked = False
    for file in files:
        if file.format == "parquet" and not (remote_checked and is_url(file.path)):
            _check_parquet_columns(file.path, text_field)
            remote_checked = remote_checked or is_url(file.path)
    return files


def _expand(given: str, fmt: str, pattern: str | None, paths_prefix: str | None) -> list[str]:
    given = without_file_scheme(given)
    if given.lower().endswith(PATHS_FILE_SUFFIXES):
        return _read_paths_file(given, paths_prefix)
    if is_url(given):
        return [given]
    if any(ch in given for ch in "*?["):
        matches = sorted(p for p in globlib.glob(given, recursive=True) if os.path.isfile(p))
        if not matches:
            raise UserError(f"input {given}: no file matches this pattern")
        return [os.path.abspath(p) for p in matches]
    if os.path.isdir(given):
        return _walk_folder(given, fmt, pattern)
    if os.path.isfile(given):
        return [os.path.abspath(given)]
    raise UserError(f"input {given}: no such file or folder")


def _walk_folder(folder: str, fmt: str, pattern: str | None) -> list[str]:
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            if pattern is not None and not fnmatch.fnmatch(name, pattern):
                continue
            if pattern is None and fmt == "auto" and detect_format(name) is None:
                continue
            files.append(os.path.abspath(os.path.join(root, name)))
    if not files:
        raise UserError(f"input {folder}: the folder holds no input files of a known format")
    return sorted(files)


def _read_paths_file(paths_file: str, paths_prefix: str | None) -> list[str]:
    try:
        with fsspec.open(paths_file, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise UserError(f"input {paths_file}: paths file not found") from None
    except OSError as error:  # a folder, no permission, a network error
        raise UserError(f"input {paths_file}: cannot read the paths file ({type(error).__name__}: {error})") from None
    if paths_file.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise UserError(f"input {paths_file}: paths file is not valid gzip ({error})") from None
    base = paths_file.rsplit("/", 1)[0] if "/" in paths_file else "."
    paths = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        why = f"{error.reason} at byte {error.start}"
        raise UserError(f"input {paths_file}: the paths file is not UTF-8 text ({why})") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if paths_prefix:
            line = paths_prefix + line if not (is_url(line) or os.path.isabs(line)) else line
        elif not (is_url(line) or os.path.isabs(line)):
            line = f"{base}/{line}" if is_url(base) else os.path.abspath(os.path.join(base, line))
        if not is_url(line) and not os.path.isfile(line):
            raise UserError(f"input {paths_file}: listed file {line} does not exist")
        paths.append(line)
    if not paths:
        raise UserError(f"input {paths_file}: the paths file lists no files")
    return paths


def _describe_file(path: str, file_format: str) -> InputFile:
    if not is_url(path):
        try:
            stat = os.stat(path)
        except OSError as error:  # e.g. a broken symbolic link found in an input folder
            raise UserError(f"input {path}: cannot be read ({error.strerror})") from None
        return InputFile(path, file_format, stat.st_size, f"{stat.st_size}-{stat.st_mtime_ns}")
    try:
        fs, inner = fsspec.core.url_to_fs(path)
        info = fs.info(inner)
    except FileNotFoundError:
        raise UserError(f"input {path}: not found") from None
    except Exception as error:  # network libraries raise many types; the user needs the message
        raise UserError(f"input {path}: cannot be reached ({type(error).__name__}: {error})") from None
    size = info.get("size")
    tag = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime") or ""
    return InputFile(path, file_format, size, f"{size}-{tag}")


def _check_parquet_columns(path: str, text_field: str) -> None:
    try:
        with fsspec.open(path, "rb") as handle:
            schema = pq.read_schema(handle)
    except Exception as error:  # pyarrow raises ArrowInvalid/OSError variants for bad files
        raise UserError(f"input {path}: not a readable Parquet file ({error})") from None
    if text_field not in schema.names:
        raise UserError(
            f"input {path}: no column {text_field!r} for stage[0].text_field; columns: {', '.join(schema.names)}"
        )


def assign_files_to_tasks(files: list[InputFile], tasks: int) -> list[list[int]]:
    """Cut the files, in path order, into `tasks` consecutive runs of balanced bytes.

    Consecutive runs keep the whole run in input order (task 0 reads the first files, and so on), which
    is the order dedup uses to choose the kept copy; so the kept copy does not depend on the task count.
    The largest run is as small as consecutive runs allow (binary search on its size).
    """
    tasks = max(1, min(tasks or len(files), len(files)))
    order = sorted(range(len(files)), key=lambda i: files[i].path)
    known = [f.size for f in files if f.size]
    default_size = sorted(known)[len(known) // 2] if known else 1
    sizes = [files[i].size or default_size for i in order]
    low, high = max(sizes), sum(sizes)
    while low < high:
        middle = (low + high) // 2
        if len(_consecutive_runs(sizes, middle)) <= tasks:
            high = middle
        else:
            low = middle + 1
    runs = _consecutive_runs(sizes, low)
    while len(runs) < tasks:  # fewer runs than tasks: split the heaviest run that has two files or more
        heaviest = max((r for r in runs if r[1] - r[0] > 1), key=lambda r: sum(sizes[r[0] : r[1]]))
        at = runs.index(heaviest)
        begin, end = heaviest
        half, cut = sum(sizes[begin:end]) / 2, begin + 1
        while cut < end - 1 and sum(sizes[begin : cut + 1]) <= half:
            cut += 1
        runs[at : at + 1] = [(begin, cut), (cut, end)]
    return [sorted(order[begin:end]) for begin, end in runs]


def _consecutive_runs(sizes: list[int], capacity: int) -> list[tuple[int, int]]:
    """Greedy [begin, end) runs of at most `capacity` bytes each (a larger single file is its own run)."""
    runs, begin, load = [], 0, 0
    for index, size in enumerate(sizes):
        if index > begin and load + size > capacity:
            runs.append((begin, index))
            begin, load = index, 0
        load += size
    runs.append((begin, len(sizes)))
    return runs
