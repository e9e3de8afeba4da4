"""Packing documents into token shards: `gristmill pack` vs datatrove's `DocumentTokenizer` (HF `tokenizers`,
loading gristmill's exported `tokenizer.json`), on the same Parquet shards with the same number of workers.

Both run in a child process (wall time, sampled peak RSS) on a LocalPipelineExecutor with one task per
input file and --workers processes (HF's own threads limited to one per process with RAYON_NUM_THREADS,
as each worker process is one core's share): gristmill writes `.bin`/`.idx` per task, datatrove its `.ds`
files (no shuffling). The token counts of both are printed and must match (the same tokenizer, EOS after
each document).

Usage (from the repository root):
  python bench/pack.py --tokenizer /tmp/gristmill-tokenizer-bench/multilingual/gristmill-32768-1 \
      --input /tmp/all/shards [--workers 2] [--output bench/results/pack.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import common  # first: one thread per process for numeric libraries

EOS = "<|endoftext|>"


def run_datatrove(tokenizer: Path, shards: Path, out: Path, workers: int, tasks: int) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.tokens import DocumentTokenizer

    steps = [
        ParquetReader(str(shards), glob_pattern="**/part-*.parquet", text_key="text", id_key="id"),
        DocumentTokenizer(
            str(out / "tokens"), str(tokenizer / "tokenizer.json"), eos_token=EOS, shuffle_documents=False
        ),
    ]
    LocalPipelineExecutor(steps, tasks=tasks, workers=workers, logging_dir=str(out / "logs")).run()


def datatrove_tokens(out: Path) -> int:
    """Tokens written: datatrove's .ds files hold uint16 ids (vocab <= 65536)."""
    return sum(path.stat().st_size // 2 for path in (out / "tokens").rglob("*.ds"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tokenizer", type=Path, default=Path("/tmp/gristmill-tokenizer-bench/multilingual/gristmill-32768-1")
    )
    parser.add_argument("--input", type=Path, default=Path("/tmp/all/shards"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gristmill-pack-bench"))
    parser.add_argument("--output", type=Path)
    parser.add_argument("--datatrove-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datatrove_child:
        tokenizer, shards, out, workers = args.datatrove_child
        tasks = len(list(Path(shards).rglob("part-*.parquet")))
        run_datatrove(Path(tokenizer), Path(shards), Path(out), int(workers), tasks)
        return
    report = common.Report()
    say = report.say
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    files = sorted(args.input.rglob("part-*.parquet"))
    say(f"pack bench on {common.cpu_model()}, {common.versions('datatrove', 'tokenizers')}")
    say(f"input: {len(files)} shards, {sum(f.stat().st_size for f in files) / 1e6:,.0f} MB on disk, {args.input}; "
        f"tokenizer {args.tokenizer}; {args.workers} workers")  # fmt: skip
    os.environ["RAYON_NUM_THREADS"] = "1"
    ours_dir = args.work / "gristmill"
    command = ["-m", "gristmill", "pack", "--tokenizer", str(args.tokenizer), "--input", str(args.input),
               "--output", str(ours_dir), "--workers", str(args.workers), "--val-fraction", "0.01"]  # fmt: skip
    ours = common.run_child([sys.executable, *command], args.work / "gristmill.log")
    manifest = json.loads((ours_dir / "manifest.json").read_text())
    our_tokens = manifest["train"]["tokens"] + manifest["val"]["tokens"]
    theirs_dir = args.work / "datatrove"
    child = [sys.executable, __file__, "--datatrove-child", str(args.tokenizer), str(args.input), str(theirs_dir),
             str(args.workers)]  # fmt: skip
    theirs = common.run_child(child, args.work / "datatrove.log")
    their_tokens = datatrove_tokens(theirs_dir)
    rows = [
        ["gristmill pack", f"{our_tokens:,}", f"{ours.wall_s:,.1f}", f"{our_tokens / ours.wall_s:,.0f}",
         f"{ours.tree_rss / 2**20:,.0f}"],
        ["datatrove DocumentTokenizer", f"{their_tokens:,}", f"{theirs.wall_s:,.1f}",
         f"{their_tokens / theirs.wall_s:,.0f}", f"{theirs.tree_rss / 2**20:,.0f}"],
    ]  # fmt: skip
    common.table(say, ["", "tokens", "wall s", "tokens/s", "peak RSS of all processes MiB"], rows)
    say(f"gristmill / datatrove tokens/s: {(our_tokens / ours.wall_s) / (their_tokens / theirs.wall_s):.2f}x; "
        f"token counts {'equal' if our_tokens == their_tokens else 'DIFFER'}")  # fmt: skip
    say(round_trip(ours_dir, files))
    report.save(args.output)


def round_trip(packed: Path, files: list[Path]) -> str:
    """Decode every packed document and compare with the input texts, split by split."""
    import numpy as np
    import pyarrow.parquet as pq

    sys.path.remove(str(Path(__file__).resolve().parent))  # bench/tokenizer.py would hide the package
    from pipeline.pack import is_validation
    from tokenizer import Tokenizer

    manifest = json.loads((packed / "manifest.json").read_text())
    tokenizer = Tokenizer.load(manifest["tokenizer"])
    decoded: dict[str, list[str]] = {}
    for split in ("train", "val"):
        decoded[split] = []
        for shard in manifest[split]["shards"]:
            tokens = np.fromfile(packed / shard["bin"], dtype=manifest["dtype"])
            start = 0
            for end in np.fromfile(packed / shard["idx"], dtype="<i8"):
                assert tokens[end - 1] == manifest["eos_id"], "a document not ended by EOS"
                decoded[split].append(tokenizer.decode(tokens[start : end - 1].tolist()))
                start = end
    rows = [r for path in files for r in pq.read_table(path, columns=["id", "text"]).to_pylist()]
    fraction = manifest["val_fraction"]
    expected = {split: sorted(r["text"] for r in rows if is_validation(r["id"], fraction) == (split == "val"))
                for split in ("train", "val")}  # fmt: skip
    equal = all(sorted(decoded[split]) == expected[split] for split in ("train", "val"))
    return (
        f"round trip: {len(decoded['train']):,} train + {len(decoded['val']):,} val documents decoded, each ended "
        f"by EOS; equal to the {len(rows):,} input texts, split by id: {'yes' if equal else 'NO'}"
    )


if __name__ == "__main__":
    main()
