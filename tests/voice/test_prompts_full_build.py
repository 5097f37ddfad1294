"""The whole build, once (every prompt and word in every language and a business's consent
scripts, through `ledgerline prompts build`): every sound the code can play exists in he,
lt and en as the 8 kHz mono 16-bit WAV Asterisk plays, and `ledgerline prompts check`
finds it all current."""

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


async def test_a_full_build_gives_asterisk_every_sound_the_code_plays_and_check_agrees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One test, so the build (the slowest thing here) runs once on whichever test worker
    takes it: every prompt the code plays and every word, in each language, as the WAV
    Asterisk plays; the business's consent script per scheme; `prompts check` content."""
    require_espeak()
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledgerline.db'}"
    await asyncio.to_thread(_migrate_once, url, {})
    database = Database(url)
    try:
        await make_tenant(database, "ofek", "IL", "ILS", ["+97237630199"])
    finally:
        await database.close()
    out = tmp_path / "sounds"

    assert await _ledgerline(url, "prompts", "build", "--out", str(out)) == 0

    catalog = load()
    names = set(code_prompts().names) | catalog.names()
    assert len(names) > len(catalog.texts["en"].prompts)
    consent = {consent_name(scheme, "ofek") for scheme in SCHEMES}
    assert catalog.names([Business("ofek", "Ofek")]) - catalog.names() == consent
    for language in LANGUAGES:
        for name in sorted(names | consent):
            header = wav_header(out / language / f"{name}.wav")
            assert (header.audio_format, header.channels, header.rate, header.bits) == (
                1, 1, 8000, 16,
            ), (language, name)  # fmt: skip
            assert header.seconds >= (20 if name in consent else 0.25), (language, name)
    capsys.readouterr()
    assert await _ledgerline(url, "prompts", "check", "--dir", str(out)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(LANGUAGES)
    assert all(line.startswith(f"{line[:2]}: all ") for line in lines), lines


async def _ledgerline(url: str, *argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return int(await args.handler(load_settings(environ={"LEDGERLINE_DATABASE_URL": url}), args))
