"""The events feed over HTTP: a key with events:read reads its own business's events in
sequence order after an opaque cursor, one by id, filtered by type; hostile cursors and
limits are a 422 naming them; another business's key or cursor sees nothing of this one;
a key with billing:write acknowledges events once each, unknown ids reported per id."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from billing_bridge.events import emit
from pbx.db.models import AuditEntry, BillingEvent
from tests.http.support import ApiClient
from tests.platform.conftest import Platform
from tests.platform.test_api_keys_api import _business, _key, _tenant_id

OFEK, OTHER = "+97237630100", "+97237630199"


async def _emit(platform: Platform, tenant_id: int, *types: str) -> list[str]:
    ids = []
    for type in types:
        async with platform.database.tenant_session(tenant_id) as session, session.begin():
            ids.append(emit(session, tenant_id, type, {"object": "credit", "id": len(ids) + 1}))
    return ids


async def _reader(platform: Platform, slug: str, did: str, *scopes: str) -> tuple[ApiClient, int]:
    """A machine client of a new business (with `scopes`, events:read by default)."""
    admin = await _business(platform, slug, did)
    secret = (await _key(admin, *(scopes or ("events:read",))))["secret"]
    await admin.close()
    return platform.client(secret), await _tenant_id(platform, slug)


async def test_a_reader_pages_through_its_events_in_order_with_the_cursor(
    platform: Platform,
) -> None:
    machine, tenant = await _reader(platform, "ofek", OFEK)
    ids = await _emit(platform, tenant, "credit.granted", "payment.succeeded", "credit.rejected")

    status, first = await machine.call("GET", "/events", limit=2)
    _, second = await machine.call("GET", "/events", limit=2, after=first["next_cursor"])
    _, empty = await machine.call("GET", "/events", after=second["next_cursor"])

    assert status == 200 and [e["id"] for e in first["data"]] == ids[:2] and first["has_more"]
    assert [e["sequence"] for e in first["data"]] == [1, 2]
    assert [e["id"] for e in second["data"]] == ids[2:] and not second["has_more"]
    assert empty == {"data": [], "next_cursor": second["next_cursor"], "has_more": False}
    assert first["data"][0]["data"] == {"object": {"object": "credit", "id": 1}}
    await machine.close()


async def test_a_reader_filters_by_type_and_reads_one_event_by_id(platform: Platform) -> None:
    machine, tenant = await _reader(platform, "ofek", OFEK)
    ids = await _emit(platform, tenant, "credit.granted", "payment.succeeded", "credit.granted")

    _, credits = await machine.call("GET", "/events", type="credit.granted")
    status, one = await machine.call("GET", f"/events/{ids[1]}")

    assert [e["id"] for e in credits["data"]] == [ids[0], ids[2]]
    assert status == 200 and (one["id"], one["type"], one["sequence"]) == (
        ids[1], "payment.succeeded", 2)  # fmt: skip
    assert (await machine.call("GET", "/events/evt_" + "0" * 32))[0] == 404
    await machine.close()


async def test_another_business_s_key_and_cursor_see_nothing_of_this_one(
    platform: Platform,
) -> None:
    ofek, ofek_tenant = await _reader(platform, "ofek", OFEK)
    other, other_tenant = await _reader(platform, "other", OTHER)
    mine = await _emit(platform, ofek_tenant, "credit.granted", "credit.granted")
    theirs = await _emit(platform, other_tenant, *["payment.succeeded"] * 5)

    _, seen = await other.call("GET", "/events")
    _, their_page = await other.call("GET", "/events", limit=5)
    _, with_their_cursor = await ofek.call("GET", "/events", after=their_page["next_cursor"])

    assert [e["id"] for e in seen["data"]] == theirs
    assert (await other.call("GET", f"/events/{mine[0]}"))[0] == 404
    assert with_their_cursor["data"] == [] and not with_their_cursor["has_more"]
    await ofek.close()
    await other.close()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


HOSTILE_CURSORS = [
    "", "abc", "!!!!", "v1:1", _b64("v1:-1"), _b64("v1:01"), _b64("v2:1"), _b64("v1:1 "),
    _b64("v1:" + "9" * 19), _b64("v1:1") + "==", _b64("v1:1").upper(), "A" * 41, "\u0661",
    _b64("v1:\u0661"), "%00",
]  # fmt: skip
HOSTILE_LIMITS = ["0", "-1", "1001", "1e3", "true", "2.0", "\u0661", "9" * 30, ""]


async def test_a_cursor_this_feed_did_not_give_is_refused_naming_it(platform: Platform) -> None:
    machine, tenant = await _reader(platform, "ofek", OFEK)
    await _emit(platform, tenant, "credit.granted")

    for cursor in HOSTILE_CURSORS:
        status, body = await machine.call("GET", "/events", after=cursor)
        assert status == 422, (cursor, body)
        assert body["error"]["details"][0]["field"] == "after", cursor
    await machine.close()


async def test_a_limit_or_type_out_of_range_is_refused_naming_it(
    platform: Platform,
) -> None:
    machine, _ = await _reader(platform, "ofek", OFEK)

    for limit in HOSTILE_LIMITS:
        status, body = await machine.call("GET", "/events", limit=limit)
        assert status == 422 and body["error"]["details"][0]["field"] == "limit", (limit, body)
    for type in ("payment", "payment.succeeded\x00", "*", "PAYMENT.SUCCEEDED"):
        status, body = await machine.call("GET", "/events", type=type)
        assert status == 422 and body["error"]["details"][0]["field"] == "type", (type, body)
    await machine.close()


async def test_reading_events_needs_a_key_with_events_read(platform: Platform) -> None:
    admin = await _business(platform, "ofek", OFEK)
    writer = platform.client((await _key(admin, "billing:write", "billing:read"))["secret"])

    assert (await writer.call("GET", "/events"))[0] == 403
    assert (await admin.call("GET", "/events"))[0] == 401  # a session is not a key
    await admin.close()
    await writer.close()


async def _acknowledgements(platform: Platform, tenant_id: int) -> int:
    async with platform.database.tenant_session(tenant_id) as session:
        return int(await session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.action == "events.acknowledge")
        ) or 0)  # fmt: skip


async def test_acknowledging_marks_events_once_and_reports_unknown_ids(
    platform: Platform,
) -> None:
    machine, tenant = await _reader(platform, "ofek", OFEK, "billing:write", "events:read")
    _, other_tenant = await _reader(platform, "other", OTHER)
    ids = await _emit(platform, tenant, "credit.granted", "credit.granted", "credit.granted")
    [theirs] = await _emit(platform, other_tenant, "credit.granted")
    asked = [ids[0], ids[1], theirs, "evt_nonsense", ids[0]]

    status, first = await machine.call("POST", "/events/acknowledgements", {"event_ids": asked})
    _, again = await machine.call("POST", "/events/acknowledgements", {"event_ids": ids})

    assert status == 200
    assert first == {"acknowledged": ids[:2], "already_acknowledged": [],
                     "unknown": [theirs, "evt_nonsense"]}  # fmt: skip
    assert again == {"acknowledged": [ids[2]], "already_acknowledged": ids[:2], "unknown": []}
    async with platform.database.system_session() as session:
        acked = dict((row.public_id, row.acknowledged_at is not None) for row in
                     await session.scalars(select(BillingEvent)))  # fmt: skip
    assert acked == {ids[0]: True, ids[1]: True, ids[2]: True, theirs: False}
    assert await _acknowledgements(platform, tenant) == 2  # one entry per request
    _, repeat = await machine.call("POST", "/events/acknowledgements", {"event_ids": ids})
    assert repeat["acknowledged"] == [] and await _acknowledgements(platform, tenant) == 2
    await machine.close()


MALFORMED_ACKNOWLEDGEMENTS = [
    {"event_ids": []}, {"event_ids": ["evt_x"] * 1001}, {"event_ids": [1]},
    {"event_ids": ["e" * 65]}, {"event_ids": "evt_x"}, {"ids": ["evt_x"]},
    {"event_ids": ["evt_x"], "more": 1}, {"event_ids": [None]},
]  # fmt: skip


async def test_a_malformed_acknowledgement_is_refused_and_changes_nothing(
    platform: Platform,
) -> None:
    machine, tenant = await _reader(platform, "ofek", OFEK, "billing:write")
    ids = await _emit(platform, tenant, "credit.granted")

    for body in MALFORMED_ACKNOWLEDGEMENTS:
        status, _ = await machine.call("POST", "/events/acknowledgements", body)
        assert status == 422, body
    status, _ = await machine.call("POST", "/events/acknowledgements",
                                   {"event_ids": [*ids, None]})  # fmt: skip
    assert status == 422 and await _acknowledgements(platform, tenant) == 0
    await machine.close()


async def test_acknowledging_needs_a_key_with_billing_write(platform: Platform) -> None:
    machine, tenant = await _reader(platform, "ofek", OFEK, "events:read", "billing:read")
    ids = await _emit(platform, tenant, "credit.granted")

    status, _ = await machine.call("POST", "/events/acknowledgements", {"event_ids": ids})

    assert status == 403
    await machine.close()
