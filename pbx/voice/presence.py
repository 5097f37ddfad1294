"""Whether Asterisk has every prompt its callers may hear: ARI's `GET /sounds` against what
the texts, the word prompts and each business's consent scripts name, in the languages the
businesses and their numbers use. For /healthz, as a warning (a missing prompt is silence on
a call, not a reason to take Ledgerline out of a load balancer), asked at most once per
`every_s` however often /healthz is probed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from pbx.voice.catalog import Business, Catalog

log = logging.getLogger(__name__)
EVERY_S = 300.0
AFTER_FAILURE_S = 30.0
TIMEOUT_S = 2.0
LISTED = 50  # names shown per language; the count says how many there are


class SoundOnAsterisk(Protocol):
    """What ARI's Sound says of a file (`pbx.ari.events.Sound`)."""

    id: str

    def in_language(self, language: str) -> bool: ...


ListSounds = Callable[[], Awaitable[Iterable[SoundOnAsterisk]]]
LanguagesInUse = Callable[[], Awaitable[Mapping[str, tuple[Business, ...]]]]


def missing(
    catalog: Catalog, in_use: Mapping[str, tuple[Business, ...]],
    sounds: Iterable[SoundOnAsterisk],
) -> dict[str, list[str]]:  # fmt: skip
    """Per language in use, the names Asterisk lacks (a language with no texts: every one)."""
    sounds = tuple(sounds)
    found: dict[str, list[str]] = {}
    for language, businesses in sorted(in_use.items()):
        texts = catalog.texts.get(language) or catalog.texts.get("en")
        wanted = set(texts.sounds(businesses)) if texts else set()
        have = {sound.id for sound in sounds if sound.in_language(language)}
        lacking = sorted(wanted - have)
        if lacking:
            found[language] = lacking
    return found


class PromptsOnAsterisk:
    """The prompts Asterisk lacks, as /healthz shows them; cached."""

    def __init__(
        self, catalog: Catalog, list_sounds: ListSounds, languages_in_use: LanguagesInUse, *,
        every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.catalog, self.list_sounds = catalog, list_sounds
        self.languages_in_use = languages_in_use
        self.every_s, self.clock = every_s, clock
        self._lock = asyncio.Lock()
        self._warning: dict[str, Any] | None = None
        self._due = float("-inf")

    async def warning(self) -> dict[str, Any] | None:
        """None when every prompt is there; else the missing names per language (or why
        Asterisk could not be asked)."""
        async with self._lock:
            if self.clock() >= self._due:
                self._warning, wait = await self._ask()
                self._due = self.clock() + wait
            return self._warning

    async def _ask(self) -> tuple[dict[str, Any] | None, float]:
        try:
            in_use = await self.languages_in_use()
            sounds = await asyncio.wait_for(self.list_sounds(), TIMEOUT_S)
        except Exception as exc:  # any failure is a warning here, never an error of /healthz
            log.warning("prompts on Asterisk not checked: %s", type(exc).__name__)
            return {"checked": False, "error": f"could not ask: {type(exc).__name__}"}, (
                AFTER_FAILURE_S
            )
        lacking = missing(self.catalog, in_use, sounds)
        if not lacking:
            return None, self.every_s
        return {
            "checked": True,
            "missing": {language: names[:LISTED] for language, names in lacking.items()},
            "missing_count": {language: len(names) for language, names in lacking.items()},
            "fix": "ledgerline prompts build --out /var/lib/asterisk/sounds (README)",
        }, self.every_s
