"""The sound files on the simulated Asterisk's disk, per language: what `GET /sounds` lists
and what a `sound:` playback finds.

By default every sound exists (a test that does not care about prompts hears them all).
A test models a real installation by `install`ing the names a language has (only those and
the core sounds then exist) or by `remove`ing names. A lookup follows main/file.c
`fileexists_core`: the channel's language, that language without its dialect (`he_IL` ->
`he`), then the default language `en`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pbx.simulator.ari.state import AriError

DEFAULT_LANGUAGE = "en"
# Asterisk's core sounds (asterisk-core-sounds-en) that Ledgerline's call flow plays.
CORE_SOUNDS = frozenset({
    "beep", "auth-thankyou", "auth-incorrect", "option-is-invalid", "ss-noservice",
    "vm-goodbye", "queue-youarenext", "queue-thereare", "queue-callswaiting",
    "queue-holdtime", "queue-minutes", "queue-thankyou", "queue-periodic-announce",
})  # fmt: skip
CORE_FORMAT = "gsm"  # the core sounds package most installations take
INSTALLED_FORMAT = "wav"  # what `ledgerline prompts build` writes


class SoundLibrary:
    """Sound names by language; None until a test restricts what is installed."""

    def __init__(self) -> None:
        self._installed: dict[str, set[str]] | None = None
        self._removed: set[tuple[str, str | None]] = set()  # (name, language or every one)

    def install(self, language: str, names: Iterable[str]) -> None:
        """Only installed sounds (and the core ones, in `en`) exist from now on."""
        if self._installed is None:
            self._installed = {DEFAULT_LANGUAGE: set(CORE_SOUNDS)}
        self._installed.setdefault(language, set()).update(names)

    def remove(self, name: str, language: str | None = None) -> None:
        """The file `name` is missing (in `language`, or in every language)."""
        self._removed.add((name, language))

    def exists(self, name: str, language: str) -> bool:
        return any(self._has(name, lang) for lang in _search_order(language))

    def _has(self, name: str, language: str) -> bool:
        if (name, None) in self._removed or (name, language) in self._removed:
            return False
        if self._installed is None:
            return True
        return name in self._installed.get(language, ())

    def listing(self, language: str | None, format_: str | None) -> list[dict[str, Any]]:
        """`GET /sounds`: each sound with the languages and formats it has (filtered)."""
        found: dict[str, list[dict[str, str]]] = {}
        for lang, names in sorted(self._languages().items()):
            for name in sorted(names):
                if not self._has(name, lang):
                    continue
                pair = {"language": lang, "format": _format_of(name)}
                if language not in (None, lang) or format_ not in (None, pair["format"]):
                    continue
                found.setdefault(name, []).append(pair)
        return [{"id": name, "formats": formats} for name, formats in sorted(found.items())]

    def sound(self, sound_id: str) -> dict[str, Any]:
        """`GET /sounds/{soundId}`."""
        for item in self.listing(None, None):
            if item["id"] == sound_id:
                return item
        raise AriError(404, "Sound not found")

    def _languages(self) -> dict[str, set[str]]:
        if self._installed is None:  # every sound exists: list the ones we know of
            return {DEFAULT_LANGUAGE: set(CORE_SOUNDS)}
        return self._installed


def media_exists(library: SoundLibrary, uri: str, language: str) -> bool:
    """Whether a playback of `uri` finds its file (only `sound:` media are files here)."""
    scheme, _, name = uri.partition(":")
    return scheme != "sound" or library.exists(name, language)


def _search_order(language: str) -> list[str]:
    order = [language, language.split("_")[0], DEFAULT_LANGUAGE]
    return [lang for index, lang in enumerate(order) if lang and lang not in order[:index]]


def _format_of(name: str) -> str:
    return CORE_FORMAT if name in CORE_SOUNDS else INSTALLED_FORMAT
