"""Near-duplicate detection: gristmill's MinHash LSH dedup vs datatrove's 4-stage MinHash, on the same documents.

The benchmark is built from real documents (gristmill shards, or a JSONL file with `text`):
- originals: documents with min..max words (after gristmill's normalisation), drawn at random, each
  sharing under 20% of its word 5-gram shingles with the originals drawn before it, so that any two
  originals have Jaccard < 0.2 and every cross-family pair is a true negative;
- families: a share of the originals get edited copies, each made from the original (never from
  another copy) by one kind of word edit at one rate: insertions (words of the same document), deletions,
  or swaps of adjacent words, round(rate * words) edits at distinct random places. The rates span light to
  heavy so the Jaccard of copies spreads over about 0.2..1.0. The rest of the originals stay alone.
Ground truth is the EXACT Jaccard of the shingle sets (gristmill's word 5-grams of gristmill-normalised
text) of every within-family pair, original-copy and copy-copy. A pair is predicted duplicate when both
documents end in the same cluster; cross-family pairs are never enumerated, but every one placed in a
cluster counts as a false positive. Precision, recall and F1 are over the pairs with |J - threshold| >= 0.1
(the issue's check) and over all pairs; a table by Jaccard bin shows the S-curve. Clusters are transitive
(connected components), so two copies each clustered with their original are a predicted pair even when
they are further apart from each other than the threshold.

Both sides run as a child process on the same JSONL file, one worker, one after the other:
- gristmill: `gristmill run` of ingest -> minhash_dedup (the defaults: word 5-grams, 128 permutations,
  seed 1, threshold 0.8, weights 0.2/0.8 -> 12 bands x 10 rows, verify) -> shard; clusters read back from
  the `minhash_dedup_cluster` column of the shards and of removed/minhash_dedup;
- datatrove: MinhashDedupSignature -> Buckets -> Cluster(save_cluster_id) -> Filter(load_cluster_ids)
  on LocalPipelineExecutor, with MinhashConfig(n_grams=5, num_buckets=bands, hashes_per_bucket=rows,
  seed=1) and its own normalisation (simplify_text) and English word tokenizer (spaCy's blank "en", as
  shipped). Shingles are hashed with HashConfig(precision=64, hash_fc="sha1"): the default xxhash needs the
  `xxhash` package, and xxhash 4 rejects the str datatrove passes. datatrove has no candidate
  verification: every pair sharing a band is merged. It needs `tokenizers` and `spacy` (the bench extra).

Measurements:
- signature docs/s per core: in this process, CPU time (`time.process_time`) of shingling + MinHash only,
  every benchmark document, after a warm-up document: gristmill `MinHasher.signature(word_shingles(text, 5))`
  (128 values) vs datatrove `get_signature(get_shingles(text))` (bands * rows values), the latter with its
  spaCy tokenizer and with a whitespace `WordTokenizer` (after simplify_text the two split nearly alike);
- phase times: from the datatrove task logs both sides write ("Launching pipeline" to "Processing done"
  of every task), summed over the tasks of a phase; clustering docs/s = documents / (buckets + cluster);
- peak RSS of each child, sampled from /proc every 0.1 s over the child and all its descendants: the
  largest VmHWM (peak resident set of one process since its exec) and the peak of the summed VmRSS (shared
  pages counted once per process). Not ru_maxrss: on Linux an exec'd child's ru_maxrss starts at the peak
  of the process that launched it, here this bench with the whole input in memory.

`--scale N` checks memory and time at size instead: N short synthetic documents (words sampled from the
real input, 15% near-duplicate copies with 0-3% of words substituted), generated in a separate process
so this one stays small, in JSONL files; one `gristmill run` with all cores; it reports time per phase,
the cluster phase's memory (clusters.json) and the run's sampled peaks, per million documents, and
checks the clusters against the generated copies.

Usage (from the repository root, after `pip install -e ".[dev,bench]"`):
  python bench/dedup.py [--input /tmp/all/shards] [--originals 2000] [--seed 0] [--output bench/results/dedup.txt]
  python bench/dedup.py --scale 1000000 [--output bench/results/dedup-scale.txt]
/tmp/all/shards: `gristmill run recipes/quickstart.toml --input /work/data/crawl --output /tmp/all` (20,801
documents; see bench/make_crawl.sh).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import common  # first: one thread per process for numeric libraries
import numpy as np
import orjson
import pyarrow.parquet as pq
import tomli_w
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from pipeline.dedup.minhash import MinHasher, candidate_probability
from pipeline.dedup.shingles import normalize, word_shingles
from pipeline.dedup.stages import MinhashDedupStage

DEFAULT_INPUT = Path("/tmp/all/shards")
KINDS = ("insert", "delete", "swap")
RATES = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2)
MAX_SHARED = 0.2  # an original shares less than this share of its shingles with the originals before it
MARGIN = 0.1  # the check: pairs at least this far from the threshold
BIN_WIDTH = 0.1
SCALE_COPY_SHARE = 0.15
SCALE_MAX_SUBSTITUTION = 0.03
SCALE_WORDS = (30, 120)
SCALE_DOCS_PER_FILE = 100_000
TOKEN = re.compile(r"\S+\s*")
LOG_LINE = re.compile(r"^(\S+ \S+) \| .* - (Launching pipeline|Processing done) for rank=(\d+)")
WARM_TEXT = (
    "The committee met on Tuesday to discuss the new library opening hours for the coming winter. Several "
    "members argued that the reading rooms should stay open later in the evening, because students often need "
    "a quiet place to work after their classes have finished for the day."
)


@dataclass(slots=True)
class Benchmark:
    """The documents in file order (originals first, then copies, shuffled on writing) and their families."""

    texts: list[str]
    family: np.ndarray  # int64 per document: the index of its original
    kind: list[str]  # "original" or the edit kind
    rate: np.ndarray  # edit rate per document (0 for originals)
    originals: int
    with_copies: int
    examined: int
    skipped_length: int
    skipped_shared: int


@dataclass(slots=True)
class Pairs:
    """Every within-family pair and its exact Jaccard."""

    a: np.ndarray
    b: np.ndarray
    jaccard: np.ndarray
    copy_copy: np.ndarray


@dataclass(slots=True)
class Phase:
    tasks: int
    task_s: float  # summed over tasks
    wall_s: float  # first launch to last done


@dataclass(slots=True)
class Side:
    """One side's clusters (label per benchmark document, -1 when in none), phases and process figures."""

    labels: np.ndarray
    phases: dict[str, Phase]
    measured: common.Measured
    removed: int


