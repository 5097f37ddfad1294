"""`ledgerline prompts build` and `ledgerline prompts check`: the prompts' audio for
Asterisk, from the texts in `pbx/voice/texts/`, and each business's consent scripts (the
businesses are read from the database the settings name)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbx.db.database import Database
    from pbx.settings import Settings
    from pbx.voice.catalog import Business, Catalog

EXIT_PROBLEMS = 1
DEFAULT_OUT = Path("var/sounds")
OpenDatabase = Callable[["Settings"], AbstractAsyncContextManager["Database"]]


class _Refused(Exception):
    pass


def add_commands(
    commands: argparse._SubParsersAction, open_database: OpenDatabase  # type: ignore[type-arg]
) -> None:
    prompts = commands.add_parser(
        "prompts", help="the prompts' audio for Asterisk: build it, or check what is missing",
        description="Every ledgerline-* prompt, word and business consent script, spoken by "
        "espeak-ng from pbx/voice/texts/<language>.toml as 8 kHz mono WAV in Asterisk's "
        "layout: OUT/<language>/<name>.wav (install with --out /var/lib/asterisk/sounds).",
    )  # fmt: skip
    prompts.set_defaults(open_database=open_database)
    verbs = prompts.add_subparsers(dest="prompts_command", required=True)
    build = verbs.add_parser("build", help="make what is missing or changed (idempotent)")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT,
                       help=f"the sounds directory (default {DEFAULT_OUT}; Asterisk's is "
                       "/var/lib/asterisk/sounds)")  # fmt: skip
    build.add_argument("--jobs", type=int, default=None,
                       help="files made at once (default: the number of CPUs)")  # fmt: skip
    check = verbs.add_parser("check", help="list what is missing or stale per language; "
                             "exit 1 if anything is")  # fmt: skip
    check.add_argument("--dir", type=Path, default=DEFAULT_OUT, dest="out",
                       help=f"the sounds directory (default {DEFAULT_OUT})")  # fmt: skip
    for verb in (build, check):
        verb.add_argument("--language", help="comma-separated, e.g. he,lt (default: every "
                          "language in pbx/voice/texts)")  # fmt: skip
        verb.add_argument("--tenant", help="consent scripts of this business only, by slug "
                          "(default: every business)")  # fmt: skip
        verb.add_argument("--overrides", type=Path,
                          help="a business's own recordings, OVERRIDES/<language>/<name>.wav "
                          "(or .flac, .ogg, .mp3): used instead of the synthesised "
                          "prompt of that name")  # fmt: skip
    build.set_defaults(handler=_build)
    check.set_defaults(handler=_check)


async def _build(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.voice import build, espeak

    try:
        catalog, languages, businesses = await _what(settings, args)
        if args.jobs is not None and args.jobs < 1:
            raise _Refused("--jobs is at least 1")
        wanted = build.sounds(catalog, languages, businesses, args.overrides)
        started = time.monotonic()
        reports = build.build(wanted, args.out, workers=args.jobs)
    except (_Refused, espeak.SynthesisError, OSError) as exc:
        print(f"ledgerline: prompts build: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    failed = False
    for language, report in reports.items():
        print(f"{language}: {len(report.built)} synthesised, {len(report.recorded)} from "
              f"recordings, {report.unchanged} unchanged, {len(report.failed)} failed "
              f"({args.out / language})")  # fmt: skip
        for line in report.failed:
            print(f"  failed: {line}")
        failed = failed or bool(report.failed)
    print(f"{len(wanted)} sounds for {len(businesses)} business(es) "
          f"in {time.monotonic() - started:.1f} s")  # fmt: skip
    return EXIT_PROBLEMS if failed else 0


async def _check(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.voice import build

    try:
        catalog, languages, businesses = await _what(settings, args)
    except _Refused as exc:
        print(f"ledgerline: prompts check: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    wanted = build.sounds(catalog, languages, businesses, args.overrides)
    findings = build.check(wanted, args.out, overrides_known=args.overrides is not None)
    for language, found in findings.items():
        if found.ok:
            print(f"{language}: all {found.current} current ({args.out / language})")
            continue
        print(f"{language}: {len(found.missing)} missing, {len(found.stale)} stale, "
              f"{found.current} current ({args.out / language})")  # fmt: skip
        for name in found.missing:
            print(f"  missing: {name}")
        for line in found.stale:
            print(f"  stale: {line}")
    return 0 if all(found.ok for found in findings.values()) else EXIT_PROBLEMS


async def _what(
    settings: Settings, args: argparse.Namespace
) -> tuple[Catalog, tuple[str, ...], tuple[Business, ...]]:
    from pbx.voice import store
    from pbx.voice.catalog import CatalogError, load

    try:
        catalog = load()
    except CatalogError as exc:
        raise _Refused(f"the texts in pbx/voice/texts are not usable:\n{exc}") from None
    languages = catalog.languages
    if args.language:
        languages = tuple(dict.fromkeys(part.strip() for part in args.language.split(",")))
        unknown = [language for language in languages if language not in catalog.texts]
        if unknown:
            raise _Refused(f"no texts for {', '.join(unknown)} (there are "
                           f"{', '.join(catalog.languages)})")  # fmt: skip
    if args.overrides is not None and not args.overrides.is_dir():
        raise _Refused(f"--overrides {args.overrides}: not a directory")
    async with args.open_database(settings) as database:
        try:
            businesses = await store.businesses(database, args.tenant)
        except store.UnknownBusiness as exc:
            raise _Refused(str(exc)) from None
    return catalog, languages, businesses
