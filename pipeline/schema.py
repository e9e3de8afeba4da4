"""The Parquet document schema of DESIGN.md, and the schema of `removed/` outputs."""

import pyarrow as pa

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("date", pa.timestamp("us", tz="UTC")),
    ]
)

REMOVED_SCHEMA = DOCUMENT_SCHEMA.append(pa.field("removed_by", pa.string(), nullable=False)).append(
    pa.field("removed_detail", pa.string())
)
