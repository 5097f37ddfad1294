"""The simulator against Asterisk 22.10.1's own ARI description (api-docs/*.json): every
route, every query parameter it reads, every reply body and status, every event and field."""

from __future__ import annotations

import ast
import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pbx.simulator import ari as simulator_package
from pbx.simulator.ari import AsteriskSimulator, Step
from pbx.simulator.ari.rest import PREFIX, Query
from tests.fixtures import ARI_SPEC as API_DOCS
from tests.simulator.test_ari_simulator import FAST, Ari, basic_auth

ASTERISK_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}")
# Statuses res_ari gives every route, whatever the operation documents.
GENERIC_STATUSES = frozenset({401})


def _load_docs() -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, dict[str, Any]]]:
    operations: dict[tuple[str, str], dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    for document in sorted(API_DOCS.glob("*.json")):
        declaration = json.loads(document.read_text())
        for api in declaration["apis"]:
            for operation in api["operations"]:
                operations[(operation["httpMethod"], api["path"])] = operation
        models.update(declaration.get("models", {}))
    return operations, models


OPERATIONS, MODELS = _load_docs()


def _parents(name: str) -> list[str]:
    """Models whose subTypes list `name`, transitively (Event, then Message)."""
    direct = [parent for parent, model in MODELS.items() if name in model.get("subTypes", [])]
    return direct + [grand for parent in direct for grand in _parents(parent)]


def properties(name: str) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for model in [name, *_parents(name)]:
        merged.update(MODELS[model].get("properties", {}))
    return merged


def check_value(value: Any, type_: str, where: str) -> None:
    if type_.startswith("List["):
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            check_value(item, type_[5:-1], f"{where}[{index}]")
    elif type_ == "string":
        assert isinstance(value, str), where
    elif type_ in ("int", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif type_ == "boolean":
        assert isinstance(value, bool), where
    elif type_ == "double":
        assert isinstance(value, int | float), where
    elif type_ == "Date":
        assert isinstance(value, str) and ASTERISK_DATE.fullmatch(value), where
    elif type_ == "object":
        assert isinstance(value, dict), where
    else:
        check_model(value, type_, where)


def check_model(value: Any, name: str, where: str) -> None:
    assert name in MODELS, f"{where}: no model {name}"
    assert isinstance(value, dict), where
    fields = properties(name)
    extra = set(value) - set(fields)
    assert not extra, f"{where}: {name} has no field(s) {sorted(extra)}"
    missing = {key for key, spec in fields.items() if spec.get("required")} - set(value)
    assert not missing, f"{where}: {name} lacks required {sorted(missing)}"
    for key, item in value.items():
        check_value(item, fields[key]["type"], f"{where}.{key}")


def check_event(event: dict[str, Any]) -> None:
    kind = event["type"]
    assert "Message" in _parents(kind), f"{kind} is not an event of events.json"
    check_model(event, kind, kind)


class SpecClient:
    """Calls routes by their api-docs template and checks each reply against the operation:
    a documented status, and a 2xx body of the documented response class."""

    def __init__(self, ari: Ari) -> None:
        self.ari = ari

    async def __call__(self, method: str, template: str, body: Any = None, **params: Any) -> Any:
        operation = OPERATIONS[(method, template)]
        path_names = re.findall(r"\{(\w+)\}", template)
        path = template.format(**{name: params.pop(name) for name in path_names})
        status, reply = await self.ari.call(method, path, body, **params)
        documented = {int(error["code"]) for error in operation.get("errorResponses", [])}
        if status >= 300:
            assert status in documented | GENERIC_STATUSES, (method, template, status, reply)
            return status, reply
        response_class = operation["responseClass"]
        if response_class == "void":
            assert status == 204 and reply is None, (method, template)
        elif response_class != "binary":
            check_value(reply, response_class, f"{method} {template}")
        return status, reply


def test_every_route_is_an_api_docs_operation_with_its_method_and_query_parameters() -> None:
    routes = list(AsteriskSimulator().build_app().router.routes())
    assert len(routes) >= 58  # the routes Ledgerline uses, listed in the simulator
    for route in routes:
        path = route.resource.canonical.removeprefix(PREFIX)
        operation = OPERATIONS.get((route.method, path))
        assert operation is not None, f"{route.method} {path} is not in api-docs"
        documented = {p["name"]: p["paramType"] for p in operation.get("parameters", [])}
        declared = route.handler.operation.params
        for name in declared:
            assert documented.get(name) == "query", f"{route.method} {path}: ?{name}"
        for name in re.findall(r"\{(\w+)\}", path):
            assert documented.get(name) == "path", f"{route.method} {path}: {{{name}}}"


def test_a_route_cannot_read_a_query_parameter_it_did_not_declare() -> None:
    query = Query(None, ("media",), {})  # type: ignore[arg-type]  # the guard fires first
    with pytest.raises(LookupError):
        query.get("mediaa")


def _emitted_event_types() -> set[str]:
    """Every event type named in the simulator's source: each must be proven below."""
    event_types = set(MODELS["Event"]["subTypes"])
    found: set[str] = set()
    for source in Path(simulator_package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and node.value in event_types:
                found.add(node.value)
    return found


@pytest.fixture
async def tour() -> AsyncIterator[tuple[AsteriskSimulator, SpecClient, Ari]]:
    sim = AsteriskSimulator(timing=FAST)
    sim.dialplan["tour"] = (Step("Answer"), Step("Milliwatt"))
    sim.agent("PJSIP/1001", answer_after=0.0)
    await sim.start()
    async with aiohttp.ClientSession(headers=basic_auth()) as session:
        ari = Ari(session, sim)
        yield sim, SpecClient(ari), ari
    await sim.stop()


async def test_every_reply_and_every_event_matches_the_api_docs_models(
    tour: tuple[AsteriskSimulator, SpecClient, Ari],
) -> None:
    sim, call, ari = tour
    replaced = await ari.events()
    await asyncio.sleep(0.02)
    events = await ari.events()
    await call("GET", "/asterisk/info")
    await call("GET", "/applications/{applicationName}", applicationName="ledgerline")
    only = {"allowed": [{"type": "StasisStart"}], "disallowed": [{"type": "ChannelVarset"}]}
    await call("PUT", "/applications/{applicationName}/eventFilter", only,
               applicationName="ledgerline")  # fmt: skip
    await call("PUT", "/applications/{applicationName}/eventFilter", applicationName="ledgerline")
    caller = await sim.incoming_call("+97235550100", "+972502345678", "Dana")
    channel_id = caller.channel_id
    await call("POST", "/channels/{channelId}/answer", channelId=channel_id)
    _, local = await call(
        "POST", "/channels", endpoint="Local/7@tour", app="ledgerline", callerId="Q <+1555>"
    )
    reported = {"variables": {"A": {"value": "1", "report_events": True}}}
    _, agent = await call(
        "POST", "/channels/{channelId}", reported,
        channelId="agent-1", endpoint="PJSIP/1001", app="ledgerline",
    )  # fmt: skip
    await sim.settled()
    await call("GET", "/channels")
    await call("GET", "/channels/{channelId}", channelId=agent["id"])
    await call("GET", "/channels/{channelId}/variable", channelId=channel_id, variable="NOPE")
    await call("POST", "/channels/{channelId}/variable", channelId=channel_id, variable="X")
    _, bridge = await call("POST", "/bridges", type="mixing", name="tour")
    await call("POST", "/bridges/{bridgeId}", bridgeId="b-2", type="holding")
    await call("GET", "/bridges")
    bridge_id = bridge["id"]
    channels = f"{channel_id},{local['id']}"
    await call("POST", "/bridges/{bridgeId}/addChannel", bridgeId=bridge_id, channel=channels)
    await call("POST", "/bridges/{bridgeId}/record", bridgeId=bridge_id, name="t", format="wav")
    await call("POST", "/channels/{channelId}/hold", channelId=channel_id)
    await call("DELETE", "/channels/{channelId}/hold", channelId=channel_id)
    await call("POST", "/channels/{channelId}/dtmf", channelId=channel_id, dtmf="1")
    await call("POST", "/bridges/{bridgeId}/moh", bridgeId=bridge_id)
    await call("DELETE", "/bridges/{bridgeId}/moh", bridgeId=bridge_id)
    await call("POST", "/bridges/{bridgeId}/play", bridgeId=bridge_id, media="sound:a,sound:b")
    await call(
        "POST", "/channels/{channelId}/play/{playbackId}",
        channelId=channel_id, playbackId="p-1", media="sound:c",
    )  # fmt: skip
    await call("GET", "/playbacks/{playbackId}", playbackId="p-1")
    await caller.press("2")
    await sim.settled()
    await call("GET", "/recordings/live/{recordingName}", recordingName="t")
    await call("POST", "/recordings/live/{recordingName}/stop", recordingName="t")
    await call("GET", "/recordings/stored/{recordingName}", recordingName="t")
    await call("GET", "/recordings/stored/{recordingName}/file", recordingName="t")
    await call(
        "POST", "/channels/{channelId}/snoop", channelId=channel_id, spy="in", app="ledgerline"
    )
    await call("POST", "/bridges/{bridgeId}/removeChannel", bridgeId=bridge_id, channel=channel_id)
    await call("POST", "/channels/{channelId}/continue", channelId=channel_id)
    await call("DELETE", "/channels/{channelId}", channelId=local["id"])
    await call("DELETE", "/channels/{channelId}", channelId=agent["id"], reason_code="17")
    await call("DELETE", "/bridges/{bridgeId}", bridgeId=bridge_id)
    await call("DELETE", "/bridges/{bridgeId}", bridgeId=bridge_id)  # 404
    await sim.settled()
    await asyncio.sleep(0.05)
    for event in [*events.events, *replaced.events]:
        check_event(event)
    seen = {event["type"] for event in [*events.events, *replaced.events]}
    assert _emitted_event_types() <= seen, sorted(_emitted_event_types() - seen)
