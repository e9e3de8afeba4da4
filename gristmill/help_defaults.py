"""Every option's default in `--help`, added in one place rather than typed (and left to go stale) in each help
string: argparse's own ArgumentDefaultsHelpFormatter would also print "(default: None)" for options whose
default is decided at run time, which their help strings describe in words instead."""

from __future__ import annotations

import argparse

UNSHOWN = (None, False, [], argparse.SUPPRESS)


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append "(default: X)" to the help of every option of `parser` and its subcommands that has a concrete
    default and does not state one already."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in set(action.choices.values()):
                show_defaults(subparser)
            continue
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if any(action.default is unshown for unshown in UNSHOWN) or action.default == []:
            continue
        if "default" not in (action.help or ""):
            action.help = f"{action.help} (default: {action.default})" if action.help else f"default: {action.default}"


def options_without_a_default(parser: argparse.ArgumentParser, prefix: str = "gristmill") -> list[str]:
    """`COMMAND --option` for every option whose help neither states a default nor needs one (a flag that is off
    unless given, a required option, --help): what a user would have to guess. A help saying when the option is
    required (`required unless --inspect`) states it too."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                missing += options_without_a_default(subparser, f"{prefix} {name}")
            continue
        if not action.option_strings or isinstance(action, argparse._HelpAction) or action.nargs == 0:
            continue  # --help, --version and flags: nothing to default
        if action.required:
            continue
        if "default" not in (action.help or "") and "required" not in (action.help or ""):
            missing.append(f"{prefix} {action.option_strings[-1]}")
    return missing
