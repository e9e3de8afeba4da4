"""`shards/manifest.json`: what the final shards hold and what they were made from."""

from __future__ import annotations

import hashlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gristmill_base.atomic import write_json_atomic
from gristmill_base.version import __version__
from pipeline.inputs import InputFile

BYTES_PER_TOKEN = 4.0
TOKEN_ESTIMATE = "UTF-8 text bytes / 4: GPT-style byte-level BPE on English; the packed shards count tokens exactly"


def write_manifest(
    shards: Path, files: list[InputFile], recipe_text: str, schema: pa.Schema, shuffle_seed: int | None = None
) -> dict[str, Any]:
    """Counts are read back from the shards themselves, so the manifest describes what is on disk."""
    paths = sorted(shards.rglob("part-*.parquet"))
    with ThreadPoolExecutor() as pool:  # pyarrow decodes without the GIL: one footer and two columns per file
        described = list(pool.map(lambda path: _describe(path, shards, "lang" in schema.names), paths))
    entries = [entry for entry, _ in described]
    languages: Counter[str] = Counter()
    language_bytes: Counter[str] = Counter()
    for _, by_language in described:
        for lang, (documents, text_bytes) in by_language.items():
            languages[lang] += documents
            language_bytes[lang] += text_bytes
    text_bytes = sum(e["text_bytes"] for e in entries)
    manifest = {
        "gristmill_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recipe_sha256": hashlib.sha256(recipe_text.encode("utf-8")).hexdigest(),
        "documents": sum(e["documents"] for e in entries),
        "bytes": sum(e["bytes"] for e in entries),
        "text_bytes": text_bytes,
        "estimated_tokens": round(text_bytes / BYTES_PER_TOKEN),
        "token_estimate": TOKEN_ESTIMATE,
        "shuffled": shuffle_seed is not None,
        "shuffle_seed": shuffle_seed,
        "shards": entries,
        "languages": dict(languages.most_common()),
        "language_text_bytes": {lang: language_bytes[lang] for lang, _ in languages.most_common()},
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
        "inputs": [{"path": f.path, "format": f.format, "size": f.size, "fingerprint": f.fingerprint} for f in files],
    }
    write_json_atomic(shards / "manifest.json", manifest)
    return manifest


def _describe(path: Path, shards: Path, has_lang: bool) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    parquet = pq.ParquetFile(path)
    table = parquet.read(columns=["text", "lang"] if has_lang else ["text"])
    sizes = pc.binary_length(pc.cast(table.column("text"), pa.large_binary()))
    entry = {
        "file": path.relative_to(shards).as_posix(),
        "documents": parquet.metadata.num_rows,
        "bytes": path.stat().st_size,
        "text_bytes": pc.sum(sizes).as_py() or 0,
        "row_groups": parquet.metadata.num_row_groups,
    }
    by_language: dict[str, tuple[int, int]] = {}
    if has_lang:
        grouped = (
            pa.table({"lang": table.column("lang"), "size": sizes})
            .group_by("lang")
            .aggregate([("size", "count"), ("size", "sum")])
        )
        for lang, count, total in zip(*(grouped.column(i).to_pylist() for i in range(3)), strict=True):
            by_language[lang] = (count, total)
    return entry, by_language
