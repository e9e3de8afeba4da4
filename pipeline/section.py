"""The strict pydantic base every recipe section and stage model is built on, and switchable thresholds."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer


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
