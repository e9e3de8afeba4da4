"""A run request resolved before any work starts: the recipe with the command line's overrides, its input
files, their split over tasks, and the run folder. The runner executes it; the job planner reads it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gristmill_base.errors import UserError
from pipeline.filters.scoring import SCORING_STAGES, load_scorer
from pipeline.inputs import InputFile, assign_files_to_tasks, resolve_inputs
from pipeline.recipe import Recipe, load_recipe


@dataclass
class PreparedRun:
    recipe: Recipe
    recipe_path: Path
    run_dir: Path
    files: list[InputFile]
    plan: list[list[int]]
    limits: list[int | None]


def prepare_run(
    recipe_path: str | Path,
    inputs: list[str] | None = None,
    output: str | Path | None = None,
    workers: int | None = None,
    limit: int | None = None,
    allow_empty_inputs: bool = False,
) -> PreparedRun:
    """Everything that can go wrong with the request goes wrong here, before any work starts."""
    recipe_path = Path(recipe_path)
    recipe = load_recipe(recipe_path)
    for index, stage in enumerate(recipe.stage):
        if isinstance(stage, SCORING_STAGES):  # a missing or damaged model, or a label it lacks: before any work
            try:
                load_scorer(stage)
            except UserError as error:
                raise UserError(f"{recipe_path}: stage[{index}] ({stage.kind}): {error}") from None
    if inputs:
        recipe.ingest.inputs = [p if "://" in p else str(Path(p).resolve()) for p in inputs]
    if workers is not None:
        if workers < 1:
            raise UserError(f"--workers: expected a number >= 1, got {workers}")
        recipe.executor.workers = workers
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit: expected a number >= 1, got {limit}")
        recipe.run.limit = limit
    if allow_empty_inputs:
        recipe.run.allow_empty_inputs = True
    ingest = recipe.ingest
    try:
        files = resolve_inputs(ingest.inputs, ingest.format, ingest.glob, ingest.paths_prefix, ingest.text_field)
    except UserError as error:
        where = "--input" if inputs else f"{recipe_path}: stage[0].inputs"
        raise UserError(f"{where}: {error}") from None
    tasks = recipe.executor.tasks or len(files)
    if recipe.run.limit:
        tasks = min(tasks, recipe.run.limit)
    plan = assign_files_to_tasks(files, tasks)
    run_dir = Path(output or recipe.run.output or Path("runs") / (recipe.run.name or recipe_path.stem)).resolve()
    return PreparedRun(recipe, recipe_path, run_dir, files, plan, _split_limit(recipe.run.limit, len(plan)))


def _split_limit(limit: int | None, tasks: int) -> list[int | None]:
    if limit is None:
        return [None] * tasks
    base, extra = divmod(limit, tasks)
    return [base + (1 if t < extra else 0) for t in range(tasks)]
