"""What each model-scoring stage (`classifier`, `hf_classifier`) did: the distribution of its scores over the
documents it scored, split into those it passed and those it removed, its threshold (`min_score`, or the
cutoff of `keep_top_fraction`), and the documents on both sides of the threshold, nearest to it: where a
user sees whether the line falls in the right place.

A document removed by a later stage still counts as passed here: this stage let it through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from pipeline.report.documents import fetch_rows, sources
from pipeline.report.examples import EXAMPLE_CHARS
from pipeline.report.run_folder import RunFolder

SCORING_KINDS = ("classifier", "hf_classifier")
BINS = 20
POSITION = {"score": pl.Float64, "removed_here": pl.Boolean, "source": pl.UInt32, "group": pl.UInt32, "row": pl.UInt32}


def score_figures(run: RunFolder, samples: int = 3) -> list[dict[str, Any]]:
    return [_stage_scores(run, stage, samples) for stage in run.stages if stage["kind"] in SCORING_KINDS]


def _stage_scores(run: RunFolder, options: dict[str, Any], samples: int) -> dict[str, Any]:
    kind = options["kind"]
    column = f"{options.get('name', kind)}_score"
    scored = _scores(sources(run), column, kind)
    passed, removed = scored.filter(~pl.col("removed_here")), scored.filter(pl.col("removed_here"))
    values = scored["score"].to_numpy()
    low = min(0.0, float(values.min())) if len(values) else 0.0
    high = max(1.0, float(values.max())) if len(values) else 1.0
    edges = np.linspace(low, high, BINS + 1)
    threshold, rule = _threshold(run, options)
    return {
        "stage": kind,
        "column": column,
        "documents": scored.height,
        "removed": removed.height,
        "threshold": threshold,
        "rule": rule,
        "histogram": {
            "edges": [float(edge) for edge in edges],
            "passed": _histogram(passed["score"].to_numpy(), edges),
            "removed": _histogram(removed["score"].to_numpy(), edges),
        },
        "nearest_passed": _examples(run, passed.sort("score").head(samples)),
        "nearest_removed": _examples(run, removed.sort("score", descending=True).head(samples)),
    }


def _scores(files: list[tuple[Path, str | None]], column: str, kind: str) -> pl.DataFrame:
    """(score, removed_here, source, group, row) of every document with a score in `column`, one row group
    read at a time and only that column."""
    frames = [pl.DataFrame(schema=POSITION)]
    for source, (path, stage) in enumerate(files):
        parquet = pq.ParquetFile(path)
        if column not in parquet.schema_arrow.names:
            continue
        for group in range(parquet.metadata.num_row_groups):
            values = pl.Series("score", parquet.read_row_group(group, columns=[column]).column(column))
            frame = pl.DataFrame({"score": values.cast(pl.Float64)}).with_columns(
                removed_here=pl.lit(stage == kind),
                source=pl.lit(source, pl.UInt32),
                group=pl.lit(group, pl.UInt32),
                row=pl.int_range(pl.len(), dtype=pl.UInt32),
            )
            frames.append(frame.filter(pl.col("score").is_not_null()))
    return pl.concat(frames)


def _threshold(run: RunFolder, options: dict[str, Any]) -> tuple[float | None, str | None]:
    """The score the stage cut at and the rule that set it (None for a keep_label rule alone); the run's
    recipe.toml writes a rule that is off as `false`."""
    if options.get("keep_top_fraction") not in (None, False):
        rank = run.path / "stats" / options["kind"] / "rank.json"
        cutoff = json.loads(rank.read_text(encoding="utf-8")).get("cutoff_score") if rank.is_file() else None
        return cutoff, f"keep_top_fraction {options['keep_top_fraction']:g}"
    if options.get("min_score") not in (None, False):
        return float(options["min_score"]), "min_score"
    return None, None


def _histogram(values: np.ndarray, edges: np.ndarray) -> list[int]:
    counts, _ = np.histogram(values, bins=edges)
    return [int(count) for count in counts]


def _examples(run: RunFolder, rows: pl.DataFrame) -> list[dict[str, Any]]:
    """id, url, score and the start of the text of the chosen rows, read back by position."""
    documents = fetch_rows(run, rows, ["url", "text"]) if rows.height else []
    return [
        {"id": doc["id"], "url": doc["url"], "score": score, "text": (doc["text"] or "")[:EXAMPLE_CHARS]}
        for doc, score in zip(documents, rows["score"], strict=True)
    ]
