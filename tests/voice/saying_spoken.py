"""Reads a read-out back as words, so a failing case reads like the sentence it should be.

Each `sound:ledgerline-<name>` becomes its text in `pbx/voice/texts/<language>.toml`'s
`[words]`; for Hebrew, whose text is espeak-ng phonemes, the Hebrew spelling written after
it as a comment."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from functools import cache

from pbx.voice.catalog import TEXTS

_COMMENT = re.compile(r'^(ledgerline-[a-z0-9_-]+)\s*=\s*".*"\s*#\s*(\S.*?)\s*$')
_NIQQUD = re.compile("[\u0591-\u05c7]")


@cache
def words(language: str) -> dict[str, str]:
    """Name -> what a reader sees: the text, or the spelling in the comment after it."""
    path = TEXTS / f"{language}.toml"
    with path.open("rb") as file:
        table = dict(tomllib.load(file)["words"])
    in_words = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            in_words = line.strip() == "[words]"
        elif in_words and (match := _COMMENT.match(line)):
            table[match[1]] = _NIQQUD.sub("", match[2])
    return table


def said(sounds: tuple[str, ...], language: str) -> str:
    table = words(language)
    return " ".join(table[sound.removeprefix("sound:")] for sound in sounds)


def rows(table: str) -> list[tuple[str, ...]]:
    """A table written as lines of `a | b | c` (blank lines skipped)."""
    return [
        tuple(cell.strip() for cell in line.split("|"))
        for line in table.strip().splitlines()
        if line.strip()
    ]


def minor_units(amount: str) -> int:
    """A decimal amount in minor units: "12.50" is 1250, "-0.05" is -5."""
    return int(Decimal(amount) * 100)
