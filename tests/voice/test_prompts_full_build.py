"""The whole build, once (a session fixture: every prompt and word in every language and a
business's consent scripts, through `ledgerline prompts build`): every sound the code can
play exists in he, lt and en as the 8 kHz mono 16-bit WAV Asterisk plays, and
`ledgerline prompts check` finds it all current."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pbx.cli import _parser
from pbx.db.database import Database
from pbx.settings import load_settings
from pbx.voice.catalog import SCHEMES, Business, consent_name, load
from tests.conftest import _migrate_once
from tests.factories import make_tenant
from tests.voice.prompts_support import code_prompts, require_espeak, wav_header

LANGUAGES = ("en", "he", "lt")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The sounds folder of a full build, and the database URL it was built from."""
    require_espeak()
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('prompts-db') / 'ledgerline.db'}"
    _migrate_once(url, {})
    out = tmp_path_factory.mktemp("sounds")

    async def run() -> int:
        database = Database(url)
        try:
            await make_tenant(database, "ofek", "IL", "ILS", ["+97237630199"])
        finally:
            await database.close()
        return await _ledgerline(url, "prompts", "build", "--out", str(out))

    assert asyncio.run(run()) == 0
    return out, url


def test_every_sound_the_code_plays_is_built_in_every_language_for_asterisk(
    built: tuple[Path, str],
) -> None:
    out, _ = built
    catalog = load()
    names = set(code_prompts().names) | catalog.names()
    assert len(names) > len(catalog.texts["en"].prompts)
    for language in LANGUAGES:
        for name in sorted(names):
            header = wav_header(out / language / f"{name}.wav")
            assert (header.audio_format, header.channels, header.rate, header.bits) == (
                1, 1, 8000, 16,
            ), (language, name)  # fmt: skip
            assert header.seconds >= 0.25, (language, name, header.seconds)


def test_each_business_has_its_consent_script_per_scheme_in_every_language(
    built: tuple[Path, str],
) -> None:
    out, _ = built
    assert load().names([Business("ofek", "Ofek")]) - load().names() == {
        consent_name(scheme, "ofek") for scheme in SCHEMES
    }
    for language in LANGUAGES:
        for scheme in SCHEMES:
            assert wav_header(out / language / f"{consent_name(scheme, 'ofek')}.wav").seconds > 20


async def test_prompts_check_finds_the_full_build_current(
    built: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, url = built
    assert await _ledgerline(url, "prompts", "check", "--dir", str(out)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(LANGUAGES)
    assert all(" current (" in line and "all " in line for line in lines), lines


async def _ledgerline(url: str, *argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return int(await args.handler(load_settings(environ={"LEDGERLINE_DATABASE_URL": url}), args))
