"""`train_bpe`: stream the inputs, count distinct pre-tokens on all cores, learn merges, build the Tokenizer.

Only the counts of distinct pre-tokens are held, never the text: batches of documents are counted in compiled
code (the encoder's scanner and a bytes hash table; in worker processes with `workers` > 1, their tables
summed here), special tokens split out first (never merged across). The counts do not depend on how the text
was batched, so 1 and N workers learn the same merges.

A corpus too small for `vocab_size` gives fewer tokens, never silently: `TrainingStats` (also
`tokenizer.training`) holds the size requested and reached and why merging stopped, and a
`ShortVocabularyWarning` says it in one line.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import regex
from rich.progress import DownloadColumn, Progress

from gristmill_base.lifetime import children_die_with_this_process
from tokenizer.core import Tokenizer
from tokenizer.definition import added_finder, specials_after
from tokenizer.engine import Cutter
from tokenizer.errors import SettingError
from tokenizer.merges import MASK, SHIFT, learn
from tokenizer.patterns import DEFAULT, resolve_pattern
from tokenizer.sources import input_files, is_structured, read_texts
from tokenizer.tables import BytesTable, Pretokens, add_counts, pretokens_of

BATCH_CHARS = 1 << 20  # text per counting call: small enough that the text held is a few MB


class ShortVocabularyWarning(UserWarning):
    """`train_bpe` made fewer tokens than `vocab_size` asks."""


@dataclass
class TrainingStats:
    """What a training read and made. Merging ends (`stop`) with the size reached ("reached"), with no
    pair occurring `min_frequency` times ("min_frequency"; the most frequent left occurs `left_count`
    times) or with no pair left at all ("no_pair": every pre-token is one token). `possible_vocab_size` is
    the size merging every pair that occurs (min_frequency 1) reaches, at most the size requested."""

    documents: int = 0
    text_bytes: int = 0
    file_bytes: int = 0
    distinct_pretokens: int = 0
    count_seconds: float = 0.0
    merge_seconds: float = 0.0
    requested_vocab_size: int = 0
    vocab_size: int = 0
    possible_vocab_size: int = 0
    merges: int = 0  # a merge into bytes that already are a token (`ab`+`c` after `a`+`bc`) adds none
    min_frequency: int = 1
    stop: Literal["reached", "min_frequency", "no_pair"] = "reached"
    left_count: int = 0

    @property
    def short(self) -> bool:
        return self.vocab_size < self.requested_vocab_size

    def shortfall(self, cli: bool = False) -> str | None:
        """One line on a vocabulary smaller than requested (the options named as on the command line when
        `cli`); None when the size was reached."""
        if not self.short:
            return None
        head = f"vocab {self.vocab_size:,} of {self.requested_vocab_size:,} requested"
        if self.stop == "min_frequency":
            lower = "--min-frequency 1" if cli else "min_frequency=1"
            left = "once" if self.left_count == 1 else f"{self.left_count:,} times"
            reach = (
                "it reaches the full size"
                if self.possible_vocab_size >= self.requested_vocab_size
                else f"it reaches {self.possible_vocab_size:,}, where every pre-token is one token"
            )
            return (
                f"{head}: no pair left occurring >= {self.min_frequency:,} times after {self.merges:,} merges "
                f"(the most frequent left occurs {left}); pass {lower}: {reach}"
            )
        smaller = f"--vocab-size {self.vocab_size}" if cli else f"vocab_size={self.vocab_size}"
        return (
            f"{head}: every pre-token is a single token after {self.merges:,} merges ({self.distinct_pretokens:,} "
            f"distinct pre-tokens); train on more text or pass {smaller} or less"
        )


def train_bpe(
    inputs: Iterable[str | Path] | list[str],
    vocab_size: int,
    special_tokens: list[str] | None = None,
    pattern: str = DEFAULT,
    min_frequency: int = 1,
    workers: int = 1,
    text_column: str = "text",
    show_progress: bool = False,
    stats: TrainingStats | None = None,
    warn: bool = True,
) -> Tokenizer:
    """A byte-level BPE tokenizer of `vocab_size` tokens (256 bytes + merges + special tokens) trained on
    the files or folders in `inputs` (text, JSONL, Parquet, a run folder).

    Merging stops at pairs occurring fewer than `min_frequency` times (default 1: any pair that occurs, as
    HF's default 0). When the corpus cannot give `vocab_size` tokens the tokenizer is smaller:
    `tokenizer.training` (the `stats` given, or new ones) says by how much and why, and with `warn` a
    ShortVocabularyWarning says it too. A setting that cannot work is a SettingError (a ValueError) naming it;
    inputs that hold no text at all are a ValueError, not a 256-token tokenizer."""
    specials = list(dict.fromkeys(special_tokens or []))
    check_settings(vocab_size, specials, pattern, min_frequency, workers)
    merges_wanted = vocab_size - 256 - len(specials)
    stats = stats or TrainingStats()
    files = input_files(list(inputs))
    total_bytes = sum(path.stat().st_size for path in files)
    with Progress(*Progress.get_default_columns(), DownloadColumn(), disable=not show_progress) as progress:
        reading = progress.add_task("counting pre-tokens", total=total_bytes)
        started = time.perf_counter()
        texts = _texts(files, text_column, stats, lambda: progress.update(reading, completed=stats.file_bytes))
        counts = count_pretokens(texts, pattern, specials, workers)
        progress.update(reading, completed=total_bytes)
        stats.distinct_pretokens = len(counts)
        stats.count_seconds = time.perf_counter() - started
        started = time.perf_counter()
        merging = progress.add_task("merges", total=merges_wanted)
        learned = learn(counts, merges_wanted, min_frequency, lambda done: progress.update(merging, completed=done))
        stats.merge_seconds = time.perf_counter() - started
    if not stats.text_bytes:
        raise _no_text(files, text_column, stats.documents)
    ids = {bytes([i]): i for i in range(256)}
    for left, right in learned.merges:
        ids.setdefault(left + right, len(ids))
    stats.requested_vocab_size = vocab_size
    stats.vocab_size = len(ids) + len(specials)
    stats.possible_vocab_size = 256 + learned.possible + len(specials)
    stats.merges = len(learned.merges)
    stats.min_frequency = min_frequency
    stats.stop = learned.stop
    stats.left_count = learned.left
    tokenizer = Tokenizer({i: token for token, i in ids.items()}, learned.merges, specials, pattern)
    tokenizer.training = stats
    message = stats.shortfall()
    if warn and message:
        warnings.warn(message, ShortVocabularyWarning, stacklevel=2)
    return tokenizer


def check_settings(vocab_size: int, specials: list[str], pattern: str, min_frequency: int, workers: int) -> None:
    """A SettingError for the first setting `train_bpe` cannot work with, before any text is read."""
    if vocab_size < 256 + len(specials):
        raise SettingError("vocab_size", vocab_size, f"smaller than 256 bytes + {len(specials)} special tokens")
    if vocab_size > MASK + 1:
        raise SettingError("vocab_size", vocab_size, f"at most {MASK + 1:,} (ids are stored in {SHIFT} bits)")
    resolve_pattern(pattern)
    if min_frequency < 0:
        raise SettingError("min_frequency", min_frequency, "expected 0 or more (0 and 1 merge any pair that occurs)")
    if workers < 1:
        raise SettingError("workers", workers, "expected 1 or more")


def _no_text(files: list[Path], text_column: str, documents: int) -> ValueError:
    """Why a training read no text at all: the field or column named holds none, or the files are empty."""
    if any(is_structured(path) for path in files):
        return SettingError("text_column", text_column, f"no text there in the {documents:,} documents read")
    return ValueError(f"{', '.join(map(str, files[:3]))}{', ...' if len(files) > 3 else ''}: no text")


def _texts(files: list[Path], text_column: str, stats: TrainingStats, tick: Callable[[], None]) -> Iterator[str]:
    """The documents, counted; `tick` after each file (progress is in input-file bytes)."""
    for path in files:
        for text in read_texts(path, text_column):
            stats.documents += 1
            stats.text_bytes += len(text.encode("utf-8", errors="replace"))
            yield text
        stats.file_bytes += path.stat().st_size
        tick()


def count_pretokens(texts: Iterable[str], pattern: str, special_tokens: list[str], workers: int) -> Pretokens:
    """The distinct pre-tokens of the texts (UTF-8 bytes) and their counts, special tokens taken out first;
    batches go to `workers` processes, each counting in compiled code, and their tables are summed here."""
    counts = BytesTable.empty(1 << 16, 1 << 20)
    batches = _batches(texts)
    if workers <= 1:
        cutter, specials = Cutter(pattern), special_finder(special_tokens)
        for batch in batches:
            counts = cutter.count(_without_specials(batch, specials), counts)
        return pretokens_of(counts)
    with (
        children_die_with_this_process(),  # a killed command leaves no worker behind
        ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(pattern, special_tokens)) as pool,
    ):
        pending = []
        for batch in batches:
            pending.append(pool.submit(_count_batch, batch))
            if len(pending) >= 2 * workers:  # bounded: at most two batches per worker in flight
                counts = add_counts(counts, pending.pop(0).result())
        for future in pending:
            counts = add_counts(counts, future.result())
    return pretokens_of(counts)


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


def special_finder(special_tokens: list[str]) -> regex.Pattern[str] | None:
    """The encoder's matcher of these special tokens (one group: `split(...)[::2]` is the text between them)."""
    return added_finder(specials_after({}, special_tokens))


def _without_specials(texts: list[str], specials: regex.Pattern[str] | None) -> list[str]:
    return [part for text in texts for part in (specials.split(text)[::2] if specials else [text])]


_worker: tuple[Cutter, regex.Pattern[str] | None] | None = None


def _start_worker(pattern: str, special_tokens: list[str]) -> None:
    global _worker
    _worker = Cutter(pattern), special_finder(special_tokens)


def _count_batch(texts: list[str]) -> Pretokens:
    assert _worker is not None
    cutter, specials = _worker
    return pretokens_of(cutter.count(_without_specials(texts, specials), BytesTable.empty(1 << 14, 1 << 18)))
