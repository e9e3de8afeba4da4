"""What a report reads from a finished run folder, with one clear error for a folder that is not one."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gristmill_base.errors import UserError
from pipeline.dedup.dataset import document_files


@dataclass
class RunFolder:
    path: Path

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        run = cls(Path(path).resolve())
        if not (run.path / "recipe.toml").is_file():
            raise UserError(f"{path}: not a gristmill run folder (no recipe.toml)")
        if not (run.path / "stats" / "summary.json").is_file() or not (run.path / "shards" / "manifest.json").is_file():
            raise UserError(f"{path}: the run has not finished; run the same `gristmill run` command again first")
        return run

    @cached_property
    def recipe(self) -> dict[str, Any]:
        return tomllib.loads((self.path / "recipe.toml").read_text(encoding="utf-8"))

    @cached_property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.path / "stats" / "summary.json").read_text())

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / "shards" / "manifest.json").read_text())

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.recipe["stage"]

    def stage_options(self, kind: str) -> dict[str, Any]:
        return next(stage for stage in self.stages if stage["kind"] == kind)

    def shard_files(self) -> list[Path]:
        return sorted((self.path / "shards").rglob("part-*.parquet"))

    def removed_files(self, stage: str | None = None) -> list[Path]:
        """Every removed document's file, or one stage's, in name order."""
        folders = [self.path / "removed" / stage] if stage else sorted((self.path / "removed").glob("*"))
        return [path for folder in folders for path in document_files(folder)]

    def removed_stages(self) -> list[str]:
        return [folder.name for folder in sorted((self.path / "removed").glob("*")) if document_files(folder)]

    def cluster_stats(self, stage: str) -> dict[str, Any] | None:
        path = self.path / "stats" / stage / "clusters.json"
        return json.loads(path.read_text()) if path.is_file() else None
