"""Acceptance: the client speaks exactly Asterisk 22.10.1's ARI as api-docs describe it.

Requests are not hand-listed: every public method of `AriClient` is called (with only its
required arguments, then with all of them) against a recording server on a real socket, and
each request it sent must be an api-docs operation with that method, path and parameters.
Event and snapshot fields are checked against the models in api-docs by name and kind.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest
from aiohttp import web

import pbx.ari.events as events_module
from pbx.ari.client import AriClient
from pbx.ari.errors import AriError
from pbx.ari.events import EVENT_TYPES, UnknownEvent, parse_event
from pbx.ari.rest import OPERATIONS
from tests.ari import SPEC, captured, serve


@dataclass(frozen=True)
class SpecOperation:
    resource: str
    nickname: str
    method: str
    path: str
    query: frozenset[str]
    body: frozenset[str]
    whole_body: bool  # its body parameter is an "object": the JSON body is the parameter

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", self.path) + "$")


def _spec_operations() -> list[SpecOperation]:
    found = []
    for document in sorted(SPEC.glob("*.json")):
        for api in json.loads(document.read_text())["apis"]:
            for op in api["operations"]:
                params = op.get("parameters", [])
                found.append(
                    SpecOperation(
                        resource=document.stem,
                        nickname=op["nickname"],
                        method=op["httpMethod"],
                        path=api["path"],
                        query=frozenset(p["name"] for p in params if p["paramType"] == "query"),
                        body=frozenset(p["name"] for p in params if p["paramType"] == "body"),
                        whole_body=any(
                            p["paramType"] == "body" and p["dataType"] == "object" for p in params
                        ),
                    )
                )
    return found


def _spec_models() -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    for document in sorted(SPEC.glob("*.json")):
        models.update(json.loads(document.read_text())["models"])
    return models


SPEC_OPERATIONS = _spec_operations()
MODELS = _spec_models()


def _spec_for_request(method: str, path: str) -> SpecOperation | None:
    """The api-docs operation a concrete request is; a literal segment beats a template."""
    matches = [op for op in SPEC_OPERATIONS if op.method == method and op.pattern.match(path)]
    return min(matches, key=lambda op: op.path.count("{"), default=None)


# --- the operation table -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_operation_in_the_client_table_is_the_api_docs_operation_of_that_name(
    name: str,
) -> None:
    operation = OPERATIONS[name]
    spec = next(
        (
            op
            for op in SPEC_OPERATIONS
            if (op.method, op.path) == (operation.method, operation.path)
        ),
        None,
    )

    assert spec is not None, f"{operation.method} {operation.path} is not in api-docs"
    assert f"{spec.resource}.{spec.nickname}" == name
    assert set(operation.query) <= spec.query, set(operation.query) - spec.query
    assert operation.body is None or operation.body in spec.body
    assert operation.body is None or operation.body_named is not spec.whole_body


# --- what the client really sends -----------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: list[str]
    body: Any
    authorization: str
    raw_url: str


def _sample(hint: Any) -> Any:
    """A value of the annotated kind, to call a method with."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return _sample(next(arg for arg in get_args(hint) if arg is not type(None)))
    if origin is Literal:
        return get_args(hint)[0]
    if origin is Mapping:
        return {"CUSTOMER_ID": "42"}
    if origin is Sequence:
        return ["one", "two"]
    return {str: "id-1", int: 7, float: 1.0, bool: True}[hint]


def _public_methods() -> list[str]:
    return [
        name
        for name, fn in inspect.getmembers(AriClient, inspect.iscoroutinefunction)
        if not name.startswith("_") and name != "close"
    ]


def _calls(name: str) -> list[dict[str, Any]]:
    """Arguments for `name`: the required ones only, then every one of them."""
    method = getattr(AriClient, name)
    hints = get_type_hints(method)
    params = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
    required = {p.name: _sample(hints[p.name]) for p in params if p.default is p.empty}
    everything = {p.name: _sample(hints[p.name]) for p in params}
    return [required, everything]


@pytest.fixture
async def sent() -> list[Recorded]:
    """Every request the client's public methods send, answered 204 by a recording peer."""
    recorded: list[Recorded] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        recorded.append(
            Recorded(
                method=request.method,
                path=request.path.removeprefix("/ari"),
                query=list(request.query.keys()),
                body=body,
                authorization=request.headers.get("Authorization", ""),
                raw_url=str(request.url),
            )
        )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serve(app) as url, AriClient(url, "ledgerline", "s3cret-pw", "ledgerline") as client:
        for name in _public_methods():
            for kwargs in _calls(name):
                with contextlib.suppress(AriError):  # a 204 is not the Channel it wanted
                    await getattr(client, name)(**kwargs)
    return recorded


