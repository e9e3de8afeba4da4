"""Byte-level BPE side by side, on more than one corpus.

Training: gristmill vs HF `tokenizers` (BpeTrainer, ByteLevel, the same GPT-4 regex) vs `rustbpe`, on the
first --megabytes of each corpus, with 1 and 2 threads (gristmill workers, RAYON_NUM_THREADS). Encoding,
one thread, the first --encode-megabytes of each corpus, with three vocabularies:
  - the 32,768-token vocabulary gristmill trained: gristmill, tiktoken (an Encoding of gristmill's ranks), HF;
  - cl100k_base and o200k_base from the rank files shipped in `bpe-openai`: gristmill (the same file), tiktoken,
    `bpe-openai`, `quicktok-v1`, HF (the tokenizer.json gristmill writes for the vocabulary).
Every measurement runs in a child process (wall time; peak RSS sampled from /proc, of the whole process tree),
after a warm-up that fills numba's on-disk cache (a one-time compile per install, ~10-20 s, not timed); the
trainers all stream the corpus file;
the id lists of every side are compared per vocabulary, and ratios printed (gristmill's speed / the other's).

Corpora (gristmill shards): `multilingual` = the benchmark crawl's quickstart run (`bench/make_crawl.sh`, then
`gristmill run recipes/quickstart.toml --input CRAWL --output /tmp/all`; HTML documentation in ~30 languages),
`english` = the same recipe on the crawl's python-postgresql and boost WARCs only (`--output /tmp/en`: Python,
PostgreSQL and Boost documentation, mostly English, with code).

Usage (from the repository root, after `pip install -e ".[dev,bench]"`):
  python bench/tokenizer.py [--corpus multilingual=/tmp/all/shards] [--corpus english=/tmp/en/shards] \\
      [--megabytes 40] [--encode-megabytes 20] [--vocab 32768] [--output FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import common  # first: one thread per process for numeric libraries

sys.path.remove(str(Path(__file__).resolve().parent))  # this file's name would hide the `tokenizer` package

SPECIAL = "<|endoftext|>"
OPENAI = {"cl100k_base": "gpt4", "o200k_base": "o200k"}
DEFAULT_CORPORA = ["multilingual=/tmp/all/shards", "english=/tmp/en/shards"]


def write_corpus(shards: Path, megabytes: float, path: Path) -> tuple[int, int]:
    import pyarrow.parquet as pq  # here, not at the top: a training child holds only its own trainer's imports

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


def stream(corpus: Path) -> Iterator[str]:
    """The corpus's texts one at a time: the trainers get the text as gristmill reads it, never all held."""
    with open(corpus, encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)["text"]


def rank_file(name: str) -> Path:
    import bpe_openai

    return Path(bpe_openai.__file__).parent / "data" / f"{name}.tiktoken.gz"


def train_child(side: str, corpus: Path, vocab: int, threads: int, out: Path, pattern: str) -> None:
    """Runs in a child: train one side, save what the parent needs. The child imports its own trainer only
    (the pattern comes as text: importing gristmill for it would add numba's memory to the others' peaks)."""
    if side == "gristmill":
        from tokenizer import train_bpe

        train_bpe([corpus], vocab, [SPECIAL], pattern, workers=threads).save(str(out))
    elif side == "hf":
        import tokenizers
        from tokenizers import models, pre_tokenizers, trainers

        hf = tokenizers.Tokenizer(models.BPE())
        split = pre_tokenizers.Split(tokenizers.Regex(pattern), "isolated")
        hf.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(False, use_regex=False)])
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=[SPECIAL],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        hf.train_from_iterator(stream(corpus), trainer)
        out.mkdir(parents=True, exist_ok=True)
        hf.save(str(out / "tokenizer.json"))
    else:
        import rustbpe

        tokenizer = rustbpe.Tokenizer()
        tokenizer.train_from_iterator(stream(corpus), vocab - 1, pattern=pattern)
        out.mkdir(parents=True, exist_ok=True)
        (out / "size").write_text(str(tokenizer.vocab_size))


def encoder(side: str, vocabulary: str, folder: Path):
    """A function texts -> id lists, one thread, for `side` on `vocabulary` (a rank-file name or "trained")."""
    from tokenizer import Tokenizer

    source = folder if vocabulary == "trained" else rank_file(vocabulary)
    if side == "gristmill":
        ours = Tokenizer.load(source)
        return lambda batch: ours.encode_batch(batch, disallowed_special=())
    if side == "gristmill per call":
        ours = Tokenizer.load(source)
        return lambda batch: [ours.encode_ordinary(text) for text in batch]
    if side == "tiktoken":
        import tiktoken

        from tokenizer.patterns import resolve_pattern
        from tokenizer.tiktoken_file import tiktoken_ranks

        ours = Tokenizer.load(source)
        encoding = tiktoken.Encoding(
            "e", pat_str=resolve_pattern(ours.pattern), mergeable_ranks=tiktoken_ranks(ours.definition),
            special_tokens=ours.special_ids,
        )  # fmt: skip
        return lambda batch: encoding.encode_ordinary_batch(batch, num_threads=1)
    if side == "bpe-openai":
        import bpe_openai

        encoding = bpe_openai.get_encoding(vocabulary)
        return lambda batch: [encoding.encode_ordinary(text) for text in batch]
    if side == "quicktok":
        import quicktok

        encoding = quicktok.get_encoding(vocabulary)
        return lambda batch: [encoding.encode(text) for text in batch]
    from tokenizers import Tokenizer as HFTokenizer

    hf_file = folder / "tokenizer.json"
    if vocabulary != "trained":
        hf_file = folder / f"hf-{vocabulary}" / "tokenizer.json"
        if not hf_file.is_file():
            Tokenizer.load(source).save(hf_file.parent)
    hf = HFTokenizer.from_file(str(hf_file))
    return lambda batch: [e.ids for e in hf.encode_batch(batch, add_special_tokens=False)]


