"""Recipes: TOML files that say what a run does. Validated whole before any work starts.

A recipe is data only: it is parsed with `tomllib` and checked against the pydantic models
below; nothing in it is executed. Every problem becomes one `UserError` line naming the file,
the key and what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ByteSize, Field, ValidationError

from gristmill_base.errors import UserError
from pipeline.dedup.stages import DEDUP_STAGES, DedupStage, MinhashDedupStage
from pipeline.filters.chain import FILTER_STAGES, FilterStage
from pipeline.filters.decontaminate import DecontaminateStage, check_evaluations
from pipeline.filters.scoring import SCORING_STAGES, ScoringStage
from pipeline.filters.urls import UrlFilterStage
from pipeline.section import Section as _Section
from pipeline.section import read_toml


class RunSection(_Section):
    name: str | None = None
    output: str | None = Field(default=None, description="default RUN_DIR, relative to the recipe's folder")
    limit: Annotated[int, Field(ge=1)] | None = Field(default=None, description="stop after N documents")
    keep_intermediate: bool = Field(
        default=False, description="keep the documents and arrays dedup jobs pass on, once the run is complete"
    )
    allow_empty_inputs: bool = Field(
        default=False, description="an input file that yields no document is not an error (exit status 0, not 3)"
    )


class SlurmOptions(_Section):
    partition: str
    time: str = "24:00:00"
    cpus_per_task: Annotated[int, Field(ge=1)] = 1
    mem_per_cpu_gb: Annotated[float, Field(gt=0)] = 2.0
    job_name: str = "gristmill"
    qos: str | None = None
    env_command: str | None = None
    venv_path: str | None = None
    sbatch_args: dict[str, str] = Field(default_factory=dict)
    max_array_size: Annotated[int, Field(ge=1)] = 1001
    with_srun: bool = True


class RayOptions(_Section):
    address: str | None = Field(default=None, description="existing cluster; None starts a local Ray")
    cpus_per_task: Annotated[int, Field(ge=1)] = 1
    mem_per_cpu_gb: Annotated[float, Field(gt=0)] = 2.0
    timeout_s: Annotated[int, Field(ge=1)] | None = None


class ExecutorSection(_Section):
    kind: Literal["local", "slurm", "ray"] = "local"
    workers: Annotated[int, Field(ge=1)] = Field(default_factory=lambda: os.cpu_count() or 1)
    tasks: Annotated[int, Field(ge=0)] = Field(default=0, description="0: one task per input file")
    slurm: SlurmOptions | None = None
    ray: RayOptions | None = None


class IngestStage(_Section):
    """Read raw records, extract main text from HTML, give each document a stable id."""

    kind: Literal["ingest"]
    inputs: list[str] = Field(default_factory=list)
    format: Literal["auto", "warc", "jsonl", "parquet", "txt"] = "auto"
    glob: str | None = Field(default=None, description="pattern applied to files found in input folders")
    paths_prefix: str | None = Field(default=None, description="prepended to relative lines of paths files")
    text_field: Annotated[str, Field(min_length=1)] = "text"
    id_field: str | None = "id"
    url_field: str | None = "url"
    date_field: str | None = "date"
    extractor: Literal["resiliparse", "trafilatura"] = "resiliparse"
    main_content: bool = True
    extract_timeout: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 10.0
    max_html_bytes: ByteSize = ByteSize(5_000_000)
    invalid_utf8: Literal["skip", "replace"] = "skip"


class ShardStage(_Section):
    """Write the final documents as zstd Parquet shards of a target size, plus a manifest."""

    kind: Literal["shard"]
    shard_size: Annotated[ByteSize, Field(gt=0)] = ByteSize(256_000_000)
    row_group_size: Annotated[ByteSize, Field(gt=0, description="uncompressed bytes per group")] = ByteSize(32_000_000)
    compression_level: Annotated[int, Field(ge=1, le=22)] = 3
    shuffle: bool = Field(
        default=False, description="order documents across all shards by a keyed hash of their id (two more jobs)"
    )
    shuffle_seed: Annotated[int, Field(ge=0, lt=2**63)] = Field(
        default=0, description="the hash key: same seed and input, same shards"
    )


Stage = Annotated[IngestStage | FilterStage | DedupStage | ShardStage, Field(discriminator="kind")]
STAGE_KINDS: dict[str, type[_Section]] = {
    "ingest": IngestStage,
    **{model.model_fields["kind"].default: model for model in (*FILTER_STAGES, *DEDUP_STAGES)},
    "shard": ShardStage,
}


class Recipe(_Section):
    run: RunSection = Field(default_factory=RunSection)
    executor: ExecutorSection = Field(default_factory=ExecutorSection)
    stage: list[Stage]

    @property
    def ingest(self) -> IngestStage:
        return self.stage[0]  # type: ignore[return-value]  # checked by _check_stage_order

    @property
    def shard(self) -> ShardStage:
        return self.stage[-1]  # type: ignore[return-value]

    @property
    def filter_stages(self) -> list[FilterStage]:
        """The per-document stages between ingest and shard, in recipe order."""
        return [stage for stage in self.stage[1:-1] if not needs_the_whole_run(stage)]  # type: ignore[misc]

    @property
    def segments(self) -> list[Segment]:
        """The stages cut at each stage that needs the whole run before it can decide (dedup, a classifier
        keeping a top share)."""
        segments = [Segment(None, [])]
        for stage in self.stage[1:-1]:
            if needs_the_whole_run(stage):
                segments.append(Segment(stage, []))  # type: ignore[arg-type]
            else:
                segments[-1].filters.append(stage)  # type: ignore[arg-type]
        return segments


RunWideStage = DedupStage | ScoringStage


def needs_the_whole_run(stage: object) -> bool:
    return isinstance(stage, DEDUP_STAGES) or (isinstance(stage, SCORING_STAGES) and stage.ranks_the_run)


@dataclass
class Segment:
    """One job of per-document work: it starts with ingest (`opener` None) or with the decisions of a stage
    that needs the whole run, then runs the per-document stages that follow, fused."""

    opener: RunWideStage | None
    filters: list[FilterStage]


def load_recipe(path: str | Path) -> Recipe:
    """Parse and validate a recipe file; relative input paths are resolved against its folder."""
    path = Path(path)
    return recipe_from_dict(read_toml(path, "recipe"), source=str(path), base_dir=path.parent)


def recipe_from_dict(raw: dict[str, Any], source: str, base_dir: Path) -> Recipe:
    """Validate a recipe given as a dict (e.g. parsed TOML); `source` names it in error messages."""
    raw.pop("gristmill", None)  # provenance written into RUN/recipe.toml, so a resolved recipe runs again
    raw.setdefault("stage", [])
    if isinstance(raw["stage"], list) and not any(
        isinstance(s, dict) and s.get("kind") == "shard" for s in raw["stage"]
    ):
        raw["stage"].append({"kind": "shard"})
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"{source}: {_describe(error)}") from None
    _check_stage_order(recipe, source)
    executor = recipe.executor
    if executor.kind == "slurm" and executor.slurm is None:
        # caught here, before any work, rather than when the Slurm executor is built
        raise UserError(f"{source}: executor.slurm.partition: missing required key ([executor.slurm] table needed)")
    for table in ("slurm", "ray"):
        if getattr(executor, table) is not None and executor.kind != table:
            raise UserError(f"{source}: executor.{table}: given, but executor.kind is {executor.kind!r}")
    ingest = recipe.ingest
    ingest.inputs = [_resolve_relative(p, base_dir) for p in ingest.inputs]
    if recipe.run.output:  # written in the file, so relative to it, as every other path of a recipe
        recipe.run.output = _resolve_relative(recipe.run.output, base_dir)
    for stage in recipe.stage:
        if isinstance(stage, MinhashDedupStage) and stage.bands is None:
            # written into RUN/recipe.toml, so a resumed run cannot meet keys banded by another version
            stage.bands, stage.rows = stage.band_split()
    for index, stage in enumerate(recipe.stage):
        if isinstance(stage, SCORING_STAGES):
            stage.model = _resolve_relative(stage.model, base_dir)
        if isinstance(stage, DecontaminateStage):
            stage.evaluations = [_resolve_relative(p, base_dir) for p in stage.evaluations]
            try:
                check_evaluations(stage)
            except UserError as error:
                raise UserError(f"{source}: stage[{index}].evaluations: {error}") from None
        if isinstance(stage, UrlFilterStage):
            for name in URL_LIST_FIELDS:
                paths = [_resolve_relative(p, base_dir) for p in getattr(stage, name)]
                for path in paths:
                    if not os.path.isfile(path):  # before any work, not in a worker halfway through
                        raise UserError(f"{source}: stage[{index}].{name}: list file not found: {path}")
                setattr(stage, name, paths)
    return recipe


URL_LIST_FIELDS = (
    "domains_files",
    "urls_files",
    "banned_words_files",
    "banned_subwords_files",
    "soft_banned_words_files",
)


def _check_stage_order(recipe: Recipe, source: str) -> None:
    kinds = [stage.kind for stage in recipe.stage]
    if not kinds or kinds[0] != "ingest":
        raise UserError(f"{source}: stage[0].kind: expected 'ingest' as the first stage, got {kinds[:1]}")
    for name in ("ingest", "shard"):
        if kinds.count(name) != 1:
            raise UserError(f"{source}: stage: expected exactly one '{name}' stage, got {kinds.count(name)}")
    for index, kind in enumerate(kinds):
        if kind in kinds[:index]:
            raise UserError(f"{source}: stage[{index}].kind: {kind!r} appears twice; each stage kind runs once")
    if kinds[-1] != "shard":
        raise UserError(f"{source}: stage[{len(kinds) - 1}].kind: expected 'shard' as the last stage")


def _resolve_relative(path: str, base_dir: Path) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    return str((base_dir / path).resolve())


def _describe(error: ValidationError) -> str:
    """Turn pydantic's first error into `key: what was expected, got what`."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    key = _format_loc(loc)
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(_model_at(loc[:-1]).model_fields))
        return f"{key}: unknown key; expected one of: {allowed}"
    if kind == "missing":
        return f"{key}: missing required key"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        kinds = ", ".join(repr(k) for k in STAGE_KINDS)
        return f"{key}.kind: expected one of {kinds}, got {first.get('input', {}).get('kind')!r}"
    expected = first["msg"].replace("Input should be", "expected").replace("Value error, ", "")
    return f"{key}: {expected}, got {first.get('input')!r}"


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        elif i > 0 and isinstance(loc[i - 1], int) and item in STAGE_KINDS:
            continue  # pydantic inserts the discriminator value; the index already names the stage
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model class whose fields apply at `loc`, to list the allowed keys."""
    model: type[BaseModel] = Recipe
    for i, item in enumerate(loc):
        if isinstance(item, int):
            continue
        if i > 0 and isinstance(loc[i - 1], int) and item in STAGE_KINDS:
            model = STAGE_KINDS[item]
            continue
        if item == "stage":
            continue
        annotation = model.model_fields[item].annotation
        model = next(
            (
                a
                for a in getattr(annotation, "__args__", (annotation,))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            model,
        )
    return model
