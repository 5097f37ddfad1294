"""`ledgerline`: serve, migrate, provision businesses, import a customer base, collect, build
the prompts' audio for Asterisk, or run the demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pbx import report_cli
from pbx.platform import cli as platform_cli
from pbx.settings import Settings, SettingsError, load_settings
from pbx.voice import cli as voice_cli

if TYPE_CHECKING:
    from pbx.db.database import Database

T = TypeVar("T")

EXIT_CONFIG = 2
EXIT_IMPORT_PROBLEMS = 1
EXIT_UNKNOWN_TENANT = 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        if args.command == "demo":
            settings = _demo_settings(settings, args)
        logging.basicConfig(
            level=settings.service.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        # Alembic narrates its plugin set-up at INFO; `db upgrade` reports its own result.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        return run_loop(args.handler(settings, args))
    except SettingsError as exc:
        print(f"ledgerline: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it is installed (less CPU per socket operation)."""
    try:
        import uvloop
    except ImportError:  # not on every platform; asyncio's own loop works the same, slower
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledgerline", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML file overriding the embedded defaults")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the FastAGI server and the HTTP API")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations").set_defaults(handler=_db_upgrade)
    db_commands.add_parser("current", help="show the schema revision").set_defaults(
        handler=_db_current
    )

    imports = commands.add_parser("import-customers", help="import or update customers from CSV")
    imports.add_argument("file", type=Path)
    imports.add_argument("--tenant", required=True, help="tenant slug")
    imports.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    imports.set_defaults(handler=_import_customers)

    invoices = commands.add_parser("import-invoices", help="import or update invoices from CSV")
    invoices.add_argument("file", type=Path)
    invoices.add_argument("--tenant", required=True, help="tenant slug")
    invoices.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    invoices.set_defaults(handler=_import_invoices)

    collect = commands.add_parser("collect", help="charge due invoices from active mandates")
    collect.add_argument("--date", type=date.fromisoformat, help="run date (default: today)")
    collect.add_argument("--tenant", help="one business, by slug (default: all)")
    collect.set_defaults(handler=_collect)

    sync = commands.add_parser("sync", help="pull a business's records from its billing system")
    sync_commands = sync.add_subparsers(dest="sync_command", required=True)
    stripe_sync = sync_commands.add_parser(
        "stripe-billing", help="Stripe customers (with phones) and the invoices still owed"
    )
    stripe_sync.add_argument("--tenant", required=True, help="tenant slug")
    stripe_sync.add_argument("--since", type=_utc_date, help="only what was created from "
                             "this date (UTC, YYYY-MM-DD) on")  # fmt: skip
    stripe_sync.set_defaults(handler=_sync_stripe_billing)

    platform_cli.add_commands(commands, _checked_database)
    report_cli.add_commands(commands, _checked_database)
    voice_cli.add_commands(commands, _checked_database)

    demo = commands.add_parser("demo", help="run on embedded defaults with demo data and calls")
    demo.add_argument("--data-dir", type=Path, default=Path("var/demo"))
    demo.add_argument("--call-every", type=float, default=3.0, help="seconds between demo calls")
    demo.add_argument("--calls", type=int, default=0, help="stop after this many calls (0: never)")
    demo.add_argument("--talk-seconds", type=float, default=4.0, help="how long callers talk")
    demo.set_defaults(handler=_demo)
    return parser


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.bootstrap import bootstrap, build_services, check_dependencies
    from pbx.service import Ledgerline, run_until_stopped
    from pbx.shipped_secrets import refuse_demo_users, refuse_shipped_secrets

    refuse_shipped_secrets(settings)
    services = build_services(settings)
    try:
        await check_dependencies(services)
        await refuse_demo_users(services.database)
    except SettingsError:
        await services.close()
        raise
    await run_until_stopped(Ledgerline(bootstrap(services)))
    return 0


@asynccontextmanager
async def _checked_database(settings: Settings) -> AsyncIterator[Database]:
    """The database the settings name, reachable and at the head revision, closed after."""
    from pbx.bootstrap import check_database
    from pbx.db.database import Database

    database = Database(settings.database.url)
    try:
        await check_database(database)
        yield database
    finally:
        await database.close()


