"""URL blocklist filter: remove a document because of where it came from, before its text is judged.

Whole sites (adult, malware, phishing, gambling, ...) are cheaper and more reliably dropped by their
URL than by text heuristics, and the check needs nothing but the URL. Rules, in this order; the first
that fires removes the document:

- `url_missing`: no URL (None, blank or not a string), only with `missing_url = "remove"`.
- `url_domain`: the host, or a parent of it down to its registered domain (public suffix + one label,
  from tldextract's bundled suffix snapshot, never the network), is listed. Listing `bad.com` blocks
  `a.b.bad.com`; listing `sub.good.com` blocks `x.sub.good.com` but not `good.com`; a listed public
  suffix (`co.uk`) blocks nothing by itself. An unknown suffix counts as one label (the public
  suffix algorithm's default rule), so `a.blocked.test` has the registered domain `blocked.test`;
  IP addresses match only as a whole.
- `url_exact`: the URL is listed. Both sides are compared as `host + path + ?query`, lowercased, with
  the scheme, userinfo, port, fragment and trailing slashes of the path dropped, so
  `HTTP://www.Bad.com:80/x/#top` matches the entry `bad.com/x`. Percent-escapes are compared as written.
- `url_banned_word`: a word of the URL (the lowercased URL split on non-alphanumerics) is banned.
- `url_soft_banned_words`: at least `soft_banned_word_threshold` distinct soft-banned words occur.
- `url_banned_subword`: a banned string occurs in the URL lowercased with non-alphanumerics removed
  (Aho-Corasick, one pass whatever the list size).

Hosts and domain entries are lowercased, stripped of edge dots and of a leading `www.` (when a name
remains), and non-ASCII names are IDNA-encoded (Python's IDNA 2003 codec) to match punycode entries.
Word and subword entries are lowercased with non-alphanumerics removed, like the URL they are matched
against. List files hold one entry per line; blank lines and lines starting with `#` are ignored.

Malformed input never raises: a URL is split by a forgiving pattern rather than a validating parser,
only its first 64 KiB are checked, and a host longer than a DNS name (253 characters) is matched
only as a whole.

Default lists (`default_lists = true`) are read at runtime from the installed datatrove package
(Apache-2.0): the `domains` (~4.6M entries) and `urls` members of its UT1 tarball, read in memory
without extraction, and its banned / soft-banned word and subword lists. The domain and URL lists are
the Université Toulouse 1 Capitole (UT1) blacklists, licensed CC BY-SA 4.0.

Memory and speed: one blocklist lives in each worker process. Measured on the default lists: a
Python set of the 4.6M domains costs ~490 MB RSS (~700 MB peak while loading) and loads in ~2.5 s;
the sorted numpy array of 64-bit blake2b hashes used here costs 36 MB (~75 MB peak) and loads in
~5-7 s, and a false match would need a 64-bit collision (~2.5e-13 per lookup). A check takes ~10 us.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from importlib.resources import files
from itertools import chain
from typing import Annotated, BinaryIO, Literal

import ahocorasick
import numpy as np
import tldextract
from pydantic import Field

from gristmill_base.errors import UserError
from pipeline.filters.verdict import Verdict
from pipeline.section import Section

_ASSETS = files("datatrove") / "assets"
_UT1_TARBALL = "url_filterblacklistsv0_3_0.tar.gz"
_MAX_URL_CHARS = 1 << 16
_MAX_HOST_CHARS = 253
_WORD = re.compile(r"[^\W_]+")
# [scheme:]//netloc path?query#fragment, every part optional; a scheme counts only before "//".
_URL = re.compile(r"(?:[a-z][a-z0-9+.\-]*:(?=//))?(?://)?([^/?#]*)([^#]*)")
# Bundled public-suffix snapshot only: no download, no cache directory.
_TLD = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())
_URL_MARK = b"\n"  # prefixes URL keys so they share one hash set with host keys without colliding


class UrlFilterStage(Section):
    """Recipe stage `kind = "url_filter"`: the shipped lists plus any user list files."""

    kind: Literal["url_filter"] = "url_filter"
    default_lists: bool = True
    domains_files: list[str] = Field(default_factory=list)
    urls_files: list[str] = Field(default_factory=list)
    banned_words_files: list[str] = Field(default_factory=list)
    banned_subwords_files: list[str] = Field(default_factory=list)
    soft_banned_words_files: list[str] = Field(default_factory=list)
    soft_banned_word_threshold: Annotated[int, Field(ge=1)] = 2
    missing_url: Literal["keep", "remove"] = "keep"


class UrlBlocklist:
    """Loaded once per process (the default domain list is ~4.6M entries); `check` is the per-document call."""

    def __init__(self, options: UrlFilterStage) -> None:
        self.options = options
        default = options.default_lists
        with ExitStack() as stack:
            # Open every user file first, so a missing one fails before the default lists are read.
            user = {
                name: [stack.enter_context(_open(path)) for path in getattr(options, name)]
                for name in (
                    "domains_files",
                    "urls_files",
                    "banned_words_files",
                    "banned_subwords_files",
                    "soft_banned_words_files",
                )
            }
            self._listed = _HashSet(
                chain(
                    _default_hosts_and_urls() if default else (),
                    _host_keys(chain.from_iterable(user["domains_files"])),
                    _url_keys(chain.from_iterable(user["urls_files"])),
                )
            )
            self._banned = frozenset(_words("banned_words.txt", default, user["banned_words_files"]))
            self._soft = frozenset(_words("soft_banned_words.txt", default, user["soft_banned_words_files"]))
            subwords = set(_words("banned_subwords.txt", default, user["banned_subwords_files"]))
        self._subwords: ahocorasick.Automaton | None = None
        if subwords:
            self._subwords = ahocorasick.Automaton()
            for subword in sorted(subwords):
                self._subwords.add_word(subword, subword)
            self._subwords.make_automaton()

    def check(self, url: str | None, text: str = "") -> Verdict:
        """Keep or remove the document at `url`; `text` is passed through unchanged."""
        lowered = url[:_MAX_URL_CHARS].strip().lower() if isinstance(url, str) else ""
        if not lowered:
            if self.options.missing_url == "remove":
                return Verdict(text, "url_missing", "url missing")
            return Verdict(text)

        host, url_key = _url_parts(lowered)
        parents = _parents(host)
        hits = self._listed.find([*parents, url_key])
        if any(hits[:-1]):
            allowed = _parents_within_registered_domain(parents)
            domain = next((p for p, hit in zip(parents[:allowed], hits, strict=False) if hit), None)
            if domain is not None:
                return Verdict(text, "url_domain", f"domain={_show(domain)} in blocklist")
        if hits[-1]:
            return Verdict(text, "url_exact", f"url={_show(url_key[len(_URL_MARK) :])} in blocklist")

        words = _WORD.findall(lowered)
        if not self._banned.isdisjoint(words):
            banned = next(w for w in words if w in self._banned)
            return Verdict(text, "url_banned_word", f"word={banned} in banned words")
        soft = self._soft.intersection(words)
        threshold = self.options.soft_banned_word_threshold
        if len(soft) >= threshold:
            detail = f"soft_banned_words={len(soft)} >= {threshold} ({', '.join(sorted(soft))})"
            return Verdict(text, "url_soft_banned_words", detail)
        if self._subwords is not None:
            match = next(self._subwords.iter("".join(words)), None)
            if match is not None:
                return Verdict(text, "url_banned_subword", f"subword={match[1]} in url")
        return Verdict(text)


_BLOCKLISTS: dict[str, UrlBlocklist] = {}


def shared_blocklist(options: UrlFilterStage) -> UrlBlocklist:
    """One blocklist per distinct options per process: a worker that runs many tasks loads the lists once."""
    key = options.model_dump_json()
    if key not in _BLOCKLISTS:
        _BLOCKLISTS[key] = UrlBlocklist(options)
    return _BLOCKLISTS[key]


def url_filter(url: str | None, text: str = "", options: UrlFilterStage | None = None) -> Verdict:
    """Plain-function form for notebooks; the blocklist is built once per distinct options (files read once)."""
    return shared_blocklist(options or UrlFilterStage()).check(url, text)


class _HashSet:
    """Membership in a large set of byte strings, held as a sorted array of their 64-bit blake2b hashes.

    8 bytes per entry instead of ~100 for a Python set; built from a stream so the keys never coexist.
    """

    def __init__(self, keys: Iterable[bytes]) -> None:
        buffer = bytearray()
        for key in keys:
            buffer += _hash(key)
        self._hashes = np.sort(np.frombuffer(buffer, dtype="<u8"))

    def find(self, keys: list[bytes]) -> list[bool]:
        """Whether each key is in the set (one vectorised search for all of them)."""
        if not len(self._hashes):
            return [False] * len(keys)
        wanted = np.frombuffer(b"".join(map(_hash, keys)), dtype="<u8")
        return (self._hashes.take(self._hashes.searchsorted(wanted), mode="clip") == wanted).tolist()


def _hash(key: bytes) -> bytes:
    return hashlib.blake2b(key, digest_size=8).digest()


def _url_parts(lowered: str) -> tuple[bytes, bytes]:
    """(host key, URL key) of a lowercased URL: scheme, userinfo, port and fragment dropped."""
    netloc, rest = _URL.match(lowered).groups()  # always matches: every part is optional
    netloc = netloc.rpartition("@")[2]
    host = netloc[1:].partition("]")[0] if netloc.startswith("[") else netloc.partition(":")[0]
    host_key = _host_key(host)
    path, sep, query = rest.partition("?")
    return host_key, _URL_MARK + host_key + (path.rstrip("/") + sep + query).encode("utf-8", "surrogatepass")


def _host_key(host: str) -> bytes:
    """Lowercase, edge dots stripped, IDNA (punycode) where the codec accepts it, leading `www.` dropped."""
    host = host.strip().strip(".").lower()
    if host.isascii() or len(host) > _MAX_HOST_CHARS:  # too long for a DNS name, and slow to IDNA-encode
        return _without_www(host.encode("utf-8", "surrogatepass"))
    try:
        return _without_www(host.encode("idna"))
    except UnicodeError:
        return _without_www(host.encode("utf-8", "surrogatepass"))


def _without_www(host: bytes) -> bytes:
    return host[4:] if host.startswith(b"www.") and host.count(b".") > 1 else host


def _parents(host: bytes) -> list[bytes]:
    """`a.b.bad.com` -> [a.b.bad.com, b.bad.com, bad.com]: the host, then each parent of two labels or more."""
    if len(host) > _MAX_HOST_CHARS:
        return [host]
    labels = host.split(b".")
    return [b".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


def _parents_within_registered_domain(parents: list[bytes]) -> int:
    """How many of `parents` (host first) are at or below the registered domain; 1 for IP addresses."""
    host = _show(parents[0])
    extracted = _TLD(host)
    if extracted.ipv4 or ":" in host:
        return 1
    suffix_labels = extracted.suffix.count(".") + 1 if extracted.suffix else 1  # unknown suffix: PSL rule "*"
    return max(1, host.count(".") - suffix_labels + 1)


def _show(key: bytes) -> str:
    return key.decode("utf-8", "replace")


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")  # closed by the caller's ExitStack
    except OSError as err:
        raise UserError(f"url_filter: cannot read list file {path}: {err.strerror or err}") from None


def _entries(lines: Iterable[bytes]) -> Iterator[str]:
    """Stripped, lowercased entries of a list file, without blank lines and `#` comments."""
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith(b"#"):
            yield entry.decode("utf-8", "replace").lower()


def _host_keys(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Host keys of a domain list; ASCII entries (all of UT1's 4.6M) skip the str round trip."""
    for line in lines:
        entry = line.strip().strip(b".").lower()
        if entry and not entry.startswith(b"#"):
            yield _without_www(entry) if entry.isascii() else _host_key(_show(entry))


def _url_keys(lines: Iterable[bytes]) -> Iterator[bytes]:
    for entry in _entries(lines):
        yield _url_parts(entry)[1]


def _words(default_file: str, default: bool, user: list[BinaryIO]) -> Iterator[str]:
    """Word / subword entries with non-alphanumerics removed, as they are matched against URLs."""
    shipped = (_ASSETS / default_file).read_bytes().splitlines() if default else []
    for entry in _entries(chain(shipped, *user)):
        word = "".join(_WORD.findall(entry))
        if word:
            yield word


def _default_hosts_and_urls() -> Iterator[bytes]:
    """Keys of the UT1 `domains` and `urls` lists, streamed out of datatrove's tarball in one pass."""
    with (_ASSETS / _UT1_TARBALL).open("rb") as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
        for member in tar:
            keys = {"domains": _host_keys, "urls": _url_keys}.get(member.name)
            if keys is not None:
                yield from keys(tar.extractfile(member))
