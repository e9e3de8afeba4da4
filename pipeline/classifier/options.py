"""What `gristmill classifier train` trains with. Kept apart from `training` so that building the command line,
which shows these defaults, imports neither fastText nor numpy nor scipy."""

from __future__ import annotations

from dataclasses import dataclass, field

from gristmill_base.errors import UserError
from pipeline.classifier.preparation import TextPreparation


@dataclass(frozen=True)
class TrainingOptions:
    epochs: int | None = None  # None: chosen by log-loss on a validation share (pipeline.classifier.epochs)
    # 0.5, not fastText's 0.1: a document's update to its word vectors is divided by its length, so pages of
    # thousands of words learn slowly (Rust manuals vs man pages, 5 epochs at 0.1: every held-out score 0.50)
    learning_rate: float = 0.5
    dim: int = 64
    word_ngrams: int = 2
    buckets: int = 1 << 18  # hashed n-gram rows: the model file holds buckets x dim floats (fastText: 2M)
    min_count: int = 1
    max_per_label: int | None = None  # documents sampled per label (None: all)
    balance: bool = True  # sample every label down to the smallest one
    held_out: float = 0.1  # share of each label scored after training, never trained on nor used to choose
    validation: float = 0.1  # with epochs None: share of each label's training documents that chooses the epochs
    seed: int = 0
    threads: int = 1  # 1: the same model file on every run
    preparation: TextPreparation = field(default_factory=TextPreparation)

    def check(self) -> None:
        """Every bad value at once, each named by the flag that sets it."""
        problems = [
            f"{flag} must be {rule}"
            for flag, ok, rule in (
                ("--epochs", self.epochs is None or self.epochs >= 1, ">= 1"),
                ("--lr", self.learning_rate > 0, "> 0"),
                ("--dim", self.dim >= 1, ">= 1"),
                ("--word-ngrams", self.word_ngrams >= 1, ">= 1"),
                ("--buckets", self.buckets >= 1, ">= 1"),
                ("--min-count", self.min_count >= 1, ">= 1"),
                ("--max-per-label", self.max_per_label is None or self.max_per_label >= 1, ">= 1"),
                ("--held-out", 0 <= self.held_out < 1, "in [0, 1)"),
                ("--validation", self.epochs is not None or 0 < self.validation < 1, "in (0, 1) (or give --epochs)"),
                ("--threads", self.threads >= 1, ">= 1"),
                ("--max-chars", self.preparation.max_chars >= 0, ">= 0"),
            )
            if not ok
        ]
        if problems:
            raise UserError("; ".join(problems))
