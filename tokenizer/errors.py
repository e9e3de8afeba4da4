"""`SettingError`: a bad value of a named setting, kept apart from the message so that the command line can
name its own flag for it (`vocab_size` -> `--vocab-size`) and the API the parameter."""

from __future__ import annotations


class SettingError(ValueError):
    """`setting` (a parameter name) has a `value` that cannot work, for the reason `problem`."""

    def __init__(self, setting: str, value: object, problem: str):
        super().__init__(f"{setting} {value}: {problem}")
        self.setting, self.value, self.problem = setting, value, problem

    def as_flag(self, flag: str | None = None) -> str:
        """The message naming the command-line flag (by default the setting's name as a flag)."""
        return f"{flag or '--' + self.setting.replace('_', '-')} {self.value}: {self.problem}"