def encode_child(side: str, vocabulary: str, folder: Path, corpus: Path, megabytes: float, out: Path) -> None:
    """Runs in a child: encode the sample, write seconds and a digest of the ids."""
    sample = texts(corpus, megabytes)
    encode = encoder(side, vocabulary, folder)
    encode(sample[:20])  # loaded and warm (compiled code, caches of the first documents) before timing
    started = time.perf_counter()
    ids = encode(sample)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()
    size = sum(len(t.encode()) for t in sample)
    out.write_text(json.dumps({"seconds": seconds, "bytes": size, "tokens": sum(map(len, ids)), "digest": digest}))


def run(args: list[str], log: Path, threads: int) -> common.Measured:
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    return common.run_child([sys.executable, __file__, *args], log)


def bench_training(say, corpus: Path, vocab: int, work: Path) -> Path:
    from tokenizer.patterns import resolve_pattern

    pattern = resolve_pattern("gpt4")
    tiny = work / "one-line.jsonl"
    tiny.write_text(json.dumps({"text": "Hello world"}) + "\n")
    warm = ["--child", "train", "gristmill", str(corpus), "300", "1", str(work / "warm-up"), pattern]
    run(warm, work / "train.log", 1)  # numba compiles once per install (cached on disk): not timed
    floor = run(
        ["--child", "train", "gristmill", str(tiny), "257", "1", str(work / "floor"), pattern], work / "train.log", 1
    )
    rows, first = [], {}
    for threads in (1, 2):
        for side in ("gristmill", "hf", "rustbpe"):
            out = work / f"{side}-{vocab}-{threads}"
            command = ["--child", "train", side, str(corpus), str(vocab), str(threads), str(out), pattern]
            m = run(command, work / "train.log", threads)
            first.setdefault(threads, m)
            ours = first[threads]
            rows.append([side, threads, f"{m.wall_s:,.1f}", f"{m.tree_rss / 2**20:,.0f}",
                         f"{m.wall_s / ours.wall_s:.2f}", f"{m.tree_rss / ours.tree_rss:.2f}"])  # fmt: skip
    headers = ["training", "threads", "wall s", "peak RSS MiB", "its time / gristmill's", "its RSS / gristmill's"]
    common.table(say, headers, rows)
    say(
        f"gristmill's fixed cost (numba and the compiled code, training on one line): {floor.wall_s:.1f} s, "
        f"{floor.tree_rss / 2**20:,.0f} MiB"
    )
    return work / f"gristmill-{vocab}-1"


def bench_encoding(say, vocabulary: str, folder: Path, corpus: Path, megabytes: float, work: Path) -> None:
    sides = ["gristmill", "gristmill per call", "tiktoken", "hf"]
    if vocabulary != "trained":
        sides[3:3] = ["bpe-openai", "quicktok"]
    results = {}
    for side in sides:
        out = work / f"encode-{vocabulary}-{side.replace(' ', '-')}.json"
        run(["--child", "encode", side, vocabulary, str(folder), str(corpus), str(megabytes), str(out)],
            work / "encode.log", 1)  # fmt: skip
        results[side] = json.loads(out.read_text())
    ours = results["gristmill"]
    rates = {side: r["bytes"] / r["seconds"] / 1e6 for side, r in results.items()}
    rows = [[side, f"{rate:,.1f}", f"{rates['gristmill'] / rate:.2f}"] for side, rate in rates.items()]
    common.table(say, [f"encoding {vocabulary}, 1 thread", "MB/s", "gristmill / it"], rows)
    same = len({r["digest"] for r in results.values()}) == 1
    say(f"ids identical across all {len(sides)}: {'yes' if same else 'NO'} ({ours['tokens']:,} tokens, "
        f"{ours['bytes'] / ours['tokens']:.2f} bytes/token)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", metavar="NAME=SHARDS", help="repeatable (default: both)")
    parser.add_argument("--megabytes", type=float, default=40)
    parser.add_argument("--encode-megabytes", type=float, default=20)
    parser.add_argument("--vocab", type=int, nargs="+", default=[32768])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gristmill-tokenizer-bench"))
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, side, *rest = args.child
        if kind == "train":
            train_child(side, Path(rest[0]), int(rest[1]), int(rest[2]), Path(rest[3]), rest[4])
        else:
            encode_child(side, rest[0], Path(rest[1]), Path(rest[2]), float(rest[3]), Path(rest[4]))
        return
    report = common.Report()
    say = report.say
    say(f"tokenizer bench on {common.cpu_model()}, "
        f"{common.versions('tokenizers', 'rustbpe', 'tiktoken', 'bpe-openai', 'quicktok-v1', 'numba')}")  # fmt: skip
    for spec in args.corpus or DEFAULT_CORPORA:
        name, shards = spec.split("=", 1)
        work = args.work / name
        work.mkdir(parents=True, exist_ok=True)
        corpus = work / f"corpus-{args.megabytes:g}MB.jsonl"
        documents, size = write_corpus(Path(shards), args.megabytes, corpus)
        say()
        say(f"=== {name}: {documents:,} documents, {size / 1e6:.1f} MB of UTF-8 text from {shards} (first shards) ===")
        for vocab in args.vocab:
            folder = bench_training(say, corpus, vocab, work)
            bench_encoding(say, "trained", folder, corpus, args.encode_megabytes, work)
        for vocabulary in OPENAI:
            bench_encoding(say, vocabulary, work, corpus, args.encode_megabytes, work)
    report.save(args.output)


if __name__ == "__main__":
    main()
