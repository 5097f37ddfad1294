from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from pbx.audit import SYSTEM, By, CardDataInAudit, Target, record
from pbx.auth.roles import Principal, Role
from pbx.db.models import AuditEntry

VISA = "4242424242424242"


class FakeSession:
    """What `record` needs of a session: somewhere to add a row."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)


def _record(session: FakeSession, **overrides: Any) -> AuditEntry:
    arguments: dict[str, Any] = {
        "tenant_id": 7,
        "actor": SYSTEM,
        "action": "queue.update",
        "target": Target("queue", 12),
        "details": {},
    }
    arguments.update(overrides)
    return record(cast(AsyncSession, session), **arguments)


def test_an_entry_joins_the_session_with_who_did_what_to_which_target() -> None:
    session = FakeSession()
    by = Principal(user_id=3, tenant_id=7, username="ana", role=Role.ADMIN)

    entry = _record(session, actor=by, details={"name": "Sales"})

    assert session.added == [entry]
    assert (entry.tenant_id, entry.actor_id, entry.actor_label) == (7, 3, by.label)
    assert (entry.action, entry.target_type, entry.target_id) == ("queue.update", "queue", "12")
    assert entry.details == {"name": "Sales"}


def test_a_process_acts_without_a_user_and_a_target_may_have_no_id() -> None:
    entry = _record(FakeSession(), actor=By("retention"), target=Target("tenant"))

    assert (entry.actor_id, entry.actor_label, entry.target_id) == (None, "retention", None)


def test_a_card_number_typed_into_any_string_of_the_details_is_masked() -> None:
    details = {
        "note": f"paid with {VISA}",
        "after": {"reason": f"card {VISA}", "tags": [f"x {VISA}", 5]},
        "amount_minor": 4242424242424242,  # a number is not free text
    }

    entry = _record(FakeSession(), details=details)

    assert entry.details == {
        "note": "paid with ************4242",
        "after": {"reason": "card ************4242", "tags": ["x ************4242", 5]},
        "amount_minor": 4242424242424242,
    }
    assert details["note"] == f"paid with {VISA}"  # the caller's dict is left as it was


def test_a_card_number_in_the_actors_label_is_masked_and_a_long_label_is_capped() -> None:
    masked = _record(FakeSession(), actor=By(f"import {VISA}"))
    long = _record(FakeSession(), actor=By("a" * 300))

    assert masked.actor_label == "import ************4242"
    assert len(long.actor_label) == 100


@pytest.mark.parametrize(
    "key", ["pan", "card_number", "CVV", "cvc2", "expiry", "exp_month", "track2"]
)
def test_card_data_is_refused_and_nothing_is_added(key: str) -> None:
    session = FakeSession()

    with pytest.raises(CardDataInAudit):
        _record(session, details={"account_id": 1, "nested": {key: "x"}})
    with pytest.raises(CardDataInAudit):
        _record(session, details={key: "x"})

    assert session.added == []


def test_the_last_four_digits_of_a_card_may_be_kept() -> None:
    entry = _record(FakeSession(), details={"card_last4": "4242"})

    assert entry.details == {"card_last4": "4242"}


def test_an_entry_may_carry_the_time_its_change_happened() -> None:
    at = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)

    assert _record(FakeSession(), at=at).created_at == at
