"""`gristmill report` at scale: a finished run of N documents (default 1,000,000) in the real run-folder layout,
reported in a child process (wall time, sampled peak RSS), beside duckdb computing the core aggregates of
the same files (removed documents and bytes per stage and rule, kept length percentiles, languages, top
domains) in another child process. The report does more than those aggregates (examples with their text,
kept examples measured again, HTML, JSON, the checks of stats against files): the duckdb figure is the
floor of reading the same bytes, not an equal task.

The run folder is generated once and reused (`--work`): documents built from a pool of synthetic
paragraphs (so texts vary in length like web pages: 1 to 20 paragraphs, 5 on average), 60% kept and routed to
`shards/lang=*/` with zstd shards written by gristmill's own writer, the rest in `removed/<stage>/` with
the rules and details a real run writes (ingest non_html with no text, lang_not_kept, gopher_duplicate_lines,
gopher_word_count, near_duplicate), the stats files, clusters.json and manifest.json made by gristmill's code.

Usage (from the repository root):
  python bench/report.py [--documents 1000000] [--work /tmp/gristmill-report-bench] [--output bench/results/report.txt]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import common  # first: one thread per process for numeric libraries
import numpy as np
import pyarrow as pa
import tomli_w

from pipeline.dedup.stages import MinhashDedupStage, dedup_columns
from pipeline.filters.langid import LANG_COLUMNS
from pipeline.manifest import write_manifest
from pipeline.parquet_writer import ParquetShardWriter
from pipeline.schema import document_schema, removed_schema
from pipeline.steps.counters import StageCounters
from pipeline.summary import load_stage_totals, save_summary

STAGES = ["ingest", "langid", "gopher_repetition", "gopher_quality", "minhash_dedup", "shard"]
REMOVALS = [  # stage, rule, share of all documents
    ("ingest", "non_html", 0.05),
    ("langid", "lang_not_kept", 0.08),
    ("gopher_repetition", "gopher_duplicate_lines", 0.06),
    ("gopher_quality", "gopher_word_count", 0.09),
    ("minhash_dedup", "near_duplicate", 0.12),
]
LANGUAGES = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "ja"]
LANGUAGE_SHARES = [0.55, 0.09, 0.08, 0.07, 0.05, 0.04, 0.04, 0.03, 0.03, 0.02]


def synthetic_words(rng: np.random.Generator, count: int) -> list[str]:
    letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
    weights = np.linspace(2.0, 0.1, len(letters))
    lengths = rng.integers(2, 11, count)
    return ["".join(rng.choice(letters, n, p=weights / weights.sum())) for n in lengths]


def paragraph_pool(rng: np.random.Generator, size: int = 6000) -> list[str]:
    words = np.array(synthetic_words(rng, 8000))
    zipf = 1.0 / np.arange(1, len(words) + 1)
    pool = []
    for _ in range(size):
        chosen = rng.choice(words, rng.integers(25, 140), p=zipf / zipf.sum())
        pool.append(" ".join(chosen).capitalize() + ".")
    return pool


def generate_run(run_dir: Path, documents: int, seed: int) -> None:
    """The run folder a real recipe would leave, built with gristmill's own writers and counters."""
    rng = np.random.default_rng(seed)
    pool = paragraph_pool(rng)
    domains = [f"site{i}.example" for i in range(3000)]
    domain_p = 1.0 / np.arange(1, len(domains) + 1) ** 0.9
    columns = [*LANG_COLUMNS, *dedup_columns(MinhashDedupStage())]
    counters = {stage: StageCounters(stage, 0) for stage in STAGES}
    kept_writers: dict[str, ParquetShardWriter] = {}
    removed_writers: dict[str, ParquetShardWriter] = {}
    kinds = rng.choice(len(REMOVALS) + 1, documents, p=[r[2] for r in REMOVALS] + [1 - sum(r[2] for r in REMOVALS)])
    paragraphs = np.minimum(rng.geometric(0.2, documents), 20)
    langs = rng.choice(LANGUAGES, documents, p=LANGUAGE_SHARES)
    hosts = rng.choice(len(domains), documents, p=domain_p / domain_p.sum())
    clusters: dict[int, int] = {}
    last_kept: tuple[str, str] | None = None
    started = time.perf_counter()
    for i in range(documents):
        if i and i % 100_000 == 0:
            print(f"  generated {i:,} documents in {time.perf_counter() - started:,.0f} s", flush=True)
        doc_id, url = f"doc-{i:09d}", f"https://{domains[hosts[i]]}/page/{i}"
        text = "\n\n".join(pool[j] for j in rng.integers(0, len(pool), paragraphs[i]))
        row = {"id": doc_id, "text": text, "url": url, "source": f"crawl-{i // 50_000:03d}.warc.gz:{i}"}
        kind = int(kinds[i])
        if kind == len(REMOVALS) or (kind == 4 and last_kept is None):
            row.update(lang=str(langs[i]), lang_score=0.9, minhash_dedup_cluster_size=1)
            _through(counters, STAGES, len(text.encode()))
            _writer(kept_writers, run_dir / "shards" / f"lang={langs[i]}", document_schema(columns)).write(row)
            last_kept = (doc_id, text)
            continue
        stage, rule, _ = REMOVALS[kind]
        if rule == "non_html":
            row["text"], detail = "", "image/png"
        elif rule == "lang_not_kept":
            row.update(lang="ko", lang_score=0.99)
            detail = "lang=ko score=0.990 not in ['en', 'de', 'fr', 'es', 'it', 'pt', 'nl', 'pl', 'ru', 'ja']"
        elif rule == "gopher_duplicate_lines":
            row["text"] = "\n".join([pool[i % len(pool)][:60]] * 12)
            detail = "duplicate_lines=0.9167 > 0.3"
        elif rule == "gopher_word_count":
            row["text"] = pool[i % len(pool)][:80]
            detail = f"words={len(row['text'].split())} < 50"
        else:
            kept_id, kept_text = last_kept  # type: ignore[misc]
            row["text"] = kept_text + "\n\nShared on social media."
            clusters[len(clusters)] = 2
            detail = f"duplicate of {kept_id} (cluster {len(clusters)}, 2 documents)"
            row.update(minhash_dedup_cluster=len(clusters), minhash_dedup_cluster_size=2, minhash_dedup_kept_id=kept_id)
        row.update(removed_by=rule, removed_detail=detail)
        size = len(row["text"].encode())
        before = STAGES[: STAGES.index(stage)]
        _through(counters, before, size)
        counters[stage].count_removed(rule, size)
        counters[stage].bytes_in += size
        _writer(removed_writers, run_dir / "removed" / stage, removed_schema(columns)).write(row)
    for writer in [*kept_writers.values(), *removed_writers.values()]:
        writer.close()
    for stage_counters in counters.values():
        stage_counters.save(run_dir)
    recipe = {
        "run": {"name": "report-bench"},
        "stage": [
            {"kind": "ingest", "inputs": ["synthetic"]},
            {"kind": "langid", "keep": LANGUAGES},
            {"kind": "gopher_repetition"},
            {"kind": "gopher_quality"},
            {"kind": "minhash_dedup", "bands": 12, "rows": 10},
            {"kind": "shard"},
        ],
    }
    recipe_text = tomli_w.dumps(recipe)
    (run_dir / "recipe.toml").write_text(recipe_text)
    save_summary(run_dir, load_stage_totals(run_dir, STAGES), time.perf_counter() - started)
    write_manifest(run_dir / "shards", [], recipe_text, document_schema(columns))
    sizes = {"2": len(clusters)}
    cluster_stats = {"documents": 0, "clusters": len(clusters), "documents_in_clusters": 2 * len(clusters)}
    cluster_stats |= {"removed": len(clusters), "cluster_sizes": sizes, "seconds": 0.0}
    (run_dir / "stats" / "minhash_dedup" / "clusters.json").write_text(json.dumps(cluster_stats))


