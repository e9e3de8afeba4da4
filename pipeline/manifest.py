"""`shards/manifest.json`: what the final shards hold and what they were made from."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gristmill import __version__
from pipeline.atomic import write_json_atomic
from pipeline.inputs import InputFile


def write_manifest(
    shards: Path, files: list[InputFile], recipe_text: str, text_bytes: int, schema: pa.Schema
) -> dict[str, Any]:
    entries = []
    languages: Counter[str] = Counter()
    for path in sorted(shards.rglob("part-*.parquet")):
        parquet = pq.ParquetFile(path)
        entries.append(
            {
                "file": path.relative_to(shards).as_posix(),
                "documents": parquet.metadata.num_rows,
                "bytes": path.stat().st_size,
                "row_groups": parquet.metadata.num_row_groups,
            }
        )
        if "lang" in schema.names:
            languages.update(parquet.read(columns=["lang"]).column("lang").to_pylist())
    manifest = {
        "gristmill_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recipe_sha256": hashlib.sha256(recipe_text.encode("utf-8")).hexdigest(),
        "documents": sum(e["documents"] for e in entries),
        "bytes": sum(e["bytes"] for e in entries),
        "text_bytes": text_bytes,
        "shards": entries,
        "languages": dict(languages.most_common()),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
        "inputs": [{"path": f.path, "format": f.format, "size": f.size, "fingerprint": f.fingerprint} for f in files],
    }
    write_json_atomic(shards / "manifest.json", manifest)
    return manifest
