"""The shard step on its own: per-language routing, stage columns, bounded buffering across writers."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document

from pipeline.recipe import ShardStage
from pipeline.steps.shard import ShardStep

COLUMNS = [pa.field("lang", pa.string()), pa.field("lang_score", pa.float32())]


def documents(count: int) -> list[Document]:
    langs = ["en", "en", "fr", "de"]
    return [
        Document(
            text=f"document {i} " + "x" * 400,
            id=f"doc-{i}",
            metadata={"source": "test", "lang": langs[i % 4], "lang_score": 0.9},
        )
        for i in range(count)
    ]


def test_routing_writes_every_document_once_with_bounded_buffers(tmp_path: Path) -> None:
    options = ShardStage(kind="shard", row_group_size=2_000)
    step = ShardStep(tmp_path, options, removed_stages=[], stage_columns=COLUMNS, route_by_lang=True)
    list(step.run(iter(documents(200)), rank=3))
    seen = {}
    for path in sorted((tmp_path / "shards").rglob("part-00003-*.parquet")):
        parquet = pq.ParquetFile(path)
        assert parquet.schema_arrow.names[-2:] == ["lang", "lang_score"]
        rows = parquet.read().to_pylist()
        assert {r["lang"] for r in rows} == {path.parent.name.removeprefix("lang=")}
        assert parquet.metadata.num_row_groups > 1  # flushed early: 2 kB of text across all writers
        seen.update({r["id"]: r["lang"] for r in rows})
    assert len(seen) == 200
    assert sorted({p.parent.name for p in (tmp_path / "shards").rglob("*.parquet")}) == [
        "lang=de",
        "lang=en",
        "lang=fr",
    ]


def test_a_document_without_lang_goes_to_unknown(tmp_path: Path) -> None:
    step = ShardStep(tmp_path, ShardStage(kind="shard"), removed_stages=[], stage_columns=COLUMNS, route_by_lang=True)
    doc = Document(text="text", id="x", metadata={"source": "test"})
    list(step.run(iter([doc]), rank=0))
    assert [p.parent.name for p in (tmp_path / "shards").rglob("*.parquet")] == ["lang=unknown"]
