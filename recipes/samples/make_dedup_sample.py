"""Write `dedup.jsonl.gz`: the text the quickstart recipe extracts from `quickstart.warc.gz`, as JSONL.

Usage: gristmill run recipes/quickstart.toml --output /tmp/quickstart
       python recipes/samples/make_dedup_sample.py /tmp/quickstart [recipes/samples/dedup.jsonl.gz]
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pyarrow.dataset as ds


def main(run_dir: str, output: str = str(Path(__file__).with_name("dedup.jsonl.gz"))) -> None:
    table = ds.dataset(
        sorted(str(p) for p in (Path(run_dir) / "shards").glob("part-*.parquet")), format="parquet"
    ).to_table(columns=["id", "url", "text"])
    rows = sorted(table.to_pylist(), key=lambda row: row["url"])
    with gzip.open(output, "wt", encoding="utf-8", compresslevel=9) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} documents -> {output}")


if __name__ == "__main__":
    main(*sys.argv[1:])
