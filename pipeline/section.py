"""The strict pydantic base every recipe section and stage model is built on, switchable thresholds, and
reading the TOML files (recipes, training configs) those models validate."""

import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from gristmill_base.errors import UserError


def read_toml(path: Path, kind: str) -> dict[str, Any]:
    """The parsed file, or one UserError line naming it (`kind`: what the file is, e.g. "recipe")."""
    if not path.is_file():
        raise UserError(f"{path}: {kind} file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None


class Section(BaseModel):
    """Strict base: unknown keys and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


def _false_is_off(value: Any) -> Any:
    return None if value is False else value


def _off_is_false(value: Any) -> Any:
    return False if value is None else value


def switchable(threshold: Any) -> Any:
    """A rule threshold that `false` switches off: TOML has no null, so off is read and written as `false`
    (and is `None` in Python), and a resolved recipe written back to TOML keeps the rule off.
    """
    return Annotated[threshold | None, BeforeValidator(_false_is_off), PlainSerializer(_off_is_false)]
