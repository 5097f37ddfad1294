"""The simulator the ARI tests drive, started quick, and a client speaking to it as
Ledgerline's ARI user."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from pbx.simulator.ari import AsteriskSimulator
from tests.simulator.test_ari_simulator import FAST, Ari, basic_auth


@pytest.fixture
async def sim() -> AsyncIterator[AsteriskSimulator]:
    simulator = AsteriskSimulator(timing=FAST)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def ari(sim: AsteriskSimulator) -> AsyncIterator[Ari]:
    async with aiohttp.ClientSession(headers=basic_auth()) as session:
        yield Ari(session, sim)
