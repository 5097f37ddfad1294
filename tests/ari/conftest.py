"""The simulator and a client of it, shared by the ARI client's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pbx.ari import AriClient
from pbx.simulator.ari import AsteriskSimulator, Timing

FAST = Timing(media_wait=0.01, playback=0.02, dtmf_scale=0.01)


@pytest.fixture
async def sim() -> AsyncIterator[AsteriskSimulator]:
    sim = AsteriskSimulator(username="ledgerline", password="secret", timing=FAST)
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


@pytest.fixture
async def client(sim: AsteriskSimulator) -> AsyncIterator[AriClient]:
    async with AriClient(sim.url, "ledgerline", "secret", "ledgerline") as client:
        yield client
