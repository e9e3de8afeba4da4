"""The Parquet document schema (docs/formats.md), and the schema of `removed/` outputs.

Stages add flat typed columns (`lang`, `lang_score`, `pii_email`, ...) after the base columns, in
recipe order, so every shard of a run has the same schema.
"""

from collections.abc import Sequence

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
REMOVAL_FIELDS = (pa.field("removed_by", pa.string(), nullable=False), pa.field("removed_detail", pa.string()))


def document_schema(stage_columns: Sequence[pa.Field] = ()) -> pa.Schema:
    return pa.schema([*DOCUMENT_SCHEMA, *stage_columns])


def removed_schema(stage_columns: Sequence[pa.Field] = ()) -> pa.Schema:
    """Removed documents may leave before a stage sets its columns, so those are nullable here."""
    return pa.schema([*DOCUMENT_SCHEMA, *(c.with_nullable(True) for c in stage_columns), *REMOVAL_FIELDS])
