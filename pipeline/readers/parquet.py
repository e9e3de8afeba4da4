"""Parquet reader: streams record batches, never the whole file; columns named in the recipe."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow.parquet as pq

from pipeline.readers.opening import open_input
from pipeline.readers.record import ReaderOptions, Record, failure, fill_from_fields, stable_id

BATCH_ROWS = 1024


def read_parquet(path: str, options: ReaderOptions) -> Iterator[Record]:
    row = 0
    try:
        with open_input(path) as handle:
            parquet = pq.ParquetFile(handle)
            rows = parquet.metadata.num_rows
            file_bytes = handle.seek(0, 2)  # progress is counted in file bytes: rows map onto them evenly
            wanted = [options.text_field, options.id_field, options.url_field, options.date_field]
            columns = [c for c in dict.fromkeys(wanted) if c and c in parquet.schema_arrow.names]
            if rows == 0:
                yield failure(f"{path}#0", 0, "empty_file", "the file holds no rows")
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                for values in batch.to_pylist():
                    source = f"{path}#{row}"
                    record = Record(id=stable_id(source), source=source, position=file_bytes * row // rows)
                    record = fill_from_fields(record, values, options)
                    record.raw_bytes = len(record.text.encode("utf-8")) if record.text else 0
                    yield record
                    row += 1
    except Exception as error:  # pyarrow raises ArrowInvalid/OSError variants for damaged files
        yield failure(f"{path}#{row}", row, "corrupt_stream", f"{type(error).__name__}: {error}; rest of file skipped")
