"""Pre-tokenization patterns: the text is split into pieces by a regex and BPE never merges across pieces.

The presets are the published patterns of GPT-2, GPT-4 (cl100k) and GPT-4o (o200k), written in the form
that the `regex` module, HF `tokenizers` (Oniguruma) and tiktoken (fancy-regex) all read the same way.

Splitting is most of the time of encoding, and Python's `re` runs these patterns twice as fast as `regex`
when the character classes are ASCII. So a preset first cuts the text where no piece of it can cross: after
a newline that is followed by a non-whitespace character (GPT-4: no piece starts with a newline and goes
on, and its whitespace runs end at their last newline; o200k: not before `/`, which may follow newlines in
one piece; GPT-2: only after a lone newline between two non-whitespace characters, as its lookahead would
otherwise see the cut). Each part that is all ASCII goes to the preset's ASCII twin under `re`, the others
to the Unicode pattern under `regex`; the pieces are the same (property-tested against the Unicode pattern).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import regex

PRESETS = {
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "gpt4": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
        r"""|\s*[\r\n]|\s+(?!\S)|\s+"""
    ),
    "o200k": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
DEFAULT = "gpt4"
_WS = r"[\t\n\x0b\x0c\r ]"  # the ASCII characters of Unicode White_Space, which is what `regex` means by \s
_NOT_WS = r"[^\t\n\x0b\x0c\r ]"
ASCII_PRESETS = {
    "gpt2": rf"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+| ?[0-9]+| ?[^\t\n\x0b\x0c\r A-Za-z0-9]+|{_WS}+(?!{_NOT_WS})|{_WS}+""",
    "gpt4": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\nA-Za-z0-9]?+[A-Za-z]+|[0-9]{1,3}| ?[^\t\n\x0b\x0c\r A-Za-z0-9]++[\r\n]*"""
        rf"""|{_WS}*[\r\n]|{_WS}+(?!{_NOT_WS})|{_WS}+"""
    ),
    "o200k": "|".join(
        [
            r"""[^\r\nA-Za-z0-9]?[A-Z]*[a-z]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\nA-Za-z0-9]?[A-Z]+[a-z]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[0-9]{1,3}""",
            r""" ?[^\t\n\x0b\x0c\r A-Za-z0-9]+[\r\n/]*""",
            rf"""{_WS}*[\r\n]+""",
            rf"""{_WS}+(?!{_NOT_WS})""",
            rf"""{_WS}+""",
        ]
    ),
}
_WHITE_SPACE = "".join(c for c in map(chr, range(0x3001)) if regex.match(r"\s", c))  # all of Unicode's <= U+3000
_SPACES = "".join(re.escape(c) for c in _WHITE_SPACE)
_SAFE_CUTS = {
    "gpt2": re.compile(rf"(?<=[^{_SPACES}]\n)(?=[^{_SPACES}])"),
    "gpt4": re.compile(rf"(?<=\n)(?=[^{_SPACES}])"),
    "o200k": re.compile(rf"(?<=\n)(?=[^/{_SPACES}])"),
}


def resolve_pattern(pattern: str) -> str:
    """A preset name or a regex; a regex that does not compile is a ValueError naming the problem."""
    source = PRESETS.get(pattern, pattern)
    try:
        regex.compile(source)
    except regex.error as error:
        raise ValueError(f"pattern: not a preset ({', '.join(PRESETS)}) and not a valid regex: {error}") from None
    return source


def special_splitter(special_tokens: list[str]) -> regex.Pattern[str] | None:
    """Matches any special token, the longest first where two overlap (`<|a|>` before `<|a`)."""
    if not special_tokens:
        return None
    ordered = sorted(set(special_tokens), key=lambda token: (-len(token), token))
    return regex.compile("(" + "|".join(regex.escape(token) for token in ordered) + ")")


def splitter(pattern: str) -> Callable[[str], list[str]]:
    """text -> its pieces: a preset's fast split (see above), or the regex's `findall`."""
    full = regex.compile(resolve_pattern(pattern))
    if pattern not in ASCII_PRESETS:
        return full.findall
    ascii_findall, full_findall, cuts = re.compile(ASCII_PRESETS[pattern]).findall, full.findall, _SAFE_CUTS[pattern]

    def pieces(text: str) -> list[str]:
        if text.isascii():
            return ascii_findall(text)
        found: list[str] = []
        for part in cuts.split(text):
            found += ascii_findall(part) if part.isascii() else full_findall(part)
        return found

    return pieces
