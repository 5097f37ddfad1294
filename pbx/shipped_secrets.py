"""No secret that ships with Ledgerline is ever live in `ledgerline serve`.

Whatever is in this repository is public: the code, `config/defaults.toml`, the example
configuration, `asterisk-conf/` and the demo's data. `serve` checks, before it starts, that
none of those values is configured as a secret, and stops with one line naming the setting:

- `payments.sandbox_webhook_secret`: empty by default, and then each process draws its own
  at random (`sandbox_webhook_secret`), known to nobody outside it, so no one can sign a
  sandbox webhook (a forged `pay_link.succeeded` would lower a balance with nothing paid).
  A value is only needed to drive the sandbox's webhooks by hand; the one shipped before
  ("ledgerline-sandbox") is refused.
- `ari.password`: the placeholder of `asterisk-conf/ari.conf` and the example configuration,
  the demo's and the simulator's; with `ari.url` set, an empty one too.
- the demo's users (`ledgerline demo` seeds them with a published password): a database
  that holds them with that password is refused.

`ledgerline demo` runs its own simulator with its own password and is not checked.
"""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import select

from pbx.auth.passwords import password_matches
from pbx.db.database import Database
from pbx.db.models import Tenant, User
from pbx.settings import Settings, SettingsError

# The values this repository has ever shipped for each secret setting.
SHIPPED: dict[str, frozenset[str]] = {
    "payments.sandbox_webhook_secret": frozenset({"ledgerline-sandbox"}),
    "ari.password": frozenset({"CHANGE-ME", "demo-simulator", "secret"}),
    "messages.sms_gateway_token": frozenset({"CHANGE-ME"}),
    "messages.sms_inbound_token": frozenset({"CHANGE-ME-TO-A-LONG-TOKEN"}),
    "messages.smtp_password": frozenset({"CHANGE-ME"}),
    "service.metrics_token": frozenset({"CHANGE-ME-TO-A-LONG-TOKEN"}),
}


def refuse_shipped_secrets(settings: Settings) -> None:
    """`SettingsError` naming the first setting that holds a shipped (public) value."""
    configured = {
        "payments.sandbox_webhook_secret": settings.payments.sandbox_webhook_secret,
        "ari.password": settings.ari.password,
        "messages.sms_gateway_token": settings.messages.sms_gateway_token,
        "messages.sms_inbound_token": settings.messages.sms_inbound_token,
        "messages.smtp_password": settings.messages.smtp_password,
        "service.metrics_token": settings.service.metrics_token,
    }
    for setting, value in configured.items():
        if value in SHIPPED[setting]:
            raise SettingsError(
                setting, "is a value shipped with Ledgerline, so it is public; set your own"
            )
    if settings.ari.url and not settings.ari.password:
        raise SettingsError("ari.password", "ari.url is set: give the password from ari.conf")


async def refuse_demo_users(database: Database) -> None:
    """`SettingsError` when the database holds the demo's users with the demo's password."""
    from pbx.demo_centre import DEMO_PASSWORD
    from pbx.demo_data import OFEK, SAULE

    async with database.system_session() as session:
        hashes = (
            await session.scalars(
                select(User.password_hash)
                .join(Tenant, Tenant.id == User.tenant_id)
                .where(Tenant.slug.in_((OFEK.slug, SAULE.slug)), User.password_hash.is_not(None))
                .distinct()
            )
        ).all()
    for stored in hashes:
        if await asyncio.to_thread(password_matches, stored, DEMO_PASSWORD):
            raise SettingsError(
                "database.url",
                "holds the demo's users with the demo's published password (written by "
                "`ledgerline demo`); use another database or change their passwords",
            )


def sandbox_webhook_secret(configured: str) -> str:
    """The configured secret, or one drawn now for this process alone."""
    return configured or secrets.token_hex(32)
