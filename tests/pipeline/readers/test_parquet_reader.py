"""pipeline.readers.parquet on real Parquet files written by pyarrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.inputs import InputFile
from pipeline.readers import ReaderOptions, Record, read_records


def read(path: Path, **options) -> list[Record]:
    return list(read_records(InputFile(str(path), "parquet", path.stat().st_size, "test"), ReaderOptions(**options)))


def test_rows_become_documents_with_configured_columns(tmp_path: Path):
    table = pa.table(
        {
            "body": ["first", "second", "third"],
            "key": ["k1", "k2", "k3"],
            "link": ["http://example.org/1", None, "http://example.org/3"],
            "fetched": pa.array([datetime(2024, 1, 2, 3, 4, 5), None, datetime(2020, 2, 29)], pa.timestamp("ms")),
            "other": [1, 2, 3],
        }
    )
    path = tmp_path / "docs.parquet"
    pq.write_table(table, path)
    records = read(path, text_field="body", id_field="key", url_field="link", date_field="fetched")
    assert [(r.text, r.id, r.url) for r in records] == [
        ("first", "k1", "http://example.org/1"),
        ("second", "k2", None),
        ("third", "k3", "http://example.org/3"),
    ]
    assert [r.date for r in records] == [
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        None,
        datetime(2020, 2, 29, tzinfo=UTC),
    ]
    assert [r.source for r in records] == [f"{path}#0", f"{path}#1", f"{path}#2"]
    assert [r.raw_bytes for r in records] == [5, 6, 5]


def test_nulls_missing_text_and_missing_ids(tmp_path: Path):
    table = pa.table({"text": ["kept", None, "no id"], "id": ["a", "b", None], "url": [None, None, None]})
    path = tmp_path / "nulls.parquet"
    pq.write_table(table, path)
    records = read(path)
    assert [(r.removed_by, r.text) for r in records] == [(None, "kept"), ("missing_text", None), (None, "no id")]
    assert records[1].removed_detail == "field 'text' is absent"
    assert records[0].id == "a"
    assert len(records[2].id) == 32  # a hash of file and row: stable and unique
    assert records[2].id == read(path)[2].id
    assert all(r.url is None for r in records)


def test_timestamp_columns_keep_their_instant(tmp_path: Path):
    berlin = timezone(timedelta(hours=1))
    table = pa.table(
        {
            "text": ["a", "b", "c", "d"],
            "date": pa.array(
                [
                    datetime(2024, 1, 1, 12, 0, tzinfo=berlin),
                    datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
                    None,
                    datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="Europe/Berlin"),
            ),
        }
    )
    path = tmp_path / "tz.parquet"
    pq.write_table(table, path)
    dates = [r.date for r in read(path)]
    assert dates[0] == datetime(2024, 1, 1, 11, 0, tzinfo=UTC)
    assert dates[1] == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert dates[2] is None
    assert dates[3] == datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert all(d is None or d.tzinfo is not None for d in dates)


def test_string_and_integer_date_columns_are_parsed(tmp_path: Path):
    path = tmp_path / "dates.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "iso": ["2021-06-01T10:00:00+02:00", "garbage"]}), path)
    assert [r.date for r in read(path, date_field="iso")] == [datetime(2021, 6, 1, 8, 0, tzinfo=UTC), None]
    path = tmp_path / "epoch.parquet"
    pq.write_table(pa.table({"text": ["a"], "date": [86400]}), path)
    assert read(path)[0].date == datetime(1970, 1, 2, tzinfo=UTC)


def test_many_row_groups_stream_out_in_order(tmp_path: Path):
    count = 2500
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(count)]}), path, row_group_size=700)
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    records = read(path)
    assert [r.text for r in records] == [f"row {i}" for i in range(count)]
    positions = [r.position for r in records]  # file bytes, for the progress bar: rows spread evenly
    assert positions[0] == 0 and positions == sorted(positions) and positions[-1] < path.stat().st_size
    assert len({r.id for r in records}) == count


def test_empty_file_is_one_empty_file_record(tmp_path: Path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    (record,) = read(path)
    assert (record.removed_by, record.source) == ("empty_file", f"{path}#0")


def test_truncated_file_is_a_corrupt_stream(tmp_path: Path):
    path = tmp_path / "cut.parquet"
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(100)]}), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    (record,) = read(path)
    assert (record.removed_by, record.source) == ("corrupt_stream", f"{path}#0")
    assert record.removed_detail.endswith("rest of file skipped")


def test_damaged_row_group_keeps_the_rows_before_it(tmp_path: Path):
    path = tmp_path / "damaged.parquet"
    pq.write_table(
        pa.table({"text": [f"row number {i} " * 5 for i in range(3000)]}),
        path,
        row_group_size=1024,  # = the reader's batch size, so each batch is one row group
        compression="zstd",
        use_dictionary=False,
    )
    second_group = pq.ParquetFile(path).metadata.row_group(1).column(0)
    data = bytearray(path.read_bytes())
    start = second_group.data_page_offset
    data[start : start + 64] = b"\xff" * 64  # the page header of the second row group
    path.write_bytes(bytes(data))

    records = read(path)
    *rows, damage = records
    assert [r.text for r in rows] == [f"row number {i} " * 5 for i in range(1024)]
    assert (damage.removed_by, damage.source) == ("corrupt_stream", f"{path}#1024")
