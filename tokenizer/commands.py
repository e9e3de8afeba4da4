"""`gristmill tokenizer train | encode | decode | import | add-special | export | inspect`: argument handling and
output; the work is in the package. Every user mistake becomes a UserError (one line, exit 2) that names the
flag or argument as the user typed it.

Building the parsers imports nothing heavy (`gristmill --help` stays fast): numba, numpy, regex, rich and HF
`tokenizers` are imported by the handlers that use them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gristmill_base.errors import UserError
from tokenizer.chat import CHAT_TOKENS
from tokenizer.errors import SettingError
from tokenizer.patterns import DEFAULT, PRESETS
from tokenizer.tiktoken_file import ENCODINGS

if TYPE_CHECKING:
    from tokenizer.core import Tokenizer

SAMPLE_BYTES = 1 << 20
CHECK_TEXTS = [
    "The mill turns: 1,234 sacks a day, don't it? Ça tourne. Die Mühle dreht sich. 水车每天转动。",
    "def grind(x):\n    return [i ** 2 for i in x]  # flour\n\n\t  trailing   ",
    "Emoji 🙂👍🏽👨‍👩‍👧 🇫🇷, Ελληνικά, русский, हिन्दी, العربية, 한국어, 日本語のテキスト.",
]
PRESET_NAMES = ", ".join(PRESETS)


def add_parsers(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("tokenizer", help="train and use byte-level BPE tokenizers")
    sub = parser.add_subparsers(dest="tokenizer_command", metavar="SUBCOMMAND", required=True)

    train = sub.add_parser("train", help="train a tokenizer on text, JSONL, Parquet or a run folder")
    train.add_argument("--input", action="append", required=True, metavar="PATH", help="file or folder (repeatable)")
    train.add_argument("--vocab-size", type=int, required=True, metavar="N", help="bytes + merges + special tokens")
    train.add_argument("--output", required=True, metavar="DIR", help="tokenizer folder to write")
    train.add_argument("--special-token", action="append", default=[], metavar="T", help="repeatable (default: none)")
    train.add_argument(
        "--pattern",
        default=DEFAULT,
        metavar="P",
        help=f"pre-tokenizer: a preset ({PRESET_NAMES}) or a regex (default {DEFAULT})",
    )
    train.add_argument("--text-column", default="text", metavar="C", help="JSONL field / Parquet column (default text)")
    train.add_argument(
        "--min-frequency", type=int, default=1, metavar="F", help="merge only pairs occurring >= F times (default 1)"
    )
    train.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="counting processes (default 1: it is compiled; more help only on large corpora, ~150 MB each)",
    )
    train.set_defaults(handler=cmd_train)

    encode = sub.add_parser("encode", help="print the ids of a text (--text, a file, or stdin)")
    encode.add_argument("tokenizer", metavar="TOK", help="a tokenizer folder or file")
    encode.add_argument("file", nargs="?", metavar="FILE", help="text file (default: stdin)")
    encode.add_argument("--text", help="the text itself (default: FILE, else stdin)")
    encode.add_argument("--allow-special", action="store_true", help="special tokens in the text become their ids")
    encode.set_defaults(handler=cmd_encode)

    decode = sub.add_parser("decode", help="print the text of ids (arguments or stdin, space or comma separated)")
    decode.add_argument("tokenizer", metavar="TOK", help="a tokenizer folder or file")
    decode.add_argument("ids", nargs="*", metavar="ID", help="ids (default: read from stdin)")
    decode.set_defaults(handler=cmd_decode)

    imported = sub.add_parser(
        "import", help="another tool's byte-level vocabulary as a tokenizer folder, same ids (HF loads it too)"
    )
    imported.add_argument(
        "source",
        metavar="SOURCE",
        help="an HF tokenizer.json or its folder, a .tiktoken(.gz) file, GPT-2's vocab.json or encoder.json",
    )
    imported.add_argument("--output", required=True, metavar="DIR", help="tokenizer folder to write")
    imported.add_argument(
        "--pattern",
        metavar="P",
        help=f"a rank file's pattern: a preset ({PRESET_NAMES}) or a regex "
        f"(default: the encoding's own, for {', '.join(ENCODINGS)})",
    )
    imported.add_argument(
        "--special-token",
        action="append",
        default=[],
        metavar="NAME=ID",
        help="a rank file's special token, repeatable (default: the encoding's own)",
    )
    imported.set_defaults(handler=cmd_import)

    add_special = sub.add_parser(
        "add-special", help="add special tokens at new ids (every other id stays): e.g. --chat for fine-tuning"
    )
    add_special.add_argument("tokenizer", metavar="TOK", help="a tokenizer folder or file")
    add_special.add_argument("--chat", action="store_true", help="the chat format's tokens: " + " ".join(CHAT_TOKENS))
    add_special.add_argument(
        "--token", action="append", default=[], metavar="T", help="a special token, repeatable (default: none)"
    )
    add_special.add_argument("--output", metavar="DIR", help="folder to write (default: the tokenizer folder itself)")
    add_special.set_defaults(handler=cmd_add_special)

    export = sub.add_parser("export", help="write tiktoken ranks (`base64 rank` lines)")
    export.add_argument("tokenizer", metavar="TOK", help="a tokenizer folder or file")
    export.add_argument("--tiktoken", required=True, metavar="FILE", help="the .tiktoken file to write")
    export.set_defaults(handler=cmd_export)

    inspect = sub.add_parser("inspect", help="vocab, specials, longest tokens, compression side by side")
    inspect.add_argument(
        "tokenizers", nargs="+", metavar="DIR_OR_JSON", help="gristmill folders or tokenizer.json files"
    )
    inspect.add_argument(
        "--text", metavar="PATH", help="text, JSONL or Parquet to measure compression on (default: none)"
    )
    inspect.set_defaults(handler=cmd_inspect)


def load(path: str) -> Tokenizer:
    """The tokenizer at `path` (a positional argument: its errors name the path); a note on stderr says what
    was assumed where no gristmill.json says it."""
    from tokenizer.core import Tokenizer
    from tokenizer.files import assumed, read_any

    try:
        definition = read_any(path)
        tokenizer = Tokenizer.from_definition(definition)
    except ValueError as error:
        raise UserError(str(error)) from None
    note = assumed(path, definition)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return tokenizer


def output_folder(flag: str, value: str) -> Path:
    """A folder to write: new, or a folder already (never a file)."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {value}: is a file; name a folder")
    return path


