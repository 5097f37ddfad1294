"""`ledgerline prompts build` and `check` on a few prompts: 8 kHz mono 16-bit speech in each
language and a business's consent script, nothing redone when nothing changed, a
business's own recording winning, and check naming what is missing or stale."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from pbx.cli import _parser
from pbx.db.database import Database
from pbx.settings import load_settings
from pbx.voice import build, store
from pbx.voice.build import MANIFEST, Sound
from pbx.voice.catalog import Business, consent_name, load
from tests.factories import make_tenant
from tests.voice.prompts_support import require_espeak, wav_header

LANGUAGES = ("en", "he", "lt")
FEW = ("ledgerline-card-number", "ledgerline-payment-accepted", "ledgerline-call-recorded")


@pytest.fixture(autouse=True)
def _espeak() -> None:
    require_espeak()


def _few(
    businesses: tuple[Business, ...] = (), *extra: str, overrides: Path | None = None,
    languages: tuple[str, ...] = LANGUAGES,
) -> list[Sound]:  # fmt: skip
    wanted = set(FEW) | set(extra)
    return [sound for sound in build.sounds(load(), languages, businesses, overrides)
            if sound.name in wanted]  # fmt: skip


def _assert_telephone_speech(path: Path, shortest_s: float) -> float:
    header = wav_header(path)
    assert (header.audio_format, header.channels, header.rate, header.bits) == (1, 1, 8000, 16)
    assert header.seconds >= shortest_s, f"{path}: {header.seconds:.2f} s"
    return header.seconds


async def test_a_build_makes_8khz_mono_16bit_speech_per_language_and_a_business_consent(
    database: Database, tmp_path: Path
) -> None:
    await make_tenant(database, "zeta-power", "GB", "GBP", ["+441130000001"])
    businesses = await store.businesses(database, "zeta-power")
    assert businesses == (Business("zeta-power", "Zeta-Power"),)
    consent = consent_name("bacs", "zeta-power")

    reports = build.build(_few(businesses, consent), tmp_path / "sounds")

    for language in LANGUAGES:
        assert sorted(reports[language].built) == sorted([*FEW, consent])
        assert reports[language].failed == []
        for name in FEW:
            _assert_telephone_speech(tmp_path / "sounds" / language / f"{name}.wav", 1.0)
        # the guarantee, who collects and how to cancel take a while to say
        _assert_telephone_speech(tmp_path / "sounds" / language / f"{consent}.wav", 20.0)
        assert (tmp_path / "sounds" / language / MANIFEST).is_file()


async def test_prompts_build_names_an_unknown_business_and_check_fails_on_an_empty_folder(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _ledgerline(database, "prompts", "build", "--tenant", "nobody",
                             "--out", str(tmp_path)) == 1  # fmt: skip
    assert "no business 'nobody'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing made  # noqa: ASYNC240
    assert await _ledgerline(database, "prompts", "build", "--language", "fr",
                             "--out", str(tmp_path)) == 1  # fmt: skip
    assert "no texts for fr (there are en, he, lt)" in capsys.readouterr().err

    assert await _ledgerline(database, "prompts", "check", "--language", "lt",
                             "--dir", str(tmp_path)) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert "lt: " in out and "0 current" in out
    assert "  missing: ledgerline-card-number" in out


def test_a_second_build_redoes_nothing_and_a_changed_text_only_its_own_file(
    tmp_path: Path,
) -> None:
    wanted = _few(languages=("en",))
    build.build(wanted, tmp_path)
    made = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "en").glob("*.wav")}

    again = build.build(wanted, tmp_path)["en"]
    assert (again.built, again.unchanged) == ([], len(FEW))
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "en").glob("*.wav")} == made

    changed = [Sound(s.language, s.name, "Thank you, your payment is in.")
               if s.name == "ledgerline-payment-accepted" else s for s in wanted]  # fmt: skip
    third = build.build(changed, tmp_path)["en"]
    assert (third.built, third.unchanged) == (["ledgerline-payment-accepted"], len(FEW) - 1)


def test_a_business_recording_wins_over_the_synthesised_prompt(tmp_path: Path) -> None:
    overrides = tmp_path / "own"
    recording = overrides / "en" / "ledgerline-card-number.wav"
    recording.parent.mkdir(parents=True)
    _tone(recording, seconds=1.5, rate=44100, channels=2)  # as a studio would deliver it

    wanted = _few(overrides=overrides, languages=("en", "he"))
    reports = build.build(wanted, tmp_path / "sounds")

    assert reports["en"].recorded == ["ledgerline-card-number"]
    assert "ledgerline-card-number" not in reports["en"].built
    assert reports["he"].recorded == []  # only English has a recording of it
    seconds = _assert_telephone_speech(tmp_path / "sounds/en/ledgerline-card-number.wav", 1.0)
    assert abs(seconds - 1.5) < 0.05  # the recording, resampled: not espeak-ng's sentence
    assert build.check(wanted, tmp_path / "sounds", overrides_known=True)["en"].ok

    _tone(recording, seconds=2.0, rate=8000, channels=1)  # the business re-records it
    assert build.check(wanted, tmp_path / "sounds", overrides_known=True)["en"].stale == (
        "ledgerline-card-number (its recording changed)",
    )
    assert build.build(wanted, tmp_path / "sounds")["en"].recorded == ["ledgerline-card-number"]
    assert abs(wav_header(tmp_path / "sounds/en/ledgerline-card-number.wav").seconds - 2.0) < 0.05


def test_check_lists_what_is_missing_and_stale_in_each_language(tmp_path: Path) -> None:
    wanted = _few(languages=("en", "he"))
    build.build(wanted, tmp_path)
    (tmp_path / "he" / "ledgerline-card-number.wav").unlink()
    reworded = [Sound(s.language, s.name, "Please key the long number on your card.")
                if (s.language, s.name) == ("en", "ledgerline-card-number") else s
                for s in _few(languages=LANGUAGES)]  # fmt: skip

    found = build.check(reworded, tmp_path)

    assert found["en"].stale == ("ledgerline-card-number (text changed)",)
    assert found["en"].missing == ()
    assert found["he"].missing == ("ledgerline-card-number",)
    assert found["he"].stale == ()
    assert set(found["lt"].missing) == set(FEW)  # never built
    assert not any(findings.ok for findings in found.values())
    assert build.check(wanted[:0] + [s for s in wanted if s.language == "en"], tmp_path)["en"].ok


async def _ledgerline(database: Database, *argv: str) -> int:
    args = _parser().parse_args(list(argv))
    settings = load_settings(environ={"LEDGERLINE_DATABASE_URL": database.url})
    return int(await args.handler(settings, args))


def _tone(path: Path, *, seconds: float, rate: int, channels: int) -> None:
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / rate))) * channels
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)


def test_an_interrupted_build_keeps_what_it_made_and_the_next_makes_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = tmp_path / "own"
    for name in FEW:
        (overrides / "en").mkdir(parents=True, exist_ok=True)
        _tone(overrides / "en" / f"{name}.wav", seconds=0.5, rate=8000, channels=1)
    wanted = _few(overrides=overrides, languages=("en",))
    first, stopped = wanted[0].name, wanted[1].name
    convert = build.espeak.convert

    def operator_presses_ctrl_c(source: Path, target: Path, **options: bool) -> None:
        if target.stem == stopped:
            raise KeyboardInterrupt
        convert(source, target, **options)

    monkeypatch.setattr(build.espeak, "convert", operator_presses_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        build.build(wanted, tmp_path / "sounds", workers=1)
    monkeypatch.undo()

    again = build.build(wanted, tmp_path / "sounds", workers=1)["en"]
    assert first not in again.recorded and stopped in again.recorded
    assert again.unchanged == 1


def test_a_recording_that_is_not_audio_fails_its_file_alone_and_check_still_names_it(
    tmp_path: Path,
) -> None:
    overrides = tmp_path / "own"
    (overrides / "en").mkdir(parents=True)
    (overrides / "en" / "ledgerline-card-number.wav").write_bytes(b"not a recording at all")
    wanted = _few(overrides=overrides, languages=("en",))

    report = build.build(wanted, tmp_path / "sounds")["en"]

    assert [line.split(":")[0] for line in report.failed] == ["ledgerline-card-number"]
    assert sorted(report.built) == sorted(set(FEW) - {"ledgerline-card-number"})
    assert not (tmp_path / "sounds/en/ledgerline-card-number.wav").exists()
    assert not list((tmp_path / "sounds/en").glob(".*.partial"))  # no half-written file
    found = build.check(wanted, tmp_path / "sounds", overrides_known=True)["en"]
    assert found.missing == ("ledgerline-card-number",)
