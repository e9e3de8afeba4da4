"""The shard stage in whole runs: target sizes, hive partitions, the deterministic shuffle, the manifest, and
the shards opened as one dataset by polars and duckdb (and HF datasets where it is installed)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from crawl_factory import multilingual_entries, write_warc
from rich.console import Console

from pipeline.prepared import prepare_run
from pipeline.runner import execute

LANGUAGES = ["de", "en", "fr", "ja", "ru"]


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crawl")
    for part in range(3):
        write_warc(folder / f"part-{part}.warc.gz", multilingual_entries(30, f"http://site{part}.example/p"))
    return folder


def run(tmp_path: Path, crawl: Path, name: str, shard: str, tasks: int = 0, langid: bool = True) -> Path:
    stages = '[[stage]]\nkind = "langid"\nroute = true\n\n' if langid else ""
    recipe = tmp_path / f"{name}.toml"
    recipe.write_text(
        f'[executor]\nworkers = 2\ntasks = {tasks}\n\n[[stage]]\nkind = "ingest"\ninputs = ["{crawl}"]\n\n'
        f'{stages}[[stage]]\nkind = "shard"\n{shard}\n'
    )
    result = execute(prepare_run(recipe, output=tmp_path / name), Console(file=io.StringIO(), width=140))
    assert result.complete
    return tmp_path / name


def shard_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "shards").rglob("part-*.parquet"))


def ids_by_file(run_dir: Path) -> dict[str, list[str]]:
    shards = run_dir / "shards"
    return {
        p.relative_to(shards).as_posix(): pq.read_table(p, columns=["id"])["id"].to_pylist()
        for p in shard_files(run_dir)
    }


def test_shards_meet_the_target_size_with_streaming_row_groups(tmp_path: Path, crawl: Path) -> None:
    run_dir = run(tmp_path, crawl, "sized", 'shard_size = "3kB"\nrow_group_size = "1kB"', langid=False)
    by_task: dict[str, list[tuple[int, int]]] = {}
    for path in shard_files(run_dir):
        metadata = pq.ParquetFile(path).metadata
        text = metadata.schema.names.index("text")
        first = metadata.row_group(0).column(text)
        assert first.compression == "ZSTD" and first.has_offset_index and not first.is_stats_set
        assert metadata.row_group(0).column(0).is_stats_set  # id: statistics and column index
        for group in range(metadata.num_row_groups):  # a group holds about row_group_size of text
            assert metadata.row_group(group).column(text).total_uncompressed_size < 1_000 + 800
        chunks = [
            metadata.row_group(g).column(c) for g in range(metadata.num_row_groups) for c in range(metadata.num_columns)
        ]
        starts = [c.dictionary_page_offset or c.data_page_offset for c in chunks]
        data = max(start + c.total_compressed_size for start, c in zip(starts, chunks, strict=True))
        assert (
            min(starts[-metadata.num_columns :]) < 3_000
        )  # closed by the first row group that took it past the target
        by_task.setdefault(path.name[:10], []).append((data, metadata.num_rows))
    assert len(by_task) == 3
    for shards in by_task.values():  # only a task's last shard may fall short of the target
        assert len(shards) >= 2 and all(data >= 3_000 for data, _ in shards[:-1])
        assert sum(rows for _, rows in shards) == 30


def test_manifest_describes_what_is_on_disk(tmp_path: Path, crawl: Path) -> None:
    run_dir = run(tmp_path, crawl, "manifest", 'shard_size = "30kB"')
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    table = pl.read_parquet([str(p) for p in shard_files(run_dir)])
    text_bytes = table["text"].str.len_bytes()
    assert manifest["documents"] == table.height == 90
    assert manifest["text_bytes"] == text_bytes.sum()
    assert manifest["estimated_tokens"] == round(manifest["text_bytes"] / 4)
    assert manifest["bytes"] == sum(p.stat().st_size for p in shard_files(run_dir))
    per_lang = table.with_columns(size=text_bytes).group_by("lang").agg(pl.len(), pl.col("size").sum())
    assert manifest["languages"] == dict(zip(per_lang["lang"], per_lang["len"], strict=True))
    assert manifest["language_text_bytes"] == dict(zip(per_lang["lang"], per_lang["size"], strict=True))
    assert sorted(manifest["languages"]) == LANGUAGES
    assert {e["file"] for e in manifest["shards"]} == set(ids_by_file(run_dir))
    summary = json.loads((run_dir / "stats" / "summary.json").read_text())
    assert summary["stages"][-1]["bytes_out"] == manifest["text_bytes"]
    recipe = (run_dir / "recipe.toml").read_bytes()
    assert manifest["recipe_sha256"] == hashlib.sha256(recipe).hexdigest()
    inputs = manifest["inputs"]
    assert [Path(i["path"]).name for i in inputs] == ["part-0.warc.gz", "part-1.warc.gz", "part-2.warc.gz"]
    assert all(len(i["fingerprint"]) >= 16 and i["size"] > 0 for i in inputs)
    assert [c["name"] for c in manifest["schema"]] == ["id", "text", "url", "source", "date", "lang", "lang_score"]
    assert manifest["shuffled"] is False


def test_shuffle_is_global_and_the_same_for_any_task_count(tmp_path: Path, crawl: Path) -> None:
    plain = run(tmp_path, crawl, "plain", 'shard_size = "30kB"', langid=False)
    one = run(tmp_path, crawl, "one", 'shard_size = "30kB"\nshuffle = true', tasks=1, langid=False)
    three = run(tmp_path, crawl, "three", 'shard_size = "30kB"\nshuffle = true', tasks=3, langid=False)
    other_seed = run(tmp_path, crawl, "seed", 'shard_size = "30kB"\nshuffle = true\nshuffle_seed = 7', langid=False)
    assert ids_by_file(one) == ids_by_file(three)
    shuffled = [i for ids in ids_by_file(one).values() for i in ids]
    unshuffled = [i for ids in ids_by_file(plain).values() for i in ids]
    assert sorted(shuffled) == sorted(unshuffled) and shuffled != unshuffled
    assert [i for ids in ids_by_file(other_seed).values() for i in ids] != shuffled
    for path in shard_files(one):  # every shard mixes pages of the three crawl files
        assert pl.read_parquet(path)["url"].str.extract(r"//(site\d)").n_unique() == 3
    manifest = json.loads((one / "shards" / "manifest.json").read_text())
    assert manifest["shuffled"] is True and manifest["shuffle_seed"] == 0
    assert not (one / "shuffle" / "work").exists() and not (one / "ingest" / "docs").exists()


def test_routed_shuffled_shards_load_as_one_dataset_in_polars_and_duckdb(tmp_path: Path, crawl: Path) -> None:
    run_dir = run(tmp_path, crawl, "routed", 'shard_size = "30kB"\nshuffle = true')
    shards = run_dir / "shards"
    assert sorted(p.name for p in shards.iterdir() if p.is_dir()) == [f"lang={lang}" for lang in LANGUAGES]
    for path in shard_files(run_dir):
        assert set(pq.read_table(path, columns=["lang"])["lang"].to_pylist()) == {path.parent.name[5:]}
    expected = {i for ids in ids_by_file(run_dir).values() for i in ids}

    manifest = json.loads((shards / "manifest.json").read_text())
    lazy = pl.scan_parquet(shards / "**" / "*.parquet", hive_partitioning=True)
    counts = lazy.group_by("lang").agg(pl.len()).collect()
    assert dict(zip(counts["lang"], counts["len"], strict=True)) == manifest["languages"]
    assert set(lazy.select("id").collect()["id"]) == expected

    glob = str(shards / "**" / "*.parquet")
    rows = duckdb.sql(f"SELECT id, lang FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()
    assert {r[0] for r in rows} == expected and len(rows) == len(expected)
    ja = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true) WHERE lang = 'ja'")
    assert ja.fetchall()[0][0] == sum(1 for r in rows if r[1] == "ja") > 0


def test_shards_load_with_hugging_face_datasets(tmp_path: Path, crawl: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="HF datasets not installed (optional reader)")
    run_dir = run(tmp_path, crawl, "hf", 'shard_size = "30kB"')
    files = str(run_dir / "shards" / "**" / "*.parquet")  # lang=*/ folders
    loaded = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == 90 and set(loaded["lang"]) == set(LANGUAGES)