async def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.bootstrap import check_database
    from pbx.db.database import Database
    from pbx.db.migrate import current_revision, upgrade

    database = Database(settings.database.url)
    try:
        await check_database(database, require_schema=False)
        await upgrade(database)
        print(f"database at revision {await current_revision(database)}")
    finally:
        await database.close()
    return 0


async def _db_current(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.bootstrap import check_database
    from pbx.db.database import Database
    from pbx.db.migrate import current_revision, head_revision

    database = Database(settings.database.url)
    try:
        await check_database(database, require_schema=False)
        print(f"current: {await current_revision(database) or 'empty'}; head: {head_revision()}")
    finally:
        await database.close()
    return 0


async def _import_customers(settings: Settings, args: argparse.Namespace) -> int:
    from billing_bridge.customer_import_store import import_customers

    return await _run_import(settings, args, "import-customers", import_customers)


async def _import_invoices(settings: Settings, args: argparse.Namespace) -> int:
    from billing_bridge.invoice_import_store import import_invoices

    return await _run_import(settings, args, "import-invoices", import_invoices)


async def _run_import(
    settings: Settings, args: argparse.Namespace, command: str,
    importer: Callable[..., Awaitable[Any]],
) -> int:  # fmt: skip
    """A CSV import (customers or invoices): its report printed, exit 1 if any line or the
    file was refused."""
    from billing_bridge.customer_import import ImportFileError
    from billing_bridge.customer_import_store import UnknownTenant
    from pbx.bootstrap import build_services, check_dependencies

    services = build_services(settings)
    try:
        await check_dependencies(services)
        report = await importer(
            services.database, args.tenant, args.file, actor=f"cli:{getpass.getuser()}",
            on_numbers_changed=services.identification.forget_numbers, dry_run=args.dry_run,
        )  # fmt: skip
    except (ImportFileError, UnknownTenant, OSError) as exc:
        print(f"ledgerline: {command}: {exc}", file=sys.stderr)
        return EXIT_IMPORT_PROBLEMS
    finally:
        await services.close()
    for line in report.summary_lines():
        print(line)
    return EXIT_IMPORT_PROBLEMS if report.problems else 0


async def _collect(settings: Settings, args: argparse.Namespace) -> int:
    from billing_bridge.collection.job import UnknownTenant, run_collection
    from pbx.bootstrap import check_database, payment_provider
    from pbx.db.database import Database

    database = Database(settings.database.url)
    try:
        await check_database(database)
        report = await run_collection(
            database, payment_provider(settings.payments), today=args.date, tenant=args.tenant
        )
    except UnknownTenant as exc:
        print(f"ledgerline: collect: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN_TENANT
    finally:
        await database.close()
    for line in report.summary_lines():
        print(line)
    return 0


def _utc_date(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), time(), UTC)


async def _sync_stripe_billing(settings: Settings, args: argparse.Namespace) -> int:
    from billing_bridge.payments.port import ProviderError
    from billing_bridge.stripe_billing.api import StripeBillingApi
    from billing_bridge.stripe_billing.store import UnknownBusiness
    from billing_bridge.stripe_billing.sync import sync_stripe_billing
    from pbx.bootstrap import build_services, check_dependencies

    if not settings.payments.stripe_api_key:
        print("ledgerline: sync stripe-billing: set payments.stripe_api_key", file=sys.stderr)
        return EXIT_CONFIG
    services = build_services(settings)
    api = StripeBillingApi(settings.payments.stripe_api_key,
                           api_base=settings.payments.stripe_api_base or None)  # fmt: skip
    try:
        await check_dependencies(services)
        report = await sync_stripe_billing(
            services.database, api, args.tenant, since=args.since,
            actor=f"cli:{getpass.getuser()}", started=datetime.now(UTC),
            on_numbers_changed=services.identification.forget_numbers,
        )  # fmt: skip
    except (UnknownBusiness, ProviderError) as exc:
        print(f"ledgerline: sync stripe-billing: {exc}", file=sys.stderr)
        return EXIT_IMPORT_PROBLEMS
    finally:
        await api.aclose()
        await services.close()
    for line in report.summary_lines():
        print(line)
    return EXIT_IMPORT_PROBLEMS if report.problems else 0


def _demo_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    from pbx.demo import demo_settings

    return demo_settings(settings, args.data_dir)


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.demo import run_demo

    await run_demo(
        settings, call_every=args.call_every, calls=args.calls, talk_seconds=args.talk_seconds
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