@dataclass(slots=True)
class Scores:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


class WhitespaceTokenizer(WordTokenizer):
    """datatrove tokenizer that splits on whitespace: after simplify_text this is almost what spaCy's blank
    English tokenizer does, without its cost, so it shows datatrove's signature speed without spaCy."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def load_texts(source: Path) -> tuple[list[str], int]:
    """`text` of every Parquet file under a folder (path order), or of every line of a JSONL file."""
    if source.is_dir():
        files = sorted(source.rglob("*.parquet"))
        texts = [t or "" for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
        return texts, len(files)
    with open(source, "rb") as handle:
        return [orjson.loads(line).get("text") or "" for line in handle if line.strip()], 1


def pick_originals(
    texts: list[str], count: int, min_words: int, max_words: int, rng: np.random.Generator
) -> tuple[list[int], int, int, int]:
    """Random documents of min..max normalised words, each sharing < MAX_SHARED of its shingles with the
    union of those picked before it (so any two have Jaccard < MAX_SHARED). Returns the picks, how many
    documents were examined, and how many were skipped for length and for shared shingles."""
    seen: set[int] = set()
    picked: list[int] = []
    examined = skipped_length = skipped_shared = 0
    for index in rng.permutation(len(texts)).tolist():
        if len(picked) == count:
            break
        examined += 1
        if not min_words <= len(normalize(texts[index]).split()) <= max_words:
            skipped_length += 1
            continue
        shingles = np.unique(word_shingles(texts[index], 5)).tolist()
        if len(seen.intersection(shingles)) >= MAX_SHARED * len(shingles):
            skipped_shared += 1
            continue
        seen.update(shingles)
        picked.append(index)
    if len(picked) < count:
        raise SystemExit(f"only {len(picked)} documents qualify as originals; ask for fewer with --originals")
    return picked, examined, skipped_length, skipped_shared


def edit(text: str, kind: str, rate: float, rng: np.random.Generator) -> str:
    """round(rate * tokens) edits (at least one) of one kind on the whitespace tokens of `text`, keeping each
    token's trailing whitespace (so line and paragraph breaks survive); inserted words come from the text."""
    tokens = TOKEN.findall(text)
    n = len(tokens)
    edits = min(max(1, round(rate * n)), n - 1)
    if kind == "delete":
        keep = np.ones(n, dtype=bool)
        keep[rng.choice(n, size=edits, replace=False)] = False
        return "".join(token for token, kept in zip(tokens, keep.tolist(), strict=True) if kept)
    if kind == "swap":
        for at in np.sort(rng.choice(n - 1, size=edits, replace=False)).tolist():
            tokens[at], tokens[at + 1] = tokens[at + 1], tokens[at]
        return "".join(tokens)
    places = np.sort(rng.integers(0, n + 1, size=edits))[::-1].tolist()
    for place, source in zip(places, rng.integers(0, n, size=edits).tolist(), strict=True):
        tokens.insert(place, tokens[source].rstrip() + " ")
    return "".join(tokens)


