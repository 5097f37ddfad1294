"""The business's billing events for its billing system (`/api/v1/events`), read with an API
key holding `events:read` in sequence order after a cursor, and acknowledged (applied by the
billing system) with a key holding `billing:write`. Handlers parse, call
`billing_bridge.events.feed` and map its refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from billing_bridge.events import EVENT_TYPES, envelope, feed
from pbx.admin.api_keys import KeyCaller
from pbx.http.api import Api, ApiCall, QueryParam, invalid, not_found, parse_query_int
from pbx.http.api_keys_api import key_guard
from pbx.http.context import context

DEFAULT_PAGE = 100

EventId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class EventOut(BaseModel):
    id: str = Field(description="evt_ and 32 hex digits")
    object: str = "event"
    type: str
    api_version: str
    created: str = Field(description="ISO-8601 UTC")
    sequence: int = Field(description="the business's own order: commit order")
    data: dict[str, Any] = Field(description='{"object": {...}}: see docs/events.md')


class EventPage(BaseModel):
    data: list[EventOut]
    next_cursor: str = Field(description="pass as `after` to read on from the last event")
    has_more: bool


class AcknowledgementsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_ids: Annotated[list[EventId], Field(min_length=1, max_length=feed.MAX_ACKNOWLEDGED)]


class AcknowledgementsOut(BaseModel):
    acknowledged: list[str] = Field(description="acknowledged by this request")
    already_acknowledged: list[str]
    unknown: list[str] = Field(description="no event of this business has these ids")


def _event(row: Any) -> EventOut:
    return EventOut(**envelope(row))


def register(api: Api) -> None:
    @api.operation("GET", "/events", summary="The business's billing events in sequence "
                   "(commit) order after a cursor", response=EventPage, tag="events",
                   guard=key_guard("events:read"), query=(
                       QueryParam("after", {"type": "string", "maxLength": 40},
                                  "a next_cursor from an earlier page; none: from the start"),
                       QueryParam("limit", {"type": "integer", "minimum": 1,
                                            "maximum": feed.MAX_PAGE}, "events a page (100)"),
                       QueryParam("type", {"type": "string", "enum": list(EVENT_TYPES)},
                                  "only events of this type"),
                   ))  # fmt: skip
    async def list_events(call: ApiCall) -> EventPage:
        caller = cast(KeyCaller, call.principal)
        after_text = call.query.get("after")
        try:
            after = feed.parse_cursor(after_text) if after_text is not None else 0
        except feed.BadCursor as exc:
            raise invalid("after", str(exc)) from None
        limit_text = call.query.get("limit")
        limit = parse_query_int(limit_text, "limit") if limit_text is not None else DEFAULT_PAGE
        types = [call.query["type"]] if "type" in call.query else []
        async with context(call.request).database.tenant_session(caller.tenant_id) as session:
            page = await feed.events_after(session, after, limit, types)
        return EventPage(data=[_event(row) for row in page.events],
                         next_cursor=page.next_cursor, has_more=page.has_more)  # fmt: skip

    @api.operation("GET", "/events/{event_id}", summary="One billing event by its id",
                   response=EventOut, tag="events", guard=key_guard("events:read"))  # fmt: skip
    async def get_event(call: ApiCall) -> EventOut:
        caller = cast(KeyCaller, call.principal)
        async with context(call.request).database.tenant_session(caller.tenant_id) as session:
            row = await feed.event_by_id(session, call.path("event_id"))
        if row is None:
            raise not_found("event")
        return _event(row)

    @api.operation("POST", "/events/acknowledgements", summary="Acknowledge events the "
                   "billing system has applied (idempotent; unknown ids reported, not refused)",
                   body=AcknowledgementsIn, response=AcknowledgementsOut, tag="events",
                   guard=key_guard("billing:write"))  # fmt: skip
    async def acknowledge_events(call: ApiCall) -> AcknowledgementsOut:
        caller = cast(KeyCaller, call.principal)
        body: AcknowledgementsIn = call.body
        database = context(call.request).database
        async with database.tenant_session(caller.tenant_id) as session, session.begin():
            done = await feed.acknowledge(session, caller.tenant_id, body.event_ids,
                                          actor=caller, now=datetime.now(UTC))  # fmt: skip
        return AcknowledgementsOut(
            acknowledged=done.acknowledged, already_acknowledged=done.already, unknown=done.unknown
        )