async def test_every_request_the_client_sends_is_an_api_docs_operation_with_its_parameters(
    sent: list[Recorded],
) -> None:
    assert len(sent) == 2 * len(_public_methods())
    for request in sent:
        spec = _spec_for_request(request.method, request.path)
        assert spec is not None, f"{request.method} {request.path} is not in api-docs"
        assert set(request.query) <= spec.query, (spec.nickname, set(request.query) - spec.query)
        if request.body is not None and spec.whole_body:
            assert spec.body and isinstance(request.body, dict), (spec.nickname, request.body)
        elif request.body is not None:
            assert set(request.body) <= spec.body, (spec.nickname, request.body)


async def test_every_operation_in_the_table_is_sent_by_some_public_method(
    sent: list[Recorded],
) -> None:
    used = {_spec_for_request(r.method, r.path) for r in sent}

    names = {f"{op.resource}.{op.nickname}" for op in used if op is not None}
    assert names == set(OPERATIONS)


async def test_originate_variables_travel_in_the_json_body_as_ari_expects(
    sent: list[Recorded],
) -> None:
    originate = [r for r in sent if (r.method, r.path) == ("POST", "/channels")]

    assert [r.body for r in originate] == [None, {"variables": {"CUSTOMER_ID": "42"}}]


async def test_an_event_filter_is_the_whole_body_with_type_objects_as_api_docs_show(
    sent: list[Recorded],
) -> None:
    filters = [r for r in sent if r.path == "/applications/ledgerline/eventFilter"]

    assert [(r.method, r.body) for r in filters] == [
        ("PUT", {"allowed": [], "disallowed": []}),
        (
            "PUT",
            {
                "allowed": [{"type": "one"}, {"type": "two"}],
                "disallowed": [{"type": "one"}, {"type": "two"}],
            },
        ),
    ]


async def test_credentials_travel_only_in_the_basic_authorization_header(
    sent: list[Recorded],
) -> None:
    assert all(r.authorization.startswith("Basic ") for r in sent)
    assert not any("s3cret-pw" in r.raw_url or "s3cret-pw" in r.authorization for r in sent)


# --- events and snapshots --------------------------------------------------------------------


_SCALARS = {"string": str, "int": int, "long": int, "boolean": bool, "Date": datetime}


def _kind_matches(hint: Any, spec_type: str) -> bool:
    """Whether a field's annotation is the api-docs type (model names via `ari_model`)."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        (hint,) = (arg for arg in get_args(hint) if arg is not type(None))
        return _kind_matches(hint, spec_type)
    if spec_type.startswith("List[") and get_origin(hint) is tuple:
        return _kind_matches(get_args(hint)[0], spec_type[5:-1])
    if spec_type == "object":
        return get_origin(hint) is Mapping
    if is_dataclass(hint):
        return getattr(hint, "ari_model", None) == spec_type
    return _SCALARS.get(spec_type) is hint


def _check_against_model(cls: type, properties: Mapping[str, Any]) -> None:
    hints = get_type_hints(cls)
    for spec in fields(cls):
        assert spec.name in properties, f"{cls.__name__}.{spec.name} is not in api-docs"
        prop = properties[spec.name]
        assert _kind_matches(hints[spec.name], prop["type"]), (cls.__name__, spec.name)
        if spec.default is MISSING and spec.default_factory is MISSING:
            # we refuse events without it, so Asterisk must promise it
            assert prop.get("required") is True, f"{cls.__name__}.{spec.name} is optional"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_field_is_named_and_typed_as_in_events_json(event_type: str) -> None:
    properties = {
        **MODELS["Message"]["properties"],
        **MODELS["Event"]["properties"],
        **MODELS[event_type]["properties"],
    }

    assert event_type in MODELS["Event"]["subTypes"]
    _check_against_model(EVENT_TYPES[event_type], properties)


SNAPSHOTS = [
    cls
    for cls in vars(events_module).values()
    if isinstance(cls, type) and is_dataclass(cls) and "ari_model" in vars(cls)
]


@pytest.mark.parametrize("cls", SNAPSHOTS, ids=lambda cls: cls.__name__)
def test_every_snapshot_field_is_named_and_typed_as_in_its_api_docs_model(cls: type) -> None:
    _check_against_model(cls, MODELS[cls.ari_model]["properties"])


def test_every_event_captured_from_asterisk_parses_and_none_is_malformed() -> None:
    events = captured("events")

    parsed = [parse_event(json.dumps(event)) for event in events]

    assert len(events) > 100
    assert [event.type for event in parsed] == [event["type"] for event in events]
    unknown = {event.type for event in parsed if isinstance(event, UnknownEvent)}
    assert unknown == {"ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine"}
