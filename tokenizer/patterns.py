"""Pre-tokenization patterns: the text is split into pieces by a regex and BPE never merges across pieces.

The presets are the published patterns of GPT-2, GPT-4 (cl100k), GPT-4o (o200k), Llama 3 and Qwen 2 (also
Qwen 2.5 and 3), written as those vocabularies' own files write them; the `regex` module, HF `tokenizers`
(Oniguruma) and tiktoken (fancy-regex) read them the same way. Encoding does not run these regexes:
`tokenizer.scan` walks the text by the same rules, compiled; any other pattern goes through `regex`.
"""

from __future__ import annotations

from tokenizer.errors import SettingError

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
LLAMA3 = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"""
    r"""|\s+(?!\S)|\s+"""
)
QWEN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"""
    r"""|\s+(?!\S)|\s+"""
)
PRESETS |= {"llama3": LLAMA3, "qwen2": QWEN}
DEFAULT = "gpt4"


def resolve_pattern(pattern: str) -> str:
    """A preset name or a regex. A regex that does not compile, or a bare word that is no preset (a misspelt
    name: as a regex it would match only itself), is a SettingError naming the problem."""
    import regex  # here: the command line lists the presets without loading the regex engine

    presets = ", ".join(PRESETS)
    if pattern not in PRESETS and regex.fullmatch(r"\w+", pattern):
        raise SettingError("pattern", pattern, f"not a preset ({presets}); as a regex it would match only itself")
    source = PRESETS.get(pattern, pattern)
    try:
        regex.compile(source)
    except regex.error as error:
        raise SettingError("pattern", pattern, f"not a preset ({presets}) and not a valid regex: {error}") from None
    return source
