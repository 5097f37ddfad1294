"""/healthz warns when Asterisk lacks a prompt: the names missing per language the
businesses' callers hear (from ARI's GET /sounds), as a warning that keeps the service
healthy, asked of Asterisk at most once per interval however often /healthz is probed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import select, update

from pbx.bootstrap import bootstrap, build_services
from pbx.db.database import Database
from pbx.db.models import InboundNumber, InboundRoute, Queue, Tenant
from pbx.service import Ledgerline
from pbx.settings import load_settings
from pbx.simulator.ari import AsteriskSimulator
from pbx.voice import store
from pbx.voice.catalog import Business, consent_name, load
from pbx.voice.presence import PromptsOnAsterisk, missing
from tests.conftest import REDIS_TEST_URL
from tests.factories import make_tenant


@dataclass(frozen=True)
class FakeSound:
    id: str
    languages: tuple[str, ...]

    def in_language(self, language: str) -> bool:
        return language in self.languages


def test_missing_names_each_prompt_word_and_consent_a_language_in_use_lacks() -> None:
    catalog = load()
    ofek = Business("ofek", "Ofek")
    every = catalog.texts["he"].sounds([ofek])
    consent = consent_name("masav", "ofek")
    sounds = [FakeSound(name, ("en",) if name == "ledgerline-card-number" else ("he", "en"))
              for name in every if name != consent]  # fmt: skip

    found = missing(catalog, {"he": (ofek,), "en": ()}, sounds)

    # en needs no consent of ofek's (its callers hear he); he lacks its card prompt too
    assert found == {"he": sorted({consent, "ledgerline-card-number"})}


async def test_asterisk_is_asked_once_per_interval_and_a_failure_is_a_warning() -> None:
    now = [0.0]
    asked = []
    answers: list[object] = [ConnectionError("refused"), [FakeSound("ledgerline-closed", ("lt",))]]

    async def list_sounds() -> list[FakeSound]:
        asked.append(now[0])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async def in_use() -> dict[str, tuple[Business, ...]]:
        return {"lt": ()}

    presence = PromptsOnAsterisk(load(), list_sounds, in_use, every_s=300, clock=lambda: now[0])
    assert await presence.warning() == {"checked": False, "error": "could not ask: ConnectionError"}
    now[0] = 10
    await presence.warning()
    assert asked == [0.0]  # within the wait after a failure: the last answer, no ARI call
    now[0] = 31
    first = await presence.warning()
    assert first is not None and first["checked"] is True
    total = len(load().names()) - 1  # all but ledgerline-closed, which Asterisk has in lt
    assert first["missing_count"] == {"lt": total}
    assert len(first["missing"]["lt"]) == min(total, 50)
    assert "ledgerline-closed" not in first["missing"]["lt"]
    for probe in (40, 200, 330):
        now[0] = probe
        assert await presence.warning() == first
    assert asked == [0.0, 31]  # once per 300 s at most, however often /healthz is probed
    now[0] = 331
    await presence.warning()
    assert asked == [0.0, 31, 331]


async def test_the_languages_in_use_are_the_businesses_and_their_numbers(
    database: Database,
) -> None:
    ofek = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100", "+97237630101"])
    await make_tenant(database, "saule", "LT", "EUR", ["+37052000000"])
    async with database.system_session() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.id == ofek).values(language="he"))
    async with database.tenant_session(ofek) as session, session.begin():
        queue = Queue(name="billing", strategy="linear", ring_timeout_seconds=5)
        session.add(queue)
        await session.flush()
        number = await session.scalar(
            select(InboundNumber.id).where(InboundNumber.e164 == "+97237630101")
        )
        session.add(InboundRoute(inbound_number_id=number, queue_id=queue.id, language="en"))

    in_use = await store.languages_in_use(database)

    assert in_use == {
        "en": (Business("ofek", "Ofek"), Business("saule", "Saule")),  # saule has no language
        "he": (Business("ofek", "Ofek"),),
    }


async def test_healthz_lists_the_prompts_asterisk_lacks_and_stays_healthy(
    database: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant(database, "ofek", "IL", "ILS", ["+97237630100"])
    async with database.system_session() as session, session.begin():
        await session.execute(update(Tenant).where(Tenant.id == tenant).values(language="he"))
    sim = AsteriskSimulator()
    every = load().texts["he"].sounds([Business("ofek", "Ofek")])
    sim.sounds.install("he", [name for name in every if name != "ledgerline-card-cvc"])
    await sim.start()
    settings = load_settings(environ={
        "LEDGERLINE_DATABASE_URL": database.url, "LEDGERLINE_REDIS_URL": REDIS_TEST_URL,
        "LEDGERLINE_AGI_PORT": "0", "LEDGERLINE_SERVICE_HTTP_PORT": "0",
        "LEDGERLINE_ARI_URL": sim.url, "LEDGERLINE_ARI_PASSWORD": "secret",
        "LEDGERLINE_RECORDINGS_LOCAL_PATH": str(tmp_path / "recordings"),
        "LEDGERLINE_RECORDINGS_SPOOL_PATH": str(tmp_path / "spool"),
    })  # fmt: skip
    service = Ledgerline(bootstrap(build_services(settings)))
    try:
        await service.start()
        assert service.flow is not None
        await service.flow.wait_ready(5)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{service.http_port}/healthz") as response,
        ):
            status, body = response.status, await response.json()
    finally:
        await service.stop()
        await sim.stop()
    assert (status, body["status"]) == (200, "ok")
    assert body["warnings"]["prompts"]["missing"] == {"he": ["ledgerline-card-cvc"]}
    assert body["warnings"]["prompts"]["missing_count"] == {"he": 1}
