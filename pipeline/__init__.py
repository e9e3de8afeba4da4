"""gristmill's data pipeline: crawl-ingest -> ... -> Parquet shards, run on datatrove executors."""