def build_benchmark(texts: list[str], args: argparse.Namespace) -> Benchmark:
    """Originals, then for the first `share` of them `copies` edited copies each, a (kind, rate) apiece."""
    rng = np.random.default_rng(args.seed)
    picked, examined, skipped_length, skipped_shared = pick_originals(
        texts, args.originals, args.min_words, args.max_words, rng
    )
    docs = [texts[i] for i in picked]
    family = list(range(len(picked)))
    kinds = ["original"] * len(picked)
    rates = [0.0] * len(picked)
    with_copies = round(args.share_with_copies * len(picked))
    for original in range(with_copies):
        for _ in range(args.copies):
            kind, rate = KINDS[rng.integers(len(KINDS))], RATES[rng.integers(len(RATES))]
            docs.append(edit(docs[original], kind, rate, rng))
            family.append(original)
            kinds.append(kind)
            rates.append(rate)
    return Benchmark(
        docs,
        np.array(family, dtype=np.int64),
        kinds,
        np.array(rates),
        len(picked),
        with_copies,
        examined,
        skipped_length,
        skipped_shared,
    )


def shingle_set(text: str) -> np.ndarray:
    """The set (sorted unique hashes) of gristmill's word 5-gram shingles of the normalised text."""
    return np.unique(word_shingles(text, 5))


def exact_jaccard(left: np.ndarray, right: np.ndarray) -> float:
    shared = np.intersect1d(left, right, assume_unique=True).size
    return shared / (left.size + right.size - shared)


def family_pairs(bench: Benchmark) -> Pairs:
    """Exact Jaccard of the word 5-gram shingle sets of every pair of documents of one family."""
    members: dict[int, list[int]] = defaultdict(list)
    for doc, family in enumerate(bench.family.tolist()):
        members[family].append(doc)
    sets: dict[int, np.ndarray] = {}
    a, b, jaccard = [], [], []
    for docs in members.values():
        for doc in docs:
            sets[doc] = shingle_set(bench.texts[doc])
        for i, left in enumerate(docs):
            for right in docs[i + 1 :]:
                a.append(left)
                b.append(right)
                jaccard.append(exact_jaccard(sets[left], sets[right]))
    a_, b_ = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    is_copy = np.array([kind != "original" for kind in bench.kind])
    return Pairs(a_, b_, np.array(jaccard), is_copy[a_] & is_copy[b_])


