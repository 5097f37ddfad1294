"""`ledgerline prompts build` and `check`: every prompt, word and business consent script as
a sound file, in the layout of Asterisk's sounds directory (`<out>/<language>/<name>.wav`).

A business's own recording wins over the synthesised one: `<overrides>/<language>/<name>`
with any of OVERRIDE_SUFFIXES is converted to the same 8 kHz WAV instead. Each language's
folder keeps a manifest (MANIFEST) saying what each file was made from (the text's hash, the
voice and the synthesiser's version, or the recording's hash), so a build only redoes what
changed, and `check` can tell a missing or stale file from a current one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbx.voice import espeak
from pbx.voice.catalog import Business, Catalog

MANIFEST = ".ledgerline-prompts.json"
OVERRIDE_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SYNTHESISED = "espeak-ng"
RECORDED = "override"


@dataclass(frozen=True)
class Sound:
    """One file to have: what it says, and a business's recording of it if there is one."""

    language: str
    name: str
    text: str
    override: Path | None = None

    @property
    def text_sha256(self) -> str:
        return _sha256(self.text.encode())

    def made_from(self, synthesiser_version: str) -> dict[str, str]:
        """What the file is made from: the manifest entry a current file has (less its own
        hash)."""
        if self.override is not None:
            return {"source": RECORDED, "recording_sha256": _file_sha256(self.override),
                    "text_sha256": self.text_sha256}  # fmt: skip
        return {"source": SYNTHESISED, "text_sha256": self.text_sha256,
                "voice": espeak.VOICES.get(self.language, self.language),
                "synthesiser": synthesiser_version}  # fmt: skip


@dataclass
class LanguageReport:
    built: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)  # from the business's recordings
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)  # "name: why"


@dataclass(frozen=True)
class Findings:
    """What `check` found in one language's folder."""

    missing: tuple[str, ...]
    stale: tuple[str, ...]  # "name (why)"
    current: int

    @property
    def ok(self) -> bool:
        return not self.missing and not self.stale


def sounds(
    catalog: Catalog, languages: Iterable[str], businesses: Iterable[Business],
    overrides: Path | None = None,
) -> list[Sound]:  # fmt: skip
    businesses = tuple(businesses)
    return [
        Sound(language, name, text, _override(overrides, language, name))
        for language in languages
        for name, text in sorted(catalog.texts[language].sounds(businesses).items())
    ]


def build(
    wanted: list[Sound], out: Path, *, workers: int | None = None,
    synthesiser: espeak.Synthesiser | None = None,
) -> dict[str, LanguageReport]:  # fmt: skip
    """Make every sound in `wanted` that is missing or not made from what it is now; files
    and manifests of sounds not wanted are left alone."""
    if synthesiser is None and any(sound.override is None for sound in wanted):
        synthesiser = espeak.find_synthesiser()
    version = synthesiser.version if synthesiser else ""
    reports = {sound.language: LanguageReport() for sound in wanted}
    manifests = {language: _read_manifest(out / language) for language in reports}
    to_make = []
    for sound in wanted:
        entry = manifests[sound.language].get(sound.name)
        if _current(out, sound, entry, sound.made_from(version)):
            reports[sound.language].unchanged += 1
        else:
            to_make.append(sound)
    for language in reports:
        (out / language).mkdir(parents=True, exist_ok=True)

    def make(sound: Sound) -> tuple[Sound, dict[str, str] | str]:
        target = out / sound.language / f"{sound.name}.wav"
        try:
            if sound.override is not None:
                espeak.convert(sound.override, target)
            else:
                assert synthesiser is not None
                espeak.synthesise(synthesiser, sound.language, sound.text, target)
        except espeak.SynthesisError as exc:
            return sound, str(exc)
        return sound, {**sound.made_from(version), "wav_sha256": _file_sha256(target)}

    try:
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
            # Threads are enough: the work is in the espeak-ng, sox and ffmpeg processes.
            for sound, outcome in pool.map(make, to_make):
                report = reports[sound.language]
                if isinstance(outcome, str):
                    report.failed.append(f"{sound.name}: {outcome}")
                    continue
                manifests[sound.language][sound.name] = outcome
                (report.recorded if sound.override else report.built).append(sound.name)
    finally:  # interrupted too: what was made is kept, and not made again
        for language, manifest in manifests.items():
            _write_manifest(out / language, manifest)
    return reports


def check(
    wanted: list[Sound], directory: Path, *, overrides_known: bool = False,
) -> dict[str, Findings]:  # fmt: skip
    """Per language, which wanted files are missing and which were made from something
    other than what they would be made from now (another text, voice or recording).

    Without `overrides_known` (no overrides folder given), a file made from a business's
    recording is taken as current: only its build knows where the recording was."""
    by_language: dict[str, list[Sound]] = {}
    for sound in wanted:
        by_language.setdefault(sound.language, []).append(sound)
    findings = {}
    for language, expected in by_language.items():
        manifest = _read_manifest(directory / language)
        missing, stale = [], []
        for sound in expected:
            if not (directory / language / f"{sound.name}.wav").is_file():
                missing.append(sound.name)
                continue
            why = _staleness(directory, sound, manifest.get(sound.name), overrides_known)
            if why:
                stale.append(f"{sound.name} ({why})")
        findings[language] = Findings(tuple(missing), tuple(stale),
                                      len(expected) - len(missing) - len(stale))  # fmt: skip
    return findings


def _staleness(
    directory: Path, sound: Sound, entry: Mapping[str, Any] | None, overrides_known: bool
) -> str | None:
    if entry is None:
        return "not made by prompts build: no manifest entry"
    if entry.get("wav_sha256") != _file_sha256(directory / sound.language / f"{sound.name}.wav"):
        return "the file changed since it was built"
    if entry.get("source") == RECORDED and not overrides_known:
        return None
    if sound.override is not None:
        if entry.get("source") != RECORDED:
            return "a recording of it is in the overrides, not yet built"
        if entry.get("recording_sha256") != _file_sha256(sound.override):
            return "its recording changed"
        return None
    if entry.get("source") == RECORDED:
        return "made from a recording no longer in the overrides"
    if entry.get("text_sha256") != sound.text_sha256:
        return "text changed"
    if entry.get("voice") != espeak.VOICES.get(sound.language, sound.language):
        return "voice changed"
    return None


def _current(out: Path, sound: Sound, entry: Mapping[str, Any] | None,
             made_from: Mapping[str, str]) -> bool:  # fmt: skip
    if entry is None or any(entry.get(key) != value for key, value in made_from.items()):
        return False
    target = out / sound.language / f"{sound.name}.wav"
    return target.is_file() and entry.get("wav_sha256") == _file_sha256(target)


def _override(overrides: Path | None, language: str, name: str) -> Path | None:
    if overrides is None:
        return None
    for suffix in OVERRIDE_SUFFIXES:
        recording = overrides / language / f"{name}{suffix}"
        if recording.is_file():
            return recording
    return None


def _read_manifest(folder: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: everything is rebuilt and the manifest rewritten
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {name: entry for name, entry in files.items() if isinstance(entry, dict)}


def _write_manifest(folder: Path, files: Mapping[str, Mapping[str, str]]) -> None:
    partial = folder / f"{MANIFEST}.partial"
    partial.write_text(json.dumps({"version": 1, "files": dict(sorted(files.items()))},
                                  indent=1, ensure_ascii=False) + "\n")  # fmt: skip
    partial.replace(folder / MANIFEST)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return ""

