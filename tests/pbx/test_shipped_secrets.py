"""No secret shipped in this repository is ever live in `ledgerline serve`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from billing_bridge.payments.port import WebhookEvent, WebhookRejected
from billing_bridge.payments.sandbox import SandboxProvider
from pbx.auth.passwords import hash_password
from pbx.bootstrap import payment_provider
from pbx.db.database import Database
from pbx.db.models import User
from pbx.demo_centre import seed_demo_centres
from pbx.demo_data import seed_demo_data
from pbx.settings import SettingsError, load_settings
from pbx.shipped_secrets import refuse_demo_users, refuse_shipped_secrets
from tests.pbx.test_cli import ledgerline


def forged(secret: str) -> tuple[bytes, dict[str, str]]:
    """What anyone who read the repository could sign: pay link paid."""
    signer = SandboxProvider(webhook_secret=secret)
    return signer.webhook([WebhookEvent("ev-forged", "pay_link.succeeded", "pay_link",
                                        "sbx_link_1", "succeeded", datetime.now(UTC))])  # fmt: skip


def test_the_default_sandbox_verifies_nothing_signed_with_the_secret_it_used_to_ship() -> None:
    provider = payment_provider(load_settings(environ={}).payments)

    with pytest.raises(WebhookRejected):
        provider.parse_webhook(*forged("ledgerline-sandbox"))


def test_each_process_draws_its_own_sandbox_secret() -> None:
    settings = load_settings(environ={}).payments
    one, other = payment_provider(settings), payment_provider(settings)
    assert isinstance(one, SandboxProvider) and isinstance(other, SandboxProvider)

    body, headers = one.webhook([])

    with pytest.raises(WebhookRejected):
        other.parse_webhook(body, headers)


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"LEDGERLINE_PAYMENTS_SANDBOX_WEBHOOK_SECRET": "ledgerline-sandbox"},
         "payments.sandbox_webhook_secret"),
        ({"LEDGERLINE_ARI_URL": "http://127.0.0.1:8088/ari",
          "LEDGERLINE_ARI_PASSWORD": "CHANGE-ME"},
         "ari.password"),
        ({"LEDGERLINE_ARI_URL": "http://127.0.0.1:8088/ari",
          "LEDGERLINE_ARI_PASSWORD": "demo-simulator"}, "ari.password"),
        ({"LEDGERLINE_ARI_URL": "http://127.0.0.1:8088/ari"}, "ari.password"),
    ],
)  # fmt: skip
def test_a_shipped_secret_in_the_settings_is_refused_naming_the_setting(
    environ: dict[str, str], setting: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        refuse_shipped_secrets(load_settings(environ=environ))

    assert refused.value.setting == setting


def test_settings_of_ones_own_pass() -> None:
    refuse_shipped_secrets(load_settings(environ={
        "LEDGERLINE_PAYMENTS_SANDBOX_WEBHOOK_SECRET": "a-value-of-this-installation",
        "LEDGERLINE_ARI_URL": "http://127.0.0.1:8088/ari",
        "LEDGERLINE_ARI_PASSWORD": "a-long-random-password",
    }))  # fmt: skip


def test_serve_stops_with_one_line_naming_a_shipped_secret(tmp_path: Path) -> None:
    env = {"LEDGERLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "LEDGERLINE_PAYMENTS_SANDBOX_WEBHOOK_SECRET": "ledgerline-sandbox"}  # fmt: skip

    result = ledgerline("serve", env=env)

    assert result.returncode == 2
    assert result.stderr.startswith("ledgerline: payments.sandbox_webhook_secret: is a value ")
    assert len(result.stderr.strip().splitlines()) == 1


async def test_a_database_with_the_demos_users_and_password_is_refused(database: Database) -> None:
    await seed_demo_data(database, datetime.now(UTC).date())
    await seed_demo_centres(database)

    with pytest.raises(SettingsError) as refused:
        await refuse_demo_users(database)
    assert refused.value.setting == "database.url"

    async with database.system_session() as session, session.begin():
        await session.execute(update(User).values(password_hash=hash_password("their own now")))
    await refuse_demo_users(database)
