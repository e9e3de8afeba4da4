"""`train_bpe`: stream the inputs, count distinct pre-tokens on all cores, learn merges, build the Tokenizer.

Only the counts of distinct pre-tokens are held, never the text: batches of documents go to worker
processes, which split out the special tokens (never merged across), pre-tokenize with the pattern and
return their counts, summed here. The counts do not depend on how the text was batched, so 1 and N workers
learn the same merges.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.progress import DownloadColumn, Progress

from tokenizer.core import Tokenizer
from tokenizer.merges import learn_merges
from tokenizer.patterns import DEFAULT, resolve_pattern, special_splitter, splitter
from tokenizer.sources import input_files, read_texts

BATCH_CHARS = 4 << 20


@dataclass
class TrainingStats:
    documents: int = 0
    text_bytes: int = 0
    file_bytes: int = 0
    distinct_pretokens: int = 0
    count_seconds: float = 0.0
    merge_seconds: float = 0.0


def train_bpe(
    inputs: Iterable[str | Path] | list[str],
    vocab_size: int,
    special_tokens: list[str] | None = None,
    pattern: str = DEFAULT,
    min_frequency: int = 2,
    workers: int | None = None,
    text_column: str = "text",
    show_progress: bool = False,
    stats: TrainingStats | None = None,
) -> Tokenizer:
    """A byte-level BPE tokenizer of `vocab_size` tokens (256 bytes + merges + special tokens) trained on
    the files or folders in `inputs` (text, JSONL, Parquet, a run folder)."""
    specials = list(dict.fromkeys(special_tokens or []))
    merges_wanted = vocab_size - 256 - len(specials)
    if merges_wanted < 0:
        raise ValueError(f"vocab_size: {vocab_size} is smaller than 256 bytes + {len(specials)} special tokens")
    resolve_pattern(pattern)
    stats = stats or TrainingStats()
    files = input_files(list(inputs))
    total_bytes = sum(path.stat().st_size for path in files)
    with Progress(*Progress.get_default_columns(), DownloadColumn(), disable=not show_progress) as progress:
        reading = progress.add_task("counting pre-tokens", total=total_bytes)
        started = time.perf_counter()
        texts = _texts(files, text_column, stats, lambda: progress.update(reading, completed=stats.file_bytes))
        counts = count_pretokens(texts, pattern, specials, workers or os.cpu_count() or 1)
        progress.update(reading, completed=total_bytes)
        stats.distinct_pretokens = len(counts)
        stats.count_seconds = time.perf_counter() - started
        started = time.perf_counter()
        merging = progress.add_task("merges", total=merges_wanted)
        merges = learn_merges(
            counts, merges_wanted, min_frequency, lambda done: progress.update(merging, completed=done)
        )
        stats.merge_seconds = time.perf_counter() - started
    ids = {bytes([i]): i for i in range(256)}
    for left, right in merges:
        ids.setdefault(left + right, len(ids))
    return Tokenizer({i: token for token, i in ids.items()}, merges, specials, pattern)


def _texts(files: list[Path], text_column: str, stats: TrainingStats, tick: Callable[[], None]) -> Iterator[str]:
    """The documents, counted; `tick` after each file (progress is in input-file bytes)."""
    for path in files:
        for text in read_texts(path, text_column):
            stats.documents += 1
            stats.text_bytes += len(text.encode("utf-8", errors="replace"))
            yield text
        stats.file_bytes += path.stat().st_size
        tick()


def count_pretokens(texts: Iterable[str], pattern: str, special_tokens: list[str], workers: int) -> Counter[bytes]:
    """Counts of the UTF-8 bytes of every pre-token of the texts, special tokens taken out first."""
    counts: Counter[bytes] = Counter()
    batches = _batches(texts)
    if workers <= 1:
        for batch in batches:
            counts.update(_count_batch(batch, pattern, special_tokens))
        return counts
    with ProcessPoolExecutor(workers) as pool:
        pending = []
        for batch in batches:
            pending.append(pool.submit(_count_batch, batch, pattern, special_tokens))
            if len(pending) >= 2 * workers:  # bounded: at most two batches per worker in flight
                counts.update(pending.pop(0).result())
        for future in pending:
            counts.update(future.result())
    return counts


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        batch.append(text)
        size += len(text)
        if size >= BATCH_CHARS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _count_batch(texts: list[str], pattern: str, special_tokens: list[str]) -> Counter[str]:
    pieces = splitter(pattern)
    specials = special_splitter(special_tokens)
    counts: Counter[str] = Counter()
    for text in texts:
        for part in specials.split(text)[::2] if specials else [text]:
            counts.update(pieces(part))
    return Counter({piece.encode("utf-8", errors="surrogatepass"): n for piece, n in counts.items()})
