"""GPT-2's byte-level alphabet: HF byte-level files spell each byte as a printable character (printable
Latin-1 bytes stand for themselves, the others are shifted to U+0100 and up); a token is those characters
joined."""

from __future__ import annotations

from functools import cache


@cache
def byte_to_char() -> dict[int, str]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, shift = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + shift)
            shift += 1
    return table


@cache
def char_to_byte() -> dict[str, int]:
    return {char: byte for byte, char in byte_to_char().items()}


def to_chars(token: bytes) -> str:
    table = byte_to_char()
    return "".join(table[b] for b in token)


def to_bytes(token: str, where: str) -> bytes:
    table = char_to_byte()
    try:
        return bytes(table[c] for c in token)
    except KeyError as error:
        raise ValueError(f"{where}: {token!r} is not a byte-level token (character {error.args[0]!r})") from None
