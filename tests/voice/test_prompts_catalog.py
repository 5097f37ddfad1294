"""The prompts' texts (pbx/voice/texts/<language>.toml): every language has the same names,
every prompt the code can play has its text in every language, the consent scripts say
what each scheme requires, and espeak-ng can read every Hebrew text."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from pbx.voice.catalog import (
    CONSENT_PREFIX,
    SCHEMES,
    Business,
    CatalogError,
    consent_name,
    load,
)
from pbx.voice.espeak import VOICES, spoken_text
from tests.voice.prompts_support import NOT_SOUNDS, code_prompts, require_espeak

LANGUAGES = {"en", "he", "lt"}


def test_the_texts_load_and_every_language_has_the_same_names() -> None:
    catalog = load()
    assert set(catalog.languages) == LANGUAGES
    shapes = {
        language: (set(texts.prompts), set(texts.consent), set(texts.words))
        for language, texts in catalog.texts.items()
    }
    assert len({repr(sorted(map(sorted, shape))) for shape in shapes.values()}) == 1, shapes
    assert set(catalog.texts["en"].consent) == set(SCHEMES)
    assert len(catalog.texts["en"].prompts) >= 24


def test_every_prompt_the_code_can_play_has_its_text_in_every_language() -> None:
    catalog = load()
    found = code_prompts()
    # The scan itself works: the card prompts, a route's default menu and the recording
    # notice (a bare default, not a sound: literal) are among what it finds.
    assert {"ledgerline-card-number", "ledgerline-menu", "ledgerline-call-recorded"} <= set(
        found.names
    )
    missing = {
        language: {name: sorted(found.names[name]) for name in found.names
                   if name not in texts.prompts and name not in texts.words}
        for language, texts in catalog.texts.items()
    }  # fmt: skip
    assert all(not names for names in missing.values()), (
        "prompts the code plays without a text: add each to [prompts] in every "
        f"pbx/voice/texts/<language>.toml: {missing}"
    )
    every = catalog.names([Business("any", "Any")])
    unknown = {
        prefix: sorted(files) for prefix, files in found.prefixes.items()
        if prefix != CONSENT_PREFIX and not any(name.startswith(prefix) for name in every)
    }  # fmt: skip
    assert unknown == {}, "names built at run time that no text can make"


def test_every_prompt_text_is_one_the_code_can_play() -> None:
    """A text nothing plays is a prompt nobody hears: remove it with the code that played
    it (a route's own prompt names a file of the business's, not a text here)."""
    played = set(code_prompts().names)
    unplayed = {language: sorted(set(texts.prompts) - played)
                for language, texts in load().texts.items()}  # fmt: skip
    assert unplayed == {language: [] for language in LANGUAGES}


def test_the_scan_finds_sound_literals_bare_defaults_and_names_built_in_f_strings(
    tmp_path: Path,
) -> None:
    code = tmp_path / "flow"
    code.mkdir()
    (code / "sample.py").write_text(
        'GREETING = ("sound:ledgerline-hello", "sound:vm-goodbye")\n'
        'DEFAULT = "ledgerline-notice"\n'
        'CONTEXT = "ledgerline-voicemail"\n'
        'def consent(scheme, slug):\n'
        '    return f"sound:ledgerline-consent-{scheme}-{slug}"\n'
        'def fixed():\n'
        '    return f"sound:ledgerline-bye"\n'
    )
    found = code_prompts((code,))
    assert set(found.names) == {"ledgerline-hello", "ledgerline-notice", "ledgerline-bye"}
    assert set(found.prefixes) == {"ledgerline-consent-"}
    assert "ledgerline-voicemail" in NOT_SOUNDS


def test_a_business_consent_is_built_per_scheme_with_its_name_in_each_language() -> None:
    catalog = load()
    zeta = Business("zeta-power", "Zeta Power")
    for language, texts in catalog.texts.items():
        sounds = texts.sounds([zeta])
        for scheme in SCHEMES:
            script = sounds[consent_name(scheme, "zeta-power")]
            # who collects, and whom to call to cancel
            assert script.count("Zeta Power") >= 2, (language, scheme)
            assert "{" not in script


def test_each_scheme_consent_says_its_guarantee_the_bills_due_dates_and_how_to_cancel() -> None:
    texts = {language: load().texts[language].consent for language in LANGUAGES}
    en = texts["en"]
    for scheme in SCHEMES:
        assert "amounts on your bills" in en[scheme] and "due date" in en[scheme]
        assert re.search(r"cancel|revoke", en[scheme])
    assert "Direct Debit Guarantee" in en["bacs"] and "full and immediate refund" in en["bacs"]
    assert "eight weeks" in en["sepa_core"] and "refund" in en["sepa_core"]
    assert "Masav" in en["masav"] and "refund" in en["masav"]
    assert "revoke" in en["ach"]
    he = {scheme: _unpointed(text) for scheme, text in texts["he"].items()}
    assert "שמונה שבועות" in he["sepa_core"] and "ערבות" in he["bacs"] and "מסב" in he["masav"]
    assert all("מועד הפרעון" in text for text in he.values())
    lt = texts["lt"]
    assert "aštuonias savaites" in lt["sepa_core"] and "garantija" in lt["bacs"]
    assert all("apmokėjimo termino dieną" in text for text in lt.values())


def test_every_hebrew_text_is_pointed() -> None:
    texts = load().texts["he"]
    unpointed = {}
    for name, text in texts.sounds([Business("ofek", "אוֹפֶק")]).items():
        bare = [word for word in re.findall(r"[\u05d0-\u05ea\u0591-\u05c7]{2,}",
                                             re.sub(r"\[\[.*?\]\]", "", text))
                if word == _unpointed(word)]  # fmt: skip
        if bare:
            unpointed[name] = bare
    assert unpointed == {}, "Hebrew words without vowel points are read as bare consonants"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_espeak_reads_every_text_without_spelling_out_a_letter_or_mark(language: str) -> None:
    """A Hebrew point espeak-ng cannot read, or a business name in the other script, comes
    out as letter names ("hebrew shva", "hebrew alef"): none may."""
    require_espeak()
    names = [Business("ofek", "אוֹפֶק"), Business("acme", "Acme & Sons")]
    every = load().texts[language].sounds(names)

    def phonemes(*texts: str) -> str:
        inner = [spoken_text(language, text).removeprefix("<speak>").removesuffix("</speak>")
                 for text in texts]  # fmt: skip
        return subprocess.run(
            ["espeak-ng", "-v", VOICES[language], "-m", "-b", "1", "-x", "-q", "--stdin"],
            input="<speak>" + "\n".join(inner) + "</speak>", capture_output=True, text=True,
            timeout=120, check=True,
        ).stdout  # fmt: skip

    if "h'i:bru:" in phonemes(*every.values()):  # all at once; then find which
        unreadable = {name: said for name, text in every.items()
                      if "h'i:bru:" in (said := phonemes(text))}  # fmt: skip
        assert unreadable == {}


def test_texts_with_a_missing_name_or_a_bad_template_are_refused_with_every_problem(
    tmp_path: Path,
) -> None:
    consent = "\n".join(f'{scheme} = "{{business}} collects."' for scheme in SCHEMES)
    bad_consent = consent.replace('masav = "{business} collects."', 'masav = "{amount}"')
    (tmp_path / "en.toml").write_text(
        f'[prompts]\nledgerline-a = "A."\nledgerline-b = "B."\n[consent]\n{bad_consent}\n'
        "[words]\n"
    )
    (tmp_path / "lt.toml").write_text(f'[prompts]\nledgerline-a = "A."\n[consent]\n{consent}\n')
    with pytest.raises(CatalogError) as refused:
        load(tmp_path)
    problems = "\n".join(refused.value.problems)
    assert "en.toml: [consent] masav: the only placeholder is {business}" in problems
    assert "lt.toml: no [words] table" in problems
    (tmp_path / "lt.toml").write_text(f'[prompts]\nledgerline-a = "A."\n[consent]\n{consent}\n'
                                      "[words]\n")  # fmt: skip
    (tmp_path / "en.toml").write_text(f'[prompts]\nledgerline-a = "A."\nledgerline-b = "B."\n'
                                      f"[consent]\n{consent}\n[words]\n")  # fmt: skip
    with pytest.raises(CatalogError) as refused:
        load(tmp_path)
    assert refused.value.problems == (
        "lt.toml: [prompts] lacks ledgerline-b (every language has the same names)",
    )


def _unpointed(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not "\u0591" <= c <= "\u05c7")