def _through(counters: dict[str, StageCounters], stages: list[str], size: int) -> None:
    for stage in stages:
        counters[stage].count_kept(size)
        counters[stage].bytes_in += size


def _writer(writers: dict[str, ParquetShardWriter], folder: Path, schema: pa.Schema) -> ParquetShardWriter:
    key = str(folder)
    if key not in writers:
        writers[key] = ParquetShardWriter(folder, "part-00000", schema)
    return writers[key]


DUCKDB_QUERIES = {
    "removed per stage and rule": """
        SELECT split_part(filename, '/removed/', 2) AS file, removed_by, count(*), sum(strlen(text))
        FROM read_parquet('{run}/removed/*/*.parquet', filename = true, union_by_name = true) GROUP BY ALL""",
    "kept length percentiles": """
        SELECT quantile_cont(strlen(text), [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]), avg(strlen(text))
        FROM read_parquet('{run}/shards/*/*.parquet')""",
    "languages": """
        SELECT lang, count(*), sum(strlen(text)) FROM read_parquet('{run}/shards/*/*.parquet') GROUP BY 1""",
    "top domains": """
        SELECT regexp_extract(url, '^[a-z]+://([^/:?#]+)', 1) AS domain, count(*) AS n
        FROM read_parquet(['{run}/shards/*/*.parquet', '{run}/removed/*/*.parquet'], union_by_name = true)
        GROUP BY 1 ORDER BY n DESC LIMIT 20""",
}


