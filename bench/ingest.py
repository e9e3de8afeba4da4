"""Ingest throughput: gristmill vs datatrove on the same WARC files with the same number of workers.

Runs, one after the other in this process, on the same input:
  1. gristmill ingest (fastwarc + resiliparse in a time-limited child, Parquet shards), `gristmill run`;
  2. datatrove WarcReader + Trafilatura + ParquetWriter (datatrove's FineWeb defaults);
  3. datatrove WarcReader feeding gristmill's extractor (isolates reader vs extractor);
and, single-process, the two WARC parsers alone (fastwarc vs warcio, the choice made in
pipeline/readers/warc.py). Throughput is HTML response records per second per worker, with the
same denominator for every contender: the HTML response records counted independently with warcio.
It also checks that every HTML response record is accounted for by gristmill (kept or removed).

Input used for bench/results/ingest.txt: a wget --warc-file crawl of Debian documentation
packages served on 127.0.0.1 (built by bench/make_crawl.sh; see its header for the packages).

Usage: python bench/ingest.py CRAWL_DIR [--workers 2] [--output bench/results/ingest.txt]
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import common  # first: one thread per process for numeric libraries
import pyarrow.parquet as pq
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.extractors.base import BaseExtractor
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import ParquetWriter
from fastwarc.warc import ArchiveIterator as FastIterator
from rich.console import Console
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from pipeline.extract import extract_text
from pipeline.prepared import prepare_run
from pipeline.runner import execute

HTML_TYPES = ("text/html", "application/xhtml+xml")


class GristmillExtractor(BaseExtractor):
    """gristmill's extractor behind datatrove's reader and sandbox."""

    name = "gristmill resiliparse"

    def __init__(self, timeout: float = 10):
        super().__init__(timeout)

    def extract(self, text: str) -> str:
        return extract_text(text)


def html_response_ids(files: list[str]) -> set[str]:
    """WARC-Record-IDs of HTML HTTP responses, read with warcio (independent of gristmill's fastwarc)."""
    ids = set()
    for path in files:
        with open(path, "rb") as handle:
            for record in WarcioIterator(handle):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                content_type = (record.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
                if content_type in HTML_TYPES:
                    ids.add(record.rec_headers.get_header("WARC-Record-ID").strip("<>"))
    return ids


def parser_speed(files: list[str]) -> dict[str, float]:
    """Records/s of each parser reading every record's payload, one process."""
    rates = {}
    for name in ("fastwarc", "warcio"):
        records = 0
        started = time.perf_counter()
        for path in files:
            with open(path, "rb") as handle:
                if name == "fastwarc":
                    for record in FastIterator(handle, parse_http=True):
                        record.reader.read()
                        records += 1
                else:
                    for record in WarcioIterator(handle):
                        record.content_stream().read()
                        records += 1
        rates[name] = records / (time.perf_counter() - started)
    return rates


def run_gristmill(crawl: Path, workers: int, work: Path) -> tuple[float, set[str], dict[str, str]]:
    recipe = work / "ingest.toml"
    recipe.write_text(f'[executor]\nworkers = {workers}\n\n[[stage]]\nkind = "ingest"\ninputs = ["{crawl}"]\n')
    started = time.perf_counter()
    result = execute(prepare_run(recipe, output=work / "gristmill"), Console(file=io.StringIO()))
    wall = time.perf_counter() - started
    assert result.complete, "gristmill run did not complete"
    kept = set()
    for path in (work / "gristmill" / "shards").glob("part-*.parquet"):
        kept.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    removed = {}
    for path in (work / "gristmill" / "removed").rglob("part-*.parquet"):
        table = pq.read_table(path, columns=["id", "removed_by"]).to_pydict()
        removed.update(zip(table["id"], table["removed_by"], strict=True))
    return wall, kept, removed


def run_datatrove(crawl: Path, files: list[str], workers: int, work: Path, extractor: BaseExtractor) -> float:
    out = work / f"datatrove-{extractor.name.split()[0].lower()}"
    executor = LocalPipelineExecutor(
        [
            WarcReader(str(crawl), glob_pattern="*.warc.gz"),
            extractor,
            ParquetWriter(str(out / "shards")),
        ],
        tasks=len(files),
        workers=workers,
        logging_dir=str(out / "logs"),
    )
    started = time.perf_counter()
    executor.run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crawl", type=Path, help="folder of *.warc.gz files")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, help="also write the report here")
    parser.add_argument("--skip-trafilatura", action="store_true", help="skip the slow datatrove+Trafilatura run")
    args = parser.parse_args()
    files = sorted(glob.glob(str(args.crawl / "*.warc.gz")))
    report = common.Report()
    say = report.say

    total_bytes = sum(os.path.getsize(f) for f in files)
    say(f"bench/ingest.py on {platform.node()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d %H:%M')}")
    say(f"input: {len(files)} WARC.gz files, {total_bytes / 1e6:,.1f} MB, in {args.crawl}; workers: {args.workers}")
    html_ids = html_response_ids(files)
    say(f"HTML response records (counted with warcio): {len(html_ids):,}")
    rates = parser_speed(files)
    say(
        f"parsers alone, 1 process: fastwarc {rates['fastwarc']:,.0f} rec/s, warcio {rates['warcio']:,.0f} rec/s "
        f"-> fastwarc {rates['fastwarc'] / rates['warcio']:.1f}x"
    )

    work = Path(tempfile.mkdtemp(prefix="gristmill-bench-"))
    try:
        wall_g, kept, removed = run_gristmill(args.crawl, args.workers, work)
        missing = html_ids - kept - set(removed)
        removed_html = ", ".join(
            f"{rule} {count:,}"
            for rule, count in Counter(rule for doc_id, rule in removed.items() if doc_id in html_ids).most_common()
        )
        say(
            f"accounting: {len(html_ids) - len(missing):,}/{len(html_ids):,} HTML responses kept "
            f"({len(html_ids & kept):,}) or removed with a reason ({removed_html}); unaccounted: {len(missing)}"
        )
        contenders = {"gristmill run (fastwarc + resiliparse)": wall_g}
        contenders["datatrove WarcReader + gristmill extractor"] = run_datatrove(
            args.crawl, files, args.workers, work, GristmillExtractor()
        )
        if not args.skip_trafilatura:
            contenders["datatrove WarcReader + Trafilatura"] = run_datatrove(
                args.crawl, files, args.workers, work, Trafilatura(favour_precision=True, timeout=10)
            )
        say()
        say(f"{'pipeline':<46}{'wall s':>9}{'docs/s/core':>14}{'gristmill is':>15}")
        for name, wall in contenders.items():
            per_core = len(html_ids) / wall / args.workers
            say(f"{name:<46}{wall:>9.1f}{per_core:>14,.0f}{wall / wall_g:>14.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.save(args.output)


if __name__ == "__main__":
    main()
