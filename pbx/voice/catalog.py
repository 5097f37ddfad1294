"""The prompts' texts: `texts/<language>.toml`, one file per language, read and checked.

Each file has three tables: `[prompts]` (a `ledgerline-*` sound name -> what it says),
`[consent]` (a direct-debit scheme -> its consent script, a template of `{business}`, the
business's name) and `[words]` (the word and number prompts the read-out composes
sentences from). Every language must have exactly the same names, so a caller never meets
a prompt that exists in English only.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

TEXTS = Path(__file__).resolve().parent / "texts"
SCHEMES = ("masav", "bacs", "sepa_core", "ach")
CONSENT_PREFIX = "ledgerline-consent-"
TABLES = ("prompts", "consent", "words")
_NAME = re.compile(r"ledgerline-[a-z0-9][a-z0-9_-]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


class CatalogError(ValueError):
    """The texts are not usable: every problem found, one per line."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Business:
    slug: str
    name: str


def consent_name(scheme: str, slug: str) -> str:
    """The sound a business's consent script for `scheme` is built as (and played from)."""
    return f"{CONSENT_PREFIX}{scheme}-{slug}"


@dataclass(frozen=True)
class Texts:
    """One language's texts."""

    language: str
    prompts: Mapping[str, str]
    consent: Mapping[str, str]
    words: Mapping[str, str]

    def sounds(self, businesses: Iterable[Business] = ()) -> dict[str, str]:
        """Every sound to build in this language (name -> text): the prompts, the words and
        each business's consent script for each scheme."""
        sounds = {**self.prompts, **self.words}
        for business in businesses:
            for scheme, template in self.consent.items():
                sounds[consent_name(scheme, business.slug)] = template.format(
                    business=business.name
                )
        return sounds


@dataclass(frozen=True)
class Catalog:
    texts: Mapping[str, Texts]  # language -> its texts

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def names(self, businesses: Iterable[Business] = ()) -> frozenset[str]:
        """Every sound name (the same in each language)."""
        first = next(iter(self.texts.values()))
        return frozenset(first.sounds(businesses))


def load(directory: Path = TEXTS) -> Catalog:
    """Every `<language>.toml` in `directory`, checked; CatalogError lists what is wrong."""
    problems: list[str] = []
    texts: dict[str, Texts] = {}
    for path in sorted(directory.glob("*.toml")):
        language = path.stem
        if not _LANGUAGE.fullmatch(language):
            problems.append(f"{path.name}: not a language code (like he, lt, en)")
            continue
        try:
            with path.open("rb") as file:
                data = tomllib.load(file)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        checked = _checked(path.name, language, data, problems)
        if checked is not None:
            texts[language] = checked
    if not texts and not problems:
        problems.append(f"no <language>.toml in {directory}")
    problems += _differences(texts)
    if problems:
        raise CatalogError(problems)
    return Catalog(texts)


def _checked(
    file: str, language: str, data: dict[str, object], problems: list[str]
) -> Texts | None:
    found = len(problems)
    for extra in sorted(set(data) - set(TABLES)):
        problems.append(f"{file}: unknown table or key [{extra}]")
    tables: dict[str, dict[str, str]] = {}
    for table in TABLES:
        value = data.get(table)
        if not isinstance(value, dict):
            problems.append(f"{file}: no [{table}] table")
            continue
        tables[table] = {}
        for key, text in value.items():
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{file}: [{table}] {key} is not a text")
                continue
            tables[table][key] = text.strip()
    for table in ("prompts", "words"):
        for name in tables.get(table, {}):
            if not _NAME.fullmatch(name) or name.startswith(CONSENT_PREFIX):
                problems.append(f"{file}: [{table}] {name}: a sound name is ledgerline- then "
                                "lower-case letters, digits, - and _ "
                                "(and not ledgerline-consent-)")  # fmt: skip
    both = set(tables.get("prompts", {})) & set(tables.get("words", {}))
    for name in sorted(both):
        problems.append(f"{file}: {name} is in both [prompts] and [words]")
    consent = tables.get("consent", {})
    if consent and sorted(consent) != sorted(SCHEMES):
        problems.append(f"{file}: [consent] must have exactly {', '.join(SCHEMES)}; "
                        f"has {', '.join(sorted(consent))}")  # fmt: skip
    for scheme, template in consent.items():
        problem = _template_problem(template)
        if problem:
            problems.append(f"{file}: [consent] {scheme}: {problem}")
    if len(problems) > found:
        return None
    return Texts(language, tables["prompts"], consent, tables["words"])


def _template_problem(template: str) -> str | None:
    try:
        parsed = string.Formatter().parse(template)
        fields = {field for _, field, _, _ in parsed if field is not None}
    except ValueError as exc:
        return f"not a template ({exc}); write a literal brace as {{{{ or }}}}"
    if fields != {"business"}:
        return f"the only placeholder is {{business}} and it must be there (found {sorted(fields)})"
    return None


def _differences(texts: Mapping[str, Texts]) -> list[str]:
    """Names one language has and another lacks."""
    problems = []
    for table in TABLES:
        every = set().union(*(set(getattr(t, table)) for t in texts.values())) if texts else set()
        for language, found in texts.items():
            missing = sorted(every - set(getattr(found, table)))
            if missing:
                problems.append(f"{language}.toml: [{table}] lacks {', '.join(missing)} "
                                "(every language has the same names)")  # fmt: skip
    return problems
