"""`ledgerline tenant ...` and `ledgerline platform token ...`: the platform operator's
commands. Each parses its arguments into a `pbx.platform` command, calls it on the database
the settings name, and prints the result, or one line per problem and a non-zero exit.
The service is imported by the handlers, not here: every `ledgerline` command builds this
parser, and most never provision anything."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbx.audit import By
    from pbx.db.database import Database
    from pbx.platform.errors import PlatformError
    from pbx.platform.tenants import TenantView
    from pbx.settings import Settings

EXIT_REFUSED = 1
OpenDatabase = Callable[["Settings"], AbstractAsyncContextManager["Database"]]


def add_commands(
    commands: argparse._SubParsersAction, open_database: OpenDatabase  # type: ignore[type-arg]
) -> None:
    """The commands, on the database `open_database` opens (checked by the composition root:
    reachable, schema at head)."""
    tenant = commands.add_parser("tenant", help="businesses: create, list, update, disable")
    tenant.set_defaults(open_database=open_database)
    verbs = tenant.add_subparsers(dest="tenant_command", required=True)
    create = verbs.add_parser("create", help="a business with its numbers and first admin")
    create.add_argument("slug")
    _settings_options(create, required=True)
    create.add_argument("--did", action="append", default=[], required=True,
                        help="a number the business answers, E.164 (repeat for more)")  # fmt: skip
    create.add_argument("--admin", required=True, help="the first admin's username")
    create.add_argument("--admin-name", help="the first admin's display name")
    create.add_argument("--admin-email", help="the first admin's email address (where they "
                        "are told a webhook subscription was disabled)")  # fmt: skip
    create.add_argument("--link-base", help="where users reach Ledgerline (default: "
                        "http://HTTP_HOST:HTTP_PORT from the settings)")  # fmt: skip
    create.set_defaults(handler=_create)
    verbs.add_parser("list", help="every business").set_defaults(handler=_list)
    update = verbs.add_parser("update", help="change a business; add or remove numbers")
    update.add_argument("slug")
    _settings_options(update, required=False)
    update.add_argument("--add-did", action="append", default=[])
    update.add_argument("--remove-did", action="append", default=[])
    update.set_defaults(handler=_update)
    for verb, disabled, text in (("disable", True, "calls get the dialplan's fallback, users "
                                  "cannot sign in; nothing is deleted"),
                                 ("enable", False, "undo disable")):  # fmt: skip
        switch = verbs.add_parser(verb, help=text)
        switch.add_argument("slug")
        switch.set_defaults(handler=_switch, disabled=disabled)
    _token_commands(commands, open_database)


def _settings_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--name", required=required, help="the business's name")
    parser.add_argument("--region", required=required, help="ISO 3166 region, e.g. IL")
    parser.add_argument("--currency", required=required, help="ISO 4217 code, e.g. ILS")
    parser.add_argument("--timezone", required=required, help="IANA zone, e.g. Asia/Jerusalem")
    parser.add_argument("--language", help="what callers hear: he, lt or en (default en; a "
                        "route may say otherwise)")  # fmt: skip


def _token_commands(
    commands: argparse._SubParsersAction, open_database: OpenDatabase  # type: ignore[type-arg]
) -> None:
    platform = commands.add_parser("platform", help="the platform API's tokens")
    platform.set_defaults(open_database=open_database)
    nouns = platform.add_subparsers(dest="platform_command", required=True)
    token = nouns.add_parser("token", help="platform tokens: create, list, revoke")
    verbs = token.add_subparsers(dest="token_command", required=True)
    create = verbs.add_parser("create", help="a new token, shown once")
    create.add_argument("name")
    create.set_defaults(handler=_token_create)
    verbs.add_parser("list", help="tokens with when each was last used").set_defaults(
        handler=_token_list
    )
    revoke = verbs.add_parser("revoke", help="stop a token working")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_token_revoke)


def _operator() -> By:
    from pbx.audit import By

    return By(f"cli:{getpass.getuser()}")


def _refused(exc: PlatformError) -> int:
    from pbx.platform.errors import Invalid

    if isinstance(exc, Invalid):
        for field, problem in exc.problems:
            print(f"ledgerline: {field}: {problem}", file=sys.stderr)
    else:
        print(f"ledgerline: {exc}", file=sys.stderr)
    return EXIT_REFUSED


async def _create(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.platform import errors, tenants

    command = tenants.NewTenant(args.slug, args.name, args.region, args.currency, args.timezone,
                                tuple(args.did), args.admin, args.admin_name,
                                args.admin_email, args.language)  # fmt: skip
    base = args.link_base or f"http://{settings.service.http_host}:{settings.service.http_port}"
    try:
        async with args.open_database(settings) as database:
            done = await tenants.create_tenant(database, command, actor=_operator(),
                                               now=datetime.now(UTC))  # fmt: skip
    except errors.PlatformError as exc:
        return _refused(exc)
    print(_line(done.tenant))
    print(f"admin {args.admin} (id {done.admin_id}) sets a password, once, before "
          f"{done.link.expires_at:%Y-%m-%d %H:%M} UTC, at:")  # fmt: skip
    print(done.link.url(base))
    return 0


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.platform import tenants

    async with args.open_database(settings) as database:
        for view in await tenants.list_tenants(database):
            print(_line(view))
    return 0


async def _update(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.platform import errors, tenants

    change = tenants.TenantChange(args.name, args.region, args.currency, args.timezone,
                                  tuple(args.add_did), tuple(args.remove_did),
                                  args.language)  # fmt: skip
    try:
        async with args.open_database(settings) as database:
            view = await tenants.update_tenant(database, args.slug, change, actor=_operator())
    except errors.PlatformError as exc:
        return _refused(exc)
    print(_line(view))
    return 0


async def _switch(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.platform import errors, tenants

    try:
        async with args.open_database(settings) as database:
            view = await tenants.set_disabled(database, args.slug, args.disabled,
                                              actor=_operator())  # fmt: skip
    except errors.PlatformError as exc:
        return _refused(exc)
    print(_line(view))
    return 0


async def _token_create(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.platform import errors, tokens

    try:
        async with args.open_database(settings) as database:
            view, secret = await tokens.create_token(database, args.name, _operator().label,
                                                     datetime.now(UTC))  # fmt: skip
    except errors.PlatformError as exc:
        return _refused(exc)
    print(f"platform token {view.name} (shown once; keep it secret):")
    print(secret)
    return 0


async def _token_list(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.platform import tokens

    async with args.open_database(settings) as database:
        for view in await tokens.list_tokens(database):
            used = f"{view.last_used_at:%Y-%m-%d %H:%M}" if view.last_used_at else "never"
            state = (f"revoked {view.revoked_at:%Y-%m-%d %H:%M} by {view.revoked_by}"
                     if view.revoked_at else "active")  # fmt: skip
            made = f"created {view.created_at:%Y-%m-%d %H:%M} by {view.created_by}"
            print(f"{view.name}\t{state}\tlast used {used}\t{made}")
    return 0


async def _token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from pbx.platform import errors, tokens

    try:
        async with args.open_database(settings) as database:
            await tokens.revoke_token(database, args.name, _operator().label, datetime.now(UTC))
    except errors.PlatformError as exc:
        return _refused(exc)
    print(f"platform token {args.name} revoked")
    return 0


def _line(view: TenantView) -> str:
    state = "disabled" if view.disabled else "active"
    return (f"{view.slug}\t{state}\t{view.name}\t{view.region}\t{view.currency}\t"
            f"{view.timezone}\t{' '.join(view.dids)}")  # fmt: skip
