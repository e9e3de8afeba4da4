"""Byte-level BPE side by side: gristmill vs HF `tokenizers` (BpeTrainer, ByteLevel, the same GPT-4 regex) vs
`rustbpe` for training, and gristmill vs tiktoken (an `Encoding` built from gristmill's ranks) vs HF for
encoding, on the same real corpus.

The corpus is the first --megabytes of text of gristmill shards (default: the benchmark crawl's ingest,
stripped HTML documentation in ~30 languages, `/tmp/all/shards`), written once to a JSONL file. Every
measurement runs in a child process (wall time, peak RSS sampled from /proc) with the thread or worker
count stated: training with 2 (gristmill workers, RAYON_NUM_THREADS for the Rust ones); encoding with 1
and 2. Encoding reads the first --encode-megabytes of the corpus; the three id lists are compared.

Usage (from the repository root, after `pip install -e ".[dev,bench]"`):
  python bench/tokenizer.py [--shards /tmp/all/shards] [--megabytes 40] [--vocab 8192 32768] [--output FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import common  # first: one thread per process for numeric libraries
import pyarrow.parquet as pq

sys.path.remove(str(Path(__file__).resolve().parent))  # this file's name would hide the `tokenizer` package

SPECIAL = "<|endoftext|>"


def write_corpus(shards: Path, megabytes: float, path: Path) -> tuple[int, int]:
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        return len(lines), sum(len(json.loads(line)["text"].encode()) for line in lines)
    budget, documents, size = int(megabytes * 1e6), 0, 0
    with open(path, "w", encoding="utf-8") as out:
        for file in sorted(shards.rglob("part-*.parquet")):
            for text in pq.read_table(file, columns=["text"])["text"].to_pylist():
                out.write(json.dumps({"text": text}) + "\n")
                documents, size = documents + 1, size + len(text.encode())
                if size >= budget:
                    return documents, size
    return documents, size


def texts(corpus: Path, megabytes: float | None = None) -> list[str]:
    found, size = [], 0
    for line in corpus.read_text(encoding="utf-8").splitlines():
        found.append(json.loads(line)["text"])
        size += len(found[-1].encode())
        if megabytes and size >= megabytes * 1e6:
            break
    return found


def train_child(side: str, corpus: Path, vocab: int, out: Path) -> None:
    """Runs in a child: train one side, save what the parent needs."""
    from tokenizer.patterns import resolve_pattern

    if side == "gristmill":
        from tokenizer import train_bpe

        train_bpe([corpus], vocab, [SPECIAL], "gpt4", workers=2).save(str(out))
    elif side == "hf":
        import tokenizers
        from tokenizers import models, pre_tokenizers, trainers

        hf = tokenizers.Tokenizer(models.BPE())
        split = pre_tokenizers.Split(tokenizers.Regex(resolve_pattern("gpt4")), "isolated")
        hf.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(False, use_regex=False)])
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=[SPECIAL],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        hf.train_from_iterator(texts(corpus), trainer)
        out.mkdir(parents=True, exist_ok=True)
        hf.save(str(out / "tokenizer.json"))
    else:
        import rustbpe

        tokenizer = rustbpe.Tokenizer()
        tokenizer.train_from_iterator(iter(texts(corpus)), vocab - 1, pattern=resolve_pattern("gpt4"))
        out.mkdir(parents=True, exist_ok=True)
        (out / "size").write_text(str(tokenizer.vocab_size))


def encode_child(side: str, folder: Path, corpus: Path, megabytes: float, workers: int, out: Path) -> None:
    """Runs in a child: encode the sample, write seconds and a digest of the ids."""
    sample = texts(corpus, megabytes)
    if side == "gristmill":
        from tokenizer import Tokenizer

        tokenizer = Tokenizer.load(str(folder))
        started = time.perf_counter()
        ids = tokenizer.encode_batch(sample, workers=workers)
    elif side == "tiktoken":
        import tiktoken

        from tokenizer import Tokenizer
        from tokenizer.files import tiktoken_ranks
        from tokenizer.patterns import resolve_pattern

        ours = Tokenizer.load(str(folder))
        encoding = tiktoken.Encoding(
            "g",
            pat_str=resolve_pattern(ours.pattern),
            mergeable_ranks=tiktoken_ranks(ours),
            special_tokens=ours.special_ids,
        )
        started = time.perf_counter()
        ids = encoding.encode_ordinary_batch(sample, num_threads=workers)
    else:
        from tokenizers import Tokenizer as HFTokenizer

        hf = HFTokenizer.from_file(str(folder / "tokenizer.json"))
        started = time.perf_counter()
        ids = [e.ids for e in hf.encode_batch(sample)]
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()
    size = sum(len(t.encode()) for t in sample)
    out.write_text(json.dumps({"seconds": seconds, "bytes": size, "tokens": sum(map(len, ids)), "digest": digest}))


def run(args: list[str], log: Path, threads: int) -> common.Measured:
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    return common.run_child([sys.executable, __file__, *args], log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=Path, default=Path("/tmp/all/shards"))
    parser.add_argument("--megabytes", type=float, default=40)
    parser.add_argument("--encode-megabytes", type=float, default=10)
    parser.add_argument("--vocab", type=int, nargs="+", default=[8192, 32768])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gristmill-tokenizer-bench"))
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, side, *rest = args.child
        if kind == "train":
            train_child(side, Path(rest[0]), int(rest[1]), Path(rest[2]))
        else:
            encode_child(side, Path(rest[0]), Path(rest[1]), float(rest[2]), int(rest[3]), Path(rest[4]))
        return
    report = common.Report()
    say = report.say
    args.work.mkdir(parents=True, exist_ok=True)
    corpus = args.work / f"corpus-{args.megabytes:g}MB.jsonl"
    documents, size = write_corpus(args.shards, args.megabytes, corpus)
    say(f"tokenizer bench on {common.cpu_model()}, {common.versions('tokenizers', 'rustbpe', 'tiktoken')}")
    say(f"corpus: {documents:,} documents, {size / 1e6:.1f} MB of UTF-8 text from {args.shards} (first shards)")
    for vocab in args.vocab:
        say()
        say(f"== vocab {vocab:,} ==")
        trained: dict[str, common.Measured] = {}
        for side in ("gristmill", "hf", "rustbpe"):
            out = args.work / f"{side}-{vocab}"
            trained[side] = run(
                ["--child", "train", side, str(corpus), str(vocab), str(out)], args.work / f"{side}.log", 2
            )
        rows = [
            [side, f"{m.wall_s:,.1f}", f"{m.max_rss / 2**20:,.0f}", f"{m.wall_s / trained['gristmill'].wall_s:.2f}"]
            for side, m in trained.items()
        ]
        common.table(say, ["training, 2 threads", "wall s", "peak RSS MiB", "time / gristmill"], rows)
        folder = args.work / f"gristmill-{vocab}"
        results: dict[tuple[str, int], dict] = {}
        for side in ("gristmill", "tiktoken", "hf"):
            for workers in (1, 2):
                out = args.work / f"encode-{side}-{workers}.json"
                child = [
                    "--child",
                    "encode",
                    side,
                    str(folder),
                    str(corpus),
                    str(args.encode_megabytes),
                    str(workers),
                    str(out),
                ]
                run(child, args.work / f"encode-{side}.log", workers)
                results[side, workers] = json.loads(out.read_text())
        rows = []
        for (side, workers), r in results.items():
            rate = r["bytes"] / r["seconds"] / 1e6
            ours = results["gristmill", workers]
            rows.append([side, workers, f"{rate:,.2f}", f"{ours['bytes'] / ours['seconds'] / 1e6 / rate:.2f}"])
        common.table(say, ["encoding", "workers", "MB/s", "gristmill / it"], rows)
        digests = {r["digest"] for r in results.values()}
        first = results["gristmill", 1]
        say(
            f"ids identical across the three, both worker counts: {'yes' if len(digests) == 1 else 'NO'} "
            f"({first['tokens']:,} tokens, {first['bytes'] / first['tokens']:.2f} bytes/token)"
        )
    report.save(args.output)


if __name__ == "__main__":
    main()