def write_jsonl(path: Path, ids: Sequence[str], texts: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for doc_id, text in zip(ids, texts, strict=True):
            handle.write(orjson.dumps({"id": doc_id, "text": text}) + b"\n")


def task_phase(job_dir: Path) -> Phase:
    """Task time of one datatrove job from its task logs: launch to done of every task."""
    launched: dict[int, datetime] = {}
    finished: dict[int, datetime] = {}
    for log in sorted((job_dir / "logs").glob("task_*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = LOG_LINE.match(line)
            if match:
                when = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S.%f")
                (launched if match[2] == "Launching pipeline" else finished)[int(match[3])] = when
    if not finished or launched.keys() != finished.keys():
        raise SystemExit(f"incomplete task logs under {job_dir / 'logs'}")
    task_s = sum((finished[rank] - launched[rank]).total_seconds() for rank in finished)
    wall_s = (max(finished.values()) - min(launched.values())).total_seconds()
    return Phase(len(finished), task_s, wall_s)


def run_gristmill(inputs: list[Path], run_dir: Path, workers: int) -> common.Measured:
    """`gristmill run` of ingest -> minhash_dedup (defaults) -> shard on the JSONL inputs."""
    recipe = {
        "executor": {"workers": workers},
        "stage": [{"kind": "ingest", "inputs": [str(p) for p in inputs]}, {"kind": "minhash_dedup"}, {"kind": "shard"}],
    }
    recipe_path = run_dir.parent / f"{run_dir.name}.toml"
    recipe_path.write_text(tomli_w.dumps(recipe))
    command = [sys.executable, "-m", "gristmill", "run", str(recipe_path), "--output", str(run_dir)]
    return common.run_child(command, run_dir.parent / f"{run_dir.name}.log")


def gristmill_phases(run_dir: Path) -> dict[str, Phase]:
    phases = {"ingest": task_phase(run_dir / "ingest")}
    for phase in ("keys", "buckets", "cluster", "apply"):
        phases[phase] = task_phase(run_dir / "minhash_dedup" / phase)
    return phases


def gristmill_clusters(run_dir: Path) -> tuple[list[str], np.ndarray]:
    """(ids, cluster per id or -1) from the kept shards and removed/minhash_dedup."""
    files = sorted((run_dir / "shards").rglob("*.parquet")) + sorted(
        (run_dir / "removed" / "minhash_dedup").glob("*.parquet")
    )
    ids: list[str] = []
    clusters: list[np.ndarray] = []
    for path in files:
        table = pq.read_table(path, columns=["id", "minhash_dedup_cluster"])
        ids.extend(table.column("id").to_pylist())
        clusters.append(table.column("minhash_dedup_cluster").fill_null(-1).to_numpy())
    return ids, np.concatenate([np.empty(0, np.int64), *clusters])


def datatrove_config() -> MinhashConfig:
    """datatrove's MinHash as close to gristmill's defaults as it allows: same shingles, bands, rows, seed."""
    stage = MinhashDedupStage()
    bands, rows = stage.band_split()
    return MinhashConfig(
        n_grams=stage.ngram,
        num_buckets=bands,
        hashes_per_bucket=rows,
        seed=stage.seed,
        hash_config=HashConfig(precision=64, hash_fc="sha1"),
    )


def datatrove_stages(work: Path) -> None:
    """The child process of the datatrove side: its 4 MinHash stages on work/docs, one worker each."""
    config = datatrove_config()
    docs, root = str(work / "docs"), work / "datatrove"

    def run(name: str, steps: list[Any], tasks: int) -> None:
        LocalPipelineExecutor(steps, tasks=tasks, workers=1, logging_dir=str(root / "logs" / name)).run()

    run("signatures", [JsonlReader(docs), MinhashDedupSignature(str(root / "sigs"), config=config)], 1)
    run("buckets", [MinhashDedupBuckets(str(root / "sigs"), str(root / "buckets"), config=config)], config.num_buckets)
    cluster = MinhashDedupCluster(str(root / "buckets"), str(root / "remove"), config=config, save_cluster_id=True)
    run("cluster", [cluster], 1)
    removed = JsonlWriter(str(root / "removed"), compression=None)
    dedup_filter = MinhashDedupFilter(str(root / "remove"), exclusion_writer=removed, load_cluster_ids=True)
    run("filter", [JsonlReader(docs), dedup_filter, JsonlWriter(str(root / "kept"), compression=None)], 1)


def datatrove_clusters(work: Path) -> tuple[list[str], np.ndarray, int]:
    """(ids, cluster per id or -1, removed count) from datatrove's kept and removed JSONL."""
    ids: list[str] = []
    clusters: list[int] = []
    removed = 0
    for folder in ("kept", "removed"):
        for path in sorted((work / "datatrove" / folder).glob("*.jsonl")):
            with open(path, "rb") as handle:
                for line in handle:
                    record = orjson.loads(line)
                    ids.append(record["id"])
                    clusters.append(record["metadata"].get("minhash_cluster_id", -1))
                    removed += folder == "removed"
    return ids, np.array(clusters, dtype=np.int64), removed


def labels_in_order(ids: list[str], clusters: np.ndarray, order: dict[str, int]) -> np.ndarray:
    """Cluster labels indexed by benchmark document; every document must come back exactly once."""
    if len(ids) != len(order) or set(ids) != order.keys():
        raise SystemExit(f"{len(ids)} documents came back for {len(order)} written (or different ids)")
    labels = np.full(len(order), -1, dtype=np.int64)
    labels[[order[doc_id] for doc_id in ids]] = clusters
    return labels


def signature_rate(texts: Sequence[str], signature: Callable[[str], Any]) -> float:
    """Documents per CPU second of `signature` over `texts`, after one warm-up call."""
    signature(WARM_TEXT)
    started = time.process_time()
    for text in texts:
        signature(text)
    return len(texts) / (time.process_time() - started)


def signature_rates(texts: Sequence[str], work: Path) -> dict[str, float]:
    stage = MinhashDedupStage()
    hasher = MinHasher(stage.num_perm, stage.seed)
    rates = {"gristmill": signature_rate(texts, lambda text: hasher.signature(word_shingles(text, stage.ngram)))}
    for name, tokenizer in (("spacy", "eng"), ("whitespace", WhitespaceTokenizer())):
        step = MinhashDedupSignature(str(work / "unused"), config=datatrove_config(), language=tokenizer)
        rates[name] = signature_rate(texts, lambda text, s=step: s.get_signature(s.get_shingles(text)))
    return rates


def cross_family_pairs(labels: np.ndarray, family: np.ndarray) -> int:
    """Pairs of documents of different families placed in one cluster (all false positives)."""
    clustered = labels >= 0
    lab, fam = labels[clustered], family[clustered]
    _, cluster_n = np.unique(lab, return_counts=True)
    _, both_n = np.unique(np.stack([lab, fam]), axis=1, return_counts=True)
    return int((cluster_n * (cluster_n - 1) // 2).sum() - (both_n * (both_n - 1) // 2).sum())


def scores(same: np.ndarray, positive: np.ndarray, extra_fp: int) -> Scores:
    tp = int((same & positive).sum())
    fp = int((same & ~positive).sum()) + extra_fp
    fn = int((~same & positive).sum())
    return Scores(tp, fp, fn, int((~same & ~positive).sum()))


def mib(size: float) -> str:
    return f"{size / 2**20:,.0f} MiB"


def yes(passed: bool) -> str:
    return "yes" if passed else "NO"


def header(say: Callable[[str], None]) -> None:
    say(f"$ {shlex.join(['python', *sys.argv])}")
    say(
        f"bench/dedup.py on {platform.node()}: {common.cpu_model()}, {os.cpu_count()} cores; "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    say(f"versions: {common.versions('datatrove', 'datasketch', 'spacy', 'numpy')}")


def report_composition(say: Callable[[str], None], bench: Benchmark, pairs: Pairs, args: argparse.Namespace) -> None:
    copies = len(bench.texts) - bench.originals
    say(
        f"originals: {bench.originals:,} drawn from {args.input} with seed {args.seed} (examined {bench.examined:,}: "
        f"{bench.skipped_length:,} outside {args.min_words}..{args.max_words} words, {bench.skipped_shared:,} "
        f"sharing >= {MAX_SHARED:.0%} of their shingles with earlier picks)"
    )
    words = np.array([len(normalize(text).split()) for text in bench.texts[: bench.originals]])
    say(
        f"benchmark: {len(bench.texts):,} documents = {bench.with_copies:,} originals with {args.copies} edited copies "
        f"each ({copies:,} copies) + {bench.originals - bench.with_copies:,} originals alone; words per original: "
        f"median {np.median(words):,.0f}, mean {words.mean():,.0f}"
    )
    n_cross = len(bench.texts) * (len(bench.texts) - 1) // 2 - len(pairs.jaccard)
    say(
        f"pairs: {len(pairs.jaccard):,} within families ({(~pairs.copy_copy).sum():,} original-copy, "
        f"{pairs.copy_copy.sum():,} copy-copy) with exact Jaccard; {n_cross:,} cross-family pairs are negatives"
    )
    say("edits (one kind at one rate per copy, from the original): copies and median Jaccard to the original")
    original_copy = ~pairs.copy_copy
    by_copy = dict(zip(pairs.b[original_copy].tolist(), pairs.jaccard[original_copy].tolist(), strict=True))
    rows = []
    for rate in RATES:
        row: list[Any] = [f"{rate:g}"]
        for kind in KINDS:
            docs = [
                i for i in range(bench.originals, len(bench.texts)) if bench.kind[i] == kind and bench.rate[i] == rate
            ]
            row.append(f"{len(docs):,}  {np.median([by_copy[d] for d in docs]):.2f}" if docs else "0  -")
        rows.append(row)
    common.table(say, ["edits/word", *(f"{kind}: n  J" for kind in KINDS)], rows)
    say()


def report_results(
    say: Callable[[str], None],
    bench: Benchmark,
    pairs: Pairs,
    sides: dict[str, Side],
    rates: dict[str, float],
) -> dict[str, Scores]:
    stage = MinhashDedupStage()
    threshold = stage.threshold
    bands, rows = stage.band_split()
    n = len(bench.texts)
    positive = pairs.jaccard >= threshold
    far = np.round(np.abs(pairs.jaccard - threshold), 9) >= MARGIN
    far_original = far & ~pairs.copy_copy
    far_scores, all_scores, original_scores, cross, false_positives = {}, {}, {}, {}, {}
    for name, side in sides.items():
        same = (side.labels[pairs.a] == side.labels[pairs.b]) & (side.labels[pairs.a] >= 0)
        cross[name] = cross_family_pairs(side.labels, bench.family)
        far_scores[name] = scores(same[far], positive[far], cross[name])
        all_scores[name] = scores(same, positive, cross[name])
        original_scores[name] = scores(same[far_original], positive[far_original], cross[name])
        wrong = same & far & ~positive
        false_positives[name] = (int((wrong & ~pairs.copy_copy).sum()), int((wrong & pairs.copy_copy).sum()))
    gm, dt = sides["gristmill"], sides["datatrove"]
    clustering = {
        name: n / (side.phases["buckets"].task_s + side.phases["cluster"].task_s) for name, side in sides.items()
    }
    say(
        f"gristmill: minhash_dedup defaults: word {stage.ngram}-grams, {stage.num_perm} permutations, seed "
        f"{stage.seed}, threshold {threshold}, {bands} bands x {rows} rows, candidates verified (estimated J >= "
        f"{threshold})"
    )
    say(
        f"datatrove: MinhashConfig(n_grams={stage.ngram}, num_buckets={bands}, hashes_per_bucket={rows}, "
        f"seed={stage.seed}, sha1 64-bit), no verification; its pipeline uses spaCy's English tokenizer"
    )
    say(f"far pairs (|J - {threshold}| >= {MARGIN}): {far.sum():,} of {len(far):,}, {positive[far].sum():,} positive")
    say()

    def quality(label: str, of: dict[str, Scores], key: str) -> list[str]:
        return [label, f"{getattr(of['gristmill'], key):.4f}", f"{getattr(of['datatrove'], key):.4f}", ""]

    def measure(label: str, ours: float, theirs: float, show: Callable[[float], str]) -> list[str]:
        return [label, show(ours), show(theirs), f"{ours / theirs:.2f}" if theirs else "-"]

    def count(value: float) -> str:
        return f"{value:,.0f}"

    rows_out = [
        quality("precision, far pairs + cross-family", far_scores, "precision"),
        quality("recall, far pairs + cross-family", far_scores, "recall"),
        quality("F1, far pairs + cross-family", far_scores, "f1"),
        quality("precision, all pairs + cross-family", all_scores, "precision"),
        quality("recall, all pairs + cross-family", all_scores, "recall"),
        quality("F1, all pairs + cross-family", all_scores, "f1"),
        quality("F1, far original-copy pairs + cross-family", original_scores, "f1"),
        ["cross-family pairs clustered", f"{cross['gristmill']:,}", f"{cross['datatrove']:,}", ""],
        ["documents removed", f"{gm.removed:,}", f"{dt.removed:,}", ""],
        measure("signatures docs/s/core, dt spaCy (as shipped)", rates["gristmill"], rates["spacy"], count),
        measure("signatures docs/s/core, dt whitespace tokenizer", rates["gristmill"], rates["whitespace"], count),
        measure("clustering docs/s (buckets + cluster)", clustering["gristmill"], clustering["datatrove"], count),
        measure("peak RSS, largest process (VmHWM)", gm.measured.max_rss, dt.measured.max_rss, mib),
        measure("peak RSS, process tree (sum of VmRSS)", gm.measured.tree_rss, dt.measured.tree_rss, mib),
        measure("wall s, whole child process", gm.measured.wall_s, dt.measured.wall_s, lambda v: f"{v:.1f}"),
    ]
    common.table(say, ["1 worker each", "gristmill", "datatrove", "gristmill / datatrove"], rows_out)
    say()
    say("phases (task seconds from the datatrove task logs; docs/s = documents / task s)")
    phase_rows = []
    for label, ours, theirs in (
        ("ingest JSONL -> Parquet", "ingest", None),
        ("signatures (read, shingle, MinHash, write)", "keys", "signatures"),
        ("buckets", "buckets", "buckets"),
        ("cluster", "cluster", "cluster"),
        ("apply / filter (read, decide, write)", "apply", "filter"),
    ):
        row: list[Any] = [label]
        for side, phase in ((gm, ours), (dt, theirs)):
            if phase is None:
                row += ["-", "-", "-"]
                continue
            p = side.phases[phase]
            row += [p.tasks, f"{p.task_s:.2f}", f"{n / p.task_s:,.0f}" if p.task_s else "-"]
        phase_rows.append(row)
    common.table(say, ["phase", "gm tasks", "gm s", "gm docs/s", "dt tasks", "dt s", "dt docs/s"], phase_rows)
    say(
        "(at this size buckets and cluster are mostly one-time costs, e.g. imports on first use; "
        "bench/dedup.py --scale measures clustering at size)"
    )
    say()
    say(f"clustered share of within-family pairs by exact Jaccard (S-curve; LSH P = P(share a band), {bands}x{rows})")
    bins = np.minimum((pairs.jaccard / BIN_WIDTH).astype(int), round(1 / BIN_WIDTH) - 1)
    bin_rows = []
    for b in range(round(1 / BIN_WIDTH)):
        here = bins == b
        if not here.any():
            continue
        row = [f"{b * BIN_WIDTH:.1f}-{(b + 1) * BIN_WIDTH:.1f}", f"{here.sum():,}"]
        row.append(f"{candidate_probability((b + 0.5) * BIN_WIDTH, bands, rows):.3f}")
        for side in (gm, dt):
            same = (side.labels[pairs.a[here]] == side.labels[pairs.b[here]]) & (side.labels[pairs.a[here]] >= 0)
            row.append(f"{same.mean():.3f}")
        bin_rows.append(row)
    common.table(say, ["exact J", "pairs", "LSH P(mid)", "gristmill", "datatrove"], bin_rows)
    say()
    say("confusion on far pairs + cross-family: TP / FP / FN / TN; the false positives by kind of pair")
    for name, s in far_scores.items():
        original_copy, copy_copy = false_positives[name]
        say(
            f"  {name}: {s.tp:,} / {s.fp:,} / {s.fn:,} / {s.tn:,}; FP: {original_copy:,} original-copy, "
            f"{copy_copy:,} copy-copy, {cross[name]:,} cross-family"
        )
    return far_scores


def run_benchmark(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> None:
    texts, files = load_texts(args.input)
    header(say)
    say(f"input: {len(texts):,} documents from {files} file(s) under {args.input}")
    bench = build_benchmark(texts, args)
    del texts
    pairs = family_pairs(bench)
    report_composition(say, bench, pairs, args)

    order = np.random.default_rng(args.seed).permutation(len(bench.texts))
    ids = [f"doc{i:06d}" for i in range(len(bench.texts))]
    docs = work / "docs" / "docs.jsonl"
    write_jsonl(docs, [ids[i] for i in order], [bench.texts[i] for i in order])
    index_of = {doc_id: i for i, doc_id in enumerate(ids)}

    gm_run = work / "gristmill"
    gm_measured = run_gristmill([docs], gm_run, workers=1)
    gm_ids, gm_clusters = gristmill_clusters(gm_run)
    removed = json.loads((gm_run / "stats" / "minhash_dedup" / "clusters.json").read_text())["removed"]
    gm = Side(labels_in_order(gm_ids, gm_clusters, index_of), gristmill_phases(gm_run), gm_measured, removed)

    dt_measured = common.run_child([sys.executable, __file__, "--datatrove-run", str(work)], work / "datatrove.log")
    dt_ids, dt_clusters, dt_removed = datatrove_clusters(work)
    dt_phases = {
        name: task_phase(work / "datatrove" / "logs" / name) for name in ("signatures", "buckets", "cluster", "filter")
    }
    dt = Side(labels_in_order(dt_ids, dt_clusters, index_of), dt_phases, dt_measured, dt_removed)

    rates = signature_rates(bench.texts, work)
    far = report_results(say, bench, pairs, {"gristmill": gm, "datatrove": dt}, rates)
    say()
    say(
        f"checks: gristmill F1 on far pairs {far['gristmill'].f1:.4f} (>= 0.95: {yes(far['gristmill'].f1 >= 0.95)}); "
        f"signature speed vs datatrove as shipped {rates['gristmill'] / rates['spacy']:.1f}x, vs its whitespace "
        f"tokenizer {rates['gristmill'] / rates['whitespace']:.1f}x "
        f"(>= 2x: {yes(rates['gristmill'] >= 2 * max(rates['spacy'], rates['whitespace']))})"
    )


def synthetic_corpus(
    texts: list[str], n: int, seed: int
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """Word lists of n short documents sampled from the real words of `texts` (frequency-weighted), of which
    SCALE_COPY_SHARE are copies of another with 0..SCALE_MAX_SUBSTITUTION of their words substituted.
    Returns the words, each document's word indices (in output order), the generated document each one
    is or was copied from (its family), and which are copies."""
    rng = np.random.default_rng(seed)
    occurrences = (w for text in texts[:5000] for w in text.split())
    vocabulary = np.array([w for w in occurrences if w.isalpha() and len(w) <= 20], dtype=object)
    n_copies = round(n * SCALE_COPY_SHARE)
    n_base = n - n_copies
    lengths = rng.integers(SCALE_WORDS[0], SCALE_WORDS[1] + 1, size=n_base)
    starts = np.r_[0, np.cumsum(lengths)]
    words = rng.integers(len(vocabulary), size=int(starts[-1]))
    sources = rng.integers(n_base, size=n_copies)
    copy_lengths = lengths[sources]
    copy_starts = np.r_[0, np.cumsum(copy_lengths)]
    within = np.arange(copy_starts[-1]) - np.repeat(copy_starts[:-1], copy_lengths)
    copy_words = words[np.repeat(starts[sources], copy_lengths) + within]
    substitute = rng.random(copy_words.size) < np.repeat(rng.uniform(0, SCALE_MAX_SUBSTITUTION, n_copies), copy_lengths)
    copy_words[substitute] = rng.integers(len(vocabulary), size=int(substitute.sum()))
    documents = [words[starts[i] : starts[i + 1]] for i in range(n_base)]
    documents += [copy_words[copy_starts[i] : copy_starts[i + 1]] for i in range(n_copies)]
    family = np.r_[np.arange(n_base), sources]
    is_copy = np.arange(n) >= n_base
    order = rng.permutation(n)
    return vocabulary, [documents[i] for i in order], family[order], is_copy[order]


def generate_synthetic(source: Path, n: int, seed: int, work: Path) -> None:
    """Run in a child process: the synthetic corpus as JSONL files of at most SCALE_DOCS_PER_FILE documents
    (ids s0000000... in output order; at least one file per core so ingest and keys use every core), and in
    work/synthetic.npz the families, the copies with the position of their original and their exact Jaccard."""
    texts, _ = load_texts(source)
    vocabulary, documents, family, is_copy = synthetic_corpus(texts, n, seed)
    del texts
    out = [" ".join(vocabulary[words]) for words in documents]
    per_file = min(SCALE_DOCS_PER_FILE, -(-n // (os.cpu_count() or 1)))
    (work / "docs").mkdir(parents=True, exist_ok=True)
    for start in range(0, n, per_file):
        with open(work / "docs" / f"synthetic-{start // per_file:04d}.jsonl", "wb") as handle:
            for i in range(start, min(start + per_file, n)):
                handle.write(orjson.dumps({"id": f"s{i:07d}", "text": out[i]}) + b"\n")
    position_of = np.empty(n, dtype=np.int64)  # generated original -> its output position
    position_of[family[~is_copy]] = np.flatnonzero(~is_copy)
    copies = np.flatnonzero(is_copy)
    originals = position_of[family[copies]]
    jaccard = [exact_jaccard(shingle_set(out[c]), shingle_set(out[o])) for c, o in zip(copies, originals, strict=True)]
    np.savez(
        work / "synthetic.npz",
        family=family,
        copies=copies,
        originals=originals,
        jaccard=np.array(jaccard),
        words=np.array([len(words) for words in documents]).mean(),
        vocabulary=len(vocabulary),
    )


def run_scale(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> None:
    header(say)
    workers = os.cpu_count() or 1
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=generate_synthetic, args=(args.input, args.scale, args.seed, work)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generating the synthetic corpus failed (exit code {child.exitcode})")
    generated = np.load(work / "synthetic.npz")
    family, copies, originals, jaccard = (generated[k] for k in ("family", "copies", "originals", "jaccard"))
    inputs = sorted((work / "docs").glob("*.jsonl"))
    say(
        f"input: {args.scale:,} synthetic documents ({float(generated['words']):.0f} words on average, sampled "
        f"from {int(generated['vocabulary']):,} word occurrences of {args.input}; {len(copies) / args.scale:.0%} are "
        f"copies with 0-{SCALE_MAX_SUBSTITUTION:.0%} of words substituted), {len(inputs)} JSONL files, "
        f"{sum(p.stat().st_size for p in inputs) / 1e6:,.0f} MB, generated in {time.perf_counter() - started:.0f} s"
    )
    launcher = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    run_dir = work / "gristmill"
    measured = run_gristmill(inputs, run_dir, workers)
    stats = json.loads((run_dir / "stats" / "minhash_dedup" / "clusters.json").read_text())
    ids, clusters = gristmill_clusters(run_dir)
    labels = np.full(args.scale, -1, dtype=np.int64)
    labels[np.array([int(doc_id[1:]) for doc_id in ids])] = clusters
    with_original = (labels[copies] == labels[originals]) & (labels[originals] >= 0)
    say(f"gristmill run: ingest -> minhash_dedup (defaults) -> shard, {workers} workers, wall {measured.wall_s:.0f} s")
    say()
    rows = [
        [name, p.tasks, f"{p.wall_s:.1f}", f"{p.task_s:.1f}", f"{args.scale / p.task_s:,.0f}" if p.task_s else "-"]
        for name, p in gristmill_phases(run_dir).items()
    ]
    common.table(say, ["phase", "tasks", "wall s", "task s", "docs/task s"], rows)
    say()
    say(
        f"clusters.json: {stats['documents']:,} documents; {stats['candidate_pairs']:,} candidate pairs, "
        f"{stats['verified_pairs']:,} verified; {stats['clusters']:,} clusters of {stats['documents_in_clusters']:,} "
        f"documents; {stats['removed']:,} removed; cluster task {stats['seconds']:.1f} s"
    )
    say(
        f"check: pairs of unrelated documents in one cluster: {cross_family_pairs(labels, family):,}; copies in the "
        "cluster of the document they were copied from, by exact Jaccard to it:"
    )
    bands = [
        ("J >= 0.9", jaccard >= 0.9),
        ("0.7 <= J < 0.9", (jaccard >= 0.7) & (jaccard < 0.9)),
        ("J < 0.7", jaccard < 0.7),
    ]
    for label, where in bands:
        say(f"  {label}: {with_original[where].sum():,} of {where.sum():,}")
    say()
    millions = args.scale / 1e6
    memory_rows = [
        ["cluster phase: traced numpy/Python peak (clusters.json)", stats["peak_traced_bytes"]],
        [f"cluster phase: VmHWM over the {stats['peak_rss_scope']} (clusters.json)", stats["peak_rss_bytes"]],
        ["whole run: largest process VmHWM (sampled)", measured.max_rss],
        ["whole run: process tree, sum of VmRSS (sampled)", measured.tree_rss],
    ]
    common.table(say, ["memory", "peak", "per million docs"], [[m, mib(v), mib(v / millions)] for m, v in memory_rows])
    say(
        "(the cluster phase resets its process's high-water mark when it starts, so its VmHWM is its own peak; "
        f"the process that launched gristmill, this bench, peaked at {mib(launcher)})"
    )
    peak = max(measured.tree_rss, measured.max_rss)
    say(
        f"check: {stats['documents']:,} documents clustered, peak {peak / 2**30:.2f} GiB "
        f"(within 24 GiB: {yes(peak < 24 * 2**30)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="folder of Parquet shards or a JSONL file")
    parser.add_argument("--originals", type=int, default=2000, help="unrelated original documents")
    parser.add_argument("--share-with-copies", type=float, default=0.5, help="share of originals with copies")
    parser.add_argument("--copies", type=int, default=4, help="edited copies per original that has copies")
    parser.add_argument("--min-words", type=int, default=50, help="fewest normalised words of an original")
    parser.add_argument("--max-words", type=int, default=2000, help="most normalised words of an original")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, metavar="N", help="instead: cluster N synthetic documents, all cores")
    parser.add_argument("--work", type=Path, help="keep the runs here (default: a temporary folder, removed)")
    parser.add_argument("--output", type=Path, help="also write the report here")
    parser.add_argument("--datatrove-run", type=Path, help=argparse.SUPPRESS)  # the datatrove child process
    args = parser.parse_args()
    if args.datatrove_run:
        datatrove_stages(args.datatrove_run)
        return
    report = common.Report()
    say = report.say

    work = args.work or Path(tempfile.mkdtemp(prefix="gristmill-bench-dedup-"))
    if args.work and any(args.work.iterdir() if args.work.exists() else ()):
        raise SystemExit(f"--work {args.work}: not empty")
    try:
        (run_scale if args.scale else run_benchmark)(args, work, say)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    report.save(args.output)


if __name__ == "__main__":
    main()
