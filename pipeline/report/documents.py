"""One lazy pass over every document a run wrote (kept shards and `removed/`), reduced to a few small
columns per document: the text is read once, to measure it, and never held.

A row is (stage, rule, bytes, domain, lang, key): `stage` and `rule` are null for kept documents, `bytes`
is the UTF-8 length of the text as it left the run, `key` a hash of the id that orders samples.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.report.run_folder import RunFolder

DOMAIN = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(?:www\.)?([^:/?#]+)"
SAMPLE_SEED = 20_241_128


def sample_key() -> pl.Expr:
    """Deterministic pseudo-random order of documents: the same run always shows the same examples."""
    return pl.col("id").hash(SAMPLE_SEED)


def domain_of(url: pl.Expr) -> pl.Expr:
    return url.str.extract(DOMAIN, 1).str.to_lowercase()


def scan_documents(files: list[Path]) -> pl.LazyFrame:
    """The files as one lazy frame; routed shards keep `lang` in the file, so hive folders are ignored."""
    return pl.scan_parquet(files, hive_partitioning=False)


def document_frame(run: RunFolder) -> pl.DataFrame:
    parts = [_measured(run.shard_files(), None)]
    parts += [_measured(run.removed_files(stage), stage) for stage in run.removed_stages()]
    return pl.concat([p for p in parts if p is not None]).collect(engine="streaming")


def _measured(files: list[Path], stage: str | None) -> pl.LazyFrame | None:
    if not files:
        return None
    scan = scan_documents(files)
    names = scan.collect_schema().names()
    return scan.select(
        pl.lit(stage, pl.String).alias("stage"),
        (pl.col("removed_by") if stage else pl.lit(None, pl.String)).alias("rule"),
        pl.col("text").str.len_bytes().alias("bytes"),
        domain_of(pl.col("url")).alias("domain"),
        (pl.col("lang") if "lang" in names else pl.lit(None, pl.String)).alias("lang"),
        sample_key().alias("key"),
    )


def entering_filters(frame: pl.DataFrame) -> pl.DataFrame:
    """The documents as the first stage after ingest saw them: kept ones and those removed after ingest
    (pages blocked by URL before extraction have no text and are left out)."""
    return frame.filter(pl.col("stage").is_null() | ((pl.col("stage") != "ingest") & (pl.col("bytes") > 0)))


def kept(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("stage").is_null())
