"""The demo's simulated Asterisk has every prompt installed, as the README asks of a real one:
its /healthz check finds nothing missing, in any language the demo businesses use."""

from __future__ import annotations

from datetime import date

from pbx.ari.events import FormatLangPair, Sound
from pbx.db.database import Database
from pbx.demo import _install_prompts
from pbx.demo_data import seed_demo_data
from pbx.simulator.ari import AsteriskSimulator
from pbx.voice import catalog, presence, store


def _sounds(sim: AsteriskSimulator) -> list[Sound]:
    return [
        Sound(id=item["id"], formats=tuple(FormatLangPair(**pair) for pair in item["formats"]))
        for item in sim.model.sounds.listing(None, None)
    ]


async def test_the_demo_asterisk_lacks_no_prompt(database: Database) -> None:
    await seed_demo_data(database, date(2026, 12, 6))
    sim = AsteriskSimulator()
    in_use = await store.languages_in_use(database)
    texts = catalog.load()
    assert presence.missing(texts, in_use, _sounds(sim))  # before: only the core sounds

    await _install_prompts(sim, database)

    assert presence.missing(texts, in_use, _sounds(sim)) == {}
    businesses = [business for found in in_use.values() for business in found]
    consent = catalog.consent_name("masav", businesses[0].slug)
    assert all(sim.model.sounds.exists(consent, language) for language in texts.languages)
