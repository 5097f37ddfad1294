"""A queue's callback retry rule through the admin API, and a callback's attempts in the
call log."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from billing_bridge.calling_window import CallingWindow
from pbx.acd.callback_rule import CallbackRule
from pbx.callflow.config import queue_key
from pbx.db.models import Call
from pbx.http.schemas import QueueIn
from tests.http.conftest import PASSWORD, Site
from tests.http.support import ApiClient

RULE = {
    "callback_attempts": 4, "callback_spacing_seconds": 900,
    "callback_window_start": "09:00", "callback_window_end": "20:30",
}  # fmt: skip


async def test_a_queues_callback_rule_is_kept_and_reaches_the_acd(
    site: Site, admin: ApiClient
) -> None:
    status, created = await admin.call("POST", "/queues", {"name": "support"} | RULE)
    assert status == 201 and {k: created[k] for k in RULE} == RULE

    await site.world.flow.reload_config()  # as the API's change notice does

    settings = site.world.flow.config.queues[queue_key(site.world.tenant_id, "support")]
    window = CallingWindow(time(9), time(20, 30))
    assert settings.acd.callback_rule == CallbackRule(4, 900, window)
    status, unset = await admin.call("PUT", f"/queues/{created['id']}", {"name": "support"})
    assert status == 200 and unset["callback_attempts"] is None  # the default's again


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"callback_attempts": 0}, "callback_attempts"),
        ({"callback_attempts": True}, "callback_attempts"),
        ({"callback_spacing_seconds": "600"}, "callback_spacing_seconds"),
        ({"callback_spacing_seconds": 10**30}, "callback_spacing_seconds"),
        ({"callback_window_start": "25:00"}, "callback_window_start"),
        ({"callback_window_end": "07:00"}, "ends after it starts"),  # the default start: 08:00
    ],
)
def test_a_bad_callback_rule_is_refused_naming_it(change: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        QueueIn.model_validate({"name": "support"} | change)


async def test_the_call_log_links_each_attempt_to_the_call_that_asked(site: Site) -> None:
    await site.user("sam", "supervisor")
    now = datetime.now(UTC)
    database, tenant_id = site.world.database, site.world.tenant_id
    async with database.tenant_session(tenant_id) as session, session.begin():
        asking = Call(channel_id="asked", caller_raw="0502345678", match="none",
                      arrived_at=now, outcome="callback", callback_state="failed")  # fmt: skip
        session.add(asking)
        await session.flush()
        for attempt in (1, 2):
            session.add(Call(channel_id=f"asked-callback-{attempt}", caller_raw="", match="none",
                             direction="outbound", arrived_at=now, outcome="failed",
                             callback_of=asking.id, callback_attempt=attempt))  # fmt: skip
        session.add(Call(channel_id="other", caller_raw="", match="none", arrived_at=now))
    sam = site.client()
    await sam.login("ofek", "sam", PASSWORD)
    try:
        status, attempts = await sam.call("GET", "/calls", callback_of=asking.id)
        _, everything = await sam.call("GET", "/calls")
        bad = await sam.call("GET", "/calls", callback_of="first")
    finally:
        await sam.close()

    assert status == 200
    rows = [(r["callback_of"], r["callback_attempt"], r["outcome"]) for r in attempts["items"]]
    assert rows == [(asking.id, 2, "failed"), (asking.id, 1, "failed")]
    asked = next(r for r in everything["items"] if r["call_id"] == "asked")
    assert (asked["callback_state"], asked["callback_of"]) == ("failed", None)
    assert bad[0] == 422
