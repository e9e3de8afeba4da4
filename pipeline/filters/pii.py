"""PII masking: e-mail addresses, IP addresses and phone numbers are replaced by placeholders.

Models should not learn to reproduce people's contact details, and placeholders keep the sentence
shape intact, so the stage rewrites text and never removes a document. The patterns aim at what is
clearly contact data and leave look-alikes alone:

- e-mails: ASCII `local@label.tld` with a letter TLD of 2+ characters. Not masked: `foo@bar` (no TLD),
  `@handle` mentions, retina image names such as `logo@2x.png`, internationalised (non-ASCII) addresses.
- IPv4: four dotted octets 0-255 without leading zeros. Not masked: `999.1.1.1`, longer dotted-number
  runs (`1.2.3.4.5`, `10.0.0.1.2`), numbers glued to letters (`v1.2.3.4`) and product versions
  (`Chrome/120.0.0.0`). A bare four-part version (`version 1.2.3.4`) cannot be told from an address
  and is masked.
- IPv6: full, `::`-compressed and IPv4-suffixed forms, validated by `ipaddress`. A candidate must hold
  a decimal digit, so clock times (`12:30:45`), six-group MAC addresses, C++ `std::vector`, `::` alone
  and all-letter hex words (`dead::beef`) stay.
- Phones: North-American numbers with separators (`(555) 123-4567`, `555.123.4567`, `1-800-555-0199`)
  whose area code starts with 2-9 (the exchange is not checked, so the `555-123-4567` numbers of
  examples and fiction are masked too), and `+`-prefixed international numbers of 7-15 digits (E.164)
  in groups split by one space, dot or dash. Not masked: dates (`2024-01-15`), year ranges, digit runs
  without separators unless `+`-prefixed (IDs, ISBNs) or bare ten-digit numbers with `bare_digit_phones`,
  prices, version numbers, 7-digit local numbers (`555-1234`: too close to other numbering) and national
  numbers outside North America written without `+` (`020 7946 0958`).
- Bare ten-digit phones (`2135550123`, `1 2135550123`), only with `bare_digit_phones = true` (off by
  default): a standalone run of exactly ten digits whose area code and exchange are NANP codes, NXX with
  N = 2-9 and neither an N11 service code, and no N9X area code (reserved for expansion). So
  `2831823829` stays (exchange 182 starts with 1), though `(283) 182-3829` is masked. A trunk `1` before
  the run with one space or dash is masked with it; glued (`12135550123`: 11 digits) it is not. Not
  masked: 9 or 11+ digits, digits glued to a word or to digits of any script (`ID2135550123`,
  `2135550123px`), signed, decimal, dotted, dashed, slashed or comma-grouped numbers (`-2135550123`,
  `0.2135550123`, `2135550123.5`, `65536-4294967293`), URL path segments and `#`/`$`/`=` references
  (`/2135550123`, `#2135550123`), and Unix timestamps until 2033-05-18 (1000000000-1999999999 start
  with 1; later ones mostly pass). Why off: nothing but the digits tells a phone from a number. On the
  benchmark crawl (bench/make_crawl.sh: 20,800 documents, 130 M characters, 588 runs of exactly ten
  digits) it would mask 50 runs, none a phone: 25 integer limits (2147483647, 4294967295, ...), 11 byte
  counts, 5 random-generator constants, 4 integers of IP addresses or flags, 3 computed values in code,
  1 counter, 1 transaction id; the 24 real phone and fax numbers in that crawl (one address in 12
  translations) are all written with separators. On the plain-text files of /usr/share/doc (4,025
  files, 213 M characters, 6,076 runs) it would mask 659, none a phone (integer limits, abbreviated git
  commit ids, hashes, memory sizes, test data, DNS serials such as 2013101809). The bundled sample crawl
  holds no ten-digit run. Turn it on for text known to hold contact data, not for technical text.

Kinds are masked in order e-mail, IP (IPv6, then IPv4), phone (international, then North-American,
then bare ten-digit), one regex pass each; a span masked earlier is no longer visible to later passes,
so nothing is counted twice. Every pass runs in time linear in the text, whatever it contains.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Literal

import pyarrow as pa
from pydantic import Field

from pipeline.filters.verdict import Verdict
from pipeline.section import Section

PII_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("pii_email", pa.int32(), nullable=False),
    pa.field("pii_ip", pa.int32(), nullable=False),
    pa.field("pii_phone", pa.int32(), nullable=False),
)

# Every pattern has a look-behind that keeps a match from starting inside a run it belongs to, so a
# long run of digits and punctuation is tried once rather than from every offset. Where a pattern can
# begin with a character class it does, and `re` then skips text that cannot start a match.
_EMAIL = re.compile(
    r"""
    (?<![A-Za-z0-9._%+-])                                   # start of the local part, not inside it
    [A-Za-z0-9._%+-]{1,64}
    @
    (?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,126}   # domain labels
    (?!(?i:png|jpe?g|gif|svg|webp|avif|bmp|ico|tiff?)(?![A-Za-z0-9-]))   # logo@2x.png is a file name
    [A-Za-z]{2,63}
    (?![A-Za-z0-9-])
    """,
    re.VERBOSE | re.ASCII,
)
# Four dotted numbers; `ipaddress` then checks the octets (0-255, no leading zeros).
_IPV4_CANDIDATE = re.compile(
    r"""
    [0-9](?<![A-Za-z0-9_.][0-9])        # not glued to a word or after a dot,
    (?<![A-Za-z]/[0-9])                 # nor a product version (Chrome/120.0.0.0)
    [0-9]{0,2}(?:\.[0-9]{1,3}){3}
    (?![A-Za-z0-9_])(?!\.[0-9])         # not followed by a word or another number
    """,
    re.VERBOSE | re.ASCII,
)
# A run of hex digits, dots and colons holding two colons or more; `ipaddress` decides the rest.
# Possessive segments never backtrack, so a run is scanned once whatever it contains.
_IPV6_CANDIDATE = re.compile(
    r"""
    (?<![A-Za-z0-9_:.])
    [0-9A-Fa-f.]*+:[0-9A-Fa-f.]*+:[0-9A-Fa-f.:]*+
    (?![A-Za-z0-9_])
    """,
    re.VERBOSE | re.ASCII,
)
_IPV6_MAX_LENGTH = 45  # ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255

# `+`, a country code and groups split by one space, dot or dash, with an optional (area) group;
# the E.164 digit count is checked afterwards. The look-ahead skips `+1`-style votes and scores cheaply.
_PHONE_INTERNATIONAL = re.compile(
    r"""
    \+(?<![A-Za-z0-9_+]\+)
    (?=[0-9](?:[ .()-]{0,2}[0-9]){6})                   # at least 7 digits close together
    [1-9][0-9]*+
    (?:[ .-]?\([0-9]{1,4}\)[ .-]?[0-9]++)?+
    (?:[ .-][0-9]++){0,14}
    (?![A-Za-z0-9_])
    """,
    re.VERBOSE | re.ASCII,
)
# (NPA) NXX-XXXX or NPA-NXX-XXXX with one separator used twice, after an optional trunk `1`. The
# first character is consumed before the left-boundary check, then tells which form follows.
_PHONE_NORTH_AMERICAN = re.compile(
    r"""
    [(1-9](?<![A-Za-z0-9_+].)(?<![0-9][.-].)   # not inside a word or a longer dotted/dashed number
    (?:(?<=1)[ .-][(2-9])?                      # trunk `1` and a separator: read the next character
    (?:
        (?<=\()[2-9][0-9]{2}\)[ .-]?[0-9]{3}[ .-][0-9]{4}
    |
        (?<=[2-9])[0-9]{2}(?P<sep>[ .-])[0-9]{3}(?P=sep)[0-9]{4}
    )
    (?![A-Za-z0-9_])(?![.-][0-9])
    """,
    re.VERBOSE | re.ASCII,
)
# Ten bare digits forming a North-American number, after an optional trunk `1` and one space or dash:
# area code NXX (N = 2-9) that is neither an N11 service code nor an N9X code (reserved for expansion),
# then exchange NXX that is not N11. The run must stand alone: not glued to a word, a digit of any script,
# `+` (the international pass's), `#`, `$`, `/`, `=`, nor part of a signed, decimal, dotted, dashed,
# slashed, colon or comma-grouped number (`-2135550123`, `0.2135550123`, `2135550123.5`, `3,2135550123`,
# `2135550123-01`). The first character is consumed before the left-boundary checks, as above.
_PHONE_BARE_DIGITS = re.compile(
    r"""
    [1-9](?<![A-Za-z_+#$/=.-].)(?<!(?u:\d).)       # not inside a word, a number (any script's digits)
    (?<![0-9][,:].)                                 # or a reference, nor after `3,` or `12:`
    (?:(?<=1)[ -][2-9])?                            # trunk `1` and a separator: read the area code
    (?<=[2-9])(?!11|9)[0-9]{2}                      # area code: not N11, not N9X
    [2-9](?!11)[0-9]{2}                             # exchange: not N11
    [0-9]{4}
    (?![A-Za-z_]|(?u:\d))(?![.,:/-][A-Za-z0-9])
    """,
    re.VERBOSE | re.ASCII,
)
_DIGIT = re.compile(r"[0-9]")
_DIGIT_RUN = re.compile(r"[0-9]+")
_E164_MIN_DIGITS = 7
_E164_MAX_DIGITS = 15


class PiiStage(Section):
    """Recipe stage `kind = "pii"`: mask e-mails, IP addresses and phone numbers; never removes.

    Adds the columns `pii_email`, `pii_ip` and `pii_phone`: how many of each were masked.
    """

    kind: Literal["pii"] = "pii"
    email: bool = Field(default=True, description="mask e-mail addresses")
    ip: bool = Field(default=True, description="mask IPv4 and IPv6 addresses")
    phone: bool = Field(default=True, description="mask North-American and +-prefixed international phones")
    bare_digit_phones: bool = Field(
        default=False,
        description=(
            "with `phone`, also mask a standalone run of exactly ten digits that is a valid North-American"
            " number (`2135550123`: area code and exchange start with 2-9, neither N11, no N9X area code),"
            " after an optional trunk `1` and one space or dash. Off by default: on the 20,800-document"
            " benchmark crawl it would mask 50 runs and none is a phone (integer limits such as 2147483647,"
            " byte counts, constants, ids), while its 24 real phone and fax numbers are all written with separators"
        ),
    )
    email_placeholder: str = Field(default="<EMAIL>", description="replaces each e-mail address")
    ip_placeholder: str = Field(default="<IP_ADDRESS>", description="replaces each IP address")
    phone_placeholder: str = Field(default="<PHONE>", description="replaces each phone number")


_DEFAULTS = PiiStage()


def mask_pii(text: str, options: PiiStage | None = None) -> Verdict:
    """Mask the enabled kinds; columns count the masks per kind (0 for a disabled kind)."""
    o = options or _DEFAULTS
    emails = ips = phones = 0
    if o.email and "@" in text:
        text, emails = _mask(_EMAIL, text, _always(o.email_placeholder))
    if _DIGIT.search(text) is None:
        return Verdict(text, columns={"pii_email": emails, "pii_ip": 0, "pii_phone": 0})
    if o.ip:
        if ":" in text:
            text, ips = _mask(_IPV6_CANDIDATE, text, lambda span: _ipv6(span, o.ip_placeholder))
        if "." in text:
            text, ipv4s = _mask(_IPV4_CANDIDATE, text, lambda span: _ipv4(span, o.ip_placeholder))
            ips += ipv4s
    if o.phone:
        if "+" in text:
            text, phones = _mask(_PHONE_INTERNATIONAL, text, lambda span: _international(span, o.phone_placeholder))
        text, north_american = _mask(_PHONE_NORTH_AMERICAN, text, _always(o.phone_placeholder))
        phones += north_american
        if o.bare_digit_phones:
            text, bare = _mask(_PHONE_BARE_DIGITS, text, _always(o.phone_placeholder))
            phones += bare
    return Verdict(text, columns={"pii_email": emails, "pii_ip": ips, "pii_phone": phones})


def _mask(pattern: re.Pattern[str], text: str, replace: Callable[[str], str | None]) -> tuple[str, int]:
    """One `sub` pass; `replace` maps a match to its replacement, or to None to leave it as it is."""
    count = 0

    def substitute(match: re.Match[str]) -> str:
        nonlocal count
        span = match.group()
        replacement = replace(span)
        if replacement is None:
            return span
        count += 1
        return replacement

    return pattern.sub(substitute, text), count


def _always(placeholder: str) -> Callable[[str], str]:
    """A replacement for matches that need no further check; a function, so `\\` in it stays literal."""
    return lambda span: placeholder


def _ipv6(span: str, placeholder: str) -> str | None:
    """The placeholder if the run, less trailing punctuation, is an IPv6 address with a digit."""
    address = span.rstrip(".")
    if address.endswith(":") and not address.endswith("::"):  # no address ends in one colon
        address = address[:-1]
    if len(address) > _IPV6_MAX_LENGTH or _DIGIT.search(address) is None:
        return None
    if "::" not in address and address.count(":") < 6:  # clock times: cheaper to refuse here
        return None
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return None
    return placeholder + span[len(address) :]


def _ipv4(span: str, placeholder: str) -> str | None:
    """The placeholder if the four numbers are octets (`ipaddress` also refuses leading zeros)."""
    try:
        ipaddress.IPv4Address(span)
    except ValueError:
        return None
    return placeholder


def _international(span: str, placeholder: str) -> str | None:
    """Mask up to the last group that keeps the number within 15 digits, if it has 7 by then."""
    digits = end = 0
    for run in _DIGIT_RUN.finditer(span):
        if digits + len(run.group()) > _E164_MAX_DIGITS:
            break
        digits += len(run.group())
        end = run.end() + (span[run.end() : run.end() + 1] == ")")
    if digits < _E164_MIN_DIGITS:
        return None
    return placeholder + span[end:]