@contextmanager
def writing(flag: str, value: str) -> Iterator[None]:
    """What goes wrong writing the `flag` path (a missing parent, no permission, a full disk), as one line."""
    try:
        yield
    except OSError as error:
        raise UserError(f"{flag} {value}: cannot write ({error.strerror or error})") from None


def cmd_train(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from tokenizer.sources import input_files
    from tokenizer.train import TrainingStats, train_bpe

    console = Console(stderr=True)
    try:
        files = input_files(args.input)
    except ValueError as error:
        raise UserError(f"--input {error}") from None
    output = output_folder("--output", args.output)
    stats = TrainingStats()
    started = time.perf_counter()
    try:
        tokenizer = train_bpe(
            files,
            args.vocab_size,
            args.special_token,
            args.pattern,
            args.min_frequency,
            args.workers,
            args.text_column,
            show_progress=True,
            stats=stats,
            warn=False,  # said below, in the summary
        )
    except SettingError as error:
        raise UserError(error.as_flag()) from None
    except ValueError as error:  # a damaged input file: the message names it
        raise UserError(str(error)) from None
    with writing("--output", args.output):
        tokenizer.save(output)
    sample = _sample(files, args.text_column)
    ids = tokenizer.encode(sample, disallowed_special=())
    console.print(
        f"trained {args.output}: vocab {tokenizer.vocab_size:,} = 256 bytes + {len(tokenizer.vocab) - 256:,} merges "
        f"+ {len(tokenizer.special_tokens)} special; {stats.documents:,} documents, {stats.text_bytes / 1e6:,.1f} MB, "
        f"{stats.distinct_pretokens:,} distinct pre-tokens; counting {stats.count_seconds:,.1f} s, merges "
        f"{stats.merge_seconds:,.1f} s, total {time.perf_counter() - started:,.1f} s; "
        f"{len(sample.encode()) / max(len(ids), 1):.2f} bytes/token on the first {len(sample.encode()) / 1e6:.1f} MB",
        soft_wrap=True,
    )
    shortfall = stats.shortfall(cli=True)
    if shortfall:
        console.print(shortfall, style="yellow", soft_wrap=True, markup=False, highlight=False)
    return 0


def _sample(inputs: list[Path], text_column: str) -> str:
    from tokenizer.sources import read_texts

    parts, size = [], 0
    for path in inputs:
        for text in read_texts(path, text_column):
            parts.append(text)
            size += len(text)
            if size >= SAMPLE_BYTES:
                return "".join(parts)
    return "".join(parts)


def cmd_encode(args: argparse.Namespace) -> int:
    if args.text is not None and args.file is not None:
        raise UserError(f"--text and FILE {args.file}: give the text one way")
    tokenizer = load(args.tokenizer)
    text = args.text if args.text is not None else _read_input(args.file)
    try:
        ids = tokenizer.encode(text, allowed_special="all" if args.allow_special else ())
    except ValueError as error:
        raise UserError(f"{error} (--allow-special)") from None
    print(" ".join(map(str, ids)))
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    raw = " ".join(args.ids) if args.ids else sys.stdin.read()
    words = raw.replace(",", " ").split()
    wrong = next((word for word in words if not word.removeprefix("-").isdecimal()), None)
    if wrong is not None:
        raise UserError(f"{wrong!r}: not an id (ids are whole numbers)")
    tokenizer = load(args.tokenizer)
    try:
        sys.stdout.write(tokenizer.decode([int(word) for word in words]))
    except ValueError as error:
        raise UserError(str(error)) from None
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tokenizers import Tokenizer as HFTokenizer

    from tokenizer.core import Tokenizer
    from tokenizer.files import read_any
    from tokenizer.patterns import resolve_pattern
    from tokenizer.tiktoken_file import read_tiktoken

    source = Path(args.source)
    if not source.exists():
        raise UserError(f"{source}: no such file or folder")
    specials = dict(_special_token(value) for value in args.special_token) or None
    rank_file = source.name.endswith((".tiktoken", ".tiktoken.gz"))
    if not rank_file and (args.pattern or specials):
        given = "--pattern" if args.pattern else "--special-token"
        raise UserError(f"{given}: only for a .tiktoken rank file; {source} carries its own")
    if args.pattern:
        try:
            resolve_pattern(args.pattern)
        except SettingError as error:
            raise UserError(error.as_flag()) from None
    output = output_folder("--output", args.output)
    try:
        definition = read_tiktoken(source, args.pattern, specials) if rank_file else read_any(source)
    except ValueError as error:
        raise UserError(str(error)) from None
    taken = [f"{name}={i}" for name, i in (specials or {}).items() if i in definition.vocab]
    if taken:
        raise UserError(f"--special-token {taken[0]}: that id is a token of {source} already")
    try:
        tokenizer = Tokenizer.from_definition(definition)
    except ValueError as error:
        raise UserError(f"{source}: {error}") from None
    with writing("--output", args.output):
        tokenizer.save(output)
    hf = HFTokenizer.from_file(str(output / "tokenizer.json"))
    same = all(hf.encode(text, add_special_tokens=False).ids == tokenizer.encode(text) for text in CHECK_TEXTS)
    pattern = tokenizer.pattern if len(tokenizer.pattern) < 20 else "regex"
    print(
        f"imported {source} to {args.output}: vocab size {tokenizer.vocab_size:,} ({len(tokenizer.vocab):,} tokens, "
        f"{len(tokenizer.special_ids)} special), pattern {pattern}, "
        f"{'tiktoken ranks' if tokenizer.merges is None else f'{len(tokenizer.merges):,} merges'}; HF tokenizers "
        f"loads the folder's tokenizer.json with {'the same' if same else 'DIFFERENT'} ids on {len(CHECK_TEXTS)} texts"
    )
    return 0 if same else 1


def _special_token(value: str) -> tuple[str, int]:
    name, _, number = value.rpartition("=")
    if not name or not number.isdigit():
        raise UserError(f"--special-token {value}: expected NAME=ID")
    return name, int(number)


def cmd_add_special(args: argparse.Namespace) -> int:
    from tokenizer.core import Tokenizer
    from tokenizer.definition import with_specials
    from tokenizer.files import fingerprint, lineage

    source = Path(args.tokenizer)
    tokens = list(dict.fromkeys([*(CHAT_TOKENS if args.chat else []), *args.token]))
    if not tokens:
        raise UserError("add-special: name the tokens: --chat and/or --token T")
    blank = next((token for token in tokens if not token or token.isspace()), None)
    if blank is not None:
        raise UserError(f"--token {blank!r}: a special token needs visible text")
    output = output_folder("--output", args.output) if args.output else source
    if output == source and source.is_file():
        raise UserError(f"add-special: {source} is a file; pass --output DIR for the new tokenizer folder")
    tokenizer = load(args.tokenizer)
    extended = Tokenizer.from_definition(with_specials(tokenizer.definition, tokens))
    new = {token: i for token, i in extended.special_ids.items() if token not in tokenizer.special_ids}
    with writing("--output" if args.output else "TOK", str(output)):
        extended.save(output, extends=[fingerprint(source), *lineage(source)])
    kept = [token for token in tokens if token not in new]
    plain = [token for token in new if not (token[0] in "<[" and token[-1] in ">]")]
    if plain:  # HF splits special-token text out of any text: a word as a token changes HF's ids of prose
        print(
            f"note: {', '.join(plain)}: special tokens usually look like <|name|>; Hugging Face tokenizers "
            "turn their text into the token wherever it occurs in text, gristmill only where allowed"
        )
    print(
        f"{output}: added {', '.join(f'{t} = {i}' for t, i in new.items()) or 'nothing'}"
        + (f"; already there: {', '.join(kept)}" if kept else "")
        + f"; vocab size {tokenizer.vocab_size:,} -> {extended.vocab_size:,}, every other id unchanged"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from tokenizer.tiktoken_file import write_tiktoken

    target = Path(args.tiktoken)
    if target.is_dir():
        raise UserError(f"--tiktoken {args.tiktoken}: is a folder; name the .tiktoken file to write")
    tokenizer = load(args.tokenizer)
    with writing("--tiktoken", args.tiktoken):
        write_tiktoken(tokenizer.definition, target)
    print(
        f"wrote {len(tokenizer.vocab):,} ranks to {args.tiktoken}; special tokens: {json.dumps(tokenizer.special_ids)}"
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from tokenizers import Tokenizer as HFTokenizer

    from tokenizer.sources import input_files

    console = Console()
    text = None
    if args.text:
        try:
            text = _sample(input_files([args.text]), "text")
        except SettingError as error:
            raise UserError(f"--text {args.text}: {error.problem}") from None
        except ValueError as error:
            raise UserError(f"--text {error}") from None
    table = Table(title="tokenizers" + (f" on {args.text}" if text else ""), title_justify="left")
    for column in ("tokenizer", "vocab", "special tokens", "bytes/token", "tokens/word"):
        table.add_column(column, justify="left" if column in ("tokenizer", "special tokens") else "right")
    for path in args.tokenizers:
        file = Path(path) / "tokenizer.json" if Path(path).is_dir() else Path(path)
        if not file.is_file():
            raise UserError(f"{path}: no tokenizer.json")
        try:
            hf = HFTokenizer.from_file(str(file))
        except Exception as error:  # the HF library raises its own exception types for damaged files
            raise UserError(f"{file}: not a tokenizer.json HF tokenizers can load: {error}") from None
        specials = [t.content for t in hf.get_added_tokens_decoder().values() if t.special]
        row = [str(path), f"{hf.get_vocab_size():,}", ", ".join(specials[:4]) or "-", "-", "-"]
        if text:
            count = len(hf.encode(text).ids)
            row[3] = f"{len(text.encode()) / max(count, 1):.2f}"
            row[4] = f"{count / max(len(text.split()), 1):.2f}"
        table.add_row(*row)
        if Path(path).is_dir() and (Path(path) / "gristmill.json").is_file():
            ours = load(path)
            longest = sorted(ours.vocab.values(), key=lambda t: (-len(t), t))[:8]
            shown = ", ".join(repr(t.decode("utf-8", errors="replace")) for t in longest)
            console.print(f"{path}: pattern {ours.pattern!r}; longest tokens: {shown}")
    console.print(table)
    return 0


def _read_input(file: str | None) -> str:
    if file is None:
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{file}: not UTF-8 text") from None
    except OSError as error:
        raise UserError(f"{file}: {error.strerror or error}") from None