def run_duckdb(run_dir: Path) -> None:
    import duckdb

    for name, query in DUCKDB_QUERIES.items():
        started = time.perf_counter()
        duckdb.sql(query.format(run=run_dir)).fetchall()
        print(f"{name}: {time.perf_counter() - started:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gristmill-report-bench"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--duckdb-run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_run:
        run_duckdb(args.duckdb_run)
        return
    report = common.Report()
    say = report.say
    run_dir = args.work / f"run-{args.documents}"
    if not (run_dir / "shards" / "manifest.json").is_file():
        say(f"generating a run of {args.documents:,} documents at {run_dir} (once; reused after)")
        generate_run(run_dir, args.documents, args.seed)
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    removed_bytes = sum(p.stat().st_size for p in (run_dir / "removed").rglob("*.parquet"))
    say(f"report bench on {common.cpu_model()}, {common.versions('polars', 'pyarrow', 'duckdb')}")
    say(
        f"run: {args.documents:,} documents; kept {manifest['documents']:,} ({manifest['text_bytes'] / 1e9:.2f} GB "
        f"of text, {manifest['bytes'] / 1e6:,.0f} MB in {len(manifest['shards'])} shards); "
        f"removed/ {removed_bytes / 1e6:,.0f} MB"
    )
    html, figures = args.work / "report.html", args.work / "report.json"
    command = [sys.executable, "-m", "gristmill", "report", str(run_dir), "--html", str(html), "--json", str(figures)]
    ours = common.run_child(command, args.work / "report.log")
    data = json.loads(figures.read_text())
    failed = [c["what"] for c in data["checks"] if not c["ok"]]
    peer = common.run_child([sys.executable, __file__, "--duckdb-run", str(run_dir)], args.work / "duckdb.log")
    rows = [
        ["gristmill report (all figures, examples, HTML, JSON)", f"{ours.wall_s:,.1f}", f"{ours.max_rss / 2**20:,.0f}"],
        ["duckdb: the four core aggregates only", f"{peer.wall_s:,.1f}", f"{peer.max_rss / 2**20:,.0f}"],
    ]
    common.table(say, ["", "wall s", "peak RSS MiB"], rows)
    say(f"gristmill / duckdb wall time: {ours.wall_s / peer.wall_s:.2f}x")
    say(f"HTML {html.stat().st_size / 1e6:.1f} MB, JSON {figures.stat().st_size / 1e6:.1f} MB")
    say(f"checks: {len(data['checks'])} run, {len(failed)} failed {failed if failed else ''}")
    say(f"under a minute: {'yes' if ours.wall_s < 60 else 'NO'}")
    report.save(args.output)


if __name__ == "__main__":
    main()
