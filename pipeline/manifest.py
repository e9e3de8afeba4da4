"""`shards/manifest.json`: what the final shards hold and what they were made from."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gristmill import __version__
from pipeline.atomic import write_json_atomic
from pipeline.inputs import InputFile
from pipeline.schema import DOCUMENT_SCHEMA


def write_manifest(shards: Path, files: list[InputFile], recipe_text: str, text_bytes: int) -> dict[str, Any]:
    entries = []
    for path in sorted(shards.glob("part-*.parquet")):
        metadata = pq.ParquetFile(path).metadata
        entries.append(
            {
                "file": path.name,
                "documents": metadata.num_rows,
                "bytes": path.stat().st_size,
                "row_groups": metadata.num_row_groups,
            }
        )
    manifest = {
        "gristmill_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recipe_sha256": hashlib.sha256(recipe_text.encode("utf-8")).hexdigest(),
        "documents": sum(e["documents"] for e in entries),
        "bytes": sum(e["bytes"] for e in entries),
        "text_bytes": text_bytes,
        "shards": entries,
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in DOCUMENT_SCHEMA],
        "inputs": [{"path": f.path, "format": f.format, "size": f.size, "fingerprint": f.fingerprint} for f in files],
    }
    write_json_atomic(shards / "manifest.json", manifest)
    return manifest
