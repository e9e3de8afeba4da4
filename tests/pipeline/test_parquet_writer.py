"""pipeline.parquet_writer: sized zstd shards with statistics and page index, written atomically."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.parquet_writer import ParquetShardWriter, remove_task_outputs
from pipeline.schema import DOCUMENT_SCHEMA


def rows(count: int, text_chars: int = 200, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "id": f"doc-{i:05d}",
            "text": "".join(rng.choices("abcdefghijklmnop qrstuvwxyz", k=text_chars)),
            "url": f"http://example.org/{i}" if i % 3 else None,
            "source": f"/in/crawl.warc.gz@{i * 100}",
            "date": datetime(2024, 1, 1 + i % 28, tzinfo=UTC) if i % 2 else None,
        }
        for i in range(count)
    ]


def write_all(directory: Path, data: list[dict], prefix: str = "task-00000", **sizes) -> list[Path]:
    writer = ParquetShardWriter(directory, prefix, DOCUMENT_SCHEMA, **sizes)
    for row in data:
        writer.write(row)
    return writer.close()


def test_rows_round_trip_in_order_with_the_document_schema(tmp_path: Path):
    data = rows(50)
    (shard,) = write_all(tmp_path / "out", data)
    assert shard.name == "task-00000-00000.parquet"
    table = pq.read_table(shard)
    assert table.schema == DOCUMENT_SCHEMA
    assert table.to_pylist() == data


def test_shards_roll_over_at_shard_bytes(tmp_path: Path):
    data = rows(600)
    shard_bytes = 30_000
    shards = write_all(tmp_path, data, shard_bytes=shard_bytes, row_group_bytes=4_000)
    assert [p.name for p in shards] == [f"task-00000-{i:05d}.parquet" for i in range(len(shards))]
    assert len(shards) >= 3
    for shard in shards[:-1]:
        assert shard.stat().st_size >= shard_bytes
        metadata = pq.ParquetFile(shard).metadata
        before_last_group = sum(
            metadata.row_group(g).column(c).total_compressed_size
            for g in range(metadata.num_row_groups - 1)
            for c in range(metadata.num_columns)
        )
        assert before_last_group < shard_bytes, "the shard was not closed as soon as it was big enough"
    ids = [i for shard in shards for i in pq.read_table(shard, columns=["id"]).column("id").to_pylist()]
    assert ids == [row["id"] for row in data]


def test_row_groups_follow_row_group_bytes(tmp_path: Path):
    (shard,) = write_all(tmp_path, rows(100, text_chars=100), row_group_bytes=1_000)
    metadata = pq.ParquetFile(shard).metadata
    assert metadata.num_row_groups == 10
    assert [metadata.row_group(i).num_rows for i in range(10)] == [10] * 10


def test_zstd_statistics_and_page_index_are_written(tmp_path: Path):
    """On every column but `text`, whose whole-document min/max would bloat the footer and prune nothing."""
    (shard,) = write_all(tmp_path, rows(300), row_group_bytes=20_000)
    parquet = pq.ParquetFile(shard)
    metadata = parquet.metadata
    assert metadata.num_row_groups > 1
    text = metadata.schema.names.index("text")
    for g in range(metadata.num_row_groups):
        assert not metadata.row_group(g).column(text).is_stats_set
        assert metadata.row_group(g).column(text).has_offset_index
        for c in set(range(metadata.num_columns)) - {text}:
            column = metadata.row_group(g).column(c)
            assert column.compression == "ZSTD"
            assert column.is_stats_set
            assert column.statistics.has_min_max or column.statistics.null_count == column.num_values
            if hasattr(column, "has_column_index"):  # pyarrow >= 19 reports the page index per column
                assert column.has_column_index and column.has_offset_index
    ids = metadata.row_group(0).column(0).statistics
    assert (ids.min, ids.max) == ("doc-00000", f"doc-{metadata.row_group(0).num_rows - 1:05d}")
    if not hasattr(metadata.row_group(0).column(0), "has_column_index"):  # older pyarrow: compare footers
        plain = tmp_path / "plain.parquet"
        pq.write_table(parquet.read(), plain, compression="zstd", row_group_size=metadata.row_group(0).num_rows)
        assert shard.stat().st_size > plain.stat().st_size


def test_compression_level_is_applied(tmp_path: Path):
    data = rows(400, text_chars=400)
    (fast,) = write_all(tmp_path / "fast", data, compression_level=1)
    (small,) = write_all(tmp_path / "small", data, compression_level=19)
    assert small.stat().st_size < fast.stat().st_size
    assert pq.read_table(small).equals(pq.read_table(fast))


def test_no_temp_files_are_left_after_close(tmp_path: Path):
    shards = write_all(tmp_path, rows(300), shard_bytes=20_000, row_group_bytes=5_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in shards)


def test_open_shard_is_only_a_hidden_temp_file_until_closed(tmp_path: Path):
    writer = ParquetShardWriter(tmp_path, "task-00003", DOCUMENT_SCHEMA, row_group_bytes=1_000)
    for row in rows(20):
        writer.write(row)
    assert [p.name for p in tmp_path.iterdir()] == [".task-00003-00000.parquet.tmp"]
    (shard,) = writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["task-00003-00000.parquet"]
    assert pq.read_table(shard).num_rows == 20


def test_nothing_written_means_no_file(tmp_path: Path):
    assert ParquetShardWriter(tmp_path / "out", "task-00000", DOCUMENT_SCHEMA).close() == []
    assert not (tmp_path / "out").exists()


def test_remove_task_outputs_deletes_only_that_task(tmp_path: Path):
    write_all(tmp_path, rows(100), prefix="task-00001", shard_bytes=10_000, row_group_bytes=3_000)
    write_all(tmp_path, rows(10), prefix="task-00010")
    write_all(tmp_path, rows(10), prefix="task-00002")
    (tmp_path / ".task-00001-00009.parquet.tmp").write_bytes(b"half a shard")
    (tmp_path / "manifest.json").write_text("{}")
    before = {p.name for p in tmp_path.iterdir()}
    assert len([n for n in before if "task-00001" in n]) >= 3

    remove_task_outputs(tmp_path, "task-00001")

    assert {p.name for p in tmp_path.iterdir()} == {n for n in before if "task-00001" not in n}
    assert "task-00010-00000.parquet" in before


def test_remove_task_outputs_of_a_missing_folder_is_a_no_op(tmp_path: Path):
    remove_task_outputs(tmp_path / "never-created", "task-00000")


def test_rerun_rewrites_the_same_names(tmp_path: Path):
    first = write_all(tmp_path, rows(200), shard_bytes=15_000, row_group_bytes=4_000)
    remove_task_outputs(tmp_path, "task-00000")
    second = write_all(tmp_path, rows(200), shard_bytes=15_000, row_group_bytes=4_000)
    assert first == second
