"""`ledgerline sync stripe-billing`: the command's parsing and its refusal without a key (the
sync itself is tested against the fake Stripe API in test_sync.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pbx.cli import EXIT_CONFIG, _parser
from pbx.settings import load_settings


def test_since_is_a_utc_date() -> None:
    args = _parser().parse_args(["sync", "stripe-billing", "--tenant", "ofek",
                                 "--since", "2026-11-01"])  # fmt: skip

    assert (args.tenant, args.since) == ("ofek", datetime(2026, 11, 1, tzinfo=UTC))


def test_a_tenant_is_required() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["sync", "stripe-billing"])


async def test_without_a_stripe_key_it_names_the_setting_and_touches_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _parser().parse_args(["sync", "stripe-billing", "--tenant", "ofek"])
    settings = load_settings(environ={"LEDGERLINE_DATABASE_URL": "sqlite+aiosqlite:///:memory:"})

    assert await args.handler(settings, args) == EXIT_CONFIG
    assert "payments.stripe_api_key" in capsys.readouterr().err
