"""Recipe stages for deduplication, and the columns each adds. A dedup stage needs every document of the
run before it can decide about one, so in a run it is a job boundary (see `pipeline.jobs`)."""

from __future__ import annotations

from typing import Annotated, Literal

import pyarrow as pa
from pydantic import BeforeValidator, Field, model_validator

from pipeline.dedup.minhash import lsh_parameters
from pipeline.dedup.shingles import Normalization
from pipeline.section import Section

Probability = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


def _no_boolean(value: object) -> object:
    """`normalize = true` once meant the aggressive normalisation; say so rather than guess."""
    if isinstance(value, bool):
        raise ValueError(
            'normalize takes "text" (case and spacing; the default), "none" (exact characters) or "aggressive" '
            "(also digits -> 0, no punctuation or accents; `true` meant this before)"
        )
    return value


NormalizeOption = Annotated[
    Normalization,
    BeforeValidator(_no_boolean),
    Field(description='"text": case and spacing; "none": exact; "aggressive": also numbers and punctuation'),
]


class ExactDedupStage(Section):
    """Documents whose text is identical under `normalize`: the first in run order is kept. By default
    texts that differ in a digit (two price lists, two match reports) are different documents."""

    kind: Literal["exact_dedup"] = "exact_dedup"
    normalize: NormalizeOption = "text"
    bucket_tasks: Annotated[int, Field(ge=1, le=4096)] = Field(default=1, description="tasks sharing the keys")


class LineDedupStage(Section):
    """Lines found in more than `max_documents` documents of the run are cut from every document;
    a document left with no non-blank line is removed. Lines are compared under `normalize`: by default
    their text (case and spacing aside), so table rows, dated lines and numbered steps stay distinct."""

    kind: Literal["line_dedup"] = "line_dedup"
    max_documents: Annotated[int, Field(ge=1)] = 10
    normalize: NormalizeOption = "text"
    min_line_chars: Annotated[int, Field(ge=0)] = Field(
        default=0, description="shorter lines (after normalisation) are never cut"
    )
    count_tasks: Annotated[int, Field(ge=1, le=4096)] = Field(default=1, description="tasks sharing the counting")


class MinhashDedupStage(Section):
    """Near duplicates by MinHash LSH; clusters are connected components; the first in run order is kept."""

    kind: Literal["minhash_dedup"] = "minhash_dedup"
    shingle: Literal["word", "char"] = "word"
    ngram: Annotated[int, Field(ge=1, le=64)] = 5
    num_perm: Annotated[int, Field(ge=2, le=1024)] = 128
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 1
    threshold: Probability = 0.8
    bands: Annotated[int, Field(ge=1)] | None = Field(default=None, description="with rows; else from threshold")
    rows: Annotated[int, Field(ge=1)] | None = None
    false_positive_weight: Probability = 0.2
    false_negative_weight: Probability = 0.8
    verify: bool = Field(default=True, description="drop candidate pairs whose signature estimate < threshold")
    bucket_tasks_per_band: Annotated[int, Field(ge=1, le=4096)] = 1

    @model_validator(mode="after")
    def _check_bands(self) -> MinhashDedupStage:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows go together: give both or neither")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if abs(self.false_positive_weight + self.false_negative_weight - 1.0) > 1e-9:
            raise ValueError("false_positive_weight + false_negative_weight must be 1")
        return self

    def band_split(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return lsh_parameters(self.threshold, self.num_perm, self.false_positive_weight, self.false_negative_weight)


DedupStage = ExactDedupStage | LineDedupStage | MinhashDedupStage
DEDUP_STAGES: tuple[type[DedupStage], ...] = (ExactDedupStage, LineDedupStage, MinhashDedupStage)


def cluster_columns(kind: str) -> tuple[pa.Field, ...]:
    """Kept documents of a cluster carry its id and size; removed ones also the kept document's id."""
    return (
        pa.field(f"{kind}_cluster", pa.int64()),
        pa.field(f"{kind}_cluster_size", pa.int32()),
        pa.field(f"{kind}_kept_id", pa.string()),
    )


def dedup_columns(stage: DedupStage) -> tuple[pa.Field, ...]:
    if isinstance(stage, LineDedupStage):
        return (pa.field("line_dedup_lines_removed", pa.int32()),)
    return cluster_columns(stage.kind)
